//! Traefik's API (`/api/http/routers`), reached from the proxy's host (through its TCP
//! forward for SSH hosts). Plain HTTP: the API listens on the host's loopback.

use crate::host::Host;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A router as Traefik reports it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ApiRouter {
    /// `NAME@provider`.
    pub name: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub rule: String,
    #[serde(
        default,
        rename(deserialize = "entryPoints"),
        deserialize_with = "null_vec"
    )]
    pub entrypoints: Vec<String>,
    #[serde(default)]
    pub service: String,
    /// `enabled`, `disabled` or `warning`.
    #[serde(default)]
    pub status: String,
    #[serde(default, rename(deserialize = "error"), deserialize_with = "null_vec")]
    pub errors: Vec<String>,
}

/// Traefik writes `null` for an empty list.
fn null_vec<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl ApiRouter {
    pub fn ok(&self) -> bool {
        self.status == "enabled" && self.errors.is_empty()
    }
}

/// GET `base` + `path` and return the status and the whole body (at most 8 MiB).
pub async fn get(
    host: &Host,
    base: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let t = crate::http::parse_url(base)?;
    if t.tls {
        return Err(format!(
            "{base}: the Traefik API is reached over plain http"
        ));
    }
    let fut = async {
        let fwd = host
            .forward_tcp(&t.host, t.port)
            .await
            .map_err(|e| format!("{base}: {e}"))?;
        let tcp = tokio::net::TcpStream::connect(fwd.addr())
            .await
            .map_err(|e| format!("connect {}:{}: {e}", t.host, t.port))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("{base}: HTTP handshake: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let full = format!("{}{}", t.path.trim_end_matches('/'), path);
        let req = hyper::Request::get(&full)
            .header(hyper::header::HOST, format!("{}:{}", t.host, t.port))
            .header(hyper::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("building the request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("GET {base}{path}: {e}"))?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            let f = frame.map_err(|e| format!("GET {base}{path}: {e}"))?;
            if let Some(d) = f.data_ref() {
                buf.extend_from_slice(d);
            }
            if buf.len() > 8 << 20 {
                return Err(format!("GET {base}{path}: the answer is larger than 8 MiB"));
            }
        }
        driver.abort();
        drop(fwd);
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("GET {base}{path}: no answer within {} s", timeout.as_secs()))?
}

/// Every HTTP router Traefik has loaded (all providers).
pub async fn routers(host: &Host, api: &str) -> Result<Vec<ApiRouter>, String> {
    let mut all = Vec::new();
    // The API pages its lists (100 per page by default).
    for page in 1..=50 {
        let (status, body) = get(
            host,
            api,
            &format!("/api/http/routers?per_page=100&page={page}"),
            Duration::from_secs(10),
        )
        .await?;
        if status != 200 {
            return Err(format!(
                "{api}/api/http/routers answered {status}: {}",
                body.chars().take(200).collect::<String>()
            ));
        }
        let list: Vec<ApiRouter> = serde_json::from_str(&body)
            .map_err(|e| format!("{api}/api/http/routers: unexpected answer: {e}"))?;
        let n = list.len();
        all.extend(list);
        if n < 100 {
            break;
        }
    }
    Ok(all)
}

/// One router by its `NAME@provider`; `Ok(None)` when Traefik does not know it.
pub async fn router(host: &Host, api: &str, name: &str) -> Result<Option<ApiRouter>, String> {
    let (status, body) = get(
        host,
        api,
        &format!("/api/http/routers/{name}"),
        Duration::from_secs(10),
    )
    .await?;
    match status {
        200 => serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| format!("{api}: unexpected answer for router {name}: {e}")),
        404 => Ok(None),
        s => Err(format!(
            "{api}/api/http/routers/{name} answered {s}: {}",
            body.chars().take(200).collect::<String>()
        )),
    }
}

/// The server URLs of a load-balancer service by its `NAME@provider`; `Ok(None)` when Traefik
/// does not know it.
pub async fn service_servers(
    host: &Host,
    api: &str,
    name: &str,
) -> Result<Option<Vec<String>>, String> {
    let (status, body) = get(
        host,
        api,
        &format!("/api/http/services/{name}"),
        Duration::from_secs(10),
    )
    .await?;
    match status {
        200 => {
            let v: serde_json::Value = serde_json::from_str(&body)
                .map_err(|e| format!("{api}: unexpected answer for service {name}: {e}"))?;
            let mut urls: Vec<String> = v["loadBalancer"]["servers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s["url"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            urls.sort();
            Ok(Some(urls))
        }
        404 => Ok(None),
        s => Err(format!(
            "{api}/api/http/services/{name} answered {s}: {}",
            body.chars().take(200).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_traefiks_answer() {
        let body = r#"[{"name":"a@file","status":"enabled","error":null,"entryPoints":["web"],"provider":"file","rule":"Host(`a.test`)","service":"a"},
            {"name":"bad@file","status":"disabled","error":["entryPoint \"nope\" doesn't exist"],"entryPoints":["nope"]}]"#;
        let r: Vec<ApiRouter> = serde_json::from_str(body).expect("parses");
        assert!(r[0].ok() && !r[1].ok());
        assert_eq!(r[1].errors.len(), 1);
    }
}
