//! Scheduled jobs: each database's `schedule` (a backup) and `verify_schedule` (verification
//! of its newest backup), run through the same plan and engine as `opsdeck backup`/`verify`
//! (so retention runs after each backup, and the journal records them like any other run).
//! A run missed while no watcher ran is run once on start, and said so. Two watchers on one
//! inventory cannot both run a job: it runs under a host lock of its own, and a job whose
//! result is already in the storage (another watcher made it) is not run again.

use super::{Context, WatchEvent};
use crate::error::Error;
use crate::inventory::parse_schedule;
use crate::journal::Journal;
use crate::ops::{self, Action, Engine};
use chrono::{DateTime, Local, TimeZone};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Backup,
    Verify,
}

#[derive(Debug, Clone)]
pub struct Job {
    /// `backup:DB` / `verify:DB`.
    pub name: String,
    pub db: String,
    pub kind: JobKind,
    pub schedule: cron::Schedule,
}

pub fn jobs(inv: &crate::inventory::Inventory) -> Vec<Job> {
    let mut out = Vec::new();
    for (db, spec) in &inv.databases {
        for (kind, s) in [
            (JobKind::Backup, &spec.schedule),
            (JobKind::Verify, &spec.verify_schedule),
        ] {
            let Some(s) = s else { continue };
            // The inventory was validated: the schedule parses.
            let Ok(schedule) = parse_schedule(s) else {
                continue;
            };
            let word = match kind {
                JobKind::Backup => "backup",
                JobKind::Verify => "verify",
            };
            out.push(Job {
                name: format!("{word}:{db}"),
                db: db.clone(),
                kind,
                schedule,
            });
        }
    }
    out
}

/// The times `s` was due in `(after, now]`: (the latest, how many).
pub fn due_between<Tz: TimeZone>(
    s: &cron::Schedule,
    after: &DateTime<Tz>,
    now: &DateTime<Tz>,
) -> Option<(DateTime<Tz>, usize)> {
    let mut latest = None;
    let mut n = 0;
    for t in s.after(after) {
        if &t > now {
            break;
        }
        n += 1;
        latest = Some(t);
        if n > 100_000 {
            break;
        }
    }
    latest.map(|t| (t, n))
}

/// Run the jobs that are due. The first time a job is seen it is not run (nothing was
/// missed yet): its clock starts now.
pub async fn run_due(
    cx: &Context,
    journal: &Journal,
    events: &UnboundedSender<WatchEvent>,
    cancel: &CancellationToken,
) {
    let now = Local::now();
    for job in jobs(&cx.inv) {
        if cancel.is_cancelled() {
            return;
        }
        let last = match journal.schedule_last(&job.name).await {
            Ok(Some(t)) => Local.timestamp_opt(t, 0).single().unwrap_or(now),
            Ok(None) => {
                let _ = journal.set_schedule_last(&job.name, now.timestamp()).await;
                continue;
            }
            Err(e) => {
                let _ = events.send(WatchEvent::Problem {
                    message: format!("{}: reading its last run: {e}", job.name),
                });
                continue;
            }
        };
        let Some((due, count)) = due_between(&job.schedule, &last, &now) else {
            continue;
        };
        // Recorded first: a job that fails is not retried every second; it runs at its
        // next time (and the failure is in the journal and the events).
        let _ = journal.set_schedule_last(&job.name, due.timestamp()).await;
        let missed = (count > 1 || (now - due).num_seconds() > 120).then(|| {
            format!(
                "{count} run(s) due since {} were missed (no watcher ran); running once now",
                last.to_rfc3339()
            )
        });
        if let Some(m) = &missed {
            let _ = events.send(WatchEvent::Missed {
                job: job.name.clone(),
                message: m.clone(),
            });
        }
        let outcome = run_job(cx, journal, &job, due.timestamp(), cancel).await;
        let (outcome, error) = match outcome {
            Ok(Some(skip)) => ("skipped", Some(skip)),
            Ok(None) => ("succeeded", None),
            Err(e) => ("failed", Some(crate::secrets::mask_text(&e.message))),
        };
        let _ = events.send(WatchEvent::Job {
            job: job.name.clone(),
            due: due.to_rfc3339(),
            outcome,
            detail: error,
            missed: missed.is_some(),
        });
    }
}

/// `Ok(Some(why))` when the job was not needed (another watcher did it).
async fn run_job(
    cx: &Context,
    journal: &Journal,
    job: &Job,
    due: i64,
    cancel: &CancellationToken,
) -> Result<Option<String>, Error> {
    let spec = &cx.inv.databases[&job.db];
    let host = cx
        .hosts
        .iter()
        .find(|h| h.name() == spec.host)
        .cloned()
        .ok_or_else(|| {
            Error::usage(format!(
                "database {}: host {} is not watched",
                job.db, spec.host
            ))
        })?;
    let lock_name = format!("watch-{}", job.name.replace(':', "-"));
    let lock = ops::lock::acquire(&host, &lock_name, "watch", &job.name).await?;
    let result = async {
        let newest = ops::backup::list(&cx.inv, Some(&job.db))
            .await?
            .into_iter()
            .map(|(m, _)| m)
            .filter_map(|m| {
                let t = chrono::DateTime::parse_from_rfc3339(&m.time)
                    .ok()?
                    .timestamp();
                Some((t, m))
            })
            .max_by_key(|(t, _)| *t);
        let action = match job.kind {
            JobKind::Backup => {
                if let Some((t, m)) = &newest {
                    if *t >= due {
                        return Ok(Some(format!("backup {} was made after it was due", m.id)));
                    }
                }
                Action::Backup {
                    db: job.db.clone(),
                    to: None,
                }
            }
            JobKind::Verify => {
                let Some((_, m)) = newest else {
                    return Err(Error::failed(format!(
                        "database {}: no backup to verify",
                        job.db
                    )));
                };
                let verified_after = m
                    .verified_at
                    .as_deref()
                    .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
                    .is_some_and(|v| v.timestamp() >= due);
                if verified_after {
                    return Ok(Some(format!(
                        "backup {} was verified after it was due",
                        m.id
                    )));
                }
                Action::Verify {
                    db: job.db.clone(),
                    backup: m.id,
                    to: None,
                }
            }
        };
        run_action(cx, journal, action, cancel).await.map(|()| None)
    }
    .await;
    let _ = lock.release(&host).await;
    result
}

/// Plan and execute an action as a headless run does (a watcher's actions are never
/// destructive ones that need confirmation).
pub async fn run_action(
    cx: &Context,
    journal: &Journal,
    action: Action,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let plan = ops::plan(&cx.inv, &cx.hosts, &action).await?;
    if plan.needs_confirmation(ops::Asker::Headless) {
        return Err(Error::refused(format!(
            "`{} {}` needs confirmation; the watcher does not run it",
            plan.action.name(),
            plan.action.target()
        )));
    }
    let host = ops::plan_host(&cx.inv, cx.hosts.clone(), &plan)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let engine = Engine::new(journal.clone());
    let report = engine
        .execute(&cx.inv, &cx.hosts, &plan, &host, tx, cancel.clone())
        .await;
    let _ = drain.await;
    match report.error {
        Some(e) => Err(e),
        None if report.outcome == crate::journal::Outcome::Succeeded => Ok(()),
        None => Err(Error::failed(format!(
            "{} {}: {}",
            plan.action.name(),
            plan.action.target(),
            report.outcome.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_in_a_window() {
        let s = parse_schedule("0 3 * * *").expect("schedule");
        let at = |d: u32, h: u32, m: u32| {
            chrono::Utc
                .with_ymd_and_hms(2026, 12, d, h, m, 0)
                .single()
                .expect("time")
        };
        assert_eq!(due_between(&s, &at(1, 2, 0), &at(1, 2, 59)), None);
        assert_eq!(
            due_between(&s, &at(1, 2, 0), &at(1, 3, 0)),
            Some((at(1, 3, 0), 1))
        );
        // Down for three days: three were missed, the latest is the one run.
        assert_eq!(
            due_between(&s, &at(1, 4, 0), &at(4, 5, 0)),
            Some((at(4, 3, 0), 3))
        );
        let every = parse_schedule("* * * * *").expect("schedule");
        assert_eq!(
            due_between(&every, &at(1, 4, 0), &at(1, 4, 2)).map(|d| d.1),
            Some(2)
        );
        // Crontab's weekdays: 0 and 7 are Sunday (2026-12-06 is a Sunday), 1-5 Monday to Friday.
        for sunday in ["0 5 * * 0", "0 5 * * 7", "0 5 * * sun"] {
            let s = parse_schedule(sunday).expect(sunday);
            assert_eq!(s.after(&at(1, 0, 0)).next(), Some(at(6, 5, 0)), "{sunday}");
        }
        let weekdays = parse_schedule("0 5 * * 1-5").expect("weekdays");
        let days: Vec<u32> = weekdays
            .after(&at(5, 0, 0))
            .take(3)
            .map(|t| chrono::Datelike::day(&t))
            .collect();
        assert_eq!(days, vec![7, 8, 9], "Saturday 5 and Sunday 6 are skipped");
        assert!(parse_schedule("0 3 * * 8").is_err());
        assert!(parse_schedule("0 3 * *").is_err());
        assert!(parse_schedule("61 3 * * *").is_err());
    }
}
