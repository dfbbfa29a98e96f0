//! The routes pane's rows and the routes file editor (open, check, apply, keep the draft).

use super::{App, Effect, Popup};
use crate::ops::{self, Action};
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use tui_textarea::TextArea;

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

impl App {
    pub fn routes_loaded(
        &mut self,
        r: Result<Vec<crate::ops::routes::HostRoutes>, crate::error::Error>,
    ) {
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
    pub(super) fn edit_routes(&mut self) {
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
                .is_some_and(|r| r.progress.outcome.is_none());
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
        file: Result<(String, Option<String>), crate::error::Error>,
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

    pub(super) fn editor_key(&mut self, k: &ratatui::crossterm::event::KeyEvent) {
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
    pub(super) fn save_routes(&mut self) {
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
}
