//! `opsdeck routes list|add|remove`.

use super::{action, print_json, Cli, OutputFormat, RoutesCommand};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops::{self, HostSelection};

pub async fn run(inv: &Inventory, cli: &Cli, cmd: &RoutesCommand) -> Result<u8, Error> {
    let sel = HostSelection(cli.hosts.clone());
    match cmd {
        RoutesCommand::List => list(inv, cli, &sel).await,
        RoutesCommand::Add {
            name,
            rule,
            to,
            entrypoint,
            cert_resolver,
        } => {
            // Validate everything the user typed before touching any host.
            ops::action::add_action(
                String::new(),
                name,
                rule,
                to,
                entrypoint.as_deref(),
                cert_resolver.as_deref(),
            )?;
            let host = ops::routes::pick_host(inv, &sel)?;
            let a = ops::action::add_action(
                host,
                name,
                rule,
                to,
                entrypoint.as_deref(),
                cert_resolver.as_deref(),
            )?;
            action::run(inv, cli, a).await
        }
        RoutesCommand::Remove { name } => {
            ops::action::check_router_name("router", name)?;
            let host = ops::routes::pick_host(inv, &sel)?;
            let a = ops::Action::RouteRemove {
                host,
                name: name.clone(),
            };
            action::run(inv, cli, a).await
        }
        RoutesCommand::Check { name } => check(inv, cli, &sel, name.as_deref()).await,
        RoutesCommand::Show => {
            let host = ops::routes::pick_host(inv, &sel)?;
            let (path, text) = ops::routes::read_file(inv, &host).await?;
            match cli.output {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "host": host, "path": path, "exists": text.is_some(),
                    "contents": text.clone().unwrap_or_default(),
                }))?,
                OutputFormat::Human => out!("{}", text.unwrap_or_default()),
            }
            Ok(0)
        }
        RoutesCommand::Apply { file } => {
            let contents = read_input(file)?;
            // Check the text before touching any host.
            ops::routes::check_text(&contents, &file.display().to_string())
                .map_err(|e| Error::usage(format!("{}: {e}", file.display())))?;
            let host = ops::routes::pick_host(inv, &sel)?;
            action::run(inv, cli, ops::Action::RoutesApply { host, contents }).await
        }
    }
}

async fn check(
    inv: &Inventory,
    cli: &Cli,
    sel: &HostSelection,
    name: Option<&str>,
) -> Result<u8, Error> {
    let (checks, problems) = ops::routes::check(inv, sel, name).await?;
    let failed = checks
        .iter()
        .any(|c| c.result == ops::routes::CheckResult::Failed);
    match cli.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "checks": checks,
            "problems": problems,
        }))?,
        OutputFormat::Human => {
            for p in &problems {
                outln!("! {p}");
            }
            outln!(
                "{:<12} {:<24} {:<32} {:<6} {:<8} {:<9} RESULT",
                "HOST",
                "ROUTER",
                "HOST HEADER",
                "HTTP",
                "LATENCY",
                "TRAEFIK"
            );
            for c in &checks {
                outln!(
                    "{:<12} {:<24} {:<32} {:<6} {:<8} {:<9} {}{}",
                    c.host,
                    c.router,
                    c.host_header.as_deref().unwrap_or("-"),
                    c.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    c.latency_ms
                        .map(|l| format!("{l:.0}ms"))
                        .unwrap_or_else(|| "-".into()),
                    c.traefik_status.as_deref().unwrap_or("?"),
                    c.result.as_str(),
                    c.detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(if failed {
        1
    } else if !problems.is_empty() {
        crate::error::ExitKind::Unreachable.code() as u8
    } else {
        0
    })
}

/// The text of FILE, or of standard input for `-`.
fn read_input(file: &std::path::Path) -> Result<String, Error> {
    use std::io::Read;
    let mut text = String::new();
    let limit = ops::routes::MAX_FILE_BYTES as u64 + 1;
    let read = if file.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_string(&mut text))
    };
    read.map_err(|e| Error::usage(format!("reading {}: {e}", file.display())))?;
    Ok(text)
}

async fn list(inv: &Inventory, cli: &Cli, sel: &HostSelection) -> Result<u8, Error> {
    let report = ops::routes::list(inv, sel).await?;
    let problems = report
        .iter()
        .any(|h| h.file_error.is_some() || h.labels_error.is_some() || h.api_error.is_some());
    match cli.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Human => {
            for h in &report {
                outln!(
                    "{}: routes file {}, API {}",
                    h.host,
                    h.routes_file.as_deref().unwrap_or("(none)"),
                    h.api.as_deref().unwrap_or("(none)")
                );
                for e in [&h.file_error, &h.labels_error, &h.api_error]
                    .into_iter()
                    .flatten()
                {
                    outln!("  ! {e}");
                }
                outln!(
                    "  {:<24} {:<7} {:<32} {:<12} {:<26} {:<9} STATUS",
                    "ROUTER",
                    "FROM",
                    "HOSTS",
                    "ENTRYPOINTS",
                    "TARGET",
                    "TLS"
                );
                for r in &h.routes {
                    outln!(
                        "  {:<24} {:<7} {:<32} {:<12} {:<26} {:<9} {}{}",
                        r.route.router,
                        r.route.provider,
                        r.route.hosts.join(","),
                        if r.route.entrypoints.is_empty() {
                            "(all)".to_string()
                        } else {
                            r.route.entrypoints.join(",")
                        },
                        r.route.targets.join(","),
                        r.route.cert_resolver.as_deref().unwrap_or("-"),
                        r.status.as_deref().unwrap_or("?"),
                        if r.errors.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", r.errors.join("; "))
                        }
                    );
                    if cli.verbose > 0 {
                        outln!("      rule {}  (from {})", r.route.rule, r.route.source);
                    }
                }
                let others: Vec<_> = h
                    .api_routers
                    .iter()
                    .filter(|a| !h.routes.iter().any(|r| r.route.api_name() == a.name))
                    .collect();
                if !others.is_empty() {
                    outln!("  other routers Traefik reports:");
                    for a in others {
                        outln!(
                            "  {:<40} {:<9} {}{}",
                            a.name,
                            a.status,
                            a.rule,
                            if a.errors.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", a.errors.join("; "))
                            }
                        );
                    }
                }
            }
        }
    }
    Ok(if problems {
        crate::error::ExitKind::Unreachable.code() as u8
    } else {
        0
    })
}
