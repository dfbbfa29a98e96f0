//! The maintenance planner, table-tested on what a host would report.

use super::*;
use crate::error::ExitKind;
use std::collections::HashMap;

const FILE: &str = "http:
  routers:
    blog:
      rule: \"Host(`blog.test`)\"
      service: blog
      entryPoints: [web]
  services:
    blog:
      loadBalancer:
        servers:
          - url: http://10.0.0.5:80
";

/// The shop app: `shop.test` routed by its container's labels, `blog.test` (also its
/// domain) by the file, `extra.test` a domain nothing routes yet.
fn input() -> MaintInput {
    let doc = routes::parse_file(FILE).expect("parses");
    let mut existing = routes::file_routes(&doc, "/srv/routes.yml");
    let labels: HashMap<String, String> = [
        ("traefik.enable", "true"),
        ("traefik.http.routers.shop.rule", "Host(`shop.test`)"),
        ("traefik.http.routers.shop.entrypoints", "web"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    existing.extend(routes::label_routes("shop-web-1", &labels));
    let spec: AppSpec = toml::from_str(
        "host = \"alpha\"\ndir = \"/srv/shop\"\ndomains = [\"blog.test\", \"extra.test\"]\n",
    )
    .expect("app spec");
    MaintInput {
        app: "shop".into(),
        spec,
        routes: RoutesInput {
            host: "alpha".into(),
            routes_file: "/srv/routes.yml".into(),
            api: "http://127.0.0.1:8080".into(),
            entrypoint_url: Some("http://127.0.0.1:80".into()),
            current: Some(FILE.into()),
            existing,
            api_routers: vec![],
        },
        project: "shop".into(),
        app_hosts: vec!["blog.test".into(), "extra.test".into(), "shop.test".into()],
        container: None,
        image: DEFAULT_IMAGE.into(),
        image_present: true,
        network: None,
    }
}

fn on(message: Option<&str>) -> Action {
    Action::maintenance("shop", true, message).expect("action")
}

#[test]
fn on_starts_the_page_writes_a_router_per_rule_and_proves_each_through_the_proxy() {
    let p = plan_maintenance(&on(Some("Back at 5")), &input()).expect("plan");
    assert_eq!((p.lock.as_str(), p.host.as_str()), ("routes", "alpha"));
    assert_eq!(p.also_lock[0].lock, "shop");
    assert!(!p.destructive);
    assert!(
        matches!(&p.steps[0].kind, StepKind::StartMaintenance { site } if site.message == "Back at 5" && site.container == "opsdeck-maint-shop")
    );
    assert!(matches!(
        &p.steps[0].undo[0],
        StepKind::StopMaintenance { .. }
    ));
    let StepKind::WriteMaintenanceRoutes { routers, .. } = &p.steps[1].kind else {
        panic!("step 2 writes the routes: {:?}", p.steps[1]);
    };
    // blog (file), shop (labels), and one for the domain no router serves.
    let rules: Vec<&str> = routers.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(
        rules,
        vec![
            "(Host(`blog.test`))",
            "(Host(`shop.test`))",
            "(Host(`extra.test`))"
        ]
    );
    assert_eq!(routers[1].entrypoints, vec!["web"]);
    // Its undo writes the old text back and waits until Traefik has dropped every router.
    assert!(
        matches!(&p.steps[1].undo[0], StepKind::WriteRoutes { contents, keep_previous: false, .. } if contents == FILE)
    );
    assert_eq!(p.steps[1].undo.len(), 4);
    let loaded = p
        .steps
        .iter()
        .filter(|s| matches!(&s.kind, StepKind::RouteLoaded { present: true, expect: Some(e), .. } if e.service.as_deref() == Some("opsdeck-maint-shop")))
        .count();
    assert_eq!(loaded, 3);
    let probes: Vec<&str> = p
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::MaintenanceAnswers { host_header, .. } => Some(host_header.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(probes, vec!["blog.test", "shop.test", "extra.test"]);
    // Without a message, the default one.
    let p = plan_maintenance(&on(None), &input()).expect("plan");
    assert!(p.describe().join("\n").contains(DEFAULT_MESSAGE));
}

#[test]
fn on_refuses_what_it_cannot_do_and_changes_nothing() {
    let mut already = input();
    already.container = Some((true, "x".into()));
    let mut no_image = input();
    no_image.image_present = false;
    let mut nothing = input();
    nothing.app_hosts.clear();
    let mut no_entry = input();
    no_entry.routes.entrypoint_url = None;
    for (i, why) in [
        (already, "already in maintenance"),
        (no_image, "docker pull busybox:stable"),
        (nothing, "nothing to put into maintenance"),
        (no_entry, "proxy.entrypoint"),
    ] {
        let e = plan_maintenance(&on(None), &i).expect_err(why);
        assert_eq!(e.kind, ExitKind::Usage, "{}", e.message);
        assert!(e.message.contains(why), "{why}: {}", e.message);
    }
    for (bad, why) in [
        ("", "1 to 500"),
        ("line\nbreak", "control"),
        (&"x".repeat(501), "1 to 500"),
    ] {
        let e = Action::maintenance("shop", true, Some(bad)).expect_err(why);
        assert!(e.message.contains(why), "{}", e.message);
    }
    assert!(Action::maintenance("shop", false, Some("x")).is_err());
    assert!(Action::maintenance("$(id)", true, None).is_err());
}

#[test]
fn off_removes_exactly_the_maintenance_routers_and_proves_the_app_again() {
    let mut i = input();
    let routers: Vec<MaintRouter> = maint_routers(&i).into_iter().map(|(r, _)| r).collect();
    let on_text =
        rm::add_maintenance(FILE, "shop", "http://172.17.0.9:8080", &routers).expect("on");
    let doc = routes::parse_file(&on_text).expect("parses");
    i.routes.existing.retain(|r| r.provider != "file");
    i.routes
        .existing
        .extend(routes::file_routes(&doc, "/srv/routes.yml"));
    i.routes.current = Some(on_text.clone());
    i.container = Some((true, "Back at 5".into()));
    let off = Action::maintenance("shop", false, None).expect("action");
    let p = plan_maintenance(&off, &i).expect("plan");
    let StepKind::WriteRoutes { contents, .. } = &p.steps[0].kind else {
        panic!("{:?}", p.steps[0]);
    };
    assert!(!rm::has_maintenance(contents, "shop").expect("parses"));
    assert!(contents.contains("blog"), "{contents}");
    // Undo: the maintenance text back, its three routers proven loaded again.
    assert!(
        matches!(&p.steps[0].undo[0], StepKind::WriteRoutes { contents, .. } if *contents == on_text)
    );
    assert_eq!(p.steps[0].undo.len(), 4);
    let dropped = p
        .steps
        .iter()
        .filter(|s| matches!(&s.kind, StepKind::RouteLoaded { present: false, .. }))
        .count();
    assert_eq!(dropped, 3);
    // The routers that serve the app answer again; extra.test had none, so it is not probed.
    let probes: Vec<&str> = p
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::RouteAnswers { host_header, .. } => Some(host_header.as_str()),
            _ => None,
        })
        .collect();
    let mut probes = probes;
    probes.sort();
    assert_eq!(probes, vec!["blog.test", "shop.test"]);
    assert!(matches!(
        &p.steps.last().expect("steps").kind,
        StepKind::StopMaintenance { .. }
    ));
    // Not in maintenance at all: refused.
    let e = plan_maintenance(&off, &input()).expect_err("not in maintenance");
    assert!(e.message.contains("not in maintenance"), "{}", e.message);
    // Only a container left behind: just removed.
    let mut left = input();
    left.container = Some((false, String::new()));
    let p = plan_maintenance(&off, &left).expect("plan");
    assert_eq!(p.steps.len(), 1);
}
