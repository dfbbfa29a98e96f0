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
//!
//! The parts: `client.rs` sends one signed request over our HTTP/1 client and reads S3's
//! answer and error codes; `multipart.rs` writes a dump as a multipart upload and publishes
//! or aborts it; `objects.rs` reads dumps and manifests, lists and deletes them.

mod client;
mod multipart;
mod objects;

pub(crate) use client::S3Error;

use super::StorageError;
use crate::inventory::StorageSpec;
use rusty_s3::{Bucket, Credentials, UrlStyle};
use std::time::Duration;

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
impl S3 {
    /// The storage `name` as `spec` says; a [`StorageError::Config`] when it cannot work.
    pub fn new(name: &str, spec: &StorageSpec) -> Result<Self, StorageError> {
        let config = |what: String| StorageError::Config {
            storage: name.to_string(),
            what,
        };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let bucket_name = spec
            .bucket
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| config("no bucket".into()))?;
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
            .map_err(|e| config(format!("endpoint {endpoint:?}: {e}")))?;
        let bucket = Bucket::new(url, style, bucket_name, region)
            .map_err(|e| config(format!("bucket at {endpoint:?}: {e}")))?;
        let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(config(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)".into(),
            ));
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
}
