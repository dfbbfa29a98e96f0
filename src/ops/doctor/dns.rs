//! The DNS step: each domain resolves to an address of the app's host.

use super::{step, Ctx, DoctorStep};
use crate::host::{Cmd, Host};
use std::net::IpAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn ips(a: &[IpAddr]) -> String {
    a.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each domain resolves to an address of the app's host.
pub(super) async fn check_dns(cx: &Ctx<'_>) -> DoctorStep {
    let spec = &cx.spec;
    let mut s = step("dns", "DNS names resolve to the host's address");
    if spec.domains.is_empty() {
        return s.skip("the app has no domains in the inventory");
    }
    let mine = host_addresses(&cx.host).await;
    for d in &spec.domains {
        match resolve(d).await {
            Ok(a) if a.iter().any(|ip| mine.contains(ip)) => {
                s.detail.push(format!("{d} -> {}", ips(&a)))
            }
            Ok(a) => s.fail(
                format!("{d} -> {} (the host {} is {})", ips(&a), spec.host, ips(&mine)),
                format!(
                    "point the A/AAAA record of {d} at {} (DNS changes can take the record's TTL to show)",
                    mine.first().map(|i| i.to_string()).unwrap_or_else(|| "the host".into())
                ),
            ),
            Err(e) => s.fail(
                format!("{d}: does not resolve: {e}"),
                format!("create an A record for {d} pointing at the host {}", spec.host),
            ),
        }
    }
    s
}

/// The `OPSDECK_RESOLVE` overrides: `name:ip,name:ip`.
pub fn resolve_overrides(spec: &str) -> Vec<(String, IpAddr)> {
    spec.split(',')
        .filter_map(|p| {
            let (n, ip) = p.trim().split_once(':')?;
            Some((n.trim().to_ascii_lowercase(), ip.trim().parse().ok()?))
        })
        .collect()
}

async fn resolve(name: &str) -> Result<Vec<IpAddr>, String> {
    if let Ok(spec) = std::env::var("OPSDECK_RESOLVE") {
        let o: Vec<IpAddr> = resolve_overrides(&spec)
            .into_iter()
            .filter(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, ip)| ip)
            .collect();
        if !o.is_empty() {
            return Ok(o);
        }
    }
    // RFC 6761: `localhost` and `*.localhost` are loopback, whatever the system resolver
    // (glibc without systemd-resolved) says.
    if crate::http::is_loopback_name(name) {
        return Ok(vec![
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ]);
    }
    let addrs = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host(format!("{name}:0")),
    )
    .await
    .map_err(|_| "no DNS answer within 5 s".to_string())?
    .map_err(|e| e.to_string())?;
    let mut v: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
    v.sort();
    v.dedup();
    Ok(v)
}

/// The addresses the host is known by: its SSH name resolved, and what the host itself
/// reports (`hostname -I`), and loopback for this machine.
async fn host_addresses(host: &Host) -> Vec<IpAddr> {
    let mut out = Vec::new();
    match host.ssh_target() {
        Some(t) => {
            if let Ok(a) = resolve(&t.host).await {
                out.extend(a);
            }
        }
        None => out.extend(
            ["127.0.0.1", "::1"]
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok()),
        ),
    }
    let cmd = Cmd::new("hostname")
        .arg("-I")
        .timeout(Duration::from_secs(5));
    if let Ok(o) = host.exec(&cmd, &CancellationToken::new()).await {
        if o.success() {
            out.extend(
                o.stdout_str()
                    .split_whitespace()
                    .filter_map(|a| a.parse::<IpAddr>().ok()),
            );
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides() {
        let o = resolve_overrides("shop.test:127.0.0.1, X.test:10.0.0.1,bad,y:notanip");
        assert_eq!(o.len(), 2);
        assert_eq!(o[1].0, "x.test");
    }
}
