//! The event loop's answers to the effects: plans, action events and the lists it loaded.

use super::{App, DoctorState, Effect, Popup};
use crate::error::Error;
use crate::journal::{Entry, Outcome};
use crate::ops::{ActionEvent, Plan};

impl App {
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
                let destructive = plan.needs_confirmation(crate::ops::Asker::Console);
                run.set_plan(plan);
                if destructive {
                    self.popup = Popup::Confirm { run: id };
                } else {
                    self.execute(id);
                }
            }
        }
    }

    pub fn action_event(&mut self, id: usize, ev: ActionEvent) {
        let Some(r) = self.run_mut(id) else { return };
        r.apply(ev);
        let outcome = r.progress.outcome;
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
                        .and_then(|r| r.progress.error.clone())
                        .unwrap_or_else(|| "see the Actions pane".into())
                ));
            }
            self.effects.push(Effect::LoadRoutes);
        }
    }

    pub fn history_loaded(&mut self, h: Result<Vec<Entry>, crate::error::Error>) {
        match h {
            Ok(entries) => {
                self.history = entries;
                self.history_error = None;
            }
            Err(e) => self.history_error = Some(e.message),
        }
        self.history_selected = self
            .history_selected
            .min(self.history.len().saturating_sub(1));
    }

    pub fn doctor_done(
        &mut self,
        app: String,
        report: Result<crate::ops::doctor::DoctorReport, crate::error::Error>,
    ) {
        self.doctor.insert(app, DoctorState::Done(report));
    }

    pub fn backups_loaded(
        &mut self,
        b: Result<Vec<crate::ops::backup::Manifest>, crate::error::Error>,
    ) {
        self.backups = Some(b);
    }

    pub fn databases_loaded(
        &mut self,
        d: Result<crate::ops::provision::ServerDatabases, crate::error::Error>,
    ) {
        self.databases = Some(d);
    }
}
