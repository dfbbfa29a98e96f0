//! Frame render time of the console at 200×60 with 100 containers and a 10,000-line log
//! pane, each beside a baseline measured in the same run: an empty frame (what any frame
//! costs: clear, diff, flush into the backend) and ratatui's own `Table`/`Paragraph` of the
//! same rows and text (what the widgets cost without the console's work).
//!
//! Every frame goes through `Terminal::draw` into a `TestBackend`, as the console's loop
//! does. Between frames the state changes (a new log line, the clock), so each frame really
//! redraws and diffs. `cargo bench --bench render` prints criterion's figures, then a table
//! of each case as a ratio of its baseline.

use criterion::{criterion_group, Criterion};
use opsdeck::docker::logs::{LogLine, LogStream};
use opsdeck::docker::ContainerInfo;
use opsdeck::model::{Model, Update};
use opsdeck::ops::logs::{LogEvent, LogRecord, LogSource};
use opsdeck::tui::app::{App, Pane};
use opsdeck::tui::keymap::Keymap;
use opsdeck::tui::theme::Theme;
use opsdeck::tui::view;
use ratatui::backend::TestBackend;
use ratatui::layout::Constraint;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use ratatui::Terminal;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const W: u16 = 200;
const H: u16 = 60;
const CONTAINERS: usize = 100;
const LOG_LINES: usize = 10_000;
/// The logs pane shows a whole project: its lines come from this many containers.
const LOG_SOURCES: usize = 4;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

/// A container as the watcher builds it from the engine's answer.
fn container(i: usize) -> ContainerInfo {
    use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
    let project = format!("shop{:02}", i / 10);
    let service = ["web", "api", "worker", "db", "cache"][i % 5];
    let mut labels = HashMap::new();
    labels.insert("com.docker.compose.project".to_string(), project.clone());
    labels.insert(
        "com.docker.compose.service".to_string(),
        service.to_string(),
    );
    let status = match i % 7 {
        0 => "Up 2 hours (unhealthy)",
        1 => "Up 3 minutes (health: starting)",
        _ => "Up 2 hours (healthy)",
    };
    let summary = ContainerSummary {
        id: Some(format!("{i:012x}{:052x}", i * 7919)),
        names: Some(vec![format!("/{project}_{service}_{i}")]),
        image: Some(format!("registry.example:5000/team/{service}:1.{}", i % 9)),
        state: Some(ContainerSummaryStateEnum::RUNNING),
        status: Some(status.to_string()),
        labels: Some(labels),
        ..Default::default()
    };
    let mut c = ContainerInfo::from_engine("local", &summary, None, now());
    c.started_at = Some(format!("2026-11-23T{:02}:{:02}:00Z", i % 12, i % 60));
    c
}

fn log_text(n: usize) -> String {
    match n % 8 {
        0 => format!("heartbeat {n}: queue depth {}", n % 5),
        1 => format!("level=info msg=\"picked job\" id={n} queue=default"),
        2 => format!("{{\"level\":\"info\",\"msg\":\"job done\",\"id\":{n}}}"),
        3 => format!("level=warn msg=\"job slow\" id={n} duration_ms={}", 1000 + n % 900),
        4 => format!("{{\"level\":\"warn\",\"msg\":\"retrying\",\"id\":{n},\"attempt\":2}}"),
        5 => format!("level=error msg=\"job failed\" id={n} err=\"connection reset by peer\""),
        6 => format!("GET /api/orders/{n}?page=2&sort=desc HTTP/1.1 200 {} bytes in 12ms \"Mozilla/5.0 (X11; Linux x86_64)\" upstream=10.0.3.{}:8080", n * 37 % 90_000, n % 250),
        _ => format!("processed batch {n} in 12ms"),
    }
}

fn sources() -> Vec<Arc<LogSource>> {
    (0..LOG_SOURCES)
        .map(|i| {
            Arc::new(LogSource {
                host: "local".into(),
                id: format!("{i:012x}"),
                container: format!("shop00_{}_{i}", ["web", "api", "worker", "db"][i % 4]),
                service: Some(["web", "api", "worker", "db"][i % 4].into()),
            })
        })
        .collect()
}

fn record(src: &[Arc<LogSource>], n: usize) -> LogRecord {
    LogRecord {
        source: src[n % src.len()].clone(),
        line: LogLine {
            ts: Some(now() + chrono::Duration::milliseconds(n as i64)),
            stream: if n % 8 == 5 {
                LogStream::Stderr
            } else {
                LogStream::Stdout
            },
            text: log_text(n),
            cut_bytes: 0,
        },
    }
}

/// The console with 100 containers and a 10,000-line merged log pane.
fn app() -> App {
    let mut model = Model::new(["local"]);
    model.apply(Update::HostConnected {
        host: "local".into(),
        engine_version: "20.10.24".into(),
        latency_ms: 0.4,
    });
    model.apply(Update::Snapshot {
        host: "local".into(),
        containers: (0..CONTAINERS).map(container).collect(),
    });
    let (keymap, _) = Keymap::load(None);
    let mut app = App::new(model, keymap, Default::default(), Vec::new());
    app.now = now();
    // Room for every line: the per-container cap must not be what keeps the pane small.
    app.logs = opsdeck::tui::app::LogsView::new(LOG_LINES);
    app.open_logs(
        sources()
            .iter()
            .map(|s| format!("local/{}", s.container))
            .collect::<Vec<_>>(),
        "project shop00 on local".into(),
    );
    app.effects.clear();
    let src = sources();
    let generation = app.logs.generation;
    for chunk in (0..LOG_LINES).collect::<Vec<_>>().chunks(500) {
        let records = chunk.iter().map(|n| record(&src, *n)).collect();
        app.log_event(generation, LogEvent::Lines(records));
    }
    assert_eq!(
        app.logs.buf.len(),
        LOG_LINES,
        "the log pane holds every line"
    );
    app
}

fn terminal() -> Terminal<TestBackend> {
    match Terminal::new(TestBackend::new(W, H)) {
        Ok(t) => t,
        Err(e) => panic!("a TestBackend terminal: {e}"),
    }
}

/// One named case: a closure that draws one frame (changing state first).
type Case = (&'static str, &'static str, Box<dyn FnMut()>);

/// The cases, each with the baseline it is compared with.
fn cases() -> Vec<Case> {
    let (theme, _) = Theme::load(Some("dark"), false);
    let theme = Arc::new(theme);
    let mut out: Vec<Case> = Vec::new();

    // Baseline: an empty frame (a bordered block), with something changing so it redraws.
    {
        let mut t = terminal();
        let mut n = 0u64;
        out.push((
            "empty frame",
            "",
            Box::new(move || {
                n += 1;
                let title = format!(" frame {n} ");
                let r = t.draw(|f| {
                    f.render_widget(
                        Block::default().borders(Borders::ALL).title(title),
                        f.area(),
                    )
                });
                black_box(r.is_ok());
            }),
        ));
    }

    // Containers: ratatui's Table of the same rows, then the console's pane.
    {
        let app = app();
        let rows: Vec<Vec<String>> = app
            .visible()
            .iter()
            .map(|c| {
                vec![
                    c.service.clone().unwrap_or_default(),
                    c.state.as_str().to_string(),
                    c.health.as_str().to_string(),
                    c.image.clone(),
                    "2h10m".into(),
                    c.name.clone(),
                ]
            })
            .collect();
        let mut t = terminal();
        let mut n = 0usize;
        out.push((
            "ratatui Table, same rows",
            "empty frame",
            Box::new(move || {
                n += 1;
                let table = Table::new(
                    rows.iter().skip(n % 2).map(|r| Row::new(r.clone())),
                    [
                        Constraint::Min(20),
                        Constraint::Length(10),
                        Constraint::Length(9),
                        Constraint::Percentage(30),
                        Constraint::Length(8),
                        Constraint::Percentage(25),
                    ],
                )
                .header(Row::new([
                    "SERVICE",
                    "STATE",
                    "HEALTH",
                    "IMAGE",
                    "UP",
                    "CONTAINER",
                ]))
                .block(Block::default().borders(Borders::ALL));
                black_box(t.draw(|f| f.render_widget(table, f.area())).is_ok());
            }),
        ));
    }
    {
        let mut app = app();
        app.pane = Pane::Containers;
        let theme = theme.clone();
        let mut t = terminal();
        out.push((
            "containers pane (100)",
            "ratatui Table, same rows",
            Box::new(move || {
                // Move the selection: the highlighted row changes every frame.
                app.selected = (app.selected + 1) % CONTAINERS;
                black_box(t.draw(|f| view::draw(f, &app, &theme)).is_ok());
            }),
        ));
    }

    // Logs: ratatui's Paragraph of the same visible text, then the console's pane.
    {
        let app = app();
        let text: Vec<String> = app
            .logs
            .buf
            .window(usize::from(H), 0)
            .into_iter()
            .map(|(i, l)| format!("{:<16} │ {}", app.logs.buf.sources[i].container, l.text))
            .collect();
        let mut t = terminal();
        let mut n = 0usize;
        out.push((
            "ratatui Paragraph, same text",
            "empty frame",
            Box::new(move || {
                n += 1;
                let lines: Vec<Line> = text
                    .iter()
                    .skip(n % 2)
                    .map(|s| Line::raw(s.clone()))
                    .collect();
                let p = Paragraph::new(lines).block(Block::default().borders(Borders::ALL));
                black_box(t.draw(|f| f.render_widget(p, f.area())).is_ok());
            }),
        ));
    }
    let search_re = regex::Regex::new("job|id=\\d+").ok();
    for (name, search, wrap) in [
        ("logs pane (10,000 lines)", false, false),
        ("logs pane, search + wrap", true, true),
    ] {
        let mut app = app();
        app.pane = Pane::Logs;
        app.logs.wrap = wrap;
        if search {
            app.logs.search = search_re.clone();
        }
        let theme = theme.clone();
        let src = sources();
        let mut n = LOG_LINES;
        let mut t = terminal();
        out.push((
            name,
            "ratatui Paragraph, same text",
            Box::new(move || {
                // A new line arrives every frame, as when following a busy project.
                let generation = app.logs.generation;
                app.log_event(generation, LogEvent::Lines(vec![record(&src, n)]));
                n += 1;
                black_box(t.draw(|f| view::draw(f, &app, &theme)).is_ok());
            }),
        ));
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame 200x60");
    for (name, _, mut f) in cases() {
        g.bench_function(name, |b| b.iter(&mut f));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}

/// Median time of one call, over batches filling about `budget`.
fn median(f: &mut dyn FnMut(), budget: Duration) -> Duration {
    for _ in 0..20 {
        f();
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || samples.len() < 11 {
        let t = Instant::now();
        for _ in 0..10 {
            f();
        }
        samples.push(t.elapsed() / 10);
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// Each case beside its baseline, measured again here so the ratio comes from one run.
fn ratio_table() {
    let mut results: Vec<(&str, &str, Duration)> = Vec::new();
    for (name, base, mut f) in cases() {
        let d = median(&mut f, Duration::from_millis(1500));
        results.push((name, base, d));
    }
    let find = |n: &str| results.iter().find(|r| r.0 == n).map(|r| r.2);
    println!();
    println!("frame render at {W}x{H}, {CONTAINERS} containers, {LOG_LINES}-line log pane (median per frame)");
    println!(
        "{:<32} {:>10}   {:<30} {:>10} {:>8}",
        "case", "time", "baseline", "its time", "ratio"
    );
    for (name, base, d) in &results {
        match find(base) {
            Some(b) => println!(
                "{name:<32} {:>8.3}ms   {base:<30} {:>8.3}ms {:>7.2}x",
                d.as_secs_f64() * 1e3,
                b.as_secs_f64() * 1e3,
                d.as_secs_f64() / b.as_secs_f64().max(1e-12)
            ),
            None => println!("{name:<32} {:>8.3}ms   (baseline)", d.as_secs_f64() * 1e3),
        }
    }
    let target = Duration::from_millis(2);
    let worst = results
        .iter()
        .filter(|r| r.0.contains("pane"))
        .map(|r| r.2)
        .max()
        .unwrap_or_default();
    println!(
        "slowest console frame {:.3} ms; target ≤ {} ms: {}",
        worst.as_secs_f64() * 1e3,
        target.as_millis(),
        if worst <= target { "met" } else { "NOT met" }
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo test --benches` / `--test` run each case once; the table is for real runs.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    if !quick {
        ratio_table();
    }
}
