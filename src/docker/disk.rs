//! What takes disk on a host: images, volumes, networks (and who uses each), and the
//! `docker system df` summary ([`DiskRow`]). One [`survey`] reads the engine once; the lists
//! and the summary are pure functions of it (unit-tested).
//!
//! Engines before API 1.52 answer `/system/df` in a shape bollard no longer reads, so the
//! summary is computed from the lists, on every engine: containers exactly (their writable
//! layers), images as the sum of their sizes (layers shared between images are counted once
//! per image), volumes only where the engine reports their size, build cache not at all
//! (`None`: unknown, never a made-up 0).

use super::{Engine, EngineError};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptions, ListVolumesOptions,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// An image on a host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageRow {
    pub host: String,
    /// `sha256:...`
    pub id: String,
    /// `repo:tag`s (empty: a dangling image).
    pub tags: Vec<String>,
    /// `repo@sha256:...`
    pub digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: u64,
    /// Bytes shared with other images, when the engine reports it.
    pub shared_size: Option<u64>,
    pub dangling: bool,
    /// Containers (any state) created from it.
    pub containers: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// A volume on a host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VolumeRow {
    pub host: String,
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub created: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Bytes, when the engine reports it.
    pub size: Option<u64>,
    /// Containers (any state) that mount it.
    pub containers: Vec<String>,
}

/// A network on a host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NetworkRow {
    pub host: String,
    pub id: String,
    pub name: String,
    pub driver: String,
    pub scope: String,
    pub internal: bool,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    pub containers: Vec<Attached>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attached {
    pub name: String,
    pub ip_address: Option<String>,
}

/// One line of `docker system df`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiskRow {
    pub host: String,
    /// `images`, `containers`, `volumes`, `build_cache`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub total: u64,
    pub active: u64,
    /// Bytes; `None` when this engine does not report it.
    pub size: Option<u64>,
    pub reclaimable: Option<u64>,
}

/// A container as the survey needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SurveyContainer {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub image_id: String,
    pub running: bool,
    /// Exited, created or dead: nothing runs in it.
    pub stopped: bool,
    /// Its compose project, if any.
    pub project: Option<String>,
    /// Bytes of its writable layer.
    pub size_rw: Option<u64>,
    /// Named volumes it mounts.
    pub volumes: Vec<String>,
    /// (network, address)
    pub networks: Vec<(String, Option<String>)>,
}

/// Everything one read of the engine gives.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub host: String,
    pub images: Vec<bollard::models::ImageSummary>,
    pub volumes: Vec<bollard::models::Volume>,
    pub networks: Vec<bollard::models::Network>,
    pub containers: Vec<SurveyContainer>,
}

fn unsigned(n: i64) -> Option<u64> {
    u64::try_from(n).ok()
}

/// Read images, volumes, networks and containers (with their sizes) from the engine.
pub async fn survey(docker: &Engine, host: &str) -> Result<Survey, EngineError> {
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .all(false)
                .digests(true)
                .build(),
        ))
        .await?;
    let volumes = docker
        .list_volumes(None::<ListVolumesOptions>)
        .await?
        .volumes
        .unwrap_or_default();
    let networks = docker.list_networks(None::<ListNetworksOptions>).await?;
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .size(true)
                .build(),
        ))
        .await?;
    let containers = list
        .into_iter()
        .map(|c| SurveyContainer {
            id: c.id.clone().unwrap_or_default(),
            labels: c.labels.clone().unwrap_or_default().into_iter().collect(),
            name: c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .or_else(|| c.id.clone())
                .unwrap_or_default(),
            image_id: c.image_id.clone().unwrap_or_default(),
            running: c.state.map(|s| s.to_string()).as_deref() == Some("running"),
            stopped: matches!(
                c.state.map(|s| s.to_string()).as_deref(),
                Some("exited" | "created" | "dead")
            ),
            project: c
                .labels
                .as_ref()
                .and_then(|l| l.get("com.docker.compose.project"))
                .cloned(),
            // Asked for with `size`, the engine leaves out a zero.
            size_rw: Some(c.size_rw.and_then(unsigned).unwrap_or(0)),
            volumes: c
                .mounts
                .iter()
                .flatten()
                .filter(|m| m.typ.as_ref().map(|t| t.to_string()).as_deref() == Some("volume"))
                .filter_map(|m| m.name.clone())
                .collect(),
            networks: c
                .network_settings
                .as_ref()
                .and_then(|n| n.networks.as_ref())
                .map(|nets| {
                    nets.iter()
                        .map(|(n, e)| (n.clone(), e.ip_address.clone().filter(|a| !a.is_empty())))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    Ok(Survey {
        host: host.to_string(),
        images,
        volumes,
        networks,
        containers,
    })
}

/// Remove a container that is not running (never forced, its volumes kept).
pub async fn remove_container(docker: &Engine, id: &str) -> Result<(), EngineError> {
    docker
        .remove_container(
            id,
            Some(bollard::query_parameters::RemoveContainerOptionsBuilder::default().build()),
        )
        .await
}

/// Remove an image reference (a tag, or an id): never forced, so the engine refuses an
/// image a container uses.
pub async fn remove_image(docker: &Engine, reference: &str) -> Result<(), EngineError> {
    docker
        .remove_image(
            reference,
            Some(bollard::query_parameters::RemoveImageOptionsBuilder::default().build()),
            None,
        )
        .await
        .map(|_| ())
}

/// Remove a volume: never forced, so the engine refuses one a container mounts.
pub async fn remove_volume(docker: &Engine, name: &str) -> Result<(), EngineError> {
    docker
        .remove_volume(
            name,
            Some(bollard::query_parameters::RemoveVolumeOptionsBuilder::default().build()),
        )
        .await
}

impl Survey {
    pub fn images(&self) -> Vec<ImageRow> {
        let mut rows: Vec<ImageRow> = self
            .images
            .iter()
            .map(|i| {
                let tags: Vec<String> = i
                    .repo_tags
                    .iter()
                    .filter(|t| t.as_str() != "<none>:<none>")
                    .cloned()
                    .collect();
                ImageRow {
                    host: self.host.clone(),
                    id: i.id.clone(),
                    dangling: tags.is_empty(),
                    tags,
                    digests: i
                        .repo_digests
                        .iter()
                        .filter(|d| !d.starts_with("<none>@"))
                        .cloned()
                        .collect(),
                    created: i.created,
                    size: unsigned(i.size).unwrap_or(0),
                    shared_size: unsigned(i.shared_size),
                    containers: self
                        .containers
                        .iter()
                        .filter(|c| c.image_id == i.id)
                        .map(|c| c.name.clone())
                        .collect(),
                    labels: i.labels.clone().into_iter().collect(),
                }
            })
            .collect();
        rows.sort_by(|a, b| (a.tags.first(), &a.id).cmp(&(b.tags.first(), &b.id)));
        rows
    }

    pub fn volumes(&self) -> Vec<VolumeRow> {
        let mut rows: Vec<VolumeRow> = self
            .volumes
            .iter()
            .map(|v| VolumeRow {
                host: self.host.clone(),
                name: v.name.clone(),
                driver: v.driver.clone(),
                mountpoint: v.mountpoint.clone(),
                created: v.created_at.clone().filter(|c| !c.is_empty()),
                labels: v.labels.clone().into_iter().collect(),
                size: v.usage_data.as_ref().and_then(|u| unsigned(u.size)),
                containers: self
                    .containers
                    .iter()
                    .filter(|c| c.volumes.contains(&v.name))
                    .map(|c| c.name.clone())
                    .collect(),
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    }

    pub fn networks(&self) -> Vec<NetworkRow> {
        let mut rows: Vec<NetworkRow> = self
            .networks
            .iter()
            .map(|n| {
                let name = n.name.clone().unwrap_or_default();
                let ipam = n.ipam.as_ref().and_then(|i| i.config.as_ref());
                NetworkRow {
                    host: self.host.clone(),
                    id: n.id.clone().unwrap_or_default(),
                    driver: n.driver.clone().unwrap_or_default(),
                    scope: n.scope.clone().unwrap_or_default(),
                    internal: n.internal.unwrap_or(false),
                    subnets: ipam
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.subnet.clone())
                        .collect(),
                    gateways: ipam
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.gateway.clone())
                        .collect(),
                    containers: self
                        .containers
                        .iter()
                        .filter_map(|c| {
                            let (_, ip) = c.networks.iter().find(|(net, _)| *net == name)?;
                            Some(Attached {
                                name: c.name.clone(),
                                ip_address: ip.clone(),
                            })
                        })
                        .collect(),
                    name,
                }
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    }

    /// The `docker system df` summary.
    pub fn df(&self) -> Vec<DiskRow> {
        let used_images: BTreeSet<&str> = self
            .containers
            .iter()
            .map(|c| c.image_id.as_str())
            .collect();
        let images = self.images();
        let image_size: u64 = images.iter().map(|i| i.size).sum();
        let unused: u64 = images
            .iter()
            .filter(|i| !used_images.contains(i.id.as_str()))
            .map(|i| i.size)
            .sum();
        let sizes: Vec<Option<u64>> = self.containers.iter().map(|c| c.size_rw).collect();
        let known = sizes.iter().all(Option::is_some);
        let containers_size: u64 = sizes.iter().flatten().sum();
        let stopped: u64 = self
            .containers
            .iter()
            .filter(|c| !c.running)
            .filter_map(|c| c.size_rw)
            .sum();
        let volumes = self.volumes();
        let vol_known = volumes.iter().all(|v| v.size.is_some());
        let vol_size: u64 = volumes.iter().filter_map(|v| v.size).sum();
        let vol_free: u64 = volumes
            .iter()
            .filter(|v| v.containers.is_empty())
            .filter_map(|v| v.size)
            .sum();
        let row = |kind, total: usize, active: usize, size, reclaimable| DiskRow {
            host: self.host.clone(),
            kind,
            total: total as u64,
            active: active as u64,
            size,
            reclaimable,
        };
        vec![
            row(
                "images",
                images.len(),
                images.iter().filter(|i| !i.containers.is_empty()).count(),
                Some(image_size),
                Some(unused),
            ),
            row(
                "containers",
                self.containers.len(),
                self.containers.iter().filter(|c| c.running).count(),
                known.then_some(containers_size),
                known.then_some(stopped),
            ),
            row(
                "volumes",
                volumes.len(),
                volumes.iter().filter(|v| !v.containers.is_empty()).count(),
                (vol_known || volumes.is_empty()).then_some(vol_size),
                (vol_known || volumes.is_empty()).then_some(vol_free),
            ),
            DiskRow {
                host: self.host.clone(),
                kind: "build_cache",
                total: 0,
                active: 0,
                size: None,
                reclaimable: None,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ImageSummary, Volume};

    fn image(id: &str, tag: &str, size: i64) -> ImageSummary {
        ImageSummary {
            id: id.into(),
            repo_tags: vec![tag.into()],
            size,
            shared_size: -1,
            containers: -1,
            ..Default::default()
        }
    }

    fn survey() -> Survey {
        Survey {
            host: "alpha".into(),
            images: vec![
                image("sha256:a", "shop:1", 100),
                image("sha256:b", "shop:2", 200),
                image("sha256:c", "<none>:<none>", 50),
            ],
            volumes: vec![
                Volume {
                    name: "data".into(),
                    ..Default::default()
                },
                Volume {
                    name: "old".into(),
                    ..Default::default()
                },
            ],
            networks: vec![bollard::models::Network {
                name: Some("shop_default".into()),
                ..Default::default()
            }],
            containers: vec![
                SurveyContainer {
                    name: "web".into(),
                    image_id: "sha256:b".into(),
                    running: true,
                    size_rw: Some(10),
                    volumes: vec!["data".into()],
                    networks: vec![("shop_default".into(), Some("172.20.0.2".into()))],
                    ..Default::default()
                },
                SurveyContainer {
                    name: "job".into(),
                    image_id: "sha256:a".into(),
                    running: false,
                    size_rw: Some(5),
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn lists_say_who_uses_what() {
        let s = survey();
        let images = s.images();
        let by_id = |id: &str| images.iter().find(|i| i.id == id).expect("image");
        assert_eq!(by_id("sha256:b").containers, ["web"]);
        assert!(by_id("sha256:c").dangling && by_id("sha256:c").tags.is_empty());
        let vols = s.volumes();
        assert_eq!(vols[0].containers, ["web"]);
        assert!(vols[1].containers.is_empty());
        let nets = s.networks();
        assert_eq!(
            nets[0].containers[0].ip_address.as_deref(),
            Some("172.20.0.2")
        );
    }

    #[test]
    fn df_counts_like_docker_system_df() {
        let df = survey().df();
        let get = |k: &str| df.iter().find(|r| r.kind == k).expect("row").clone();
        let i = get("images");
        assert_eq!(
            (i.total, i.active, i.size, i.reclaimable),
            (3, 2, Some(350), Some(50))
        );
        let c = get("containers");
        assert_eq!(
            (c.total, c.active, c.size, c.reclaimable),
            (2, 1, Some(15), Some(5))
        );
        let v = get("volumes");
        assert_eq!((v.total, v.active, v.size), (2, 1, None));
    }
}
