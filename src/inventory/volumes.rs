//! `[volumes.NAME]`: a Docker named volume or a directory on a host, backed up like a database
//! (`opsdeck backup|verify|restore NAME`).

use super::{ConfigDuration, Inventory};
use crate::names;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    pub host: String,
    /// A named volume on the host (`nickapp_uploads`, as `docker volume ls` shows it).
    pub volume: Option<String>,
    /// Or a directory on the host (absolute).
    pub path: Option<String>,
    /// The apps that use it: stopped around a restore (and around a backup with `stop_apps`).
    #[serde(default)]
    pub apps: Vec<String>,
    pub backup_to: Option<String>,
    /// Stop the containers that use it while a backup reads it (a consistent copy).
    #[serde(default)]
    pub stop_apps: bool,
    /// Warn when the newest verified backup is older than this.
    pub max_backup_age: Option<ConfigDuration>,
    /// An image present on the host for the holder containers (never started: any image
    /// will do). Default: the image of a container that uses it, else any image on the host.
    pub holder_image: Option<String>,
}

/// A volume is either a named volume or a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeSource {
    Volume(String),
    Path(String),
}

impl VolumeSpec {
    pub fn source(&self) -> Option<VolumeSource> {
        match (&self.volume, &self.path) {
            (Some(v), None) => Some(VolumeSource::Volume(v.clone())),
            (None, Some(p)) => Some(VolumeSource::Path(p.trim_end_matches('/').to_string())),
            _ => None,
        }
    }
}

impl VolumeSource {
    /// `volume nickapp_uploads` or `directory /srv/app/uploads`.
    pub fn describe(&self) -> String {
        match self {
            VolumeSource::Volume(v) => format!("volume {v}"),
            VolumeSource::Path(p) => format!("directory {p}"),
        }
    }
}

pub(super) fn validate(inv: &Inventory) -> Vec<(Vec<String>, String)> {
    let mut p = Vec::new();
    for (name, v) in &inv.volumes {
        let k = |f: &str| vec!["volumes".to_string(), name.clone(), f.to_string()];
        if let Err(e) = names::check_name("volume", name) {
            p.push((vec!["volumes".to_string(), name.clone()], e));
        }
        if inv.databases.contains_key(name) {
            p.push((
                vec!["volumes".to_string(), name.clone()],
                format!("{name:?} is also a database: `opsdeck backup {name}` must name one thing"),
            ));
        }
        if !inv.hosts.contains_key(&v.host) {
            p.push((
                k("host"),
                super::refs::unknown("host", &v.host, inv.hosts.keys()),
            ));
        }
        match (&v.volume, &v.path) {
            (Some(_), Some(_)) => {
                p.push((k("path"), "give either `volume` or `path`, not both".into()))
            }
            (None, None) => p.push((
                k("volume"),
                "give `volume` (a Docker named volume) or `path` (a directory on the host)".into(),
            )),
            (Some(vol), None) => {
                let ok = !vol.is_empty()
                    && vol.len() <= 255
                    && vol
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                    && vol
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric());
                if !ok {
                    p.push((
                        k("volume"),
                        format!(
                            "{:?} is not a Docker volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
                            names::printable(vol)
                        ),
                    ));
                }
            }
            (None, Some(path)) => {
                let t = path.trim_end_matches('/');
                if !path.starts_with('/')
                    || t.is_empty()
                    || path.split('/').any(|c| c == "..")
                    || path.chars().any(|c| c.is_control())
                {
                    p.push((
                        k("path"),
                        format!(
                            "{:?}: give an absolute directory on the host, not / and without `..`",
                            names::printable(path)
                        ),
                    ));
                }
            }
        }
        if let Some(s) = &v.backup_to {
            if !inv.storage.contains_key(s) {
                p.push((
                    k("backup_to"),
                    super::refs::unknown("storage", s, inv.storage.keys()),
                ));
            }
        }
        for (i, a) in v.apps.iter().enumerate() {
            if !inv.apps.contains_key(a) {
                p.push((
                    vec![
                        "volumes".to_string(),
                        name.clone(),
                        "apps".into(),
                        i.to_string(),
                    ],
                    super::refs::unknown("app", a, inv.apps.keys()),
                ));
            }
        }
        if let Some(img) = &v.holder_image {
            if img.is_empty() || img.chars().any(|c| c.is_whitespace() || c.is_control()) {
                p.push((
                    k("holder_image"),
                    format!("{:?} is not an image reference", names::printable(img)),
                ));
            }
        }
    }
    p
}
