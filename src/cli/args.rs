//! The command line, as clap reads it. The same definition generates completions and the
//! man page.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "opsdeck",
    version,
    about = "A terminal operations console for apps on a few Docker hosts",
    long_about = "With no command, opens the console (TUI). With a command, runs headless: the same actions, for scripts and CI.\n\nExit codes: 0 done; 1 the action failed; 2 bad usage or input; 3 a host could not be reached; 4 refused."
)]
pub struct Cli {
    /// Inventory file (default: $OPSDECK_CONFIG, ./opsdeck.toml, $XDG_CONFIG_HOME/opsdeck/opsdeck.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only these hosts: a name, or tag:TAG. Repeatable.
    #[arg(long = "host", global = true, value_name = "NAME|tag:TAG")]
    pub hosts: Vec<String>,
    /// Output for people or for machines.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Confirm destructive actions.
    #[arg(long, global = true)]
    pub yes: bool,
    /// Print the plan and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// More detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No colours (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Change nothing on any host: every action that would is refused (exit 4); reads work.
    #[arg(long, global = true)]
    pub read_only: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Each host: reachable, auth method, engine and compose versions, latency.
    Hosts {
        #[command(subcommand)]
        command: Option<HostsCommand>,
    },
    /// Containers per host: project/service, state, health, image:tag, uptime, CPU, memory.
    Status {
        /// Only this app's containers.
        app: Option<String>,
        /// Skip the CPU/memory sample (faster on hosts with many containers).
        #[arg(long)]
        no_stats: bool,
    },
    /// Merged logs of containers, one prefix per container.
    Logs {
        /// container, host/container, app or app/service (several: merged).
        #[arg(required = true)]
        targets: Vec<String>,
        /// Keep following new lines.
        #[arg(short, long)]
        follow: bool,
        /// Only lines newer than this (e.g. 10m, 2h).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// Only the last N lines of each container's history (default 100 without -f).
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
        /// Only lines matching this regular expression.
        #[arg(long, value_name = "REGEX")]
        grep: Option<String>,
        /// Show the engine's timestamp on each line.
        #[arg(short, long)]
        timestamps: bool,
    },
    /// The hosts' engine events: start, die (with exit code), oom, kill, health_status,
    /// restart, image pull, network connect, ... Without -f: the last --since (default 1h) in
    /// time order; with -f: new ones as they come. TARGETs (container, host/container, app,
    /// app/service) narrow it; --action too (repeatable).
    Events {
        targets: Vec<String>,
        /// Keep following new events.
        #[arg(short, long)]
        follow: bool,
        /// How far back (e.g. 10m, 2h; default 1h without -f, none with it).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// Only this action (die, oom, health_status, restart, ...); repeatable.
        #[arg(long = "action", value_name = "ACTION")]
        actions: Vec<String>,
    },
    /// Unattended: checks, container health, restart loops, OOM kills, disks, backup ages
    /// and certificates, alerts through [alerts], scheduled backups. Runs until SIGTERM or
    /// Ctrl-C (exit 0); --once looks until every failing subject has alerted or recovered,
    /// then exits 1 if an alert is firing.
    Watch {
        #[arg(long)]
        once: bool,
        /// Serve Prometheus metrics here (e.g. 127.0.0.1:9187).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
    },
    /// Uptime of the checks over 24 h, 7 d and 30 d, from what `opsdeck watch` recorded.
    Uptime { check: Option<String> },
    /// One resource snapshot: CPU, memory, network and block I/O per container.
    Stats {
        /// Only these (default: every running container).
        targets: Vec<String>,
        /// Repeat every two seconds until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// Run the inventory's HTTP health checks now (exit 1 if any is down).
    Check {
        /// Only this check.
        name: Option<String>,
    },
    /// The journal: actions, who, when, outcome.
    History {
        /// Only this app.
        app: Option<String>,
        /// Only this action (deploy, restart, backup, ...).
        #[arg(long)]
        action: Option<String>,
        /// Only this outcome.
        #[arg(long, value_parser = ["running", "succeeded", "failed", "cancelled", "refused"])]
        outcome: Option<String>,
        /// Only entries newer than this (e.g. 2h, 7d).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Every container TARGET names, in full: image and digest, command, env (secrets masked),
    /// mounts, ports, networks with addresses, labels, restart policy and count, limits,
    /// state (exit code, OOM-killed), health check and its last results.
    Inspect { target: String },
    /// Images per host: tags, id, size, and the containers created from each.
    Images,
    /// Volumes per host: driver, size (where the engine reports it), the containers mounting each.
    Volumes,
    /// Networks per host: driver, subnets, the containers attached and their addresses.
    Networks,
    /// Disk use per host, like `docker system df`: images, containers, volumes, build cache,
    /// with size and what could be reclaimed ('?': this engine does not report it).
    Df,
    /// Remove what takes disk on one host and nothing needs (destructive: needs --yes):
    /// stopped containers (not an inventory app's), unused images (never one an app's
    /// VERSION or PREVIOUS_VERSION names, or the journal recorded for them), unattached
    /// volumes. No flag: --images and --containers. The plan shows the bytes each frees.
    Prune {
        #[arg(long)]
        images: bool,
        #[arg(long)]
        containers: bool,
        /// Volumes are pruned only when asked for.
        #[arg(long)]
        volumes: bool,
        /// Only what carries this label.
        #[arg(long, value_name = "KEY=VALUE")]
        label: Option<String>,
    },
    /// Listen on loopback (--local, default 127.0.0.1 and the target's port when free) and
    /// carry each connection through the host connection to TARGET: a database of the
    /// inventory (NAME or databases.NAME), a container target with its port
    /// (app/service:PORT, host/container:PORT), or a [forwards.NAME]. Only our own user may
    /// connect. Until Ctrl-C.
    Forward {
        target: String,
        #[arg(long, value_name = "ADDR:PORT")]
        local: Option<String>,
    },
    /// `compose up -d` for APP's whole project in its directory (compose's project name and
    /// `.env`), then wait until every container runs (healthy where it has a health check,
    /// one-shots exited 0).
    Up { app: String },
    /// `compose down` for APP (destructive: needs --yes): its containers and networks are
    /// removed; volumes and images are kept.
    Down { app: String },
    /// `compose pull` for APP: every service's image fetched with the host's registry login;
    /// says which changed. Running containers are not changed (`up` or `deploy` starts them).
    Pull { app: String },
    /// Start containers: TARGET is container, host/container, app or app/service.
    Start { target: String },
    /// Stop containers (destructive: needs --yes).
    Stop { target: String },
    /// Restart containers, one at a time, waiting for each to be running and healthy.
    Restart { target: String },
    /// Run a command in a running container: `opsdeck exec TARGET -- CMD ARGS...`.
    Exec {
        target: String,
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Rolling, health-gated deploy: one service at a time; `.env` is written only when all are
    /// healthy. A failure puts everything back (exit 1). Git apps: pull, build, roll.
    Deploy {
        app: String,
        /// The image tag to deploy (image apps).
        #[arg(long, value_name = "TAG")]
        version: Option<String>,
    },
    /// Back to the previous version (PREVIOUS_VERSION in .env), or --to TAG; same rolling path.
    Rollback {
        app: String,
        #[arg(long, value_name = "TAG")]
        to: Option<String>,
    },
    /// A streamed, checksummed pg_dump -Fc of a database, published only when complete.
    /// Back up a database, or a `[volumes.NAME]` (a named volume or a host directory).
    Backup {
        db: String,
        /// The storage (default: the database's or volume's backup_to).
        #[arg(long, value_name = "STORAGE")]
        to: Option<String>,
    },
    /// Backups: id, time, size, sha256, verified, age.
    Backups { db: Option<String> },
    /// Prove a backup restores: checksum, pg_restore --list, scratch restore, row counts.
    Verify {
        db: String,
        backup: String,
        #[arg(long, value_name = "STORAGE")]
        to: Option<String>,
    },
    /// Traefik routes of a host: list and probe them, or add/remove/apply safely (validated,
    /// written atomically, proven through Traefik's API and the proxy, put back on failure).
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
    /// Why is APP down or 404? DNS, containers, proxy network, route, health directly and
    /// through the proxy, TLS, proxy log lines; each with a verdict and a hint. Exit 0 only
    /// when every step passes. OPSDECK_RESOLVE=name:ip,... overrides DNS answers.
    Doctor { app: String },
    /// Restore a backup (needs --yes): into a scratch database first and checked; then the
    /// apps using the database are stopped, the scratch swapped in (the old database kept),
    /// the apps started and health-checked; any failure puts the old database back.
    Restore {
        db: String,
        backup: String,
        #[arg(long, value_name = "STORAGE")]
        to: Option<String>,
        /// Show the database's apps' maintenance page while it is restored (Traefik hosts).
        #[arg(long)]
        maintenance: bool,
    },
    /// Switch APP's routes to a maintenance page (`on`, a 503 with the message) or back
    /// (`off`), through the safe routes path: checked, written atomically, proven through
    /// Traefik and its entrypoint, put back on failure.
    Maintenance {
        app: String,
        #[arg(value_enum)]
        state: MaintenanceState,
        /// What the page says (with `on`).
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
    /// Postgres databases: create one (with its own role) for an app, or list them.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Redis: give an app its own DB index (and an ACL user where the server has ACLs).
    Redis {
        #[command(subcommand)]
        command: RedisCommand,
    },
    /// Inspect or release an app's lock on its host.
    Lock {
        #[command(subcommand)]
        command: LockCommand,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Every route: file provider routes, container label routes, and what Traefik reports.
    List,
    /// Add a route to the host's routes file; exit 1 (file put back) if Traefik rejects it or
    /// the target's /health does not answer through the proxy.
    Add {
        /// The router (and service) name.
        name: String,
        /// A Traefik rule with at least one Host matcher, e.g. 'Host(`shop.example.com`)'.
        #[arg(long)]
        rule: String,
        /// The backend: a URL (http://10.0.0.5:3000) or container:port.
        #[arg(long, value_name = "URL|CONTAINER:PORT")]
        to: String,
        /// The entrypoint (default: all of Traefik's).
        #[arg(long)]
        entrypoint: Option<String>,
        /// The ACME certificate resolver (turns TLS on).
        #[arg(long, value_name = "RESOLVER")]
        cert_resolver: Option<String>,
    },
    /// Remove a route from the host's routes file (destructive: needs --yes).
    Remove { name: String },
    /// Probe routes through the proxy: GET /health with each route's Host header through
    /// the host's entrypoint; exit 1 when one does not answer 2xx.
    Check {
        /// Only this router.
        name: Option<String>,
    },
    /// Print the host's routes file as it is now (edit it, then `routes apply` it).
    Show,
    /// Replace the host's routes file with FILE ('-': standard input). The whole file is
    /// checked first (nothing is written on a problem, exit 2); then every router must load
    /// in Traefik and new or changed ones answer /health through the proxy, else the
    /// previous file is put back (exit 1). Dropping routers needs --yes.
    Apply {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Who holds the app's lock, since when, and whether it is stale.
    Status { app: String },
    /// Release the app's lock (needs --yes; a live lock also needs --force).
    Release {
        app: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create a role and a database owned by it, isolated from other apps; prints
    /// DATABASE_URL once. Idempotent: an existing one is reported and left alone.
    Create {
        app: String,
        /// The server (a [databases.NAME] with engine = "postgres").
        #[arg(long, value_name = "DB")]
        server: Option<String>,
        /// Give the role a new password (the old one stops working).
        #[arg(long)]
        rotate_password: bool,
        /// Write DATABASE_URL into the app's .env (atomically).
        #[arg(long)]
        write_env: bool,
    },
    /// Databases with owner, size and connections.
    List {
        #[arg(long, value_name = "DB")]
        server: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RedisCommand {
    /// Pick an empty, unassigned DB index for the app, record it on the server, print REDIS_URL.
    Assign {
        app: String,
        #[arg(long, value_name = "DB")]
        server: Option<String>,
        #[arg(long)]
        rotate_password: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// Record an SSH host's key in known_hosts after checking its fingerprint (needs --yes,
    /// or --fingerprint matching what the host presents). A changed key is never replaced.
    Trust {
        name: String,
        /// The SHA256:... fingerprint you verified out of band.
        #[arg(long, value_name = "SHA256:...")]
        fingerprint: Option<String>,
    },
}

/// `maintenance APP on|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MaintenanceState {
    On,
    Off,
}
