//! Container lifecycle and exec (`start`, `stop`, `restart`, `exec`): which containers a
//! target names on which host ([`resolve`]), and the pure planner from those to steps
//! ([`plan_containers`], table-tested). `--dry-run` prints exactly this; the engine executes
//! exactly this.

use super::action::{Action, ContainerOp, Target};
use super::query::{app_project, belongs_to_app, find_app};
use super::step::{Plan, Step, StepKind};
use crate::docker;
use crate::docker::{Health, State};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use crate::names;
use serde::Serialize;

/// A container the target resolved to, as the planner needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    pub host: String,
    pub id: String,
    pub name: String,
    pub app: Option<String>,
    pub service: Option<String>,
    pub state: State,
    pub health: Health,
}

/// What the planner knows: the containers the target matched, and the app's service order.
#[derive(Debug, Clone, Default)]
pub struct PlanInput {
    pub matched: Vec<Resolved>,
    /// The app's `services`, when the target is an app (roll order).
    pub service_order: Vec<String>,
    /// Every container name that exists on the selected hosts (for suggestions).
    pub known_names: Vec<String>,
}

/// How long a started container may take to be running and healthy.
pub const READY_TIMEOUT_SECS: u64 = 60;

/// Plan `action` against what the target matched. Pure: no I/O, same input, same plan.
pub fn plan_containers(action: &Action, input: &PlanInput) -> Result<Plan, Error> {
    let target = action.target();
    if input.matched.is_empty() {
        let wanted = target.to_string();
        return Err(Error::usage(names::unknown_name_message(
            "container matching",
            &wanted,
            input.known_names.iter().map(String::as_str),
        )));
    }
    let hosts: std::collections::BTreeSet<&str> =
        input.matched.iter().map(|r| r.host.as_str()).collect();
    if hosts.len() > 1 {
        return Err(Error::usage(format!(
            "{target} matches containers on several hosts ({}); write host/container or pass --host",
            hosts.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if let Target::Container { .. } | Target::HostContainer { .. } = target {
        if input.matched.len() > 1 {
            return Err(Error::usage(format!(
                "{target} matches {} containers ({}); name one exactly",
                input.matched.len(),
                input
                    .matched
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut matched = input.matched.clone();
    // Roll in the app's service order; services it does not list come after, by name.
    let rank = |r: &Resolved| {
        r.service
            .as_ref()
            .and_then(|s| input.service_order.iter().position(|o| o == s))
            .unwrap_or(usize::MAX)
    };
    matched.sort_by(|a, b| (rank(a), &a.service, &a.name).cmp(&(rank(b), &b.service, &b.name)));
    let host = matched[0].host.clone();
    let app = target
        .app()
        .map(str::to_string)
        .or_else(|| matched[0].app.clone());
    let lock = match &app {
        Some(a) => a.clone(),
        None => format!("container-{}", matched[0].name),
    };
    let mut steps = Vec::new();
    match action {
        Action::Deploy { .. }
        | Action::Compose { .. }
        | Action::Rollback { .. }
        | Action::DbCreate { .. }
        | Action::RedisAssign { .. }
        | Action::Backup { .. }
        | Action::Verify { .. }
        | Action::Restore { .. }
        | Action::RouteAdd { .. }
        | Action::RouteRemove { .. }
        | Action::RoutesApply { .. }
        | Action::Maintenance { .. }
        | Action::Prune { .. } => {
            return Err(Error::usage(format!(
                "{} is not a container action",
                action.name()
            )));
        }
        Action::Lifecycle { op, .. } => {
            if *op == ContainerOp::Stop {
                // Stop dependents first: the reverse of the roll order.
                matched.reverse();
            }
            for r in &matched {
                let skip = match op {
                    ContainerOp::Start => r.state == State::Running,
                    ContainerOp::Stop => {
                        !matches!(r.state, State::Running | State::Restarting | State::Paused)
                    }
                    ContainerOp::Restart => false,
                };
                if skip {
                    continue;
                }
                steps.push(Step {
                    name: format!("{} {}", op.verb(), r.name),
                    kind: StepKind::Container {
                        op: *op,
                        host: r.host.clone(),
                        id: r.id.clone(),
                        name: r.name.clone(),
                    },
                    undo: vec![],
                });
                if *op != ContainerOp::Stop {
                    steps.push(Step {
                        name: format!("wait until {} is running and healthy", r.name),
                        kind: StepKind::WaitReady {
                            host: r.host.clone(),
                            id: r.id.clone(),
                            name: r.name.clone(),
                            timeout_secs: READY_TIMEOUT_SECS,
                        },
                        undo: vec![],
                    });
                }
            }
        }
        Action::Exec { command, .. } => {
            let r = &matched[0];
            if r.state != State::Running {
                return Err(Error::usage(format!(
                    "{} is {}, not running: nothing to exec into",
                    r.name,
                    r.state.as_str()
                )));
            }
            steps.push(Step {
                name: format!(
                    "exec in {}: {}",
                    r.name,
                    crate::secrets::mask_text(
                        &command
                            .iter()
                            .map(|a| crate::host::shell_quote(a))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                ),
                kind: StepKind::Exec {
                    host: r.host.clone(),
                    id: r.id.clone(),
                    name: r.name.clone(),
                    command: command.clone(),
                },
                undo: vec![],
            });
        }
    }
    Ok(Plan::new(action, host, lock, app, steps))
}

/// Look the target up on the hosts it can live on. `hosts` is the `--host` selection.
pub async fn resolve(inv: &Inventory, hosts: &[Host], target: &Target) -> Result<PlanInput, Error> {
    let mut owned = Vec::new();
    let (look_at, app_spec): (Vec<&Host>, _) = match target {
        Target::App { app } | Target::AppService { app, .. } => {
            let spec = find_app(inv, app)?;
            let h = match hosts.iter().find(|h| h.name() == spec.host) {
                Some(h) => h,
                None => {
                    owned.push(super::select::host(inv, &spec.host)?);
                    &owned[0]
                }
            };
            (vec![h], Some(spec))
        }
        Target::HostContainer { host, .. } => {
            let h = match hosts.iter().find(|h| h.name() == host) {
                Some(h) => h,
                None => {
                    // An unknown host is refused here with the inventory's names.
                    owned.push(super::select::host(inv, host)?);
                    &owned[0]
                }
            };
            (vec![h], None)
        }
        Target::Container { .. } => (hosts.iter().collect(), None),
        Target::Route { .. } | Target::Database { .. } => {
            return Err(Error::usage(format!("{target} is not a container target")))
        }
    };
    let mut input = PlanInput {
        service_order: app_spec.map(|a| a.services.clone()).unwrap_or_default(),
        ..PlanInput::default()
    };
    let mut services_seen = Vec::new();
    let target_project = match (app_spec, look_at.first()) {
        (Some(a), Some(h)) => Some(app_project(h, a).await?),
        _ => None,
    };
    for h in look_at {
        // The projects of the host's apps, resolved on the first container that needs them.
        let mut projects: Option<Vec<(String, crate::docker::compose::Project)>> = None;
        let d = h.docker().await?;
        let list = docker::list_containers(&d, h.name()).await.map_err(|e| {
            Error::unreachable(format!(
                "{}: listing containers failed: {}",
                h.name(),
                docker::describe_error(&e)
            ))
        })?;
        for c in list {
            input.known_names.push(c.name.clone());
            let in_target_app = target_project
                .as_ref()
                .is_some_and(|p| belongs_to_app(&c, p));
            let hit = match target {
                Target::Container { name } | Target::HostContainer { name, .. } => {
                    c.name == *name || (name.len() >= 6 && c.id.starts_with(name.as_str()))
                }
                Target::App { .. } => in_target_app,
                Target::AppService { service, .. } => {
                    let in_app = in_target_app;
                    if in_app {
                        if let Some(s) = &c.service {
                            services_seen.push(s.clone());
                        }
                    }
                    in_app && c.service.as_deref() == Some(service.as_str())
                }
                Target::Route { .. } | Target::Database { .. } => false,
            };
            if hit {
                let app_of = match target {
                    Target::App { app } | Target::AppService { app, .. } => Some(app.clone()),
                    _ => {
                        if projects.is_none() {
                            let mut v = Vec::new();
                            for (n, a) in inv.apps.iter().filter(|(_, a)| a.host == h.name()) {
                                v.push((n.clone(), app_project(h, a).await?));
                            }
                            projects = Some(v);
                        }
                        projects
                            .iter()
                            .flatten()
                            .find(|(_, p)| belongs_to_app(&c, p))
                            .map(|(n, _)| n.clone())
                    }
                };
                input.matched.push(Resolved {
                    host: h.name().to_string(),
                    id: c.id.clone(),
                    name: c.name.clone(),
                    app: app_of,
                    service: c.service.clone(),
                    state: c.state,
                    health: c.health,
                });
            }
        }
    }
    if let (Target::AppService { app, service }, true) = (target, input.matched.is_empty()) {
        services_seen.sort();
        services_seen.dedup();
        return Err(Error::usage(format!(
            "app {app}: {}",
            names::unknown_name_message(
                "service",
                service,
                services_seen.iter().map(String::as_str)
            )
        )));
    }
    Ok(input)
}

/// The planner of `start`/`stop`/`restart`/`exec` (the signature every planner has).
pub async fn plan(inv: &Inventory, hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    let input = resolve(inv, hosts, &action.target()).await?;
    plan_containers(action, &input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, service: &str, state: State) -> Resolved {
        Resolved {
            host: "alpha".into(),
            id: format!("id-{name}"),
            name: name.into(),
            app: Some("shop".into()),
            service: Some(service.into()),
            state,
            health: Health::None,
        }
    }

    fn names_of(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| s.name.clone()).collect()
    }

    #[test]
    fn plans_as_a_table() {
        let app = Target::App { app: "shop".into() };
        let running = vec![
            c("shop-b-1", "platform-b", State::Running),
            c("shop-a-1", "platform-a", State::Running),
        ];
        let order = vec!["platform-a".to_string(), "platform-b".to_string()];
        let cases: Vec<(Action, Vec<Resolved>, Vec<&str>)> = vec![
            (
                Action::Lifecycle {
                    op: ContainerOp::Restart,
                    target: app.clone(),
                },
                running.clone(),
                vec![
                    "restart shop-a-1",
                    "wait until shop-a-1 is running and healthy",
                    "restart shop-b-1",
                    "wait until shop-b-1 is running and healthy",
                ],
            ),
            (
                Action::Lifecycle {
                    op: ContainerOp::Stop,
                    target: app.clone(),
                },
                running.clone(),
                vec!["stop shop-b-1", "stop shop-a-1"],
            ),
            (
                Action::Lifecycle {
                    op: ContainerOp::Start,
                    target: app.clone(),
                },
                vec![
                    c("shop-a-1", "platform-a", State::Exited),
                    c("shop-b-1", "platform-b", State::Running),
                ],
                vec![
                    "start shop-a-1",
                    "wait until shop-a-1 is running and healthy",
                ],
            ),
            (
                Action::Lifecycle {
                    op: ContainerOp::Stop,
                    target: app.clone(),
                },
                vec![c("shop-a-1", "platform-a", State::Exited)],
                vec![],
            ),
            (
                Action::Exec {
                    target: Target::Container {
                        name: "shop-a-1".into(),
                    },
                    command: vec!["ls".into(), "-l".into()],
                },
                vec![c("shop-a-1", "platform-a", State::Running)],
                vec!["exec in shop-a-1: ls -l"],
            ),
        ];
        for (action, matched, expected) in cases {
            let p = plan_containers(
                &action,
                &PlanInput {
                    matched,
                    service_order: order.clone(),
                    known_names: vec![],
                },
            )
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
            assert_eq!(names_of(&p), expected, "{action:?}");
            assert_eq!(p.lock, "shop");
            assert_eq!(p.host, "alpha");
            assert_eq!(
                p.destructive,
                matches!(
                    action,
                    Action::Lifecycle {
                        op: ContainerOp::Stop,
                        ..
                    }
                )
            );
        }
    }

    #[test]
    fn refuses_what_cannot_be_planned() {
        let restart = |t: Target| Action::Lifecycle {
            op: ContainerOp::Restart,
            target: t,
        };
        let none = PlanInput {
            known_names: vec!["shop-web-1".into()],
            ..Default::default()
        };
        let e = plan_containers(
            &restart(Target::Container {
                name: "shop-web".into(),
            }),
            &none,
        )
        .expect_err("no match");
        assert!(
            e.message.contains("did you mean: shop-web-1"),
            "{}",
            e.message
        );
        let mut two_hosts = c("x", "s", State::Running);
        two_hosts.host = "beta".into();
        let input = PlanInput {
            matched: vec![c("x", "s", State::Running), two_hosts],
            ..Default::default()
        };
        assert!(plan_containers(&restart(Target::Container { name: "x".into() }), &input).is_err());
        let stopped = PlanInput {
            matched: vec![c("x", "s", State::Exited)],
            ..Default::default()
        };
        assert!(plan_containers(
            &Action::Exec {
                target: Target::Container { name: "x".into() },
                command: vec!["ls".into()]
            },
            &stopped
        )
        .is_err());
    }

    #[test]
    fn loose_containers_lock_by_name() {
        let mut r = c("redis", "redis", State::Running);
        r.app = None;
        let p = plan_containers(
            &Action::Lifecycle {
                op: ContainerOp::Restart,
                target: Target::Container {
                    name: "redis".into(),
                },
            },
            &PlanInput {
                matched: vec![r],
                ..Default::default()
            },
        )
        .expect("plan");
        assert_eq!(p.lock, "container-redis");
    }
}
