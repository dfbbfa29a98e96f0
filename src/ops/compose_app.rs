//! `opsdeck up|down|pull APP`: compose for an app's whole project, run as its operator runs
//! it in the app's directory (compose's own project name and `.env` rules), planned, locked
//! and journaled like every action. `up` waits until every container runs (healthy where it
//! has a health check, a one-shot exited 0); `down` keeps volumes and images; `pull` says
//! which images changed.

use super::action::{Action, ComposeOp};
use super::deploy::{compose_flavor, run_checked};
use super::step::{ComposeTarget, Plan, Step, StepKind};
use super::{query, select};
use crate::docker::compose;
use crate::docker::wait::{self, Look, WaitError};
use crate::docker::{images, ContainerInfo, Health, State};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long `up` waits for the containers once compose returned, when the app has no
/// health timeout of its own.
const UP_WAIT_SECS: u64 = 120;

/// The planner of `up`, `down` and `pull` (the signature every planner has).
pub async fn plan(inv: &Inventory, _hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    let Action::Compose { app, op } = action else {
        return Err(Error::usage(format!(
            "{} is not up, down or pull",
            action.name()
        )));
    };
    let spec = query::find_app(inv, app)?.clone();
    let host = select::host(inv, &spec.host)?;
    let on_host = query::app_project_checked(&host, &spec).await?;
    if let Some(problem) = on_host.problem {
        return Err(Error::usage(format!(
            "app {app}: {}/{problem}; compose would refuse it too",
            spec.dir.trim_end_matches('/')
        )));
    }
    let target = ComposeTarget::new(&spec, &on_host.project);
    let flavor = compose_flavor(&host).await?;
    let shapes = query::app_shapes(&host, app, &spec, target.cmd(&flavor, &["config"])).await?;
    let services: Vec<(String, Option<String>)> = shapes
        .iter()
        .map(|(name, s)| (name.clone(), s.image.clone()))
        .collect();
    let d = host.docker().await?;
    let now: Vec<ContainerInfo> = crate::docker::list_containers(&d, host.name())
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?
        .into_iter()
        .filter(|c| target.owns(c.project.as_deref(), c.project_dir.as_deref()))
        .collect();
    let timeout_secs = spec
        .health
        .as_ref()
        .map(|h| h.timeout.0.as_secs())
        .unwrap_or(UP_WAIT_SECS)
        .max(UP_WAIT_SECS);
    let name = step_name(
        *op,
        &format!(
            "{} (project {})",
            spec.dir.trim_end_matches('/'),
            target.project_label
        ),
        &services,
        &now,
        app,
        timeout_secs,
    );
    let step = Step {
        name,
        kind: StepKind::ComposeApp {
            compose: target,
            op: *op,
            services,
            timeout_secs,
        },
        undo: vec![],
    };
    Ok(Plan::new(
        action,
        spec.host.clone(),
        app.clone(),
        Some(app.clone()),
        vec![step],
    ))
}

/// What the step will do, for the plan: the services, their images, the containers it
/// removes.
fn step_name(
    op: ComposeOp,
    place: &str,
    services: &[(String, Option<String>)],
    now: &[ContainerInfo],
    app: &str,
    timeout_secs: u64,
) -> String {
    let names: Vec<&str> = services.iter().map(|(s, _)| s.as_str()).collect();
    match op {
        ComposeOp::Up => format!(
            "compose up -d in {place}: {} service(s) ({}) created or brought to their configuration, {} of {} container(s) running now; then wait until each runs (healthy where it has a check, one-shots exited 0), at most {timeout_secs}s",
            names.len(),
            names.join(", "),
            now.iter().filter(|c| c.state == State::Running).count(),
            now.len()
        ),
        ComposeOp::Down => {
            let gone: Vec<&str> = now.iter().map(|c| c.name.as_str()).collect();
            format!(
                "compose down in {place}: stop and remove {} container(s) ({}) and the project's networks; volumes and images are kept",
                gone.len(),
                if gone.is_empty() { "none now".to_string() } else { gone.join(", ") }
            )
        }
        ComposeOp::Pull => {
            let imgs: Vec<&str> = services.iter().filter_map(|(_, i)| i.as_deref()).collect();
            format!(
                "compose pull in {place}: fetch {} image(s) ({}) with the host's registry login; running containers are not changed (`opsdeck up {app}` or a deploy starts them)",
                imgs.len(),
                imgs.join(", ")
            )
        }
    }
}

/// Run an app's compose step on its host.
pub(super) async fn run_step(
    host: &Host,
    compose: &ComposeTarget,
    op: ComposeOp,
    services: &[(String, Option<String>)],
    timeout_secs: u64,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let flavor = compose_flavor(host).await?;
    match op {
        ComposeOp::Up => {
            let cmd = compose
                .cmd(&flavor, &["up", "-d"])
                .timeout(Duration::from_secs(1800));
            run_checked(host, &cmd, cancel, "compose up").await?;
            wait_up(host, compose, Duration::from_secs(timeout_secs), cancel).await
        }
        ComposeOp::Down => {
            let cmd = compose
                .cmd(&flavor, &["down"])
                .timeout(Duration::from_secs(600));
            run_checked(host, &cmd, cancel, "compose down").await?;
            let left = project_containers(host, compose).await?;
            if !left.is_empty() {
                let names: Vec<&str> = left.iter().map(|c| c.name.as_str()).collect();
                return Err(Error::failed(format!(
                    "compose down returned, but {} container(s) of the project remain: {}",
                    names.len(),
                    names.join(", ")
                )));
            }
            Ok("the project's containers and networks are removed; volumes kept".into())
        }
        ComposeOp::Pull => pull(host, compose, &flavor, services, cancel).await,
    }
}

/// `compose pull` service by service: an image that was never in a registry (built or
/// imported on the host, no repository digest) is reported as local, not a failure; any
/// other failed pull fails the step, naming the service and compose's reason.
async fn pull(
    host: &Host,
    compose: &ComposeTarget,
    flavor: &compose::ComposeFlavor,
    services: &[(String, Option<String>)],
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let d = host.docker().await?;
    let (mut before, mut after, mut local, mut failed) = (vec![], vec![], vec![], vec![]);
    for (service, image) in services {
        let Some(image) = image else { continue };
        let seen = images::inspect(&d, image).await.ok();
        let cmd = compose
            .cmd(flavor, &["pull", service])
            .timeout(Duration::from_secs(3600));
        match run_checked(host, &cmd, cancel, &format!("pulling {service} ({image})")).await {
            Ok(_) => {}
            Err(_) if cancel.is_cancelled() => return Err(Error::cancelled()),
            Err(_)
                if seen
                    .as_ref()
                    .is_some_and(|i| never_pulled(image, &i.repo_digests)) =>
            {
                local.push(service.clone());
                continue;
            }
            Err(e) => failed.push(e.message),
        }
        before.push((service.clone(), image.clone(), seen.and_then(|i| i.id)));
        let id = images::inspect(&d, image).await.ok().and_then(|i| i.id);
        after.push((service.clone(), image.clone(), id));
    }
    let mut summary = pull_summary(&before, &after);
    if !local.is_empty() {
        summary.push_str(&format!(
            "; local only, in no registry (not pulled): {}",
            local.join(", ")
        ));
    }
    if failed.is_empty() {
        Ok(summary)
    } else {
        Err(Error::failed(format!(
            "{} (so far: {summary})",
            failed.join("; ")
        )))
    }
}

/// Whether the host's image `reference` came from no registry: none of its repository
/// digests is of its own repository (pushes of it under other names add theirs).
fn never_pulled(reference: &str, repo_digests: &[String]) -> bool {
    let (repo, _) = crate::docker::parse_image_ref(reference);
    let bare = repo.strip_prefix("docker.io/").unwrap_or(&repo);
    let bare = bare.strip_prefix("library/").unwrap_or(bare);
    !repo_digests.iter().any(|d| {
        let r = d.split('@').next().unwrap_or_default();
        r == repo || r == bare
    })
}

type ImageIds = [(String, String, Option<String>)];

/// `updated: web (x:v2); unchanged: db` from the image ids before and after the pull.
fn pull_summary(before: &ImageIds, after: &ImageIds) -> String {
    let (mut updated, mut same) = (Vec::new(), Vec::new());
    for (service, image, id) in after {
        let old = before
            .iter()
            .find(|(s, _, _)| s == service)
            .and_then(|(_, _, id)| id.clone());
        if id.is_some() && old != *id {
            updated.push(format!("{service} ({image})"));
        } else {
            same.push(service.clone());
        }
    }
    let mut parts = Vec::new();
    if !updated.is_empty() {
        parts.push(format!("updated: {}", updated.join(", ")));
    }
    if !same.is_empty() {
        parts.push(format!("unchanged: {}", same.join(", ")));
    }
    if parts.is_empty() {
        "no service has an image to pull".into()
    } else {
        parts.join("; ")
    }
}

async fn project_containers(
    host: &Host,
    compose: &ComposeTarget,
) -> Result<Vec<ContainerInfo>, Error> {
    let d = host.docker().await?;
    Ok(crate::docker::list_containers(&d, host.name())
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?
        .into_iter()
        .filter(|c| compose.owns(c.project.as_deref(), c.project_dir.as_deref()))
        .collect())
}

/// How one container of the project stands after `up`: ready, not yet (what it is doing),
/// or failed (why).
fn look_at(c: &ContainerInfo) -> Look<()> {
    let service = c.service.as_deref().unwrap_or(&c.name);
    match (c.state, c.health) {
        (State::Running, Health::Healthy | Health::None) => Look::Ready(()),
        (State::Running, Health::Unhealthy) => Look::Failed(format!(
            "{} is unhealthy: {}",
            c.name,
            c.health_output.as_deref().unwrap_or("(no output)")
        )),
        (State::Running, Health::Starting) => Look::NotYet(format!("{} is starting", c.name)),
        (State::Exited, _) if c.exit_code == Some(0) => Look::Ready(()),
        (State::Exited | State::Dead, _) => Look::Failed(format!(
            "{} (service {service}) exited with {}",
            c.name,
            c.exit_code.unwrap_or(-1)
        )),
        (state, _) => Look::NotYet(format!("{} is {state:?}", c.name).to_lowercase()),
    }
}

/// Wait until every container of the project is ready ([`look_at`]).
async fn wait_up(
    host: &Host,
    compose: &ComposeTarget,
    limit: Duration,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let waited = wait::until(limit, cancel, || async {
        let all = project_containers(host, compose).await?;
        if all.is_empty() {
            return Ok(Look::Failed(
                "compose up returned, but the project has no container".into(),
            ));
        }
        let mut waiting = Vec::new();
        for c in &all {
            match look_at(c) {
                Look::Ready(()) => {}
                Look::NotYet(what) => waiting.push(what),
                Look::Failed(why) => return Ok(Look::Failed(why)),
            }
        }
        Ok::<_, Error>(if waiting.is_empty() {
            Look::Ready(all.len())
        } else {
            Look::NotYet(waiting.join(", "))
        })
    })
    .await;
    match waited {
        Ok(n) => Ok(format!("{n} container(s) up and ready")),
        Err(WaitError::Look(e)) => Err(e),
        Err(WaitError::Cancelled) => Err(Error::cancelled()),
        Err(e) => Err(Error::failed(format!("after compose up: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(
        name: &str,
        service: &str,
        state: State,
        health: Health,
        exit: Option<i64>,
    ) -> ContainerInfo {
        ContainerInfo {
            host: "h".into(),
            id: "0".into(),
            name: name.into(),
            project: Some("p".into()),
            service: Some(service.into()),
            project_dir: None,
            state,
            health,
            health_output: None,
            image: String::new(),
            tag: None,
            status: String::new(),
            created: None,
            started_at: None,
            uptime_secs: None,
            exit_code: exit,
            restart_count: None,
            ports: vec![],
            networks: vec![],
            labels: Default::default(),
        }
    }

    #[test]
    fn a_container_is_ready_running_healthy_or_done_and_fails_exited_or_unhealthy() {
        assert_eq!(
            look_at(&c("a", "web", State::Running, Health::None, None)),
            Look::Ready(())
        );
        assert_eq!(
            look_at(&c("a", "web", State::Running, Health::Healthy, None)),
            Look::Ready(())
        );
        assert!(matches!(
            look_at(&c("a", "web", State::Running, Health::Starting, None)),
            Look::NotYet(_)
        ));
        assert!(
            matches!(look_at(&c("a", "web", State::Restarting, Health::None, None)), Look::NotYet(w) if w.contains("restarting"))
        );
        assert_eq!(
            look_at(&c("m", "db-migrate", State::Exited, Health::None, Some(0))),
            Look::Ready(())
        );
        assert!(
            matches!(look_at(&c("m", "db-migrate", State::Exited, Health::None, Some(3))), Look::Failed(w) if w.contains("db-migrate") && w.contains('3'))
        );
        assert!(matches!(
            look_at(&c("a", "web", State::Running, Health::Unhealthy, None)),
            Look::Failed(_)
        ));
    }

    #[test]
    fn an_image_is_local_unless_it_has_a_digest_of_its_own_repository() {
        let pushed_elsewhere = ["127.0.0.1:5443/alpha/x@sha256:1".to_string()];
        assert!(never_pulled("opsdeck-test/busybox:v1", &pushed_elsewhere));
        assert!(never_pulled("opsdeck-test/busybox:v1", &[]));
        assert!(!never_pulled(
            "127.0.0.1:5443/alpha/x:latest",
            &pushed_elsewhere
        ));
        assert!(!never_pulled(
            "docker.io/library/postgres:16",
            &["postgres@sha256:2".to_string()]
        ));
    }

    #[test]
    fn the_pull_summary_names_what_changed() {
        let b = vec![
            (
                "web".to_string(),
                "x:v2".to_string(),
                Some("sha256:a".to_string()),
            ),
            (
                "db".to_string(),
                "pg:15".to_string(),
                Some("sha256:p".to_string()),
            ),
            ("new".to_string(), "n:1".to_string(), None),
        ];
        let mut a = b.clone();
        a[0].2 = Some("sha256:b".into());
        a[2].2 = Some("sha256:n".into());
        assert_eq!(
            pull_summary(&b, &a),
            "updated: web (x:v2), new (n:1); unchanged: db"
        );
        assert_eq!(pull_summary(&b, &b), "unchanged: web, db, new");
        assert_eq!(pull_summary(&[], &[]), "no service has an image to pull");
    }
}
