//! The health, resources and hosts panes (drawing only).

use super::app::App;
use super::theme::Theme;
use super::view::{cpu_scale, health_label, pane_title, shorten, spark};
use crate::model::Connection;
use crate::ops::State;
use crate::units::{bytes, short_duration};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Row as TRow, Table, TableState};
use ratatui::Frame;

fn block<'a>(app: &App, theme: &Theme, extra: String, width: u16) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(pane_title(app, theme, extra, width))
}

fn since(now: chrono::DateTime<chrono::Utc>, rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            short_duration((now - t.with_timezone(&chrono::Utc)).num_seconds().max(0) as u64)
                + " ago"
        })
        .unwrap_or_else(|_| "?".into())
}

pub fn draw_health(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
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

pub fn draw_resources(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let outer = block(app, theme, String::new(), area.width);
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let hosts: Vec<_> = app.model.host_metrics.iter().collect();
    let host_rows = (hosts.len() as u16 * 2)
        .max(1)
        .min((inner.height / 2).max(1));
    let [top, bottom] =
        Layout::vertical([Constraint::Length(host_rows), Constraint::Min(3)]).areas(inner);
    if hosts.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled("Reading host metrics…", theme.muted())),
            top,
        );
    }
    for (i, (name, h)) in hosts.iter().enumerate() {
        let y = top.y + i as u16 * 2;
        if y >= top.y + top.height {
            break;
        }
        let row = Rect {
            y,
            height: 1,
            ..top
        };
        let [label, cpu, mem, disk] = Layout::horizontal([
            Constraint::Length(14),
            Constraint::Percentage(34),
            Constraint::Percentage(33),
            Constraint::Percentage(33),
        ])
        .areas(row);
        f.render_widget(
            Paragraph::new(Span::styled(name.to_string(), theme.header())),
            label,
        );
        if let Some(e) = &h.error {
            f.render_widget(
                Paragraph::new(Span::styled(shorten(e, 80), theme.danger())),
                Rect {
                    x: cpu.x,
                    width: row.width.saturating_sub(14),
                    ..row
                },
            );
            continue;
        }
        let m = &h.last;
        let gauge = |title: String, ratio: f64| {
            let style = if ratio > 0.9 {
                theme.danger()
            } else if ratio > 0.75 {
                theme.warn()
            } else {
                theme.ok()
            };
            Gauge::default()
                .ratio(ratio.clamp(0.0, 1.0))
                .label(title)
                .gauge_style(style)
        };
        let cpu_ratio = m.cpu_percent.unwrap_or(0.0) / 100.0;
        f.render_widget(
            gauge(
                format!("cpu {:.0}% load {:.2}", cpu_ratio * 100.0, m.load1),
                cpu_ratio,
            ),
            cpu,
        );
        let used = m.mem_total_bytes.saturating_sub(m.mem_available_bytes);
        let mem_ratio = if m.mem_total_bytes > 0 {
            used as f64 / m.mem_total_bytes as f64
        } else {
            0.0
        };
        f.render_widget(
            gauge(
                format!("mem {} / {}", bytes(used), bytes(m.mem_total_bytes)),
                mem_ratio,
            ),
            mem,
        );
        let disk_ratio = if m.disk_total_bytes > 0 {
            m.disk_used_bytes as f64 / m.disk_total_bytes as f64
        } else {
            0.0
        };
        f.render_widget(
            gauge(
                format!(
                    "disk / {} / {}",
                    bytes(m.disk_used_bytes),
                    bytes(m.disk_total_bytes)
                ),
                disk_ratio,
            ),
            disk,
        );
        let spark_row = Rect {
            y: y + 1,
            height: 1,
            ..top
        };
        if spark_row.y < top.y + top.height {
            let [_, c2, m2, _] = Layout::horizontal([
                Constraint::Length(14),
                Constraint::Percentage(34),
                Constraint::Percentage(33),
                Constraint::Percentage(33),
            ])
            .areas(spark_row);
            f.render_widget(
                Paragraph::new(Span::styled(
                    spark(&h.cpu.0, usize::from(c2.width), Some(100.0)),
                    theme.info(),
                )),
                c2,
            );
            f.render_widget(
                Paragraph::new(Span::styled(
                    spark(&h.mem_used_percent.0, usize::from(m2.width), Some(100.0)),
                    theme.info(),
                )),
                m2,
            );
        }
    }
    let visible = app.visible();
    let rows: Vec<TRow> = visible
        .iter()
        .map(|c| {
            let st = app.model.stats.get(&(c.host.clone(), c.id.clone()));
            let running = c.state == State::Running;
            let cells = match (st, running) {
                (Some(s), true) => vec![
                    Span::raw(c.display_target()),
                    Span::raw(format!("{:5.1}%", s.last.cpu_percent)),
                    Span::styled(spark(&s.cpu.0, 12, Some(cpu_scale(&s.cpu.0))), theme.info()),
                    Span::raw(bytes(s.last.memory_bytes)),
                    Span::styled(spark(&s.mem.0, 12, None), theme.info()),
                    Span::raw(format!(
                        "{} / {}",
                        bytes(s.last.net_rx_bytes),
                        bytes(s.last.net_tx_bytes)
                    )),
                    Span::raw(format!(
                        "{} / {}",
                        bytes(s.last.block_read_bytes),
                        bytes(s.last.block_write_bytes)
                    )),
                ],
                (None, true) => vec![
                    Span::raw(c.display_target()),
                    Span::styled("sampling…", theme.muted()),
                ],
                (_, false) => vec![
                    Span::raw(c.display_target()),
                    Span::styled(c.state_label(), theme.container_state(c)),
                ],
            };
            TRow::new(cells)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Min(18),
            Constraint::Length(7),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Length(12),
            Constraint::Length(19),
            Constraint::Length(19),
        ],
    )
    .header(
        TRow::new(vec![
            "CONTAINER",
            "CPU",
            "",
            "MEM",
            "",
            "NET RX / TX",
            "BLOCK R / W",
        ])
        .style(theme.header()),
    )
    .row_highlight_style(theme.selected())
    .column_spacing(1);
    let mut state = TableState::default().with_selected(Some(app.selected));
    f.render_stateful_widget(table, bottom, &mut state);
}

pub fn draw_hosts_pane(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
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

pub fn draw_databases(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let b = block(app, theme, String::new(), area.width);
    match &app.databases {
        None => f.render_widget(Paragraph::new(Span::styled("Reading the database servers…", theme.muted())).block(b), area),
        Some(Err(e)) => f.render_widget(Paragraph::new(Span::styled(e.clone(), theme.danger())).block(b), area),
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

/// Per database: the newest backup, its age and size, and the newest verified one.
pub fn draw_backups(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
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
                Paragraph::new(Span::styled(e.clone(), theme.danger())).block(b),
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
