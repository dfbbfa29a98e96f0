//! `opsdeck watch` and `opsdeck uptime`: the watcher's events as timestamped lines (or JSON
//! lines), and the uptime table.

use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;
use crate::ops::watch::{WatchEvent, WatchOptions};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

fn line(e: &WatchEvent, verbose: bool) -> Option<String> {
    Some(match e {
        WatchEvent::Started {
            checks,
            alerts,
            jobs,
            metrics,
        } => {
            let mut s = format!(
                "watching: {checks} check(s); alerts: {}; jobs: {}",
                if alerts.is_empty() {
                    "none".into()
                } else {
                    alerts.join(", ")
                },
                if jobs.is_empty() {
                    "none".into()
                } else {
                    jobs.join(", ")
                }
            );
            if let Some(m) = metrics {
                s.push_str(&format!("; metrics on http://{m}/metrics"));
            }
            s
        }
        WatchEvent::Round {
            observations,
            failing,
        } => {
            if !verbose && failing.is_empty() {
                return None;
            }
            if failing.is_empty() {
                format!("round: {observations} looked at, all fine")
            } else {
                format!(
                    "round: {observations} looked at; failing: {}",
                    failing.join(", ")
                )
            }
        }
        WatchEvent::Alert(s) => {
            let to = if s.alert.is_empty() {
                String::new()
            } else {
                format!(" -> {}", s.alert)
            };
            match (&s.error, s.delivered) {
                (_, true) => format!("{} {}{to}: sent", s.status.to_uppercase(), s.subject),
                (Some(e), false) => format!("{} {}{to}: {e}", s.status.to_uppercase(), s.subject),
                (None, false) => format!("{} {}{to}", s.status.to_uppercase(), s.subject),
            }
        }
        WatchEvent::Muted { subject, reason } => format!("muted {subject}: {reason}"),
        WatchEvent::Missed { job, message } => format!("{job}: {message}"),
        WatchEvent::Job {
            job,
            due,
            outcome,
            detail,
            ..
        } => match detail {
            Some(d) => format!("{job} (due {due}): {outcome}: {d}"),
            None => format!("{job} (due {due}): {outcome}"),
        },
        WatchEvent::Problem { message } => format!("problem: {message}"),
    })
}

pub async fn run(
    inv: &Inventory,
    cli: &Cli,
    once: bool,
    metrics: Option<&str>,
) -> Result<u8, Error> {
    let metrics = metrics
        .map(|m| {
            m.parse::<std::net::SocketAddr>().map_err(|_| {
                Error::usage(format!(
                    "--metrics {m:?}: an address and port such as 127.0.0.1:9187"
                ))
            })
        })
        .transpose()?;
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    // SIGTERM or Ctrl-C: the running job stops at its next safe point (its undo runs), then
    // the watcher exits 0.
    let stop = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            super::interrupted().await;
            cancel.cancel();
        })
    };
    let json = cli.output == OutputFormat::Json;
    let verbose = cli.verbose > 0;
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if json {
                let mut v = serde_json::to_value(&e).unwrap_or_default();
                crate::secrets::mask_json(&mut v);
                println!("{v}");
            } else if let Some(l) = line(&e, verbose) {
                let t = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
                println!("{t} {}", crate::secrets::mask_text(&l));
            }
        }
    });
    let opts = WatchOptions { once, metrics };
    let result = ops::watch::run(Arc::new(inv.clone()), hosts, opts, tx, cancel).await;
    stop.abort();
    let _ = printer.await;
    let report = result?;
    if once && !report.alerting.is_empty() {
        if !json {
            eprintln!("opsdeck: alerting: {}", report.alerting.join(", "));
        }
        return Ok(1);
    }
    Ok(0)
}

fn pct(p: Option<f64>) -> String {
    p.map(|p| format!("{p:.2}%")).unwrap_or_else(|| "-".into())
}

pub async fn uptime(inv: &Inventory, cli: &Cli, check: Option<&str>) -> Result<u8, Error> {
    let rows = ops::watch::uptime(inv, check).await?;
    match cli.output {
        OutputFormat::Json => print_json(&serde_json::to_value(&rows).unwrap_or_default())?,
        OutputFormat::Human => {
            if rows.is_empty() {
                outln!("no checks: add [checks.NAME] to the inventory and run `opsdeck watch`");
            }
            let w = rows.iter().map(|r| r.check.len()).max().unwrap_or(5).max(5);
            outln!(
                "{:w$}  {:>8}  {:>8}  {:>8}  {:>10}",
                "CHECK",
                "24H",
                "7D",
                "30D",
                "LATENCY"
            );
            for r in &rows {
                let lat = r
                    .day
                    .latency_avg_ms
                    .map(|l| format!("{l:.0} ms"))
                    .unwrap_or_else(|| "-".into());
                outln!(
                    "{:w$}  {:>8}  {:>8}  {:>8}  {:>10}",
                    r.check,
                    pct(r.percent_24h),
                    pct(r.percent_7d),
                    pct(r.percent_30d),
                    lat
                );
            }
        }
    }
    Ok(0)
}
