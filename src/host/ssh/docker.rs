//! The Docker API over SSH, without the `ssh` binary or the docker CLI: each HTTP connection
//! is a direct-streamlocal channel to the engine's socket on the host (or a direct-tcpip
//! channel when the host's engine listens on `tcp://`), spoken to with hyper's HTTP/1 client
//! (upgrades on, for attached exec) under bollard's custom transport. A few connections that
//! finished their response are kept ready for the next request.

use super::Inner;
use crate::host::HostError;
use bollard::BollardRequest;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, HOST};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Ready connections kept per host.
const POOL_MAX: usize = 4;
/// How long one Docker API call may take to answer (streams may then run on).
const DOCKER_TIMEOUT_SECS: u64 = 30;

type ReqBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Why a `docker_socket` value cannot be used over SSH.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    #[error("docker_socket {0:?}: expected tcp://HOST:PORT")]
    NoTcpPort(String),
    #[error("docker_socket {0:?}: over SSH use a socket path, unix://PATH or tcp://HOST:PORT")]
    Scheme(String),
    #[error("docker_socket {0:?}: the socket path must be absolute")]
    Relative(String),
}

/// How the engine is reached from the host: a unix socket path, or TCP (`tcp://h:p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Dial {
    Unix(String),
    Tcp(String, u16),
}

impl Dial {
    /// `/var/run/docker.sock`, `unix:///...`, `tcp://127.0.0.1:2375` or `http://...`.
    pub(super) fn parse(s: &str) -> Result<Self, SocketError> {
        if let Some(rest) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let rest = rest.trim_end_matches('/');
            let (host, port) = rest
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
                .ok_or_else(|| SocketError::NoTcpPort(s.to_string()))?;
            return Ok(Dial::Tcp(host.to_string(), port));
        }
        if s.contains("://") && !s.starts_with("unix://") {
            return Err(SocketError::Scheme(s.to_string()));
        }
        let path = s.strip_prefix("unix://").unwrap_or(s);
        if !path.starts_with('/') {
            return Err(SocketError::Relative(s.to_string()));
        }
        Ok(Dial::Unix(path.to_string()))
    }
}

impl fmt::Display for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dial::Unix(p) => f.write_str(p),
            Dial::Tcp(h, p) => write!(f, "tcp://{h}:{p}"),
        }
    }
}

#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<Vec<SendRequest<ReqBody>>>,
    /// The version-negotiated client; its transport reconnects by itself.
    client: tokio::sync::Mutex<Option<bollard::Docker>>,
}

/// The host's Docker client. Checks the SSH session first, so an unreachable host fails here.
pub(super) async fn client(inner: &Arc<Inner>) -> Result<bollard::Docker, HostError> {
    inner.session().await?;
    let mut cached = inner.docker.client.lock().await;
    if let Some(d) = cached.as_ref() {
        return Ok(d.clone());
    }
    let fail = |reason: String| HostError::Docker {
        host: inner.name.clone(),
        socket: format!("ssh://{} → {}", inner.target, inner.socket),
        reason,
    };
    // Weak: the client is cached inside `inner`, so a strong reference would keep the host
    // (and its SSH connection) alive forever.
    let transport = {
        let weak = Arc::downgrade(inner);
        move |req: BollardRequest| {
            let weak = weak.clone();
            Box::pin(async move {
                let inner = weak.upgrade().ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotConnected,
                        "the host handle this Docker client belongs to was dropped",
                    )
                })?;
                send(&inner, req).await
            })
        }
    };
    let docker = bollard::Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        DOCKER_TIMEOUT_SECS,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| fail(super::super::describe_engine_error(&e)))?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| fail(super::super::describe_engine_error(&e)))?;
    *cached = Some(docker.clone());
    Ok(docker)
}

async fn send(
    inner: &Arc<Inner>,
    req: BollardRequest,
) -> Result<hyper::Response<hyper::body::Incoming>, bollard::errors::Error> {
    let (mut parts, body) = req.into_parts();
    // Over a socket the request line carries the path only; the engine wants a Host header.
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    parts.uri = path.parse()?;
    parts
        .headers
        .insert(HOST, HeaderValue::from_static("api.moby.localhost"));
    let req = hyper::Request::from_parts(parts, body.boxed_unsync());
    let mut sender = sender(inner).await?;
    sender.ready().await?;
    let response = sender.send_request(req).await;
    // The connection becomes ready again once this response's body is read; the pool only
    // hands out connections that are ready at that moment.
    give_back(inner, sender);
    Ok(response?)
}

/// A ready pooled connection, or a new channel to the socket.
async fn sender(inner: &Arc<Inner>) -> Result<SendRequest<ReqBody>, bollard::errors::Error> {
    if let Ok(mut idle) = inner.docker.idle.lock() {
        idle.retain(|s| !s.is_closed());
        if let Some(i) = idle.iter().position(|s| s.is_ready()) {
            return Ok(idle.swap_remove(i));
        }
    }
    let dial = inner.socket.clone();
    let channel = inner
        .open("the Docker socket", |h| {
            let dial = dial.clone();
            async move {
                match dial {
                    Dial::Unix(path) => h.channel_open_direct_streamlocal(path).await,
                    Dial::Tcp(host, port) => {
                        h.channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
                            .await
                    }
                }
            }
        })
        .await
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e.to_string()))?;
    let io = TokioIo::new(channel.into_stream());
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("docker connection over SSH ended: {e}");
        }
    });
    Ok(sender)
}

fn give_back(inner: &Arc<Inner>, sender: SendRequest<ReqBody>) {
    if sender.is_closed() {
        return;
    }
    if let Ok(mut idle) = inner.docker.idle.lock() {
        idle.retain(|s| !s.is_closed());
        if idle.len() < POOL_MAX {
            idle.push(sender);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Dial;

    #[test]
    fn docker_endpoints_over_ssh() {
        assert_eq!(
            Dial::parse("/var/run/docker.sock"),
            Ok(Dial::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            Dial::parse("unix:///run/user/1000/docker.sock"),
            Ok(Dial::Unix("/run/user/1000/docker.sock".into()))
        );
        assert_eq!(
            Dial::parse("tcp://127.0.0.1:2375"),
            Ok(Dial::Tcp("127.0.0.1".into(), 2375))
        );
        assert_eq!(
            Dial::parse("http://[::1]:2375/"),
            Ok(Dial::Tcp("::1".into(), 2375))
        );
        assert!(Dial::parse("npipe:////./pipe/docker").is_err());
        assert!(Dial::parse("docker.sock").is_err());
        assert!(Dial::parse("tcp://host").is_err());
    }
}
