use super::format::{bytes, short_duration, table};
use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;

/// Warn when the newest verified backup is older than this (unless the database says).
const DEFAULT_MAX_AGE_SECS: u64 = 26 * 3600;

pub async fn run(inv: &Inventory, cli: &Cli, db: Option<&str>) -> Result<u8, Error> {
    let list = ops::backup::list(inv, db).await?;
    let now = chrono::Utc::now();
    let age = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0) as u64)
            .unwrap_or(0)
    };
    match cli.output {
        OutputFormat::Json => {
            let v: Vec<serde_json::Value> = list
                .iter()
                .map(|(m, _)| {
                    let mut j = serde_json::json!({
                        "id": m.id, "database": m.database, "time": m.time, "size": m.size,
                        "sha256": m.sha256, "verified": m.verified, "verified_at": m.verified_at,
                        "age_secs": age(&m.time), "storage": m.storage, "tables": m.tables,
                        "kind": if m.kind.is_empty() { "postgres" } else { m.kind.as_str() },
                        "host": m.host,
                    });
                    // Every file of a volume's backup when one name is asked for (a whole
                    // listing stays small).
                    if !m.files.is_empty() {
                        j["file_count"] = m.files.len().into();
                        if db.is_some() {
                            j["files"] = serde_json::to_value(&m.files).unwrap_or_default();
                        }
                    }
                    j
                })
                .collect();
            print_json(&v)?;
        }
        OutputFormat::Human => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|(m, _)| {
                    vec![
                        m.id.clone(),
                        m.time.clone(),
                        bytes(m.size),
                        m.sha256.chars().take(16).collect(),
                        if m.verified {
                            "yes".into()
                        } else {
                            "NO".into()
                        },
                        short_duration(age(&m.time)),
                    ]
                })
                .collect();
            outln!(
                "{}",
                table(&["ID", "TIME", "SIZE", "SHA256", "VERIFIED", "AGE"], &rows)
            );
        }
    }
    // Warn, per database, when the newest verified backup is too old (or there is none).
    let mut dbs: Vec<&str> = list.iter().map(|(m, _)| m.database.as_str()).collect();
    dbs.sort();
    dbs.dedup();
    if let Some(d) = db {
        if !dbs.contains(&d) {
            eprintln!("warning: {d} has no backups");
        }
    }
    for d in dbs {
        let max = list
            .iter()
            .find(|(m, _)| m.database == d)
            .and_then(|(_, a)| *a)
            .unwrap_or(DEFAULT_MAX_AGE_SECS);
        match list.iter().find(|(m, _)| m.database == d && m.verified) {
            None => eprintln!("warning: {d} has no verified backup"),
            Some((m, _)) if age(&m.time) > max => eprintln!(
                "warning: {d}'s newest verified backup is {} old (more than {})",
                short_duration(age(&m.time)),
                short_duration(max)
            ),
            _ => {}
        }
    }
    Ok(0)
}
