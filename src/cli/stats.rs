use super::format::{bytes, table};
use super::{fanout_code, print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;

pub async fn run(inv: &Inventory, cli: &Cli, targets: &[String], watch: bool) -> Result<u8, Error> {
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    loop {
        let (rows, unreachable) = ops::stats::snapshot(inv, &hosts, targets).await?;
        match cli.output {
            OutputFormat::Json => print_json(&rows)?,
            OutputFormat::Human => {
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| match &r.sample {
                        Some(s) => vec![
                            r.host.clone(),
                            r.container.clone(),
                            format!("{:.1}%", s.cpu_percent),
                            format!(
                                "{} / {}",
                                bytes(s.memory_bytes),
                                bytes(s.memory_limit_bytes)
                            ),
                            format!("{} / {}", bytes(s.net_rx_bytes), bytes(s.net_tx_bytes)),
                            format!(
                                "{} / {}",
                                bytes(s.block_read_bytes),
                                bytes(s.block_write_bytes)
                            ),
                        ],
                        None => vec![
                            r.host.clone(),
                            r.container.clone(),
                            format!("error: {}", r.error.as_deref().unwrap_or("?")),
                        ],
                    })
                    .collect();
                outln!(
                    "{}",
                    table(
                        &[
                            "HOST",
                            "CONTAINER",
                            "CPU",
                            "MEM / LIMIT",
                            "NET RX / TX",
                            "BLOCK R / W"
                        ],
                        &body
                    )
                );
            }
        }
        for u in &unreachable {
            eprintln!("{u}");
        }
        if !watch {
            return Ok(fanout_code(!unreachable.is_empty()));
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(0),
        }
        if cli.output == OutputFormat::Human {
            outln!();
        }
    }
}
