//! The logs pane's state: the open sources, scrolling, filter and search, saving.

use super::{App, Effect, Pane};
use crate::ops;
use crate::tui::keymap::KeyCommand;
use crate::tui::logbuf::LogBuffer;
use tui_textarea::TextArea;

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

impl App {
    /// Show the logs of `targets` (more than one, or an app: merged).
    pub fn open_logs(&mut self, targets: Vec<String>, title: String) {
        let cap = self.logs.buf.capacity();
        let generation = self.logs.generation + 1;
        let keep_filter = self.logs.filter_src.clone();
        self.logs = LogsView::new(cap);
        self.logs.generation = generation;
        self.logs.title = title;
        self.logs.multi =
            targets.len() > 1 || targets.first().is_some_and(|t| self.apps.contains_key(t));
        if !keep_filter.is_empty() {
            if let Ok(re) = regex::Regex::new(&keep_filter) {
                self.logs.buf.set_filter(Some(re));
                self.logs.filter_src = keep_filter;
            }
        }
        self.effects.push(Effect::OpenLogs {
            generation,
            targets,
        });
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

    pub(super) fn open_log_input(&mut self, kind: LogInput) {
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

    pub(super) fn submit_log_input(&mut self, kind: LogInput) {
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

    pub(super) fn scroll_logs(&mut self, cmd: KeyCommand) {
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
    pub(super) fn jump_to_match(&mut self, older: bool) {
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

    pub(super) fn save_logs(&mut self) {
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
}
