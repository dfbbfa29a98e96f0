//! The hosts pane: connection, latency and engine of every host.

use super::widgets::block;
use crate::model::Connection;
use crate::ops::State;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Row as TRow, Table};
use ratatui::Frame;

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let rows: Vec<TRow> = app
        .model
        .hosts
        .values()
        .map(|h| {
            let (state, style) = match &h.connection {
                Connection::Connected => ("connected".to_string(), theme.ok()),
                Connection::Connecting => ("connecting".to_string(), theme.warn()),
                Connection::Down { retry_in_secs, .. } => {
                    (format!("down, retry {retry_in_secs}s"), theme.danger())
                }
            };
            let n = app
                .model
                .containers
                .values()
                .filter(|c| c.host == h.name)
                .count();
            let running = app
                .model
                .containers
                .values()
                .filter(|c| c.host == h.name && c.state == State::Running)
                .count();
            TRow::new(vec![
                Span::styled(h.name.clone(), theme.header()),
                Span::styled(state, style),
                Span::raw(
                    h.latency_ms
                        .map(|l| format!("{l:.1}ms"))
                        .unwrap_or_else(|| "-".into()),
                ),
                Span::raw(h.engine_version.clone().unwrap_or_else(|| "-".into())),
                Span::raw(format!("{running}/{n}")),
                Span::styled(h.last_error.clone().unwrap_or_default(), theme.danger()),
            ])
        })
        .collect();
    let up = app
        .model
        .hosts
        .values()
        .filter(|h| h.connection == Connection::Connected)
        .count();
    let table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Length(16),
            Constraint::Length(9),
            Constraint::Length(16),
            Constraint::Length(9),
            Constraint::Min(10),
        ],
    )
    .header(
        TRow::new(vec![
            "HOST",
            "CONNECTION",
            "LATENCY",
            "ENGINE",
            "RUNNING",
            "LAST ERROR",
        ])
        .style(theme.header()),
    )
    .block(block(
        app,
        theme,
        format!("({up}/{} up)", app.model.hosts.len()),
        area.width,
    ))
    .column_spacing(1);
    f.render_widget(table, area);
}
