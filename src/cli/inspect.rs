//! `opsdeck inspect TARGET`: one block per container (human), or a JSON list of objects.
//! Everything printed was masked by the action layer; the JSON is masked once more on the
//! way out (secret-named keys), as every JSON document of ours is.

use super::format::bytes;
use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops::{self, inspect::ContainerDetails};

pub async fn run(inv: &Inventory, cli: &Cli, target: &str) -> Result<u8, Error> {
    let hosts = ops::select_hosts(inv, &ops::HostSelection(cli.hosts.clone()))?;
    let all = ops::inspect::inspect(inv, &hosts, target).await?;
    match cli.output {
        OutputFormat::Json => {
            let mut v = serde_json::to_value(&all)
                .map_err(|e| Error::failed(format!("encoding JSON: {e}")))?;
            crate::secrets::mask_json(&mut v);
            print_json(&v)?;
        }
        OutputFormat::Human => {
            for (i, d) in all.iter().enumerate() {
                if i > 0 {
                    outln!();
                }
                for line in describe(d) {
                    outln!("{}", crate::secrets::mask_text(&line));
                }
            }
        }
    }
    Ok(0)
}

fn quoted(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains(char::is_whitespace) || a.contains('"') {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

/// The human block for one container.
pub fn describe(d: &ContainerDetails) -> Vec<String> {
    let mut out = vec![format!(
        "{}/{}  ({})",
        d.host,
        d.name,
        d.id.chars().take(12).collect::<String>()
    )];
    let mut field = |k: &str, v: String| out.push(format!("  {k:<10} {v}"));
    field("image", d.image.clone());
    field("image id", or_dash(d.image_id.as_deref()).to_string());
    if !d.image_digests.is_empty() {
        field("digest", d.image_digests.join(", "));
    }
    if !d.entrypoint.is_empty() {
        field("entrypoint", quoted(&d.entrypoint));
    }
    field("command", quoted(&d.command));
    let s = &d.state;
    let mut state = s.status.clone();
    if let Some(c) = s.exit_code.filter(|_| !s.running) {
        state.push_str(&format!(", exit code {c}"));
    }
    state.push_str(if s.oom_killed {
        ", OOM-KILLED"
    } else {
        ", not OOM-killed"
    });
    if let Some(e) = &s.error {
        state.push_str(&format!(", error: {e}"));
    }
    field("state", state);
    if let Some(t) = &s.started_at {
        field("started", t.clone());
    }
    if let Some(t) = s.finished_at.as_ref().filter(|_| !s.running) {
        field("finished", t.clone());
    }
    let policy = match (&d.restart_policy, d.restart_max_retries) {
        (Some(p), Some(n)) if p == "on-failure" && n > 0 => format!("{p} (at most {n})"),
        (Some(p), _) => p.clone(),
        (None, _) => "no".into(),
    };
    field(
        "restart",
        format!(
            "policy {policy}, restarted {} times",
            d.restart_count.unwrap_or(0)
        ),
    );
    let l = &d.limits;
    let mut limits = Vec::new();
    if let Some(m) = l.memory_bytes {
        limits.push(format!("memory {}", bytes(m as u64)));
    }
    if let Some(m) = l.memory_swap_bytes {
        limits.push(format!("memory+swap {}", bytes(m as u64)));
    }
    if let Some(c) = l.cpus {
        limits.push(format!("cpus {c}"));
    }
    if let Some(c) = l.cpu_shares {
        limits.push(format!("cpu shares {c}"));
    }
    if let Some(c) = &l.cpuset_cpus {
        limits.push(format!("cpuset {c}"));
    }
    if let Some(p) = l.pids_limit {
        limits.push(format!("pids {p}"));
    }
    field(
        "limits",
        if limits.is_empty() {
            "none".into()
        } else {
            limits.join(", ")
        },
    );
    match &d.health {
        None => field("health", "no health check".into()),
        Some(h) => {
            let mut line = format!("{} {}", or_dash(h.status.as_deref()), quoted(&h.test));
            if let Some(i) = h.interval_secs {
                line.push_str(&format!(" every {i}s"));
            }
            if let Some(n) = h.failing_streak.filter(|n| *n > 0) {
                line.push_str(&format!(", failing {n} in a row"));
            }
            field("health", line);
            for p in &h.log {
                let code = p
                    .exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "?".into());
                field(
                    "",
                    format!(
                        "{} exit {code}: {}",
                        or_dash(p.start.as_deref()),
                        p.output.replace('\n', " ⏎ ")
                    ),
                );
            }
        }
    }
    field(
        "env",
        if d.env.is_empty() {
            "-".into()
        } else {
            String::new()
        },
    );
    for (k, v) in &d.env {
        field("", format!("{k}={v}"));
    }
    field(
        "mounts",
        if d.mounts.is_empty() {
            "-".into()
        } else {
            String::new()
        },
    );
    for m in &d.mounts {
        let from = m.name.as_deref().or(m.source.as_deref()).unwrap_or("?");
        let rw = if m.read_write { "rw" } else { "ro" };
        field("", format!("{} {from} -> {} ({rw})", m.kind, m.destination));
    }
    let ports: Vec<String> = d
        .ports
        .iter()
        .map(|p| match (&p.host_ip, &p.host_port) {
            (ip, Some(hp)) => format!("{} -> {}:{hp}", p.container, or_dash(ip.as_deref())),
            _ => format!("{} (not published)", p.container),
        })
        .collect();
    field(
        "ports",
        if ports.is_empty() {
            "-".into()
        } else {
            ports.join(", ")
        },
    );
    for n in &d.networks {
        field(
            "network",
            format!(
                "{} {}{}",
                n.name,
                or_dash(n.ip_address.as_deref()),
                n.ipv6_address
                    .as_deref()
                    .map(|a| format!(" {a}"))
                    .unwrap_or_default()
            ),
        );
    }
    field(
        "labels",
        if d.labels.is_empty() {
            "-".into()
        } else {
            String::new()
        },
    );
    for (k, v) in &d.labels {
        field("", format!("{k}={v}"));
    }
    out.iter_mut().for_each(|l| *l = l.trim_end().to_string());
    out
}
