//! Backups of `[volumes.NAME]`: a Docker named volume or a directory on a host. The engine's
//! archive API (`docker cp`) writes the tar of the volume, mounted read-only in a *holder*
//! container that is never started (so no tool has to be in any image), and extracts one
//! into a scratch volume; opsdeck streams it through the storage (sha256 on the way) and
//! indexes it as it passes ([`crate::storage::tar_index`]): the manifest lists every entry's
//! path, kind, size, mode, owner and sha256. Verify extracts into a scratch volume and
//! compares what the engine reads back with the manifest; restore does the same first, then
//! swaps the contents in with the apps stopped, keeping the old contents.

use super::super::step::{Plan, Step, StepKind, StorageRef, VolRef};
use super::super::Action;
use crate::docker::archive::{self, HolderMount};
use crate::docker::Engine;
use crate::error::Error;
use crate::inventory::{Inventory, StorageKind, VolumeSource};
use crate::names;
use crate::storage::{FileEntry, Manifest, Store};

mod swap;
mod take;

pub(in crate::ops) use swap::restore;
pub(in crate::ops) use take::{backup, verify};

/// Where the volume is mounted in a holder; the tar's entries start with `v/`.
const MOUNT: &str = "/v";

pub(super) fn resolve(
    inv: &Inventory,
    name: &str,
    to: Option<&str>,
) -> Result<(String, VolRef, StorageRef), Error> {
    let spec = &inv.volumes[name];
    let source = spec
        .source()
        .ok_or_else(|| Error::usage(format!("volumes.{name}: give `volume` or `path`")))?;
    let sname = to
        .map(str::to_string)
        .or_else(|| spec.backup_to.clone())
        .ok_or_else(|| {
            Error::usage(format!(
                "{name}: no storage: pass --to STORAGE or set backup_to"
            ))
        })?;
    let st = inv.storage.get(&sname).ok_or_else(|| {
        Error::usage(names::unknown_name_message(
            "storage",
            &sname,
            inv.storage.keys().map(String::as_str),
        ))
    })?;
    if st.kind == StorageKind::HostDir {
        return Err(Error::usage(format!(
            "{name}: storage {sname} is a host-dir, which keeps only dumps a command on the host writes; back volumes up to a dir or s3 storage"
        )));
    }
    Store::check(&sname, st)?;
    Ok((
        spec.host.clone(),
        VolRef {
            name: name.to_string(),
            source,
            apps: spec
                .apps
                .iter()
                .filter_map(|a| inv.apps.get(a).cloned())
                .collect(),
            app_names: spec.apps.clone(),
            stop_apps: spec.stop_apps,
            holder_image: spec.holder_image.clone(),
        },
        StorageRef {
            name: sname,
            spec: st.clone(),
        },
    ))
}

/// The plan of backup / verify / restore of a volume.
pub(super) fn plan(inv: &Inventory, action: &Action) -> Result<Plan, Error> {
    let (name, to) = match action {
        Action::Backup { db, to }
        | Action::Verify { db, to, .. }
        | Action::Restore { db, to, .. } => (db.as_str(), to.as_deref()),
        _ => return Err(Error::usage("not a backup action")),
    };
    let (host, vol, st) = resolve(inv, name, to)?;
    let what = vol.source.describe();
    let apps = inv.volumes[name].apps.join(", ");
    let step = match action {
        Action::Backup { .. } => Step {
            name: format!(
                "tar of {what} on {host}{} → {} (sha256, manifest of every file)",
                if vol.stop_apps && !apps.is_empty() {
                    format!(" with {apps} stopped")
                } else {
                    String::new()
                },
                st.location(&host)
            ),
            kind: StepKind::BackupVolume { vol, storage: st },
            undo: vec![],
        },
        Action::Verify { backup, .. } => {
            super::check_id(backup)?;
            Step {
                name: format!("verify {backup}: sha256, extract into a scratch volume, compare every file with the manifest"),
                kind: StepKind::VerifyVolume { vol, storage: st, id: backup.clone() },
                undo: vec![],
            }
        }
        Action::Restore { backup, .. } => {
            super::check_id(backup)?;
            Step {
                name: format!(
                    "extract {backup} into a scratch {} and check it; stop {}; swap it in for {what} (the old contents kept); start the apps and wait for health",
                    match vol.source { VolumeSource::Volume(_) => "volume", VolumeSource::Path(_) => "directory" },
                    if apps.is_empty() { "no apps".to_string() } else { apps.clone() },
                ),
                kind: StepKind::RestoreVolume { vol, storage: st, id: backup.clone() },
                undo: vec![],
            }
        }
        _ => unreachable!("matched above"),
    };
    let mut plan = Plan::new(
        action,
        host,
        format!("db-{name}"),
        Some(name.to_string()),
        vec![step],
    );
    if matches!(action, Action::Restore { .. }) || inv.volumes[name].stop_apps {
        for a in &inv.volumes[name].apps {
            if let Some(spec) = inv.apps.get(a) {
                plan.also_lock.push(super::super::step::LockRef {
                    host: spec.host.clone(),
                    lock: a.clone(),
                });
            }
        }
    }
    Ok(plan)
}

fn engine_error(what: &str, e: &crate::docker::EngineError) -> Error {
    Error::failed(format!("{what}: {}", crate::docker::describe_error(e)))
}

/// A created, never started container that mounts a volume or directory at [`MOUNT`].
struct Holder {
    id: String,
}

impl Holder {
    async fn create(
        d: &Engine,
        vol: &VolRef,
        source: &VolumeSource,
        read_only: bool,
    ) -> Result<Self, Error> {
        let image = holder_image(d, vol).await?;
        let (src, bind) = match source {
            VolumeSource::Volume(v) => (v.clone(), false),
            VolumeSource::Path(p) => (p.clone(), true),
        };
        let name = format!(
            "opsdeck-holder-{}-{}",
            vol.name,
            chrono::Utc::now().format("%Y%m%dT%H%M%S%3f")
        );
        let mounts = [HolderMount {
            source: src,
            bind,
            target: MOUNT.into(),
            read_only,
        }];
        let id = archive::holder(d, &name, &image, &mounts)
            .await
            .map_err(|e| engine_error(&format!("mounting {}", source.describe()), &e))?;
        Ok(Self { id })
    }

    async fn remove(self, d: &Engine) {
        let _ = crate::docker::control::remove_forced(d, &self.id).await;
    }
}

/// The image a holder is created from: the volume's `holder_image`, else the image of a
/// container that uses it, else any image on the host.
async fn holder_image(d: &Engine, vol: &VolRef) -> Result<String, Error> {
    if let Some(i) = &vol.holder_image {
        return Ok(i.clone());
    }
    let users = users(d, &vol.source).await?;
    for u in &users {
        if let Ok(i) = crate::docker::control::inspect(d, &u.id).await {
            if let Some(img) = i.image_id {
                return Ok(img);
            }
        }
    }
    archive::any_image(d)
        .await
        .map_err(|e| engine_error("listing images", &e))?
        .ok_or_else(|| {
            Error::failed(
                "there is no image on the host to create a holder container from; set holder_image",
            )
        })
}

async fn users(d: &Engine, source: &VolumeSource) -> Result<Vec<archive::VolumeUser>, Error> {
    let (src, bind) = match source {
        VolumeSource::Volume(v) => (v.as_str(), false),
        VolumeSource::Path(p) => (p.as_str(), true),
    };
    archive::users(d, src, bind)
        .await
        .map_err(|e| engine_error("listing containers", &e))
}

/// A manifest is trusted only for the volume and id it was asked for.
fn check_manifest(m: &Manifest, vol: &VolRef, id: &str) -> Result<(), Error> {
    if m.id != id {
        return Err(Error::failed(format!(
            "the manifest of backup {id} names another backup ({}); refusing to use it",
            crate::secrets::mask_text(&m.id)
        )));
    }
    if m.database != vol.name || m.files.is_empty() {
        return Err(Error::failed(format!(
            "backup {id} is not a backup of volume {} (it is of {}); nothing was changed",
            vol.name,
            crate::secrets::mask_text(&m.database)
        )));
    }
    Ok(())
}

/// Extract the published backup `m` into `into` (mounted read-write by a holder), checking
/// its sha256 against the manifest; then read it back through the engine and compare every
/// entry with the manifest. On success the holder is returned (the caller removes it).
async fn extract_and_check(
    d: &Engine,
    store: &Store<'_>,
    vol: &VolRef,
    m: &Manifest,
    into: &VolumeSource,
    report: crate::storage::Progress<'_>,
) -> Result<(), Error> {
    let holder = Holder::create(d, vol, into, false).await?;
    let done = async {
        let sha = feed(d, &holder.id, store, &m.id, report).await?;
        if sha != m.sha256 {
            return Err(Error::failed(format!(
                "backup {}: its sha256 is {}, the manifest says {}: it is corrupt; nothing was changed",
                m.id,
                &sha[..16],
                &m.sha256[..m.sha256.len().min(16)]
            )));
        }
        let (got, _) = read_tree(d, &holder.id).await?;
        let diff = crate::storage::tar_index::differences(&m.files, &got, 10);
        if !diff.is_empty() {
            return Err(Error::failed(format!(
                "backup {}: extracted, it differs from its manifest: {}",
                m.id,
                diff.join("; ")
            )));
        }
        Ok(())
    }
    .await;
    holder.remove(d).await;
    done
}

/// Stream the stored backup `id` into the holder's mount; the sha256 of what was sent.
async fn feed(
    d: &Engine,
    holder: &str,
    store: &Store<'_>,
    id: &str,
    report: crate::storage::Progress<'_>,
) -> Result<String, Error> {
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    let mut reader = store.reader(id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let send = async move {
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return Err(format!("reading backup {id}: {e}"));
                }
            };
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            if (size + n as u64) >> 20 != size >> 20 {
                report(size + n as u64);
            }
            size += n as u64;
            if tx
                .send(Ok(bytes::Bytes::copy_from_slice(&buf[..n])))
                .await
                .is_err()
            {
                break;
            }
        }
        Ok(format!("{:x}", hasher.finalize()))
    };
    let (sent, up) = tokio::join!(send, archive::upload(d, holder, "/", body));
    let sha = sent.map_err(Error::failed)?;
    up.map_err(|e| engine_error(&format!("extracting backup {id}"), &e))?;
    Ok(sha)
}

/// The entries of the tar the engine writes of a holder's mount, and its size.
async fn read_tree(d: &Engine, holder: &str) -> Result<(Vec<FileEntry>, u64), Error> {
    use futures_util::StreamExt;
    let ix = crate::storage::tar_index::Indexer::start();
    let tx = ix.sender();
    let mut s = archive::download(d, holder, MOUNT);
    let mut size = 0u64;
    let mut failed = None;
    while let Some(chunk) = s.next().await {
        match chunk {
            Ok(b) => {
                size += b.len() as u64;
                if tx.send(b).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failed = Some(engine_error("reading the files back", &e));
                break;
            }
        }
    }
    drop(tx);
    let entries = ix.finish().await;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok((entries.map_err(Error::failed)?, size))
}

/// Copy the contents of one holder's mount into another's (both through the engine). With
/// `spool`, the tar is first read whole into a private temporary file here and then sent:
/// over SSH, reading one engine stream while writing another on the same connection can
/// stall both.
async fn copy(d: &Engine, from: &str, to: &str, spool: bool) -> Result<(), Error> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    if !spool {
        let body = archive::download(d, from, MOUNT)
            .map(|r| r.map_err(|e| std::io::Error::other(crate::docker::describe_error(&e))));
        return archive::upload(d, to, "/", body)
            .await
            .map_err(|e| engine_error("copying the contents", &e));
    }
    let path = std::env::temp_dir().join(format!(
        "opsdeck-copy-{}-{}.tar",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    let spooled = async {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .await
            .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?;
        let mut s = archive::download(d, from, MOUNT);
        while let Some(chunk) = s.next().await {
            let chunk = chunk.map_err(|e| engine_error("reading the contents", &e))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?;
        }
        file.flush()
            .await
            .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?;
        archive::upload(
            d,
            to,
            "/",
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024),
        )
        .await
        .map_err(|e| engine_error("copying the contents", &e))
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    spooled
}
