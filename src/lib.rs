//! opsdeck: a terminal operations console for apps on one or a few Docker hosts.
//!
//! The map (frontends at the top, adapters at the bottom; `ARCHITECTURE.md` has the layers,
//! the dependency rule `tests/architecture.rs` checks, and where each kind of change goes):
//!
//! - Frontends: [`cli`] (clap: parses arguments, calls [`ops`], prints tables or JSON, maps
//!   errors to exit codes) and [`tui`] (the ratatui console: event loop, panes, key maps and
//!   themes embedded from `keymaps/` and `themes/`, user files patch them).
//! - [`ops`]: the action layer both frontends call: actions, their planners (one dispatch,
//!   [`ops::plan`]), the engine, events and their fold, read-only views (hosts, status,
//!   doctor, logs, stats, checks), host selection and locks.
//! - [`model`]: the live state of all hosts, fed by watchers (Docker events, not polling).
//! - [`inventory`]: `opsdeck.toml` (hosts, apps, databases, storage, checks), strictly parsed;
//!   errors name file, line and key.
//! - [`journal`]: the append-only SQLite journal of actions (and the images deploys ran).
//! - Adapters: [`host`] (commands, files, the Docker socket; local and SSH transports),
//!   [`docker`] (bollard: containers, images, logs, stats, exec; the compose runner, project
//!   names and `.env`), [`db`] (Postgres and Redis administration), [`storage`] (where backups
//!   go: directory, host directory, S3), [`routes`] (Traefik: the file provider's YAML,
//!   container labels, the API), [`http`] (probes and small requests).
//! - Shared leaves: [`names`] (validation of every name that reaches a host), [`secrets`]
//!   (masking), [`paths`] (XDG directories), [`error`] (error kinds and exit codes), [`units`]
//!   (sizes and durations for people), [`term`] (terminal conventions: `NO_COLOR`), [`process`]
//!   (which process wrote a lock or journal entry, and whether it still runs).
#![forbid(unsafe_code)]

pub mod cli;
pub mod db;
pub mod docker;
pub mod error;
pub mod host;
pub mod http;
pub mod inventory;
pub mod journal;
pub mod model;
pub mod names;
pub mod notify;
pub mod ops;
pub mod paths;
pub mod process;
pub mod routes;
pub mod secrets;
pub mod storage;
pub mod term;
pub mod tui;
pub mod units;
