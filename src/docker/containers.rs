//! Containers: listed into [`ContainerInfo`] (the `status` shape), inspected into
//! [`Inspected`] (what the actions read), started, stopped, created and removed.

use super::{Engine, EngineError};
use bollard::models::{ContainerInspectResponse, ContainerSummary};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use futures_util::{stream, StreamExt};
use serde::Serialize;
use std::collections::HashMap;

/// How many containers are inspected at once.
const INSPECT_CONCURRENCY: usize = 16;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Running,
    Restarting,
    Paused,
    Created,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl State {
    pub fn parse(s: &str) -> Self {
        match s {
            "running" => State::Running,
            "restarting" => State::Restarting,
            "paused" => State::Paused,
            "created" => State::Created,
            "removing" => State::Removing,
            "exited" => State::Exited,
            "dead" => State::Dead,
            _ => State::Unknown,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Restarting => "restarting",
            State::Paused => "paused",
            State::Created => "created",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
            State::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Starting,
    Unhealthy,
    /// No health check defined.
    None,
}

impl Health {
    pub fn parse(s: &str) -> Self {
        match s {
            "healthy" => Health::Healthy,
            "starting" => Health::Starting,
            "unhealthy" => Health::Unhealthy,
            _ => Health::None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Starting => "starting",
            Health::Unhealthy => "unhealthy",
            Health::None => "none",
        }
    }
}

/// One container, in opsdeck's own stable shape (the `status` JSON contract).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerInfo {
    pub host: String,
    /// Short (12-character) id.
    pub id: String,
    pub name: String,
    /// Compose project, when the container belongs to one.
    pub project: Option<String>,
    /// Compose service, when the container belongs to one.
    pub service: Option<String>,
    /// The compose project's working directory on the host, as compose recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_dir: Option<String>,
    pub state: State,
    pub health: Health,
    /// The last health probe's output, trimmed.
    pub health_output: Option<String>,
    /// The image as the container was created with (`repo:tag`).
    pub image: String,
    pub tag: Option<String>,
    /// The engine's own status line (`Up 3 minutes (healthy)`).
    pub status: String,
    /// Unix seconds.
    pub created: Option<i64>,
    /// RFC 3339.
    pub started_at: Option<String>,
    /// Seconds since start, for running containers.
    pub uptime_secs: Option<u64>,
    pub exit_code: Option<i64>,
    pub restart_count: Option<i64>,
    pub ports: Vec<String>,
    pub networks: Vec<String>,
    #[serde(skip)]
    pub labels: HashMap<String, String>,
}

impl ContainerInfo {
    /// A one-shot that ran to completion: exited with status 0, and named as one-shots are
    /// (`*-migrate`, `kafka-init`, `minio-init`, `*-seed`, `*-setup`). Not "down". A stopped
    /// web service also exits 0, so the name is what tells them apart.
    pub fn completed(&self) -> bool {
        self.state == State::Exited
            && self.exit_code == Some(0)
            && is_one_shot_name(self.service.as_deref().unwrap_or(&self.name))
    }

    /// The state as shown: `done` for a completed one-shot, else the engine's state.
    pub fn state_label(&self) -> &'static str {
        if self.completed() {
            "done"
        } else {
            self.state.as_str()
        }
    }

    /// Restarting in a loop: the engine restarted it 3 times or more and it is restarting
    /// now, or has been up less than a minute since.
    pub fn restart_loop(&self) -> bool {
        self.restart_count.unwrap_or(0) >= 3
            && (self.state == State::Restarting
                || (self.state == State::Running && self.uptime_secs.is_some_and(|u| u < 60)))
    }

    /// `project/service` for compose containers, else the name.
    pub fn display_target(&self) -> String {
        match (&self.project, &self.service) {
            (Some(p), Some(s)) => format!("{p}/{s}"),
            _ => self.name.clone(),
        }
    }

    /// Build from a list entry plus (when available) its inspect result.
    pub fn from_engine(
        host: &str,
        summary: &ContainerSummary,
        inspect: Option<&ContainerInspectResponse>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let labels = summary.labels.clone().unwrap_or_default();
        let id: String = summary.id.clone().unwrap_or_default();
        let name = summary
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.chars().take(12).collect());
        let status = summary.status.clone().unwrap_or_default();
        let state_str = inspect
            .and_then(|i| i.state.as_ref())
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .or_else(|| summary.state.map(|s| s.to_string()))
            .unwrap_or_default();
        let state = State::parse(&state_str);
        let inspect_health = inspect
            .and_then(|i| i.state.as_ref())
            .and_then(|s| s.health.as_ref());
        let health = inspect_health
            .and_then(|h| h.status)
            .map(|s| Health::parse(s.as_ref()))
            .or_else(|| {
                summary
                    .health
                    .as_ref()
                    .and_then(|h| h.status)
                    .map(|s| Health::parse(s.as_ref()))
            })
            .unwrap_or_else(|| health_from_status(&status));
        let health_output = inspect_health
            .and_then(|h| h.log.as_ref())
            .and_then(|l| l.last())
            .and_then(|r| r.output.as_ref())
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty());
        let image = inspect
            .and_then(|i| i.config.as_ref())
            .and_then(|c| c.image.clone())
            .or_else(|| summary.image.clone())
            .unwrap_or_default();
        let tag = parse_image_ref(&image).1;
        let started_at = inspect
            .and_then(|i| i.state.as_ref())
            .and_then(|s| s.started_at.clone())
            .filter(|s| !s.starts_with("0001-"));
        let uptime_secs = if state == State::Running {
            started_at
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0) as u64)
        } else {
            None
        };
        let exit_code = inspect
            .and_then(|i| i.state.as_ref())
            .and_then(|s| s.exit_code)
            .filter(|_| matches!(state, State::Exited | State::Dead));
        let mut ports: Vec<String> = summary
            .ports
            .as_ref()
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
                        match (p.ip.as_deref(), p.public_port) {
                            (Some(ip), Some(pub_port)) => {
                                format!("{ip}:{pub_port}->{}/{proto}", p.private_port)
                            }
                            _ => format!("{}/{proto}", p.private_port),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        ports.sort();
        ports.dedup();
        let mut networks: Vec<String> = summary
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .map(|n| n.keys().cloned().collect())
            .unwrap_or_default();
        networks.sort();
        Self {
            host: host.to_string(),
            id: id.chars().take(12).collect(),
            name,
            project: labels.get("com.docker.compose.project").cloned(),
            service: labels.get("com.docker.compose.service").cloned(),
            project_dir: labels
                .get("com.docker.compose.project.working_dir")
                .cloned(),
            state,
            health,
            health_output,
            image,
            tag,
            status,
            created: summary.created,
            started_at,
            uptime_secs,
            exit_code,
            restart_count: inspect.and_then(|i| i.restart_count),
            ports,
            networks,
            labels,
        }
    }
}

/// `(Up 3 minutes (healthy))` → healthy: the fallback when inspect is unavailable.
fn health_from_status(status: &str) -> Health {
    if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    }
}

/// Whether a service name says it runs once: its last `-`/`_` part is migrate(s),
/// migration(s), init, setup or seed.
pub fn is_one_shot_name(name: &str) -> bool {
    let last = name.rsplit(['-', '_']).next().unwrap_or(name);
    matches!(
        last.to_ascii_lowercase().as_str(),
        "migrate" | "migrations" | "migration" | "init" | "setup" | "seed"
    )
}

/// Split an image reference into `(repository, tag)`; a digest-only reference has no tag.
/// `registry:5000/org/app:1.2` → (`registry:5000/org/app`, `1.2`).
pub fn parse_image_ref(image: &str) -> (String, Option<String>) {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match without_digest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (
                without_digest[..at].to_string(),
                Some(without_digest[at + 1..].to_string()),
            )
        }
        None if image.contains('@') || image.starts_with("sha256:") => {
            (without_digest.to_string(), None)
        }
        None => (without_digest.to_string(), Some("latest".to_string())),
    }
}

/// Every container from one list call, without inspecting each: health from the status
/// line, no start time. For a first picture that [`list_containers`] then refines.
pub async fn list_containers_quick(
    docker: &Engine,
    host: &str,
) -> Result<Vec<ContainerInfo>, EngineError> {
    let summaries = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
        .await?;
    let now = chrono::Utc::now();
    Ok(summaries
        .iter()
        .map(|s| ContainerInfo::from_engine(host, s, None, now))
        .collect())
}

/// Every container on the engine (running or not), inspected for health and start time.
pub async fn list_containers(
    docker: &Engine,
    host: &str,
) -> Result<Vec<ContainerInfo>, EngineError> {
    let summaries = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
        .await?;
    let now = chrono::Utc::now();
    let mut infos: Vec<ContainerInfo> = stream::iter(summaries)
        .map(|s| async move {
            let inspect = match &s.id {
                Some(id) => docker
                    .inspect_container(id, None::<InspectContainerOptions>)
                    .await
                    .ok(),
                None => None,
            };
            ContainerInfo::from_engine(host, &s, inspect.as_ref(), now)
        })
        .buffer_unordered(INSPECT_CONCURRENCY)
        .collect()
        .await;
    infos.sort_by(|a, b| {
        (a.project.is_none(), &a.project, &a.service, &a.name).cmp(&(
            b.project.is_none(),
            &b.project,
            &b.service,
            &b.name,
        ))
    });
    Ok(infos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shots_by_their_names() {
        for n in [
            "auth-migrate",
            "kafka-init",
            "minio-init",
            "db_seed",
            "migrate",
            "app-migrations",
        ] {
            assert!(is_one_shot_name(n), "{n}");
        }
        for n in ["web", "platform-a", "initiator", "migrate-api", "worker"] {
            assert!(!is_one_shot_name(n), "{n}");
        }
    }

    #[test]
    fn image_refs() {
        let cases = [
            ("nginx", ("nginx", Some("latest"))),
            ("nginx:1.25", ("nginx", Some("1.25"))),
            (
                "opsdeck-test/busybox:v1",
                ("opsdeck-test/busybox", Some("v1")),
            ),
            ("reg:5000/org/app:2", ("reg:5000/org/app", Some("2"))),
            ("reg:5000/org/app", ("reg:5000/org/app", Some("latest"))),
            ("app@sha256:abc", ("app", None)),
            ("app:1@sha256:abc", ("app", Some("1"))),
        ];
        for (input, (repo, tag)) in cases {
            let (r, t) = parse_image_ref(input);
            assert_eq!(r, repo, "{input}");
            assert_eq!(t.as_deref(), tag, "{input}");
        }
    }

    #[test]
    fn health_fallback_reads_the_status_line() {
        assert_eq!(
            health_from_status("Up 2 minutes (healthy)"),
            Health::Healthy
        );
        assert_eq!(
            health_from_status("Up 2 s (health: starting)"),
            Health::Starting
        );
        assert_eq!(
            health_from_status("Up 1 hour (unhealthy)"),
            Health::Unhealthy
        );
        assert_eq!(health_from_status("Exited (0) 1 hour ago"), Health::None);
    }
}
