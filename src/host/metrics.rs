//! Host metrics read through the host transport: CPU (from /proc/stat deltas), load,
//! memory (/proc/meminfo) and the root filesystem (`df`). Works the same over SSH.

use super::{Cmd, Host};
use serde::Serialize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct HostMetrics {
    /// Busy share of all CPUs since the previous reading, 0-100.
    pub cpu_percent: Option<f64>,
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    pub mem_total_bytes: u64,
    pub mem_available_bytes: u64,
    pub disk_total_bytes: u64,
    pub disk_used_bytes: u64,
}

/// CPU counters from `/proc/stat`: (busy, total) jiffies.
pub type CpuCounters = (u64, u64);

const SCRIPT: &str = "cat /proc/loadavg; echo --; cat /proc/meminfo; echo --; head -n1 /proc/stat; echo --; df -P -k / | tail -n1";

/// Read the host's metrics; `prev` is the previous CPU reading (for the CPU share).
pub async fn read(
    host: &Host,
    prev: Option<CpuCounters>,
) -> Result<(HostMetrics, CpuCounters), String> {
    let out = host
        .exec(
            &Cmd::new("sh")
                .arg("-c")
                .arg(SCRIPT)
                .timeout(Duration::from_secs(10)),
            &CancellationToken::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(format!("reading /proc failed: {}", out.stderr_str().trim()));
    }
    parse(&out.stdout_str(), prev)
}

/// Parse the script's output (pure, for tests).
pub fn parse(text: &str, prev: Option<CpuCounters>) -> Result<(HostMetrics, CpuCounters), String> {
    let parts: Vec<&str> = text.split("--\n").collect();
    if parts.len() < 4 {
        return Err("unexpected /proc output".into());
    }
    let mut m = HostMetrics::default();
    let load: Vec<f64> = parts[0]
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    if let [a, b, c] = load.as_slice() {
        (m.load1, m.load5, m.load15) = (*a, *b, *c);
    }
    for line in parts[1].lines() {
        let mut f = line.split_whitespace();
        let key = f.next().unwrap_or("");
        let kb: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        match key {
            "MemTotal:" => m.mem_total_bytes = kb * 1024,
            "MemAvailable:" => m.mem_available_bytes = kb * 1024,
            _ => {}
        }
    }
    let nums: Vec<u64> = parts[2]
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = nums.iter().take(8).sum();
    let idle = nums.get(3).copied().unwrap_or(0) + nums.get(4).copied().unwrap_or(0);
    let counters = (total.saturating_sub(idle), total);
    if let Some((pb, pt)) = prev {
        let dt = counters.1.saturating_sub(pt);
        if dt > 0 {
            m.cpu_percent = Some(counters.0.saturating_sub(pb) as f64 / dt as f64 * 100.0);
        }
    }
    let df: Vec<u64> = parts[3]
        .split_whitespace()
        .skip(1)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    if let [total_kb, used_kb] = df.as_slice() {
        m.disk_total_bytes = total_kb * 1024;
        m.disk_used_bytes = used_kb * 1024;
    }
    Ok((m, counters))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_and_df() {
        let a = "0.50 0.40 0.30 1/200 999\n--\nMemTotal: 1000 kB\nMemFree: 10 kB\nMemAvailable: 400 kB\n--\ncpu  100 0 100 800 0 0 0 0 0 0\n--\n/dev/vda 2000 500 1500 25% /\n";
        let (m, c) = parse(a, None).expect("parse");
        assert_eq!((m.load1, m.load15), (0.5, 0.3));
        assert_eq!(m.mem_total_bytes, 1_024_000);
        assert_eq!(m.mem_available_bytes, 409_600);
        assert_eq!(m.disk_used_bytes, 512_000);
        assert_eq!(c, (200, 1000));
        assert!(m.cpu_percent.is_none());
        let b = a.replace("cpu  100 0 100 800", "cpu  150 0 150 900");
        let (m, _) = parse(&b, Some(c)).expect("parse");
        assert_eq!(m.cpu_percent, Some(50.0));
    }
}
