//! The doctor pane.

use super::*;

#[test]
fn doctor_pane_runs_the_checklist_and_shows_hints() {
    use crate::ops::doctor::{DoctorReport, DoctorStep, Verdict};
    let mut app = app_with(demo_model(&["alpha"]));
    app.pane = Pane::Doctor;
    let shown = text(&render(&app, &dark(), 100, 12));
    assert!(shown.contains("Not run yet for shop"), "{shown}");
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.effects, vec![Effect::RunDoctor { app: "shop".into() }]);
    // A second Enter while it runs does not start another.
    app.on_event(&key(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.effects.len(), 1);
    let s = |id: &str, name: &str, verdict: Verdict, detail: &str, hint: Option<&str>| DoctorStep {
        id: id.into(),
        name: name.into(),
        verdict,
        detail: vec![detail.into()],
        hint: hint.map(str::to_string),
    };
    app.doctor_done(
        "shop".into(),
        Ok(DoctorReport {
            app: "shop".into(),
            host: "alpha".into(),
            ok: false,
            steps: vec![
                s(
                    "dns",
                    "DNS names resolve to the host",
                    Verdict::Pass,
                    "shop.example.com → 10.0.0.5",
                    None,
                ),
                s(
                    "network",
                    "containers are on the proxy's network",
                    Verdict::Fail,
                    "shop_web_1 is not on traefik-public",
                    Some("add the network to the service: networks: [traefik-public]"),
                ),
                s("tls", "TLS certificate", Verdict::Skip, "plain http", None),
            ],
        }),
    );
    assert_pane_snapshot!("doctor", text(&render(&app, &dark(), 100, 12)));
}
