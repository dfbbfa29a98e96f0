//! Planning a deploy or rollback: what the host has now (`gather.rs`), then a pure
//! function to the steps, each service recreated and health-gated in turn, each with the undo
//! that puts it back.

use super::super::step::{ComposeTarget, Plan, Readiness, Step, StepKind, Switch};
use super::super::Action;
use super::gather::gather;
use super::strategy::{self, Strategy};
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
    let label = version.clone().unwrap_or_else(|| "the new build".into());
    let mut chosen = Vec::new();
    for svc in &spec.services {
        chosen.push((svc, strategy::choose(input, svc)?));
    }
    // One-shot services (`*-migrate`) first: a failed migration stops the deploy before any
    // web container changes. Not on a rollback (migrations are not run backwards).
    for (svc, _) in chosen.iter().filter(|(_, s)| *s == Strategy::RunOnce) {
        if is_rollback {
            continue;
        }
        steps.push(Step {
            name: format!(
                "run {svc} once at {label} (run-once: a one-shot service, exit 0 required before any web service changes)"
            ),
            kind: StepKind::ComposeRunService {
                compose: target.clone(),
                service: svc.to_string(),
                env: env.clone(),
                timeout_secs: 1800,
            },
            undo: vec![],
        });
    }
    for (svc, strat) in &chosen {
        let svc: &String = svc;
        // A git deploy first puts the kept image back under the compose image name.
        let retag: Vec<StepKind> = input
            .running
            .iter()
            .filter(|r| git && &r.service == svc)
            .map(|r| StepKind::TagImage {
                image_id: r.id.clone(),
                reference: r.image.clone(),
            })
            .collect();
        match strat {
            Strategy::RunOnce => {}
            Strategy::StartFirst => {
                let switch = |env: &Vec<(String, String)>, build: bool| {
                    StepKind::ComposeSwitch(Box::new(Switch {
                        compose: target.clone(),
                        service: svc.clone(),
                        env: env.clone(),
                        build,
                        ready: strategy::readiness(spec, svc),
                        drain_secs: spec.drain().as_secs(),
                        timeout_secs,
                        proxy: input.proxy.clone(),
                    }))
                };
                steps.push(Step {
                    name: format!(
                        "switch {svc} to {label} (start-first: a new container beside the old, ready when {} (up to {timeout_secs}s) and routed, then the old one drained (up to {}s) and removed)",
                        strategy::describe_readiness(&strategy::readiness(spec, svc)),
                        spec.drain().as_secs()
                    ),
                    kind: switch(&env, git),
                    // Back to the version it ran, the same gapless way.
                    undo: retag
                        .into_iter()
                        .chain([switch(&old_env, false)])
                        .collect(),
                });
            }
            Strategy::InPlace { why } => {
                let wait = StepKind::WaitService {
                    compose: target.clone(),
                    service: svc.clone(),
                    health_path: match strategy::readiness(spec, svc) {
                        Readiness::Http { path, .. } => Some(path),
                        Readiness::Settle { .. } => None,
                    },
                    health_port: match strategy::readiness(spec, svc) {
                        Readiness::Http { port, .. } => Some(port),
                        Readiness::Settle { .. } => None,
                    },
                    timeout_secs,
                };
                steps.push(Step {
                    name: format!("recreate {svc} at {label} (in-place, with a gap: {why})"),
                    kind: StepKind::ComposeRecreate {
                        compose: target.clone(),
                        service: svc.clone(),
                        env: env.clone(),
                        build: git,
                    },
                    // Put the service back on the version it ran, and check it is healthy
                    // again.
                    undo: retag
                        .into_iter()
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
        }
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
            drain: None,
            zero_downtime: false,
            workers: vec![],
            settle: None,
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
            shapes: ["platform-a", "platform-b"]
                .map(|s| (s.to_string(), Default::default()))
                .into(),
            proxy: Default::default(),
        }
    }

    fn names_of(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| s.name.clone()).collect()
    }

    #[test]
    fn deploy_plan_rolls_one_service_at_a_time_and_writes_env_last() {
        // platform-a can run twice (start-first); platform-b publishes a host port (in place).
        let mut input = input();
        input.shapes.insert(
            "platform-b".into(),
            compose::shape::ServiceShape {
                fixed_ports: vec!["8080".into()],
                ..Default::default()
            },
        );
        let p = plan_deploy(
            &Action::Deploy {
                app: "shop".into(),
                version: Some("1.4.2".into()),
            },
            &input,
            "alpha",
        )
        .expect("plan");
        assert_eq!(
            names_of(&p),
            [
                "record the images platform-a, platform-b run now (1.4.1) in the journal",
                "check that the images of platform-a, platform-b at 1.4.2 are available",
                "migrate: bunx drizzle-kit migrate in platform-a",
                "switch platform-a to 1.4.2 (start-first: a new container beside the old, ready when GET /health on :3000 answers (up to 60s) and routed, then the old one drained (up to 10s) and removed)",
                "recreate platform-b at 1.4.2 (in-place, with a gap: it publishes host port 8080, which a second container cannot bind)",
                "wait until platform-b is healthy (up to 60s)",
                "write VERSION=1.4.2 to .env (previous: 1.4.1)",
                "record the images platform-a, platform-b run at 1.4.2 in the journal",
            ]
        );
        // The switch is undone the same gapless way, back to 1.4.1.
        let StepKind::ComposeSwitch(sw) = &p.steps[3].kind else {
            panic!("{:?}", p.steps[3].kind)
        };
        assert_eq!(sw.env, [("VERSION".to_string(), "1.4.2".to_string())]);
        assert_eq!((sw.drain_secs, sw.timeout_secs), (10, 60));
        assert!(
            matches!(&p.steps[3].undo[..], [StepKind::ComposeSwitch(b)] if b.env == [("VERSION".to_string(), "1.4.1".to_string())])
        );
        assert!(p.steps[3].kind.puts_itself_back());
        // The recreate is undone by a recreate back to 1.4.1, then health-checked.
        let undo = &p.steps[4].undo;
        assert!(
            matches!(&undo[0], StepKind::ComposeRecreate { env, .. } if env == &vec![("VERSION".to_string(), "1.4.1".to_string())])
        );
        assert!(matches!(&undo[1], StepKind::WaitService { .. }));
        assert!(!p.steps[4].kind.puts_itself_back());
        assert!(!p.destructive);
        assert_eq!(p.lock, "shop");
    }

    #[test]
    fn each_shape_gets_its_strategy_and_the_plan_says_why() {
        let deploy = Action::Deploy {
            app: "shop".into(),
            version: Some("1.4.2".into()),
        };
        let mut input = input();
        input.spec.services = vec![
            "web".into(),
            "worker".into(),
            "db-migrate".into(),
            "legacy".into(),
        ];
        input.spec.workers = vec!["worker".into()];
        input.spec.drain = Some(ConfigDuration(Duration::from_secs(3)));
        input.shapes = [
            ("web", compose::shape::ServiceShape::default()),
            ("worker", compose::shape::ServiceShape::default()),
            ("db-migrate", compose::shape::ServiceShape::default()),
            (
                "legacy",
                compose::shape::ServiceShape {
                    container_name: Some("legacy".into()),
                    ..Default::default()
                },
            ),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .into();
        let p = plan_deploy(&deploy, &input, "alpha").expect("plan");
        let names = names_of(&p);
        let at = |prefix: &str| {
            names
                .iter()
                .position(|n| n.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix}: {names:#?}"))
        };
        // The one-shot runs first, before any web container changes, listed order kept
        // for the rest.
        assert!(at("run db-migrate once at 1.4.2 (run-once") < at("switch web to 1.4.2"));
        assert!(at("switch web to 1.4.2") < at("switch worker to 1.4.2"));
        assert!(names[at("switch worker")].contains("running 5s without a restart"));
        assert!(names[at("switch web")].contains("drained (up to 3s)"));
        assert!(names[at("recreate legacy")].contains("container_name: legacy"));
        let StepKind::ComposeSwitch(w) = &p.steps[at("switch worker")].kind else {
            panic!("worker")
        };
        assert_eq!(w.ready, Readiness::Settle { secs: 5 });
        // zero_downtime = true refuses what cannot be gapless, naming it.
        input.spec.zero_downtime = true;
        let e = plan_deploy(&deploy, &input, "alpha").expect_err("refused");
        assert!(
            e.message.contains("legacy") && e.message.contains("container_name"),
            "{}",
            e.message
        );
        // A service compose does not know is named.
        input.spec.zero_downtime = false;
        input.spec.services.push("nope".into());
        let e = plan_deploy(&deploy, &input, "alpha").expect_err("unknown");
        assert!(
            e.message.contains("\"nope\" is not in docker-compose.yml"),
            "{}",
            e.message
        );
        // No one-shot on a rollback.
        input.spec.services.pop();
        let p = plan_deploy(
            &Action::Rollback {
                app: "shop".into(),
                to: None,
            },
            &input,
            "alpha",
        )
        .expect("plan");
        assert!(!names_of(&p).iter().any(|n| n.starts_with("run db-migrate")));
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
            .any(|n| n.starts_with("switch platform-a to 1.4.0 (start-first")));
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
            .position(|s| matches!(s.kind, StepKind::ComposeSwitch(_)))
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
            .find(|s| s.name.starts_with("switch platform-a"))
            .expect("switch a");
        assert!(
            matches!(&recreate_a.undo[0], StepKind::TagImage { reference, .. } if reference == "shop_platform-a")
        );
        assert!(matches!(
            &recreate_a.undo[1],
            StepKind::ComposeSwitch(b) if !b.build
        ));
        assert!(matches!(&recreate_a.kind, StepKind::ComposeSwitch(b) if b.build));
    }
}
