use super::format::{bytes, table};
use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;

pub async fn run(inv: &Inventory, cli: &Cli, server: Option<&str>) -> Result<u8, Error> {
    let servers = ops::provision::list(inv, server).await?;
    match cli.output {
        OutputFormat::Json => {
            let v: Vec<serde_json::Value> = servers
                .iter()
                .flat_map(|(s, rows)| {
                    rows.iter().map(move |r| {
                        let mut v = serde_json::to_value(r).unwrap_or_default();
                        if let Some(o) = v.as_object_mut() {
                            o.insert("server".into(), s.clone().into());
                        }
                        v
                    })
                })
                .collect();
            print_json(&v)?
        }
        OutputFormat::Human => {
            let rows: Vec<Vec<String>> = servers
                .iter()
                .flat_map(|(s, rows)| {
                    rows.iter().map(move |r| {
                        vec![
                            s.clone(),
                            r.database.clone(),
                            r.owner.clone(),
                            bytes(r.size_bytes.max(0) as u64),
                            r.connections.to_string(),
                            r.last_backup.clone().unwrap_or_else(|| "never".into()),
                        ]
                    })
                })
                .collect();
            outln!(
                "{}",
                table(
                    &[
                        "SERVER",
                        "DATABASE",
                        "OWNER",
                        "SIZE",
                        "CONNECTIONS",
                        "LAST BACKUP"
                    ],
                    &rows
                )
            );
        }
    }
    Ok(0)
}
