//! Read-only hosts: the header says so, and a changing action is refused with the action
//! layer's message (the console has no read-only rule of its own).

use super::*;

fn read_only_inventory(all: bool) -> crate::inventory::Inventory {
    let mut inv = crate::inventory::Inventory::default();
    for h in ["alpha", "beta"] {
        inv.hosts.insert(h.into(), Default::default());
    }
    if let Some(a) = inv.hosts.get_mut("alpha") {
        a.read_only = true;
    }
    inv.read_only = all;
    inv
}

fn with_read_only(app: &mut App, inv: &crate::inventory::Inventory) {
    app.read_only = inv
        .hosts
        .keys()
        .filter_map(|h| inv.read_only_reason(h).map(|w| (h.clone(), w)))
        .collect();
}

#[test]
fn the_header_marks_read_only_hosts() {
    let mut app = app_with(demo_model(&["alpha", "beta"]));
    with_read_only(&mut app, &read_only_inventory(false));
    let shown = text(&render(&app, &dark(), 120, 20));
    let header = shown.lines().next().unwrap_or_default();
    let (marker, alpha, beta) = (
        header.find("[read-only]"),
        header.find("alpha"),
        header.find("beta"),
    );
    assert!(
        alpha < marker && marker < beta && header.matches("[read-only]").count() == 1,
        "only alpha is marked: {header}"
    );
    assert!(!header.contains("READ-ONLY"), "{header}");

    with_read_only(&mut app, &read_only_inventory(true));
    let shown = text(&render(&app, &dark(), 120, 20));
    let header = shown.lines().next().unwrap_or_default();
    assert!(header.contains("READ-ONLY"), "{header}");
    assert!(!header.contains("[read-only]"), "{header}");
}

#[test]
fn a_changing_action_is_refused_with_the_action_layers_message() {
    let inv = read_only_inventory(false);
    let mut app = app_with(demo_model(&["alpha", "beta"]));
    with_read_only(&mut app, &inv);
    app.start_action(Action::Lifecycle {
        op: ContainerOp::Restart,
        target: Target::App { app: "shop".into() },
    });
    let action = app
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Prepare { action, .. } => Some(action.clone()),
            _ => None,
        })
        .expect("prepare");
    let plan = crate::ops::lifecycle::plan_containers(
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
    .expect("plan");
    // What `ops::plan` answers for this plan on a read-only host.
    let refused = crate::ops::read_only::check_plan(&inv, &plan).expect_err("refused");
    assert_eq!(refused.kind, crate::error::ExitKind::Refused);
    app.plan_ready(1, Err(refused));
    assert!(
        !app.effects.contains(&Effect::Execute { run: 1 }),
        "a refused plan never executes"
    );
    app.pane = Pane::Actions;
    let shown = text(&render(&app, &dark(), 160, 24));
    assert!(shown.contains("read-only"), "{shown}");
    assert!(shown.contains("alpha"), "{shown}");
}
