//! What a plan is made of: its steps and the payloads they carry (where a compose project
//! lives, which database and storage a backup uses, which server provisioning talks to, what
//! Traefik must report for a router). A leaf of the action layer: every planner builds these
//! and the step runner executes them, and this module imports neither, so adding an action
//! never makes a cycle. Behaviour that needs an adapter lives with the planner that owns it
//! (`impl` blocks in `deploy`, `backup`, `routes`, ...).

use super::action::{Action, ComposeOp, ContainerOp};
use crate::docker::compose::{self, ComposeFlavor};
use crate::host::Cmd;
use crate::inventory::{AppSpec, StorageSpec};
use crate::secrets::Secret;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    Container {
        op: ContainerOp,
        host: String,
        id: String,
        name: String,
    },
    /// Wait until the container runs (and is healthy, when it has a health check).
    WaitReady {
        host: String,
        id: String,
        name: String,
        timeout_secs: u64,
    },
    Exec {
        host: String,
        id: String,
        name: String,
        command: Vec<String>,
    },
    /// The images of these services at this version are pullable or on the host.
    CheckImages {
        compose: ComposeTarget,
        services: Vec<String>,
        version_var: String,
        version: String,
        pull: bool,
    },
    /// `compose run --rm SERVICE sh -c COMMAND` (migrations).
    ComposeRun {
        compose: ComposeTarget,
        service: String,
        command: String,
        env: Vec<(String, String)>,
    },
    /// `compose up -d --no-deps --force-recreate SERVICE` with `env` set.
    ComposeRecreate {
        compose: ComposeTarget,
        service: String,
        env: Vec<(String, String)>,
        build: bool,
    },
    ComposeBuild {
        compose: ComposeTarget,
        services: Vec<String>,
    },
    /// The zero-downtime switch of one service: containers of the new version started beside
    /// the old ones (`compose up --scale`, so they carry the service's labels and networks and
    /// compose counts them as its own), ready, routed by the proxy, then the old ones taken out
    /// of rotation, drained and removed. Any failure removes the new containers and leaves the
    /// old ones serving.
    ComposeSwitch(Box<Switch>),
    /// A one-shot service (`*-migrate`): `compose run --rm SERVICE` with `env` set; exit 0
    /// required.
    ComposeRunService {
        compose: ComposeTarget,
        service: String,
        env: Vec<(String, String)>,
        timeout_secs: u64,
    },
    /// `compose up -d` / `down` / `pull` of an app's whole project (`services`: each
    /// service and its image, as compose resolved them when planned).
    ComposeApp {
        compose: ComposeTarget,
        op: ComposeOp,
        services: Vec<(String, Option<String>)>,
        timeout_secs: u64,
    },
    GitPull {
        dir: String,
    },
    /// `git reset --keep COMMIT`: the app's tree back where a failed git deploy found it.
    GitReset {
        dir: String,
        commit: String,
    },
    /// Tag an image (by ID) as `reference`: keeps the image a git deploy replaces, and puts it
    /// back under the compose image name when the deploy fails.
    TagImage {
        image_id: String,
        reference: String,
    },
    /// Record in the journal the image (id and registry digest) each service's running
    /// container uses, as the image of `version`: what a rollback to it redeploys.
    RecordImages {
        app: String,
        compose: ComposeTarget,
        services: Vec<String>,
        version: String,
    },
    /// Point the local tag `reference` back at the image recorded for it (`digest`, pulled
    /// with the host's registry credentials if the host lacks it; else the image id), so a
    /// tag moved in the registry since cannot change what a rollback runs.
    PinImage {
        reference: String,
        image_id: String,
        digest: Option<String>,
    },
    /// Wait until the service's newest container runs, passes its Docker health check and
    /// answers its HTTP health path.
    WaitService {
        compose: ComposeTarget,
        service: String,
        health_path: Option<String>,
        health_port: Option<u16>,
        timeout_secs: u64,
    },
    Backup {
        db: DbRef,
        storage: StorageRef,
    },
    VerifyBackup {
        db: DbRef,
        storage: StorageRef,
        id: String,
    },
    RestoreBackup {
        db: DbRef,
        storage: StorageRef,
        id: String,
        apps: Vec<crate::inventory::AppSpec>,
    },
    BackupVolume {
        vol: VolRef,
        storage: StorageRef,
    },
    VerifyVolume {
        vol: VolRef,
        storage: StorageRef,
        id: String,
    },
    RestoreVolume {
        vol: VolRef,
        storage: StorageRef,
        id: String,
    },
    BackupRedis {
        db: RedisRef,
        storage: StorageRef,
    },
    VerifyRedis {
        db: RedisRef,
        storage: StorageRef,
        id: String,
    },
    RestoreRedis {
        db: RedisRef,
        storage: StorageRef,
        id: String,
    },
    ProvisionPostgres {
        server: ServerRef,
        ident: String,
        rotate: bool,
        env_file: Option<String>,
    },
    AssignRedis {
        server: ServerRef,
        app: String,
        rotate: bool,
    },
    /// Set `KEY=value` lines in a dotenv file, atomically.
    WriteEnv {
        path: String,
        pairs: Vec<(String, String)>,
    },
    /// Replace the Traefik routes file atomically (`keep_previous`: old one to FILE.previous).
    WriteRoutes {
        path: String,
        contents: String,
        keep_previous: bool,
    },
    /// Wait until Traefik's API reports `router` loaded without errors (or gone: `present`
    /// false).
    RouteLoaded {
        api: String,
        router: String,
        present: bool,
        /// When present: what Traefik must report for it (so a router that existed before is
        /// not taken as loaded until Traefik has read the new file).
        #[serde(skip_serializing_if = "Option::is_none")]
        expect: Option<RouterExpect>,
        timeout_secs: u64,
    },
    /// Wait until `path` answers 2xx through the proxy's entrypoint with `Host: host_header`.
    RouteAnswers {
        entrypoint: String,
        host_header: String,
        path: String,
        timeout_secs: u64,
    },
    /// Remove a stopped container (the engine refuses a running one).
    RemoveContainer {
        id: String,
        container: String,
        bytes: u64,
    },
    /// Remove an unused image: each tag, then the image (never forced).
    RemoveImage {
        id: String,
        tags: Vec<String>,
        bytes: u64,
    },
    /// Remove a volume no container mounts (the engine refuses one in use).
    RemoveVolume {
        volume: String,
        bytes: Option<u64>,
    },
    /// Start the app's maintenance container (a 503 page with the message) and wait until it
    /// answers.
    StartMaintenance {
        site: MaintenanceSite,
    },
    /// Remove the app's maintenance container (gone already is fine).
    StopMaintenance {
        app: String,
        container: String,
    },
    /// Add the app's maintenance routers to the routes file (read, edited, checked and
    /// written atomically when the step runs: the service's address is the container's,
    /// known once it runs). The previous file is kept as FILE.previous.
    WriteMaintenanceRoutes {
        path: String,
        site: MaintenanceSite,
        routers: Vec<crate::routes::maintenance::MaintRouter>,
    },
    /// Wait until `/` through the entrypoint with `Host: host_header` answers 503 with the
    /// maintenance page.
    MaintenanceAnswers {
        entrypoint: String,
        host_header: String,
        timeout_secs: u64,
    },
}

impl StepKind {
    /// A step that, when it fails, has already put back what it changed (its undo list is
    /// for a LATER step's failure).
    pub fn puts_itself_back(&self) -> bool {
        matches!(self, StepKind::ComposeSwitch(_))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub name: String,
    #[serde(flatten)]
    pub kind: StepKind,
    /// What puts things back if a later step fails (run in reverse order by the engine).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undo: Vec<StepKind>,
}

/// The steps of one action, with what the engine needs around them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub action: Action,
    /// The host the lock is taken on.
    pub host: String,
    /// The lock's name on that host: the app, or `container-NAME`.
    pub lock: String,
    pub app: Option<String>,
    pub destructive: bool,
    pub steps: Vec<Step>,
    /// Further locks held for the whole run (taken after `lock`, in this order): a restore
    /// holds the lock of every app that uses the database, on the apps' own hosts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_lock: Vec<LockRef>,
}

/// A lock on a host other than (or beside) the plan's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockRef {
    pub host: String,
    pub lock: String,
}

/// Who would answer a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// A script or a shell: `--yes` is the answer.
    Headless,
    /// A person at the console, reading the plan in a popup.
    Console,
}

impl Plan {
    /// A plan whose `destructive` flag is the action's own rule (a planner that knows more,
    /// such as a routes apply that drops routers, sets it after).
    pub fn new(
        action: &Action,
        host: impl Into<String>,
        lock: impl Into<String>,
        app: Option<String>,
        steps: Vec<Step>,
    ) -> Self {
        Plan {
            action: action.clone(),
            host: host.into(),
            lock: lock.into(),
            app,
            destructive: action.is_destructive(),
            steps,
            also_lock: Vec::new(),
        }
    }

    /// The one confirmation rule. A destructive plan (it stops, drops or overwrites
    /// something) needs a yes everywhere: `--yes` headless, `y` in the console. In the
    /// console, where a person reads the plan before it runs, a plan that changes what serves
    /// traffic (a deploy, a routes file replaced) is shown for a yes too; headless, the
    /// command itself is that decision.
    pub fn needs_confirmation(&self, asker: Asker) -> bool {
        self.destructive
            || (asker == Asker::Console
                && matches!(
                    self.action,
                    Action::Deploy { .. }
                        | Action::RoutesApply { .. }
                        | Action::Maintenance { on: true, .. }
                ))
    }

    /// The plan as lines for people (dry run, confirmation popup).
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} {} on {} (lock {}){}",
            self.action.name(),
            self.action.target(),
            self.host,
            self.lock,
            if self.destructive {
                ", destructive"
            } else {
                ""
            }
        )];
        out.extend(
            self.steps
                .iter()
                .enumerate()
                .map(|(i, s)| format!("  {}. {}", i + 1, s.name)),
        );
        out
    }
}

/// Where an app's compose project lives, as every compose step needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComposeTarget {
    pub dir: String,
    pub compose_file: String,
    /// `-p`, when the inventory names the project.
    pub project: Option<String>,
    /// The project name compose puts on the containers' labels.
    pub project_label: String,
    /// The project's working directory, as compose records it on the containers.
    pub working_dir: String,
}

impl ComposeTarget {
    /// The app's compose project, named as compose names it (see `query::app_project`).
    pub fn new(app: &AppSpec, project: &compose::Project) -> Self {
        Self {
            dir: app.dir.clone(),
            compose_file: app.compose_file.clone(),
            project: app.project.clone(),
            project_label: project.name.clone(),
            working_dir: project.working_dir.clone(),
        }
    }

    /// Whether a container with these compose labels is one of the project's.
    pub fn owns(&self, project_label: Option<&str>, working_dir_label: Option<&str>) -> bool {
        compose::project::owns(
            &self.project_label,
            &self.working_dir,
            project_label,
            working_dir_label,
        )
    }

    /// `compose [-p P] -f FILE ARGS...` run in the app's directory.
    pub fn cmd(&self, flavor: &ComposeFlavor, args: &[&str]) -> Cmd {
        let mut all: Vec<String> = Vec::new();
        if let Some(p) = &self.project {
            all.extend(["-p".to_string(), p.clone()]);
        }
        all.extend(["-f".to_string(), self.compose_file.clone()]);
        all.extend(args.iter().map(|s| s.to_string()));
        flavor.cmd(all).cwd(self.dir.clone())
    }

    pub fn env_path(&self) -> PathBuf {
        PathBuf::from(&self.dir).join(".env")
    }
}

/// One service's zero-downtime switch ([`StepKind::ComposeSwitch`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Switch {
    pub compose: ComposeTarget,
    pub service: String,
    pub env: Vec<(String, String)>,
    /// Let compose build the image (git deploys).
    pub build: bool,
    pub ready: Readiness,
    /// How long the old containers' in-flight requests get once no new ones reach them.
    pub drain_secs: u64,
    /// How long a new container gets to become ready (and routed).
    pub timeout_secs: u64,
    pub proxy: SwitchProxy,
}

/// When a new container counts as ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Readiness {
    /// Its Docker health check passes (when it has one) and `GET path` on `port` answers 2xx.
    Http { path: String, port: u16 },
    /// Running, not restarting, for `secs` (workers without a health path); its Docker
    /// health check passes when it has one.
    Settle { secs: u64 },
}

/// What the switch knows about the host's proxy, to prove it routes to the new container and
/// to take the old one out of rotation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SwitchProxy {
    /// `traefik`, `nginx`, `caddy` (`None`: no proxy in the inventory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Traefik's API, as reached from the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The proxy's entrypoint, for Host-header probes of `domains`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// The path probed through the proxy (the app's health path, else `/`).
    pub probe_path: String,
    /// The proxy's container, reloaded (`nginx -s reload`) so nginx resolves the service's
    /// name again once the new container is up and once the old one is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload: Option<String>,
}

/// What a backup needs to know about the database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbRef {
    /// The inventory's name.
    pub name: String,
    /// The database's container; for a database given by URL, the server's address.
    pub container: String,
    pub database: String,
    pub user: String,
    /// No `user` in the inventory and the database has a container: its superuser is the
    /// container's `POSTGRES_USER` (the official image's convention), read when the action runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user_from_container: bool,
    /// A database given by URL: the tools run in a throwaway container on the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ToolsServer>,
    /// The database's apps (to tell its container from other projects' of the same name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<crate::inventory::AppSpec>,
}

/// A `[volumes.NAME]` as its backup steps see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolRef {
    /// The inventory's name.
    pub name: String,
    pub source: crate::inventory::VolumeSource,
    /// Its apps (stopped around a restore, and around a backup with `stop_apps`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<crate::inventory::AppSpec>,
    /// Their names, as the inventory gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_names: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_apps: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_image: Option<String>,
}

/// A Redis database (in a container) as its backup steps see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedisRef {
    pub name: String,
    pub container: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<crate::inventory::AppSpec>,
}

/// Where backups go: the inventory's storage entry, by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageRef {
    pub name: String,
    pub spec: StorageSpec,
}

/// A Postgres server given by URL (no container of its own to exec into).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolsServer {
    /// As the database's host reaches it.
    pub address: String,
    pub port: u16,
    pub sslmode: Option<String>,
    /// The image with the client tools; `None`: the newest `postgres` image on the host.
    pub tools_image: Option<String>,
    #[serde(skip)]
    pub password: Option<Secret>,
}

impl ToolsServer {
    /// `address:port` for plans and messages (never the password).
    pub fn display(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

/// How to reach a database server, as the inventory describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerRef {
    /// The inventory's name for it.
    pub name: String,
    /// Shown in plans and JSON without its password.
    #[serde(serialize_with = "crate::secrets::serialize_masked_url")]
    pub url: Option<String>,
    pub container: Option<String>,
    pub user: Option<String>,
    /// The database's apps (to tell its container from other projects' of the same name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<crate::inventory::AppSpec>,
}

/// What Traefik must report for a router of the new file: its rule, entrypoints (when the
/// file names them), service, and that service's servers (when the file defines it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouterExpect {
    pub rule: String,
    pub entrypoints: Vec<String>,
    pub service: Option<String>,
    pub servers: Vec<String>,
}

impl MaintenanceSite {
    /// The label on a maintenance container: the app's name.
    pub const LABEL: &'static str = "opsdeck.maintenance";
    /// The label with its message.
    pub const MESSAGE_LABEL: &'static str = "opsdeck.maintenance.message";
    /// The label with the app's compose project (the console's banner goes on its rows).
    pub const PROJECT_LABEL: &'static str = "opsdeck.maintenance.project";
}

/// An app's maintenance container: where it runs and what it says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceSite {
    pub app: String,
    pub container: String,
    pub image: String,
    /// The proxy's network (the container is attached there and Traefik reaches it by its
    /// address on it); `None`: the engine's default bridge.
    pub network: Option<String>,
    pub message: String,
    /// The app's compose project (the console shows the banner on its rows).
    pub project: String,
    pub port: u16,
}
