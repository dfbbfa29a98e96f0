//! Actions are values. A CLI subcommand and a TUI key both produce an [`Action`]; both then
//! call [`super::plan()`] and the [`super::Engine`]. Every name in an action is validated when
//! the action is built, before anything touches a host.

use crate::error::Error;
use crate::names;
use serde::Serialize;

/// What an action works on. A target string names one of the first four (`container`,
/// `host/container`, `app`, `app/service`); routes and databases are the targets of their own
/// actions. [`Display`](std::fmt::Display) is the text the journal and the locks record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A container by name or id, on whichever selected host has it.
    Container { name: String },
    /// A container on a named host.
    HostContainer { host: String, name: String },
    /// Every container of an app (its compose project).
    App { app: String },
    /// The containers of one compose service of an app.
    AppService { app: String, service: String },
    /// A route of a host's routes file (`file`: the whole file); shown `host/route:name`.
    Route { host: String, name: String },
    /// A database of the inventory (backup, verify, restore).
    Database { db: String },
}

impl Target {
    /// Parse and validate a target as the user wrote it. Whether `x` is an app or a container
    /// (and `x/y` a host or an app) is decided against the inventory.
    pub fn parse(
        s: &str,
        is_app: impl Fn(&str) -> bool,
        is_host: impl Fn(&str) -> bool,
    ) -> Result<Self, Error> {
        if s.len() > 200 {
            return Err(Error::usage(format!(
                "target is {} characters long; at most 200 are allowed",
                s.len()
            )));
        }
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [one] => {
                if is_app(one) {
                    Ok(Target::App {
                        app: one.to_string(),
                    })
                } else {
                    names::check_container(one).map_err(|e| Error::usage(format!("target {e}")))?;
                    Ok(Target::Container {
                        name: one.to_string(),
                    })
                }
            }
            [a, b] => {
                names::check_name("target", a).map_err(Error::usage)?;
                names::check_container(b).map_err(|e| Error::usage(format!("target {e}")))?;
                match (is_app(a), is_host(a)) {
                    (true, true) => Err(Error::usage(format!(
                        "{a:?} is both an app and a host; rename one in the inventory"
                    ))),
                    (true, false) => Ok(Target::AppService {
                        app: a.to_string(),
                        service: b.to_string(),
                    }),
                    (false, true) => Ok(Target::HostContainer {
                        host: a.to_string(),
                        name: b.to_string(),
                    }),
                    (false, false) => Err(Error::usage(format!(
                        "{:?} before '/' is neither an app nor a host of the inventory",
                        names::printable(a)
                    ))),
                }
            }
            _ => Err(Error::usage(format!(
                "target {:?}: write container, host/container, app or app/service",
                names::printable(s)
            ))),
        }
    }

    pub fn app(&self) -> Option<&str> {
        match self {
            Target::App { app } | Target::AppService { app, .. } => Some(app),
            _ => None,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Container { name } => write!(f, "{name}"),
            Target::HostContainer { host, name } => write!(f, "{host}/{name}"),
            Target::App { app } => write!(f, "{app}"),
            Target::AppService { app, service } => write!(f, "{app}/{service}"),
            Target::Route { host, name } => write!(f, "{host}/route:{name}"),
            Target::Database { db } => write!(f, "{db}"),
        }
    }
}

/// Parse a target string against the inventory.
pub fn parse_target(inv: &crate::inventory::Inventory, s: &str) -> Result<Target, Error> {
    Target::parse(
        s,
        |a| inv.apps.contains_key(a),
        |h| inv.hosts.contains_key(h),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerOp {
    Start,
    Stop,
    Restart,
}

impl ContainerOp {
    pub fn verb(self) -> &'static str {
        match self {
            ContainerOp::Start => "start",
            ContainerOp::Stop => "stop",
            ContainerOp::Restart => "restart",
        }
    }
}

/// Compose run for a whole app, as an operator runs it in the app's directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComposeOp {
    /// `compose up -d`: every service created or brought to its configuration, then waited
    /// for (running, healthy where it has a check, one-shots exited 0).
    Up,
    /// `compose down`: the project's containers and networks removed; volumes and images kept.
    Down,
    /// `compose pull`: every service's image fetched with the host's registry login; running
    /// containers are not changed.
    Pull,
}

impl ComposeOp {
    pub fn verb(self) -> &'static str {
        match self {
            ComposeOp::Up => "up",
            ComposeOp::Down => "down",
            ComposeOp::Pull => "pull",
        }
    }
}

/// Everything opsdeck can do to a host. Deploys, backups, provisioning and routes plug in
/// here as variants, each with its own planner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Start, stop or restart containers (a compose service's, an app's, or one).
    Lifecycle { op: ContainerOp, target: Target },
    /// `compose up -d`, `down` or `pull` for an app's whole project.
    Compose { app: String, op: ComposeOp },
    /// Run a command inside a container.
    Exec {
        target: Target,
        command: Vec<String>,
    },
    /// Roll the app's services to a new version (`version`), or pull and build (git apps).
    Deploy {
        app: String,
        version: Option<String>,
    },
    /// Back to the previous version, or `to`.
    Rollback { app: String, to: Option<String> },
    /// A streamed, checksummed `pg_dump -Fc` of a database to a storage.
    Backup { db: String, to: Option<String> },
    /// Prove a backup restores (scratch database, row counts).
    Verify {
        db: String,
        backup: String,
        to: Option<String>,
    },
    /// Restore a backup: scratch first, then swap it in around the apps (destructive).
    Restore {
        db: String,
        backup: String,
        to: Option<String>,
        /// Put the database's apps into maintenance before they are stopped, and take them
        /// out once they are healthy again (or the restore was put back).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        maintenance: bool,
    },
    /// A Postgres role and database for an app.
    DbCreate {
        app: String,
        server: Option<String>,
        rotate: bool,
        write_env: bool,
    },
    /// A Redis DB index (and ACL user) for an app.
    RedisAssign {
        app: String,
        server: Option<String>,
        rotate: bool,
    },
    /// Add a route to a host's Traefik routes file; proven through the API and the proxy.
    RouteAdd {
        host: String,
        name: String,
        rule: String,
        to: String,
        entrypoint: Option<String>,
        cert_resolver: Option<String>,
    },
    /// Remove a route from a host's Traefik routes file.
    RouteRemove { host: String, name: String },
    /// Replace a host's routes file with edited text (the console's editor, `routes apply`):
    /// checked whole, written atomically, every router proven loaded, new ones answering.
    RoutesApply { host: String, contents: String },
    /// Switch an app's routes to a maintenance page (`on`) or back (`off`), through the
    /// routes file: checked, written atomically, proven through the proxy, put back on failure.
    Maintenance {
        app: String,
        on: bool,
        message: Option<String>,
    },
    /// Remove what takes disk on a host and nothing uses: stopped containers, unused images,
    /// unattached volumes; never what a rollback needs (destructive).
    Prune {
        host: String,
        images: bool,
        containers: bool,
        volumes: bool,
        /// Only what carries this label (`KEY=VALUE`), like `docker prune --filter label=`.
        label: Option<String>,
    },
}

impl Action {
    /// The name the journal and the JSON events use.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Lifecycle { op, .. } => op.verb(),
            Action::Exec { .. } => "exec",
            Action::Compose { op, .. } => op.verb(),
            Action::Deploy { .. } => "deploy",
            Action::Rollback { .. } => "rollback",
            Action::DbCreate { .. } => "db_create",
            Action::Backup { .. } => "backup",
            Action::Verify { .. } => "verify",
            Action::Restore { .. } => "restore",
            Action::RedisAssign { .. } => "redis_assign",
            Action::RouteAdd { .. } => "route_add",
            Action::RouteRemove { .. } => "route_remove",
            Action::RoutesApply { .. } => "routes_apply",
            Action::Maintenance { on: true, .. } => "maintenance_on",
            Action::Maintenance { on: false, .. } => "maintenance_off",
            Action::Prune { .. } => "prune",
        }
    }

    pub fn target(&self) -> Target {
        match self {
            Action::Lifecycle { target, .. } | Action::Exec { target, .. } => target.clone(),
            Action::Deploy { app, .. }
            | Action::Compose { app, .. }
            | Action::Rollback { app, .. }
            | Action::DbCreate { app, .. }
            | Action::RedisAssign { app, .. }
            | Action::Maintenance { app, .. } => Target::App { app: app.clone() },
            Action::Backup { db, .. } | Action::Verify { db, .. } | Action::Restore { db, .. } => {
                Target::Database { db: db.clone() }
            }
            Action::RouteAdd { host, name, .. } | Action::RouteRemove { host, name } => {
                route_target(host, name)
            }
            Action::RoutesApply { host, .. } => route_target(host, "file"),
            Action::Prune { host, .. } => Target::HostContainer {
                host: host.clone(),
                name: "prune".into(),
            },
        }
    }

    /// Whether it stops, drops or overwrites something: then it needs `--yes` headless and
    /// a confirmation in the console.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Action::Lifecycle {
                op: ContainerOp::Stop,
                ..
            } | Action::Compose {
                op: ComposeOp::Down,
                ..
            } | Action::Rollback { .. }
                | Action::RouteRemove { .. }
                | Action::Restore { .. }
                | Action::Prune { .. }
        )
    }

    /// Build a `maintenance APP on|off` action: the message (only with `on`) is at most
    /// 500 characters of text without control characters.
    pub fn maintenance(app: &str, on: bool, message: Option<&str>) -> Result<Self, Error> {
        names::check_name("app", app).map_err(Error::usage)?;
        if let Some(m) = message {
            if !on {
                return Err(Error::usage("--message goes with `on`, not `off`"));
            }
            if m.trim().is_empty() || m.chars().count() > 500 {
                return Err(Error::usage(
                    "--message must have 1 to 500 characters of text",
                ));
            }
            if m.chars().any(char::is_control) {
                return Err(Error::usage(
                    "--message contains control characters (newlines, escapes)",
                ));
            }
        }
        Ok(Action::Maintenance {
            app: app.to_string(),
            on,
            message: message.map(|m| m.trim().to_string()),
        })
    }

    /// Whether it may change anything (a container, a file, a database, a storage): then a
    /// read-only host (`--read-only`, `read_only = true`) refuses it. Exhaustive on purpose:
    /// a new variant must say.
    pub fn changes_anything(&self) -> bool {
        match self {
            // Restarts and stops change containers; an exec may run anything.
            Action::Lifecycle { .. } | Action::Exec { .. } => true,
            Action::Deploy { .. } | Action::Rollback { .. } => true,
            // Up and down change containers; a pull changes the host's images.
            Action::Compose { .. } => true,
            // A backup writes to a storage; a verify creates (and drops) a scratch database.
            Action::Backup { .. } | Action::Verify { .. } | Action::Restore { .. } => true,
            Action::DbCreate { .. } | Action::RedisAssign { .. } => true,
            Action::RouteAdd { .. } | Action::RouteRemove { .. } | Action::RoutesApply { .. } => {
                true
            }
            Action::Prune { .. } => true,
            // Maintenance starts a container and rewrites the routes file.
            Action::Maintenance { .. } => true,
        }
    }

    /// Build an `up`/`down`/`pull` action for an app of the inventory.
    pub fn compose(app: &str, op: ComposeOp, is_app: impl Fn(&str) -> bool) -> Result<Self, Error> {
        names::check_name("app", app).map_err(Error::usage)?;
        if !is_app(app) {
            return Err(Error::usage(format!(
                "no app named {app:?}: {} works on an app of the inventory (compose per app)",
                op.verb()
            )));
        }
        Ok(Action::Compose {
            app: app.to_string(),
            op,
        })
    }

    /// Build an exec action, refusing commands that cannot be passed safely.
    pub fn exec(target: Target, command: Vec<String>) -> Result<Self, Error> {
        if command.is_empty() {
            return Err(Error::usage("exec needs a command after the target"));
        }
        if command.iter().any(|a| a.contains('\0')) {
            return Err(Error::usage("a command argument contains a NUL byte"));
        }
        Ok(Action::Exec { target, command })
    }
}

/// Check a router (or entrypoint, resolver) name: an inventory-style name without dots.
pub fn check_router_name(what: &str, name: &str) -> Result<(), Error> {
    names::check_name(what, name).map_err(Error::usage)?;
    if name.contains('.') {
        return Err(Error::usage(format!(
            "{what} name {name:?} contains '.'; Traefik labels split names on dots"
        )));
    }
    Ok(())
}

/// Turn `--to` into a backend URL: `http(s)://...` as given, or `container:port`.
pub fn target_url(to: &str) -> Result<String, Error> {
    if to.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::usage(format!(
            "--to {:?} contains spaces or control characters",
            names::printable(to)
        )));
    }
    if to.contains("://") {
        crate::http::parse_url(to).map_err(|e| Error::usage(format!("--to: {e}")))?;
        return Ok(to.to_string());
    }
    let (c, port) = to.rsplit_once(':').ok_or_else(|| {
        Error::usage(format!(
            "--to {to:?}: write a URL (http://10.0.0.5:3000) or container:port"
        ))
    })?;
    names::check_container(c).map_err(|e| Error::usage(format!("--to: {e}")))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::usage(format!("--to {to:?}: {port:?} is not a port")))?;
    Ok(format!("http://{c}:{port}"))
}

/// Build a validated `routes add` action (exit 2 on anything hostile or malformed).
pub fn add_action(
    host: String,
    name: &str,
    rule: &str,
    to: &str,
    entrypoint: Option<&str>,
    cert_resolver: Option<&str>,
) -> Result<Action, Error> {
    check_router_name("router", name)?;
    let hosts = crate::routes::rule::check(rule)
        .map_err(|e| Error::usage(format!("--rule {rule:?}: {e}")))?;
    if hosts.is_empty() {
        return Err(Error::usage(format!(
            "--rule {rule:?} has no Host(`...`) matcher; opsdeck routes by host name"
        )));
    }
    target_url(to)?;
    if let Some(e) = entrypoint {
        check_router_name("entrypoint", e)?;
    }
    if let Some(r) = cert_resolver {
        check_router_name("cert resolver", r)?;
    }
    Ok(Action::RouteAdd {
        host,
        name: name.to_string(),
        rule: rule.to_string(),
        to: to.to_string(),
        entrypoint: entrypoint.map(str::to_string),
        cert_resolver: cert_resolver.map(str::to_string),
    })
}

/// The target a route action is journaled under (`host/route:name`).
pub fn route_target(host: &str, name: &str) -> Target {
    Target::Route {
        host: host.to_string(),
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Target, Error> {
        Target::parse(s, |a| a == "shop", |h| h == "alpha")
    }

    #[test]
    fn route_and_database_targets_read_as_journals_recorded_them() {
        assert_eq!(
            route_target("alpha", "shop").to_string(),
            "alpha/route:shop"
        );
        assert_eq!(
            route_target("alpha", "file").to_string(),
            "alpha/route:file"
        );
        let backup = Action::Backup {
            db: "shared".into(),
            to: None,
        };
        assert_eq!(
            backup.target(),
            Target::Database {
                db: "shared".into()
            }
        );
        assert_eq!(backup.target().to_string(), "shared");
        assert_eq!(backup.target().app(), None);
    }

    #[test]
    fn targets() {
        assert_eq!(parse("shop").ok(), Some(Target::App { app: "shop".into() }));
        assert_eq!(
            parse("shop/web").ok(),
            Some(Target::AppService {
                app: "shop".into(),
                service: "web".into()
            })
        );
        assert_eq!(
            parse("alpha/db-1").ok(),
            Some(Target::HostContainer {
                host: "alpha".into(),
                name: "db-1".into()
            })
        );
        assert_eq!(
            parse("redis_1").ok(),
            Some(Target::Container {
                name: "redis_1".into()
            })
        );
        for bad in [
            "",
            "a/b/c",
            "nope/x",
            "shop/$(id)",
            "x;y",
            "../etc",
            "shop/",
            "/x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}

/// The action commands a palette (or any text frontend) can name, with their usage.
pub const COMMANDS: [(&str, &str); 17] = [
    ("restart", "restart TARGET"),
    ("start", "start TARGET"),
    ("stop", "stop TARGET"),
    ("exec", "exec TARGET CMD [ARGS...]"),
    ("up", "up APP"),
    ("down", "down APP"),
    ("pull", "pull APP"),
    ("deploy", "deploy APP [VERSION]"),
    ("rollback", "rollback APP [VERSION]"),
    ("db-create", "db-create APP [SERVER]"),
    ("redis-assign", "redis-assign APP [SERVER]"),
    ("backup", "backup DB [STORAGE]"),
    ("verify", "verify DB BACKUP"),
    ("restore", "restore DB BACKUP"),
    (
        "route-add",
        "route-add HOST ROUTER DOMAIN CONTAINER:PORT|URL",
    ),
    ("route-remove", "route-remove HOST ROUTER"),
    ("maintenance", "maintenance APP on|off [MESSAGE...]"),
];

/// Parse a command line as the console's palette takes it (`restart shop/web`) into the
/// same [`Action`] the CLI subcommand builds.
pub fn parse_command(
    line: &str,
    is_app: impl Fn(&str) -> bool,
    is_host: impl Fn(&str) -> bool,
) -> Result<Action, Error> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&verb, rest)) = words.split_first() else {
        return Err(Error::usage("type a command, e.g. `restart shop/web`"));
    };
    if verb == "backup" || verb == "verify" || verb == "restore" {
        let db = rest
            .first()
            .ok_or_else(|| Error::usage(format!("usage: {verb} DB ...")))?;
        names::check_name("database", db).map_err(Error::usage)?;
        return match (verb, rest) {
            ("backup", [_]) => Ok(Action::Backup {
                db: db.to_string(),
                to: None,
            }),
            ("backup", [_, to]) => Ok(Action::Backup {
                db: db.to_string(),
                to: Some(to.to_string()),
            }),
            ("verify", [_, id]) => Ok(Action::Verify {
                db: db.to_string(),
                backup: id.to_string(),
                to: None,
            }),
            ("restore", [_, id]) => Ok(Action::Restore {
                db: db.to_string(),
                backup: id.to_string(),
                to: None,
                maintenance: false,
            }),
            _ => Err(Error::usage(format!(
                "usage: {}",
                COMMANDS
                    .iter()
                    .find(|(c, _)| *c == verb)
                    .map(|(_, u)| *u)
                    .unwrap_or(verb)
            ))),
        };
    }
    if verb == "route-add" || verb == "route-remove" {
        let host = rest.first().copied().unwrap_or("");
        if !host.is_empty() && !is_host(host) {
            names::check_name("host", host).map_err(Error::usage)?;
            return Err(Error::usage(format!("no host named {host:?}")));
        }
        return match (verb, rest) {
            ("route-add", [_, name, domain, to]) => {
                crate::routes::rule::check_hostname(domain).map_err(Error::usage)?;
                add_action(
                    host.to_string(),
                    name,
                    &format!("Host(`{}`)", domain.to_ascii_lowercase()),
                    to,
                    None,
                    None,
                )
            }
            ("route-remove", [_, name]) => {
                check_router_name("router", name)?;
                Ok(Action::RouteRemove {
                    host: host.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(Error::usage(format!(
                "usage: {}",
                COMMANDS
                    .iter()
                    .find(|(c, _)| *c == verb)
                    .map(|(_, u)| *u)
                    .unwrap_or(verb)
            ))),
        };
    }
    if verb == "maintenance" {
        return match rest {
            [app, "on", words @ ..] => {
                let message = words.join(" ");
                Action::maintenance(app, true, (!words.is_empty()).then_some(message.as_str()))
            }
            [app, "off"] => Action::maintenance(app, false, None),
            _ => Err(Error::usage("usage: maintenance APP on|off [MESSAGE...]")),
        };
    }
    if verb == "db-create" || verb == "redis-assign" {
        let (app, server) = match rest {
            [app] => (*app, None),
            [app, s] => (*app, Some(s.to_string())),
            _ => return Err(Error::usage(format!("usage: {verb} APP [SERVER]"))),
        };
        crate::db::pg_ident(app).map_err(Error::usage)?;
        return Ok(if verb == "db-create" {
            Action::DbCreate {
                app: app.to_string(),
                server,
                rotate: false,
                write_env: false,
            }
        } else {
            Action::RedisAssign {
                app: app.to_string(),
                server,
                rotate: false,
            }
        });
    }
    if let Some(op) = [ComposeOp::Up, ComposeOp::Down, ComposeOp::Pull]
        .into_iter()
        .find(|op| op.verb() == verb)
    {
        let [app] = rest else {
            return Err(Error::usage(format!("usage: {verb} APP")));
        };
        return Action::compose(app, op, is_app);
    }
    if verb == "deploy" || verb == "rollback" {
        let (app, version) = match rest {
            [app] => (*app, None),
            [app, v] => (*app, Some(v.to_string())),
            _ => return Err(Error::usage(format!("usage: {verb} APP [VERSION]"))),
        };
        if !is_app(app) {
            names::check_name("app", app).map_err(Error::usage)?;
            return Err(Error::usage(format!("no app named {app:?}")));
        }
        if let Some(v) = &version {
            names::check_tag(v).map_err(Error::usage)?;
        }
        return Ok(if verb == "deploy" {
            Action::Deploy {
                app: app.to_string(),
                version,
            }
        } else {
            Action::Rollback {
                app: app.to_string(),
                to: version,
            }
        });
    }
    let op = match verb {
        "restart" => Some(ContainerOp::Restart),
        "start" => Some(ContainerOp::Start),
        "stop" => Some(ContainerOp::Stop),
        "exec" => None,
        other => {
            return Err(Error::usage(names::unknown_name_message(
                "command",
                other,
                COMMANDS.iter().map(|(c, _)| *c),
            )))
        }
    };
    let usage = COMMANDS
        .iter()
        .find(|(c, _)| *c == verb)
        .map(|(_, u)| *u)
        .unwrap_or(verb);
    let Some((&target, args)) = rest.split_first() else {
        return Err(Error::usage(format!("usage: {usage}")));
    };
    let target = Target::parse(target, is_app, is_host)?;
    match op {
        Some(op) if args.is_empty() => Ok(Action::Lifecycle { op, target }),
        Some(_) => Err(Error::usage(format!("usage: {usage}"))),
        None => Action::exec(target, args.iter().map(|s| s.to_string()).collect()),
    }
}

#[cfg(test)]
mod palette_tests {
    use super::*;

    #[test]
    fn palette_lines_make_the_same_actions_as_the_cli() {
        let p = |l: &str| parse_command(l, |a| a == "shop", |h| h == "alpha");
        assert_eq!(
            p("restart shop/web").ok(),
            Some(Action::Lifecycle {
                op: ContainerOp::Restart,
                target: Target::AppService {
                    app: "shop".into(),
                    service: "web".into()
                }
            })
        );
        assert_eq!(
            p("exec alpha/db psql -c 'select 1'").ok().map(|a| a.name()),
            Some("exec")
        );
        assert_eq!(
            p("maintenance shop on Back at 5").ok(),
            Some(Action::Maintenance {
                app: "shop".into(),
                on: true,
                message: Some("Back at 5".into())
            })
        );
        assert_eq!(
            p("maintenance shop off").ok(),
            Action::maintenance("shop", false, None).ok()
        );
        assert_eq!(
            p("down shop").ok(),
            Some(Action::Compose {
                app: "shop".into(),
                op: ComposeOp::Down
            })
        );
        assert!(p("down shop").is_ok_and(|a| a.is_destructive() && a.name() == "down"));
        assert!(p("up shop").is_ok_and(|a| !a.is_destructive() && a.changes_anything()));
        assert_eq!(
            p("pull shop").ok().map(|a| a.target().to_string()),
            Some("shop".into())
        );
        for bad in [
            "up",
            "up nope",
            "pull shop web",
            "down ../x",
            "maintenance shop",
            "maintenance shop off now",
            "maintenance shop up",
            "",
            "reboot shop",
            "stop",
            "stop shop extra",
            "exec shop",
            "restart $(id)",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
