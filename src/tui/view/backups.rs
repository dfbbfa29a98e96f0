//! The backups pane: per database, the newest backup and the newest verified one.

use super::widgets::block;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::units::{bytes, short_duration};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row as TRow, Table, TableState};
use ratatui::Frame;

/// Per database: the newest backup, its age and size, and the newest verified one.
pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let b = block(app, theme, String::new(), area.width).title_bottom(Span::styled(
        " : backup DB · verify DB ID · restore DB ID · f5 reload ",
        theme.muted(),
    ));
    let list = match &app.backups {
        None => {
            f.render_widget(
                Paragraph::new(Span::styled("Reading the backup storages…", theme.muted()))
                    .block(b),
                area,
            );
            return;
        }
        Some(Err(e)) => {
            f.render_widget(
                Paragraph::new(Span::styled(e.to_string(), theme.danger())).block(b),
                area,
            );
            return;
        }
        Some(Ok(l)) => l,
    };
    let mut dbs: Vec<&str> = list.iter().map(|m| m.database.as_str()).collect();
    dbs.sort();
    dbs.dedup();
    if dbs.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "No backups yet. Set backup_to on a database and run : backup DB.",
                theme.muted(),
            ))
            .block(b),
            area,
        );
        return;
    }
    let age = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| {
                short_duration(
                    (app.now - t.with_timezone(&chrono::Utc))
                        .num_seconds()
                        .max(0) as u64,
                )
            })
            .unwrap_or_else(|_| "?".into())
    };
    let rows: Vec<TRow> = dbs
        .iter()
        .map(|d| {
            let newest = list.iter().find(|m| m.database == *d);
            let verified = list.iter().find(|m| m.database == *d && m.verified);
            let count = list.iter().filter(|m| m.database == *d).count();
            TRow::new(vec![
                Span::styled(d.to_string(), theme.header()),
                Span::raw(newest.map(|m| m.id.clone()).unwrap_or_default()),
                Span::raw(newest.map(|m| age(&m.time)).unwrap_or_default()),
                Span::raw(newest.map(|m| bytes(m.size)).unwrap_or_default()),
                match verified {
                    Some(v) => Span::styled(format!("{} ago", age(&v.time)), theme.ok()),
                    None => Span::styled("never", theme.danger()),
                },
                Span::raw(count.to_string()),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Min(20),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Length(14),
            Constraint::Length(7),
        ],
    )
    .header(
        TRow::new(vec![
            "DATABASE",
            "LAST BACKUP",
            "AGE",
            "SIZE",
            "LAST VERIFIED",
            "COUNT",
        ])
        .style(theme.header()),
    )
    .block(b)
    .row_highlight_style(theme.selected())
    .column_spacing(1);
    let mut state =
        TableState::default().with_selected(Some(app.selected.min(dbs.len().saturating_sub(1))));
    f.render_stateful_widget(table, area, &mut state);
}
