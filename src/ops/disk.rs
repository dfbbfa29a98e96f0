//! Disk upkeep views, per host: `opsdeck images`, `volumes`, `networks`, `df`. One survey
//! of each selected host (in parallel); a host that cannot be reached is reported, the
//! others are still listed.

use crate::docker;
pub use crate::docker::disk::{Attached, DiskRow, ImageRow, NetworkRow, Survey, VolumeRow};
use crate::host::Host;
use futures_util::future::join_all;

/// Survey every host; `(surveys, "host: why" for each host that failed)`.
pub async fn survey(hosts: &[Host]) -> (Vec<Survey>, Vec<String>) {
    let all = join_all(hosts.iter().map(|h| async move {
        let d = h.docker().await.map_err(|e| e.to_string())?;
        docker::disk::survey(&d, h.name())
            .await
            .map_err(|e| docker::describe_error(&e))
    }))
    .await;
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (h, r) in hosts.iter().zip(all) {
        match r {
            Ok(s) => ok.push(s),
            Err(e) => failed.push(format!("{}: {e}", h.name())),
        }
    }
    (ok, failed)
}
