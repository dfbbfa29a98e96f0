//! Terminal input: keys (text inputs and popups first, then the key map) and the mouse.

use super::palette::new_palette;
use super::{App, Pane, Popup, Row};
use crate::journal::Outcome;
use crate::tui::keymap::{KeyCommand, KeySpec};
use crate::tui::layout::{tab_at, FIRST_TABLE_ROW, TABS_ROW};
use ratatui::crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use tui_textarea::TextArea;

impl App {
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
                        self.execute(run);
                    }
                    KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                        self.popup = Popup::None;
                        if let Some(r) = self.run_mut(run) {
                            r.fail_before_start("not confirmed".into(), Outcome::Refused);
                        }
                    }
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        self.popup = Popup::None;
                        if let Some(r) = self.run_mut(run) {
                            r.fail_before_start("not confirmed".into(), Outcome::Refused);
                        }
                        self.request_quit()
                    }
                    _ => return false,
                }
                return true;
            }
            Popup::Quit => {
                match k.code {
                    KeyCode::Char('y') | KeyCode::Char('Y') => self.quit_after_cancelling(),
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        self.quit_after_cancelling()
                    }
                    KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                        self.popup = Popup::None
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
    pub(super) fn on_mouse(&mut self, m: &ratatui::crossterm::event::MouseEvent) -> bool {
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
}
