use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;

pub async fn run(inv: &Inventory, cli: &Cli) -> Result<u8, Error> {
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let reports = ops::hosts_report(&hosts, &cancel).await;
    let any_down = reports.iter().any(|r| !r.reachable);
    let any_refused = reports.iter().any(|r| r.refused);
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
            outln!(
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
    Ok(super::fanout_code_with(any_refused, any_down))
}

pub async fn trust(
    inv: &Inventory,
    cli: &Cli,
    name: &str,
    fingerprint: Option<&str>,
) -> Result<u8, Error> {
    let seen = std::sync::Mutex::new(Vec::new());
    let confirm = |k: &crate::ops::TrustedKey| {
        let ok = cli.yes || fingerprint == Some(k.fingerprint.as_str());
        if let Ok(mut s) = seen.lock() {
            s.push(format!("{} {} {}", k.pattern, k.key_type, k.fingerprint));
        }
        ok
    };
    match ops::query::trust(inv, name, &confirm).await {
        Ok(keys) => {
            match cli.output {
                OutputFormat::Json => print_json(
                    &keys
                        .iter()
                        .map(|k| {
                            serde_json::json!({
                                "target": k.target, "pattern": k.pattern, "key_type": k.key_type,
                                "fingerprint": k.fingerprint, "added": k.added,
                            })
                        })
                        .collect::<Vec<_>>(),
                )?,
                OutputFormat::Human => {
                    for k in &keys {
                        outln!(
                            "{} {} {} {}",
                            if k.added { "recorded" } else { "already known" },
                            k.pattern,
                            k.key_type,
                            k.fingerprint
                        );
                    }
                }
            }
            Ok(0)
        }
        Err(e) => {
            let shown = seen.lock().map(|s| s.clone()).unwrap_or_default();
            if e.kind == crate::error::ExitKind::Refused
                && !shown.is_empty()
                && !cli.yes
                && fingerprint.is_none()
            {
                return Err(Error::refused(format!(
                    "{name} presents:\n  {}\nVerify the fingerprint out of band, then run `opsdeck hosts trust {name} --fingerprint SHA256:...` (or --yes)",
                    shown.join("\n  ")
                )));
            }
            Err(e)
        }
    }
}
