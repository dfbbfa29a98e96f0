//! The action layer: what the frontends call.
//!
//! Read-only views (`hosts`, `status`) live in [`query`]; host selection (`--host NAME`,
//! `--host tag:prod`) in [`select`]. Frontends never reach past this module into adapters.

pub mod query;
pub mod select;

pub use query::{hosts_report, status_report, HostReport, HostStatus, StatusOptions};
pub use select::{select_hosts, HostSelection};
