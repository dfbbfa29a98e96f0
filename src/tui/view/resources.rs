//! The resources pane: host gauges and sparklines, then per-container usage.

use super::widgets::{block, cpu_scale, shorten, spark};
use crate::ops::State;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::units::bytes;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Gauge, Paragraph, Row as TRow, Table, TableState};
use ratatui::Frame;

pub(super) fn draw(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
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
