//! The logs pane: merged sources, levels and JSON keys picked out, search matches, input line.

use super::widgets::{block, empty_pane};
use crate::tui::app::{App, LogInput};
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

fn level_style(theme: &Theme, text: &str) -> Option<Style> {
    let lower: String = text
        .chars()
        .take(160)
        .collect::<String>()
        .to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&[
        "level=error",
        "\"level\":\"error\"",
        "[error]",
        " error ",
        "error:",
        "fatal",
        "panic",
        "level=fatal",
    ]) {
        Some(theme.danger())
    } else if has(&[
        "level=warn",
        "\"level\":\"warn",
        "[warn",
        " warn ",
        "warning",
    ]) {
        Some(theme.warn())
    } else if has(&[
        "level=debug",
        "\"level\":\"debug\"",
        "[debug]",
        "level=trace",
    ]) {
        Some(theme.muted())
    } else {
        None
    }
}

/// Spans for one log line: JSON keys picked out, search matches highlighted.
fn log_spans(
    text: &str,
    base: Style,
    theme: &Theme,
    search: Option<&regex::Regex>,
) -> Vec<Span<'static>> {
    // Pieces: (range, style) over the text, search matches winning over JSON keys.
    let mut marks: Vec<(usize, usize, Style)> = Vec::new();
    if text.trim_start().starts_with('{') {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'"' {
                if let Some(end) = text[i + 1..].find('"').map(|e| i + 1 + e) {
                    if text[end + 1..].trim_start().starts_with(':') {
                        marks.push((i, end + 1, theme.info()));
                    }
                    i = end + 1;
                    continue;
                }
            }
            i += 1;
        }
    }
    if let Some(re) = search {
        let found: Vec<(usize, usize)> = re
            .find_iter(text)
            .map(|m| (m.start(), m.end()))
            .filter(|(a, b)| a < b)
            .collect();
        if !found.is_empty() {
            marks.retain(|(a, b, _)| !found.iter().any(|(x, y)| a < y && x < b));
            marks.extend(found.into_iter().map(|(a, b)| (a, b, theme.selected())));
        }
    }
    marks.sort_by_key(|m| m.0);
    let mut spans = Vec::new();
    let mut at = 0;
    for (a, b, st) in marks {
        if a < at {
            continue;
        }
        if a > at {
            spans.push(Span::styled(text[at..a].to_string(), base));
        }
        spans.push(Span::styled(text[a..b].to_string(), st));
        at = b;
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), base));
    }
    spans
}

const SOURCE_ROLES: [&str; 6] = ["project", "info", "ok", "warn", "key", "title"];

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let l = &app.logs;
    let mut extra = String::new();
    if !l.title.is_empty() {
        extra.push_str(&format!("— {} ({} lines", l.title, l.buf.len()));
        if !l.filter_src.is_empty() {
            extra.push_str(&format!(", filter /{}/", l.filter_src));
        }
        extra.push(')');
    }
    let mut flags = Vec::new();
    flags.push(if l.paused { "PAUSED" } else { "following" });
    if l.timestamps {
        flags.push("timestamps");
    }
    if l.wrap {
        flags.push("wrap");
    }
    let block = block(app, theme, extra, area.width).title_bottom(Span::styled(
        format!(" {} ", flags.join(" · ")),
        if l.paused {
            theme.warn()
        } else {
            theme.muted()
        },
    ));
    if l.title.is_empty() {
        empty_pane(f, area, block, "No logs open. In the containers pane: l for a container, L for its whole compose project.", theme);
        return;
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let footer_rows =
        u16::from(l.input.is_some() || l.input_error.is_some()) + l.problems.len().min(2) as u16;
    let [body, footer] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(footer_rows)]).areas(inner);
    let many = l.multi || l.buf.sources.len() > 1;
    let width = l
        .buf
        .sources
        .iter()
        .map(|s| s.container.chars().count())
        .max()
        .unwrap_or(0)
        .min(24);
    let rows = usize::from(body.height);
    let mut window = l.buf.window(rows, l.scroll);
    if l.wrap {
        // Keep the newest lines whole: drop from the top until the wrapped height fits.
        let w = usize::from(body.width).max(1);
        let prefix = if many { width + 3 } else { 0 } + if l.timestamps { 13 } else { 0 };
        let mut used = 0;
        let mut keep = 0;
        for (_, line) in window.iter().rev() {
            let h = (prefix + line.text.chars().count()).div_ceil(w).max(1);
            if used + h > rows && keep > 0 {
                break;
            }
            used += h;
            keep += 1;
        }
        window.drain(..window.len() - keep);
    }
    let lines: Vec<Line> = window
        .into_iter()
        .map(|(i, line)| {
            let mut spans = Vec::new();
            if many {
                let name = l
                    .buf
                    .sources
                    .get(i)
                    .map(|s| s.container.as_str())
                    .unwrap_or("?");
                let short: String = name.chars().take(width).collect();
                spans.push(Span::styled(
                    format!("{short:<width$} │ "),
                    theme.role(SOURCE_ROLES[i % SOURCE_ROLES.len()]),
                ));
            }
            if l.timestamps {
                let ts = line
                    .ts
                    .map(|t| t.format("%H:%M:%S%.3f ").to_string())
                    .unwrap_or_else(|| " ".repeat(13));
                spans.push(Span::styled(ts, theme.muted()));
            }
            let base = level_style(theme, &line.text).unwrap_or(theme.base());
            let text = crate::secrets::mask_text(&line.text);
            // Without wrap, only what fits is styled and drawn.
            let shown: String = if l.wrap {
                text
            } else {
                text.chars().take(usize::from(body.width) + 1).collect()
            };
            spans.extend(log_spans(&shown, base, theme, l.search.as_ref()));
            if line.cut_bytes > 0 {
                spans.push(Span::styled(
                    format!(" … [{} bytes cut]", line.cut_bytes),
                    theme.muted(),
                ));
            }
            Line::from(spans)
        })
        .collect();
    let para = Paragraph::new(lines);
    let para = if l.wrap {
        para.wrap(Wrap { trim: false })
    } else {
        para
    };
    f.render_widget(para, body);
    let mut y = footer.y;
    for p in l.problems.iter().rev().take(2) {
        f.render_widget(
            Paragraph::new(Span::styled(p.clone(), theme.danger())),
            Rect {
                y,
                height: 1,
                ..footer
            },
        );
        y += 1;
    }
    if let Some(kind) = l.input {
        let label = match kind {
            LogInput::Filter => " filter /",
            LogInput::Search => " search /",
        };
        let [a, b] = Layout::horizontal([Constraint::Length(10), Constraint::Min(1)]).areas(Rect {
            y,
            height: 1,
            ..footer
        });
        f.render_widget(Paragraph::new(Span::styled(label, theme.key())), a);
        f.render_widget(&l.text, b);
    } else if let Some(e) = &l.input_error {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), theme.warn())),
            Rect {
                y,
                height: 1,
                ..footer
            },
        );
    }
}
