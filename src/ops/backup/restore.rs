//! Restoring a backup: into a scratch database first (checked as verify checks), then the
//! apps that use the database stopped, the scratch database swapped in (the old one kept),
//! the apps started and waited for; a failure after the swap puts the old database back.

use super::super::event::ActionEvent;
use super::super::step::{DbRef, StorageRef};
use super::psql::Psql;
use super::verify::restore_into_scratch;
use super::{progress, Job, Manifest};
use crate::docker::{control, Engine};
use crate::error::Error;
use crate::host::Host;
use tokio::sync::mpsc::UnboundedSender;

/// The containers of the apps that use a database (to stop them around a restore).
pub(super) async fn app_containers(
    host: &Host,
    d: &Engine,
    apps: &[crate::inventory::AppSpec],
) -> Result<Vec<(String, String)>, Error> {
    let mut projects = Vec::new();
    for a in apps {
        projects.push(super::super::query::app_project(host, a).await?);
    }
    let list = crate::docker::list_containers(d, host.name())
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
    Ok(list
        .into_iter()
        .filter(|c| {
            c.state == crate::docker::State::Running
                && projects
                    .iter()
                    .any(|p| super::super::query::belongs_to_app(c, p))
        })
        .map(|c| (c.id, c.name))
        .collect())
}

pub(super) async fn wait_running(
    d: &Engine,
    id: &str,
    limit: std::time::Duration,
) -> Result<(), String> {
    use crate::docker::wait::{self, Look, Verdict, WaitError};
    let never = tokio_util::sync::CancellationToken::new();
    let waited = wait::until(limit, &never, || async {
        let i = control::inspect(d, id).await?;
        Ok(match (i.running, wait::verdict(&i)) {
            (true, Verdict::Running | Verdict::Healthy) => Look::Ready(()),
            (true, Verdict::Unhealthy) => Look::Failed("unhealthy".into()),
            _ => Look::NotYet(String::new()),
        })
    })
    .await;
    waited.map_err(|e| match e {
        WaitError::Look(e) => crate::docker::describe_error(&e),
        WaitError::TimedOut { limit, .. } => format!("not healthy within {}s", limit.as_secs()),
        other => other.to_string(),
    })
}

/// Restore: scratch first (checked against the manifest), then stop the apps, swap the
/// scratch database in (the old one kept as NAME_before_restore_TIME), start the apps and
/// wait for their health; on any failure after the swap, swap back and restart the apps.
pub(in crate::ops) async fn restore(
    host: &Host,
    db: &DbRef,
    st: &StorageRef,
    id: &str,
    apps: &[crate::inventory::AppSpec],
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let store = st.open(host)?;
    let m = store.read_manifest(id).await?;
    super::check_manifest(&m, db, id)?;
    let job = Job::open(host, &store, db, "postgres", seq, events).await?;
    let done = swap_in(&job, &m, apps).await;
    job.close().await;
    done
}

/// [`restore`], its tools in place.
async fn swap_in(
    job: &Job<'_>,
    m: &Manifest,
    apps: &[crate::inventory::AppSpec],
) -> Result<String, Error> {
    let &Job {
        host,
        ref d,
        ref tools,
        ref db,
        seq,
        events,
        ..
    } = job;
    let cid = tools.cid.as_str();
    let id = &m.id;
    let scratch = super::scratch::name("restore");
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S%3f").to_string();
    let kept = super::scratch::fit_name(&db.database, &format!("_before_restore_{stamp}"));
    let live = &db.database;
    let mut admin = Psql::open(d, cid, &db.user, "postgres").await?;
    // 1. Into a scratch database made like the live one (owner, locale, grants), checked.
    // The live database is not touched yet. (create_like drops what it made if it fails.)
    let how = match super::scratch::create_like(&mut admin, live, &scratch).await {
        Ok(how) => how,
        Err(e) => {
            admin.close().await;
            return Err(Error::failed(format!(
                "{}; the live database and the apps were not touched",
                e.message
            )));
        }
    };
    how.tell(events);
    let report = |n: u64| progress(events, seq, n);
    let staged = restore_into_scratch(job, m, &scratch, how, &report).await;
    if let Err(e) = staged {
        let _ = admin
            .query(&format!("DROP DATABASE IF EXISTS \"{scratch}\";"))
            .await;
        admin.close().await;
        return Err(Error::failed(format!(
            "{}; the live database and the apps were not touched",
            e.error().message
        )));
    }
    // 2. Stop the apps that use it (never the database's own container: seed 003 runs
    // Postgres in the same compose project as its apps).
    let stopped: Vec<(String, String)> = app_containers(host, d, apps)
        .await?
        .into_iter()
        .filter(|(id, _)| id != cid)
        .collect();
    for (cid_app, _) in &stopped {
        let _ = control::stop(d, cid_app, Some(10)).await;
    }
    let start_apps = |d: Engine, stopped: Vec<(String, String)>| async move {
        let mut problems = Vec::new();
        for (c, name) in &stopped {
            if let Err(e) = control::start(&d, c).await {
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
    // Both renames in one transaction: there is never a moment without a live database,
    // even if opsdeck is killed or the connection drops in between. What happened is read
    // back from the catalog, not assumed.
    let swap = async {
        admin.query(&terminate(live)).await?;
        let tx = admin
            .query(&format!(
                "BEGIN; ALTER DATABASE \"{live}\" RENAME TO \"{kept}\"; ALTER DATABASE \"{scratch}\" RENAME TO \"{live}\"; COMMIT;"
            ))
            .await;
        if tx.is_err() {
            let _ = admin.query("ROLLBACK;").await;
        }
        let names = admin
            .query(&format!(
                "SELECT datname FROM pg_database WHERE datname IN ('{live}', '{kept}', '{scratch}') ORDER BY 1;"
            ))
            .await?;
        let has = |n: &str| names.iter().any(|l| l.trim() == n);
        if has(live) && has(&kept) && !has(&scratch) {
            Ok(())
        } else {
            Err(Error::failed(format!(
                "the swap did not happen (the databases present: {})",
                names.iter().map(|l| l.trim()).collect::<Vec<_>>().join(", ")
            )))
        }
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
            let _ = control::stop(d, c, None).await;
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
