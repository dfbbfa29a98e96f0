//! Keys and the palette build the same `Action` values as the CLI; the deploy version picker.

use super::*;

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
    assert!(
        confirm.contains("Confirm: ")
            && confirm.contains("run it")
            && confirm.contains("esc: do nothing"),
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
        outcome: crate::journal::Outcome::Succeeded,
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
            drain: None,
            zero_downtime: false,
            workers: vec![],
            settle: None,
        },
        current: Some("1.4.2".into()),
        previous: None,
        project: crate::ops::ComposeProject {
            name: "shop".into(),
            source: crate::ops::ProjectNameSource::Directory,
            working_dir: "/opt/shop".into(),
        },
        pins: vec![],
        shapes: [("platform-a".to_string(), Default::default())].into(),
        proxy: Default::default(),
    };
    let plan = crate::ops::deploy::plan_deploy(&deploy, &input, "alpha").expect("plan");
    let switch = plan
        .steps
        .iter()
        .position(|s| {
            s.name
                .starts_with("switch platform-a to 1.4.1 (start-first")
        })
        .expect("a start-first switch")
        + 1;
    app.plan_ready(1, Ok(plan.clone()));
    assert_eq!(app.popup, Popup::Confirm { run: 1 });
    // Running, the switch shows both containers live, as the step reports them.
    app.on_event(&key(KeyCode::Char('y'), KeyModifiers::NONE));
    app.action_event(
        1,
        ActionEvent::StepStarted {
            seq: switch,
            name: plan.steps[switch - 1].name.clone(),
        },
    );
    for line in [
        "started shop_platform-a_2 (0123456789ab) beside shop_platform-a_1 (ba9876543210)",
        "shop_platform-a_2 (0123456789ab) is ready: GET /health answered 200 in 3 ms",
    ] {
        app.action_event(
            1,
            ActionEvent::Output {
                seq: switch,
                stream: crate::ops::event::Stream::Stdout,
                line: line.into(),
            },
        );
    }
    let shown = text(&render(&app, &dark(), 160, 30));
    assert!(
        shown.contains("beside shop_platform-a_1") && shown.contains("shop_platform-a_2"),
        "{shown}"
    );
}
