//! The action layer: what the frontends call.
//!
//! - Read-only views (`hosts`, `status`) live in [`query`]; host selection (`--host NAME`,
//!   `--host tag:prod`) in [`select`].
//! - Actions are values ([`action::Action`]); [`resolve`] gathers the state a plan needs;
//!   [`plan::plan`] is a pure function from both to named steps (`--dry-run` prints it);
//!   the [`engine::Engine`] executes a plan under a host [`lock`], journals it, and emits
//!   [`event::ActionEvent`]s. Frontends never reach past this module into adapters.

pub mod action;
pub mod backup;
pub mod checks;
pub mod deploy;
pub mod doctor;
pub mod engine;
pub mod event;
pub mod lock;
pub mod logs;
pub mod metrics;
mod pg_tools;
pub mod plan;
pub mod provision;
pub mod query;
pub mod resolve;
pub mod routes;
pub mod select;
pub mod stats;
mod steps;

pub use crate::docker::compose::{NameSource as ProjectNameSource, Project as ComposeProject};
pub use action::{Action, ContainerOp, Target};
pub use engine::{Engine, RunReport};
pub use event::ActionEvent;
pub use plan::{plan, Plan};
pub use query::{hosts_report, status_report, HostReport, HostStatus, StatusOptions};
pub use select::{select_hosts, HostSelection};

use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;

/// Parse a target string against the inventory.
pub fn parse_target(inv: &Inventory, s: &str) -> Result<Target, Error> {
    Target::parse(
        s,
        |a| inv.apps.contains_key(a),
        |h| inv.hosts.contains_key(h),
    )
}

/// Resolve and plan an action: what `--dry-run` prints and the engine runs.
pub async fn prepare(inv: &Inventory, hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    match action {
        Action::Deploy { app, .. } | Action::Rollback { app, .. } => {
            let (input, host) = deploy::gather(inv, app, action).await?;
            deploy::plan_deploy(action, &input, host.name())
        }
        Action::DbCreate { .. } | Action::RedisAssign { .. } => provision::plan(inv, action),
        Action::RouteAdd { host, .. }
        | Action::RouteRemove { host, .. }
        | Action::RoutesApply { host, .. } => {
            let (input, _) = routes::gather(inv, host).await?;
            routes::plan_routes(action, &input)
        }
        Action::Backup { .. } | Action::Verify { .. } | Action::Restore { .. } => {
            backup::plan(inv, action)
        }
        _ => {
            let input = resolve::resolve(inv, hosts, &action.target()).await?;
            plan::plan(action, &input)
        }
    }
}

/// A handle on the plan's host (from the selection, or the inventory).
pub fn plan_host(inv: &Inventory, hosts: Vec<Host>, plan: &Plan) -> Result<Host, Error> {
    if let Some(h) = hosts.into_iter().find(|h| h.name() == plan.host) {
        return Ok(h);
    }
    let spec = inv
        .hosts
        .get(&plan.host)
        .ok_or_else(|| Error::usage(format!("no host named {:?}", plan.host)))?;
    Host::new(&plan.host, spec)
}
