//! The routes pane: every host's routes, where they come from, and what Traefik says.

use super::widgets::{block, empty_pane, key_hint, shorten};
use crate::tui::app::App;
use crate::tui::keymap::KeyCommand;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row as TRow, Table, TableState, Wrap};
use ratatui::Frame;

fn status_style(theme: &Theme, status: Option<&str>, errors: bool) -> Style {
    match status {
        _ if errors => theme.danger(),
        Some("enabled") => theme.ok(),
        Some("warning") => theme.warn(),
        Some(_) => theme.danger(),
        None => theme.muted(),
    }
}

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let rows = app.route_rows();
    let failing = rows
        .iter()
        .filter(|(_, r)| {
            !r.errors.is_empty() || r.status.as_deref().is_some_and(|s| s != "enabled")
        })
        .count();
    let hint = format!(
        "{}{} : route-add / route-remove ",
        key_hint(app, KeyCommand::Edit, "edit routes file"),
        key_hint(app, KeyCommand::Refresh, "reload"),
    );
    let block = block(
        app,
        theme,
        format!("({} routes, {failing} not enabled)", rows.len()),
        area.width,
    )
    .title_bottom(Span::styled(hint, theme.muted()));
    let hosts = match &app.routes {
        None => {
            empty_pane(f, area, block, "Reading routes and Traefik's API…", theme);
            return;
        }
        Some(Err(e)) => {
            f.render_widget(
                Paragraph::new(Span::styled(e.to_string(), theme.danger()))
                    .wrap(Wrap { trim: true })
                    .block(block),
                area,
            );
            return;
        }
        Some(Ok(h)) => h,
    };
    let inner = block.inner(area);
    f.render_widget(block, area);
    // Per host: where its routes come from, and what could not be read.
    let mut head: Vec<Line> = Vec::new();
    for h in hosts {
        head.push(Line::from(vec![
            Span::styled(format!("{} ", h.host), theme.title()),
            Span::styled(
                format!(
                    "file {} · API {}",
                    h.routes_file.as_deref().unwrap_or("(none)"),
                    h.api.as_deref().unwrap_or("(none)")
                ),
                theme.muted(),
            ),
        ]));
        for e in [&h.file_error, &h.labels_error, &h.api_error]
            .into_iter()
            .flatten()
        {
            head.push(Line::from(Span::styled(format!("  ! {e}"), theme.danger())));
        }
    }
    let head_h = (head.len() as u16).min(inner.height / 3).max(1);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(head_h), Constraint::Min(3)]).areas(inner);
    f.render_widget(Paragraph::new(head), top);
    let many = hosts.len() > 1;
    let trows: Vec<TRow> = rows
        .iter()
        .map(|(host, r)| {
            let status = r.status.as_deref();
            let mut cells = vec![
                Span::raw(if many {
                    format!("{host}/{}", r.route.router)
                } else {
                    r.route.router.clone()
                }),
                Span::styled(r.route.provider.clone(), theme.muted()),
                Span::raw(r.route.hosts.join(",")),
                Span::raw(r.route.targets.join(",")),
                Span::styled(
                    if r.route.entrypoints.is_empty() {
                        "(all)".to_string()
                    } else {
                        r.route.entrypoints.join(",")
                    },
                    theme.muted(),
                ),
                Span::raw(r.route.cert_resolver.clone().unwrap_or_else(|| "-".into())),
            ];
            let label = match (status, r.errors.is_empty()) {
                (Some(s), true) => s.to_string(),
                (Some(s), false) => format!("{s}: {}", r.errors.join("; ")),
                (None, _) => "not in Traefik".to_string(),
            };
            cells.push(Span::styled(
                shorten(&label, 120),
                status_style(theme, status, !r.errors.is_empty()),
            ));
            TRow::new(cells)
        })
        .collect();
    let empty = trows.is_empty();
    let table = Table::new(
        trows,
        [
            Constraint::Length(18),
            Constraint::Length(6),
            Constraint::Length(26),
            Constraint::Length(24),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Min(12),
        ],
    )
    .header(
        TRow::new(vec![
            "ROUTER", "FROM", "HOSTS", "TARGET", "ENTRY", "TLS", "TRAEFIK",
        ])
        .style(theme.header()),
    )
    .row_highlight_style(theme.selected())
    .column_spacing(1);
    let mut state = TableState::default().with_selected((!empty).then_some(app.routes_selected));
    f.render_stateful_widget(table, bottom, &mut state);
    if empty {
        f.render_widget(
            Paragraph::new(Span::styled(
                "  No routes yet: : route-add, or edit the routes file.",
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
