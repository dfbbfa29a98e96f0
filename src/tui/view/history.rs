//! The history pane: the journal's entries.

use super::widgets::{block, empty_pane, outcome_style};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row as TRow, Table, TableState};
use ratatui::Frame;

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let block = block(app, theme, format!("({})", app.history.len()), area.width);
    if let Some(e) = &app.history_error {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), theme.danger())).block(block),
            area,
        );
        return;
    }
    if app.history.is_empty() {
        empty_pane(
            f,
            area,
            block,
            "The journal is empty: no action has run yet.",
            theme,
        );
        return;
    }
    let rows: Vec<TRow> = app
        .history
        .iter()
        .map(|e| {
            let outcome = Some(e.outcome);
            TRow::new(vec![
                Span::styled(
                    e.started_at
                        .get(..19)
                        .unwrap_or(&e.started_at)
                        .replace('T', " "),
                    theme.muted(),
                ),
                Span::raw(e.action.clone()),
                Span::raw(e.target.clone()),
                Span::styled(e.outcome.as_str(), outcome_style(theme, outcome)),
                Span::styled(e.actor.clone(), theme.muted()),
                Span::styled(e.error.clone().unwrap_or_default(), theme.danger()),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(19),
            Constraint::Length(9),
            Constraint::Percentage(25),
            Constraint::Length(10),
            Constraint::Length(18),
            Constraint::Min(10),
        ],
    )
    .header(
        TRow::new(vec![
            "STARTED", "ACTION", "TARGET", "OUTCOME", "ACTOR", "ERROR",
        ])
        .style(theme.header()),
    )
    .block(block)
    .row_highlight_style(theme.selected())
    .column_spacing(1);
    let mut state = TableState::default().with_selected(Some(app.history_selected));
    f.render_stateful_widget(table, area, &mut state);
}
