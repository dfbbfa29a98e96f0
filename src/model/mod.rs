//! The live state of every host: connection, engine, containers. Watchers (one task per
//! host) feed it [`Update`]s through a channel; applying an update never blocks on I/O.

mod watch;

pub use watch::{spawn_watchers, WatchHandle};

use crate::docker::ContainerInfo;
use std::collections::BTreeMap;

/// A host's connection as the console shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Connecting,
    Connected,
    /// Lost; the watcher retries after a pause.
    Down {
        error: String,
        retry_in_secs: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostState {
    pub name: String,
    pub connection: Connection,
    pub engine_version: Option<String>,
    pub latency_ms: Option<f64>,
    pub last_error: Option<String>,
}

/// What a watcher tells the model.
#[derive(Debug, Clone)]
pub enum Update {
    HostConnected {
        host: String,
        engine_version: String,
        latency_ms: f64,
    },
    HostDown {
        host: String,
        error: String,
        retry_in_secs: u64,
    },
    /// The full list after (re)connecting: replaces what the model had for the host.
    Snapshot {
        host: String,
        containers: Vec<ContainerInfo>,
    },
    Upsert(Box<ContainerInfo>),
    Removed {
        host: String,
        id: String,
    },
}

/// Everything the console knows.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub hosts: BTreeMap<String, HostState>,
    /// Keyed by (host, short id).
    pub containers: BTreeMap<(String, String), ContainerInfo>,
    /// Bumped on every change, so views can tell whether to redraw.
    pub generation: u64,
}

impl Model {
    pub fn new<'a>(host_names: impl IntoIterator<Item = &'a str>) -> Self {
        let hosts = host_names
            .into_iter()
            .map(|n| {
                (
                    n.to_string(),
                    HostState {
                        name: n.to_string(),
                        connection: Connection::Connecting,
                        engine_version: None,
                        latency_ms: None,
                        last_error: None,
                    },
                )
            })
            .collect();
        Self {
            hosts,
            ..Self::default()
        }
    }

    /// Apply one update.
    pub fn apply(&mut self, u: Update) {
        self.generation += 1;
        match u {
            Update::HostConnected {
                host,
                engine_version,
                latency_ms,
            } => {
                if let Some(h) = self.hosts.get_mut(&host) {
                    h.connection = Connection::Connected;
                    h.engine_version = Some(engine_version);
                    h.latency_ms = Some(latency_ms);
                }
            }
            Update::HostDown {
                host,
                error,
                retry_in_secs,
            } => {
                if let Some(h) = self.hosts.get_mut(&host) {
                    h.connection = Connection::Down {
                        error: error.clone(),
                        retry_in_secs,
                    };
                    h.last_error = Some(error);
                }
            }
            Update::Snapshot { host, containers } => {
                self.containers.retain(|(h, _), _| *h != host);
                for c in containers {
                    self.containers.insert((host.clone(), c.id.clone()), c);
                }
            }
            Update::Upsert(c) => {
                self.containers.insert((c.host.clone(), c.id.clone()), *c);
            }
            Update::Removed { host, id } => {
                self.containers.remove(&(host, id));
            }
        }
    }

    /// Containers in display order: host, compose project (loose containers last), service,
    /// name.
    pub fn sorted_containers(&self) -> Vec<&ContainerInfo> {
        let mut v: Vec<&ContainerInfo> = self.containers.values().collect();
        v.sort_by(|a, b| {
            (
                &a.host,
                a.project.is_none(),
                &a.project,
                &a.service,
                &a.name,
            )
                .cmp(&(
                    &b.host,
                    b.project.is_none(),
                    &b.project,
                    &b.service,
                    &b.name,
                ))
        });
        v
    }
}
