//! HTTP health checks from the inventory: run now (`opsdeck check`), or on their own
//! schedule for the console's health pane.

use crate::error::Error;
use crate::http::{self, Probe};
use crate::inventory::{CheckSpec, Inventory};
use crate::names;
use futures_util::future::join_all;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The result type lives with the live model that keeps the checks' history.
pub use crate::model::CheckResult;

async fn run_one(inv: &Inventory, name: &str, spec: &CheckSpec) -> CheckResult {
    let via = match &spec.via {
        Some(h) => match inv.hosts.get(h).map(|_| super::select::host(inv, h)) {
            Some(Ok(host)) => Some(host),
            Some(Err(e)) => {
                return failed(name, spec, e.message);
            }
            None => return failed(name, spec, format!("no host named {h:?}")),
        },
        None => None,
    };
    let mut probe = http::probe(&spec.url, spec.timeout.0, via.as_ref(), None).await;
    // A check URL may carry credentials (basic auth): never shown.
    probe.url = crate::secrets::mask_url(&probe.url);
    probe.error = probe.error.map(|e| crate::secrets::mask_text(&e));
    CheckResult {
        name: name.to_string(),
        via: spec.via.clone(),
        up: probe.is_up(spec.expect_status),
        probe,
    }
}

fn failed(name: &str, spec: &CheckSpec, error: String) -> CheckResult {
    CheckResult {
        name: name.to_string(),
        via: spec.via.clone(),
        up: false,
        probe: Probe {
            url: spec.url.clone(),
            status: None,
            latency_ms: None,
            body: None,
            error: Some(error),
            cert_not_after: None,
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        },
    }
}

/// Run the named check, or all of them, now, in parallel.
pub async fn run_now(inv: &Inventory, name: Option<&str>) -> Result<Vec<CheckResult>, Error> {
    let chosen: Vec<(&String, &CheckSpec)> = match name {
        Some(n) => {
            let (k, v) = inv.checks.get_key_value(n).ok_or_else(|| {
                Error::usage(names::unknown_name_message(
                    "check",
                    n,
                    inv.checks.keys().map(String::as_str),
                ))
            })?;
            vec![(k, v)]
        }
        None => inv.checks.iter().collect(),
    };
    Ok(join_all(chosen.into_iter().map(|(n, s)| run_one(inv, n, s))).await)
}

/// Run every check on its own interval until `cancel`; results arrive on the channel.
pub fn spawn_schedule(
    inv: Arc<Inventory>,
    cancel: CancellationToken,
) -> mpsc::Receiver<CheckResult> {
    let (tx, rx) = mpsc::channel(64);
    for (name, spec) in inv.checks.clone() {
        let inv = inv.clone();
        let tx = tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(spec.every.0);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = cancel.cancelled() => return,
                }
                let r = run_one(&inv, &name, &spec).await;
                if tx.send(r).await.is_err() {
                    return;
                }
            }
        });
    }
    rx
}
