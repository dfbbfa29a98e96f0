use super::{validate, Inventory};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// Where the inventory came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--config FILE`
    Flag(PathBuf),
    /// `$OPSDECK_CONFIG`
    Env(PathBuf),
    /// `./opsdeck.toml`
    WorkingDir(PathBuf),
    /// `$XDG_CONFIG_HOME/opsdeck/opsdeck.toml`
    Xdg(PathBuf),
    /// No file: the local engine only.
    BuiltIn,
}

impl ConfigSource {
    pub fn path(&self) -> Option<&Path> {
        match self {
            ConfigSource::Flag(p)
            | ConfigSource::Env(p)
            | ConfigSource::WorkingDir(p)
            | ConfigSource::Xdg(p) => Some(p),
            ConfigSource::BuiltIn => None,
        }
    }
}

/// One thing wrong with an inventory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    /// Dotted key path, e.g. `apps.shop.health.port`.
    pub key: Option<String>,
    pub message: String,
}

/// An inventory that could not be used: the file and every problem found in it.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<inventory>".into());
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{file}")?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            match &p.key {
                Some(key) => write!(f, ": key `{key}`: {}", p.message)?,
                None => write!(f, ": {}", p.message)?,
            }
        }
        Ok(())
    }
}

impl ConfigError {
    fn single(file: &Path, problem: Problem) -> Self {
        Self {
            file: Some(file.to_path_buf()),
            problems: vec![problem],
        }
    }
}

/// Find and load the inventory in the documented order.
pub fn load(flag: Option<&Path>) -> Result<(Inventory, ConfigSource), ConfigError> {
    let source = find(flag, std::env::var_os("OPSDECK_CONFIG").map(PathBuf::from));
    match source.path() {
        None => Ok((Inventory::local_default(), source)),
        Some(path) => Ok((load_file(path)?, source)),
    }
}

fn find(flag: Option<&Path>, env: Option<PathBuf>) -> ConfigSource {
    if let Some(p) = flag {
        return ConfigSource::Flag(p.to_path_buf());
    }
    if let Some(p) = env.filter(|p| !p.as_os_str().is_empty()) {
        return ConfigSource::Env(p);
    }
    let cwd = PathBuf::from("opsdeck.toml");
    if cwd.is_file() {
        return ConfigSource::WorkingDir(cwd);
    }
    if let Some(dir) = crate::paths::config_dir() {
        let p = dir.join("opsdeck.toml");
        if p.is_file() {
            return ConfigSource::Xdg(p);
        }
    }
    ConfigSource::BuiltIn
}

/// Load one file. A named file that does not exist is an error, never the default.
pub fn load_file(path: &Path) -> Result<Inventory, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::single(
            path,
            Problem {
                line: None,
                key: None,
                message: format!("cannot read the inventory: {e}"),
            },
        )
    })?;
    let mut inv = load_str(&text, path)?;
    inv.source = Some(path.to_path_buf());
    Ok(inv)
}

/// Parse and validate inventory text; `file` is only used in messages.
pub fn load_str(text: &str, file: &Path) -> Result<Inventory, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| {
        ConfigError::single(
            file,
            Problem {
                line: e.span().map(|s| line_of(text, s.start)),
                key: None,
                message: format!("TOML syntax: {}", e.message().trim()),
            },
        )
    })?;
    let inv: Inventory = serde_path_to_error::deserialize(de).map_err(|e| {
        let mut key = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().trim().to_string();
        if let Some(field) = unknown_field(&message).filter(|f| !key.ends_with(f.as_str())) {
            key = if key == "." || key.is_empty() {
                field
            } else {
                format!("{key}.{field}")
            };
        }
        ConfigError::single(
            file,
            Problem {
                line: inner.span().map(|s| line_of(text, s.start)),
                key: (!key.is_empty() && key != ".").then_some(key),
                message,
            },
        )
    })?;
    let problems = validate::validate(&inv);
    if problems.is_empty() {
        return Ok(inv);
    }
    let doc = DeTable::parse(text).ok();
    Err(ConfigError {
        file: Some(file.to_path_buf()),
        problems: problems
            .into_iter()
            .map(|(path, message)| Problem {
                line: doc
                    .as_ref()
                    .and_then(|d| locate(d.get_ref(), &path))
                    .map(|off| line_of(text, off)),
                key: Some(path.join(".")),
                message,
            })
            .collect(),
    })
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|s| s.bytes().filter(|b| *b == b'\n').count() + 1)
        .unwrap_or(1)
}

/// The byte offset of the deepest part of `path` that exists in the document.
fn locate(table: &DeTable<'_>, path: &[String]) -> Option<usize> {
    let (first, rest) = path.split_first()?;
    let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == first)?;
    let here = key.span().start;
    if rest.is_empty() {
        return Some(here);
    }
    match value.get_ref() {
        DeValue::Table(t) => locate(t, rest).or(Some(here)),
        DeValue::Array(items) => {
            let idx: usize = rest[0].parse().ok()?;
            items.get(idx).map(|v| v.span().start).or(Some(here))
        }
        _ => Some(here),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_order_prefers_flag_then_env() {
        let f = PathBuf::from("/x/flag.toml");
        let e = PathBuf::from("/x/env.toml");
        assert_eq!(
            find(Some(&f), Some(e.clone())),
            ConfigSource::Flag(f.clone())
        );
        assert_eq!(find(None, Some(e.clone())), ConfigSource::Env(e));
    }

    #[test]
    fn line_numbers_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
