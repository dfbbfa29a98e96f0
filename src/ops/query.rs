//! Read-only views of the hosts: `opsdeck hosts` and `opsdeck status`.
//!
//! Both fan out over the selected hosts in parallel; a host that cannot be reached is
//! reported in its own entry and never hides the others.

use crate::docker::{self, compose, ContainerInfo, StatsSample};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{AppSpec, Inventory};
use crate::names;
use futures_util::{future::join_all, stream, StreamExt};
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How many stats samples are taken at once per host.
const STATS_CONCURRENCY: usize = 32;
/// How long one host may take to answer a snapshot before it counts as unreachable.
const HOST_DEADLINE: Duration = Duration::from_secs(30);

/// One line of `opsdeck hosts`.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    /// `local` or `ssh`.
    pub transport: String,
    /// The Docker endpoint (local) or SSH target.
    pub target: String,
    pub reachable: bool,
    /// How opsdeck authenticated (`local` for this machine).
    pub auth: Option<String>,
    pub engine_version: Option<String>,
    pub api_version: Option<String>,
    /// `docker compose 2.x` / `docker-compose 1.29.2`.
    pub compose: Option<String>,
    /// Round trip of one engine ping, in milliseconds.
    pub latency_ms: Option<f64>,
    pub containers: Option<usize>,
    pub tags: Vec<String>,
    pub error: Option<String>,
    /// The host refused us (host key unknown or changed): exit 4 rather than 3.
    #[serde(skip)]
    pub refused: bool,
}

/// One host's part of `opsdeck status`.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub host: String,
    pub reachable: bool,
    pub error: Option<String>,
    /// The host refused us (host key unknown or changed): exit 4 rather than 3.
    #[serde(skip)]
    pub refused: bool,
    pub containers: Vec<ContainerStatus>,
    /// The apps of this host in maintenance (`opsdeck maintenance APP on`).
    pub maintenance: Vec<AppMaintenance>,
}

/// An app whose routes show its maintenance page.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AppMaintenance {
    pub app: String,
    pub message: String,
    /// The maintenance container.
    pub container: String,
    /// When it started (RFC 3339).
    pub since: Option<String>,
}

/// The apps in maintenance among a host's containers (their maintenance containers).
pub fn maintenance_of(list: &[ContainerInfo]) -> Vec<AppMaintenance> {
    use super::step::MaintenanceSite as M;
    let mut out: Vec<AppMaintenance> = list
        .iter()
        .filter(|c| c.state == docker::State::Running)
        .filter_map(|c| {
            Some(AppMaintenance {
                app: c.labels.get(M::LABEL)?.clone(),
                message: c.labels.get(M::MESSAGE_LABEL).cloned().unwrap_or_default(),
                container: c.name.clone(),
                since: c.started_at.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.app.cmp(&b.app));
    out
}

/// A container with its resource sample, when one was taken.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerStatus {
    #[serde(flatten)]
    pub info: ContainerInfo,
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct StatusOptions {
    /// Only this app's containers.
    pub app: Option<String>,
    /// Take a CPU/memory sample of each running container (about a second).
    pub stats: bool,
}

/// `opsdeck hosts`.
pub async fn hosts_report(hosts: &[Host], cancel: &CancellationToken) -> Vec<HostReport> {
    join_all(hosts.iter().map(|h| async move {
        match tokio::time::timeout(HOST_DEADLINE, one_host_report(h, cancel)).await {
            Ok(r) => r,
            Err(_) => HostReport {
                error: Some(format!("no answer within {}s", HOST_DEADLINE.as_secs())),
                ..empty_report(h)
            },
        }
    }))
    .await
}

fn empty_report(h: &Host) -> HostReport {
    HostReport {
        host: h.name().to_string(),
        transport: h.transport_kind().to_string(),
        target: h.spec().ssh.clone().unwrap_or_else(|| h.docker_endpoint()),
        reachable: false,
        auth: None,
        engine_version: None,
        api_version: None,
        compose: None,
        latency_ms: None,
        containers: None,
        tags: h.spec().tags.clone(),
        error: None,
        refused: false,
    }
}

async fn one_host_report(h: &Host, cancel: &CancellationToken) -> HostReport {
    let mut r = empty_report(h);
    let docker = match h.docker().await {
        Ok(d) => d,
        Err(e) => {
            r.refused = e.is_refused();
            r.error = Some(e.to_string());
            return r;
        }
    };
    r.auth = h
        .auth_method()
        .or_else(|| Some(h.transport_kind().to_string()));
    let started = Instant::now();
    if let Err(e) = docker::ping(&docker).await {
        r.error = Some(format!("ping failed: {}", docker::describe_error(&e)));
        return r;
    }
    r.latency_ms = Some((started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0);
    r.reachable = true;
    match docker::engine_info(&docker).await {
        Ok(info) => {
            r.engine_version = Some(info.version);
            r.api_version = Some(info.api_version);
        }
        Err(e) => r.error = Some(format!("version: {}", docker::describe_error(&e))),
    }
    if let Ok(n) = docker::control::count_running(&docker).await {
        r.containers = Some(n);
    }
    match compose::detect(h, cancel).await {
        Ok(Some(c)) => r.compose = Some(format!("{} {}", c.display(), c.version)),
        Ok(None) => r.compose = None,
        Err(e) => r.error = Some(format!("compose: {e}")),
    }
    r
}

/// Check that `app` names an app of the inventory; the error lists close matches.
pub fn find_app<'a>(inv: &'a Inventory, app: &str) -> Result<&'a AppSpec, Error> {
    inv.apps.get(app).ok_or_else(|| {
        Error::usage(names::unknown_name_message(
            "app",
            app,
            inv.apps.keys().map(String::as_str),
        ))
    })
}

/// An app's compose project, named as Compose names it on the app's host (inventory
/// `project`, `COMPOSE_PROJECT_NAME` in the environment or `.env`, `name:` in the compose
/// file, the directory's name); see [`compose::project`].
pub async fn app_project(host: &Host, app: &AppSpec) -> Result<compose::Project, Error> {
    Ok(app_project_checked(host, app).await?.project)
}

/// [`app_project`], with the problem compose will have with the app's `.env`, if any, and
/// the `.env` text it read.
pub async fn app_project_checked(
    host: &Host,
    app: &AppSpec,
) -> Result<compose::ProjectOnHost, Error> {
    compose::resolve_project(host, &app.dir, &app.compose_file, app.project.as_deref())
        .await
        .map_err(Error::from)
}

/// What `cmd` (the app's `compose config`, with the environment the caller needs) says of
/// each service; a file compose cannot read is the app's usage error, naming the file.
pub async fn app_shapes(
    host: &Host,
    app: &str,
    spec: &AppSpec,
    cmd: crate::host::Cmd,
) -> Result<std::collections::BTreeMap<String, compose::shape::ServiceShape>, Error> {
    compose::shape::read(host, cmd, &CancellationToken::new())
        .await
        .map_err(|e| match e {
            compose::shape::ShapeError::Host(h) => Error::from(h),
            other => Error::usage(format!(
                "app {app}: reading {}/{}: {other}",
                spec.dir.trim_end_matches('/'),
                spec.compose_file
            )),
        })
}

/// Whether a container belongs to the app's project (by its compose project label, or the
/// working directory compose recorded).
pub fn belongs_to_app(c: &ContainerInfo, project: &compose::Project) -> bool {
    project.owns(c.project.as_deref(), c.project_dir.as_deref())
}

/// The running container a database's `container` names on `host`: a container name
/// (`container_name:` or compose's own), else the one running compose service of that name.
/// Several projects on a host often have a `postgres` service: then the one in the project of
/// one of `apps` (the database's apps) is meant; otherwise the inventory must name the
/// container, and the error says so, naming `key`.
pub async fn database_container(
    host: &Host,
    name: &str,
    apps: &[AppSpec],
    key: &str,
) -> Result<ContainerInfo, Error> {
    let d = host.docker().await?;
    let list = docker::list_containers(&d, host.name())
        .await
        .map_err(|e| Error::failed(docker::describe_error(&e)))?;
    let running = |c: &&ContainerInfo| c.state == docker::State::Running;
    if let Some(c) = list.iter().find(|c| c.name == name) {
        if !running(&c) {
            return Err(Error::failed(format!(
                "{}: container {name} is {}, not running",
                host.name(),
                c.state.as_str()
            )));
        }
        return Ok(c.clone());
    }
    let mut by_service: Vec<&ContainerInfo> = list
        .iter()
        .filter(|c| c.service.as_deref() == Some(name))
        .filter(running)
        .collect();
    if by_service.len() > 1 && !apps.is_empty() {
        let mut projects = Vec::new();
        for a in apps.iter().filter(|a| a.host == host.name()) {
            projects.push(app_project(host, a).await?);
        }
        by_service.retain(|c| projects.iter().any(|p| belongs_to_app(c, p)));
    }
    match by_service.as_slice() {
        [c] => Ok((*c).clone()),
        [] => Err(Error::failed(format!(
            "{}: no running container or compose service named {name:?} ({key})",
            host.name()
        ))),
        several => Err(Error::usage(format!(
            "{}: several running containers are compose service {name:?} ({}); set {key} to one container's name",
            host.name(),
            several.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// `(host, repo:tag)` of every tagged image on the hosts (hosts that do not answer are
/// left out: this feeds a picker, not a report).
pub async fn host_images(hosts: &[Host]) -> Vec<(String, String)> {
    let per_host = hosts.iter().map(|h| async move {
        let Ok(d) = h.docker().await else {
            return vec![];
        };
        match docker::images::list_tags(&d).await {
            Ok(list) => list
                .into_iter()
                .filter(|t| !t.starts_with("<none>"))
                .map(|t| (h.name().to_string(), t))
                .collect(),
            Err(_) => vec![],
        }
    });
    futures_util::future::join_all(per_host)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// `opsdeck status [APP]`.
pub async fn status_report(
    inv: &Inventory,
    hosts: &[Host],
    opts: &StatusOptions,
) -> Result<Vec<HostStatus>, Error> {
    let app = match &opts.app {
        Some(a) => Some((a.as_str(), find_app(inv, a)?)),
        None => None,
    };
    let hosts: Vec<&Host> = hosts
        .iter()
        .filter(|h| app.is_none_or(|a| a.1.host == h.name()))
        .collect();
    Ok(join_all(hosts.into_iter().map(|h| async move {
        match tokio::time::timeout(HOST_DEADLINE, one_host_status(h, app, opts.stats)).await {
            Ok(s) => s,
            Err(_) => HostStatus {
                host: h.name().to_string(),
                reachable: false,
                error: Some(format!("no answer within {}s", HOST_DEADLINE.as_secs())),
                refused: false,
                containers: vec![],
                maintenance: vec![],
            },
        }
    }))
    .await)
}

async fn one_host_status(h: &Host, app: Option<(&str, &AppSpec)>, stats: bool) -> HostStatus {
    let opts_app = app.map(|a| a.0);
    let app = app.map(|a| a.1);
    let fail = |error: String| HostStatus {
        host: h.name().to_string(),
        reachable: false,
        error: Some(error),
        refused: false,
        containers: vec![],
        maintenance: vec![],
    };
    let docker = match h.docker().await {
        Ok(d) => d,
        Err(e) => {
            return HostStatus {
                refused: e.is_refused(),
                ..fail(e.to_string())
            }
        }
    };
    let list = match docker::list_containers(&docker, h.name()).await {
        Ok(l) => l,
        Err(e) => {
            return fail(format!(
                "{}: listing containers failed: {}",
                h.name(),
                docker::describe_error(&e)
            ))
        }
    };
    let project = match app {
        Some(a) => match app_project(h, a).await {
            Ok(p) => Some(p),
            Err(e) => return fail(e.to_string()),
        },
        None => None,
    };
    let maintenance: Vec<AppMaintenance> = maintenance_of(&list)
        .into_iter()
        .filter(|m| app.is_none() || opts_app == Some(m.app.as_str()))
        .collect();
    let list: Vec<ContainerInfo> = list
        .into_iter()
        .filter(|c| project.as_ref().is_none_or(|p| belongs_to_app(c, p)))
        .collect();
    let docker = &docker;
    let containers = stream::iter(list)
        .map(|info| async move {
            let sample: Option<StatsSample> = if stats && info.state == docker::State::Running {
                docker::sample_stats(docker, &info.id).await.ok()
            } else {
                None
            };
            ContainerStatus {
                cpu_percent: sample.map(|s| (s.cpu_percent * 100.0).round() / 100.0),
                memory_bytes: sample.map(|s| s.memory_bytes),
                info,
            }
        })
        .buffered(STATS_CONCURRENCY)
        .collect()
        .await;
    HostStatus {
        host: h.name().to_string(),
        reachable: true,
        error: None,
        refused: false,
        containers,
        maintenance,
    }
}

/// `opsdeck hosts trust NAME`: record the host's SSH key(s) in known_hosts. `confirm` sees
/// each key's fingerprint and decides; a declined or changed key is refused (exit 4).
pub async fn trust(
    inv: &Inventory,
    name: &str,
    confirm: &(dyn Fn(&crate::host::TrustedKey) -> bool + Sync),
) -> Result<Vec<crate::host::TrustedKey>, Error> {
    let spec = super::select::host_spec(inv, name)?;
    if spec.ssh.is_none() {
        return Err(Error::usage(format!(
            "{name} is this machine: there is no SSH key to trust"
        )));
    }
    crate::host::trust_host_with(name, spec, &crate::host::SshOptions::from_env(), confirm)
        .await
        .map_err(Error::from)
}

/// The password of a Redis run with `--requirepass` (seed 002's `redis-server --requirepass
/// ${REDIS_PASSWORD}`): in its own command line or environment, where an operator's
/// `redis-cli -a` takes it from too. Used, never shown.
pub(in crate::ops) fn redis_password(cmd: &[String], env: &[(String, String)]) -> Option<String> {
    cmd.windows(2)
        .find(|w| w[0] == "--requirepass")
        .map(|w| w[1].clone())
        .or_else(|| {
            cmd.iter()
                .find_map(|a| a.strip_prefix("--requirepass=").map(str::to_string))
        })
        .or_else(|| {
            env.iter()
                .find(|(k, _)| k == "REDIS_PASSWORD")
                .map(|(_, v)| v.clone())
        })
        .filter(|p| !p.is_empty())
}
