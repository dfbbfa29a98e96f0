//! The health pane: HTTP checks with their latency history, then container health checks.

use super::widgets::{block, health_label, shorten, since, spark};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row as TRow, Table};
use ratatui::Frame;

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let checks = &app.model.checks;
    let down = checks.values().filter(|c| !c.last.up).count();
    let outer = block(
        app,
        theme,
        format!("({} checks, {down} down)", checks.len()),
        area.width,
    );
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let check_rows = (checks.len() as u16 + 2).min((inner.height / 2).max(1));
    let [top, bottom] =
        Layout::vertical([Constraint::Length(check_rows), Constraint::Min(3)]).areas(inner);
    if checks.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "No HTTP checks in the inventory: add [checks.NAME] with url (and via = HOST to run it from a host).",
                theme.muted(),
            )),
            top,
        );
    } else {
        let rows: Vec<TRow> = checks
            .iter()
            .map(|(name, c)| {
                let p = &c.last.probe;
                TRow::new(vec![
                    Span::raw(name.clone()),
                    if c.last.up {
                        Span::styled("up", theme.ok())
                    } else {
                        Span::styled("DOWN", theme.danger())
                    },
                    Span::raw(
                        p.status
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Span::raw(
                        p.latency_ms
                            .map(|l| format!("{l:.0}ms"))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Span::styled(spark(&c.latency.0, 20, None), theme.info()),
                    Span::styled(
                        c.last_success
                            .as_deref()
                            .map(|t| since(app.now, t))
                            .unwrap_or_else(|| "never".into()),
                        if c.last.up {
                            theme.muted()
                        } else {
                            theme.warn()
                        },
                    ),
                    Span::styled(
                        p.error.clone().unwrap_or_else(|| p.url.clone()),
                        if p.error.is_some() {
                            theme.danger()
                        } else {
                            theme.muted()
                        },
                    ),
                ])
            })
            .collect();
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(16),
                    Constraint::Length(5),
                    Constraint::Length(4),
                    Constraint::Length(7),
                    Constraint::Length(20),
                    Constraint::Length(12),
                    Constraint::Min(10),
                ],
            )
            .header(
                TRow::new(vec![
                    "CHECK",
                    "STATE",
                    "HTTP",
                    "LAT",
                    "LATENCY HISTORY",
                    "LAST OK",
                    "URL / ERROR",
                ])
                .style(theme.header()),
            )
            .column_spacing(1),
            top,
        );
    }
    // Container health: those with a health check first, failing ones on top.
    let mut cs: Vec<_> = app
        .visible()
        .into_iter()
        .filter(|c| c.health != crate::ops::Health::None)
        .collect();
    cs.sort_by_key(|c| {
        (
            c.health != crate::ops::Health::Unhealthy,
            c.health != crate::ops::Health::Starting,
            c.name.clone(),
        )
    });
    let rows: Vec<TRow> = cs
        .iter()
        .map(|c| {
            TRow::new(vec![
                Span::raw(c.display_target()),
                Span::styled(health_label(c.health), theme.health(c.health)),
                Span::styled(
                    c.health_output
                        .as_deref()
                        .map(|o| shorten(&o.replace('\n', " "), 200))
                        .unwrap_or_default(),
                    theme.muted(),
                ),
            ])
        })
        .collect();
    let empty = rows.is_empty();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Percentage(30),
                Constraint::Length(10),
                Constraint::Min(10),
            ],
        )
        .header(TRow::new(vec!["CONTAINER", "HEALTH", "LAST PROBE OUTPUT"]).style(theme.header()))
        .column_spacing(1),
        bottom,
    );
    if empty {
        f.render_widget(
            Paragraph::new(Span::styled(
                "  No container defines a health check.",
                theme.muted(),
            )),
            Rect {
                y: bottom.y + 1,
                height: 1,
                ..bottom
            },
        );
    }
}
