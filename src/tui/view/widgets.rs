//! Pieces the panes share: the tabs title, blocks, key hints, styles by meaning, text
//! shortening, sparklines, the popup rectangle.

use crate::journal::Outcome;
use crate::ops::{ContainerInfo, Health, State};
use crate::tui::app::App;
use crate::tui::keymap::KeyCommand;
use crate::tui::layout::tab_labels;
use crate::tui::theme::Theme;
use crate::units::short_duration;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

/// The pane tabs, as a title: the current one highlighted. When they do not fit in `width`
/// the others are abbreviated, then those farthest from the current one are left out.
pub(super) fn pane_title(app: &App, theme: &Theme, extra: String, width: u16) -> Line<'static> {
    let spans = tab_labels(app.pane, &extra, width)
        .into_iter()
        .map(|(p, label)| {
            let style = match p {
                Some(p) if p == app.pane => theme.title(),
                _ => theme.muted(),
            };
            Span::styled(label, style)
        })
        .collect::<Vec<_>>();
    Line::from(spans)
}

pub(super) fn block<'a>(app: &App, theme: &Theme, extra: String, width: u16) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(pane_title(app, theme, extra, width))
}

pub(super) fn key_hint(app: &App, cmd: KeyCommand, what: &str) -> String {
    app.keymap
        .keys_for(app.pane.section(), cmd)
        .first()
        .map(|k| format!(" {k} {what} ·"))
        .unwrap_or_default()
}

pub(super) fn outcome_style(theme: &Theme, o: Option<Outcome>) -> Style {
    match o {
        None | Some(Outcome::Running) => theme.info(),
        Some(Outcome::Succeeded) => theme.ok(),
        Some(Outcome::Cancelled) | Some(Outcome::Refused) => theme.warn(),
        Some(Outcome::Failed) | Some(Outcome::Interrupted) => theme.danger(),
    }
}

pub(super) fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2)).max(10);
    let h = h.min(area.height.saturating_sub(2)).max(3);
    Rect {
        x: area.x + (area.width.saturating_sub(w)) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w,
        height: h,
    }
}

pub(super) fn uptime(c: &ContainerInfo, now: chrono::DateTime<chrono::Utc>) -> String {
    if c.state != State::Running {
        return match c.exit_code {
            Some(code) => format!("exit {code}"),
            None => "-".into(),
        };
    }
    let Some(started) = c
        .started_at
        .as_deref()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    else {
        return "-".into();
    };
    let secs = (now - started.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0) as u64;
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        "<1m".into()
    }
}

pub(super) fn since(now: chrono::DateTime<chrono::Utc>, rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            short_duration((now - t.with_timezone(&chrono::Utc)).num_seconds().max(0) as u64)
                + " ago"
        })
        .unwrap_or_else(|_| "?".into())
}

pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `…/shop:1.4.2`: the end of a string that is too long, which is where tags are.
pub(super) fn shorten_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 2 {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}

pub(super) fn health_label(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::Starting => "starting",
        Health::Unhealthy => "UNHEALTHY",
        Health::None => "-",
    }
}

/// A sparkline as text: one block character per sample (NaN: a gap), scaled to `max` (or the
/// series' own maximum), the newest `width` samples.
pub fn spark(values: &std::collections::VecDeque<f64>, width: usize, max: Option<f64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let skip = values.len().saturating_sub(width);
    let top = max
        .unwrap_or_else(|| {
            values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max)
        })
        .max(f64::MIN_POSITIVE);
    let mut s: String = values
        .iter()
        .skip(skip)
        .map(|v| {
            if v.is_finite() {
                BARS[((v / top).clamp(0.0, 1.0) * 7.0).round() as usize]
            } else {
                ' '
            }
        })
        .collect();
    let len = s.chars().count();
    if len < width {
        s = " ".repeat(width - len) + &s;
    }
    s
}

/// The top of a CPU sparkline: at least 10% of a core, so an idle container looks idle.
pub fn cpu_scale(values: &std::collections::VecDeque<f64>) -> f64 {
    values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(10.0, f64::max)
}

/// A pane with nothing to show yet: its block around one muted line saying why (and what to
/// press).
pub fn empty_pane(f: &mut ratatui::Frame, area: Rect, block: Block, text: &str, theme: &Theme) {
    f.render_widget(
        ratatui::widgets::Paragraph::new(Span::styled(text, theme.muted())).block(block),
        area,
    );
}
