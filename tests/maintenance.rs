//! Maintenance mode against a real Traefik (file provider and Docker provider) and real
//! busybox sites: `on` puts a 503 page with the message in front of an app routed by its
//! container's labels and of one routed by the routes file, proven through the entrypoint;
//! `off` brings each back; a dry run changes nothing; a proof that fails puts everything back;
//! `restore --maintenance` shows the page around a restore and takes it away after, also when
//! the restore fails.

use opsdeck_testkit::{self as common, pg as pgbed, traefik};

use common::*;
use std::time::Duration;
use traefik::*;

/// A host with a Traefik, two apps and their sites: `lapp` routed by its container's labels
/// (no domains in the inventory), `fapp` routed by the routes file (its domain listed).
struct Bed {
    t: Traefik,
    sb: Sandbox,
    _sites: Vec<ContainerGuard>,
    _maint: Vec<ContainerGuard>,
    lapp: String,
    fapp: String,
    lhost: String,
    fhost: String,
}

impl Bed {
    fn file(&self) -> String {
        std::fs::read_to_string(self.t.routes_file()).expect("routes file")
    }

    fn status_of(&self, host: &str) -> Option<u16> {
        get(self.t.web, "/health", host).map(|r| r.0)
    }

    fn maint_container(&self, app: &str) -> bool {
        let out = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("name=^opsdeck-maint-{app}$"))
            .output()
            .expect("docker ps");
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    }
}

/// A site container that is part of compose project `project`.
fn project_site(name: &str, project: &str, labels: &[String]) -> (ContainerGuard, String) {
    let mut all = labels.to_vec();
    all.push(format!("com.docker.compose.project={project}"));
    site(name, &all, &[])
}

fn bed(extra: &str, network: Option<&str>) -> Bed {
    require_docker();
    let sb = Sandbox::new();
    let u = unique("m");
    let lapp = format!("{u}-l");
    let fapp = format!("{u}-f");
    let lhost = format!("l.{u}.test");
    let fhost = format!("f.{u}.test");
    let (gf, ipf) = project_site(&format!("{u}-fsite"), &format!("{u}-fproj"), &[]);
    let t = Traefik::start(sb.path(), &file_routes(&[("fsite", &fhost, &ipf)]));
    let (gl, _) = project_site(
        &format!("{u}-lsite"),
        &format!("{u}-lproj"),
        &route_labels(&t, "lsite", &lhost),
    );
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n{}maintenance_image = \"{}\"\n[apps.{lapp}]\nhost = \"local\"\ndir = \"/nonexistent/{lapp}\"\nproject = \"{u}-lproj\"\n[apps.{fapp}]\nhost = \"local\"\ndir = \"/nonexistent/{fapp}\"\nproject = \"{u}-fproj\"\ndomains = [\"{fhost}\"]\n{extra}",
            t.proxy_toml("local", network),
            testbed_var("OPSDECK_TB_IMAGE_V1"),
        ),
    );
    t.wait_answers(&lhost, 200);
    t.wait_answers(&fhost, 200);
    Bed {
        _maint: vec![
            ContainerGuard(format!("opsdeck-maint-{lapp}")),
            ContainerGuard(format!("opsdeck-maint-{fapp}")),
        ],
        t,
        sb,
        _sites: vec![gf, gl],
        lapp,
        fapp,
        lhost,
        fhost,
    }
}

#[test]
fn on_shows_the_page_through_traefik_and_off_brings_each_app_back() {
    let b = bed("", None);
    let before = b.file();
    // A dry run prints the plan and changes nothing.
    let (code, out, err) = b.sb.run(&["maintenance", &b.lapp, "on", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("answers 503 with the maintenance page"),
        "{out}"
    );
    assert_eq!(b.file(), before);
    assert!(!b.maint_container(&b.lapp));
    assert_eq!(b.status_of(&b.lhost), Some(200));

    // On, for the label-routed app: every path through Traefik is the 503 page.
    let (code, out, err) = b.sb.run(&[
        "maintenance",
        &b.lapp,
        "on",
        "--message",
        "Back at five <soon> $(touch /tmp/opsdeck-pwned) `id` 'q' \"d\"",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for path in ["/", "/health", "/orders/7"] {
        let (status, body) = get(b.t.web, path, &b.lhost).expect("an answer");
        assert_eq!(status, 503, "{path}: {body}");
        assert!(
            body.contains("Back at five &lt;soon&gt; $(touch /tmp/opsdeck-pwned) `id` &#39;q&#39; &quot;d&quot;"),
            "{path}: {body}"
        );
    }
    // The message is data: nothing in it ran in the container.
    let ran = std::process::Command::new("docker")
        .args([
            "exec",
            &format!("opsdeck-maint-{}", b.lapp),
            "ls",
            "/tmp/opsdeck-pwned",
        ])
        .output()
        .expect("docker exec");
    assert!(!ran.status.success(), "the message ran as a command");
    assert_eq!(
        b.status_of(&b.fhost),
        Some(200),
        "the other app is untouched"
    );
    assert!(b.file().contains(&format!("opsdeck-maint-r0-{}", b.lapp)));
    // Twice is refused, nothing changed.
    let mid = b.file();
    let (code, _, err) = b.sb.run(&["maintenance", &b.lapp, "on"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already in maintenance"), "{err}");
    assert_eq!(b.file(), mid);
    // `status` says so.
    let (code, v) = b.sb.json(&["status", &b.lapp]);
    assert_eq!(code, 0, "{v}");
    let m = &v[0]["maintenance"];
    assert_eq!(m[0]["app"], b.lapp.as_str(), "{v}");
    assert_eq!(
        m[0]["message"], "Back at five <soon> $(touch /tmp/opsdeck-pwned) `id` 'q' \"d\"",
        "{v}"
    );

    // On, for the file-routed app (default message).
    let (code, out, err) = b.sb.run(&["maintenance", &b.fapp, "on"]);
    assert_eq!(code, 0, "{out}{err}");
    let (status, body) = get(b.t.web, "/", &b.fhost).expect("an answer");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("down for maintenance"), "{body}");

    // Off: each app is served again, its container gone, its routers out of the file.
    for (app, host) in [(&b.lapp, &b.lhost), (&b.fapp, &b.fhost)] {
        let (code, out, err) = b.sb.run(&["maintenance", app, "off"]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(b.status_of(host), Some(200), "{app}");
        assert!(!b.maint_container(app), "{app}");
        assert!(!b.file().contains(&format!("-{app}")), "{}", b.file());
    }
    assert!(!b.file().contains("opsdeck-maint"), "{}", b.file());
    let (code, _, err) = b.sb.run(&["maintenance", &b.lapp, "off"]);
    assert_eq!(code, 2, "not in maintenance: {err}");
    let (_, v) = b.sb.json(&["status", &b.lapp]);
    assert_eq!(v[0]["maintenance"], serde_json::json!([]), "{v}");
    let (_, v) = b.sb.json(&["history", &b.lapp]);
    assert!(v.to_string().contains("maintenance_off"), "{v}");
}

#[test]
fn a_proof_that_fails_puts_the_routes_and_the_container_back() {
    // The proxy's entrypoint (web) is not one this app's router listens on: the page can
    // never be proven there, so `on` must undo itself.
    let b = bed("", None);
    let u = unique("w");
    let host = format!("w.{u}.test");
    let labels: Vec<String> = route_labels(&b.t, "wsite", &host)
        .into_iter()
        .map(|l| l.replace("entrypoints=web", "entrypoints=websecure"))
        .collect();
    let (_g, _) = project_site(&format!("{u}-wsite"), &format!("{u}-wproj"), &labels);
    let app = format!("{u}-w");
    let _m = ContainerGuard(format!("opsdeck-maint-{app}"));
    let cfg = std::fs::read_to_string(b.sb.path().join("opsdeck.toml")).expect("cfg");
    b.sb.write(
        "opsdeck.toml",
        &format!("{cfg}[apps.{app}]\nhost = \"local\"\ndir = \"/nonexistent/{app}\"\nproject = \"{u}-wproj\"\n"),
    );
    // Traefik has the label router before opsdeck plans from it.
    wait_for("the websecure router", Duration::from_secs(60), || {
        get(b.t.api, "/api/http/routers/wsite@docker", "127.0.0.1")
            .filter(|r| r.0 == 200)
            .map(|_| ())
    });
    let before = b.file();
    let (code, out, err) = b.sb.run(&["maintenance", &app, "on"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("did not show the maintenance page"), "{err}");
    assert!(err.contains("put back"), "{err}");
    assert_eq!(b.file(), before, "the routes file is as it was");
    assert!(!b.maint_container(&app), "the container was removed");
    assert_eq!(
        b.status_of(&b.fhost),
        Some(200),
        "the other routes still answer"
    );
}

#[test]
fn restore_with_maintenance_shows_the_page_around_the_swap_and_takes_it_away() {
    let pg = pgbed::pg();
    let store = tempfile::tempdir().expect("tmp");
    let extra = format!(
        "[databases.shopdb]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\nbackup_to = \"local\"\napps = [\"APP\"]\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n",
        pg.name,
        store.path().display()
    );
    let b = bed(&extra, None);
    let cfg = std::fs::read_to_string(b.sb.path().join("opsdeck.toml")).expect("cfg");
    b.sb.write(
        "opsdeck.toml",
        &cfg.replace("\"APP\"", &format!("\"{}\"", b.lapp)),
    );
    let before = b.file();
    let (code, _, err) = b.sb.run(&["backup", "shopdb"]);
    assert_eq!(code, 0, "{err}");
    let (_, list) = b.sb.json(&["backups", "shopdb"]);
    let id = list[0]["id"].as_str().expect("id").to_string();

    // The plan: maintenance on before the restore, off after it.
    let (code, out, err) =
        b.sb.run(&["restore", "shopdb", &id, "--maintenance", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    let on = out
        .find("answers 503 with the maintenance page")
        .expect("on in the plan");
    let restore = out.find("swap it in").expect("the restore in the plan");
    let off = out
        .find("without the maintenance routers")
        .expect("off in the plan");
    assert!(on < restore && restore < off, "{out}");

    let (code, out, err) = b.sb.run(&[
        "restore",
        "shopdb",
        &id,
        "--maintenance",
        "--yes",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let done: Vec<String> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "step_done")
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    let pos = |s: &str| {
        done.iter()
            .position(|n| n.contains(s))
            .unwrap_or_else(|| panic!("{s} in {done:?}"))
    };
    assert!(pos("maintenance page") < pos("swap it in"), "{done:?}");
    assert!(
        pos("swap it in") < pos("serves") && pos("serves") < pos("remove the maintenance"),
        "{done:?}"
    );
    assert_eq!(b.status_of(&b.lhost), Some(200));
    assert!(!b.maint_container(&b.lapp));
    assert!(!b.file().contains("opsdeck-maint"), "{}", b.file());
    let _ = before;

    // A restore that fails (no such backup) after maintenance went on: taken off again.
    let (code, out, err) = b.sb.run(&[
        "restore",
        "shopdb",
        "shopdb-19990101T000000000Z",
        "--maintenance",
        "--yes",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("put back"), "{err}");
    assert_eq!(b.status_of(&b.lhost), Some(200));
    assert!(!b.maint_container(&b.lapp));
    assert!(!b.file().contains("opsdeck-maint"), "{}", b.file());
}

#[test]
fn a_host_behind_nginx_or_caddy_is_refused_naming_what_is_supported() {
    require_docker();
    let sb = Sandbox::new();
    for kind in ["nginx", "caddy"] {
        sb.write(
            "opsdeck.toml",
            &format!("[hosts.local]\n[hosts.local.proxy]\nkind = \"{kind}\"\n[apps.web]\nhost = \"local\"\ndir = \"/nonexistent/web\"\nproject = \"opsdeck-test-none\"\ndomains = [\"web.test\"]\n"),
        );
        let (code, out, err) = sb.run(&["maintenance", "web", "on"]);
        assert_eq!(code, 2, "{kind}: {out}{err}");
        assert!(
            err.contains(&format!("proxy is {kind}")) && err.contains("supports Traefik only"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Removes a Docker network when dropped.
struct NetworkGuard(String);

impl Drop for NetworkGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

#[test]
fn the_page_runs_on_the_proxys_network_when_the_host_names_one() {
    require_docker();
    let net = unique("net");
    docker(&["network", "create", &net]);
    let _n = NetworkGuard(net.clone());
    let b = bed("", Some(&net));
    let (code, out, err) =
        b.sb.run(&["maintenance", &b.fapp, "on", "--message", "Moving house"]);
    assert_eq!(code, 0, "{out}{err}");
    let nets = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &format!("opsdeck-maint-{}", b.fapp),
    ]);
    assert_eq!(nets.trim(), net, "attached to the proxy's network only");
    let (status, body) = get(b.t.web, "/", &b.fhost).expect("an answer");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Moving house"), "{body}");
    let (code, out, err) = b.sb.run(&["maintenance", &b.fapp, "off"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(b.status_of(&b.fhost), Some(200));
    assert!(!b.maint_container(&b.fapp));
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
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

/// A test CA in `dir` and a certificate it signed for `name` (`site.crt`, `site.key`).
fn pki(dir: &std::path::Path, name: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    openssl(
        dir,
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
            "2",
            "-subj",
            "/CN=opsdeck test CA",
        ],
    );
    std::fs::write(
        dir.join("site.cnf"),
        format!(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {name}\n[leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:{name}\n"
        ),
    )
    .expect("cnf");
    openssl(
        dir,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "site.key", "-out",
            "site.csr", "-config", "site.cnf",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "site.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "site.cnf",
            "-extensions",
            "leaf",
            "-out",
            "site.crt",
        ],
    );
}

/// GET / over HTTPS through Traefik's TLS entrypoint with SNI and Host `host`: the status.
fn https_status(port: u16, host: &str, ca: &std::path::Path) -> String {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg("--cacert")
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("https://{host}:{port}/"))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_tls_router_without_a_resolver_gets_a_tls_maintenance_router() {
    // The app's labels say `tls=true` (the certificate comes from the file provider, no
    // resolver): the maintenance copy must terminate TLS too, or HTTPS visitors keep reaching
    // the app. Proven over HTTPS, with SNI, through the TLS entrypoint.
    require_docker();
    let sb = Sandbox::new();
    let u = unique("s");
    let host = format!("s.{u}.test");
    let dir = sb.path().join("pki");
    pki(&dir, &host);
    let t = Traefik::start(sb.path(), "{}\n");
    std::fs::write(
        t.dir.join("tls.yml"),
        format!(
            "tls:\n  certificates:\n    - certFile: {p}/site.crt\n      keyFile: {p}/site.key\n",
            p = dir.display()
        ),
    )
    .expect("tls.yml");
    let labels: Vec<String> = route_labels(&t, "ssite", &host)
        .into_iter()
        .map(|l| l.replace("entrypoints=web", "entrypoints=websecure"))
        .chain(["traefik.http.routers.ssite.tls=true".to_string()])
        .collect();
    let (_g, _) = project_site(&format!("{u}-ssite"), &format!("{u}-sproj"), &labels);
    let app = format!("{u}-s");
    let _m = ContainerGuard(format!("opsdeck-maint-{app}"));
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[hosts.local.proxy]\nkind = \"traefik\"\nroutes_file = \"{}\"\napi = \"http://127.0.0.1:{}\"\nentrypoint = \"https://127.0.0.1:{}\"\nmaintenance_image = \"{}\"\n[apps.{app}]\nhost = \"local\"\ndir = \"/nonexistent/{app}\"\nproject = \"{u}-sproj\"\n",
            t.routes_file().display(),
            t.api,
            t.websecure,
            testbed_var("OPSDECK_TB_IMAGE_V1"),
        ),
    );
    let ca = dir.join("ca.crt");
    wait_for("the app over HTTPS", Duration::from_secs(60), || {
        (https_status(t.websecure, &host, &ca) == "200").then_some(())
    });
    let run = |args: &[&str]| {
        outcome(
            sb.opsdeck()
                .env("SSL_CERT_FILE", &ca)
                .env("OPSDECK_RESOLVE", format!("{host}:127.0.0.1"))
                .args(args)
                .output()
                .expect("opsdeck runs"),
        )
    };
    let (code, out, err) = run(&["maintenance", &app, "on"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(https_status(t.websecure, &host, &ca), "503");
    let (code, out, err) = run(&["maintenance", &app, "off"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(https_status(t.websecure, &host, &ca), "200");
}
