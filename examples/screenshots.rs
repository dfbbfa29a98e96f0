//! Screenshots of the console, taken from the real `App` fed with live data from the demo
//! platform (run it through `scripts/screenshots`, which brings the demo stack up first).
//!
//! It does what the console's event loop does, without a terminal: watchers over the
//! inventory's hosts feed the model; the logs of the demo project are opened the way `L`
//! opens them and read with the same `ops::logs::read`; real actions are typed into the
//! palette and run by the real engine (so the Actions and History panes have content). Then
//! every pane in `Pane::ALL`, the help popup and the palette are drawn with `view::draw` into
//! a 120×32 `TestBackend` and written as SVG (a cell grid with per-cell colours and bold).
//! `scripts/screenshots` turns the SVGs into PNGs with `rsvg-convert`.
//!
//! Usage: screenshots --config demo/opsdeck.toml --out screenshots [--project opsdeck-demo]
//!                    [--theme dark] [--width 120] [--height 32]

use anyhow::{anyhow, bail, Context, Result};
use opsdeck::docker::{Health, State};
use opsdeck::inventory;
use opsdeck::model::{spawn_watchers, Model, Update};
use opsdeck::ops;
use opsdeck::tui::app::{App, LogsView, Pane, Popup};
use opsdeck::tui::keymap::{KeyCommand, Keymap};
use opsdeck::tui::theme::Theme;
use opsdeck::tui::view;
use opsdeck::tui::{self, Msg, Runner};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};
use ratatui::text::Span;
use ratatui::Terminal;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Args {
    config: PathBuf,
    out: PathBuf,
    project: String,
    theme: String,
    width: u16,
    height: u16,
    /// Seconds of live data (stats, host metrics, checks) gathered before the pictures.
    gather: u64,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        config: PathBuf::from("demo/opsdeck.toml"),
        out: PathBuf::from("screenshots"),
        project: "opsdeck-demo".into(),
        theme: "dark".into(),
        width: 120,
        height: 32,
        gather: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => a.config = PathBuf::from(value()?),
            "--out" => a.out = PathBuf::from(value()?),
            "--project" => a.project = value()?,
            "--theme" => a.theme = value()?,
            "--width" => a.width = value()?.parse().context("--width")?,
            "--height" => a.height = value()?.parse().context("--height")?,
            "--gather" => a.gather = value()?.parse().context("--gather")?,
            other => bail!("unknown argument {other:?} (see the comment at the top of examples/screenshots.rs)"),
        }
    }
    Ok(a)
}

/// The console's event loop without a terminal: effects are run, answers and model updates
/// are applied to the app.
struct Driver {
    app: App,
    updates: mpsc::Receiver<Update>,
    _watchers: opsdeck::model::WatchHandle,
    /// The containers whose stats stream (what the pane shows), as the console tells them.
    focus: tokio::sync::watch::Sender<opsdeck::model::Focus>,
    checks: mpsc::Receiver<ops::checks::CheckResult>,
    _stop_checks: tokio_util::sync::DropGuard,
    /// The console's own effect runner; its answers arrive on `rx`.
    runner: Runner,
    rx: mpsc::UnboundedReceiver<Msg>,
    /// Only containers of this compose project are shown (a shared engine may run others).
    project: String,
}

impl Driver {
    fn keep(&self, u: &Update) -> Option<Update> {
        let ours = |p: &Option<String>| p.as_deref() == Some(self.project.as_str());
        Some(match u {
            Update::Snapshot { host, containers } => Update::Snapshot {
                host: host.clone(),
                containers: containers
                    .iter()
                    .filter(|c| ours(&c.project))
                    .cloned()
                    .collect(),
            },
            Update::Upsert(c) if !ours(&c.project) => return None,
            other => other.clone(),
        })
    }

    fn run_effects(&mut self) {
        for effect in std::mem::take(&mut self.app.effects) {
            self.runner.spawn(effect, &self.app);
        }
    }

    /// Run effects and apply what arrives until `done` holds; fails after `limit`.
    async fn pump_until(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&App) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            self.run_effects();
            if done(&self.app) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("timed out after {limit:?} waiting for {what}");
            }
            let focus = self.app.focus();
            if *self.focus.borrow() != focus {
                let _ = self.focus.send(focus);
            }
            tokio::select! {
                Some(c) = self.checks.recv() => self.app.apply(Update::Check(Box::new(c))),
                u = self.updates.recv() => match u {
                    Some(u) => {
                        if let Some(u) = self.keep(&u) {
                            self.app.apply(u);
                        }
                    }
                    None => bail!("the watchers stopped"),
                },
                Some(m) = self.rx.recv() => tui::handle(&mut self.app, m),
                _ = tokio::time::sleep(left.min(Duration::from_millis(100))) => {}
            }
        }
    }

    /// Keep applying what arrives for `d` (lets a burst settle).
    async fn pump_for(&mut self, d: Duration) -> Result<()> {
        let until = Instant::now() + d;
        self.pump_until("nothing", d + Duration::from_secs(1), move |_| {
            Instant::now() >= until
        })
        .await
    }

    fn key_with(&mut self, code: KeyCode, mods: KeyModifiers) {
        self.app.on_event(&Event::Key(KeyEvent::new(code, mods)));
    }

    fn key(&mut self, code: KeyCode) {
        self.app
            .on_event(&Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    fn type_text(&mut self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c));
        }
    }
}

/// The demo project's containers are there, running, and done starting.
fn settled(app: &App, project: &str) -> bool {
    let ours: Vec<_> = app
        .model
        .containers
        .values()
        .filter(|c| c.project.as_deref() == Some(project))
        .collect();
    ours.len() >= 4
        && ours
            .iter()
            .all(|c| c.state == State::Running && c.health != Health::Starting)
}

fn run_finished(app: &App) -> bool {
    app.runs.iter().all(|r| r.progress.outcome.is_some())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let inv = inventory::load_file(&args.config)
        .map_err(|e| anyhow!("{}: {e}", args.config.display()))?;
    let selection = ops::HostSelection(Vec::new());
    let hosts = ops::select_hosts(&inv, &selection).map_err(|e| anyhow!("{}", e.message))?;
    let (keymap, problems) = Keymap::load(inv.console.keymap.as_deref());
    let (theme, theme_problems) = Theme::load(Some(&args.theme), false);
    for p in problems.iter().chain(&theme_problems) {
        eprintln!("screenshots: {p}");
    }
    let model = Model::new(hosts.iter().map(|h| h.name()));
    let (focus, focus_rx) = tokio::sync::watch::channel(opsdeck::model::Focus::new());
    let (updates, watchers) = spawn_watchers(hosts, focus_rx);
    let inv = Arc::new(inv);
    let checks_cancel = CancellationToken::new();
    let checks = ops::checks::spawn_schedule(inv.clone(), checks_cancel.clone());
    let apps = inv
        .apps
        .iter()
        .map(|(n, a)| (n.clone(), a.services.clone()))
        .collect();
    let mut app = App::new(model, keymap, apps, Vec::new());
    app.logs = LogsView::new(inv.console.log_lines);
    // What the console sets from the terminal's height after a draw.
    app.page = usize::from(args.height.saturating_sub(6)).max(1);
    app.width = args.width;
    let line_bytes = inv.console.log_line_bytes;
    // A database with backups set up gets one, so the Backups pane has something to show.
    let backup_db = inv
        .databases
        .iter()
        .find(|(_, s)| s.backup_to.is_some())
        .map(|(n, _)| n.clone());
    let (runner, rx) = Runner::new(inv, selection, line_bytes);
    let mut d = Driver {
        app,
        updates,
        _watchers: watchers,
        focus,
        checks,
        _stop_checks: checks_cancel.drop_guard(),
        runner,
        rx,
        project: args.project.clone(),
    };

    let project = args.project.clone();
    d.pump_until(
        &format!("the containers of {project} to run and finish starting"),
        Duration::from_secs(60),
        |app| settled(app, &project),
    )
    .await?;

    // Actions typed into the palette as a user would: a restart, an exec with output, and a
    // backup when the inventory has a database to back up.
    let app_name = d
        .app
        .apps
        .keys()
        .next()
        .cloned()
        .ok_or_else(|| anyhow!("the inventory has no app"))?;
    let mut lines = vec![
        format!("restart {app_name}/api"),
        format!("exec {app_name}/web cat /www/health"),
    ];
    lines.extend(backup_db.iter().map(|db| format!("backup {db}")));
    for line in lines {
        d.app.run(KeyCommand::Palette);
        d.type_text(&line);
        d.key(KeyCode::Enter);
        if d.app.popup != Popup::None {
            bail!(
                "the palette refused {line:?}: {}",
                d.app.palette_error.clone().unwrap_or_default()
            );
        }
        d.pump_until(
            &format!("the action {line:?} to finish"),
            Duration::from_secs(60),
            run_finished,
        )
        .await?;
    }
    // The restart makes the api start over: wait until it is healthy again.
    d.pump_until(
        &format!("{project} to settle after the restart"),
        Duration::from_secs(60),
        |app| settled(app, &project),
    )
    .await?;

    // The whole project's logs, the way `L` on one of its containers opens them.
    d.app.pane = Pane::Containers;
    let pos = d
        .app
        .visible()
        .iter()
        .position(|c| c.service.as_deref() == Some("worker"))
        .ok_or_else(|| anyhow!("no worker container in {project}"))?;
    d.app.selected = pos;
    d.app.run(KeyCommand::ProjectLogs);
    d.pump_until(
        "log lines of the demo project",
        Duration::from_secs(30),
        |app| app.logs.buf.len() >= 40,
    )
    .await?;
    // Back on the containers pane (its rows are what stats stream for) while sparklines,
    // host metrics and checks fill up; the logs keep arriving.
    d.app.pane = Pane::Containers;
    eprintln!("screenshots: gathering live data for {} s", args.gather);
    d.pump_for(Duration::from_secs(args.gather)).await?;

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let shot = |d: &mut Driver, name: &str| -> Result<()> {
        d.app.now = chrono::Utc::now();
        let buf = render(&d.app, &theme, args.width, args.height)?;
        let path = args.out.join(format!("{name}.svg"));
        std::fs::write(&path, buffer_to_svg(&buf))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
        Ok(())
    };

    // Every pane, reached with Tab the way a user gets there (a pane's effects run first).
    d.app.pane = Pane::ALL[0];
    d.app.selected = pos;
    for (i, pane) in Pane::ALL.iter().enumerate() {
        if i > 0 {
            d.app.run(KeyCommand::NextPane);
        }
        if d.app.pane != *pane {
            bail!("Tab led to {:?}, not {:?}", d.app.pane, pane);
        }
        if *pane == Pane::Doctor {
            // The checklist of the first app, run for real.
            d.app.run(KeyCommand::Doctor);
            d.pump_until("the doctor's checklist", Duration::from_secs(60), |a| {
                a.doctor
                    .values()
                    .all(|s| !matches!(s, opsdeck::tui::app::DoctorState::Running))
            })
            .await?;
        }
        d.pump_for(Duration::from_millis(300)).await?;
        shot(&mut d, pane.section())?;
    }

    // The routes file editor over the routes pane, with a check's error shown in place.
    d.app.pane = Pane::Routes;
    d.app.run(KeyCommand::Edit);
    d.pump_until("the routes file", Duration::from_secs(20), |a| {
        a.popup == opsdeck::tui::app::Popup::Editor
    })
    .await?;
    if let Some(ed) = d.app.editor.as_mut() {
        ed.text.move_cursor(tui_textarea::CursorMove::Jump(6, 0));
        ed.text.move_cursor(tui_textarea::CursorMove::End);
    }
    d.type_text("x");
    d.key_with(KeyCode::Char('s'), KeyModifiers::CONTROL);
    shot(&mut d, "routes-editor")?;
    d.key(KeyCode::Esc);
    d.key(KeyCode::Esc);

    // The help popup and the palette, over the containers pane.
    d.app.pane = Pane::Containers;
    d.app.run(KeyCommand::Help);
    shot(&mut d, "help")?;
    d.app.run(KeyCommand::Back);
    d.app.run(KeyCommand::Palette);
    d.type_text("restart ");
    d.key(KeyCode::Tab);
    shot(&mut d, "palette")?;
    d.key(KeyCode::Esc);
    Ok(())
}

fn render(app: &App, theme: &Theme, width: u16, height: u16) -> Result<Buffer> {
    let mut terminal = Terminal::new(TestBackend::new(width, height))?;
    terminal.draw(|f| view::draw(f, app, theme))?;
    Ok(terminal.backend().buffer().clone())
}

// ---------------------------------------------------------------------------------------------
// Buffer → SVG

/// DejaVu Sans Mono's metrics (units per em 2048): advance 1233, ascent 1901, descent 483.
/// The cell is one advance wide and ascent + descent high, so box-drawing glyphs, which span
/// exactly that box, join across cells and rows.
const FONT_SIZE: f64 = 16.0;
const CELL_W: f64 = FONT_SIZE * 1233.0 / 2048.0;
const CELL_H: f64 = FONT_SIZE * (1901.0 + 483.0) / 2048.0;
const BASELINE: f64 = FONT_SIZE * 1901.0 / 2048.0;
const PAD: f64 = 8.0;

/// The terminal's own colours (a dark terminal) for `Color::Reset`.
const DEFAULT_FG: (u8, u8, u8) = (0xd0, 0xd0, 0xd0);
const DEFAULT_BG: (u8, u8, u8) = (0x1c, 0x1c, 0x24);

/// The 16 ANSI colours as xterm draws them.
const ANSI: [(u8, u8, u8); 16] = [
    (0x00, 0x00, 0x00),
    (0xcd, 0x00, 0x00),
    (0x00, 0xcd, 0x00),
    (0xcd, 0xcd, 0x00),
    (0x00, 0x00, 0xee),
    (0xcd, 0x00, 0xcd),
    (0x00, 0xcd, 0xcd),
    (0xe5, 0xe5, 0xe5),
    (0x7f, 0x7f, 0x7f),
    (0xff, 0x00, 0x00),
    (0x00, 0xff, 0x00),
    (0xff, 0xff, 0x00),
    (0x5c, 0x5c, 0xff),
    (0xff, 0x00, 0xff),
    (0x00, 0xff, 0xff),
    (0xff, 0xff, 0xff),
];

fn rgb(c: Color, default: (u8, u8, u8)) -> (u8, u8, u8) {
    match c {
        Color::Reset => default,
        Color::Black => ANSI[0],
        Color::Red => ANSI[1],
        Color::Green => ANSI[2],
        Color::Yellow => ANSI[3],
        Color::Blue => ANSI[4],
        Color::Magenta => ANSI[5],
        Color::Cyan => ANSI[6],
        Color::Gray => ANSI[7],
        Color::DarkGray => ANSI[8],
        Color::LightRed => ANSI[9],
        Color::LightGreen => ANSI[10],
        Color::LightYellow => ANSI[11],
        Color::LightBlue => ANSI[12],
        Color::LightMagenta => ANSI[13],
        Color::LightCyan => ANSI[14],
        Color::White => ANSI[15],
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i) => indexed(i),
    }
}

/// xterm's 256-colour palette.
fn indexed(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI[usize::from(i)],
        16..=231 => {
            let i = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (level(i / 36), level(i / 6 % 6), level(i % 6))
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    }
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn mix(a: (u8, u8, u8), b: (u8, u8, u8)) -> (u8, u8, u8) {
    let m = |x: u8, y: u8| ((u16::from(x) + u16::from(y)) / 2) as u8;
    (m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

/// The colours and text attributes a cell is drawn with.
#[derive(Clone, PartialEq)]
struct Look {
    fg: (u8, u8, u8),
    bg: (u8, u8, u8),
    bold: bool,
    italic: bool,
    underline: bool,
}

fn look(cell: &ratatui::buffer::Cell) -> Look {
    let mut fg = rgb(cell.fg, DEFAULT_FG);
    let mut bg = rgb(cell.bg, DEFAULT_BG);
    if cell.modifier.contains(Modifier::REVERSED) {
        std::mem::swap(&mut fg, &mut bg);
    }
    if cell.modifier.contains(Modifier::DIM) {
        fg = mix(fg, bg);
    }
    Look {
        fg,
        bg,
        bold: cell.modifier.contains(Modifier::BOLD),
        italic: cell.modifier.contains(Modifier::ITALIC),
        underline: cell.modifier.contains(Modifier::UNDERLINED),
    }
}

fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// One SVG: a background rectangle per run of equal background in a row, then the text of
/// each run of equal look, every glyph placed at its own cell (so a glyph from a fallback
/// font or a wide glyph can never shift the rest of the row).
fn buffer_to_svg(buf: &Buffer) -> String {
    let area = buf.area;
    let (cols, rows) = (usize::from(area.width), usize::from(area.height));
    let width = PAD * 2.0 + CELL_W * cols as f64;
    let height = PAD * 2.0 + CELL_H * rows as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.3} {height:.3}">"#
    );
    let _ = writeln!(
        s,
        r#"<style>text{{font-family:'DejaVu Sans Mono',monospace;font-size:{FONT_SIZE}px;white-space:pre}} .b{{font-weight:bold}} .i{{font-style:italic}} .u{{text-decoration:underline}}</style>"#
    );
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{width:.3}" height="{height:.3}" fill="{}"/>"#,
        hex(DEFAULT_BG)
    );
    let looks: Vec<Vec<Look>> = (0..rows)
        .map(|y| {
            (0..cols)
                .map(|x| look(&buf[(area.x + x as u16, area.y + y as u16)]))
                .collect()
        })
        .collect();
    // Backgrounds (crisp edges so neighbouring rectangles leave no seam).
    let _ = writeln!(s, r#"<g shape-rendering="crispEdges">"#);
    for (y, row) in looks.iter().enumerate() {
        let mut x = 0;
        while x < cols {
            let bg = row[x].bg;
            let start = x;
            while x < cols && row[x].bg == bg {
                x += 1;
            }
            if bg != DEFAULT_BG {
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.3}" y="{:.3}" width="{:.3}" height="{:.3}" fill="{}"/>"#,
                    PAD + CELL_W * start as f64,
                    PAD + CELL_H * y as f64,
                    CELL_W * (x - start) as f64,
                    CELL_H,
                    hex(bg)
                );
            }
        }
    }
    let _ = writeln!(s, "</g>");
    // Text: runs of one look; blank cells end a run (they draw only their background).
    for (y, row) in looks.iter().enumerate() {
        let baseline = PAD + CELL_H * y as f64 + BASELINE;
        let mut x = 0;
        while x < cols {
            let lk = &row[x];
            let mut glyphs: Vec<(usize, &str)> = Vec::new();
            while x < cols && row[x] == *lk {
                let cell = &buf[(area.x + x as u16, area.y + y as u16)];
                let sym = cell.symbol();
                if sym.trim().is_empty() {
                    x += 1;
                    if glyphs.is_empty() {
                        continue;
                    }
                    break;
                }
                glyphs.push((x, sym));
                // A wide glyph covers the cells after it: they draw no text.
                x += Span::raw(sym).width().max(1);
            }
            if glyphs.is_empty() {
                continue;
            }
            // One x per character pins every glyph to its cell; a grapheme of several
            // characters gets an element of its own.
            let groups: Vec<Vec<(usize, &str)>> =
                if glyphs.iter().all(|(_, g)| g.chars().count() == 1) {
                    vec![glyphs]
                } else {
                    glyphs.into_iter().map(|g| vec![g]).collect()
                };
            let class = [(lk.bold, "b"), (lk.italic, "i"), (lk.underline, "u")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, c)| *c)
                .collect::<Vec<_>>()
                .join(" ");
            let class = if class.is_empty() {
                String::new()
            } else {
                format!(r#" class="{class}""#)
            };
            for g in groups {
                let xs: Vec<String> = g
                    .iter()
                    .map(|(cx, _)| format!("{:.2}", PAD + CELL_W * *cx as f64))
                    .collect();
                let _ = write!(
                    s,
                    r#"<text x="{}" y="{baseline:.3}" fill="{}"{class}>"#,
                    xs.join(" "),
                    hex(lk.fg)
                );
                for (_, sym) in &g {
                    escape(sym, &mut s);
                }
                let _ = writeln!(s, "</text>");
            }
        }
    }
    s.push_str("</svg>\n");
    s
}
