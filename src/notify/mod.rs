//! The notify adapter: one alert message out through a webhook (JSON), Slack, ntfy,
//! Telegram's bot API or SMTP. Errors never carry the destination's URL or token (they are
//! secrets: a Slack or Telegram URL is its own password); they name the kind and host only.

mod email;

use crate::http::{self, Target};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// One alert, in the shapes the channels want.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Short: `FIRING shop-public: HTTP 502` / `RESOLVED ...`.
    pub title: String,
    /// The whole message, plain text.
    pub text: String,
    /// The webhook's JSON document.
    pub json: serde_json::Value,
}

/// Where one alert goes, with its secrets already read from the environment.
#[derive(Clone)]
pub enum Channel {
    Webhook {
        url: String,
    },
    Slack {
        url: String,
    },
    Ntfy {
        url: String,
    },
    Telegram {
        api: String,
        token: String,
        chat_id: String,
    },
    Email(email::Smtp),
}

pub use email::Smtp;

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Channel::Webhook { .. } => "Channel::Webhook",
            Channel::Slack { .. } => "Channel::Slack",
            Channel::Ntfy { .. } => "Channel::Ntfy",
            Channel::Telegram { .. } => "Channel::Telegram",
            Channel::Email(_) => "Channel::Email",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{kind}: bad URL: {detail}")]
    Url { kind: &'static str, detail: String },
    #[error("{kind}: {host}: {detail}")]
    Connect {
        kind: &'static str,
        host: String,
        detail: String,
    },
    #[error("{kind}: {host} answered HTTP {status}: {body}")]
    Status {
        kind: &'static str,
        host: String,
        status: u16,
        body: String,
    },
    #[error("{kind}: {host}: no answer within {secs}s")]
    Timeout {
        kind: &'static str,
        host: String,
        secs: u64,
    },
    #[error("email: {0}")]
    Email(String),
}

/// Send `n` through `ch` within `timeout`.
pub async fn send(ch: &Channel, n: &Notice, timeout: Duration) -> Result<(), NotifyError> {
    match ch {
        Channel::Webhook { url } => {
            let body = serde_json::to_vec(&n.json).unwrap_or_default();
            post("webhook", url, "application/json", &[], body, timeout).await
        }
        Channel::Slack { url } => {
            let body =
                serde_json::to_vec(&serde_json::json!({ "text": n.text })).unwrap_or_default();
            post("slack", url, "application/json", &[], body, timeout).await
        }
        Channel::Ntfy { url } => {
            let title = n.title.replace(['\r', '\n'], " ");
            let headers = [("Title", title.as_str()), ("Tags", "rotating_light")];
            let body = n.text.clone().into_bytes();
            post(
                "ntfy",
                url,
                "text/plain; charset=utf-8",
                &headers,
                body,
                timeout,
            )
            .await
        }
        Channel::Telegram {
            api,
            token,
            chat_id,
        } => {
            let url = format!("{}/bot{token}/sendMessage", api.trim_end_matches('/'));
            let body = serde_json::to_vec(&serde_json::json!({
                "chat_id": chat_id,
                "text": n.text,
                "disable_web_page_preview": true,
            }))
            .unwrap_or_default();
            post("telegram", &url, "application/json", &[], body, timeout).await
        }
        Channel::Email(smtp) => email::send(smtp, n, timeout).await,
    }
}

/// POST `body` to `url`; any 2xx is success.
async fn post(
    kind: &'static str,
    url: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), NotifyError> {
    let t = http::parse_url(url).map_err(|e| NotifyError::Url {
        kind,
        // The URL error quotes the URL: only its masked form is said.
        detail: crate::secrets::mask_text(&e.to_string()).replace(url, "<url>"),
    })?;
    let host = t.host.clone();
    match tokio::time::timeout(timeout, post_inner(kind, &t, content_type, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(NotifyError::Timeout {
            kind,
            host,
            secs: timeout.as_secs(),
        }),
    }
}

async fn post_inner(
    kind: &'static str,
    t: &Target,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(), NotifyError> {
    let connect_err = |detail: String| NotifyError::Connect {
        kind,
        host: t.host.clone(),
        detail,
    };
    let addr = if t.host.contains(':') {
        format!("[{}]:{}", t.host, t.port)
    } else if http::is_loopback_name(&t.host) {
        format!("127.0.0.1:{}", t.port)
    } else {
        format!("{}:{}", t.host, t.port)
    };
    let (io, _) = http::connect(t, &addr, &t.host)
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| connect_err(format!("HTTP handshake: {e}")))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let host_value = if (t.tls && t.port == 443) || (!t.tls && t.port == 80) {
        t.host.clone()
    } else {
        format!("{}:{}", t.host, t.port)
    };
    let mut req = hyper::Request::post(&t.path)
        .header(hyper::header::HOST, host_value)
        .header(
            hyper::header::USER_AGENT,
            concat!("opsdeck/", env!("CARGO_PKG_VERSION")),
        )
        .header(hyper::header::CONTENT_TYPE, content_type)
        .header(hyper::header::CONTENT_LENGTH, body.len())
        .header(hyper::header::CONNECTION, "close");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| connect_err(format!("building the request: {e}")))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| connect_err(format!("request: {e}")))?;
    let status = resp.status().as_u16();
    let text = match tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect()).await
    {
        Ok(Ok(b)) => String::from_utf8_lossy(&b.to_bytes())
            .trim()
            .chars()
            .take(200)
            .collect(),
        _ => String::new(),
    };
    driver.abort();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(NotifyError::Status {
            kind,
            host: t.host.clone(),
            status,
            body: crate::secrets::mask_text(&text),
        })
    }
}
