//! Routes: what a host's Traefik routes (`routes list`), and the safe edit of its routes file
//! (`routes add` / `routes remove`): validated before anything is written, written atomically
//! with the previous version kept, then proven through Traefik's API and a request through
//! the entrypoint; a failure puts the previous file back (the step's undo).

use super::action::{check_router_name, target_url, Action};
use super::select::{select_hosts, HostSelection};
use super::step::{Plan, RouterExpect, Step, StepKind};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{Inventory, ProxyKind, ProxySpec};
use crate::routes::{self, api::ApiRouter, rule, NewRoute, Route};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

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
    /// `ok`, `failed` or `skipped`.
    pub result: String,
    pub detail: Option<String>,
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
            result: "skipped".into(),
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
                c.result = "failed".into();
                c.detail = Some(e.message);
                return c;
            }
            None => return c,
        };
        let p = crate::http::probe(&url, Duration::from_secs(5), Some(&host), Some(&h)).await;
        c.status = p.status;
        c.latency_ms = p.latency_ms;
        if p.is_up(None) {
            c.result = "ok".into();
        } else {
            c.result = "failed".into();
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

/// What a route edit is planned from.
#[derive(Debug, Clone)]
pub struct RoutesInput {
    pub host: String,
    pub routes_file: String,
    pub api: String,
    pub entrypoint_url: Option<String>,
    /// The file now (`None`: it does not exist).
    pub current: Option<String>,
    /// Every route on the host (file and labels).
    pub existing: Vec<Route>,
    /// The routers Traefik reports.
    pub api_routers: Vec<ApiRouter>,
}

/// Read what a route edit needs from the host: the file, the label routes, the API.
pub async fn gather(inv: &Inventory, host_name: &str) -> Result<(RoutesInput, Host), Error> {
    let proxy = traefik_of(inv, host_name)?;
    let file = proxy.routes_file.clone().ok_or_else(|| {
        Error::usage(format!(
            "host {host_name}: set proxy.routes_file (the file provider's file) to edit routes"
        ))
    })?;
    let api = proxy.api.clone().ok_or_else(|| {
        Error::usage(format!(
            "host {host_name}: set proxy.api (Traefik's API, e.g. http://127.0.0.1:8080): a route edit is confirmed through it"
        ))
    })?;
    let host = super::select::host(inv, host_name)?;
    let current = read_routes(&host, &file).await.map_err(Error::failed)?;
    let doc = routes::parse_file(current.as_deref().unwrap_or("")).map_err(|e| {
        Error::usage(format!(
            "{file} on {host_name}: {e}; fix it (or restore {file}.previous) before editing"
        ))
    })?;
    let mut existing = routes::file_routes(&doc, &file);
    existing.extend(label_routes(&host).await.map_err(Error::failed)?);
    let api_routers = routes::api::routers(&host, &api).await.map_err(|e| {
        Error::unreachable(format!(
            "Traefik's API on {host_name} does not answer ({e}); nothing was changed"
        ))
    })?;
    Ok((
        RoutesInput {
            host: host_name.to_string(),
            routes_file: file,
            api,
            entrypoint_url: proxy.entrypoint.clone(),
            current,
            existing,
            api_routers,
        },
        host,
    ))
}

fn previous_path(file: &str) -> String {
    format!("{file}.previous")
}

/// The planner of `routes add` / `routes remove` / `routes apply` (the signature every
/// planner has).
pub async fn plan(inv: &Inventory, _hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    let host = match action {
        Action::RouteAdd { host, .. }
        | Action::RouteRemove { host, .. }
        | Action::RoutesApply { host, .. } => host,
        other => {
            return Err(Error::usage(format!(
                "{} is not a route edit",
                other.name()
            )));
        }
    };
    let (input, _) = gather(inv, host).await?;
    plan_routes(action, &input)
}

/// Plan `routes add` / `routes remove`. Pure: refusals here are exit 2, nothing written.
pub fn plan_routes(action: &Action, input: &RoutesInput) -> Result<Plan, Error> {
    let file = &input.routes_file;
    let current = input.current.clone().unwrap_or_default();
    let restore = StepKind::WriteRoutes {
        path: file.clone(),
        contents: if input.current.is_some() {
            current.clone()
        } else {
            "{}\n".into()
        },
        keep_previous: false,
    };
    let mut steps = Vec::new();
    match action {
        Action::RouteAdd {
            name,
            rule,
            to,
            entrypoint,
            cert_resolver,
            ..
        } => {
            let hosts = rule::check(rule).map_err(|e| Error::usage(format!("--rule: {e}")))?;
            if let Some(r) = input.existing.iter().find(|r| &r.router == name) {
                return Err(Error::usage(format!(
                    "a router named {name} already exists ({} route from {}); nothing was written",
                    r.provider, r.source
                )));
            }
            // Traefik's own routers (`api@internal`, ...) live in another namespace.
            if let Some(a) = input
                .api_routers
                .iter()
                .filter(|a| a.provider != "internal" && !a.name.ends_with("@internal"))
                .find(|a| a.name.split('@').next() == Some(name.as_str()))
            {
                return Err(Error::usage(format!(
                    "Traefik already has a router named {}; nothing was written",
                    a.name
                )));
            }
            for h in &hosts {
                if let Some(r) = input.existing.iter().find(|r| r.hosts.contains(h)) {
                    return Err(Error::usage(format!(
                        "{h} is already routed by {} ({} route from {}, rule {}); remove that route first. Nothing was written",
                        r.router, r.provider, r.source, r.rule
                    )));
                }
            }
            let new = routes::add_route(
                &current,
                &NewRoute {
                    name: name.clone(),
                    rule: rule.clone(),
                    url: target_url(to)?,
                    entrypoint: entrypoint.clone(),
                    cert_resolver: cert_resolver.clone(),
                },
            )
            .map_err(|e| Error::usage(format!("{file}: {e}; nothing was written")))?;
            steps.push(Step {
                name: format!("write {file} with router {name} (previous kept as {file}.previous)"),
                kind: StepKind::WriteRoutes {
                    path: file.clone(),
                    contents: new,
                    keep_previous: true,
                },
                // Put the file back, and wait until Traefik has dropped the new router again.
                undo: vec![
                    restore,
                    StepKind::RouteLoaded {
                        api: input.api.clone(),
                        router: format!("{name}@file"),
                        present: false,
                        expect: None,
                        timeout_secs: LOAD_TIMEOUT_SECS,
                    },
                ],
            });
            steps.push(Step {
                name: format!("Traefik loads router {name}@file without errors"),
                kind: StepKind::RouteLoaded {
                    api: input.api.clone(),
                    router: format!("{name}@file"),
                    present: true,
                    expect: Some(RouterExpect {
                        rule: rule.clone(),
                        entrypoints: entrypoint.iter().cloned().collect(),
                        service: Some(name.clone()),
                        servers: vec![target_url(to)?],
                    }),
                    timeout_secs: LOAD_TIMEOUT_SECS,
                },
                undo: vec![],
            });
            let entry = input.entrypoint_url.clone().ok_or_else(|| {
                Error::usage(format!(
                    "host {}: set proxy.entrypoint (where Host-header probes go, e.g. http://127.0.0.1:80)",
                    input.host
                ))
            })?;
            steps.push(Step {
                name: format!(
                    "GET {HEALTH_PATH} through {entry} with Host: {} answers 2xx",
                    hosts[0]
                ),
                kind: StepKind::RouteAnswers {
                    entrypoint: entry,
                    host_header: hosts[0].clone(),
                    path: HEALTH_PATH.into(),
                    timeout_secs: ANSWER_TIMEOUT_SECS,
                },
                undo: vec![],
            });
        }
        Action::RouteRemove { name, .. } => {
            if !input
                .existing
                .iter()
                .any(|r| &r.router == name && r.provider == "file")
            {
                let hint = match input.existing.iter().find(|r| &r.router == name) {
                    Some(r) => format!(
                        "; it is a label route of container {}: remove its traefik.* labels",
                        r.source
                    ),
                    None => String::new(),
                };
                return Err(Error::usage(format!(
                    "router {name} is not in {file}{hint}; nothing was written"
                )));
            }
            let new = routes::remove_route(&current, name)
                .map_err(|e| Error::usage(format!("{file}: {e}")))?;
            steps.push(Step {
                name: format!(
                    "write {file} without router {name} (previous kept as {file}.previous)"
                ),
                kind: StepKind::WriteRoutes {
                    path: file.clone(),
                    contents: new,
                    keep_previous: true,
                },
                undo: vec![restore],
            });
            steps.push(Step {
                name: format!("Traefik drops router {name}@file"),
                kind: StepKind::RouteLoaded {
                    api: input.api.clone(),
                    router: format!("{name}@file"),
                    present: false,
                    expect: None,
                    timeout_secs: LOAD_TIMEOUT_SECS,
                },
                undo: vec![],
            });
        }
        Action::RoutesApply { contents, .. } => {
            let removed = plan_apply(input, contents, restore, &mut steps)?;
            return Ok(Plan {
                action: action.clone(),
                host: input.host.clone(),
                lock: "routes".into(),
                app: None,
                // Dropping routers takes sites offline: that needs a confirmation.
                destructive: removed > 0,
                steps,
            });
        }
        _ => return Err(Error::usage("not a route action")),
    }
    Ok(Plan {
        action: action.clone(),
        host: input.host.clone(),
        lock: "routes".into(),
        app: None,
        destructive: action.is_destructive(),
        steps,
    })
}

/// Steps of `routes apply`: check the whole new file, write it, then prove every router of it
/// loaded with its new rule, the dropped ones gone, and the new or changed ones answering.
/// Returns how many routers the new file drops.
fn plan_apply(
    input: &RoutesInput,
    contents: &str,
    restore: StepKind,
    steps: &mut Vec<Step>,
) -> Result<usize, Error> {
    let file = &input.routes_file;
    let new = routes::check_file(contents, file)
        .map_err(|e| Error::usage(format!("{file}: {e}; nothing was written")))?;
    let current = input.current.clone().unwrap_or_default();
    if contents == current {
        return Err(Error::usage(format!(
            "{file} already has this text; nothing to apply"
        )));
    }
    let old: Vec<&Route> = input
        .existing
        .iter()
        .filter(|r| r.provider == "file")
        .collect();
    // A host name routed by a container label stays routed there: refuse a second router.
    for r in &new {
        for h in &r.hosts {
            if let Some(l) = input
                .existing
                .iter()
                .find(|l| l.provider != "file" && l.hosts.contains(h))
            {
                return Err(Error::usage(format!(
                    "router {}: {h} is already routed by {} (label route of container {}); nothing was written",
                    r.router, l.router, l.source
                )));
            }
        }
    }
    let changed: Vec<&Route> = new.iter().filter(|r| !old.iter().any(|o| o == r)).collect();
    let added: Vec<&Route> = new
        .iter()
        .filter(|r| !old.iter().any(|o| o.router == r.router))
        .collect();
    let dropped: Vec<&&Route> = old
        .iter()
        .filter(|o| !new.iter().any(|r| r.router == o.router))
        .collect();
    let entry = input.entrypoint_url.clone();
    if entry.is_none() && changed.iter().any(|r| !r.hosts.is_empty()) {
        return Err(Error::usage(format!(
            "host {}: set proxy.entrypoint (where Host-header probes go, e.g. http://127.0.0.1:80) so new routes can be proven",
            input.host
        )));
    }
    // Undo: the old text back, then wait until Traefik serves it again: the new routers gone,
    // the changed ones (that Traefik had loaded cleanly) back to what they were.
    let mut undo = vec![restore];
    undo.extend(added.iter().map(|r| StepKind::RouteLoaded {
        api: input.api.clone(),
        router: r.api_name(),
        present: false,
        expect: None,
        timeout_secs: LOAD_TIMEOUT_SECS,
    }));
    undo.extend(
        old.iter()
            .filter(|o| changed.iter().any(|c| c.router == o.router))
            .filter(|o| {
                input
                    .api_routers
                    .iter()
                    .any(|a| a.name == o.api_name() && a.ok())
            })
            .map(|o| StepKind::RouteLoaded {
                api: input.api.clone(),
                router: o.api_name(),
                present: true,
                expect: Some(RouterExpect::of(o)),
                timeout_secs: LOAD_TIMEOUT_SECS,
            }),
    );
    steps.push(Step {
        name: format!(
            "write {file}: {} routers ({} new or changed, {} dropped; previous kept as {file}.previous)",
            new.len(),
            changed.len(),
            dropped.len()
        ),
        kind: StepKind::WriteRoutes {
            path: file.clone(),
            contents: contents.to_string(),
            keep_previous: true,
        },
        undo,
    });
    for r in &new {
        steps.push(Step {
            name: format!("Traefik has router {} without errors", r.api_name()),
            kind: StepKind::RouteLoaded {
                api: input.api.clone(),
                router: r.api_name(),
                present: true,
                expect: Some(RouterExpect::of(r)),
                timeout_secs: LOAD_TIMEOUT_SECS,
            },
            undo: vec![],
        });
    }
    for r in &dropped {
        steps.push(Step {
            name: format!("Traefik drops router {}", r.api_name()),
            kind: StepKind::RouteLoaded {
                api: input.api.clone(),
                router: r.api_name(),
                present: false,
                expect: None,
                timeout_secs: LOAD_TIMEOUT_SECS,
            },
            undo: vec![],
        });
    }
    if let Some(entry) = entry {
        // A rule with a path matcher may not route /health: those are proven by the API only.
        for r in changed
            .iter()
            .filter(|r| !r.hosts.is_empty() && !r.rule.contains("Path"))
        {
            steps.push(Step {
                name: format!(
                    "GET {HEALTH_PATH} through {entry} with Host: {} answers 2xx ({})",
                    r.hosts[0], r.router
                ),
                kind: StepKind::RouteAnswers {
                    entrypoint: entry.clone(),
                    host_header: r.hosts[0].clone(),
                    path: HEALTH_PATH.into(),
                    timeout_secs: ANSWER_TIMEOUT_SECS,
                },
                undo: vec![],
            });
        }
    }
    Ok(dropped.len())
}

/// Step: write the routes file atomically, first keeping the old one as `FILE.previous`
/// (an extension Traefik's file provider ignores).
pub(super) async fn write_routes(
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
pub(super) async fn route_loaded(
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
            _ = cancel.cancelled() => return Err(Error::failed("cancelled")),
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
pub(super) async fn route_answers(
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
            _ = cancel.cancelled() => return Err(Error::failed("cancelled")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "http:
  routers:
    shop:
      rule: \"Host(`shop.test`)\"
      service: shop
    blog:
      rule: \"Host(`blog.test`)\"
      service: blog
  services:
    shop:
      loadBalancer:
        servers:
          - url: http://shop:80
    blog:
      loadBalancer:
        servers:
          - url: http://blog:80
";

    fn input() -> RoutesInput {
        let doc = routes::parse_file(FILE).expect("parses");
        let mut existing = routes::file_routes(&doc, "/srv/routes.yml");
        existing.extend(routes::label_routes(
            "docs",
            &[
                ("traefik.enable", "true"),
                ("traefik.http.routers.docs.rule", "Host(`docs.test`)"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ));
        RoutesInput {
            host: "alpha".into(),
            routes_file: "/srv/routes.yml".into(),
            api: "http://127.0.0.1:8080".into(),
            entrypoint_url: Some("http://127.0.0.1:80".into()),
            current: Some(FILE.into()),
            existing,
            api_routers: vec![],
        }
    }

    fn apply(contents: &str) -> Result<Plan, Error> {
        let a = Action::RoutesApply {
            host: "alpha".into(),
            contents: contents.into(),
        };
        plan_routes(&a, &input())
    }

    #[test]
    fn apply_plans_a_checked_write_then_proves_every_router() {
        // blog moves to a new host, shop stays, wiki is new.
        let new = FILE
            .replace("Host(`blog.test`)", "Host(`blog2.test`)")
            .replace(
                "  services:\n",
                "    wiki:\n      rule: \"Host(`wiki.test`) && PathPrefix(`/w`)\"\n      service: blog\n  services:\n",
            );
        let p = apply(&new).expect("plan");
        assert!(!p.destructive, "nothing dropped");
        assert_eq!(p.lock, "routes");
        let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
        assert!(
            names[0].starts_with("write /srv/routes.yml: 3 routers (2 new or changed, 0 dropped"),
            "{names:?}"
        );
        // Every router of the new file must load with its new rule.
        for r in ["shop@file", "blog@file", "wiki@file"] {
            assert!(
                p.steps.iter().any(|s| matches!(&s.kind, StepKind::RouteLoaded { router, present: true, expect: Some(_), .. } if router == r)),
                "{r}: {names:?}"
            );
        }
        // Only the changed plain-Host router is probed through the proxy (the path one is not).
        let probes: Vec<&str> = p
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::RouteAnswers { host_header, .. } => Some(host_header.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(probes, vec!["blog2.test"]);
        // The write's undo puts the old text back and waits for the new router to go.
        assert!(
            matches!(&p.steps[0].undo[0], StepKind::WriteRoutes { contents, keep_previous: false, .. } if contents == FILE)
        );
        assert!(p.steps[0].undo.iter().any(|u| matches!(u, StepKind::RouteLoaded { router, present: false, .. } if router == "wiki@file")));
    }

    #[test]
    fn apply_refuses_bad_text_no_change_and_taken_hosts_and_asks_before_dropping() {
        for (text, why) in [
            ("http:\n  routers: [\n", "not valid YAML"),
            (FILE, "already has this text"),
            (
                &FILE.replace("service: blog\n  services", "service: nope\n  services"),
                "not defined",
            ),
            (
                &FILE.replace("Host(`blog.test`)", "Host(`docs.test`)"),
                "already routed by docs",
            ),
            (
                &FILE.replace("rule: \"Host(`blog.test`)\"", "rule: \"Hots(`blog.test`)\""),
                "rule",
            ),
        ] {
            let e = apply(text).expect_err(text);
            assert_eq!(
                e.kind,
                crate::error::ExitKind::Usage,
                "{text}: {}",
                e.message
            );
            assert!(e.message.contains(why), "{text}: {}", e.message);
        }
        // Dropping blog: destructive, and Traefik must drop it.
        let start = FILE.find("    blog:\n      rule").expect("blog router");
        let end = FILE.find("  services:").expect("services");
        let dropped = format!("{}{}", &FILE[..start], &FILE[end..]);
        let p = apply(&dropped).expect("plan");
        assert!(p.destructive);
        assert!(p.steps.iter().any(|s| matches!(&s.kind, StepKind::RouteLoaded { router, present: false, .. } if router == "blog@file")));
        // Without an entrypoint a new route cannot be proven: refused.
        let mut i = input();
        i.entrypoint_url = None;
        let a = Action::RoutesApply {
            host: "alpha".into(),
            contents: FILE.replace("Host(`blog.test`)", "Host(`blog2.test`)"),
        };
        let e = plan_routes(&a, &i).expect_err("no entrypoint");
        assert!(e.message.contains("proxy.entrypoint"), "{}", e.message);
    }
}
