//! Actions started from the console, folded from their events (progress is data).

use crate::journal::Outcome;
use crate::ops::{ActionEvent, Plan};
use std::collections::VecDeque;
use tokio_util::sync::CancellationToken;

/// Output lines kept per action.
const OUTPUT_CAP: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub enum StepState {
    Pending,
    Running,
    Done { elapsed_ms: u64 },
    Failed { error: String },
}

#[derive(Debug, Clone)]
pub struct StepView {
    pub name: String,
    pub state: StepState,
}

/// One action started from the console.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: usize,
    /// `restart shop/web`
    pub title: String,
    pub plan: Option<Plan>,
    pub steps: Vec<StepView>,
    pub output: VecDeque<String>,
    /// `None` while planning or running.
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    pub journal_id: Option<i64>,
    pub cancel: CancellationToken,
    /// A secret the action produced (a new DATABASE_URL), shown in this run's view only.
    pub secret: Option<String>,
    /// Bytes (or other units) moved so far by the running step, for a rate.
    pub progress: Option<Progress>,
}

#[derive(Debug, Clone)]
pub struct Progress {
    pub done: u64,
    pub unit: String,
    pub started: std::time::Instant,
}

impl Progress {
    /// `12.0MiB at 40.1MiB/s`
    pub fn describe(&self) -> String {
        if self.unit != "bytes" {
            return format!("{} {}", self.done, self.unit);
        }
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "{} at {}/s",
            crate::units::bytes(self.done),
            crate::units::bytes((self.done as f64 / secs) as u64)
        )
    }
}

impl Run {
    pub fn new(id: usize, title: String) -> Self {
        Self {
            id,
            title,
            plan: None,
            steps: vec![],
            output: VecDeque::new(),
            outcome: None,
            error: None,
            journal_id: None,
            cancel: CancellationToken::new(),
            secret: None,
            progress: None,
        }
    }

    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    pub fn set_plan(&mut self, plan: Plan) {
        self.steps = plan
            .steps
            .iter()
            .map(|s| StepView {
                name: s.name.clone(),
                state: StepState::Pending,
            })
            .collect();
        self.plan = Some(plan);
    }

    /// Fold one engine event into the view.
    pub fn apply(&mut self, ev: ActionEvent) {
        fn step(steps: &mut [StepView], seq: usize) -> Option<&mut StepState> {
            steps.get_mut(seq.wrapping_sub(1)).map(|s| &mut s.state)
        }
        match ev {
            ActionEvent::Planned { .. } => {}
            ActionEvent::Progress { done, unit, .. } => {
                let started = self
                    .progress
                    .as_ref()
                    .map(|p| p.started)
                    .unwrap_or_else(std::time::Instant::now);
                self.progress = Some(Progress {
                    done,
                    unit,
                    started,
                });
            }
            ActionEvent::StepStarted { seq, .. } => {
                if let Some(s) = step(&mut self.steps, seq) {
                    *s = StepState::Running;
                }
            }
            ActionEvent::Secret { name, value, .. } => {
                // Shown once in this run's output; the journal never sees it.
                self.secret = Some(format!("{name}={value}"));
            }
            ActionEvent::Output { line, .. } => {
                if self.output.len() >= OUTPUT_CAP {
                    self.output.pop_front();
                }
                self.output.push_back(line);
            }
            ActionEvent::StepDone {
                seq,
                elapsed_ms,
                summary,
                ..
            } => {
                if let Some(s) = step(&mut self.steps, seq) {
                    *s = StepState::Done { elapsed_ms };
                }
                if !summary.is_empty() {
                    if self.output.len() >= OUTPUT_CAP {
                        self.output.pop_front();
                    }
                    self.output.push_back(format!("[{seq}] {summary}"));
                }
            }
            ActionEvent::StepFailed { seq, error, .. } => {
                if let Some(s) = step(&mut self.steps, seq) {
                    *s = StepState::Failed { error };
                }
            }
            ActionEvent::Finished {
                outcome,
                error,
                journal_id,
                ..
            } => {
                self.outcome = Some(outcome);
                self.error = error;
                self.journal_id = journal_id;
            }
        }
    }

    /// A run that could not even be planned.
    pub fn fail_before_start(&mut self, error: String, outcome: Outcome) {
        self.outcome = Some(outcome);
        self.error = Some(error);
    }
}
