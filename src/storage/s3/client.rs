//! One request to S3: signed URL in, answer (status, headers, small body) out, and S3's
//! error code and message read from an error answer.

use super::QUICK;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// Why a request to S3 failed. The texts never carry the signed URL.
#[derive(Debug, thiserror::Error)]
pub(crate) enum S3Error {
    #[error("the endpoint has no host")]
    NoHost,
    #[error("the endpoint has no port")]
    NoPort,
    #[error(transparent)]
    Connect(#[from] crate::http::ConnectError),
    #[error("HTTP handshake with {host}: {source}")]
    Handshake { host: String, source: hyper::Error },
    #[error("building the request: {0}")]
    Request(hyper::http::Error),
    #[error("{host}: {source}")]
    Send { host: String, source: hyper::Error },
    #[error("no answer from {host} within {secs}s")]
    NoAnswer { host: String, secs: u64 },
    /// One of the above, while doing `what` ("reading KEY").
    #[error("{what}: {source}")]
    While { what: String, source: Box<S3Error> },
    #[error("{what}: the answer did not finish within 60s")]
    AnswerStalled { what: String },
    #[error("{what}: {source}")]
    AnswerBroke { what: String, source: hyper::Error },
    /// S3 answered with an error: its status, code and message ([`describe`]).
    #[error("{what} refused: {answer}")]
    Refused { what: String, answer: String },
    #[error("{what}: no ETag in the answer")]
    NoEtag { what: String },
    #[error("{problem} (sent {attempts} times)")]
    GaveUp {
        problem: Box<S3Error>,
        attempts: u32,
    },
    #[error("the dump needs more than 10000 parts (80 GB)")]
    TooManyParts,
    #[error("uploading a part of {key}: {detail}")]
    PartTask { key: String, detail: String },
}

impl S3Error {
    /// The error answer `a` to doing `what`.
    pub(super) fn refused(what: &str, a: &Answer) -> Self {
        S3Error::Refused {
            what: what.to_string(),
            answer: describe(a),
        }
    }
}

/// An answer read whole (small responses only).
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: hyper::HeaderMap,
    pub(super) body: Bytes,
}

/// Send one request; the response comes back with its body unread.
pub(super) async fn send(
    method: hyper::Method,
    url: url::Url,
    body: Bytes,
    wait: Duration,
) -> Result<hyper::Response<Incoming>, S3Error> {
    let tls = url.scheme() == "https";
    let host = url.host_str().ok_or(S3Error::NoHost)?.to_string();
    let port = url.port_or_known_default().ok_or(S3Error::NoPort)?;
    let target = crate::http::Target {
        tls,
        host: host.trim_matches(['[', ']']).to_string(),
        port,
        path: url[url::Position::BeforePath..].to_string(),
    };
    let addr = format!("{host}:{port}");
    let sni = target.host.clone();
    let exchange = async {
        let (io, _) = crate::http::connect(&target, &addr, &sni).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|source| S3Error::Handshake {
                host: host.clone(),
                source,
            })?;
        // Drives the connection until the response body is read (or dropped).
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let req = hyper::Request::builder()
            .method(method)
            .uri(&target.path)
            .header(hyper::header::HOST, host_header)
            .header(hyper::header::CONTENT_LENGTH, body.len())
            .header(
                hyper::header::USER_AGENT,
                concat!("opsdeck/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            .map_err(S3Error::Request)?;
        sender
            .send_request(req)
            .await
            .map_err(|source| S3Error::Send {
                host: host.clone(),
                source,
            })
    };
    tokio::time::timeout(wait, exchange)
        .await
        .map_err(|_| S3Error::NoAnswer {
            host: host.clone(),
            secs: wait.as_secs(),
        })?
}

/// Send a request and read its (small) answer; a non-2xx status is an error naming `what`
/// and S3's error code and message.
pub(super) async fn call(
    method: hyper::Method,
    url: url::Url,
    body: Bytes,
    wait: Duration,
    what: &str,
) -> Result<Answer, S3Error> {
    let answer = fetch(method, url, body, wait, what).await?;
    if (200..300).contains(&answer.status) {
        Ok(answer)
    } else {
        Err(S3Error::refused(what, &answer))
    }
}

/// Send a request and read its (small) answer, whatever its status.
pub(super) async fn fetch(
    method: hyper::Method,
    url: url::Url,
    body: Bytes,
    wait: Duration,
    what: &str,
) -> Result<Answer, S3Error> {
    let resp = send(method, url, body, wait)
        .await
        .map_err(|e| S3Error::While {
            what: what.to_string(),
            source: Box::new(e),
        })?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = tokio::time::timeout(QUICK, resp.into_body().collect())
        .await
        .map_err(|_| S3Error::AnswerStalled {
            what: what.to_string(),
        })?
        .map_err(|source| S3Error::AnswerBroke {
            what: what.to_string(),
            source,
        })?
        .to_bytes();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Whether an S3 error answer may go away if the request is sent again.
pub(super) fn may_pass(a: &Answer) -> bool {
    let d = describe(a);
    a.status >= 500
        || a.status == 429
        || d.ends_with(" RequestTimeout")
        || d.contains(" RequestTimeout:")
}

/// `HTTP 403 AccessDenied: Access Denied` from an answer.
pub(super) fn describe(a: &Answer) -> String {
    let text = String::from_utf8_lossy(&a.body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&close)? + start;
        Some(text[start..end].trim().to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("HTTP {} {c}: {m}", a.status),
        (Some(c), None) => format!("HTTP {} {c}", a.status),
        _ => format!("HTTP {}", a.status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_that_may_pass_are_sent_again() {
        let answer = |status, body: &'static [u8]| Answer {
            status,
            headers: hyper::HeaderMap::new(),
            body: Bytes::from_static(body),
        };
        assert!(may_pass(&answer(
            503,
            b"<Error><Code>SlowDown</Code></Error>"
        )));
        assert!(may_pass(&answer(500, b"")));
        assert!(may_pass(&answer(429, b"")));
        assert!(may_pass(&answer(
            400,
            b"<Error><Code>RequestTimeout</Code><Message>Your socket connection...</Message></Error>"
        )));
        assert!(!may_pass(&answer(
            403,
            b"<Error><Code>AccessDenied</Code></Error>"
        )));
        assert!(!may_pass(&answer(
            404,
            b"<Error><Code>NoSuchUpload</Code></Error>"
        )));
        assert!(!may_pass(&answer(
            400,
            b"<Error><Code>InvalidPart</Code></Error>"
        )));
    }

    #[test]
    fn s3_errors_name_the_code_and_message() {
        let a = Answer {
            status: 404,
            headers: hyper::HeaderMap::new(),
            body: Bytes::from_static(b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>"),
        };
        assert_eq!(
            describe(&a),
            "HTTP 404 NoSuchBucket: The specified bucket does not exist"
        );
        let a = Answer {
            status: 500,
            headers: hyper::HeaderMap::new(),
            body: Bytes::new(),
        };
        assert_eq!(describe(&a), "HTTP 500");
    }
}
