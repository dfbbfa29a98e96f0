//! `opsdeck events`: one line per engine event (exit codes and OOM kills marked), or one
//! JSON object per line with at least `time`, `host`, `container`, `action`.

use super::{Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;
use crate::ops::events::EngineEvent;
use std::io::{IsTerminal, Write as _};
use tokio_util::sync::CancellationToken;

pub async fn run(
    inv: &Inventory,
    cli: &Cli,
    targets: &[String],
    follow: bool,
    since: Option<&str>,
    actions: &[String],
) -> Result<u8, Error> {
    let since = since
        .map(|s| {
            humantime::parse_duration(s)
                .map_err(|e| Error::usage(format!("--since {s:?}: {e} (write it like 10m or 2h)")))
        })
        .transpose()?;
    for a in actions {
        if a.is_empty()
            || !a
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '-')
        {
            return Err(Error::usage(format!(
                "--action {:?}: an engine action such as die, oom, health_status, restart",
                crate::names::printable(a)
            )));
        }
    }
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let q = ops::events::EventQuery {
        since,
        follow,
        targets: targets.to_vec(),
        actions: actions.to_vec(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let stop = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            super::interrupted().await;
            cancel.cancel();
        })
    };
    let json = cli.output == OutputFormat::Json;
    let colour = !json && std::io::stdout().is_terminal() && !crate::term::no_color(cli.no_color);
    let printer = tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            let e = match item {
                ops::events::EventItem::Event(e) => *e,
                ops::events::EventItem::Problem { host, message } => {
                    eprintln!("opsdeck: {host}: {message}");
                    continue;
                }
            };
            if json {
                match serde_json::to_string(&e) {
                    Ok(s) => outln!("{s}"),
                    Err(e) => tracing::warn!("encoding an event: {e}"),
                }
            } else {
                outln!("{}", line(&e, colour));
            }
            let _ = std::io::stdout().flush();
        }
    });
    let failed = ops::events::events(inv, &hosts, &q, tx, &cancel).await;
    stop.abort();
    let _ = printer.await;
    let failed = failed?;
    for (host, why) in &failed {
        eprintln!("opsdeck: {host}: {why}");
    }
    Ok(super::fanout_code(!failed.is_empty()))
}

/// `TIME HOST CONTAINER ACTION details`, an OOM kill or a non-zero exit marked.
fn line(e: &EngineEvent, colour: bool) -> String {
    let time = e.time.get(..23).map_or(e.time.clone(), |t| format!("{t}Z"));
    let who = e
        .container
        .clone()
        .or_else(|| e.image.clone())
        .or_else(|| e.id.as_ref().map(|i| i.chars().take(12).collect()))
        .unwrap_or_else(|| "-".into());
    let mut what = match &e.detail {
        Some(d) => format!("{} {d}", e.action),
        None => e.action.clone(),
    };
    if e.kind != "container" {
        what = format!("{} {what}", e.kind);
    }
    if let Some(n) = &e.network {
        what.push_str(&format!(" {n}"));
    }
    let alarm = match (e.action.as_str(), e.exit_code) {
        ("oom", _) => Some("OUT OF MEMORY".to_string()),
        ("die", Some(137)) => Some("exit 137 (killed: SIGKILL or out of memory)".to_string()),
        ("die", Some(c)) if c != 0 => Some(format!("exit {c}")),
        ("health_status", _) if e.detail.as_deref() == Some("unhealthy") => {
            Some("UNHEALTHY".to_string())
        }
        _ => None,
    };
    let mut out = format!("{time}  {:<10} {:<30} {what}", e.host, who);
    if let Some(a) = alarm {
        if colour {
            out.push_str(&format!("  \x1b[1;31m{a}\x1b[0m"));
        } else {
            out.push_str(&format!("  ! {a}"));
        }
    } else if let (Some(0), "die") = (e.exit_code, e.action.as_str()) {
        out.push_str("  exit 0");
    }
    out
}
