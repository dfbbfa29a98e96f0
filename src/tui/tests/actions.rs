//! The actions pane (runs, steps, output, confirmation) and the history pane.

use super::*;

#[test]
fn actions_and_history_panes() {
    let mut app = app_with(demo_model(&["alpha"]));
    app.run(KeyCommand::NextPane);
    assert_pane_snapshot!("actions_empty", text(&render(&app, &dark(), 90, 8)));
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
            stream: crate::ops::event::Stream::Stdout,
            line: "probe ok".into(),
        },
    );
    assert_pane_snapshot!("actions_running", text(&render(&app, &dark(), 100, 12)));
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
    assert_pane_snapshot!("actions_failed", text(&render(&app, &dark(), 100, 12)));

    app.run(KeyCommand::NextPane);
    assert_eq!(app.pane, Pane::History);
    app.history_loaded(Err(crate::error::Error::failed(
        "journal /x/journal.db: unable to open database file",
    )));
    assert_pane_snapshot!("history_error", text(&render(&app, &dark(), 90, 6)));
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
        outcome: crate::journal::Outcome::Failed,
        error: Some("step 2 failed: unhealthy".into()),
        steps: vec![],
    }]));
    assert_pane_snapshot!("history_normal", text(&render(&app, &dark(), 100, 6)));
}
