//! `opsdeck prune [--images] [--containers] [--volumes]`: remove what takes disk on a host
//! and nothing needs, planned (every removal a step, with its bytes) and confirmed.
//!
//! Never removed: a running container, or a stopped one of an inventory app's compose
//! project (`opsdeck start` needs it); an image any remaining container uses; an image a
//! rollback of an app on the host needs (a tag equal to the app's `VERSION` or
//! `PREVIOUS_VERSION` in its `.env`, or an image id the journal recorded for those
//! versions); a volume any container mounts. The plan holds every such app's lock, so no
//! deploy runs meanwhile. An app whose `.env` cannot be read stops the plan: what its
//! rollback needs would be unknown.

use super::action::Action;
use super::step::{LockRef, Plan, Step, StepKind};
use crate::docker::disk::{self, Survey};
use crate::docker::{self as dk};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use crate::units::bytes;
use std::collections::{BTreeMap, BTreeSet};

/// What must stay, and why.
#[derive(Debug, Clone, Default)]
pub struct Keep {
    /// Image ids the journal recorded for an app's current or previous version.
    pub ids: BTreeMap<String, String>,
    /// `(tag, why)`: images tagged with a version an app runs or rolls back to.
    pub tags: Vec<(String, String)>,
    /// Compose projects of inventory apps: their stopped containers stay.
    pub projects: BTreeSet<String>,
    /// The apps on the host (their locks are held).
    pub apps: Vec<String>,
}

/// The planner (the signature every planner has).
pub async fn plan(inv: &Inventory, hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    let Action::Prune { host: name, .. } = action else {
        return Err(Error::usage(format!("{} is not a prune", action.name())));
    };
    let host = match hosts.iter().find(|h| h.name() == name) {
        Some(h) => h.clone(),
        None => super::select::host(inv, name)?,
    };
    let keep = gather_keep(inv, name).await?;
    let d = host.docker().await?;
    let survey = disk::survey(&d, name)
        .await
        .map_err(|e| Error::failed(format!("{name}: {}", dk::describe_error(&e))))?;
    plan_prune(action, &survey, &keep)
}

/// Read, for every app on `host`, what its rollback needs.
async fn gather_keep(inv: &Inventory, host: &str) -> Result<Keep, Error> {
    let mut keep = Keep::default();
    let journal = crate::journal::Journal::open_default().await.ok();
    for (app, spec) in inv.apps.iter().filter(|(_, a)| a.host == host) {
        let probe = Action::Rollback {
            app: app.clone(),
            to: None,
        };
        let (input, _) = super::deploy::gather(inv, app, &probe).await.map_err(|e| {
            Error::new(
                e.kind,
                format!(
                    "prune keeps what a rollback of {app} needs, but reading {app} failed: {}",
                    e.message
                ),
            )
        })?;
        keep.apps.push(app.clone());
        keep.projects.insert(input.project.name.clone());
        let versions = [
            (input.current.clone(), spec.version_var.clone()),
            (
                input.previous.clone(),
                format!("PREVIOUS_{}", spec.version_var),
            ),
        ];
        for (v, var) in versions {
            let Some(v) = v else { continue };
            let why = format!("{app}'s {var}={v}");
            if let Some(j) = &journal {
                for r in j.images_of(app, &v).await? {
                    keep.ids.insert(r.image_id, why.clone());
                }
            }
            keep.tags.push((v, why));
        }
    }
    Ok(keep)
}

fn has_label(labels: &BTreeMap<String, String>, want: Option<&(String, String)>) -> bool {
    match want {
        None => true,
        Some((k, v)) => labels.get(k) == Some(v),
    }
}

/// The tag part of `repo:tag` (a registry port is not a tag).
fn tag_of(reference: &str) -> Option<&str> {
    let (repo, tag) = reference.rsplit_once(':')?;
    (!tag.contains('/') && !repo.is_empty()).then_some(tag)
}

/// Why an image must stay, if it must.
pub fn kept_because(image: &disk::ImageRow, keep: &Keep, used: &BTreeSet<&str>) -> Option<String> {
    if used.contains(image.id.as_str()) {
        return Some("a container uses it".into());
    }
    if let Some(why) = keep.ids.get(&image.id) {
        return Some(format!("recorded for {why}"));
    }
    image.tags.iter().find_map(|t| {
        let tag = tag_of(t)?;
        keep.tags
            .iter()
            .find(|(v, _)| v == tag)
            .map(|(_, why)| format!("{t} is {why}"))
    })
}

/// Plan a prune of `survey`'s host. Pure: the table tests drive it.
pub fn plan_prune(action: &Action, survey: &Survey, keep: &Keep) -> Result<Plan, Error> {
    let Action::Prune {
        host,
        images,
        containers,
        volumes,
        label,
    } = action
    else {
        return Err(Error::usage(format!("{} is not a prune", action.name())));
    };
    let label = match label {
        Some(l) => Some(
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::usage(format!("--label {l:?}: write KEY=VALUE")))?,
        ),
        None => None,
    };
    let label = label.as_ref();
    let mut steps = Vec::new();
    let mut removed: BTreeSet<&str> = BTreeSet::new();
    if *containers {
        for c in &survey.containers {
            let of_app = c
                .project
                .as_ref()
                .is_some_and(|p| keep.projects.contains(p));
            if c.stopped && !of_app && has_label(&c.labels, label) {
                removed.insert(c.id.as_str());
                let b = c.size_rw.unwrap_or(0);
                steps.push(Step {
                    name: format!("remove stopped container {} ({})", c.name, bytes(b)),
                    kind: StepKind::RemoveContainer {
                        id: c.id.clone(),
                        container: c.name.clone(),
                        bytes: b,
                    },
                    undo: vec![],
                });
            }
        }
    }
    if *images {
        let used: BTreeSet<&str> = survey
            .containers
            .iter()
            .filter(|c| !removed.contains(c.id.as_str()))
            .map(|c| c.image_id.as_str())
            .collect();
        for i in survey.images() {
            if kept_because(&i, keep, &used).is_some() || !has_label(&i.labels, label) {
                continue;
            }
            let shown = i.tags.first().cloned().unwrap_or_else(|| {
                format!(
                    "<none> {}",
                    i.id.trim_start_matches("sha256:")
                        .chars()
                        .take(12)
                        .collect::<String>()
                )
            });
            steps.push(Step {
                name: format!("remove unused image {shown} ({})", bytes(i.size)),
                kind: StepKind::RemoveImage {
                    id: i.id.clone(),
                    tags: i.tags.clone(),
                    bytes: i.size,
                },
                undo: vec![],
            });
        }
    }
    if *volumes {
        for v in survey.volumes() {
            if v.containers.is_empty() && has_label(&v.labels, label) {
                steps.push(Step {
                    name: format!(
                        "remove unattached volume {} ({})",
                        v.name,
                        v.size.map(bytes).unwrap_or_else(|| "size unknown".into())
                    ),
                    kind: StepKind::RemoveVolume {
                        volume: v.name.clone(),
                        bytes: v.size,
                    },
                    undo: vec![],
                });
            }
        }
    }
    let total: u64 = steps.iter().map(|s| step_bytes(&s.kind)).sum();
    if let Some(last) = steps.last_mut() {
        last.name
            .push_str(&format!("; {} freed in all", bytes(total)));
    }
    let mut plan = Plan::new(action, host.clone(), "prune", None, steps);
    plan.also_lock = keep
        .apps
        .iter()
        .map(|a| LockRef {
            host: host.clone(),
            lock: a.clone(),
        })
        .collect();
    Ok(plan)
}

/// The bytes a removal frees (as far as the engine said).
pub fn step_bytes(kind: &StepKind) -> u64 {
    match kind {
        StepKind::RemoveContainer { bytes, .. } | StepKind::RemoveImage { bytes, .. } => *bytes,
        StepKind::RemoveVolume { bytes, .. } => bytes.unwrap_or(0),
        _ => 0,
    }
}

/// Run one removal step.
pub(super) async fn run_step(host: &Host, kind: &StepKind) -> Result<String, Error> {
    let d = host.docker().await?;
    let fail = |what: String, e: dk::EngineError| {
        Error::failed(format!("{what}: {}", dk::describe_error(&e)))
    };
    match kind {
        StepKind::RemoveContainer {
            id,
            container: name,
            bytes: b,
        } => {
            disk::remove_container(&d, id)
                .await
                .map_err(|e| fail(format!("removing container {name}"), e))?;
            Ok(format!("removed {name}, {} freed", bytes(*b)))
        }
        StepKind::RemoveImage { id, tags, bytes: b } => {
            // Each tag, then (if the last untag did not remove it) the image itself.
            for t in tags {
                disk::remove_image(&d, t)
                    .await
                    .map_err(|e| fail(format!("removing image {t}"), e))?;
            }
            if tags.is_empty() || crate::docker::images::inspect(&d, id).await.is_ok() {
                disk::remove_image(&d, id)
                    .await
                    .map_err(|e| fail(format!("removing image {id}"), e))?;
            }
            Ok(format!("removed {}, {} freed", tags.join(","), bytes(*b)))
        }
        StepKind::RemoveVolume {
            volume: name,
            bytes: b,
        } => {
            disk::remove_volume(&d, name)
                .await
                .map_err(|e| fail(format!("removing volume {name}"), e))?;
            Ok(format!(
                "removed {name}, {} freed",
                b.map(bytes).unwrap_or_else(|| "an unknown size".into())
            ))
        }
        other => Err(Error::failed(format!("not a prune step: {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::disk::SurveyContainer;
    use bollard::models::{ImageSummary, Volume};

    fn image(id: &str, tag: &str, size: i64) -> ImageSummary {
        ImageSummary {
            id: id.into(),
            repo_tags: vec![tag.into()],
            size,
            ..Default::default()
        }
    }

    fn survey() -> Survey {
        Survey {
            host: "alpha".into(),
            images: vec![
                image("sha256:run", "shop:1.4.2", 100),
                image("sha256:prev", "shop:1.4.1", 90),
                image("sha256:journal", "shop:moved", 80),
                image("sha256:old", "shop:1.3.0", 70),
                image("sha256:job", "tools:1", 60),
                image("sha256:none", "<none>:<none>", 50),
                image("sha256:port", "127.0.0.1:5443/x:1.4.1", 40),
            ],
            volumes: vec![
                Volume {
                    name: "data".into(),
                    ..Default::default()
                },
                Volume {
                    name: "orphan".into(),
                    ..Default::default()
                },
            ],
            networks: vec![],
            containers: vec![
                SurveyContainer {
                    id: "c-web".into(),
                    name: "shop_web_1".into(),
                    image_id: "sha256:run".into(),
                    running: true,
                    project: Some("shop".into()),
                    volumes: vec!["data".into()],
                    size_rw: Some(1),
                    ..Default::default()
                },
                SurveyContainer {
                    id: "c-worker".into(),
                    name: "shop_worker_1".into(),
                    image_id: "sha256:old".into(),
                    stopped: true,
                    project: Some("shop".into()),
                    size_rw: Some(2),
                    ..Default::default()
                },
                SurveyContainer {
                    id: "c-job".into(),
                    name: "one-off".into(),
                    image_id: "sha256:job".into(),
                    stopped: true,
                    size_rw: Some(3),
                    ..Default::default()
                },
            ],
        }
    }

    fn keep() -> Keep {
        Keep {
            ids: BTreeMap::from([("sha256:journal".into(), "shop's PREVIOUS_VERSION".into())]),
            tags: vec![
                ("1.4.2".into(), "shop's VERSION=1.4.2".into()),
                ("1.4.1".into(), "shop's PREVIOUS_VERSION=1.4.1".into()),
            ],
            projects: BTreeSet::from(["shop".into()]),
            apps: vec!["shop".into()],
        }
    }

    fn prune(images: bool, containers: bool, volumes: bool) -> Action {
        Action::Prune {
            host: "alpha".into(),
            images,
            containers,
            volumes,
            label: None,
        }
    }

    fn removed(p: &Plan) -> Vec<String> {
        p.steps
            .iter()
            .map(|s| match &s.kind {
                StepKind::RemoveContainer { container, .. } => format!("c:{container}"),
                StepKind::RemoveImage { id, .. } => format!("i:{id}"),
                StepKind::RemoveVolume { volume, .. } => format!("v:{volume}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn what_stays_and_what_goes() {
        let s = survey();
        // (images, containers, volumes) -> what is removed
        type Case = ((bool, bool, bool), &'static [&'static str]);
        let cases: &[Case] = &[
            // Images alone: the one-off's image is still used by its stopped container;
            // the worker's old image by the app's stopped worker.
            ((true, false, false), &["i:sha256:none"]),
            // With containers: the one-off goes, so its image may go too; the app's stopped
            // worker stays (and so its image).
            (
                (true, true, false),
                &["c:one-off", "i:sha256:none", "i:sha256:job"],
            ),
            ((false, true, false), &["c:one-off"]),
            // Volumes: only the one no container mounts.
            ((false, false, true), &["v:orphan"]),
        ];
        for ((i, c, v), want) in cases {
            let p = plan_prune(&prune(*i, *c, *v), &s, &keep()).expect("plan");
            assert_eq!(removed(&p), *want, "{i} {c} {v}");
            assert!(p.destructive && p.needs_confirmation(crate::ops::Asker::Headless));
            assert_eq!(p.also_lock.len(), 1, "the app's lock is held");
        }
    }

    #[test]
    fn rollback_images_are_kept_and_the_plan_shows_the_bytes() {
        let s = survey();
        let p = plan_prune(&prune(true, true, true), &s, &keep()).expect("plan");
        let gone = removed(&p);
        for kept in [
            "sha256:run",
            "sha256:prev",
            "sha256:journal",
            "sha256:port",
            "sha256:old",
        ] {
            assert!(
                !gone.contains(&format!("i:{kept}")),
                "{kept} must stay: {gone:?}"
            );
        }
        let total: u64 = p.steps.iter().map(|s| step_bytes(&s.kind)).sum();
        assert_eq!(total, 3 + 60 + 50);
        let last = &p.steps.last().expect("steps").name;
        assert!(last.ends_with("113B freed in all"), "{last}");
        // Without the rollback facts the previous version's image would have gone.
        let p = plan_prune(&prune(true, false, false), &s, &Keep::default()).expect("plan");
        assert!(removed(&p).contains(&"i:sha256:prev".to_string()));
    }

    #[test]
    fn a_label_limits_every_kind() {
        let mut s = survey();
        s.images[5].labels = std::collections::HashMap::from([("t".into(), "1".into())]);
        let a = Action::Prune {
            host: "alpha".into(),
            images: true,
            containers: true,
            volumes: true,
            label: Some("t=1".into()),
        };
        let p = plan_prune(&a, &s, &keep()).expect("plan");
        assert_eq!(removed(&p), ["i:sha256:none"]);
        let bad = Action::Prune {
            host: "alpha".into(),
            images: true,
            containers: true,
            volumes: true,
            label: Some("nolabel".into()),
        };
        assert!(plan_prune(&bad, &s, &keep()).is_err());
    }
}
