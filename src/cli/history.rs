use super::format::table;
use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::journal::{HistoryFilter, Journal, Outcome};

pub async fn run(
    cli: &Cli,
    app: &Option<String>,
    action: &Option<String>,
    outcome: &Option<String>,
    since: &Option<String>,
    limit: u32,
) -> Result<u8, Error> {
    let since = match since {
        None => None,
        Some(s) => {
            let d = humantime::parse_duration(s).map_err(|e| {
                Error::usage(format!("--since {s:?}: {e} (write it like 2h or 7d)"))
            })?;
            let from = chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| chrono::Utc::now().checked_sub_signed(d))
                .ok_or_else(|| Error::usage(format!("--since {s:?} is too long")))?;
            Some(from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        }
    };
    let filter = HistoryFilter {
        app: app.clone(),
        action: action.clone(),
        outcome: outcome.as_deref().and_then(Outcome::parse),
        since,
        limit: Some(limit),
    };
    let journal = Journal::open_default().await?;
    let entries = journal.history(&filter).await?;
    match cli.output {
        OutputFormat::Json => print_json(&entries)?,
        OutputFormat::Human => {
            if entries.is_empty() {
                outln!(
                    "no actions recorded yet (journal: {})",
                    journal.path().display()
                );
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        e.started_at.clone(),
                        e.action.clone(),
                        e.target.clone(),
                        e.actor.clone(),
                        e.outcome.as_str().to_string(),
                        e.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            outln!(
                "{}",
                table(
                    &["ID", "STARTED", "ACTION", "TARGET", "ACTOR", "OUTCOME", "ERROR"],
                    &rows
                )
            );
        }
    }
    Ok(0)
}
