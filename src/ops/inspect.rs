//! `opsdeck inspect TARGET`: every container the target names, in full and masked
//! ([`ContainerDetails`], built by the Docker adapter so that no secret leaves it).

use super::action::parse_target;
use super::lifecycle::resolve;
use crate::docker;
pub use crate::docker::inspect::{ContainerDetails, HealthDetails, Limits, Mount, Network, Port};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;

/// Inspect every container `target` matches on the selected hosts (an app's or a service's
/// containers on the app's host), in the order the target resolves them.
pub async fn inspect(
    inv: &Inventory,
    hosts: &[Host],
    target: &str,
) -> Result<Vec<ContainerDetails>, Error> {
    let t = parse_target(inv, target)?;
    let input = resolve(inv, hosts, &t).await?;
    if input.matched.is_empty() {
        return Err(Error::usage(crate::names::unknown_name_message(
            "container matching",
            target,
            input.known_names.iter().map(String::as_str),
        )));
    }
    let mut out = Vec::with_capacity(input.matched.len());
    for r in input.matched {
        let host = match hosts.iter().find(|h| h.name() == r.host) {
            Some(h) => h.clone(),
            None => super::select::host(inv, &r.host)?,
        };
        let d = host.docker().await?;
        let details = docker::inspect::details(&d, host.name(), &r.id)
            .await
            .map_err(|e| {
                Error::failed(format!(
                    "{}: inspecting {}: {}",
                    host.name(),
                    r.name,
                    docker::describe_error(&e)
                ))
            })?;
        out.push(details);
    }
    Ok(out)
}
