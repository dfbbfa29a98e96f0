//! Restoring a volume's backup: extracted into a scratch volume and checked first (nothing
//! live is touched if that fails), then the apps stopped, the old contents kept (a dated
//! volume, or the directory renamed), the backup put in place, the apps started and waited
//! for; any failure after the old contents moved puts them back.
//!
//! A named volume's contents cannot be emptied through the engine (the archive API only
//! adds), so the live volume is removed and created again under its name with its driver,
//! options and labels (compose's labels kept, so compose treats it as its own); the app
//! containers that mount it are removed for that and created again by `compose up`.

use super::super::super::action::ComposeOp;
use super::super::super::event::ActionEvent;
use super::super::super::step::{ComposeTarget, StorageRef, VolRef};
use super::take::scratch_volume;
use super::{check_manifest, copy, engine_error, extract_and_check, users, Holder};
use crate::docker::archive::{self, VolumeDef, VolumeUser};
use crate::docker::{control, disk, Engine};
use crate::error::Error;
use crate::host::{Cmd, Host};
use crate::inventory::VolumeSource;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

#[allow(clippy::too_many_arguments)]
pub(in crate::ops) async fn restore(
    host: &Host,
    vol: &VolRef,
    st: &StorageRef,
    id: &str,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let store = st.open(host)?;
    let m = store.read_manifest(id).await?;
    check_manifest(&m, vol, id)?;
    let d = host.docker().await?;
    let apps = app_targets(host, vol).await?;
    let users = users(&d, &vol.source).await?;
    if let VolumeSource::Volume(v) = &vol.source {
        // Its users are removed and created again by compose: each must be an app's.
        for u in &users {
            let project = u.labels.get("com.docker.compose.project");
            if !apps.iter().any(|t| Some(&t.project_label) == project) {
                return Err(Error::failed(format!(
                    "container {} uses volume {v} and is not of the apps of volumes.{} ({}); add its app to `apps` (its containers are stopped and created again around the restore) or remove it; nothing was changed",
                    u.name,
                    vol.name,
                    if vol.app_names.is_empty() { "none".to_string() } else { vol.app_names.join(", ") }
                )));
            }
        }
    }
    let scratch = scratch_volume(&d, vol).await?;
    let VolumeSource::Volume(scratch_name) = &scratch else {
        unreachable!("a scratch is a volume")
    };
    let report = |n: u64| super::super::progress(events, seq, n);
    let done = match extract_and_check(&d, &store, vol, &m, &scratch, &report).await {
        Ok(()) => {
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
            let cx = Swap {
                host,
                d: &d,
                vol,
                scratch: &scratch,
                stamp: &stamp,
                users: &users,
                apps: &apps,
                cancel,
            };
            match &vol.source {
                VolumeSource::Volume(v) => cx.volume(v).await,
                VolumeSource::Path(p) => cx.directory(p).await,
            }
        }
        Err(e) => Err(e),
    };
    let _ = disk::remove_volume(&d, scratch_name).await;
    done.map(|kept| {
        format!(
            "{id} restored into {} ({} entries, each equal to the manifest); the old contents are kept as {kept}",
            vol.source.describe(),
            m.files.len()
        )
    })
}

/// The compose projects of the volume's apps.
async fn app_targets(host: &Host, vol: &VolRef) -> Result<Vec<ComposeTarget>, Error> {
    let mut out = Vec::new();
    for a in vol.apps.iter().filter(|a| a.host == host.name()) {
        let project = crate::ops::query::app_project(host, a).await?;
        out.push(ComposeTarget::new(a, &project));
    }
    Ok(out)
}

struct Swap<'a> {
    host: &'a Host,
    d: &'a Engine,
    vol: &'a VolRef,
    scratch: &'a VolumeSource,
    stamp: &'a str,
    users: &'a [VolumeUser],
    apps: &'a [ComposeTarget],
    cancel: &'a CancellationToken,
}

impl Swap<'_> {
    async fn stop_users(&self) -> Result<(), Error> {
        for u in self.users.iter().filter(|u| u.running) {
            control::stop(self.d, &u.id, Some(30))
                .await
                .map_err(|e| engine_error(&format!("stopping {}", u.name), &e))?;
        }
        Ok(())
    }

    /// Copy the contents of one volume or directory into another.
    async fn copy(&self, from: &VolumeSource, to: &VolumeSource) -> Result<(), Error> {
        let a = Holder::create(self.d, self.vol, from, true).await?;
        let b = match Holder::create(self.d, self.vol, to, false).await {
            Ok(b) => b,
            Err(e) => {
                a.remove(self.d).await;
                return Err(e);
            }
        };
        let r = copy(self.d, &a.id, &b.id, self.host.ssh_target().is_some()).await;
        a.remove(self.d).await;
        b.remove(self.d).await;
        r
    }

    /// Compose up for every app (their removed containers come back), waiting for health.
    async fn up_apps(&self) -> Result<(), Error> {
        for t in self.apps {
            crate::ops::compose_app::run_step(self.host, t, ComposeOp::Up, &[], 300, self.cancel)
                .await?;
        }
        Ok(())
    }

    /// Start the users that ran, and wait for each to run (healthy if it has a check).
    async fn start_users(&self) -> Result<(), Error> {
        for u in self.users.iter().filter(|u| u.running) {
            control::start(self.d, &u.id)
                .await
                .map_err(|e| engine_error(&format!("starting {}", u.name), &e))?;
            super::super::restore::wait_running(self.d, &u.id, Duration::from_secs(300))
                .await
                .map_err(|e| Error::failed(format!("{}: {e}", u.name)))?;
        }
        Ok(())
    }

    /// Remove the volume's users and the volume, create it again as it was, fill it from `from`.
    async fn recreate(&self, def: &VolumeDef, from: &VolumeSource) -> Result<(), Error> {
        for u in self.users {
            let _ = control::stop(self.d, &u.id, Some(30)).await;
            disk::remove_container(self.d, &u.id)
                .await
                .or_else(|e| {
                    if crate::docker::is_not_found(&e) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| engine_error(&format!("removing {}", u.name), &e))?;
        }
        match disk::remove_volume(self.d, &def.name).await {
            Ok(()) => {}
            Err(e) if crate::docker::is_not_found(&e) => {}
            Err(e) => return Err(engine_error(&format!("removing volume {}", def.name), &e)),
        }
        archive::create_volume(self.d, def)
            .await
            .map_err(|e| engine_error(&format!("creating volume {}", def.name), &e))?;
        self.copy(from, &VolumeSource::Volume(def.name.clone()))
            .await
    }

    async fn volume(&self, v: &str) -> Result<String, Error> {
        let def = match archive::volume(self.d, v).await {
            Ok(def) => Some(def),
            Err(e) if crate::docker::is_not_found(&e) => None,
            Err(e) => return Err(engine_error(&format!("volume {v}"), &e)),
        };
        if let Err(e) = self.stop_users().await {
            let _ = self.start_users().await;
            return Err(e);
        }
        let Some(def) = def else {
            // No live volume: nothing to keep; create it (plain) and fill it.
            let def = VolumeDef {
                name: v.to_string(),
                driver: "local".into(),
                labels: Default::default(),
                options: Default::default(),
            };
            self.recreate(&def, self.scratch).await?;
            self.up_apps().await?;
            return Ok("nothing (there was no such volume)".into());
        };
        let kept = format!("{v}-before-restore-{}", self.stamp.to_ascii_lowercase());
        let kept_src = VolumeSource::Volume(kept.clone());
        let keep = async {
            archive::create_volume(
                self.d,
                &VolumeDef {
                    name: kept.clone(),
                    driver: def.driver.clone(),
                    labels: [("opsdeck.restore-of".to_string(), v.to_string())].into(),
                    options: def.options.clone(),
                },
            )
            .await
            .map_err(|e| engine_error(&format!("creating volume {kept}"), &e))?;
            self.copy(&VolumeSource::Volume(v.to_string()), &kept_src)
                .await
        };
        if let Err(e) = keep.await {
            let _ = disk::remove_volume(self.d, &kept).await;
            let _ = self.start_users().await;
            return Err(Error::failed(format!("{}; nothing was changed", e.message)));
        }
        let swapped = async {
            self.recreate(&def, self.scratch).await?;
            self.up_apps().await
        };
        match swapped.await {
            Ok(()) => Ok(format!("volume {kept}")),
            Err(e) => {
                let back = async {
                    self.recreate(&def, &kept_src).await?;
                    self.up_apps().await
                };
                Err(Error::failed(match back.await {
                    Ok(()) => format!("{}; the old contents were put back (also kept as volume {kept})", e.message),
                    Err(b) => format!("{}; putting the old contents back failed too ({}): they are in volume {kept}", e.message, b.message),
                }))
            }
        }
    }

    async fn sh(&self, argv: &[&str]) -> Result<(), Error> {
        let out = self
            .host
            .exec(
                &Cmd::new(argv[0])
                    .args(argv[1..].iter().copied())
                    .timeout(Duration::from_secs(60)),
                self.cancel,
            )
            .await
            .map_err(|e| Error::failed(format!("{}: {e}", argv.join(" "))))?;
        if !out.success() {
            return Err(Error::failed(format!(
                "{} on {}: {}",
                argv.join(" "),
                self.host.name(),
                out.stderr_str().trim()
            )));
        }
        Ok(())
    }

    /// A directory: renamed aside (kept), made again, filled from the checked scratch.
    async fn directory(&self, p: &str) -> Result<String, Error> {
        let kept = format!("{p}.before-restore-{}", self.stamp);
        self.stop_users().await?;
        let exists = self.sh(&["test", "-e", p]).await.is_ok();
        if exists {
            if let Err(e) = self.sh(&["mv", "--", p, &kept]).await {
                let _ = self.start_users().await;
                return Err(Error::failed(format!("{}; nothing was changed", e.message)));
            }
        }
        let swapped = async {
            self.sh(&["mkdir", "--", p]).await?;
            self.copy(self.scratch, &VolumeSource::Path(p.to_string()))
                .await?;
            self.start_users().await
        };
        match swapped.await {
            Ok(()) => Ok(if exists {
                kept
            } else {
                "nothing (there was no such directory)".into()
            }),
            Err(e) if exists => {
                let failed = format!("{p}.failed-restore-{}", self.stamp);
                let back = async {
                    for u in self.users.iter().filter(|u| u.running) {
                        let _ = control::stop(self.d, &u.id, Some(30)).await;
                    }
                    if self.sh(&["test", "-e", p]).await.is_ok() {
                        self.sh(&["mv", "--", p, &failed]).await?;
                    }
                    self.sh(&["mv", "--", &kept, p]).await?;
                    self.start_users().await
                };
                Err(Error::failed(match back.await {
                    Ok(()) => format!("{}; the old contents were put back (the failed restore is left in {failed})", e.message),
                    Err(b) => format!("{}; putting the old contents back failed too ({}): they are in {kept}", e.message, b.message),
                }))
            }
            Err(e) => Err(e),
        }
    }
}
