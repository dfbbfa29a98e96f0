//! `opsdeck doctor APP` against a real Traefik and real busybox apps: a healthy app passes
//! every step; each broken variant fails the step it should, with the hint that fixes it.

use opsdeck_testkit::{self as common, traefik};

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

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA, and a server certificate signed by it for `name`, valid `days` days.
fn leaf_cert(dir: &std::path::Path, file: &str, name: &str, days: u32) {
    std::fs::write(
        dir.join(format!("{file}.cnf")),
        format!(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {name}\n[leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:{name}\n"
        ),
    )
    .expect("cnf");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{file}.key"),
            "-out",
            &format!("{file}.csr"),
            "-config",
            &format!("{file}.cnf"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{file}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            &days.to_string(),
            "-extfile",
            &format!("{file}.cnf"),
            "-extensions",
            "leaf",
            "-out",
            &format!("{file}.crt"),
        ],
    );
}

#[test]
fn doctor_checks_the_certificate_the_proxy_serves() {
    require_docker();
    let sb = Sandbox::new();
    let u = unique("tls");
    let net = format!("{u}-net");
    docker(&["network", "create", &net]);
    let _net = NetGuard(net.clone());
    // Certificates: "good" valid 90 days, "soon" 5 days (renewal failing), "none" has none
    // (Traefik serves its own default certificate, which no one trusts).
    let pki = sb.path().join("pki");
    std::fs::create_dir_all(&pki).expect("mkdir");
    openssl(
        &pki,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "30",
            "-subj",
            "/CN=opsdeck test CA",
        ],
    );
    let dom = |app: &str| format!("{app}.{u}.test");
    leaf_cert(&pki, "good", &dom("good"), 90);
    leaf_cert(&pki, "soon", &dom("soon"), 5);
    let t = Traefik::start(sb.path(), "{}\n");
    std::fs::write(
        t.dir.join("tls.yml"),
        format!(
            "tls:\n  certificates:\n    - certFile: {p}/good.crt\n      keyFile: {p}/good.key\n    - certFile: {p}/soon.crt\n      keyFile: {p}/soon.key\n",
            p = pki.display()
        ),
    )
    .expect("tls.yml");
    let netarg = format!("--network={net}");
    let mut guards = Vec::new();
    let mut apps = String::new();
    for app in ["good", "soon", "none"] {
        let project = format!("{u}-{app}");
        let router = format!("{u}-{app}");
        let labels = vec![
            format!("com.docker.compose.project={project}"),
            "com.docker.compose.service=web".to_string(),
            "traefik.enable=true".into(),
            format!("opsdeck.test={}", t.tag),
            format!("traefik.http.routers.{router}.rule=Host(`{}`)", dom(app)),
            format!("traefik.http.routers.{router}.entrypoints=websecure"),
            format!("traefik.http.routers.{router}.tls=true"),
            format!("traefik.http.services.{router}.loadbalancer.server.port=80"),
        ];
        let (g, _) = site(&format!("{project}-web-1"), &labels, &[&netarg]);
        guards.push(g);
        apps.push_str(&format!(
            "[apps.{app}]\nhost = \"alpha\"\ndir = \"{}\"\nproject = \"{project}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80 }}\ndomains = [\"{}\"]\n",
            sb.path().join(app).display(),
            dom(app)
        ));
    }
    // The inventory's entrypoint is the TLS one: probes go over HTTPS with SNI and Host.
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.alpha]\n[hosts.alpha.proxy]\nkind = \"traefik\"\nroutes_file = \"{}\"\napi = \"http://127.0.0.1:{}\"\nentrypoint = \"https://127.0.0.1:{}\"\nnetwork = \"{net}\"\n{apps}",
            t.routes_file().display(),
            t.api,
            t.websecure
        ),
    );
    let resolve = ["good", "soon", "none"]
        .iter()
        .map(|a| format!("{}:127.0.0.1", dom(a)))
        .collect::<Vec<_>>()
        .join(",");
    let doctor = |app: &str| {
        let out = sb
            .opsdeck()
            .env("OPSDECK_RESOLVE", &resolve)
            .env("SSL_CERT_FILE", pki.join("ca.crt"))
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
        let tls = v["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["id"] == "tls").cloned())
            .unwrap_or_else(|| panic!("a tls step in {v}"));
        (out.status.code().unwrap_or(-1), v, tls)
    };
    // Traefik loads the certificates and the label routes asynchronously: wait for "good".
    let mut last = serde_json::Value::Null;
    let ready = (0..60).any(|_| {
        let (code, v, _) = doctor("good");
        last = v;
        if code == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
        false
    });
    assert!(ready, "doctor good never passed: {last:#}");
    let (_, v, tls) = doctor("good");
    assert_eq!(tls["verdict"], "pass", "{v:#}");
    assert!(
        tls["detail"][0]
            .as_str()
            .is_some_and(|d| d.contains("valid until") && d.contains("days")),
        "{tls}"
    );
    let (code, v, tls) = doctor("soon");
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(tls["verdict"], "fail", "{v:#}");
    assert!(
        tls["hint"].as_str().is_some_and(|h| h.contains("renewal")),
        "{tls}"
    );
    let (code, v, tls) = doctor("none");
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(tls["verdict"], "fail", "{v:#}");
    assert!(
        tls["hint"]
            .as_str()
            .is_some_and(|h| h.contains("no valid certificate")),
        "{tls}"
    );
    // Without the CA, even the good certificate is not trusted: the step says so.
    let out = sb
        .opsdeck()
        .env("OPSDECK_RESOLVE", &resolve)
        .env_remove("SSL_CERT_FILE")
        .args(["doctor", "good", "--output", "json"])
        .output()
        .expect("opsdeck runs");
    assert_eq!(out.status.code(), Some(1));
    drop(guards);
}
