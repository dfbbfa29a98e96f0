//! One look at everything the watcher keeps an eye on, as observations: a subject (a stable
//! key such as `check:shop-public` or `health:alpha/shop/web`), whether it is fine, and why
//! not. The rules ([`super::rules`]) turn runs of observations into alerts.

use super::Context;
use crate::docker::{self, ContainerInfo, Health, State};
use crate::host::Host;
use crate::inventory::Inventory;
use futures_util::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Observation {
    pub subject: String,
    /// `check`, `cert`, `health`, `restarts`, `exited`, `oom`, `disk`, `backup`, `host`.
    pub kind: &'static str,
    pub host: Option<String>,
    pub app: Option<String>,
    pub ok: bool,
    /// What is wrong (or, when fine, what was seen).
    pub message: String,
    /// Per-subject thresholds (a check's own `failures`/`successes`).
    #[serde(skip)]
    pub failures: Option<u32>,
    #[serde(skip)]
    pub successes: Option<u32>,
    /// For checks: the latency, kept for uptime and metrics.
    pub latency_ms: Option<f64>,
}

impl Observation {
    fn new(subject: String, kind: &'static str, ok: bool, message: String) -> Self {
        Self {
            subject,
            kind,
            host: None,
            app: None,
            ok,
            message,
            failures: None,
            successes: None,
            latency_ms: None,
        }
    }
}

/// What a round saw beside the observations (for metrics and muting).
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub containers: Vec<ContainerInfo>,
    /// Apps in maintenance (their routes serve the maintenance page).
    pub maintenance: Vec<String>,
    /// host -> (disk used, disk total, memory used, memory total) in bytes.
    pub hosts: BTreeMap<String, [u64; 4]>,
    /// database -> (age of the newest backup in seconds, its size, verified).
    pub backups: BTreeMap<String, (u64, u64, bool)>,
}

/// The app a check is about: its `app`, else the app whose domains hold the URL's host.
pub fn check_app(inv: &Inventory, spec: &crate::inventory::CheckSpec) -> Option<String> {
    if let Some(a) = &spec.app {
        return Some(a.clone());
    }
    let host = crate::http::parse_url(&spec.url)
        .ok()?
        .host
        .to_ascii_lowercase();
    inv.apps
        .iter()
        .find(|(_, a)| a.domains.iter().any(|d| d.eq_ignore_ascii_case(&host)))
        .map(|(n, _)| n.clone())
}

/// The HTTP checks (all of them, or those due), and their certificates.
pub async fn checks(inv: &Inventory, names: &[String], cert_days: u32) -> Vec<Observation> {
    let runs = names
        .iter()
        .filter_map(|n| inv.checks.get_key_value(n))
        .map(|(name, spec)| async move {
            let r = super::super::checks::run_now(inv, Some(name)).await;
            (name, spec, r)
        });
    let mut out = Vec::new();
    for (name, spec, r) in join_all(runs).await {
        let app = check_app(inv, spec);
        let Ok(mut results) = r else { continue };
        let Some(r) = results.pop() else { continue };
        let message = match (&r.probe.status, &r.probe.error) {
            (_, Some(e)) => e.clone(),
            (Some(s), None) if r.up => format!("HTTP {s}"),
            (Some(s), None) => format!("HTTP {s} from {}", r.probe.url),
            (None, None) => "no answer".into(),
        };
        let mut o = Observation::new(format!("check:{name}"), "check", r.up, message);
        o.host = spec.via.clone();
        o.app = app.clone();
        o.failures = spec.failures;
        o.successes = spec.successes;
        o.latency_ms = r.probe.latency_ms;
        out.push(o);
        if let Some(not_after) = &r.probe.cert_not_after {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(not_after) {
                let left = t.with_timezone(&chrono::Utc) - chrono::Utc::now();
                let days = left.num_days();
                let ok = days >= i64::from(cert_days);
                let mut c = Observation::new(
                    format!("cert:{name}"),
                    "cert",
                    ok,
                    format!(
                        "TLS certificate of {} expires in {days} days ({not_after})",
                        r.probe.url
                    ),
                );
                c.app = app;
                c.failures = Some(1);
                c.successes = Some(1);
                out.push(c);
            }
        }
    }
    out
}

/// The subject of a container: compose's `project/service` (stable across the container
/// being replaced by a deploy), else its name.
fn container_subject(c: &ContainerInfo) -> String {
    format!("{}/{}", c.host, c.display_target())
}

/// Containers (health, restart loops, failed one-shots), OOM kills since `since`, and the
/// host's disk, for every host.
pub async fn hosts(cx: &Context, since: i64, seen: &mut Seen) -> Vec<Observation> {
    let looks = cx.hosts.iter().map(|h| one_host(cx, h, since));
    let mut out = Vec::new();
    for (obs, containers, metrics) in join_all(looks).await {
        out.extend(obs);
        seen.maintenance.extend(
            super::super::query::maintenance_of(&containers)
                .into_iter()
                .map(|m| m.app),
        );
        if let Some((host, m)) = metrics {
            seen.hosts.insert(host, m);
        }
        seen.containers.extend(containers);
    }
    out
}

async fn one_host(
    cx: &Context,
    h: &Host,
    since: i64,
) -> (
    Vec<Observation>,
    Vec<ContainerInfo>,
    Option<(String, [u64; 4])>,
) {
    let name = h.name().to_string();
    let mut out = Vec::new();
    let reach = |ok: bool, message: String| {
        let mut o = Observation::new(format!("host:{name}"), "host", ok, message);
        o.host = Some(name.clone());
        o
    };
    let d = match h.docker().await {
        Ok(d) => d,
        Err(e) => {
            return (
                vec![reach(false, format!("cannot reach {name}: {e}"))],
                vec![],
                None,
            )
        }
    };
    let list = match tokio::time::timeout(
        std::time::Duration::from_secs(30),
        docker::list_containers(&d, &name),
    )
    .await
    {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            let m = format!("{name}: listing containers: {}", docker::describe_error(&e));
            return (vec![reach(false, m)], vec![], None);
        }
        Err(_) => {
            return (
                vec![reach(false, format!("{name}: no answer within 30s"))],
                vec![],
                None,
            )
        }
    };
    out.push(reach(true, format!("{} containers", list.len())));
    out.extend(containers(cx, &list));
    out.extend(ooms(cx, &d, &name, &list, since).await);
    let mut metrics = None;
    if let Ok((m, _)) = crate::host::metrics::read(h, None).await {
        let used = m.disk_used_bytes;
        let total = m.disk_total_bytes.max(1);
        let pct = used as f64 * 100.0 / total as f64;
        let ok = pct < f64::from(cx.inv.watch.disk_percent);
        let mut o = Observation::new(
            format!("disk:{name}"),
            "disk",
            ok,
            format!(
                "{name}: root filesystem {pct:.0}% full ({} of {}; threshold {}%)",
                crate::units::bytes(used),
                crate::units::bytes(total),
                cx.inv.watch.disk_percent
            ),
        );
        o.host = Some(name.clone());
        out.push(o);
        metrics = Some((
            name.clone(),
            [
                used,
                m.disk_total_bytes,
                m.mem_total_bytes.saturating_sub(m.mem_available_bytes),
                m.mem_total_bytes,
            ],
        ));
    }
    (out, list, metrics)
}

/// Per container subject (several containers of one service count together: all must be
/// fine).
fn containers(cx: &Context, list: &[ContainerInfo]) -> Vec<Observation> {
    let mut by: BTreeMap<(&'static str, String), Observation> = BTreeMap::new();
    let mut add = |c: &ContainerInfo, kind: &'static str, ok: bool, message: String| {
        let subject = format!("{kind}:{}", container_subject(c));
        let e = by.entry((kind, subject.clone())).or_insert_with(|| {
            let mut o = Observation::new(subject, kind, true, String::new());
            o.host = Some(c.host.clone());
            o.app = cx.app_of(c);
            o
        });
        // The first failure's message (or, while all are fine, the first one's).
        if (!ok && e.ok) || e.message.is_empty() {
            e.message = message;
        }
        e.ok &= ok;
    };
    for c in list {
        if c.health != Health::None && c.state == State::Running {
            let ok = c.health != Health::Unhealthy;
            let why = match &c.health_output {
                Some(o) if !ok => format!("{} is unhealthy: {o}", c.name),
                _ => format!("{} is {}", c.name, c.health.as_str()),
            };
            add(c, "health", ok, why);
        }
        if c.state == State::Running || c.state == State::Restarting {
            let ok = !c.restart_loop();
            add(
                c,
                "restarts",
                ok,
                format!(
                    "{} restarts in a loop ({} restarts)",
                    c.name,
                    c.restart_count.unwrap_or(0)
                ),
            );
        }
        let one_shot =
            docker::containers::is_one_shot_name(c.service.as_deref().unwrap_or(&c.name));
        if one_shot && c.state == State::Exited {
            let code = c.exit_code.unwrap_or(0);
            add(
                c,
                "exited",
                code == 0,
                format!("one-shot {} exited with code {code}", c.name),
            );
        }
    }
    by.into_values().collect()
}

/// OOM kills since the previous round, from the engine's events.
async fn ooms(
    cx: &Context,
    d: &crate::docker::Engine,
    host: &str,
    list: &[ContainerInfo],
    since: i64,
) -> Vec<Observation> {
    use futures_util::StreamExt;
    let now = chrono::Utc::now().timestamp();
    let mut stream = docker::events::engine_events(d, host, Some(since), Some(now + 1));
    let mut killed: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(e)) if e.action == "oom" => {
                    if let Some(c) = e.container {
                        *killed.entry(c).or_default() += 1;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            _ = &mut deadline => break,
        }
    }
    // Every container that exists gets a subject, so an OOM alert resolves once rounds pass
    // without one; the killed ones fail.
    let mut out = Vec::new();
    for c in list {
        let n = killed.get(&c.name).copied().unwrap_or(0);
        if n == 0 && c.state != State::Running {
            continue;
        }
        let mut o = Observation::new(
            format!("oom:{}", container_subject(c)),
            "oom",
            n == 0,
            format!("{} was killed for running out of memory ({n}x)", c.name),
        );
        o.host = Some(host.to_string());
        o.app = cx.app_of(c);
        o.failures = Some(1);
        o.successes = Some(1);
        out.push(o);
    }
    out
}

/// The newest backup of each database with `max_backup_age`.
pub async fn backups(inv: &Inventory, seen: &mut Seen) -> Vec<Observation> {
    let mut out = Vec::new();
    for (name, spec) in &inv.databases {
        let Some(max) = spec.max_backup_age else {
            continue;
        };
        if spec.backup_to.is_none() {
            continue;
        }
        let list = super::super::backup::list(inv, Some(name)).await;
        let (ok, message) = match list {
            Err(e) => (
                false,
                format!("database {name}: listing backups: {}", e.message),
            ),
            Ok(list) => {
                let newest = list
                    .iter()
                    .filter(|(m, _)| m.verified)
                    .filter_map(|(m, _)| {
                        chrono::DateTime::parse_from_rfc3339(&m.time)
                            .ok()
                            .map(|t| (t, m))
                    })
                    .max_by_key(|(t, _)| *t);
                match newest {
                    None => (false, format!("database {name}: no verified backup")),
                    Some((t, m)) => {
                        let age = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                            .num_seconds()
                            .max(0) as u64;
                        seen.backups.insert(name.clone(), (age, m.size, m.verified));
                        (
                            age <= max.0.as_secs(),
                            format!(
                                "database {name}: newest verified backup {} is {} old (max {})",
                                m.id,
                                humantime::format_duration(std::time::Duration::from_secs(age)),
                                humantime::format_duration(max.0)
                            ),
                        )
                    }
                }
            }
        };
        let mut o = Observation::new(format!("backup:{name}"), "backup", ok, message);
        o.host = Some(spec.host.clone());
        o.app = spec.apps.first().cloned();
        out.push(o);
    }
    out
}
