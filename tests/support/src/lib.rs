//! Shared helpers for opsdeck's integration tests: the real test bed (`scripts/testbed up`),
//! the real binary, and cleanup of what a test creates (everything is named `opsdeck-test-...`).
//!
//! A library of its own (a dev-dependency of opsdeck), so that each test crate links what it
//! uses instead of compiling a copy of every helper; a test names it as before with
//! `use opsdeck_testkit as common;`.

pub mod pg;
pub mod s3;
pub mod ssh;
pub mod stack;
pub mod traefik;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The test bed's state directory.
pub fn testbed_dir() -> PathBuf {
    std::env::var_os("OPSDECK_TESTBED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/opsdeck-testbed"))
}

/// A value from the test bed's env file; panics (the test fails, never skips) when the test
/// bed is not up.
pub fn testbed_var(key: &str) -> String {
    let path = testbed_dir().join("env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the test bed is not up ({}: {e}); run `scripts/testbed up` first",
            path.display()
        )
    });
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{key} is missing from {}", path.display()))
}

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
pub fn compose_cmd() -> Vec<String> {
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

/// An isolated environment for the binary: its own XDG dirs (journal, config).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file in the sandbox and return its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    /// The real binary, with the sandbox's XDG dirs and no colour.
    pub fn opsdeck(&self) -> Command {
        let mut c = Command::new(opsdeck_bin());
        c.current_dir(self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("OPSDECK_CONFIG")
            .env_remove("OPSDECK_JOURNAL")
            // Each test its own locks: tests run in parallel and reuse app names.
            .env("OPSDECK_LOCK_DIR", self.dir.path().join("locks"))
            .env("NO_COLOR", "1");
        c
    }

    /// Directories in the sandbox that the SSH bed's user (the "host" side) writes: `locks`
    /// (the app locks taken on the host) and each of `dirs`; returns the paths of `dirs`.
    pub fn host_writable(&self, dirs: &[&str]) -> Vec<PathBuf> {
        chmod(self.path(), "o+rx");
        let paths: Vec<PathBuf> = dirs.iter().map(|d| self.path().join(d)).collect();
        for p in paths.iter().chain([&self.path().join("locks")]) {
            std::fs::create_dir_all(p).expect("mkdir");
            chmod(p, "1777");
        }
        paths
    }

    /// Run the binary with `args`; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        outcome(self.opsdeck().args(args).output().expect("opsdeck runs"))
    }

    /// The binary with extra environment (an SSH bed's client settings, credentials), and
    /// neither the caller's agent nor its passphrase.
    pub fn opsdeck_env(&self, env: &[(String, String)]) -> Command {
        let mut c = self.opsdeck();
        c.env_remove("SSH_AUTH_SOCK")
            .env_remove("OPSDECK_SSH_PASSPHRASE")
            .envs(env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// [`Sandbox::run`] with [`Sandbox::opsdeck_env`].
    pub fn run_env(&self, env: &[(String, String)], args: &[&str]) -> (i32, String, String) {
        outcome(
            self.opsdeck_env(env)
                .args(args)
                .output()
                .expect("opsdeck runs"),
        )
    }

    /// Run with `--output json` and parse stdout.
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let (code, out, err) = self.run(&all);
        let v = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"));
        (code, v)
    }
}

/// The binary under test. `env!("CARGO_BIN_EXE_opsdeck")` only exists while cargo compiles
/// one of opsdeck's own test targets, not this library; at run time cargo (1.94 and later)
/// sets the same variable for `cargo test`. A test binary run by hand, or by an older cargo,
/// finds it where cargo builds both: the test in `target/<profile>/deps/`, the binary in
/// `target/<profile>/`.
pub fn opsdeck_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CARGO_BIN_EXE_opsdeck") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test binary's own path");
    let dir = exe.parent().expect("the test binary's directory");
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let bin = dir.join(format!("opsdeck{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "no opsdeck binary at {} (CARGO_BIN_EXE_opsdeck unset); run the test through `cargo test`",
        bin.display()
    );
    bin
}

/// (exit code, stdout, stderr) of a finished process.
pub fn outcome(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `chmod MODE PATH` (so the SSH bed's user can reach a sandbox directory).
/// `chown OWNER PATH` (the SSH bed's user owns what it works on, as on a server).
pub fn chown(path: &Path, owner: &str) {
    let st = Command::new("chown")
        .arg(owner)
        .arg(path)
        .status()
        .expect("chown runs");
    assert!(st.success(), "chown {owner} {}", path.display());
}

pub fn chmod(path: &Path, mode: &str) {
    let ok = Command::new("chmod")
        .arg(mode)
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "chmod {mode} {}", path.display());
}

/// Poll `f` until it returns `Some`, or panic after `limit` with `what`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// GET `path` on 127.0.0.1:`port` with `Host: host`, raw HTTP/1.1; (status, body).
pub fn http_get(port: u16, path: &str, host: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string();
    Some((status, body))
}
