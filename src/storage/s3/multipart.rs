//! A dump as a multipart upload: 8 MiB parts sent as they fill (one in flight while the next
//! fills, each sent again when the failure may pass), completed only after the dump exited 0,
//! then checked by its size; any failure aborts the upload.

use super::client::{call, fetch, may_pass, S3Error};
use super::{QUICK, S3, SIGNED_FOR, SLOW};
use crate::storage::{
    dump_name, pull, Pending, Progress, Sink, Staged, StorageError, TransferError,
};
use hyper::body::Bytes;
use rusty_s3::actions::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, HeadObject, UploadPart,
};
use rusty_s3::S3Action;
use std::time::Duration;

/// Multipart part size (S3's minimum for all but the last part is 5 MiB).
const PART: usize = 8 << 20;

impl S3 {
    pub async fn dump(
        &self,
        src: crate::storage::Source<'_>,
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
            Ok::<_, TransferError>((size, sha256))
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
                Err(S3Error::refused(
                    &format!("completing the upload of {key}"),
                    &a,
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
            return Err(match head {
                Err(e) => self.failed(e),
                Ok(_) => self.failed(format!(
                    "{key}: the bucket holds {} bytes, {} were sent; the object was removed",
                    stored.map_or("an unknown number of".to_string(), |n| n.to_string()),
                    staged.size
                )),
            });
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
}

/// The multipart upload being written: whole parts go out as they fill, one part uploading
/// while the next one fills (so the dump is not paused for every part's round trip).
struct Parts<'a> {
    s3: &'a S3,
    key: String,
    upload_id: String,
    buf: Vec<u8>,
    etags: Vec<String>,
    inflight: Option<tokio::task::JoinHandle<Result<String, S3Error>>>,
}

impl Parts<'_> {
    /// Wait for the part in flight and keep its ETag.
    async fn settle(&mut self) -> Result<(), S3Error> {
        if let Some(h) = self.inflight.take() {
            let etag = h.await.map_err(|e| S3Error::PartTask {
                key: self.key.clone(),
                detail: e.to_string(),
            })??;
            self.etags.push(etag);
        }
        Ok(())
    }

    /// Send the buffer as the next part (after the previous one is acknowledged).
    async fn flush(&mut self) -> Result<(), S3Error> {
        self.settle().await?;
        let number = u16::try_from(self.etags.len() + 1)
            .ok()
            .filter(|n| *n <= 10_000)
            .ok_or(S3Error::TooManyParts)?;
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
    async fn finish(&mut self) -> Result<(), S3Error> {
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
    async fn put(&mut self, bytes: &[u8]) -> Result<(), TransferError> {
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
async fn upload_part(url: url::Url, body: Bytes, what: String) -> Result<String, S3Error> {
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
                    .ok_or_else(|| S3Error::NoEtag { what: what.clone() });
            }
            Ok(a) if !may_pass(&a) => return Err(S3Error::refused(&what, &a)),
            Ok(a) => S3Error::refused(&what, &a),
            Err(e) => e,
        };
        if attempt >= PART_ATTEMPTS {
            return Err(S3Error::GaveUp {
                problem: Box::new(problem),
                attempts: attempt,
            });
        }
        tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        attempt += 1;
    }
}
