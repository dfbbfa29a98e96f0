//! The containers step (the app's containers run and are healthy) and the network step
//! (the running ones are on the proxy's network).

use super::{step, Ctx, DoctorStep, Verdict};
use crate::docker::compose::{Project, ProjectOnHost};
use crate::docker::{ContainerInfo, Health, State};
use crate::ops::query::{app_project_checked, belongs_to_app};

/// The app's containers exist, run, and are not unhealthy; records them in `cx`.
pub(super) async fn check_containers(cx: &mut Ctx<'_>) -> DoctorStep {
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
    match app_project_checked(&cx.host, &cx.spec).await {
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
pub(super) fn check_network(cx: &Ctx<'_>) -> DoctorStep {
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
