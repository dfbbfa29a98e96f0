//! Named commands (from keys, the mouse, tests) and the [`Effect`] queue through which the
//! app asks the event loop for work, so the app itself stays free of I/O.

use super::palette::new_palette;
use super::{App, DoctorState, LogInput, Pane, Popup};
use crate::ops::{Action, ContainerOp};
use crate::tui::keymap::KeyCommand;
use crate::tui::runs::Run;
use tui_textarea::TextArea;

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
    OpenLogs {
        generation: u64,
        /// Merged when more than one (`host/container`, or an app).
        targets: Vec<String>,
    },
    /// Write lines to a file; the result comes back as a notice.
    SaveLogs { path: String, lines: Vec<String> },
}

impl App {
    /// Run a named command (from a key, or from a test).
    pub fn run(&mut self, cmd: KeyCommand) {
        if self.popup == Popup::Help
            && !matches!(cmd, KeyCommand::Help | KeyCommand::Back | KeyCommand::Quit)
        {
            return;
        }
        match cmd {
            KeyCommand::Quit => self.request_quit(),
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
                                .collect::<Vec<_>>();
                            self.open_logs(target, format!("project {p} on {}", c.host));
                        }
                        _ => {
                            let t = format!("{}/{}", c.host, c.name);
                            self.open_logs(vec![t.clone()], t);
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

    pub(super) fn move_selection(&mut self, cmd: KeyCommand) {
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

    pub(super) fn visible_len(&self) -> usize {
        self.visible().len()
    }

    /// Panes that read on demand: the journal, the database servers.
    pub(super) fn on_enter_pane(&mut self) {
        match self.pane {
            Pane::History => self.effects.push(Effect::LoadHistory),
            Pane::Databases => self.effects.push(Effect::LoadDatabases),
            Pane::Backups => self.effects.push(Effect::LoadBackups),
            Pane::Routes => self.effects.push(Effect::LoadRoutes),
            _ => {}
        }
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

    /// Run the doctor for the selected app.
    pub(super) fn run_doctor(&mut self) {
        let Some(app) = self.apps.keys().nth(self.doctor_selected).cloned() else {
            return;
        };
        if matches!(self.doctor.get(&app), Some(DoctorState::Running)) {
            return;
        }
        self.doctor.insert(app.clone(), DoctorState::Running);
        self.effects.push(Effect::RunDoctor { app });
    }
}
