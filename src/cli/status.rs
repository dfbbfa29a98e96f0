use super::format::{bytes, short_duration, table};
use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops;

pub async fn run(
    inv: &Inventory,
    cli: &Cli,
    app: Option<String>,
    stats: bool,
) -> Result<u8, Error> {
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let report = ops::status_report(inv, &hosts, &ops::StatusOptions { app, stats }).await?;
    let any_down = report.iter().any(|h| !h.reachable);
    let any_refused = report.iter().any(|h| h.refused);
    match cli.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Human => {
            let mut rows = Vec::new();
            for h in &report {
                let mut last_project: Option<Option<&str>> = None;
                for c in &h.containers {
                    let i = &c.info;
                    let project = i.project.as_deref();
                    if last_project != Some(project) {
                        rows.push(vec![
                            h.host.clone(),
                            match project {
                                Some(p) => format!("{p}/"),
                                None => "(no project)".to_string(),
                            },
                        ]);
                        last_project = Some(project);
                    }
                    let health = match i.health {
                        crate::ops::Health::None => "-".to_string(),
                        other => other.as_str().to_string(),
                    };
                    let state = match i.exit_code {
                        _ if i.restart_loop() => format!(
                            "{} (restart loop, {} restarts)",
                            i.state_label(),
                            i.restart_count.unwrap_or(0)
                        ),
                        Some(code) => format!("{} ({code})", i.state_label()),
                        None => i.state_label().to_string(),
                    };
                    rows.push(vec![
                        String::new(),
                        format!("  {}", i.service.as_deref().unwrap_or(&i.name)),
                        i.name.clone(),
                        state,
                        health,
                        i.image.clone(),
                        i.uptime_secs
                            .map(short_duration)
                            .unwrap_or_else(|| "-".into()),
                        c.cpu_percent
                            .map(|v| format!("{v:.1}%"))
                            .unwrap_or_else(|| "-".into()),
                        c.memory_bytes.map(bytes).unwrap_or_else(|| "-".into()),
                    ]);
                }
                if h.reachable && h.containers.is_empty() {
                    rows.push(vec![h.host.clone(), "(no containers)".into()]);
                }
            }
            if !rows.is_empty() {
                outln!(
                    "{}",
                    table(
                        &[
                            "HOST",
                            "PROJECT/SERVICE",
                            "CONTAINER",
                            "STATE",
                            "HEALTH",
                            "IMAGE",
                            "UPTIME",
                            "CPU",
                            "MEM"
                        ],
                        &rows
                    )
                );
            }
            for h in &report {
                for m in &h.maintenance {
                    outln!(
                        "{}: {} is IN MAINTENANCE{} ({}): {}",
                        h.host,
                        m.app,
                        m.since
                            .as_deref()
                            .map(|s| format!(" since {s}"))
                            .unwrap_or_default(),
                        m.container,
                        m.message
                    );
                }
            }
            for h in report.iter().filter(|h| !h.reachable) {
                eprintln!(
                    "{}: unreachable: {}",
                    h.host,
                    h.error.as_deref().unwrap_or("unknown error")
                );
            }
        }
    }
    Ok(super::fanout_code_with(any_refused, any_down))
}
