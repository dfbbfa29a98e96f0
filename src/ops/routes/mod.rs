//! Routes: what a host's Traefik routes (`routes list`), and the safe edit of its routes file
//! (`routes add` / `routes remove`): validated before anything is written, written atomically
//! with the previous version kept, then proven through Traefik's API and a request through
//! the entrypoint; a failure puts the previous file back (the step's undo).

use super::action::check_router_name;
use super::select::{select_hosts, HostSelection};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{Inventory, ProxyKind, ProxySpec};
use crate::routes::{self, api::ApiRouter, Route};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// How long Traefik may take to load (or drop) a router after the file changed.
pub const LOAD_TIMEOUT_SECS: u64 = 20;
/// How long the new route may take to answer its health path through the proxy.
pub const ANSWER_TIMEOUT_SECS: u64 = 20;
/// The largest routes file opsdeck writes.
pub const MAX_FILE_BYTES: usize = routes::MAX_FILE_BYTES;
/// The health path every public service answers (seed 000).
pub const HEALTH_PATH: &str = "/health";

/// A route with what Traefik says about it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedRoute {
    #[serde(flatten)]
    pub route: Route,
    /// Traefik's status for the router (`enabled`, `disabled`, `warning`); `None` when the API
    /// was not reached or does not know the router.
    pub status: Option<String>,
    pub errors: Vec<String>,
}

/// `routes list` for one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostRoutes {
    pub host: String,
    pub routes_file: Option<String>,
    /// Why the routes file could not be read or parsed.
    pub file_error: Option<String>,
    /// Why the containers' labels could not be read.
    pub labels_error: Option<String>,
    pub api: Option<String>,
    /// Why the API could not be asked.
    pub api_error: Option<String>,
    pub routes: Vec<ListedRoute>,
    /// Every router Traefik reports (all providers), when the API was reached.
    pub api_routers: Vec<ApiRouter>,
}

/// The Traefik proxy of a host, or a usage error naming what is missing.
pub fn traefik_of<'a>(inv: &'a Inventory, host: &str) -> Result<&'a ProxySpec, Error> {
    let spec = inv
        .hosts
        .get(host)
        .ok_or_else(|| Error::usage(format!("no host named {host:?}")))?;
    match &spec.proxy {
        Some(p) if p.kind == ProxyKind::Traefik => Ok(p),
        Some(_) => Err(Error::usage(format!(
            "host {host}: its proxy is not Traefik; routes are edited for Traefik only"
        ))),
        None => Err(Error::usage(format!(
            "host {host} has no proxy: add [hosts.{host}.proxy] with kind = \"traefik\" and routes_file"
        ))),
    }
}

/// The one host a route edit applies to: the selection's only host with a Traefik proxy.
pub fn pick_host(inv: &Inventory, sel: &HostSelection) -> Result<String, Error> {
    let hosts = select_hosts(inv, sel)?;
    let with: Vec<&str> = hosts
        .iter()
        .map(|h| h.name())
        .filter(|h| traefik_of(inv, h).is_ok())
        .collect();
    match with.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(Error::usage(
            "no selected host has a Traefik proxy ([hosts.NAME.proxy] with kind = \"traefik\")",
        )),
        many => Err(Error::usage(format!(
            "several hosts have a Traefik proxy ({}); pick one with --host",
            many.join(", ")
        ))),
    }
}

/// Read the routes file; a missing file is empty.
async fn read_routes(host: &Host, path: &str) -> Result<Option<String>, String> {
    match host.read_optional(Path::new(path)).await {
        Ok(Some(b)) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| format!("{path} is not UTF-8 text")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("reading {path}: {e}")),
    }
}

/// The host's routes file: its path and text (`None`: it does not exist yet).
pub async fn read_file(
    inv: &Inventory,
    host_name: &str,
) -> Result<(String, Option<String>), Error> {
    let proxy = traefik_of(inv, host_name)?;
    let path = proxy.routes_file.clone().ok_or_else(|| {
        Error::usage(format!(
            "host {host_name}: set proxy.routes_file (the file provider's file)"
        ))
    })?;
    let host = super::select::host(inv, host_name)?;
    let text = read_routes(&host, &path).await.map_err(Error::failed)?;
    Ok((path, text))
}

/// Routes declared by container labels on the host.
pub async fn label_routes(host: &Host) -> Result<Vec<Route>, String> {
    let d = host.docker().await.map_err(|e| e.to_string())?;
    let cs = crate::docker::list_containers(&d, host.name())
        .await
        .map_err(|e| crate::docker::describe_error(&e))?;
    Ok(cs
        .iter()
        .flat_map(|c| routes::label_routes(&c.name, &c.labels))
        .collect())
}

/// Everything routed on one host.
pub async fn host_routes(inv: &Inventory, host: &Host) -> HostRoutes {
    let proxy = traefik_of(inv, host.name()).ok();
    let mut out = HostRoutes {
        host: host.name().to_string(),
        routes_file: proxy.and_then(|p| p.routes_file.clone()),
        file_error: None,
        labels_error: None,
        api: proxy.and_then(|p| p.api.clone()),
        api_error: None,
        routes: vec![],
        api_routers: vec![],
    };
    let mut found: Vec<Route> = Vec::new();
    if let Some(f) = &out.routes_file {
        match read_routes(host, f).await {
            Ok(text) => match routes::parse_file(text.as_deref().unwrap_or("")) {
                Ok(doc) => found.extend(routes::file_routes(&doc, f)),
                Err(e) => out.file_error = Some(format!("{f}: {e}")),
            },
            Err(e) => out.file_error = Some(e),
        }
    }
    match label_routes(host).await {
        Ok(r) => found.extend(r),
        Err(e) => out.labels_error = Some(e),
    }
    if let Some(api) = &out.api {
        match routes::api::routers(host, api).await {
            Ok(r) => out.api_routers = r,
            Err(e) => out.api_error = Some(e),
        }
    }
    out.routes = found
        .into_iter()
        .map(|route| {
            let a = out.api_routers.iter().find(|a| a.name == route.api_name());
            ListedRoute {
                status: a.map(|a| a.status.clone()),
                errors: a.map(|a| a.errors.clone()).unwrap_or_default(),
                route,
            }
        })
        .collect();
    out
}

/// `routes list`: every selected host with a Traefik proxy.
pub async fn list(inv: &Inventory, sel: &HostSelection) -> Result<Vec<HostRoutes>, Error> {
    let hosts = select_hosts(inv, sel)?;
    let hosts: Vec<Host> = hosts
        .into_iter()
        .filter(|h| traefik_of(inv, h.name()).is_ok())
        .collect();
    if hosts.is_empty() {
        return Err(Error::usage(
            "no selected host has a Traefik proxy ([hosts.NAME.proxy] with kind = \"traefik\")",
        ));
    }
    Ok(futures_util::future::join_all(hosts.iter().map(|h| host_routes(inv, h))).await)
}

/// `routes check`: one route probed through the proxy.
#[derive(Debug, Clone, Serialize)]
pub struct RouteCheck {
    pub host: String,
    pub router: String,
    pub provider: String,
    /// The Host header sent (the rule's first host name).
    pub host_header: Option<String>,
    pub url: Option<String>,
    pub status: Option<u16>,
    pub latency_ms: Option<f64>,
    /// What Traefik says about the router.
    pub traefik_status: Option<String>,
    pub result: CheckResult,
    pub detail: Option<String>,
}

/// How a route's probe went (`ok`, `failed`, `skipped` in JSON and tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Ok,
    Failed,
    /// Not probed (a path-routed router, a host without an entrypoint).
    Skipped,
}

impl CheckResult {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckResult::Ok => "ok",
            CheckResult::Failed => "failed",
            CheckResult::Skipped => "skipped",
        }
    }
}

/// `routes check [NAME]`: GET the health path through each host's entrypoint with each
/// route's Host header (concurrently). Routes with a path matcher are listed, not probed.
pub async fn check(
    inv: &Inventory,
    sel: &HostSelection,
    name: Option<&str>,
) -> Result<(Vec<RouteCheck>, Vec<String>), Error> {
    if let Some(n) = name {
        check_router_name("router", n)?;
    }
    let listed = list(inv, sel).await?;
    let mut problems = Vec::new();
    let mut jobs = Vec::new();
    for h in &listed {
        problems.extend(
            [&h.file_error, &h.labels_error, &h.api_error]
                .into_iter()
                .flatten()
                .map(|e| format!("{}: {e}", h.host)),
        );
        let entry = traefik_of(inv, &h.host)
            .ok()
            .and_then(|p| p.entrypoint.clone());
        for r in h
            .routes
            .iter()
            .filter(|r| name.is_none_or(|n| r.route.router == n))
        {
            jobs.push((h.host.clone(), entry.clone(), r.clone()));
        }
    }
    if let Some(n) = name {
        if jobs.is_empty() {
            return Err(Error::usage(format!(
                "no route named {n} on the selected hosts (see opsdeck routes list)"
            )));
        }
    }
    let probes = jobs.into_iter().map(|(host_name, entry, r)| async move {
        let mut c = RouteCheck {
            host: host_name.clone(),
            router: r.route.router.clone(),
            provider: r.route.provider.clone(),
            host_header: r.route.hosts.first().cloned(),
            url: None,
            status: None,
            latency_ms: None,
            traefik_status: r.status.clone(),
            result: CheckResult::Skipped,
            detail: None,
        };
        let (Some(entry), Some(h)) = (entry, c.host_header.clone()) else {
            c.detail = Some(if c.host_header.is_none() {
                "the rule has no Host matcher".into()
            } else {
                format!("host {host_name} has no proxy.entrypoint to probe through")
            });
            return c;
        };
        if r.route.rule.contains("Path") {
            c.detail = Some(format!("path-routed ({}): not probed", r.route.rule));
            return c;
        }
        let url = format!("{}{HEALTH_PATH}", entry.trim_end_matches('/'));
        c.url = Some(url.clone());
        let host = match inv
            .hosts
            .get(&host_name)
            .map(|_| super::select::host(inv, &host_name))
        {
            Some(Ok(host)) => host,
            Some(Err(e)) => {
                c.result = CheckResult::Failed;
                c.detail = Some(e.message);
                return c;
            }
            None => return c,
        };
        let p = crate::http::probe(&url, Duration::from_secs(5), Some(&host), Some(&h)).await;
        c.status = p.status;
        c.latency_ms = p.latency_ms;
        if p.is_up(None) {
            c.result = CheckResult::Ok;
        } else {
            c.result = CheckResult::Failed;
            c.detail = Some(match (p.status, p.error) {
                (Some(404), _) => {
                    "404: Traefik has no router for this Host (see the TRAEFIK column)".into()
                }
                (Some(502 | 504), _) => {
                    "the proxy cannot reach the backend (network? port?)".into()
                }
                (Some(s), _) => format!("answered {s}: {}", p.body.unwrap_or_default()),
                (None, Some(e)) => e,
                (None, None) => "no answer".into(),
            });
        }
        c
    });
    Ok((futures_util::future::join_all(probes).await, problems))
}

/// Check the whole text of a routes file before it is applied (the console's editor and
/// `routes apply` both ask here first); on success, its routes.
pub fn check_text(text: &str, source: &str) -> Result<Vec<Route>, routes::FileProblem> {
    routes::check_file(text, source)
}

/// Where the routes file's previous version is kept.
pub(crate) fn previous_path(file: &str) -> String {
    format!("{file}.previous")
}

mod exec;
mod plan;

pub(in crate::ops) use exec::{route_answers, route_loaded, write_routes};
pub use plan::{gather, plan, plan_routes, RoutesInput};
