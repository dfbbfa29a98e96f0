//! The console's state and its update function. Drawing lives in `view` and only reads this.

use super::keymap::{KeyCommand, KeySpec, Keymap};
use super::logbuf::LogBuffer;
use super::runs::Run;
use crate::docker::{ContainerInfo, State};
use crate::error::Error;
use crate::journal::{Entry, Outcome};
use crate::model::{Model, Update};
use crate::ops::{self, Action, ActionEvent, ContainerOp, Plan, Target};
use ratatui::crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use std::collections::BTreeMap;
use tui_textarea::TextArea;

pub use super::layout::Pane;
use super::layout::{tab_at, FIRST_TABLE_ROW, TABS_ROW};

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
}

/// The routes file being edited in the console.
pub struct RoutesEditor {
    pub host: String,
    pub path: String,
    pub text: TextArea<'static>,
    /// The file as read (to tell whether anything changed).
    pub original: String,
    /// What the last check found (shown under the text).
    pub error: Option<String>,
    /// Esc was pressed once with unsaved changes: a second Esc discards them.
    pub discard_armed: bool,
    /// The run applying this text, once saved.
    pub run: Option<usize>,
}

impl RoutesEditor {
    pub fn new(host: String, path: String, original: String) -> Self {
        let mut text = TextArea::from(original.lines().map(str::to_string).collect::<Vec<_>>());
        text.set_line_number_style(ratatui::style::Style::default());
        Self {
            host,
            path,
            text,
            original,
            error: None,
            discard_armed: false,
            run: None,
        }
    }
    pub fn contents(&self) -> String {
        let mut t = self.text.lines().join("\n");
        if !t.is_empty() {
            t.push('\n');
        }
        t
    }
    pub fn modified(&self) -> bool {
        self.contents().trim_end() != self.original.trim_end()
    }
}

/// The doctor's checklist for an app, as the console holds it.
#[derive(Debug, Clone)]
pub enum DoctorState {
    Running,
    Done(Result<crate::ops::doctor::DoctorReport, String>),
}

/// Work the event loop does for the app (so the app itself stays free of I/O).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Resolve and plan the action; the answer comes back through [`App::plan_ready`].
    Prepare { run: usize, action: Action },
    /// Execute the run's plan; events come back through [`App::action_event`].
    Execute { run: usize },
    /// Read the journal; the answer comes back through [`App::history_loaded`].
    LoadHistory,
    /// List the Postgres servers' databases; the answer comes back through
    /// [`App::databases_loaded`].
    LoadDatabases,
    /// List the backups in every storage; the answer comes back through
    /// [`App::backups_loaded`].
    LoadBackups,
    /// List the routes of every host with a Traefik proxy ([`App::routes_loaded`]).
    LoadRoutes,
    /// Read a host's routes file for the editor ([`App::routes_file_loaded`]).
    LoadRoutesFile { host: String },
    /// Run the doctor's checklist for an app ([`App::doctor_done`]).
    RunDoctor { app: String },
    /// List the images on every host, for the deploy version picker
    /// ([`App::host_images_loaded`]).
    LoadHostImages,
    /// Follow the logs of a target (`host/container` or `app`); replaces any earlier reader.
    OpenLogs { generation: u64, target: String },
    /// Write lines to a file; the result comes back as a notice.
    SaveLogs { path: String, lines: Vec<String> },
}

/// Which text input the logs pane is editing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogInput {
    Filter,
    Search,
}

/// The logs pane's state.
pub struct LogsView {
    pub buf: LogBuffer,
    /// What is shown: `host/container` or a project.
    pub title: String,
    /// Bumped whenever the sources change, so late lines of the old reader are dropped.
    pub generation: u64,
    pub paused: bool,
    /// Lines back from the newest (when paused).
    pub scroll: usize,
    pub timestamps: bool,
    pub wrap: bool,
    pub input: Option<LogInput>,
    pub text: TextArea<'static>,
    pub filter_src: String,
    pub search: Option<regex::Regex>,
    pub input_error: Option<String>,
    pub problems: Vec<String>,
    /// More than one container is shown: lines get a per-container prefix.
    pub multi: bool,
}

impl LogsView {
    pub fn new(cap: usize) -> Self {
        Self {
            buf: LogBuffer::new(cap),
            title: String::new(),
            generation: 0,
            paused: false,
            scroll: 0,
            timestamps: false,
            wrap: false,
            input: None,
            text: TextArea::default(),
            filter_src: String::new(),
            search: None,
            input_error: None,
            problems: Vec::new(),
            multi: false,
        }
    }
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
    pub databases: Option<Result<crate::ops::provision::ServerDatabases, String>>,
    pub databases_selected: usize,
    /// Every published backup (newest first), or why they could not be read.
    pub backups: Option<Result<Vec<crate::ops::backup::Manifest>, String>>,
    /// Every host's routes, or why they could not be listed.
    pub routes: Option<Result<Vec<crate::ops::routes::HostRoutes>, String>>,
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
    /// The time the view uses for uptimes (set by the loop, so drawing stays pure).
    pub now: chrono::DateTime<chrono::Utc>,
    /// Rows visible in the table at the last draw (for paging).
    pub page: usize,
    /// The terminal's width at the last draw (for mouse clicks on the tabs).
    pub width: u16,
}

impl App {
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
            palette: new_palette(),
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
            now: chrono::Utc::now(),
            page: 10,
            width: 200,
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
                    std::cmp::Reverse(c.health == crate::docker::Health::Unhealthy),
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

    /// Handle a terminal event. Returns whether anything visible changed.
    pub fn on_event(&mut self, ev: &Event) -> bool {
        let k = match ev {
            Event::Resize(..) => return true,
            Event::Mouse(m) => return self.on_mouse(m),
            Event::Key(k) if k.kind != KeyEventKind::Release => k,
            _ => return false,
        };
        if self.filter_editing {
            match k.code {
                KeyCode::Enter => self.filter_editing = false,
                KeyCode::Esc => {
                    self.filter_editing = false;
                    self.filter = TextArea::default();
                }
                _ => {
                    self.filter.input(*k);
                    self.selected = 0;
                }
            }
            self.clamp();
            return true;
        }
        if let Some(kind) = self.logs.input {
            match k.code {
                KeyCode::Esc => {
                    self.logs.input = None;
                    self.logs.input_error = None;
                }
                KeyCode::Enter => self.submit_log_input(kind),
                _ => {
                    self.logs.text.input(*k);
                    self.logs.input_error = None;
                }
            }
            return true;
        }
        match self.popup.clone() {
            Popup::Editor => {
                self.editor_key(k);
                return true;
            }
            Popup::Palette => {
                match k.code {
                    KeyCode::Esc => {
                        self.popup = Popup::None;
                        self.palette = new_palette();
                        self.palette_error = None;
                    }
                    KeyCode::Enter => self.submit_palette(),
                    KeyCode::Tab => self.complete_palette(),
                    _ => {
                        self.palette.input(*k);
                        self.palette_error = None;
                    }
                }
                return true;
            }
            Popup::Confirm { run } => {
                match k.code {
                    KeyCode::Char('y') | KeyCode::Char('Y') => {
                        self.popup = Popup::None;
                        self.effects.push(Effect::Execute { run });
                    }
                    KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                        self.popup = Popup::None;
                        if let Some(r) = self.run_mut(run) {
                            r.fail_before_start("not confirmed".into(), Outcome::Refused);
                        }
                    }
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        self.quit = true
                    }
                    _ => return false,
                }
                return true;
            }
            Popup::Help | Popup::None => {}
        }
        let Some(spec) = KeySpec::from_event(k) else {
            return false;
        };
        match self.keymap.lookup(self.pane.section(), &spec) {
            Some(cmd) => {
                self.run(cmd);
                true
            }
            None => false,
        }
    }

    /// Wheel scrolls; a click on the pane tabs switches pane; a click on a container row
    /// selects it.
    fn on_mouse(&mut self, m: &ratatui::crossterm::event::MouseEvent) -> bool {
        use ratatui::crossterm::event::{MouseButton, MouseEventKind};
        if self.popup != Popup::None || self.filter_editing || self.logs.input.is_some() {
            return false;
        }
        match m.kind {
            MouseEventKind::ScrollUp => self.run(KeyCommand::Up),
            MouseEventKind::ScrollDown => self.run(KeyCommand::Down),
            MouseEventKind::Down(MouseButton::Left) => {
                if m.row == TABS_ROW {
                    return match tab_at(self.pane, self.width, m.column) {
                        Some(p) => {
                            self.pane = p;
                            self.on_enter_pane();
                            true
                        }
                        None => false,
                    };
                }
                if self.pane == Pane::Containers && m.row >= FIRST_TABLE_ROW {
                    let rows = self.rows();
                    let clicked = usize::from(m.row - FIRST_TABLE_ROW);
                    if clicked < self.page {
                        if let Some(Row::Container(c)) = rows.get(clicked) {
                            let key = (c.host.clone(), c.id.clone());
                            if let Some(i) = self
                                .visible()
                                .iter()
                                .position(|v| (v.host.clone(), v.id.clone()) == key)
                            {
                                self.selected = i;
                            }
                        }
                    }
                }
            }
            _ => return false,
        }
        true
    }

    /// Run a named command (from a key, or from a test).
    pub fn run(&mut self, cmd: KeyCommand) {
        if self.popup == Popup::Help
            && !matches!(cmd, KeyCommand::Help | KeyCommand::Back | KeyCommand::Quit)
        {
            return;
        }
        match cmd {
            KeyCommand::Quit => self.quit = true,
            KeyCommand::Help => {
                self.popup = if self.popup == Popup::Help {
                    Popup::None
                } else {
                    Popup::Help
                }
            }
            KeyCommand::Back => {
                if self.popup != Popup::None {
                    self.popup = Popup::None;
                } else if !self.notices.is_empty() {
                    self.notices.clear();
                } else {
                    self.filter = TextArea::default();
                }
            }
            KeyCommand::NextPane | KeyCommand::PrevPane => {
                let i = Pane::ALL.iter().position(|p| *p == self.pane).unwrap_or(0);
                let n = Pane::ALL.len();
                let j = if cmd == KeyCommand::NextPane {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.pane = Pane::ALL[j];
                self.on_enter_pane();
            }
            KeyCommand::Refresh => self.on_enter_pane(),
            KeyCommand::Palette => {
                self.popup = Popup::Palette;
                self.palette = new_palette();
                // Versions from the journal and the hosts' images feed the version picker.
                self.effects.push(Effect::LoadHistory);
                self.effects.push(Effect::LoadHostImages);
                if let Some(t) = self.selected_target() {
                    self.palette.set_placeholder_text(format!(
                        "e.g. restart {t}   (Tab completes, Enter runs)"
                    ));
                }
            }
            KeyCommand::Restart | KeyCommand::Start | KeyCommand::Stop => {
                if self.pane != Pane::Containers {
                    return;
                }
                let op = match cmd {
                    KeyCommand::Restart => ContainerOp::Restart,
                    KeyCommand::Start => ContainerOp::Start,
                    _ => ContainerOp::Stop,
                };
                if let Some(target) = self.selected_target() {
                    self.start_action(Action::Lifecycle { op, target });
                }
            }
            KeyCommand::Cancel => {
                if let Some(r) = self.runs.get(self.run_selected) {
                    r.cancel.cancel();
                }
            }
            KeyCommand::Down
            | KeyCommand::Up
            | KeyCommand::PageDown
            | KeyCommand::PageUp
            | KeyCommand::Top
            | KeyCommand::Bottom => {
                if self.pane == Pane::Logs {
                    self.scroll_logs(cmd)
                } else {
                    self.move_selection(cmd)
                }
            }
            KeyCommand::Filter => match self.pane {
                Pane::Containers | Pane::Resources => self.filter_editing = true,
                Pane::Logs => self.open_log_input(LogInput::Filter),
                _ => {}
            },
            KeyCommand::Search => self.open_log_input(LogInput::Search),
            KeyCommand::Logs | KeyCommand::ProjectLogs => {
                if let Some(c) = self.selected_container().cloned() {
                    match (&c.project, cmd) {
                        (Some(p), KeyCommand::ProjectLogs) => {
                            // Every container of the project on that host, merged.
                            let target = self
                                .model
                                .containers
                                .values()
                                .filter(|x| {
                                    x.host == c.host && x.project.as_deref() == Some(p.as_str())
                                })
                                .map(|x| format!("{}/{}", x.host, x.name))
                                .collect::<Vec<_>>()
                                .join(" ");
                            self.open_logs(target, format!("project {p} on {}", c.host));
                        }
                        _ => {
                            let t = format!("{}/{}", c.host, c.name);
                            self.open_logs(t.clone(), t);
                        }
                    }
                }
            }
            KeyCommand::Pause => {
                self.logs.paused = !self.logs.paused;
                if !self.logs.paused {
                    self.logs.scroll = 0;
                }
            }
            KeyCommand::Timestamps => self.logs.timestamps = !self.logs.timestamps,
            KeyCommand::Wrap => self.logs.wrap = !self.logs.wrap,
            KeyCommand::NextMatch | KeyCommand::PrevMatch => {
                self.jump_to_match(cmd == KeyCommand::NextMatch)
            }
            KeyCommand::Save => self.save_logs(),
            KeyCommand::Edit => {
                if self.pane == Pane::Routes {
                    self.edit_routes()
                }
            }
            KeyCommand::Doctor => {
                if self.pane == Pane::Doctor {
                    self.run_doctor()
                }
            }
            KeyCommand::ToggleAll => self.show_all = !self.show_all,
            KeyCommand::CycleSort => self.sort = self.sort.next(),
            KeyCommand::Noop => {}
        }
        self.clamp();
    }

    fn move_selection(&mut self, cmd: KeyCommand) {
        let visible = self.visible_len();
        let (sel, n) = match self.pane {
            Pane::Containers
            | Pane::Logs
            | Pane::Resources
            | Pane::Health
            | Pane::Hosts
            | Pane::Backups => (&mut self.selected, visible),
            Pane::Actions => (&mut self.run_selected, self.runs.len()),
            Pane::History => (&mut self.history_selected, self.history.len()),
            Pane::Routes => {
                let n = self.route_rows().len();
                (&mut self.routes_selected, n)
            }
            Pane::Doctor => (&mut self.doctor_selected, self.apps.len()),
            Pane::Databases => {
                let n = match &self.databases {
                    Some(Ok(v)) => v.iter().map(|(_, r)| r.len()).sum(),
                    _ => 0,
                };
                (&mut self.databases_selected, n)
            }
        };
        let page = self.page.max(1);
        *sel = match cmd {
            KeyCommand::Down => (*sel + 1).min(n.saturating_sub(1)),
            KeyCommand::Up => sel.saturating_sub(1),
            KeyCommand::PageDown => (*sel + page).min(n.saturating_sub(1)),
            KeyCommand::PageUp => sel.saturating_sub(page),
            KeyCommand::Top => 0,
            KeyCommand::Bottom => n.saturating_sub(1),
            _ => *sel,
        };
    }

    fn visible_len(&self) -> usize {
        self.visible().len()
    }

    /// Panes that read on demand: the journal, the database servers.
    fn on_enter_pane(&mut self) {
        match self.pane {
            Pane::History => self.effects.push(Effect::LoadHistory),
            Pane::Databases => self.effects.push(Effect::LoadDatabases),
            Pane::Backups => self.effects.push(Effect::LoadBackups),
            Pane::Routes => self.effects.push(Effect::LoadRoutes),
            _ => {}
        }
    }

    pub fn routes_loaded(&mut self, r: Result<Vec<crate::ops::routes::HostRoutes>, String>) {
        self.routes = Some(r);
        self.routes_selected = self
            .routes_selected
            .min(self.route_rows().len().saturating_sub(1));
    }

    /// The routes pane's rows: every route of every host, in order.
    pub fn route_rows(&self) -> Vec<(&str, &crate::ops::routes::ListedRoute)> {
        match &self.routes {
            Some(Ok(hosts)) => hosts
                .iter()
                .flat_map(|h| h.routes.iter().map(move |r| (h.host.as_str(), r)))
                .collect(),
            _ => vec![],
        }
    }

    /// The host whose routes file `edit` opens: the selected route's, else the first listed.
    pub fn routes_host(&self) -> Option<String> {
        if let Some((h, _)) = self.route_rows().get(self.routes_selected) {
            return Some(h.to_string());
        }
        match &self.routes {
            Some(Ok(hosts)) => hosts
                .iter()
                .find(|h| h.routes_file.is_some())
                .map(|h| h.host.clone()),
            _ => None,
        }
    }

    /// Open the editor on a host's routes file: a kept draft for that host, else a fresh read.
    fn edit_routes(&mut self) {
        let Some(host) = self.routes_host() else {
            self.notices.push(
                "no host with a Traefik routes file to edit (see `opsdeck routes list`)".into(),
            );
            return;
        };
        if let Some(ed) = &mut self.editor {
            let running = ed
                .run
                .and_then(|id| self.runs.iter().find(|r| r.id == id))
                .is_some_and(|r| r.outcome.is_none());
            if ed.host == host && !running {
                ed.run = None;
                ed.discard_armed = false;
                self.popup = Popup::Editor;
                return;
            }
            if running {
                self.notices.push(format!(
                    "the routes file of {} is being applied; wait for it to finish",
                    ed.host
                ));
                return;
            }
        }
        self.effects.push(Effect::LoadRoutesFile { host });
    }

    /// The routes file has been read: open it in the editor.
    pub fn routes_file_loaded(
        &mut self,
        host: String,
        file: Result<(String, Option<String>), String>,
    ) {
        match file {
            Ok((path, text)) => {
                self.editor = Some(RoutesEditor::new(host, path, text.unwrap_or_default()));
                self.popup = Popup::Editor;
            }
            Err(e) => self
                .notices
                .push(format!("cannot edit the routes file of {host}: {e}")),
        }
    }

    fn editor_key(&mut self, k: &ratatui::crossterm::event::KeyEvent) {
        let Some(ed) = &mut self.editor else {
            self.popup = Popup::None;
            return;
        };
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Esc => {
                if ed.modified() && !ed.discard_armed {
                    ed.discard_armed = true;
                    ed.error =
                        Some("unsaved changes: esc again discards them, ctrl-s applies".into());
                } else {
                    self.editor = None;
                    self.popup = Popup::None;
                }
            }
            KeyCode::Char('s') if ctrl => self.save_routes(),
            _ => {
                ed.discard_armed = false;
                ed.error = None;
                ed.text.input(*k);
            }
        }
    }

    /// Check the edited text; when it is sound, apply it through the action layer.
    fn save_routes(&mut self) {
        let Some(ed) = &mut self.editor else { return };
        let contents = ed.contents();
        if !ed.modified() {
            ed.error = Some("nothing changed".into());
            return;
        }
        if let Err(p) = ops::routes::check_text(&contents, &ed.path) {
            if let Some(line) = p.line {
                let row = line.saturating_sub(1).min(u16::MAX as usize) as u16;
                ed.text.move_cursor(tui_textarea::CursorMove::Jump(row, 0));
            }
            ed.error = Some(format!("{p} (nothing written)"));
            return;
        }
        let action = Action::RoutesApply {
            host: ed.host.clone(),
            contents,
        };
        self.popup = Popup::None;
        self.start_action(action);
        let id = self.runs.first().map(|r| r.id);
        if let Some(ed) = &mut self.editor {
            ed.run = id;
            ed.error = None;
        }
    }

    /// Run the doctor for the selected app.
    fn run_doctor(&mut self) {
        let Some(app) = self.apps.keys().nth(self.doctor_selected).cloned() else {
            return;
        };
        if matches!(self.doctor.get(&app), Some(DoctorState::Running)) {
            return;
        }
        self.doctor.insert(app.clone(), DoctorState::Running);
        self.effects.push(Effect::RunDoctor { app });
    }

    pub fn doctor_done(
        &mut self,
        app: String,
        report: Result<crate::ops::doctor::DoctorReport, String>,
    ) {
        self.doctor.insert(app, DoctorState::Done(report));
    }

    pub fn backups_loaded(&mut self, b: Result<Vec<crate::ops::backup::Manifest>, String>) {
        self.backups = Some(b);
    }

    pub fn databases_loaded(&mut self, d: Result<crate::ops::provision::ServerDatabases, String>) {
        self.databases = Some(d);
    }

    /// Show the logs of `target` (space-separated targets are merged).
    pub fn open_logs(&mut self, target: String, title: String) {
        let cap = self.logs.buf.capacity();
        let generation = self.logs.generation + 1;
        let keep_filter = self.logs.filter_src.clone();
        self.logs = LogsView::new(cap);
        self.logs.generation = generation;
        self.logs.title = title;
        self.logs.multi = target.split_whitespace().count() > 1 || self.apps.contains_key(&target);
        if !keep_filter.is_empty() {
            if let Ok(re) = regex::Regex::new(&keep_filter) {
                self.logs.buf.set_filter(Some(re));
                self.logs.filter_src = keep_filter;
            }
        }
        self.effects.push(Effect::OpenLogs { generation, target });
        self.pane = Pane::Logs;
    }

    /// Lines from the log reader of `generation`.
    pub fn log_event(&mut self, generation: u64, ev: ops::logs::LogEvent) {
        if generation != self.logs.generation {
            return;
        }
        match ev {
            ops::logs::LogEvent::Lines(records) => {
                let before = self.logs.buf.len();
                self.logs.buf.push(records);
                if self.logs.paused {
                    // Keep the same lines on screen while new ones arrive.
                    self.logs.scroll += self.logs.buf.len().saturating_sub(before);
                }
            }
            ops::logs::LogEvent::Problem {
                error, retrying, ..
            } => {
                self.logs.problems.push(format!(
                    "{error}{}",
                    if retrying { " (reconnecting)" } else { "" }
                ));
                if self.logs.problems.len() > 5 {
                    self.logs.problems.remove(0);
                }
            }
            ops::logs::LogEvent::Ended(_) => {}
        }
    }

    /// The logs could not be opened.
    pub fn logs_failed(&mut self, generation: u64, error: String) {
        if generation == self.logs.generation {
            self.logs.problems.push(error);
        }
    }

    fn open_log_input(&mut self, kind: LogInput) {
        if self.pane != Pane::Logs {
            return;
        }
        self.logs.input = Some(kind);
        self.logs.text = TextArea::default();
        let current = match kind {
            LogInput::Filter => self.logs.filter_src.clone(),
            LogInput::Search => self
                .logs
                .search
                .as_ref()
                .map(|r| r.as_str().to_string())
                .unwrap_or_default(),
        };
        self.logs.text.insert_str(current);
        self.logs.input_error = None;
    }

    fn submit_log_input(&mut self, kind: LogInput) {
        let src = self.logs.text.lines().join("");
        let re = if src.is_empty() {
            None
        } else {
            match regex::RegexBuilder::new(&src).size_limit(1 << 20).build() {
                Ok(r) => Some(r),
                Err(e) => {
                    self.logs.input_error = Some(format!("not a valid regular expression: {e}"));
                    return;
                }
            }
        };
        match kind {
            LogInput::Filter => {
                self.logs.buf.set_filter(re);
                self.logs.filter_src = src;
                self.logs.scroll = 0;
            }
            LogInput::Search => {
                self.logs.search = re;
                self.jump_to_match(true);
            }
        }
        self.logs.input = None;
    }

    fn scroll_logs(&mut self, cmd: KeyCommand) {
        let max = self.logs.buf.len().saturating_sub(1);
        let page = self.page.max(1);
        let l = &mut self.logs;
        l.scroll = match cmd {
            KeyCommand::Up => (l.scroll + 1).min(max),
            KeyCommand::Down => l.scroll.saturating_sub(1),
            KeyCommand::PageUp => (l.scroll + page).min(max),
            KeyCommand::PageDown => l.scroll.saturating_sub(page),
            KeyCommand::Top => max,
            _ => 0,
        };
        l.paused = l.scroll > 0 || (cmd != KeyCommand::Bottom && l.paused);
    }

    /// Scroll to the next search match, older (`true`) or newer than the current position.
    fn jump_to_match(&mut self, older: bool) {
        let Some(re) = self.logs.search.clone() else {
            return;
        };
        let lines = self.logs.buf.all();
        let n = lines.len();
        if n == 0 {
            return;
        }
        // The line at the bottom of the screen is index n-1-scroll.
        let current = n - 1 - self.logs.scroll.min(n - 1);
        let found = if older {
            (0..current).rev().find(|i| re.is_match(&lines[*i].1.text))
        } else {
            (current + 1..n).find(|i| re.is_match(&lines[*i].1.text))
        };
        match found {
            Some(i) => {
                self.logs.scroll = n - 1 - i;
                self.logs.paused = self.logs.scroll > 0;
                self.logs.input_error = None;
            }
            None => {
                self.logs.input_error = Some(format!(
                    "no {} match for {}",
                    if older { "older" } else { "newer" },
                    re.as_str()
                ))
            }
        }
    }

    fn save_logs(&mut self) {
        if self.pane != Pane::Logs || self.logs.buf.is_empty() {
            return;
        }
        let lines: Vec<String> = self
            .logs
            .buf
            .all()
            .into_iter()
            .map(|(i, l)| {
                let name = self
                    .logs
                    .buf
                    .sources
                    .get(i)
                    .map(|s| s.container.as_str())
                    .unwrap_or("?");
                let ts =
                    l.ts.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                        .unwrap_or_default();
                crate::secrets::mask_text(&format!("{ts} {name} | {}", l.text))
            })
            .collect();
        let path = format!("opsdeck-logs-{}.log", self.now.format("%Y%m%d-%H%M%S"));
        self.effects.push(Effect::SaveLogs { path, lines });
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

    /// Start an action: a new run, planned by the loop.
    pub fn start_action(&mut self, action: Action) {
        let id = self.runs.iter().map(|r| r.id + 1).max().unwrap_or(1);
        let title = format!("{} {}", action.name(), action.target());
        self.runs.insert(0, Run::new(id, title));
        self.run_selected = 0;
        self.effects.push(Effect::Prepare { run: id, action });
        self.pane = Pane::Actions;
    }

    pub fn run_mut(&mut self, id: usize) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.id == id)
    }

    /// The plan (or why there is none) for a run: destructive plans ask first.
    pub fn plan_ready(&mut self, id: usize, plan: Result<Plan, Error>) {
        let Some(run) = self.run_mut(id) else { return };
        match plan {
            Err(e) => {
                let outcome = if e.kind == crate::error::ExitKind::Refused {
                    Outcome::Refused
                } else {
                    Outcome::Failed
                };
                run.fail_before_start(e.message.clone(), outcome);
                if let Some(ed) = self.editor.as_mut().filter(|ed| ed.run == Some(id)) {
                    ed.error = Some(format!("not applied: {}", e.message));
                    ed.run = None;
                }
            }
            Ok(plan) => {
                // Deploys change what serves traffic: the console always shows their plan first.
                let destructive = plan.destructive
                    || matches!(
                        plan.action,
                        Action::Deploy { .. } | Action::RoutesApply { .. }
                    );
                run.set_plan(plan);
                if destructive {
                    self.popup = Popup::Confirm { run: id };
                } else {
                    self.effects.push(Effect::Execute { run: id });
                }
            }
        }
    }

    pub fn action_event(&mut self, id: usize, ev: ActionEvent) {
        let Some(r) = self.run_mut(id) else { return };
        r.apply(ev);
        let outcome = r.outcome;
        // The editor's draft is kept until its apply succeeded (a failure reopens it with `e`).
        if outcome.is_some() && self.editor.as_ref().is_some_and(|e| e.run == Some(id)) {
            if outcome == Some(Outcome::Succeeded) {
                self.editor = None;
            } else if let Some(ed) = &mut self.editor {
                ed.error = Some(format!(
                    "the apply failed ({}); the previous file was put back. Your text is kept here.",
                    self.runs
                        .iter()
                        .find(|r| r.id == id)
                        .and_then(|r| r.error.clone())
                        .unwrap_or_else(|| "see the Actions pane".into())
                ));
            }
            self.effects.push(Effect::LoadRoutes);
        }
    }

    pub fn history_loaded(&mut self, h: Result<Vec<Entry>, String>) {
        match h {
            Ok(entries) => {
                self.history = entries;
                self.history_error = None;
            }
            Err(e) => self.history_error = Some(e),
        }
        self.history_selected = self
            .history_selected
            .min(self.history.len().saturating_sub(1));
    }

    pub fn palette_text(&self) -> String {
        self.palette.lines().join(" ")
    }

    fn submit_palette(&mut self) {
        let line = self.palette_text();
        let apps = &self.apps;
        let hosts = &self.model.hosts;
        match ops::action::parse_command(&line, |a| apps.contains_key(a), |h| hosts.contains_key(h))
        {
            Ok(action) => {
                self.popup = Popup::None;
                self.palette = new_palette();
                self.palette_error = None;
                self.start_action(action);
            }
            Err(e) => self.palette_error = Some(e.message),
        }
    }

    /// Everything the palette can complete to, for the word being typed.
    pub fn completions(&self, line: &str) -> Vec<String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let typing_new_word = line.ends_with(' ') || line.is_empty();
        let (index, prefix) = if typing_new_word {
            (words.len(), "")
        } else {
            (words.len() - 1, *words.last().unwrap_or(&""))
        };
        let verb = words.first().copied().unwrap_or("");
        let candidates: Vec<String> = if index == 1 && (verb == "deploy" || verb == "rollback") {
            self.apps.keys().cloned().collect()
        } else if index == 2 && (verb == "deploy" || verb == "rollback") {
            self.version_choices(words.get(1).copied().unwrap_or(""))
        } else if index == 1 && verb.starts_with("route-") {
            self.model.hosts.keys().cloned().collect()
        } else if index == 2 && verb == "route-remove" {
            let host = words.get(1).copied().unwrap_or("");
            self.route_rows()
                .into_iter()
                .filter(|(h, r)| *h == host && r.route.provider == "file")
                .map(|(_, r)| r.route.router.clone())
                .collect()
        } else if index == 0 {
            ops::action::COMMANDS
                .iter()
                .map(|(c, _)| c.to_string())
                .collect()
        } else if index == 1 {
            let mut t: Vec<String> = Vec::new();
            for (app, services) in &self.apps {
                t.push(app.clone());
                t.extend(services.iter().map(|s| format!("{app}/{s}")));
            }
            let many = self.model.hosts.len() > 1;
            for c in self.model.containers.values() {
                t.push(if many {
                    format!("{}/{}", c.host, c.name)
                } else {
                    c.name.clone()
                });
            }
            t.sort();
            t.dedup();
            t
        } else {
            vec![]
        };
        candidates
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect()
    }

    pub fn host_images_loaded(&mut self, images: Vec<(String, String)>) {
        self.host_images = images;
    }

    /// Versions to offer for an app: the tags its containers run now, then those in the
    /// journal's deploys and rollbacks (newest first), then the other tags of the same images
    /// present on its hosts (a rollback target that needs no pull).
    pub fn version_choices(&self, app: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let services = self.apps.get(app).cloned().unwrap_or_default();
        let mut repos: Vec<(String, String)> = Vec::new();
        for c in self.model.containers.values() {
            if c.service.as_ref().is_some_and(|s| services.contains(s)) {
                if let Some(t) = &c.tag {
                    out.push(t.clone());
                }
                repos.push((c.host.clone(), crate::docker::parse_image_ref(&c.image).0));
            }
        }
        for e in &self.history {
            if e.app.as_deref() == Some(app) {
                for key in ["version", "to"] {
                    if let Some(v) = e.params.get(key).and_then(|v| v.as_str()) {
                        out.push(v.to_string());
                    }
                }
            }
        }
        let mut on_hosts: Vec<String> = self
            .host_images
            .iter()
            .filter_map(|(h, image)| {
                let (repo, tag) = crate::docker::parse_image_ref(image);
                tag.filter(|_| repos.iter().any(|(rh, r)| rh == h && *r == repo))
            })
            .collect();
        on_hosts.sort();
        on_hosts.reverse();
        out.extend(on_hosts);
        let mut seen = std::collections::BTreeSet::new();
        out.retain(|v| seen.insert(v.clone()));
        out
    }

    fn complete_palette(&mut self) {
        let line = self.palette_text();
        let options = self.completions(&line);
        let prefix_len = if line.ends_with(' ') || line.is_empty() {
            0
        } else {
            line.split_whitespace().last().map(str::len).unwrap_or(0)
        };
        let Some(first) = options.first() else {
            self.palette_error = Some("no completion".into());
            return;
        };
        // Complete to the longest common prefix; a single option gets a trailing space.
        let common = options.iter().fold(first.clone(), |acc, o| {
            acc.chars()
                .zip(o.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect()
        });
        let mut insert: String = common.chars().skip(prefix_len).collect();
        if options.len() == 1 {
            insert.push(' ');
        } else {
            self.palette_error = Some(
                options
                    .iter()
                    .take(8)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("  "),
            );
        }
        self.palette.insert_str(insert);
    }
}

fn new_palette() -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text("restart | start | stop | exec  TARGET   (Tab completes, Enter runs)");
    t
}
