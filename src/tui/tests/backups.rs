//! The backups pane and a backup's progress.

use super::*;

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
        kind: String::new(),
        files: vec![],
    };
    app.backups_loaded(Ok(vec![
        m("shopdb-20261123T110000Z", "2026-11-23T11:00:00Z", false),
        m("shopdb-20261122T110000Z", "2026-11-22T11:00:00Z", true),
    ]));
    assert_pane_snapshot!("backups", text(&render(&app, &dark(), 100, 7)));
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
            to: None,
            maintenance: false,
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
            unit: crate::ops::event::Unit::Bytes,
        },
    );
    assert!(text(&render(&app, &dark(), 120, 10)).contains("12.0MiB at"));
}
