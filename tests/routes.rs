//! Routes against a real Traefik (file provider watching a directory, Docker provider on the
//! local engine, API on loopback) and real busybox sites: listing label and file routes, a safe
//! add that is proven through the proxy, refusals that write nothing, and a write Traefik
//! rejects being put back while the other routes keep answering.

use opsdeck_testkit::{self as common, traefik};

use common::*;
use std::time::Duration;
use traefik::*;

/// A small Alpha-like host: one site routed by labels, two by the routes file.
struct Alpha {
    t: Traefik,
    sb: Sandbox,
    _sites: Vec<ContainerGuard>,
    /// (router, host name, container IP) of the three sites.
    sites: Vec<(String, String, String)>,
    /// A fourth container nothing routes to yet.
    spare_ip: String,
}

impl Alpha {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        outcome(
            self.sb
                .opsdeck()
                .env("OPSDECK_LOCK_DIR", self.sb.path().join("locks"))
                .args(args)
                .output()
                .expect("opsdeck runs"),
        )
    }

    fn file(&self) -> String {
        std::fs::read_to_string(self.t.routes_file()).expect("routes file")
    }
}

fn alpha() -> Alpha {
    require_docker();
    let sb = Sandbox::new();
    let u = unique("a");
    let host = |n: &str| format!("{n}.{u}.test");
    let (g2, ip2) = site(&format!("{u}-s2"), &[], &[]);
    let (g3, ip3) = site(&format!("{u}-s3"), &[], &[]);
    let (g4, ip4) = site(&format!("{u}-s4"), &[], &[]);
    let routes = file_routes(&[("s2", &host("s2"), &ip2), ("s3", &host("s3"), &ip3)]);
    let t = Traefik::start(sb.path(), &routes);
    let (g1, ip1) = site(
        &format!("{u}-s1"),
        &route_labels(&t, "s1", &host("s1")),
        &[],
    );
    sb.write(
        "opsdeck.toml",
        &format!("[hosts.alpha]\n{}", t.proxy_toml("alpha", None)),
    );
    for n in ["s1", "s2", "s3"] {
        t.wait_answers(&host(n), 200);
    }
    Alpha {
        sites: vec![
            ("s1".into(), host("s1"), ip1),
            ("s2".into(), host("s2"), ip2),
            ("s3".into(), host("s3"), ip3),
        ],
        spare_ip: ip4,
        t,
        sb,
        _sites: vec![g1, g2, g3, g4],
    }
}

#[test]
fn lists_label_and_file_routes_with_traefiks_status() {
    let a = alpha();
    let (code, out, err) = a.run(&["routes", "list", "--output", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let routes = v[0]["routes"].as_array().expect("routes");
    // Other tests' containers may carry label routes too: find ours by host name.
    let find = |i: usize| {
        let h = a.sites[i].1.as_str();
        routes
            .iter()
            .find(|x| x["hosts"][0] == h)
            .unwrap_or_else(|| panic!("a route for {h} in {out}"))
    };
    let s1 = find(0);
    assert_eq!(s1["router"], "s1");
    assert_eq!(s1["provider"], "docker");
    assert_eq!(s1["hosts"][0], a.sites[0].1.as_str());
    assert!(
        s1["targets"][0]
            .as_str()
            .expect("target")
            .ends_with("-s1:80"),
        "{s1}"
    );
    assert_eq!(s1["status"], "enabled", "{s1}");
    for (i, r) in ["s2", "s3"].iter().enumerate() {
        let x = find(i + 1);
        assert_eq!(x["router"], *r);
        assert_eq!(x["provider"], "file");
        assert_eq!(x["hosts"][0], a.sites[i + 1].1.as_str());
        assert_eq!(
            x["targets"][0],
            format!("http://{}:80", a.sites[i + 1].2).as_str()
        );
        assert_eq!(x["entrypoints"][0], "web");
        assert_eq!(x["status"], "enabled", "{x}");
        assert_eq!(
            x["source"],
            a.t.routes_file().display().to_string().as_str()
        );
    }
    assert!(v[0]["api_routers"]
        .as_array()
        .expect("api routers")
        .iter()
        .any(|r| r["name"] == "api@internal"));
    let (code, out, _) = a.run(&["routes", "list"]);
    assert_eq!(code, 0);
    for (r, h, _) in &a.sites {
        assert!(
            out.contains(r.as_str()) && out.contains(h.as_str()),
            "{out}"
        );
    }

    // `routes check`: every route probed through the proxy with its Host header.
    let checks = |args: &[&str]| {
        let mut all = vec!["routes", "check", "--output", "json"];
        all.extend(args);
        let (code, out, err) = a.run(&all);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
        (code, v)
    };
    let ours = |v: &serde_json::Value| -> Vec<(String, String, Option<u64>)> {
        v["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter(|c| a.sites.iter().any(|s| c["host_header"] == s.1.as_str()))
            .map(|c| {
                (
                    c["router"].as_str().unwrap_or("").to_string(),
                    c["result"].as_str().unwrap_or("").to_string(),
                    c["status"].as_u64(),
                )
            })
            .collect()
    };
    let (code, v) = checks(&["s2"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(ours(&v), vec![("s2".into(), "ok".into(), Some(200))], "{v}");
    let (code, _, err) = a.run(&["routes", "check", "nope"]);
    assert_eq!(code, 2, "{err}");
    // The s3 site stops: its route fails the check, the others still pass, and the exit
    // code says something failed.
    let u = a.sites[0]
        .1
        .trim_start_matches("s1.")
        .trim_end_matches(".test");
    docker(&["stop", "-t", "1", &format!("{u}-s3")]);
    let (code, v) = checks(&[]);
    assert_eq!(code, 1, "{v}");
    let mut got = ours(&v);
    got.sort();
    assert_eq!(got.len(), 3, "{v}");
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("s1", "ok"), "{v}");
    assert_eq!((got[1].0.as_str(), got[1].1.as_str()), ("s2", "ok"), "{v}");
    assert_eq!(
        (got[2].0.as_str(), got[2].1.as_str()),
        ("s3", "failed"),
        "{v}"
    );
    // Traefik answers 502, or (the file route's IP now has no host behind it) keeps
    // connecting until the probe gives up: either way no 2xx.
    assert!(!matches!(got[2].2, Some(200..=299)), "{v}");
}

#[test]
fn add_is_proven_through_traefik_and_refusals_write_nothing() {
    let a = alpha();
    let u = &a.sites[0].1[3..]; // ".<unique>.test"
    let new_host = format!("s4{u}");
    let to = format!("http://{}:80", a.spare_ip);
    let rule = format!("Host(`{new_host}`)");

    // Refusals: exit 2, the file untouched, no .previous written.
    let before = a.file();
    let prev = a.t.dir.join("routes.yml.previous");
    for (args, why) in [
        (
            vec!["s4", "--rule", "Host(`x.test`", "--to", &to],
            "not closed",
        ),
        (
            vec!["s4", "--rule", "Hots(`x.test`)", "--to", &to],
            "unknown matcher",
        ),
        (
            vec!["s4", "--rule", "PathPrefix(`/x`)", "--to", &to],
            "no Host",
        ),
        (vec!["s4;id", "--rule", &rule, "--to", &to], "router name"),
        (vec!["s4", "--rule", &rule, "--to", "x y:80"], "spaces"),
        (vec!["s2", "--rule", &rule, "--to", &to], "already exists"),
        (vec!["s1", "--rule", &rule, "--to", &to], "already exists"),
    ] {
        let mut all = vec!["routes", "add"];
        all.extend(args.iter().copied());
        let (code, out, err) = a.run(&all);
        assert_eq!(code, 2, "{all:?}: {out}\n{err}");
        assert!(err.contains(why), "{all:?}: {err}");
        assert_eq!(a.file(), before, "{all:?} wrote the file");
        assert!(!prev.exists(), "{all:?} wrote .previous");
    }
    // A host another route (labels, s1) already serves.
    let taken = format!("Host(`{}`)", a.sites[0].1);
    let (code, _, err) = a.run(&["routes", "add", "s9", "--rule", &taken, "--to", &to]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already routed by s1"), "{err}");
    assert_eq!(a.file(), before);

    // Dry run: the plan, nothing written.
    let (code, out, _) = a.run(&[
        "routes",
        "add",
        "s4",
        "--rule",
        &rule,
        "--to",
        &to,
        "--dry-run",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("Traefik loads router s4@file"), "{out}");
    assert_eq!(a.file(), before);

    // The real add: exit 0 and the new site answers through Traefik.
    let (code, out, err) = a.run(&[
        "routes",
        "add",
        "s4",
        "--rule",
        &rule,
        "--to",
        &to,
        "--entrypoint",
        "web",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(get(a.t.web, "/health", &new_host).map(|r| r.0), Some(200));
    assert_eq!(std::fs::read_to_string(&prev).expect(".previous"), before);
    assert!(a.file().contains("s4:"));
    let added = a.file();

    // A write Traefik rejects (an entrypoint it does not have): exit 1, the file put back,
    // and the other routes answer the whole time.
    let hosts: Vec<String> = a
        .sites
        .iter()
        .map(|s| s.1.clone())
        .chain([new_host.clone()])
        .collect();
    let probe = Prober::start(a.t.web, hosts);
    std::thread::sleep(Duration::from_millis(300));
    let bad_host = format!("s5{u}");
    let (code, out, err) = a.run(&[
        "routes",
        "add",
        "s5",
        "--rule",
        &format!("Host(`{bad_host}`)"),
        "--to",
        &to,
        "--entrypoint",
        "nope",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("doesn't exist"), "{err}");
    assert!(err.contains("put back"), "{err}");
    assert_eq!(a.file(), added, "the previous file is restored");
    // The same for a target whose /health does not answer through the proxy.
    let (code, _, err) = a.run(&[
        "routes",
        "add",
        "s6",
        "--rule",
        &format!("Host(`s6{u}`)"),
        "--to",
        "http://127.0.0.1:9",
        "--entrypoint",
        "web",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did not answer 2xx"), "{err}");
    assert_eq!(a.file(), added);
    std::thread::sleep(Duration::from_millis(500));
    let (ok, failures) = probe.finish();
    assert!(ok > 50, "only {ok} probe requests went through");
    assert!(
        failures.is_empty(),
        "requests failed during the edits: {failures:?}"
    );

    // Remove: destructive, so --yes; afterwards Traefik no longer routes it.
    let (code, _, err) = a.run(&["routes", "remove", "s4"]);
    assert_eq!(code, 4, "{err}");
    let (code, _, err) = a.run(&["routes", "remove", "nope"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = a.run(&["routes", "remove", "s1", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("label route"), "{err}");
    let (code, out, err) = a.run(&["routes", "remove", "s4", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(get(a.t.web, "/health", &new_host).map(|r| r.0), Some(404));
    assert!(!a.file().contains("s4:"), "{}", a.file());
    for (_, h, _) in &a.sites[1..] {
        assert_eq!(get(a.t.web, "/health", h).map(|r| r.0), Some(200), "{h}");
    }
    // The journal has all of it.
    let (code, out, _) = a.run(&["history", "--action", "route_add"]);
    assert_eq!(code, 0);
    assert!(out.contains("failed") && out.contains("succeeded"), "{out}");
}

#[test]
fn apply_checks_the_whole_file_proves_it_and_puts_back_what_traefik_rejects() {
    let a = alpha();
    let u = &a.sites[0].1[3..]; // ".<unique>.test"
    let prev = a.t.dir.join("routes.yml.previous");
    // `routes show` prints the file as it is: the starting point of an edit.
    let (code, shown, err) = a.run(&["routes", "show"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(shown, a.file());
    let before = a.file();
    let apply = |text: &str, extra: &[&str]| {
        let f = a.sb.path().join("edit.yml");
        std::fs::write(&f, text).expect("edit file");
        let mut args = vec!["routes", "apply", f.to_str().expect("utf-8 path")];
        args.extend(extra);
        a.run(&args)
    };

    // Refused before anything is written: broken YAML (with its line), an unknown key
    // Traefik would drop the whole file for, a missing service, a host a label route serves.
    let s1_host = a.sites[0].1.clone();
    let s3_host = a.sites[2].1.clone();
    for (text, why) in [
        (format!("{before}  routers: [\n"), "line "),
        (
            before.replace("entryPoints:", "entrypoints:"),
            "unknown key \"entrypoints\"",
        ),
        (
            before.replacen("service: s2", "service: missing", 1),
            "\"missing\" is not defined",
        ),
        (before.replace(&s3_host, &s1_host), "already routed by s1"),
        (before.clone(), "nothing to apply"),
    ] {
        let (code, out, err) = apply(&text, &[]);
        assert_eq!(code, 2, "{why}: {out}\n{err}");
        assert!(err.contains(why), "{why}: {err}");
        assert_eq!(a.file(), before, "{why}: the file changed");
        assert!(!prev.exists(), "{why}: .previous written");
    }

    // A good edit: s3 moves to a new name, s4 is added (on the spare container). Proven
    // through Traefik and the proxy, the old file kept as .previous.
    let s3b = format!("s3b{u}");
    let s4 = format!("s4{u}");
    let edited = before.replace(&s3_host, &s3b).replace(
        "  services:\n",
        &format!(
            "    s4:\n      rule: Host(`{s4}`)\n      service: s4\n      entryPoints:\n      - web\n  services:\n    s4:\n      loadBalancer:\n        servers:\n        - url: http://{}:80\n",
            a.spare_ip
        ),
    );
    let (code, out, err) = apply(&edited, &["--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Traefik has router s4@file"), "{out}");
    assert_eq!(a.file(), before, "a dry run writes nothing");
    let (code, out, err) = apply(&edited, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(a.file(), edited);
    assert_eq!(std::fs::read_to_string(&prev).expect(".previous"), before);
    assert_eq!(get(a.t.web, "/health", &s4).map(|r| r.0), Some(200));
    assert_eq!(get(a.t.web, "/health", &s3b).map(|r| r.0), Some(200));
    assert_eq!(get(a.t.web, "/health", &s3_host).map(|r| r.0), Some(404));

    // An edit Traefik rejects (an entrypoint it does not have) while probes run against every
    // other site: exit 1, the file put back, no request failed.
    let probe = Prober::start(
        a.t.web,
        vec![a.sites[0].1.clone(), a.sites[1].1.clone(), s3b.clone()],
    );
    std::thread::sleep(Duration::from_millis(300));
    let rejected = edited.replacen("      - web\n", "      - nope\n", 1);
    assert_ne!(rejected, edited);
    let (code, out, err) = apply(&rejected, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("put back"), "{err}");
    assert_eq!(a.file(), edited, "the previous file is restored");
    std::thread::sleep(Duration::from_millis(500));
    let (ok, failures) = probe.finish();
    assert!(ok > 30, "only {ok} probe requests went through");
    assert!(
        failures.is_empty(),
        "requests failed during the edit: {failures:?}"
    );
    assert_eq!(get(a.t.web, "/health", &s4).map(|r| r.0), Some(200));

    // Dropping a router needs --yes; from standard input ('-') as well.
    let start = edited.find("    s4:\n      rule").expect("s4 router");
    let end = edited.find("  services:").expect("services");
    let dropped = format!("{}{}", &edited[..start], &edited[end..]);
    let (code, _, err) = apply(&dropped, &[]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("--yes"), "{err}");
    let mut cmd = a.sb.opsdeck();
    cmd.env("OPSDECK_LOCK_DIR", a.sb.path().join("locks"))
        .args(["routes", "apply", "-", "--yes"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("opsdeck runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(dropped.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("opsdeck ends");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(a.file(), dropped);
    assert_eq!(get(a.t.web, "/health", &s4).map(|r| r.0), Some(404));
    let (code, out, _) = a.run(&["history", "--action", "routes_apply"]);
    assert_eq!(code, 0);
    assert!(out.contains("failed") && out.contains("succeeded"), "{out}");
}
