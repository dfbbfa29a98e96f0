//! `dir`: a directory on this machine. The dump streams from the container over the host's
//! Docker connection straight into `ID.dump.partial` (mode 0600: a dump holds all the data),
//! which is fsynced and renamed to `ID.dump`; manifests are written to a temporary file and
//! renamed.

use super::{
    dump_name, manifest_name, partial_name, pull, stale_partial, Pending, Progress, Sink, Staged,
    StorageError, TransferError,
};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

pub struct Dir {
    pub name: String,
    pub path: PathBuf,
}

struct FileSink {
    file: tokio::fs::File,
    path: PathBuf,
}

impl Sink for FileSink {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), TransferError> {
        self.file
            .write_all(bytes)
            .await
            .map_err(|source| TransferError::Write {
                path: self.path.display().to_string(),
                source,
            })
    }
}

impl Dir {
    pub fn new(name: &str, path: &str) -> Self {
        Self {
            name: name.to_string(),
            path: PathBuf::from(path),
        }
    }

    fn failed(&self, what: impl std::fmt::Display) -> StorageError {
        StorageError::failed(&self.name, what)
    }

    pub async fn dump(
        &self,
        src: super::Source<'_>,
        id: &str,
        progress: Progress<'_>,
    ) -> Result<Staged, StorageError> {
        tokio::fs::create_dir_all(&self.path)
            .await
            .map_err(|e| self.failed(format!("{}: {e}", self.path.display())))?;
        self.remove_stale(id).await;
        let partial = self.path.join(partial_name(id));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .await
            .map_err(|e| self.failed(format!("{}: {e}", partial.display())))?;
        let mut sink = FileSink {
            file,
            path: partial.clone(),
        };
        let result = async {
            let (size, sha256) = pull(src, &mut sink, progress).await?;
            sink.file
                .sync_all()
                .await
                .map_err(|source| TransferError::Sync {
                    path: partial.display().to_string(),
                    source,
                })?;
            Ok::<_, TransferError>((size, sha256))
        }
        .await;
        drop(sink);
        match result {
            Ok((size, sha256)) => Ok(Staged {
                size,
                sha256,
                pending: Pending::File,
            }),
            Err(e) => {
                self.discard(id).await;
                Err(self.failed(e))
            }
        }
    }

    /// Partial dumps of this database's earlier backups that died.
    async fn remove_stale(&self, id: &str) {
        let Ok(mut rd) = tokio::fs::read_dir(&self.path).await else {
            return;
        };
        while let Ok(Some(entry)) = rd.next_entry().await {
            if stale_partial(&entry.file_name().to_string_lossy(), id) {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }

    pub async fn publish(&self, id: &str) -> Result<(), StorageError> {
        let partial = self.path.join(partial_name(id));
        let final_path = self.path.join(dump_name(id));
        if let Err(e) = tokio::fs::rename(&partial, &final_path).await {
            self.discard(id).await;
            return Err(self.failed(format!("publishing {}: {e}", final_path.display())));
        }
        // The rename itself must survive a crash.
        if let Ok(d) = tokio::fs::File::open(&self.path).await {
            let _ = d.sync_all().await;
        }
        Ok(())
    }

    pub async fn discard(&self, id: &str) {
        let _ = tokio::fs::remove_file(self.path.join(partial_name(id))).await;
    }

    pub async fn open(&self, id: &str) -> Result<tokio::fs::File, StorageError> {
        let p = self.path.join(dump_name(id));
        tokio::fs::File::open(&p)
            .await
            .map_err(|e| self.reading(id, &p, e))
    }

    /// A missing file is a missing backup; anything else a failure naming the file.
    fn reading(&self, id: &str, p: &std::path::Path, e: std::io::Error) -> StorageError {
        if e.kind() == std::io::ErrorKind::NotFound {
            StorageError::not_found(&self.name, id)
        } else {
            self.failed(format!("{}: {e}", p.display()))
        }
    }

    pub async fn read_manifest(&self, id: &str) -> Result<Vec<u8>, StorageError> {
        let p = self.path.join(manifest_name(id));
        tokio::fs::read(&p)
            .await
            .map_err(|e| self.reading(id, &p, e))
    }

    pub async fn write_manifest(&self, id: &str, json: &[u8]) -> Result<(), StorageError> {
        let tmp = self.path.join(format!(".{id}.json.tmp"));
        let path = self.path.join(manifest_name(id));
        tokio::fs::write(&tmp, json)
            .await
            .map_err(|e| self.failed(format!("{}: {e}", tmp.display())))?;
        tokio::fs::rename(&tmp, &path).await.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.failed(format!("{}: {e}", path.display()))
        })
    }

    /// The manifests that have their dump beside them.
    pub async fn manifests(&self) -> Result<Vec<Vec<u8>>, StorageError> {
        let mut out = Vec::new();
        let mut rd = match tokio::fs::read_dir(&self.path).await {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(self.failed(format!("{}: {e}", self.path.display()))),
        };
        while let Ok(Some(entry)) = rd.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            if name.starts_with('.') || !self.path.join(dump_name(id)).is_file() {
                continue;
            }
            if let Ok(bytes) = tokio::fs::read(entry.path()).await {
                out.push(bytes);
            }
        }
        Ok(out)
    }

    pub async fn delete(&self, id: &str) -> Result<(), StorageError> {
        for name in [dump_name(id), manifest_name(id)] {
            let p = self.path.join(name);
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.failed(format!("{}: {e}", p.display()))),
            }
        }
        Ok(())
    }
}
