//! The routes file editor, drawn over the panes.

use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// The routes file editor, over the whole screen but the top and bottom lines.
pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let Some(ed) = &app.editor else { return };
    let r = Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    };
    f.render_widget(Clear, r);
    let changed = if ed.modified() { " (modified)" } else { "" };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if ed.error.is_some() {
            theme.warn()
        } else {
            theme.border()
        })
        .title(Span::styled(
            format!(" {}:{}{changed} ", ed.host, ed.path),
            theme.title(),
        ))
        .title_bottom(Span::styled(
            " ctrl-s check & apply (previous file kept, put back on failure) · esc close ",
            theme.muted(),
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let err_h = if ed.error.is_some() { 2 } else { 0 };
    let [text, err] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(err_h)]).areas(inner);
    f.render_widget(&ed.text, text);
    if let Some(e) = &ed.error {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), theme.danger())).wrap(Wrap { trim: true }),
            err,
        );
    }
}
