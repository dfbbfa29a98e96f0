//! Where backups go: a directory on this machine (`dir`), a directory on the database's host
//! (`host-dir`: the dump never leaves that host), or an S3 bucket (`s3`).
//!
//! Every kind follows the same contract. [`Store::dump`] streams a command's output (pg_dump
//! in the database's container) into the storage as a *partial* object, hashing (sha256) as
//! it goes, and succeeds only when the command exited 0 and the data is stored. Nothing is
//! visible yet: [`Store::publish`] gives it its final name (rename; completing the S3
//! multipart upload, then checking its size), and the manifest is written after that, so a
//! backup exists exactly when its manifest and its dump both do. A failure at any point removes
//! the partial ([`Store::discard`]; an aborted multipart upload on S3).
//!
//! [`Store::feed`] streams a published dump into a command's stdin (pg_restore), hashing what
//! it sends, so a restore proves the bytes it used are the ones the manifest names.

mod dir;
mod host_dir;
mod manifest;
mod s3;
pub use manifest::{FileEntry, Manifest};
pub mod tar_index;

use crate::docker::exec;
use crate::host::Host;
use crate::inventory::{StorageKind, StorageSpec};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage {storage}: no backup {id}")]
    NotFound { storage: String, id: String },
    /// The storage is configured in a way that cannot work (missing credentials, bad URL).
    #[error("storage {storage}: {what}")]
    Config { storage: String, what: String },
    #[error("storage {storage}: {what}")]
    Failed { storage: String, what: String },
}

impl StorageError {
    pub(crate) fn failed(storage: &str, what: impl std::fmt::Display) -> Self {
        StorageError::Failed {
            storage: storage.to_string(),
            what: what.to_string(),
        }
    }
    pub(crate) fn not_found(storage: &str, id: &str) -> Self {
        StorageError::NotFound {
            storage: storage.to_string(),
            id: id.to_string(),
        }
    }
}

/// A command inside a container: the dump's source (its stdout) or the restore's sink (its
/// stdin).
pub struct InContainer<'a> {
    pub docker: &'a bollard::Docker,
    /// The container's id (the same engine the host's `docker` CLI talks to).
    pub container: &'a str,
    pub argv: Vec<String>,
    /// `KEY=VALUE` for the command (never on its command line).
    pub env: Vec<String>,
}

/// What a dump reads: a command's stdout in a container (pg_dump), or a stream of bytes
/// opsdeck already has (the engine's tar of a volume).
pub enum Source<'a> {
    Exec(InContainer<'a>),
    Stream {
        /// What the bytes are, for messages (`the tar of volume X`).
        what: String,
        bytes: futures_util::stream::BoxStream<'a, Result<bytes::Bytes, String>>,
    },
}

impl<'a> From<InContainer<'a>> for Source<'a> {
    fn from(c: InContainer<'a>) -> Self {
        Source::Exec(c)
    }
}

/// A dump stored as partial: not visible until [`Store::publish`].
#[derive(Debug)]
pub struct Staged {
    pub size: u64,
    pub sha256: String,
    pending: Pending,
}

#[derive(Debug)]
enum Pending {
    /// A `.partial` file (on this machine, or on the host for `host-dir`).
    File,
    /// An S3 multipart upload, not completed.
    Multipart {
        upload_id: String,
        etags: Vec<String>,
    },
}

/// What feeding a dump into a command gave.
#[derive(Debug)]
pub struct Fed {
    pub code: i64,
    /// The command's stdout (at most 1 MiB kept) and stderr.
    pub stdout: String,
    pub stderr: String,
    /// Of the bytes sent.
    pub sha256: String,
    pub size: u64,
}

/// Called with the number of bytes moved so far.
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);

pub enum Store<'h> {
    Dir(dir::Dir),
    HostDir(host_dir::HostDir<'h>),
    S3(s3::S3),
}

impl<'h> Store<'h> {
    /// The storage `name` as `spec` says; `host` is the database's host (where a `host-dir`
    /// lives). Credentials for S3 come from the standard AWS variables.
    pub fn open(name: &str, spec: &StorageSpec, host: &'h Host) -> Result<Self, StorageError> {
        let config = |what: String| StorageError::Config {
            storage: name.to_string(),
            what,
        };
        Ok(match spec.kind {
            StorageKind::Dir => Store::Dir(dir::Dir::new(
                name,
                spec.path
                    .as_deref()
                    .ok_or_else(|| config("no path".into()))?,
            )),
            StorageKind::HostDir => Store::HostDir(host_dir::HostDir::new(
                name,
                spec.path
                    .as_deref()
                    .ok_or_else(|| config("no path".into()))?,
                host,
            )),
            StorageKind::S3 => Store::S3(s3::S3::new(name, spec)?),
        })
    }

    /// Whether `spec` can be opened at all (S3 credentials, endpoint), without touching it:
    /// a plan refuses early rather than failing mid-action.
    pub fn check(name: &str, spec: &StorageSpec) -> Result<(), StorageError> {
        if spec.kind == StorageKind::S3 {
            s3::S3::new(name, spec)?;
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        match self {
            Store::Dir(s) => &s.name,
            Store::HostDir(s) => &s.name,
            Store::S3(s) => &s.name,
        }
    }

    /// Where the backups are, for messages: a path, `HOST:path`, or `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        match self {
            Store::Dir(s) => s.path.display().to_string(),
            Store::HostDir(s) => format!("{}:{}", s.host.name(), s.path.display()),
            Store::S3(s) => s.location(),
        }
    }

    /// Stream `src`'s stdout into a partial object named after `id` (see the module docs).
    /// On any failure the partial is gone when this returns.
    pub async fn dump(
        &self,
        src: impl Into<Source<'_>>,
        id: &str,
        progress: Progress<'_>,
    ) -> Result<Staged, StorageError> {
        let src = src.into();
        let staged = match self {
            Store::Dir(s) => s.dump(src, id, progress).await,
            Store::HostDir(s) => match src {
                Source::Exec(src) => s.dump(src, id, progress).await,
                Source::Stream { what, .. } => Err(StorageError::Config {
                    storage: s.name.clone(),
                    what: format!(
                        "a host-dir storage keeps dumps that a command on the host writes; {what} is not one: back it up to a dir or s3 storage"
                    ),
                }),
            },
            Store::S3(s) => s.dump(src, id, progress).await,
        }?;
        if staged.size == 0 {
            self.discard(id, staged).await;
            return Err(self.failed("the dump produced no data"));
        }
        Ok(staged)
    }

    /// Make a staged dump visible under its final name. On failure nothing is published.
    pub async fn publish(&self, id: &str, staged: Staged) -> Result<(), StorageError> {
        match self {
            Store::Dir(s) => s.publish(id).await,
            Store::HostDir(s) => s.publish(id).await,
            Store::S3(s) => s.publish(id, staged).await,
        }
    }

    /// Drop a staged dump (something after the dump failed).
    pub async fn discard(&self, id: &str, staged: Staged) {
        match (self, staged.pending) {
            (Store::Dir(s), _) => s.discard(id).await,
            (Store::HostDir(s), _) => s.discard(id).await,
            (Store::S3(s), Pending::Multipart { upload_id, .. }) => s.abort(id, &upload_id).await,
            (Store::S3(_), Pending::File) => {}
        }
    }

    /// Stream the published dump `id` into `into`'s stdin.
    pub async fn feed(
        &self,
        id: &str,
        into: InContainer<'_>,
        progress: Progress<'_>,
    ) -> Result<Fed, StorageError> {
        match self {
            Store::Dir(s) => {
                let f = s.open(id).await?;
                feed_reader(self.name(), f, into, progress).await
            }
            Store::HostDir(s) => s.feed(id, into, progress).await,
            Store::S3(s) => {
                let r = s.open(id).await?;
                feed_reader(self.name(), r, into, progress).await
            }
        }
    }

    /// The published dump `id`, to read (not for a host-dir: its dumps do not leave the host).
    pub async fn reader(
        &self,
        id: &str,
    ) -> Result<Box<dyn AsyncRead + Send + Unpin + '_>, StorageError> {
        match self {
            Store::Dir(s) => Ok(Box::new(s.open(id).await?)),
            Store::HostDir(s) => Err(StorageError::Config {
                storage: s.name.clone(),
                what: "its backups are read on its host only; volumes are backed up to dir or s3 storages".into(),
            }),
            Store::S3(s) => Ok(Box::new(s.open(id).await?)),
        }
    }

    pub async fn read_manifest(&self, id: &str) -> Result<Manifest, StorageError> {
        let bytes = match self {
            Store::Dir(s) => s.read_manifest(id).await,
            Store::HostDir(s) => s.read_manifest(id).await,
            Store::S3(s) => s.read_manifest(id).await,
        }?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.failed(format!("the manifest of {id} is not readable: {e}")))
    }

    /// Write (or replace) a manifest; atomic on every kind.
    pub async fn write_manifest(&self, m: &Manifest) -> Result<(), StorageError> {
        let json = serde_json::to_vec_pretty(m)
            .map_err(|e| self.failed(format!("manifest of {}: {e}", m.id)))?;
        match self {
            Store::Dir(s) => s.write_manifest(&m.id, &json).await,
            Store::HostDir(s) => s.write_manifest(&m.id, &json).await,
            Store::S3(s) => s.write_manifest(&m.id, json).await,
        }
    }

    /// Every published backup (of `db`, or of all), newest first.
    pub async fn list(&self, db: Option<&str>) -> Result<Vec<Manifest>, StorageError> {
        let raw = match self {
            Store::Dir(s) => s.manifests().await,
            Store::HostDir(s) => s.manifests().await,
            Store::S3(s) => s.manifests().await,
        }?;
        let mut out: Vec<Manifest> = raw
            .iter()
            .filter_map(|b| serde_json::from_slice::<Manifest>(b).ok())
            .filter(|m| db.is_none_or(|d| m.database == d))
            .collect();
        out.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    /// Remove a backup: its dump, then its manifest.
    pub async fn delete(&self, id: &str) -> Result<(), StorageError> {
        match self {
            Store::Dir(s) => s.delete(id).await,
            Store::HostDir(s) => s.delete(id).await,
            Store::S3(s) => s.delete(id).await,
        }
    }

    fn failed(&self, what: impl std::fmt::Display) -> StorageError {
        StorageError::failed(self.name(), what)
    }
}

/// Why moving a dump's bytes failed; [`StorageError`] adds which storage.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransferError {
    /// The command could not be started in its container.
    #[error("{program}: {detail}")]
    Start { program: String, detail: String },
    #[error("{program} stream: {detail}")]
    Stream { program: String, detail: String },
    /// The command's exit status could not be read.
    #[error("{0}")]
    Status(String),
    #[error("{program} exited with {code}: {stderr}")]
    Exited {
        program: String,
        code: String,
        stderr: String,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("syncing {path}: {source}")]
    Sync {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    S3(#[from] s3::S3Error),
}

/// Where a stream of dump bytes goes on this machine's side (a file, a multipart upload).
trait Sink {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), TransferError>;
}

/// Run `src` in its container and stream its stdout into `sink`, hashing; returns size and
/// sha256 once the command exited 0.
/// Bytes on their way into a sink: hashed, counted, progress every MiB.
struct Moved<'p> {
    hasher: Sha256,
    size: u64,
    last_report: u64,
    progress: Progress<'p>,
}

impl<'p> Moved<'p> {
    fn new(progress: Progress<'p>) -> Self {
        Self {
            hasher: Sha256::new(),
            size: 0,
            last_report: 0,
            progress,
        }
    }

    async fn put(&mut self, sink: &mut impl Sink, bytes: &[u8]) -> Result<(), TransferError> {
        self.hasher.update(bytes);
        sink.put(bytes).await?;
        self.size += bytes.len() as u64;
        if self.size - self.last_report >= 1 << 20 {
            (self.progress)(self.size);
            self.last_report = self.size;
        }
        Ok(())
    }

    fn done(self) -> (u64, String) {
        (self.progress)(self.size);
        (self.size, format!("{:x}", self.hasher.finalize()))
    }
}

/// Stream `src` into `sink`, hashing; returns size and sha256 once a command exited 0 (or a
/// stream ended without error).
async fn pull(
    src: Source<'_>,
    sink: &mut impl Sink,
    progress: Progress<'_>,
) -> Result<(u64, String), TransferError> {
    let mut moved = Moved::new(progress);
    let src = match src {
        Source::Exec(src) => src,
        Source::Stream { what, mut bytes } => {
            while let Some(chunk) = bytes.next().await {
                let chunk = chunk.map_err(|detail| TransferError::Stream {
                    program: what.clone(),
                    detail,
                })?;
                moved.put(sink, &chunk).await?;
            }
            return Ok(moved.done());
        }
    };
    let mut dump = exec::start_with_env(
        src.docker,
        src.container,
        src.argv.clone(),
        src.env.clone(),
        false,
    )
    .await
    .map_err(|e| TransferError::Start {
        program: program(&src.argv).to_string(),
        detail: crate::docker::describe_error(&e),
    })?;
    let mut stderr = String::new();
    while let Some(frame) = dump.output.next().await {
        match frame.map_err(|e| TransferError::Stream {
            program: program(&src.argv).to_string(),
            detail: crate::docker::describe_error(&e),
        })? {
            bollard::container::LogOutput::StdErr { message } => {
                if stderr.len() < 64 * 1024 {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
            }
            other => moved.put(sink, &other.into_bytes()).await?,
        }
    }
    let code = exec::exit_code(src.docker, &dump.id)
        .await
        .map_err(|e| TransferError::Status(crate::docker::describe_error(&e)))?;
    if code != Some(0) {
        return Err(TransferError::Exited {
            program: program(&src.argv).to_string(),
            code: code.map_or("no status".to_string(), |c| c.to_string()),
            stderr: stderr.trim().to_string(),
        });
    }
    Ok(moved.done())
}

fn program(argv: &[String]) -> &str {
    argv.first().map_or("the command", String::as_str)
}

/// Stream `reader` into `into`'s stdin, hashing what is sent; the command's exit status and
/// output come back.
async fn feed_reader(
    storage: &str,
    mut reader: impl AsyncRead + Unpin,
    into: InContainer<'_>,
    progress: Progress<'_>,
) -> Result<Fed, StorageError> {
    let failed = |what: String| StorageError::failed(storage, what);
    let mut s = exec::start(into.docker, into.container, into.argv.clone(), true)
        .await
        .map_err(|e| {
            failed(format!(
                "{}: {}",
                program(&into.argv),
                crate::docker::describe_error(&e)
            ))
        })?;
    let mut output = s.output;
    // Tells the writer below when the command's output has ended (it exited): a command that
    // stops early (`pg_restore --list` reads only the table of contents) must not leave us
    // blocked writing into a stdin nobody reads.
    let (ended_tx, mut ended) = tokio::sync::oneshot::channel::<()>();
    let collector = tokio::spawn(async move {
        let (mut out, mut err) = (String::new(), String::new());
        while let Some(Ok(frame)) = output.next().await {
            match frame {
                bollard::container::LogOutput::StdErr { message } => {
                    if err.len() < 64 * 1024 {
                        err.push_str(&String::from_utf8_lossy(&message))
                    }
                }
                other => {
                    if out.len() < 1 << 20 {
                        out.push_str(&String::from_utf8_lossy(&other.into_bytes()))
                    }
                }
            }
        }
        let _ = ended_tx.send(());
        (out, err)
    });
    let mut hasher = Sha256::new();
    let (mut size, mut last_report) = (0u64, 0u64);
    let mut buf = vec![0u8; 256 * 1024];
    let mut read_error = None;
    // Once the command stops reading, the rest of the backup is still read and hashed, so
    // the checksum always covers the whole object.
    let mut writing = true;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                read_error = Some(format!("reading the backup: {e}"));
                break;
            }
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        if size - last_report >= 1 << 20 {
            progress(size);
            last_report = size;
        }
        if writing {
            tokio::select! {
                r = s.input.write_all(&buf[..n]) => writing = r.is_ok(),
                _ = &mut ended => writing = false,
            }
        }
    }
    let _ = s.input.shutdown().await;
    drop(s.input);
    let (stdout, stderr) = collector.await.unwrap_or_default();
    let mut code = None;
    for _ in 0..100 {
        code = exec::exit_code(into.docker, &s.id)
            .await
            .map_err(|e| failed(crate::docker::describe_error(&e)))?;
        if code.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if let Some(e) = read_error {
        return Err(failed(e));
    }
    progress(size);
    Ok(Fed {
        code: code.unwrap_or(-1),
        stdout,
        stderr,
        sha256: format!("{:x}", hasher.finalize()),
        size,
    })
}

/// The file names of a backup: `ID.dump`, `ID.json`, and the dump while it is written.
fn dump_name(id: &str) -> String {
    format!("{id}.dump")
}
fn manifest_name(id: &str) -> String {
    format!("{id}.json")
}
fn partial_name(id: &str) -> String {
    format!("{id}.dump.partial")
}

/// Whether `file` is the partial dump of an earlier backup of the same database as `id`
/// (`DB-YYYYMMDDTHHMMSSmmmZ.dump.partial`, same DB). The database's lock is held while a
/// backup runs, so such a file is left over from one that died (killed, connection cut).
fn stale_partial(file: &str, id: &str) -> bool {
    let Some((db, _)) = id.rsplit_once('-') else {
        return false;
    };
    let Some(stamp) = file
        .strip_prefix(db)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(".dump.partial"))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    file != partial_name(id)
        && b.len() == 19
        && b[8] == b'T'
        && b[18] == b'Z'
        && b[..8].iter().chain(&b[9..18]).all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::stale_partial;

    #[test]
    fn only_the_same_databases_old_partials_are_stale() {
        let id = "shop-eu-20261123T161632905Z";
        assert!(stale_partial(
            "shop-eu-20261122T010203004Z.dump.partial",
            id
        ));
        assert!(!stale_partial(
            "shop-eu-20261123T161632905Z.dump.partial",
            id
        ));
        assert!(!stale_partial(
            "shop-eu-x-20261122T010203004Z.dump.partial",
            id
        ));
        assert!(!stale_partial("shop-20261122T010203004Z.dump.partial", id));
        assert!(!stale_partial("shop-eu-20261122T010203004Z.dump", id));
    }
}
