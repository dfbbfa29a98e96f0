//! Verifying a backup: its bytes against the manifest's checksum, the archive through
//! `pg_restore --list`, then a restore into a scratch database whose row counts must be the
//! manifest's; only that marks it verified. The checked restore into a scratch database is
//! also the first half of a restore (`restore.rs`).

use super::super::event::ActionEvent;
use super::super::step::{DbRef, StorageRef};
use super::psql::{parse_counts, Psql, COUNTS};
use super::{progress, Job, Manifest};
use crate::error::Error;
use crate::host::Host;
use crate::storage::{InContainer, StorageError, Store};
use tokio::sync::mpsc::UnboundedSender;

/// Why checking a backup failed: the backup itself is bad (checksum, archive, restore, row
/// counts), or something around it failed (connection, container) and says nothing about it.
pub(super) enum Check {
    Bad(Error),
    Other(Error),
}

impl From<Error> for Check {
    fn from(e: Error) -> Self {
        Check::Other(e)
    }
}

impl From<crate::host::HostError> for Check {
    fn from(e: crate::host::HostError) -> Self {
        Check::Other(e.into())
    }
}

impl From<StorageError> for Check {
    fn from(e: StorageError) -> Self {
        Check::Other(e.into())
    }
}

impl Check {
    pub(super) fn error(self) -> Error {
        match self {
            Check::Bad(e) | Check::Other(e) => e,
        }
    }
}

fn mismatch(fed: &crate::storage::Fed, m: &Manifest) -> Option<Check> {
    (fed.sha256 != m.sha256 || fed.size != m.size).then(|| {
        Check::Bad(Error::failed(format!(
            "checksum mismatch: the stored dump has sha256 {} ({} bytes), the manifest says {} ({} bytes)",
            fed.sha256, fed.size, m.sha256, m.size
        )))
    })
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Restore backup `id` into `scratch` (which exists, empty) and check it: the bytes fed are the
/// manifest's (sha256, size) and the restored row counts are the manifest's.
pub(super) async fn restore_into_scratch(
    job: &Job<'_>,
    m: &Manifest,
    scratch: &str,
    how: super::scratch::Scratch,
    report: crate::storage::Progress<'_>,
) -> Result<usize, Check> {
    let &Job {
        ref d,
        ref tools,
        store,
        ref db,
        ..
    } = job;
    let cid = tools.cid.as_str();
    let fed = store
        .feed(
            &m.id,
            InContainer {
                env: vec![],
                docker: d,
                container: cid,
                argv: argv(
                    &[
                        &["pg_restore"][..],
                        if how.keep_owners {
                            &[]
                        } else {
                            &["--no-owner"]
                        },
                        &["--exit-on-error", "-U", &db.user, "-d", scratch],
                    ]
                    .concat(),
                ),
            },
            report,
        )
        .await?;
    if let Some(bad) = mismatch(&fed, m) {
        return Err(bad);
    }
    if fed.code != 0 {
        return Err(Check::Bad(Error::failed(format!(
            "restoring into {scratch} failed (exit {}): {}",
            fed.code,
            fed.stderr.trim()
        ))));
    }
    let mut s = Psql::open(d, cid, &db.user, scratch).await?;
    let counts = parse_counts(&s.query(COUNTS).await?);
    s.close().await;
    if counts != m.tables {
        let diff: Vec<String> = m
            .tables
            .iter()
            .filter(|(t, n)| counts.get(*t) != Some(n))
            .map(|(t, n)| format!("{t}: manifest {n}, restored {:?}", counts.get(t)))
            .collect();
        return Err(Check::Bad(Error::failed(format!(
            "row counts differ: {}",
            diff.join("; ")
        ))));
    }
    Ok(counts.len())
}

/// Prove a backup restores: checksum, archive listing, restore into a scratch database, row
/// counts equal to the manifest's. Only then is it marked verified.
pub(in crate::ops) async fn verify(
    host: &Host,
    db: &DbRef,
    st: &StorageRef,
    id: &str,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let store = st.open(host)?;
    let mut m = store.read_manifest(id).await?;
    super::check_manifest(&m, db, id)?;
    match prove(host, db, &store, &m, seq, events).await {
        Ok(tables) => {
            m.verified = true;
            m.verified_at =
                Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            store.write_manifest(&m).await?;
            Ok(format!(
                "{id} verified: checksum ok, restored {tables} tables with the manifest's row counts"
            ))
        }
        Err(Check::Bad(e)) => {
            // A backup that no longer restores is not verified, whatever it was before
            // (retention must not keep counting on it).
            if m.verified {
                m.verified = false;
                m.verified_at = None;
                let _ = store.write_manifest(&m).await;
            }
            Err(e)
        }
        Err(Check::Other(e)) => Err(e),
    }
}

/// The checks of [`verify`]; the number of tables restored.
async fn prove(
    host: &Host,
    db: &DbRef,
    store: &Store<'_>,
    m: &Manifest,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<usize, Check> {
    // Verify works on scratch databases only (the live one may even be gone).
    let job = Job::open(host, store, db, "postgres", seq, events).await?;
    let proved = prove_with(&job, m).await;
    job.close().await;
    proved
}

/// [`prove`], its tools in place.
async fn prove_with(job: &Job<'_>, m: &Manifest) -> Result<usize, Check> {
    let &Job {
        ref d,
        ref tools,
        store,
        ref db,
        seq,
        events,
        ..
    } = job;
    let cid = tools.cid.as_str();
    let id = &m.id;
    // 1. The whole dump through `pg_restore --list`, hashed on the way.
    let listed = store
        .feed(
            id,
            InContainer {
                env: vec![],
                docker: d,
                container: cid,
                argv: argv(&["pg_restore", "--list"]),
            },
            &|_| {},
        )
        .await?;
    if let Some(bad) = mismatch(&listed, m) {
        return Err(bad);
    }
    if listed.code != 0 || listed.stdout.lines().count() < 3 {
        return Err(Check::Bad(Error::failed(format!(
            "pg_restore --list failed (exit {}): {}",
            listed.code,
            listed.stderr.trim()
        ))));
    }
    // 2. Into a scratch database, counted, dropped whatever happens.
    let scratch = super::scratch::name("verify");
    let mut admin = Psql::open(d, cid, &db.user, "postgres").await?;
    // (create_like drops what it made if it fails.)
    let how = match super::scratch::create_like(&mut admin, &db.database, &scratch).await {
        Ok(how) => how,
        Err(e) => {
            admin.close().await;
            return Err(Check::Other(e));
        }
    };
    how.tell(events);
    let report = |n: u64| progress(events, seq, n);
    let outcome = restore_into_scratch(job, m, &scratch, how, &report).await;
    let _ = admin
        .query(&format!("DROP DATABASE IF EXISTS \"{scratch}\";"))
        .await;
    admin.close().await;
    outcome
}
