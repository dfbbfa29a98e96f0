//! The local Docker engine and compose, as the test bed set them up.

use crate::testbed::testbed_var;
use std::path::Path;
use std::process::{Command, Output};

/// Fail (never skip) when the Docker engine is not reachable.
pub fn require_docker() {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the Docker engine is not reachable; run `scripts/testbed up` (tests never skip a missing service)"
    );
}

/// Run `docker ARGS`, panicking with its stderr when it fails.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The compose command the test bed found (`docker compose` or `docker-compose`).
pub(crate) fn compose_cmd() -> Vec<String> {
    testbed_var("OPSDECK_TB_COMPOSE")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Run compose for a project directory.
pub fn compose(dir: &Path, project: &str, args: &[&str]) -> Output {
    let cmd = compose_cmd();
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(["-p", project, "-f"])
        .arg(dir.join("docker-compose.yml"))
        .args(args)
        .output()
        .expect("compose runs");
    assert!(
        out.status.success(),
        "compose {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
