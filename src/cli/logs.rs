//! `opsdeck logs TARGET... [-f] [--since DUR] [--tail N] [--grep RE]`: merged logs, one
//! prefix per container; `--output json` prints one JSON object per line.

use super::{Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops::logs::LogOptions;
use crate::ops::{self, logs::LogEvent};
use std::io::{IsTerminal, Write};

pub struct LogArgs {
    pub targets: Vec<String>,
    pub follow: bool,
    pub since: Option<String>,
    pub tail: Option<u64>,
    pub grep: Option<String>,
    pub timestamps: bool,
}

const COLOURS: [&str; 6] = ["36", "35", "33", "32", "34", "31"];

pub async fn run(inv: &Inventory, cli: &Cli, a: LogArgs) -> Result<u8, Error> {
    let grep = match &a.grep {
        Some(re) => Some(regex::Regex::new(re).map_err(|e| {
            Error::usage(format!(
                "--grep {re:?} is not a valid regular expression: {e}"
            ))
        })?),
        None => None,
    };
    let since = match &a.since {
        Some(s) => {
            let d = humantime::parse_duration(s).map_err(|e| {
                Error::usage(format!("--since {s:?}: {e} (write it like 10m or 2h)"))
            })?;
            let secs = i64::try_from(d.as_secs())
                .ok()
                .and_then(|n| chrono::Utc::now().timestamp().checked_sub(n))
                .ok_or_else(|| Error::usage(format!("--since {s:?} is too long")))?;
            Some(secs)
        }
        None => None,
    };
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let sources = ops::logs::sources(inv, &hosts, &a.targets).await?;
    let arc_hosts = ops::logs::hosts_for(inv, &sources)?;
    let width = sources
        .iter()
        .map(|s| s.container.len())
        .max()
        .unwrap_or(0)
        .min(40);
    let many = sources.len() > 1;
    let colour = cli.output == OutputFormat::Human
        && std::io::stdout().is_terminal()
        && !crate::term::no_color(cli.no_color);
    let opts = LogOptions {
        follow: a.follow,
        tail: a.tail.or(if a.follow || since.is_some() {
            None
        } else {
            Some(100)
        }),
        since,
        max_line_bytes: inv.console.log_line_bytes,
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        });
    }
    let mut rx = ops::logs::read(arc_hosts, sources.clone(), opts, cancel);
    let mut buffered = Vec::new();
    let mut problems = 0;
    let stdout = std::io::stdout();
    while let Some(ev) = rx.recv().await {
        match ev {
            LogEvent::Lines(records) => {
                let records = records
                    .into_iter()
                    .filter(|r| grep.as_ref().is_none_or(|g| g.is_match(&r.line.text)));
                // One container (or -f): print as it comes; several: merge by time at the end.
                if a.follow || sources.len() == 1 {
                    // One write per batch, not per line (stdout alone is line-buffered).
                    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
                    for r in records {
                        let _ = writeln!(
                            out,
                            "{}",
                            format_record(
                                &r,
                                &sources,
                                width,
                                many,
                                colour,
                                a.timestamps,
                                cli.output
                            )
                        );
                    }
                    let _ = out.flush();
                } else {
                    buffered.extend(records);
                }
            }
            LogEvent::Problem {
                error, retrying, ..
            } => {
                problems += usize::from(!retrying);
                eprintln!(
                    "opsdeck: logs: {error}{}",
                    if retrying { " (reconnecting)" } else { "" }
                );
            }
            LogEvent::Ended(_) => {}
        }
    }
    if !a.follow && sources.len() > 1 {
        // Merge by time; lines without a timestamp keep their order.
        buffered.sort_by_key(|r| r.line.ts);
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
        for r in &buffered {
            let _ = writeln!(
                out,
                "{}",
                format_record(r, &sources, width, many, colour, a.timestamps, cli.output)
            );
        }
        let _ = out.flush();
    }
    Ok(if problems > 0 { 3 } else { 0 })
}

fn format_record(
    r: &ops::logs::LogRecord,
    sources: &[ops::logs::LogSource],
    width: usize,
    many: bool,
    colour: bool,
    timestamps: bool,
    output: OutputFormat,
) -> String {
    if output == OutputFormat::Json {
        return serde_json::to_string(r).unwrap_or_default();
    }
    let text = crate::secrets::mask_text(&r.line.text);
    let cut = if r.line.cut_bytes > 0 {
        format!(" … [{} more bytes]", r.line.cut_bytes)
    } else {
        String::new()
    };
    let ts = match (timestamps, r.line.ts) {
        (true, Some(t)) => format!(
            "{} ",
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
        _ => String::new(),
    };
    if !many {
        return format!("{ts}{text}{cut}");
    }
    let idx = sources
        .iter()
        .position(|s| s.id == r.source.id)
        .unwrap_or(0);
    let name = format!("{:<width$}", r.source.container);
    if colour {
        format!(
            "\x1b[{}m{name} |\x1b[0m {ts}{text}{cut}",
            COLOURS[idx % COLOURS.len()]
        )
    } else {
        format!("{name} | {ts}{text}{cut}")
    }
}
