//! The live state of every host: connection, engine, containers. Watchers (one task per
//! host) feed it [`Update`]s through a channel; applying an update never blocks on I/O.

mod watch;

pub use watch::{spawn_watchers, Focus, WatchHandle};

use crate::docker::{ContainerInfo, StatsSample};
use crate::host::metrics::HostMetrics;
use crate::http::Probe;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Samples kept per series (sparklines and charts).
pub const HISTORY: usize = 60;

/// A bounded series of samples, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series(pub VecDeque<f64>);

impl Series {
    pub fn push(&mut self, v: f64) {
        if self.0.len() >= HISTORY {
            self.0.pop_front();
        }
        self.0.push_back(v);
    }
    pub fn last(&self) -> Option<f64> {
        self.0.back().copied()
    }
}

/// A container's resource history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsHistory {
    pub last: StatsSample,
    pub cpu: Series,
    pub mem: Series,
}

/// A host's metrics history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostMetricsHistory {
    pub last: HostMetrics,
    pub cpu: Series,
    pub mem_used_percent: Series,
    pub error: Option<String>,
}

/// One run of an HTTP check from the inventory (the action layer runs them).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckResult {
    pub name: String,
    pub via: Option<String>,
    pub up: bool,
    #[serde(flatten)]
    pub probe: Probe,
}

/// An HTTP check's history.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckState {
    pub last: CheckResult,
    /// Latency in ms; failed probes are recorded as NaN (drawn as gaps).
    pub latency: Series,
    pub last_success: Option<String>,
    pub failures_in_a_row: u32,
}

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
    Stats {
        host: String,
        id: String,
        sample: StatsSample,
    },
    HostMetrics {
        host: String,
        metrics: Result<HostMetrics, String>,
    },
    Check(Box<CheckResult>),
}

/// Everything the console knows.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub hosts: BTreeMap<String, HostState>,
    /// Keyed by (host, short id).
    pub containers: BTreeMap<(String, String), ContainerInfo>,
    pub stats: HashMap<(String, String), StatsHistory>,
    pub host_metrics: BTreeMap<String, HostMetricsHistory>,
    pub checks: BTreeMap<String, CheckState>,
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
                self.stats.remove(&(host.clone(), id.clone()));
                self.containers.remove(&(host, id));
            }
            Update::Stats { host, id, sample } => {
                let h = self.stats.entry((host, id)).or_default();
                h.cpu.push(sample.cpu_percent);
                h.mem.push(sample.memory_bytes as f64);
                h.last = sample;
            }
            Update::HostMetrics { host, metrics } => {
                let h = self.host_metrics.entry(host).or_default();
                match metrics {
                    Ok(m) => {
                        if let Some(c) = m.cpu_percent {
                            h.cpu.push(c);
                        }
                        if m.mem_total_bytes > 0 {
                            h.mem_used_percent.push(
                                (m.mem_total_bytes - m.mem_available_bytes.min(m.mem_total_bytes))
                                    as f64
                                    / m.mem_total_bytes as f64
                                    * 100.0,
                            );
                        }
                        h.last = m;
                        h.error = None;
                    }
                    Err(e) => h.error = Some(e),
                }
            }
            Update::Check(r) => {
                let r = *r;
                let entry = self
                    .checks
                    .entry(r.name.clone())
                    .or_insert_with(|| CheckState {
                        last: r.clone(),
                        latency: Series::default(),
                        last_success: None,
                        failures_in_a_row: 0,
                    });
                entry.latency.push(if r.up {
                    r.probe.latency_ms.unwrap_or(f64::NAN)
                } else {
                    f64::NAN
                });
                if r.up {
                    entry.last_success = Some(r.probe.at.clone());
                    entry.failures_in_a_row = 0;
                } else {
                    entry.failures_in_a_row += 1;
                }
                entry.last = r;
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
