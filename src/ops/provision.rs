//! Provisioning: a Postgres database and role per app, a Redis DB index (and ACL user) per
//! app. Idempotent; a password is generated only for a new role or on `--rotate-password`,
//! shown once (as a `Secret` event, never journaled), and optionally written to the app's
//! `.env` atomically.

use super::event::ActionEvent;
use super::step::{Plan, ServerRef, Step, StepKind};
use super::Action;
use crate::db::{self, Endpoint, PgAdmin, RedisAdmin};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{DbEngine, Inventory};
use crate::names;

/// Pick the server: `--server`, else the only one of that engine (on the app's host first).
pub fn choose_server(
    inv: &Inventory,
    app: &str,
    server: Option<&str>,
    engine: DbEngine,
) -> Result<(String, ServerRef), Error> {
    let kind = match engine {
        DbEngine::Postgres => "postgres",
        DbEngine::Redis => "redis",
    };
    let candidates: Vec<(&String, &crate::inventory::DatabaseSpec)> = inv
        .databases
        .iter()
        .filter(|(_, d)| d.engine == engine)
        .collect();
    let (name, spec) = match server {
        Some(s) => {
            let d = inv.databases.get_key_value(s).ok_or_else(|| {
                Error::usage(names::unknown_name_message(
                    "database server",
                    s,
                    candidates.iter().map(|(n, _)| n.as_str()),
                ))
            })?;
            if d.1.engine != engine {
                return Err(Error::usage(format!("{s} is not a {kind} server")));
            }
            d
        }
        None => {
            let app_host = inv.apps.get(app).map(|a| a.host.as_str());
            let on_host: Vec<_> = candidates
                .iter()
                .filter(|(_, d)| Some(d.host.as_str()) == app_host)
                .collect();
            match (on_host.as_slice(), candidates.as_slice()) {
                ([one], _) => (one.0, one.1),
                (_, [one]) => (one.0, one.1),
                (_, []) => {
                    return Err(Error::usage(format!(
                        "no {kind} server in the inventory: add [databases.NAME] with engine = \"{kind}\""
                    )))
                }
                _ => {
                    return Err(Error::usage(format!(
                        "several {kind} servers; choose one with --server ({})",
                        candidates.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                    )))
                }
            }
        }
    };
    Ok((
        spec.host.clone(),
        ServerRef {
            name: name.clone(),
            url: spec.url.clone(),
            container: spec.container.clone(),
            user: spec.user.clone(),
            apps: spec
                .apps
                .iter()
                .filter_map(|a| inv.apps.get(a).cloned())
                .collect(),
        },
    ))
}

/// The planner of `db create` / `redis assign` (the signature every planner has).
pub async fn plan(inv: &Inventory, _hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    plan_provision(inv, action)
}

/// Plan `db create` / `redis assign`. Names are validated here, before anything connects.
pub fn plan_provision(inv: &Inventory, action: &Action) -> Result<Plan, Error> {
    let (app, host, kind, name) = match action {
        Action::DbCreate {
            app,
            server,
            rotate,
            write_env,
        } => {
            let ident = db::pg_ident(app).map_err(Error::usage)?;
            let (host, server) = choose_server(inv, app, server.as_deref(), DbEngine::Postgres)?;
            let env_file = match (write_env, inv.apps.get(app)) {
                (false, _) => None,
                (true, Some(a)) => Some(format!("{}/.env", a.dir.trim_end_matches('/'))),
                (true, None) => {
                    return Err(Error::usage(format!(
                        "--write-env needs {app} to be an app of the inventory (its dir holds the .env)"
                    )))
                }
            };
            let name = format!(
                "{} role and database {ident} on {}{}",
                if *rotate {
                    "ensure (rotating the password)"
                } else {
                    "ensure"
                },
                server.name,
                if env_file.is_some() {
                    ", DATABASE_URL to .env"
                } else {
                    ""
                }
            );
            (
                app,
                host,
                StepKind::ProvisionPostgres {
                    server,
                    ident,
                    rotate: *rotate,
                    env_file,
                },
                name,
            )
        }
        Action::RedisAssign {
            app,
            server,
            rotate,
        } => {
            // The same rule as database names: one naming scheme for an app's resources.
            db::pg_ident(app).map_err(Error::usage)?;
            let (host, server) = choose_server(inv, app, server.as_deref(), DbEngine::Redis)?;
            let name = format!("assign a Redis DB index to {app} on {}", server.name);
            (
                app,
                host,
                StepKind::AssignRedis {
                    server,
                    app: app.clone(),
                    rotate: *rotate,
                },
                name,
            )
        }
        _ => return Err(Error::usage("not a provisioning action")),
    };
    Ok(Plan::new(
        action,
        host,
        format!("db-{app}"),
        Some(app.clone()),
        vec![Step {
            name,
            kind,
            undo: vec![],
        }],
    ))
}

/// Where to reach the server from the host, and how apps on the host name it.
async fn endpoint(
    host: &Host,
    s: &ServerRef,
    default_port: u16,
    default_user: &str,
) -> Result<Endpoint, Error> {
    if let Some(url) = &s.url {
        let mut ep = if url.starts_with("redis") {
            let t = crate::http::parse_url(
                &url.replacen("rediss://", "https://", 1)
                    .replacen("redis://", "http://", 1),
            )
            .map_err(Error::usage)?;
            let port = if url.contains(&format!(":{}", t.port)) {
                t.port
            } else {
                default_port
            };
            let pass = url
                .split_once("://")
                .and_then(|(_, r)| r.rsplit_once('@'))
                .and_then(|(a, _)| {
                    a.split_once(':')
                        .map(|(_, p)| p.to_string())
                        .or(Some(a.to_string()))
                })
                .filter(|p| !p.is_empty());
            Endpoint {
                host_side: (t.host.clone(), port),
                from_host: (t.host, port),
                user: None,
                password: pass,
                database: None,
            }
        } else {
            db::postgres::parse_url(url).map_err(Error::usage)?
        };
        if ep.user.is_none() {
            ep.user = s.user.clone();
        }
        return Ok(ep);
    }
    let c = server_container(host, s).await?;
    // A Redis run with `--requirepass` (seed 002's `redis-server --requirepass
    // ${REDIS_PASSWORD}`): its password is in its own command line or environment, where
    // an operator's `redis-cli -a` takes it from too. Used here, never shown.
    let password = (default_port == 6379)
        .then(|| {
            c.cmd
                .windows(2)
                .find(|w| w[0] == "--requirepass")
                .map(|w| w[1].clone())
                .or_else(|| {
                    c.cmd
                        .iter()
                        .find_map(|a| a.strip_prefix("--requirepass=").map(str::to_string))
                })
                .or_else(|| {
                    c.env
                        .iter()
                        .find(|(k, _)| k == "REDIS_PASSWORD")
                        .map(|(_, v)| v.clone())
                })
        })
        .flatten()
        .filter(|p| !p.is_empty());
    Ok(Endpoint {
        host_side: (c.app_name.clone(), default_port),
        from_host: (c.ip.clone(), default_port),
        user: Some(s.user.clone().unwrap_or_else(|| default_user.to_string())),
        password,
        database: None,
    })
}

/// A database server's container on its host, as the apps and opsdeck see it.
struct ServerContainer {
    id: String,
    name: String,
    /// How the apps name it: the compose service, else the container's name.
    app_name: String,
    /// Its address on its first network, as the host reaches it.
    ip: String,
    /// The container's environment (`POSTGRES_USER`, ...), never printed.
    env: Vec<(String, String)>,
    /// Its command line (entrypoint and arguments), never printed.
    cmd: Vec<String>,
}

/// The running container `s.container` names: a container name, else the one compose
/// service of that name on the host (several projects with such a service: name the
/// container instead).
async fn server_container(host: &Host, s: &ServerRef) -> Result<ServerContainer, Error> {
    let name = s.container.as_deref().unwrap_or_default();
    let c = super::query::database_container(
        host,
        name,
        &s.apps,
        &format!("databases.{}.container", s.name),
    )
    .await?;
    let d = host.docker().await?;
    let inspect = crate::docker::control::inspect(&d, &c.id)
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
    let ip = inspect
        .ip(None)
        .map(str::to_string)
        .ok_or_else(|| Error::failed(format!("{} has no network address", c.name)))?;
    let cmd = inspect
        .entrypoint
        .iter()
        .chain(&inspect.cmd)
        .cloned()
        .collect();
    let env = inspect
        .env
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    Ok(ServerContainer {
        id: c.id.clone(),
        name: c.name.clone(),
        app_name: c.service.clone().unwrap_or_else(|| c.name.clone()),
        ip,
        env,
        cmd,
    })
}

/// A Postgres server opened for administration, and where its apps and opsdeck reach it.
struct PgServer {
    admin: PgAdmin,
    /// As the apps on the host name it (for `DATABASE_URL`).
    host_side: (String, u16),
    /// As the host reaches it (for the login proof).
    from_host: (String, u16),
}

/// Open a Postgres server as the inventory gives it: by URL over TCP (its password in the
/// URL), or in its container with `psql` on the local socket as the container's superuser
/// (`databases.X.user`, else the container's `POSTGRES_USER`, else `postgres`), as
/// `docker compose exec postgres psql -U postgres` does: no password needed or read.
async fn open_pg(host: &Host, s: &ServerRef) -> Result<PgServer, Error> {
    if s.url.is_some() {
        let ep = endpoint(host, s, 5432, "postgres").await?;
        let admin = PgAdmin::connect(host, &ep)
            .await
            .map_err(|e| Error::unreachable(crate::secrets::mask_text(&e)))?;
        return Ok(PgServer {
            admin,
            host_side: ep.host_side,
            from_host: ep.from_host,
        });
    }
    let c = server_container(host, s).await?;
    let user = s
        .user
        .clone()
        .or_else(|| {
            c.env
                .iter()
                .find(|(k, v)| k == "POSTGRES_USER" && !v.is_empty())
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|| "postgres".to_string());
    let d = host.docker().await?;
    let admin = PgAdmin::in_container(&d, &c.id, &user)
        .await
        .map_err(|e| Error::failed(format!("{}: {}: {e}", host.name(), c.name)))?;
    Ok(PgServer {
        admin,
        host_side: (c.app_name, 5432),
        from_host: (c.ip, 5432),
    })
}

fn secret(
    events: &tokio::sync::mpsc::UnboundedSender<ActionEvent>,
    seq: usize,
    name: &str,
    value: String,
) {
    let _ = events.send(ActionEvent::Secret {
        seq,
        name: name.to_string(),
        value,
    });
}

pub(super) async fn provision_postgres(
    host: &Host,
    server: &ServerRef,
    ident: &str,
    rotate: bool,
    env_file: Option<&str>,
    seq: usize,
    events: &tokio::sync::mpsc::UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let pg = open_pg(host, server).await?;
    let admin = &pg.admin;
    let role_existed = admin.role_exists(ident).await.map_err(Error::failed)?;
    let db_existed = admin.database_exists(ident).await.map_err(Error::failed)?;
    // Never hand out (or rotate) a superuser, nor grant on a database someone else owns.
    if role_existed && admin.is_superuser(ident).await.map_err(Error::failed)? {
        return Err(Error::usage(format!(
            "{ident} is a superuser on {}; an app's role must be its own, not an admin's",
            server.name
        )));
    }
    if let Some(owner) = admin.database_owner(ident).await.map_err(Error::failed)? {
        if owner != ident {
            return Err(Error::usage(format!(
                "database {ident} on {} is owned by {owner}, not by role {ident}; nothing was changed",
                server.name
            )));
        }
    }
    // What to put back if the new role cannot log in (nothing is left half-made).
    let old_verifier = if role_existed && rotate {
        admin.verifier(ident).await.map_err(Error::failed)?
    } else {
        None
    };
    let mut password = None;
    if !role_existed {
        let pw = db::generate_password(24).map_err(Error::failed)?;
        admin.create_role(ident, &pw).await.map_err(Error::failed)?;
        password = Some(pw);
    } else if rotate {
        let pw = db::generate_password(24).map_err(Error::failed)?;
        admin
            .set_password(ident, &pw)
            .await
            .map_err(Error::failed)?;
        password = Some(pw);
    }
    let made = async {
        if !db_existed {
            admin
                .create_database(ident, ident)
                .await
                .map_err(Error::failed)?;
        }
        admin.isolate(ident, ident).await.map_err(Error::failed)?;
        if admin
            .public_can_connect(ident)
            .await
            .map_err(Error::failed)?
        {
            return Err(Error::failed(format!(
                "{ident}: PUBLIC can still connect after REVOKE; refusing to call it isolated"
            )));
        }
        // The proof: the new credentials log in over TCP, as the apps will.
        if let Some(pw) = &password {
            let (a, port) = &pg.from_host;
            db::postgres::try_login(host, (a, *port), ident, pw, ident)
                .await
                .map_err(|e| {
                    Error::failed(format!(
                        "the new role cannot log in over TCP ({}); check the server's pg_hba.conf for host connections",
                        crate::secrets::mask_text(&e)
                    ))
                })?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = made {
        // Put back what this run changed: a database and role it created, a password it
        // rotated.
        if !db_existed {
            let _ = admin.drop_database(ident).await;
        }
        if !role_existed {
            let _ = admin.drop_role(ident).await;
        } else if let Some(v) = &old_verifier {
            let _ = admin.set_verifier(ident, v).await;
        }
        return Err(e);
    }
    let (h, p) = &pg.host_side;
    let summary = match (role_existed, db_existed, &password) {
        (true, true, None) => {
            format!("exists: role and database {ident}; nothing changed (password kept)")
        }
        (true, true, Some(_)) => format!("exists: role and database {ident}; password rotated"),
        _ => format!(
            "created {}{}{}",
            if role_existed { "" } else { "role " },
            if !role_existed && !db_existed {
                "and "
            } else {
                ""
            },
            if db_existed {
                String::new()
            } else {
                format!("database {ident}")
            }
        ),
    };
    match password {
        Some(pw) => {
            let url = format!("postgres://{ident}:{pw}@{h}:{p}/{ident}");
            if let Some(f) = env_file {
                super::deploy::write_env(host, f, &[("DATABASE_URL".to_string(), url.clone())])
                    .await?;
            }
            secret(events, seq, "DATABASE_URL", url);
        }
        None => {
            if env_file.is_some() {
                return Err(Error::failed(format!(
                    "{ident} exists and its password is not known here; use --rotate-password with --write-env"
                )));
            }
            let _ = events.send(ActionEvent::Output {
                seq,
                stream: super::event::Stream::Stdout,
                line: format!("DATABASE_URL=postgres://{ident}:***@{h}:{p}/{ident} (exists; --rotate-password for a new password)"),
            });
        }
    }
    Ok(summary)
}

pub(super) async fn assign_redis(
    host: &Host,
    server: &ServerRef,
    app: &str,
    rotate: bool,
    seq: usize,
    events: &tokio::sync::mpsc::UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let ep = endpoint(host, server, 6379, "default").await?;
    let admin = RedisAdmin::connect(
        host,
        (&ep.from_host.0, ep.from_host.1),
        ep.password.as_deref(),
    )
    .await
    .map_err(|e| Error::failed(e.to_string()))?;
    let pw = db::generate_password(24).map_err(Error::failed)?;
    let a = admin
        .assign(app, &pw, rotate)
        .await
        .map_err(|e| Error::failed(e.to_string()))?;
    let (h, p) = &ep.host_side;
    match &a.password {
        Some(pw) => secret(
            events,
            seq,
            "REDIS_URL",
            format!("redis://{app}:{pw}@{h}:{p}/{}", a.index),
        ),
        None => {
            let line = if a.acl {
                format!("REDIS_URL=redis://{app}:***@{h}:{p}/{} (exists; --rotate-password for a new password)", a.index)
            } else {
                format!("REDIS_URL=redis://{h}:{p}/{}", a.index)
            };
            let _ = events.send(ActionEvent::Output {
                seq,
                stream: super::event::Stream::Stdout,
                line,
            });
        }
    }
    Ok(format!(
        "{} DB index {} for {app}{}",
        if a.existed { "exists:" } else { "assigned" },
        a.index,
        if a.acl {
            format!(" (ACL user {app}, keys {app}:*)")
        } else {
            " (no ACLs on this server)".into()
        }
    ))
}

/// Each Postgres server's name with its databases.
pub type ServerDatabases = Vec<(String, Vec<db::postgres::DbRow>)>;

/// `opsdeck db list`: databases with owner, size and connections.
pub async fn list(
    inv: &Inventory,
    server: Option<&str>,
) -> Result<Vec<(String, Vec<db::postgres::DbRow>)>, Error> {
    let servers: Vec<String> = match server {
        Some(s) => vec![choose_server(inv, "", Some(s), DbEngine::Postgres)?.1.name],
        None => inv
            .databases
            .iter()
            .filter(|(_, d)| d.engine == DbEngine::Postgres)
            .map(|(n, _)| n.clone())
            .collect(),
    };
    let mut out = Vec::new();
    for s in servers {
        let (host_name, r) = choose_server(inv, "", Some(&s), DbEngine::Postgres)?;
        let host = super::select::host(inv, &host_name)?;
        let pg = open_pg(&host, &r).await?;
        let mut rows = pg.admin.list().await.map_err(Error::failed)?;
        // The newest backup of each database, from the storages of the inventory's entries
        // for it (same host, same database name).
        for row in &mut rows {
            for (name, d) in &inv.databases {
                let same = d.host == host_name
                    && d.engine == DbEngine::Postgres
                    && d.database.as_deref().unwrap_or(name) == row.database;
                if same && d.backup_to.is_some() {
                    if let Ok(list) = super::backup::list(inv, Some(name)).await {
                        let newest = list.into_iter().map(|(m, _)| m.time).max();
                        row.last_backup = row.last_backup.clone().max(newest);
                    }
                }
            }
        }
        out.push((s, rows));
    }
    Ok(out)
}
