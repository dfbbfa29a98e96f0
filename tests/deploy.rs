//! Deploys and rollbacks against the real engine behind a real reverse proxy (nginx from
//! Debian, balancing over both instances), with a probe sending requests through the proxy
//! the whole time: zero failed requests allowed.

use opsdeck_testkit::{self as common, ssh as ssh_bed};

use common::*;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Counts what a client sees through the proxy while it runs.
struct Probe {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, o, f, v) = (stop.clone(), ok.clone(), failed.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match get(port, "/version") {
                    Some((200, body)) => {
                        o.fetch_add(1, Ordering::Relaxed);
                        let mut v = v.lock().expect("lock");
                        if v.last() != Some(&body) {
                            v.push(body);
                        }
                    }
                    other => {
                        f.fetch_add(1, Ordering::Relaxed);
                        eprintln!("probe failure: {other:?}");
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self {
            stop,
            ok,
            failed,
            seen,
            thread: Some(thread),
        }
    }

    /// Stop and return (ok, failed, versions seen in order).
    fn finish(mut self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let seen = self.seen.lock().expect("lock").clone();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            seen,
        )
    }
}

/// GET `path` through the proxy (the shop's Host).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get(port, path, "shop.test")
}

/// nginx balancing over the two instances (ports `pa`, `pb`) on `proxy_port`, retrying the
/// other instance on errors, as our users' proxies do; returns once the shop answers.
fn start_nginx(sb: &Sandbox, pa: u16, pb: u16, proxy_port: u16) -> Nginx {
    let ngx = sb.path().join("nginx");
    std::fs::create_dir_all(ngx.join("logs")).expect("mkdir");
    std::fs::write(
        ngx.join("nginx.conf"),
        format!(
            "daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  upstream shop {{ server 127.0.0.1:{pa} max_fails=0; server 127.0.0.1:{pb} max_fails=0; }}\n  server {{\n    listen 127.0.0.1:{proxy_port};\n    location / {{\n      proxy_pass http://shop;\n      proxy_connect_timeout 1s;\n      proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;\n      proxy_next_upstream_tries 4;\n    }}\n  }}\n}}\n",
            p = ngx.display()
        ),
    )
    .expect("nginx.conf");
    let child = Command::new("nginx")
        .args(["-p"])
        .arg(&ngx)
        .arg("-c")
        .arg(ngx.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts (scripts/testbed installs it)");
    let nginx = Nginx(child);
    wait_for(
        "the shop to answer through nginx",
        Duration::from_secs(30),
        || matches!(get(proxy_port, "/version"), Some((200, _))).then_some(()),
    );
    nginx
}

// Drop order: the probe's proxy, then the stack, then the sandbox holding their files.
struct Shop {
    _nginx: Nginx,
    _guard: ComposeGuard,
    sb: Sandbox,
    dir: std::path::PathBuf,
    proxy_port: u16,
    project: String,
    /// Extra environment for the binary (SSH config and known_hosts).
    env: Vec<(String, String)>,
}

fn shop() -> Shop {
    shop_on(None)
}

/// The shop on the local host, or on an SSH host (`Some((ssh target, env for the binary))`).
fn shop_on(ssh: Option<&str>) -> Shop {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("dep");
    let dir = sb.path().join("shop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (pa, pb, proxy_port) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: \"2.4\"\nservices:\n  platform-a:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n    ports: [\"127.0.0.1:{pa}:80\"]\n  platform-b:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n    ports: [\"127.0.0.1:{pb}:80\"]\n"
        ),
    )
    .expect("compose");
    std::fs::write(
        dir.join(".env"),
        "# shop settings\nVERSION=v1\nAPI_KEY=keep-me\n",
    )
    .expect(".env");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n{}[apps.shop]\nhost = \"{}\"\ndir = \"{}\"\nproject = \"{project}\"\nservices = [\"platform-a\", \"platform-b\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"20s\" }}\n",
            ssh.map(|t| format!("[hosts.remote]\nssh = \"{t}\"\n")).unwrap_or_default(),
            if ssh.is_some() { "remote" } else { "local" },
            dir.display()
        ),
    );
    let guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    compose(&dir, &project, &["up", "-d"]);
    let nginx = start_nginx(&sb, pa, pb, proxy_port);
    if ssh.is_some() {
        // The SSH user (deploy) works in the app's directory like the owner it is on a server.
        for p in [sb.path(), dir.as_path()] {
            let _ = Command::new("chmod").arg("o+rwx").arg(p).status();
        }
        // Its .env is its own: opsdeck keeps a file's owner, and refuses to change it.
        chown(&dir.join(".env"), "deploy:deploy");
    }
    Shop {
        _nginx: nginx,
        _guard: guard,
        sb,
        dir,
        proxy_port,
        project,
        env: vec![],
    }
}

impl Shop {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.sb.run_locked(&self.env, args)
    }
    fn env(&self) -> String {
        std::fs::read_to_string(self.dir.join(".env")).expect(".env")
    }
    fn images(&self) -> Vec<String> {
        ["platform-a", "platform-b"]
            .iter()
            .map(|s| {
                docker(&[
                    "inspect",
                    "-f",
                    "{{.Config.Image}}",
                    &format!("{}_{s}_1", self.project),
                ])
            })
            .collect()
    }
    fn last_journal(&self) -> serde_json::Value {
        let (_, out, _) = self.run(&["history", "--output", "json", "--limit", "1"]);
        serde_json::from_str::<serde_json::Value>(&out).expect("json")[0].clone()
    }
}

#[test]
fn rolling_deploys_rollbacks_and_failures_never_drop_a_request() {
    let s = shop();
    let mut report = Vec::new();

    // v1 -> v2
    let probe = Probe::start(s.proxy_port);
    let (code, out, err) = s.run(&["deploy", "shop", "--version", "v2"]);
    let (ok, failed, seen) = probe.finish();
    report.push(format!(
        "deploy v1->v2: {ok} ok, {failed} failed, served {seen:?}"
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(failed, 0, "requests failed during the deploy: {report:?}");
    assert!(seen.iter().any(|v| v.contains("v2")), "{seen:?}");
    assert_eq!(
        s.images(),
        ["opsdeck-test/busybox:v2", "opsdeck-test/busybox:v2"]
    );
    assert_eq!(
        s.env(),
        "# shop settings\nVERSION=v2\nAPI_KEY=keep-me\nPREVIOUS_VERSION=v1\n"
    );
    assert!(
        out.find("recreate platform-a") < out.find("recreate platform-b"),
        "one at a time, in order: {out}"
    );

    // A failed deploy to :bad: the old version serves, .env byte-identical, journal failed.
    let before = s.env();
    let probe = Probe::start(s.proxy_port);
    let (code, out, err) = s.run(&["deploy", "shop", "--version", "bad"]);
    let (ok, failed, seen) = probe.finish();
    report.push(format!(
        "failed deploy to bad: {ok} ok, {failed} failed, served {seen:?}"
    ));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("put back"), "{err}");
    assert_eq!(failed, 0, "{report:?}");
    assert_eq!(s.env(), before, ".env untouched");
    assert_eq!(
        s.images(),
        ["opsdeck-test/busybox:v2", "opsdeck-test/busybox:v2"],
        "both back on v2"
    );
    assert!(
        !out.contains("recreate platform-b at bad"),
        "platform-b was never touched: {out}"
    );
    let j = s.last_journal();
    assert_eq!(j["outcome"], "failed");
    assert!(
        j["error"].as_str().is_some_and(|e| e.contains("404")),
        "the last health output is journaled: {j}"
    );
    assert_eq!(
        get(s.proxy_port, "/version").map(|(c, b)| (c, b.contains("v2"))),
        Some((200, true))
    );

    // Rollback to a tag whose image is absent: refused before anything changes.
    let (code, _, err) = s.run(&["rollback", "shop", "--to", "v9-missing", "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(s.env(), before);
    assert_eq!(
        s.images(),
        ["opsdeck-test/busybox:v2", "opsdeck-test/busybox:v2"]
    );

    // Rollback is destructive: --yes required.
    let (code, _, err) = s.run(&["rollback", "shop"]);
    assert_eq!(code, 4, "{err}");

    // v2 -> v1 (the previous version, from .env)
    let probe = Probe::start(s.proxy_port);
    let (code, out, err) = s.run(&["rollback", "shop", "--yes"]);
    let (ok, failed, seen) = probe.finish();
    report.push(format!(
        "rollback v2->v1: {ok} ok, {failed} failed, served {seen:?}"
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(failed, 0, "{report:?}");
    assert_eq!(
        s.images(),
        ["opsdeck-test/busybox:v1", "opsdeck-test/busybox:v1"]
    );
    assert!(
        s.env().contains("VERSION=v1\n") && s.env().contains("PREVIOUS_VERSION=v2"),
        "{}",
        s.env()
    );
    eprintln!("probe counts:\n{}", report.join("\n"));
}

#[test]
fn deploy_input_is_validated_before_anything_runs() {
    let s = shop();
    let before = s.images();
    for bad in ["v1;rm -rf /", "-v", "../x", "a b", ""] {
        let (code, _, err) = s.run(&["deploy", "shop", "--version", bad]);
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
    let (code, _, err) = s.run(&["deploy", "shpo", "--version", "v2"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean: shop"), "{err}");
    // Dry run: the plan, nothing else.
    let (code, out, _) = s.run(&["deploy", "shop", "--version", "v2", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(out.contains("write VERSION=v2 to .env"), "{out}");
    assert_eq!(s.images(), before);
    assert!(s.env().contains("VERSION=v1"));
}

#[test]
fn deploy_over_ssh_works_the_same_and_survives_a_cut_connection() {
    let bed = ssh_bed::Bed::get();
    let sshd = ssh_bed::Sshd::start(&bed, true);
    let mut s = shop_on(Some("tb"));
    s.env = sshd.client_env(&s.sb, &bed);
    let (code, out, err) = s.run(&["hosts", "--host", "remote", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");

    // The same rolling deploy, through SSH.
    let probe = Probe::start(s.proxy_port);
    let (code, out, err) = s.run(&["deploy", "shop", "--version", "v2"]);
    let (ok, failed, _) = probe.finish();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(failed, 0, "{ok} ok, {failed} failed");
    assert_eq!(
        s.images(),
        ["opsdeck-test/busybox:v2", "opsdeck-test/busybox:v2"]
    );
    assert!(s.env().contains("VERSION=v2\n"));

    // Cut every SSH session while a deploy runs.
    let before = s.env();
    let mut child =
        s.sb.opsdeck()
            .env("OPSDECK_LOCK_DIR", s.sb.path().join("locks"))
            .envs(s.env.iter().map(|(k, v)| (k, v)))
            .env_remove("SSH_AUTH_SOCK")
            .args(["deploy", "shop", "--version", "v1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
    // Wait for the first recreate to start (the sessions are busy), then cut.
    wait_for(
        "the deploy to start recreating",
        Duration::from_secs(30),
        || (s.images()[0] != "opsdeck-test/busybox:v2" || sshd.sessions().len() > 2).then_some(()),
    );
    std::thread::sleep(Duration::from_millis(300));
    let cut = sshd.cut_sessions();
    assert!(cut > 0, "there were sessions to cut");
    let status = wait_for("the deploy to end", Duration::from_secs(180), || {
        child.try_wait().ok().flatten()
    });
    let after = s.env();
    // Never half-written: either untouched, or the whole new version.
    let whole_new = after.contains("VERSION=v1\n") && after.contains("PREVIOUS_VERSION=v2");
    assert!(
        after == before || whole_new,
        "half-written .env after a cut (exit {status:?}):\n{after}"
    );
    // The lock is released (or clearly stale), and the next deploy proceeds.
    let (_, lock, _) = s.run(&["lock", "status", "shop"]);
    assert!(
        lock.contains("not locked") || lock.contains("STALE"),
        "{lock}"
    );
    if lock.contains("STALE") {
        let (code, _, err) = s.run(&["lock", "release", "shop", "--yes"]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = s.run(&["deploy", "shop", "--version", "v1"]);
    assert_eq!(code, 0, "after the cut: {out}{err}");
    assert_eq!(
        s.images(),
        ["opsdeck-test/busybox:v1", "opsdeck-test/busybox:v1"]
    );
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=opsdeck test",
            "-c",
            "user.email=test@opsdeck.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Push a new commit of the site upstream: `version` served at /version; `healthy` false drops
/// /health from the image (its health check never passes).
fn push_version(upstream: &std::path::Path, version: &str, healthy: bool) -> String {
    std::fs::write(upstream.join("www/version"), version).expect("version");
    std::fs::write(
        upstream.join("Dockerfile"),
        format!(
            "FROM opsdeck-test/busybox:v1\nCOPY www/ /www/\n{}",
            if healthy { "" } else { "RUN rm /www/health\n" }
        ),
    )
    .expect("Dockerfile");
    git(upstream, &["add", "-A"]);
    git(upstream, &["commit", "-qm", &format!("site {version}")]);
    git(upstream, &["push", "-q", "origin", "HEAD:main"]);
    git(upstream, &["rev-parse", "HEAD"])
}

#[test]
fn git_deploys_build_and_roll_one_service_at_a_time_and_a_failure_puts_back_tree_and_image() {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("gdep");
    let (pa, pb, proxy_port) = (free_port(), free_port(), free_port());
    // origin (bare), the app's checkout on the host (dir), and a developer's clone (upstream).
    let origin = sb.path().join("origin.git");
    let upstream = sb.path().join("upstream");
    let dir = sb.path().join("shop");
    std::fs::create_dir_all(&origin).expect("mkdir");
    git(&origin, &["init", "-q", "--bare", "-b", "main"]);
    std::fs::create_dir_all(upstream.join("www")).expect("mkdir");
    git(&upstream, &["init", "-q", "-b", "main"]);
    git(
        &upstream,
        &["remote", "add", "origin", origin.to_str().expect("utf-8")],
    );
    std::fs::write(
        upstream.join("docker-compose.yml"),
        format!(
            "version: \"2.4\"\nservices:\n  platform-a:\n    build: .\n    ports: [\"127.0.0.1:{pa}:80\"]\n  platform-b:\n    build: .\n    ports: [\"127.0.0.1:{pb}:80\"]\n"
        ),
    )
    .expect("compose");
    std::fs::write(upstream.join(".gitignore"), ".env\n").expect(".gitignore");
    let g1 = push_version(&upstream, "g1", true);
    git(
        sb.path(),
        &[
            "clone",
            "-q",
            "-b",
            "main",
            origin.to_str().expect("utf-8"),
            "shop",
        ],
    );
    std::fs::write(dir.join(".env"), "API_KEY=keep-me\n").expect(".env");
    let _guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    let up = compose(&dir, &project, &["up", "-d", "--build"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.shop]\nhost = \"local\"\ndir = \"{}\"\nproject = \"{project}\"\nservices = [\"platform-a\", \"platform-b\"]\ndeploy = \"git\"\nhealth = {{ path = \"/health\", port = 80, timeout = \"20s\" }}\n",
            dir.display()
        ),
    );
    let _nginx = start_nginx(&sb, pa, pb, proxy_port);
    let run = |args: &[&str]| {
        let o = sb
            .opsdeck()
            .env("OPSDECK_LOCK_DIR", sb.path().join("locks"))
            .args(args)
            .output()
            .expect("runs");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let image_ids = || -> Vec<String> {
        ["platform-a", "platform-b"]
            .iter()
            .map(|s| docker(&["inspect", "-f", "{{.Image}}", &format!("{project}_{s}_1")]))
            .collect()
    };
    let mut report = Vec::new();
    assert_eq!(get(proxy_port, "/version").map(|r| r.1), Some("g1".into()));

    // g1 -> g2: pulled, built, rolled one at a time; nothing dropped.
    let g2 = push_version(&upstream, "g2", true);
    let probe = Probe::start(proxy_port);
    let (code, out, err) = run(&["deploy", "shop"]);
    let (ok, failed, seen) = probe.finish();
    report.push(format!(
        "git deploy g1->g2: {ok} ok, {failed} failed, served {seen:?}"
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(failed, 0, "{report:?}");
    assert!(
        out.contains(&format!("{} -> {}", &g1[..7], &g2[..7])),
        "the old and new commits are reported: {out}"
    );
    assert!(
        out.find("recreate platform-a") < out.find("recreate platform-b"),
        "{out}"
    );
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), g2);
    assert_eq!(get(proxy_port, "/version").map(|r| r.1), Some("g2".into()));
    assert!(seen.contains(&"g2".to_string()), "{seen:?}");
    let g2_images = image_ids();
    assert_eq!(
        std::fs::read_to_string(dir.join(".env")).expect(".env"),
        "API_KEY=keep-me\n"
    );

    // g3 has no /health: platform-a never gets healthy. The deploy fails, platform-a is put
    // back on the g2 image, platform-b is never touched, the tree is back at g2.
    let g3 = push_version(&upstream, "g3", false);
    let probe = Probe::start(proxy_port);
    let (code, out, err) = run(&["deploy", "shop"]);
    let (ok, failed, seen) = probe.finish();
    report.push(format!(
        "failed git deploy to g3: {ok} ok, {failed} failed, served {seen:?}"
    ));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("put back"), "{err}");
    assert_eq!(failed, 0, "{report:?}");
    assert!(
        !out.contains("recreate platform-b"),
        "platform-b untouched: {out}"
    );
    assert_eq!(
        git(&dir, &["rev-parse", "HEAD"]),
        g2,
        "the tree is back at g2"
    );
    assert_ne!(g3, g2);
    assert_eq!(image_ids(), g2_images, "both run the g2 build again");
    assert_eq!(get(proxy_port, "/version").map(|r| r.1), Some("g2".into()));
    let (_, hist, _) = run(&["history", "--output", "json", "--limit", "1"]);
    let j: serde_json::Value = serde_json::from_str(&hist).expect("json");
    assert_eq!(j[0]["outcome"], "failed", "{j}");
    eprintln!("probe counts:\n{}", report.join("\n"));
    // The kept images are ours to remove.
    for s in ["platform-a", "platform-b"] {
        let _ = Command::new("docker")
            .args(["rmi", &format!("opsdeck-keep/{project}-{s}:previous")])
            .output();
    }
}
