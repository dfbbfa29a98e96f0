//! Reading a published dump as a stream, manifests (read, write, list), and deleting a backup.

use super::client::{call, describe, fetch, send, Answer, S3Error};
use super::{QUICK, S3, SIGNED_FOR};
use crate::storage::{dump_name, manifest_name, StorageError};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::body::Bytes;
use rusty_s3::actions::{DeleteObject, GetObject, ListObjectsV2, PutObject};
use rusty_s3::S3Action;
use std::time::Duration;

impl S3 {
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

    async fn get_small(&self, key: &str) -> Result<Option<Bytes>, S3Error> {
        let url = GetObject::new(&self.bucket, Some(&self.creds), key).sign(SIGNED_FOR);
        let what = format!("reading {key}");
        let a = fetch(hyper::Method::GET, url, Bytes::new(), QUICK, &what).await?;
        match a.status {
            200..=299 => Ok(Some(a.body)),
            404 => Ok(None),
            _ => Err(S3Error::refused(&what, &a)),
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

    pub(super) async fn delete_key(&self, key: &str) -> Result<(), S3Error> {
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
