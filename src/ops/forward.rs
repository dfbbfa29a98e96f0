//! `opsdeck forward TARGET[:PORT]|DB|NAME [--local ADDR:PORT]`: a listener on this machine's
//! loopback carried through the host connection to a container's port or an inventory
//! database (the shared Postgres for a local GUI client), as `kubectl port-forward` and k9s
//! do. What it reaches is resolved here; the listener is the host adapter's
//! ([`Host::forward_listen`]): loopback only, our own user only, counted.

use super::action::parse_target;
use super::lifecycle::resolve;
use crate::docker::{self, State};
use crate::error::Error;
use crate::host::{Forward, Host};
use crate::inventory::{DbEngine, Inventory};
use crate::names;
use serde::Serialize;
use std::net::SocketAddr;

/// Where a forward goes, resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Destination {
    /// The inventory host whose connection carries it.
    pub host: String,
    /// The address and port as that host reaches them.
    pub address: String,
    pub port: u16,
    /// What it is, for people (`database shared (postgres)`, `container shop_web_1`).
    pub what: String,
}

/// A database's default port.
fn default_port(engine: DbEngine) -> u16 {
    match engine {
        DbEngine::Postgres => 5432,
        DbEngine::Redis => 6379,
    }
}

/// Parse `--local`: `PORT` (on 127.0.0.1), `ADDR:PORT` or `[::1]:PORT`; loopback only.
pub fn parse_local(s: &str) -> Result<SocketAddr, Error> {
    names::parse_loopback(s).map_err(|e| Error::usage(format!("--local {e}")))
}

/// Resolve what `spec` names: a `[forwards.NAME]`, a database (`NAME` or `databases.NAME`),
/// or a container target with an optional `:PORT`. With the named forward's `local`, if any.
pub async fn resolve_spec(
    inv: &Inventory,
    hosts: &[Host],
    spec: &str,
) -> Result<(Destination, Option<String>), Error> {
    if let Some(f) = inv.forwards.get(spec) {
        let d = resolve_target(inv, hosts, &f.target).await?;
        return Ok((d, f.local.clone()));
    }
    resolve_target(inv, hosts, spec).await.map(|d| (d, None))
}

/// A database (`NAME`, `databases.NAME`) or a container target with an optional `:PORT`.
async fn resolve_target(inv: &Inventory, hosts: &[Host], spec: &str) -> Result<Destination, Error> {
    let db = spec.strip_prefix("databases.").unwrap_or(spec);
    if let Some(d) = inv.databases.get(db) {
        return database(inv, db, d).await;
    }
    if spec.starts_with("databases.") {
        return Err(Error::usage(names::unknown_name_message(
            "database",
            db,
            inv.databases.keys().map(String::as_str),
        )));
    }
    container(inv, hosts, spec).await
}

async fn database(
    inv: &Inventory,
    name: &str,
    d: &crate::inventory::DatabaseSpec,
) -> Result<Destination, Error> {
    let what = format!(
        "database {name} ({})",
        match d.engine {
            DbEngine::Postgres => "postgres",
            DbEngine::Redis => "redis",
        }
    );
    if let Some(url) = &d.url {
        let u =
            url::Url::parse(url).map_err(|e| Error::usage(format!("databases.{name}.url: {e}")))?;
        let address = u
            .host_str()
            .map(|h| h.trim_matches(['[', ']']).to_string())
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::usage(format!("databases.{name}.url has no host")))?;
        return Ok(Destination {
            host: d.host.clone(),
            address,
            port: u.port().unwrap_or(default_port(d.engine)),
            what,
        });
    }
    let Some(container) = &d.container else {
        return Err(Error::usage(format!(
            "databases.{name}: give `container` or `url` for the database"
        )));
    };
    let host = super::select::host(inv, &d.host)?;
    let apps: Vec<_> = d
        .apps
        .iter()
        .filter_map(|a| inv.apps.get(a).cloned())
        .collect();
    let c = super::query::database_container(
        &host,
        container,
        &apps,
        &format!("databases.{name}.container"),
    )
    .await?;
    let address = address_of(&host, &c.id, &c.name).await?;
    Ok(Destination {
        host: d.host.clone(),
        address,
        port: default_port(d.engine),
        what: format!("{what}, container {}", c.name),
    })
}

/// The address a running container is reached at from its host: on its first network
/// with an IPv4 address.
async fn address_of(host: &Host, id: &str, name: &str) -> Result<String, Error> {
    let d = host.docker().await?;
    let i = docker::control::inspect(&d, id).await.map_err(|e| {
        Error::failed(format!(
            "{}: inspecting {name}: {}",
            host.name(),
            docker::describe_error(&e)
        ))
    })?;
    i.ip(None).map(str::to_string).ok_or_else(|| {
        Error::failed(format!(
            "{}: {name} has no address on any network (network_mode: host or none?)",
            host.name()
        ))
    })
}

/// `TARGET[:PORT]`: the first running container the target names; without a port, the
/// one port it exposes.
async fn container(inv: &Inventory, hosts: &[Host], spec: &str) -> Result<Destination, Error> {
    let (target, port) = match spec.rsplit_once(':') {
        Some((t, p)) => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| Error::usage(format!("{spec:?}: {p:?} is not a port")))?;
            (t, Some(port))
        }
        None => (spec, None),
    };
    let t = parse_target(inv, target)?;
    let input = resolve(inv, hosts, &t).await?;
    let Some(c) = input.matched.iter().find(|c| c.state == State::Running) else {
        if input.matched.is_empty() {
            return Err(Error::usage(names::unknown_name_message(
                "container, database or forward",
                target,
                input
                    .known_names
                    .iter()
                    .map(String::as_str)
                    .chain(inv.databases.keys().map(String::as_str))
                    .chain(inv.forwards.keys().map(String::as_str)),
            )));
        }
        return Err(Error::failed(format!(
            "{target}: no running container to forward to"
        )));
    };
    let host = match hosts.iter().find(|h| h.name() == c.host) {
        Some(h) => h.clone(),
        None => super::select::host(inv, &c.host)?,
    };
    let port = match port {
        Some(p) => p,
        None => {
            let d = host.docker().await?;
            let details = docker::inspect::details(&d, host.name(), &c.id)
                .await
                .map_err(|e| Error::failed(docker::describe_error(&e)))?;
            let tcp: Vec<u16> = details
                .ports
                .iter()
                .filter_map(|p| p.container.strip_suffix("/tcp")?.parse().ok())
                .collect::<std::collections::BTreeSet<u16>>()
                .into_iter()
                .collect();
            match tcp.as_slice() {
                [one] => *one,
                [] => {
                    return Err(Error::usage(format!(
                        "{} exposes no port: name one, e.g. {target}:8080",
                        c.name
                    )))
                }
                many => {
                    return Err(Error::usage(format!(
                        "{} exposes {}: name one, e.g. {target}:{}",
                        c.name,
                        many.iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                        many[0]
                    )))
                }
            }
        }
    };
    let address = address_of(&host, &c.id, &c.name).await?;
    Ok(Destination {
        host: c.host.clone(),
        address,
        port,
        what: format!("container {}", c.name),
    })
}

/// Open the listener: at `local`, or 127.0.0.1 with the destination's own port when it is
/// free (else one the system picks).
pub async fn open(
    inv: &Inventory,
    hosts: &[Host],
    dest: &Destination,
    local: Option<SocketAddr>,
) -> Result<Forward, Error> {
    let host = match hosts.iter().find(|h| h.name() == dest.host) {
        Some(h) => h.clone(),
        None => super::select::host(inv, &dest.host)?,
    };
    if let Some(at) = local {
        return Ok(host.forward_listen(at, &dest.address, dest.port).await?);
    }
    let same = SocketAddr::from(([127, 0, 0, 1], dest.port));
    match host.forward_listen(same, &dest.address, dest.port).await {
        Ok(f) => Ok(f),
        Err(_) => {
            let any = SocketAddr::from(([127, 0, 0, 1], 0));
            Ok(host.forward_listen(any, &dest.address, dest.port).await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_are_loopback_only() {
        assert_eq!(
            parse_local("15432").ok(),
            Some(SocketAddr::from(([127, 0, 0, 1], 15432)))
        );
        assert!(parse_local("127.0.0.1:80").is_ok());
        assert!(parse_local("[::1]:80").is_ok());
        let e = parse_local("0.0.0.0:5432").expect_err("refused");
        assert!(e.message.contains("loopback"), "{}", e.message);
        assert!(parse_local("10.0.0.5:1").is_err());
        assert!(parse_local("localhost").is_err());
        assert!(parse_local("70000").is_err());
    }
}
