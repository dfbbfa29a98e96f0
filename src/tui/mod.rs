//! The console (TUI): event loop, panes, key maps and themes.
//!
//! The loop waits on three things: terminal input, model updates from the watchers, and a
//! slow tick (uptimes). It redraws only when something changed, at most ~30 times a second.
//! A terminal guard restores the terminal on exit, on error and on panic.
//!
//! The map, and the direction of imports (no cycles):
//! - leaves, importing no other console module: [`keymap`], [`theme`], [`logbuf`], [`runs`],
//!   `prompt`, and [`layout`] (the panes in Tab order and the screen geometry that drawing
//!   and mouse input share);
//! - [`app`]: the state and its update function (keys, mouse, commands, the [`app::Effect`]
//!   queue, palette, logs, routes editor); imports only leaves;
//! - [`view`]: drawing, a pure function of [`app::App`], one file per pane; imports `app`
//!   and leaves;
//! - this file: the event loop and the [`Runner`] of effects; imports everything.

pub mod app;
pub mod keymap;
pub mod layout;
pub mod logbuf;
mod prompt;
pub mod runs;
pub mod theme;
pub mod view;

#[cfg(test)]
mod tests;

use crate::error::Error;
use crate::inventory::Inventory;
use crate::journal::{Entry, HistoryFilter, Journal};
use crate::model::{spawn_watchers, Model};
use crate::ops::{self, ActionEvent, Engine, Plan};
use app::Effect;
use futures_util::StreamExt;
use ratatui::crossterm::event::EventStream;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, OnceCell};
use tokio_util::sync::CancellationToken;

/// Answers from the work the loop started for the app (see [`Runner`]); apply them with
/// [`handle`].
pub enum Msg {
    PlanReady(usize, Result<Plan, Error>),
    Event(usize, ActionEvent),
    History(Result<Vec<Entry>, crate::error::Error>),
    Logs(u64, ops::logs::LogEvent),
    LogsFailed(u64, String),
    Notice(String),
    Databases(Result<crate::ops::provision::ServerDatabases, crate::error::Error>),
    Backups(Result<Vec<crate::ops::backup::Manifest>, crate::error::Error>),
    Routes(Result<Vec<crate::ops::routes::HostRoutes>, crate::error::Error>),
    RoutesFile(
        String,
        Result<(String, Option<String>), crate::error::Error>,
    ),
    Doctor(
        String,
        Result<crate::ops::doctor::DoctorReport, crate::error::Error>,
    ),
    HostImages(Vec<(String, String)>),
}

/// How soon a model update wants a frame: a state change at once (the 100 ms target),
/// periodic samples (stats, host metrics, check results) with the next sample frame.
fn frame_for(u: &crate::model::Update) -> Duration {
    use crate::model::Update;
    match u {
        Update::Stats { .. } | Update::HostMetrics { .. } | Update::Check(_) => SAMPLE_FRAME,
        _ => FRAME,
    }
}

impl Msg {
    /// How soon it wants a frame: an answer to something the user just did (a plan to
    /// confirm, a file to edit) at once; streaming text (log lines, progress, output) soon.
    fn frame(&self) -> Duration {
        match self {
            Msg::Logs(..)
            | Msg::Event(_, ActionEvent::Progress { .. })
            | Msg::Event(_, ActionEvent::Output { .. }) => STREAM_FRAME,
            _ => FRAME,
        }
    }
}

/// Apply an answer to the app.
pub fn handle(app: &mut app::App, m: Msg) {
    match m {
        Msg::PlanReady(run, plan) => app.plan_ready(run, plan),
        Msg::Event(run, ev) => app.action_event(run, ev),
        Msg::History(h) => app.history_loaded(h),
        Msg::Logs(generation, ev) => app.log_event(generation, ev),
        Msg::LogsFailed(generation, e) => app.logs_failed(generation, e),
        Msg::Notice(n) => app.notices.push(n),
        Msg::Databases(d) => app.databases_loaded(d),
        Msg::Backups(b) => app.backups_loaded(b),
        Msg::Routes(r) => app.routes_loaded(r),
        Msg::RoutesFile(host, f) => app.routes_file_loaded(host, f),
        Msg::Doctor(a, r) => app.doctor_done(a, r),
        Msg::HostImages(i) => app.host_images_loaded(i),
    }
}

/// Runs the app's effects (plans, actions through the engine, log readers, loads) as tasks
/// whose answers come back as [`Msg`]s. The console's loop uses it, and so does anything
/// else that drives an [`app::App`] without a terminal (the screenshots example).
pub struct Runner {
    inv: Arc<Inventory>,
    selection: ops::HostSelection,
    engine: Arc<OnceCell<Engine>>,
    tx: mpsc::UnboundedSender<Msg>,
    /// Stops the current log reader when the logs pane changes sources.
    logs_cancel: std::sync::Mutex<CancellationToken>,
    line_bytes: usize,
}

impl Runner {
    /// A runner for `inv`'s hosts picked by `selection`, and the receiver of its answers.
    pub fn new(
        inv: Arc<Inventory>,
        selection: ops::HostSelection,
        line_bytes: usize,
    ) -> (Self, mpsc::UnboundedReceiver<Msg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Runner {
                inv,
                selection,
                engine: Arc::new(OnceCell::new()),
                tx,
                logs_cancel: std::sync::Mutex::new(CancellationToken::new()),
                line_bytes,
            },
            rx,
        )
    }

    async fn engine(engine: &OnceCell<Engine>) -> Result<&Engine, Error> {
        engine
            .get_or_try_init(|| async {
                Journal::open_default()
                    .await
                    .map(Engine::new)
                    .map_err(Error::from)
            })
            .await
    }

    /// Start the work `effect` asks for.
    pub fn spawn(&self, effect: Effect, app: &app::App) {
        let inv = self.inv.clone();
        let selection = self.selection.clone();
        let tx = self.tx.clone();
        let engine = self.engine.clone();
        match effect {
            Effect::Prepare { run, action } => {
                tokio::spawn(async move {
                    let plan = async {
                        let hosts = ops::select_hosts(&inv, &selection)?;
                        ops::plan(&inv, &hosts, &action).await
                    }
                    .await;
                    let _ = tx.send(Msg::PlanReady(run, plan));
                });
            }
            Effect::Execute { run } => {
                let Some(r) = app.runs.iter().find(|r| r.id == run) else {
                    return;
                };
                let Some(plan) = r.plan.clone() else { return };
                let cancel = r.cancel.clone();
                tokio::spawn(async move {
                    let (etx, mut erx) = mpsc::unbounded_channel();
                    let forward = {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            while let Some(ev) = erx.recv().await {
                                let _ = tx.send(Msg::Event(run, ev));
                            }
                        })
                    };
                    let result = async {
                        let engine = Runner::engine(&engine).await?;
                        let hosts = ops::select_hosts(&inv, &selection)?;
                        let host = ops::plan_host(&inv, hosts.clone(), &plan)?;
                        engine
                            .execute(&inv, &hosts, &plan, &host, etx, cancel)
                            .await;
                        Ok::<(), Error>(())
                    }
                    .await;
                    let _ = forward.await;
                    if let Err(e) = result {
                        let _ = tx.send(Msg::PlanReady(run, Err(e)));
                    }
                });
            }
            Effect::OpenLogs {
                generation,
                targets,
            } => {
                let cancel = CancellationToken::new();
                if let Ok(mut old) = self.logs_cancel.lock() {
                    old.cancel();
                    *old = cancel.clone();
                }
                let line_bytes = self.line_bytes;
                tokio::spawn(async move {
                    let opened = async {
                        let hosts = ops::select_hosts(&inv, &selection)?;
                        let sources = ops::logs::sources(&inv, &hosts, &targets).await?;
                        let arc_hosts = ops::logs::hosts_for(&inv, &sources)?;
                        Ok::<_, Error>((arc_hosts, sources))
                    }
                    .await;
                    let (hosts, sources) = match opened {
                        Ok(x) => x,
                        Err(e) => {
                            let _ = tx.send(Msg::LogsFailed(generation, e.message));
                            return;
                        }
                    };
                    let opts = crate::ops::logs::LogOptions {
                        follow: true,
                        tail: Some(500),
                        since: None,
                        max_line_bytes: line_bytes,
                    };
                    let mut rx = ops::logs::read(hosts, sources, opts, cancel);
                    while let Some(ev) = rx.recv().await {
                        if tx.send(Msg::Logs(generation, ev)).is_err() {
                            return;
                        }
                    }
                });
            }
            Effect::SaveLogs { path, lines } => {
                tokio::spawn(async move {
                    let mut text = lines.join("\n");
                    text.push('\n');
                    let msg = match tokio::fs::write(&path, text).await {
                        Ok(()) => format!("saved {} lines to {path}", lines.len()),
                        Err(e) => format!("could not save the logs to {path}: {e}"),
                    };
                    let _ = tx.send(Msg::Notice(msg));
                });
            }
            Effect::LoadBackups => {
                tokio::spawn(async move {
                    let b = ops::backup::list(&inv, None)
                        .await
                        .map(|v| v.into_iter().map(|(m, _)| m).collect());
                    let _ = tx.send(Msg::Backups(b));
                });
            }
            Effect::LoadRoutes => {
                tokio::spawn(async move {
                    let r = ops::routes::list(&inv, &selection).await;
                    let _ = tx.send(Msg::Routes(r));
                });
            }
            Effect::LoadRoutesFile { host } => {
                tokio::spawn(async move {
                    let f = ops::routes::read_file(&inv, &host).await;
                    let _ = tx.send(Msg::RoutesFile(host, f));
                });
            }
            Effect::LoadHostImages => {
                tokio::spawn(async move {
                    let images = match ops::select_hosts(&inv, &selection) {
                        Ok(hosts) => ops::query::host_images(&hosts).await,
                        Err(_) => vec![],
                    };
                    let _ = tx.send(Msg::HostImages(images));
                });
            }
            Effect::RunDoctor { app } => {
                tokio::spawn(async move {
                    let r = ops::doctor::run(&inv, &app).await;
                    let _ = tx.send(Msg::Doctor(app, r));
                });
            }
            Effect::LoadDatabases => {
                tokio::spawn(async move {
                    let d = ops::provision::list(&inv, None).await;
                    let _ = tx.send(Msg::Databases(d));
                });
            }
            Effect::LoadHistory => {
                tokio::spawn(async move {
                    let h = async {
                        let engine = Runner::engine(&engine).await?;
                        engine
                            .journal
                            .history(&HistoryFilter {
                                limit: Some(500),
                                ..HistoryFilter::default()
                            })
                            .await
                            .map_err(Error::from)
                    }
                    .await;
                    let _ = tx.send(Msg::History(h));
                });
            }
        }
    }
}

/// The shortest time between two frames after input (keys, mouse, resize).
const FRAME: Duration = Duration::from_millis(33);
/// The shortest time between two frames when only streaming text changed (log lines, an
/// action's output and progress): it reads as live without a frame per line.
const STREAM_FRAME: Duration = Duration::from_millis(250);
/// The shortest time between two frames when only samples changed (stats arrive once a
/// second per container, host metrics and checks less often): a screen full of them is redrawn
/// once a second, which is as often as they change.
const SAMPLE_FRAME: Duration = Duration::from_millis(1000);

/// Restores the terminal when dropped (normal exit, error, or unwinding panic).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = ratatui::crossterm::execute!(
            std::io::stdout(),
            ratatui::crossterm::event::DisableMouseCapture
        );
        ratatui::restore();
    }
}

/// Run the console on `hosts` (the `--host` selection; empty: every host) until the operator
/// quits. `no_color`: `--no-color` was given.
pub async fn run(inv: Inventory, hosts: Vec<String>, no_color: bool) -> Result<(), Error> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "the console needs a terminal; for scripts use a command (see `opsdeck --help`)",
        ));
    }
    let selection = ops::HostSelection(hosts);
    // SSH hosts connect before the screen is taken, so an encrypted key can be unlocked here.
    let hosts =
        ops::select::connect_interactively(&inv, &selection, Arc::new(prompt::TerminalPrompt))
            .await?;
    let (keymap, mut notices) = keymap::Keymap::load(inv.console.keymap.as_deref());
    let (theme, theme_problems) = theme::Theme::load(
        inv.console.theme.as_deref(),
        crate::term::no_color(no_color),
    );
    notices.extend(theme_problems);
    let model = Model::new(hosts.iter().map(|h| h.name()));
    let (focus_tx, focus_rx) = tokio::sync::watch::channel(crate::model::Focus::new());
    let (mut updates, _watchers) = spawn_watchers(hosts, focus_rx);
    let checks_cancel = CancellationToken::new();
    let _stop_checks = checks_cancel.clone().drop_guard();
    let apps = inv
        .apps
        .iter()
        .map(|(n, a)| (n.clone(), a.services.clone()))
        .collect();
    let mut app = app::App::new(model, keymap, apps, notices);
    app.logs = app::LogsView::new(inv.console.log_lines);
    app.read_only = inv
        .hosts
        .keys()
        .filter_map(|h| inv.read_only_reason(h).map(|why| (h.clone(), why)))
        .collect();
    let line_bytes = inv.console.log_line_bytes;
    let inv = Arc::new(inv);
    let mut checks = ops::checks::spawn_schedule(inv.clone(), checks_cancel);
    let (runner, mut msgs) = Runner::new(inv, selection, line_bytes);

    let mut terminal = ratatui::init();
    let _guard = TerminalGuard;
    // Mouse where the terminal has one; everything works without it. OPSDECK_NO_MOUSE=1 keeps
    // the terminal's own selection.
    if std::env::var_os("OPSDECK_NO_MOUSE").is_none() {
        let _ = ratatui::crossterm::execute!(
            std::io::stdout(),
            ratatui::crossterm::event::EnableMouseCapture
        );
    }
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut dirty = true;
    // How soon the changes not drawn yet want a frame: input at once, streaming text soon,
    // samples within a second.
    let mut gap = FRAME;
    let mut last_draw = Instant::now() - SAMPLE_FRAME;
    let mut last_minute = chrono::Utc::now().timestamp() / 60;
    loop {
        if dirty && last_draw.elapsed() >= gap {
            app.now = chrono::Utc::now();
            let mut height = 0;
            let mut width = 0;
            terminal
                .draw(|f| {
                    height = f.area().height;
                    width = f.area().width;
                    view::draw(f, &app, &theme)
                })
                .map_err(|e| Error::failed(format!("drawing the console: {e}")))?;
            app.page = layout::page_rows(height);
            app.width = width;
            let focus = app.focus();
            if *focus_tx.borrow() != focus {
                let _ = focus_tx.send(focus);
            }
            last_draw = Instant::now();
            dirty = false;
            gap = SAMPLE_FRAME;
        }
        let wait = if dirty {
            gap.saturating_sub(last_draw.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(ev)) => {
                    let changed = app.on_event(&ev);
                    dirty |= changed;
                    if changed {
                        gap = FRAME;
                    }
                }
                Some(Err(e)) => return Err(Error::failed(format!("reading the terminal: {e}"))),
                None => break,
            },
            u = updates.recv() => match u {
                Some(u) => {
                    // A container or host changing state is shown at once (the 100 ms
                    // target); stats and host metrics wait for the data frame.
                    gap = gap.min(frame_for(&u));
                    app.apply(u);
                    while let Ok(more) = updates.try_recv() {
                        gap = gap.min(frame_for(&more));
                        app.apply(more);
                    }
                    dirty = true;
                }
                None => break,
            },
            Some(c) = checks.recv() => {
                app.apply(crate::model::Update::Check(Box::new(c)));
                dirty = true;
            }
            m = msgs.recv() => {
                if let Some(m) = m {
                    gap = gap.min(m.frame());
                    handle(&mut app, m);
                    // Drain what else is queued before drawing: one frame for a burst.
                    while let Ok(m) = msgs.try_recv() {
                        gap = gap.min(m.frame());
                        handle(&mut app, m);
                    }
                }
                dirty = true;
            }
            _ = tick.tick() => {
                let minute = chrono::Utc::now().timestamp() / 60;
                if minute != last_minute {
                    last_minute = minute;
                    dirty = true;
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
        for effect in std::mem::take(&mut app.effects) {
            runner.spawn(effect, &app);
        }
        if app.ready_to_quit() {
            break;
        }
    }
    drop(terminal);
    Ok(())
}
