//! Running a route edit's steps: the atomic write, and the proofs that Traefik loaded the new
//! file (its API reports each router as the file says) and that the proxy answers.

use super::super::step::RouterExpect;
use super::{previous_path, read_routes};
use crate::error::Error;
use crate::host::Host;
use crate::routes::{self, api::ApiRouter, Route};
use std::path::Path;
use std::time::{Duration, Instant};

/// Step: write the routes file atomically, first keeping the old one as `FILE.previous`
/// (an extension Traefik's file provider ignores).
pub(in crate::ops) async fn write_routes(
    host: &Host,
    path: &str,
    contents: &str,
    keep_previous: bool,
) -> Result<String, Error> {
    routes::parse_file(contents)
        .map_err(|e| Error::failed(format!("refusing to write {path}: the new text is {e}")))?;
    if keep_previous {
        if let Some(old) = read_routes(host, path).await.map_err(Error::failed)? {
            host.write_file_atomic(Path::new(&previous_path(path)), old.as_bytes(), Some(0o644))
                .await?;
        }
    }
    host.write_file_atomic(Path::new(path), contents.as_bytes(), Some(0o644))
        .await?;
    Ok(format!("wrote {path} ({} bytes)", contents.len()))
}

impl RouterExpect {
    pub fn of(r: &Route) -> Self {
        Self {
            rule: r.rule.clone(),
            entrypoints: r.entrypoints.clone(),
            service: r.service.clone(),
            servers: r.targets.clone(),
        }
    }

    /// Why the router Traefik reports is not (yet) this one; `None` when it is.
    fn differs(&self, r: &ApiRouter) -> Option<String> {
        let strip = |s: &str| s.strip_suffix("@file").unwrap_or(s).to_string();
        if r.rule != self.rule {
            return Some(format!("the rule {}", r.rule));
        }
        let mut have = r.entrypoints.clone();
        let mut want = self.entrypoints.clone();
        have.sort();
        want.sort();
        if !want.is_empty() && have != want {
            return Some(format!("the entrypoints {}", have.join(",")));
        }
        match &self.service {
            Some(s) if strip(&r.service) != strip(s) => Some(format!("the service {}", r.service)),
            _ => None,
        }
    }
}

/// Step: wait until Traefik reports `router` loaded without errors (`present`), or gone.
pub(in crate::ops) async fn route_loaded(
    host: &Host,
    api: &str,
    router: &str,
    present: bool,
    expect: Option<&RouterExpect>,
    limit: Duration,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<String, Error> {
    let started = Instant::now();
    let mut last;
    loop {
        match routes::api::router(host, api, router).await {
            Ok(Some(r)) if present && expect.and_then(|e| e.differs(&r)).is_some() => {
                last = format!(
                    "{router} still has {} (did Traefik reject the new file? its log says why)",
                    expect.and_then(|e| e.differs(&r)).unwrap_or_default()
                )
            }
            Ok(Some(r)) if present && r.ok() && !servers_match(host, api, &r, expect).await => {
                last = format!(
                    "{router}: service {} does not have the new servers yet",
                    r.service
                )
            }
            Ok(Some(r)) if present && r.ok() => {
                return Ok(format!(
                    "{router}: {} on {}",
                    r.status,
                    r.entrypoints.join(",")
                ))
            }
            Ok(Some(r)) if present && !r.errors.is_empty() => {
                return Err(Error::failed(format!(
                    "Traefik reports router {router} as {}: {}",
                    r.status,
                    r.errors.join("; ")
                )))
            }
            Ok(None) if !present => return Ok(format!("Traefik no longer has {router}")),
            Ok(Some(r)) if present => last = format!("{router} is {}", r.status),
            Ok(Some(r)) => {
                last = format!(
                    "{router} is still {} (did Traefik reject the new file? its log says why)",
                    r.status
                )
            }
            Ok(None) => {
                last = format!(
                "Traefik does not have {router} (did it reject the whole file? its log says why)"
            )
            }
            Err(e) => last = e,
        }
        if started.elapsed() >= limit {
            return Err(Error::failed(format!("after {}s: {last}", limit.as_secs())));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        }
    }
}

/// Whether the router's service has the servers the new file gives it (true when the file
/// does not define them).
async fn servers_match(
    host: &Host,
    api: &str,
    r: &ApiRouter,
    expect: Option<&RouterExpect>,
) -> bool {
    let Some(e) = expect.filter(|e| !e.servers.is_empty()) else {
        return true;
    };
    let name = if r.service.contains('@') {
        r.service.clone()
    } else {
        format!("{}@file", r.service)
    };
    let mut want = e.servers.clone();
    want.sort();
    matches!(routes::api::service_servers(host, api, &name).await, Ok(Some(have)) if have == want)
}

/// Step: GET `path` through the entrypoint with `Host: host_header` until it answers 2xx.
pub(in crate::ops) async fn route_answers(
    host: &Host,
    entrypoint: &str,
    host_header: &str,
    path: &str,
    limit: Duration,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<String, Error> {
    let started = Instant::now();
    let url = format!("{}{path}", entrypoint.trim_end_matches('/'));
    loop {
        let p =
            crate::http::probe(&url, Duration::from_secs(5), Some(host), Some(host_header)).await;
        if p.is_up(None) {
            return Ok(format!(
                "GET {path} with Host: {host_header} answered {} in {:.0} ms",
                p.status.unwrap_or(0),
                p.latency_ms.unwrap_or(0.0)
            ));
        }
        if started.elapsed() >= limit {
            let what = match (p.status, p.error) {
                (Some(s), _) => format!("answered {s}: {}", p.body.unwrap_or_default()),
                (None, Some(e)) => e,
                _ => "no answer".into(),
            };
            return Err(Error::failed(format!(
                "GET {url} with Host: {host_header} did not answer 2xx within {}s: {what}",
                limit.as_secs()
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        }
    }
}
