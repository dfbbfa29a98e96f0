//! `opsdeck watch` against the real engine, with real receivers on loopback: an HTTP server
//! that takes the webhook, Slack, ntfy and Telegram posts (Telegram's API base pointed at it),
//! and aiosmtpd (from the test bed) taking email over STARTTLS. A compose service whose
//! health check we break and mend: exactly one alert per receiver when it turns unhealthy,
//! none again while it stays so, none while the app's lock is held by a running opsdeck
//! action, one recovery when it heals. Uptime and metrics from the same runs.

use opsdeck_testkit as common;

use common::stack::Stack;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Post {
    path: String,
    headers: String,
    body: String,
}

/// A real HTTP server on loopback that records every request and answers 200.
struct Receiver {
    port: u16,
    posts: Arc<Mutex<Vec<Post>>>,
}

impl Receiver {
    fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let p = posts.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let mut first = String::new();
                if r.read_line(&mut first).is_err() {
                    continue;
                }
                let mut headers = String::new();
                let mut len = 0usize;
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                        break;
                    }
                    if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    headers.push_str(&l);
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                p.lock().expect("lock").push(Post {
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        Self { port, posts }
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().expect("lock").clone()
    }
}

/// aiosmtpd with STARTTLS (the test bed CA's certificate for 127.0.0.1), printing each
/// message it takes to its stdout, which a thread collects.
struct Smtp {
    port: u16,
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Smtp {
    fn start() -> Self {
        let port = free_port();
        let mut child = Command::new(testbed_var("OPSDECK_TB_PYTHON"))
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "--tlscert",
                &testbed_var("OPSDECK_TB_SMTP_CERT"),
                "--tlskey",
                &testbed_var("OPSDECK_TB_SMTP_KEY"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let out = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().expect("stdout");
        let o = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock()
                    .expect("lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        wait_for("aiosmtpd to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Self { port, child, out }
    }

    fn text(&self) -> String {
        self.out.lock().expect("lock").clone()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn health(container: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Health.Status}}", container])
        .trim()
        .to_string()
}

fn count(posts: &[Post], path: &str, status: &str) -> usize {
    posts
        .iter()
        .filter(|p| p.path.starts_with(path))
        .filter(|p| p.body.contains(status) || p.headers.contains(status))
        .count()
}

#[test]
fn an_unhealthy_container_alerts_once_per_receiver_is_muted_by_a_lock_and_recovers_once() {
    require_docker();
    let sb = Sandbox::new();
    let rx = Receiver::start();
    let smtp = Smtp::start();
    let project = unique("watch");
    let dir = sb.path().join("shop");
    let _guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    // The project is named in .env, as users do; the health check is ours to break.
    let stack = Stack::up(
        &dir,
        &project,
        &[
            (
                "docker-compose.yml",
                "services:\n  web:\n    image: opsdeck-test/busybox:v1\n    command: [\"sh\", \"-c\", \"touch /tmp/ok; exec sleep 100000\"]\n    healthcheck:\n      test: [\"CMD\", \"test\", \"-f\", \"/tmp/ok\"]\n      interval: 1s\n      timeout: 2s\n      retries: 1\n".to_string(),
            ),
            (".env", format!("COMPOSE_PROJECT_NAME={project}\n")),
        ],
    );
    stack.wait_healthy(&["web"]);
    let web = stack.container("web");
    let base = format!("http://127.0.0.1:{}", rx.port);
    sb.write(
        "opsdeck.toml",
        &format!(
            r#"[hosts.local]
[apps.shop]
host = "local"
dir = "{dir}"
services = ["web"]

[checks.receiver]
url = "{base}/health"
every = "1s"

[alerts.hook]
kind = "webhook"
url_env = "HOOK_URL"

[alerts.chat]
kind = "slack"
url = "{base}/slack/T000/B000"

[alerts.push]
kind = "ntfy"
url = "{base}/ntfy/ops"

[alerts.tg]
kind = "telegram"
token_env = "TG_TOKEN"
chat_id = "42"
api = "{base}/tg"

[alerts.mail]
kind = "email"
smtp = "127.0.0.1:{smtp}"
from = "opsdeck@example.com"
to = ["ops@example.com"]
"#,
            dir = dir.display(),
            smtp = smtp.port,
        ),
    );
    let token = "123456:secret-bot-token";
    let env = vec![
        ("HOOK_URL".to_string(), format!("{base}/hook")),
        ("TG_TOKEN".to_string(), token.to_string()),
        (
            "SSL_CERT_FILE".to_string(),
            testbed_var("OPSDECK_TB_REGISTRY_CA"),
        ),
    ];
    let watch = |extra: &[&str]| {
        let mut args = vec!["watch", "--once"];
        args.extend(extra);
        sb.run_env(&env, &args)
    };

    // Healthy: nothing to say, exit 0.
    let (code, out, err) = watch(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let alerts_only = |posts: Vec<Post>| -> Vec<Post> {
        posts.into_iter().filter(|p| p.path != "/health").collect()
    };
    assert!(alerts_only(rx.posts()).is_empty(), "{:?}", rx.posts());

    // Broken: one alert per receiver, and exit 1.
    docker(&["exec", &web, "rm", "/tmp/ok"]);
    wait_for("web to turn unhealthy", Duration::from_secs(30), || {
        (health(&web) == "unhealthy").then_some(())
    });
    let (code, out, err) = watch(&[]);
    assert_eq!(code, 1, "{out}\n{err}");
    let subject = format!("health:local/{project}/web");
    assert!(out.contains(&format!("FIRING {subject}")), "{out}");
    let posts = alerts_only(rx.posts());
    for path in ["/hook", "/slack/T000/B000", "/ntfy/ops", "/tg/bot"] {
        assert_eq!(
            count(&posts, path, "firing") + count(&posts, path, "FIRING"),
            1,
            "{path}: {posts:?}"
        );
    }
    let hook = posts
        .iter()
        .find(|p| p.path == "/hook")
        .expect("webhook post");
    let v: serde_json::Value = serde_json::from_str(&hook.body).expect("webhook JSON");
    assert_eq!(v["status"], "firing");
    assert_eq!(v["subject"], subject.as_str());
    assert_eq!(
        v["app"], "shop",
        "the container is the app's (project from .env)"
    );
    let tg = posts
        .iter()
        .find(|p| p.path.starts_with("/tg/"))
        .expect("telegram post");
    assert_eq!(tg.path, format!("/tg/bot{token}/sendMessage"));
    let tg_body: serde_json::Value = serde_json::from_str(&tg.body).expect("telegram JSON");
    assert_eq!(tg_body["chat_id"], "42");
    let ntfy = posts
        .iter()
        .find(|p| p.path == "/ntfy/ops")
        .expect("ntfy post");
    assert!(
        ntfy.headers.contains(&format!("FIRING {subject}")),
        "{ntfy:?}"
    );
    wait_for("the email", Duration::from_secs(10), || {
        smtp.text()
            .contains(&format!("FIRING {subject}"))
            .then_some(())
    });
    assert!(
        !out.contains(token) && !err.contains(token),
        "the bot token is never printed"
    );

    // Still broken: no second alert (de-duplicated), still exit 1.
    let (code, out, _) = watch(&[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        alerts_only(rx.posts()).len(),
        posts.len(),
        "no new alert: {out}"
    );

    // Healed: one recovery per receiver, exit 0.
    docker(&["exec", &web, "touch", "/tmp/ok"]);
    stack.wait_healthy(&["web"]);
    let (code, out, err) = watch(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let posts = alerts_only(rx.posts());
    for path in ["/hook", "/slack/T000/B000", "/ntfy/ops", "/tg/bot"] {
        assert_eq!(
            count(&posts, path, "resolved") + count(&posts, path, "RESOLVED"),
            1,
            "{path}: {posts:?}"
        );
    }
    wait_for("the recovery email", Duration::from_secs(10), || {
        smtp.text()
            .contains(&format!("RESOLVED {subject}"))
            .then_some(())
    });

    // While a running opsdeck action holds the app's lock, a failure is not counted.
    let mut holder = sb
        .opsdeck_env(&env)
        .args(["exec", "shop/web", "--", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for("the lock to be taken", Duration::from_secs(20), || {
        let (_, out, _) = sb.run(&["lock", "status", "shop"]);
        out.contains("locked by").then_some(())
    });
    docker(&["exec", &web, "rm", "/tmp/ok"]);
    wait_for("web to turn unhealthy", Duration::from_secs(30), || {
        (health(&web) == "unhealthy").then_some(())
    });
    let before = alerts_only(rx.posts()).len();
    let (code, out, err) = watch(&[]);
    assert_eq!(code, 0, "muted, nothing fired: {out}\n{err}");
    assert!(out.contains(&format!("muted {subject}")), "{out}");
    assert_eq!(
        alerts_only(rx.posts()).len(),
        before,
        "no alert while the lock is held"
    );
    let _ = holder.kill();
    let _ = holder.wait();
    docker(&["exec", &web, "touch", "/tmp/ok"]);

    // Every send is in the journal.
    let (code, out, err) = sb.run(&["history", "--action", "alert", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("history JSON");
    let sent = v.as_array().expect("list").len();
    assert_eq!(sent, 10, "5 alerts, 5 recoveries: {out}");
    assert!(!out.contains(token), "no token in the journal");

    // Uptime: the receiver check answered every time.
    let (code, out, err) = sb.run(&["uptime", "receiver", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("uptime JSON");
    assert_eq!(v[0]["check"], "receiver");
    assert_eq!(v[0]["percent_24h"], 100.0, "{out}");
    assert!(v[0]["day"]["up"].as_u64().unwrap_or(0) >= 4, "{out}");
}

#[test]
fn metrics_are_prometheus_text_and_sigterm_stops_the_watcher_with_exit_0() {
    require_docker();
    let sb = Sandbox::new();
    let rx = Receiver::start();
    let name = unique("metrics");
    let _c = ContainerGuard(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "opsdeck-test/busybox:v1",
        "sleep",
        "100000",
    ]);
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[checks.up]\nurl = \"http://127.0.0.1:{}/health\"\nevery = \"1s\"\n[checks.down]\nurl = \"http://127.0.0.1:1/\"\nevery = \"1s\"\n",
            rx.port
        ),
    );
    let port = free_port();
    let mut child = sb
        .opsdeck()
        .args(["watch", "--metrics", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch starts");
    let page = wait_for("metrics with both checks", Duration::from_secs(30), || {
        let (status, body) = http_get(port, "/metrics", "127.0.0.1")?;
        (status == 200 && body.contains("opsdeck_check_up{check=\"down\"}")).then_some(body)
    });
    // Parsed as Prometheus' text format: each sample `name{labels} value`, each family
    // announced by HELP and TYPE before its samples.
    let mut typed = std::collections::HashSet::new();
    let mut samples = std::collections::HashMap::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let name = it.next().expect("name");
            assert!(matches!(it.next(), Some("gauge" | "counter")), "{line}");
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = series.split('{').next().expect("name");
        assert!(typed.contains(name), "{name} sampled before its TYPE");
        if series.contains('{') {
            assert!(series.ends_with('}'), "{line}");
        }
        samples.insert(series.to_string(), value);
    }
    assert_eq!(
        samples.get("opsdeck_check_up{check=\"up\"}"),
        Some(&1.0),
        "{page}"
    );
    assert_eq!(
        samples.get("opsdeck_check_up{check=\"down\"}"),
        Some(&0.0),
        "{page}"
    );
    assert!(
        samples
            .keys()
            .any(|k| k.starts_with("opsdeck_host_disk_total_bytes{host=\"local\"}")),
        "{page}"
    );
    assert!(
        samples
            .iter()
            .any(|(k, v)| k.starts_with("opsdeck_container_running{")
                && k.contains(&name)
                && *v == 1.0),
        "{page}"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let status = wait_for("watch to stop", Duration::from_secs(20), || {
        child.try_wait().ok().flatten()
    });
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM stops the watcher with exit 0"
    );
}

#[test]
fn bad_alert_settings_are_refused_before_anything_runs() {
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[alerts.tg]\nkind = \"telegram\"\nchat_id = \"1\"\n[databases.x]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"pg\"\nbackup_to = \"d\"\nschedule = \"0 25 * * *\"\n[storage.d]\nkind = \"dir\"\npath = \"/tmp\"\n",
    );
    let (code, _, err) = sb.run(&["watch", "--once"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("alerts.tg.token_env"), "{err}");
    assert!(err.contains("databases.x.schedule"), "{err}");
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[alerts.hook]\nkind = \"webhook\"\nurl_env = \"OPSDECK_TEST_UNSET_HOOK\"\n",
    );
    let (code, _, err) = sb.run(&["watch", "--once"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("OPSDECK_TEST_UNSET_HOOK") && err.contains("not set"),
        "{err}"
    );
}

fn backups(sb: &Sandbox) -> Vec<serde_json::Value> {
    let (code, v) = sb.json(&["backups", "shopdb"]);
    assert_eq!(code, 0, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

#[test]
fn schedules_run_backups_and_verifications_and_a_missed_run_once_on_start() {
    use opsdeck_testkit::pg as pgbed;
    let pg = pgbed::pg();
    let store = tempfile::tempdir().expect("tmp");
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shopdb]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\nbackup_to = \"local\"\nschedule = \"* * * * *\"\nverify_schedule = \"* * * * *\"\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n",
            pg.name,
            store.path().display()
        ),
    );
    // The first run starts the clocks: nothing was missed yet.
    let (code, out, err) = sb.run(&["watch", "--once"]);
    jobs_fine(code, &out, &err);
    assert!(backups(&sb).is_empty(), "{out}");
    // The watcher was down for three hours (its last run moved back, as a stopped watcher
    // leaves it): the missed backup runs once, and says so.
    let db = sb.path().join("data/opsdeck/journal.db");
    let moved = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE schedule_runs SET last_run=? WHERE job='backup:shopdb'\", (int(time.time())-3*3600,)); c.commit(); print(c.total_changes)",
            &db.display().to_string(),
        ])
        .output()
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&moved.stdout).trim(), "1");
    let (code, out, err) = sb.run(&["watch", "--once"]);
    jobs_fine(code, &out, &err);
    assert!(
        out.contains("backup:shopdb") && out.contains("missed"),
        "{out}"
    );
    assert!(out.contains("succeeded"), "{out}");
    assert_eq!(backups(&sb).len(), 1, "run once, not 180 times: {out}");
    // At the next minute both jobs are due: a backup, then the verification of it.
    let minute = chrono_minute();
    wait_for("the next minute", Duration::from_secs(70), || {
        (chrono_minute() != minute).then_some(())
    });
    let (code, out, err) = sb.run(&["watch", "--once"]);
    jobs_fine(code, &out, &err);
    assert!(!out.contains("missed"), "on time: {out}");
    let list = backups(&sb);
    assert_eq!(list.len(), 2, "{out}");
    let newest = list
        .iter()
        .max_by_key(|b| b["time"].as_str().unwrap_or("").to_string())
        .expect("newest");
    assert_eq!(
        newest["verified"], true,
        "the verify job verified the newest: {out}"
    );
    let (_, hist) = sb.json(&["history", "--action", "backup"]);
    assert_eq!(
        hist.as_array().map(Vec::len),
        Some(2),
        "journaled like any backup: {hist}"
    );
}

/// The watcher looks at the whole engine, where the other tests of this file break
/// containers on purpose: exit 1 may come from them, never from this test's jobs.
fn jobs_fine(code: i32, out: &str, err: &str) {
    assert!(code == 0 || code == 1, "{out}\n{err}");
    assert!(
        !err.contains("shopdb") && !out.contains("failed"),
        "{out}\n{err}"
    );
}

fn chrono_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 60)
        .unwrap_or(0)
}
