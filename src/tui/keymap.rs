//! Key maps: named commands bound to keys per pane, from files. The shipped maps are
//! embedded; a user file patches only the keys it names; a bad user file is reported and the
//! defaults stay.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Every command a key can run. The names are the `run` values of the key map files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyCommand {
    Quit,
    Help,
    Back,
    NextPane,
    PrevPane,
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Filter,
    ToggleAll,
    CycleSort,
    Palette,
    Restart,
    Start,
    Stop,
    Cancel,
    Refresh,
    Logs,
    ProjectLogs,
    Pause,
    Timestamps,
    Wrap,
    Search,
    NextMatch,
    PrevMatch,
    Save,
    Edit,
    Doctor,
    /// Unbinds a key in a user file.
    Noop,
}

/// Command names, as written in key map files.
const NAMES: [(KeyCommand, &str); 32] = [
    (KeyCommand::Quit, "quit"),
    (KeyCommand::Help, "help"),
    (KeyCommand::Back, "back"),
    (KeyCommand::NextPane, "next_pane"),
    (KeyCommand::PrevPane, "prev_pane"),
    (KeyCommand::Down, "down"),
    (KeyCommand::Up, "up"),
    (KeyCommand::PageDown, "page_down"),
    (KeyCommand::PageUp, "page_up"),
    (KeyCommand::Top, "top"),
    (KeyCommand::Bottom, "bottom"),
    (KeyCommand::Filter, "filter"),
    (KeyCommand::ToggleAll, "toggle_all"),
    (KeyCommand::CycleSort, "cycle_sort"),
    (KeyCommand::Palette, "palette"),
    (KeyCommand::Restart, "restart"),
    (KeyCommand::Start, "start"),
    (KeyCommand::Stop, "stop"),
    (KeyCommand::Cancel, "cancel"),
    (KeyCommand::Refresh, "refresh"),
    (KeyCommand::Logs, "logs"),
    (KeyCommand::ProjectLogs, "project_logs"),
    (KeyCommand::Pause, "pause"),
    (KeyCommand::Timestamps, "timestamps"),
    (KeyCommand::Wrap, "wrap"),
    (KeyCommand::Search, "search"),
    (KeyCommand::NextMatch, "next_match"),
    (KeyCommand::PrevMatch, "prev_match"),
    (KeyCommand::Save, "save"),
    (KeyCommand::Edit, "edit"),
    (KeyCommand::Doctor, "doctor"),
    (KeyCommand::Noop, "noop"),
];

impl KeyCommand {
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, n)| *n)
            .unwrap_or("noop")
    }

    pub fn parse(s: &str) -> Option<Self> {
        NAMES.iter().find(|(_, n)| *n == s).map(|(c, _)| *c)
    }

    /// Commands that stop, drop or overwrite something on a host: never bound to a single
    /// unmodified key, and always confirmed.
    pub fn is_destructive(self) -> bool {
        matches!(self, KeyCommand::Stop | KeyCommand::Cancel)
    }
}

/// A key as written in a key map: `"q"`, `"ctrl-c"`, `"shift-tab"`, `"pgdn"`, `"f5"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeySpec {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
}

/// `KeyCode` has no `Ord`; this is the subset a key map can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
}

/// Why a key map file (or one of its keys) cannot be used; each names the key or section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("unknown key {key:?} in {spec:?}")]
    UnknownKey { key: String, spec: String },
    #[error("{0}")]
    Toml(String),
    #[error("unknown section [{section}]; sections are: {known}", known = SECTIONS.join(", "))]
    UnknownSection { section: String },
    #[error("[{section}] {source}")]
    InSection {
        section: String,
        source: Box<KeymapError>,
    },
    #[error("[{section}] key {key:?}: unknown command {command:?}")]
    UnknownCommand {
        section: String,
        key: String,
        command: String,
    },
    #[error("[{section}] {command:?} is destructive and cannot be bound to the single key {key:?}; use ctrl- or alt-")]
    DestructiveSingleKey {
        section: String,
        key: String,
        command: String,
    },
}

impl KeySpec {
    pub fn parse(s: &str) -> Result<Self, KeymapError> {
        let mut ctrl = false;
        let mut alt = false;
        let mut shift = false;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("shift-") {
                shift = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCodeOrd::Enter,
            "esc" => KeyCodeOrd::Esc,
            "tab" if shift => KeyCodeOrd::BackTab,
            "tab" => KeyCodeOrd::Tab,
            "backtab" => KeyCodeOrd::BackTab,
            "backspace" => KeyCodeOrd::Backspace,
            "delete" | "del" => KeyCodeOrd::Delete,
            "up" => KeyCodeOrd::Up,
            "down" => KeyCodeOrd::Down,
            "left" => KeyCodeOrd::Left,
            "right" => KeyCodeOrd::Right,
            "pgup" | "pageup" => KeyCodeOrd::PageUp,
            "pgdn" | "pagedown" => KeyCodeOrd::PageDown,
            "home" => KeyCodeOrd::Home,
            "end" => KeyCodeOrd::End,
            "space" => KeyCodeOrd::Char(' '),
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeOrd::F(f[1..].parse().unwrap_or(1))
            }
            c if c.chars().count() == 1 => {
                let ch = c.chars().next().unwrap_or(' ');
                KeyCodeOrd::Char(if shift { ch.to_ascii_uppercase() } else { ch })
            }
            other => {
                return Err(KeymapError::UnknownKey {
                    key: other.to_string(),
                    spec: s.to_string(),
                })
            }
        };
        Ok(Self { code, ctrl, alt })
    }

    pub fn from_event(e: &KeyEvent) -> Option<Self> {
        let code = match e.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(c),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            _ => return None,
        };
        Some(Self {
            code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
            alt: e.modifiers.contains(KeyModifiers::ALT),
        })
    }

    /// As the help popup shows it.
    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.ctrl {
            s.push_str("ctrl-");
        }
        if self.alt {
            s.push_str("alt-");
        }
        match self.code {
            KeyCodeOrd::Char(' ') => s.push_str("space"),
            KeyCodeOrd::Char(c) => s.push(c),
            KeyCodeOrd::F(n) => s.push_str(&format!("f{n}")),
            other => s.push_str(&format!("{other:?}").to_lowercase()),
        }
        s
    }

    pub fn is_unmodified(&self) -> bool {
        !self.ctrl && !self.alt
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Binding {
    on: String,
    run: String,
    desc: Option<String>,
}

/// The panes (sections) a key map has; `global` applies everywhere.
pub const SECTIONS: [&str; 12] = [
    "global",
    "containers",
    "logs",
    "health",
    "resources",
    "hosts",
    "databases",
    "backups",
    "routes",
    "doctor",
    "actions",
    "history",
];

/// Bindings per section: key → (command, description).
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    pub sections: BTreeMap<String, BTreeMap<KeySpec, (KeyCommand, String)>>,
}

pub const DEFAULT: &str = include_str!("../../keymaps/default.toml");
pub const VIM: &str = include_str!("../../keymaps/vim.toml");

/// The shipped key maps by name.
pub fn shipped(name: &str) -> Option<&'static str> {
    match name {
        "default" => Some(DEFAULT),
        "vim" => Some(VIM),
        _ => None,
    }
}

impl Keymap {
    /// Parse a key map file's text and lay it over `self`.
    pub fn patch(&mut self, text: &str) -> Result<(), KeymapError> {
        let raw: BTreeMap<String, Vec<Binding>> =
            toml::from_str(text).map_err(|e| KeymapError::Toml(e.to_string()))?;
        for (section, bindings) in raw {
            if !SECTIONS.contains(&section.as_str()) {
                return Err(KeymapError::UnknownSection { section });
            }
            let map = self.sections.entry(section.clone()).or_default();
            for b in bindings {
                let key = KeySpec::parse(&b.on).map_err(|e| KeymapError::InSection {
                    section: section.clone(),
                    source: Box::new(e),
                })?;
                let cmd = KeyCommand::parse(&b.run).ok_or_else(|| KeymapError::UnknownCommand {
                    section: section.clone(),
                    key: b.on.clone(),
                    command: b.run.clone(),
                })?;
                if cmd.is_destructive() && key.is_unmodified() {
                    return Err(KeymapError::DestructiveSingleKey {
                        section: section.clone(),
                        key: b.on.clone(),
                        command: b.run.clone(),
                    });
                }
                if cmd == KeyCommand::Noop {
                    map.remove(&key);
                } else {
                    map.insert(key, (cmd, b.desc.unwrap_or_else(|| b.run.clone())));
                }
            }
        }
        Ok(())
    }

    /// The default map, then a shipped preset by name (e.g. `vim`), then the user's file.
    /// Problems with the user's file are returned beside a usable map.
    pub fn load(preset: Option<&str>) -> (Self, Vec<String>) {
        let mut km = Keymap::default();
        let mut problems = Vec::new();
        if let Err(e) = km.patch(DEFAULT) {
            problems.push(format!("built-in key map: {e}"));
        }
        if let Some(p) = preset.filter(|p| *p != "default") {
            match shipped(p) {
                Some(text) => {
                    if let Err(e) = km.patch(text) {
                        problems.push(format!("key map {p}: {e}"));
                    }
                }
                None => problems.push(format!("no key map named {p:?} (default, vim)")),
            }
        }
        if let Some(path) = crate::paths::config_dir().map(|d| d.join("keymap.toml")) {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let mut patched = km.clone();
                match patched.patch(&text) {
                    Ok(()) => km = patched,
                    Err(e) => problems.push(format!("{}: {e} (defaults kept)", path.display())),
                }
            }
        }
        (km, problems)
    }

    /// The command for a key in a pane (the pane's own binding first, then global).
    pub fn lookup(&self, pane: &str, key: &KeySpec) -> Option<KeyCommand> {
        self.sections
            .get(pane)
            .and_then(|m| m.get(key))
            .or_else(|| self.sections.get("global").and_then(|m| m.get(key)))
            .map(|(c, _)| *c)
    }

    /// The keys bound to `cmd` in a pane (its own section, then global), shortest first.
    pub fn keys_for(&self, pane: &str, cmd: KeyCommand) -> Vec<String> {
        let mut keys: Vec<String> = [pane, "global"]
            .iter()
            .filter_map(|s| self.sections.get(*s))
            .flat_map(|m| {
                m.iter()
                    .filter(|(_, (c, _))| *c == cmd)
                    .map(|(k, _)| k.label())
            })
            .collect();
        keys.sort_by_key(|k| k.len());
        keys
    }

    /// Help lines for a pane: (key label, description), global ones last.
    pub fn help(&self, pane: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for section in [pane, "global"] {
            if let Some(m) = self.sections.get(section) {
                let mut by_cmd: BTreeMap<KeyCommand, (Vec<String>, String)> = BTreeMap::new();
                for (k, (c, d)) in m {
                    let e = by_cmd.entry(*c).or_insert_with(|| (vec![], d.clone()));
                    e.0.push(k.label());
                }
                for (_, (keys, desc)) in by_cmd {
                    out.push((keys.join(" "), desc));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_keymaps_parse_and_bind_real_commands() {
        for name in ["default", "vim"] {
            let mut km = Keymap::default();
            km.patch(shipped(name).expect("shipped")).expect(name);
            assert!(!km.sections.is_empty(), "{name} binds nothing");
        }
        let (km, problems) = Keymap::load(Some("vim"));
        assert!(problems.is_empty(), "{problems:?}");
        let j = KeySpec::parse("j").expect("j");
        assert_eq!(km.lookup("containers", &j), Some(KeyCommand::Down));
        let q = KeySpec::parse("q").expect("q");
        assert_eq!(km.lookup("containers", &q), Some(KeyCommand::Quit));
    }

    #[test]
    fn user_patch_changes_only_what_it_names_and_bad_files_are_refused() {
        let mut km = Keymap::default();
        km.patch(DEFAULT).expect("default");
        km.patch(
            "[[global]]\non = \"x\"\nrun = \"quit\"\n[[global]]\non = \"q\"\nrun = \"noop\"\n",
        )
        .expect("patch");
        assert_eq!(
            km.lookup("containers", &KeySpec::parse("x").expect("x")),
            Some(KeyCommand::Quit)
        );
        assert_eq!(
            km.lookup("containers", &KeySpec::parse("q").expect("q")),
            None
        );
        assert_eq!(
            km.lookup("containers", &KeySpec::parse("/").expect("/")),
            Some(KeyCommand::Filter)
        );
        assert!(km
            .patch("[[global]]\non = \"x\"\nrun = \"explode\"\n")
            .is_err());
        assert!(km
            .patch("[[nowhere]]\non = \"x\"\nrun = \"quit\"\n")
            .is_err());
        assert!(km
            .patch("[[global]]\non = \"hyper-x\"\nrun = \"quit\"\n")
            .is_err());
    }
}
