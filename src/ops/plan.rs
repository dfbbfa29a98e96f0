//! Planning: a pure function from an action and the state it acts on to named steps.
//! `--dry-run` prints exactly this; the engine executes exactly this.

use super::action::{Action, ContainerOp, Target};
use crate::docker::{Health, State};
use crate::error::Error;
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    Container {
        op: ContainerOp,
        host: String,
        id: String,
        name: String,
    },
    /// Wait until the container runs (and is healthy, when it has a health check).
    WaitReady {
        host: String,
        id: String,
        name: String,
        timeout_secs: u64,
    },
    Exec {
        host: String,
        id: String,
        name: String,
        command: Vec<String>,
    },
    /// The images of these services at this version are pullable or on the host.
    CheckImages {
        compose: super::deploy::ComposeTarget,
        services: Vec<String>,
        version_var: String,
        version: String,
        pull: bool,
    },
    /// `compose run --rm SERVICE sh -c COMMAND` (migrations).
    ComposeRun {
        compose: super::deploy::ComposeTarget,
        service: String,
        command: String,
        env: Vec<(String, String)>,
    },
    /// `compose up -d --no-deps --force-recreate SERVICE` with `env` set.
    ComposeRecreate {
        compose: super::deploy::ComposeTarget,
        service: String,
        env: Vec<(String, String)>,
        build: bool,
    },
    ComposeBuild {
        compose: super::deploy::ComposeTarget,
        services: Vec<String>,
    },
    GitPull {
        dir: String,
    },
    /// `git reset --keep COMMIT`: the app's tree back where a failed git deploy found it.
    GitReset {
        dir: String,
        commit: String,
    },
    /// Tag an image (by ID) as `reference`: keeps the image a git deploy replaces, and puts it
    /// back under the compose image name when the deploy fails.
    TagImage {
        image_id: String,
        reference: String,
    },
    /// Record in the journal the image (id and registry digest) each service's running
    /// container uses, as the image of `version`: what a rollback to it redeploys.
    RecordImages {
        app: String,
        compose: super::deploy::ComposeTarget,
        services: Vec<String>,
        version: String,
    },
    /// Point the local tag `reference` back at the image recorded for it (`digest`, pulled
    /// with the host's registry credentials if the host lacks it; else the image id), so a
    /// tag moved in the registry since cannot change what a rollback runs.
    PinImage {
        reference: String,
        image_id: String,
        digest: Option<String>,
    },
    /// Wait until the service's newest container runs, passes its Docker health check and
    /// answers its HTTP health path.
    WaitService {
        compose: super::deploy::ComposeTarget,
        service: String,
        health_path: Option<String>,
        health_port: Option<u16>,
        timeout_secs: u64,
    },
    Backup {
        db: super::backup::DbRef,
        storage: super::backup::StorageRef,
    },
    VerifyBackup {
        db: super::backup::DbRef,
        storage: super::backup::StorageRef,
        id: String,
    },
    RestoreBackup {
        db: super::backup::DbRef,
        storage: super::backup::StorageRef,
        id: String,
        apps: Vec<crate::inventory::AppSpec>,
    },
    ProvisionPostgres {
        server: super::provision::ServerRef,
        ident: String,
        rotate: bool,
        env_file: Option<String>,
    },
    AssignRedis {
        server: super::provision::ServerRef,
        app: String,
        rotate: bool,
    },
    /// Set `KEY=value` lines in a dotenv file, atomically.
    WriteEnv {
        path: String,
        pairs: Vec<(String, String)>,
    },
    /// Replace the Traefik routes file atomically (`keep_previous`: old one to FILE.previous).
    WriteRoutes {
        path: String,
        contents: String,
        keep_previous: bool,
    },
    /// Wait until Traefik's API reports `router` loaded without errors (or gone: `present`
    /// false).
    RouteLoaded {
        api: String,
        router: String,
        present: bool,
        /// When present: what Traefik must report for it (so a router that existed before is
        /// not taken as loaded until Traefik has read the new file).
        #[serde(skip_serializing_if = "Option::is_none")]
        expect: Option<super::routes::RouterExpect>,
        timeout_secs: u64,
    },
    /// Wait until `path` answers 2xx through the proxy's entrypoint with `Host: host_header`.
    RouteAnswers {
        entrypoint: String,
        host_header: String,
        path: String,
        timeout_secs: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub name: String,
    #[serde(flatten)]
    pub kind: StepKind,
    /// What puts things back if a later step fails (run in reverse order by the engine).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undo: Vec<StepKind>,
}

/// The steps of one action, with what the engine needs around them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub action: Action,
    /// The host the lock is taken on.
    pub host: String,
    /// The lock's name on that host: the app, or `container-NAME`.
    pub lock: String,
    pub app: Option<String>,
    pub destructive: bool,
    pub steps: Vec<Step>,
}

impl Plan {
    /// The plan as lines for people (dry run, confirmation popup).
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} {} on {} (lock {}){}",
            self.action.name(),
            self.action.target(),
            self.host,
            self.lock,
            if self.destructive {
                ", destructive"
            } else {
                ""
            }
        )];
        out.extend(
            self.steps
                .iter()
                .enumerate()
                .map(|(i, s)| format!("  {}. {}", i + 1, s.name)),
        );
        out
    }
}

/// How long a started container may take to be running and healthy.
pub const READY_TIMEOUT_SECS: u64 = 60;

/// Plan `action` against what the target matched. Pure: no I/O, same input, same plan.
pub fn plan(action: &Action, input: &PlanInput) -> Result<Plan, Error> {
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
        | Action::Rollback { .. }
        | Action::DbCreate { .. }
        | Action::RedisAssign { .. }
        | Action::Backup { .. }
        | Action::Verify { .. }
        | Action::Restore { .. }
        | Action::RouteAdd { .. }
        | Action::RouteRemove { .. }
        | Action::RoutesApply { .. } => {
            return Err(Error::usage("this action is planned by its own module"));
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
    Ok(Plan {
        action: action.clone(),
        host,
        lock,
        app,
        destructive: action.is_destructive(),
        steps,
    })
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
            let p = plan(
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
        let e = plan(
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
        assert!(plan(&restart(Target::Container { name: "x".into() }), &input).is_err());
        let stopped = PlanInput {
            matched: vec![c("x", "s", State::Exited)],
            ..Default::default()
        };
        assert!(plan(
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
        let p = plan(
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
