//! One handle per machine: run commands, read and write files, reach the Docker socket.
//!
//! Everything above this module works with [`Host`] and never cares whether the machine is
//! this one or a remote one. Commands are argument vectors ([`Cmd`]), never shell strings
//! built from user input: a transport that needs a shell line quotes every argument.

mod cmd;
mod local;

pub use cmd::{shell_quote, Cmd, ExecOutput};

use crate::inventory::HostSpec;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What can go wrong talking to a host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{host}: cannot start `{program}`: {source}")]
    Spawn {
        host: String,
        program: String,
        source: std::io::Error,
    },
    #[error("{host}: `{program}` timed out after {after:?}")]
    Timeout {
        host: String,
        program: String,
        after: Duration,
    },
    #[error("{host}: `{program}` was cancelled")]
    Cancelled { host: String, program: String },
    #[error("{host}: {path}: {source}")]
    File {
        host: String,
        path: String,
        source: std::io::Error,
    },
    #[error("{host}: cannot reach the Docker engine at {socket}: {reason}")]
    Docker {
        host: String,
        socket: String,
        reason: String,
    },
}

impl HostError {
    /// Whether the failure means the host (or its engine) could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HostError::Docker { .. })
    }
}

impl From<HostError> for crate::error::Error {
    fn from(e: HostError) -> Self {
        if e.is_unreachable() {
            crate::error::Error::unreachable(e.to_string())
        } else {
            crate::error::Error::failed(e.to_string())
        }
    }
}

enum Transport {
    Local(local::Local),
}

/// A machine in the inventory.
pub struct Host {
    name: String,
    spec: HostSpec,
    transport: Transport,
}

impl Host {
    /// A handle for `spec`. Connecting is lazy: nothing happens until the first call.
    pub fn new(name: &str, spec: &HostSpec) -> Result<Self, crate::error::Error> {
        let transport = match &spec.ssh {
            None => Transport::Local(local::Local::new(name, spec.docker_socket.as_deref())),
            Some(target) => {
                return Err(crate::error::Error::usage(format!(
                    "host {name}: SSH hosts ({target}) are not supported by this build yet"
                )))
            }
        };
        Ok(Self {
            name: name.to_string(),
            spec: spec.clone(),
            transport,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn spec(&self) -> &HostSpec {
        &self.spec
    }

    /// How the host is reached, for display: `local` or `ssh`.
    pub fn transport_kind(&self) -> &'static str {
        match self.transport {
            Transport::Local(_) => "local",
        }
    }

    /// The Docker endpoint, for messages: `unix:///var/run/docker.sock`, `tcp://...`.
    pub fn docker_endpoint(&self) -> String {
        match &self.transport {
            Transport::Local(l) => l.docker_endpoint(),
        }
    }

    /// Run a command to completion, collecting its output.
    pub async fn exec(
        &self,
        cmd: &Cmd,
        cancel: &CancellationToken,
    ) -> Result<ExecOutput, HostError> {
        match &self.transport {
            Transport::Local(l) => l.exec(cmd, cancel).await,
        }
    }

    pub async fn read_file(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        match &self.transport {
            Transport::Local(l) => l.read_file(path).await,
        }
    }

    /// Replace `path` atomically (temp file in the same directory, then rename), keeping the
    /// old file's mode, or `mode` for a new file.
    pub async fn write_file_atomic(
        &self,
        path: &Path,
        contents: &[u8],
        mode: Option<u32>,
    ) -> Result<(), HostError> {
        match &self.transport {
            Transport::Local(l) => l.write_file_atomic(path, contents, mode).await,
        }
    }

    /// A Docker client for this host's engine, version-negotiated.
    pub async fn docker(&self) -> Result<bollard::Docker, HostError> {
        match &self.transport {
            Transport::Local(l) => l.docker().await,
        }
    }
}
