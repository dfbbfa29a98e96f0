//! The compose project name of an app, resolved the way Compose resolves it:
//!
//! 1. `-p NAME` (the inventory's `project`);
//! 2. `COMPOSE_PROJECT_NAME` from the environment compose runs in, else from the project's
//!    `.env` file;
//! 3. a top-level `name:` in the compose file (Compose v2; v1 refuses such a file);
//! 4. the basename of the project directory (the directory of the compose file).
//!
//! Every name is normalised as Compose does (lowercase; only `a-z0-9`, `-` and `_` kept; no
//! leading `-` or `_`). Containers are matched on the project label, or on the
//! `com.docker.compose.project.working_dir` label compose records (so a project renamed by
//! someone's shell variable is still found by its directory).

use super::dotenv::DotEnv;
use serde::Serialize;
use std::collections::HashMap;

/// Where the name came from (shown by `doctor` and in plans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// The inventory's `project` (passed to compose as `-p`).
    Inventory,
    /// `COMPOSE_PROJECT_NAME` in the environment compose runs in.
    Environment,
    /// `COMPOSE_PROJECT_NAME` in the project's `.env`.
    DotEnv,
    /// The compose file's top-level `name:`.
    ComposeFile,
    /// The project directory's name.
    Directory,
}

impl NameSource {
    pub fn describe(self) -> &'static str {
        match self {
            NameSource::Inventory => "the inventory's project",
            NameSource::Environment => "COMPOSE_PROJECT_NAME in the environment",
            NameSource::DotEnv => "COMPOSE_PROJECT_NAME in .env",
            NameSource::ComposeFile => "name: in the compose file",
            NameSource::Directory => "the directory's name",
        }
    }
}

/// An app's compose project as compose will name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub name: String,
    pub source: NameSource,
    /// The project's working directory (the compose file's directory), as compose records it.
    pub working_dir: String,
}

impl Project {
    /// Whether a container with these compose labels belongs to the project.
    pub fn owns(&self, project_label: Option<&str>, working_dir_label: Option<&str>) -> bool {
        owns(
            &self.name,
            &self.working_dir,
            project_label,
            working_dir_label,
        )
    }
}

/// Whether compose labels (project, working_dir) are those of project `name` in `working_dir`.
pub fn owns(
    name: &str,
    working_dir: &str,
    project_label: Option<&str>,
    working_dir_label: Option<&str>,
) -> bool {
    project_label == Some(name)
        || working_dir_label.map(|d| d.trim_end_matches('/'))
            == Some(working_dir.trim_end_matches('/'))
}

/// Compose's normalisation of a project name.
pub fn normalize(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    kept.trim_start_matches(['-', '_']).to_string()
}

/// What the name is resolved from.
#[derive(Debug, Clone, Default)]
pub struct Sources<'a> {
    /// The inventory's `project`.
    pub explicit: Option<&'a str>,
    /// The environment compose runs in (`COMPOSE_PROJECT_NAME`, and for references).
    pub env: HashMap<String, String>,
    /// The project's `.env` text (empty when there is none).
    pub dotenv: &'a str,
    /// The compose file's text (empty when it could not be read).
    pub compose_file: &'a str,
    /// The app's directory.
    pub dir: &'a str,
    /// The compose file as the inventory gives it (relative to `dir`, or absolute).
    pub compose_path: &'a str,
}

/// The project directory: the directory of the compose file.
pub fn working_dir(dir: &str, compose_path: &str) -> String {
    let full = if compose_path.starts_with('/') {
        compose_path.to_string()
    } else {
        format!("{}/{}", dir.trim_end_matches('/'), compose_path)
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in full.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.pop(); // the file itself
    format!("/{}", parts.join("/"))
}

/// Resolve the name. A `.env` that does not parse is ignored for the name (compose itself
/// will then refuse to run and say why); the error is returned beside the name.
pub fn resolve(s: &Sources<'_>) -> (Project, Option<String>) {
    let working_dir = working_dir(s.dir, s.compose_path);
    let done = |name: String, source| Project {
        name: normalize(&name),
        source,
        working_dir: working_dir.clone(),
    };
    if let Some(p) = s.explicit.filter(|p| !p.is_empty()) {
        return (done(p.to_string(), NameSource::Inventory), None);
    }
    let (dotenv, dotenv_err) = match DotEnv::parse(s.dotenv) {
        Ok(d) => (d, None),
        Err(e) => (DotEnv::default(), Some(format!(".env {e}"))),
    };
    if let Some(p) = s.env.get("COMPOSE_PROJECT_NAME").filter(|p| !p.is_empty()) {
        return (done(p.clone(), NameSource::Environment), dotenv_err);
    }
    if let Some(p) = dotenv
        .get_with("COMPOSE_PROJECT_NAME", &s.env)
        .filter(|p| !p.is_empty())
    {
        return (done(p, NameSource::DotEnv), dotenv_err);
    }
    if let Some(name) = top_level_name(s.compose_file) {
        // Interpolated like the rest of the file: the environment first, then `.env`.
        let lookup = |k: &str| s.env.get(k).cloned().or_else(|| dotenv.get_with(k, &s.env));
        let name = super::dotenv::expand(&name, &lookup);
        if !normalize(&name).is_empty() {
            return (done(name, NameSource::ComposeFile), dotenv_err);
        }
    }
    let base = working_dir.rsplit('/').next().unwrap_or("").to_string();
    (done(base, NameSource::Directory), dotenv_err)
}

/// The compose file's top-level `name:`, if it has one.
fn top_level_name(compose: &str) -> Option<String> {
    if compose.trim().is_empty() {
        return None;
    }
    let doc: serde_norway::Value = serde_norway::from_str(compose).ok()?;
    match doc.get("name")? {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: Sources<'_>) -> (String, NameSource) {
        let (p, _) = resolve(&s);
        (p.name, p.source)
    }

    #[test]
    fn normalised_as_compose_does() {
        for (input, want) in [
            ("menuvo", "menuvo"),
            ("My_Dir.X", "my_dirx"),
            ("Menu-Vo", "menu-vo"),
            ("_-lead", "lead"),
            ("a b", "ab"),
            ("Ünïcode9", "ncode9"),
            ("site.example.com", "siteexamplecom"),
        ] {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn precedence_inventory_env_dotenv_name_directory() {
        let compose = "name: fromfile\nservices:\n  web:\n    image: x\n";
        let dotenv = "# pinned\nexport COMPOSE_PROJECT_NAME=\"Menuvo\" # the usual way\n";
        let env = HashMap::from([("COMPOSE_PROJECT_NAME".to_string(), "shell".to_string())]);
        let base = Sources {
            dir: "/opt/alpha/sites/Shop.Site/",
            compose_path: "docker-compose.yml",
            ..Default::default()
        };
        assert_eq!(
            name(Sources {
                explicit: Some("inv"),
                env: env.clone(),
                dotenv,
                compose_file: compose,
                ..base.clone()
            }),
            ("inv".into(), NameSource::Inventory)
        );
        assert_eq!(
            name(Sources {
                env,
                dotenv,
                compose_file: compose,
                ..base.clone()
            }),
            ("shell".into(), NameSource::Environment)
        );
        assert_eq!(
            name(Sources {
                dotenv,
                compose_file: compose,
                ..base.clone()
            }),
            ("menuvo".into(), NameSource::DotEnv)
        );
        assert_eq!(
            name(Sources {
                dotenv: "OTHER=1\n",
                compose_file: compose,
                ..base.clone()
            }),
            ("fromfile".into(), NameSource::ComposeFile)
        );
        assert_eq!(
            name(Sources {
                compose_file: "services:\n  web:\n    image: x\n",
                ..base.clone()
            }),
            ("shopsite".into(), NameSource::Directory)
        );
        // An empty COMPOSE_PROJECT_NAME counts as unset.
        assert_eq!(
            name(Sources {
                dotenv: "COMPOSE_PROJECT_NAME=\n",
                ..base.clone()
            }),
            ("shopsite".into(), NameSource::Directory)
        );
    }

    #[test]
    fn name_in_the_file_is_interpolated_and_the_directory_is_the_compose_files() {
        let compose = "name: \"${STACK:-menuvo}-prod\"\nservices: {}\n";
        let s = Sources {
            dir: "/srv/app",
            compose_path: "deploy/compose.yaml",
            compose_file: compose,
            ..Default::default()
        };
        assert_eq!(
            name(s.clone()),
            ("menuvo-prod".into(), NameSource::ComposeFile)
        );
        assert_eq!(
            name(Sources {
                dotenv: "STACK=alpha\n",
                ..s.clone()
            }),
            ("alpha-prod".into(), NameSource::ComposeFile)
        );
        let (p, _) = resolve(&Sources {
            compose_file: "",
            ..s
        });
        assert_eq!(p.working_dir, "/srv/app/deploy");
        assert_eq!(p.name, "deploy");
        assert_eq!(working_dir("/srv/app/", "../other/dc.yml"), "/srv/other");
        assert_eq!(working_dir("/srv/app", "/etc/x/dc.yml"), "/etc/x");
    }

    #[test]
    fn containers_match_by_label_or_working_dir() {
        let p = Project {
            name: "menuvo".into(),
            source: NameSource::DotEnv,
            working_dir: "/srv/menuvo".into(),
        };
        assert!(p.owns(Some("menuvo"), None));
        assert!(p.owns(Some("renamed"), Some("/srv/menuvo/")));
        assert!(!p.owns(Some("menuvo2"), Some("/srv/menuvo2")));
        assert!(!p.owns(None, None));
    }

    #[test]
    fn a_broken_dotenv_is_reported_not_fatal() {
        let (p, err) = resolve(&Sources {
            dir: "/srv/x",
            compose_path: "docker-compose.yml",
            dotenv: "GOOD=1\nBAD LINE\n",
            ..Default::default()
        });
        assert_eq!(p.name, "x");
        assert!(err.is_some_and(|e| e.contains("line 2")));
    }
}
