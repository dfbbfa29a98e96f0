//! The console's state and its update function. Drawing lives in `view` and only reads this.

use super::keymap::{KeyCommand, KeySpec, Keymap};
use super::runs::Run;
use crate::docker::{ContainerInfo, State};
use crate::error::Error;
use crate::journal::{Entry, Outcome};
use crate::model::{Model, Update};
use crate::ops::{self, Action, ActionEvent, ContainerOp, Plan, Target};
use ratatui::crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use std::collections::BTreeMap;
use tui_textarea::TextArea;

/// The panes, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Containers,
    Actions,
    History,
}

impl Pane {
    pub const ALL: [Pane; 3] = [Pane::Containers, Pane::Actions, Pane::History];
    /// The key map section of the pane.
    pub fn section(self) -> &'static str {
        match self {
            Pane::Containers => "containers",
            Pane::Actions => "actions",
            Pane::History => "history",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Pane::Containers => "Containers",
            Pane::Actions => "Actions",
            Pane::History => "History",
        }
    }
}

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
            selected: 0,
            filter,
            filter_editing: false,
            show_all: true,
            sort: SortKey::Project,
            notices,
            quit: false,
            now: chrono::Utc::now(),
            page: 10,
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
        match self.popup.clone() {
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
                if self.pane == Pane::History {
                    self.effects.push(Effect::LoadHistory);
                }
            }
            KeyCommand::Refresh => {
                if self.pane == Pane::History {
                    self.effects.push(Effect::LoadHistory);
                }
            }
            KeyCommand::Palette => {
                self.popup = Popup::Palette;
                self.palette = new_palette();
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
            | KeyCommand::Bottom => self.move_selection(cmd),
            KeyCommand::Filter => {
                if self.pane == Pane::Containers {
                    self.filter_editing = true
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
            Pane::Containers => (&mut self.selected, visible),
            Pane::Actions => (&mut self.run_selected, self.runs.len()),
            Pane::History => (&mut self.history_selected, self.history.len()),
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
                run.fail_before_start(e.message, outcome);
            }
            Ok(plan) => {
                let destructive = plan.destructive;
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
        if let Some(r) = self.run_mut(id) {
            r.apply(ev);
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
        let candidates: Vec<String> = if index == 0 {
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
