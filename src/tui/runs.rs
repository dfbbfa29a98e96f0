//! Actions started from the console, folded from their events (progress is data).

use crate::journal::Outcome;
use crate::ops::progress::Progress;
use crate::ops::{ActionEvent, Plan};
use std::collections::VecDeque;
use tokio_util::sync::CancellationToken;

/// Output lines kept per action.
const OUTPUT_CAP: usize = 500;

pub use crate::ops::progress::{StepState, StepView};

/// One action started from the console.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: usize,
    /// `restart shop/web`
    pub title: String,
    pub plan: Option<Plan>,
    /// Steps (undo steps included), outcome, error and journal id: the action layer's one
    /// fold of the events, the same the CLI prints from.
    pub progress: Progress,
    pub output: VecDeque<String>,
    pub cancel: CancellationToken,
    /// A secret the action produced (a new DATABASE_URL), shown in this run's view only.
    pub secret: Option<String>,
    /// Bytes (or other units) moved so far by the running step, for a rate.
    pub rate: Option<Rate>,
    /// Handed to the engine (confirmed, or needing no confirmation).
    pub started: bool,
}

#[derive(Debug, Clone)]
pub struct Rate {
    pub done: u64,
    pub unit: crate::ops::event::Unit,
    pub started: std::time::Instant,
}

impl Rate {
    /// `12.0MiB at 40.1MiB/s`
    pub fn describe(&self) -> String {
        if self.unit != crate::ops::event::Unit::Bytes {
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
            progress: Progress::default(),
            output: VecDeque::new(),
            cancel: CancellationToken::new(),
            secret: None,
            rate: None,
            started: false,
        }
    }

    pub fn is_running(&self) -> bool {
        self.progress.outcome.is_none()
    }

    /// Running in the engine: quitting now would leave it half-done.
    pub fn is_executing(&self) -> bool {
        self.started && self.is_running()
    }

    pub fn set_plan(&mut self, plan: Plan) {
        self.progress = Progress::of_steps(plan.steps.iter().map(|s| s.name.clone()));
        self.plan = Some(plan);
    }

    /// Fold one engine event into the view: steps and outcome by the shared fold; output,
    /// the secret and the transfer rate are the console's own.
    pub fn apply(&mut self, ev: ActionEvent) {
        self.progress.apply(&ev);
        match ev {
            ActionEvent::Progress { done, unit, .. } => {
                let started = self
                    .rate
                    .as_ref()
                    .map(|p| p.started)
                    .unwrap_or_else(std::time::Instant::now);
                self.rate = Some(Rate {
                    done,
                    unit,
                    started,
                });
            }
            ActionEvent::StepStarted { .. } => self.rate = None,
            ActionEvent::Secret { name, value, .. } => {
                // Shown once in this run's output; the journal never sees it.
                self.secret = Some(format!("{name}={value}"));
            }
            ActionEvent::Output { line, .. } => self.push_output(line),
            ActionEvent::Notice { message } => self.push_output(format!("note: {message}")),
            ActionEvent::StepDone { seq, summary, .. } if !summary.is_empty() => {
                let label = self.progress.label(seq);
                self.push_output(format!("[{label}] {summary}"));
            }
            _ => {}
        }
    }

    fn push_output(&mut self, line: String) {
        if self.output.len() >= OUTPUT_CAP {
            self.output.pop_front();
        }
        self.output.push_back(line);
    }

    /// A run that could not even be planned.
    pub fn fail_before_start(&mut self, error: String, outcome: Outcome) {
        self.progress.outcome = Some(outcome);
        self.progress.error = Some(error);
    }
}
