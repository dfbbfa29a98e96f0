//! What the SSH transport reads from the environment, gathered in one value so tests (and the
//! TUI) can replace any of it without touching process-wide state.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Asked for the passphrase of an encrypted key file, when neither the agent nor
/// `OPSDECK_SSH_PASSPHRASE` opened it. The TUI implements this with a prompt; `None` means
/// "no passphrase", and the next key (or a clear error) follows.
pub trait PassphraseSource: Send + Sync {
    fn passphrase<'a>(
        &'a self,
        host: &'a str,
        key_file: &'a Path,
    ) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;
}

/// Settings of the SSH transport. [`SshOptions::from_env`] gives the defaults.
#[derive(Clone)]
pub struct SshOptions {
    /// The ssh client config (`OPSDECK_SSH_CONFIG`, default `~/.ssh/config`); a missing file
    /// counts as empty.
    pub config_file: Option<PathBuf>,
    /// `OPSDECK_KNOWN_HOSTS`, default `~/.ssh/known_hosts`.
    pub known_hosts: PathBuf,
    /// The ssh-agent socket (`SSH_AUTH_SOCK`); `None`: no agent.
    pub agent_socket: Option<PathBuf>,
    /// Key files tried when the ssh config names none for the host.
    pub default_identities: Vec<PathBuf>,
    /// For encrypted key files (`OPSDECK_SSH_PASSPHRASE`). Never logged or shown.
    pub passphrase: Option<String>,
    /// Asked after `passphrase`, e.g. a TUI prompt.
    pub passphrase_source: Option<Arc<dyn PassphraseSource>>,
    /// For the TCP connection, the handshake and authentication together (every hop of a
    /// ProxyJump chain); the ssh config's `ConnectTimeout` wins when set.
    pub connect_timeout: Duration,
    /// Keepalive probe interval; the connection counts as lost after three unanswered probes.
    /// The ssh config's `ServerAliveInterval` wins when set.
    pub keepalive_interval: Duration,
}

impl fmt::Debug for SshOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshOptions")
            .field("config_file", &self.config_file)
            .field("known_hosts", &self.known_hosts)
            .field("agent_socket", &self.agent_socket)
            .field("default_identities", &self.default_identities)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<hidden>"))
            .field("passphrase_source", &self.passphrase_source.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .finish()
    }
}

impl SshOptions {
    /// The defaults, from the environment and the home directory.
    pub fn from_env() -> Self {
        let home = dirs::home_dir().unwrap_or_else(|| PathBuf::from("/"));
        let ssh_dir = home.join(".ssh");
        let env_path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            config_file: Some(
                env_path("OPSDECK_SSH_CONFIG").unwrap_or_else(|| ssh_dir.join("config")),
            ),
            known_hosts: env_path("OPSDECK_KNOWN_HOSTS")
                .unwrap_or_else(|| ssh_dir.join("known_hosts")),
            agent_socket: env_path("SSH_AUTH_SOCK"),
            default_identities: ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|f| ssh_dir.join(f))
                .collect(),
            passphrase: std::env::var("OPSDECK_SSH_PASSPHRASE")
                .ok()
                .filter(|p| !p.is_empty()),
            passphrase_source: None,
            connect_timeout: Duration::from_secs(15),
            keepalive_interval: Duration::from_secs(15),
        }
    }
}
