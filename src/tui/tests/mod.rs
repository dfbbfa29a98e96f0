//! Whole-console tests at fixed sizes: every pane in its normal, empty, error and narrow
//! states (text snapshots with insta), every shipped theme, and the update path from keys
//! to the same `Action` values the CLI builds.
//!
//! This file holds the fixtures (a demo model, an app, rendering to text); the tests are in one
//! file per pane or feature.

use super::app::{App, Effect, Pane, Popup};
use super::keymap::{KeyCommand, Keymap};
use super::theme::{Theme, SHIPPED};
use super::view;
use crate::journal::{Entry, Outcome};
use crate::model::{Model, Update};
use crate::ops::{Action, ActionEvent, ContainerOp, Target};
use crate::ops::{ContainerInfo, Health, State};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::collections::{BTreeMap, HashMap};

/// `insta::assert_snapshot!` against the files in `src/tui/snapshots/`, under the names they had
/// when these tests were one module (`tui::tests`), so splitting them kept every snapshot.
macro_rules! assert_pane_snapshot {
    ($name:literal, $value:expr $(,)?) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| {
            insta::assert_snapshot!(concat!("opsdeck__tui__tests__", $name), $value);
        });
    }};
}

mod actions;
mod backups;
mod containers;
mod databases;
mod doctor;
mod logs;
mod monitoring;
mod mouse;
mod palette;
mod quit;
mod read_only;
mod routes;
mod themes;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc)
}

fn container(
    host: &str,
    project: Option<&str>,
    service: &str,
    state: State,
    health: Health,
    image: &str,
) -> ContainerInfo {
    let name = match project {
        Some(p) => format!("{p}_{service}_1"),
        None => service.to_string(),
    };
    ContainerInfo {
        host: host.into(),
        id: format!(
            "{:0>12x}",
            name.bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
                & 0xffff_ffff_ffff
        ),
        name,
        project: project.map(str::to_string),
        service: project.map(|_| service.to_string()),
        project_dir: None,
        state,
        health,
        health_output: None,
        image: image.into(),
        tag: crate::ops::parse_image_ref(image).1,
        status: String::new(),
        created: None,
        started_at: Some("2026-11-23T09:30:00Z".into()),
        uptime_secs: None,
        exit_code: if state == State::Exited {
            Some(137)
        } else {
            None
        },
        restart_count: Some(0),
        ports: vec![],
        networks: vec![],
        labels: HashMap::new(),
    }
}

fn demo_model(hosts: &[&str]) -> Model {
    let mut m = Model::new(hosts.iter().copied());
    for h in hosts {
        m.apply(Update::HostConnected {
            host: h.to_string(),
            engine_version: "20.10.24".into(),
            latency_ms: 1.2,
        });
    }
    let mut cs = vec![
        container(
            hosts[0],
            Some("shop"),
            "platform-a",
            State::Running,
            Health::Healthy,
            "registry.example.com/shop:1.4.2",
        ),
        container(
            hosts[0],
            Some("shop"),
            "platform-b",
            State::Running,
            Health::Starting,
            "registry.example.com/shop:1.4.2",
        ),
        container(
            hosts[0],
            Some("shop"),
            "worker",
            State::Exited,
            Health::None,
            "registry.example.com/shop-worker:1.4.2",
        ),
        container(
            hosts[0],
            Some("infra"),
            "postgres",
            State::Running,
            Health::Healthy,
            "postgres:18",
        ),
        container(
            hosts[0],
            Some("infra"),
            "redis",
            State::Running,
            Health::Unhealthy,
            "redis:8",
        ),
        container(
            hosts[0],
            None,
            "traefik",
            State::Running,
            Health::None,
            "traefik:v3.7",
        ),
    ];
    if let Some(second) = hosts.get(1) {
        cs.push(container(
            second,
            Some("blog"),
            "web",
            State::Running,
            Health::Healthy,
            "ghost:5",
        ));
    }
    for c in cs {
        m.apply(Update::Upsert(Box::new(c)));
    }
    m
}

fn app_with(model: Model) -> App {
    let (keymap, problems) = Keymap::load(None);
    assert!(problems.is_empty(), "{problems:?}");
    let mut apps = BTreeMap::new();
    apps.insert(
        "shop".to_string(),
        vec!["platform-a".to_string(), "platform-b".to_string()],
    );
    let mut app = App::new(model, keymap, apps, vec![]);
    app.now = now();
    app
}

/// Step through the panes with `NextPane`, as a user would, until `pane` is shown.
fn go_to_pane(app: &mut App, pane: Pane) {
    let steps = Pane::ALL.iter().position(|p| *p == pane).unwrap_or(0);
    for _ in 0..steps {
        app.run(KeyCommand::NextPane);
    }
}

fn render(app: &App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| view::draw(f, app, theme)).expect("draw");
    t.backend().buffer().clone()
}

fn text(b: &Buffer) -> String {
    let w = b.area.width as usize;
    b.content
        .chunks(w)
        .map(|row| {
            row.iter()
                .map(|c| c.symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn dark() -> Theme {
    Theme::parse(SHIPPED[0].1, false).expect("dark")
}

fn key(code: KeyCode, mods: KeyModifiers) -> Event {
    Event::Key(KeyEvent::new(code, mods))
}

fn find(b: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let w = b.area.width;
    for y in 0..b.area.height {
        let row: String = (0..w).map(|x| b[(x, y)].symbol().to_string()).collect();
        if let Some(i) = row.find(needle) {
            let x = row[..i].chars().count() as u16;
            return Some((x, y));
        }
    }
    None
}

fn listed(
    router: &str,
    provider: &str,
    host: &str,
    status: Option<&str>,
) -> crate::ops::routes::ListedRoute {
    crate::ops::routes::ListedRoute {
        route: crate::ops::Route {
            router: router.into(),
            provider: provider.into(),
            rule: format!("Host(`{host}`)"),
            hosts: vec![host.into()],
            entrypoints: vec!["web".into()],
            cert_resolver: None,
            tls: false,
            service: Some(router.into()),
            targets: vec![format!("http://{router}:80")],
            source: "/srv/traefik/routes.yml".into(),
        },
        status: status.map(str::to_string),
        errors: if status == Some("disabled") {
            vec!["entryPoint \"nope\" doesn't exist".into()]
        } else {
            vec![]
        },
    }
}
