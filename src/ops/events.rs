//! `opsdeck events [--since DUR] [-f] [TARGET...]`: the hosts' engine events (start, die,
//! oom, kill, health_status, restart, image pull, network connect, ...), filtered by target
//! (container, host/container, app, app/service) and action. Without `-f`, what happened
//! since `--since` (default one hour) on every selected host, in time order; with `-f`, new
//! events as they come, the stream resumed where it broke if a host connection drops.

use super::action::{parse_target, Target};
use crate::docker;
use crate::docker::events::engine_events;
pub use crate::docker::events::EngineEvent;
use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// What `events` shows.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// How far back (default: one hour without `follow`, now with it).
    pub since: Option<Duration>,
    pub follow: bool,
    /// Container targets as the user wrote them; none: everything.
    pub targets: Vec<String>,
    /// Only these actions (`die`, `oom`, `health_status`, ...); none: all.
    pub actions: Vec<String>,
}

/// What `events` hands its frontend: an event, or (following) a host whose stream broke or
/// cannot be opened, retried every 2 s.
#[derive(Debug, Clone, PartialEq)]
pub enum EventItem {
    Event(Box<EngineEvent>),
    Problem { host: String, message: String },
}

/// One target, resolved for matching events.
#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    /// A container by name (or id prefix), on any selected host or one named host.
    Container { host: Option<String>, name: String },
    /// An app's compose project (and service) on its host.
    Project {
        host: String,
        project: String,
        service: Option<String>,
    },
}

impl Matcher {
    fn matches(&self, e: &EngineEvent) -> bool {
        match self {
            Matcher::Container { host, name } => {
                host.as_ref().is_none_or(|h| *h == e.host)
                    && (e.container.as_deref() == Some(name.as_str())
                        || (name.len() >= 6
                            && e.id
                                .as_deref()
                                .is_some_and(|id| id.starts_with(name.as_str()))))
            }
            Matcher::Project {
                host,
                project,
                service,
            } => {
                *host == e.host
                    && e.project.as_deref() == Some(project.as_str())
                    && service
                        .as_ref()
                        .is_none_or(|s| e.service.as_deref() == Some(s.as_str()))
            }
        }
    }
}

async fn matchers(inv: &Inventory, targets: &[String]) -> Result<Vec<Matcher>, Error> {
    let mut out = Vec::new();
    for t in targets {
        out.push(match parse_target(inv, t)? {
            Target::Container { name } => Matcher::Container { host: None, name },
            Target::HostContainer { host, name } => Matcher::Container {
                host: Some(host),
                name,
            },
            Target::App { app } => project(inv, &app, None).await?,
            Target::AppService { app, service } => project(inv, &app, Some(service)).await?,
            other => return Err(Error::usage(format!("{other} is not a container target"))),
        });
    }
    Ok(out)
}

/// Match an app's (or one service's) containers by its compose project on its host.
async fn project(inv: &Inventory, app: &str, service: Option<String>) -> Result<Matcher, Error> {
    let spec = super::query::find_app(inv, app)?;
    let host = super::select::host(inv, &spec.host)?;
    let project = super::query::app_project(&host, spec).await?;
    Ok(Matcher::Project {
        host: spec.host.clone(),
        project: project.name,
        service,
    })
}

/// Stream the events `q` asks for from `hosts` into `tx` (time-ordered without `follow`),
/// until done or `cancel`. The hosts that could not be read, with why.
pub async fn events(
    inv: &Inventory,
    hosts: &[Host],
    q: &EventQuery,
    tx: UnboundedSender<EventItem>,
    cancel: &CancellationToken,
) -> Result<Vec<(String, String)>, Error> {
    let matchers = matchers(inv, &q.targets).await?;
    let now = chrono::Utc::now().timestamp();
    let since = match (q.since, q.follow) {
        (Some(d), _) => Some(
            i64::try_from(d.as_secs())
                .ok()
                .and_then(|s| now.checked_sub(s))
                .ok_or_else(|| Error::usage("--since is too long"))?,
        ),
        (None, false) => Some(now - 3600),
        // From the moment asked, not from when each host's stream is open (an SSH host
        // may take a while): nothing in between is lost.
        (None, true) => Some(now),
    };
    // The engine takes whole seconds: up to the end of this one, not its start.
    let until = (!q.follow).then_some(now + 1);
    let keep = |e: &EngineEvent| {
        (matchers.is_empty() || matchers.iter().any(|m| m.matches(e)))
            && (q.actions.is_empty() || q.actions.contains(&e.action))
    };
    let mut failed = Vec::new();
    if !q.follow {
        let mut all = Vec::new();
        for h in hosts {
            match past(h, since, until, cancel).await {
                Ok(evs) => all.extend(evs),
                Err(e) => failed.push((h.name().to_string(), e)),
            }
        }
        all.sort_by_key(|e| e.nanos);
        for e in all.into_iter().filter(|e| keep(e)) {
            let _ = tx.send(EventItem::Event(Box::new(e)));
        }
        return Ok(failed);
    }
    let (merged_tx, mut merged) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for h in hosts {
        let (h, tx, cancel) = (h.clone(), merged_tx.clone(), cancel.clone());
        tasks.push(tokio::spawn(async move {
            follow(&h, since, &tx, &cancel).await
        }));
    }
    drop(merged_tx);
    while let Some(item) = merged.recv().await {
        let pass = match &item {
            EventItem::Event(e) => keep(e),
            EventItem::Problem { .. } => true,
        };
        if pass && tx.send(item).is_err() {
            break;
        }
    }
    for t in tasks {
        t.abort();
    }
    Ok(failed)
}

/// The container names of a host by id, for events that give only an id.
async fn names(host: &Host) -> HashMap<String, String> {
    let Ok(d) = host.docker().await else {
        return HashMap::new();
    };
    docker::list_containers_quick(&d, host.name())
        .await
        .map(|l| l.into_iter().map(|c| (c.id, c.name)).collect())
        .unwrap_or_default()
}

/// Fill in a network event's container name from `names` (short ids as keys); its short
/// id when the container is unknown (removed since).
fn name_it(e: &mut EngineEvent, names: &HashMap<String, String>) {
    if e.kind != "network" {
        return;
    }
    if let Some(id) = &e.id {
        let short: String = id.chars().take(12).collect();
        e.container = Some(names.get(&short).cloned().unwrap_or(short));
    }
}

async fn past(
    host: &Host,
    since: Option<i64>,
    until: Option<i64>,
    cancel: &CancellationToken,
) -> Result<Vec<EngineEvent>, String> {
    let d = host.docker().await.map_err(|e| e.to_string())?;
    let mut names = names(host).await;
    let mut stream = engine_events(&d, host.name(), since, until);
    let mut out = Vec::new();
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = cancel.cancelled() => break,
        };
        match next {
            None => break,
            Some(Ok(mut e)) => {
                learn(&mut names, &e);
                name_it(&mut e, &names);
                out.push(e);
            }
            Some(Err(e)) => return Err(docker::describe_error(&e)),
        }
    }
    Ok(out)
}

/// Remember a container's name from its own events (a network event of a container
/// created after the first listing then has its name).
fn learn(names: &mut HashMap<String, String>, e: &EngineEvent) {
    if let (true, Some(id), Some(name)) = (e.kind == "container", &e.id, &e.container) {
        names.insert(id.chars().take(12).collect(), name.clone());
    }
}

/// Follow a host's events until `cancel`; when the stream breaks (a cut connection, an
/// engine restart), resume from the last event seen, every 2 s, skipping what was sent.
async fn follow(
    host: &Host,
    since: Option<i64>,
    tx: &UnboundedSender<EventItem>,
    cancel: &CancellationToken,
) {
    let mut from = since;
    let mut last_nanos = i64::MIN;
    let mut names = names(host).await;
    // The last problem told, so that a host that stays down is said once, not every 2 s.
    let mut told = String::new();
    let mut tell = |message: String| {
        if message != told {
            told = message.clone();
            let _ = tx.send(EventItem::Problem {
                host: host.name().to_string(),
                message,
            });
        }
    };
    loop {
        match host.docker().await {
            Err(e) => tell(format!("{e}; retrying every 2 s")),
            Ok(d) => {
                let mut stream = engine_events(&d, host.name(), from, None);
                loop {
                    let next = tokio::select! {
                        n = stream.next() => n,
                        _ = cancel.cancelled() => return,
                    };
                    match next {
                        Some(Ok(mut e)) => {
                            if e.nanos <= last_nanos {
                                continue;
                            }
                            last_nanos = e.nanos;
                            from = Some(e.nanos.div_euclid(1_000_000_000));
                            learn(&mut names, &e);
                            name_it(&mut e, &names);
                            if tx.send(EventItem::Event(Box::new(e))).is_err() {
                                return;
                            }
                        }
                        Some(Err(e)) => {
                            tell(format!(
                                "events: {}; resuming from the last event",
                                docker::describe_error(&e)
                            ));
                            break;
                        }
                        None => break,
                    }
                }
            }
        }
        if from.is_none() {
            from = Some(chrono::Utc::now().timestamp());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        host: &str,
        container: &str,
        project: Option<&str>,
        service: Option<&str>,
    ) -> EngineEvent {
        EngineEvent {
            time: String::new(),
            nanos: 0,
            host: host.into(),
            kind: "container".into(),
            action: "die".into(),
            detail: None,
            container: Some(container.into()),
            id: Some("0123456789abcdef".into()),
            image: None,
            network: None,
            exit_code: Some(1),
            signal: None,
            project: project.map(str::to_string),
            service: service.map(str::to_string),
        }
    }

    #[test]
    fn targets_match_by_name_id_host_project_and_service() {
        let e = ev("alpha", "shop_web_1", Some("shop"), Some("web"));
        let by_name = Matcher::Container {
            host: None,
            name: "shop_web_1".into(),
        };
        assert!(by_name.matches(&e));
        assert!(Matcher::Container {
            host: None,
            name: "0123456789".into()
        }
        .matches(&e));
        assert!(
            !Matcher::Container {
                host: None,
                name: "01".into()
            }
            .matches(&e),
            "a short id prefix matches nothing"
        );
        assert!(!Matcher::Container {
            host: Some("beta".into()),
            name: "shop_web_1".into()
        }
        .matches(&e));
        let app = |service: Option<&str>| Matcher::Project {
            host: "alpha".into(),
            project: "shop".into(),
            service: service.map(str::to_string),
        };
        assert!(app(None).matches(&e));
        assert!(app(Some("web")).matches(&e));
        assert!(!app(Some("worker")).matches(&e));
        assert!(!app(None).matches(&ev("beta", "shop_web_1", Some("shop"), None)));
    }

    #[test]
    fn a_network_event_gets_its_containers_name() {
        let mut names = HashMap::new();
        let created = ev("alpha", "late_one", None, None);
        learn(&mut names, &created);
        let mut net = ev("alpha", "0123456789abcdef", None, None);
        net.kind = "network".into();
        net.container = None;
        name_it(&mut net, &names);
        assert_eq!(net.container.as_deref(), Some("late_one"));
    }
}
