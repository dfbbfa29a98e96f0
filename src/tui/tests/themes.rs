//! Every shipped theme, on every pane, at every size.

use super::*;

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
    app.history_loaded(Err(crate::error::Error::failed("the journal is locked")));
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
