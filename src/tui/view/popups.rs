//! Popups over the panes: key help, the action palette, confirmations, notices.

use super::widgets::popup;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub(super) fn draw_help(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let lines: Vec<Line> = app
        .keymap
        .help(app.pane.section())
        .into_iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!("{k:>14}  "), theme.key()),
                Span::raw(d),
            ])
        })
        .collect();
    let widest = lines.iter().map(|l| l.width()).max().unwrap_or(40) as u16;
    let r = popup(area, widest + 2, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).style(theme.base()).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border())
                .title(Span::styled(" Keys ", theme.title())),
        ),
        r,
    );
}

pub(super) fn draw_palette(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let r = popup(area, 76, 5);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Span::styled(" Run an action ", theme.title()));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [input, hint] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    f.render_widget(&app.palette, input);
    if let Some(e) = &app.palette_error {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), theme.warn())).wrap(Wrap { trim: true }),
            hint,
        );
    }
}

pub(super) fn draw_confirm(f: &mut Frame, app: &App, theme: &Theme, area: Rect, run: usize) {
    let Some(run) = app.runs.iter().find(|r| r.id == run) else {
        return;
    };
    let lines: Vec<Line> = run
        .plan
        .as_ref()
        .map(|p| p.describe())
        .unwrap_or_default()
        .into_iter()
        .map(Line::from)
        .collect();
    draw_yes_no(
        f,
        theme,
        area,
        format!(" Confirm: {} ", run.title),
        lines,
        ("run it   ", "/ esc: do nothing"),
        2,
    );
}

/// A question in the danger colour: `lines`, a blank line, then what `y` and `n` do
/// (`keys`). `spare` is the height beyond the lines (the frame, and a line that wraps).
fn draw_yes_no(
    f: &mut Frame,
    theme: &Theme,
    area: Rect,
    title: String,
    mut lines: Vec<Line>,
    keys: (&str, &str),
    spare: u16,
) {
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled(" y ", theme.key()),
        Span::raw(keys.0.to_string()),
        Span::styled(" n ", theme.key()),
        Span::raw(keys.1.to_string()),
    ]));
    let r = popup(area, 76, lines.len() as u16 + spare);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .style(theme.base())
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.danger())
                    .title(Span::styled(title, theme.danger())),
            ),
        r,
    );
}

pub(super) fn draw_quit(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let mut lines: Vec<Line> = vec![Line::from(
        "These actions are running. Quitting cancels them at their next safe point and puts back what they did, then exits:",
    )];
    lines.extend(
        app.runs
            .iter()
            .filter(|r| r.is_executing())
            .map(|r| Line::from(format!("  • {}", r.title))),
    );
    draw_yes_no(
        f,
        theme,
        area,
        " Quit while actions run? ".to_string(),
        lines,
        ("cancel them and quit   ", "/ esc: keep working"),
        3,
    );
}

pub(super) fn draw_notices(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let lines: Vec<Line> = app
        .notices
        .iter()
        .map(|n| Line::from(Span::styled(n.clone(), theme.warn())))
        .collect();
    let r = popup(area, 80, lines.len() as u16 * 2 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .style(Style::default())
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.warn())
                    .title(Span::styled(" Problems (esc to close) ", theme.warn())),
            ),
        r,
    );
}
