//! The watcher's memory in the journal's database: subject states (so `watch --once` from cron
//! counts failures across runs), check results per minute (uptime, latency), and when each
//! scheduled job last ran.

use super::{now, Journal, JournalError};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// One watched subject's run of results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchState {
    /// Consecutive failures (0 while passing).
    pub failing: u32,
    /// Consecutive successes (0 while failing).
    pub passing: u32,
    /// An alert was sent and not yet resolved.
    pub alerting: bool,
    /// When the current alert fired (RFC 3339).
    pub since: Option<String>,
    /// The last failure's message.
    pub message: String,
}

/// Up and down counts and latency of one check over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UptimeCounts {
    pub up: u64,
    pub down: u64,
    pub latency_avg_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
}

impl UptimeCounts {
    /// Share of up results, in percent; `None` with no results.
    pub fn percent(&self) -> Option<f64> {
        let all = self.up + self.down;
        (all > 0).then(|| self.up as f64 * 100.0 / all as f64)
    }
}

impl Journal {
    pub async fn watch_states(&self) -> Result<BTreeMap<String, WatchState>, JournalError> {
        let rows = sqlx::query(
            "SELECT subject, failing, passing, alerting, since, message FROM watch_state",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.get::<String, _>(0),
                    WatchState {
                        failing: r.get::<i64, _>(1).max(0) as u32,
                        passing: r.get::<i64, _>(2).max(0) as u32,
                        alerting: r.get::<i64, _>(3) != 0,
                        since: r.get(4),
                        message: r.get(5),
                    },
                )
            })
            .collect())
    }

    pub async fn save_watch_state(
        &self,
        subject: &str,
        s: &WatchState,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO watch_state (subject, failing, passing, alerting, since, message, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(subject) DO UPDATE SET failing = excluded.failing,
               passing = excluded.passing, alerting = excluded.alerting, since = excluded.since,
               message = excluded.message, updated_at = excluded.updated_at",
        )
        .bind(subject)
        .bind(i64::from(s.failing))
        .bind(i64::from(s.passing))
        .bind(i64::from(s.alerting))
        .bind(&s.since)
        .bind(crate::secrets::mask_text(&s.message))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Fold one check result into its minute (`at` in Unix seconds).
    pub async fn record_check(
        &self,
        check: &str,
        at: i64,
        up: bool,
        latency_ms: Option<f64>,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO check_minutes (check_name, minute, up, down, latency_sum, latency_count, latency_max)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(check_name, minute) DO UPDATE SET up = up + excluded.up,
               down = down + excluded.down, latency_sum = latency_sum + excluded.latency_sum,
               latency_count = latency_count + excluded.latency_count,
               latency_max = max(coalesce(latency_max, excluded.latency_max), coalesce(excluded.latency_max, latency_max))",
        )
        .bind(check)
        .bind(at.div_euclid(60))
        .bind(i64::from(up))
        .bind(i64::from(!up))
        .bind(latency_ms.unwrap_or(0.0))
        .bind(i64::from(latency_ms.is_some()))
        .bind(latency_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A check's counts since `since` (Unix seconds).
    pub async fn uptime(&self, check: &str, since: i64) -> Result<UptimeCounts, JournalError> {
        let r = sqlx::query(
            "SELECT coalesce(sum(up), 0), coalesce(sum(down), 0), sum(latency_sum),
                    sum(latency_count), max(latency_max)
             FROM check_minutes WHERE check_name = ? AND minute >= ?",
        )
        .bind(check)
        .bind(since.div_euclid(60))
        .fetch_one(&self.pool)
        .await?;
        let sum: Option<f64> = r.get(2);
        let count: Option<i64> = r.get(3);
        Ok(UptimeCounts {
            up: r.get::<i64, _>(0).max(0) as u64,
            down: r.get::<i64, _>(1).max(0) as u64,
            latency_avg_ms: match (sum, count) {
                (Some(s), Some(c)) if c > 0 => Some(s / c as f64),
                _ => None,
            },
            latency_max_ms: r.get(4),
        })
    }

    /// Average latency per minute since `since`: (minute start in Unix seconds, ms).
    pub async fn latency_series(
        &self,
        check: &str,
        since: i64,
    ) -> Result<Vec<(i64, f64)>, JournalError> {
        let rows = sqlx::query(
            "SELECT minute, latency_sum / latency_count FROM check_minutes
             WHERE check_name = ? AND minute >= ? AND latency_count > 0 ORDER BY minute",
        )
        .bind(check)
        .bind(since.div_euclid(60))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<i64, _>(0) * 60, r.get::<f64, _>(1)))
            .collect())
    }

    /// The checks with any result recorded.
    pub async fn recorded_checks(&self) -> Result<Vec<String>, JournalError> {
        let rows = sqlx::query("SELECT DISTINCT check_name FROM check_minutes ORDER BY check_name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// Drop check results older than `before` (Unix seconds): the history stays bounded.
    pub async fn prune_checks(&self, before: i64) -> Result<u64, JournalError> {
        let r = sqlx::query("DELETE FROM check_minutes WHERE minute < ?")
            .bind(before.div_euclid(60))
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// When a scheduled job last ran (the schedule time it ran for, Unix seconds).
    pub async fn schedule_last(&self, job: &str) -> Result<Option<i64>, JournalError> {
        let r = sqlx::query("SELECT last_run FROM schedule_runs WHERE job = ?")
            .bind(job)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| r.get(0)))
    }

    pub async fn set_schedule_last(&self, job: &str, at: i64) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO schedule_runs (job, last_run) VALUES (?, ?)
             ON CONFLICT(job) DO UPDATE SET last_run = excluded.last_run",
        )
        .bind(job)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many alerts went out through `alert` since `since` (RFC 3339), for its rate limit.
    pub async fn alerts_sent_since(&self, alert: &str, since: &str) -> Result<u64, JournalError> {
        let r = sqlx::query(
            "SELECT count(*) FROM actions WHERE action = 'alert' AND target = ?
             AND outcome = 'succeeded' AND started_at >= ?",
        )
        .bind(alert)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(r.get::<i64, _>(0).max(0) as u64)
    }
}
