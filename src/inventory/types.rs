use super::ConfigDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole inventory, as parsed and validated.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Where it came from; `None` for the built-in default (the local engine only).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    #[serde(default)]
    pub hosts: BTreeMap<String, HostSpec>,
    #[serde(default)]
    pub apps: BTreeMap<String, AppSpec>,
    #[serde(default)]
    pub databases: BTreeMap<String, DatabaseSpec>,
    #[serde(default)]
    pub storage: BTreeMap<String, StorageSpec>,
    #[serde(default)]
    pub checks: BTreeMap<String, CheckSpec>,
    /// Named volumes and host directories to back up (`opsdeck backup NAME`).
    #[serde(default)]
    pub volumes: BTreeMap<String, super::VolumeSpec>,
    /// Named port forwards (`opsdeck forward NAME`, the console's forwards).
    #[serde(default)]
    pub forwards: BTreeMap<String, ForwardSpec>,
    /// Where `opsdeck watch` sends its alerts.
    #[serde(default)]
    pub alerts: BTreeMap<String, super::AlertSpec>,
    /// The watcher's thresholds.
    #[serde(default)]
    pub watch: super::WatchSpec,
    #[serde(default)]
    pub console: ConsoleSpec,
    /// `--read-only` for this run: every host refuses changes (not a key of the file).
    #[serde(skip)]
    pub read_only: bool,
}

/// A machine that runs Docker: this one (no `ssh`), or one reached over SSH.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// `user@host[:port]`, or an alias from `~/.ssh/config`. Absent: this machine.
    pub ssh: Option<String>,
    /// The Docker socket on that host; default `$DOCKER_HOST` (local only) or
    /// `/var/run/docker.sock`.
    pub docker_socket: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub proxy: Option<ProxySpec>,
    /// Refuse every action that changes anything on this host (reads still work).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

impl HostSpec {
    pub fn is_local(&self) -> bool {
        self.ssh.is_none()
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProxyKind {
    Traefik,
    Caddy,
    Nginx,
}

/// The host's reverse proxy.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    pub kind: ProxyKind,
    /// Traefik file-provider file (in a watched directory).
    pub routes_file: Option<String>,
    /// Traefik API, as reached from the host.
    pub api: Option<String>,
    /// Where Host-header probes are sent, from the host.
    pub entrypoint: Option<String>,
    /// The Docker network the proxy shares with the apps it routes to.
    pub network: Option<String>,
    /// The proxy's container (for its logs).
    pub container: Option<String>,
    /// The image of the apps' maintenance containers (`opsdeck maintenance`): it needs
    /// busybox's `sh` and `httpd`. Default: `busybox:stable`.
    pub maintenance_image: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeployKind {
    /// Set the version variable, pull, roll the services one at a time.
    #[default]
    Image,
    /// `git pull`, build, roll the services one at a time.
    Git,
}

/// An app: a compose project in a directory on a host.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub host: String,
    /// Holds the compose file and `.env`.
    pub dir: String,
    #[serde(default = "default_compose_file")]
    pub compose_file: String,
    /// The compose project name; default: compose's own (the directory's name).
    pub project: Option<String>,
    /// Rolled one at a time, in this order.
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default = "default_version_var")]
    pub version_var: String,
    /// `compose run --rm <first service> <migrate>` before the services roll.
    pub migrate: Option<String>,
    pub health: Option<HealthSpec>,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub deploy: DeployKind,
    /// Zero-downtime switch: how long the old container's in-flight requests get to finish
    /// once the proxy no longer sends it new ones (default 10 s).
    pub drain: Option<ConfigDuration>,
    /// Refuse a deploy that cannot be gapless (a service with a fixed host port or
    /// `container_name:`) instead of recreating those services in place.
    #[serde(default)]
    pub zero_downtime: bool,
    /// Services without a health path (workers): ready when running, not restarting, for
    /// `settle` (default 5 s).
    #[serde(default)]
    pub workers: Vec<String>,
    pub settle: Option<ConfigDuration>,
}

impl AppSpec {
    pub const DEFAULT_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);
    pub const DEFAULT_SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

    pub fn drain(&self) -> std::time::Duration {
        self.drain.map(|d| d.0).unwrap_or(Self::DEFAULT_DRAIN)
    }

    pub fn settle(&self) -> std::time::Duration {
        self.settle.map(|d| d.0).unwrap_or(Self::DEFAULT_SETTLE)
    }
}

fn default_compose_file() -> String {
    "docker-compose.yml".into()
}
fn default_version_var() -> String {
    "VERSION".into()
}

/// How a new container of an app is known to be ready.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    #[serde(default = "default_health_path")]
    pub path: String,
    pub port: u16,
    #[serde(default = "default_health_timeout")]
    pub timeout: ConfigDuration,
}

fn default_health_path() -> String {
    "/health".into()
}
fn default_health_timeout() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(60))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DbEngine {
    Postgres,
    Redis,
}

/// A database server (or one database on it).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    pub host: String,
    pub engine: DbEngine,
    /// Compose service or container name; or `url`.
    pub container: Option<String>,
    pub url: Option<String>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub backup_to: Option<String>,
    /// The apps that use this database (stopped and started around a restore).
    #[serde(default)]
    pub apps: Vec<String>,
    /// Warn when the newest verified backup is older than this.
    pub max_backup_age: Option<ConfigDuration>,
    /// For a Postgres database given by `url`: the image whose pg_dump/psql/pg_restore run
    /// (in a throwaway container on the host) for backups. Default: the newest `postgres`
    /// image on the host, else `postgres:18` pulled.
    pub tools_image: Option<String>,
    /// Backups by `opsdeck watch`, cron syntax (`0 3 * * *`, the watcher's local time).
    pub schedule: Option<String>,
    /// Verification of the newest backup by `opsdeck watch`, cron syntax.
    pub verify_schedule: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    S3,
    Dir,
    HostDir,
}

/// Where backups go.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageSpec {
    pub kind: StorageKind,
    pub path: Option<String>,
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub prefix: Option<String>,
    pub keep_days: Option<u32>,
    pub keep_count: Option<u32>,
}

/// A named forward: a loopback listener on this machine carried through a host's connection.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ForwardSpec {
    /// `databases.NAME`, or a container target with its port: `app/service:PORT`,
    /// `host/container:PORT`, `container:PORT`.
    pub target: String,
    /// Where it listens: `127.0.0.1:PORT`, `[::1]:PORT` or `PORT` (default: 127.0.0.1 and
    /// the target's port when free).
    pub local: Option<String>,
}

/// An HTTP health check.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub url: String,
    /// Run from this host (through its transport) rather than from here.
    pub via: Option<String>,
    #[serde(default = "default_every")]
    pub every: ConfigDuration,
    #[serde(default = "default_check_timeout")]
    pub timeout: ConfigDuration,
    /// The HTTP status that counts as up (default: any 2xx).
    pub expect_status: Option<u16>,
    /// The app this check is about (its alerts are muted while the app's deploy or restore
    /// holds its lock, or the app is in maintenance). Default: the app whose `domains` hold
    /// the URL's host.
    pub app: Option<String>,
    /// Consecutive failures before `opsdeck watch` alerts (default: the alert's `failures`).
    pub failures: Option<u32>,
    /// Consecutive successes before the alert is resolved (default: the alert's).
    pub successes: Option<u32>,
}

fn default_every() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(30))
}
fn default_check_timeout() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(5))
}

/// Console settings: memory caps and look.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSpec {
    /// Lines kept per container in the logs pane.
    #[serde(default = "default_log_lines")]
    pub log_lines: usize,
    /// Longer lines are cut (with a marker) at this many bytes.
    #[serde(default = "default_line_bytes")]
    pub log_line_bytes: usize,
    pub theme: Option<String>,
    pub keymap: Option<String>,
}

impl Default for ConsoleSpec {
    fn default() -> Self {
        Self {
            log_lines: default_log_lines(),
            log_line_bytes: default_line_bytes(),
            theme: None,
            keymap: None,
        }
    }
}

fn default_log_lines() -> usize {
    5_000
}
fn default_line_bytes() -> usize {
    8 * 1024
}

/// The name of the host in the built-in inventory.
pub const LOCAL_HOST: &str = "local";

impl Inventory {
    /// Why changes on `host` are refused, if they are: the run's `--read-only`, or the host's
    /// `read_only = true`. The action layer refuses on this; the console shows it.
    pub fn read_only_reason(&self, host: &str) -> Option<String> {
        if self.read_only {
            return Some("opsdeck runs with --read-only".into());
        }
        let h = self.hosts.get(host)?;
        h.read_only.then(|| match &self.source {
            Some(p) => format!("host {host} has read_only = true in {}", p.display()),
            None => format!("host {host} has read_only = true in the inventory"),
        })
    }

    /// The inventory used when there is no file: the local engine, nothing else.
    pub fn local_default() -> Self {
        let mut inv = Inventory::default();
        inv.hosts.insert(LOCAL_HOST.into(), HostSpec::default());
        inv
    }
}
