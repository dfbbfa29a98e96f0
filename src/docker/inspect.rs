//! One container in full, for a person: `opsdeck inspect` ([`ContainerDetails`]). Secrets
//! never leave this module: env values are masked by name and by value (a secret's value is
//! masked again wherever it shows up: the command, a label, a health probe's output).

use super::{Engine, EngineError};
use crate::secrets::Redactor;
use bollard::models::{ContainerInspectResponse, HealthConfig};
use bollard::query_parameters::InspectContainerOptions;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many health probe results are kept (the engine keeps its last five).
pub const HEALTH_LOG: usize = 5;

/// One container as `opsdeck inspect` shows it (the JSON contract: `name`, `image`, `env`,
/// `mounts`, `labels`, `networks` at least). Every value is already masked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerDetails {
    pub host: String,
    /// The full id.
    pub id: String,
    pub name: String,
    /// The image as the container was created with (`repo:tag`).
    pub image: String,
    /// The ID of the image it runs (`sha256:...`).
    pub image_id: Option<String>,
    /// `repo@sha256:...` of that image, one per registry it came from (none for a local build).
    pub image_digests: Vec<String>,
    /// RFC 3339.
    pub created: Option<String>,
    pub entrypoint: Vec<String>,
    pub command: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// NAME -> value, masked.
    pub env: BTreeMap<String, String>,
    pub mounts: Vec<Mount>,
    pub ports: Vec<Port>,
    pub networks: Vec<Network>,
    pub labels: BTreeMap<String, String>,
    pub restart_policy: Option<String>,
    /// For `on-failure`: how many times it is restarted at most (0: no limit).
    pub restart_max_retries: Option<i64>,
    pub restart_count: Option<i64>,
    pub limits: Limits,
    pub state: StateDetails,
    pub health: Option<HealthDetails>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, ...
    pub kind: String,
    /// The volume's name (volumes only).
    pub name: Option<String>,
    pub source: Option<String>,
    pub destination: String,
    pub read_write: bool,
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Port {
    /// `80/tcp`.
    pub container: String,
    /// Where it is published on the host (`None`: exposed only).
    pub host_ip: Option<String>,
    pub host_port: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Network {
    pub name: String,
    pub ip_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub gateway: Option<String>,
    pub mac_address: Option<String>,
    pub aliases: Vec<String>,
}

/// Resource limits; `None` (or 0 from the engine) means unlimited.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Limits {
    pub memory_bytes: Option<i64>,
    pub memory_swap_bytes: Option<i64>,
    pub memory_reservation_bytes: Option<i64>,
    /// CPUs (`--cpus`), from the engine's nano-CPUs or quota/period.
    pub cpus: Option<f64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct StateDetails {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: Option<i64>,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthDetails {
    /// `healthy`, `unhealthy`, `starting`; `None` before the first probe reports.
    pub status: Option<String>,
    pub failing_streak: Option<i64>,
    /// The check as configured (`CMD-SHELL ...`), masked.
    pub test: Vec<String>,
    pub interval_secs: Option<f64>,
    pub timeout_secs: Option<f64>,
    pub retries: Option<i64>,
    pub start_period_secs: Option<f64>,
    /// The last results, oldest first (at most [`HEALTH_LOG`]).
    pub log: Vec<Probe>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Probe {
    pub start: Option<String>,
    pub end: Option<String>,
    pub exit_code: Option<i64>,
    /// Trimmed and masked.
    pub output: String,
}

/// Inspect a container (and its image, for the digests) on `host`.
pub async fn details(
    docker: &Engine,
    host: &str,
    id: &str,
) -> Result<ContainerDetails, EngineError> {
    let i = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await?;
    let digests = match i.image.as_deref() {
        // A missing image (removed since) is not an error of the container's inspect.
        Some(image) => super::images::inspect(docker, image)
            .await
            .map(|im| im.repo_digests)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(from_engine(host, &i, digests))
}

fn some_nonempty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.is_empty()).cloned()
}

fn positive(n: Option<i64>) -> Option<i64> {
    n.filter(|n| *n > 0)
}

fn nanos_secs(n: Option<i64>) -> Option<f64> {
    positive(n).map(|n| n as f64 / 1e9)
}

/// The engine's answer in our shape, masked (pure: the unit tests drive it).
pub fn from_engine(
    host: &str,
    i: &ContainerInspectResponse,
    image_digests: Vec<String>,
) -> ContainerDetails {
    let config = i.config.as_ref();
    let raw_env: Vec<(String, String)> = config
        .and_then(|c| c.env.as_ref())
        .map(|e| {
            e.iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default();
    let r = Redactor::from_env(raw_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let masked = |v: &[String]| v.iter().map(|s| r.mask(s)).collect::<Vec<_>>();
    let env = raw_env
        .iter()
        .map(|(k, v)| (k.clone(), r.mask_var(k, v)))
        .collect();
    let labels = config
        .and_then(|c| c.labels.as_ref())
        .map(|l| {
            l.iter()
                .map(|(k, v)| (k.clone(), r.mask_var(k, v)))
                .collect()
        })
        .unwrap_or_default();
    let mut mounts: Vec<Mount> = i
        .mounts
        .iter()
        .flatten()
        .map(|m| Mount {
            kind: m
                .typ
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_else(|| "unknown".into()),
            name: some_nonempty(m.name.as_ref()),
            source: some_nonempty(m.source.as_ref()).map(|s| r.mask(&s)),
            destination: m.destination.clone().unwrap_or_default(),
            read_write: m.rw.unwrap_or(true),
            mode: some_nonempty(m.mode.as_ref()),
        })
        .collect();
    mounts.sort_by(|a, b| a.destination.cmp(&b.destination));
    let settings = i.network_settings.as_ref();
    let mut ports: Vec<Port> = Vec::new();
    for (port, bindings) in settings
        .and_then(|n| n.ports.as_ref())
        .into_iter()
        .flatten()
    {
        match bindings.as_deref() {
            Some(bs) if !bs.is_empty() => ports.extend(bs.iter().map(|b| Port {
                container: port.clone(),
                host_ip: some_nonempty(b.host_ip.as_ref()),
                host_port: some_nonempty(b.host_port.as_ref()),
            })),
            _ => ports.push(Port {
                container: port.clone(),
                host_ip: None,
                host_port: None,
            }),
        }
    }
    ports.sort_by(|a, b| (&a.container, &a.host_ip).cmp(&(&b.container, &b.host_ip)));
    let mut networks: Vec<Network> = settings
        .and_then(|n| n.networks.as_ref())
        .into_iter()
        .flatten()
        .map(|(name, e)| Network {
            name: name.clone(),
            ip_address: some_nonempty(e.ip_address.as_ref()),
            ipv6_address: some_nonempty(e.global_ipv6_address.as_ref()),
            gateway: some_nonempty(e.gateway.as_ref()),
            mac_address: some_nonempty(e.mac_address.as_ref()),
            aliases: e.aliases.clone().unwrap_or_default(),
        })
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let hc = i.host_config.as_ref();
    let cpus = hc.and_then(|h| {
        positive(h.nano_cpus).map(|n| n as f64 / 1e9).or_else(|| {
            match (positive(h.cpu_quota), positive(h.cpu_period)) {
                (Some(q), Some(p)) => Some(q as f64 / p as f64),
                _ => None,
            }
        })
    });
    let limits = Limits {
        memory_bytes: hc.and_then(|h| positive(h.memory)),
        memory_swap_bytes: hc.and_then(|h| positive(h.memory_swap)),
        memory_reservation_bytes: hc.and_then(|h| positive(h.memory_reservation)),
        cpus,
        cpu_shares: hc.and_then(|h| positive(h.cpu_shares)),
        cpuset_cpus: hc.and_then(|h| some_nonempty(h.cpuset_cpus.as_ref())),
        pids_limit: hc.and_then(|h| positive(h.pids_limit)),
    };
    let policy = hc.and_then(|h| h.restart_policy.as_ref());
    let st = i.state.as_ref();
    let state = StateDetails {
        status: st
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        running: st.and_then(|s| s.running).unwrap_or(false),
        paused: st.and_then(|s| s.paused).unwrap_or(false),
        restarting: st.and_then(|s| s.restarting).unwrap_or(false),
        oom_killed: st.and_then(|s| s.oom_killed).unwrap_or(false),
        dead: st.and_then(|s| s.dead).unwrap_or(false),
        pid: st.and_then(|s| positive(s.pid)),
        exit_code: st.and_then(|s| s.exit_code),
        error: st
            .and_then(|s| some_nonempty(s.error.as_ref()))
            .map(|e| r.mask(&e)),
        started_at: st
            .and_then(|s| some_nonempty(s.started_at.as_ref()))
            .filter(|t| !t.starts_with("0001-")),
        finished_at: st
            .and_then(|s| some_nonempty(s.finished_at.as_ref()))
            .filter(|t| !t.starts_with("0001-")),
    };
    let health = health(config.and_then(|c| c.healthcheck.as_ref()), i, &r);
    ContainerDetails {
        host: host.to_string(),
        id: i.id.clone().unwrap_or_default(),
        name: i
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config.and_then(|c| c.image.clone()).unwrap_or_default(),
        image_id: i.image.clone(),
        image_digests,
        created: some_nonempty(i.created.as_ref()),
        entrypoint: masked(
            config
                .and_then(|c| c.entrypoint.as_deref())
                .unwrap_or_default(),
        ),
        command: masked(config.and_then(|c| c.cmd.as_deref()).unwrap_or_default()),
        working_dir: config.and_then(|c| some_nonempty(c.working_dir.as_ref())),
        user: config.and_then(|c| some_nonempty(c.user.as_ref())),
        env,
        mounts,
        ports,
        networks,
        labels,
        restart_policy: policy
            .and_then(|p| p.name)
            .map(|n| n.to_string())
            .filter(|n| !n.is_empty()),
        restart_max_retries: policy.and_then(|p| p.maximum_retry_count),
        restart_count: i.restart_count,
        limits,
        state,
        health,
    }
}

fn health(
    check: Option<&HealthConfig>,
    i: &ContainerInspectResponse,
    r: &Redactor,
) -> Option<HealthDetails> {
    let test = check.and_then(|c| c.test.clone()).unwrap_or_default();
    // `NONE` switches an image's check off.
    if test.first().map(String::as_str) == Some("NONE") {
        return None;
    }
    let live = i.state.as_ref().and_then(|s| s.health.as_ref());
    if test.is_empty() && live.is_none() {
        return None;
    }
    let log: Vec<Probe> = live
        .and_then(|h| h.log.as_ref())
        .map(|l| {
            let skip = l.len().saturating_sub(HEALTH_LOG);
            l[skip..]
                .iter()
                .map(|p| Probe {
                    start: some_nonempty(p.start.as_ref()),
                    end: some_nonempty(p.end.as_ref()),
                    exit_code: p.exit_code,
                    output: r.mask(p.output.as_deref().unwrap_or_default().trim()),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(HealthDetails {
        status: live
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none"),
        failing_streak: live.and_then(|h| h.failing_streak),
        test: test.iter().map(|t| r.mask(t)).collect(),
        interval_secs: check.and_then(|c| nanos_secs(c.interval)),
        timeout_secs: check.and_then(|c| nanos_secs(c.timeout)),
        retries: check.and_then(|c| positive(c.retries)),
        start_period_secs: check.and_then(|c| nanos_secs(c.start_period)),
        log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerConfig, ContainerState, Health, HealthcheckResult, HostConfig, MountPoint,
    };
    use std::collections::HashMap;

    fn planted() -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some("abc123".into()),
            name: Some("/web".into()),
            image: Some("sha256:feed".into()),
            restart_count: Some(3),
            config: Some(ContainerConfig {
                image: Some("shop:1.2".into()),
                env: Some(vec![
                    "DATABASE_URL=postgres://u:SECRETPW@h/db".into(),
                    "API_TOKEN=tok-abcdef-123".into(),
                    "MODE=prod".into(),
                ]),
                cmd: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "login tok-abcdef-123 && serve".into(),
                ]),
                labels: Some(HashMap::from([
                    ("app".into(), "shop".into()),
                    ("note".into(), "pw is SECRETPW".into()),
                ])),
                healthcheck: Some(HealthConfig {
                    test: Some(vec!["CMD-SHELL".into(), "wget -q -O- localhost".into()]),
                    interval: Some(5_000_000_000),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                memory: Some(64 << 20),
                nano_cpus: Some(500_000_000),
                ..Default::default()
            }),
            state: Some(ContainerState {
                oom_killed: Some(true),
                exit_code: Some(137),
                health: Some(Health {
                    log: Some(
                        (0..7)
                            .map(|n| HealthcheckResult {
                                exit_code: Some(n),
                                output: Some(format!("probe {n} SECRETPW\n")),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            mounts: Some(vec![MountPoint {
                destination: Some("/data".into()),
                name: Some("shop_data".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn secrets_are_masked_by_name_and_by_value_everywhere() {
        let d = from_engine("alpha", &planted(), vec![]);
        let all = serde_json::to_string(&d).expect("json");
        assert!(!all.contains("SECRETPW"), "{all}");
        assert!(!all.contains("tok-abcdef-123"), "{all}");
        assert_eq!(d.env["DATABASE_URL"], "postgres://u:***@h/db");
        assert_eq!(d.env["API_TOKEN"], "***");
        assert_eq!(d.env["MODE"], "prod");
        assert_eq!(d.labels["app"], "shop");
        assert!(
            d.command[2].contains("login *** && serve"),
            "{:?}",
            d.command
        );
    }

    #[test]
    fn limits_state_and_the_last_five_probes() {
        let d = from_engine("alpha", &planted(), vec!["shop@sha256:1".into()]);
        assert_eq!(d.name, "web");
        assert_eq!(d.limits.memory_bytes, Some(64 << 20));
        assert_eq!(d.limits.cpus, Some(0.5));
        assert!(d.state.oom_killed);
        assert_eq!(d.state.exit_code, Some(137));
        assert_eq!(d.restart_count, Some(3));
        let h = d.health.expect("a health check");
        assert_eq!(h.interval_secs, Some(5.0));
        let codes: Vec<_> = h.log.iter().map(|p| p.exit_code).collect();
        assert_eq!(codes, [Some(2), Some(3), Some(4), Some(5), Some(6)]);
        assert_eq!(h.log[0].output, "probe 2 ***");
        assert_eq!(d.mounts[0].name.as_deref(), Some("shop_data"));
    }
}
