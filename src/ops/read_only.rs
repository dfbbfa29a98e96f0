//! The read-only rule, in one place: a host marked `read_only = true` in the inventory, or
//! every host under `--read-only`, refuses every action that changes anything (exit 4,
//! [`Error::refused`]). [`super::plan`] applies it to every action (and so does the engine,
//! which plans again once locked); `lock release` asks it too. Reads never come here.

use super::action::Action;
use super::step::Plan;
use crate::error::Error;
use crate::inventory::Inventory;

/// Before planning: the run-wide `--read-only` refuses every changing action at once (nothing
/// is gathered from any host).
pub fn before_planning(inv: &Inventory, action: &Action) -> Result<(), Error> {
    if !(inv.read_only && action.changes_anything()) {
        return Ok(());
    }
    Err(refusal(action, None, "opsdeck runs with --read-only"))
}

/// After planning (planning only reads): the plan's host and every host it also locks
/// must accept changes.
pub fn check_plan(inv: &Inventory, plan: &Plan) -> Result<(), Error> {
    if !plan.action.changes_anything() {
        return Ok(());
    }
    let hosts =
        std::iter::once(plan.host.as_str()).chain(plan.also_lock.iter().map(|l| l.host.as_str()));
    for h in hosts {
        if let Some(why) = inv.read_only_reason(h) {
            return Err(refusal(&plan.action, Some(h), &why));
        }
    }
    Ok(())
}

/// For changes that are not actions (`lock release`): refuse on a read-only host.
pub fn check_host(inv: &Inventory, host: &str, what: &str) -> Result<(), Error> {
    match inv.read_only_reason(host) {
        Some(why) => Err(Error::refused(format!(
            "refused: {what} would change host {host}, which is read-only ({why}); nothing was done"
        ))),
        None => Ok(()),
    }
}

fn refusal(action: &Action, host: Option<&str>, why: &str) -> Error {
    let on = match host {
        Some(h) => format!(" would change host {h}, which is read-only ({why})"),
        None => format!(" changes something, and {why}"),
    };
    Error::refused(crate::secrets::mask_text(&format!(
        "refused: `{} {}`{on}; nothing was done (reads such as status and logs still work)",
        action.name(),
        action.target()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::action::{ContainerOp, Target};
    use crate::ops::step::LockRef;

    /// One action of every kind. The match below has no wildcard: a new `Action` variant
    /// does not compile until it is listed here, so it cannot slip past the read-only rule.
    fn every_kind() -> Vec<Action> {
        let app = || "shop".to_string();
        let t = || Target::App { app: app() };
        let all = vec![
            Action::Lifecycle {
                op: ContainerOp::Start,
                target: t(),
            },
            Action::Lifecycle {
                op: ContainerOp::Stop,
                target: t(),
            },
            Action::Lifecycle {
                op: ContainerOp::Restart,
                target: t(),
            },
            Action::Exec {
                target: t(),
                command: vec!["true".into()],
            },
            Action::Deploy {
                app: app(),
                version: Some("v2".into()),
            },
            Action::Rollback {
                app: app(),
                to: None,
            },
            Action::Backup {
                db: app(),
                to: None,
            },
            Action::Verify {
                db: app(),
                backup: "b1".into(),
                to: None,
            },
            Action::Restore {
                db: app(),
                backup: "b1".into(),
                to: None,
                maintenance: true,
            },
            Action::DbCreate {
                app: app(),
                server: None,
                rotate: false,
                write_env: false,
            },
            Action::RedisAssign {
                app: app(),
                server: None,
                rotate: false,
            },
            Action::RouteAdd {
                host: "alpha".into(),
                name: "r".into(),
                rule: "Host(`a.example`)".into(),
                to: "web:80".into(),
                entrypoint: None,
                cert_resolver: None,
            },
            Action::RouteRemove {
                host: "alpha".into(),
                name: "r".into(),
            },
            Action::RoutesApply {
                host: "alpha".into(),
                contents: String::new(),
            },
            Action::Prune {
                host: "alpha".into(),
                images: true,
                containers: true,
                volumes: true,
                label: None,
            },
            Action::Maintenance {
                app: app(),
                on: true,
                message: None,
            },
            Action::Compose {
                app: app(),
                op: crate::ops::ComposeOp::Pull,
            },
        ];
        let mut seen = std::collections::BTreeSet::new();
        for a in &all {
            seen.insert(match a {
                Action::Lifecycle { .. } => 0,
                Action::Exec { .. } => 1,
                Action::Deploy { .. } => 2,
                Action::Rollback { .. } => 3,
                Action::Backup { .. } => 4,
                Action::Verify { .. } => 5,
                Action::Restore { .. } => 6,
                Action::DbCreate { .. } => 7,
                Action::RedisAssign { .. } => 8,
                Action::RouteAdd { .. } => 9,
                Action::RouteRemove { .. } => 10,
                Action::RoutesApply { .. } => 11,
                Action::Prune { .. } => 12,
                Action::Maintenance { .. } => 13,
                Action::Compose { .. } => 14,
            });
        }
        assert_eq!(seen.len(), 15, "every variant has a sample");
        all
    }

    fn inv() -> Inventory {
        let mut inv = Inventory::default();
        for h in ["alpha", "beta"] {
            inv.hosts.insert(h.into(), Default::default());
        }
        inv
    }

    fn plan_on(action: Action, host: &str, also: Option<&str>) -> Plan {
        Plan {
            action,
            host: host.into(),
            lock: "shop".into(),
            app: Some("shop".into()),
            destructive: false,
            steps: vec![],
            also_lock: also
                .map(|h| {
                    vec![LockRef {
                        host: h.into(),
                        lock: "other".into(),
                    }]
                })
                .unwrap_or_default(),
        }
    }

    #[test]
    fn read_only_flag_refuses_every_changing_kind_before_planning() {
        let mut inv = inv();
        for a in every_kind() {
            assert!(before_planning(&inv, &a).is_ok(), "{}", a.name());
        }
        inv.read_only = true;
        for a in every_kind().into_iter().filter(Action::changes_anything) {
            let e = before_planning(&inv, &a).expect_err(a.name());
            assert_eq!(e.kind, crate::error::ExitKind::Refused, "{}", a.name());
            assert!(
                e.message.contains("--read-only") && e.message.contains(a.name()),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn a_read_only_host_refuses_every_changing_kind_and_others_do_not() {
        let mut inv = inv();
        if let Some(h) = inv.hosts.get_mut("alpha") {
            h.read_only = true;
        }
        let kinds: Vec<Action> = every_kind()
            .into_iter()
            .filter(Action::changes_anything)
            .collect();
        assert!(kinds.len() >= 12, "every kind changes something today");
        for a in kinds {
            let e = check_plan(&inv, &plan_on(a.clone(), "alpha", None)).expect_err(a.name());
            assert_eq!(e.kind, crate::error::ExitKind::Refused);
            assert!(
                e.message.contains("host alpha") && e.message.contains("read_only = true"),
                "{}",
                e.message
            );
            // A plan that also locks something on the read-only host is refused too.
            let e = check_plan(&inv, &plan_on(a.clone(), "beta", Some("alpha")));
            assert!(e.is_err(), "{} also locking alpha", a.name());
            assert!(
                check_plan(&inv, &plan_on(a.clone(), "beta", None)).is_ok(),
                "{} on beta",
                a.name()
            );
        }
        assert!(check_host(&inv, "alpha", "releasing a lock").is_err());
        assert!(check_host(&inv, "beta", "releasing a lock").is_ok());
    }
}
