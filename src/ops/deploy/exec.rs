//! Running a deploy's steps on the host: compose runs (the migration, a service recreated, a
//! build), the git pull and its reset, and the `.env` write that ends a deploy.

use super::super::step::ComposeTarget;
use super::short_id;
use crate::docker::compose::{self, dotenv, dotenv::DotEnv, ComposeFlavor};
use crate::docker::control;
use crate::error::Error;
use crate::host::{Cmd, Host};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The app's `.env` on its host, parsed as compose parses it (none: empty).
async fn read_env(host: &Host, path: &std::path::Path) -> Result<DotEnv, Error> {
    let text = host
        .read_optional(path)
        .await?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    DotEnv::parse(&text).map_err(|e| Error::usage(format!("{}: {e}", path.display())))
}

pub(in crate::ops) async fn compose_flavor(host: &Host) -> Result<ComposeFlavor, Error> {
    compose::detect(host, &CancellationToken::new())
        .await?
        .ok_or_else(|| {
            Error::failed(format!(
                "{}: neither `docker compose` nor `docker-compose` is installed",
                host.name()
            ))
        })
}

pub(in crate::ops) async fn run_checked(
    host: &Host,
    cmd: &Cmd,
    cancel: &CancellationToken,
    what: &str,
) -> Result<String, Error> {
    let out = host.exec(cmd, cancel).await?;
    if !out.success() {
        let err = out.stderr_str();
        let tail: Vec<&str> = err.lines().rev().take(6).collect();
        return Err(Error::failed(format!(
            "{what} failed (exit {}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        )));
    }
    Ok(out.stdout_str())
}

pub(in crate::ops) async fn compose_run(
    host: &Host,
    compose: &ComposeTarget,
    service: &str,
    command: &str,
    env: &[(String, String)],
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let flavor = compose_flavor(host).await?;
    // The command goes to `sh -s` on stdin: a `PGPASSWORD=...` in it is in no command line
    // (which any local user can read in /proc/PID/cmdline) and no process environment.
    let mut cmd = compose
        .cmd(&flavor, &["run", "--rm", "-T", service, "sh", "-s"])
        .stdin(format!("{command}\n").into_bytes())
        .timeout(Duration::from_secs(1800));
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    run_checked(host, &cmd, cancel, "the migration")
        .await
        .map(|o| {
            let lines: Vec<&str> = o.lines().rev().take(3).collect();
            format!(
                "migrated: {}",
                lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
            )
        })
}

/// A one-shot service (`*-migrate`) run to completion with its own command: exit 0 or the
/// deploy stops before any web container changes.
pub(in crate::ops) async fn run_service(
    host: &Host,
    compose: &ComposeTarget,
    service: &str,
    env: &[(String, String)],
    timeout_secs: u64,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let flavor = compose_flavor(host).await?;
    let mut cmd = compose
        .cmd(&flavor, &["run", "--rm", "-T", "--no-deps", service])
        .timeout(Duration::from_secs(timeout_secs.max(1)));
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = run_checked(
        host,
        &cmd,
        cancel,
        &format!("the one-shot service {service}"),
    )
    .await?;
    let lines: Vec<&str> = out.lines().rev().take(3).collect();
    Ok(format!(
        "{service} exited 0: {}",
        lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
    ))
}

pub(in crate::ops) async fn recreate(
    host: &Host,
    compose: &ComposeTarget,
    service: &str,
    env: &[(String, String)],
    build: bool,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let flavor = compose_flavor(host).await?;
    let mut args = vec!["up", "-d", "--no-deps", "--force-recreate"];
    if !build {
        args.push("--no-build");
    }
    args.push(service);
    let mut cmd = compose
        .cmd(&flavor, &args)
        .timeout(Duration::from_secs(600));
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    run_checked(host, &cmd, cancel, &format!("recreating {service}")).await?;
    Ok(format!("{service} recreated"))
}

pub(in crate::ops) async fn build(
    host: &Host,
    compose: &ComposeTarget,
    services: &[String],
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let flavor = compose_flavor(host).await?;
    let mut args = vec!["build"];
    args.extend(services.iter().map(String::as_str));
    run_checked(
        host,
        &compose
            .cmd(&flavor, &args)
            .timeout(Duration::from_secs(3600)),
        cancel,
        "compose build",
    )
    .await?;
    Ok(format!("built {}", services.join(", ")))
}

pub(in crate::ops) async fn git_pull(
    host: &Host,
    dir: &str,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let head = |c: &'static str| {
        Cmd::new("git")
            .args(["rev-parse", "--short", c])
            .cwd(dir.to_string())
            .timeout(Duration::from_secs(30))
    };
    let old = run_checked(host, &head("HEAD"), cancel, "git rev-parse").await?;
    run_checked(
        host,
        &Cmd::new("git")
            .args(["pull", "--ff-only"])
            .cwd(dir.to_string())
            .timeout(Duration::from_secs(300)),
        cancel,
        "git pull",
    )
    .await?;
    let new = run_checked(host, &head("HEAD"), cancel, "git rev-parse").await?;
    Ok(format!("{} -> {}", old.trim(), new.trim()))
}

pub(in crate::ops) async fn git_reset(
    host: &Host,
    dir: &str,
    commit: &str,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    if !commit.chars().all(|c| c.is_ascii_hexdigit()) || commit.is_empty() {
        return Err(Error::failed(format!("{commit:?} is not a commit id")));
    }
    run_checked(
        host,
        &Cmd::new("git")
            .args(["reset", "--keep", commit])
            .cwd(dir.to_string())
            .timeout(Duration::from_secs(60)),
        cancel,
        "git reset",
    )
    .await?;
    Ok(format!("{dir} back at {}", short_id(commit)))
}

/// The newest running container of `service` in the project.
/// The newest container of `service` in the project (`all`: stopped ones too), matched by
/// compose's project or working-directory label, so a project compose names from `.env`,
/// `name:` or the environment is found either way.
pub(in crate::ops) async fn service_container(
    docker: &crate::docker::Engine,
    compose: &ComposeTarget,
    service: &str,
    all: bool,
) -> Result<Option<String>, Error> {
    let label = format!("com.docker.compose.service={service}");
    let list = control::with_label(docker, &label, all)
        .await
        .map_err(|e| {
            Error::failed(format!(
                "listing {service}: {}",
                crate::docker::describe_error(&e)
            ))
        })?;
    Ok(list
        .into_iter()
        .filter(|c| {
            compose.owns(
                c.label("com.docker.compose.project"),
                c.label("com.docker.compose.project.working_dir"),
            )
        })
        .max_by_key(|c| c.created.unwrap_or(0))
        .map(|c| c.id))
}

pub(in crate::ops) async fn write_env(
    host: &Host,
    path: &str,
    pairs: &[(String, String)],
) -> Result<String, Error> {
    let p = PathBuf::from(path);
    let current = read_env(host, &p).await?;
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let updated = dotenv::set_all(current.text(), &refs)
        .map_err(|e| Error::failed(format!("{path}: {e}")))?;
    host.write_file_atomic(&p, updated.as_bytes(), Some(0o600))
        .await?;
    Ok(format!(
        "{path}: {}",
        refs.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_edits_keep_the_rest() {
        let env = "# shop\nVERSION=1.4.1\nexport SECRET='x'\n";
        let parsed = DotEnv::parse(env).unwrap();
        assert_eq!(parsed.get("VERSION").as_deref(), Some("1.4.1"));
        assert_eq!(parsed.get("SECRET").as_deref(), Some("x"));
        let out =
            dotenv::set_all(env, &[("VERSION", "1.4.2"), ("PREVIOUS_VERSION", "1.4.1")]).unwrap();
        assert_eq!(
            out,
            "# shop\nVERSION=1.4.2\nexport SECRET='x'\nPREVIOUS_VERSION=1.4.1\n"
        );
    }
}
