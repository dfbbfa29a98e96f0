//! Planning a deploy or rollback: what the host has now (`gather.rs`), then a pure
//! function to the steps, each service recreated and health-gated in turn, each with the undo
//! that puts it back.

use super::super::step::{ComposeTarget, Plan, Step, StepKind};
use super::super::Action;
use super::gather::gather;
use super::{short_id, DeployInput};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{DeployKind, Inventory};
use crate::names;

/// The tag a git deploy keeps a replaced image under (until the next deploy of the app).
fn keep_reference(project: &str, service: &str) -> String {
    let clean = |s: &str| {
        s.to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
    };
    format!(
        "opsdeck-keep/{}-{}:previous",
        clean(project),
        clean(service)
    )
}

/// The planner of deploy / rollback (the signature every planner has).
pub async fn plan(inv: &Inventory, _hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    let app = match action {
        Action::Deploy { app, .. } | Action::Rollback { app, .. } => app,
        other => {
            return Err(Error::usage(format!("{} is not a deploy", other.name())));
        }
    };
    let (input, host) = gather(inv, app, action).await?;
    plan_deploy(action, &input, host.name())
}

/// Plan `deploy APP --version TAG` (image) or a git deploy. Pure.
pub fn plan_deploy(action: &Action, input: &DeployInput, host: &str) -> Result<Plan, Error> {
    let (version, is_rollback) = match action {
        Action::Deploy { version, .. } => (version.clone(), false),
        Action::Rollback { to, .. } => {
            let to = to
                .clone()
                .or_else(|| input.previous.clone())
                .ok_or_else(|| Error::usage(format!(
                    "{}: no previous version to roll back to (PREVIOUS_{} is not in .env and no --to was given)",
                    input.app, input.spec.version_var
                )))?;
            (Some(to), true)
        }
        _ => return Err(Error::usage("not a deploy")),
    };
    let spec = &input.spec;
    if spec.services.is_empty() {
        return Err(Error::usage(format!(
            "app {}: `services` is empty; list the services to roll, in order",
            input.app
        )));
    }
    let target = ComposeTarget::new(spec, &input.project);
    let health = spec.health.clone();
    let timeout_secs = health.as_ref().map(|h| h.timeout.0.as_secs()).unwrap_or(60);
    let mut steps = Vec::new();
    let git = spec.deploy == DeployKind::Git && !is_rollback;
    match (&version, git) {
        (Some(v), false) => {
            names::check_tag(v).map_err(Error::usage)?;
            if let Some(cur) = &input.current {
                steps.push(Step {
                    name: format!(
                        "record the images {} run now ({cur}) in the journal",
                        spec.services.join(", ")
                    ),
                    kind: StepKind::RecordImages {
                        app: input.app.clone(),
                        compose: target.clone(),
                        services: spec.services.clone(),
                        version: cur.clone(),
                    },
                    undo: vec![],
                });
            }
            for p in &input.pins {
                if p.current_id.as_deref() == Some(p.image_id.as_str()) {
                    continue; // the tag still names the image recorded for it
                }
                steps.push(Step {
                    name: format!(
                        "pin {} to the image {} ran as {v} ({}, seen {})",
                        p.reference,
                        p.service,
                        p.digest
                            .as_deref()
                            .and_then(|d| d.rsplit_once('@').map(|(_, h)| short_id(h)))
                            .unwrap_or_else(|| short_id(&p.image_id)),
                        p.seen_at
                    ),
                    kind: StepKind::PinImage {
                        reference: p.reference.clone(),
                        image_id: p.image_id.clone(),
                        digest: p.digest.clone(),
                    },
                    undo: p
                        .current_id
                        .iter()
                        .map(|id| StepKind::TagImage {
                            image_id: id.clone(),
                            reference: p.reference.clone(),
                        })
                        .collect(),
                });
            }
            steps.push(Step {
                name: format!(
                    "check that the images of {} at {v} are available",
                    spec.services.join(", ")
                ),
                kind: StepKind::CheckImages {
                    compose: target.clone(),
                    services: spec.services.clone(),
                    version_var: spec.version_var.clone(),
                    version: v.clone(),
                    pull: !is_rollback,
                },
                undo: vec![],
            });
        }
        (None, false) => {
            return Err(Error::usage(format!(
                "deploy {}: --version is required for image deploys",
                input.app
            )))
        }
        (_, true) => {
            // Keep what runs now under a tag of our own: a failure puts it back.
            for r in &input.running {
                steps.push(Step {
                    name: format!(
                        "keep the image {} runs now ({})",
                        r.service,
                        short_id(&r.id)
                    ),
                    kind: StepKind::TagImage {
                        image_id: r.id.clone(),
                        reference: keep_reference(&target.project_label, &r.service),
                    },
                    undo: vec![],
                });
            }
            steps.push(Step {
                name: match &input.git_head {
                    Some(h) => format!("git pull (now at {})", short_id(h)),
                    None => "git pull".into(),
                },
                kind: StepKind::GitPull {
                    dir: spec.dir.clone(),
                },
                undo: input
                    .git_head
                    .iter()
                    .map(|h| StepKind::GitReset {
                        dir: spec.dir.clone(),
                        commit: h.clone(),
                    })
                    .collect(),
            });
            steps.push(Step {
                name: format!("build {}", spec.services.join(", ")),
                kind: StepKind::ComposeBuild {
                    compose: target.clone(),
                    services: spec.services.clone(),
                },
                undo: vec![],
            });
        }
    }
    let env: Vec<(String, String)> = match &version {
        Some(v) if !git => vec![(spec.version_var.clone(), v.clone())],
        _ => vec![],
    };
    if let (Some(m), false) = (&spec.migrate, is_rollback) {
        steps.push(Step {
            name: format!("migrate: {} in {}", m, spec.services[0]),
            kind: StepKind::ComposeRun {
                compose: target.clone(),
                service: spec.services[0].clone(),
                command: m.clone(),
                env: env.clone(),
            },
            undo: vec![],
        });
    }
    let old_env: Vec<(String, String)> = input
        .current
        .as_ref()
        .map(|c| vec![(spec.version_var.clone(), c.clone())])
        .unwrap_or_default();
    for svc in &spec.services {
        let wait = StepKind::WaitService {
            compose: target.clone(),
            service: svc.clone(),
            health_path: health.as_ref().map(|h| h.path.clone()),
            health_port: health.as_ref().map(|h| h.port),
            timeout_secs,
        };
        let label = version.clone().unwrap_or_else(|| "the new build".into());
        steps.push(Step {
            name: format!("recreate {svc} at {label}"),
            kind: StepKind::ComposeRecreate {
                compose: target.clone(),
                service: svc.clone(),
                env: env.clone(),
                build: git,
            },
            // Put the service back on the version it ran, and check it is healthy again. A git
            // deploy first puts the kept image back under the compose image name.
            undo: input
                .running
                .iter()
                .filter(|r| git && &r.service == svc)
                .map(|r| StepKind::TagImage {
                    image_id: r.id.clone(),
                    reference: r.image.clone(),
                })
                .chain([
                    StepKind::ComposeRecreate {
                        compose: target.clone(),
                        service: svc.clone(),
                        env: old_env.clone(),
                        build: false,
                    },
                    wait.clone(),
                ])
                .collect(),
        });
        steps.push(Step {
            name: format!("wait until {svc} is healthy (up to {timeout_secs}s)"),
            kind: wait,
            undo: vec![],
        });
    }
    if let (Some(v), false) = (&version, git) {
        let previous = input.current.clone().unwrap_or_default();
        steps.push(Step {
            name: format!(
                "write {}={v} to .env (previous: {})",
                spec.version_var,
                if previous.is_empty() {
                    "none"
                } else {
                    &previous
                }
            ),
            kind: StepKind::WriteEnv {
                path: target.env_path().display().to_string(),
                // No version in .env before: nothing to call "previous" (an empty
                // PREVIOUS_VERSION would only make a later rollback fail obscurely).
                pairs: std::iter::once((spec.version_var.clone(), v.clone()))
                    .chain(
                        (!previous.is_empty())
                            .then(|| (format!("PREVIOUS_{}", spec.version_var), previous)),
                    )
                    .collect(),
            },
            undo: vec![],
        });
        steps.push(Step {
            name: format!(
                "record the images {} run at {v} in the journal",
                spec.services.join(", ")
            ),
            kind: StepKind::RecordImages {
                app: input.app.clone(),
                compose: target.clone(),
                services: spec.services.clone(),
                version: v.clone(),
            },
            undo: vec![],
        });
    }
    Ok(Plan::new(
        action,
        host,
        input.app.clone(),
        Some(input.app.clone()),
        steps,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{Pin, RunningImage};
    use super::*;
    use crate::docker::compose;
    use crate::inventory::{AppSpec, ConfigDuration, HealthSpec};
    use std::time::Duration;

    fn spec() -> AppSpec {
        AppSpec {
            host: "alpha".into(),
            dir: "/opt/shop".into(),
            compose_file: "docker-compose.yml".into(),
            project: None,
            services: vec!["platform-a".into(), "platform-b".into()],
            version_var: "VERSION".into(),
            migrate: Some("bunx drizzle-kit migrate".into()),
            health: Some(HealthSpec {
                path: "/health".into(),
                port: 3000,
                timeout: ConfigDuration(Duration::from_secs(60)),
            }),
            domains: vec![],
            deploy: DeployKind::Image,
        }
    }

    fn input() -> DeployInput {
        DeployInput {
            git_head: None,
            running: vec![],
            app: "shop".into(),
            spec: spec(),
            current: Some("1.4.1".into()),
            previous: Some("1.4.0".into()),
            project: compose::Project {
                name: "shop".into(),
                source: compose::NameSource::Directory,
                working_dir: "/opt/alpha/sites/shop".into(),
            },
            pins: vec![],
        }
    }

    fn names_of(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| s.name.clone()).collect()
    }

    #[test]
    fn deploy_plan_rolls_one_service_at_a_time_and_writes_env_last() {
        let p = plan_deploy(
            &Action::Deploy {
                app: "shop".into(),
                version: Some("1.4.2".into()),
            },
            &input(),
            "alpha",
        )
        .expect("plan");
        assert_eq!(
            names_of(&p),
            [
                "record the images platform-a, platform-b run now (1.4.1) in the journal",
                "check that the images of platform-a, platform-b at 1.4.2 are available",
                "migrate: bunx drizzle-kit migrate in platform-a",
                "recreate platform-a at 1.4.2",
                "wait until platform-a is healthy (up to 60s)",
                "recreate platform-b at 1.4.2",
                "wait until platform-b is healthy (up to 60s)",
                "write VERSION=1.4.2 to .env (previous: 1.4.1)",
                "record the images platform-a, platform-b run at 1.4.2 in the journal",
            ]
        );
        // Each recreate can be undone: back to 1.4.1, then health-checked.
        let undo = &p.steps[3].undo;
        assert!(
            matches!(&undo[0], StepKind::ComposeRecreate { env, .. } if env == &vec![("VERSION".to_string(), "1.4.1".to_string())])
        );
        assert!(matches!(&undo[1], StepKind::WaitService { .. }));
        assert!(!p.destructive);
        assert_eq!(p.lock, "shop");
    }

    #[test]
    fn rollback_goes_to_previous_or_named_and_is_destructive() {
        let p = plan_deploy(
            &Action::Rollback {
                app: "shop".into(),
                to: None,
            },
            &input(),
            "alpha",
        )
        .expect("plan");
        assert!(p.destructive);
        assert!(names_of(&p)
            .iter()
            .any(|n| n == "recreate platform-a at 1.4.0"));
        assert!(
            !names_of(&p).iter().any(|n| n.starts_with("migrate")),
            "no migration on rollback"
        );
        let p = plan_deploy(
            &Action::Rollback {
                app: "shop".into(),
                to: Some("1.3.9".into()),
            },
            &input(),
            "alpha",
        )
        .expect("plan");
        let names = names_of(&p);
        assert!(
            names[names.len() - 2].contains("VERSION=1.3.9"),
            "{names:?}"
        );
        assert!(names[names.len() - 1].contains("run at 1.3.9 in the journal"));
        // The images recorded for the target version are pinned before anything is recreated,
        // unless the tag still names them; a failure points the tag back.
        let mut pinned = input();
        pinned.pins = vec![
            Pin {
                service: "platform-a".into(),
                reference: "reg.example:5000/shop:1.4.0".into(),
                image_id: "sha256:aaaa".into(),
                digest: Some("reg.example:5000/shop@sha256:0123456789abcdef".into()),
                seen_at: "2026-12-01T10:00:00Z".into(),
                current_id: Some("sha256:bbbb".into()),
            },
            Pin {
                service: "platform-b".into(),
                reference: "reg.example:5000/shop:1.4.0".into(),
                image_id: "sha256:cccc".into(),
                digest: None,
                seen_at: "2026-12-01T10:00:00Z".into(),
                current_id: Some("sha256:cccc".into()),
            },
        ];
        let p = plan_deploy(
            &Action::Rollback {
                app: "shop".into(),
                to: None,
            },
            &pinned,
            "alpha",
        )
        .expect("plan");
        let pins: Vec<&Step> = p
            .steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::PinImage { .. }))
            .collect();
        assert_eq!(pins.len(), 1, "platform-b's tag already names its image");
        assert!(pins[0].name.contains("0123456789ab"), "{}", pins[0].name);
        assert!(
            matches!(&pins[0].undo[..], [StepKind::TagImage { image_id, .. }] if image_id == "sha256:bbbb")
        );
        let first_recreate = p
            .steps
            .iter()
            .position(|s| matches!(s.kind, StepKind::ComposeRecreate { .. }))
            .expect("recreate");
        let pin_at = p
            .steps
            .iter()
            .position(|s| matches!(s.kind, StepKind::PinImage { .. }))
            .expect("pin");
        assert!(pin_at < first_recreate);
        let mut none = input();
        none.previous = None;
        assert!(plan_deploy(
            &Action::Rollback {
                app: "shop".into(),
                to: None
            },
            &none,
            "alpha"
        )
        .is_err());
    }

    #[test]
    fn bad_tags_and_git_deploys() {
        for bad in ["", "-x", "v1;rm", "a b", "$(id)"] {
            assert!(
                plan_deploy(
                    &Action::Deploy {
                        app: "shop".into(),
                        version: Some(bad.into())
                    },
                    &input(),
                    "alpha"
                )
                .is_err(),
                "{bad}"
            );
        }
        let mut git = input();
        git.spec.deploy = DeployKind::Git;
        let p = plan_deploy(
            &Action::Deploy {
                app: "shop".into(),
                version: None,
            },
            &git,
            "alpha",
        )
        .expect("plan");
        assert_eq!(
            names_of(&p)[..2],
            [
                "git pull".to_string(),
                "build platform-a, platform-b".to_string()
            ]
        );
        assert!(!names_of(&p).iter().any(|n| n.contains(".env")));
        // With what runs now known: keep those images first; a failure resets the tree and
        // puts the kept image back under the compose name before recreating.
        git.git_head = Some("0123456789abcdef0123456789abcdef01234567".into());
        git.running = vec![RunningImage {
            service: "platform-a".into(),
            image: "shop_platform-a".into(),
            id: "sha256:feedbeef0000".into(),
        }];
        let p = plan_deploy(
            &Action::Deploy {
                app: "shop".into(),
                version: None,
            },
            &git,
            "alpha",
        )
        .expect("plan");
        assert!(
            matches!(&p.steps[0].kind, StepKind::TagImage { image_id, reference }
            if image_id == "sha256:feedbeef0000" && reference.starts_with("opsdeck-keep/"))
        );
        assert_eq!(p.steps[1].name, "git pull (now at 0123456789ab)");
        assert!(
            matches!(&p.steps[1].undo[..], [StepKind::GitReset { commit, .. }] if commit.starts_with("0123"))
        );
        let recreate_a = p
            .steps
            .iter()
            .find(|s| s.name.starts_with("recreate platform-a"))
            .expect("recreate a");
        assert!(
            matches!(&recreate_a.undo[0], StepKind::TagImage { reference, .. } if reference == "shop_platform-a")
        );
        assert!(matches!(
            &recreate_a.undo[1],
            StepKind::ComposeRecreate { build: false, .. }
        ));
    }
}
