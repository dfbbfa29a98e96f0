//! The local transport: this machine's processes, files and Docker socket.

use super::{Cmd, ExecOutput, HostError};
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// How long a single Docker API call may take before it counts as unreachable.
const DOCKER_TIMEOUT_SECS: u64 = 30;

pub(super) struct Local {
    host: String,
    /// `unix:///path`, `tcp://host:port` or `http://host:port`.
    endpoint: String,
}

impl Local {
    pub(super) fn new(host: &str, socket: Option<&str>) -> Self {
        let endpoint = match socket {
            Some(s) if s.contains("://") => s.to_string(),
            Some(s) => format!("unix://{s}"),
            None => match std::env::var("DOCKER_HOST") {
                Ok(h) if !h.trim().is_empty() => h.trim().to_string(),
                _ => "unix:///var/run/docker.sock".to_string(),
            },
        };
        Self {
            host: host.to_string(),
            endpoint,
        }
    }

    pub(super) fn docker_endpoint(&self) -> String {
        self.endpoint.clone()
    }

    pub(super) async fn exec(
        &self,
        cmd: &Cmd,
        cancel: &CancellationToken,
    ) -> Result<ExecOutput, HostError> {
        let mut c = tokio::process::Command::new(&cmd.program);
        c.args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &cmd.cwd {
            c.current_dir(dir);
        }
        let mut child = c.spawn().map_err(|source| HostError::Spawn {
            host: self.host.clone(),
            program: cmd.program.clone(),
            source,
        })?;
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let collect = async {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            let read_out = async {
                if let Some(o) = out.as_mut() {
                    let _ = o.read_to_end(&mut stdout).await;
                }
            };
            let read_err = async {
                if let Some(e) = err.as_mut() {
                    let _ = e.read_to_end(&mut stderr).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (status, stdout, stderr)
        };
        let timeout = cmd
            .timeout
            .unwrap_or(std::time::Duration::from_secs(24 * 3600));
        tokio::select! {
            (status, stdout, stderr) = collect => {
                let status = status.map_err(|source| HostError::Spawn {
                    host: self.host.clone(),
                    program: cmd.program.clone(),
                    source,
                })?;
                Ok(ExecOutput { status: status.code().unwrap_or(-1), stdout, stderr })
            }
            _ = tokio::time::sleep(timeout) => Err(HostError::Timeout {
                host: self.host.clone(),
                program: cmd.program.clone(),
                after: timeout,
            }),
            _ = cancel.cancelled() => Err(HostError::Cancelled {
                host: self.host.clone(),
                program: cmd.program.clone(),
            }),
        }
    }

    pub(super) async fn read_file(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        tokio::fs::read(path)
            .await
            .map_err(|source| HostError::File {
                host: self.host.clone(),
                path: path.display().to_string(),
                source,
            })
    }

    pub(super) async fn write_file_atomic(
        &self,
        path: &Path,
        contents: &[u8],
        mode: Option<u32>,
    ) -> Result<(), HostError> {
        use std::os::unix::fs::PermissionsExt;
        let err = |source| HostError::File {
            host: self.host.clone(),
            path: path.display().to_string(),
            source,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file_name = path
            .file_name()
            .ok_or_else(|| err(std::io::Error::other("not a file path")))?
            .to_string_lossy()
            .into_owned();
        let keep_mode = match tokio::fs::metadata(path).await {
            Ok(m) => Some(m.permissions().mode() & 0o7777),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(err(e)),
        };
        let tmp = dir.join(format!(".{file_name}.opsdeck-{}.tmp", std::process::id()));
        let result = async {
            tokio::fs::write(&tmp, contents).await?;
            if let Some(m) = keep_mode.or(mode) {
                tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(m)).await?;
            }
            let f = tokio::fs::File::open(&tmp).await?;
            f.sync_all().await?;
            tokio::fs::rename(&tmp, path).await
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(err(e));
        }
        Ok(())
    }

    pub(super) async fn docker(&self) -> Result<bollard::Docker, HostError> {
        let fail = |reason: String| HostError::Docker {
            host: self.host.clone(),
            socket: self.endpoint.clone(),
            reason,
        };
        let client = if let Some(path) = self.endpoint.strip_prefix("unix://") {
            match std::fs::metadata(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(fail(
                        "the socket does not exist (is dockerd running?)".to_string(),
                    ))
                }
                Err(e) => return Err(fail(e.to_string())),
                Ok(_) => {}
            }
            bollard::Docker::connect_with_unix(
                path,
                DOCKER_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            )
        } else if self.endpoint.starts_with("tcp://") || self.endpoint.starts_with("http://") {
            bollard::Docker::connect_with_http(
                &self.endpoint,
                DOCKER_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            )
        } else {
            return Err(fail(
                "unsupported endpoint; use unix://, tcp:// or http://".into(),
            ));
        }
        .map_err(|e| fail(e.to_string()))?;
        client
            .negotiate_version()
            .await
            .map_err(|e| fail(crate::docker::describe_error(&e)))
    }
}
