//! `s3`: an S3 bucket (AWS, R2, MinIO, anything speaking the S3 API). Requests are signed by
//! rusty-s3 (presigned URLs, SigV4) and sent over our own HTTP/1 client (hyper + rustls, the
//! same connection code as the health probes).
//!
//! A dump is a multipart upload of 8 MiB parts: the object does not exist until
//! `CompleteMultipartUpload`, which is sent only after the dump exited 0 and every part was
//! acknowledged with its ETag; then a `HEAD` must show the size we sent. Any failure aborts the
//! upload, so no partial object is ever visible. Credentials come from `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`); the region from the storage's `region`,
//! `AWS_REGION` or `AWS_DEFAULT_REGION`. Errors never carry signed URLs.

use super::{
    dump_name, manifest_name, pull, InContainer, Pending, Progress, Sink, Staged, StorageError,
};
use crate::inventory::StorageSpec;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rusty_s3::actions::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, DeleteObject, GetObject,
    HeadObject, ListObjectsV2, PutObject, UploadPart,
};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::time::Duration;

/// Multipart part size (S3's minimum for all but the last part is 5 MiB).
const PART: usize = 8 << 20;
/// How long a signed request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// Waiting for response headers (a part upload includes sending 8 MiB).
const SLOW: Duration = Duration::from_secs(600);
const QUICK: Duration = Duration::from_secs(60);

pub struct S3 {
    pub name: String,
    bucket: Bucket,
    creds: Credentials,
    prefix: String,
}

/// An answer read whole (small responses only).
struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl S3 {
    pub fn new(name: &str, spec: &StorageSpec) -> Result<Self, String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let bucket_name = spec
            .bucket
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or("no bucket")?;
        let region = spec
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let (endpoint, style) = match &spec.endpoint {
            Some(e) => (e.clone(), UrlStyle::Path),
            None => (
                format!("https://s3.{region}.amazonaws.com"),
                UrlStyle::VirtualHost,
            ),
        };
        let url: url::Url = endpoint
            .parse()
            .map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
        let bucket = Bucket::new(url, style, bucket_name, region)
            .map_err(|e| format!("bucket at {endpoint:?}: {e}"))?;
        let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)".into(),
            );
        };
        let creds = match env("AWS_SESSION_TOKEN") {
            Some(t) => Credentials::new_with_token(key, secret, t),
            None => Credentials::new(key, secret),
        };
        let prefix = spec
            .prefix
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .map(|p| format!("{p}/"))
            .unwrap_or_default();
        Ok(Self {
            name: name.to_string(),
            bucket,
            creds,
            prefix,
        })
    }

    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket.name(), self.prefix)
    }

    fn key(&self, name: String) -> String {
        format!("{}{name}", self.prefix)
    }

    fn failed(&self, what: impl std::fmt::Display) -> StorageError {
        StorageError::failed(&self.name, what)
    }

    pub async fn dump(
        &self,
        src: InContainer<'_>,
        id: &str,
        progress: Progress<'_>,
    ) -> Result<Staged, StorageError> {
        let key = self.key(dump_name(id));
        let url =
            CreateMultipartUpload::new(&self.bucket, Some(&self.creds), &key).sign(SIGNED_FOR);
        let created = call(
            hyper::Method::POST,
            url,
            Bytes::new(),
            QUICK,
            &format!("starting the upload of {key}"),
        )
        .await
        .map_err(|e| self.failed(e))?;
        let upload_id =
            CreateMultipartUpload::parse_response(&String::from_utf8_lossy(&created.body))
                .map_err(|e| self.failed(format!("starting the upload of {key}: {e}")))?
                .upload_id()
                .to_string();
        let mut sink = Parts {
            s3: self,
            key: key.clone(),
            upload_id: upload_id.clone(),
            buf: Vec::with_capacity(PART + (256 << 10)),
            etags: Vec::new(),
            inflight: None,
        };
        let result = async {
            let (size, sha256) = pull(src, &mut sink, progress).await?;
            sink.finish().await?;
            Ok::<_, String>((size, sha256))
        }
        .await;
        match result {
            Ok((size, sha256)) => Ok(Staged {
                size,
                sha256,
                pending: Pending::Multipart {
                    upload_id,
                    etags: std::mem::take(&mut sink.etags),
                },
            }),
            Err(e) => {
                self.abort(id, &upload_id).await;
                Err(self.failed(e))
            }
        }
    }

    /// Complete the multipart upload, then check the object's size.
    pub async fn publish(&self, id: &str, staged: Staged) -> Result<(), StorageError> {
        let Pending::Multipart { upload_id, etags } = staged.pending else {
            return Err(self.failed("nothing staged to publish"));
        };
        let key = self.key(dump_name(id));
        let action = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&self.creds),
            &key,
            &upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let body = action.body();
        let done = call(
            hyper::Method::POST,
            url,
            Bytes::from(body),
            SLOW,
            &format!("completing the upload of {key}"),
        )
        .await;
        // S3 may answer 200 and still report an error in the body.
        let done = done.and_then(|a| {
            let text = String::from_utf8_lossy(&a.body);
            if text.contains("<Error>") {
                Err(format!(
                    "completing the upload of {key} refused: {}",
                    describe(&a)
                ))
            } else {
                Ok(())
            }
        });
        if let Err(e) = done {
            self.abort(id, &upload_id).await;
            return Err(self.failed(e));
        }
        // Confirm: the object is there with every byte.
        let url = HeadObject::new(&self.bucket, Some(&self.creds), &key).sign(SIGNED_FOR);
        let head = call(
            hyper::Method::HEAD,
            url,
            Bytes::new(),
            QUICK,
            &format!("checking {key}"),
        )
        .await;
        let stored = head.as_ref().ok().and_then(|a| {
            a.headers
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        });
        if stored != Some(staged.size) {
            let _ = self.delete_key(&key).await;
            return Err(self.failed(match head {
                Err(e) => e,
                Ok(_) => format!(
                    "{key}: the bucket holds {} bytes, {} were sent; the object was removed",
                    stored.map_or("an unknown number of".to_string(), |n| n.to_string()),
                    staged.size
                ),
            }));
        }
        Ok(())
    }

    pub async fn abort(&self, id: &str, upload_id: &str) {
        let key = self.key(dump_name(id));
        let url = AbortMultipartUpload::new(&self.bucket, Some(&self.creds), &key, upload_id)
            .sign(SIGNED_FOR);
        if let Err(e) = call(hyper::Method::DELETE, url, Bytes::new(), QUICK, "abort").await {
            tracing::warn!(storage = %self.name, key, "aborting the multipart upload: {e}");
        }
    }

    /// The dump `id` as a byte stream.
    pub async fn open(
        &self,
        id: &str,
    ) -> Result<impl tokio::io::AsyncRead + Unpin + Send, StorageError> {
        let key = self.key(dump_name(id));
        let url = GetObject::new(&self.bucket, Some(&self.creds), &key).sign(SIGNED_FOR);
        let resp = send(hyper::Method::GET, url, Bytes::new(), QUICK)
            .await
            .map_err(|e| self.failed(format!("downloading {key}: {e}")))?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Err(StorageError::not_found(&self.name, id));
        }
        if !(200..300).contains(&status) {
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Err(self.failed(format!(
                "downloading {key} refused: {}",
                describe(&Answer {
                    status,
                    headers,
                    body
                })
            )));
        }
        let frames = futures_util::stream::unfold(resp.into_body(), |mut body| async move {
            match tokio::time::timeout(Duration::from_secs(120), body.frame()).await {
                Err(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the download stalled for 120s",
                    )),
                    body,
                )),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), body)),
                Ok(Some(Ok(frame))) => Some((Ok(frame.into_data().unwrap_or_default()), body)),
            }
        })
        .filter(|r| std::future::ready(r.as_ref().map_or(true, |b| !b.is_empty())));
        Ok(tokio_util::io::StreamReader::new(Box::pin(frames)))
    }

    async fn get_small(&self, key: &str) -> Result<Option<Bytes>, String> {
        let url = GetObject::new(&self.bucket, Some(&self.creds), key).sign(SIGNED_FOR);
        let what = format!("reading {key}");
        let a = fetch(hyper::Method::GET, url, Bytes::new(), QUICK, &what).await?;
        match a.status {
            200..=299 => Ok(Some(a.body)),
            404 => Ok(None),
            _ => Err(format!("{what} refused: {}", describe(&a))),
        }
    }

    pub async fn read_manifest(&self, id: &str) -> Result<Vec<u8>, StorageError> {
        match self.get_small(&self.key(manifest_name(id))).await {
            Ok(Some(b)) => Ok(b.to_vec()),
            Ok(None) => Err(StorageError::not_found(&self.name, id)),
            Err(e) => Err(self.failed(e)),
        }
    }

    pub async fn write_manifest(&self, id: &str, json: Vec<u8>) -> Result<(), StorageError> {
        let key = self.key(manifest_name(id));
        let url = PutObject::new(&self.bucket, Some(&self.creds), &key).sign(SIGNED_FOR);
        call(
            hyper::Method::PUT,
            url,
            Bytes::from(json),
            QUICK,
            &format!("writing {key}"),
        )
        .await
        .map(|_| ())
        .map_err(|e| self.failed(e))
    }

    /// Every manifest under the prefix whose dump is there too.
    pub async fn manifests(&self) -> Result<Vec<Vec<u8>>, StorageError> {
        let mut keys = std::collections::BTreeSet::new();
        let mut token: Option<String> = None;
        loop {
            let mut list = ListObjectsV2::new(&self.bucket, Some(&self.creds));
            if !self.prefix.is_empty() {
                list.with_prefix(self.prefix.as_str());
            }
            if let Some(t) = &token {
                list.with_continuation_token(t.clone());
            }
            let url = list.sign(SIGNED_FOR);
            let a = call(
                hyper::Method::GET,
                url,
                Bytes::new(),
                QUICK,
                &format!("listing {}", self.location()),
            )
            .await
            .map_err(|e| self.failed(e))?;
            let page = ListObjectsV2::parse_response(&String::from_utf8_lossy(&a.body))
                .map_err(|e| self.failed(format!("listing {}: {e}", self.location())))?;
            keys.extend(page.contents.into_iter().map(|c| c.key));
            match page.next_continuation_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        let mut out = Vec::new();
        for key in &keys {
            let Some(stem) = key.strip_suffix(".json") else {
                continue;
            };
            if !keys.contains(&format!("{stem}.dump")) {
                continue;
            }
            if let Some(b) = self.get_small(key).await.map_err(|e| self.failed(e))? {
                out.push(b.to_vec());
            }
        }
        Ok(out)
    }

    async fn delete_key(&self, key: &str) -> Result<(), String> {
        let url = DeleteObject::new(&self.bucket, Some(&self.creds), key).sign(SIGNED_FOR);
        call(
            hyper::Method::DELETE,
            url,
            Bytes::new(),
            QUICK,
            &format!("deleting {key}"),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete(&self, id: &str) -> Result<(), StorageError> {
        self.delete_key(&self.key(dump_name(id)))
            .await
            .map_err(|e| self.failed(e))?;
        self.delete_key(&self.key(manifest_name(id)))
            .await
            .map_err(|e| self.failed(e))
    }
}

/// Send one request; the response comes back with its body unread.
pub(super) async fn send(
    method: hyper::Method,
    url: url::Url,
    body: Bytes,
    wait: Duration,
) -> Result<hyper::Response<Incoming>, String> {
    let tls = url.scheme() == "https";
    let host = url
        .host_str()
        .ok_or("the endpoint has no host")?
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or("the endpoint has no port")?;
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
            .map_err(|e| format!("HTTP handshake with {host}: {e}"))?;
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
            .map_err(|e| format!("building the request: {e}"))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| format!("{host}: {e}"))
    };
    tokio::time::timeout(wait, exchange)
        .await
        .map_err(|_| format!("no answer from {host} within {}s", wait.as_secs()))?
}

/// Send a request and read its (small) answer; a non-2xx status is an error naming `what`
/// and S3's error code and message.
async fn call(
    method: hyper::Method,
    url: url::Url,
    body: Bytes,
    wait: Duration,
    what: &str,
) -> Result<Answer, String> {
    let answer = fetch(method, url, body, wait, what).await?;
    if (200..300).contains(&answer.status) {
        Ok(answer)
    } else {
        Err(format!("{what} refused: {}", describe(&answer)))
    }
}

/// Send a request and read its (small) answer, whatever its status.
async fn fetch(
    method: hyper::Method,
    url: url::Url,
    body: Bytes,
    wait: Duration,
    what: &str,
) -> Result<Answer, String> {
    let resp = send(method, url, body, wait)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = tokio::time::timeout(QUICK, resp.into_body().collect())
        .await
        .map_err(|_| format!("{what}: the answer did not finish within 60s"))?
        .map_err(|e| format!("{what}: {e}"))?
        .to_bytes();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// The multipart upload being written: whole parts go out as they fill, one part uploading
/// while the next one fills (so the dump is not paused for every part's round trip).
struct Parts<'a> {
    s3: &'a S3,
    key: String,
    upload_id: String,
    buf: Vec<u8>,
    etags: Vec<String>,
    inflight: Option<tokio::task::JoinHandle<Result<String, String>>>,
}

impl Parts<'_> {
    /// Wait for the part in flight and keep its ETag.
    async fn settle(&mut self) -> Result<(), String> {
        if let Some(h) = self.inflight.take() {
            let etag = h
                .await
                .map_err(|e| format!("uploading a part of {}: {e}", self.key))??;
            self.etags.push(etag);
        }
        Ok(())
    }

    /// Send the buffer as the next part (after the previous one is acknowledged).
    async fn flush(&mut self) -> Result<(), String> {
        self.settle().await?;
        let number = u16::try_from(self.etags.len() + 1)
            .ok()
            .filter(|n| *n <= 10_000)
            .ok_or("the dump needs more than 10000 parts (80 GB)")?;
        let url = UploadPart::new(
            &self.s3.bucket,
            Some(&self.s3.creds),
            &self.key,
            number,
            &self.upload_id,
        )
        .sign(SIGNED_FOR);
        let body = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(PART + (256 << 10)),
        ));
        let what = format!("uploading part {number} of {}", self.key);
        self.inflight = Some(tokio::spawn(upload_part(url, body, what)));
        Ok(())
    }

    /// Every byte sent and acknowledged.
    async fn finish(&mut self) -> Result<(), String> {
        if !self.buf.is_empty() || (self.etags.is_empty() && self.inflight.is_none()) {
            self.flush().await?;
        }
        self.settle().await
    }
}

impl Drop for Parts<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.inflight.take() {
            h.abort();
        }
    }
}

impl Sink for Parts<'_> {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= PART {
            self.flush().await?;
        }
        Ok(())
    }
}

/// Sends of one part before the upload is given up: a part that failed for a reason that may
/// pass (the connection dropped, no answer, S3 busy or failing: 5xx, 429, RequestTimeout) is
/// sent again, the same bytes, after a pause; a refusal (403, 404, ...) is final at once.
const PART_ATTEMPTS: u32 = 3;

/// PUT one part; its ETag.
async fn upload_part(url: url::Url, body: Bytes, what: String) -> Result<String, String> {
    let mut attempt = 1;
    loop {
        let problem = match fetch(hyper::Method::PUT, url.clone(), body.clone(), SLOW, &what).await
        {
            Ok(a) if (200..300).contains(&a.status) => {
                return a
                    .headers
                    .get(hyper::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .ok_or_else(|| format!("{what}: no ETag in the answer"));
            }
            Ok(a) if !may_pass(&a) => return Err(format!("{what} refused: {}", describe(&a))),
            Ok(a) => format!("{what} refused: {}", describe(&a)),
            Err(e) => e,
        };
        if attempt >= PART_ATTEMPTS {
            return Err(format!("{problem} (sent {attempt} times)"));
        }
        tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        attempt += 1;
    }
}

/// Whether an S3 error answer may go away if the request is sent again.
fn may_pass(a: &Answer) -> bool {
    let d = describe(a);
    a.status >= 500
        || a.status == 429
        || d.ends_with(" RequestTimeout")
        || d.contains(" RequestTimeout:")
}

/// `HTTP 403 AccessDenied: Access Denied` from an answer.
fn describe(a: &Answer) -> String {
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
