//! One watcher per host: connect, list once, then follow Docker `events` and re-inspect only
//! the container an event names. No periodic re-listing. On a lost connection: report it,
//! wait (1 s, doubling to 30 s), reconnect and take a fresh snapshot.

use super::Update;
use crate::docker;
use crate::host::Host;
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The containers whose stats are streamed (those on screen); the rest are not sampled, so
/// an idle console costs the engine almost nothing.
pub type Focus = std::collections::BTreeSet<(String, String)>;

/// At most this many stats streams per host at once.
const MAX_STREAMS: usize = 40;
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
        let metrics = match crate::ops::metrics::read(&host, prev).await {
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

/// Keep one stats stream per focused container of this host.
async fn watch_stats(
    host: Arc<Host>,
    tx: mpsc::Sender<Update>,
    mut focus: tokio::sync::watch::Receiver<Focus>,
    cancel: CancellationToken,
) {
    let mut streams: HashMap<String, CancellationToken> = HashMap::new();
    loop {
        let wanted: Vec<String> = focus
            .borrow_and_update()
            .iter()
            .filter(|(h, _)| h == host.name())
            .map(|(_, id)| id.clone())
            .take(MAX_STREAMS)
            .collect();
        streams.retain(|id, stop| {
            let keep = wanted.contains(id);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for id in wanted {
            if streams.contains_key(&id) {
                continue;
            }
            let stop = cancel.child_token();
            streams.insert(id.clone(), stop.clone());
            let (host, tx) = (host.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(d) = host.docker().await else { return };
                let mut s = d.stats(
                    &id,
                    Some(
                        bollard::query_parameters::StatsOptionsBuilder::new()
                            .stream(true)
                            .build(),
                    ),
                );
                loop {
                    let next = tokio::select! {
                        n = s.next() => n,
                        _ = stop.cancelled() => return,
                    };
                    let Some(Ok(stats)) = next else { return };
                    let u = Update::Stats {
                        host: host.name().to_string(),
                        id: id.clone(),
                        sample: docker::StatsSample::from_engine(&stats),
                    };
                    if tx.send(u).await.is_err() {
                        return;
                    }
                }
            });
        }
        tokio::select! {
            changed = focus.changed() => if changed.is_err() { return },
            _ = cancel.cancelled() => return,
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
    docker
        .ping()
        .await
        .map_err(|e| docker::describe_error(&e))?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let engine = docker::engine_info(&docker)
        .await
        .map_err(|e| docker::describe_error(&e))?;
    // Subscribe before listing, so nothing that happens in between is missed.
    let mut events = docker.events(Some(
        EventsOptionsBuilder::new()
            .filters(&HashMap::from([("type", vec!["container"])]))
            .build(),
    ));
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
        let ev = ev.map_err(|e| docker::describe_error(&e))?;
        let Some(id) = ev.actor.as_ref().and_then(|a| a.id.clone()) else {
            continue;
        };
        let action = ev.action.unwrap_or_default();
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
        let summaries = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&HashMap::from([("id", vec![id.as_str()])]))
                    .build(),
            ))
            .await
            .map_err(|e| docker::describe_error(&e))?;
        let Some(summary) = summaries.first() else {
            continue;
        };
        let inspect = docker
            .inspect_container(
                &id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .ok();
        let info = docker::ContainerInfo::from_engine(
            &name,
            summary,
            inspect.as_ref(),
            chrono::Utc::now(),
        );
        send(Update::Upsert(Box::new(info))).await?;
    }
    Ok(())
}
