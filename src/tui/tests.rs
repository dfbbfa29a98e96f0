//! Whole-console tests at fixed sizes: every pane in its normal, empty, error and narrow
//! states (text snapshots with insta), every shipped theme, and the update path from keys
//! to the same `Action` values the CLI builds.

use super::app::{App, Effect, Pane, Popup};
use super::keymap::{KeyCommand, Keymap};
use super::theme::{Theme, SHIPPED};
use super::view;
use crate::docker::{ContainerInfo, Health, State};
use crate::journal::{Entry, Outcome};
use crate::model::{Model, Update};
use crate::ops::{Action, ActionEvent, ContainerOp, Target};
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
        tag: crate::docker::parse_image_ref(image).1,
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
    let plan = crate::ops::plan(
        &stop,
        &crate::ops::plan::PlanInput {
            matched: vec![crate::ops::plan::Resolved {
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
    assert_eq!(app.runs[0].outcome, Some(Outcome::Refused));
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
    let plan = crate::ops::plan(
        &app.effects
            .iter()
            .find_map(|e| match e {
                Effect::Prepare { action, .. } => Some(action.clone()),
                _ => None,
            })
            .expect("prepare"),
        &crate::ops::plan::PlanInput {
            matched: ["platform-a", "platform-b"]
                .iter()
                .map(|s| crate::ops::plan::Resolved {
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
