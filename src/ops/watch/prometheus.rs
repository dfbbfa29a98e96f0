//! `watch --metrics ADDR`: the last round in Prometheus' text format, served over plain
//! HTTP on a loopback (or chosen) address. One tiny responder: GET anything, get the page.

use super::observe::{Observation, Seen};
use crate::docker::{Health, State};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The metrics page of one round.
pub fn render(obs: &[Observation], seen: &Seen, alerting: &[String]) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "opsdeck_check_up",
        "1 when the check's last probe was up",
        "gauge",
    );
    for o in obs.iter().filter(|o| o.kind == "check") {
        let name = o.subject.trim_start_matches("check:");
        let _ = writeln!(
            out,
            "opsdeck_check_up{{check=\"{}\"}} {}",
            label(name),
            u8::from(o.ok)
        );
    }
    family(
        &mut out,
        "opsdeck_check_latency_seconds",
        "the check's last latency",
        "gauge",
    );
    for o in obs.iter().filter(|o| o.kind == "check") {
        if let Some(ms) = o.latency_ms {
            let name = o.subject.trim_start_matches("check:");
            let _ = writeln!(
                out,
                "opsdeck_check_latency_seconds{{check=\"{}\"}} {}",
                label(name),
                ms / 1000.0
            );
        }
    }
    family(
        &mut out,
        "opsdeck_container_running",
        "1 when the container runs",
        "gauge",
    );
    family(
        &mut out,
        "opsdeck_container_healthy",
        "1 healthy, 0 unhealthy (containers with a health check)",
        "gauge",
    );
    family(
        &mut out,
        "opsdeck_container_restarts",
        "the engine's restart count",
        "gauge",
    );
    let mut health = String::new();
    let mut restarts = String::new();
    for c in &seen.containers {
        let labels = format!(
            "host=\"{}\",container=\"{}\",project=\"{}\",service=\"{}\"",
            label(&c.host),
            label(&c.name),
            label(c.project.as_deref().unwrap_or("")),
            label(c.service.as_deref().unwrap_or(""))
        );
        let _ = writeln!(
            out,
            "opsdeck_container_running{{{labels}}} {}",
            u8::from(c.state == State::Running)
        );
        if c.health != Health::None {
            let _ = writeln!(
                health,
                "opsdeck_container_healthy{{{labels}}} {}",
                u8::from(c.health == Health::Healthy)
            );
        }
        let _ = writeln!(
            restarts,
            "opsdeck_container_restarts{{{labels}}} {}",
            c.restart_count.unwrap_or(0)
        );
    }
    out.push_str(&health);
    out.push_str(&restarts);
    family(
        &mut out,
        "opsdeck_host_disk_used_bytes",
        "root filesystem used",
        "gauge",
    );
    family(
        &mut out,
        "opsdeck_host_disk_total_bytes",
        "root filesystem size",
        "gauge",
    );
    family(
        &mut out,
        "opsdeck_host_memory_used_bytes",
        "memory in use",
        "gauge",
    );
    family(
        &mut out,
        "opsdeck_host_memory_total_bytes",
        "memory installed",
        "gauge",
    );
    for (i, name) in [
        "opsdeck_host_disk_used_bytes",
        "opsdeck_host_disk_total_bytes",
        "opsdeck_host_memory_used_bytes",
        "opsdeck_host_memory_total_bytes",
    ]
    .iter()
    .enumerate()
    {
        for (h, m) in &seen.hosts {
            let _ = writeln!(out, "{name}{{host=\"{}\"}} {}", label(h), m[i]);
        }
    }
    family(
        &mut out,
        "opsdeck_backup_age_seconds",
        "age of the newest verified backup",
        "gauge",
    );
    family(
        &mut out,
        "opsdeck_backup_size_bytes",
        "size of the newest verified backup",
        "gauge",
    );
    family(
        &mut out,
        "opsdeck_backup_verified",
        "1 when the newest backup is verified",
        "gauge",
    );
    for (i, name) in [
        "opsdeck_backup_age_seconds",
        "opsdeck_backup_size_bytes",
        "opsdeck_backup_verified",
    ]
    .iter()
    .enumerate()
    {
        for (db, (age, size, verified)) in &seen.backups {
            let v = [*age, *size, u64::from(*verified)][i];
            let _ = writeln!(out, "{name}{{database=\"{}\"}} {v}", label(db));
        }
    }
    family(
        &mut out,
        "opsdeck_alerting",
        "1 for each subject an alert is firing about",
        "gauge",
    );
    for s in alerting {
        let _ = writeln!(out, "opsdeck_alerting{{subject=\"{}\"}} 1", label(s));
    }
    out
}

/// Serve `page` on `listener` until `cancel`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    page: Arc<Mutex<String>>,
    cancel: CancellationToken,
) {
    loop {
        let (mut s, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        let page = page.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf)).await;
            let body = page.lock().map(|p| p.clone()).unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
            let _ = s.shutdown().await;
        });
    }
}
