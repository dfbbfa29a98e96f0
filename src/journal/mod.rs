//! The journal: an append-only SQLite record of every action (sqlx, embedded: nothing to
//! install). Created on first use in the XDG data dir (or `$OPSDECK_JOURNAL`), migrated on
//! open. Parameters are masked before they are written.

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

mod watch;
pub use watch::{UptimeCounts, WatchState};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("journal {path}: migrating the schema failed: {source}")]
    Migrate {
        path: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("journal {path}: cannot create its directory: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("journal: no data directory (set XDG_DATA_HOME or HOME, or OPSDECK_JOURNAL)")]
    NoDataDir,
    #[error("journal: {0}")]
    Query(#[from] sqlx::Error),
    #[error("journal: {0}")]
    Corrupt(String),
}

impl From<JournalError> for crate::error::Error {
    fn from(e: JournalError) -> Self {
        crate::error::Error::failed(e.to_string())
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Refused,
    /// The process running it ended without finishing it (killed, crashed, rebooted).
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Refused => "refused",
            Outcome::Interrupted => "interrupted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => Outcome::Running,
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed,
            "cancelled" => Outcome::Cancelled,
            "refused" => Outcome::Refused,
            "interrupted" => Outcome::Interrupted,
            _ => return None,
        })
    }
}

/// A new entry, as the action engine starts an action.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub action: String,
    pub target: String,
    pub host: Option<String>,
    pub app: Option<String>,
    pub actor: String,
    pub params: serde_json::Value,
}

/// The process an entry was recorded by (stored as JSON in `actions.process`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct Recorder {
    machine_id: String,
    #[serde(flatten)]
    process: crate::process::ProcessId,
}

/// One step of an entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepRecord {
    pub seq: i64,
    pub name: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: Outcome,
    pub output: Option<String>,
}

/// One journal entry as read back.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub action: String,
    pub target: String,
    pub host: Option<String>,
    pub app: Option<String>,
    pub actor: String,
    pub params: serde_json::Value,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub steps: Vec<StepRecord>,
}

/// The image one service of an app ran at one version (see the `images` table).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImageRecord {
    pub app: String,
    pub service: String,
    pub version: String,
    /// The reference compose ran (`repo:tag`).
    pub reference: String,
    /// The image's id (`sha256:...` of its config).
    pub image_id: String,
    /// `repo@sha256:...`, when the image came from a registry.
    pub digest: Option<String>,
    pub seen_at: String,
}

/// Filters for `opsdeck history`.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub app: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    /// RFC 3339; entries started at or after.
    pub since: Option<String>,
    pub limit: Option<u32>,
}

/// A handle on the journal database.
#[derive(Clone)]
pub struct Journal {
    pool: SqlitePool,
    path: PathBuf,
}

/// `$OPSDECK_JOURNAL`, else `$XDG_DATA_HOME/opsdeck/journal.db`.
pub fn default_path() -> Result<PathBuf, JournalError> {
    if let Some(p) = std::env::var_os("OPSDECK_JOURNAL").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    crate::paths::data_dir()
        .map(|d| d.join("journal.db"))
        .ok_or(JournalError::NoDataDir)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Journal {
    /// Open (creating and migrating as needed) the journal at the default place.
    pub async fn open_default() -> Result<Self, JournalError> {
        Self::open(&default_path()?).await
    }

    pub async fn open(path: &Path) -> Result<Self, JournalError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| JournalError::Dir {
                path: shown.clone(),
                source,
            })?;
        }
        // Created 0600: the journal records what was done to which database and host. SQLite
        // gives its -wal and -shm files the database file's permissions.
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|source| JournalError::Dir {
                    path: shown.clone(),
                    source,
                })?;
        }
        let opts = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| JournalError::Open {
                path: shown.clone(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|source| JournalError::Open {
                path: shown.clone(),
                source,
            })?;
        // Two processes opening a new journal at once both try to migrate it; the one that
        // loses sees the other's tables: a second try finds them recorded and passes.
        let mut tries = 0;
        loop {
            match MIGRATOR.run(&pool).await {
                Ok(()) => break,
                Err(_) if tries < 3 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(150 * tries)).await;
                }
                Err(source) => {
                    return Err(JournalError::Migrate {
                        path: shown,
                        source,
                    })
                }
            }
        }
        let journal = Self {
            pool,
            path: path.to_path_buf(),
        };
        // Whoever opens the journal next (history, status, the next action) sees a run
        // whose process died as `interrupted`, never `running` forever.
        if let Err(e) = journal.close_interrupted().await {
            tracing::warn!("journal: closing interrupted entries: {e}");
        }
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record the start of an action; returns its id. Parameters are masked here.
    pub async fn begin(&self, e: &NewEntry) -> Result<i64, JournalError> {
        let mut params = e.params.clone();
        crate::secrets::mask_json(&mut params);
        let recorder = serde_json::to_string(&Recorder {
            machine_id: crate::process::machine_id(),
            process: crate::process::ProcessId::current(),
        })
        .unwrap_or_default();
        let row = sqlx::query(
            "INSERT INTO actions (action, target, host, app, actor, params, started_at, process)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&e.action)
        .bind(crate::secrets::mask_text(&e.target))
        .bind(&e.host)
        .bind(&e.app)
        .bind(&e.actor)
        .bind(params.to_string())
        .bind(now())
        .bind(recorder)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// Record that step `seq` started.
    pub async fn step_started(&self, id: i64, seq: i64, name: &str) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO steps (action_id, seq, name, started_at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(seq)
            .bind(crate::secrets::mask_text(name))
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Record how step `seq` ended, with its (masked) output.
    pub async fn step_finished(
        &self,
        id: i64,
        seq: i64,
        outcome: Outcome,
        output: Option<&str>,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE steps SET finished_at = ?, outcome = ?, output = ?
             WHERE action_id = ? AND seq = ? AND outcome = 'running'",
        )
        .bind(now())
        .bind(outcome.as_str())
        .bind(output.map(crate::secrets::mask_text))
        .bind(id)
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Record how the action ended. A finished entry cannot be changed again.
    pub async fn finish(
        &self,
        id: i64,
        outcome: Outcome,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        sqlx::query("UPDATE actions SET finished_at = ?, outcome = ?, error = ? WHERE id = ?")
            .bind(now())
            .bind(outcome.as_str())
            .bind(error.map(crate::secrets::mask_text))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Close the entries still `running` whose process is certainly gone (recorded on this
    /// machine; same boot without that process, or another boot) as `interrupted`, and their
    /// unfinished steps with them. Entries of live processes, of other machines, and of
    /// versions that did not record the process are left as they are. Returns the ids closed.
    pub async fn close_interrupted(&self) -> Result<Vec<i64>, JournalError> {
        let rows = sqlx::query(
            "SELECT id, process FROM actions WHERE outcome = 'running' AND process IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let mid = crate::process::machine_id();
        let mut closed = Vec::new();
        for r in rows {
            let id: i64 = r.get("id");
            let text: String = r.get("process");
            let Ok(rec) = serde_json::from_str::<Recorder>(&text) else {
                continue;
            };
            let here = !mid.is_empty() && rec.machine_id == mid;
            if !here || rec.process.liveness() != crate::process::Liveness::Gone {
                continue;
            }
            let why = format!(
                "interrupted: the opsdeck process running it (pid {}) ended without finishing it (killed, crashed or the machine restarted); check the state before running it again",
                rec.process.pid
            );
            sqlx::query(
                "UPDATE steps SET finished_at = ?, outcome = 'interrupted'
                 WHERE action_id = ? AND outcome = 'running'",
            )
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
            sqlx::query(
                "UPDATE actions SET finished_at = ?, outcome = 'interrupted', error = ?
                 WHERE id = ? AND outcome = 'running'",
            )
            .bind(now())
            .bind(&why)
            .bind(id)
            .execute(&self.pool)
            .await?;
            closed.push(id);
        }
        Ok(closed)
    }

    /// Record the image a service ran (as action `id` saw it).
    pub async fn record_image(&self, id: i64, r: &ImageRecord) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO images (action_id, app, service, version, reference, image_id, digest, seen_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&r.app)
        .bind(&r.service)
        .bind(&r.version)
        .bind(&r.reference)
        .bind(&r.image_id)
        .bind(&r.digest)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest image recorded for each service of `app` at `version`.
    pub async fn images_of(
        &self,
        app: &str,
        version: &str,
    ) -> Result<Vec<ImageRecord>, JournalError> {
        let rows = sqlx::query(
            "SELECT service, reference, image_id, digest, seen_at FROM images i
             WHERE app = ? AND version = ? AND rowid = (
                 SELECT rowid FROM images j WHERE j.app = i.app AND j.version = i.version
                 AND j.service = i.service ORDER BY seen_at DESC, rowid DESC LIMIT 1)
             ORDER BY service",
        )
        .bind(app)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ImageRecord {
                app: app.to_string(),
                service: r.get(0),
                version: version.to_string(),
                reference: r.get(1),
                image_id: r.get(2),
                digest: r.get(3),
                seen_at: r.get(4),
            })
            .collect())
    }

    /// Entries, newest first.
    pub async fn history(&self, f: &HistoryFilter) -> Result<Vec<Entry>, JournalError> {
        let mut sql = String::from(
            "SELECT id, action, target, host, app, actor, params, started_at, finished_at, outcome, error
             FROM actions WHERE 1=1",
        );
        if f.app.is_some() {
            sql.push_str(" AND app = ?");
        }
        if f.action.is_some() {
            sql.push_str(" AND action = ?");
        }
        if f.outcome.is_some() {
            sql.push_str(" AND outcome = ?");
        }
        if f.since.is_some() {
            sql.push_str(" AND started_at >= ?");
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        // Only fixed fragments are appended above; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(a) = &f.app {
            q = q.bind(a);
        }
        if let Some(a) = &f.action {
            q = q.bind(a);
        }
        if let Some(o) = f.outcome {
            q = q.bind(o.as_str());
        }
        if let Some(s) = &f.since {
            q = q.bind(s);
        }
        q = q.bind(i64::from(f.limit.unwrap_or(50)));
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            let steps = sqlx::query(
                "SELECT seq, name, started_at, finished_at, outcome, output
                 FROM steps WHERE action_id = ? ORDER BY seq",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|s| {
                Ok(StepRecord {
                    seq: s.get("seq"),
                    name: s.get("name"),
                    started_at: s.get("started_at"),
                    finished_at: s.get("finished_at"),
                    outcome: outcome_of(id, s.get("outcome"))?,
                    output: s.get("output"),
                })
            })
            .collect::<Result<Vec<_>, JournalError>>()?;
            let params: String = r.get("params");
            out.push(Entry {
                id,
                action: r.get("action"),
                target: r.get("target"),
                host: r.get("host"),
                app: r.get("app"),
                actor: r.get("actor"),
                params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
                started_at: r.get("started_at"),
                finished_at: r.get("finished_at"),
                outcome: outcome_of(id, r.get("outcome"))?,
                error: r.get("error"),
                steps,
            });
        }
        Ok(out)
    }
}

/// An outcome as stored; a word this version does not know is an error naming the entry.
fn outcome_of(id: i64, stored: String) -> Result<Outcome, JournalError> {
    Outcome::parse(&stored).ok_or_else(|| {
        JournalError::Corrupt(format!(
            "entry {id} has the outcome {stored:?}, which this version of opsdeck does not know"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_journal_and_its_wal_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.db");
        let j = Journal::open(&path).await.expect("open");
        j.begin(&NewEntry {
            action: "restart".into(),
            target: "web".into(),
            host: None,
            app: None,
            actor: "me".into(),
            params: serde_json::json!({}),
        })
        .await
        .expect("begin");
        for f in ["journal.db", "journal.db-wal", "journal.db-shm"] {
            let p = dir.path().join(f);
            if p.exists() {
                let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{f}");
            }
        }
        assert!(dir.path().join("journal.db-wal").exists(), "WAL mode");
    }

    #[tokio::test]
    async fn entries_are_recorded_masked_and_final() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::open(&dir.path().join("sub/journal.db"))
            .await
            .expect("open");
        let id = j
            .begin(&NewEntry {
                action: "restart".into(),
                target: "shop/web".into(),
                host: Some("local".into()),
                app: Some("shop".into()),
                actor: "me@laptop".into(),
                params: serde_json::json!({"password": "hunter2", "url": "postgres://a:hunter2@h/d"}),
            })
            .await
            .expect("begin");
        j.step_started(id, 1, "restart container")
            .await
            .expect("step");
        j.step_finished(id, 1, Outcome::Succeeded, Some("ok"))
            .await
            .expect("step done");
        j.finish(
            id,
            Outcome::Failed,
            Some("boom at postgres://a:hunter2@h/d"),
        )
        .await
        .expect("finish");
        // A finished entry cannot be rewritten, nor deleted.
        assert!(j.finish(id, Outcome::Succeeded, None).await.is_err());
        assert!(sqlx::query("DELETE FROM actions")
            .execute(&j.pool)
            .await
            .is_err());
        let h = j.history(&HistoryFilter::default()).await.expect("history");
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].outcome, Outcome::Failed);
        assert_eq!(h[0].steps.len(), 1);
        let all = serde_json::to_string(&h).expect("json");
        assert!(!all.contains("hunter2"), "{all}");
        let none = j
            .history(&HistoryFilter {
                app: Some("other".into()),
                ..Default::default()
            })
            .await
            .expect("history");
        assert!(none.is_empty());
        // Reopening runs no migration twice and keeps the data.
        drop(j);
        let j = Journal::open(&dir.path().join("sub/journal.db"))
            .await
            .expect("reopen");
        assert_eq!(
            j.history(&HistoryFilter::default()).await.expect("h").len(),
            1
        );
    }
}
