//! The one engine that executes plans: takes the host lock (and the plan's further locks),
//! checks the plan still holds once locked, writes the journal, runs the steps in order, and
//! emits [`ActionEvent`]s. It never prints or draws.
//!
//! Cancellation (Ctrl-C, the console's cancel, a lost lock) happens only at safe points: a
//! running step is never dropped half-way. It sees the token and stops where it can stop
//! cleanly (a wait, a stream between chunks); critical sections (a database swap, an atomic
//! file write) do not look at it. Then the undo of everything done so far runs.

use super::event::ActionEvent;
use super::lock;
use super::step::{LockRef, Plan, StepKind};
use super::steps::{self, StepCtx};
use crate::error::{Error, ExitKind};
use crate::host::Host;
use crate::inventory::Inventory;
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
    /// cancellation, is journaled and ends with a `Finished` event. Once the locks are
    /// held, the action is planned again from `inv` and `hosts` (what the frontends planned
    /// it from): if anything changed in between (another run wrote the routes file, moved
    /// VERSION), the run is refused and nothing is changed.
    pub async fn execute(
        &self,
        inv: &Inventory,
        hosts: &[Host],
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
            steps: plan
                .steps
                .iter()
                .map(|s| crate::secrets::mask_text(&s.name))
                .collect(),
        });
        let params = journal_params(&plan.action);
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
        let locks = match take_locks(inv, plan, host, &action, &target, &events).await {
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
        let (outcome, error) = match still_holds(inv, hosts, plan).await {
            Err(e) => (Outcome::Refused, Some(e)),
            Ok(()) => {
                // A lost lock cancels the run the way Ctrl-C does: at a safe point, then undo.
                let run_cancel = cancel.child_token();
                let lost = std::sync::Mutex::new(None::<String>);
                let watch = heartbeat(&locks, &run_cancel, &lost);
                let steps = self.run_steps(plan, host, journal_id, &events, &run_cancel);
                tokio::pin!(watch);
                tokio::pin!(steps);
                let r = tokio::select! {
                    r = &mut steps => r,
                    _ = &mut watch => steps.await,
                };
                match lost.lock().ok().and_then(|mut l| l.take()) {
                    Some(why) => {
                        let message = match &r.1 {
                            Some(e) => format!("{why}; {}", e.message),
                            None => why,
                        };
                        (Outcome::Failed, Some(Error::failed(message)))
                    }
                    None => r,
                }
            }
        };
        let mut error = error;
        for (h, l) in locks.into_iter().rev() {
            let name = l.name().to_string();
            if let Err(e) = l.release(&h).await {
                tracing::warn!("releasing the lock {name} on {}: {e}", h.name());
                let _ = events.send(ActionEvent::Notice {
                    message: crate::secrets::mask_text(&e.message),
                });
                if outcome == Outcome::Succeeded && error.is_none() {
                    // Succeeded, but someone else removed our lock meanwhile: say so.
                    error = Some(Error::failed(format!(
                        "the action succeeded, but {}",
                        e.message
                    )));
                }
            }
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
                // Put back what the steps so far changed, newest first (a step that puts
                // itself back when it fails is not undone again).
                let upto = if step.kind.puts_itself_back() {
                    i
                } else {
                    i + 1
                };
                let undo_failures = self
                    .undo(
                        &plan.steps[..upto],
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
        // Never dropped half-way: the step watches the token and stops at its safe points.
        let result = steps::run(kind, &cx).await;
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

/// Take the plan's lock on its host, then every `also_lock` on its own host; on a refusal
/// the ones already taken are released. A lock taken over from a dead run is announced.
async fn take_locks(
    inv: &Inventory,
    plan: &Plan,
    host: &Host,
    action: &str,
    target: &str,
    events: &UnboundedSender<ActionEvent>,
) -> Result<Vec<(Host, lock::Lock)>, Error> {
    let mut wanted = vec![(host.clone(), plan.lock.clone())];
    for LockRef {
        host: h,
        lock: name,
    } in &plan.also_lock
    {
        let other = if h == host.name() {
            host.clone()
        } else {
            super::select::host(inv, h)?
        };
        wanted.push((other, name.clone()));
    }
    let mut held: Vec<(Host, lock::Lock)> = Vec::new();
    for (h, name) in wanted {
        match lock::acquire(&h, &name, action, target).await {
            Ok(l) => {
                if let Some(msg) = &l.recovered {
                    tracing::warn!("{msg}");
                    let _ = events.send(ActionEvent::Notice {
                        message: crate::secrets::mask_text(msg),
                    });
                }
                held.push((h, l));
            }
            Err(e) => {
                for (h, l) in held.into_iter().rev() {
                    let _ = l.release(&h).await;
                }
                return Err(e);
            }
        }
    }
    Ok(held)
}

/// Plan the action again now that its locks are held; refuse if the plan changed.
async fn still_holds(inv: &Inventory, hosts: &[Host], plan: &Plan) -> Result<(), Error> {
    let fresh = super::plan(inv, hosts, &plan.action)
        .await
        .map_err(|e| Error::new(e.kind, format!("planning again once locked: {}", e.message)))?;
    if fresh.steps == plan.steps && fresh.also_lock == plan.also_lock && fresh.host == plan.host {
        return Ok(());
    }
    let first = fresh
        .steps
        .iter()
        .zip(&plan.steps)
        .position(|(a, b)| a != b)
        .unwrap_or(fresh.steps.len().min(plan.steps.len()));
    let what = plan
        .steps
        .get(first)
        .or(fresh.steps.get(first))
        .map(|s| format!(" (from step {}: {})", first + 1, s.name))
        .unwrap_or_default();
    Err(Error::refused(crate::secrets::mask_text(&format!(
        "what `{} {}` was planned from changed before its lock was taken (another action ran meanwhile){what}: nothing was changed; run it again to plan from the current state",
        plan.action.name(),
        plan.action.target()
    ))))
}

/// Keep the locks fresh. Returns (after cancelling `run`) when one was taken from us, or
/// when heartbeats failed for so long that another run may by now take it as stale.
async fn heartbeat(
    locks: &[(Host, lock::Lock)],
    run: &CancellationToken,
    lost: &std::sync::Mutex<Option<String>>,
) {
    let mut tick = tokio::time::interval(lock::HEARTBEAT);
    tick.tick().await;
    let give_up = lock::STALE_AFTER.saturating_sub(lock::HEARTBEAT * 2);
    let mut failing_since: Vec<Option<Instant>> = vec![None; locks.len()];
    loop {
        tick.tick().await;
        for (i, (h, l)) in locks.iter().enumerate() {
            let why = match l.heartbeat(h).await {
                Ok(true) => {
                    failing_since[i] = None;
                    continue;
                }
                Ok(false) => Some(format!(
                    "lost the lock {} on {}: someone released or took it",
                    l.name(),
                    h.name()
                )),
                Err(e) => {
                    let since = *failing_since[i].get_or_insert_with(Instant::now);
                    tracing::warn!("heartbeat of a lock on {}: {}", h.name(), e.message);
                    (since.elapsed() >= give_up).then(|| {
                        format!(
                            "lost the lock on {}: its heartbeat failed for {}s ({}), so another run may take it as stale",
                            h.name(),
                            since.elapsed().as_secs(),
                            e.message
                        )
                    })
                }
            };
            if let Some(why) = why {
                if let Ok(mut l) = lost.lock() {
                    *l = Some(why);
                }
                run.cancel();
                return;
            }
        }
    }
}

/// The action as the journal keeps it: masked (by the journal) and without bulk content (a
/// routes file applied from the editor is recorded by its size and SHA-256, not its text).
fn journal_params(action: &super::action::Action) -> serde_json::Value {
    let mut v = serde_json::to_value(action).unwrap_or(serde_json::Value::Null);
    if let super::action::Action::RoutesApply { contents, .. } = action {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(contents.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "contents".into(),
                serde_json::json!({"bytes": contents.len(), "sha256": hex}),
            );
        }
    }
    v
}

fn describe_undo(kind: &super::step::StepKind) -> String {
    use super::step::StepKind;
    match kind {
        StepKind::ComposeRecreate { service, env, .. } => match env.first() {
            Some((k, v)) => format!("put {service} back on {k}={v}"),
            None => format!("recreate {service} as it was"),
        },
        StepKind::WaitService { service, .. } => format!("wait until {service} is healthy again"),
        StepKind::ComposeSwitch(sw) => match sw.env.first() {
            Some((k, v)) => format!("switch {} back to {k}={v} (start-first)", sw.service),
            None => format!("switch {} back to what it ran (start-first)", sw.service),
        },
        StepKind::StopMaintenance { container, .. } => {
            format!("remove the maintenance container {container}")
        }
        other => format!("{other:?}"),
    }
}
