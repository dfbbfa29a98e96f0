//! The headless frontend: parses the command line, calls the action layer, prints.
//!
//! Human output is plain text (tables); `--output json` prints one JSON document for a
//! snapshot command. Exit codes follow the contract in `crate::error::ExitKind`.

/// `println!` that never panics: a closed stdout (`opsdeck status | head -1`, a CI log reader
/// that went away) is not an error of ours, and a running action goes on to its end (and its
/// journal entry) without a reader.
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that never panics (see [`outln`]).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout();
        let _ = write!(o, $($arg)*);
        let _ = o.flush();
    }};
}

mod action;
pub mod args;
mod backups;
mod check;
mod dblist;
mod disk;
mod doctor;
mod events;
mod format;
mod forward;
mod history;
mod hosts;
mod inspect;
mod lock;
mod logs;
mod routes;
mod stats;
mod status;
mod verbose;
mod watch;

pub use action::confirmation_needed;
pub use args::{
    Cli, Command, DbCommand, HostsCommand, LockCommand, OutputFormat, RedisCommand, RoutesCommand,
};

use crate::error::{Error, ExitKind};
use crate::inventory;
use crate::ops;
use clap::{CommandFactory, Parser};
use std::process::ExitCode;

/// The console, as the binary hands it to [`main`]: run on the inventory with the `--host`
/// selection and `--no-color` until the operator quits. (The binary wires the two frontends
/// together, so neither imports the other.)
pub type Console = fn(
    inventory::Inventory,
    Vec<String>,
    bool,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Error>>>>;

/// Entry point of the binary.
pub fn main(console: Console) -> ExitCode {
    let cli = Cli::parse();
    verbose::init(cli.verbose);
    // `logs` is one pipeline (the engine's stream, hyper's connection task, our reader, the
    // printer): on one thread its tasks hand batches over without cross-thread wake-ups,
    // which made it half as fast as `docker logs`. The console likewise (watchers, stats
    // streams and the event loop, all waiting on I/O): its idle cost was mostly wake-ups.
    // Everything else fans out over hosts.
    let mut builder = if matches!(cli.command, None | Some(Command::Logs { .. })) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("opsdeck: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, console)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("opsdeck: error: {}", crate::secrets::mask_text(&e.message));
            ExitCode::from(e.kind.code() as u8)
        }
    }
}

/// Run one invocation; `Ok(code)` for outcomes that are not errors of opsdeck itself
/// (e.g. exit 3 when one of several hosts was unreachable but the rest were printed).
pub async fn run(cli: Cli, console: Console) -> Result<u8, Error> {
    match &cli.command {
        Some(Command::Completions { shell }) => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "opsdeck", &mut std::io::stdout());
            return Ok(0);
        }
        Some(Command::Man) => {
            let man = clap_mangen::Man::new(Cli::command());
            man.render(&mut std::io::stdout())
                .map_err(|e| Error::failed(format!("writing the man page: {e}")))?;
            return Ok(0);
        }
        _ => {}
    }
    let (mut inv, _source) = inventory::load(cli.config.as_deref())
        .map_err(|e| Error::usage(format!("bad inventory:\n{e}")))?;
    inv.read_only |= cli.read_only;
    tracing::debug!(
        source = ?_source.path(),
        hosts = inv.hosts.len(),
        apps = inv.apps.len(),
        "inventory loaded"
    );
    match cli.command {
        None => console(inv, cli.hosts.clone(), cli.no_color)
            .await
            .map(|_| 0),
        Some(Command::Hosts { command: None }) => hosts::run(&inv, &cli).await,
        Some(Command::Hosts {
            command:
                Some(HostsCommand::Trust {
                    ref name,
                    ref fingerprint,
                }),
        }) => hosts::trust(&inv, &cli, name, fingerprint.as_deref()).await,
        Some(Command::Status { ref app, no_stats }) => {
            status::run(&inv, &cli, app.clone(), !no_stats).await
        }
        Some(Command::History {
            ref app,
            ref action,
            ref outcome,
            ref since,
            limit,
        }) => history::run(&cli, app, action, outcome, since, limit).await,
        Some(Command::Logs {
            ref targets,
            follow,
            ref since,
            tail,
            ref grep,
            timestamps,
        }) => {
            let args = logs::LogArgs {
                targets: targets.clone(),
                follow,
                since: since.clone(),
                tail,
                grep: grep.clone(),
                timestamps,
            };
            logs::run(&inv, &cli, args).await
        }
        Some(Command::Images) => disk::run(&inv, &cli, disk::Listing::Images).await,
        Some(Command::Volumes) => disk::run(&inv, &cli, disk::Listing::Volumes).await,
        Some(Command::Networks) => disk::run(&inv, &cli, disk::Listing::Networks).await,
        Some(Command::Df) => disk::run(&inv, &cli, disk::Listing::Df).await,
        Some(Command::Prune {
            images,
            containers,
            volumes,
            ref label,
        }) => {
            let hosts = ops::select_hosts(&inv, &ops::HostSelection(cli.hosts.clone()))?;
            let [host] = hosts.as_slice() else {
                return Err(Error::usage(format!(
                    "prune works on one host at a time; name it with --host ({} selected)",
                    hosts.len()
                )));
            };
            let none = !(images || containers || volumes);
            let a = ops::Action::Prune {
                host: host.name().to_string(),
                images: images || none,
                containers: containers || none,
                volumes,
                label: label.clone(),
            };
            action::run(&inv, &cli, a).await
        }
        Some(Command::Events {
            ref targets,
            follow,
            ref since,
            ref actions,
        }) => events::run(&inv, &cli, targets, follow, since.as_deref(), actions).await,
        Some(Command::Watch { once, ref metrics }) => {
            watch::run(&inv, &cli, once, metrics.as_deref()).await
        }
        Some(Command::Uptime { ref check }) => watch::uptime(&inv, &cli, check.as_deref()).await,
        Some(Command::Forward {
            ref target,
            ref local,
        }) => forward::run(&inv, &cli, target, local.as_deref()).await,
        Some(Command::Up { ref app }) => compose_app(&inv, &cli, app, ops::ComposeOp::Up).await,
        Some(Command::Down { ref app }) => compose_app(&inv, &cli, app, ops::ComposeOp::Down).await,
        Some(Command::Pull { ref app }) => compose_app(&inv, &cli, app, ops::ComposeOp::Pull).await,
        Some(Command::Inspect { ref target }) => inspect::run(&inv, &cli, target).await,
        Some(Command::Check { ref name }) => check::run(&inv, &cli, name.as_deref()).await,
        Some(Command::Stats { ref targets, watch }) => stats::run(&inv, &cli, targets, watch).await,
        Some(Command::Start { ref target }) => {
            lifecycle(&inv, &cli, ops::ContainerOp::Start, target).await
        }
        Some(Command::Stop { ref target }) => {
            lifecycle(&inv, &cli, ops::ContainerOp::Stop, target).await
        }
        Some(Command::Restart { ref target }) => {
            lifecycle(&inv, &cli, ops::ContainerOp::Restart, target).await
        }
        Some(Command::Exec {
            ref target,
            ref command,
        }) => {
            let target = ops::parse_target(&inv, target)?;
            let a = ops::Action::exec(target, command.clone())?;
            action::run(&inv, &cli, a).await
        }
        Some(Command::Deploy {
            ref app,
            ref version,
        }) => {
            if let Some(v) = version {
                crate::names::check_tag(v).map_err(Error::usage)?;
            }
            let a = ops::Action::Deploy {
                app: app.clone(),
                version: version.clone(),
            };
            action::run(&inv, &cli, a).await
        }
        Some(Command::Rollback { ref app, ref to }) => {
            if let Some(v) = to {
                crate::names::check_tag(v).map_err(Error::usage)?;
            }
            let a = ops::Action::Rollback {
                app: app.clone(),
                to: to.clone(),
            };
            action::run(&inv, &cli, a).await
        }
        Some(Command::Backup { ref db, ref to }) => {
            let a = ops::Action::Backup {
                db: db.clone(),
                to: to.clone(),
            };
            action::run(&inv, &cli, a).await
        }
        Some(Command::Verify {
            ref db,
            ref backup,
            ref to,
        }) => {
            let a = ops::Action::Verify {
                db: db.clone(),
                backup: backup.clone(),
                to: to.clone(),
            };
            action::run(&inv, &cli, a).await
        }
        Some(Command::Restore {
            ref db,
            ref backup,
            ref to,
            maintenance,
        }) => {
            let a = ops::Action::Restore {
                db: db.clone(),
                backup: backup.clone(),
                to: to.clone(),
                maintenance,
            };
            action::run(&inv, &cli, a).await
        }
        Some(Command::Maintenance {
            ref app,
            state,
            ref message,
        }) => {
            let on = state == args::MaintenanceState::On;
            let a = ops::Action::maintenance(app, on, message.as_deref())?;
            action::run(&inv, &cli, a).await
        }
        Some(Command::Backups { ref db }) => backups::run(&inv, &cli, db.as_deref()).await,
        Some(Command::Db {
            command:
                DbCommand::Create {
                    ref app,
                    ref server,
                    rotate_password,
                    write_env,
                },
        }) => {
            let a = ops::Action::DbCreate {
                app: app.clone(),
                server: server.clone(),
                rotate: rotate_password,
                write_env,
            };
            action::run(&inv, &cli, a).await
        }
        Some(Command::Db {
            command: DbCommand::List { ref server },
        }) => dblist::run(&inv, &cli, server.as_deref()).await,
        Some(Command::Redis {
            command:
                RedisCommand::Assign {
                    ref app,
                    ref server,
                    rotate_password,
                },
        }) => {
            let a = ops::Action::RedisAssign {
                app: app.clone(),
                server: server.clone(),
                rotate: rotate_password,
            };
            action::run(&inv, &cli, a).await
        }
        Some(Command::Routes { ref command }) => routes::run(&inv, &cli, command).await,
        Some(Command::Doctor { ref app }) => doctor::run(&inv, &cli, app).await,
        Some(Command::Lock { ref command }) => match command {
            LockCommand::Status { app } => lock::status(&inv, &cli, app).await,
            LockCommand::Release { app, force } => lock::release(&inv, &cli, app, *force).await,
        },
        Some(Command::Completions { .. }) | Some(Command::Man) => Ok(0),
    }
}

async fn lifecycle(
    inv: &inventory::Inventory,
    cli: &Cli,
    op: ops::ContainerOp,
    target: &str,
) -> Result<u8, Error> {
    let target = ops::parse_target(inv, target)?;
    action::run(inv, cli, ops::Action::Lifecycle { op, target }).await
}

async fn compose_app(
    inv: &inventory::Inventory,
    cli: &Cli,
    app: &str,
    op: ops::ComposeOp,
) -> Result<u8, Error> {
    let a = ops::Action::compose(app, op, |a| inv.apps.contains_key(a))?;
    action::run(inv, cli, a).await
}

/// Ctrl-C or SIGTERM, whichever comes first (a `kill` from a supervisor stops us as cleanly
/// as a person does). Never returns when neither can be listened for.
pub(crate) async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = int => {}
        _ = term => {}
    }
}

/// Exit code for a fan-out: 4 when some host refused us (host key), else 3 when some host
/// could not be reached, else 0.
pub(crate) fn fanout_code(any_unreachable: bool) -> u8 {
    fanout_code_with(false, any_unreachable)
}

pub(crate) fn fanout_code_with(any_refused: bool, any_unreachable: bool) -> u8 {
    if any_refused {
        ExitKind::Refused.code() as u8
    } else if any_unreachable {
        ExitKind::Unreachable.code() as u8
    } else {
        0
    }
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Error> {
    let s = serde_json::to_string_pretty(v)
        .map_err(|e| Error::failed(format!("encoding JSON: {e}")))?;
    outln!("{s}");
    Ok(())
}
