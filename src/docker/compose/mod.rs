//! Compose on a host: `docker compose` (v2) or `docker-compose` (v1), whichever it has; its
//! `.env` format ([`dotenv`]) and its project naming ([`project`]).

pub mod dotenv;
pub mod project;
pub mod shape;

use crate::host::{Cmd, Host, HostError};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use project::{NameSource, Project};

/// An app's compose project on its host, as read there: its name (see [`project`]), a
/// problem with `.env` that compose itself will stumble over, and the `.env` text (empty
/// when there is none), so a caller that needs its values reads it once.
#[derive(Debug, Clone)]
pub struct ProjectOnHost {
    pub project: Project,
    pub problem: Option<String>,
    pub dotenv: String,
}

/// Read the project's `.env` (and, unless the inventory names the project, its compose
/// file) on the host and resolve the name.
pub async fn resolve_project(
    host: &Host,
    dir: &str,
    compose_path: &str,
    explicit: Option<&str>,
) -> Result<ProjectOnHost, HostError> {
    let text = |bytes: Option<Vec<u8>>| {
        bytes
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let dotenv = text(host.read_optional(&Path::new(dir).join(".env")).await?);
    let compose_file = if explicit.is_some() {
        String::new()
    } else {
        text(
            host.read_optional(&Path::new(dir).join(compose_path))
                .await?,
        )
    };
    // Compose inherits opsdeck's environment on this machine; over SSH it runs in the
    // session's, which has no COMPOSE_PROJECT_NAME of ours.
    let env: HashMap<String, String> = if host.spec().ssh.is_none() {
        std::env::vars().collect()
    } else {
        HashMap::new()
    };
    let (project, problem) = project::resolve(&project::Sources {
        explicit,
        env,
        dotenv: &dotenv,
        compose_file: &compose_file,
        dir,
        compose_path,
    });
    Ok(ProjectOnHost {
        project,
        problem,
        dotenv,
    })
}

/// Which compose a host has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComposeFlavor {
    /// `docker compose` (v2 plugin) or `docker-compose` (v1 standalone, or v2 standalone).
    pub command: Vec<String>,
    pub version: String,
}

impl ComposeFlavor {
    /// A compose command: the flavor's program and arguments, then `args`.
    pub fn cmd<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let (program, first) = self
            .command
            .split_first()
            .map(|(p, rest)| (p.clone(), rest.to_vec()))
            .unwrap_or_else(|| ("docker-compose".into(), vec![]));
        Cmd::new(program).args(first).args(args)
    }

    /// `docker compose` for display.
    pub fn display(&self) -> String {
        self.command.join(" ")
    }
}

/// Find out which compose the host has; `None` when it has neither.
pub async fn detect(
    host: &Host,
    cancel: &CancellationToken,
) -> Result<Option<ComposeFlavor>, HostError> {
    let candidates: [&[&str]; 2] = [&["docker", "compose"], &["docker-compose"]];
    for c in candidates {
        let cmd = Cmd::new(c[0])
            .args(c[1..].iter().copied())
            .args(["version", "--short"])
            .timeout(Duration::from_secs(20));
        match host.exec(&cmd, cancel).await {
            Ok(out) if out.success() => {
                let version = out.stdout_str().trim().trim_start_matches('v').to_string();
                if !version.is_empty() {
                    return Ok(Some(ComposeFlavor {
                        command: c.iter().map(|s| s.to_string()).collect(),
                        version,
                    }));
                }
            }
            Ok(_) | Err(HostError::Spawn { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
