//! What a deploy or rollback is planned from, read on the app's host: the versions in `.env`,
//! for git deploys the commit and the images running now, for rollbacks the images the
//! journal recorded for the target version.

use super::super::step::ComposeTarget;
use super::super::Action;
use super::exec::run_checked;
use super::{DeployInput, Pin, RunningImage};
use crate::docker::compose::dotenv::DotEnv;
use crate::docker::{control, images};
use crate::error::Error;
use crate::host::{Cmd, Host};
use crate::inventory::{DeployKind, Inventory};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Read `.env` on the app's host: the current and previous versions.
pub async fn gather(
    inv: &Inventory,
    app: &str,
    action: &Action,
) -> Result<(DeployInput, Host), Error> {
    let spec = super::super::query::find_app(inv, app)?.clone();
    let host = super::super::select::host(inv, &spec.host)?;
    let on_host = super::super::query::app_project_checked(&host, &spec).await?;
    if let Some(problem) = on_host.problem {
        return Err(Error::usage(format!(
            "app {app}: {}/{problem}; compose would refuse it too",
            spec.dir.trim_end_matches('/')
        )));
    }
    let project = on_host.project;
    let target = ComposeTarget::new(&spec, &project);
    // The project's .env was read to name it; its values come from the same read.
    let env = DotEnv::parse(&on_host.dotenv)
        .map_err(|e| Error::usage(format!("{}: {e}", target.env_path().display())))?;
    let current = env.get(&spec.version_var).filter(|v| !v.is_empty());
    let previous = env
        .get(&format!("PREVIOUS_{}", spec.version_var))
        .filter(|v| !v.is_empty());
    let (mut git_head, mut running) = (None, Vec::new());
    if spec.deploy == DeployKind::Git {
        let cancel = CancellationToken::new();
        let head = Cmd::new("git")
            .args(["rev-parse", "HEAD"])
            .cwd(spec.dir.clone())
            .timeout(Duration::from_secs(30));
        git_head = Some(
            run_checked(
                &host,
                &head,
                &cancel,
                &format!("git rev-parse in {}", spec.dir),
            )
            .await?
            .trim()
            .to_string(),
        );
        running = running_images(&host, &target, &spec.services).await?;
    }
    // A rollback runs what the journal recorded for its version, not what the tag names now.
    let pins = match action {
        Action::Rollback { to, .. } if spec.deploy == DeployKind::Image => {
            match to.clone().or_else(|| previous.clone()) {
                Some(version) => recorded_pins(&host, app, &version).await?,
                None => vec![],
            }
        }
        _ => vec![],
    };
    // What compose will make of each service (the version set, so `${VERSION:?}` resolves).
    let version = match action {
        Action::Deploy { version, .. } => version.clone(),
        Action::Rollback { to, .. } => to.clone().or_else(|| previous.clone()),
        _ => None,
    }
    .or_else(|| current.clone());
    let flavor = super::exec::compose_flavor(&host).await?;
    let mut cmd = target.cmd(&flavor, &["config"]);
    if let Some(v) = &version {
        cmd = cmd.env(&spec.version_var, v);
    }
    let shapes = super::super::query::app_shapes(&host, app, &spec, cmd).await?;
    let proxy = super::strategy::proxy_of(inv.hosts.get(&spec.host), &spec);
    Ok((
        DeployInput {
            shapes,
            proxy,
            app: app.to_string(),
            spec,
            current,
            previous,
            git_head,
            running,
            project,
            pins,
        },
        host,
    ))
}

/// The images recorded for `app` at `version`, each with what its tag names on the host now.
/// No journal yet (a first run on this machine): nothing recorded, the tags are used.
async fn recorded_pins(host: &Host, app: &str, version: &str) -> Result<Vec<Pin>, Error> {
    let Ok(journal) = crate::journal::Journal::open_default().await else {
        return Ok(vec![]);
    };
    let records = journal.images_of(app, version).await?;
    let docker = host.docker().await?;
    let mut out = Vec::new();
    for r in records {
        let current_id = images::inspect(&docker, &r.reference)
            .await
            .ok()
            .and_then(|i| i.id);
        out.push(Pin {
            service: r.service,
            reference: r.reference,
            image_id: r.image_id,
            digest: r.digest,
            seen_at: r.seen_at,
            current_id,
        });
    }
    Ok(out)
}

/// The image (name and ID) each service's running container uses.
async fn running_images(
    host: &Host,
    target: &ComposeTarget,
    services: &[String],
) -> Result<Vec<RunningImage>, Error> {
    let docker = host.docker().await?;
    let all = crate::docker::list_containers(&docker, host.name())
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
    let mut out = Vec::new();
    for svc in services {
        let Some(c) = all.iter().find(|c| {
            target.owns(c.project.as_deref(), c.project_dir.as_deref())
                && c.service.as_deref() == Some(svc.as_str())
                && c.state == crate::docker::State::Running
        }) else {
            continue;
        };
        let info = control::inspect(&docker, &c.id)
            .await
            .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
        if let (Some(id), Some(image)) = (info.image_id, info.image) {
            out.push(RunningImage {
                service: svc.clone(),
                image,
                id,
            });
        }
    }
    Ok(out)
}
