//! Drawing: a pure function of the app state. Nothing here changes state or does I/O.

use super::app::{App, Pane, Popup, Row};
use super::keymap::KeyCommand;
use super::layout::tab_labels;
use super::runs::StepState;
use super::theme::Theme;
use crate::docker::{ContainerInfo, Health, State};
use crate::journal::Outcome;
use crate::model::Connection;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row as TRow, Table, TableState, Wrap};
use ratatui::Frame;

pub fn draw(f: &mut Frame, app: &App, theme: &Theme) {
    let area = f.area();
    f.render_widget(Block::default().style(theme.base()), area);
    let [top, main, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_hosts(f, app, theme, top);
    match app.pane {
        Pane::Containers => draw_containers(f, app, theme, main),
        Pane::Logs => draw_logs(f, app, theme, main),
        Pane::Health => super::panes::draw_health(f, app, theme, main),
        Pane::Resources => super::panes::draw_resources(f, app, theme, main),
        Pane::Hosts => super::panes::draw_hosts_pane(f, app, theme, main),
        Pane::Databases => super::panes::draw_databases(f, app, theme, main),
        Pane::Backups => super::panes::draw_backups(f, app, theme, main),
        Pane::Routes => super::routes_pane::draw_routes(f, app, theme, main),
        Pane::Doctor => super::routes_pane::draw_doctor(f, app, theme, main),
        Pane::Actions => draw_actions(f, app, theme, main),
        Pane::History => draw_history(f, app, theme, main),
    }
    draw_status(f, app, theme, bottom);
    match &app.popup {
        Popup::Help => draw_help(f, app, theme, area),
        Popup::Palette => draw_palette(f, app, theme, area),
        Popup::Confirm { run } => draw_confirm(f, app, theme, area, *run),
        Popup::Editor => super::routes_pane::draw_editor(f, app, theme, area),
        Popup::None if !app.notices.is_empty() => draw_notices(f, app, theme, area),
        Popup::None => {}
    }
}

/// The pane tabs, as a title: the current one highlighted. When they do not fit in `width`
/// the others are abbreviated, then those farthest from the current one are left out.
pub(super) fn pane_title(app: &App, theme: &Theme, extra: String, width: u16) -> Line<'static> {
    let spans = tab_labels(app.pane, &extra, width)
        .into_iter()
        .map(|(p, label)| {
            let style = match p {
                Some(p) if p == app.pane => theme.title(),
                _ => theme.muted(),
            };
            Span::styled(label, style)
        })
        .collect::<Vec<_>>();
    Line::from(spans)
}

fn outcome_style(theme: &Theme, o: Option<Outcome>) -> Style {
    match o {
        None | Some(Outcome::Running) => theme.info(),
        Some(Outcome::Succeeded) => theme.ok(),
        Some(Outcome::Cancelled) | Some(Outcome::Refused) => theme.warn(),
        Some(Outcome::Failed) => theme.danger(),
    }
}

fn draw_actions(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(pane_title(
            app,
            theme,
            format!("({})", app.runs.len()),
            area.width,
        ));
    if app.runs.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "No actions yet. Press : for the palette, or ctrl-r on a container to restart it.",
                theme.muted(),
            ))
            .block(block),
            area,
        );
        return;
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [list, detail] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Min(20)]).areas(inner);
    let lines: Vec<Line> = app
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let state = match r.outcome {
                None if r.plan.is_none() => "planning".to_string(),
                None => "running".to_string(),
                Some(o) => o.as_str().to_string(),
            };
            let mut l = Line::from(vec![
                Span::styled(format!("{state:<10}"), outcome_style(theme, r.outcome)),
                Span::raw(r.title.clone()),
            ]);
            if i == app.run_selected {
                l = l.style(theme.selected());
            }
            l
        })
        .collect();
    f.render_widget(Paragraph::new(lines), list);
    let Some(run) = app.runs.get(app.run_selected) else {
        return;
    };
    let mut lines = vec![Line::from(Span::styled(run.title.clone(), theme.header()))];
    for (i, s) in run.steps.iter().enumerate() {
        let (mark, style, extra) = match &s.state {
            StepState::Pending => ("·", theme.muted(), String::new()),
            StepState::Running => ("▶", theme.info(), String::new()),
            StepState::Done { elapsed_ms } => ("✓", theme.ok(), format!(" ({elapsed_ms} ms)")),
            StepState::Failed { error } => ("✗", theme.danger(), format!(": {error}")),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} {}. ", i + 1), style),
            Span::raw(s.name.clone()),
            Span::styled(extra, style),
        ]));
    }
    if let Some(e) = &run.error {
        lines.push(Line::from(Span::styled(e.clone(), theme.danger())));
    }
    if let Some(id) = run.journal_id {
        lines.push(Line::from(Span::styled(
            format!("journal entry #{id}"),
            theme.muted(),
        )));
    }
    if let (Some(p), true) = (&run.progress, run.is_running()) {
        lines.push(Line::from(Span::styled(
            format!("  {}", p.describe()),
            theme.info(),
        )));
    }
    if let Some(secret) = &run.secret {
        lines.push(Line::from(vec![
            Span::styled("shown once, copy it now: ", theme.warn()),
            Span::raw(secret.clone()),
        ]));
    }
    let room = usize::from(detail.height).saturating_sub(lines.len() + 1);
    let skip = run.output.len().saturating_sub(room);
    lines.extend(
        run.output
            .iter()
            .skip(skip)
            .map(|l| Line::from(Span::styled(format!("  | {l}"), theme.muted()))),
    );
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), detail);
}

fn level_style(theme: &Theme, text: &str) -> Option<Style> {
    let lower: String = text
        .chars()
        .take(160)
        .collect::<String>()
        .to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&[
        "level=error",
        "\"level\":\"error\"",
        "[error]",
        " error ",
        "error:",
        "fatal",
        "panic",
        "level=fatal",
    ]) {
        Some(theme.danger())
    } else if has(&[
        "level=warn",
        "\"level\":\"warn",
        "[warn",
        " warn ",
        "warning",
    ]) {
        Some(theme.warn())
    } else if has(&[
        "level=debug",
        "\"level\":\"debug\"",
        "[debug]",
        "level=trace",
    ]) {
        Some(theme.muted())
    } else {
        None
    }
}

/// Spans for one log line: JSON keys picked out, search matches highlighted.
fn log_spans(
    text: &str,
    base: Style,
    theme: &Theme,
    search: Option<&regex::Regex>,
) -> Vec<Span<'static>> {
    // Pieces: (range, style) over the text, search matches winning over JSON keys.
    let mut marks: Vec<(usize, usize, Style)> = Vec::new();
    if text.trim_start().starts_with('{') {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'"' {
                if let Some(end) = text[i + 1..].find('"').map(|e| i + 1 + e) {
                    if text[end + 1..].trim_start().starts_with(':') {
                        marks.push((i, end + 1, theme.info()));
                    }
                    i = end + 1;
                    continue;
                }
            }
            i += 1;
        }
    }
    if let Some(re) = search {
        let found: Vec<(usize, usize)> = re
            .find_iter(text)
            .map(|m| (m.start(), m.end()))
            .filter(|(a, b)| a < b)
            .collect();
        if !found.is_empty() {
            marks.retain(|(a, b, _)| !found.iter().any(|(x, y)| a < y && x < b));
            marks.extend(found.into_iter().map(|(a, b)| (a, b, theme.selected())));
        }
    }
    marks.sort_by_key(|m| m.0);
    let mut spans = Vec::new();
    let mut at = 0;
    for (a, b, st) in marks {
        if a < at {
            continue;
        }
        if a > at {
            spans.push(Span::styled(text[at..a].to_string(), base));
        }
        spans.push(Span::styled(text[a..b].to_string(), st));
        at = b;
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), base));
    }
    spans
}

const SOURCE_ROLES: [&str; 6] = ["project", "info", "ok", "warn", "key", "title"];

fn draw_logs(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let l = &app.logs;
    let mut extra = String::new();
    if !l.title.is_empty() {
        extra.push_str(&format!("— {} ({} lines", l.title, l.buf.len()));
        if !l.filter_src.is_empty() {
            extra.push_str(&format!(", filter /{}/", l.filter_src));
        }
        extra.push(')');
    }
    let mut flags = Vec::new();
    flags.push(if l.paused { "PAUSED" } else { "following" });
    if l.timestamps {
        flags.push("timestamps");
    }
    if l.wrap {
        flags.push("wrap");
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(pane_title(app, theme, extra, area.width))
        .title_bottom(Span::styled(
            format!(" {} ", flags.join(" · ")),
            if l.paused {
                theme.warn()
            } else {
                theme.muted()
            },
        ));
    if l.title.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "No logs open. In the containers pane: l for a container, L for its whole compose project.",
                theme.muted(),
            ))
            .block(block),
            area,
        );
        return;
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let footer_rows =
        u16::from(l.input.is_some() || l.input_error.is_some()) + l.problems.len().min(2) as u16;
    let [body, footer] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(footer_rows)]).areas(inner);
    let many = l.multi || l.buf.sources.len() > 1;
    let width = l
        .buf
        .sources
        .iter()
        .map(|s| s.container.chars().count())
        .max()
        .unwrap_or(0)
        .min(24);
    let rows = usize::from(body.height);
    let mut window = l.buf.window(rows, l.scroll);
    if l.wrap {
        // Keep the newest lines whole: drop from the top until the wrapped height fits.
        let w = usize::from(body.width).max(1);
        let prefix = if many { width + 3 } else { 0 } + if l.timestamps { 13 } else { 0 };
        let mut used = 0;
        let mut keep = 0;
        for (_, line) in window.iter().rev() {
            let h = (prefix + line.text.chars().count()).div_ceil(w).max(1);
            if used + h > rows && keep > 0 {
                break;
            }
            used += h;
            keep += 1;
        }
        window.drain(..window.len() - keep);
    }
    let lines: Vec<Line> = window
        .into_iter()
        .map(|(i, line)| {
            let mut spans = Vec::new();
            if many {
                let name = l
                    .buf
                    .sources
                    .get(i)
                    .map(|s| s.container.as_str())
                    .unwrap_or("?");
                let short: String = name.chars().take(width).collect();
                spans.push(Span::styled(
                    format!("{short:<width$} │ "),
                    theme.role(SOURCE_ROLES[i % SOURCE_ROLES.len()]),
                ));
            }
            if l.timestamps {
                let ts = line
                    .ts
                    .map(|t| t.format("%H:%M:%S%.3f ").to_string())
                    .unwrap_or_else(|| " ".repeat(13));
                spans.push(Span::styled(ts, theme.muted()));
            }
            let base = level_style(theme, &line.text).unwrap_or(theme.base());
            let text = crate::secrets::mask_text(&line.text);
            // Without wrap, only what fits is styled and drawn.
            let shown: String = if l.wrap {
                text
            } else {
                text.chars().take(usize::from(body.width) + 1).collect()
            };
            spans.extend(log_spans(&shown, base, theme, l.search.as_ref()));
            if line.cut_bytes > 0 {
                spans.push(Span::styled(
                    format!(" … [{} bytes cut]", line.cut_bytes),
                    theme.muted(),
                ));
            }
            Line::from(spans)
        })
        .collect();
    let para = Paragraph::new(lines);
    let para = if l.wrap {
        para.wrap(Wrap { trim: false })
    } else {
        para
    };
    f.render_widget(para, body);
    let mut y = footer.y;
    for p in l.problems.iter().rev().take(2) {
        f.render_widget(
            Paragraph::new(Span::styled(p.clone(), theme.danger())),
            Rect {
                y,
                height: 1,
                ..footer
            },
        );
        y += 1;
    }
    if let Some(kind) = l.input {
        let label = match kind {
            super::app::LogInput::Filter => " filter /",
            super::app::LogInput::Search => " search /",
        };
        let [a, b] = Layout::horizontal([Constraint::Length(10), Constraint::Min(1)]).areas(Rect {
            y,
            height: 1,
            ..footer
        });
        f.render_widget(Paragraph::new(Span::styled(label, theme.key())), a);
        f.render_widget(&l.text, b);
    } else if let Some(e) = &l.input_error {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), theme.warn())),
            Rect {
                y,
                height: 1,
                ..footer
            },
        );
    }
}

fn draw_history(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(pane_title(
            app,
            theme,
            format!("({})", app.history.len()),
            area.width,
        ));
    if let Some(e) = &app.history_error {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), theme.danger())).block(block),
            area,
        );
        return;
    }
    if app.history.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "The journal is empty: no action has run yet.",
                theme.muted(),
            ))
            .block(block),
            area,
        );
        return;
    }
    let rows: Vec<TRow> = app
        .history
        .iter()
        .map(|e| {
            let outcome = Outcome::parse(&e.outcome);
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
                Span::styled(e.outcome.clone(), outcome_style(theme, outcome)),
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

fn draw_palette(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let r = popup(area, 76, 5);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Span::styled(" Run an action ", theme.title()));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [input, hint] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    f.render_widget(&app.palette, input);
    if let Some(e) = &app.palette_error {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), theme.warn())).wrap(Wrap { trim: true }),
            hint,
        );
    }
}

fn draw_confirm(f: &mut Frame, app: &App, theme: &Theme, area: Rect, run: usize) {
    let Some(run) = app.runs.iter().find(|r| r.id == run) else {
        return;
    };
    let mut lines: Vec<Line> = run
        .plan
        .as_ref()
        .map(|p| p.describe())
        .unwrap_or_default()
        .into_iter()
        .map(Line::from)
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled(" y ", theme.key()),
        Span::raw("run it   "),
        Span::styled(" n ", theme.key()),
        Span::raw("/ esc: do nothing"),
    ]));
    let r = popup(area, 76, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .style(theme.base())
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.danger())
                    .title(Span::styled(
                        format!(" Confirm: {} ", run.title),
                        theme.danger(),
                    )),
            ),
        r,
    );
}

fn draw_hosts(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let mut spans = vec![Span::styled(" opsdeck ", theme.title())];
    for h in app.model.hosts.values() {
        spans.push(Span::raw(" "));
        match &h.connection {
            Connection::Connected => {
                spans.push(Span::styled("● ", theme.ok()));
                spans.push(Span::styled(h.name.clone(), theme.header()));
                let mut detail = String::new();
                if let Some(v) = &h.engine_version {
                    detail.push_str(&format!(" {v}"));
                }
                if let Some(l) = h.latency_ms {
                    detail.push_str(&format!(" {l:.0}ms"));
                }
                spans.push(Span::styled(detail, theme.muted()));
            }
            Connection::Connecting => {
                spans.push(Span::styled("○ ", theme.warn()));
                spans.push(Span::styled(
                    format!("{} connecting…", h.name),
                    theme.muted(),
                ));
            }
            Connection::Down {
                error,
                retry_in_secs,
            } => {
                spans.push(Span::styled("✗ ", theme.danger()));
                spans.push(Span::styled(h.name.clone(), theme.danger()));
                spans.push(Span::styled(
                    format!(" {} (retry in {retry_in_secs}s)", shorten(error, 60)),
                    theme.muted(),
                ));
            }
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub(super) fn uptime(c: &ContainerInfo, now: chrono::DateTime<chrono::Utc>) -> String {
    if c.state != State::Running {
        return match c.exit_code {
            Some(code) => format!("exit {code}"),
            None => "-".into(),
        };
    }
    let Some(started) = c
        .started_at
        .as_deref()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    else {
        return "-".into();
    };
    let secs = (now - started.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0) as u64;
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        "<1m".into()
    }
}

pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub(super) fn health_label(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::Starting => "starting",
        Health::Unhealthy => "UNHEALTHY",
        Health::None => "-",
    }
}

fn draw_containers(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let rows = app.rows();
    let total = app.model.containers.len();
    let shown = app.visible().len();
    let title = if shown == total {
        format!(" Containers ({total}) ")
    } else {
        format!(" Containers ({shown} of {total}) ")
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(pane_title(
            app,
            theme,
            title.trim().trim_start_matches("Containers ").to_string(),
            area.width,
        ))
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
                let cells = vec![Span::styled(label, theme.project())];
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
                    Span::styled(c.state_label(), theme.container_state(c)),
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

fn draw_status(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    if app.filter_editing {
        let [label, input] =
            Layout::horizontal([Constraint::Length(9), Constraint::Min(1)]).areas(area);
        f.render_widget(
            Paragraph::new(Span::styled(" filter: ", theme.key())),
            label,
        );
        f.render_widget(&app.filter, input);
        return;
    }
    let mut spans = Vec::new();
    let filter = app.filter_text();
    if !filter.is_empty() {
        spans.push(Span::styled(format!(" filter: {filter} "), theme.info()));
    }
    let unhealthy = app
        .model
        .containers
        .values()
        .filter(|c| c.health == Health::Unhealthy)
        .count();
    if unhealthy > 0 {
        spans.push(Span::styled(
            format!(" {unhealthy} unhealthy "),
            theme.danger(),
        ));
    }
    if !app.show_all {
        spans.push(Span::styled(" running only ", theme.muted()));
    }
    for (cmd, label) in [
        (KeyCommand::Filter, "filter"),
        (KeyCommand::CycleSort, "sort"),
        (KeyCommand::Palette, "actions"),
        (KeyCommand::NextPane, "pane"),
        (KeyCommand::Help, "help"),
        (KeyCommand::Quit, "quit"),
    ] {
        if let Some(key) = app.keymap.keys_for(app.pane.section(), cmd).first() {
            spans.push(Span::styled(format!(" {key}"), theme.key()));
            spans.push(Span::styled(format!(" {label}"), theme.muted()));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2)).max(10);
    let h = h.min(area.height.saturating_sub(2)).max(3);
    Rect {
        x: area.x + (area.width.saturating_sub(w)) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w,
        height: h,
    }
}

fn draw_help(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let lines: Vec<Line> = app
        .keymap
        .help(app.pane.section())
        .into_iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!("{k:>14}  "), theme.key()),
                Span::raw(d),
            ])
        })
        .collect();
    let widest = lines.iter().map(|l| l.width()).max().unwrap_or(40) as u16;
    let r = popup(area, widest + 2, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).style(theme.base()).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border())
                .title(Span::styled(" Keys ", theme.title())),
        ),
        r,
    );
}

fn draw_notices(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let lines: Vec<Line> = app
        .notices
        .iter()
        .map(|n| Line::from(Span::styled(n.clone(), theme.warn())))
        .collect();
    let r = popup(area, 80, lines.len() as u16 * 2 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .style(Style::default())
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.warn())
                    .title(Span::styled(" Problems (esc to close) ", theme.warn())),
            ),
        r,
    );
}

/// A sparkline as text: one block character per sample (NaN: a gap), scaled to `max` (or the
/// series' own maximum), the newest `width` samples.
pub fn spark(values: &std::collections::VecDeque<f64>, width: usize, max: Option<f64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let skip = values.len().saturating_sub(width);
    let top = max
        .unwrap_or_else(|| {
            values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max)
        })
        .max(f64::MIN_POSITIVE);
    let mut s: String = values
        .iter()
        .skip(skip)
        .map(|v| {
            if v.is_finite() {
                BARS[((v / top).clamp(0.0, 1.0) * 7.0).round() as usize]
            } else {
                ' '
            }
        })
        .collect();
    let len = s.chars().count();
    if len < width {
        s = " ".repeat(width - len) + &s;
    }
    s
}

/// The top of a CPU sparkline: at least 10% of a core, so an idle container looks idle.
pub fn cpu_scale(values: &std::collections::VecDeque<f64>) -> f64 {
    values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(10.0, f64::max)
}

/// `…/shop:1.4.2`: the end of a string that is too long, which is where tags are.
pub(super) fn shorten_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 2 {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}
