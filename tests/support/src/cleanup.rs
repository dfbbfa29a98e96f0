//! What a test creates is named `opsdeck-test-...` (so `scripts/testbed clean` finds what a
//! crashed test left) and removed when the test's guard drops.

use crate::docker::compose_cmd;
use std::path::PathBuf;
use std::process::Command;

/// A unique name with the cleanup prefix.
pub fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "opsdeck-test-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes a container when dropped.
pub struct ContainerGuard(pub String);

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// Takes a compose project down when dropped.
pub struct ComposeGuard {
    pub dir: PathBuf,
    pub project: String,
}

impl Drop for ComposeGuard {
    fn drop(&mut self) {
        let cmd = compose_cmd();
        let _ = Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(["-p", &self.project, "-f"])
            .arg(self.dir.join("docker-compose.yml"))
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .output();
    }
}
