//! The action layer end to end through the real binary and a real engine: lifecycle actions,
//! confirmation, dry runs, locks (concurrent, stale, released), the journal, cancellation,
//! secret masking, and a hostile-input corpus that must change nothing.

use opsdeck_testkit as common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

const COMPOSE: &str = r#"version: "2.4"
services:
  web:
    image: opsdeck-test/busybox:v1
  api:
    image: opsdeck-test/busybox:v2
"#;

// Fields drop in order: the stack goes down before the sandbox holding its files.
struct App {
    _guard: ComposeGuard,
    sb: Sandbox,
    project: String,
}

/// A two-service app `shop` on the local engine, with its own lock dir and journal.
fn app() -> App {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("act");
    let dir = sb.path().join("shop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("docker-compose.yml"), COMPOSE).expect("compose");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.shop]\nhost = \"local\"\ndir = \"{}\"\nproject = \"{project}\"\nservices = [\"web\", \"api\"]\n",
            dir.display()
        ),
    );
    let guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    compose(&dir, &project, &["up", "-d"]);
    App {
        _guard: guard,
        sb,
        project,
    }
}

impl App {
    fn cmd(&self) -> Command {
        let mut c = self.sb.opsdeck();
        c.env("OPSDECK_LOCK_DIR", self.sb.path().join("locks"));
        c
    }
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.cmd().args(args).output().expect("runs");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.project)
    }
    fn state(&self, service: &str) -> String {
        docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.StartedAt}}",
            &self.container(service),
        ])
    }
    fn history(&self) -> Vec<Value> {
        let o = self
            .cmd()
            .args(["history", "--output", "json"])
            .output()
            .expect("runs");
        serde_json::from_slice::<Value>(&o.stdout)
            .expect("json")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
    fn journal_text(&self) -> String {
        let path = self.sb.path().join("data/opsdeck/journal.db");
        let mut all = std::fs::read(&path).unwrap_or_default();
        for ext in ["-wal", "-shm"] {
            all.extend(std::fs::read(format!("{}{ext}", path.display())).unwrap_or_default());
        }
        String::from_utf8_lossy(&all).into_owned()
    }
    /// Start a long exec holding the app lock; returns once the lock is held.
    fn hold_lock(&self, secs: u32) -> std::process::Child {
        let child = self
            .cmd()
            .args(["exec", "shop/web", "--", "sleep", &secs.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        wait_for("the lock to be taken", Duration::from_secs(20), || {
            let (_, out, _) = self.run(&["lock", "status", "shop"]);
            out.contains("locked by").then_some(())
        });
        child
    }
}

#[test]
fn restart_stop_start_through_the_cli_with_confirmation_and_journal() {
    let a = app();
    let before = a.state("web");
    // Dry run: the plan, nothing changed.
    let (code, out, _) = a.run(&["restart", "shop", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("1. restart") && out.contains("web_1") && out.contains("api_1"),
        "{out}"
    );
    assert!(
        out.find("web_1") < out.find("api_1"),
        "services roll in inventory order: {out}"
    );
    assert_eq!(a.state("web"), before, "a dry run changes nothing");
    assert!(a.history().is_empty(), "a dry run is not journaled");

    let (code, out, err) = a.run(&["restart", "shop/web"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(a.state("web"), before, "web was restarted");
    assert!(out.contains("succeeded"), "{out}");

    // Stop is destructive: refused (exit 4) without --yes, and nothing changes.
    let (code, _, err) = a.run(&["stop", "shop"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("--yes") && err.contains("stop"), "{err}");
    assert!(a.state("api").starts_with("running"));

    let (code, out, _) = a.run(&["stop", "shop", "--yes", "--output", "json"]);
    assert_eq!(code, 0);
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(
        events.first().map(|e| e["event"].clone()),
        Some("planned".into())
    );
    let last = events.last().expect("events");
    assert_eq!(last["event"], "finished");
    assert_eq!(last["outcome"], "succeeded");
    assert!(events.iter().any(|e| e["event"] == "step_done"));
    assert!(a.state("web").starts_with("exited") && a.state("api").starts_with("exited"));

    let (code, _, err) = a.run(&["start", "shop"]);
    assert_eq!(code, 0, "{err}");
    assert!(a.state("web").starts_with("running") && a.state("api").starts_with("running"));

    let h = a.history();
    let summary: Vec<(String, String)> = h
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_string(),
                e["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("start", "succeeded"),
            ("stop", "succeeded"),
            ("restart", "succeeded")
        ]
        .map(|(a, o)| (a.to_string(), o.to_string()))
    );
    assert!(h
        .iter()
        .all(|e| e["actor"].as_str().is_some_and(|a| a.contains('@'))));
    assert_eq!(
        h[2]["steps"].as_array().map(Vec::len),
        Some(2),
        "restart + wait steps recorded"
    );
    // Filters.
    let o = a
        .cmd()
        .args(["history", "shop", "--action", "stop", "--output", "json"])
        .output()
        .expect("runs");
    let only: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(only.as_array().map(Vec::len), Some(1));
}

#[test]
fn failures_and_cancellations_are_journaled() {
    let a = app();
    let (code, _, err) = a.run(&["exec", "shop/web", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("status 7"), "{err}");
    let mut child = a.hold_lock(30);
    // SIGINT, as Ctrl-C would send.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    let status = wait_for("the action to stop", Duration::from_secs(20), || {
        child.try_wait().ok().flatten()
    });
    assert_eq!(status.code(), Some(1));
    let h = a.history();
    assert_eq!(h[0]["outcome"], "cancelled", "{:?}", h[0]);
    assert_eq!(h[1]["outcome"], "failed");
    assert!(h[1]["error"]
        .as_str()
        .is_some_and(|e| e.contains("status 7")));
    // The cancelled action released its lock.
    let (_, out, _) = a.run(&["lock", "status", "shop"]);
    assert!(out.contains("not locked"), "{out}");
}

#[test]
fn a_second_action_on_the_same_app_is_refused_naming_the_holder() {
    let a = app();
    let mut holder = a.hold_lock(8);
    let before = a.state("api");
    let (code, out, err) = a.run(&["restart", "shop/api"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains("locked by") && err.contains("exec") && err.contains('@'),
        "{err}"
    );
    assert_eq!(a.state("api"), before, "nothing restarted");
    let status = holder.wait().expect("wait");
    assert!(status.success());
    // The lock was released: the same restart now runs.
    let (code, _, err) = a.run(&["restart", "shop/api"]);
    assert_eq!(code, 0, "{err}");
    let h = a.history();
    assert_eq!(h[1]["outcome"], "refused");
}

#[test]
fn a_lock_left_by_a_killed_process_is_taken_over_and_its_entry_is_interrupted() {
    let a = app();
    let mut holder = a.hold_lock(60);
    holder.kill().expect("kill -9");
    let _ = holder.wait();
    let (code, out, _) = a.run(&["lock", "status", "shop", "--output", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["lock"]["state"], "held");
    assert_eq!(v["lock"]["stale"], true, "{v}");
    assert_eq!(v["lock"]["holder_gone"], true, "{v}");
    assert!(v["lock"]["age_secs"].is_u64());
    // The killed run's journal entry is not `running` forever.
    let h = a.history();
    assert_eq!(h[0]["action"], "exec", "{:?}", h[0]);
    assert_eq!(h[0]["outcome"], "interrupted", "{:?}", h[0]);
    assert!(
        h[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("ended without finishing")),
        "{:?}",
        h[0]
    );
    // The next action takes the dead run's lock over by itself, and says so.
    let (code, out, err) = a.run(&["restart", "shop/web"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("took over the lock shop"),
        "{out}{err}"
    );
    let (_, out, _) = a.run(&["lock", "status", "shop"]);
    assert!(out.contains("not locked"), "{out}");
}

#[test]
fn a_stale_lock_of_another_machine_needs_a_deliberate_release() {
    let a = app();
    // A lock left by a run on another machine (its process cannot be checked from here)
    // whose heartbeat stopped two minutes ago: written as opsdeck writes lock records.
    let dir = a.sb.path().join("locks/shop.lock");
    std::fs::create_dir_all(&dir).expect("mkdir lock");
    let owner = dir.join("owner");
    std::fs::write(
        &owner,
        r#"{"token":"0123456789abcdef","actor":"ops@laptop","machine":"laptop","pid":4242,"action":"deploy","target":"shop","started_at":"2026-01-01T00:00:00Z","machine_id":"another-machine"}"#,
    )
    .expect("owner");
    assert!(Command::new("touch")
        .args(["-d", "2 minutes ago"])
        .arg(&owner)
        .status()
        .expect("touch")
        .success());
    let (code, _, err) = a.run(&["restart", "shop/web"]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("STALE") && err.contains("no heartbeat"),
        "{err}"
    );
    // Release needs --yes.
    let (code, _, _) = a.run(&["lock", "release", "shop"]);
    assert_eq!(code, 4);
    let (code, out, err) = a.run(&["lock", "release", "shop", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("released shop"), "{out}");
    // Releasing again says there was nothing to release (not "released").
    let (code, out, err) = a.run(&["lock", "release", "shop", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("not locked") && !out.contains("released shop"),
        "{out}"
    );
    let (code, _, err) = a.run(&["restart", "shop/web"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_live_lock_is_not_released_without_force() {
    let a = app();
    let mut holder = a.hold_lock(30);
    let (code, _, err) = a.run(&["lock", "release", "shop", "--yes"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("--force"), "{err}");
    let (code, _, err) = a.run(&["lock", "release", "shop", "--yes", "--force"]);
    assert_eq!(code, 0, "{err}");
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn a_planted_secret_never_reaches_the_journal_or_the_output() {
    let a = app();
    let secret = "S3cretPlanted42";
    let (code, out, err) = a.run(&[
        "exec",
        "shop/web",
        "--output",
        "json",
        "--",
        "sh",
        "-c",
        &format!("echo postgres://app:{secret}@db/app; echo DB_PASSWORD={secret}"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("postgres://app:***@db/app"), "{out}");
    let (_, human, human_err) = a.run(&[
        "exec",
        "shop/web",
        "--",
        "env",
        &format!("API_TOKEN={secret}"),
        "sh",
        "-c",
        "exit 1",
    ]);
    let history = a
        .cmd()
        .args(["history", "--output", "json"])
        .output()
        .expect("runs");
    for (what, text) in [
        ("json events", out),
        ("human output", human + &human_err + &err),
        (
            "history",
            String::from_utf8_lossy(&history.stdout).into_owned(),
        ),
        ("journal file", a.journal_text()),
    ] {
        assert!(
            !text.contains(secret),
            "the secret leaked into the {what}:\n{text}"
        );
    }
}

/// At least 100 hostile inputs through the CLI: each is refused with exit 2 before anything
/// runs; the engine's side proves nothing happened.
#[test]
fn hostile_input_corpus_is_refused_and_changes_nothing() {
    let a = app();
    let before_web = a.state("web");
    let before_api = a.state("api");
    let pwned = a.sb.path().join("pwned");
    let p = pwned.display().to_string();
    let mut corpus: Vec<String> = Vec::new();
    for meta in [
        ";", "|", "&", "$(", "`", ">", "<", "\n", "\r", "\t", " ", "'", "\"", "\\", "*", "?", "{",
        "}", "!", "#", "%",
    ] {
        corpus.push(format!("shop{meta}touch {p}"));
        corpus.push(format!("{meta}web"));
        corpus.push(format!("shop/web{meta}x"));
        corpus.push(format!("local/{meta}rm -rf {p}"));
    }
    for s in [
        "../etc/passwd".to_string(),
        "shop/../../etc".into(),
        "..".into(),
        "/".into(),
        "shop//web".into(),
        "shop/web/extra".into(),
        "-rf".into(),
        "--help-me".into(),
        "shop'; DROP TABLE actions; --".into(),
        "web\" OR \"1\"=\"1".into(),
        "x".repeat(300),
        format!("shop/{}", "y".repeat(80)),
        "shop\0web".into(),
        "é-web".into(),
        "web\u{202e}".into(),
        "".into(),
        "nosuchapp/web".into(),
        format!("$(touch {p})"),
        format!("`touch {p}`"),
    ] {
        corpus.push(s);
    }
    assert!(corpus.len() >= 100, "corpus has {} cases", corpus.len());
    let mut failures = Vec::new();
    for (i, target) in corpus.iter().enumerate() {
        if target.contains('\0') {
            continue; // cannot be an argv entry at all; the OS refuses it before we could
        }
        let args: Vec<&str> = match i % 4 {
            0 => vec!["restart", target],
            1 => vec!["stop", target, "--yes"],
            2 => vec!["exec", target, "--", "touch", &p],
            _ => vec!["start", target],
        };
        let (code, out, err) = a.run(&args);
        if code != 2 {
            failures.push(format!("{args:?}: exit {code}\n{out}{err}"));
        }
    }
    // Non-UTF-8 arguments.
    use std::os::unix::ffi::OsStrExt;
    for bytes in [&b"shop\xff"[..], b"\xc3\x28web", b"\x80"] {
        let o = a
            .cmd()
            .arg("restart")
            .arg(std::ffi::OsStr::from_bytes(bytes))
            .output()
            .expect("runs");
        if o.status.code() != Some(2) {
            failures.push(format!("non-UTF-8 {bytes:?}: exit {:?}", o.status.code()));
        }
    }
    // Hostile app names for the lock and status commands too.
    for name in ["shop;id", "../x", "a b", "$(id)"] {
        for args in [vec!["lock", "status", name], vec!["status", name]] {
            let (code, _, err) = a.run(&args);
            if code != 2 {
                failures.push(format!("{args:?}: exit {code} {err}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
    assert_eq!(a.state("web"), before_web, "web untouched");
    assert_eq!(a.state("api"), before_api, "api untouched");
    assert!(!pwned.exists(), "a command ran");
    assert!(a.history().is_empty(), "nothing was even journaled");
}

/// Two operators: one plans a restart; before it takes the lock, the other recreates the
/// container. The first run, planned from a container that no longer exists, must notice once
/// it holds the lock and refuse, changing nothing (library API: the window between planning
/// and locking cannot be hit reliably through two processes).
#[test]
fn a_plan_outdated_before_its_lock_was_taken_is_refused_and_changes_nothing() {
    let a = app();
    // This test's own lock dir, as the binary's tests have theirs (read by the lock layer).
    std::env::set_var("OPSDECK_LOCK_DIR", a.sb.path().join("locks"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        use opsdeck::journal::Outcome;
        use opsdeck::ops::{self, Action, ContainerOp, Engine, HostSelection, Target};
        let inv = opsdeck::inventory::load_file(&a.sb.path().join("opsdeck.toml")).expect("inv");
        let hosts = ops::select_hosts(&inv, &HostSelection(vec![])).expect("hosts");
        let action = Action::Lifecycle {
            op: ContainerOp::Restart,
            target: Target::AppService {
                app: "shop".into(),
                service: "web".into(),
            },
        };
        let plan = ops::plan(&inv, &hosts, &action).await.expect("plan");
        // Meanwhile, someone else recreates the container.
        compose(
            &a.sb.path().join("shop"),
            &a.project,
            &["up", "-d", "--force-recreate", "web"],
        );
        let after_other = a.state("web");
        let journal = opsdeck::journal::Journal::open(&a.sb.path().join("j.db"))
            .await
            .expect("journal");
        let engine = Engine::new(journal);
        let host = ops::plan_host(&inv, hosts.clone(), &plan).expect("host");
        let run = |plan: ops::Plan| {
            let (inv, hosts, host, engine) = (&inv, &hosts, &host, &engine);
            async move {
                let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                engine
                    .execute(inv, hosts, &plan, host, tx, Default::default())
                    .await
            }
        };
        let report = run(plan).await;
        assert_eq!(report.outcome, Outcome::Refused, "{:?}", report.error);
        let msg = report.error.map(|e| e.message).unwrap_or_default();
        assert!(msg.contains("changed before its lock was taken"), "{msg}");
        assert_eq!(a.state("web"), after_other, "nothing was restarted");
        // The lock is free again, and a plan made now runs.
        let (_, out, _) = a.run(&["lock", "status", "shop"]);
        assert!(out.contains("not locked"), "{out}");
        let fresh = ops::plan(&inv, &hosts, &action).await.expect("plan");
        let report = run(fresh).await;
        assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.error);
        assert_ne!(a.state("web"), after_other, "restarted this time");
    });
}
