//! Whole-console tests at fixed sizes: every pane in its normal, empty, error and narrow
//! states (text snapshots with insta), every shipped theme, and the update path from keys
//! to the same `Action` values the CLI builds.

use super::app::{App, Effect, Pane, Popup};
use super::keymap::{KeyCommand, Keymap};
use super::theme::{Theme, SHIPPED};
use super::view;
use crate::journal::{Entry, Outcome};
use crate::model::{Model, Update};
use crate::ops::{Action, ActionEvent, ContainerOp, Target};
use crate::ops::{ContainerInfo, Health, State};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::collections::{BTreeMap, HashMap};

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc)
}

fn container(
    host: &str,
    project: Option<&str>,
    service: &str,
    state: State,
    health: Health,
    image: &str,
) -> ContainerInfo {
    let name = match project {
        Some(p) => format!("{p}_{service}_1"),
        None => service.to_string(),
    };
    ContainerInfo {
        host: host.into(),
        id: format!(
            "{:0>12x}",
            name.bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
                & 0xffff_ffff_ffff
        ),
        name,
        project: project.map(str::to_string),
        service: project.map(|_| service.to_string()),
        project_dir: None,
        state,
        health,
        health_output: None,
        image: image.into(),
        tag: crate::ops::parse_image_ref(image).1,
        status: String::new(),
        created: None,
        started_at: Some("2026-11-23T09:30:00Z".into()),
        uptime_secs: None,
        exit_code: if state == State::Exited {
            Some(137)
        } else {
            None
        },
        restart_count: Some(0),
        ports: vec![],
        networks: vec![],
        labels: HashMap::new(),
    }
}

fn demo_model(hosts: &[&str]) -> Model {
    let mut m = Model::new(hosts.iter().copied());
    for h in hosts {
        m.apply(Update::HostConnected {
            host: h.to_string(),
            engine_version: "20.10.24".into(),
            latency_ms: 1.2,
        });
    }
    let mut cs = vec![
        container(
            hosts[0],
            Some("shop"),
            "platform-a",
            State::Running,
            Health::Healthy,
            "registry.example.com/shop:1.4.2",
        ),
        container(
            hosts[0],
            Some("shop"),
            "platform-b",
            State::Running,
            Health::Starting,
            "registry.example.com/shop:1.4.2",
        ),
        container(
            hosts[0],
            Some("shop"),
            "worker",
            State::Exited,
            Health::None,
            "registry.example.com/shop-worker:1.4.2",
        ),
        container(
            hosts[0],
            Some("infra"),
            "postgres",
            State::Running,
            Health::Healthy,
            "postgres:18",
        ),
        container(
            hosts[0],
            Some("infra"),
            "redis",
            State::Running,
            Health::Unhealthy,
            "redis:8",
        ),
        container(
            hosts[0],
            None,
            "traefik",
            State::Running,
            Health::None,
            "traefik:v3.7",
        ),
    ];
    if let Some(second) = hosts.get(1) {
        cs.push(container(
            second,
            Some("blog"),
            "web",
            State::Running,
            Health::Healthy,
            "ghost:5",
        ));
    }
    for c in cs {
        m.apply(Update::Upsert(Box::new(c)));
    }
    m
}

fn app_with(model: Model) -> App {
    let (keymap, problems) = Keymap::load(None);
    assert!(problems.is_empty(), "{problems:?}");
    let mut apps = BTreeMap::new();
    apps.insert(
        "shop".to_string(),
        vec!["platform-a".to_string(), "platform-b".to_string()],
    );
    let mut app = App::new(model, keymap, apps, vec![]);
    app.now = now();
    app
}

fn render(app: &App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| view::draw(f, app, theme)).expect("draw");
    t.backend().buffer().clone()
}

fn text(b: &Buffer) -> String {
    let w = b.area.width as usize;
    b.content
        .chunks(w)
        .map(|row| {
            row.iter()
                .map(|c| c.symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn dark() -> Theme {
    Theme::parse(SHIPPED[0].1, false).expect("dark")
}

fn key(code: KeyCode, mods: KeyModifiers) -> Event {
    Event::Key(KeyEvent::new(code, mods))
}

#[test]
fn containers_pane_normal() {
    let app = app_with(demo_model(&["alpha"]));
    insta::assert_snapshot!("containers_normal", text(&render(&app, &dark(), 110, 16)));
}

#[test]
fn containers_pane_narrow_80x24_and_tiny() {
    let app = app_with(demo_model(&["alpha", "beta"]));
    insta::assert_snapshot!("containers_narrow", text(&render(&app, &dark(), 80, 24)));
    // Far too small: must not panic.
    for (w, h) in [(1, 1), (10, 3), (20, 5), (0, 0)] {
        render(&app, &dark(), w, h);
    }
}

#[test]
fn containers_pane_empty_and_host_down() {
    let mut app = app_with(Model::new(["alpha"]));
    insta::assert_snapshot!("containers_connecting", text(&render(&app, &dark(), 90, 8)));
    app.apply(Update::HostDown {
        host: "alpha".into(),
        error: "cannot reach the Docker engine at unix:///var/run/docker.sock: connection refused"
            .into(),
        retry_in_secs: 4,
    });
    insta::assert_snapshot!("containers_host_down", text(&render(&app, &dark(), 90, 8)));
}

#[test]
fn filter_narrows_and_help_lists_the_key_map() {
    let mut app = app_with(demo_model(&["alpha"]));
    app.on_event(&key(KeyCode::Char('/'), KeyModifiers::NONE));
    for c in "redis".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.visible().len(), 1);
    insta::assert_snapshot!("containers_filtered", text(&render(&app, &dark(), 90, 8)));
    app.on_event(&key(KeyCode::Char('?'), KeyModifiers::NONE));
    assert_eq!(app.popup, Popup::Help);
    let help = text(&render(&app, &dark(), 100, 30));
    for (_, desc) in app.keymap.help("containers") {
        assert!(help.contains(&desc), "help lacks {desc:?}:\n{help}");
    }
}

#[test]
fn every_theme_renders_styles_by_meaning() {
    let app = app_with(demo_model(&["alpha"]));
    for (name, src) in SHIPPED {
        for no_color in [false, true] {
            let theme = Theme::parse(src, no_color).expect(name);
            let b = render(&app, &theme, 110, 16);
            // The UNHEALTHY cell carries the theme's danger style.
            let (x, y) = find(&b, "UNHEALTHY").unwrap_or_else(|| panic!("{name}: no UNHEALTHY"));
            let cell = &b[(x, y)];
            assert_eq!(
                cell.fg,
                theme.danger().fg.unwrap_or(ratatui::style::Color::Reset),
                "{name}"
            );
            if no_color {
                assert!(
                    b.content
                        .iter()
                        .all(|c| c.fg == ratatui::style::Color::Reset),
                    "{name}: colour with NO_COLOR"
                );
            }
        }
    }
}

fn find(b: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let w = b.area.width;
    for y in 0..b.area.height {
        let row: String = (0..w).map(|x| b[(x, y)].symbol().to_string()).collect();
        if let Some(i) = row.find(needle) {
            let x = row[..i].chars().count() as u16;
            return Some((x, y));
        }
    }
    None
}

#[test]
fn keys_and_palette_build_the_same_actions_as_the_cli() {
    let mut app = app_with(demo_model(&["alpha"]));
    let b = app
        .visible()
        .iter()
        .position(|c| c.name == "shop_platform-b_1")
        .expect("platform-b");
    for _ in 0..b {
        app.run(KeyCommand::Down);
    }
    app.on_event(&key(KeyCode::Char('r'), KeyModifiers::CONTROL));
    let expected = Action::Lifecycle {
        op: ContainerOp::Restart,
        target: Target::HostContainer {
            host: "alpha".into(),
            name: "shop_platform-b_1".into(),
        },
    };
    assert_eq!(
        app.effects,
        vec![Effect::Prepare {
            run: 1,
            action: expected.clone()
        }]
    );
    // The CLI's parse of the same words gives the same value.
    let cli = crate::ops::action::parse_command(
        "restart alpha/shop_platform-b_1",
        |a| a == "shop",
        |h| h == "alpha",
    )
    .expect("parse");
    assert_eq!(cli, expected);
    assert_eq!(app.pane, Pane::Actions);

    // The palette with completion.
    app.effects.clear();
    app.on_event(&key(KeyCode::Char(':'), KeyModifiers::NONE));
    assert_eq!(
        app.effects,
        vec![Effect::LoadHistory, Effect::LoadHostImages]
    );
    app.effects.clear();
    assert_eq!(app.popup, Popup::Palette);
    for c in "sto".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Tab, KeyModifiers::NONE));
    assert_eq!(app.palette_text(), "stop ");
    for c in "shop/platform-".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Tab, KeyModifiers::NONE));
    assert!(
        app.palette_error
            .as_deref()
            .is_some_and(|e| e.contains("shop/platform-a")),
        "{:?}",
        app.palette_error
    );
    app.on_event(&key(KeyCode::Char('a'), KeyModifiers::NONE));
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    let stop = Action::Lifecycle {
        op: ContainerOp::Stop,
        target: Target::AppService {
            app: "shop".into(),
            service: "platform-a".into(),
        },
    };
    assert_eq!(
        app.effects,
        vec![Effect::Prepare {
            run: 2,
            action: stop.clone()
        }]
    );

    // A destructive plan asks first; `n` refuses, nothing is executed.
    app.effects.clear();
    let plan = crate::ops::lifecycle::plan_containers(
        &stop,
        &crate::ops::lifecycle::PlanInput {
            matched: vec![crate::ops::lifecycle::Resolved {
                host: "alpha".into(),
                id: "abc".into(),
                name: "shop_platform-a_1".into(),
                app: Some("shop".into()),
                service: Some("platform-a".into()),
                state: State::Running,
                health: Health::Healthy,
            }],
            ..Default::default()
        },
    )
    .expect("plan");
    app.plan_ready(2, Ok(plan.clone()));
    assert_eq!(app.popup, Popup::Confirm { run: 2 });
    let confirm = text(&render(&app, &dark(), 100, 20));
    assert!(
        confirm.contains("stop shop_platform-a_1") && confirm.contains("destructive"),
        "{confirm}"
    );
    app.on_event(&key(KeyCode::Char('n'), KeyModifiers::NONE));
    assert!(app.effects.is_empty());
    assert_eq!(app.runs[0].progress.outcome, Some(Outcome::Refused));
    // Confirmed: executed.
    app.start_action(stop);
    app.plan_ready(3, Ok(plan));
    app.on_event(&key(KeyCode::Char('y'), KeyModifiers::NONE));
    assert!(app.effects.contains(&Effect::Execute { run: 3 }));
}

#[test]
fn actions_and_history_panes() {
    let mut app = app_with(demo_model(&["alpha"]));
    app.run(KeyCommand::NextPane);
    insta::assert_snapshot!("actions_empty", text(&render(&app, &dark(), 90, 8)));
    app.start_action(Action::Lifecycle {
        op: ContainerOp::Restart,
        target: Target::App { app: "shop".into() },
    });
    let plan = crate::ops::lifecycle::plan_containers(
        &app.effects
            .iter()
            .find_map(|e| match e {
                Effect::Prepare { action, .. } => Some(action.clone()),
                _ => None,
            })
            .expect("prepare"),
        &crate::ops::lifecycle::PlanInput {
            matched: ["platform-a", "platform-b"]
                .iter()
                .map(|s| crate::ops::lifecycle::Resolved {
                    host: "alpha".into(),
                    id: format!("id-{s}"),
                    name: format!("shop_{s}_1"),
                    app: Some("shop".into()),
                    service: Some(s.to_string()),
                    state: State::Running,
                    health: Health::Healthy,
                })
                .collect(),
            service_order: vec!["platform-a".into(), "platform-b".into()],
            ..Default::default()
        },
    )
    .expect("plan");
    app.plan_ready(1, Ok(plan));
    app.action_event(
        1,
        ActionEvent::StepStarted {
            seq: 1,
            name: "restart shop_platform-a_1".into(),
        },
    );
    app.action_event(
        1,
        ActionEvent::StepDone {
            seq: 1,
            name: "restart shop_platform-a_1".into(),
            elapsed_ms: 812,
            summary: String::new(),
        },
    );
    app.action_event(
        1,
        ActionEvent::StepStarted {
            seq: 2,
            name: "wait".into(),
        },
    );
    app.action_event(
        1,
        ActionEvent::Output {
            seq: 2,
            stream: "stdout".into(),
            line: "probe ok".into(),
        },
    );
    insta::assert_snapshot!("actions_running", text(&render(&app, &dark(), 100, 12)));
    app.action_event(
        1,
        ActionEvent::StepFailed {
            seq: 2,
            name: "wait".into(),
            error: "unhealthy".into(),
        },
    );
    app.action_event(
        1,
        ActionEvent::Finished {
            action: "restart".into(),
            target: "shop".into(),
            outcome: Outcome::Failed,
            error: Some("step 2 failed: unhealthy".into()),
            journal_id: Some(7),
            elapsed_ms: 3000,
        },
    );
    insta::assert_snapshot!("actions_failed", text(&render(&app, &dark(), 100, 12)));

    app.run(KeyCommand::NextPane);
    assert_eq!(app.pane, Pane::History);
    app.history_loaded(Err(
        "journal /x/journal.db: unable to open database file".into()
    ));
    insta::assert_snapshot!("history_error", text(&render(&app, &dark(), 90, 6)));
    app.history_loaded(Ok(vec![Entry {
        id: 7,
        action: "restart".into(),
        target: "shop".into(),
        host: Some("alpha".into()),
        app: Some("shop".into()),
        actor: "ana@laptop".into(),
        params: serde_json::json!({}),
        started_at: "2026-11-23T11:58:00.000Z".into(),
        finished_at: Some("2026-11-23T11:58:03.000Z".into()),
        outcome: "failed".into(),
        error: Some("step 2 failed: unhealthy".into()),
        steps: vec![],
    }]));
    insta::assert_snapshot!("history_normal", text(&render(&app, &dark(), 100, 6)));
}

fn log_record(
    src: &std::sync::Arc<crate::ops::logs::LogSource>,
    sec: u32,
    text: &str,
) -> crate::ops::logs::LogRecord {
    let mut asm = crate::ops::logs::LineAssembler::new(8 * 1024);
    let mut out = Vec::new();
    let raw = format!("2026-11-23T11:59:{sec:02}.000Z {text}\n");
    asm.push(
        crate::ops::logs::LogStream::Stdout,
        raw.as_bytes(),
        &mut out,
    );
    crate::ops::logs::LogRecord {
        source: src.clone(),
        line: out.remove(0),
    }
}

#[test]
fn logs_pane_merges_filters_searches_and_caps() {
    use crate::ops::logs::{LogEvent, LogSource};
    let mut app = app_with(demo_model(&["alpha"]));
    app.logs = super::app::LogsView::new(50);
    app.open_logs("shop".into(), "project shop on alpha".into());
    let generation = app.logs.generation;
    assert!(
        matches!(app.effects.last(), Some(Effect::OpenLogs { target, .. }) if target == "shop")
    );
    let a = std::sync::Arc::new(LogSource {
        host: "alpha".into(),
        id: "a".into(),
        container: "shop_platform-a_1".into(),
        service: Some("platform-a".into()),
    });
    let b = std::sync::Arc::new(LogSource {
        host: "alpha".into(),
        id: "b".into(),
        container: "shop_platform-b_1".into(),
        service: Some("platform-b".into()),
    });
    let huge = "x".repeat(90_000);
    app.log_event(
        generation,
        LogEvent::Lines(vec![
            log_record(&a, 1, "GET /health 200 1ms"),
            log_record(&b, 2, "level=warn msg=\"slow query\" ms=812"),
            log_record(
                &a,
                3,
                r#"{"level":"error","msg":"payment failed","order":42}"#,
            ),
            log_record(&b, 4, &huge),
            log_record(&a, 5, "GET /health 200 2ms"),
        ]),
    );
    // A late batch from an older reader is ignored.
    app.log_event(
        generation - 1,
        LogEvent::Lines(vec![log_record(&a, 6, "stale")]),
    );
    assert_eq!(app.logs.buf.len(), 5);
    assert!(
        app.logs
            .buf
            .all()
            .iter()
            .all(|(_, l)| l.text.len() <= 8 * 1024),
        "lines are capped"
    );
    insta::assert_snapshot!("logs_merged", text(&render(&app, &dark(), 100, 10)));

    // Regex filter.
    app.run(KeyCommand::Filter);
    for c in "health".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.logs.buf.len(), 2);
    // A bad regex is reported, the old filter stays.
    app.run(KeyCommand::Filter);
    app.on_event(&key(KeyCode::Char('('), KeyModifiers::NONE));
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert!(app
        .logs
        .input_error
        .as_deref()
        .is_some_and(|e| e.contains("regular expression")));
    app.on_event(&key(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(app.logs.buf.len(), 2);
    app.run(KeyCommand::Filter);
    app.logs.text = tui_textarea::TextArea::default();
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.logs.buf.len(), 5);

    // Search highlights and jumps; scrolling back pauses; new lines keep the view still.
    app.run(KeyCommand::Search);
    for c in "payment".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert!(app.logs.paused);
    assert_eq!(app.logs.scroll, 2);
    let b_ = render(&app, &dark(), 100, 10);
    let (x, y) = find(&b_, "payment").expect("match shown");
    assert_eq!(
        b_[(x, y)].bg,
        dark().selected().bg.unwrap_or(ratatui::style::Color::Reset),
        "match highlighted"
    );
    app.log_event(
        generation,
        LogEvent::Lines(vec![log_record(&a, 7, "newer")]),
    );
    assert_eq!(
        app.logs.scroll, 3,
        "the view stays on the same lines while paused"
    );
    app.run(KeyCommand::Bottom);
    assert!(!app.logs.paused && app.logs.scroll == 0);
    app.run(KeyCommand::Timestamps);
    app.run(KeyCommand::Wrap);
    insta::assert_snapshot!(
        "logs_wrapped_timestamps",
        text(&render(&app, &dark(), 80, 12))
    );
    // Save: the filtered view, masked, as an effect the loop writes.
    app.run(KeyCommand::Save);
    assert!(matches!(app.effects.last(), Some(Effect::SaveLogs { lines, .. }) if lines.len() == 6));
}

#[test]
fn logs_pane_memory_stays_bounded_under_a_flood() {
    use crate::ops::logs::{LogEvent, LogSource};
    let mut app = app_with(demo_model(&["alpha"]));
    app.logs = super::app::LogsView::new(1_000);
    app.open_logs("alpha/x".into(), "alpha/x".into());
    let g = app.logs.generation;
    let src = std::sync::Arc::new(LogSource {
        host: "alpha".into(),
        id: "x".into(),
        container: "x".into(),
        service: None,
    });
    for batch in 0..100 {
        let recs = (0..1_000)
            .map(|i| log_record(&src, (i % 60) as u32, &format!("line {batch}-{i}")))
            .collect();
        app.log_event(g, LogEvent::Lines(recs));
    }
    assert_eq!(app.logs.buf.held(), 1_000);
    assert_eq!(app.logs.buf.received, 100_000);
    assert_eq!(app.logs.buf.window(1, 0)[0].1.text, "line 99-999");
}

#[test]
fn health_resources_and_hosts_panes() {
    use crate::ops::checks::CheckResult;
    use crate::ops::Probe;
    use crate::ops::StatsSample;
    let mut model = demo_model(&["alpha", "beta"]);
    let ids: Vec<(String, String)> = model.containers.keys().cloned().collect();
    for (n, (host, id)) in ids.iter().enumerate() {
        for k in 0..10u64 {
            model.apply(Update::Stats {
                host: host.clone(),
                id: id.clone(),
                sample: StatsSample {
                    cpu_percent: (k * (n as u64 + 1) % 7) as f64 * 3.0,
                    memory_bytes: (40 + k + n as u64) << 20,
                    memory_limit_bytes: 1 << 30,
                    net_rx_bytes: 1 << 20,
                    net_tx_bytes: 1 << 19,
                    block_read_bytes: 0,
                    block_write_bytes: 4096,
                },
            });
        }
    }
    for k in 0..10 {
        model.apply(Update::HostMetrics {
            host: "alpha".into(),
            metrics: Ok(crate::ops::metrics::HostMetrics {
                cpu_percent: Some(10.0 + k as f64 * 5.0),
                load1: 0.42,
                load5: 0.3,
                load15: 0.2,
                mem_total_bytes: 8 << 30,
                mem_available_bytes: 3 << 30,
                disk_total_bytes: 100 << 30,
                disk_used_bytes: 81 << 30,
            }),
        });
    }
    model.apply(Update::HostMetrics {
        host: "beta".into(),
        metrics: Err("beta: reading /proc failed: permission denied".into()),
    });
    let probe = |up: bool, ms: f64| Probe {
        url: "https://shop.example.com/health".into(),
        status: up.then_some(200),
        latency_ms: up.then_some(ms),
        body: None,
        error: (!up).then(|| "connect shop.example.com:443: connection refused".into()),
        cert_not_after: None,
        at: "2026-11-23T11:59:00.000Z".into(),
    };
    for (i, up) in [true, true, true, false, true].into_iter().enumerate() {
        model.apply(Update::Check(Box::new(CheckResult {
            name: "shop-public".into(),
            via: None,
            up,
            probe: probe(up, 20.0 + i as f64),
        })));
    }
    model.apply(Update::Check(Box::new(CheckResult {
        name: "shop-live".into(),
        via: Some("alpha".into()),
        up: false,
        probe: probe(false, 0.0),
    })));
    model.apply(Update::HostDown {
        host: "beta".into(),
        error: "ssh deploy@beta:22: connection timed out".into(),
        retry_in_secs: 8,
    });
    let mut app = app_with(model);
    app.pane = Pane::Health;
    insta::assert_snapshot!("health", text(&render(&app, &dark(), 110, 16)));
    app.pane = Pane::Resources;
    insta::assert_snapshot!("resources", text(&render(&app, &dark(), 120, 16)));
    app.pane = Pane::Hosts;
    insta::assert_snapshot!("hosts", text(&render(&app, &dark(), 110, 8)));
    // Empty states.
    let mut empty = app_with(Model::new(["alpha"]));
    for p in [Pane::Health, Pane::Resources, Pane::Hosts, Pane::Logs] {
        empty.pane = p;
        let t = text(&render(&empty, &dark(), 90, 8));
        assert!(!t.trim().is_empty(), "{p:?}");
        // Every pane survives tiny and odd sizes.
        for (w, h) in [(1, 1), (20, 4), (80, 24), (300, 100)] {
            render(&app, &dark(), w, h);
            render(&empty, &dark(), w, h);
        }
    }
}

#[test]
fn the_mouse_scrolls_selects_and_switches_panes() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut app = app_with(demo_model(&["alpha"]));
    let mouse = |kind, column, row| {
        Event::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    app.on_event(&mouse(MouseEventKind::ScrollDown, 10, 5));
    assert_eq!(app.selected, 1);
    // Row 3 is the first group heading, row 4 the first container, row 5 the second.
    app.on_event(&mouse(MouseEventKind::Down(MouseButton::Left), 10, 5));
    assert_eq!(
        app.selected_container().map(|c| c.name.as_str()),
        Some("infra_redis_1")
    );
    app.on_event(&mouse(MouseEventKind::Down(MouseButton::Left), 3, 1));
    assert_eq!(app.pane, Pane::Containers);
    let logs_x = 1 + "Containers".len() as u16 + 2 + 1;
    app.on_event(&mouse(MouseEventKind::Down(MouseButton::Left), logs_x, 1));
    assert_eq!(app.pane, Pane::Logs);
}

#[test]
fn the_palette_deploys_with_a_version_picker() {
    let mut app = app_with(demo_model(&["alpha"]));
    app.history_loaded(Ok(vec![Entry {
        id: 1,
        action: "deploy".into(),
        target: "shop".into(),
        host: Some("alpha".into()),
        app: Some("shop".into()),
        actor: "ana@laptop".into(),
        params: serde_json::json!({"action": "deploy", "app": "shop", "version": "1.4.1"}),
        started_at: "2026-11-22T10:00:00.000Z".into(),
        finished_at: None,
        outcome: "succeeded".into(),
        error: None,
        steps: vec![],
    }]));
    assert_eq!(app.version_choices("shop"), ["1.4.2", "1.4.1"]);
    // Tags of the same image already on the app's host are offered too (no pull needed);
    // other images, and the same image on another host, are not.
    app.host_images_loaded(vec![
        ("alpha".into(), "registry.example.com/shop:1.3.9".into()),
        ("alpha".into(), "registry.example.com/shop:1.4.2".into()),
        ("alpha".into(), "redis:8".into()),
        ("beta".into(), "registry.example.com/shop:0.9.0".into()),
    ]);
    assert_eq!(app.version_choices("shop"), ["1.4.2", "1.4.1", "1.3.9"]);
    app.run(KeyCommand::Palette);
    assert!(app.effects.contains(&Effect::LoadHostImages));
    for c in "deploy shop 1.4.".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Tab, KeyModifiers::NONE));
    assert!(app
        .palette_error
        .as_deref()
        .is_some_and(|e| e.contains("1.4.2") && e.contains("1.4.1")));
    app.on_event(&key(KeyCode::Char('1'), KeyModifiers::NONE));
    app.effects.clear();
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    let deploy = Action::Deploy {
        app: "shop".into(),
        version: Some("1.4.1".into()),
    };
    assert_eq!(
        app.effects,
        vec![Effect::Prepare {
            run: 1,
            action: deploy.clone()
        }]
    );
    // The CLI's words make the same value.
    let cli = crate::ops::action::parse_command("deploy shop 1.4.1", |a| a == "shop", |_| false)
        .expect("parse");
    assert_eq!(cli, deploy);
    // A deploy plan is always shown for confirmation in the console.
    let input = crate::ops::deploy::DeployInput {
        git_head: None,
        running: vec![],
        app: "shop".into(),
        spec: crate::inventory::AppSpec {
            host: "alpha".into(),
            dir: "/opt/shop".into(),
            compose_file: "docker-compose.yml".into(),
            project: None,
            services: vec!["platform-a".into()],
            version_var: "VERSION".into(),
            migrate: None,
            health: None,
            domains: vec![],
            deploy: crate::inventory::DeployKind::Image,
        },
        current: Some("1.4.2".into()),
        previous: None,
        project: crate::ops::ComposeProject {
            name: "shop".into(),
            source: crate::ops::ProjectNameSource::Directory,
            working_dir: "/opt/shop".into(),
        },
        pins: vec![],
    };
    let plan = crate::ops::deploy::plan_deploy(&deploy, &input, "alpha").expect("plan");
    app.plan_ready(1, Ok(plan));
    assert_eq!(app.popup, Popup::Confirm { run: 1 });
}

#[test]
fn databases_pane_and_provisioning_from_the_palette() {
    let mut app = app_with(demo_model(&["alpha"]));
    for _ in 0..Pane::ALL
        .iter()
        .position(|p| *p == Pane::Databases)
        .unwrap_or(0)
    {
        app.run(KeyCommand::NextPane);
    }
    assert_eq!(app.pane, Pane::Databases);
    assert_eq!(app.effects.last(), Some(&Effect::LoadDatabases));
    app.databases_loaded(Ok(vec![(
        "shared".into(),
        vec![
            crate::ops::DbRow {
                database: "shop".into(),
                owner: "shop".into(),
                size_bytes: 8 << 20,
                connections: 3,
                last_backup: Some("2026-11-23T09:00:00Z".into()),
            },
            crate::ops::DbRow {
                database: "blog".into(),
                owner: "blog".into(),
                size_bytes: 7 << 20,
                connections: 0,
                last_backup: None,
            },
        ],
    )]));
    insta::assert_snapshot!("databases", text(&render(&app, &dark(), 100, 8)));
    app.databases_loaded(Err(
        "connecting to postgres at 127.0.0.1:5432: password authentication failed".into(),
    ));
    assert!(text(&render(&app, &dark(), 100, 8)).contains("password authentication failed"));
    // Provisioning through the palette builds the same Action as `opsdeck db create`.
    app.effects.clear();
    app.run(KeyCommand::Palette);
    for c in "db-create shop".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    let expected = Action::DbCreate {
        app: "shop".into(),
        server: None,
        rotate: false,
        write_env: false,
    };
    assert!(
        app.effects.contains(&Effect::Prepare {
            run: 1,
            action: expected
        }),
        "{:?}",
        app.effects
    );
    // A secret from the action is shown in its run, once.
    app.action_event(
        1,
        ActionEvent::Secret {
            seq: 1,
            name: "DATABASE_URL".into(),
            value: "postgres://shop:pw@postgres:5432/shop".into(),
        },
    );
    let shown = text(&render(&app, &dark(), 220, 12));
    assert!(
        shown.contains("DATABASE_URL=postgres://shop:pw@postgres:5432/shop"),
        "{shown}"
    );
}

#[test]
fn backups_pane_and_backup_progress() {
    let mut app = app_with(demo_model(&["alpha"]));
    app.pane = Pane::Backups;
    app.run(KeyCommand::Refresh);
    assert_eq!(app.effects.last(), Some(&Effect::LoadBackups));
    let m = |id: &str, time: &str, verified: bool| crate::ops::backup::Manifest {
        id: id.into(),
        database: "shopdb".into(),
        db_name: "shop".into(),
        host: "alpha".into(),
        container: "postgres".into(),
        time: time.into(),
        size: 52 << 20,
        sha256: "ab".repeat(32),
        format: "pg_dump custom (-Fc)".into(),
        server_version: "15".into(),
        tables: Default::default(),
        verified,
        verified_at: None,
        storage: "nightly".into(),
    };
    app.backups_loaded(Ok(vec![
        m("shopdb-20261123T110000Z", "2026-11-23T11:00:00Z", false),
        m("shopdb-20261122T110000Z", "2026-11-22T11:00:00Z", true),
    ]));
    insta::assert_snapshot!("backups", text(&render(&app, &dark(), 100, 7)));
    // The palette runs backups through the same actions as the CLI.
    let cli = crate::ops::action::parse_command(
        "restore shopdb shopdb-20261122T110000Z",
        |_| false,
        |_| false,
    )
    .expect("parse");
    assert_eq!(
        cli,
        Action::Restore {
            db: "shopdb".into(),
            backup: "shopdb-20261122T110000Z".into(),
            to: None
        }
    );
    assert!(cli.is_destructive());
    // Live progress (bytes and rate) while a backup streams.
    app.start_action(Action::Backup {
        db: "shopdb".into(),
        to: None,
    });
    app.action_event(
        1,
        ActionEvent::Progress {
            seq: 1,
            done: 12 << 20,
            total: None,
            unit: "bytes".into(),
        },
    );
    assert!(text(&render(&app, &dark(), 120, 10)).contains("12.0MiB at"));
}

fn listed(
    router: &str,
    provider: &str,
    host: &str,
    status: Option<&str>,
) -> crate::ops::routes::ListedRoute {
    crate::ops::routes::ListedRoute {
        route: crate::ops::Route {
            router: router.into(),
            provider: provider.into(),
            rule: format!("Host(`{host}`)"),
            hosts: vec![host.into()],
            entrypoints: vec!["web".into()],
            cert_resolver: None,
            service: Some(router.into()),
            targets: vec![format!("http://{router}:80")],
            source: "/srv/traefik/routes.yml".into(),
        },
        status: status.map(str::to_string),
        errors: if status == Some("disabled") {
            vec!["entryPoint \"nope\" doesn't exist".into()]
        } else {
            vec![]
        },
    }
}

#[test]
fn routes_pane_and_the_routes_file_editor() {
    let mut app = app_with(demo_model(&["alpha"]));
    for _ in 0..Pane::ALL
        .iter()
        .position(|p| *p == Pane::Routes)
        .unwrap_or(0)
    {
        app.run(KeyCommand::NextPane);
    }
    assert_eq!(app.pane, Pane::Routes);
    assert_eq!(app.effects.last(), Some(&Effect::LoadRoutes));
    app.routes_loaded(Ok(vec![crate::ops::routes::HostRoutes {
        host: "alpha".into(),
        routes_file: Some("/srv/traefik/routes.yml".into()),
        file_error: None,
        labels_error: None,
        api: Some("http://127.0.0.1:8080".into()),
        api_error: None,
        routes: vec![
            listed("shop", "file", "shop.example.com", Some("enabled")),
            listed("blog", "docker", "blog.example.com", Some("enabled")),
            listed("admin", "file", "admin.example.com", Some("disabled")),
        ],
        api_routers: vec![],
    }]));
    insta::assert_snapshot!("routes", text(&render(&app, &dark(), 120, 9)));

    // `e` reads the file; the editor opens on it.
    app.effects.clear();
    app.on_event(&key(KeyCode::Char('e'), KeyModifiers::NONE));
    assert_eq!(
        app.effects,
        vec![Effect::LoadRoutesFile {
            host: "alpha".into()
        }]
    );
    let original = "http:\n  routers:\n    shop:\n      rule: \"Host(`shop.example.com`)\"\n      service: shop\n  services:\n    shop:\n      loadBalancer:\n        servers:\n          - url: http://shop:80\n";
    app.routes_file_loaded(
        "alpha".into(),
        Ok(("/srv/traefik/routes.yml".into(), Some(original.into()))),
    );
    assert_eq!(app.popup, Popup::Editor);
    let shown = text(&render(&app, &dark(), 100, 20));
    assert!(shown.contains("alpha:/srv/traefik/routes.yml"), "{shown}");
    assert!(shown.contains("service: shop"), "{shown}");
    // Nothing changed: ctrl-s says so and starts nothing.
    app.effects.clear();
    app.on_event(&key(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert!(app.effects.is_empty());
    assert!(text(&render(&app, &dark(), 100, 20)).contains("nothing changed"));
    // Break the service reference on line 5: the check names it, the cursor goes there,
    // nothing is written (no action prepared).
    let ed = app.editor.as_mut().expect("editor");
    ed.text.move_cursor(tui_textarea::CursorMove::Jump(4, 0));
    ed.text.move_cursor(tui_textarea::CursorMove::End);
    for c in "x".chars() {
        app.on_event(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_event(&key(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert!(app.effects.is_empty(), "{:?}", app.effects);
    assert_eq!(app.popup, Popup::Editor);
    let ed = app.editor.as_ref().expect("editor");
    let err = ed.error.clone().expect("an error");
    assert!(
        err.contains("line 3") && err.contains("\"shopx\" is not defined"),
        "{err}"
    );
    assert_eq!(ed.text.cursor().0, 2);
    let shown = text(&render(&app, &dark(), 100, 20));
    assert!(
        shown.contains("is not defined under http.services"),
        "{shown}"
    );
    // Esc with unsaved changes asks first; a key in between disarms it.
    app.on_event(&key(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(app.popup, Popup::Editor);
    assert!(app.editor.as_ref().expect("kept").discard_armed);
    // Fix it (backspace) and add a second router: ctrl-s prepares the same RoutesApply the
    // CLI's `routes apply` builds.
    let ed = app.editor.as_mut().expect("editor");
    ed.text.move_cursor(tui_textarea::CursorMove::Jump(4, 0));
    ed.text.move_cursor(tui_textarea::CursorMove::End);
    app.on_event(&key(KeyCode::Backspace, KeyModifiers::NONE));
    assert!(!app.editor.as_ref().expect("kept").discard_armed);
    let ed = app.editor.as_mut().expect("editor");
    ed.text.insert_str("\n      entryPoints: [web]");
    let contents = ed.contents();
    assert!(
        crate::ops::routes::check_text(&contents, "f").is_ok(),
        "{contents}"
    );
    app.on_event(&key(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert_eq!(app.popup, Popup::None);
    assert_eq!(app.pane, Pane::Actions);
    let expected = Action::RoutesApply {
        host: "alpha".into(),
        contents: contents.clone(),
    };
    assert!(
        app.effects.contains(&Effect::Prepare {
            run: 1,
            action: expected
        }),
        "{:?}",
        app.effects
    );
    // The apply fails: the draft is kept with the reason, and `e` reopens it (no re-read).
    app.action_event(
        1,
        ActionEvent::Finished {
            action: "routes_apply".into(),
            target: "alpha/route:file".into(),
            outcome: Outcome::Failed,
            error: Some("Traefik reports router shop@file as disabled".into()),
            journal_id: Some(9),
            elapsed_ms: 20_000,
        },
    );
    app.pane = Pane::Routes;
    app.effects.clear();
    app.on_event(&key(KeyCode::Char('e'), KeyModifiers::NONE));
    assert_eq!(app.popup, Popup::Editor);
    assert!(app.effects.is_empty(), "{:?}", app.effects);
    let ed = app.editor.as_ref().expect("draft");
    assert_eq!(ed.contents(), contents);
    assert!(
        ed.error.as_deref().unwrap_or("").contains("put back"),
        "{:?}",
        ed.error
    );
    // Two Esc discard it.
    app.on_event(&key(KeyCode::Esc, KeyModifiers::NONE));
    app.on_event(&key(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(app.popup, Popup::None);
    assert!(app.editor.is_none());
    // The palette adds and removes single routes through the CLI's actions.
    let add = crate::ops::action::parse_command(
        "route-add alpha docs docs.example.com docs:8080",
        |_| false,
        |h| h == "alpha",
    )
    .expect("route-add");
    assert_eq!(
        add,
        crate::ops::action::add_action(
            "alpha".into(),
            "docs",
            "Host(`docs.example.com`)",
            "docs:8080",
            None,
            None
        )
        .expect("cli action")
    );
    for bad in [
        "route-add nohost docs docs.example.com docs:8080",
        "route-add alpha docs bad_name! docs:8080",
        "route-add alpha docs docs.example.com",
        "route-remove alpha",
    ] {
        assert!(
            crate::ops::action::parse_command(bad, |_| false, |h| h == "alpha").is_err(),
            "{bad}"
        );
    }
}

#[test]
fn doctor_pane_runs_the_checklist_and_shows_hints() {
    use crate::ops::doctor::{DoctorReport, DoctorStep, Verdict};
    let mut app = app_with(demo_model(&["alpha"]));
    app.pane = Pane::Doctor;
    let shown = text(&render(&app, &dark(), 100, 12));
    assert!(shown.contains("Not run yet for shop"), "{shown}");
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.effects, vec![Effect::RunDoctor { app: "shop".into() }]);
    // A second Enter while it runs does not start another.
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.effects.len(), 1);
    let s = |id: &str, name: &str, verdict: Verdict, detail: &str, hint: Option<&str>| DoctorStep {
        id: id.into(),
        name: name.into(),
        verdict,
        detail: vec![detail.into()],
        hint: hint.map(str::to_string),
    };
    app.doctor_done(
        "shop".into(),
        Ok(DoctorReport {
            app: "shop".into(),
            host: "alpha".into(),
            ok: false,
            steps: vec![
                s(
                    "dns",
                    "DNS names resolve to the host",
                    Verdict::Pass,
                    "shop.example.com → 10.0.0.5",
                    None,
                ),
                s(
                    "network",
                    "containers are on the proxy's network",
                    Verdict::Fail,
                    "shop_web_1 is not on traefik-public",
                    Some("add the network to the service: networks: [traefik-public]"),
                ),
                s("tls", "TLS certificate", Verdict::Skip, "plain http", None),
            ],
        }),
    );
    insta::assert_snapshot!("doctor", text(&render(&app, &dark(), 100, 12)));
}

/// Every pane (and the editor and popups) with data, drawn with every shipped theme, with and
/// without colour, from 200×60 down to 20×5: nothing panics, the current tab carries the
/// theme's title style, NO_COLOR leaves no colour, and at 80×24 the current tab is visible.
#[test]
fn every_pane_with_every_theme_at_every_size() {
    use crate::ops::doctor::{DoctorReport, DoctorStep, Verdict};
    let mut app = app_with(demo_model(&["alpha", "beta"]));
    app.databases_loaded(Ok(vec![(
        "shared".into(),
        vec![crate::ops::DbRow {
            database: "shop".into(),
            owner: "shop".into(),
            size_bytes: 8 << 20,
            connections: 3,
            last_backup: None,
        }],
    )]));
    app.routes_loaded(Ok(vec![crate::ops::routes::HostRoutes {
        host: "alpha".into(),
        routes_file: Some("/srv/traefik/routes.yml".into()),
        file_error: None,
        labels_error: Some("listing containers: connection refused".into()),
        api: None,
        api_error: None,
        routes: vec![
            listed("shop", "file", "shop.example.com", Some("enabled")),
            listed("admin", "file", "admin.example.com", Some("disabled")),
        ],
        api_routers: vec![],
    }]));
    app.doctor_done(
        "shop".into(),
        Ok(DoctorReport {
            app: "shop".into(),
            host: "alpha".into(),
            ok: false,
            steps: vec![DoctorStep {
                id: "route".into(),
                name: "a route exists for each domain".into(),
                verdict: Verdict::Fail,
                detail: vec!["shop.example.com: no route names this host".into()],
                hint: Some("add one: opsdeck routes add ...".into()),
            }],
        }),
    );
    app.history_loaded(Err("the journal is locked".into()));
    app.start_action(Action::Lifecycle {
        op: ContainerOp::Restart,
        target: Target::App { app: "shop".into() },
    });
    for (name, src) in SHIPPED {
        for no_color in [false, true] {
            let theme = Theme::parse(src, no_color).expect(name);
            for pane in Pane::ALL {
                app.pane = pane;
                for (w, h) in [(200, 60), (120, 30), (80, 24), (40, 10), (20, 5)] {
                    let b = render(&app, &theme, w, h);
                    if no_color {
                        assert!(
                            b.content
                                .iter()
                                .all(|c| c.fg == ratatui::style::Color::Reset),
                            "{name} {pane:?} {w}x{h}: colour with NO_COLOR"
                        );
                    }
                    if w >= 80 {
                        let (x, y) = find(&b, pane.title())
                            .or_else(|| find(&b, pane.short_title()))
                            .unwrap_or_else(|| {
                                panic!(
                                    "{name} {pane:?} {w}x{h}: its tab is not shown\n{}",
                                    text(&b)
                                )
                            });
                        assert_eq!(
                            b[(x, y)].fg,
                            theme.title().fg.unwrap_or(ratatui::style::Color::Reset),
                            "{name} {pane:?} {w}x{h}"
                        );
                    }
                }
            }
            // Popups over a pane, at the smallest size too.
            app.pane = Pane::Routes;
            app.routes_file_loaded(
                "alpha".into(),
                Ok(("/srv/traefik/routes.yml".into(), Some("http: [\n".into()))),
            );
            app.on_event(&key(KeyCode::Char('x'), KeyModifiers::NONE));
            app.on_event(&key(KeyCode::Char('s'), KeyModifiers::CONTROL));
            assert!(app.editor.as_ref().is_some_and(|e| e.error.is_some()));
            for (w, h) in [(120, 30), (80, 24), (20, 5)] {
                render(&app, &theme, w, h);
            }
            app.editor = None;
            app.popup = Popup::None;
            for cmd in [KeyCommand::Help, KeyCommand::Back, KeyCommand::Palette] {
                app.run(cmd);
                for (w, h) in [(80, 24), (20, 5)] {
                    render(&app, &theme, w, h);
                }
            }
            app.popup = Popup::None;
        }
    }
}
