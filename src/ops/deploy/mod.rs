//! Deploys and rollbacks: one service at a time, each new container health-gated before the
//! next is touched; the version reaches compose through the environment and is written to
//! `.env` only when every service is healthy. A failure puts every recreated service back on
//! the old version (the engine runs the steps' undo lists), so a failed deploy changes
//! nothing.
//!
//! Here: what a plan is made from and the re-exports; reading it from the host in `gather.rs`,
//! the pure planner and its table tests in `plan.rs`, the steps in `exec.rs` (compose, git,
//! `.env`) and `image.rs` (image checks, tags and pins, the journal's image records).

use crate::docker::compose;
use crate::inventory::AppSpec;

mod exec;
mod gather;
mod image;
mod plan;
mod strategy;
mod switch;

pub(super) use exec::{
    build, compose_flavor, compose_run, git_pull, git_reset, recreate, run_checked, run_service,
    service_container, write_env,
};
pub use gather::gather;
pub(super) use image::{check_images, pin_image, record_images, tag_image};
pub use image::{images_from_config, registry_of};
pub use plan::{plan, plan_deploy};
pub(super) use switch::{switch, SwitchCtx};

/// What a deploy or rollback plan is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployInput {
    pub app: String,
    pub spec: AppSpec,
    /// `VERSION` in `.env` now (None: not set).
    pub current: Option<String>,
    /// `PREVIOUS_VERSION` in `.env`.
    pub previous: Option<String>,
    /// Git deploys: the commit checked out now.
    pub git_head: Option<String>,
    /// Git deploys: the image each service's container runs now (what a failure puts back).
    pub running: Vec<RunningImage>,
    /// The app's compose project as compose names it on the host.
    pub project: compose::Project,
    /// Rollbacks: the images the journal recorded for the target version, per service.
    pub pins: Vec<Pin>,
    /// Each service of the compose file as `compose config` resolves it.
    pub shapes: std::collections::BTreeMap<String, compose::shape::ServiceShape>,
    /// The host's proxy, as the zero-downtime switch needs it.
    pub proxy: super::step::SwitchProxy,
}

/// An image a rollback puts back under its tag: what the journal recorded for the version,
/// and what the tag points at on the host now (restored if the rollback fails).
#[derive(Debug, Clone, PartialEq)]
pub struct Pin {
    pub service: String,
    pub reference: String,
    pub image_id: String,
    pub digest: Option<String>,
    pub seen_at: String,
    /// The image id `reference` names on the host now, if any.
    pub current_id: Option<String>,
}

/// The image a service's container runs: its name (as compose gave it) and its ID.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningImage {
    pub service: String,
    pub image: String,
    pub id: String,
}

/// `sha256:0123456789ab…` or a commit as its first 12 hex digits.
fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}
