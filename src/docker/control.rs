//! One container inspected ([`Inspected`]: what the actions read) and controlled: started,
//! stopped, restarted, created and removed, found by label.

use super::containers::{ContainerInfo, Health, State};
use super::{Engine, EngineError};
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HealthConfig, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptions,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder,
};
use std::collections::HashMap;

/// One container as a fresh inspect shows it: what the actions read, nothing more.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    /// The engine's state (`Unknown` when it gave none).
    pub state: State,
    /// The engine's `Running` flag (also true while paused).
    pub running: bool,
    /// Docker health (`None`: no health check).
    pub health: Health,
    /// The output of the last health probe, as the engine recorded it.
    pub probe_output: Option<String>,
    /// The last exit status (whatever the state).
    pub exit_code: Option<i64>,
    /// The ID of the image it runs (`sha256:...`).
    pub image_id: Option<String>,
    /// The image as it was created with (`repo:tag`).
    pub image: Option<String>,
    /// Its environment, `KEY=VALUE`.
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `(network, address)` for each network it has an address on.
    pub addresses: Vec<(String, String)>,
    /// Its name, without the leading `/`.
    pub name: String,
    /// The engine's `Paused` flag.
    pub paused: bool,
    /// Its main process on the host (0 when it runs none).
    pub pid: i64,
    pub labels: HashMap<String, String>,
    /// How often the engine restarted it (its restart policy).
    pub restart_count: i64,
}

impl Inspected {
    pub fn from_engine(i: &ContainerInspectResponse) -> Self {
        let state = i.state.as_ref();
        let health = state.and_then(|s| s.health.as_ref());
        let config = i.config.as_ref();
        let addresses = i
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .map(|nets| {
                nets.iter()
                    .filter_map(|(net, e)| {
                        let ip = e.ip_address.as_deref().filter(|a| !a.is_empty())?;
                        Some((net.clone(), ip.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            state: State::parse(
                &state
                    .and_then(|s| s.status)
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            ),
            running: state.and_then(|s| s.running) == Some(true),
            health: health
                .and_then(|h| h.status)
                .map(|h| Health::parse(h.as_ref()))
                .unwrap_or(Health::None),
            probe_output: health
                .and_then(|h| h.log.as_ref())
                .and_then(|l| l.last())
                .and_then(|r| r.output.clone()),
            exit_code: state.and_then(|s| s.exit_code),
            image_id: i.image.clone(),
            image: config.and_then(|c| c.image.clone()),
            env: config.and_then(|c| c.env.clone()).unwrap_or_default(),
            entrypoint: config
                .and_then(|c| c.entrypoint.clone())
                .unwrap_or_default(),
            cmd: config.and_then(|c| c.cmd.clone()).unwrap_or_default(),
            addresses,
            name: i
                .name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            paused: state.and_then(|s| s.paused) == Some(true),
            pid: state.and_then(|s| s.pid).unwrap_or(0),
            labels: config.and_then(|c| c.labels.clone()).unwrap_or_default(),
            restart_count: i.restart_count.unwrap_or(0),
        }
    }

    /// Its address on `network` when given and it has one there, else on its first network.
    pub fn ip(&self, network: Option<&str>) -> Option<&str> {
        network
            .and_then(|n| self.addresses.iter().find(|(net, _)| net == n))
            .or_else(|| self.addresses.first())
            .map(|(_, ip)| ip.as_str())
    }
}

/// Inspect one container (by ID or name).
pub async fn inspect(docker: &Engine, id: &str) -> Result<Inspected, EngineError> {
    let i = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await?;
    Ok(Inspected::from_engine(&i))
}

pub async fn start(docker: &Engine, id: &str) -> Result<(), EngineError> {
    docker
        .start_container(id, None::<StartContainerOptions>)
        .await
}

/// Stop, the engine killing it after `grace_secs` (`None`: the container's own setting).
pub async fn stop(docker: &Engine, id: &str, grace_secs: Option<i32>) -> Result<(), EngineError> {
    let opts = grace_secs.map(|t| StopContainerOptionsBuilder::new().t(t).build());
    docker.stop_container(id, opts).await
}

/// Freeze every process of the container (its sockets still accept connections, which wait).
pub async fn pause(docker: &Engine, id: &str) -> Result<(), EngineError> {
    docker.pause_container(id).await
}

pub async fn unpause(docker: &Engine, id: &str) -> Result<(), EngineError> {
    docker.unpause_container(id).await
}

/// Take a container off a network (its address and DNS names there are gone at once).
pub async fn disconnect(docker: &Engine, network: &str, id: &str) -> Result<(), EngineError> {
    docker
        .disconnect_network(
            network,
            bollard::models::NetworkDisconnectRequest {
                container: id.to_string(),
                force: Some(false),
            },
        )
        .await
}

/// A container's place on one network as the engine keeps it: its DNS aliases there, and
/// what else must survive taking it off and back on (links, an address it asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub network: String,
    pub aliases: Vec<String>,
    links: Option<Vec<String>>,
    ipam: Option<bollard::models::EndpointIpamConfig>,
}

/// The networks a container is on (also one created and not yet started).
pub async fn endpoints(docker: &Engine, id: &str) -> Result<Vec<Endpoint>, EngineError> {
    let i = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await?;
    let mut out: Vec<Endpoint> = i
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(network, e)| Endpoint {
            network,
            aliases: e.aliases.unwrap_or_default(),
            links: e.links,
            ipam: e.ipam_config,
        })
        .collect();
    out.sort_by(|a, b| a.network.cmp(&b.network));
    Ok(out)
}

/// Take a container off `ep`'s network and put it back on with `aliases` (the network's DNS
/// answers for those names only; the engine adds the container's own names itself).
pub async fn reattach(
    docker: &Engine,
    id: &str,
    ep: &Endpoint,
    aliases: &[String],
) -> Result<(), EngineError> {
    disconnect(docker, &ep.network, id).await?;
    docker
        .connect_network(
            &ep.network,
            bollard::models::NetworkConnectRequest {
                container: id.to_string(),
                endpoint_config: Some(bollard::models::EndpointSettings {
                    aliases: Some(aliases.to_vec()),
                    links: ep.links.clone(),
                    ipam_config: ep.ipam.clone(),
                    ..Default::default()
                }),
            },
        )
        .await
}

/// Restart, the engine killing it after `grace_secs` (`None`: the container's own setting).
pub async fn restart(
    docker: &Engine,
    id: &str,
    grace_secs: Option<i32>,
) -> Result<(), EngineError> {
    let opts = grace_secs.map(|t| RestartContainerOptionsBuilder::new().t(t).build());
    docker.restart_container(id, opts).await
}

/// Remove a container, running or not.
pub async fn remove_forced(docker: &Engine, id: &str) -> Result<(), EngineError> {
    docker
        .remove_container(
            id,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await
}

/// How many containers run.
pub async fn count_running(docker: &Engine) -> Result<usize, EngineError> {
    Ok(docker
        .list_containers(None::<ListContainersOptions>)
        .await?
        .len())
}

/// A container from a list call: its full ID, labels and creation time.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub id: String,
    pub labels: HashMap<String, String>,
    /// Unix seconds.
    pub created: Option<i64>,
}

impl Labelled {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// The containers carrying `label` (`key=value`), running ones only unless `all`.
pub async fn with_label(
    docker: &Engine,
    label: &str,
    all: bool,
) -> Result<Vec<Labelled>, EngineError> {
    let filters = HashMap::from([("label", vec![label.to_string()])]);
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(all)
                .filters(&filters)
                .build(),
        ))
        .await?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            Some(Labelled {
                id: c.id?,
                labels: c.labels.unwrap_or_default(),
                created: c.created,
            })
        })
        .collect())
}

/// One container (by full ID) as [`list_containers`] shows it, inspected when it can be;
/// `None` when it is gone.
pub async fn refresh(
    docker: &Engine,
    host: &str,
    id: &str,
) -> Result<Option<ContainerInfo>, EngineError> {
    let summaries = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&HashMap::from([("id", vec![id])]))
                .build(),
        ))
        .await?;
    let Some(summary) = summaries.first() else {
        return Ok(None);
    };
    let inspect = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .ok();
    Ok(Some(ContainerInfo::from_engine(
        host,
        summary,
        inspect.as_ref(),
        chrono::Utc::now(),
    )))
}

/// A container to create and start ([`run_detached`]).
#[derive(Debug, Clone, Default)]
pub struct NewContainer {
    pub name: String,
    pub image: String,
    /// Replaces the image's entrypoint (empty: the image's own; same for `cmd`).
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=VALUE`.
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    /// On the host's network (`network_mode: host`).
    pub host_network: bool,
    /// On this Docker network (when not `host_network`); `None`: the default bridge.
    pub network: Option<String>,
    /// Without the image's own health check (it checks something this container does not run).
    pub no_healthcheck: bool,
}

/// Create and start a container; one that was created but did not start is removed again.
/// Returns its ID.
pub async fn run_detached(docker: &Engine, c: &NewContainer) -> Result<String, EngineError> {
    let body = ContainerCreateBody {
        image: Some(c.image.clone()),
        // Empty: the image's own (an empty list would clear it).
        entrypoint: (!c.entrypoint.is_empty()).then(|| c.entrypoint.clone()),
        cmd: (!c.cmd.is_empty()).then(|| c.cmd.clone()),
        env: Some(c.env.clone()),
        labels: Some(c.labels.clone()),
        healthcheck: c.no_healthcheck.then(|| HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            network_mode: if c.host_network {
                Some("host".into())
            } else {
                c.network.clone()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&c.name).build()),
            body,
        )
        .await?;
    if let Err(e) = start(docker, &created.id).await {
        let _ = remove_forced(docker, &created.id).await;
        return Err(e);
    }
    Ok(created.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspected_reads_state_health_and_addresses() {
        let raw: ContainerInspectResponse = serde_json::from_value(serde_json::json!({
            "Image": "sha256:abc",
            "State": {"Status": "running", "Running": true, "ExitCode": 0,
                      "Health": {"Status": "unhealthy", "Log": [{"Output": "old"}, {"Output": "boom\n"}]}},
            "Config": {"Image": "app:1", "Env": ["A=1"], "Entrypoint": ["sh"], "Cmd": ["-c", "x"]},
            "NetworkSettings": {"Networks": {"proxy": {"IPAddress": "10.0.0.2"}, "none": {"IPAddress": ""}}}
        }))
        .expect("inspect json");
        let i = Inspected::from_engine(&raw);
        assert_eq!(
            (i.state, i.running, i.health),
            (State::Running, true, Health::Unhealthy)
        );
        assert_eq!(i.probe_output.as_deref(), Some("boom\n"));
        assert_eq!(
            (i.image_id.as_deref(), i.image.as_deref()),
            (Some("sha256:abc"), Some("app:1"))
        );
        assert_eq!((i.env.len(), i.entrypoint.len(), i.cmd.len()), (1, 1, 2));
        assert_eq!(i.ip(None), Some("10.0.0.2"));
        assert_eq!(i.ip(Some("proxy")), Some("10.0.0.2"));
        assert_eq!(i.ip(Some("elsewhere")), Some("10.0.0.2"));
        let none = Inspected::from_engine(&ContainerInspectResponse::default());
        assert_eq!(
            (none.state, none.health, none.ip(None)),
            (State::Unknown, Health::None, None)
        );
    }
}
