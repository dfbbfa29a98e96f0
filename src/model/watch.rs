//! One watcher per host: connect, list once, then follow Docker `events` and re-inspect only
//! the container an event names. No periodic re-listing. On a lost connection: report it,
//! wait (1 s, doubling to 30 s), reconnect and take a fresh snapshot.

use super::Update;
use crate::docker::{self, stats::Reading};
use crate::host::Host;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The containers whose stats are sampled (those on screen); the rest are not, so an idle
/// console costs the engine little.
pub type Focus = std::collections::BTreeSet<(String, String)>;

/// At most this many containers sampled per host.
const MAX_SAMPLED: usize = 40;
/// How often the containers on screen are sampled. Streaming stats (a sample per container
/// per second, dockerd asking each container's shim) made the engine work about 0.4% of a core
/// per container on screen; one-shot samples every 2 s cost well under half of that.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Stats requests in flight at once per host.
const SAMPLE_CONCURRENCY: usize = 8;
/// How often host metrics are read.
const METRICS_EVERY: Duration = Duration::from_secs(5);

/// Stops the watchers when dropped.
pub struct WatchHandle {
    cancel: CancellationToken,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Start the watchers of each host (events, stats of the focused containers, host
/// metrics); updates arrive on the returned channel.
pub fn spawn_watchers(
    hosts: Vec<Host>,
    focus: tokio::sync::watch::Receiver<Focus>,
) -> (mpsc::Receiver<Update>, WatchHandle) {
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    for h in hosts {
        let h = Arc::new(h);
        {
            let (h, tx, cancel) = (h.clone(), tx.clone(), cancel.clone());
            tokio::spawn(async move { watch_host(h, tx, cancel).await });
        }
        {
            let (h, tx, cancel) = (h.clone(), tx.clone(), cancel.clone());
            tokio::spawn(async move { watch_metrics(h, tx, cancel).await });
        }
        let (tx, cancel, focus) = (tx.clone(), cancel.clone(), focus.clone());
        tokio::spawn(async move { watch_stats(h, tx, focus, cancel).await });
    }
    (rx, WatchHandle { cancel })
}

async fn watch_metrics(host: Arc<Host>, tx: mpsc::Sender<Update>, cancel: CancellationToken) {
    let mut prev = None;
    let mut tick = tokio::time::interval(METRICS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        let metrics = match crate::host::metrics::read(&host, prev).await {
            Ok((m, counters)) => {
                prev = Some(counters);
                Ok(m)
            }
            Err(e) => Err(e),
        };
        let u = Update::HostMetrics {
            host: host.name().to_string(),
            metrics,
        };
        if tx.send(u).await.is_err() {
            return;
        }
    }
}

/// Sample the focused containers of this host: every [`SAMPLE_EVERY`], and at once for
/// containers that just came into focus. Each sample is a one-shot stats request; the CPU
/// share comes from two consecutive samples of the same container.
async fn watch_stats(
    host: Arc<Host>,
    tx: mpsc::Sender<Update>,
    mut focus: tokio::sync::watch::Receiver<Focus>,
    cancel: CancellationToken,
) {
    let mut prev: HashMap<String, Reading> = HashMap::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // On a tick every focused container is sampled; on a focus change only the new ones.
        let all = tokio::select! {
            _ = tick.tick() => true,
            changed = focus.changed() => {
                if changed.is_err() {
                    return;
                }
                false
            }
            _ = cancel.cancelled() => return,
        };
        let wanted: Vec<String> = focus
            .borrow_and_update()
            .iter()
            .filter(|(h, _)| h == host.name())
            .map(|(_, id)| id.clone())
            .take(MAX_SAMPLED)
            .collect();
        prev.retain(|id, _| wanted.contains(id));
        let due: Vec<String> = wanted
            .into_iter()
            .filter(|id| all || !prev.contains_key(id))
            .collect();
        if due.is_empty() {
            continue;
        }
        let Ok(d) = host.docker().await else { continue };
        let mut samples = futures_util::stream::iter(due)
            .map(|id| {
                let d = d.clone();
                async move {
                    let now = docker::stats::read_once(&d, &id).await;
                    (id, now)
                }
            })
            .buffer_unordered(SAMPLE_CONCURRENCY);
        while let Some((id, now)) = samples.next().await {
            let Ok(Some(mut now)) = now else { continue };
            let Some(before) = prev.get(&id) else {
                // The first sample only starts the CPU measurement.
                prev.insert(id, now);
                continue;
            };
            let u = Update::Stats {
                host: host.name().to_string(),
                id: id.clone(),
                sample: now.since(before),
            };
            prev.insert(id, now);
            if tx.send(u).await.is_err() {
                return;
            }
        }
    }
}

async fn watch_host(host: Arc<Host>, tx: mpsc::Sender<Update>, cancel: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let result = tokio::select! {
            r = session(&host, &tx) => r,
            _ = cancel.cancelled() => return,
        };
        let error = match result {
            Ok(()) => "the engine closed the event stream".to_string(),
            Err(e) => e,
        };
        if tx
            .send(Update::HostDown {
                host: host.name().to_string(),
                error,
                retry_in_secs: backoff.as_secs(),
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = cancel.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One connected session; returns when the connection is lost.
async fn session(host: &Host, tx: &mpsc::Sender<Update>) -> Result<(), String> {
    let name = host.name().to_string();
    let docker = host.docker().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    docker::ping(&docker)
        .await
        .map_err(|e| docker::describe_error(&e))?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let engine = docker::engine_info(&docker)
        .await
        .map_err(|e| docker::describe_error(&e))?;
    // Subscribe before listing, so nothing that happens in between is missed.
    let mut events = docker::events::containers(&docker);
    // A first picture from the list alone (fast), then the inspected one (health, uptime).
    let quick = docker::list_containers_quick(&docker, &name)
        .await
        .map_err(|e| docker::describe_error(&e))?;
    let list = quick;
    let send = |u| async { tx.send(u).await.map_err(|_| "console closed".to_string()) };
    send(Update::HostConnected {
        host: name.clone(),
        engine_version: engine.version,
        latency_ms,
    })
    .await?;
    send(Update::Snapshot {
        host: name.clone(),
        containers: list,
    })
    .await?;
    let full = docker::list_containers(&docker, &name)
        .await
        .map_err(|e| docker::describe_error(&e))?;
    send(Update::Snapshot {
        host: name.clone(),
        containers: full,
    })
    .await?;
    while let Some(ev) = events.next().await {
        let docker::events::ContainerEvent { id, action } =
            ev.map_err(|e| docker::describe_error(&e))?;
        // Exec and health-probe events say nothing about the container list itself, except
        // health_status, which changes the health column.
        if action.starts_with("exec_") || action == "top" || action == "attach" {
            continue;
        }
        if action == "destroy" {
            send(Update::Removed {
                host: name.clone(),
                id: id.chars().take(12).collect(),
            })
            .await?;
            continue;
        }
        let Some(info) = docker::control::refresh(&docker, &name, &id)
            .await
            .map_err(|e| docker::describe_error(&e))?
        else {
            continue;
        };
        send(Update::Upsert(Box::new(info))).await?;
    }
    Ok(())
}
