//! `doctor APP`: the "why is my site down / 404" checklist of seed 001, each step with a
//! verdict and a hint. Read-only: it changes nothing, so it takes no lock.
//!
//! `run` is the checklist in order; each step is one `check_*` function over the shared
//! `Ctx` (the app, its host, and what earlier steps found), in a file by concern.
//!
//! DNS answers can be overridden with `OPSDECK_RESOLVE=name:ip,name:ip` (tests, split
//! horizons): a name listed there resolves to exactly those addresses.

mod containers;
mod dns;
mod health;
mod proxy_logs;
mod route;
mod tls;

pub use dns::resolve_overrides;

use super::query::find_app;
use super::routes::ListedRoute;
use crate::docker::{ContainerInfo, State};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{AppSpec, Inventory, ProxySpec};
use serde::Serialize;

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
        dns::check_dns(&cx).await,
        containers::check_containers(&mut cx).await,
        containers::check_network(&cx),
        route::check_route(&mut cx).await,
        health::check_health_direct(&cx).await,
        health::check_health_proxy(&cx).await,
        tls::check_tls(&cx).await,
        proxy_logs::check_proxy_logs(&cx).await,
    ];
    let ok = steps.iter().all(|s| s.verdict != Verdict::Fail);
    Ok(DoctorReport {
        app: app.to_string(),
        host: cx.spec.host,
        ok,
        steps,
    })
}
