//! Files in volumes and host directories, moved as tar through the engine's archive API
//! (`docker cp`): a *holder* container is created with the volume (or directory) mounted and is
//! never started, so any image on the host will do and nothing runs inside it. The engine
//! itself writes the tar of a mounted path, and extracts one into it.

use super::{Engine, EngineError};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    ListContainersOptionsBuilder, ListImagesOptions, UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};

use std::collections::HashMap;

/// What a holder mounts.
#[derive(Debug, Clone)]
pub struct HolderMount {
    /// A volume name, or an absolute directory on the host (`bind`).
    pub source: String,
    pub bind: bool,
    pub target: String,
    pub read_only: bool,
}

/// Create (never start) a container that mounts `mounts`; returns its id.
pub async fn holder(
    docker: &Engine,
    name: &str,
    image: &str,
    mounts: &[HolderMount],
) -> Result<String, EngineError> {
    create(docker, name, image, None, mounts).await
}

/// Create a container without network: with `cmd` (the image's entrypoint kept) one to be
/// started once files are put in; without, a holder that is never started.
pub async fn create(
    docker: &Engine,
    name: &str,
    image: &str,
    cmd: Option<&[String]>,
    mounts: &[HolderMount],
) -> Result<String, EngineError> {
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        // A holder never runs: the path only has to be something the engine accepts.
        entrypoint: cmd
            .is_none()
            .then(|| vec!["/opsdeck-holder-never-started".into()]),
        cmd: Some(cmd.map(<[String]>::to_vec).unwrap_or_default()),
        labels: Some(HashMap::from([(
            "opsdeck.holder".to_string(),
            "1".to_string(),
        )])),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            mounts: Some(
                mounts
                    .iter()
                    .map(|m| Mount {
                        target: Some(m.target.clone()),
                        source: Some(m.source.clone()),
                        typ: Some(if m.bind {
                            MountType::BIND
                        } else {
                            MountType::VOLUME
                        }),
                        read_only: Some(m.read_only),
                        ..Default::default()
                    })
                    .collect(),
            ),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(name).build()),
            body,
        )
        .await?;
    Ok(created.id)
}

/// The tar of `path` in container `id` (its entries start with the path's last component).
pub fn download(
    docker: &Engine,
    id: &str,
    path: &str,
) -> BoxStream<'static, Result<Bytes, EngineError>> {
    docker
        .download_from_container(
            id,
            Some(
                DownloadFromContainerOptionsBuilder::new()
                    .path(path)
                    .build(),
            ),
        )
        .boxed()
}

/// Extract a tar into `path` of container `id`.
pub async fn upload(
    docker: &Engine,
    id: &str,
    path: &str,
    tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) -> Result<(), EngineError> {
    // The engine answers once the whole tar is extracted: as long as that takes, not the
    // client's usual limit for an answer.
    docker
        .clone()
        .with_timeout(std::time::Duration::from_secs(24 * 3600))
        .upload_to_container(
            id,
            Some(UploadToContainerOptionsBuilder::new().path(path).build()),
            bollard::body_try_stream(tar),
        )
        .await
}

/// A named volume as it was created (to create it again the same: compose's labels kept).
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeDef {
    pub name: String,
    pub driver: String,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
}

pub async fn volume(docker: &Engine, name: &str) -> Result<VolumeDef, EngineError> {
    let v = docker.inspect_volume(name).await?;
    Ok(VolumeDef {
        name: v.name,
        driver: v.driver,
        labels: v.labels,
        options: v.options,
    })
}

pub async fn create_volume(docker: &Engine, def: &VolumeDef) -> Result<(), EngineError> {
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(def.name.clone()),
            driver: Some(def.driver.clone()),
            driver_opts: Some(def.options.clone()),
            labels: Some(def.labels.clone()),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

/// A container that mounts a volume or a host directory.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeUser {
    pub id: String,
    pub name: String,
    pub running: bool,
    pub labels: HashMap<String, String>,
}

/// Every container (running or not, holders left out) that mounts the volume `source` (or,
/// with `bind`, the host directory `source` or anything inside it).
pub async fn users(
    docker: &Engine,
    source: &str,
    bind: bool,
) -> Result<Vec<VolumeUser>, EngineError> {
    let list = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
        .await?;
    let inside =
        |s: &str| s == source || s.strip_prefix(source).is_some_and(|r| r.starts_with('/'));
    Ok(list
        .into_iter()
        .filter(|c| {
            c.labels
                .as_ref()
                .is_none_or(|l| !l.contains_key("opsdeck.holder"))
        })
        .filter(|c| {
            c.mounts.iter().flatten().any(|m| {
                if bind {
                    m.source.as_deref().is_some_and(inside)
                } else {
                    m.name.as_deref() == Some(source)
                }
            })
        })
        .map(|c| VolumeUser {
            id: c.id.unwrap_or_default(),
            name: c
                .names
                .and_then(|n| n.into_iter().next())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            running: c.state.as_ref().is_some_and(|s| s.to_string() == "running"),
            labels: c.labels.unwrap_or_default(),
        })
        .collect())
}

/// Some image on the host (tagged first), for a holder.
pub async fn any_image(docker: &Engine) -> Result<Option<String>, EngineError> {
    let list = docker.list_images(None::<ListImagesOptions>).await?;
    let tagged = list
        .iter()
        .flat_map(|i| i.repo_tags.iter())
        .find(|t| !t.contains("<none>"))
        .cloned();
    Ok(tagged.or_else(|| list.first().map(|i| i.id.clone())))
}
