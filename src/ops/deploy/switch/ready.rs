//! When a new container is ready, and how many requests an old one still serves.

use super::{engine_err, Run};
use crate::docker::control;
use crate::docker::wait::{self, Look, Verdict, WaitError};
use crate::docker::State;
use crate::error::Error;
use crate::ops::step::Readiness;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

impl Run<'_, '_> {
    /// Wait until one new container is ready (the one wait primitive, `docker::wait`).
    pub(super) async fn wait_ready(&self, id: &str, limit: Duration) -> Result<String, Error> {
        let svc = self.sw.service.as_str();
        let last = Mutex::new(String::from("not inspected yet"));
        let settling: Mutex<Option<(Instant, i64)>> = Mutex::new(None);
        let waited = wait::until(limit, self.cx.cancel, || {
            let (last, settling) = (&last, &settling);
            async move {
                let i = control::inspect(&self.d, id)
                    .await
                    .map_err(|e| engine_err(&format!("inspect the new {svc}"), e))?;
                if let Some(out) = i.probe_output.as_deref().filter(|o| !o.trim().is_empty()) {
                    *last.lock().unwrap_or_else(|p| p.into_inner()) =
                        format!("docker health {}: {}", i.health.as_str(), out.trim());
                }
                let seen = || last.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if i.state == State::Restarting {
                    return Ok(Look::Failed(format!(
                        "the new {svc} is restarting (restart {}); last: {}",
                        i.restart_count,
                        seen()
                    )));
                }
                let look = match wait::verdict(&i) {
                    Verdict::Exited(code) => Look::Failed(format!(
                        "the new {svc} exited with status {code}; last: {}",
                        seen()
                    )),
                    Verdict::Unhealthy => {
                        Look::Failed(format!("the new {svc} is unhealthy; last: {}", seen()))
                    }
                    Verdict::Starting => {
                        *last.lock().unwrap_or_else(|p| p.into_inner()) =
                            format!("{}, health {}", i.state.as_str(), i.health.as_str());
                        Look::NotYet(seen())
                    }
                    Verdict::Healthy | Verdict::Running => match &self.sw.ready {
                        Readiness::Http { path, port } => match i.ip(None) {
                            None => Look::NotYet("the new container has no address yet".into()),
                            Some(ip) => {
                                let url = format!("http://{ip}:{port}{path}");
                                let p = crate::http::probe(
                                    &url,
                                    Duration::from_secs(5),
                                    Some(self.cx.host),
                                    None,
                                )
                                .await;
                                if p.is_up(None) {
                                    Look::Ready(format!(
                                        "GET {path} answered {} in {:.0} ms",
                                        p.status.unwrap_or(0),
                                        p.latency_ms.unwrap_or(0.0)
                                    ))
                                } else {
                                    *last.lock().unwrap_or_else(|p| p.into_inner()) =
                                        match (p.status, p.error) {
                                            (Some(s), _) => format!("GET {path} answered {s}"),
                                            (None, Some(e)) => format!("GET {path}: {e}"),
                                            _ => format!("GET {path}: no answer"),
                                        };
                                    Look::NotYet(seen())
                                }
                            }
                        },
                        Readiness::Settle { secs } => {
                            let (since, restarts) = *settling
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert((Instant::now(), i.restart_count));
                            if i.restart_count != restarts {
                                Look::Failed(format!("the new {svc} restarted while settling"))
                            } else if since.elapsed() >= Duration::from_secs(*secs) {
                                Look::Ready(format!("running and not restarting for {secs}s"))
                            } else {
                                Look::NotYet(format!(
                                    "running for {:.1}s",
                                    since.elapsed().as_secs_f64()
                                ))
                            }
                        }
                    },
                };
                Ok::<_, Error>(look)
            }
        })
        .await;
        waited.map_err(|e| match e {
            WaitError::TimedOut { limit, last } => Error::failed(format!(
                "the new {svc} was not ready within {}s; last: {last}",
                limit.as_secs()
            )),
            WaitError::Look(e) => e,
            WaitError::Cancelled => Error::cancelled(),
            WaitError::Failed(m) => Error::failed(m),
        })
    }

    /// Established connections to the ports the container listens on (`None`: unreadable).
    pub(super) async fn in_flight(&self, pid: i64) -> Option<usize> {
        if pid <= 0 {
            return None;
        }
        let mut text = String::new();
        let mut any = false;
        for f in ["tcp", "tcp6"] {
            let path = std::path::PathBuf::from(format!("/proc/{pid}/net/{f}"));
            if let Ok(Some(b)) = self.cx.host.read_optional(&path).await {
                any = true;
                text.push_str(&String::from_utf8_lossy(&b));
            }
        }
        any.then(|| established_to_listeners(&text))
    }
}

/// In `/proc/PID/net/tcp` text: connections ESTABLISHED on a port that is also LISTENing.
pub(super) fn established_to_listeners(text: &str) -> usize {
    let rows: Vec<(u32, &str)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f.get(1)?;
            let port = u32::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            Some((port, *f.get(3)?))
        })
        .collect();
    let listening: BTreeSet<u32> = rows
        .iter()
        .filter(|(_, st)| *st == "0A")
        .map(|(p, _)| *p)
        .collect();
    rows.iter()
        .filter(|(p, st)| *st == "01" && listening.contains(p))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_established_connections_to_listening_ports_only() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n   1: 0200110A:0050 0100110A:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2\n   2: 0200110A:0050 0100110A:D2F2 06 00000000:00000000 00:00000000 00000000     0        0 3\n   3: 0200110A:9C40 0500110A:1538 01 00000000:00000000 00:00000000 00000000     0        0 4\n";
        // One established on :80 (listening); TIME_WAIT and the outgoing one do not count.
        assert_eq!(established_to_listeners(tcp), 1);
        assert_eq!(established_to_listeners(""), 0);
    }
}
