//! One handle per machine: run commands, read and write files, reach the Docker socket,
//! forward a TCP port.
//!
//! Everything above this module works with [`Host`] and never cares whether the machine is
//! this one ([`local`]) or a remote one reached over SSH ([`ssh`]: russh, `~/.ssh/config`,
//! strict known_hosts, agent and key files, keepalive, reconnect with backoff). Commands are
//! argument vectors ([`Cmd`]), never shell strings built from user input: a transport that
//! needs a shell line quotes every argument.

mod cmd;
mod forward;
mod local;
pub mod metrics;
mod ssh;
mod stream;

pub use cmd::{shell_quote, Cmd, ExecOutput};
pub use forward::{ForwardCounts, ForwardStats};
pub use ssh::{PassphraseSource, SshOptions, Target as SshTarget, TrustedKey};
pub use stream::ExecEvent;

use crate::error::ExitKind;
use crate::inventory::HostSpec;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
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
    /// The ssh target or the ssh client config is unusable.
    #[error("{host}: {reason}")]
    Config { host: String, reason: String },
    /// No SSH session: TCP, handshake or timeout.
    #[error("{host}: cannot connect to {target}: {reason}")]
    Connect {
        host: String,
        target: String,
        reason: String,
    },
    #[error("{host}: refusing to connect to {target}: its host key is not in {known_hosts} ({key_type} key fingerprint {fingerprint}). If that fingerprint is the host's, run: opsdeck hosts trust {host}", target = .key.target, known_hosts = .key.known_hosts, key_type = .key.key_type, fingerprint = .key.fingerprint)]
    HostKeyUnknown { host: String, key: Box<HostKeyInfo> },
    #[error("{host}: REFUSING to connect to {target}: its host key has CHANGED (it now shows {key_type} key fingerprint {fingerprint}). This may be an attack (someone intercepting the connection), or the host was reinstalled. The recorded key is {known_hosts} line {line}; opsdeck never replaces it. Only if you know why it changed: remove that line, then run: opsdeck hosts trust {host}", target = .key.target, known_hosts = .key.known_hosts, key_type = .key.key_type, fingerprint = .key.fingerprint)]
    HostKeyChanged {
        host: String,
        key: Box<HostKeyInfo>,
        /// The line of known_hosts holding the other key (1-based).
        line: usize,
    },
    #[error("{host}: REFUSING to connect to {target}: its host key ({key_type} key fingerprint {fingerprint}) is REVOKED by {known_hosts} line {line} (an @revoked line). opsdeck never trusts a revoked key; if the host has a new key, record that one", target = .key.target, known_hosts = .key.known_hosts, key_type = .key.key_type, fingerprint = .key.fingerprint)]
    HostKeyRevoked {
        host: String,
        key: Box<HostKeyInfo>,
        /// The `@revoked` line (1-based).
        line: usize,
    },
    #[error("{host}: {target} did not accept any key for user {user}: tried {tried}")]
    Auth {
        host: String,
        target: String,
        user: String,
        tried: String,
    },
    /// `trust` was told not to record a key.
    #[error(
        "{host}: the host key of {target} ({fingerprint}) was not confirmed; nothing was recorded"
    )]
    TrustDeclined {
        host: String,
        target: String,
        fingerprint: String,
    },
    /// The SSH session failed during a call (channel refused, connection lost, ...).
    #[error("{host}: {reason}")]
    Ssh { host: String, reason: String },
    /// Connecting failed moments ago; the next attempt is not due yet.
    #[error("{last} (next attempt in {}s)", retry_in.as_secs().max(1))]
    Backoff {
        retry_in: Duration,
        last: Arc<HostError>,
    },
    /// The same failure, reported to more than one caller.
    #[error("{0}")]
    Shared(Arc<HostError>),
}

impl HostError {
    /// The failure itself, through the `Shared` and `Backoff` wrappers the SSH transport
    /// adds when one failure is reported to several callers.
    pub fn root(&self) -> &HostError {
        match self {
            HostError::Backoff { last: e, .. } | HostError::Shared(e) => e.root(),
            e => e,
        }
    }

    /// Whether the failure means the host (or its engine) could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        match self {
            HostError::Docker { .. }
            | HostError::Connect { .. }
            | HostError::Auth { .. }
            | HostError::Ssh { .. } => true,
            HostError::Backoff { last: e, .. } | HostError::Shared(e) => e.is_unreachable(),
            _ => false,
        }
    }

    /// Whether opsdeck refused to go on: the host key is unknown or changed.
    pub fn is_refused(&self) -> bool {
        match self {
            HostError::HostKeyUnknown { .. }
            | HostError::HostKeyChanged { .. }
            | HostError::HostKeyRevoked { .. }
            | HostError::TrustDeclined { .. } => true,
            HostError::Backoff { last: e, .. } | HostError::Shared(e) => e.is_refused(),
            _ => false,
        }
    }

    /// The exit code kind this failure maps to (refused 4, unreachable 3, bad config 2,
    /// anything else 1).
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            HostError::Backoff { last: e, .. } | HostError::Shared(e) => e.exit_kind(),
            HostError::Config { .. } => ExitKind::Usage,
            e if e.is_refused() => ExitKind::Refused,
            e if e.is_unreachable() => ExitKind::Unreachable,
            _ => ExitKind::Failed,
        }
    }
}

impl From<HostError> for crate::error::Error {
    fn from(e: HostError) -> Self {
        crate::error::Error::new(e.exit_kind(), e.to_string())
    }
}

/// The host key a server showed, for a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyInfo {
    /// The hop: `deploy@127.0.0.1:2222`.
    pub target: String,
    /// `ED25519`, `RSA`, ...
    pub key_type: String,
    /// `SHA256:...`
    pub fingerprint: String,
    /// The known_hosts file consulted.
    pub known_hosts: String,
}

/// The state of a host's connection, for the UI. Local hosts are always `Local`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    Local,
    /// Nothing tried yet (connecting is lazy).
    NotConnected,
    Connecting,
    Connected {
        /// `agent` or `key:<path>`.
        auth: String,
    },
    /// The last attempt failed, or the connection was lost. `retry_at`: when the next call
    /// may try again (`None`: right away).
    Down {
        error: String,
        retry_at: Option<Instant>,
    },
}

/// A way to reach `host:port` as seen from a host: the address itself for this machine, a
/// listener on 127.0.0.1 tunnelled over SSH for a remote one. The tunnel closes on drop.
pub struct Forward {
    host: String,
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
    stats: Option<Arc<ForwardStats>>,
}

impl Forward {
    fn direct(host: &str, port: u16) -> Self {
        Self {
            host: host.to_string(),
            port,
            task: None,
            stats: None,
        }
    }

    fn tunnel(
        local: SocketAddr,
        task: tokio::task::JoinHandle<()>,
        stats: Arc<ForwardStats>,
    ) -> Self {
        Self {
            host: local.ip().to_string(),
            port: local.port(),
            task: Some(task),
            stats: Some(stats),
        }
    }

    /// What a listening forward carried so far (none for a direct address).
    pub fn counts(&self) -> Option<ForwardCounts> {
        self.stats.as_ref().map(|s| s.counts())
    }

    /// Where to connect from this machine.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` (IPv6 addresses in brackets).
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

enum Transport {
    Local(local::Local),
    Ssh(ssh::Ssh),
}

/// A machine in the inventory. Clones share one transport (one SSH connection, one Docker
/// client): the action layer keeps one per host name for the whole process.
#[derive(Clone)]
pub struct Host {
    name: String,
    spec: HostSpec,
    transport: std::sync::Arc<Transport>,
    /// For local hosts, which never change state.
    local_state: Option<std::sync::Arc<watch::Sender<ConnectionState>>>,
}

impl Host {
    /// A handle for `spec`, with SSH settings from the environment ([`SshOptions::from_env`]).
    /// Connecting is lazy: nothing happens until the first call.
    pub fn new(name: &str, spec: &HostSpec) -> Result<Self, crate::error::Error> {
        Self::with_options(name, spec, SshOptions::from_env())
    }

    /// A handle with explicit SSH settings (tests, or the TUI's passphrase prompt).
    pub fn with_options(
        name: &str,
        spec: &HostSpec,
        opts: SshOptions,
    ) -> Result<Self, crate::error::Error> {
        let (transport, local_state) = match &spec.ssh {
            None => (
                Transport::Local(local::Local::new(name, spec.docker_socket.as_deref())),
                Some(std::sync::Arc::new(watch::Sender::new(
                    ConnectionState::Local,
                ))),
            ),
            Some(target) => (
                Transport::Ssh(
                    ssh::Ssh::new(name, target, spec.docker_socket.as_deref(), opts).map_err(
                        |reason| crate::error::Error::usage(format!("host {name}: {reason}")),
                    )?,
                ),
                None,
            ),
        };
        Ok(Self {
            name: name.to_string(),
            spec: spec.clone(),
            transport: std::sync::Arc::new(transport),
            local_state,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether both handles share one transport (one connection).
    pub fn same_connection(&self, other: &Host) -> bool {
        std::sync::Arc::ptr_eq(&self.transport, &other.transport)
    }

    pub fn spec(&self) -> &HostSpec {
        &self.spec
    }

    /// How the host is reached, for display: `local` or `ssh`.
    pub fn transport_kind(&self) -> &'static str {
        match *self.transport {
            Transport::Local(_) => "local",
            Transport::Ssh(_) => "ssh",
        }
    }

    /// The Docker endpoint, for messages: `unix:///var/run/docker.sock`, `tcp://...`,
    /// `ssh://deploy@alpha:22 → /var/run/docker.sock`.
    pub fn docker_endpoint(&self) -> String {
        match &*self.transport {
            Transport::Local(l) => l.docker_endpoint(),
            Transport::Ssh(s) => s.docker_endpoint(),
        }
    }

    /// The resolved SSH target (after `~/.ssh/config`); `None` for this machine.
    pub fn ssh_target(&self) -> Option<&SshTarget> {
        match &*self.transport {
            Transport::Local(_) => None,
            Transport::Ssh(s) => Some(s.target()),
        }
    }

    /// How opsdeck authenticated: `local` for this machine; for SSH `agent` or
    /// `key:<path>` once connected, `None` before.
    pub fn auth_method(&self) -> Option<String> {
        match &*self.transport {
            Transport::Local(_) => Some("local".into()),
            Transport::Ssh(s) => s.auth_method(),
        }
    }

    /// The connection's state now.
    pub fn connection_state(&self) -> ConnectionState {
        match &*self.transport {
            Transport::Local(_) => ConnectionState::Local,
            Transport::Ssh(s) => s.state(),
        }
    }

    /// Follow the connection's state (the UI shows "reconnecting in 8 s" from this).
    pub fn watch_connection(&self) -> watch::Receiver<ConnectionState> {
        match (&*self.transport, &self.local_state) {
            (Transport::Ssh(s), _) => s.watch_state(),
            (Transport::Local(_), Some(tx)) => tx.subscribe(),
            (Transport::Local(_), None) => watch::Sender::new(ConnectionState::Local).subscribe(),
        }
    }

    /// Connect now (SSH: session and authentication) instead of at the first call.
    pub async fn connect(&self) -> Result<(), HostError> {
        match &*self.transport {
            Transport::Local(_) => Ok(()),
            Transport::Ssh(s) => s.connect().await,
        }
    }

    /// Forget the reconnect backoff: the next call tries at once (a UI's "retry now").
    pub async fn retry_now(&self) {
        if let Transport::Ssh(s) = &*self.transport {
            s.retry_now().await;
        }
    }

    /// Run a command to completion, collecting its output.
    pub async fn exec(
        &self,
        cmd: &Cmd,
        cancel: &CancellationToken,
    ) -> Result<ExecOutput, HostError> {
        match &*self.transport {
            Transport::Local(l) => l.exec(cmd, cancel).await,
            Transport::Ssh(s) => s.exec(cmd, cancel).await,
        }
    }

    /// Start a command; stdout/stderr chunks arrive as they come, then one `Exit` or `Failed`
    /// event. The command's timeout, `cancel`, and dropping the receiver all stop it.
    pub async fn exec_stream(
        &self,
        cmd: &Cmd,
        cancel: &CancellationToken,
    ) -> Result<mpsc::Receiver<ExecEvent>, HostError> {
        match &*self.transport {
            Transport::Local(l) => l.exec_stream(cmd, cancel).await,
            Transport::Ssh(s) => s.exec_stream(cmd, cancel).await,
        }
    }

    pub async fn read_file(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        match &*self.transport {
            Transport::Local(l) => l.read_file(path).await,
            Transport::Ssh(s) => s.read_file(path).await,
        }
    }

    /// A file's contents, or `None` when it does not exist.
    pub async fn read_optional(&self, path: &Path) -> Result<Option<Vec<u8>>, HostError> {
        match self.read_file(path).await {
            Ok(b) => Ok(Some(b)),
            Err(HostError::File { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
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
        match &*self.transport {
            Transport::Local(l) => l.write_file_atomic(path, contents, mode).await,
            Transport::Ssh(s) => s.write_file_atomic(path, contents, mode).await,
        }
    }

    /// A Docker client for this host's engine, version-negotiated.
    pub async fn docker(&self) -> Result<bollard::Docker, HostError> {
        match &*self.transport {
            Transport::Local(l) => l.docker().await,
            Transport::Ssh(s) => s.docker().await,
        }
    }

    /// Reach `host:port` as the host sees it (e.g. a Postgres published on the host's
    /// 127.0.0.1). Keep the [`Forward`] while connecting through it.
    pub async fn forward_tcp(&self, host: &str, port: u16) -> Result<Forward, HostError> {
        match &*self.transport {
            Transport::Local(_) => Ok(Forward::direct(host, port)),
            Transport::Ssh(s) => s.forward_tcp(host, port).await,
        }
    }

    /// A listener at `bind` (a loopback address of this machine) whose connections, from
    /// our own user only, are carried to `host:port` as this host sees it: dialled directly
    /// for this machine, through the SSH connection for a remote one. Until dropped.
    pub async fn forward_listen(
        &self,
        bind: SocketAddr,
        host: &str,
        port: u16,
    ) -> Result<Forward, HostError> {
        if !bind.ip().is_loopback() {
            return Err(HostError::Config {
                host: self.name.clone(),
                reason: format!(
                    "a forward listens on loopback only (127.0.0.1 or ::1), not {}",
                    bind.ip()
                ),
            });
        }
        match &*self.transport {
            Transport::Local(_) => {
                let listener =
                    tokio::net::TcpListener::bind(bind)
                        .await
                        .map_err(|e| HostError::Config {
                            host: self.name.clone(),
                            reason: format!("cannot listen on {bind} for a forward: {e}"),
                        })?;
                let local = listener.local_addr().map_err(|e| HostError::Config {
                    host: self.name.clone(),
                    reason: format!("forward: {e}"),
                })?;
                let stats = Arc::new(ForwardStats::default());
                let task = forward::serve(
                    listener,
                    forward::direct(host, port),
                    stats.clone(),
                    format!("{host}:{port}"),
                );
                Ok(Forward::tunnel(local, task, stats))
            }
            Transport::Ssh(s) => s.forward_listen(bind, host, port).await,
        }
    }
}

/// Record the SSH host key(s) of a host in known_hosts: `opsdeck hosts trust NAME`, with
/// settings from the environment and no further question; see [`trust_host_with`].
pub async fn trust_host(name: &str, spec: &HostSpec) -> Result<Vec<TrustedKey>, HostError> {
    trust_host_with(name, spec, &SshOptions::from_env(), &|_| true).await
}

/// Connect far enough to read the host key of each hop (ProxyJump hops first, the host
/// itself last) and append the unknown ones to known_hosts, each only if `confirm` says yes
/// (e.g. "does the fingerprint match the one the user approved?"; a no is `TrustDeclined`,
/// exit 4). A key already recorded is reported with `added: false`; a DIFFERENT recorded key
/// is refused (`HostKeyChanged`) and never replaced. Jump hops are authenticated (the tunnel
/// needs it); the host itself is not.
pub async fn trust_host_with(
    name: &str,
    spec: &HostSpec,
    opts: &SshOptions,
    confirm: &(dyn Fn(&TrustedKey) -> bool + Sync),
) -> Result<Vec<TrustedKey>, HostError> {
    let Some(target) = &spec.ssh else {
        return Err(HostError::Config {
            host: name.to_string(),
            reason: "this host is the local machine; there is no SSH host key to trust".into(),
        });
    };
    ssh::trust(name, target, opts, confirm).await
}

/// A bollard error said for a person: what failed, without the Rust type names.
pub fn describe_engine_error(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("the engine answered {status_code}: {}", message.trim()),
        E::RequestTimeoutError => "the engine did not answer in time".into(),
        E::SocketNotFoundError(p) => format!("socket {p} not found (is dockerd running?)"),
        E::HyperResponseError { err } => {
            let mut msg = err.to_string();
            let mut src: Option<&dyn std::error::Error> = std::error::Error::source(err);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            msg
        }
        other => {
            let mut msg = other.to_string();
            let mut src: Option<&dyn std::error::Error> = std::error::Error::source(other);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            msg
        }
    }
}
