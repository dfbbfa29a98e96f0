//! The SSH transport (russh, no `ssh` binary): one connection per host, opened on first use,
//! kept alive with keepalives and re-established after a drop on the next call, with backoff
//! (1 s doubling to 30 s) while it keeps failing. Commands run in exec channels, files go
//! through `cat`/`mv`, the Docker API through direct-streamlocal channels to the engine's
//! socket (see [`docker`]), TCP forwards through direct-tcpip channels.

mod channel;
mod docker;
pub(crate) mod known_hosts;
mod options;
mod session;
mod target;
mod trust;

pub use options::{PassphraseSource, SshOptions};
pub use target::Target;
pub use trust::{trust, TrustedKey};

use super::stream::{self, ExecEvent};
use super::{forward, Cmd, ConnectionState, ExecOutput, Forward, HostError};
use channel::ChannelJob;
use russh::client::Handle;
use session::{Client, Ctx, KeyCache};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Default Docker socket on the remote host.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// How long opening one channel on a live connection may take before the connection is
/// considered dead.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub(super) struct Ssh {
    inner: Arc<Inner>,
}

struct Live {
    handle: Arc<Handle<Client>>,
    /// The ProxyJump sessions the connection runs through; dropped with it.
    _jumps: Vec<Handle<Client>>,
    generation: u64,
}

#[derive(Default)]
struct Slot {
    live: Option<Live>,
    /// Consecutive failed connects.
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<Arc<HostError>>,
}

pub(super) struct Inner {
    name: String,
    target: Target,
    /// Where the engine listens, as seen from the host.
    socket: docker::Dial,
    opts: SshOptions,
    slot: tokio::sync::Mutex<Slot>,
    generation: Arc<AtomicU64>,
    state: watch::Sender<ConnectionState>,
    keys: KeyCache,
    docker: docker::Pool,
}

/// Why an SSH host cannot be set up from its inventory entry (nothing was dialled yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Target(#[from] target::TargetError),
    #[error(transparent)]
    Socket(#[from] docker::SocketError),
}

impl Ssh {
    pub(super) fn new(
        name: &str,
        spec: &str,
        docker_socket: Option<&str>,
        opts: SshOptions,
    ) -> Result<Self, SetupError> {
        let config = target::load_config(opts.config_file.as_deref())?;
        let target = target::resolve(spec, config.as_ref())?;
        let socket = docker::Dial::parse(docker_socket.unwrap_or(DEFAULT_DOCKER_SOCKET))?;
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_string(),
                target,
                socket,
                opts,
                slot: tokio::sync::Mutex::new(Slot::default()),
                generation: Arc::new(AtomicU64::new(0)),
                state: watch::Sender::new(ConnectionState::NotConnected),
                keys: Default::default(),
                docker: docker::Pool::default(),
            }),
        })
    }

    pub(super) fn target(&self) -> &Target {
        &self.inner.target
    }

    /// `ssh://deploy@127.0.0.1:2222 → /var/run/docker.sock`.
    pub(super) fn docker_endpoint(&self) -> String {
        format!("ssh://{} → {}", self.inner.target, self.inner.socket)
    }

    pub(super) fn state(&self) -> ConnectionState {
        self.inner.state.borrow().clone()
    }

    pub(super) fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.subscribe()
    }

    pub(super) fn auth_method(&self) -> Option<String> {
        match &*self.inner.state.borrow() {
            ConnectionState::Connected { auth } => Some(auth.clone()),
            _ => None,
        }
    }

    pub(super) async fn connect(&self) -> Result<(), HostError> {
        self.inner.session().await.map(|_| ())
    }

    pub(super) async fn retry_now(&self) {
        let mut slot = self.inner.slot.lock().await;
        slot.retry_at = None;
    }

    pub(super) async fn exec(
        &self,
        cmd: &Cmd,
        cancel: &CancellationToken,
    ) -> Result<ExecOutput, HostError> {
        let rx = self.exec_stream(cmd, cancel).await?;
        let (host, program) = (self.inner.name.clone(), cmd.program.clone());
        stream::collect(rx, || HostError::Ssh {
            host,
            reason: format!("`{program}`: the output stream ended without an exit status"),
        })
        .await
    }

    pub(super) async fn exec_stream(
        &self,
        cmd: &Cmd,
        cancel: &CancellationToken,
    ) -> Result<mpsc::Receiver<ExecEvent>, HostError> {
        let channel = self
            .inner
            .open("a command channel", |h| async move {
                h.channel_open_session().await
            })
            .await?;
        channel
            .exec(true, cmd.remote_line())
            .await
            .map_err(|e| HostError::Ssh {
                host: self.inner.name.clone(),
                reason: format!("cannot start `{}`: {e}", cmd.program),
            })?;
        let (tx, rx) = mpsc::channel(stream::EVENT_BUFFER);
        let job = ChannelJob {
            host: self.inner.name.clone(),
            program: cmd.program.clone(),
            stdin: cmd.stdin.clone(),
            timeout: cmd.timeout.unwrap_or(Duration::from_secs(24 * 3600)),
            cancel: cancel.clone(),
        };
        tokio::spawn(job.run(channel, tx));
        Ok(rx)
    }

    pub(super) async fn read_file(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        let p = path.display().to_string();
        let cmd = Cmd::new("cat")
            .args(["--", p.as_str()])
            .timeout(Duration::from_secs(120));
        let out = self.exec(&cmd, &CancellationToken::new()).await?;
        if out.success() {
            return Ok(out.stdout);
        }
        Err(HostError::File {
            host: self.inner.name.clone(),
            path: p,
            source: remote_io_error(&out.stderr_str()),
        })
    }

    pub(super) async fn write_file_atomic(
        &self,
        path: &Path,
        contents: &[u8],
        mode: Option<u32>,
    ) -> Result<(), HostError> {
        let p = path.display().to_string();
        let err = |source| HostError::File {
            host: self.inner.name.clone(),
            path: p.clone(),
            source,
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| err(std::io::Error::other("not a file path")))?
            .to_string_lossy()
            .into_owned();
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| ".".into());
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let tmp = format!(
            "{dir}/.{file_name}.opsdeck-{}-{nonce}.tmp",
            std::process::id()
        );
        let mode = mode.map(|m| format!("{m:o}")).unwrap_or_default();
        // $1 the file, $2 the temp file, $3 the mode for a new file (may be empty).
        // The old file's mode, owner and group win (a failed chown stops the write: the file
        // is left as it was); the temp file is 0600 from its first byte and goes away
        // whatever happens.
        const SCRIPT: &str = r#"set -e
trap 'rm -f -- "$2"' EXIT
o=
if [ -e "$1" ]; then m=$(stat -L -c %a -- "$1"); o=$(stat -L -c %u:%g -- "$1"); else m=$3; fi
(umask 077 && cat > "$2")
if [ -n "$o" ] && [ "$(stat -c %u:%g -- "$2")" != "$o" ]; then
  chown -- "$o" "$2" || { echo "cannot keep the owner $o of $1" >&2; exit 1; }
fi
if [ -n "$m" ]; then chmod -- "$m" "$2"; fi
sync -- "$2" 2>/dev/null || :
mv -f -- "$2" "$1"
trap - EXIT"#;
        let cmd = Cmd::new("sh")
            .args([
                "-c",
                SCRIPT,
                "opsdeck-write",
                p.as_str(),
                tmp.as_str(),
                mode.as_str(),
            ])
            .stdin(contents.to_vec())
            .timeout(Duration::from_secs(120));
        let out = self.exec(&cmd, &CancellationToken::new()).await?;
        if out.success() {
            Ok(())
        } else {
            Err(err(remote_io_error(&out.stderr_str())))
        }
    }

    pub(super) async fn docker(&self) -> Result<bollard::Docker, HostError> {
        docker::client(&self.inner).await
    }

    pub(super) async fn forward_tcp(&self, host: &str, port: u16) -> Result<Forward, HostError> {
        let bind: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        self.forward_listen(bind, host, port).await
    }

    /// A listener at `bind` whose own-user connections go to `host:port` as the remote host
    /// sees it, each through a direct-tcpip channel.
    pub(super) async fn forward_listen(
        &self,
        bind: std::net::SocketAddr,
        host: &str,
        port: u16,
    ) -> Result<Forward, HostError> {
        // Surface connection and authentication errors now, not at the first client.
        self.inner.session().await?;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| HostError::Ssh {
                host: self.inner.name.clone(),
                reason: format!("cannot listen on {bind} for a forward: {e}"),
            })?;
        let local = listener.local_addr().map_err(|e| HostError::Ssh {
            host: self.inner.name.clone(),
            reason: format!("forward: {e}"),
        })?;
        let inner = self.inner.clone();
        let rhost = host.to_string();
        let open: forward::Opener = Arc::new(move |peer| {
            let (inner, rhost) = (inner.clone(), rhost.clone());
            Box::pin(async move {
                let ch = inner
                    .open("a TCP forward", |h| {
                        let rhost = rhost.clone();
                        async move {
                            h.channel_open_direct_tcpip(
                                rhost,
                                u32::from(port),
                                peer.ip().to_string(),
                                u32::from(peer.port()),
                            )
                            .await
                        }
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Box::new(ch.into_stream()) as Box<dyn forward::Duplex>)
            })
        });
        let stats = Arc::new(forward::ForwardStats::default());
        let task = forward::serve(listener, open, stats.clone(), format!("{host}:{port}"));
        Ok(Forward::tunnel(local, task, stats))
    }
}

/// Turn a remote tool's error message into an `io::Error` of the matching kind.
fn remote_io_error(stderr: &str) -> std::io::Error {
    use std::io::ErrorKind;
    let msg = stderr.trim();
    let kind = if msg.contains("No such file or directory") {
        ErrorKind::NotFound
    } else if msg.contains("Permission denied") || msg.contains("Operation not permitted") {
        ErrorKind::PermissionDenied
    } else {
        ErrorKind::Other
    };
    let msg = msg.lines().last().unwrap_or("failed");
    std::io::Error::new(kind, msg.to_string())
}

impl Inner {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            name: &self.name,
            opts: &self.opts,
            keys: &self.keys,
        }
    }

    fn connect_timeout(&self) -> Duration {
        self.target
            .connect_timeout
            .unwrap_or(self.opts.connect_timeout)
    }

    /// The live session, connecting when there is none (or it was lost).
    async fn session(&self) -> Result<(Arc<Handle<Client>>, u64), HostError> {
        let mut slot = self.slot.lock().await;
        if let Some(live) = &slot.live {
            if !live.handle.is_closed() {
                return Ok((live.handle.clone(), live.generation));
            }
            slot.live = None;
        }
        if let (Some(at), Some(last)) = (slot.retry_at, &slot.last_error) {
            let now = Instant::now();
            if at > now {
                return Err(HostError::Backoff {
                    retry_in: at - now,
                    last: last.clone(),
                });
            }
        }
        self.state.send_replace(ConnectionState::Connecting);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let on_drop = || {
            let state = self.state.clone();
            let current = self.generation.clone();
            Box::new(move || {
                if current.load(Ordering::SeqCst) == generation {
                    state.send_replace(ConnectionState::Down {
                        error: "the connection was lost; it is re-established on the next call"
                            .into(),
                        retry_at: None,
                    });
                }
            }) as Box<dyn FnOnce() + Send>
        };
        let timeout = self.connect_timeout();
        let ctx = self.ctx();
        let attempt = || async {
            match tokio::time::timeout(timeout, session::connect(&ctx, &self.target, on_drop()))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(HostError::Connect {
                    host: self.name.clone(),
                    target: self.target.to_string(),
                    reason: format!("no SSH session within {}s", timeout.as_secs()),
                }),
            }
        };
        let mut result = attempt().await;
        // A server shedding load (sshd's MaxStartups) or restarting resets a handshake now and
        // then: one quick second try before reporting the host down.
        if matches!(&result, Err(HostError::Connect { reason, .. }) if transient(reason)) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            result = attempt().await;
        }
        match result {
            Ok(c) => {
                let handle = Arc::new(c.handle);
                slot.live = Some(Live {
                    handle: handle.clone(),
                    _jumps: c.jumps,
                    generation,
                });
                slot.failures = 0;
                slot.retry_at = None;
                slot.last_error = None;
                self.state
                    .send_replace(ConnectionState::Connected { auth: c.auth });
                Ok((handle, generation))
            }
            Err(e) => {
                let wait = BACKOFF_START
                    .saturating_mul(1u32 << slot.failures.min(5))
                    .min(BACKOFF_MAX);
                slot.failures = slot.failures.saturating_add(1);
                let retry_at = Instant::now() + wait;
                slot.retry_at = Some(retry_at);
                let e = Arc::new(e);
                slot.last_error = Some(e.clone());
                self.state.send_replace(ConnectionState::Down {
                    error: e.to_string(),
                    retry_at: Some(retry_at),
                });
                Err(HostError::Shared(e))
            }
        }
    }

    /// Forget the session of `generation` (it proved dead).
    async fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot
            .live
            .as_ref()
            .is_some_and(|l| l.generation == generation)
        {
            slot.live = None;
            self.state.send_replace(ConnectionState::Down {
                error: "the connection was lost; it is re-established on the next call".into(),
                retry_at: None,
            });
        }
    }

    /// Open a channel with `f`; when the session turns out to be gone, reconnect once and
    /// try again (nothing was sent yet, so this is safe for every kind of channel).
    async fn open<T, F, Fut>(&self, what: &str, f: F) -> Result<T, HostError>
    where
        F: Fn(Arc<Handle<Client>>) -> Fut,
        Fut: std::future::Future<Output = Result<T, russh::Error>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (handle, generation) = self.session().await?;
            let closed_before = handle.is_closed();
            match tokio::time::timeout(OPEN_TIMEOUT, f(handle.clone())).await {
                Ok(Ok(ch)) => return Ok(ch),
                Ok(Err(e)) => {
                    let gone = closed_before
                        || handle.is_closed()
                        || matches!(
                            e,
                            russh::Error::SendError
                                | russh::Error::Disconnect
                                | russh::Error::HUP
                                | russh::Error::IO(_)
                                | russh::Error::KeepaliveTimeout
                                | russh::Error::InactivityTimeout
                        );
                    if gone {
                        self.invalidate(generation).await;
                        if attempt < 2 {
                            continue;
                        }
                    }
                    return Err(HostError::Ssh {
                        host: self.name.clone(),
                        reason: format!("cannot open {what}: {e}"),
                    });
                }
                Err(_) => {
                    self.invalidate(generation).await;
                    return Err(HostError::Ssh {
                        host: self.name.clone(),
                        reason: format!(
                            "opening {what} took longer than {}s; the connection is dropped and re-established on the next call",
                            OPEN_TIMEOUT.as_secs()
                        ),
                    });
                }
            }
        }
    }
}

/// Whether a failed connect looks like a dropped handshake rather than a refusal (closed or
/// reset while exchanging versions or keys).
fn transient(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "reset by peer",
        "connection reset",
        "unexpected eof",
        "disconnected",
        "broken pipe",
    ]
    .iter()
    .any(|k| r.contains(k))
}

#[cfg(test)]
mod tests {
    use super::transient;

    #[test]
    fn only_dropped_handshakes_are_retried() {
        assert!(transient("Connection reset by peer (os error 104)"));
        assert!(transient("ssh handshake: unexpected EOF"));
        assert!(!transient("Connection refused (os error 111)"));
        assert!(!transient("no SSH session within 10s"));
    }
}
