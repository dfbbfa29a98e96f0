//! The console's state and its update function. Drawing lives in `view` and only reads this.
//!
//! The state and its core (the containers list, model updates) are here; the update function
//! is split by concern: `input` (keys, mouse), `commands` (named commands, the [`Effect`]
//! queue), `answers` (what the loop's work brings back), `palette`, `logs` and `routes` (the
//! routes pane and its file editor).

mod answers;
mod commands;
mod input;
mod logs;
mod palette;
mod routes;

pub use super::layout::Pane;
pub use commands::Effect;
pub use logs::{LogInput, LogsView};
pub use routes::RoutesEditor;

use super::keymap::Keymap;
use super::runs::Run;
use crate::journal::Entry;
use crate::model::{Model, Update};
use crate::ops::Target;
use crate::ops::{ContainerInfo, State};
use std::collections::BTreeMap;
use tui_textarea::TextArea;

/// What covers the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    None,
    Help,
    Palette,
    /// A destructive plan waiting for `y`.
    Confirm {
        run: usize,
    },
    /// The routes file editor ([`App::editor`]).
    Editor,
    /// Quit asked while actions run: `y` cancels them and quits once they are put back.
    Quit,
}

/// The doctor's checklist for an app, as the console holds it.
#[derive(Debug, Clone)]
pub enum DoctorState {
    Running,
    Done(Result<crate::ops::doctor::DoctorReport, crate::error::Error>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Project,
    State,
    Health,
    Uptime,
}

impl SortKey {
    fn next(self) -> Self {
        match self {
            SortKey::Project => SortKey::State,
            SortKey::State => SortKey::Health,
            SortKey::Health => SortKey::Uptime,
            SortKey::Uptime => SortKey::Project,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Project => "project",
            SortKey::State => "state",
            SortKey::Health => "health",
            SortKey::Uptime => "uptime",
        }
    }
}

/// A row of the containers pane: a group heading or a container.
#[derive(Debug, Clone, PartialEq)]
pub enum Row<'a> {
    Group {
        host: &'a str,
        project: Option<&'a str>,
        count: usize,
    },
    Container(&'a ContainerInfo),
}

pub struct App {
    pub model: Model,
    pub keymap: Keymap,
    pub pane: Pane,
    pub popup: Popup,
    /// Apps of the inventory and their services (for targets and completion).
    pub apps: BTreeMap<String, Vec<String>>,
    pub runs: Vec<Run>,
    pub run_selected: usize,
    pub history: Vec<Entry>,
    pub history_selected: usize,
    pub history_error: Option<String>,
    pub palette: TextArea<'static>,
    pub palette_error: Option<String>,
    /// Work for the event loop, drained after every update.
    pub effects: Vec<Effect>,
    pub logs: LogsView,
    /// Per server: its databases, or why they could not be listed.
    pub databases: Option<Result<crate::ops::provision::ServerDatabases, crate::error::Error>>,
    pub databases_selected: usize,
    /// Every published backup (newest first), or why they could not be read.
    pub backups: Option<Result<Vec<crate::ops::backup::Manifest>, crate::error::Error>>,
    /// Every host's routes, or why they could not be listed.
    pub routes: Option<Result<Vec<crate::ops::routes::HostRoutes>, crate::error::Error>>,
    pub routes_selected: usize,
    /// The routes file editor (open, or kept as a draft while its apply runs or after it
    /// failed, so nothing typed is lost).
    pub editor: Option<RoutesEditor>,
    /// The doctor's last checklist per app.
    pub doctor: BTreeMap<String, DoctorState>,
    /// `(host, repo:tag)` of the images on each host (the version picker offers their tags).
    pub host_images: Vec<(String, String)>,
    pub doctor_selected: usize,
    /// Index among the visible containers (not counting group headings).
    pub selected: usize,
    pub filter: TextArea<'static>,
    pub filter_editing: bool,
    pub show_all: bool,
    pub sort: SortKey,
    /// Problems to show once (bad key map or theme file).
    pub notices: Vec<String>,
    pub quit: bool,
    /// Quitting once every executing action has ended (cancelled, its undo done).
    pub quitting: bool,
    /// The time the view uses for uptimes (set by the loop, so drawing stays pure).
    pub now: chrono::DateTime<chrono::Utc>,
    /// Rows visible in the table at the last draw (for paging).
    pub page: usize,
    /// The terminal's width at the last draw (for mouse clicks on the tabs).
    pub width: u16,
    /// Hosts that refuse changes, and why (`--read-only`, `read_only = true`): shown in the
    /// header. The refusal itself is the action layer's, when an action is planned.
    pub read_only: BTreeMap<String, String>,
}

impl App {
    /// Hand a planned run to the engine.
    pub fn execute(&mut self, run: usize) {
        if let Some(r) = self.run_mut(run) {
            r.started = true;
        }
        self.effects.push(Effect::Execute { run });
    }

    /// `q` / Ctrl-C: quit at once when nothing executes; otherwise ask first, because an
    /// action stopped by quitting must be cancelled and put back before the console exits.
    pub fn request_quit(&mut self) {
        if self.runs.iter().any(|r| r.is_executing()) {
            self.popup = Popup::Quit;
        } else {
            self.quit = true;
        }
    }

    /// Quitting confirmed with actions running: cancel them; the console exits once each
    /// has ended (see [`App::ready_to_quit`]).
    pub fn quit_after_cancelling(&mut self) {
        self.popup = Popup::None;
        self.quitting = true;
        for r in self.runs.iter().filter(|r| r.is_executing()) {
            r.cancel.cancel();
        }
        self.notices
            .push("quitting: cancelling the running actions and putting back what they did".into());
    }

    /// Whether the event loop may exit now.
    pub fn ready_to_quit(&self) -> bool {
        self.quit || (self.quitting && !self.runs.iter().any(|r| r.is_executing()))
    }

    pub fn new(
        model: Model,
        keymap: Keymap,
        apps: BTreeMap<String, Vec<String>>,
        notices: Vec<String>,
    ) -> Self {
        let mut filter = TextArea::default();
        filter.set_placeholder_text("type to filter: name, project, image, state, host");
        Self {
            model,
            keymap,
            pane: Pane::Containers,
            popup: Popup::None,
            apps,
            runs: Vec::new(),
            run_selected: 0,
            history: Vec::new(),
            history_selected: 0,
            history_error: None,
            palette: palette::new_palette(),
            palette_error: None,
            effects: Vec::new(),
            logs: LogsView::new(5_000),
            databases: None,
            databases_selected: 0,
            backups: None,
            routes: None,
            routes_selected: 0,
            editor: None,
            doctor: BTreeMap::new(),
            doctor_selected: 0,
            host_images: Vec::new(),
            selected: 0,
            filter,
            filter_editing: false,
            show_all: true,
            sort: SortKey::Project,
            notices,
            quit: false,
            quitting: false,
            now: chrono::Utc::now(),
            page: 10,
            width: 200,
            read_only: BTreeMap::new(),
        }
    }

    pub fn filter_text(&self) -> String {
        self.filter.lines().first().cloned().unwrap_or_default()
    }

    /// The containers the pane shows, in order.
    pub fn visible(&self) -> Vec<&ContainerInfo> {
        let needle = self.filter_text().to_lowercase();
        let mut v: Vec<&ContainerInfo> = self
            .model
            .sorted_containers()
            .into_iter()
            .filter(|c| self.show_all || matches!(c.state, State::Running | State::Restarting))
            .filter(|c| {
                needle.is_empty()
                    || [
                        c.name.as_str(),
                        c.project.as_deref().unwrap_or(""),
                        c.service.as_deref().unwrap_or(""),
                        c.image.as_str(),
                        c.state.as_str(),
                        c.health.as_str(),
                        c.host.as_str(),
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect();
        match self.sort {
            SortKey::Project => {}
            SortKey::State => v.sort_by_key(|c| (c.host.clone(), c.project.clone(), c.state)),
            SortKey::Health => v.sort_by_key(|c| {
                (
                    c.host.clone(),
                    c.project.clone(),
                    std::cmp::Reverse(c.health == crate::ops::Health::Unhealthy),
                    c.health,
                )
            }),
            SortKey::Uptime => v.sort_by_key(|c| {
                (
                    c.host.clone(),
                    c.project.clone(),
                    c.started_at.clone().unwrap_or_default(),
                )
            }),
        }
        v
    }

    /// Visible containers with group headings (per host and compose project).
    pub fn rows(&self) -> Vec<Row<'_>> {
        let visible = self.visible();
        let mut rows = Vec::with_capacity(visible.len() + 8);
        let mut i = 0;
        while i < visible.len() {
            let (host, project) = (visible[i].host.as_str(), visible[i].project.as_deref());
            let count = visible[i..]
                .iter()
                .take_while(|c| c.host == host && c.project.as_deref() == project)
                .count();
            rows.push(Row::Group {
                host,
                project,
                count,
            });
            rows.extend(visible[i..i + count].iter().map(|c| Row::Container(c)));
            i += count;
        }
        rows
    }

    pub fn selected_container(&self) -> Option<&ContainerInfo> {
        self.visible().get(self.selected).copied()
    }

    pub fn apply(&mut self, u: Update) {
        let keep = self
            .selected_container()
            .map(|c| (c.host.clone(), c.id.clone()));
        self.model.apply(u);
        // Keep the same container selected when the list changes under it.
        if let Some(key) = keep {
            if let Some(pos) = self
                .visible()
                .iter()
                .position(|c| (c.host.as_str(), c.id.as_str()) == (key.0.as_str(), key.1.as_str()))
            {
                self.selected = pos;
            }
        }
        self.clamp();
    }

    fn clamp(&mut self) {
        let n = self.visible().len();
        if n == 0 {
            self.selected = 0;
        } else if self.selected >= n {
            self.selected = n - 1;
        }
    }

    /// The running containers whose stats should stream: those the pane can show.
    pub fn focus(&self) -> crate::model::Focus {
        if !matches!(self.pane, Pane::Containers | Pane::Resources) {
            return crate::model::Focus::new();
        }
        // The rows on screen (the table scrolls to keep the selection in view), and a few
        // beyond so scrolling finds warm sparklines.
        let page = self.page.max(1);
        let start = self.selected.saturating_sub(page);
        self.visible()
            .into_iter()
            .skip(start)
            .take(page + 8)
            .filter(|c| c.state == State::Running)
            .map(|c| (c.host.clone(), c.id.clone()))
            .collect()
    }

    /// The selected container as an action target (`host/container`).
    pub fn selected_target(&self) -> Option<Target> {
        self.selected_container().map(|c| Target::HostContainer {
            host: c.host.clone(),
            name: c.name.clone(),
        })
    }
}
