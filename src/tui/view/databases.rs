//! The databases pane: every Postgres server's databases.

use super::widgets::{block, since};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::units::bytes;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row as TRow, Table, TableState};
use ratatui::Frame;

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let b = block(app, theme, String::new(), area.width);
    match &app.databases {
        None => f.render_widget(Paragraph::new(Span::styled("Reading the database servers…", theme.muted())).block(b), area),
        Some(Err(e)) => f.render_widget(Paragraph::new(Span::styled(e.to_string(), theme.danger())).block(b), area),
        Some(Ok(servers)) if servers.is_empty() => f.render_widget(
            Paragraph::new(Span::styled(
                "No Postgres server in the inventory: add [databases.NAME] with engine = \"postgres\". Then : db-create APP.",
                theme.muted(),
            ))
            .block(b),
            area,
        ),
        Some(Ok(servers)) => {
            let rows: Vec<TRow> = servers
                .iter()
                .flat_map(|(s, rows)| {
                    rows.iter().map(move |r| {
                        TRow::new(vec![
                            Span::styled(s.clone(), theme.muted()),
                            Span::raw(r.database.clone()),
                            Span::raw(r.owner.clone()),
                            Span::raw(bytes(r.size_bytes.max(0) as u64)),
                            Span::raw(r.connections.to_string()),
                            match &r.last_backup {
                                Some(t) => Span::raw(since(app.now, t)),
                                None => Span::styled("never", theme.warn()),
                            },
                        ])
                    })
                })
                .collect();
            let table = Table::new(
                rows,
                [
                    Constraint::Length(12),
                    Constraint::Min(16),
                    Constraint::Length(16),
                    Constraint::Length(10),
                    Constraint::Length(12),
                    Constraint::Length(12),
                ],
            )
            .header(TRow::new(vec!["SERVER", "DATABASE", "OWNER", "SIZE", "CONNECTIONS", "LAST BACKUP"]).style(theme.header()))
            .block(b.title_bottom(Span::styled(" : db-create APP · redis-assign APP · f5 reload ", theme.muted())))
            .row_highlight_style(theme.selected())
            .column_spacing(1);
            let mut state = TableState::default().with_selected(Some(app.databases_selected));
            f.render_stateful_widget(table, area, &mut state);
        }
    }
}
