//! The HTTP adapter: one GET probe of a URL, from here or through a host (its TCP forward),
//! with status, latency, a snippet of the body, and the TLS certificate's expiry for https.

use crate::host::Host;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

/// The result of one probe. `error` is set when no HTTP answer came back.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Probe {
    pub url: String,
    pub status: Option<u16>,
    /// Connect to response headers, in milliseconds.
    pub latency_ms: Option<f64>,
    /// The first bytes of the body (trimmed, at most 200 characters).
    pub body: Option<String>,
    pub error: Option<String>,
    /// For https: when the server's certificate expires (RFC 3339).
    pub cert_not_after: Option<String>,
    pub at: String,
}

impl Probe {
    /// Whether the probe counts as up: `expect` if given, else any 2xx.
    pub fn is_up(&self, expect: Option<u16>) -> bool {
        match (self.status, expect) {
            (Some(s), Some(e)) => s == e,
            (Some(s), None) => (200..300).contains(&s),
            _ => false,
        }
    }
}

/// A URL split into what a probe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Why a probe URL cannot be used; each names the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?} is not a URL")]
    NotAUrl(String),
    #[error("{url:?}: scheme {scheme:?} is not http or https")]
    Scheme { url: String, scheme: String },
    #[error("{0:?}: bad IPv6 address")]
    BadIpv6(String),
    #[error("{0:?} has no host")]
    NoHost(String),
    #[error("{url:?}: bad port {port:?}")]
    BadPort { url: String, port: String },
}

/// For callers that still carry errors as text.
impl From<UrlError> for String {
    fn from(e: UrlError) -> Self {
        e.to_string()
    }
}

/// Why a connection (TCP, then TLS for https) could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect {host}:{port}: {source}")]
    Tcp {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    /// The extra CA file named by `SSL_CERT_FILE` cannot be read.
    #[error("SSL_CERT_FILE {path}: {detail}")]
    CertFile { path: String, detail: String },
    #[error("TLS name {name:?}: {detail}")]
    TlsName { name: String, detail: String },
    #[error("TLS: {0}")]
    Tls(String),
}

/// Why a probe got no HTTP answer (the text goes into [`Probe::error`]).
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Forward(#[from] crate::host::HostError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("HTTP handshake: {0}")]
    Handshake(hyper::Error),
    #[error("building the request: {0}")]
    Request(hyper::http::Error),
    #[error("request: {0}")]
    Send(hyper::Error),
}

pub fn parse_url(url: &str) -> Result<Target, UrlError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| UrlError::NotAUrl(url.to_string()))?;
    let tls = match scheme {
        "http" => false,
        "https" => true,
        other => {
            return Err(UrlError::Scheme {
                url: url.to_string(),
                scheme: other.to_string(),
            })
        }
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let authority = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| UrlError::BadIpv6(url.to_string()))?;
        (h.to_string(), after.strip_prefix(':').map(str::to_string))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost(url.to_string()));
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| UrlError::BadPort {
            url: url.to_string(),
            port: p.clone(),
        })?,
        None if tls => 443,
        None => 80,
    };
    Ok(Target {
        tls,
        host,
        port,
        path,
    })
}

pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A TCP connection to `addr`, wrapped in TLS (checked against `sni`) when `t` is https;
/// with the certificate's expiry. Shared by the probe and the S3 client.
pub(crate) async fn connect(
    t: &Target,
    addr: &str,
    sni: &str,
) -> Result<(Box<dyn Io>, Option<String>), ConnectError> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|source| ConnectError::Tcp {
            host: t.host.clone(),
            port: t.port,
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    if t.tls {
        let (stream, not_after) = tls_connect(tcp, sni).await?;
        Ok((Box::new(stream), not_after))
    } else {
        Ok((Box::new(tcp), None))
    }
}

/// GET `url` (with `host_header` instead of the URL's host when given), through `via` when
/// given, within `timeout`. Never fails: problems are in `error`.
pub async fn probe(
    url: &str,
    timeout: Duration,
    via: Option<&Host>,
    host_header: Option<&str>,
) -> Probe {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut p = Probe {
        url: url.to_string(),
        status: None,
        latency_ms: None,
        body: None,
        error: None,
        cert_not_after: None,
        at,
    };
    match tokio::time::timeout(timeout, probe_inner(url, via, host_header, &mut p)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => p.error = Some(e.to_string()),
        Err(_) => p.error = Some(format!("no answer within {} ms", timeout.as_millis())),
    }
    p
}

/// RFC 6761: `localhost` and every `*.localhost` name are loopback, whatever the system
/// resolver says (glibc without systemd-resolved knows only `localhost` itself).
pub fn is_loopback_name(name: &str) -> bool {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    lower == "localhost" || lower.ends_with(".localhost")
}

/// The address to dial for a URL's host: `*.localhost` is dialled as 127.0.0.1.
fn dial_host(host: &str) -> &str {
    if is_loopback_name(host) {
        "127.0.0.1"
    } else {
        host
    }
}

async fn probe_inner(
    url: &str,
    via: Option<&Host>,
    host_header: Option<&str>,
    p: &mut Probe,
) -> Result<(), ProbeError> {
    let t = parse_url(url)?;
    let started = Instant::now();
    // Keep the forward alive for the whole request.
    let forward = match via {
        Some(h) => Some(h.forward_tcp(dial_host(&t.host), t.port).await?),
        None => None,
    };
    let addr = match &forward {
        Some(f) => f.addr(),
        None if t.host.contains(':') => format!("[{}]:{}", t.host, t.port),
        None => format!("{}:{}", dial_host(&t.host), t.port),
    };
    let sni = host_header
        .map(|h| h.split(':').next().unwrap_or(h))
        .unwrap_or(&t.host);
    let (io, not_after) = connect(&t, &addr, sni).await?;
    p.cert_not_after = not_after;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(ProbeError::Handshake)?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let host_value = host_header.map(str::to_string).unwrap_or_else(|| {
        if (t.tls && t.port == 443) || (!t.tls && t.port == 80) {
            t.host.clone()
        } else {
            format!("{}:{}", t.host, t.port)
        }
    });
    let req = hyper::Request::get(&t.path)
        .header(hyper::header::HOST, host_value)
        .header(
            hyper::header::USER_AGENT,
            concat!("opsdeck/", env!("CARGO_PKG_VERSION")),
        )
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(ProbeError::Request)?;
    let resp = sender.send_request(req).await.map_err(ProbeError::Send)?;
    p.latency_ms = Some((started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0);
    p.status = Some(resp.status().as_u16());
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    while buf.len() < 512 {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    buf.extend_from_slice(d);
                }
            }
            _ => break,
        }
    }
    let text: String = String::from_utf8_lossy(&buf)
        .trim()
        .chars()
        .take(200)
        .collect();
    p.body = (!text.is_empty()).then_some(text);
    driver.abort();
    drop(forward);
    Ok(())
}

async fn tls_connect(
    tcp: tokio::net::TcpStream,
    sni: &str,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        Option<String>,
    ),
    ConnectError,
> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // An internal CA (step-ca, a company CA): SSL_CERT_FILE adds its certificates, as
    // OpenSSL-based tools do.
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        use rustls::pki_types::pem::PemObject;
        let shown = std::path::Path::new(&path).display().to_string();
        let cert_file = |e: &dyn std::fmt::Display| ConnectError::CertFile {
            path: shown.clone(),
            detail: e.to_string(),
        };
        let certs =
            rustls::pki_types::CertificateDer::pem_file_iter(&path).map_err(|e| cert_file(&e))?;
        for c in certs {
            let c = c.map_err(|e| cert_file(&e))?;
            roots.add(c).map_err(|e| cert_file(&e))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ConnectError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).map_err(|e| {
        ConnectError::TlsName {
            name: sni.to_string(),
            detail: e.to_string(),
        }
    })?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| ConnectError::Tls(e.to_string()))?;
    let not_after = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|der| x509_parser::parse_x509_certificate(der.as_ref()).ok())
        .and_then(|(_, cert)| {
            chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        })
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    Ok((stream, not_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("https://shop.example.com/health?x=1").expect("url");
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "shop.example.com", 443, "/health?x=1")
        );
        let t = parse_url("http://127.0.0.1:18081").expect("url");
        assert_eq!((t.port, t.path.as_str()), (18081, "/"));
        let t = parse_url("http://[::1]:8080/x").expect("url");
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        for bad in ["ftp://x", "x", "http://", "http://h:notaport/"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn probes_a_real_server_and_reports_failures() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if req.to_ascii_lowercase().contains("host: shop.example.com") {
                    "routed"
                } else {
                    "ok"
                };
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let p = probe(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(5),
            None,
            None,
        )
        .await;
        assert_eq!(p.status, Some(200), "{p:?}");
        assert_eq!(p.body.as_deref(), Some("ok"));
        assert!(p.is_up(None) && !p.is_up(Some(204)));
        let p = probe(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_secs(5),
            None,
            Some("shop.example.com"),
        )
        .await;
        assert_eq!(p.body.as_deref(), Some("routed"));
        // Nothing listens on port 1.
        let p = probe("http://127.0.0.1:1/", Duration::from_secs(5), None, None).await;
        assert!(
            p.status.is_none() && p.error.as_deref().is_some_and(|e| e.contains("connect")),
            "{p:?}"
        );
    }
}
