//! Quitting while an action runs: the console asks, cancels, and waits for the undo.

use super::*;

/// The console with one restart of `shop` planned (run 1), so it is executing.
fn restart_planned() -> App {
    let mut app = app_with(demo_model(&["alpha"]));
    app.start_action(Action::Lifecycle {
        op: ContainerOp::Restart,
        target: Target::App { app: "shop".into() },
    });
    let plan = restart_plan(&app);
    app.plan_ready(1, Ok(plan));
    app
}

fn restart_plan(app: &App) -> crate::ops::Plan {
    let action = app
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Prepare { action, .. } => Some(action.clone()),
            _ => None,
        })
        .expect("prepare");
    crate::ops::lifecycle::plan_containers(
        &action,
        &crate::ops::lifecycle::PlanInput {
            matched: vec![crate::ops::lifecycle::Resolved {
                host: "alpha".into(),
                id: "id-web".into(),
                name: "shop_platform-a_1".into(),
                app: Some("shop".into()),
                service: Some("platform-a".into()),
                state: State::Running,
                health: Health::Healthy,
            }],
            service_order: vec!["platform-a".into()],
            ..Default::default()
        },
    )
    .expect("plan")
}

#[test]
fn quitting_with_nothing_running_is_immediate() {
    let mut app = app_with(demo_model(&["alpha"]));
    app.run(KeyCommand::Quit);
    assert!(app.quit && app.ready_to_quit());
    assert_eq!(app.popup, Popup::None);
}

#[test]
fn quitting_while_an_action_runs_asks_then_cancels_and_waits_for_its_end() {
    let mut app = restart_planned();
    assert!(app.effects.contains(&Effect::Execute { run: 1 }));
    let cancel = app.runs[0].cancel.clone();

    // q asks; n keeps working, nothing cancelled.
    app.run(KeyCommand::Quit);
    assert_eq!(app.popup, Popup::Quit);
    assert!(!app.ready_to_quit());
    let shown = text(&render(&app, &dark(), 100, 20));
    assert!(shown.contains("Quit while actions run?"), "{shown}");
    assert!(shown.contains("restart"), "{shown}");
    assert!(
        shown.contains("cancel them and quit") && shown.contains("esc: keep working"),
        "{shown}"
    );
    app.on_event(&key(KeyCode::Char('n'), KeyModifiers::NONE));
    assert_eq!(app.popup, Popup::None);
    assert!(!cancel.is_cancelled() && !app.ready_to_quit());

    // q, y: cancelled, but the console stays until the engine reports the end (its undo done).
    app.run(KeyCommand::Quit);
    app.on_event(&key(KeyCode::Char('y'), KeyModifiers::NONE));
    assert!(cancel.is_cancelled());
    assert!(!app.ready_to_quit(), "must wait for the undo");
    app.action_event(
        1,
        ActionEvent::Finished {
            action: "restart".into(),
            target: "shop".into(),
            outcome: Outcome::Cancelled,
            error: Some("cancelled".into()),
            journal_id: Some(1),
            elapsed_ms: 10,
        },
    );
    assert!(app.ready_to_quit());
}

#[test]
fn ctrl_c_in_the_quit_question_is_a_yes() {
    let mut app = restart_planned();
    app.run(KeyCommand::Quit);
    app.on_event(&key(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.runs[0].cancel.is_cancelled());
    assert!(app.quitting && !app.ready_to_quit());
}
