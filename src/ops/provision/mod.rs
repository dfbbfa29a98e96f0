//! Provisioning: a Postgres database and role per app, a Redis DB index (and ACL user) per
//! app. Idempotent; a password is generated only for a new role or on `--rotate-password`,
//! shown once (as a `Secret` event, never journaled), and optionally written to the app's
//! `.env` atomically.

use super::event::ActionEvent;
use super::step::{Plan, ServerRef, Step, StepKind};
use super::Action;
use crate::db::{self, PgAdmin, RedisAdmin};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{DbEngine, Inventory};
use crate::names;
use server::{endpoint, open_pg};

mod server;

/// A failure of the server, said with any secret in it masked.
fn failed(e: impl std::fmt::Display) -> Error {
    Error::failed(crate::secrets::mask_text(&e.to_string()))
}

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
    // Its user and database are checked before anything connects (or a plan is shown).
    if let (DbEngine::Postgres, Some(url)) = (engine, &spec.url) {
        db::postgres::parse_url(url)
            .map_err(|e| Error::usage(format!("databases.{name}.url: {e}")))?;
    }
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
    let role_existed = admin.role_exists(ident).await.map_err(failed)?;
    let db_existed = admin.database_exists(ident).await.map_err(failed)?;
    // Never hand out (or rotate) a superuser, nor grant on a database someone else owns.
    if role_existed && admin.is_superuser(ident).await.map_err(failed)? {
        return Err(Error::usage(format!(
            "{ident} is a superuser on {}; an app's role must be its own, not an admin's",
            server.name
        )));
    }
    if let Some(owner) = admin.database_owner(ident).await.map_err(failed)? {
        if owner != ident {
            return Err(Error::usage(format!(
                "database {ident} on {} is owned by {owner}, not by role {ident}; nothing was changed",
                server.name
            )));
        }
    }
    // What to put back if the new role cannot log in (nothing is left half-made).
    let old_verifier = if role_existed && rotate {
        admin.verifier(ident).await.map_err(failed)?
    } else {
        None
    };
    let (h, p) = pg.host_side.clone();
    let url_for = |pw: &str| format!("postgres://{ident}:{pw}@{h}:{p}/{ident}");
    // An existing role, --write-env, no rotation: the app's .env already holds its URL when
    // an earlier run wrote it (a finished run, or one killed after writing it ahead): keep it
    // if it logs in. Otherwise the password is not known here: refuse before changing anything.
    let mut kept = None;
    if let (true, false, Some(f)) = (role_existed, rotate, env_file) {
        kept = env_password(host, f, ident).await;
        if kept.is_none() {
            return Err(Error::failed(format!(
                "{ident} exists and its password is not known here ({f} holds no DATABASE_URL for it); use --rotate-password with --write-env"
            )));
        }
    }
    let password = if !role_existed || rotate {
        Some(db::generate_password(24).map_err(failed)?)
    } else {
        None
    };
    // Written ahead: the URL is in .env before the role has that password, so a run killed
    // in between leaves a .env whose URL the next run makes true (or replaces).
    let env_before = match (env_file, &password) {
        (Some(f), Some(pw)) => {
            let old = host.read_optional(std::path::Path::new(f)).await?;
            super::deploy::write_env(host, f, &[("DATABASE_URL".to_string(), url_for(pw))])
                .await
                .map_err(|e| {
                    failed(format!(
                        "writing DATABASE_URL to {f} failed ({}); nothing was changed",
                        e.message
                    ))
                })?;
            Some((f, old))
        }
        _ => None,
    };
    let put_env_back = || async {
        if let Some((f, Some(old))) = &env_before {
            let _ = host
                .write_file_atomic(std::path::Path::new(f), old, Some(0o600))
                .await;
        }
    };
    let set = match (&password, role_existed) {
        (Some(pw), false) => admin.create_role(ident, pw).await,
        (Some(pw), true) => admin.set_password(ident, pw).await,
        (None, _) => Ok(()),
    };
    if let Err(e) = set {
        put_env_back().await;
        return Err(failed(e));
    }
    let proof = password.clone().or(kept.clone());
    let made = async {
        if !db_existed {
            admin
                .create_database(ident, ident)
                .await
                .map_err(failed)?;
        }
        admin.isolate(ident, ident).await.map_err(failed)?;
        if admin
            .public_can_connect(ident)
            .await
            .map_err(failed)?
        {
            return Err(Error::failed(format!(
                "{ident}: PUBLIC can still connect after REVOKE; refusing to call it isolated"
            )));
        }
        // The proof: the credentials log in over TCP, as the apps will.
        if let Some(pw) = &proof {
            let (a, port) = &pg.from_host;
            db::postgres::try_login(host, (a, *port), ident, pw, ident)
                .await
                .map_err(|e| {
                    Error::failed(format!(
                        "the new role cannot log in over TCP ({}); check the server's pg_hba.conf for host connections",
                        crate::secrets::mask_text(&e.to_string())
                    ))
                })?;
        }
        Ok(())
    }
    .await;
    let put_back = || {
        put_back(
            admin,
            ident,
            db_existed,
            role_existed,
            old_verifier.as_deref(),
        )
    };
    if let Err(e) = made {
        let _ = put_back().await;
        put_env_back().await;
        return Err(e);
    }
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
    match (password, kept) {
        (Some(pw), _) => secret(events, seq, "DATABASE_URL", url_for(&pw)),
        (None, Some(_)) => {
            let _ = events.send(ActionEvent::Output {
                seq,
                stream: super::event::Stream::Stdout,
                line: format!(
                    "DATABASE_URL=postgres://{ident}:***@{h}:{p}/{ident} (in {}, logs in; kept)",
                    env_file.unwrap_or(".env")
                ),
            });
        }
        (None, None) => {
            let _ = events.send(ActionEvent::Output {
                seq,
                stream: super::event::Stream::Stdout,
                line: format!("DATABASE_URL=postgres://{ident}:***@{h}:{p}/{ident} (exists; --rotate-password for a new password)"),
            });
        }
    }
    Ok(summary)
}

/// The password of `ident` in the DATABASE_URL of the env file `f`, if there is one for
/// that role.
async fn env_password(host: &Host, f: &str, ident: &str) -> Option<String> {
    let bytes = host.read_optional(std::path::Path::new(f)).await.ok()??;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let env = crate::docker::compose::dotenv::DotEnv::parse(&text).ok()?;
    let url = env.get("DATABASE_URL")?;
    let ep = db::postgres::parse_url(&url).ok()?;
    (ep.user.as_deref() == Some(ident)).then_some(ep.password?)
}

/// Undo what a `db create` run changed: a database and role it created, a password it
/// rotated (its old verifier set again). An error when something could not be put back.
async fn put_back(
    admin: &PgAdmin,
    ident: &str,
    db_existed: bool,
    role_existed: bool,
    old_verifier: Option<&str>,
) -> Result<(), db::postgres::PgError> {
    if !db_existed {
        admin.drop_database(ident).await?;
    }
    if !role_existed {
        admin.drop_role(ident).await?;
    } else if let Some(v) = old_verifier {
        admin.set_verifier(ident, v).await?;
    }
    Ok(())
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
    .map_err(failed)?;
    let pw = db::generate_password(24).map_err(failed)?;
    let a = admin.assign(app, &pw, rotate).await.map_err(failed)?;
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
        let mut rows = pg.admin.list().await.map_err(failed)?;
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
