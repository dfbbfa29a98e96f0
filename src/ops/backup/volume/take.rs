//! Taking a volume's backup (the tar streamed into the storage and indexed on the way,
//! published with its manifest only when both are whole), and verifying one.

use super::super::super::event::ActionEvent;
use super::super::super::step::{StorageRef, VolRef};
use super::{check_manifest, engine_error, extract_and_check, users, Holder, MOUNT};
use crate::docker::archive;
use crate::docker::control;
use crate::error::Error;
use crate::host::Host;
use crate::inventory::VolumeSource;
use crate::storage::{Manifest, Source};
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

pub(in crate::ops) async fn backup(
    host: &Host,
    vol: &VolRef,
    st: &StorageRef,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let store = st.open(host)?;
    let d = host.docker().await?;
    if let VolumeSource::Volume(v) = &vol.source {
        if let Err(e) = archive::volume(&d, v).await {
            return Err(if crate::docker::is_not_found(&e) {
                Error::failed(format!("there is no volume {v} on {}", host.name()))
            } else {
                engine_error(&format!("volume {v}"), &e)
            });
        }
    }
    // With stop_apps, the running containers that use it are stopped for the copy and
    // started again whatever happens.
    let mut stopped = Vec::new();
    if vol.stop_apps {
        for u in users(&d, &vol.source).await? {
            if u.running {
                control::stop(&d, &u.id, Some(30))
                    .await
                    .map_err(|e| engine_error(&format!("stopping {}", u.name), &e))?;
                stopped.push(u);
            }
        }
    }
    let holder = Holder::create(&d, vol, &vol.source, true).await;
    let done = match holder {
        Ok(holder) => {
            let r = take(host, &d, &store, vol, st, &holder.id, seq, events).await;
            holder.remove(&d).await;
            r
        }
        Err(e) => Err(e),
    };
    let mut restarted = Vec::new();
    for u in &stopped {
        if let Err(e) = control::start(&d, &u.id).await {
            restarted.push(format!(
                "{} did not start again: {}",
                u.name,
                crate::docker::describe_error(&e)
            ));
        }
    }
    match (done, restarted.is_empty()) {
        (Ok(s), true) => Ok(s),
        (Ok(s), false) => Err(Error::failed(format!("{s}; but {}", restarted.join("; ")))),
        (Err(e), _) if restarted.is_empty() => Err(e),
        (Err(e), _) => Err(Error::failed(format!(
            "{}; and {}",
            e.message,
            restarted.join("; ")
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn take(
    host: &Host,
    d: &crate::docker::Engine,
    store: &crate::storage::Store<'_>,
    vol: &VolRef,
    st: &StorageRef,
    holder: &str,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let now = chrono::Utc::now();
    let id = format!("{}-{}", vol.name, now.format("%Y%m%dT%H%M%S%3fZ"));
    let ix = crate::storage::tar_index::Indexer::start();
    let tx = ix.sender();
    let what = format!("the tar of {}", vol.source.describe());
    let bytes = archive::download(d, holder, MOUNT)
        .then(move |chunk| {
            let tx = tx.clone();
            async move {
                match chunk {
                    Ok(b) => {
                        let _ = tx.send(b.clone()).await;
                        Ok(b)
                    }
                    Err(e) => Err(crate::docker::describe_error(&e)),
                }
            }
        })
        .boxed();
    let report = |n: u64| super::super::progress(events, seq, n);
    let staged = store
        .dump(Source::Stream { what, bytes }, &id, &report)
        .await;
    let files = ix.finish().await;
    let staged = staged?;
    let files = match files {
        Ok(f) => f,
        Err(e) => {
            store.discard(&id, staged).await;
            return Err(Error::failed(format!(
                "the tar of {}: {e}; nothing was published",
                vol.source.describe()
            )));
        }
    };
    let changed: Vec<&str> = files
        .iter()
        .filter(|f| f.kind == "file" && f.mtime > now.timestamp() as u64)
        .map(|f| f.path.as_str())
        .collect();
    let changed_note = if changed.is_empty() {
        String::new()
    } else {
        format!(
            "; {} file(s) changed while it was read ({}{}): set stop_apps = true for a consistent copy",
            changed.len(),
            changed.iter().take(5).copied().collect::<Vec<_>>().join(", "),
            if changed.len() > 5 { ", …" } else { "" }
        )
    };
    let (nfiles, ndirs) = (
        files.iter().filter(|f| f.kind == "file").count(),
        files.iter().filter(|f| f.kind == "dir").count(),
    );
    let manifest = Manifest {
        id: id.clone(),
        database: vol.name.clone(),
        db_name: match &vol.source {
            VolumeSource::Volume(v) | VolumeSource::Path(v) => v.clone(),
        },
        host: host.name().to_string(),
        container: String::new(),
        time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        size: staged.size,
        sha256: staged.sha256.clone(),
        format: "tar (the engine's archive of the volume)".into(),
        server_version: String::new(),
        tables: Default::default(),
        verified: false,
        verified_at: None,
        storage: st.name.clone(),
        kind: match vol.source {
            VolumeSource::Volume(_) => "volume".into(),
            VolumeSource::Path(_) => "directory".into(),
        },
        files,
    };
    store.publish(&id, staged).await?;
    if let Err(e) = store.write_manifest(&manifest).await {
        let _ = store.delete(&id).await;
        return Err(e.into());
    }
    let pruned = super::super::dump::retention(store, &vol.name, st)
        .await
        .unwrap_or_default();
    Ok(format!(
        "{id}: {} bytes, sha256 {}, {nfiles} files in {ndirs} directories, in {}{changed_note}{}",
        manifest.size,
        &manifest.sha256[..16],
        store.location(),
        if pruned.is_empty() {
            String::new()
        } else {
            format!("; retention removed {}", pruned.join(", "))
        }
    ))
}

/// Verify: extract into a scratch volume, compare every entry with the manifest, remove the
/// scratch volume; only that marks the backup verified.
pub(in crate::ops) async fn verify(
    host: &Host,
    vol: &VolRef,
    st: &StorageRef,
    id: &str,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let store = st.open(host)?;
    let mut m = store.read_manifest(id).await?;
    check_manifest(&m, vol, id)?;
    let d = host.docker().await?;
    let scratch = scratch_volume(&d, vol).await?;
    let report = |n: u64| super::super::progress(events, seq, n);
    let checked = extract_and_check(&d, &store, vol, &m, &scratch, &report).await;
    if let VolumeSource::Volume(s) = &scratch {
        let _ = crate::docker::disk::remove_volume(&d, s).await;
    }
    checked?;
    m.verified = true;
    m.verified_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    store.write_manifest(&m).await?;
    Ok(format!(
        "{id}: sha256 matches; extracted into a scratch volume, all {} entries equal the manifest; marked verified",
        m.files.len()
    ))
}

/// A new, empty scratch volume (labelled, so a leftover is recognisable).
pub(super) async fn scratch_volume(
    d: &crate::docker::Engine,
    vol: &VolRef,
) -> Result<VolumeSource, Error> {
    let name = format!(
        "opsdeck-scratch-{}-{}",
        vol.name,
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3f")
    );
    archive::create_volume(
        d,
        &archive::VolumeDef {
            name: name.clone(),
            driver: "local".into(),
            labels: [("opsdeck.scratch".to_string(), vol.name.clone())].into(),
            options: Default::default(),
        },
    )
    .await
    .map_err(|e| engine_error("creating a scratch volume", &e))?;
    Ok(VolumeSource::Volume(name))
}
