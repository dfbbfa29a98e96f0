//! The console (TUI): event loop, panes, key maps and themes.
//!
//! The loop waits on three things: terminal input, model updates from the watchers, and a
//! slow tick (uptimes). It redraws only when something changed, at most ~30 times a second.
//! A terminal guard restores the terminal on exit, on error and on panic.

pub mod app;
pub mod keymap;
pub mod theme;
pub mod view;

use crate::cli::Cli;
use crate::error::Error;
use crate::inventory::Inventory;
use crate::model::{spawn_watchers, Model};
use crate::ops;
use futures_util::StreamExt;
use ratatui::crossterm::event::EventStream;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

const FRAME: Duration = Duration::from_millis(33);

/// Restores the terminal when dropped (normal exit, error, or unwinding panic).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Whether colours are off: `--no-color` or a non-empty `NO_COLOR`.
pub fn no_color(cli_flag: bool) -> bool {
    cli_flag || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

pub async fn run(inv: Inventory, cli: &Cli) -> Result<(), Error> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "the console needs a terminal; for scripts use a command (see `opsdeck --help`)",
        ));
    }
    let hosts = ops::select_hosts(&inv, &ops::HostSelection(cli.hosts.clone()))?;
    let (keymap, mut notices) = keymap::Keymap::load(inv.console.keymap.as_deref());
    let (theme, theme_problems) =
        theme::Theme::load(inv.console.theme.as_deref(), no_color(cli.no_color));
    notices.extend(theme_problems);
    let model = Model::new(hosts.iter().map(|h| h.name()));
    let (mut updates, _watchers) = spawn_watchers(hosts);
    let mut app = app::App::new(model, keymap, notices);

    let mut terminal = ratatui::init();
    let _guard = TerminalGuard;
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut last_minute = chrono::Utc::now().timestamp() / 60;
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            app.now = chrono::Utc::now();
            let mut height = 0;
            terminal
                .draw(|f| {
                    height = f.area().height;
                    view::draw(f, &app, &theme)
                })
                .map_err(|e| Error::failed(format!("drawing the console: {e}")))?;
            app.page = usize::from(height.saturating_sub(6)).max(1);
            last_draw = Instant::now();
            dirty = false;
        }
        let wait = if dirty {
            FRAME.saturating_sub(last_draw.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(ev)) => dirty |= app.on_event(&ev),
                Some(Err(e)) => return Err(Error::failed(format!("reading the terminal: {e}"))),
                None => break,
            },
            u = updates.recv() => match u {
                Some(u) => {
                    app.apply(u);
                    while let Ok(more) = updates.try_recv() {
                        app.apply(more);
                    }
                    dirty = true;
                }
                None => break,
            },
            _ = tick.tick() => {
                let minute = chrono::Utc::now().timestamp() / 60;
                if minute != last_minute {
                    last_minute = minute;
                    dirty = true;
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
        if app.quit {
            break;
        }
    }
    drop(terminal);
    Ok(())
}
