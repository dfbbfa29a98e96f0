//! The one engine that executes plans: takes the host lock, writes the journal, runs the
//! steps in order, honours cancellation between and within steps, and emits
//! [`ActionEvent`]s. It never prints or draws.

use super::event::ActionEvent;
use super::lock;
use super::step::{Plan, StepKind};
use super::steps::{self, StepCtx};
use crate::error::{Error, ExitKind};
use crate::host::Host;
use crate::journal::{Journal, NewEntry, Outcome};
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// How an execution ended.
#[derive(Debug)]
pub struct RunReport {
    pub outcome: Outcome,
    pub error: Option<Error>,
    pub journal_id: Option<i64>,
}

impl RunReport {
    /// The exit code a headless run ends with.
    pub fn exit_code(&self) -> u8 {
        match (&self.outcome, &self.error) {
            (Outcome::Succeeded, _) => 0,
            (Outcome::Refused, _) => ExitKind::Refused.code() as u8,
            (_, Some(e)) if e.kind == ExitKind::Unreachable => ExitKind::Unreachable.code() as u8,
            _ => ExitKind::Failed.code() as u8,
        }
    }
}

pub struct Engine {
    pub journal: Journal,
    pub actor: String,
}

impl Engine {
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            actor: lock::actor(),
        }
    }

    /// Execute `plan` on `host` (the plan's host). Every outcome, including refusal and
    /// cancellation, is journaled and ends with a `Finished` event.
    pub async fn execute(
        &self,
        plan: &Plan,
        host: &Host,
        events: UnboundedSender<ActionEvent>,
        cancel: CancellationToken,
    ) -> RunReport {
        let started = Instant::now();
        let action = plan.action.name().to_string();
        let target = plan.action.target().to_string();
        let _ = events.send(ActionEvent::Planned {
            action: action.clone(),
            target: target.clone(),
            host: plan.host.clone(),
            steps: plan.steps.iter().map(|s| s.name.clone()).collect(),
        });
        let params = serde_json::to_value(&plan.action).unwrap_or(serde_json::Value::Null);
        let journal_id = self
            .journal
            .begin(&NewEntry {
                action: action.clone(),
                target: target.clone(),
                host: Some(plan.host.clone()),
                app: plan.app.clone(),
                actor: self.actor.clone(),
                params,
            })
            .await;
        let journal_id = match journal_id {
            Ok(id) => id,
            Err(e) => {
                // Nothing runs unrecorded.
                let err =
                    Error::failed(format!("cannot record the action, so it was not run: {e}"));
                return self
                    .finish(
                        &events,
                        &action,
                        &target,
                        started,
                        None,
                        Outcome::Failed,
                        Some(err),
                    )
                    .await;
            }
        };
        let lock = match lock::acquire(host, &plan.lock, &action, &target).await {
            Ok(l) => l,
            Err(e) => {
                let outcome = if e.kind == ExitKind::Refused {
                    Outcome::Refused
                } else {
                    Outcome::Failed
                };
                return self
                    .finish(
                        &events,
                        &action,
                        &target,
                        started,
                        Some(journal_id),
                        outcome,
                        Some(e),
                    )
                    .await;
            }
        };
        let (outcome, error) = tokio::select! {
            r = self.run_steps(plan, host, journal_id, &events, &cancel) => r,
            _ = heartbeat(&lock, host) => (Outcome::Failed, Some(Error::failed("lost the lock"))),
        };
        if let Err(e) = lock.release(host).await {
            tracing::warn!("releasing lock {} on {}: {e}", plan.lock, plan.host);
        }
        self.finish(
            &events,
            &action,
            &target,
            started,
            Some(journal_id),
            outcome,
            error,
        )
        .await
    }

    async fn run_steps(
        &self,
        plan: &Plan,
        host: &Host,
        journal_id: i64,
        events: &UnboundedSender<ActionEvent>,
        cancel: &CancellationToken,
    ) -> (Outcome, Option<Error>) {
        for (i, step) in plan.steps.iter().enumerate() {
            let seq = i + 1;
            if cancel.is_cancelled() {
                return (
                    Outcome::Cancelled,
                    Some(Error::failed(format!(
                        "cancelled before step {seq}: {}",
                        step.name
                    ))),
                );
            }
            let result = self
                .journaled_step(
                    (journal_id, seq),
                    &step.name,
                    &step.kind,
                    host,
                    events,
                    Some(cancel),
                )
                .await;
            if let Err(e) = result {
                let outcome = if e.cancelled || cancel.is_cancelled() {
                    Outcome::Cancelled
                } else {
                    Outcome::Failed
                };
                let mut message = crate::secrets::mask_text(&format!(
                    "step {seq} ({}) failed: {}",
                    step.name, e.message
                ));
                // Put back what the steps so far changed, newest first.
                let undo_failures = self
                    .undo(
                        &plan.steps[..=i],
                        host,
                        journal_id,
                        plan.steps.len(),
                        events,
                    )
                    .await;
                if !undo_failures.is_empty() {
                    message.push_str(&format!(
                        "; putting things back ALSO failed: {}",
                        undo_failures.join("; ")
                    ));
                } else if plan.steps[..=i].iter().any(|s| !s.undo.is_empty()) {
                    message.push_str("; everything it changed was put back");
                }
                return (outcome, Some(Error::new(e.kind, message)));
            }
        }
        (Outcome::Succeeded, None)
    }

    /// Run the undo lists of `done` (in reverse), journaled as extra steps. Returns what
    /// failed. Runs even after a cancellation: putting things back is not optional.
    async fn undo(
        &self,
        done: &[super::step::Step],
        host: &Host,
        journal_id: i64,
        planned: usize,
        events: &UnboundedSender<ActionEvent>,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        let mut seq = planned;
        for step in done.iter().rev() {
            for kind in &step.undo {
                seq += 1;
                let name = format!("undo: {}", describe_undo(kind));
                let ran = self
                    .journaled_step((journal_id, seq), &name, kind, host, events, None)
                    .await;
                if let Err(e) = ran {
                    failures.push(format!("{name}: {}", e.message));
                }
            }
        }
        failures
    }

    /// The one journaled-step path (plan steps and undo steps alike): journal the start,
    /// announce it, run it (stopped by `cancel` when given: undo steps run to their end),
    /// journal and announce how it ended. Names and messages are masked on the way out.
    async fn journaled_step(
        &self,
        (journal_id, seq): (i64, usize),
        name: &str,
        kind: &StepKind,
        host: &Host,
        events: &UnboundedSender<ActionEvent>,
        cancel: Option<&CancellationToken>,
    ) -> Result<String, Error> {
        let _ = self
            .journal
            .step_started(journal_id, seq as i64, name)
            .await;
        let shown = crate::secrets::mask_text(name);
        let _ = events.send(ActionEvent::StepStarted {
            seq,
            name: shown.clone(),
        });
        let t = Instant::now();
        let never = CancellationToken::new();
        let token = cancel.unwrap_or(&never);
        let cx = StepCtx {
            host,
            seq,
            events,
            cancel: token,
            journal: (&self.journal, journal_id),
        };
        let result = match cancel {
            Some(c) => tokio::select! {
                r = steps::run(kind, &cx) => r,
                _ = c.cancelled() => Err(Error::cancelled()),
            },
            None => steps::run(kind, &cx).await,
        };
        match &result {
            Ok(summary) => {
                let _ = self
                    .journal
                    .step_finished(journal_id, seq as i64, Outcome::Succeeded, Some(summary))
                    .await;
                let _ = events.send(ActionEvent::StepDone {
                    seq,
                    name: shown,
                    elapsed_ms: t.elapsed().as_millis() as u64,
                    summary: crate::secrets::mask_text(summary),
                });
            }
            Err(e) => {
                let outcome = if e.cancelled || token.is_cancelled() {
                    Outcome::Cancelled
                } else {
                    Outcome::Failed
                };
                let _ = self
                    .journal
                    .step_finished(journal_id, seq as i64, outcome, Some(&e.message))
                    .await;
                let _ = events.send(ActionEvent::StepFailed {
                    seq,
                    name: shown,
                    error: crate::secrets::mask_text(&e.message),
                });
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        events: &UnboundedSender<ActionEvent>,
        action: &str,
        target: &str,
        started: Instant,
        journal_id: Option<i64>,
        outcome: Outcome,
        error: Option<Error>,
    ) -> RunReport {
        if let Some(id) = journal_id {
            let msg = error.as_ref().map(|e| e.message.clone());
            if let Err(e) = self.journal.finish(id, outcome, msg.as_deref()).await {
                tracing::error!("journal: recording the end of action {id}: {e}");
            }
        }
        let _ = events.send(ActionEvent::Finished {
            action: action.to_string(),
            target: target.to_string(),
            outcome,
            error: error
                .as_ref()
                .map(|e| crate::secrets::mask_text(&e.message)),
            journal_id,
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
        RunReport {
            outcome,
            error,
            journal_id,
        }
    }
}

/// Keep the lock fresh; returns only if the lock was taken from us.
async fn heartbeat(lock: &lock::Lock, host: &Host) {
    let mut tick = tokio::time::interval(lock::HEARTBEAT);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Ok(false) = lock.heartbeat(host).await {
            return;
        }
    }
}

fn describe_undo(kind: &super::step::StepKind) -> String {
    use super::step::StepKind;
    match kind {
        StepKind::ComposeRecreate { service, env, .. } => match env.first() {
            Some((k, v)) => format!("put {service} back on {k}={v}"),
            None => format!("recreate {service} as it was"),
        },
        StepKind::WaitService { service, .. } => format!("wait until {service} is healthy again"),
        other => format!("{other:?}"),
    }
}
