//! Maintenance mode (`opsdeck maintenance APP on|off`, `restore --maintenance`): a small
//! container per app answers every request with a 503 page carrying the message, and a router
//! in the host's Traefik routes file for each rule that serves the app (its `domains`, and the
//! routers of its containers' labels or of the file that route them) sends them there, with a
//! priority above every ordinary router. Both go through the routes edit's safe path: checked
//! before anything is written, written atomically (previous kept), proven through Traefik's
//! API and a Host-header probe through the entrypoint, put back when a proof fails, under the
//! host's `routes` lock, journaled; `--dry-run` prints the plan.
//!
//! Here: what is gathered from the host, and the pure planner ([`plan_maintenance`], table
//! tested); the steps' executors in `exec.rs`.

use super::action::Action;
use super::routes::{gather as gather_routes, RoutesInput, LOAD_TIMEOUT_SECS};
use super::step::{LockRef, MaintenanceSite, Plan, RouterExpect, Step, StepKind};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{AppSpec, Inventory, ProxyKind};
use crate::routes::maintenance::{self as rm, MaintRouter};
use crate::routes::{self, Route};

mod exec;
pub(in crate::ops) use exec::{answers, start, stop, write_routes};

/// The maintenance image when the host's proxy names none (it needs `sh` and `httpd`).
pub const DEFAULT_IMAGE: &str = "busybox:stable";
/// The port the maintenance container's httpd listens on.
pub const PORT: u16 = 8080;
/// The label on a maintenance container: the app's name.
pub const LABEL: &str = MaintenanceSite::LABEL;
/// The label with its message.
pub const MESSAGE_LABEL: &str = MaintenanceSite::MESSAGE_LABEL;
/// The label with the app's compose project (the console's banner goes on its rows).
pub const PROJECT_LABEL: &str = MaintenanceSite::PROJECT_LABEL;
/// Said when `on` is given no `--message`.
pub const DEFAULT_MESSAGE: &str = "This site is down for maintenance and will be back shortly.";
/// How long the page may take to show through the proxy (and the app to come back).
const ANSWER_TIMEOUT_SECS: u64 = 30;

/// The maintenance container of an app.
pub fn container_name(app: &str) -> String {
    format!("opsdeck-maint-{app}")
}

/// What a maintenance switch is planned from.
#[derive(Debug, Clone)]
pub struct MaintInput {
    pub app: String,
    pub spec: AppSpec,
    pub routes: RoutesInput,
    /// The app's compose project, as compose names it.
    pub project: String,
    /// Host names that reach the app: its `domains` and its containers' label routes.
    pub app_hosts: Vec<String>,
    /// The maintenance container, if one exists: (running, message).
    pub container: Option<(bool, String)>,
    pub image: String,
    pub image_present: bool,
    pub network: Option<String>,
}

/// The planner of `maintenance` (the signature every planner has).
pub async fn plan(inv: &Inventory, _hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    let Action::Maintenance { app, .. } = action else {
        return Err(Error::usage(format!(
            "{} is not maintenance",
            action.name()
        )));
    };
    let input = gather(inv, app).await?;
    plan_maintenance(action, &input)
}

/// Read what a switch needs: the routes (file, labels, API), the app's containers and
/// project, its maintenance container, and whether the image is on the host.
pub async fn gather(inv: &Inventory, app: &str) -> Result<MaintInput, Error> {
    let spec = super::query::find_app(inv, app)?.clone();
    let host_name = spec.host.clone();
    let proxy = inv
        .hosts
        .get(&host_name)
        .and_then(|h| h.proxy.as_ref())
        .ok_or_else(|| {
            Error::usage(format!(
                "host {host_name} has no proxy: maintenance mode switches Traefik routes; add [hosts.{host_name}.proxy] with kind = \"traefik\", routes_file, api and entrypoint"
            ))
        })?;
    let kind = match proxy.kind {
        ProxyKind::Traefik => None,
        ProxyKind::Nginx => Some("nginx"),
        ProxyKind::Caddy => Some("caddy"),
    };
    if let Some(kind) = kind {
        return Err(Error::usage(format!(
            "host {host_name}'s proxy is {kind}: maintenance mode supports Traefik only (docker-label and file-provider routes); nothing was changed"
        )));
    }
    let image = proxy
        .maintenance_image
        .clone()
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string());
    let network = proxy.network.clone();
    let (routes, host) = gather_routes(inv, &host_name).await?;
    let project = super::query::app_project(&host, &spec).await?;
    let d = host.docker().await?;
    let list = crate::docker::list_containers(&d, host.name())
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
    let mut app_hosts: Vec<String> = spec
        .domains
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    for c in list
        .iter()
        .filter(|c| super::query::belongs_to_app(c, &project))
    {
        for r in routes::label_routes(&c.name, &c.labels) {
            app_hosts.extend(r.hosts);
        }
    }
    app_hosts.sort();
    app_hosts.dedup();
    let name = container_name(app);
    let container = list.iter().find(|c| c.name == name).map(|c| {
        (
            c.state == crate::docker::State::Running,
            c.labels.get(MESSAGE_LABEL).cloned().unwrap_or_default(),
        )
    });
    let image_present = crate::docker::images::inspect(&d, &image).await.is_ok();
    Ok(MaintInput {
        app: app.to_string(),
        spec,
        routes,
        project: project.name,
        app_hosts,
        container,
        image,
        image_present,
        network,
    })
}

/// The routers (other than maintenance ones) that serve one of the app's host names.
fn serving(input: &MaintInput) -> Vec<&Route> {
    input
        .routes
        .existing
        .iter()
        .filter(|r| rm::router_app(&r.router).is_none())
        .filter(|r| r.hosts.iter().any(|h| input.app_hosts.contains(h)))
        .collect()
}

/// The first of the router's hosts that is the app's (the Host header of its probe).
fn probe_host(input: &MaintInput, hosts: &[String]) -> Option<String> {
    hosts
        .iter()
        .find(|h| input.app_hosts.contains(h))
        .or(hosts.first())
        .cloned()
}

/// The maintenance routers for the app: one per serving rule (wrapped in parentheses, so the
/// file never holds two routers with one rule), and one for its domains no router serves.
pub fn maint_routers(input: &MaintInput) -> Vec<(MaintRouter, Vec<String>)> {
    let serving = serving(input);
    let mut out: Vec<(MaintRouter, Vec<String>)> = serving
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                MaintRouter {
                    name: rm::router_name(&input.app, i),
                    rule: format!("({})", r.rule),
                    entrypoints: r.entrypoints.clone(),
                    cert_resolver: r.cert_resolver.clone(),
                    tls: r.tls,
                },
                r.hosts.clone(),
            )
        })
        .collect();
    let uncovered: Vec<String> = input
        .app_hosts
        .iter()
        .filter(|h| !serving.iter().any(|r| r.hosts.contains(h)))
        .cloned()
        .collect();
    if !uncovered.is_empty() {
        let rule = uncovered
            .iter()
            .map(|h| format!("Host(`{h}`)"))
            .collect::<Vec<_>>()
            .join(" || ");
        out.push((
            MaintRouter {
                name: rm::router_name(&input.app, out.len()),
                rule: format!("({rule})"),
                entrypoints: vec![],
                cert_resolver: None,
                tls: false,
            },
            uncovered,
        ));
    }
    out
}

fn entrypoint(input: &MaintInput) -> Result<String, Error> {
    input.routes.entrypoint_url.clone().ok_or_else(|| {
        Error::usage(format!(
            "host {}: set proxy.entrypoint (where Host-header probes go, e.g. http://127.0.0.1:80): maintenance is proven through it",
            input.routes.host
        ))
    })
}

fn restore_step(input: &MaintInput, to: Option<&str>) -> StepKind {
    StepKind::WriteRoutes {
        path: input.routes.routes_file.clone(),
        contents: to
            .or(input.routes.current.as_deref())
            .unwrap_or("{}\n")
            .to_string(),
        keep_previous: false,
    }
}

fn loaded(input: &MaintInput, router: String, expect: Option<RouterExpect>) -> StepKind {
    StepKind::RouteLoaded {
        api: input.routes.api.clone(),
        present: expect.is_some(),
        router,
        expect,
        timeout_secs: LOAD_TIMEOUT_SECS,
    }
}

/// The steps that put the app into maintenance (their undo takes it out again).
pub fn on_steps(input: &MaintInput, message: &str) -> Result<Vec<Step>, Error> {
    let (app, file) = (&input.app, &input.routes.routes_file);
    let current = input.routes.current.as_deref().unwrap_or("");
    let already = rm::has_maintenance(current, app).map_err(Error::usage)?;
    if already || input.container.as_ref().is_some_and(|c| c.0) {
        return Err(Error::usage(format!(
            "{app} is already in maintenance; `opsdeck maintenance {app} off` first (nothing was changed)"
        )));
    }
    if !input.image_present {
        return Err(Error::usage(format!(
            "the maintenance image {} is not on host {}: pull it there (docker pull {}) or set [hosts.{}.proxy] maintenance_image to an image with busybox sh and httpd; nothing was changed",
            input.image, input.routes.host, input.image, input.routes.host
        )));
    }
    let routers = maint_routers(input);
    if routers.is_empty() {
        return Err(Error::usage(format!(
            "{app} has no domains in the inventory and no container with Traefik labels: there is nothing to put into maintenance"
        )));
    }
    let entry = entrypoint(input)?;
    let only: Vec<MaintRouter> = routers.iter().map(|(r, _)| r.clone()).collect();
    // Checked now, with a stand-in address: the step writes the same text with the
    // container's own.
    let text = rm::add_maintenance(current, app, "http://maintenance.invalid:8080", &only)
        .map_err(|e| Error::usage(format!("{file}: {e}; nothing was changed")))?;
    routes::check_file(&text, file)
        .map_err(|e| Error::usage(format!("{file} with maintenance: {e}; nothing was changed")))?;
    let site = MaintenanceSite {
        app: app.clone(),
        container: container_name(app),
        image: input.image.clone(),
        network: input.network.clone(),
        message: message.to_string(),
        project: input.project.clone(),
        port: PORT,
    };
    let svc = rm::service_name(app);
    let mut steps = vec![Step {
        name: format!(
            "start {} ({}, on {}) answering 503: {message}",
            site.container,
            site.image,
            site.network.as_deref().unwrap_or("the default bridge")
        ),
        kind: StepKind::StartMaintenance { site: site.clone() },
        undo: vec![StepKind::StopMaintenance {
            app: app.clone(),
            container: site.container.clone(),
        }],
    }];
    let mut undo = vec![restore_step(input, None)];
    undo.extend(
        only.iter()
            .map(|r| loaded(input, format!("{}@file", r.name), None)),
    );
    steps.push(Step {
        name: format!(
            "write {file} with {} maintenance router(s) for {app} (priority {}; previous kept as {file}.previous)",
            only.len(),
            rm::PRIORITY
        ),
        kind: StepKind::WriteMaintenanceRoutes {
            path: file.clone(),
            site,
            routers: only.clone(),
        },
        undo,
    });
    for r in &only {
        let expect = RouterExpect {
            rule: r.rule.clone(),
            entrypoints: r.entrypoints.clone(),
            service: Some(svc.clone()),
            servers: vec![],
        };
        steps.push(Step {
            name: format!("Traefik loads router {}@file without errors", r.name),
            kind: loaded(input, format!("{}@file", r.name), Some(expect)),
            undo: vec![],
        });
    }
    for (r, hosts) in &routers {
        let Some(h) = probe_host(input, hosts).filter(|_| !r.rule.contains("Path")) else {
            continue;
        };
        steps.push(Step {
            name: format!(
                "GET / through {entry} with Host: {h} answers 503 with the maintenance page"
            ),
            kind: StepKind::MaintenanceAnswers {
                entrypoint: entry.clone(),
                host_header: h,
                timeout_secs: ANSWER_TIMEOUT_SECS,
            },
            undo: vec![],
        });
    }
    Ok(steps)
}

/// The steps that take the app out of maintenance: the routes file without its maintenance
/// routers (`to`: this text instead, as a restore wrote it before), Traefik without them, the
/// app answering through the proxy again, then its container removed.
pub fn off_steps(input: &MaintInput, to: Option<&str>) -> Result<Vec<Step>, Error> {
    let (app, file) = (&input.app, &input.routes.routes_file);
    let current = input.routes.current.as_deref().unwrap_or("");
    let mut steps = Vec::new();
    let in_file = rm::has_maintenance(current, app).map_err(Error::usage)?;
    let (new, dropped): (String, Vec<String>) = match to {
        Some(t) => (
            t.to_string(),
            maint_routers(input)
                .into_iter()
                .map(|(r, _)| r.name)
                .collect(),
        ),
        None if in_file => (
            rm::remove_maintenance(current, app)
                .map_err(|e| Error::usage(format!("{file}: {e}")))?,
            input
                .routes
                .existing
                .iter()
                .filter(|r| r.provider == "file" && rm::router_app(&r.router) == Some(app))
                .map(|r| r.router.clone())
                .collect(),
        ),
        None if input.container.is_none() => {
            return Err(Error::usage(format!(
                "{app} is not in maintenance (no maintenance routers in {file}, no {} container)",
                container_name(app)
            )))
        }
        None => (current.to_string(), vec![]),
    };
    if to.is_some() || in_file {
        routes::check_file(&new, file)
            .map_err(|e| Error::usage(format!("{file}: {e}; nothing was changed")))?;
        // A restore's own `off` writes back the text it found: nothing to put back then.
        let mut undo = Vec::new();
        if to.is_none() {
            undo.push(restore_step(input, None));
            undo.extend(
                input
                    .routes
                    .existing
                    .iter()
                    .filter(|r| dropped.contains(&r.router) && r.provider == "file")
                    .map(|r| loaded(input, r.api_name(), Some(RouterExpect::of(r)))),
            );
        }
        steps.push(Step {
            name: format!(
                "write {file} without the maintenance routers of {app} (previous kept as {file}.previous)"
            ),
            kind: StepKind::WriteRoutes {
                path: file.clone(),
                contents: new,
                keep_previous: true,
            },
            undo,
        });
        for r in &dropped {
            steps.push(Step {
                name: format!("Traefik drops router {r}@file"),
                kind: loaded(input, format!("{r}@file"), None),
                undo: vec![],
            });
        }
        let entry = entrypoint(input)?;
        let path = input
            .spec
            .health
            .as_ref()
            .map(|h| h.path.clone())
            .unwrap_or_else(|| super::routes::HEALTH_PATH.to_string());
        for r in serving(input).iter().filter(|r| !r.rule.contains("Path")) {
            let Some(h) = probe_host(input, &r.hosts) else {
                continue;
            };
            steps.push(Step {
                name: format!(
                    "GET {path} through {entry} with Host: {h} answers 2xx ({} serves {app} again)",
                    r.api_name()
                ),
                kind: StepKind::RouteAnswers {
                    entrypoint: entry.clone(),
                    host_header: h,
                    path: path.clone(),
                    timeout_secs: ANSWER_TIMEOUT_SECS,
                },
                undo: vec![],
            });
        }
    }
    steps.push(Step {
        name: format!("remove the maintenance container {}", container_name(app)),
        kind: StepKind::StopMaintenance {
            app: app.clone(),
            container: container_name(app),
        },
        undo: vec![],
    });
    Ok(steps)
}

/// Plan `maintenance APP on|off`. Pure: refusals here are exit 2, nothing changed.
pub fn plan_maintenance(action: &Action, input: &MaintInput) -> Result<Plan, Error> {
    let Action::Maintenance { app, on, message } = action else {
        return Err(Error::usage("not a maintenance action"));
    };
    let steps = if *on {
        on_steps(input, message.as_deref().unwrap_or(DEFAULT_MESSAGE))?
    } else {
        off_steps(input, None)?
    };
    let mut plan = Plan::new(
        action,
        input.routes.host.clone(),
        "routes",
        Some(app.clone()),
        steps,
    );
    // No deploy or restart of the app runs while its routes are switched.
    plan.also_lock.push(LockRef {
        host: input.routes.host.clone(),
        lock: app.clone(),
    });
    Ok(plan)
}

/// Said by the pages of a database's apps while `restore --maintenance` runs.
pub const RESTORE_MESSAGE: &str =
    "This site is down while its data is restored and will be back shortly.";

/// `restore --maintenance`: the database's apps into maintenance before the restore step
/// stops them, and out again after it (the routes file written back as it was, each app
/// proven served again). A failed restore puts its database back and restarts the apps; the
/// undo of the `on` steps then takes them out of maintenance. Apps already in maintenance
/// stay in it. The routes lock of the host is held for the whole run.
pub async fn around_restore(inv: &Inventory, db: &str, plan: &mut Plan) -> Result<(), Error> {
    let apps = inv
        .databases
        .get(db)
        .map(|d| d.apps.clone())
        .unwrap_or_default();
    if apps.is_empty() {
        return Err(Error::usage(format!(
            "--maintenance: database {db} lists no `apps` to put into maintenance"
        )));
    }
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for a in &apps {
        let spec = super::query::find_app(inv, a)?;
        if spec.host != plan.host {
            return Err(Error::usage(format!(
                "--maintenance: app {a} runs on {}, database {db} on {}; a restore switches the apps of the database's own host",
                spec.host, plan.host
            )));
        }
        let input = gather(inv, a).await?;
        let current = input.routes.current.clone();
        if input.container.as_ref().is_some_and(|c| c.0)
            || rm::has_maintenance(current.as_deref().unwrap_or(""), a).map_err(Error::usage)?
        {
            continue;
        }
        before.extend(on_steps(&input, RESTORE_MESSAGE)?);
        after.extend(off_steps(
            &input,
            Some(current.as_deref().unwrap_or("{}\n")),
        )?);
    }
    if before.is_empty() {
        return Ok(());
    }
    let restore = std::mem::take(&mut plan.steps);
    plan.steps = before;
    plan.steps.extend(restore);
    plan.steps.extend(after);
    plan.also_lock.push(LockRef {
        host: plan.host.clone(),
        lock: "routes".into(),
    });
    Ok(())
}

#[cfg(test)]
mod tests;
