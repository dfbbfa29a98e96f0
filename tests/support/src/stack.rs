//! A compose stack the way an operator runs it: files in a directory, `compose up -d` there
//! with no `-p` (compose names the project from `.env` or the directory), taken down when
//! dropped; and what tests do with the Postgres in such stacks.

use crate::docker::{compose_cmd, docker};
use crate::testbed::testbed_var;
use crate::wait::wait_for;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Stack {
    pub dir: PathBuf,
    pub project: String,
}

impl Stack {
    /// Write `files` (name, text) into `dir` and bring the stack up.
    pub fn up(dir: &Path, project: &str, files: &[(&str, String)]) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write stack file");
        }
        let s = Stack {
            dir: dir.to_path_buf(),
            project: project.to_string(),
        };
        s.compose(&["up", "-d"]);
        s
    }

    pub fn compose(&self, args: &[&str]) -> String {
        let cmd = compose_cmd();
        let out = Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(args)
            .current_dir(&self.dir)
            .env_remove("COMPOSE_PROJECT_NAME")
            .output()
            .expect("compose");
        assert!(
            out.status.success(),
            "compose {args:?} in {}: {}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The container of `service` (by compose's labels: after a zero-downtime deploy it has
    /// the next number, `_2`, as compose's own scaling names it); compose v1's first name
    /// when there is none yet.
    pub fn container(&self, service: &str) -> String {
        let names = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.Names}}",
        ]);
        let names: Vec<&str> = names.lines().collect();
        match names[..] {
            [one] => one.to_string(),
            [] => format!("{}_{service}_1", self.project),
            _ => panic!("{service} has {} containers: {names:?}", names.len()),
        }
    }

    pub fn image_id(&self, service: &str) -> String {
        docker(&["inspect", "-f", "{{.Image}}", &self.container(service)])
            .trim()
            .to_string()
    }

    /// `psql` in the stack's Postgres container on its local socket, as `user`.
    pub fn psql(&self, service: &str, user: &str, db: &str, sql: &str) -> String {
        docker(&[
            "exec",
            &self.container(service),
            "psql",
            "-U",
            user,
            "-d",
            db,
            "-qAtX",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .trim()
        .to_string()
    }

    pub fn wait_healthy(&self, services: &[&str]) {
        for s in services {
            let c = self.container(s);
            wait_for(&format!("{c} healthy"), Duration::from_secs(60), || {
                let st = docker(&[
                    "inspect",
                    "-f",
                    "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}",
                    &c,
                ]);
                matches!(st.trim(), "healthy" | "running").then_some(())
            });
        }
    }

    pub fn wait_pg(&self, service: &str) {
        wait_pg(&self.container(service));
    }
}

/// Wait until the Postgres in `container` accepts connections (over TCP inside it, so the
/// official image's first-start restart is over).
pub fn wait_pg(container: &str) {
    wait_for(
        "postgres to accept connections",
        Duration::from_secs(60),
        || {
            Command::new("docker")
                .args(["exec", container, "pg_isready", "-q", "-h", "127.0.0.1"])
                .status()
                .ok()
                .filter(|s| s.success())
        },
    );
}

/// `psql URL -c SQL` from a throwaway client container on `network`, as an app there
/// connects: (succeeded, output).
pub fn pg_client(network: &str, url: &str, sql: &str) -> (bool, String) {
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", network, "--entrypoint", "psql"])
        .arg(testbed_var("OPSDECK_TB_IMAGE_PG_OFFICIAL"))
        .args([url, "-qAtX", "-w", "-c", sql])
        .output()
        .expect("docker run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .trim()
        .to_string(),
    )
}

/// The `DATABASE_URL=...` that `db create` printed.
pub fn database_url(out: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("DATABASE_URL="))
        .map(|u| u.split_whitespace().next().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no DATABASE_URL in {out}"))
}

impl Drop for Stack {
    fn drop(&mut self) {
        let cmd = compose_cmd();
        let _ = Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .current_dir(&self.dir)
            .env_remove("COMPOSE_PROJECT_NAME")
            .output();
    }
}
