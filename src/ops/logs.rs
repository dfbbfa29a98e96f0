//! Logs of several containers at once, merged: what `opsdeck logs` and the console's logs
//! pane read. Each container is followed by its own task; a broken stream is retried with
//! backoff (resuming from the last line seen) and reported, never left hanging.

use super::action::parse_target;
use super::lifecycle::resolve;
use crate::docker::logs::logs;
pub use crate::docker::logs::{LineAssembler, LogLine, LogOptions, LogStream};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use futures_util::StreamExt;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A container whose logs are read.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogSource {
    pub host: String,
    pub id: String,
    pub container: String,
    pub service: Option<String>,
}

/// One line, with where it came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogRecord {
    #[serde(flatten)]
    pub source: Arc<LogSource>,
    #[serde(flatten)]
    pub line: LogLine,
}

/// What a log reader reports besides lines.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent {
    Lines(Vec<LogRecord>),
    /// A stream broke; `retrying` says whether it will be resumed.
    Problem {
        source: Arc<LogSource>,
        error: String,
        retrying: bool,
    },
    /// A container's stream ended (history read, or the container stopped).
    Ended(Arc<LogSource>),
}

/// Resolve targets (`container`, `host/container`, `app`, `app/service`) to containers.
pub async fn sources(
    inv: &Inventory,
    hosts: &[Host],
    targets: &[String],
) -> Result<Vec<LogSource>, Error> {
    let mut out: Vec<LogSource> = Vec::new();
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
        for r in input.matched {
            if !out.iter().any(|s| s.host == r.host && s.id == r.id) {
                out.push(LogSource {
                    host: r.host,
                    id: r.id,
                    container: r.name,
                    service: r.service,
                });
            }
        }
    }
    Ok(out)
}

/// Start reading the logs of `sources`; events arrive on the returned channel until every
/// stream has ended (or `cancel` fires).
pub fn read(
    hosts: Vec<Arc<Host>>,
    sources: Vec<LogSource>,
    opts: LogOptions,
    cancel: CancellationToken,
) -> mpsc::Receiver<LogEvent> {
    let (tx, rx) = mpsc::channel(256);
    for s in sources {
        let Some(host) = hosts.iter().find(|h| h.name() == s.host).cloned() else {
            continue;
        };
        let tx = tx.clone();
        let opts = opts.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let src = Arc::new(s);
            tokio::select! {
                _ = follow_one(&host, src.clone(), opts, &tx) => {}
                _ = cancel.cancelled() => {}
            }
            let _ = tx.send(LogEvent::Ended(src)).await;
        });
    }
    rx
}

async fn follow_one(
    host: &Host,
    src: Arc<LogSource>,
    mut opts: LogOptions,
    tx: &mpsc::Sender<LogEvent>,
) {
    let mut backoff = Duration::from_secs(1);
    let mut attempts = 0;
    loop {
        let problem = match host.docker().await {
            Err(e) => e.to_string(),
            Ok(d) => {
                let mut stream = Box::pin(logs(&d, &src.id, &opts));
                let mut err = None;
                while let Some(batch) = stream.next().await {
                    match batch {
                        Ok(lines) => {
                            if let Some(ts) = lines.iter().rev().find_map(|l| l.ts) {
                                // Resume after the last line seen if the stream breaks.
                                opts.since = Some(ts.timestamp() + 1);
                                opts.tail = None;
                            }
                            attempts = 0;
                            let records = lines
                                .into_iter()
                                .map(|line| LogRecord {
                                    source: src.clone(),
                                    line,
                                })
                                .collect();
                            if tx.send(LogEvent::Lines(records)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            err = Some(crate::docker::describe_error(&e));
                            break;
                        }
                    }
                }
                match err {
                    None => return,
                    Some(e) => e,
                }
            }
        };
        attempts += 1;
        let retrying = opts.follow && attempts <= 5;
        let _ = tx
            .send(LogEvent::Problem {
                source: src.clone(),
                error: format!("{}/{}: {problem}", src.host, src.container),
                retrying,
            })
            .await;
        if !retrying {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Host handles for the hosts the sources live on.
pub fn hosts_for(inv: &Inventory, sources: &[LogSource]) -> Result<Vec<Arc<Host>>, Error> {
    let mut names: Vec<&str> = sources.iter().map(|s| s.host.as_str()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| super::select::host(inv, n).map(Arc::new))
        .collect()
}
