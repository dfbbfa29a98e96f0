//! The routes pane and the routes file editor.

use super::*;

#[test]
fn routes_pane_and_the_routes_file_editor() {
    let mut app = app_with(demo_model(&["alpha"]));
    go_to_pane(&mut app, Pane::Routes);
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
    assert_pane_snapshot!("routes", text(&render(&app, &dark(), 120, 9)));

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
