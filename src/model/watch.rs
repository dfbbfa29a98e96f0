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

/// Stops the watchers when dropped.
pub struct WatchHandle {
    cancel: CancellationToken,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Start one watcher task per host; updates arrive on the returned channel.
pub fn spawn_watchers(hosts: Vec<Host>) -> (mpsc::Receiver<Update>, WatchHandle) {
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    for h in hosts {
        let tx = tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { watch_host(Arc::new(h), tx, cancel).await });
    }
    (rx, WatchHandle { cancel })
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
    let list = docker::list_containers(&docker, &name)
        .await
        .map_err(|e| docker::describe_error(&e))?;
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
