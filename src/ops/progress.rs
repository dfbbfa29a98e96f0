//! The one fold of an action's events into its progress: which step runs, which are done or
//! failed, the undo steps the engine added after a failure, how far the running step got, and
//! how it all ended. The CLI's lines and spinners and the console's run view both read this,
//! so they cannot disagree about a step (undo steps get `seq` beyond the plan's steps).

use super::event::ActionEvent;
use crate::journal::Outcome;

#[derive(Debug, Clone, PartialEq)]
pub enum StepState {
    Pending,
    Running,
    Done { elapsed_ms: u64 },
    Failed { error: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    pub name: String,
    pub state: StepState,
    /// An undo step the engine ran after a failure (not in the plan).
    pub undo: bool,
}

/// How far the running step got (`Progress` events: bytes of a dump, rows, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub seq: usize,
    pub done: u64,
    pub total: Option<u64>,
    pub unit: super::event::Unit,
}

/// An action's progress, folded from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub steps: Vec<StepView>,
    /// How many of `steps` the plan has (the rest are undo steps).
    pub planned: usize,
    pub moved: Option<Moved>,
    /// `None` while it runs.
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    pub journal_id: Option<i64>,
}

impl Progress {
    /// Progress of a plan with these step names, nothing run yet.
    pub fn of_steps(names: impl IntoIterator<Item = String>) -> Self {
        let steps: Vec<StepView> = names
            .into_iter()
            .map(|name| StepView {
                name,
                state: StepState::Pending,
                undo: false,
            })
            .collect();
        Self {
            planned: steps.len(),
            steps,
            ..Self::default()
        }
    }

    /// Fold one event in.
    pub fn apply(&mut self, ev: &ActionEvent) {
        match ev {
            ActionEvent::Planned { steps, .. } => {
                if self.steps.is_empty() {
                    *self = Self::of_steps(steps.iter().cloned());
                }
            }
            ActionEvent::StepStarted { seq, name } => {
                // Undo steps come after the plan's: the engine numbers them on.
                while self.steps.len() < *seq {
                    self.steps.push(StepView {
                        name: name.clone(),
                        state: StepState::Pending,
                        undo: self.steps.len() >= self.planned,
                    });
                }
                self.set(*seq, StepState::Running);
                self.moved = None;
            }
            ActionEvent::Progress {
                seq,
                done,
                total,
                unit,
            } => {
                self.moved = Some(Moved {
                    seq: *seq,
                    done: *done,
                    total: *total,
                    unit: *unit,
                });
            }
            ActionEvent::StepDone {
                seq, elapsed_ms, ..
            } => {
                self.set(
                    *seq,
                    StepState::Done {
                        elapsed_ms: *elapsed_ms,
                    },
                );
                self.moved = None;
            }
            ActionEvent::StepFailed { seq, error, .. } => {
                self.set(
                    *seq,
                    StepState::Failed {
                        error: error.clone(),
                    },
                );
                self.moved = None;
            }
            ActionEvent::Finished {
                outcome,
                error,
                journal_id,
                ..
            } => {
                self.outcome = Some(*outcome);
                self.error = error.clone();
                self.journal_id = *journal_id;
            }
            ActionEvent::Output { .. }
            | ActionEvent::Secret { .. }
            | ActionEvent::Notice { .. } => {}
        }
    }

    fn set(&mut self, seq: usize, state: StepState) {
        if let Some(s) = self.steps.get_mut(seq.wrapping_sub(1)) {
            s.state = state;
        }
    }

    /// Where a step stands, for people: `3/5` for the plan's steps, `undo 1` for the undo
    /// steps after them.
    pub fn label(&self, seq: usize) -> String {
        if seq > self.planned {
            format!("undo {}", seq - self.planned)
        } else {
            format!("{seq}/{}", self.planned)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_plan_steps_and_the_undo_steps_after_them() {
        let mut p = Progress::default();
        let evs = vec![
            ActionEvent::Planned {
                action: "deploy".into(),
                target: "shop".into(),
                host: "alpha".into(),
                steps: vec!["recreate web".into(), "wait for web".into()],
            },
            ActionEvent::StepStarted {
                seq: 1,
                name: "recreate web".into(),
            },
            ActionEvent::StepDone {
                seq: 1,
                name: "recreate web".into(),
                elapsed_ms: 5,
                summary: String::new(),
            },
            ActionEvent::StepStarted {
                seq: 2,
                name: "wait for web".into(),
            },
            ActionEvent::StepFailed {
                seq: 2,
                name: "wait for web".into(),
                error: "unhealthy".into(),
            },
            ActionEvent::StepStarted {
                seq: 3,
                name: "undo: recreate web on 1.0".into(),
            },
            ActionEvent::StepDone {
                seq: 3,
                name: "undo: recreate web on 1.0".into(),
                elapsed_ms: 7,
                summary: String::new(),
            },
            ActionEvent::Finished {
                action: "deploy".into(),
                target: "shop".into(),
                outcome: Outcome::Failed,
                error: Some("step 2 failed".into()),
                journal_id: Some(9),
                elapsed_ms: 20,
            },
        ];
        for e in &evs {
            p.apply(e);
        }
        assert_eq!(p.planned, 2);
        assert_eq!(p.steps.len(), 3, "{p:?}");
        assert_eq!(p.steps[0].state, StepState::Done { elapsed_ms: 5 });
        assert_eq!(
            p.steps[1].state,
            StepState::Failed {
                error: "unhealthy".into()
            }
        );
        assert!(p.steps[2].undo && !p.steps[1].undo);
        assert_eq!(p.steps[2].name, "undo: recreate web on 1.0");
        assert_eq!(p.steps[2].state, StepState::Done { elapsed_ms: 7 });
        assert_eq!(p.outcome, Some(Outcome::Failed));
        assert_eq!(p.journal_id, Some(9));
        assert_eq!(p.label(2), "2/2");
        assert_eq!(p.label(3), "undo 1");
    }

    #[test]
    fn progress_of_the_running_step_is_dropped_when_it_ends() {
        let mut p = Progress::of_steps(["dump".to_string()]);
        p.apply(&ActionEvent::StepStarted {
            seq: 1,
            name: "dump".into(),
        });
        p.apply(&ActionEvent::Progress {
            seq: 1,
            done: 10,
            total: None,
            unit: crate::ops::event::Unit::Bytes,
        });
        assert_eq!(p.moved.as_ref().map(|m| m.done), Some(10));
        p.apply(&ActionEvent::StepDone {
            seq: 1,
            name: "dump".into(),
            elapsed_ms: 1,
            summary: String::new(),
        });
        assert_eq!(p.moved, None);
        // A plan known before the engine's Planned event keeps its names.
        p.apply(&ActionEvent::Planned {
            action: "backup".into(),
            target: "db".into(),
            host: "h".into(),
            steps: vec!["other".into()],
        });
        assert_eq!(p.steps[0].name, "dump");
    }
}
