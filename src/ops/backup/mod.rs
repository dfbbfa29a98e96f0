//! Backups of Postgres: `pg_dump -Fc` inside the database's container (or, for a database given
//! by URL, in a throwaway tools container on its host: [`super::pg_tools`]), streamed
//! (never held whole in memory) into the storage (`crate::storage`: a directory here, a
//! directory on the database's host, or S3) with sha256 computed on the way, published under
//! its final name only after the dump exited 0 and the data is stored, with a manifest
//! carrying the per-table row counts taken in the SAME snapshot (`pg_export_snapshot` held
//! open in a psql session while `pg_dump --snapshot` runs). Verification restores into a
//! scratch database and compares the counts; only that marks a backup verified.
//!
//! Here: the planner and `backups` (the list), and what the steps share (the [`Job`]); the
//! steps themselves in `dump.rs` (backup, retention), `verify.rs` and `restore.rs`, with the
//! psql session they drive in `psql.rs`.

use super::event::ActionEvent;
use super::pg_tools::Tools;
use super::step::{DbRef, StorageRef, ToolsServer};
use super::step::{Plan, Step, StepKind};
use super::Action;
use crate::docker::Engine;
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{DbEngine, Inventory, StorageKind};
use crate::names;
use crate::storage::{StorageError, Store};
use tokio::sync::mpsc::UnboundedSender;

mod dump;
mod psql;
pub(super) mod rdb;
mod restore;
mod scratch;
mod verify;
pub(super) mod volume;

pub(super) use dump::backup;
pub(super) use restore::restore;
pub(super) use verify::verify;

pub use crate::storage::{FileEntry, Manifest};

impl DbRef {
    /// Where pg_dump and friends run for one action (close it when done); a tools container
    /// is checked by connecting to database `first` (the one the action works on first).
    async fn tools(&self, host: &Host, d: &Engine, first: &str) -> Result<Tools, Error> {
        Tools::open(
            host,
            d,
            &self.name,
            (&self.container, &self.apps),
            self.server.as_ref(),
            (&self.user, first),
        )
        .await
    }

    /// `in CONTAINER` or `from ADDRESS (tools in a temporary container)`, for plans.
    fn place(&self) -> String {
        match &self.server {
            None => format!("in {}", self.container),
            Some(s) => format!(
                "from {} (client tools in a temporary container: {})",
                s.display(),
                s.tools_image
                    .as_deref()
                    .unwrap_or("the host's newest postgres image")
            ),
        }
    }
}

impl StorageRef {
    /// Where the backups are, for plans and messages.
    pub fn location(&self, db_host: &str) -> String {
        let path = self.spec.path.as_deref().unwrap_or("");
        match self.spec.kind {
            StorageKind::Dir => path.to_string(),
            StorageKind::HostDir => format!("{db_host}:{path}"),
            StorageKind::S3 => {
                let prefix = self.spec.prefix.as_deref().unwrap_or("").trim_matches('/');
                format!(
                    "s3://{}/{prefix}",
                    self.spec.bucket.as_deref().unwrap_or("")
                )
            }
        }
    }

    fn open<'h>(&self, host: &'h Host) -> Result<Store<'h>, Error> {
        Ok(Store::open(&self.name, &self.spec, host)?)
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { .. } | StorageError::Config { .. } => {
                Error::usage(e.to_string())
            }
            StorageError::Failed { .. } => Error::failed(e.to_string()),
        }
    }
}

fn resolve(
    inv: &Inventory,
    db: &str,
    to: Option<&str>,
) -> Result<(String, DbRef, StorageRef), Error> {
    let spec = inv.databases.get(db).ok_or_else(|| {
        Error::usage(names::unknown_name_message(
            "database",
            db,
            inv.databases.keys().map(String::as_str),
        ))
    })?;
    if spec.engine != DbEngine::Postgres {
        return Err(Error::usage(format!("{db} is not a postgres database")));
    }
    let (container, server, url_db, url_user) = match (&spec.container, &spec.url) {
        (Some(c), _) => (c.clone(), None, None, None),
        (None, Some(url)) => {
            let ep = crate::db::postgres::parse_url(url)
                .map_err(|e| Error::usage(format!("{db}: url: {e}")))?;
            let server = ToolsServer {
                address: ep.from_host.0.clone(),
                port: ep.from_host.1,
                sslmode: crate::db::postgres::url_sslmode(url),
                tools_image: spec.tools_image.clone(),
                password: ep.password.map(crate::secrets::Secret::new),
            };
            (server.display(), Some(server), ep.database, ep.user)
        }
        (None, None) => {
            return Err(Error::usage(format!(
                "{db}: give `container` or `url` for the database"
            )))
        }
    };
    let sname = to
        .map(str::to_string)
        .or_else(|| spec.backup_to.clone())
        .ok_or_else(|| {
            Error::usage(format!(
                "{db}: no storage: pass --to STORAGE or set backup_to"
            ))
        })?;
    let st = inv.storage.get(&sname).ok_or_else(|| {
        Error::usage(names::unknown_name_message(
            "storage",
            &sname,
            inv.storage.keys().map(String::as_str),
        ))
    })?;
    Store::check(&sname, st)?;
    Ok((
        spec.host.clone(),
        DbRef {
            name: db.to_string(),
            container,
            database: spec
                .database
                .clone()
                .or(url_db)
                .unwrap_or_else(|| db.to_string()),
            user_from_container: spec.user.is_none() && server.is_none(),
            apps: spec
                .apps
                .iter()
                .filter_map(|a| inv.apps.get(a).cloned())
                .collect(),
            user: spec
                .user
                .clone()
                .or(url_user)
                .unwrap_or_else(|| "postgres".into()),
            server,
        },
        StorageRef {
            name: sname,
            spec: st.clone(),
        },
    ))
}

/// The planner of backup / verify / restore (the signature every planner has).
pub async fn plan(inv: &Inventory, _hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    let mut plan = plan_backup(inv, action)?;
    if let Action::Restore {
        db,
        maintenance: true,
        ..
    } = action
    {
        if inv.volumes.contains_key(db) {
            return Err(Error::usage(format!(
                "{db} is a volume: restore it without --maintenance (its apps are stopped around the swap)"
            )));
        }
        super::maintenance::around_restore(inv, db, &mut plan).await?;
    }
    Ok(plan)
}

/// Plan backup / verify (pure apart from reading the inventory).
pub fn plan_backup(inv: &Inventory, action: &Action) -> Result<Plan, Error> {
    if let Action::Backup { db, .. } | Action::Verify { db, .. } | Action::Restore { db, .. } =
        action
    {
        if inv.volumes.contains_key(db) {
            return volume::plan(inv, action);
        }
        if inv
            .databases
            .get(db)
            .is_some_and(|d| d.engine == DbEngine::Redis)
        {
            return rdb::plan(inv, action);
        }
    }
    let (host, step) = match action {
        Action::Backup { db, to } => {
            let (host, d, s) = resolve(inv, db, to.as_deref())?;
            let name = format!(
                "pg_dump -Fc {} {} → {} (sha256, manifest with row counts)",
                d.database,
                d.place(),
                s.location(&host)
            );
            (
                host,
                Step {
                    name,
                    kind: StepKind::Backup { db: d, storage: s },
                    undo: vec![],
                },
            )
        }
        Action::Verify { db, backup, to } => {
            check_id(backup)?;
            let (host, d, s) = resolve(inv, db, to.as_deref())?;
            let name = format!("verify {backup}: sha256, pg_restore --list, restore into a scratch database, compare row counts");
            (
                host,
                Step {
                    name,
                    kind: StepKind::VerifyBackup {
                        db: d,
                        storage: s,
                        id: backup.clone(),
                    },
                    undo: vec![],
                },
            )
        }
        Action::Restore { db, backup, to, .. } => {
            check_id(backup)?;
            let (host, d, s) = resolve(inv, db, to.as_deref())?;
            let apps: Vec<crate::inventory::AppSpec> = inv.databases[db]
                .apps
                .iter()
                .filter_map(|a| inv.apps.get(a).cloned())
                .collect();
            let name = format!(
                "restore {backup} into a scratch database and check it; stop {}; swap it in for {} (keeping the old one); start the apps and wait for health",
                if apps.is_empty() { "no apps".to_string() } else { inv.databases[db].apps.join(", ") },
                d.database
            );
            (
                host,
                Step {
                    name,
                    kind: StepKind::RestoreBackup {
                        db: d,
                        storage: s,
                        id: backup.clone(),
                        apps,
                    },
                    undo: vec![],
                },
            )
        }
        _ => return Err(Error::usage("not a backup action")),
    };
    let db = match action {
        Action::Backup { db, .. } | Action::Verify { db, .. } | Action::Restore { db, .. } => {
            db.clone()
        }
        _ => String::new(),
    };
    let mut plan = Plan::new(
        action,
        host,
        format!("db-{db}"),
        Some(db.clone()),
        vec![step],
    );
    // A restore holds the lock of every app that uses the database (on the app's host): no
    // deploy or restart of them runs while their database is swapped.
    if matches!(action, Action::Restore { .. }) {
        for a in &inv.databases[&db].apps {
            if let Some(spec) = inv.apps.get(a) {
                plan.also_lock.push(super::step::LockRef {
                    host: spec.host.clone(),
                    lock: a.clone(),
                });
            }
        }
    }
    Ok(plan)
}

/// A manifest is trusted only for the database and id it was asked for: a backup of another
/// database (copied or planted into this storage) is refused before anything changes.
pub(super) fn check_manifest(m: &Manifest, db: &DbRef, id: &str) -> Result<(), Error> {
    if m.id != id {
        return Err(Error::failed(format!(
            "the manifest of backup {id} names another backup ({}); refusing to use it",
            crate::secrets::mask_text(&m.id)
        )));
    }
    if m.database != db.name {
        return Err(Error::failed(format!(
            "backup {id} is a backup of database {}, not of {}; nothing was changed",
            crate::secrets::mask_text(&m.database),
            db.name
        )));
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), Error> {
    names::check_name("backup", id).map_err(Error::usage)
}

fn progress(events: &UnboundedSender<ActionEvent>, seq: usize, done: u64) {
    let _ = events.send(ActionEvent::Progress {
        seq,
        done,
        total: None,
        unit: super::event::Unit::Bytes,
    });
}

/// What a backup, verify or restore works with: the host's engine, the tools in place.
struct Job<'a> {
    host: &'a Host,
    d: Engine,
    tools: Tools,
    store: &'a Store<'a>,
    /// The database, its `user` settled (see [`DbRef::user_from_container`]).
    db: DbRef,
    seq: usize,
    events: &'a UnboundedSender<ActionEvent>,
}

impl<'a> Job<'a> {
    /// Put the tools in place (a tools container is checked against database `first`, the
    /// one the action works on first). [`Job::close`] when done.
    async fn open(
        host: &'a Host,
        store: &'a Store<'a>,
        db: &'a DbRef,
        first: &str,
        seq: usize,
        events: &'a UnboundedSender<ActionEvent>,
    ) -> Result<Self, Error> {
        let d = host.docker().await?;
        let tools = db.tools(host, &d, first).await?;
        let mut db = db.clone();
        if db.user_from_container {
            if let Some(u) = crate::ops::pg_tools::container_superuser(&d, &tools.cid).await {
                db.user = u;
            }
        }
        Ok(Self {
            host,
            d,
            tools,
            store,
            db,
            seq,
            events,
        })
    }

    async fn close(self) {
        self.tools.close(&self.d).await;
    }
}

/// `opsdeck backups [NAME]`: the backups of every (or one) database or volume in its storage.
pub async fn list(
    inv: &Inventory,
    db: Option<&str>,
) -> Result<Vec<(Manifest, Option<u64>)>, Error> {
    let names: Vec<&String> = match db {
        Some(d) => vec![inv
            .databases
            .get_key_value(d)
            .map(|(k, _)| k)
            .or_else(|| inv.volumes.get_key_value(d).map(|(k, _)| k))
            .ok_or_else(|| {
                Error::usage(names::unknown_name_message(
                    "database or volume",
                    d,
                    inv.databases
                        .keys()
                        .chain(inv.volumes.keys())
                        .map(String::as_str),
                ))
            })?],
        None => inv
            .databases
            .iter()
            .filter(|(_, s)| s.backup_to.is_some())
            .map(|(k, _)| k)
            .chain(
                inv.volumes
                    .iter()
                    .filter(|(_, s)| s.backup_to.is_some())
                    .map(|(k, _)| k),
            )
            .collect(),
    };
    let mut out = Vec::new();
    for name in names {
        let (host_name, st, max_age) = match inv.volumes.get(name) {
            Some(v) => {
                let (h, _, st) = volume::resolve(inv, name, None)?;
                (h, st, v.max_backup_age)
            }
            None => {
                let spec = &inv.databases[name];
                let sname = spec
                    .backup_to
                    .clone()
                    .ok_or_else(|| Error::usage(format!("{name}: no storage: set backup_to")))?;
                let st = inv.storage.get(&sname).ok_or_else(|| {
                    Error::usage(names::unknown_name_message(
                        "storage",
                        &sname,
                        inv.storage.keys().map(String::as_str),
                    ))
                })?;
                Store::check(&sname, st)?;
                let st = StorageRef {
                    name: sname,
                    spec: st.clone(),
                };
                (spec.host.clone(), st, spec.max_backup_age)
            }
        };
        if !inv.hosts.contains_key(&host_name) {
            return Err(Error::usage(format!(
                "{name}: no host {host_name:?} in the inventory"
            )));
        }
        let host = super::select::host(inv, &host_name)?;
        let store = st.open(&host)?;
        for m in store.list(Some(name)).await? {
            out.push((m, max_age.map(|d| d.0.as_secs())));
        }
    }
    Ok(out)
}
