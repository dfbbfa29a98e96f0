//! The containers pane: normal, narrow, tiny, empty, host down, filtered; the key help.

use super::*;

#[test]
fn containers_pane_normal() {
    let app = app_with(demo_model(&["alpha"]));
    assert_pane_snapshot!("containers_normal", text(&render(&app, &dark(), 110, 16)));
}

#[test]
fn containers_pane_narrow_80x24_and_tiny() {
    let app = app_with(demo_model(&["alpha", "beta"]));
    assert_pane_snapshot!("containers_narrow", text(&render(&app, &dark(), 80, 24)));
    // Far too small: must not panic.
    for (w, h) in [(1, 1), (10, 3), (20, 5), (0, 0)] {
        render(&app, &dark(), w, h);
    }
}

#[test]
fn containers_pane_empty_and_host_down() {
    let mut app = app_with(Model::new(["alpha"]));
    assert_pane_snapshot!("containers_connecting", text(&render(&app, &dark(), 90, 8)));
    app.apply(Update::HostDown {
        host: "alpha".into(),
        error: "cannot reach the Docker engine at unix:///var/run/docker.sock: connection refused"
            .into(),
        retry_in_secs: 4,
    });
    assert_pane_snapshot!("containers_host_down", text(&render(&app, &dark(), 90, 8)));
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
    assert_pane_snapshot!("containers_filtered", text(&render(&app, &dark(), 90, 8)));
    app.on_event(&key(KeyCode::Char('?'), KeyModifiers::NONE));
    assert_eq!(app.popup, Popup::Help);
    let help = text(&render(&app, &dark(), 100, 30));
    for (_, desc) in app.keymap.help("containers") {
        assert!(help.contains(&desc), "help lacks {desc:?}:\n{help}");
    }
}

#[test]
fn an_app_in_maintenance_has_a_banner_on_its_rows() {
    use crate::ops::step::MaintenanceSite as M;
    let mut model = demo_model(&["alpha"]);
    let mut page = container(
        "alpha",
        None,
        "opsdeck-maint-shop",
        State::Running,
        Health::None,
        "busybox:stable",
    );
    page.labels = HashMap::from([
        (M::LABEL.to_string(), "shop".to_string()),
        (M::PROJECT_LABEL.to_string(), "shop".to_string()),
        (
            M::MESSAGE_LABEL.to_string(),
            "Restoring the database".to_string(),
        ),
    ]);
    model.apply(Update::Upsert(Box::new(page)));
    let app = app_with(model);
    let screen = text(&render(&app, &dark(), 110, 16));
    let shop = screen
        .lines()
        .find(|l| l.contains("▾ shop"))
        .expect("the shop group row");
    assert!(
        shop.contains("MAINT") && shop.contains("Restoring the database"),
        "{screen}"
    );
    let infra = screen
        .lines()
        .find(|l| l.contains("▾ infra"))
        .expect("infra");
    assert!(!infra.contains("MAINT"), "{screen}");
    assert_pane_snapshot!("containers_maintenance", screen);
}

#[test]
fn a_container_restarting_in_a_loop_is_flagged() {
    let mut model = demo_model(&["alpha"]);
    let mut looping = container(
        "alpha",
        Some("shop"),
        "worker",
        State::Restarting,
        Health::None,
        "shop:1.4.2",
    );
    looping.restart_count = Some(7);
    let mut once = container(
        "alpha",
        Some("shop"),
        "cron",
        State::Running,
        Health::None,
        "shop:1.4.2",
    );
    once.restart_count = Some(1);
    once.uptime_secs = Some(5);
    model.apply(Update::Upsert(Box::new(looping)));
    model.apply(Update::Upsert(Box::new(once)));
    let app = app_with(model);
    let screen = text(&render(&app, &dark(), 110, 20));
    let row = |s: &str| {
        screen
            .lines()
            .find(|l| l.contains(s))
            .unwrap_or_else(|| panic!("no {s} row:\n{screen}"))
            .to_string()
    };
    assert!(row("worker").contains("loop ×7"), "{screen}");
    assert!(
        !row("cron").contains("loop"),
        "one restart is no loop: {screen}"
    );
}
