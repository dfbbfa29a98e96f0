//! opsdeck: a terminal operations console for apps on one or a few Docker hosts.
//!
//! The map (frontends at the top, adapters at the bottom; see `architecture.md`):
//!
//! - [`cli`]: the headless frontend (clap): parses arguments, calls [`ops`], prints tables or
//!   JSON, maps errors to exit codes ([`error::ExitKind`]).
//! - [`tui`]: the console (ratatui + crossterm): event loop, panes, keymaps and themes (files in
//!   `keymaps/` and `themes/`, embedded, user overrides patch them).
//! - [`ops`]: the action layer both frontends call: host selection, read-only views (`hosts`,
//!   `status`); actions go through it too.
//! - [`model`]: the live state of all hosts, fed by watchers (Docker events, not polling).
//! - [`inventory`]: `opsdeck.toml` (hosts, apps, databases, storage, checks), strictly parsed;
//!   errors name file, line and key.
//! - [`journal`]: the append-only SQLite journal of actions.
//! - Adapters: [`host`] (run commands, files, the Docker socket; local and SSH transports),
//!   [`docker`] (bollard: containers, stats, engine facts; compose runner), [`routes`] (Traefik:
//!   the file provider's YAML, container labels, the API).
//! - Shared pieces: [`names`] (validation of every name that reaches a host), [`secrets`]
//!   (masking), [`paths`] (XDG directories), [`error`] (error kinds and exit codes).
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
pub mod ops;
pub mod paths;
pub mod routes;
pub mod secrets;
pub mod storage;
pub mod term;
pub mod tui;
pub mod units;
