//! Taking a backup: the row counts and `pg_dump --snapshot` in one snapshot, streamed into the
//! storage and published with its manifest only when every part succeeded; then retention.

use super::super::event::ActionEvent;
use super::super::step::{DbRef, StorageRef};
use super::psql::{parse_counts, Psql, COUNTS};
use super::{progress, Job, Manifest};
use crate::error::Error;
use crate::host::Host;
use crate::storage::{InContainer, Store};
use tokio::sync::mpsc::UnboundedSender;

/// Run the backup. Nothing is published unless every part succeeded.
pub(in crate::ops) async fn backup(
    host: &Host,
    db: &DbRef,
    st: &StorageRef,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let store = st.open(host)?;
    let job = Job::open(host, &store, db, &db.database, seq, events).await?;
    let done = dump(&job, st).await;
    job.close().await;
    done
}

/// [`backup`], its tools in place.
async fn dump(job: &Job<'_>, st: &StorageRef) -> Result<String, Error> {
    let &Job {
        host,
        ref d,
        ref tools,
        store,
        ref db,
        seq,
        events,
    } = job;
    let cid = tools.cid.as_str();
    let now = chrono::Utc::now();
    let id = format!("{}-{}", db.name, now.format("%Y%m%dT%H%M%S%3fZ"));
    let mut psql = Psql::open(d, cid, &db.user, &db.database).await?;
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
    let argv = [
        "pg_dump",
        "-Fc",
        "-U",
        &db.user,
        "--snapshot",
        &snapshot,
        &db.database,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let report = |n: u64| progress(events, seq, n);
    let staged = store
        .dump(
            InContainer {
                env: vec![],
                docker: d,
                container: cid,
                argv,
            },
            &id,
            &report,
        )
        .await?;
    // The snapshot held until the dump finished; ending it cleanly is part of success.
    if let Err(e) = psql.query("COMMIT;").await {
        store.discard(&id, staged).await;
        return Err(e);
    }
    psql.close().await;
    let manifest = Manifest {
        id: id.clone(),
        database: db.name.clone(),
        db_name: db.database.clone(),
        host: host.name().to_string(),
        container: db.container.clone(),
        time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        size: staged.size,
        sha256: staged.sha256.clone(),
        format: "pg_dump custom (-Fc)".into(),
        server_version: version,
        tables,
        verified: false,
        verified_at: None,
        storage: st.name.clone(),
        kind: String::new(),
        files: vec![],
    };
    store.publish(&id, staged).await?;
    if let Err(e) = store.write_manifest(&manifest).await {
        let _ = store.delete(&id).await;
        return Err(e.into());
    }
    let pruned = retention(store, &db.name, st).await.unwrap_or_default();
    Ok(format!(
        "{id}: {} bytes, sha256 {}, {} tables, in {}{}",
        manifest.size,
        &manifest.sha256[..16],
        manifest.tables.len(),
        store.location(),
        if pruned.is_empty() {
            String::new()
        } else {
            format!("; retention removed {}", pruned.join(", "))
        }
    ))
}

/// Delete backups beyond `keep_days`/`keep_count`, but only ones older than the newest
/// verified backup: an unverified history is never thinned.
pub(super) async fn retention(
    store: &Store<'_>,
    db: &str,
    st: &StorageRef,
) -> Result<Vec<String>, Error> {
    if st.spec.keep_days.is_none() && st.spec.keep_count.is_none() {
        return Ok(vec![]);
    }
    let all = store.list(Some(db)).await?;
    let Some(newest_verified) = all.iter().position(|m| m.verified) else {
        return Ok(vec![]);
    };
    let cutoff = st
        .spec
        .keep_days
        .and_then(|d| chrono::Utc::now().checked_sub_signed(chrono::Duration::days(i64::from(d))));
    let mut removed = Vec::new();
    for (i, m) in all.iter().enumerate() {
        if i <= newest_verified {
            continue;
        }
        let too_many = st.spec.keep_count.is_some_and(|k| i >= k as usize);
        let too_old = cutoff
            .is_some_and(|c| chrono::DateTime::parse_from_rfc3339(&m.time).is_ok_and(|t| t < c));
        if (too_many || too_old) && store.delete(&m.id).await.is_ok() {
            removed.push(m.id.clone());
        }
    }
    Ok(removed)
}
