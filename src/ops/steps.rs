//! Running one step. Each step kind has one handler; every wait is bounded and cancellable.

use super::action::ContainerOp;
use super::deploy;
use super::event::ActionEvent;
use super::step::StepKind;
use crate::docker::control::{self, Inspected};
use crate::docker::exec::{self, Frame};
use crate::docker::{self, Health, State};
use crate::error::Error;
use crate::host::Host;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// Seconds Docker waits for a container to stop before it kills it.
const STOP_GRACE_SECS: i32 = 10;

pub(super) struct StepCtx<'a> {
    pub host: &'a Host,
    pub seq: usize,
    pub events: &'a UnboundedSender<ActionEvent>,
    pub cancel: &'a CancellationToken,
    /// The journal and this action's entry, for steps that record facts (deployed images).
    pub journal: (&'a crate::journal::Journal, i64),
}

fn docker_err(what: &str, e: docker::EngineError) -> Error {
    Error::failed(format!("{what}: {}", docker::describe_error(&e)))
}

/// Run one step; `Ok(output)` is a short summary for the journal.
pub(super) async fn run(kind: &StepKind, cx: &StepCtx<'_>) -> Result<String, Error> {
    match kind {
        StepKind::Container { op, id, name, .. } => {
            let d = cx.host.docker().await?;
            let what = format!("{} {name}", op.verb());
            match op {
                ContainerOp::Start => control::start(&d, id).await,
                ContainerOp::Stop => control::stop(&d, id, Some(STOP_GRACE_SECS)).await,
                ContainerOp::Restart => control::restart(&d, id, Some(STOP_GRACE_SECS)).await,
            }
            .map_err(|e| docker_err(&what, e))?;
            Ok(format!("{what}: done"))
        }
        StepKind::WaitReady {
            id,
            name,
            timeout_secs,
            ..
        } => wait_ready(cx, id, name, Duration::from_secs(*timeout_secs)).await,
        StepKind::Exec {
            id, name, command, ..
        } => exec(cx, id, name, command).await,
        StepKind::CheckImages {
            compose,
            services,
            version_var,
            version,
            pull,
        } => {
            deploy::check_images(
                cx.host,
                compose,
                services,
                version_var,
                version,
                *pull,
                cx.cancel,
            )
            .await
        }
        StepKind::ComposeRun {
            compose,
            service,
            command,
            env,
        } => deploy::compose_run(cx.host, compose, service, command, env, cx.cancel).await,
        StepKind::ComposeRecreate {
            compose,
            service,
            env,
            build,
        } => deploy::recreate(cx.host, compose, service, env, *build, cx.cancel).await,
        StepKind::ComposeBuild { compose, services } => {
            deploy::build(cx.host, compose, services, cx.cancel).await
        }
        StepKind::GitPull { dir } => deploy::git_pull(cx.host, dir, cx.cancel).await,
        StepKind::GitReset { dir, commit } => {
            deploy::git_reset(cx.host, dir, commit, cx.cancel).await
        }
        StepKind::TagImage {
            image_id,
            reference,
        } => deploy::tag_image(cx.host, image_id, reference).await,
        StepKind::RecordImages {
            app,
            compose,
            services,
            version,
        } => deploy::record_images(cx.host, cx.journal, app, compose, services, version).await,
        StepKind::PinImage {
            reference,
            image_id,
            digest,
        } => deploy::pin_image(cx.host, reference, image_id, digest.as_deref(), cx.cancel).await,
        StepKind::WaitService {
            compose,
            service,
            health_path,
            health_port,
            timeout_secs,
        } => {
            wait_service(
                cx,
                compose,
                service,
                health_path.as_deref().zip(*health_port),
                Duration::from_secs(*timeout_secs),
            )
            .await
        }
        StepKind::WriteEnv { path, pairs } => deploy::write_env(cx.host, path, pairs).await,
        StepKind::ProvisionPostgres {
            server,
            ident,
            rotate,
            env_file,
        } => {
            super::provision::provision_postgres(
                cx.host,
                server,
                ident,
                *rotate,
                env_file.as_deref(),
                cx.seq,
                cx.events,
            )
            .await
        }
        StepKind::Backup { db, storage } => {
            super::backup::backup(cx.host, db, storage, cx.seq, cx.events).await
        }
        StepKind::VerifyBackup { db, storage, id } => {
            super::backup::verify(cx.host, db, storage, id, cx.seq, cx.events).await
        }
        StepKind::RestoreBackup {
            db,
            storage,
            id,
            apps,
        } => super::backup::restore(cx.host, db, storage, id, apps, cx.seq, cx.events).await,
        StepKind::AssignRedis {
            server,
            app,
            rotate,
        } => super::provision::assign_redis(cx.host, server, app, *rotate, cx.seq, cx.events).await,
        StepKind::WriteRoutes {
            path,
            contents,
            keep_previous,
        } => super::routes::write_routes(cx.host, path, contents, *keep_previous).await,
        StepKind::RouteLoaded {
            api,
            router,
            present,
            expect,
            timeout_secs,
        } => {
            let limit = Duration::from_secs(*timeout_secs);
            let want = expect.as_ref();
            super::routes::route_loaded(cx.host, api, router, *present, want, limit, cx.cancel)
                .await
        }
        StepKind::RouteAnswers {
            entrypoint,
            host_header,
            path,
            timeout_secs,
        } => {
            let limit = Duration::from_secs(*timeout_secs);
            super::routes::route_answers(cx.host, entrypoint, host_header, path, limit, cx.cancel)
                .await
        }
    }
}

async fn wait_ready(
    cx: &StepCtx<'_>,
    id: &str,
    name: &str,
    limit: Duration,
) -> Result<String, Error> {
    let d = cx.host.docker().await?;
    let started = Instant::now();
    let mut last_output = String::new();
    loop {
        let i = control::inspect(&d, id)
            .await
            .map_err(|e| docker_err(&format!("inspect {name}"), e))?;
        let (status, health) = (i.state.as_str(), i.health);
        if let Some(out) = &i.probe_output {
            last_output = out.trim().to_string();
        }
        match (i.state, health) {
            (State::Running, Health::Healthy) => {
                return Ok(format!("{name} is running and healthy"))
            }
            (State::Running, Health::None) => {
                return Ok(format!("{name} is running (no health check)"))
            }
            (State::Running, Health::Unhealthy) => {
                return Err(Error::failed(format!(
                    "{name} is unhealthy; last probe: {}",
                    if last_output.is_empty() {
                        "(no output)"
                    } else {
                        &last_output
                    }
                )))
            }
            (State::Exited | State::Dead, _) => {
                let code = i.exit_code.unwrap_or(-1);
                return Err(Error::failed(format!("{name} exited with status {code}")));
            }
            _ => {}
        }
        if started.elapsed() >= limit {
            return Err(Error::failed(format!(
                "{name} was not ready within {}s (state {status}, health {}); last probe: {}",
                limit.as_secs(),
                health.as_str(),
                if last_output.is_empty() {
                    "(none)"
                } else {
                    &last_output
                }
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = cx.cancel.cancelled() => return Err(Error::failed("cancelled")),
        }
    }
}

async fn exec(cx: &StepCtx<'_>, id: &str, name: &str, command: &[String]) -> Result<String, Error> {
    let d = cx.host.docker().await?;
    let failed = |e| docker_err(&format!("exec in {name}"), e);
    let mut session = exec::start(&d, id, command.to_vec(), false)
        .await
        .map_err(failed)?;
    let mut lines = 0usize;
    let mut pending: [String; 2] = [String::new(), String::new()];
    loop {
        let next = tokio::select! {
            n = session.next_frame() => n,
            _ = cx.cancel.cancelled() => return Err(Error::failed("cancelled")),
        };
        let Some(chunk) = next else { break };
        let (idx, stream, bytes) = match chunk.map_err(failed)? {
            Frame::Stderr(message) => (1, "stderr", message),
            Frame::Stdout(message) => (0, "stdout", message),
        };
        pending[idx].push_str(&String::from_utf8_lossy(&bytes));
        while let Some(pos) = pending[idx].find('\n') {
            let line: String = pending[idx].drain(..=pos).collect();
            lines += 1;
            let _ = cx.events.send(ActionEvent::Output {
                seq: cx.seq,
                stream: stream.into(),
                line: crate::secrets::mask_text(line.trim_end_matches(['\n', '\r'])),
            });
        }
    }
    for (idx, rest) in pending.iter().enumerate() {
        if !rest.is_empty() {
            lines += 1;
            let _ = cx.events.send(ActionEvent::Output {
                seq: cx.seq,
                stream: if idx == 0 { "stdout" } else { "stderr" }.into(),
                line: crate::secrets::mask_text(rest),
            });
        }
    }
    match exec::exit_code(&d, &session.id).await.map_err(failed)? {
        Some(0) => Ok(format!("exit 0, {lines} lines of output")),
        Some(code) => Err(Error::failed(format!(
            "`{}` in {name} exited with status {code}",
            crate::secrets::mask_text(&command.join(" "))
        ))),
        None => Err(Error::failed(format!(
            "`{}` in {name}: no exit status",
            crate::secrets::mask_text(&command.join(" "))
        ))),
    }
}

/// Wait until the newest container of a compose service runs, passes its Docker health check
/// (when it has one) and answers `GET path` on `port` (when given) with a 2xx.
async fn wait_service(
    cx: &StepCtx<'_>,
    compose: &super::step::ComposeTarget,
    service: &str,
    http: Option<(&str, u16)>,
    limit: Duration,
) -> Result<String, Error> {
    let d = cx.host.docker().await?;
    let started = Instant::now();
    let mut last = String::from("no container yet");
    loop {
        let newest = deploy::service_container(&d, compose, service, true).await?;
        if let Some(c) = newest {
            let i: Inspected = control::inspect(&d, &c)
                .await
                .map_err(|e| docker_err(&format!("inspect {service}"), e))?;
            let (status, health) = (i.state.as_str(), i.health);
            if let Some(out) = i.probe_output.as_deref().filter(|o| !o.trim().is_empty()) {
                last = format!("docker health {}: {}", health.as_str(), out.trim());
            }
            match (i.state, health) {
                (State::Exited | State::Dead, _) => {
                    let code = i.exit_code.unwrap_or(-1);
                    return Err(Error::failed(format!(
                        "{service} exited with status {code}; last: {last}"
                    )));
                }
                (State::Running, Health::Unhealthy) => {
                    return Err(Error::failed(format!(
                        "{service} is unhealthy; last: {last}"
                    )));
                }
                (State::Running, Health::Healthy | Health::None) => match http {
                    None => return Ok(format!("{service} is running and {}", health.as_str())),
                    Some((path, port)) => match i.ip(None) {
                        None => last = "the container has no network address yet".into(),
                        Some(ip) => {
                            let url = format!("http://{ip}:{port}{path}");
                            let p = crate::http::probe(
                                &url,
                                Duration::from_secs(5),
                                Some(cx.host),
                                None,
                            )
                            .await;
                            if p.is_up(None) {
                                return Ok(format!(
                                    "{service}: {} and GET {path} answered {} in {:.0} ms",
                                    if health == Health::Healthy {
                                        "healthy"
                                    } else {
                                        "running"
                                    },
                                    p.status.unwrap_or(0),
                                    p.latency_ms.unwrap_or(0.0)
                                ));
                            }
                            last = match (p.status, p.error) {
                                (Some(s), _) => format!(
                                    "GET {path} answered {s}: {}",
                                    p.body.unwrap_or_default()
                                ),
                                (None, Some(e)) => format!("GET {path}: {e}"),
                                _ => format!("GET {path}: no answer"),
                            };
                        }
                    },
                },
                _ => last = format!("{service} is {status}, health {}", health.as_str()),
            }
        }
        if started.elapsed() >= limit {
            return Err(Error::failed(format!(
                "{service} was not healthy within {}s; last health output: {last}",
                limit.as_secs()
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = cx.cancel.cancelled() => return Err(Error::failed("cancelled")),
        }
    }
}
