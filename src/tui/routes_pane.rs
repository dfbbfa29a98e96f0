//! The routes pane, the routes file editor and the doctor pane (drawing only).

use super::app::{App, DoctorState};
use super::keymap::KeyCommand;
use super::theme::Theme;
use super::view::{pane_title, shorten};
use crate::ops::doctor::Verdict;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Clear, List, ListItem, ListState, Paragraph, Row as TRow, Table, TableState,
    Wrap,
};
use ratatui::Frame;

fn key_hint(app: &App, cmd: KeyCommand, what: &str) -> String {
    app.keymap
        .keys_for(app.pane.section(), cmd)
        .first()
        .map(|k| format!(" {k} {what} ·"))
        .unwrap_or_default()
}

fn status_style(theme: &Theme, status: Option<&str>, errors: bool) -> Style {
    match status {
        _ if errors => theme.danger(),
        Some("enabled") => theme.ok(),
        Some("warning") => theme.warn(),
        Some(_) => theme.danger(),
        None => theme.muted(),
    }
}

pub fn draw_routes(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
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
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(pane_title(
            app,
            theme,
            format!("({} routes, {failing} not enabled)", rows.len()),
            area.width,
        ))
        .title_bottom(Span::styled(hint, theme.muted()));
    let hosts = match &app.routes {
        None => {
            f.render_widget(
                Paragraph::new(Span::styled(
                    "Reading routes and Traefik's API…",
                    theme.muted(),
                ))
                .block(block),
                area,
            );
            return;
        }
        Some(Err(e)) => {
            f.render_widget(
                Paragraph::new(Span::styled(e.clone(), theme.danger()))
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

/// The routes file editor, over the whole screen but the top and bottom lines.
pub fn draw_editor(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let Some(ed) = &app.editor else { return };
    let r = Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    };
    f.render_widget(Clear, r);
    let changed = if ed.modified() { " (modified)" } else { "" };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if ed.error.is_some() {
            theme.warn()
        } else {
            theme.border()
        })
        .title(Span::styled(
            format!(" {}:{}{changed} ", ed.host, ed.path),
            theme.title(),
        ))
        .title_bottom(Span::styled(
            " ctrl-s check & apply (previous file kept, put back on failure) · esc close ",
            theme.muted(),
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let err_h = if ed.error.is_some() { 2 } else { 0 };
    let [text, err] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(err_h)]).areas(inner);
    f.render_widget(&ed.text, text);
    if let Some(e) = &ed.error {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), theme.danger())).wrap(Wrap { trim: true }),
            err,
        );
    }
}

fn verdict_style(theme: &Theme, v: Verdict) -> Style {
    match v {
        Verdict::Pass => theme.ok(),
        Verdict::Fail => theme.danger(),
        Verdict::Skip => theme.muted(),
    }
}

pub fn draw_doctor(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(pane_title(app, theme, String::new(), area.width))
        .title_bottom(Span::styled(
            format!(
                "{} run the checklist for the selected app ",
                key_hint(app, KeyCommand::Doctor, "")
                    .trim_end_matches(" ·")
                    .trim_end()
            ),
            theme.muted(),
        ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if app.apps.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "No apps in the inventory: add [apps.NAME] with host, services and domains.",
                theme.muted(),
            )),
            inner,
        );
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Length(26), Constraint::Min(20)]).areas(inner);
    let items: Vec<ListItem> = app
        .apps
        .keys()
        .map(|a| {
            let (mark, style) = match app.doctor.get(a) {
                None => ("  ", theme.muted()),
                Some(DoctorState::Running) => ("… ", theme.info()),
                Some(DoctorState::Done(Ok(r))) if r.ok => ("✓ ", theme.ok()),
                Some(DoctorState::Done(_)) => ("✗ ", theme.danger()),
            };
            ListItem::new(Line::from(vec![
                Span::styled(mark, style),
                Span::raw(a.clone()),
            ]))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(app.doctor_selected));
    f.render_stateful_widget(
        List::new(items)
            .block(
                Block::default()
                    .borders(Borders::RIGHT)
                    .border_style(theme.border()),
            )
            .highlight_style(theme.selected()),
        left,
        &mut state,
    );
    let Some(name) = app.apps.keys().nth(app.doctor_selected) else {
        return;
    };
    let right = Rect {
        x: right.x + 1,
        width: right.width.saturating_sub(1),
        ..right
    };
    let lines: Vec<Line> = match app.doctor.get(name) {
        None => vec![Line::from(Span::styled(
            format!("Not run yet for {name}: press enter to run the checklist."),
            theme.muted(),
        ))],
        Some(DoctorState::Running) => vec![Line::from(Span::styled(
            format!("Running the checklist for {name}…"),
            theme.info(),
        ))],
        Some(DoctorState::Done(Err(e))) => {
            vec![Line::from(Span::styled(e.clone(), theme.danger()))]
        }
        Some(DoctorState::Done(Ok(r))) => {
            let mut l = vec![Line::from(vec![
                Span::styled(format!("doctor {} on {}  ", r.app, r.host), theme.title()),
                if r.ok {
                    Span::styled("all checks passed", theme.ok())
                } else {
                    Span::styled("some checks FAILED", theme.danger())
                },
            ])];
            for (i, s) in r.steps.iter().enumerate() {
                l.push(Line::from(vec![
                    Span::raw(format!("{:>2}. ", i + 1)),
                    Span::styled(
                        format!("[{:<4}] ", s.verdict.as_str()),
                        verdict_style(theme, s.verdict),
                    ),
                    Span::raw(s.name.clone()),
                ]));
                for d in &s.detail {
                    l.push(Line::from(Span::styled(
                        format!("           {d}"),
                        theme.muted(),
                    )));
                }
                if let (Verdict::Fail, Some(h)) = (s.verdict, &s.hint) {
                    l.push(Line::from(Span::styled(
                        format!("           hint: {h}"),
                        theme.warn(),
                    )));
                }
            }
            l
        }
    };
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), right);
}
