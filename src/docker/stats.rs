//! Container resource samples: one-shot, or two consecutive readings for the CPU share.

use super::{Engine, EngineError};
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;
use serde::Serialize;

/// One resource sample of a container.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct StatsSample {
    /// Percent of one CPU (100.0 = one full core), like `docker stats`.
    pub cpu_percent: f64,
    /// Memory in use, page cache excluded, like `docker stats`.
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
}

impl StatsSample {
    /// Compute from one stats document (which carries the previous CPU reading too).
    pub fn from_engine(s: &ContainerStatsResponse) -> Self {
        let cpu = s.cpu_stats.as_ref();
        let pre = s.precpu_stats.as_ref();
        let total = |c: Option<&bollard::models::ContainerCpuStats>| {
            c.and_then(|c| c.cpu_usage.as_ref())
                .and_then(|u| u.total_usage)
                .unwrap_or(0)
        };
        let system = |c: Option<&bollard::models::ContainerCpuStats>| {
            c.and_then(|c| c.system_cpu_usage).unwrap_or(0)
        };
        let cpu_delta = total(cpu).saturating_sub(total(pre)) as f64;
        let sys_delta = system(cpu).saturating_sub(system(pre)) as f64;
        let online = cpu
            .and_then(|c| c.online_cpus)
            .map(f64::from)
            .or_else(|| {
                cpu.and_then(|c| c.cpu_usage.as_ref())
                    .and_then(|u| u.percpu_usage.as_ref())
                    .map(|v| v.len() as f64)
            })
            .unwrap_or(1.0);
        let cpu_percent = if sys_delta > 0.0 && total(pre) > 0 {
            cpu_delta / sys_delta * online * 100.0
        } else {
            0.0
        };
        let mem = s.memory_stats.as_ref();
        let usage = mem.and_then(|m| m.usage).unwrap_or(0);
        let cache = mem
            .and_then(|m| m.stats.as_ref())
            .and_then(|st| {
                st.get("inactive_file")
                    .or_else(|| st.get("total_inactive_file"))
                    .or_else(|| st.get("cache"))
                    .copied()
            })
            .unwrap_or(0);
        let (mut rx, mut tx) = (0, 0);
        for n in s.networks.iter().flat_map(|m| m.values()) {
            rx += n.rx_bytes.unwrap_or(0);
            tx += n.tx_bytes.unwrap_or(0);
        }
        let (mut rd, mut wr) = (0, 0);
        for e in s
            .blkio_stats
            .iter()
            .flat_map(|b| b.io_service_bytes_recursive.iter().flatten())
        {
            match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("read") => rd += e.value.unwrap_or(0),
                Some("write") => wr += e.value.unwrap_or(0),
                _ => {}
            }
        }
        Self {
            cpu_percent,
            memory_bytes: usage.saturating_sub(cache),
            memory_limit_bytes: mem.and_then(|m| m.limit).unwrap_or(0),
            net_rx_bytes: rx,
            net_tx_bytes: tx,
            block_read_bytes: rd,
            block_write_bytes: wr,
        }
    }
}

/// Take one sample of a running container (the engine waits for a second reading so the CPU
/// figure is real; about one second).
pub async fn sample_stats(docker: &Engine, container: &str) -> Result<StatsSample, EngineError> {
    let mut stream = docker.stats(
        container,
        Some(StatsOptionsBuilder::new().stream(false).build()),
    );
    match stream.next().await {
        Some(Ok(s)) => Ok(StatsSample::from_engine(&s)),
        Some(Err(e)) => Err(e),
        None => Ok(StatsSample::default()),
    }
}

/// One raw stats reading of a container, kept until the next one: the CPU share is the
/// difference of two ([`Reading::since`]).
#[derive(Debug, Clone)]
pub struct Reading(ContainerStatsResponse);

impl Reading {
    /// The sample from `before` to this reading.
    pub fn since(&mut self, before: &Reading) -> StatsSample {
        self.0.precpu_stats = before.0.cpu_stats.clone();
        StatsSample::from_engine(&self.0)
    }
}

/// Read a container's stats once, without the engine's wait for a second reading (a
/// "one-shot": its CPU figures need an earlier [`Reading`]). `None`: the engine sent none.
pub async fn read_once(docker: &Engine, container: &str) -> Result<Option<Reading>, EngineError> {
    let opts = StatsOptionsBuilder::new()
        .stream(false)
        .one_shot(true)
        .build();
    match docker.stats(container, Some(opts)).next().await {
        Some(r) => r.map(|s| Some(Reading(s))),
        None => Ok(None),
    }
}
