//! The local transport: this machine's processes, files and Docker socket.

use super::stream::{self, ExecEvent};
use super::{Cmd, ExecOutput, HostError};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
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
        let rx = self.exec_stream(cmd, cancel).await?;
        let (host, program) = (self.host.clone(), cmd.program.clone());
        stream::collect(rx, || HostError::Spawn {
            host,
            program,
            source: std::io::Error::other("the command's output stream ended early"),
        })
        .await
    }

    /// Start `cmd`; its output and exit status arrive on the returned channel. Dropping the
    /// receiver, the timeout and `cancel` all kill the process.
    pub(super) async fn exec_stream(
        &self,
        cmd: &Cmd,
        cancel: &CancellationToken,
    ) -> Result<mpsc::Receiver<ExecEvent>, HostError> {
        let mut c = tokio::process::Command::new(&cmd.program);
        // opsdeck's own secret (a key passphrase given by the environment) is not for the
        // programs it runs.
        c.args(&cmd.args)
            .env_remove("OPSDECK_SSH_PASSPHRASE")
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
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
        let (tx, rx) = mpsc::channel(stream::EVENT_BUFFER);
        let host = self.host.clone();
        let program = cmd.program.clone();
        let stdin_data = cmd.stdin.clone();
        let timeout = cmd.timeout.unwrap_or(Duration::from_secs(24 * 3600));
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let stdin = child.stdin.take();
            let out = child.stdout.take();
            let err = child.stderr.take();
            let run = async {
                let feed = async move {
                    if let (Some(mut w), Some(data)) = (stdin, stdin_data) {
                        // A command that exits without reading its input is not an error here.
                        let _ = w.write_all(&data).await;
                        let _ = w.shutdown().await;
                    }
                };
                tokio::join!(
                    feed,
                    pump(out, &tx, ExecEvent::Stdout),
                    pump(err, &tx, ExecEvent::Stderr)
                );
                child.wait().await
            };
            let end = tokio::select! {
                status = run => match status {
                    Ok(s) => ExecEvent::Exit(s.code().unwrap_or(-1)),
                    Err(source) => ExecEvent::Failed(HostError::Spawn { host, program, source }),
                },
                _ = tokio::time::sleep(timeout) => {
                    ExecEvent::Failed(HostError::Timeout { host, program, after: timeout })
                }
                _ = cancel.cancelled() => ExecEvent::Failed(HostError::Cancelled { host, program }),
                _ = tx.closed() => return,
            };
            // A command that did not finish is killed before anyone hears why it ended.
            let _ = child.start_kill();
            let _ = child.wait().await;
            let _ = tx.send(end).await;
        });
        Ok(rx)
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
        // An existing file keeps its mode, owner and group (opsdeck often runs as root on a
        // file the deploy user owns); the temp file is 0600 from its first byte.
        let keep = match tokio::fs::metadata(path).await {
            Ok(m) => {
                use std::os::unix::fs::MetadataExt;
                Some((m.permissions().mode() & 0o7777, m.uid(), m.gid()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(err(e)),
        };
        let tmp = dir.join(format!(".{file_name}.opsdeck-{}.tmp", std::process::id()));
        let result = async {
            let mut f = tokio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .await?;
            tokio::io::AsyncWriteExt::write_all(&mut f, contents).await?;
            f.sync_all().await?;
            drop(f);
            if let Some((_, uid, gid)) = keep {
                std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot keep the file's owner {uid}:{gid}: {e}"),
                    )
                })?;
            }
            if let Some(m) = keep.map(|k| k.0).or(mode) {
                tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(m)).await?;
            }
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
            .map_err(|e| fail(super::describe_engine_error(&e)))
    }
}

/// Send everything `r` yields as events made by `wrap`, until end of file or a closed channel.
async fn pump<R: AsyncRead + Unpin>(
    r: Option<R>,
    tx: &mpsc::Sender<ExecEvent>,
    wrap: fn(Vec<u8>) -> ExecEvent,
) {
    let Some(mut r) = r else { return };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(wrap(buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}
