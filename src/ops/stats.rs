//! One resource snapshot of many containers: `opsdeck stats`.

use super::action::parse_target;
use super::lifecycle::resolve;
use crate::docker::{self, StatsSample};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use futures_util::{future::join_all, stream, StreamExt};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct StatsRow {
    pub host: String,
    pub container: String,
    pub service: Option<String>,
    #[serde(flatten)]
    pub sample: Option<StatsSample>,
    pub error: Option<String>,
}

/// Sample the running containers the targets name (all running containers when none).
pub async fn snapshot(
    inv: &Inventory,
    hosts: &[Host],
    targets: &[String],
) -> Result<(Vec<StatsRow>, Vec<String>), Error> {
    let mut wanted: Vec<(String, String, String, Option<String>)> = Vec::new();
    let mut unreachable = Vec::new();
    if targets.is_empty() {
        let lists = join_all(hosts.iter().map(|h| async move {
            let d = h.docker().await.map_err(|e| e.to_string())?;
            docker::list_containers(&d, h.name())
                .await
                .map_err(|e| docker::describe_error(&e))
        }))
        .await;
        for (h, l) in hosts.iter().zip(lists) {
            match l {
                Ok(cs) => wanted.extend(
                    cs.into_iter()
                        .filter(|c| c.state == docker::State::Running)
                        .map(|c| (h.name().to_string(), c.id, c.name, c.service)),
                ),
                Err(e) => unreachable.push(format!("{}: {e}", h.name())),
            }
        }
    } else {
        for t in targets {
            let target = parse_target(inv, t)?;
            let input = resolve(inv, hosts, &target).await?;
            if input.matched.is_empty() {
                return Err(Error::usage(crate::names::unknown_name_message(
                    "container matching",
                    t,
                    input.known_names.iter().map(String::as_str),
                )));
            }
            wanted.extend(
                input
                    .matched
                    .into_iter()
                    .filter(|r| r.state == docker::State::Running)
                    .map(|r| (r.host, r.id, r.name, r.service)),
            );
        }
    }
    let rows = stream::iter(wanted)
        .map(|(host, id, name, service)| async move {
            let result = match hosts.iter().find(|h| h.name() == host) {
                Some(h) => match h.docker().await {
                    Ok(d) => docker::sample_stats(&d, &id)
                        .await
                        .map_err(|e| docker::describe_error(&e)),
                    Err(e) => Err(e.to_string()),
                },
                None => Err("host not selected".into()),
            };
            StatsRow {
                host,
                container: name,
                service,
                sample: result.as_ref().ok().copied(),
                error: result.err(),
            }
        })
        .buffered(32)
        .collect()
        .await;
    Ok((rows, unreachable))
}
