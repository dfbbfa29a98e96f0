//! The real binary in a sandbox of its own: XDG dirs, locks, files, and its outcome.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An isolated environment for the binary: its own XDG dirs (journal, config).
pub struct Sandbox {
    dir: tempfile::TempDir,
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

    /// [`Sandbox::run_env`] with the locks kept in the sandbox (`OPSDECK_LOCK_DIR`), as tests
    /// of apps whose hosts are reached over SSH by another user need.
    pub fn run_locked(&self, env: &[(String, String)], args: &[&str]) -> (i32, String, String) {
        outcome(
            self.opsdeck_env(env)
                .env("OPSDECK_LOCK_DIR", self.path().join("locks"))
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
fn opsdeck_bin() -> PathBuf {
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

/// `chown OWNER PATH` (the SSH bed's user owns what it works on, as on a server).
pub fn chown(path: &Path, owner: &str) {
    let st = Command::new("chown")
        .arg(owner)
        .arg(path)
        .status()
        .expect("chown runs");
    assert!(st.success(), "chown {owner} {}", path.display());
}

/// `chmod MODE PATH` (so the SSH bed's user can reach a sandbox directory).
pub fn chmod(path: &Path, mode: &str) {
    let ok = Command::new("chmod")
        .arg(mode)
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "chmod {mode} {}", path.display());
}
