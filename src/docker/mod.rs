//! The Docker adapter: bollard over a host's Docker socket.
//!
//! Containers (listed and inspected into [`ContainerInfo`], our own stable shape), resource
//! samples, engine facts, and the compose runner ([`compose`]). Every model field from the
//! engine is optional: old engines omit fields, and nothing here panics on a missing one.
//!
//! This is the one place that speaks bollard: the action layer and the model hold an
//! [`Engine`] and pass it to the functions here, and read our own shapes back
//! ([`control::Inspected`], [`images::Image`], [`exec::Frame`], ...).

pub mod archive;
pub mod compose;
pub mod containers;
pub mod control;
pub mod disk;
pub mod events;
pub mod exec;
pub mod images;
pub mod inspect;
pub mod logs;
pub mod stats;
pub mod wait;

pub use containers::{
    list_containers, list_containers_quick, parse_image_ref, ContainerInfo, Health, State,
};
pub use stats::{sample_stats, StatsSample};

use serde::Serialize;

/// A handle on one host's Docker engine (from [`crate::host::Host::docker`]).
pub type Engine = bollard::Docker;

/// What the engine (or the way to it) answered when a call failed; say it for a person with
/// [`describe_error`].
pub type EngineError = bollard::errors::Error;

/// Facts about a host's engine.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EngineInfo {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
}

/// Ask the engine who it is.
pub async fn engine_info(docker: &Engine) -> Result<EngineInfo, EngineError> {
    let v = docker.version().await?;
    Ok(EngineInfo {
        version: v.version.unwrap_or_else(|| "unknown".into()),
        api_version: v.api_version.unwrap_or_else(|| "unknown".into()),
        os: v.os.unwrap_or_default(),
        arch: v.arch.unwrap_or_default(),
    })
}

/// Whether the engine said the object (container, image) does not exist.
pub fn is_not_found(e: &EngineError) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Whether the engine answers at all (`GET /_ping`).
pub async fn ping(docker: &Engine) -> Result<(), EngineError> {
    docker.ping().await.map(|_| ())
}

/// A bollard error said for a person (the host adapter, which opens the engine's socket,
/// words them; one wording everywhere).
pub use crate::host::describe_engine_error as describe_error;
