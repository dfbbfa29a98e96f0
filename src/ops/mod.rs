//! The action layer: what the frontends call.
//!
//! - Read-only views (`hosts`, `status`) live in [`query`], `inspect` in [`inspect`], the
//!   disk listings (`images`, `volumes`, `networks`, `df`) in [`disk`]; host selection
//!   (`--host NAME`, `--host tag:prod`) in [`select`].
//! - Read-only hosts (`--read-only`, `read_only = true`) refuse changing actions in one
//!   place, [`read_only`], which [`plan`] applies.
//! - Actions are values ([`action::Action`]); [`plan`] is the one dispatch to each action's
//!   planner ([`lifecycle`], [`deploy`], [`provision`], [`backup`], [`routes`]), all with the
//!   same signature: each gathers the state it needs, then a pure function of it makes the
//!   named steps ([`step`], a leaf every planner builds and the step runner executes);
//!   `--dry-run` prints them; the [`engine::Engine`] executes a plan under a host [`lock`],
//!   journals it, and emits [`event::ActionEvent`]s. Frontends never reach past this module
//!   into adapters.

pub mod action;
pub mod backup;
pub mod checks;
pub mod compose_app;
pub mod deploy;
pub mod disk;
pub mod doctor;
pub mod engine;
pub mod event;
pub mod events;
pub mod forward;
pub mod inspect;
pub mod lifecycle;
pub mod lock;
pub mod logs;
pub mod maintenance;
pub mod metrics;
mod pg_tools;
pub mod progress;
pub mod provision;
pub mod prune;
pub mod query;
pub mod read_only;
pub mod routes;
pub mod select;
pub mod stats;
pub mod step;
mod steps;
pub mod watch;

pub use crate::db::postgres::DbRow;
pub use crate::docker::compose::{NameSource as ProjectNameSource, Project as ComposeProject};
/// Adapter types the frontends see, as the action layer's own (frontends import no adapter).
pub use crate::docker::{parse_image_ref, ContainerInfo, Health, State, StatsSample};
pub use crate::host::{PassphraseSource, TrustedKey};
pub use crate::http::Probe;
pub use crate::routes::Route;
pub use action::{parse_target, Action, ComposeOp, ContainerOp, Target};
pub use engine::{Engine, RunReport};
pub use event::ActionEvent;
pub use query::{hosts_report, status_report, HostReport, HostStatus, StatusOptions};
pub use select::{select_hosts, HostSelection};
pub use step::{Asker, Plan};

use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;

/// Plan an action: what `--dry-run` prints and the engine runs. The one dispatch to the
/// planners; every planner has this signature (`hosts`: the `--host` selection). A changing
/// action on a read-only host is refused here ([`read_only`]), for every frontend.
pub async fn plan(inv: &Inventory, hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    read_only::before_planning(inv, action)?;
    let plan = plan_any(inv, hosts, action).await?;
    read_only::check_plan(inv, &plan)?;
    Ok(plan)
}

async fn plan_any(inv: &Inventory, hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    match action {
        Action::Lifecycle { .. } | Action::Exec { .. } => lifecycle::plan(inv, hosts, action).await,
        Action::Compose { .. } => compose_app::plan(inv, hosts, action).await,
        Action::Deploy { .. } | Action::Rollback { .. } => deploy::plan(inv, hosts, action).await,
        Action::DbCreate { .. } | Action::RedisAssign { .. } => {
            provision::plan(inv, hosts, action).await
        }
        Action::Backup { .. } | Action::Verify { .. } | Action::Restore { .. } => {
            backup::plan(inv, hosts, action).await
        }
        Action::RouteAdd { .. } | Action::RouteRemove { .. } | Action::RoutesApply { .. } => {
            routes::plan(inv, hosts, action).await
        }
        Action::Maintenance { .. } => maintenance::plan(inv, hosts, action).await,
        Action::Prune { .. } => prune::plan(inv, hosts, action).await,
    }
}

/// A handle on the plan's host (from the selection, or the inventory).
pub fn plan_host(inv: &Inventory, hosts: Vec<Host>, plan: &Plan) -> Result<Host, Error> {
    if let Some(h) = hosts.into_iter().find(|h| h.name() == plan.host) {
        return Ok(h);
    }
    select::host(inv, &plan.host)
}
