//! Backups of Postgres running in a container: `pg_dump -Fc` inside the container, streamed
//! (never held whole in memory) into the storage with sha256 computed on the way, published
//! under its final name only after the dump exited 0 and the data is on disk, with a manifest
//! carrying the per-table row counts taken in the SAME snapshot (`pg_export_snapshot` held
//! open in a psql session while `pg_dump --snapshot` runs). Verification restores into a
//! scratch database and compares the counts; only that marks a backup verified.

use super::event::ActionEvent;
use super::plan::{Plan, Step, StepKind};
use super::Action;
use crate::docker::exec;
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{DbEngine, Inventory, StorageKind};
use crate::names;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedSender;

/// What a backup needs to know about the database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbRef {
    /// The inventory's name.
    pub name: String,
    pub container: String,
    pub database: String,
    pub user: String,
}

/// Where backups go (only `dir`, on this machine, is supported by this build).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageRef {
    pub name: String,
    pub path: String,
    pub keep_days: Option<u32>,
    pub keep_count: Option<u32>,
}

/// The record beside every backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub database: String,
    pub db_name: String,
    pub host: String,
    pub container: String,
    pub time: String,
    pub size: u64,
    pub sha256: String,
    pub format: String,
    pub server_version: String,
    /// `schema.table` → rows, counted in the dump's own snapshot.
    pub tables: BTreeMap<String, i64>,
    pub verified: bool,
    pub verified_at: Option<String>,
    pub storage: String,
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
    let container = spec.container.clone().ok_or_else(|| {
        Error::usage(format!(
            "{db}: backups run pg_dump inside the database's container; set `container`"
        ))
    })?;
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
    if st.kind != StorageKind::Dir {
        return Err(Error::usage(format!(
            "storage {sname}: kind {:?} is not supported by this build yet; use kind = \"dir\"",
            st.kind
        )));
    }
    Ok((
        spec.host.clone(),
        DbRef {
            name: db.to_string(),
            container,
            database: spec.database.clone().unwrap_or_else(|| db.to_string()),
            user: spec.user.clone().unwrap_or_else(|| "postgres".into()),
        },
        StorageRef {
            name: sname,
            path: st.path.clone().unwrap_or_default(),
            keep_days: st.keep_days,
            keep_count: st.keep_count,
        },
    ))
}

/// Plan backup / verify (pure apart from reading the inventory).
pub fn plan(inv: &Inventory, action: &Action) -> Result<Plan, Error> {
    let (host, step) = match action {
        Action::Backup { db, to } => {
            let (host, d, s) = resolve(inv, db, to.as_deref())?;
            let name = format!(
                "pg_dump -Fc {} in {} → {} (sha256, manifest with row counts)",
                d.database, d.container, s.path
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
        Action::Restore { db, backup, to } => {
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
    Ok(Plan {
        action: action.clone(),
        host,
        lock: format!("db-{db}"),
        app: Some(db),
        destructive: action.is_destructive(),
        steps: vec![step],
    })
}

fn check_id(id: &str) -> Result<(), Error> {
    names::check_name("backup", id).map_err(Error::usage)
}

/// A psql session inside the container, kept open (for a snapshot that must outlive a query).
struct Psql {
    session: exec::Session,
    buf: String,
    err: String,
}

const DONE: &str = "__opsdeck_done__";

impl Psql {
    async fn open(
        d: &bollard::Docker,
        container: &str,
        user: &str,
        db: &str,
    ) -> Result<Self, Error> {
        let cmd = [
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            user,
            "-d",
            db,
        ];
        let session = exec::start(
            d,
            container,
            cmd.iter().map(|s| s.to_string()).collect(),
            true,
        )
        .await
        .map_err(|e| {
            Error::failed(format!(
                "psql in {container}: {}",
                crate::docker::describe_error(&e)
            ))
        })?;
        Ok(Self {
            session,
            buf: String::new(),
            err: String::new(),
        })
    }

    /// Run SQL; returns the output lines.
    async fn query(&mut self, sql: &str) -> Result<Vec<String>, Error> {
        let script = format!("{sql}\n\\echo {DONE}\n");
        self.session
            .input
            .write_all(script.as_bytes())
            .await
            .map_err(|e| Error::failed(format!("psql: {e}")))?;
        self.session
            .input
            .flush()
            .await
            .map_err(|e| Error::failed(format!("psql: {e}")))?;
        loop {
            if let Some(pos) = self.buf.find(&format!("{DONE}\n")) {
                let out: String = self.buf.drain(..pos + DONE.len() + 1).collect();
                return Ok(out
                    .lines()
                    .filter(|l| !l.is_empty() && *l != DONE)
                    .map(str::to_string)
                    .collect());
            }
            match tokio::time::timeout(
                std::time::Duration::from_secs(600),
                self.session.output.next(),
            )
            .await
            {
                Ok(Some(Ok(bollard::container::LogOutput::StdErr { message }))) => {
                    self.err.push_str(&String::from_utf8_lossy(&message))
                }
                Ok(Some(Ok(frame))) => self
                    .buf
                    .push_str(&String::from_utf8_lossy(&frame.into_bytes())),
                Ok(Some(Err(e))) => {
                    return Err(Error::failed(format!(
                        "psql: {}",
                        crate::docker::describe_error(&e)
                    )))
                }
                Ok(None) => return Err(Error::failed(format!("psql ended: {}", self.err.trim()))),
                Err(_) => return Err(Error::failed("psql did not answer within 600s")),
            }
        }
    }

    async fn close(mut self) {
        let _ = self.session.input.write_all(b"\\q\n").await;
        let _ = self.session.input.shutdown().await;
    }
}

const COUNTS: &str = "SELECT format('SELECT %L || ''|'' || count(*) FROM %I.%I', schemaname || '.' || tablename, schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 \\gexec";

fn parse_counts(lines: &[String]) -> BTreeMap<String, i64> {
    lines
        .iter()
        .filter_map(|l| l.rsplit_once('|'))
        .filter_map(|(t, n)| n.trim().parse().ok().map(|n| (t.to_string(), n)))
        .collect()
}

async fn container_id(host: &Host, d: &bollard::Docker, name: &str) -> Result<String, Error> {
    let list = crate::docker::list_containers(d, host.name())
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
    list.iter()
        .find(|c| {
            (c.name == name || c.service.as_deref() == Some(name))
                && c.state == crate::docker::State::Running
        })
        .map(|c| c.id.clone())
        .ok_or_else(|| {
            Error::failed(format!(
                "{}: no running container or compose service named {name:?}",
                host.name()
            ))
        })
}

fn progress(events: &UnboundedSender<ActionEvent>, seq: usize, done: u64) {
    let _ = events.send(ActionEvent::Progress {
        seq,
        done,
        total: None,
        unit: "bytes".into(),
    });
}

/// Run the backup. Nothing is published unless every part succeeded.
pub(super) async fn backup(
    host: &Host,
    db: &DbRef,
    st: &StorageRef,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let d = host.docker().await?;
    let cid = container_id(host, &d, &db.container).await?;
    let dir = PathBuf::from(&st.path);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| Error::failed(format!("storage {}: {}: {e}", st.name, dir.display())))?;
    let now = chrono::Utc::now();
    let id = format!("{}-{}", db.name, now.format("%Y%m%dT%H%M%S%3fZ"));
    let partial = dir.join(format!("{id}.dump.partial"));
    let result = async {
        let mut psql = Psql::open(&d, &cid, &db.user, &db.database).await?;
        psql.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;")
            .await?;
        let snapshot = psql
            .query("SELECT pg_export_snapshot();")
            .await?
            .into_iter()
            .next()
            .unwrap_or_default();
        let version = psql
            .query("SHOW server_version;")
            .await?
            .into_iter()
            .next()
            .unwrap_or_default();
        let tables = parse_counts(&psql.query(COUNTS).await?);
        if snapshot.is_empty() {
            return Err(Error::failed("no snapshot id from pg_export_snapshot()"));
        }
        let cmd = [
            "pg_dump",
            "-Fc",
            "-U",
            &db.user,
            "--snapshot",
            &snapshot,
            &db.database,
        ];
        let mut dump = exec::start(&d, &cid, cmd.iter().map(|s| s.to_string()).collect(), false)
            .await
            .map_err(|e| {
                Error::failed(format!("pg_dump: {}", crate::docker::describe_error(&e)))
            })?;
        let mut file = tokio::fs::File::create(&partial).await.map_err(|e| {
            Error::failed(format!("storage {}: {}: {e}", st.name, partial.display()))
        })?;
        let mut hasher = Sha256::new();
        let (mut size, mut last_report, mut stderr) = (0u64, 0u64, String::new());
        while let Some(frame) = dump.output.next().await {
            match frame.map_err(|e| {
                Error::failed(format!(
                    "pg_dump stream: {}",
                    crate::docker::describe_error(&e)
                ))
            })? {
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
                other => {
                    let bytes = other.into_bytes();
                    hasher.update(&bytes);
                    file.write_all(&bytes).await.map_err(|e| {
                        Error::failed(format!("writing {}: {e}", partial.display()))
                    })?;
                    size += bytes.len() as u64;
                    if size - last_report >= 1 << 20 {
                        progress(events, seq, size);
                        last_report = size;
                    }
                }
            }
        }
        file.sync_all()
            .await
            .map_err(|e| Error::failed(format!("syncing {}: {e}", partial.display())))?;
        drop(file);
        let code = exec::exit_code(&d, &dump.id)
            .await
            .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
        if code != Some(0) {
            return Err(Error::failed(format!(
                "pg_dump exited with {code:?}: {}",
                stderr.trim()
            )));
        }
        if size == 0 {
            return Err(Error::failed("pg_dump produced no data"));
        }
        psql.query("COMMIT;").await?;
        psql.close().await;
        Ok(Manifest {
            id: id.clone(),
            database: db.name.clone(),
            db_name: db.database.clone(),
            host: host.name().to_string(),
            container: db.container.clone(),
            time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            size,
            sha256: format!("{:x}", hasher.finalize()),
            format: "pg_dump custom (-Fc)".into(),
            server_version: version,
            tables,
            verified: false,
            verified_at: None,
            storage: st.name.clone(),
        })
    }
    .await;
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    let final_path = dir.join(format!("{id}.dump"));
    if let Err(e) = tokio::fs::rename(&partial, &final_path).await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(Error::failed(format!(
            "publishing {}: {e}",
            final_path.display()
        )));
    }
    if let Err(e) = write_manifest(&dir, &manifest).await {
        let _ = tokio::fs::remove_file(&final_path).await;
        return Err(e);
    }
    let pruned = retention(&dir, &db.name, st).await.unwrap_or_default();
    Ok(format!(
        "{id}: {} bytes, sha256 {}, {} tables{}",
        manifest.size,
        &manifest.sha256[..16],
        manifest.tables.len(),
        if pruned.is_empty() {
            String::new()
        } else {
            format!("; retention removed {}", pruned.join(", "))
        }
    ))
}

async fn write_manifest(dir: &Path, m: &Manifest) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(m).map_err(|e| Error::failed(format!("manifest: {e}")))?;
    let tmp = dir.join(format!(".{}.json.tmp", m.id));
    let path = dir.join(format!("{}.json", m.id));
    tokio::fs::write(&tmp, json)
        .await
        .map_err(|e| Error::failed(format!("{}: {e}", tmp.display())))?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| Error::failed(format!("{}: {e}", path.display())))
}

/// Every published backup (manifest) of `db` in a directory, newest first.
pub async fn list_dir(dir: &Path, db: Option<&str>) -> Result<Vec<Manifest>, Error> {
    let mut out = Vec::new();
    let mut rd = match tokio::fs::read_dir(dir).await {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::failed(format!("{}: {e}", dir.display()))),
    };
    while let Ok(Some(entry)) = rd.next_entry().await {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "json")
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            if let Ok(text) = tokio::fs::read(&p).await {
                if let Ok(m) = serde_json::from_slice::<Manifest>(&text) {
                    if db.is_none_or(|d| m.database == d)
                        && dir.join(format!("{}.dump", m.id)).is_file()
                    {
                        out.push(m);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
    Ok(out)
}

/// Delete backups beyond `keep_days`/`keep_count`, but only ones older than the newest
/// verified backup: an unverified history is never thinned.
async fn retention(dir: &Path, db: &str, st: &StorageRef) -> Result<Vec<String>, Error> {
    if st.keep_days.is_none() && st.keep_count.is_none() {
        return Ok(vec![]);
    }
    let all = list_dir(dir, Some(db)).await?;
    let Some(newest_verified) = all.iter().position(|m| m.verified) else {
        return Ok(vec![]);
    };
    let cutoff = st
        .keep_days
        .map(|d| chrono::Utc::now() - chrono::Duration::days(i64::from(d)));
    let mut removed = Vec::new();
    for (i, m) in all.iter().enumerate() {
        if i <= newest_verified {
            continue;
        }
        let too_many = st.keep_count.is_some_and(|k| i >= k as usize);
        let too_old = cutoff
            .is_some_and(|c| chrono::DateTime::parse_from_rfc3339(&m.time).is_ok_and(|t| t < c));
        if too_many || too_old {
            let _ = tokio::fs::remove_file(dir.join(format!("{}.dump", m.id))).await;
            let _ = tokio::fs::remove_file(dir.join(format!("{}.json", m.id))).await;
            removed.push(m.id.clone());
        }
    }
    Ok(removed)
}

/// Stream a file into an exec's stdin; returns the exec's stdout and stderr.
async fn feed(
    d: &bollard::Docker,
    cid: &str,
    cmd: Vec<String>,
    file: &Path,
) -> Result<(i64, String, String), Error> {
    let mut s = exec::start(d, cid, cmd, true)
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
    let mut f = tokio::fs::File::open(file)
        .await
        .map_err(|e| Error::failed(format!("{}: {e}", file.display())))?;
    let mut output = s.output;
    let reader = tokio::spawn(async move {
        let (mut out, mut err) = (String::new(), String::new());
        while let Some(Ok(frame)) = output.next().await {
            match frame {
                bollard::container::LogOutput::StdErr { message } => {
                    err.push_str(&String::from_utf8_lossy(&message))
                }
                other => {
                    if out.len() < 1 << 20 {
                        out.push_str(&String::from_utf8_lossy(&other.into_bytes()))
                    }
                }
            }
        }
        (out, err)
    });
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| Error::failed(format!("{}: {e}", file.display())))?;
        if n == 0 {
            break;
        }
        if s.input.write_all(&buf[..n]).await.is_err() {
            break; // the process stopped reading; its exit status says why
        }
    }
    let _ = s.input.shutdown().await;
    drop(s.input);
    let (out, err) = reader.await.unwrap_or_default();
    let mut code = None;
    for _ in 0..100 {
        code = exec::exit_code(d, &s.id)
            .await
            .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
        if code.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok((code.unwrap_or(-1), out, err))
}

async fn sha256_file(p: &Path) -> Result<(String, u64), Error> {
    let mut f = tokio::fs::File::open(p)
        .await
        .map_err(|e| Error::failed(format!("{}: {e}", p.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| Error::failed(format!("{}: {e}", p.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((format!("{:x}", h.finalize()), size))
}

/// Prove a backup restores: checksum, archive listing, restore into a scratch database, row
/// counts equal to the manifest's. Only then is it marked verified.
pub(super) async fn verify(
    host: &Host,
    db: &DbRef,
    st: &StorageRef,
    id: &str,
) -> Result<String, Error> {
    let dir = PathBuf::from(&st.path);
    let mpath = dir.join(format!("{id}.json"));
    let dump = dir.join(format!("{id}.dump"));
    let mut m: Manifest = serde_json::from_slice(
        &tokio::fs::read(&mpath)
            .await
            .map_err(|e| Error::usage(format!("backup {id}: {}: {e}", mpath.display())))?,
    )
    .map_err(|e| Error::failed(format!("{}: not a manifest: {e}", mpath.display())))?;
    let (sha, size) = sha256_file(&dump).await?;
    if sha != m.sha256 || size != m.size {
        return Err(Error::failed(format!("checksum mismatch: the file has sha256 {sha} ({size} bytes), the manifest says {} ({} bytes)", m.sha256, m.size)));
    }
    let d = host.docker().await?;
    let cid = container_id(host, &d, &db.container).await?;
    let (code, listing, err) =
        feed(&d, &cid, vec!["pg_restore".into(), "--list".into()], &dump).await?;
    if code != 0 || listing.lines().count() < 3 {
        return Err(Error::failed(format!(
            "pg_restore --list failed (exit {code}): {}",
            err.trim()
        )));
    }
    let scratch = format!(
        "opsdeck_verify_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S%3f")
    );
    let mut admin = Psql::open(&d, &cid, &db.user, "postgres").await?;
    admin
        .query(&format!("CREATE DATABASE \"{scratch}\";"))
        .await?;
    let outcome = async {
        let (code, _, err) = feed(
            &d,
            &cid,
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                "-U",
                &db.user,
                "-d",
                &scratch,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            &dump,
        )
        .await?;
        if code != 0 {
            return Err(Error::failed(format!(
                "restoring into {scratch} failed (exit {code}): {}",
                err.trim()
            )));
        }
        let mut s = Psql::open(&d, &cid, &db.user, &scratch).await?;
        let counts = parse_counts(&s.query(COUNTS).await?);
        s.close().await;
        if counts != m.tables {
            let diff: Vec<String> = m
                .tables
                .iter()
                .filter(|(t, n)| counts.get(*t) != Some(n))
                .map(|(t, n)| format!("{t}: manifest {n}, restored {:?}", counts.get(t)))
                .collect();
            return Err(Error::failed(format!(
                "row counts differ: {}",
                diff.join("; ")
            )));
        }
        Ok(counts.len())
    }
    .await;
    // The scratch database goes, whatever happened.
    let _ = admin
        .query(&format!("DROP DATABASE IF EXISTS \"{scratch}\";"))
        .await;
    admin.close().await;
    let tables = outcome?;
    m.verified = true;
    m.verified_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    write_manifest(&dir, &m).await?;
    Ok(format!(
        "{id} verified: checksum ok, restored {tables} tables with the manifest's row counts"
    ))
}

/// `opsdeck backups [DB]`: the backups of every (or one) database in its storage.
pub async fn list(
    inv: &Inventory,
    db: Option<&str>,
) -> Result<Vec<(Manifest, Option<u64>)>, Error> {
    let dbs: Vec<&String> = match db {
        Some(d) => vec![inv
            .databases
            .get_key_value(d)
            .map(|(k, _)| k)
            .ok_or_else(|| {
                Error::usage(names::unknown_name_message(
                    "database",
                    d,
                    inv.databases.keys().map(String::as_str),
                ))
            })?],
        None => inv
            .databases
            .iter()
            .filter(|(_, s)| s.backup_to.is_some())
            .map(|(k, _)| k)
            .collect(),
    };
    let mut out = Vec::new();
    for name in dbs {
        let (_, _, st) = resolve(inv, name, None)?;
        for m in list_dir(Path::new(&st.path), Some(name)).await? {
            out.push((m, inv.databases[name].max_backup_age.map(|d| d.0.as_secs())));
        }
    }
    Ok(out)
}

/// The containers of the apps that use a database (to stop them around a restore).
async fn app_containers(
    host: &Host,
    d: &bollard::Docker,
    apps: &[crate::inventory::AppSpec],
) -> Result<Vec<(String, String)>, Error> {
    let list = crate::docker::list_containers(d, host.name())
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
    Ok(list
        .into_iter()
        .filter(|c| {
            c.state == crate::docker::State::Running
                && apps.iter().any(|a| super::query::belongs_to_app(c, a))
        })
        .map(|c| (c.id, c.name))
        .collect())
}

async fn wait_running(
    d: &bollard::Docker,
    id: &str,
    limit: std::time::Duration,
) -> Result<(), String> {
    let start = std::time::Instant::now();
    loop {
        let i = d
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(|e| crate::docker::describe_error(&e))?;
        let st = i.state.as_ref();
        let running = st.and_then(|s| s.running) == Some(true);
        let health = st
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .map(|h| h.to_string());
        match (running, health.as_deref()) {
            (true, None | Some("healthy") | Some("none")) => return Ok(()),
            (true, Some("unhealthy")) => return Err("unhealthy".into()),
            _ => {}
        }
        if start.elapsed() > limit {
            return Err(format!("not healthy within {}s", limit.as_secs()));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Restore: scratch first (checked against the manifest), then stop the apps, swap the
/// scratch database in (the old one kept as NAME_before_restore_TIME), start the apps and
/// wait for their health; on any failure after the swap, swap back and restart the apps.
pub(super) async fn restore(
    host: &Host,
    db: &DbRef,
    st: &StorageRef,
    id: &str,
    apps: &[crate::inventory::AppSpec],
) -> Result<String, Error> {
    let dir = PathBuf::from(&st.path);
    let dump = dir.join(format!("{id}.dump"));
    let m: Manifest = serde_json::from_slice(
        &tokio::fs::read(dir.join(format!("{id}.json")))
            .await
            .map_err(|e| Error::usage(format!("backup {id}: {e}")))?,
    )
    .map_err(|e| Error::failed(format!("backup {id}: not a manifest: {e}")))?;
    let (sha, _) = sha256_file(&dump).await?;
    if sha != m.sha256 {
        return Err(Error::failed(format!(
            "backup {id}: checksum mismatch; nothing was changed"
        )));
    }
    let d = host.docker().await?;
    let cid = container_id(host, &d, &db.container).await?;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let scratch = format!("opsdeck_restore_{stamp}");
    let kept = format!("{}_before_restore_{stamp}", db.database);
    let live = &db.database;
    let mut admin = Psql::open(&d, &cid, &db.user, "postgres").await?;
    admin
        .query(&format!("CREATE DATABASE \"{scratch}\";"))
        .await?;
    // 1. Into the scratch database, checked. The live database is not touched yet.
    let staged = async {
        let (code, _, err) = feed(
            &d,
            &cid,
            ["pg_restore", "--no-owner", "--exit-on-error", "-U", &db.user, "-d", &scratch].iter().map(|s| s.to_string()).collect(),
            &dump,
        )
        .await?;
        if code != 0 {
            return Err(Error::failed(format!("restoring into a scratch database failed (exit {code}): {}; the live database and the apps were not touched", err.trim())));
        }
        let mut s = Psql::open(&d, &cid, &db.user, &scratch).await?;
        let counts = parse_counts(&s.query(COUNTS).await?);
        s.close().await;
        if counts != m.tables {
            return Err(Error::failed("the scratch restore's row counts differ from the manifest; the live database and the apps were not touched"));
        }
        Ok(())
    }
    .await;
    if let Err(e) = staged {
        let _ = admin
            .query(&format!("DROP DATABASE IF EXISTS \"{scratch}\";"))
            .await;
        admin.close().await;
        return Err(e);
    }
    // 2. Stop the apps that use it.
    let stopped = app_containers(host, &d, apps).await?;
    for (cid_app, _) in &stopped {
        let _ = d
            .stop_container(
                cid_app,
                Some(
                    bollard::query_parameters::StopContainerOptionsBuilder::new()
                        .t(10)
                        .build(),
                ),
            )
            .await;
    }
    let start_apps = |d: bollard::Docker, stopped: Vec<(String, String)>| async move {
        let mut problems = Vec::new();
        for (c, name) in &stopped {
            if let Err(e) = d
                .start_container(c, None::<bollard::query_parameters::StartContainerOptions>)
                .await
            {
                problems.push(format!("{name}: {}", crate::docker::describe_error(&e)));
                continue;
            }
            if let Err(e) = wait_running(&d, c, std::time::Duration::from_secs(120)).await {
                problems.push(format!("{name}: {e}"));
            }
        }
        problems
    };
    // 3. Swap, keeping the old database.
    let terminate = |name: &str| {
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid();")
    };
    let swap = async {
        admin.query(&terminate(live)).await?;
        admin
            .query(&format!("ALTER DATABASE \"{live}\" RENAME TO \"{kept}\";"))
            .await?;
        if let Err(e) = admin
            .query(&format!(
                "ALTER DATABASE \"{scratch}\" RENAME TO \"{live}\";"
            ))
            .await
        {
            let _ = admin
                .query(&format!("ALTER DATABASE \"{kept}\" RENAME TO \"{live}\";"))
                .await;
            return Err(e);
        }
        Ok(())
    }
    .await;
    if let Err(e) = swap {
        let _ = admin
            .query(&format!("DROP DATABASE IF EXISTS \"{scratch}\";"))
            .await;
        admin.close().await;
        let problems = start_apps(d.clone(), stopped).await;
        return Err(Error::failed(format!(
            "swapping the databases failed: {}; the old database stays live{}",
            e.message,
            if problems.is_empty() {
                String::new()
            } else {
                format!("; restarting apps: {}", problems.join(", "))
            }
        )));
    }
    // 4. Start the apps and wait for their health; if they fail, put the old database back.
    let problems = start_apps(d.clone(), stopped.clone()).await;
    if !problems.is_empty() {
        for (c, _) in &stopped {
            let _ = d
                .stop_container(c, None::<bollard::query_parameters::StopContainerOptions>)
                .await;
        }
        let failed_name = format!("{live}_failed_restore_{stamp}");
        let _ = admin.query(&terminate(live)).await;
        let _ = admin
            .query(&format!(
                "ALTER DATABASE \"{live}\" RENAME TO \"{failed_name}\";"
            ))
            .await;
        let _ = admin
            .query(&format!("ALTER DATABASE \"{kept}\" RENAME TO \"{live}\";"))
            .await;
        admin.close().await;
        let again = start_apps(d.clone(), stopped).await;
        return Err(Error::failed(format!(
            "the apps were not healthy on the restored database ({}); the old database was put back and the apps restarted{}",
            problems.join(", "),
            if again.is_empty() { String::new() } else { format!(" (still failing: {})", again.join(", ")) }
        )));
    }
    admin.close().await;
    Ok(format!(
        "{live} restored from {id}; the previous database is kept as {kept} (drop it when satisfied); {} app container(s) restarted healthy",
        stopped.len()
    ))
}
