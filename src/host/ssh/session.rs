//! Opening one SSH connection: TCP (or a tunnel through the previous ProxyJump hop), the
//! handshake with the host key checked against known_hosts, then authentication: the agent
//! first, then key files (encrypted ones with a passphrase from the environment or a prompt).

use super::known_hosts::{self, Verdict};
use super::options::SshOptions;
use super::target::Target;
use crate::host::{HostError, HostKeyInfo};
use russh::client::{self, AuthResult, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};

/// How the host key of a hop is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// Only a key recorded in known_hosts is accepted.
    Strict,
    /// Record the key and stop after the key exchange (for `trust`).
    Capture,
}

/// The key a server showed, and what known_hosts said about it.
#[derive(Debug, Clone)]
pub struct SeenKey {
    pub key: PublicKey,
    /// In an `Arc`, so the record stays `Clone`.
    pub verdict: Result<Verdict, Arc<known_hosts::KnownHostsError>>,
}

/// Our russh client handler: checks the host key; tells the owner when the connection ends.
pub struct Client {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    mode: KeyMode,
    seen: Arc<Mutex<Option<SeenKey>>>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl Drop for Client {
    // The session task owns the handler and drops it when the connection ends, whatever the
    // reason: the one place that always learns about a lost connection.
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // Host certificates are not trusted through their CA: the certified key itself
            // must be in known_hosts.
            PublicKeyOrCertificate::Certificate(c) => PublicKey::new(c.public_key().clone(), ""),
        };
        let verdict =
            known_hosts::check(&self.known_hosts, &self.host, self.port, &key).map_err(Arc::new);
        let accept = self.mode == KeyMode::Strict && matches!(verdict, Ok(Verdict::Known));
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(SeenKey { key, verdict });
        }
        Ok(accept)
    }
}

/// A live, authenticated session and the jump sessions it runs through (kept alive with it).
pub struct Connected {
    pub handle: Handle<Client>,
    pub jumps: Vec<Handle<Client>>,
    /// `agent` or `key:<path>`.
    pub auth: String,
}

/// Decrypted keys, kept for reconnects so a passphrase is asked once per process.
pub type KeyCache = Mutex<HashMap<PathBuf, Arc<PrivateKey>>>;

/// What a connect needs besides the target.
pub struct Ctx<'a> {
    /// The inventory name, for messages.
    pub name: &'a str,
    pub opts: &'a SshOptions,
    pub keys: &'a KeyCache,
}

fn config(opts: &SshOptions, target: &Target, hop: &Target, mode: KeyMode) -> Arc<client::Config> {
    let mut preferred = russh::Preferred::default();
    if mode == KeyMode::Strict {
        // Ask first for the key types known_hosts records for this hop, as OpenSSH does: a
        // server that also has a key of a type it prefers must show the one we know.
        if let Ok(recorded) = known_hosts::recorded(&opts.known_hosts, &hop.host, hop.port) {
            let kinds: Vec<russh::keys::Algorithm> =
                recorded.iter().map(|(_, k)| k.algorithm()).collect();
            preferred.key = std::borrow::Cow::Owned(recorded_first(&preferred.key, &kinds));
        }
    }
    Arc::new(client::Config {
        keepalive_interval: Some(target.keepalive.unwrap_or(opts.keepalive_interval)),
        keepalive_max: 3,
        nodelay: true,
        preferred,
        ..client::Config::default()
    })
}

/// `defaults` reordered: the algorithms of the recorded key types first (every RSA
/// signature hash for a recorded `ssh-rsa` key), the rest after, in their own order.
fn recorded_first(
    defaults: &[russh::keys::Algorithm],
    recorded: &[russh::keys::Algorithm],
) -> Vec<russh::keys::Algorithm> {
    use russh::keys::Algorithm;
    let same_kind = |a: &Algorithm, b: &Algorithm| {
        a == b || matches!((a, b), (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }))
    };
    let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) = defaults
        .iter()
        .cloned()
        .partition(|a| recorded.iter().any(|r| same_kind(a, r)));
    first.extend(rest);
    first
}

/// Connect through every hop to `target` and authenticate on each. `on_drop` is called when
/// the final session ends. Not bounded in time: the caller bounds it.
pub async fn connect(
    ctx: &Ctx<'_>,
    target: &Target,
    on_drop: Box<dyn FnOnce() + Send>,
) -> Result<Connected, HostError> {
    let hops = target.hops();
    let mut jumps: Vec<Handle<Client>> = Vec::new();
    let mut on_drop = Some(on_drop);
    for (i, hop) in hops.iter().enumerate() {
        let last = i + 1 == hops.len();
        let drop_hook = if last { on_drop.take() } else { None };
        let mut handle = open_hop(ctx, target, hop, jumps.last(), KeyMode::Strict, drop_hook)
            .await?
            .session(ctx, hop)?;
        let auth = authenticate(ctx, target, hop, &mut handle).await?;
        if last {
            return Ok(Connected {
                handle,
                jumps,
                auth,
            });
        }
        jumps.push(handle);
    }
    Err(HostError::Connect {
        host: ctx.name.to_string(),
        target: target.to_string(),
        reason: "no hop to connect to".into(),
    })
}

/// Connect through the jumps (strictly, authenticated) and stop at the last hop right after
/// the key exchange, returning the key it showed.
pub async fn capture_key(
    ctx: &Ctx<'_>,
    target: &Target,
    hops: &[Target],
) -> Result<SeenKey, HostError> {
    let mut jumps: Vec<Handle<Client>> = Vec::new();
    for (i, hop) in hops.iter().enumerate() {
        if i + 1 == hops.len() {
            return match open_hop(ctx, target, hop, jumps.last(), KeyMode::Capture, None).await? {
                Opened::Key(seen) => Ok(seen),
                Opened::Session(_) => Err(HostError::Connect {
                    host: ctx.name.to_string(),
                    target: hop.hop_label(),
                    reason: "unexpected: the key check was skipped".into(),
                }),
            };
        }
        let mut handle = open_hop(ctx, target, hop, jumps.last(), KeyMode::Strict, None)
            .await?
            .session(ctx, hop)?;
        authenticate(ctx, target, hop, &mut handle).await?;
        jumps.push(handle);
    }
    Err(HostError::Connect {
        host: ctx.name.to_string(),
        target: target.to_string(),
        reason: "no hop to connect to".into(),
    })
}

/// TCP (or a direct-tcpip tunnel through `via`) and the SSH handshake with `hop`. In capture
/// mode the handshake always ends in a refusal; the key is returned instead of a handle.
async fn open_hop(
    ctx: &Ctx<'_>,
    target: &Target,
    hop: &Target,
    via: Option<&Handle<Client>>,
    mode: KeyMode,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
) -> Result<Opened, HostError> {
    let seen = Arc::new(Mutex::new(None));
    let handler = Client {
        host: hop.host.clone(),
        port: hop.port,
        known_hosts: ctx.opts.known_hosts.clone(),
        mode,
        seen: seen.clone(),
        on_drop,
    };
    let connect_err = |reason: String| HostError::Connect {
        host: ctx.name.to_string(),
        target: if hop.host == target.host && hop.port == target.port {
            target.to_string()
        } else {
            format!("jump host {}", hop.hop_label())
        },
        reason,
    };
    let cfg = config(ctx.opts, target, hop, mode);
    let result = match via {
        None => {
            let tcp = tokio::net::TcpStream::connect((hop.host.as_str(), hop.port))
                .await
                .map_err(|e| connect_err(format!("TCP connection failed: {e}")))?;
            handshake(cfg, tcp, handler).await
        }
        Some(prev) => {
            let ch = prev
                .channel_open_direct_tcpip(hop.host.clone(), u32::from(hop.port), "127.0.0.1", 0)
                .await
                .map_err(|e| {
                    connect_err(format!(
                        "the previous hop would not open a tunnel to {}:{}: {e}",
                        hop.host, hop.port
                    ))
                })?;
            handshake(cfg, ch.into_stream(), handler).await
        }
    };
    let seen_key = seen.lock().ok().and_then(|s| s.clone());
    match (result, mode, seen_key) {
        (Ok(handle), KeyMode::Strict, _) => Ok(Opened::Session(handle)),
        // In capture mode our handler refuses every key, so the handshake ends here.
        (_, KeyMode::Capture, Some(seen)) => Ok(Opened::Key(seen)),
        (Err(e), KeyMode::Strict, Some(seen)) => Err(key_error(ctx, hop, &seen)
            .unwrap_or_else(|| connect_err(format!("SSH handshake failed: {e}")))),
        (Err(e), _, None) => Err(connect_err(format!("SSH handshake failed: {e}"))),
        (Ok(_), KeyMode::Capture, None) => Err(connect_err("the server showed no host key".into())),
    }
}

/// The end of a handshake: a session, or (capture mode) the key the server showed.
enum Opened {
    Session(Handle<Client>),
    Key(SeenKey),
}

impl Opened {
    fn session(self, ctx: &Ctx<'_>, hop: &Target) -> Result<Handle<Client>, HostError> {
        match self {
            Opened::Session(h) => Ok(h),
            Opened::Key(_) => Err(HostError::Connect {
                host: ctx.name.to_string(),
                target: hop.hop_label(),
                reason: "unexpected: the handshake stopped after the key exchange".into(),
            }),
        }
    }
}

async fn handshake<R>(
    cfg: Arc<client::Config>,
    stream: R,
    handler: Client,
) -> Result<Handle<Client>, russh::Error>
where
    R: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    client::connect_stream(cfg, stream, handler).await
}

/// The refusal that explains a rejected host key; `None` when the key was accepted.
fn key_error(ctx: &Ctx<'_>, hop: &Target, seen: &SeenKey) -> Option<HostError> {
    let key = Box::new(HostKeyInfo {
        target: hop.hop_label(),
        key_type: known_hosts::key_type(&seen.key),
        fingerprint: known_hosts::fingerprint(&seen.key),
        known_hosts: ctx.opts.known_hosts.display().to_string(),
    });
    match &seen.verdict {
        Ok(Verdict::Known) => None,
        Ok(Verdict::Unknown) => Some(HostError::HostKeyUnknown {
            host: ctx.name.to_string(),
            key,
        }),
        Ok(Verdict::Changed { line }) => Some(HostError::HostKeyChanged {
            host: ctx.name.to_string(),
            key,
            line: *line,
        }),
        Ok(Verdict::Revoked { line }) => Some(HostError::HostKeyRevoked {
            host: ctx.name.to_string(),
            key,
            line: *line,
        }),
        Err(reason) => Some(HostError::Connect {
            host: ctx.name.to_string(),
            target: hop.hop_label(),
            reason: format!("cannot check the host key: {reason}"),
        }),
    }
}

/// Try the agent, then key files; the method that worked (`agent`, `key:<path>`).
async fn authenticate(
    ctx: &Ctx<'_>,
    target: &Target,
    hop: &Target,
    handle: &mut Handle<Client>,
) -> Result<String, HostError> {
    let mut tried: Vec<String> = Vec::new();
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();

    if let Some(sock) = &ctx.opts.agent_socket {
        match agent_auth(handle, &hop.user, sock).await {
            Ok(true) => return Ok("agent".into()),
            Ok(false) => tried.push("agent: no key it holds was accepted".into()),
            Err(e) => tried.push(format!("agent: {e}")),
        }
    }

    let explicit = !hop.identity_files.is_empty();
    let files = if explicit {
        hop.identity_files.clone()
    } else {
        ctx.opts.default_identities.clone()
    };
    for path in files {
        if !path.exists() {
            if explicit {
                tried.push(format!("key:{}: no such file", path.display()));
            }
            continue;
        }
        let key = match load_key(ctx, &path).await {
            Ok(k) => k,
            Err(why) => {
                tried.push(format!("key:{}: {why}", path.display()));
                continue;
            }
        };
        let hash = if key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        match handle
            .authenticate_publickey(&hop.user, PrivateKeyWithHashAlg::new(key, hash))
            .await
        {
            Ok(AuthResult::Success) => return Ok(format!("key:{}", path.display())),
            Ok(_) => tried.push(format!("key:{}: not accepted", path.display())),
            Err(e) => tried.push(format!("key:{}: {e}", path.display())),
        }
    }
    if tried.is_empty() {
        tried.push("no agent (SSH_AUTH_SOCK unset) and no key file found".into());
    }
    Err(HostError::Auth {
        host: ctx.name.to_string(),
        target: if hop.host == target.host && hop.port == target.port {
            target.to_string()
        } else {
            format!("jump host {}", hop.hop_label())
        },
        user: hop.user.clone(),
        tried: tried.join("; "),
    })
}

/// Why the ssh-agent could not be used (one entry of "what was tried").
#[derive(Debug, thiserror::Error)]
enum AgentError {
    #[error("cannot connect to {path}: {detail}")]
    Connect { path: String, detail: String },
    #[error("cannot list keys: {0}")]
    List(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Why a key file could not be used (one entry of "what was tried").
#[derive(Debug, thiserror::Error)]
enum KeyError {
    #[error("encrypted, and no passphrase was given (set OPSDECK_SSH_PASSPHRASE, or add the key to ssh-agent)")]
    NoPassphrase,
    #[error("cannot decrypt it: wrong passphrase?")]
    WrongPassphrase,
    #[error("cannot read it: {0}")]
    Unreadable(russh::keys::Error),
}

async fn agent_auth(
    handle: &mut Handle<Client>,
    user: &str,
    sock: &std::path::Path,
) -> Result<bool, AgentError> {
    let mut agent = AgentClient::connect_uds(sock)
        .await
        .map_err(|e| AgentError::Connect {
            path: sock.display().to_string(),
            detail: e.to_string(),
        })?;
    let ids = agent
        .request_identities()
        .await
        .map_err(|e| AgentError::List(e.to_string()))?;
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    for id in ids {
        let AgentIdentity::PublicKey { key, .. } = id else {
            continue;
        };
        let hash = if key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        match handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            Ok(AuthResult::Success) => return Ok(true),
            Ok(_) => {}
            Err(e) => return Err(AgentError::Sign(e.to_string())),
        }
    }
    Ok(false)
}

/// Load (and decrypt) a key file; the reason as text when it cannot be used.
async fn load_key(ctx: &Ctx<'_>, path: &std::path::Path) -> Result<Arc<PrivateKey>, KeyError> {
    if let Some(k) = ctx.keys.lock().ok().and_then(|c| c.get(path).cloned()) {
        return Ok(k);
    }
    let key = match russh::keys::load_secret_key(path, None) {
        Ok(k) => k,
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let mut pass = ctx.opts.passphrase.clone();
            if pass.is_none() {
                if let Some(src) = &ctx.opts.passphrase_source {
                    pass = src.passphrase(ctx.name, path).await;
                }
            }
            let Some(pass) = pass else {
                return Err(KeyError::NoPassphrase);
            };
            russh::keys::load_secret_key(path, Some(&pass))
                .map_err(|_| KeyError::WrongPassphrase)?
        }
        Err(e) => return Err(KeyError::Unreadable(e)),
    };
    let key = Arc::new(key);
    if let Ok(mut c) = ctx.keys.lock() {
        c.insert(path.to_path_buf(), key.clone());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::{Algorithm, HashAlg};

    #[test]
    fn recorded_key_types_are_asked_for_first() {
        let defaults = russh::Preferred::default().key.to_vec();
        assert_ne!(defaults[0], Algorithm::Rsa { hash: None }, "{defaults:?}");
        // known_hosts says `ssh-rsa`: every RSA signature algorithm moves to the front.
        let order = recorded_first(&defaults, &[Algorithm::Rsa { hash: None }]);
        let rsa = order
            .iter()
            .take_while(|a| matches!(a, Algorithm::Rsa { .. }))
            .count();
        assert!(rsa >= 2, "{order:?}");
        assert!(order.contains(&Algorithm::Rsa {
            hash: Some(HashAlg::Sha512)
        }));
        assert_eq!(order.len(), defaults.len(), "nothing dropped");
        // Nothing recorded (or ed25519, already first): the defaults as they are.
        assert_eq!(recorded_first(&defaults, &[]), defaults);
        assert_eq!(
            recorded_first(&defaults, &[Algorithm::Ed25519])[0],
            Algorithm::Ed25519
        );
    }
}
