//! Themes: styles by meaning (`ok`, `danger`, `selected`, ...), from files in `themes/`.
//! Widgets ask `theme.health(h)` or `theme.danger()`, never for a colour. `NO_COLOR` keeps
//! the modifiers (bold, reversed) and drops every colour.

use crate::ops::{Health, State};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const SHIPPED: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
];

/// The style names a theme defines.
pub const ROLES: [&str; 12] = [
    "base", "title", "border", "header", "selected", "muted", "project", "ok", "warn", "danger",
    "info", "key",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    #[serde(default)]
    styles: BTreeMap<String, StyleSpec>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
}

#[derive(Debug, Clone)]
pub struct Theme {
    pub name: String,
    styles: BTreeMap<String, Style>,
}

/// Why a theme file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThemeError {
    #[error("{0}")]
    Toml(String),
    #[error("unknown style {role:?}; styles are: {known}", known = ROLES.join(", "))]
    UnknownStyle { role: String },
    #[error("unknown colour {0:?} (a name, #rrggbb or 0-255)")]
    UnknownColour(String),
}

fn parse_color(s: &str) -> Result<Color, ThemeError> {
    s.parse::<Color>()
        .map_err(|_| ThemeError::UnknownColour(s.to_string()))
}

impl Theme {
    /// Parse a theme file's text. Every role must be known; missing roles fall back to plain.
    pub fn parse(text: &str, no_color: bool) -> Result<Self, ThemeError> {
        let f: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Toml(e.to_string()))?;
        let mut styles = BTreeMap::new();
        for (role, spec) in f.styles {
            if !ROLES.contains(&role.as_str()) {
                return Err(ThemeError::UnknownStyle { role });
            }
            let mut st = Style::default();
            if !no_color {
                if let Some(fg) = &spec.fg {
                    st = st.fg(parse_color(fg)?);
                }
                if let Some(bg) = &spec.bg {
                    st = st.bg(parse_color(bg)?);
                }
            }
            for (on, m) in [
                (spec.bold, Modifier::BOLD),
                (spec.dim, Modifier::DIM),
                (spec.italic, Modifier::ITALIC),
                (spec.underlined, Modifier::UNDERLINED),
                (spec.reversed, Modifier::REVERSED),
            ] {
                if on {
                    st = st.add_modifier(m);
                }
            }
            styles.insert(role, st);
        }
        // Without colour, selection must still be visible.
        if no_color {
            styles.insert(
                "selected".into(),
                Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            );
        }
        Ok(Self {
            name: f.name.unwrap_or_else(|| "custom".into()),
            styles,
        })
    }

    /// A shipped theme by name, a user theme file (`$XDG_CONFIG_HOME/opsdeck/themes/NAME.toml`),
    /// or `dark`. Problems are returned beside a usable theme.
    pub fn load(name: Option<&str>, no_color: bool) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let wanted = name.unwrap_or("dark");
        let text = SHIPPED
            .iter()
            .find(|(n, _)| *n == wanted)
            .map(|(_, t)| t.to_string())
            .or_else(|| {
                let p = crate::paths::config_dir()?
                    .join("themes")
                    .join(format!("{wanted}.toml"));
                std::fs::read_to_string(p).ok()
            });
        let text = match text {
            Some(t) => t,
            None => {
                problems.push(format!("no theme named {wanted:?}; using dark"));
                SHIPPED[0].1.to_string()
            }
        };
        match Theme::parse(&text, no_color) {
            Ok(t) => (t, problems),
            Err(e) => {
                problems.push(format!("theme {wanted}: {e}; using dark"));
                let fallback = Theme::parse(SHIPPED[0].1, no_color).unwrap_or(Theme {
                    name: "plain".into(),
                    styles: BTreeMap::new(),
                });
                (fallback, problems)
            }
        }
    }

    pub fn role(&self, role: &str) -> Style {
        self.styles.get(role).copied().unwrap_or_default()
    }
    pub fn base(&self) -> Style {
        self.role("base")
    }
    pub fn title(&self) -> Style {
        self.role("title")
    }
    pub fn border(&self) -> Style {
        self.role("border")
    }
    pub fn header(&self) -> Style {
        self.role("header")
    }
    pub fn selected(&self) -> Style {
        self.role("selected")
    }
    pub fn muted(&self) -> Style {
        self.role("muted")
    }
    pub fn project(&self) -> Style {
        self.role("project")
    }
    pub fn ok(&self) -> Style {
        self.role("ok")
    }
    pub fn warn(&self) -> Style {
        self.role("warn")
    }
    pub fn danger(&self) -> Style {
        self.role("danger")
    }
    pub fn info(&self) -> Style {
        self.role("info")
    }
    pub fn key(&self) -> Style {
        self.role("key")
    }

    pub fn health(&self, h: Health) -> Style {
        match h {
            Health::Healthy => self.ok(),
            Health::Starting => self.warn(),
            Health::Unhealthy => self.danger(),
            Health::None => self.muted(),
        }
    }

    /// A container's state: a completed one-shot (exited 0) is not a failure.
    pub fn container_state(&self, c: &crate::ops::ContainerInfo) -> Style {
        if c.completed() {
            self.muted()
        } else {
            self.state(c.state)
        }
    }

    pub fn state(&self, s: State) -> Style {
        match s {
            State::Running => self.ok(),
            State::Restarting | State::Paused | State::Created | State::Removing => self.warn(),
            State::Exited | State::Dead => self.danger(),
            State::Unknown => self.muted(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_theme_parses_with_every_role() {
        for (name, text) in SHIPPED {
            let t = Theme::parse(text, false).unwrap_or_else(|e| panic!("{name}: {e}"));
            for role in ROLES {
                assert!(t.styles.contains_key(role), "{name} lacks {role}");
            }
        }
    }

    #[test]
    fn no_color_drops_colours_keeps_selection_visible() {
        let t = Theme::parse(SHIPPED[0].1, true).expect("dark");
        for role in ROLES {
            let s = t.role(role);
            assert!(s.fg.is_none() && s.bg.is_none(), "{role} has a colour");
        }
        assert!(t.selected().add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn bad_themes_are_refused() {
        assert!(Theme::parse("[styles]\nbogus = {}\n", false).is_err());
        assert!(Theme::parse("[styles]\nok = { fg = \"nocolour\" }\n", false).is_err());
        let (t, problems) = Theme::load(Some("no-such-theme"), false);
        assert_eq!(t.name, "dark");
        assert_eq!(problems.len(), 1);
    }
}
