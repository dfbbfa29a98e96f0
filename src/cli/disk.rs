//! `opsdeck images`, `volumes`, `networks`, `df`: one table (or one JSON list of objects,
//! each naming its host) over the selected hosts; unreachable hosts on stderr, exit 3.

use super::format::{bytes, table};
use super::{fanout_code, print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops::{self, disk::Survey};

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Images,
    Volumes,
    Networks,
    Df,
}

fn size(n: Option<u64>) -> String {
    n.map(bytes).unwrap_or_else(|| "?".into())
}

fn names(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

pub async fn run(inv: &Inventory, cli: &Cli, what: Listing) -> Result<u8, Error> {
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let (surveys, failed) = ops::disk::survey(&hosts).await;
    let json = cli.output == OutputFormat::Json;
    match what {
        Listing::Images => {
            let rows: Vec<_> = surveys.iter().flat_map(Survey::images).collect();
            if json {
                print_json(&rows)?;
            } else {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|i| {
                        vec![
                            i.host.clone(),
                            if i.dangling {
                                "<none>".into()
                            } else {
                                i.tags.join(",")
                            },
                            i.id.trim_start_matches("sha256:")
                                .chars()
                                .take(12)
                                .collect(),
                            bytes(i.size),
                            names(&i.containers),
                        ]
                    })
                    .collect();
                outln!(
                    "{}",
                    table(&["HOST", "IMAGE", "ID", "SIZE", "USED BY"], &body)
                );
            }
        }
        Listing::Volumes => {
            let rows: Vec<_> = surveys.iter().flat_map(Survey::volumes).collect();
            if json {
                print_json(&rows)?;
            } else {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|v| {
                        vec![
                            v.host.clone(),
                            v.name.clone(),
                            v.driver.clone(),
                            size(v.size),
                            names(&v.containers),
                        ]
                    })
                    .collect();
                outln!(
                    "{}",
                    table(&["HOST", "VOLUME", "DRIVER", "SIZE", "USED BY"], &body)
                );
            }
        }
        Listing::Networks => {
            let rows: Vec<_> = surveys.iter().flat_map(Survey::networks).collect();
            if json {
                print_json(&rows)?;
            } else {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|n| {
                        let attached: Vec<String> = n
                            .containers
                            .iter()
                            .map(|c| match &c.ip_address {
                                Some(ip) => format!("{} {ip}", c.name),
                                None => c.name.clone(),
                            })
                            .collect();
                        vec![
                            n.host.clone(),
                            n.name.clone(),
                            n.driver.clone(),
                            names(&n.subnets),
                            names(&attached),
                        ]
                    })
                    .collect();
                outln!(
                    "{}",
                    table(
                        &["HOST", "NETWORK", "DRIVER", "SUBNET", "CONTAINERS"],
                        &body
                    )
                );
            }
        }
        Listing::Df => {
            let rows: Vec<_> = surveys.iter().flat_map(Survey::df).collect();
            if json {
                print_json(&rows)?;
            } else {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.host.clone(),
                            r.kind.replace('_', " "),
                            r.total.to_string(),
                            r.active.to_string(),
                            size(r.size),
                            size(r.reclaimable),
                        ]
                    })
                    .collect();
                outln!(
                    "{}",
                    table(
                        &["HOST", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                        &body
                    )
                );
            }
        }
    }
    for f in &failed {
        eprintln!("opsdeck: {f}");
    }
    Ok(fanout_code(!failed.is_empty()))
}
