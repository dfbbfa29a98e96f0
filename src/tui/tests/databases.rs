//! The databases pane and provisioning from the palette.

use super::*;

#[test]
fn databases_pane_and_provisioning_from_the_palette() {
    let mut app = app_with(demo_model(&["alpha"]));
    go_to_pane(&mut app, Pane::Databases);
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
    assert_pane_snapshot!("databases", text(&render(&app, &dark(), 100, 8)));
    app.databases_loaded(Err(crate::error::Error::unreachable(
        "connecting to postgres at 127.0.0.1:5432: password authentication failed",
    )));
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
