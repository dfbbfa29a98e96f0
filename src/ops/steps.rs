//! Running one step. Each step kind has one handler; every wait is bounded and cancellable.

use super::action::ContainerOp;
use super::deploy;
use super::event::{ActionEvent, Stream};
use super::step::StepKind;
use crate::docker::control::{self, Inspected};
use crate::docker::exec::{self, Frame};
use crate::docker::wait::{self, Look, Verdict, WaitError};
use crate::docker::{self, Health, State};
use crate::error::Error;
use crate::host::Host;
use std::time::Duration;
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
        StepKind::ComposeSwitch(sw) => {
            let sx = deploy::SwitchCtx {
                host: cx.host,
                seq: cx.seq,
                events: cx.events,
                cancel: cx.cancel,
            };
            deploy::switch(&sx, sw).await
        }
        StepKind::ComposeRunService {
            compose,
            service,
            env,
            timeout_secs,
        } => deploy::run_service(cx.host, compose, service, env, *timeout_secs, cx.cancel).await,
        StepKind::ComposeBuild { compose, services } => {
            deploy::build(cx.host, compose, services, cx.cancel).await
        }
        StepKind::ComposeApp {
            compose,
            op,
            services,
            timeout_secs,
        } => {
            super::compose_app::run_step(cx.host, compose, *op, services, *timeout_secs, cx.cancel)
                .await
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
        StepKind::BackupVolume { vol, storage } => {
            super::backup::volume::backup(cx.host, vol, storage, cx.seq, cx.events).await
        }
        StepKind::VerifyVolume { vol, storage, id } => {
            super::backup::volume::verify(cx.host, vol, storage, id, cx.seq, cx.events).await
        }
        StepKind::RestoreVolume { vol, storage, id } => {
            super::backup::volume::restore(cx.host, vol, storage, id, cx.seq, cx.events, cx.cancel)
                .await
        }
        StepKind::BackupRedis { db, storage } => {
            super::backup::rdb::backup(cx.host, db, storage, cx.seq, cx.events).await
        }
        StepKind::VerifyRedis { db, storage, id } => {
            super::backup::rdb::verify(cx.host, db, storage, id, cx.seq, cx.events).await
        }
        StepKind::RestoreRedis { db, storage, id } => {
            super::backup::rdb::restore(cx.host, db, storage, id, cx.seq, cx.events).await
        }
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
        StepKind::StartMaintenance { site } => {
            super::maintenance::start(cx.host, site, cx.cancel).await
        }
        StepKind::StopMaintenance { app, container } => {
            super::maintenance::stop(cx.host, app, container).await
        }
        StepKind::WriteMaintenanceRoutes {
            path,
            site,
            routers,
        } => super::maintenance::write_routes(cx.host, path, site, routers).await,
        StepKind::MaintenanceAnswers {
            entrypoint,
            host_header,
            timeout_secs,
        } => {
            let limit = Duration::from_secs(*timeout_secs);
            super::maintenance::answers(cx.host, entrypoint, host_header, limit, cx.cancel).await
        }
        StepKind::RemoveContainer { .. }
        | StepKind::RemoveImage { .. }
        | StepKind::RemoveVolume { .. } => super::prune::run_step(cx.host, kind).await,
    }
}

async fn wait_ready(
    cx: &StepCtx<'_>,
    id: &str,
    name: &str,
    limit: Duration,
) -> Result<String, Error> {
    let d = cx.host.docker().await?;
    // What the looks saw, for the timeout's message (a look never holds it across an await).
    let seen = std::sync::Mutex::new((String::new(), State::Unknown, Health::None));
    let waited = wait::until(limit, cx.cancel, || {
        let (d, seen) = (&d, &seen);
        async move {
            let i = control::inspect(d, id).await?;
            let shown = {
                let mut g = seen.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(out) = &i.probe_output {
                    g.0 = out.trim().to_string();
                }
                g.1 = i.state;
                g.2 = i.health;
                if g.0.is_empty() {
                    "(no output)".to_string()
                } else {
                    g.0.clone()
                }
            };
            Ok(match wait::verdict(&i) {
                Verdict::Healthy => Look::Ready(format!("{name} is running and healthy")),
                Verdict::Running => Look::Ready(format!("{name} is running (no health check)")),
                Verdict::Unhealthy => {
                    Look::Failed(format!("{name} is unhealthy; last probe: {shown}"))
                }
                Verdict::Exited(code) => Look::Failed(format!("{name} exited with status {code}")),
                Verdict::Starting => Look::NotYet(String::new()),
            })
        }
    })
    .await;
    let (last_output, state, health) = seen.into_inner().unwrap_or_else(|p| p.into_inner());
    waited.map_err(|e| match e {
        WaitError::TimedOut { limit, .. } => Error::failed(format!(
            "{name} was not ready within {}s (state {}, health {}); last probe: {}",
            limit.as_secs(),
            state.as_str(),
            health.as_str(),
            if last_output.is_empty() {
                "(none)"
            } else {
                &last_output
            }
        )),
        other => wait_err(&format!("inspect {name}"), other),
    })
}

/// A wait's end as the step's error (`what`: the engine call that failed, for its message).
fn wait_err(what: &str, e: WaitError<crate::docker::EngineError>) -> Error {
    match e {
        WaitError::Look(e) => docker_err(what, e),
        WaitError::Cancelled => Error::cancelled(),
        other => Error::failed(other.to_string()),
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
            _ = cx.cancel.cancelled() => return Err(Error::cancelled()),
        };
        let Some(chunk) = next else { break };
        let (idx, stream, bytes) = match chunk.map_err(failed)? {
            Frame::Stderr(message) => (1, Stream::Stderr, message),
            Frame::Stdout(message) => (0, Stream::Stdout, message),
        };
        pending[idx].push_str(&String::from_utf8_lossy(&bytes));
        while let Some(pos) = pending[idx].find('\n') {
            let line: String = pending[idx].drain(..=pos).collect();
            lines += 1;
            let _ = cx.events.send(ActionEvent::Output {
                seq: cx.seq,
                stream,
                line: crate::secrets::mask_text(line.trim_end_matches(['\n', '\r'])),
            });
        }
    }
    for (idx, rest) in pending.iter().enumerate() {
        if !rest.is_empty() {
            lines += 1;
            let _ = cx.events.send(ActionEvent::Output {
                seq: cx.seq,
                stream: if idx == 0 {
                    Stream::Stdout
                } else {
                    Stream::Stderr
                },
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
    // What the looks saw last, for the messages (never held across an await).
    let last = std::sync::Mutex::new(String::from("no container yet"));
    let set = |v: String| *last.lock().unwrap_or_else(|p| p.into_inner()) = v;
    let get = || last.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let waited = wait::until(limit, cx.cancel, || {
        let (d, set, get) = (&d, &set, &get);
        async move {
            let Some(c) = deploy::service_container(d, compose, service, true).await? else {
                return Ok(Look::NotYet(String::new()));
            };
            let i: Inspected = control::inspect(d, &c)
                .await
                .map_err(|e| docker_err(&format!("inspect {service}"), e))?;
            let health = i.health;
            if let Some(out) = i.probe_output.as_deref().filter(|o| !o.trim().is_empty()) {
                set(format!("docker health {}: {}", health.as_str(), out.trim()));
            }
            Ok(match wait::verdict(&i) {
                Verdict::Exited(code) => Look::Failed(format!(
                    "{service} exited with status {code}; last: {}",
                    get()
                )),
                Verdict::Unhealthy => {
                    Look::Failed(format!("{service} is unhealthy; last: {}", get()))
                }
                Verdict::Healthy | Verdict::Running => match http {
                    None => Look::Ready(format!("{service} is running and {}", health.as_str())),
                    Some((path, port)) => match i.ip(None) {
                        None => {
                            set("the container has no network address yet".into());
                            Look::NotYet(String::new())
                        }
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
                                return Ok(Look::Ready(format!(
                                    "{service}: {} and GET {path} answered {} in {:.0} ms",
                                    if health == Health::Healthy {
                                        "healthy"
                                    } else {
                                        "running"
                                    },
                                    p.status.unwrap_or(0),
                                    p.latency_ms.unwrap_or(0.0)
                                )));
                            }
                            set(match (p.status, p.error) {
                                (Some(s), _) => format!(
                                    "GET {path} answered {s}: {}",
                                    p.body.unwrap_or_default()
                                ),
                                (None, Some(e)) => format!("GET {path}: {e}"),
                                _ => format!("GET {path}: no answer"),
                            });
                            Look::NotYet(String::new())
                        }
                    },
                },
                Verdict::Starting => {
                    set(format!(
                        "{service} is {}, health {}",
                        i.state.as_str(),
                        health.as_str()
                    ));
                    Look::NotYet(String::new())
                }
            })
        }
    })
    .await;
    waited.map_err(|e| match e {
        WaitError::TimedOut { limit, .. } => Error::failed(format!(
            "{service} was not healthy within {}s; last health output: {}",
            limit.as_secs(),
            get()
        )),
        WaitError::Look(e) => e,
        WaitError::Cancelled => Error::cancelled(),
        WaitError::Failed(m) => Error::failed(m),
    })
}
