//! Running an action headless: plan, `--dry-run`, the confirmation rule, then the engine with
//! its events shown as a spinner per step (terminal), timestamped lines (piped) or JSON lines.

use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::journal::{Journal, Outcome};
use crate::ops::progress::Progress;
use crate::ops::{self, Action, ActionEvent, Engine};
use std::io::IsTerminal;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Headless, the plan's confirmation ([`ops::Plan::needs_confirmation`]) is `--yes`.
pub fn confirmation_needed(plan: &ops::Plan, yes: bool) -> Option<Error> {
    (plan.needs_confirmation(ops::Asker::Headless) && !yes).then(|| {
        Error::refused(format!(
            "`{} {}` is destructive and needs confirmation: add --yes. It would:\n{}",
            plan.action.name(),
            plan.action.target(),
            plan.describe().join("\n")
        ))
    })
}

pub async fn run(inv: &Inventory, cli: &Cli, action: Action) -> Result<u8, Error> {
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let plan = ops::plan(inv, &hosts, &action).await?;
    if cli.dry_run {
        match cli.output {
            OutputFormat::Json => {
                let mut v = serde_json::json!({"dry_run": true, "plan": plan});
                crate::secrets::mask_json(&mut v);
                print_json(&v)?
            }
            OutputFormat::Human => {
                outln!("dry run: nothing will be changed");
                for l in plan.describe() {
                    outln!("{}", crate::secrets::mask_text(&l));
                }
            }
        }
        return Ok(0);
    }
    if let Some(e) = confirmation_needed(&plan, cli.yes) {
        return Err(e);
    }
    let journal = Journal::open_default().await?;
    let engine = Engine::new(journal);
    let host = ops::plan_host(inv, hosts.clone(), &plan)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    // Ctrl-C or SIGTERM cancels at the next safe point; what was done is then put back.
    // Until the engine returns, further signals do not kill the process half-way.
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            super::interrupted().await;
            eprintln!(
                "opsdeck: cancelling: the running step stops at its next safe point, then what was done is put back"
            );
            cancel.cancel();
        })
    };
    let mode = match cli.output {
        OutputFormat::Json => Mode::Json,
        OutputFormat::Human if std::io::stderr().is_terminal() => Mode::Bars,
        OutputFormat::Human => Mode::Lines,
    };
    let printer = tokio::spawn(print_events(rx, mode));
    let report = engine.execute(inv, &hosts, &plan, &host, tx, cancel).await;
    ctrl_c.abort();
    let _ = printer.await;
    if let (Some(e), false) = (&report.error, cli.output == OutputFormat::Json) {
        eprintln!(
            "opsdeck: {}: {}",
            report.outcome.as_str(),
            crate::secrets::mask_text(&e.message)
        );
    }
    Ok(report.exit_code())
}

#[derive(Clone, Copy)]
enum Mode {
    Json,
    Bars,
    Lines,
}

fn ts() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn print_events(mut rx: mpsc::UnboundedReceiver<ActionEvent>, mode: Mode) {
    let mut progress = Progress::default();
    let mut bar: Option<indicatif::ProgressBar> = None;
    while let Some(ev) = rx.recv().await {
        progress.apply(&ev);
        let at = |seq: &usize| progress.label(*seq);
        match mode {
            Mode::Json => {
                let mut v = serde_json::to_value(&ev).unwrap_or(serde_json::Value::Null);
                if let Some(o) = v.as_object_mut() {
                    o.insert("ts".into(), ts().into());
                }
                outln!("{v}");
            }
            Mode::Lines => match &ev {
                ActionEvent::Planned {
                    action,
                    target,
                    host,
                    steps,
                } => {
                    outln!(
                        "{} {action} {target} on {host}: {} steps",
                        ts(),
                        steps.len()
                    );
                }
                ActionEvent::StepStarted { seq, name } => {
                    outln!("{} [{}] {name}", ts(), at(seq))
                }
                ActionEvent::Secret { name, value, .. } => outln!("{name}={value}"),
                ActionEvent::Output { line, .. } => outln!("{}   | {line}", ts()),
                ActionEvent::Progress {
                    seq,
                    done,
                    total: t,
                    unit,
                } => {
                    outln!(
                        "{} [{}] {done}{} {unit}",
                        ts(),
                        at(seq),
                        t.map(|t| format!("/{t}")).unwrap_or_default()
                    )
                }
                ActionEvent::StepDone {
                    seq,
                    name,
                    elapsed_ms,
                    summary,
                } => {
                    let said = if summary.is_empty() {
                        String::new()
                    } else {
                        format!(": {summary}")
                    };
                    outln!("{} [{}] {name}: ok ({elapsed_ms} ms){said}", ts(), at(seq))
                }
                ActionEvent::StepFailed { seq, name, error } => {
                    outln!("{} [{}] {name}: FAILED: {error}", ts(), at(seq))
                }
                ActionEvent::Notice { message } => outln!("{} note: {message}", ts()),
                ActionEvent::Finished {
                    action,
                    target,
                    outcome,
                    elapsed_ms,
                    ..
                } => {
                    outln!(
                        "{} {action} {target}: {} ({elapsed_ms} ms)",
                        ts(),
                        outcome.as_str()
                    )
                }
            },
            Mode::Bars => match &ev {
                ActionEvent::Planned {
                    action,
                    target,
                    host,
                    ..
                } => {
                    eprintln!("{action} {target} on {host}");
                }
                ActionEvent::StepStarted { seq, name } => {
                    let b = indicatif::ProgressBar::new_spinner();
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{spinner} [{prefix}] {msg} {elapsed}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    b.set_prefix(at(seq));
                    b.set_message(name.clone());
                    b.enable_steady_tick(std::time::Duration::from_millis(120));
                    bar = Some(b);
                }
                ActionEvent::Secret { name, value, .. } => {
                    // The one place a new secret is shown: on stdout, so it can be captured.
                    if let Some(b) = &bar {
                        b.suspend(|| outln!("{name}={value}"));
                    } else {
                        outln!("{name}={value}");
                    }
                }
                ActionEvent::Output { line, .. } => match &bar {
                    Some(b) => b.println(format!("  | {line}")),
                    None => eprintln!("  | {line}"),
                },
                ActionEvent::Progress {
                    done,
                    total: t,
                    unit,
                    ..
                } => {
                    if let Some(b) = &bar {
                        if let Some(t) = t {
                            b.set_length(*t);
                        }
                        b.set_position(*done);
                        let _ = unit;
                    }
                }
                ActionEvent::StepDone {
                    seq,
                    name,
                    elapsed_ms,
                    ..
                } => {
                    if let Some(b) = bar.take() {
                        b.finish_and_clear();
                    }
                    eprintln!("✓ [{}] {name} ({elapsed_ms} ms)", at(seq));
                }
                ActionEvent::StepFailed { seq, name, error } => {
                    if let Some(b) = bar.take() {
                        b.finish_and_clear();
                    }
                    eprintln!("✗ [{}] {name}: {error}", at(seq));
                }
                ActionEvent::Notice { message } => match &bar {
                    Some(b) => b.println(format!("! {message}")),
                    None => eprintln!("! {message}"),
                },
                ActionEvent::Finished {
                    outcome,
                    elapsed_ms,
                    ..
                } => {
                    if *outcome == Outcome::Succeeded {
                        eprintln!("done in {:.1}s", *elapsed_ms as f64 / 1000.0);
                    }
                }
            },
        }
    }
}
