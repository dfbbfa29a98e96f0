//! Which way each service of an app gets its new version, and why (the plan says both):
//! start-first (a new container beside the old one, no gap), in place (`--force-recreate`,
//! a gap, for services that cannot run twice), or run once (`*-migrate` one-shots).

use super::super::step::{Readiness, SwitchProxy};
use super::DeployInput;
use crate::error::Error;
use crate::inventory::{AppSpec, HostSpec, ProxyKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// New container beside the old, switched when ready and routed: no gap.
    StartFirst,
    /// Recreated in place: a gap while it restarts; `why` it cannot run twice.
    InPlace { why: String },
    /// A one-shot service run to completion before the web services.
    RunOnce,
}

/// A one-shot migration service by the usual naming (`api-migrate`, `migrate`).
pub fn is_one_shot(service: &str) -> bool {
    service == "migrate" || service.ends_with("-migrate") || service.ends_with("_migrate")
}

/// The strategy of one service of the app, from compose's resolved configuration.
pub fn choose(input: &DeployInput, service: &str) -> Result<Strategy, Error> {
    if is_one_shot(service) {
        return Ok(Strategy::RunOnce);
    }
    let Some(shape) = input.shapes.get(service) else {
        let known: Vec<&str> = input.shapes.keys().map(String::as_str).collect();
        return Err(Error::usage(format!(
            "app {}: service {service:?} is not in {} (compose lists: {})",
            input.app,
            input.spec.compose_file,
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )));
    };
    match shape.cannot_run_twice() {
        None => Ok(Strategy::StartFirst),
        Some(why) if input.spec.zero_downtime => Err(Error::usage(format!(
            "app {}: `zero_downtime = true`, but service {service} cannot be switched without a \
             gap: {why}. Drop that from the compose file, or set `zero_downtime = false` to \
             accept a gap for it",
            input.app
        ))),
        Some(why) => Ok(Strategy::InPlace { why }),
    }
}

/// How a new container of `service` is known ready: the app's health path, unless the
/// service is one of its `workers` (or the app has no health path).
pub fn readiness(spec: &AppSpec, service: &str) -> Readiness {
    match &spec.health {
        Some(h) if !spec.workers.iter().any(|w| w == service) => Readiness::Http {
            path: h.path.clone(),
            port: h.port,
        },
        _ => Readiness::Settle {
            secs: spec.settle().as_secs(),
        },
    }
}

/// For messages: `GET /health on :3000 answers` / `running 5s without a restart`.
pub fn describe_readiness(r: &Readiness) -> String {
    match r {
        Readiness::Http { path, port } => format!("GET {path} on :{port} answers"),
        Readiness::Settle { secs } => format!("running {secs}s without a restart"),
    }
}

/// What the switch needs from the host's proxy.
pub fn proxy_of(host: Option<&HostSpec>, spec: &AppSpec) -> SwitchProxy {
    let proxy = host.and_then(|h| h.proxy.as_ref());
    SwitchProxy {
        kind: proxy.map(|p| {
            match p.kind {
                ProxyKind::Traefik => "traefik",
                ProxyKind::Caddy => "caddy",
                ProxyKind::Nginx => "nginx",
            }
            .to_string()
        }),
        api: proxy
            .filter(|p| p.kind == ProxyKind::Traefik)
            .and_then(|p| p.api.clone()),
        entrypoint: proxy.and_then(|p| p.entrypoint.clone()),
        domains: spec.domains.clone(),
        probe_path: spec
            .health
            .as_ref()
            .map(|h| h.path.clone())
            .unwrap_or_else(|| "/".into()),
        reload: proxy
            .filter(|p| p.kind == ProxyKind::Nginx)
            .and_then(|p| p.container.clone()),
    }
}
