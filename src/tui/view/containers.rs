//! The containers pane: a table grouped by host and compose project, with live stats.

use super::widgets::{block, cpu_scale, health_label, shorten_left, spark, uptime};
use crate::model::Connection;
use crate::ops::State;
use crate::tui::app::{App, Row};
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row as TRow, Table, TableState};
use ratatui::Frame;

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let rows = app.rows();
    let total = app.model.containers.len();
    let shown = app.visible().len();
    let title = if shown == total {
        format!(" Containers ({total}) ")
    } else {
        format!(" Containers ({shown} of {total}) ")
    };
    let block = block(
        app,
        theme,
        title.trim().trim_start_matches("Containers ").to_string(),
        area.width,
    )
    .title_bottom(Span::styled(
        format!(" sort: {} ", app.sort.label()),
        theme.muted(),
    ));
    if rows.is_empty() {
        let any_connected = app
            .model
            .hosts
            .values()
            .any(|h| h.connection == Connection::Connected);
        let msg = if !app.filter_text().is_empty() {
            format!(
                "No container matches {:?}. Esc clears the filter.",
                app.filter_text()
            )
        } else if any_connected {
            "No containers on the connected hosts.".to_string()
        } else if app
            .model
            .hosts
            .values()
            .all(|h| matches!(h.connection, Connection::Down { .. }))
        {
            "No host is reachable; the reason is shown at the top. Retrying…".to_string()
        } else {
            "Connecting to the hosts…".to_string()
        };
        f.render_widget(
            Paragraph::new(Span::styled(msg, theme.muted())).block(block),
            area,
        );
        return;
    }
    let narrow = area.width < 100;
    // Room for the container name column too.
    let wide = area.width >= 140;
    let mut selected_row = None;
    let mut index = 0usize;
    let trows: Vec<TRow> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Row::Group {
                host,
                project,
                count,
            } => {
                let name = project.unwrap_or("(no project)");
                let label = if app.model.hosts.len() > 1 {
                    format!("▾ {name} ({count}) @ {host}")
                } else {
                    format!("▾ {name} ({count})")
                };
                let mut cells = vec![Span::styled(label, theme.project())];
                // The app's maintenance banner: in the state column, its message under IMAGE.
                if let Some(m) = project.and_then(|p| maintenance(app, host, p)) {
                    cells.push(Span::styled("⚠ MAINT", theme.warn()));
                    cells.push(Span::raw(""));
                    cells.push(Span::styled(m.to_string(), theme.warn()));
                }
                TRow::new(cells)
            }
            Row::Container(c) => {
                if index == app.selected {
                    selected_row = Some(i);
                }
                index += 1;
                let image = if narrow {
                    c.tag.clone().map(|t| format!(":{t}")).unwrap_or_default()
                } else {
                    // Keep the tag visible: cut long images from the left.
                    shorten_left(&c.image, usize::from(area.width) * 30 / 100)
                };
                let mut cells = vec![
                    Span::raw(format!("  {}", c.service.as_deref().unwrap_or(&c.name))),
                    if c.restart_loop() {
                        Span::styled(
                            format!("↻ loop ×{}", c.restart_count.unwrap_or(0)),
                            theme.warn(),
                        )
                    } else {
                        Span::styled(c.state_label(), theme.container_state(c))
                    },
                    Span::styled(health_label(c.health), theme.health(c.health)),
                    Span::raw(image),
                    Span::styled(uptime(c, app.now), theme.muted()),
                ];
                if !narrow {
                    match app.model.stats.get(&(c.host.clone(), c.id.clone())) {
                        Some(st) if c.state == State::Running => {
                            cells.push(Span::styled(
                                format!(
                                    "{:>3.0}% {}",
                                    st.last.cpu_percent,
                                    spark(&st.cpu.0, 6, Some(cpu_scale(&st.cpu.0)))
                                ),
                                theme.info(),
                            ));
                            cells.push(Span::styled(
                                format!(
                                    "{:>8} {}",
                                    crate::units::bytes(st.last.memory_bytes),
                                    spark(&st.mem.0, 6, None)
                                ),
                                theme.info(),
                            ));
                        }
                        _ => {
                            cells.push(Span::raw(""));
                            cells.push(Span::raw(""));
                        }
                    }
                    if wide {
                        cells.push(Span::styled(c.name.clone(), theme.muted()));
                    }
                }
                TRow::new(cells)
            }
        })
        .collect();
    let widths: Vec<Constraint> = if narrow {
        vec![
            Constraint::Min(16),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(12),
            Constraint::Length(8),
        ]
    } else {
        let mut w = vec![
            Constraint::Min(20),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Percentage(30),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(15),
        ];
        if wide {
            w.push(Constraint::Percentage(18));
        }
        w
    };
    let header_cells: Vec<&str> = if narrow {
        vec!["SERVICE", "STATE", "HEALTH", "TAG", "UP"]
    } else {
        let mut h = vec!["SERVICE", "STATE", "HEALTH", "IMAGE", "UP", "CPU", "MEM"];
        if wide {
            h.push("CONTAINER");
        }
        h
    };
    let table = Table::new(trows, widths)
        .header(TRow::new(header_cells).style(theme.header()))
        .block(block)
        .row_highlight_style(theme.selected())
        .column_spacing(1);
    let mut state = TableState::default().with_selected(selected_row);
    f.render_stateful_widget(table, area, &mut state);
}

/// The message of the running maintenance container of `project` on `host`, if any.
fn maintenance<'a>(app: &'a App, host: &str, project: &str) -> Option<&'a str> {
    use crate::ops::step::MaintenanceSite as M;
    app.model
        .containers
        .values()
        .filter(|c| c.host == host && c.state == State::Running)
        .find(|c| c.labels.get(M::PROJECT_LABEL).map(String::as_str) == Some(project))
        .map(|c| {
            c.labels
                .get(M::MESSAGE_LABEL)
                .map(String::as_str)
                .unwrap_or("")
        })
}
