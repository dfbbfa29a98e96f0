//! `opsdeck watch`: the unattended mode. Rounds of observations (checks on their `every`,
//! containers, OOM kills, disks and backup ages on `[watch] interval`), turned into alerts
//! without flapping ([`rules`]), muted while opsdeck's own deploy or restore of the app holds
//! its lock or the app is in maintenance, sent through `[alerts]` ([`alerts`]) and journaled;
//! scheduled backups and verifications ([`schedule`]); uptime history in the journal; and
//! Prometheus metrics ([`prometheus`]). `--once` looks until every subject is decided
//! (a failing one either alerts or recovers), then stops.

pub mod alerts;
pub mod observe;
pub mod prometheus;
pub mod rules;
pub mod schedule;

use crate::docker::ContainerInfo;
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{AlertSpec, Inventory};
use crate::journal::{Journal, WatchState};
use observe::{Observation, Seen};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

pub use crate::journal::UptimeCounts;

/// What the watcher works with: the inventory, its hosts, and which compose project is which
/// app (read once at start).
pub struct Context {
    pub inv: Arc<Inventory>,
    pub hosts: Vec<Host>,
    projects: Vec<(String, crate::docker::compose::Project, String)>,
}

impl Context {
    pub async fn new(inv: Arc<Inventory>, hosts: Vec<Host>) -> Self {
        let mut projects = Vec::new();
        for (name, app) in &inv.apps {
            let Some(h) = hosts.iter().find(|h| h.name() == app.host) else {
                continue;
            };
            if let Ok(p) = super::query::app_project(h, app).await {
                projects.push((app.host.clone(), p, name.clone()));
            }
        }
        Self {
            inv,
            hosts,
            projects,
        }
    }

    /// The app a container belongs to.
    pub fn app_of(&self, c: &ContainerInfo) -> Option<String> {
        self.projects
            .iter()
            .find(|(h, p, _)| *h == c.host && super::query::belongs_to_app(c, p))
            .map(|(_, _, a)| a.clone())
            .or_else(|| c.labels.get(super::step::MaintenanceSite::LABEL).cloned())
    }
}

#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub once: bool,
    pub metrics: Option<SocketAddr>,
}

/// What the watcher tells its frontend.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    Started {
        checks: usize,
        alerts: Vec<String>,
        jobs: Vec<String>,
        metrics: Option<String>,
    },
    Round {
        observations: usize,
        failing: Vec<String>,
    },
    Alert(alerts::Sent),
    /// A failure not counted: the app's own action holds its lock, or it is in maintenance.
    Muted {
        subject: String,
        reason: String,
    },
    Missed {
        job: String,
        message: String,
    },
    Job {
        job: String,
        due: String,
        outcome: &'static str,
        detail: Option<String>,
        missed: bool,
    },
    Problem {
        message: String,
    },
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct WatchReport {
    /// Alerts that fired during this run.
    pub fired: usize,
    /// Subjects alerting when the run ended.
    pub alerting: Vec<String>,
}

/// The pseudo-alert whose states count when the inventory has no `[alerts]` (so
/// `watch --once` still says, by its exit code, whether something is down).
const NO_ALERT: &str = "";

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The subject kinds that belong to a container (gone when the container is).
const CONTAINER_KINDS: &[&str] = &["health", "restarts", "exited", "oom"];

struct Watcher {
    cx: Context,
    journal: Journal,
    states: BTreeMap<String, WatchState>,
    events: UnboundedSender<WatchEvent>,
    fired: usize,
    page: Arc<Mutex<String>>,
}

impl Watcher {
    fn alerts(&self) -> Vec<(String, AlertSpec)> {
        if self.cx.inv.alerts.is_empty() {
            let spec = AlertSpec {
                kind: crate::inventory::AlertKind::Webhook,
                url: None,
                url_env: None,
                token_env: None,
                chat_id: None,
                api: None,
                smtp: None,
                from: None,
                to: vec![],
                user: None,
                password_env: None,
                tls: Default::default(),
                failures: None,
                successes: None,
                per_hour: None,
                apps: vec![],
            };
            return vec![(NO_ALERT.to_string(), spec)];
        }
        self.cx
            .inv
            .alerts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Why failures of `app` are not counted now, if they are not.
    async fn mute_reason(&self, app: &str, seen: &Seen) -> Option<String> {
        if seen.maintenance.iter().any(|a| a == app) {
            return Some(format!("{app} is in maintenance"));
        }
        match super::lock::app_status(&self.cx.inv, app).await {
            Ok((_, st @ super::lock::LockStatus::Held { .. })) => {
                let live = matches!(
                    &st,
                    super::lock::LockStatus::Held {
                        stale: false,
                        holder_gone: false,
                        ..
                    }
                );
                live.then(|| format!("{app}: {}", super::lock::describe(&st)))
            }
            _ => None,
        }
    }

    /// Fold the round's observations into the states; send what fired or resolved.
    async fn apply(&mut self, obs: &[Observation], seen: &Seen) {
        let mut mutes: HashMap<String, Option<String>> = HashMap::new();
        for o in obs.iter().filter(|o| !o.ok) {
            if let Some(app) = &o.app {
                if !mutes.contains_key(app) {
                    let r = self.mute_reason(app, seen).await;
                    mutes.insert(app.clone(), r);
                }
            }
        }
        let now = now_text();
        for o in obs {
            let muted = o
                .app
                .as_ref()
                .and_then(|a| mutes.get(a).cloned().flatten())
                .filter(|_| !o.ok);
            if let Some(reason) = &muted {
                let _ = self.events.send(WatchEvent::Muted {
                    subject: o.subject.clone(),
                    reason: reason.clone(),
                });
                continue;
            }
            for (name, spec) in self.alerts() {
                if !spec.apps.is_empty() && !o.app.as_ref().is_some_and(|a| spec.apps.contains(a)) {
                    continue;
                }
                let key = format!("{name}|{}", o.subject);
                let st = self.states.entry(key.clone()).or_default();
                let before = st.clone();
                let since = st.since.clone();
                let failures = o
                    .failures
                    .or(spec.failures)
                    .unwrap_or(AlertSpec::DEFAULT_FAILURES);
                let successes = o
                    .successes
                    .or(spec.successes)
                    .unwrap_or(AlertSpec::DEFAULT_SUCCESSES);
                let t = rules::step(st, o.ok, &o.message, failures, successes, &now);
                let after = st.clone();
                if after != before {
                    if let Err(e) = self.journal.save_watch_state(&key, &after).await {
                        let _ = self.events.send(WatchEvent::Problem {
                            message: format!("saving the state of {}: {e}", o.subject),
                        });
                    }
                }
                let Some(t) = t else { continue };
                if t == rules::Transition::Fire {
                    self.fired += 1;
                }
                if name == NO_ALERT {
                    let _ = self.events.send(WatchEvent::Alert(alerts::Sent {
                        alert: String::new(),
                        subject: o.subject.clone(),
                        status: match t {
                            rules::Transition::Fire => "firing",
                            rules::Transition::Resolve => "resolved",
                        },
                        delivered: false,
                        error: Some("no [alerts] in the inventory: shown here only".into()),
                    }));
                    continue;
                }
                let sent =
                    alerts::deliver(&self.journal, &name, &spec, o, t, since.as_deref()).await;
                let _ = self.events.send(WatchEvent::Alert(sent));
            }
        }
    }

    /// Container subjects that were alerting and are gone (their host answered, they were
    /// not seen): resolved, since nothing is left to be wrong.
    fn gone(&self, obs: &[Observation]) -> Vec<Observation> {
        let reached: Vec<&str> = obs
            .iter()
            .filter(|o| o.kind == "host" && o.ok)
            .filter_map(|o| o.host.as_deref())
            .collect();
        let seen: std::collections::HashSet<&str> =
            obs.iter().map(|o| o.subject.as_str()).collect();
        let mut out: Vec<Observation> = Vec::new();
        for (key, st) in &self.states {
            let Some((_, subject)) = key.split_once('|') else {
                continue;
            };
            let Some((kind, rest)) = subject.split_once(':') else {
                continue;
            };
            let Some(kind) = CONTAINER_KINDS.iter().find(|k| **k == kind) else {
                continue;
            };
            let host = rest.split('/').next().unwrap_or("");
            if !st.alerting || seen.contains(subject) || !reached.contains(&host) {
                continue;
            }
            if out.iter().any(|o| o.subject == subject) {
                continue;
            }
            out.push(Observation {
                subject: subject.to_string(),
                kind,
                host: Some(host.to_string()),
                app: None,
                ok: true,
                message: format!("{rest} no longer exists"),
                failures: None,
                successes: Some(1),
                latency_ms: None,
            });
        }
        out
    }

    async fn round(
        &mut self,
        checks: &[String],
        since: i64,
        with_backups: bool,
    ) -> Vec<Observation> {
        let inv = self.cx.inv.clone();
        let mut seen = Seen::default();
        let (mut obs, host_obs) = tokio::join!(
            observe::checks(&inv, checks, inv.watch.cert_days),
            observe::hosts(&self.cx, since, &mut seen)
        );
        obs.extend(host_obs);
        if with_backups {
            obs.extend(observe::backups(&inv, &mut seen).await);
        }
        obs.extend(self.gone(&obs));
        let at = chrono::Utc::now().timestamp();
        for o in obs.iter().filter(|o| o.kind == "check") {
            let name = o.subject.trim_start_matches("check:");
            let _ = self
                .journal
                .record_check(name, at, o.ok, o.latency_ms)
                .await;
        }
        self.apply(&obs, &seen).await;
        let failing: Vec<String> = obs
            .iter()
            .filter(|o| !o.ok)
            .map(|o| o.subject.clone())
            .collect();
        let _ = self.events.send(WatchEvent::Round {
            observations: obs.len(),
            failing,
        });
        let page = prometheus::render(&obs, &seen, &self.alerting());
        if let Ok(mut p) = self.page.lock() {
            *p = page;
        }
        obs
    }

    fn alerting(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .states
            .iter()
            .filter(|(_, s)| s.alerting)
            .filter_map(|(k, _)| k.split_once('|').map(|(_, s)| s.to_string()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether another look would decide a subject seen in `obs` (only those: a state left
    /// over from an earlier inventory must not keep `--once` looking).
    fn undecided(&self, obs: &[Observation]) -> bool {
        obs.iter().any(|o| {
            self.states.iter().any(|(k, s)| {
                k.split_once('|').is_some_and(|(_, sub)| sub == o.subject) && rules::undecided(s)
            })
        })
    }
}

/// Run the watcher until `cancel` (or one decided round with `once`).
pub async fn run(
    inv: Arc<Inventory>,
    hosts: Vec<Host>,
    opts: WatchOptions,
    events: UnboundedSender<WatchEvent>,
    cancel: CancellationToken,
) -> Result<WatchReport, Error> {
    for (name, spec) in &inv.alerts {
        // A missing secret is bad input: said before anything runs.
        alerts::channel(name, spec)?;
    }
    let journal = Journal::open_default().await?;
    let page = Arc::new(Mutex::new(String::new()));
    let mut metrics = None;
    if let Some(addr) = opts.metrics {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::usage(format!("--metrics {addr}: cannot listen: {e}")))?;
        let bound = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tokio::spawn(prometheus::serve(l, page.clone(), cancel.clone()));
        metrics = Some(bound);
    }
    let cx = Context::new(inv.clone(), hosts).await;
    let states = journal.watch_states().await?;
    let mut w = Watcher {
        cx,
        journal,
        states,
        events: events.clone(),
        fired: 0,
        page,
    };
    let _ = events.send(WatchEvent::Started {
        checks: inv.checks.len(),
        alerts: inv.alerts.keys().cloned().collect(),
        jobs: schedule::jobs(&inv).into_iter().map(|j| j.name).collect(),
        metrics,
    });
    let all_checks: Vec<String> = inv.checks.keys().cloned().collect();
    let interval = inv.watch.interval.0;
    let round_key = "watch:round";
    let now = chrono::Utc::now().timestamp();
    let mut since = match w.journal.schedule_last(round_key).await {
        Ok(Some(t)) if t > now - 3600 => t,
        _ => now - interval.as_secs() as i64,
    };
    if opts.once {
        let mut obs = w.round(&all_checks, since, true).await;
        // Look again (a second apart) until every failing subject has alerted or recovered:
        // a check that failed once and passes now does not alert, one that keeps failing does.
        let limit = w
            .alerts()
            .iter()
            .map(|(_, a)| {
                a.failures
                    .unwrap_or(AlertSpec::DEFAULT_FAILURES)
                    .max(a.successes.unwrap_or(AlertSpec::DEFAULT_SUCCESSES))
            })
            .chain(
                inv.checks
                    .values()
                    .flat_map(|c| [c.failures.unwrap_or(0), c.successes.unwrap_or(0)]),
            )
            .max()
            .unwrap_or(2)
            .min(10);
        let mut looks = 1;
        while looks < limit && w.undecided(&obs) && !cancel.is_cancelled() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let t = chrono::Utc::now().timestamp();
            obs = w.round(&all_checks, since, false).await;
            since = t;
            looks += 1;
        }
        let _ = w
            .journal
            .set_schedule_last(round_key, chrono::Utc::now().timestamp())
            .await;
        schedule::run_due(&w.cx, &w.journal, &events, &cancel).await;
        prune(&w.journal, &inv).await;
        return Ok(WatchReport {
            fired: w.fired,
            alerting: w.alerting(),
        });
    }
    let mut last_check: HashMap<String, Instant> = HashMap::new();
    let mut last_look: Option<Instant> = None;
    let mut last_backups: Option<Instant> = None;
    let mut last_prune = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => break,
        }
        let due: Vec<String> = inv
            .checks
            .iter()
            .filter(|(n, c)| last_check.get(*n).is_none_or(|t| t.elapsed() >= c.every.0))
            .map(|(n, _)| n.clone())
            .collect();
        let look = last_look.is_none_or(|t| t.elapsed() >= interval);
        if look {
            let started = chrono::Utc::now().timestamp();
            let with_backups = last_backups.is_none_or(|t| t.elapsed() >= Duration::from_secs(300));
            for n in &due {
                last_check.insert(n.clone(), Instant::now());
            }
            w.round(&due, since, with_backups).await;
            since = started;
            let _ = w.journal.set_schedule_last(round_key, started).await;
            last_look = Some(Instant::now());
            if with_backups {
                last_backups = Some(Instant::now());
            }
            schedule::run_due(&w.cx, &w.journal, &events, &cancel).await;
        } else if !due.is_empty() {
            for n in &due {
                last_check.insert(n.clone(), Instant::now());
            }
            let inv2 = inv.clone();
            let obs = observe::checks(&inv2, &due, inv.watch.cert_days).await;
            let at = chrono::Utc::now().timestamp();
            for o in obs.iter().filter(|o| o.kind == "check") {
                let name = o.subject.trim_start_matches("check:");
                let _ = w.journal.record_check(name, at, o.ok, o.latency_ms).await;
            }
            w.apply(&obs, &Seen::default()).await;
        }
        if last_prune.elapsed() >= Duration::from_secs(3600) {
            prune(&w.journal, &inv).await;
            last_prune = Instant::now();
        }
    }
    Ok(WatchReport {
        fired: w.fired,
        alerting: w.alerting(),
    })
}

async fn prune(journal: &Journal, inv: &Inventory) {
    let before = chrono::Utc::now().timestamp() - i64::from(inv.watch.keep_days) * 86_400;
    let _ = journal.prune_checks(before).await;
}

/// One check's uptime over the last day, week and month.
#[derive(Debug, Clone, Serialize)]
pub struct UptimeRow {
    pub check: String,
    pub day: UptimeCounts,
    pub week: UptimeCounts,
    pub month: UptimeCounts,
    pub percent_24h: Option<f64>,
    pub percent_7d: Option<f64>,
    pub percent_30d: Option<f64>,
}

/// `opsdeck uptime [CHECK]`, from what the watcher recorded.
pub async fn uptime(inv: &Inventory, check: Option<&str>) -> Result<Vec<UptimeRow>, Error> {
    let journal = Journal::open_default().await?;
    let names: Vec<String> = match check {
        Some(c) => {
            let recorded = journal.recorded_checks().await?;
            if !inv.checks.contains_key(c) && !recorded.iter().any(|r| r == c) {
                return Err(Error::usage(crate::names::unknown_name_message(
                    "check",
                    c,
                    inv.checks.keys().map(String::as_str),
                )));
            }
            vec![c.to_string()]
        }
        None => {
            let mut v: Vec<String> = inv.checks.keys().cloned().collect();
            for r in journal.recorded_checks().await? {
                if !v.contains(&r) {
                    v.push(r);
                }
            }
            v
        }
    };
    let now = chrono::Utc::now().timestamp();
    let mut out = Vec::new();
    for n in names {
        let day = journal.uptime(&n, now - 86_400).await?;
        let week = journal.uptime(&n, now - 7 * 86_400).await?;
        let month = journal.uptime(&n, now - 30 * 86_400).await?;
        out.push(UptimeRow {
            percent_24h: day.percent(),
            percent_7d: week.percent(),
            percent_30d: month.percent(),
            check: n,
            day,
            week,
            month,
        });
    }
    Ok(out)
}

/// A check's latency per minute over the last `hours` (for the console's chart).
pub async fn latency_history(check: &str, hours: i64) -> Result<Vec<(i64, f64)>, Error> {
    let journal = Journal::open_default().await?;
    let since = chrono::Utc::now().timestamp() - hours * 3600;
    Ok(journal.latency_series(check, since).await?)
}
