//! `doctor APP`: the "why is my site down / 404" checklist of seed 001, each step with a
//! verdict and a hint. Read-only: it changes nothing, so it takes no lock.
//!
//! DNS answers can be overridden with `OPSDECK_RESOLVE=name:ip,name:ip` (tests, split
//! horizons): a name listed there resolves to exactly those addresses.

use super::query::{belongs_to_app, find_app};
use super::routes::{host_routes, ListedRoute};
use crate::docker::compose::{Project, ProjectOnHost};
use crate::docker::{ContainerInfo, Health, State};
use crate::error::Error;
use crate::host::{Cmd, Host};
use crate::inventory::{AppSpec, HealthSpec, Inventory, ProxySpec};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Certificates expiring sooner than this fail the TLS step.
pub const CERT_MIN_DAYS: i64 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not applicable (e.g. TLS on a plain-http site); does not fail the run.
    Skip,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorStep {
    /// Stable id: `dns`, `containers`, `network`, `route`, `health_direct`, `health_proxy`,
    /// `tls`, `proxy_logs`.
    pub id: String,
    pub name: String,
    pub verdict: Verdict,
    pub detail: Vec<String>,
    /// What to do about a failure.
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub app: String,
    pub host: String,
    pub ok: bool,
    pub steps: Vec<DoctorStep>,
}

fn step(id: &str, name: &str) -> DoctorStep {
    DoctorStep {
        id: id.into(),
        name: name.into(),
        verdict: Verdict::Pass,
        detail: vec![],
        hint: None,
    }
}

impl DoctorStep {
    fn fail(&mut self, detail: String, hint: String) {
        self.verdict = Verdict::Fail;
        self.detail.push(detail);
        if self.hint.is_none() {
            self.hint = Some(hint);
        }
    }
    fn skip(mut self, why: &str) -> Self {
        self.verdict = Verdict::Skip;
        self.detail.push(why.into());
        self
    }
}

/// The `OPSDECK_RESOLVE` overrides: `name:ip,name:ip`.
pub fn resolve_overrides(spec: &str) -> Vec<(String, IpAddr)> {
    spec.split(',')
        .filter_map(|p| {
            let (n, ip) = p.trim().split_once(':')?;
            Some((n.trim().to_ascii_lowercase(), ip.trim().parse().ok()?))
        })
        .collect()
}

async fn resolve(name: &str) -> Result<Vec<IpAddr>, String> {
    if let Ok(spec) = std::env::var("OPSDECK_RESOLVE") {
        let o: Vec<IpAddr> = resolve_overrides(&spec)
            .into_iter()
            .filter(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, ip)| ip)
            .collect();
        if !o.is_empty() {
            return Ok(o);
        }
    }
    // RFC 6761: `localhost` and `*.localhost` are loopback, whatever the system resolver
    // (glibc without systemd-resolved) says.
    if crate::http::is_loopback_name(name) {
        return Ok(vec![
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ]);
    }
    let addrs = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host(format!("{name}:0")),
    )
    .await
    .map_err(|_| "no DNS answer within 5 s".to_string())?
    .map_err(|e| e.to_string())?;
    let mut v: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
    v.sort();
    v.dedup();
    Ok(v)
}

/// The addresses the host is known by: its SSH name resolved, and what the host itself
/// reports (`hostname -I`), and loopback for this machine.
async fn host_addresses(host: &Host) -> Vec<IpAddr> {
    let mut out = Vec::new();
    match host.ssh_target() {
        Some(t) => {
            if let Ok(a) = resolve(&t.host).await {
                out.extend(a);
            }
        }
        None => out.extend(
            ["127.0.0.1", "::1"]
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok()),
        ),
    }
    let cmd = Cmd::new("hostname")
        .arg("-I")
        .timeout(Duration::from_secs(5));
    if let Ok(o) = host.exec(&cmd, &CancellationToken::new()).await {
        if o.success() {
            out.extend(
                o.stdout_str()
                    .split_whitespace()
                    .filter_map(|a| a.parse::<IpAddr>().ok()),
            );
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The container's address, on `network` when given (the proxy's), else on any network.
async fn container_ip(host: &Host, c: &ContainerInfo, network: Option<&str>) -> Option<String> {
    let d = host.docker().await.ok()?;
    let i = crate::docker::control::inspect(&d, &c.id).await.ok()?;
    i.ip(network).map(str::to_string)
}

/// What every check reads: the app, its host, and what the earlier checks found.
struct Ctx<'a> {
    inv: &'a Inventory,
    app: &'a str,
    spec: AppSpec,
    host: Host,
    proxy: Option<ProxySpec>,
    /// The app's own containers (found by the containers step).
    containers: Vec<ContainerInfo>,
    /// The host's routes (found by the route step; none without a proxy).
    listed: Vec<ListedRoute>,
}

impl<'a> Ctx<'a> {
    fn new(inv: &'a Inventory, app: &'a str) -> Result<Self, Error> {
        let spec: AppSpec = find_app(inv, app)?.clone();
        let host_spec = inv.hosts.get(&spec.host).ok_or_else(|| {
            Error::usage(format!(
                "app {app}: host {:?} is not in the inventory",
                spec.host
            ))
        })?;
        let host = super::select::host(inv, &spec.host)?;
        let proxy = host_spec.proxy.clone();
        Ok(Ctx {
            inv,
            app,
            spec,
            host,
            proxy,
            containers: vec![],
            listed: vec![],
        })
    }

    fn running(&self) -> Vec<&ContainerInfo> {
        self.containers
            .iter()
            .filter(|c| c.state == State::Running)
            .collect()
    }

    fn proxy_network(&self) -> Option<&str> {
        self.proxy.as_ref().and_then(|p| p.network.as_deref())
    }

    fn entrypoint(&self) -> Option<&str> {
        self.proxy.as_ref().and_then(|p| p.entrypoint.as_deref())
    }

    /// The route names one of the app's domains.
    fn serves_app_domain(&self, r: &ListedRoute) -> bool {
        self.spec
            .domains
            .iter()
            .any(|d| r.route.hosts.contains(&d.to_ascii_lowercase()))
    }
}

/// Run the checklist for `app`.
pub async fn run(inv: &Inventory, app: &str) -> Result<DoctorReport, Error> {
    let mut cx = Ctx::new(inv, app)?;
    let steps = vec![
        check_dns(&cx).await,
        check_containers(&mut cx).await,
        check_network(&cx),
        check_route(&mut cx).await,
        check_health_direct(&cx).await,
        check_health_proxy(&cx).await,
        check_tls(&cx).await,
        check_proxy_logs(&cx).await,
    ];
    let ok = steps.iter().all(|s| s.verdict != Verdict::Fail);
    Ok(DoctorReport {
        app: app.to_string(),
        host: cx.spec.host,
        ok,
        steps,
    })
}

fn ips(a: &[IpAddr]) -> String {
    a.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each domain resolves to an address of the app's host.
async fn check_dns(cx: &Ctx<'_>) -> DoctorStep {
    let spec = &cx.spec;
    let mut s = step("dns", "DNS names resolve to the host's address");
    if spec.domains.is_empty() {
        return s.skip("the app has no domains in the inventory");
    }
    let mine = host_addresses(&cx.host).await;
    for d in &spec.domains {
        match resolve(d).await {
            Ok(a) if a.iter().any(|ip| mine.contains(ip)) => {
                s.detail.push(format!("{d} -> {}", ips(&a)))
            }
            Ok(a) => s.fail(
                format!("{d} -> {} (the host {} is {})", ips(&a), spec.host, ips(&mine)),
                format!(
                    "point the A/AAAA record of {d} at {} (DNS changes can take the record's TTL to show)",
                    mine.first().map(|i| i.to_string()).unwrap_or_else(|| "the host".into())
                ),
            ),
            Err(e) => s.fail(
                format!("{d}: does not resolve: {e}"),
                format!("create an A record for {d} pointing at the host {}", spec.host),
            ),
        }
    }
    s
}

/// The app's containers exist, run, and are not unhealthy; records them in `cx`.
async fn check_containers(cx: &mut Ctx<'_>) -> DoctorStep {
    let mut s = step("containers", "the app's containers are running and healthy");
    let project = app_project(cx, &mut s).await;
    cx.containers = app_containers(cx, project.as_ref(), &mut s).await;
    let (app, spec) = (cx.app, &cx.spec);
    if cx.containers.is_empty() && s.verdict == Verdict::Pass {
        s.fail(
            format!("no container of {app} exists on {}", spec.host),
            format!(
                "start the app: cd {} && docker compose up -d (or opsdeck deploy {app})",
                spec.dir
            ),
        );
    }
    for c in &cx.containers {
        judge_container(app, c, &mut s);
    }
    s
}

/// The app's compose project on its host, and whether its `.env` is sound.
async fn app_project(cx: &Ctx<'_>, s: &mut DoctorStep) -> Option<Project> {
    match super::query::app_project_checked(&cx.host, &cx.spec).await {
        Ok(ProjectOnHost {
            project: p,
            problem,
            ..
        }) => {
            s.detail.push(format!(
                "compose project {} (from {})",
                p.name,
                p.source.describe()
            ));
            if let Some(problem) = problem {
                s.fail(
                    problem,
                    format!(
                        "fix {}/.env: compose reads it on every command",
                        cx.spec.dir
                    ),
                );
            }
            Some(p)
        }
        Err(e) => {
            s.fail(
                format!("cannot read the app's compose settings: {e}"),
                "check that the host is reachable and the app's dir exists".to_string(),
            );
            None
        }
    }
}

/// The containers of `project` that run one of the app's services.
async fn app_containers(
    cx: &Ctx<'_>,
    project: Option<&Project>,
    s: &mut DoctorStep,
) -> Vec<ContainerInfo> {
    let (host, spec) = (&cx.host, &cx.spec);
    match host.docker().await {
        Ok(d) => match crate::docker::list_containers(&d, host.name()).await {
            Ok(cs) => cs
                .into_iter()
                .filter(|c| project.is_some_and(|p| belongs_to_app(c, p)))
                // The app's own services: a project may also hold a proxy, workers, a db.
                .filter(|c| {
                    spec.services.is_empty()
                        || c.service
                            .as_ref()
                            .is_some_and(|s| spec.services.contains(s))
                })
                .collect(),
            Err(e) => {
                s.fail(
                    format!("listing containers: {}", crate::docker::describe_error(&e)),
                    format!("check the Docker engine on {}", spec.host),
                );
                vec![]
            }
        },
        Err(e) => {
            s.fail(
                format!("the engine on {}: {e}", spec.host),
                format!("check that {} is reachable (opsdeck hosts)", spec.host),
            );
            vec![]
        }
    }
}

/// One container's line: running (and how healthy), completed, or why not.
fn judge_container(app: &str, c: &ContainerInfo, s: &mut DoctorStep) {
    match (c.state, c.health) {
        (State::Running, Health::Unhealthy) => s.fail(
            format!(
                "{} is running but unhealthy; last probe: {}",
                c.name,
                c.health_output
                    .clone()
                    .unwrap_or_else(|| "(no output)".into())
            ),
            format!("see why it fails its health check: opsdeck logs {app} --tail 100"),
        ),
        (State::Running, h) => s.detail.push(format!("{} running, {}", c.name, h.as_str())),
        _ if c.completed() => s
            .detail
            .push(format!("{} ran to completion (exit 0)", c.name)),
        (st, _) => s.fail(
            format!(
                "{} is {}{}",
                c.name,
                st.as_str(),
                c.exit_code
                    .map(|x| format!(" (exit {x})"))
                    .unwrap_or_default()
            ),
            format!("start it (opsdeck start {app}) and read its logs (opsdeck logs {app})"),
        ),
    }
}

/// Every running container is on the proxy's network.
fn check_network(cx: &Ctx<'_>) -> DoctorStep {
    let mut s = step("network", "the containers are on the proxy's network");
    let running = cx.running();
    match cx.proxy_network() {
        None => return s.skip("the host's proxy has no `network` in the inventory"),
        Some(_) if running.is_empty() => s.fail(
            "no running container to check".into(),
            "fix the containers step first".into(),
        ),
        Some(net) => {
            for c in &running {
                if c.networks.iter().any(|n| n == net) {
                    s.detail.push(format!("{} is on {net}", c.name));
                } else {
                    s.fail(
                        format!("{} is on {} but not on {net}", c.name, c.networks.join(", ")),
                        format!(
                            "attach it: docker network connect {net} {}, and declare {net} as an external network in the compose file",
                            c.name
                        ),
                    );
                }
            }
        }
    }
    s
}

/// Each domain has an enabled, error-free router; records the host's routes in `cx`.
async fn check_route(cx: &mut Ctx<'_>) -> DoctorStep {
    let mut s = step(
        "route",
        "a route exists for each domain and Traefik loads it without errors",
    );
    if cx.proxy.is_none() {
        return s.skip("the host has no proxy in the inventory");
    }
    let hr = host_routes(cx.inv, &cx.host).await;
    for e in [&hr.file_error, &hr.labels_error, &hr.api_error]
        .into_iter()
        .flatten()
    {
        s.detail.push(format!("note: {e}"));
    }
    cx.listed = hr.routes;
    if cx.spec.domains.is_empty() {
        return s.skip("the app has no domains in the inventory");
    }
    for d in &cx.spec.domains {
        judge_route(cx, &d.to_ascii_lowercase(), &mut s);
    }
    s
}

/// The router for domain `d` (lower case): enabled, broken, or missing.
fn judge_route(cx: &Ctx<'_>, d: &str, s: &mut DoctorStep) {
    match cx
        .listed
        .iter()
        .find(|r| r.route.hosts.iter().any(|h| h == d))
    {
        Some(r) if r.status.as_deref() == Some("enabled") && r.errors.is_empty() => {
            s.detail.push(format!(
                "{d}: router {} ({} route from {}) is enabled",
                r.route.api_name(),
                r.route.provider,
                r.route.source
            ))
        }
        Some(r) => s.fail(
            format!(
                "{d}: router {} is {}{}",
                r.route.api_name(),
                r.status
                    .clone()
                    .unwrap_or_else(|| "not reported by Traefik".into()),
                if r.errors.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.errors.join("; "))
                }
            ),
            format!(
                "fix router {} in {} (Traefik's log says why: docker logs <traefik> --tail 50)",
                r.route.router, r.route.source
            ),
        ),
        None => no_route(cx, d, s),
    }
}

/// No router names `d`: a route to this app under another name is the "wrong Host" case.
fn no_route(cx: &Ctx<'_>, d: &str, s: &mut DoctorStep) {
    let (app, spec) = (cx.app, &cx.spec);
    let app_names: Vec<&str> = cx.containers.iter().map(|c| c.name.as_str()).collect();
    let to_app = cx.listed.iter().find(|r| {
        app_names.iter().any(|n| {
            r.route.source == *n
                || r.route
                    .targets
                    .iter()
                    .any(|t| t.contains(&format!("//{n}:")))
        })
    });
    let also_serves = to_app.filter(|r| cx.serves_app_domain(r));
    match (to_app, also_serves) {
        (_, Some(r)) => s.fail(
            format!(
                "{d}: no route; router {} serves this app for {} only",
                r.route.router,
                r.route.hosts.join(", ")
            ),
            format!(
                "add the name to router {}: {} || Host(`{d}`) (in {})",
                r.route.router, r.route.rule, r.route.source
            ),
        ),
        (Some(r), None) => s.fail(
            format!(
                "{d}: no route; router {} sends {} to this app",
                r.route.router, r.route.rule
            ),
            format!(
                "the rule names the wrong host: make it Host(`{d}`) in {}",
                r.route.source
            ),
        ),
        (None, None) => s.fail(
            format!("{d}: no route names this host"),
            format!(
                "add one: opsdeck routes add {app} --rule 'Host(`{d}`)' --to CONTAINER:PORT --host {}",
                spec.host
            ),
        ),
    }
}

/// The health path answers from each running container, bypassing the proxy.
async fn check_health_direct(cx: &Ctx<'_>) -> DoctorStep {
    let mut s = step(
        "health_direct",
        "the health path answers from the container",
    );
    let running = cx.running();
    match (&cx.spec.health, running.is_empty()) {
        (None, _) => return s.skip("the app has no `health` (path, port) in the inventory"),
        (Some(_), true) => s.fail(
            "no running container to ask".into(),
            "fix the containers step first".into(),
        ),
        (Some(h), false) => {
            for c in &running {
                probe_container(cx, h, c, &mut s).await;
            }
        }
    }
    s
}

async fn probe_container(cx: &Ctx<'_>, h: &HealthSpec, c: &ContainerInfo, s: &mut DoctorStep) {
    let app = cx.app;
    let Some(ip) = container_ip(&cx.host, c, cx.proxy_network()).await else {
        s.fail(
            format!("{} has no network address", c.name),
            "check its networks".into(),
        );
        return;
    };
    let url = format!("http://{ip}:{}{}", h.port, h.path);
    let p = crate::http::probe(&url, Duration::from_secs(5), Some(&cx.host), None).await;
    if p.is_up(None) {
        s.detail.push(format!(
            "{}: GET {} -> {} in {:.0} ms",
            c.name,
            h.path,
            p.status.unwrap_or(0),
            p.latency_ms.unwrap_or(0.0)
        ));
    } else {
        s.fail(
            format!(
                "{}: GET {url} -> {}",
                c.name,
                p.status
                    .map(|x| x.to_string())
                    .or(p.error)
                    .unwrap_or_else(|| "no answer".into())
            ),
            format!(
                "the app itself does not answer {}: read opsdeck logs {app}",
                h.path
            ),
        );
    }
}

/// The health path answers through the proxy's entrypoint, with each domain as Host.
async fn check_health_proxy(cx: &Ctx<'_>) -> DoctorStep {
    let mut s = step("health_proxy", "the health path answers through the proxy");
    let e = match (cx.entrypoint(), cx.spec.domains.is_empty()) {
        (None, _) => return s.skip("the host's proxy has no `entrypoint` in the inventory"),
        (_, true) => return s.skip("the app has no domains"),
        (Some(e), false) => e,
    };
    let path = cx
        .spec
        .health
        .as_ref()
        .map(|h| h.path.clone())
        .unwrap_or_else(|| super::routes::HEALTH_PATH.into());
    for d in &cx.spec.domains {
        let url = format!("{}{path}", e.trim_end_matches('/'));
        let p = crate::http::probe(&url, Duration::from_secs(5), Some(&cx.host), Some(d)).await;
        if p.is_up(None) {
            s.detail.push(format!(
                "{d}: GET {path} -> {} in {:.0} ms",
                p.status.unwrap_or(0),
                p.latency_ms.unwrap_or(0.0)
            ));
        } else {
            let what = p
                .status
                .map(|x| x.to_string())
                .or(p.error)
                .unwrap_or_else(|| "no answer".into());
            let hint = match p.status {
                Some(404) => "404 from the proxy: no router matches this Host (see the route step)".to_string(),
                Some(502 | 504) => "the proxy cannot reach the container: check the network step and the service port".to_string(),
                _ => format!("check the proxy at {e}"),
            };
            s.fail(format!("{d}: GET {url} with Host: {d} -> {what}"), hint);
        }
    }
    s
}

/// Over https (entrypoint or a cert resolver): each domain's certificate is valid and
/// not within `CERT_MIN_DAYS` of expiry.
async fn check_tls(cx: &Ctx<'_>) -> DoctorStep {
    let s = step("tls", "the TLS certificate is valid and not near expiry");
    // The entrypoint counts as https only when the proxy step probed it (the app has domains).
    let https =
        !cx.spec.domains.is_empty() && cx.entrypoint().is_some_and(|e| e.starts_with("https://"));
    let uses_tls = https
        || cx
            .listed
            .iter()
            .any(|r| r.route.cert_resolver.is_some() && cx.serves_app_domain(r));
    match cx.entrypoint() {
        Some(e) if uses_tls => check_certs(cx, e, s).await,
        _ => s.skip("the site is served over plain http"),
    }
}

async fn check_certs(cx: &Ctx<'_>, entry: &str, mut s: DoctorStep) -> DoctorStep {
    let t = crate::http::parse_url(entry).ok();
    let port = t
        .as_ref()
        .map(|t| if t.tls { t.port } else { 443 })
        .unwrap_or(443);
    let h = t.map(|t| t.host).unwrap_or_else(|| "127.0.0.1".into());
    for d in &cx.spec.domains {
        let url = format!("https://{h}:{port}/");
        let p = crate::http::probe(&url, Duration::from_secs(5), Some(&cx.host), Some(d)).await;
        match (&p.cert_not_after, &p.error) {
            (Some(na), _) => {
                let days = chrono::DateTime::parse_from_rfc3339(na)
                    .map(|t| (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days())
                    .unwrap_or(0);
                if days < CERT_MIN_DAYS {
                    s.fail(
                        format!("{d}: the certificate expires {na} ({days} days)"),
                        "renewal is failing: read the proxy's ACME log lines".into(),
                    );
                } else {
                    s.detail.push(format!("{d}: valid until {na} ({days} days)"));
                }
            }
            (None, e) => s.fail(
                format!("{d}: TLS: {}", e.clone().unwrap_or_else(|| "no certificate".into())),
                "the proxy has no valid certificate for this name: check the cert resolver and that DNS points here (ACME needs it)".into(),
            ),
        }
    }
    s
}

/// The proxy's recent log lines that mention the app's domains or routers (information,
/// never a failure).
async fn check_proxy_logs(cx: &Ctx<'_>) -> DoctorStep {
    let mut s = step("proxy_logs", "recent proxy log lines mentioning the domain");
    let Some(c) = cx.proxy.as_ref().and_then(|p| p.container.as_deref()) else {
        return s.skip("set proxy.container in the inventory to see its log lines");
    };
    let cmd = Cmd::new("docker")
        .args(["logs", "--tail", "500", c])
        .timeout(Duration::from_secs(10));
    match cx.host.exec(&cmd, &CancellationToken::new()).await {
        Ok(o) if o.success() => {
            let all = format!("{}{}", o.stdout_str(), o.stderr_str());
            let lines = mentioning_app(cx, &all);
            let n = lines.len();
            s.detail
                .extend(lines.into_iter().rev().take(10).rev().map(|l| {
                    crate::secrets::mask_text(l.chars().take(300).collect::<String>().as_str())
                }));
            if n == 0 {
                s.detail.push("no recent line mentions the domains".into());
            }
        }
        Ok(o) => s
            .detail
            .push(format!("docker logs {c}: {}", o.stderr_str().trim())),
        Err(e) => s.detail.push(format!("docker logs {c}: {e}")),
    }
    s
}

/// The lines of `all` naming one of the app's domains or one of its routers: Traefik's
/// access log (CLF) names the router, not the Host, so match both.
fn mentioning_app<'t>(cx: &Ctx<'_>, all: &'t str) -> Vec<&'t str> {
    let mut needles: Vec<String> = cx.spec.domains.clone();
    needles.extend(
        cx.listed
            .iter()
            .filter(|r| cx.serves_app_domain(r))
            .map(|r| format!("\"{}\"", r.route.api_name())),
    );
    all.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides() {
        let o = resolve_overrides("shop.test:127.0.0.1, X.test:10.0.0.1,bad,y:notanip");
        assert_eq!(o.len(), 2);
        assert_eq!(o[1].0, "x.test");
    }
}
