use super::format::table;
use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;

/// `opsdeck check [NAME]`: exit 0 when every check is up, 1 otherwise.
pub async fn run(inv: &Inventory, cli: &Cli, name: Option<&str>) -> Result<u8, Error> {
    if inv.checks.is_empty() {
        return Err(Error::usage(
            "no checks in the inventory; add a [checks.NAME] table with a url",
        ));
    }
    let results = ops::checks::run_now(inv, name).await?;
    match cli.output {
        OutputFormat::Json => print_json(&results)?,
        OutputFormat::Human => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        if r.up { "up".into() } else { "DOWN".into() },
                        r.probe
                            .status
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.probe
                            .latency_ms
                            .map(|l| format!("{l:.1}ms"))
                            .unwrap_or_else(|| "-".into()),
                        r.probe.url.clone(),
                        r.probe
                            .error
                            .clone()
                            .or_else(|| r.probe.body.clone())
                            .unwrap_or_default()
                            .chars()
                            .take(60)
                            .collect(),
                    ]
                })
                .collect();
            outln!(
                "{}",
                table(
                    &["CHECK", "STATE", "STATUS", "LATENCY", "URL", "DETAIL"],
                    &rows
                )
            );
        }
    }
    Ok(if results.iter().all(|r| r.up) { 0 } else { 1 })
}
