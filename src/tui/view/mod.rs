//! Drawing: a pure function of the app state. Nothing here changes state or does I/O.
//!
//! This file lays out the frame (the hosts bar, the current pane, the status line, a popup)
//! and hands the pane's area to its file: one file per pane, `widgets` for the pieces they
//! share, `popups` and `editor` for what covers the panes.

mod actions;
mod backups;
mod containers;
mod databases;
mod doctor;
mod editor;
mod health;
mod history;
mod hosts;
mod logs;
mod popups;
mod resources;
mod routes;
mod widgets;

pub use widgets::{cpu_scale, spark};

use crate::model::Connection;
use crate::ops::Health;
use crate::tui::app::{App, Pane, Popup};
use crate::tui::keymap::KeyCommand;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use widgets::shorten;

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
        Pane::Containers => containers::draw(f, app, theme, main),
        Pane::Logs => logs::draw(f, app, theme, main),
        Pane::Health => health::draw(f, app, theme, main),
        Pane::Resources => resources::draw(f, app, theme, main),
        Pane::Hosts => hosts::draw(f, app, theme, main),
        Pane::Databases => databases::draw(f, app, theme, main),
        Pane::Backups => backups::draw(f, app, theme, main),
        Pane::Routes => routes::draw(f, app, theme, main),
        Pane::Doctor => doctor::draw(f, app, theme, main),
        Pane::Actions => actions::draw(f, app, theme, main),
        Pane::History => history::draw(f, app, theme, main),
    }
    draw_status(f, app, theme, bottom);
    match &app.popup {
        Popup::Help => popups::draw_help(f, app, theme, area),
        Popup::Palette => popups::draw_palette(f, app, theme, area),
        Popup::Confirm { run } => popups::draw_confirm(f, app, theme, area, *run),
        Popup::Editor => editor::draw(f, app, theme, area),
        Popup::Quit => popups::draw_quit(f, app, theme, area),
        Popup::None if !app.notices.is_empty() => popups::draw_notices(f, app, theme, area),
        Popup::None => {}
    }
}

fn draw_hosts(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let mut spans = vec![Span::styled(" opsdeck ", theme.title())];
    let all_read_only = !app.read_only.is_empty()
        && app
            .model
            .hosts
            .keys()
            .all(|h| app.read_only.contains_key(h));
    if all_read_only {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" READ-ONLY ", theme.danger()));
    }
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
        if !all_read_only && app.read_only.contains_key(&h.name) {
            spans.push(Span::styled(" [read-only]", theme.danger()));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
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
