//! The console's state and its update function. Drawing lives in `view` and only reads this.

use super::keymap::{KeyCommand, KeySpec, Keymap};
use crate::docker::{ContainerInfo, State};
use crate::model::{Model, Update};
use ratatui::crossterm::event::{Event, KeyCode, KeyEventKind};
use tui_textarea::TextArea;

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
    /// Index among the visible containers (not counting group headings).
    pub selected: usize,
    pub filter: TextArea<'static>,
    pub filter_editing: bool,
    pub show_all: bool,
    pub sort: SortKey,
    pub help: bool,
    /// Problems to show once (bad key map or theme file).
    pub notices: Vec<String>,
    pub quit: bool,
    /// The time the view uses for uptimes (set by the loop, so drawing stays pure).
    pub now: chrono::DateTime<chrono::Utc>,
    /// Rows visible in the table at the last draw (for paging).
    pub page: usize,
}

impl App {
    pub fn new(model: Model, keymap: Keymap, notices: Vec<String>) -> Self {
        let mut filter = TextArea::default();
        filter.set_placeholder_text("type to filter: name, project, image, state, host");
        Self {
            model,
            keymap,
            selected: 0,
            filter,
            filter_editing: false,
            show_all: true,
            sort: SortKey::Project,
            help: false,
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
        match ev {
            Event::Resize(..) => true,
            Event::Key(k) if k.kind != KeyEventKind::Release => {
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
                let Some(spec) = KeySpec::from_event(k) else {
                    return false;
                };
                match self.keymap.lookup("containers", &spec) {
                    Some(cmd) => {
                        self.run(cmd);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// Run a named command (from a key, or from a test).
    pub fn run(&mut self, cmd: KeyCommand) {
        let n = self.visible().len();
        match cmd {
            KeyCommand::Quit => self.quit = true,
            KeyCommand::Help => self.help = !self.help,
            KeyCommand::Back => {
                if self.help {
                    self.help = false;
                } else if !self.notices.is_empty() {
                    self.notices.clear();
                } else {
                    self.filter = TextArea::default();
                }
            }
            KeyCommand::Down => self.selected = (self.selected + 1).min(n.saturating_sub(1)),
            KeyCommand::Up => self.selected = self.selected.saturating_sub(1),
            KeyCommand::PageDown => {
                self.selected = (self.selected + self.page.max(1)).min(n.saturating_sub(1))
            }
            KeyCommand::PageUp => self.selected = self.selected.saturating_sub(self.page.max(1)),
            KeyCommand::Top => self.selected = 0,
            KeyCommand::Bottom => self.selected = n.saturating_sub(1),
            KeyCommand::Filter => self.filter_editing = true,
            KeyCommand::ToggleAll => self.show_all = !self.show_all,
            KeyCommand::CycleSort => self.sort = self.sort.next(),
            KeyCommand::Noop => {}
        }
        self.clamp();
    }
}
