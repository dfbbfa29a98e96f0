//! Where opsdeck keeps its files (XDG base directories).

use std::path::PathBuf;

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() && PathBuf::from(&v).is_absolute() => Some(PathBuf::from(v)),
        _ => dirs::home_dir().map(|h| h.join(fallback)),
    }
}

/// `$XDG_CONFIG_HOME/opsdeck` (inventory, keymap and theme overrides).
pub fn config_dir() -> Option<PathBuf> {
    xdg("XDG_CONFIG_HOME", ".config").map(|p| p.join("opsdeck"))
}

/// `$XDG_DATA_HOME/opsdeck` (the journal).
pub fn data_dir() -> Option<PathBuf> {
    xdg("XDG_DATA_HOME", ".local/share").map(|p| p.join("opsdeck"))
}

/// `$XDG_STATE_HOME/opsdeck` (the console's log file).
pub fn state_dir() -> Option<PathBuf> {
    xdg("XDG_STATE_HOME", ".local/state").map(|p| p.join("opsdeck"))
}
