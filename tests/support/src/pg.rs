//! A real Postgres per test (the test bed's opsdeck-test/postgres image) with a small `shop`
//! database, plus helpers to read backup directories and the journal.

use crate::cleanup::{unique, ContainerGuard};
use crate::docker::{docker, require_docker};
use crate::sandbox::Sandbox;
use crate::wait::wait_for;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub struct Pg {
    _c: ContainerGuard,
    pub name: String,
}

/// A running Postgres with `shop`: `orders` (5000 rows) and `users` (2 rows).
pub fn pg() -> Pg {
    require_docker();
    let name = unique("pg");
    let guard = ContainerGuard(name.clone());
    docker(&["run", "-d", "--name", &name, "opsdeck-test/postgres:15"]);
    wait_for(
        "postgres to accept connections",
        Duration::from_secs(60),
        || {
            Command::new("docker")
                .args(["exec", &name, "pg_isready", "-q"])
                .status()
                .ok()
                .filter(|s| s.success())
        },
    );
    let pg = Pg { _c: guard, name };
    pg.sql("postgres", "CREATE DATABASE shop");
    pg.sql(
        "shop",
        "CREATE TABLE orders(id serial PRIMARY KEY, total int, note text); \
         INSERT INTO orders(total, note) SELECT g, md5(g::text) FROM generate_series(1, 5000) g; \
         CREATE TABLE users(id int, email text); INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x');",
    );
    pg
}

impl Pg {
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let o = Command::new("docker")
            .args([
                "exec",
                &self.name,
                "psql",
                "-U",
                "postgres",
                "-d",
                db,
                "-tAq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            o.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// A checksum of every table's content (order-independent of storage).
    pub fn checksum(&self) -> String {
        self.sql(
            "shop",
            "SELECT md5((SELECT string_agg(id || ':' || total || ':' || note, ',' ORDER BY id) FROM orders) || '|' || (SELECT string_agg(id || ':' || email, ',' ORDER BY id) FROM users))",
        )
    }

    /// Kill every pg_dump running in the container (host PIDs from `docker top`); how many.
    pub fn kill_pg_dump(&self) -> usize {
        let top = docker(&["top", &self.name, "-o", "pid,comm"]);
        let pids: Vec<&str> = top
            .lines()
            .filter(|l| l.contains("pg_dump"))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for pid in &pids {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        pids.len()
    }

    /// Whether pg_dump is running in the container.
    pub fn pg_dump_running(&self) -> bool {
        docker(&["top", &self.name, "-o", "pid,comm"]).contains("pg_dump")
    }
}

/// The file names in a directory, sorted (empty when it does not exist).
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The outcome of the newest journal entry.
pub fn last_outcome(sb: &Sandbox) -> String {
    let (_, v) = sb.json(&["history", "--limit", "1"]);
    v[0]["outcome"].as_str().unwrap_or("").to_string()
}

/// sha256 of a file, by the system's sha256sum.
pub fn sha256sum(p: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Start `cmd` (a backup) in the background with its stderr kept, and wait until
/// `streaming` says the dump is under way; fails the test if the command ends first.
pub fn start_streaming(
    mut cmd: Command,
    what: &str,
    mut streaming: impl FnMut() -> bool,
) -> std::process::Child {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(what, Duration::from_secs(60), || {
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("ended before {what} ({st}): {err}");
        }
        streaming().then_some(())
    });
    child
}

/// Whether `dir` holds a dump being written.
pub fn has_partial(dir: &Path) -> bool {
    files(dir).iter().any(|f| f.ends_with(".partial"))
}

/// Wait for a command started by [`start_streaming`]: its exit code and stderr.
pub fn finish(child: std::process::Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
