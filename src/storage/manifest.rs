//! The manifest beside every backup (a database's or a volume's).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The record beside every backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub database: String,
    pub db_name: String,
    pub host: String,
    pub container: String,
    pub time: String,
    pub size: u64,
    pub sha256: String,
    pub format: String,
    pub server_version: String,
    /// `schema.table` → rows, counted in the dump's own snapshot.
    pub tables: BTreeMap<String, i64>,
    pub verified: bool,
    pub verified_at: Option<String>,
    pub storage: String,
    /// What was backed up: empty for a Postgres database, `volume` or `directory`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// For a volume or directory: every entry of the tar, in its order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileEntry>,
}

/// One entry of a volume's backup, as its manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the volume's root (`.` is the root itself).
    pub path: String,
    /// `file`, `dir`, `symlink`, `hardlink` or `other`.
    pub kind: String,
    pub size: u64,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Of a file's contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A symlink's target, or the path a hard link points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Modification time (seconds), as read; not compared.
    #[serde(default)]
    pub mtime: u64,
}
