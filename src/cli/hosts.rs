use super::{fanout_code, print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;

pub async fn run(inv: &Inventory, cli: &Cli) -> Result<u8, Error> {
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let reports = ops::hosts_report(&hosts, &cancel).await;
    let any_down = reports.iter().any(|r| !r.reachable);
    match cli.output {
        OutputFormat::Json => print_json(&reports)?,
        OutputFormat::Human => {
            let rows: Vec<Vec<String>> = reports
                .iter()
                .map(|r| {
                    vec![
                        r.host.clone(),
                        if r.reachable {
                            "up".into()
                        } else {
                            "DOWN".into()
                        },
                        r.transport.clone(),
                        r.target.clone(),
                        r.auth.clone().unwrap_or_else(|| "-".into()),
                        r.engine_version
                            .as_ref()
                            .map(|v| {
                                format!("{v} (api {})", r.api_version.as_deref().unwrap_or("?"))
                            })
                            .unwrap_or_else(|| "-".into()),
                        r.compose.clone().unwrap_or_else(|| "-".into()),
                        r.latency_ms
                            .map(|l| format!("{l:.1}ms"))
                            .unwrap_or_else(|| "-".into()),
                        r.containers
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            println!(
                "{}",
                super::format::table(
                    &[
                        "HOST", "STATE", "VIA", "TARGET", "AUTH", "ENGINE", "COMPOSE", "LATENCY",
                        "RUNNING"
                    ],
                    &rows
                )
            );
            for r in reports.iter().filter(|r| r.error.is_some()) {
                eprintln!("{}: {}", r.host, r.error.as_deref().unwrap_or_default());
            }
        }
    }
    Ok(fanout_code(any_down))
}
