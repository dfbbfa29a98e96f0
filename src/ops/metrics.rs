//! Host metrics (CPU, load, memory, root filesystem): read by the host adapter,
//! [`crate::host::metrics`]; re-exported here for the frontends.

pub use crate::host::metrics::{parse, read, CpuCounters, HostMetrics};
