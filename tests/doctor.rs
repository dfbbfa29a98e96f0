//! `opsdeck doctor APP` against a real Traefik and real busybox apps: a healthy app passes
//! every step; each broken variant fails the step it should, with the hint that fixes it.

mod common;
#[path = "common/traefik.rs"]
mod traefik;

use common::*;
use std::process::Command;
use std::time::Duration;
use traefik::*;

/// Removes a network when dropped (after the containers on it).
struct NetGuard(String);

impl Drop for NetGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

fn health_of(c: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
        c,
    ])
}

#[test]
fn doctor_passes_a_healthy_app_and_names_what_is_broken() {
    require_docker();
    let sb = Sandbox::new();
    let u = unique("doc");
    let net = format!("{u}-net");
    docker(&["network", "create", &net]);
    let _net = NetGuard(net.clone());
    let t = Traefik::start(sb.path(), "{}\n");
    let dom = |app: &str| format!("{app}.{u}.test");
    let netarg = format!("--network={net}");
    let mut guards = Vec::new();
    let mut apps = String::new();
    // (app, labels route this host, on the proxy network, extra docker args)
    let variants: Vec<(&str, Option<String>, bool, Vec<&str>)> = vec![
        ("healthy", Some(dom("healthy")), true, vec![]),
        ("stopped", Some(dom("stopped")), true, vec![]),
        (
            "unhealthy",
            Some(dom("unhealthy")),
            true,
            vec![
                "--health-cmd",
                "false",
                "--health-interval",
                "1s",
                "--health-retries",
                "1",
            ],
        ),
        ("offnet", Some(dom("offnet")), false, vec![]),
        ("noroute", None, true, vec![]),
        ("wronghost", Some(format!("other.{u}.test")), true, vec![]),
        ("dns", Some(dom("dns")), true, vec![]),
    ];
    for (app, route, on_net, extra) in &variants {
        let project = format!("{u}-{app}");
        let mut labels = vec![
            format!("com.docker.compose.project={project}"),
            "com.docker.compose.service=web".to_string(),
        ];
        if let Some(h) = route {
            labels.extend(route_labels(&t, &format!("{u}-{app}"), h));
        }
        let mut args: Vec<&str> = extra.clone();
        if *on_net {
            args.push(&netarg);
        }
        let (g, _) = site(&format!("{project}-web-1"), &labels, &args);
        guards.push(g);
        apps.push_str(&format!(
            "[apps.{app}]\nhost = \"alpha\"\ndir = \"{}\"\nproject = \"{project}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80 }}\ndomains = [\"{}\"]\n",
            sb.path().join(app).display(),
            dom(app)
        ));
    }
    docker(&["stop", "-t", "1", &format!("{u}-stopped-web-1")]);
    wait_for(
        "the unhealthy app to be unhealthy",
        Duration::from_secs(30),
        || (health_of(&format!("{u}-unhealthy-web-1")) == "unhealthy").then_some(()),
    );
    wait_for(
        "the healthy app to be healthy",
        Duration::from_secs(30),
        || (health_of(&format!("{u}-healthy-web-1")) == "healthy").then_some(()),
    );
    sb.write(
        "opsdeck.toml",
        &format!("[hosts.alpha]\n{}{apps}", t.proxy_toml("alpha", Some(&net))),
    );
    t.wait_answers(&dom("healthy"), 200);
    t.wait_answers(&dom("offnet"), 200);
    let resolve = variants
        .iter()
        .map(|(app, ..)| {
            let ip = if *app == "dns" {
                "192.0.2.7"
            } else {
                "127.0.0.1"
            };
            format!("{}:{ip}", dom(app))
        })
        .collect::<Vec<_>>()
        .join(",");
    let doctor = |app: &str| {
        let out = sb
            .opsdeck()
            .env("OPSDECK_RESOLVE", &resolve)
            .args(["doctor", app, "--output", "json"])
            .output()
            .expect("opsdeck runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "doctor {app}: not JSON ({e}): {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    };
    let step = |v: &serde_json::Value, id: &str| -> serde_json::Value {
        v["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["id"] == id).cloned())
            .unwrap_or_else(|| panic!("step {id} in {v}"))
    };

    // Healthy: every step passes (TLS and proxy logs do not apply here: skip), exit 0.
    let (code, v) = doctor("healthy");
    assert_eq!(code, 0, "{v:#}");
    for id in [
        "dns",
        "containers",
        "network",
        "route",
        "health_direct",
        "health_proxy",
    ] {
        assert_eq!(step(&v, id)["verdict"], "pass", "{id}: {v:#}");
    }
    assert!(
        step(&v, "health_proxy")["detail"][0]
            .as_str()
            .is_some_and(|d| d.contains("-> 200 in")),
        "{v:#}"
    );
    assert_eq!(step(&v, "tls")["verdict"], "skip");

    // Each broken variant: exit 1, the right step fails with the right hint.
    for (app, id, hint) in [
        ("stopped", "containers", "opsdeck start stopped"),
        ("unhealthy", "containers", "health check"),
        ("offnet", "network", "docker network connect"),
        ("noroute", "route", "opsdeck routes add"),
        ("wronghost", "route", "names the wrong host"),
        ("dns", "dns", "point the A/AAAA record"),
    ] {
        let (code, v) = doctor(app);
        assert_eq!(code, 1, "{app}: {v:#}");
        let s = step(&v, id);
        assert_eq!(s["verdict"], "fail", "{app}/{id}: {v:#}");
        assert!(
            s["hint"].as_str().is_some_and(|h| h.contains(hint)),
            "{app}/{id}: hint {:?}, wanted {hint:?}",
            s["hint"]
        );
    }
    // The human output shows each step with its verdict and the hint.
    let out = sb
        .opsdeck()
        .env("OPSDECK_RESOLVE", &resolve)
        .args(["doctor", "noroute"])
        .output()
        .expect("opsdeck runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[FAIL]") && text.contains("hint: add one"),
        "{text}"
    );
    // A hostile app name is refused before anything runs.
    let (code, _, err) = sb.run(&["doctor", "x;id"]);
    assert_eq!(code, 2, "{err}");
    drop(guards);
}
