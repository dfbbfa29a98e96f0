//! `opsdeck forward TARGET[:PORT]|DB|NAME [--local ADDR:PORT]`: listen on loopback and carry
//! each connection through the host connection until Ctrl-C or SIGTERM; say where it
//! listens first (one line, or one JSON event, flushed, so a script can read it), and what it
//! carried at the end.

use super::{Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;
use std::io::Write as _;

pub async fn run(inv: &Inventory, cli: &Cli, spec: &str, local: Option<&str>) -> Result<u8, Error> {
    let local = local.map(ops::forward::parse_local).transpose()?;
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let (dest, named_local) = ops::forward::resolve_spec(inv, &hosts, spec).await?;
    let local = match (local, named_local) {
        (Some(l), _) => Some(l),
        (None, Some(l)) => Some(ops::forward::parse_local(&l)?),
        (None, None) => None,
    };
    let fwd = ops::forward::open(inv, &hosts, &dest, local).await?;
    let remote = format!("{}:{}", dest.address, dest.port);
    match cli.output {
        OutputFormat::Json => outln!(
            "{}",
            serde_json::json!({
                "event": "forwarding",
                "local": fwd.addr(),
                "host": dest.host,
                "remote": remote,
                "target": dest.what,
            })
        ),
        OutputFormat::Human => outln!(
            "forwarding {} -> {} at {remote} on {}; Ctrl-C stops",
            fwd.addr(),
            dest.what,
            dest.host
        ),
    }
    let _ = std::io::stdout().flush();
    super::interrupted().await;
    let c = fwd.counts().unwrap_or_default();
    drop(fwd);
    match cli.output {
        OutputFormat::Json => outln!(
            "{}",
            serde_json::json!({
                "event": "closed",
                "connections": c.connections,
                "refused": c.refused,
                "sent_bytes": c.sent,
                "received_bytes": c.received,
            })
        ),
        OutputFormat::Human => outln!(
            "forward closed: {} connection(s), {} refused, {} sent, {} received",
            c.connections,
            c.refused,
            super::format::bytes(c.sent),
            super::format::bytes(c.received)
        ),
    }
    Ok(0)
}
