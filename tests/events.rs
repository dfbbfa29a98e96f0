//! `opsdeck events` against the real engine: an OOM-killed container (a tiny memory limit
//! and a process that allocates more) shows `oom` and `die` with exit 137, marked; network
//! connects carry the container's name; an app target narrows to its compose project (named
//! in `.env`); `-f` follows new events, locally and over the test bed's sshd.

use opsdeck_testkit::{self as common, ssh as ssh_bed};

use common::stack::Stack;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn an_oom_killed_container_shows_oom_and_exit_137_and_an_app_narrows_to_its_project() {
    require_docker();
    let sb = Sandbox::new();
    let oom = unique("oom");
    let _g = ContainerGuard(oom.clone());
    // 8 MiB of memory, no swap; dd's 64 MiB buffer cannot fit.
    let status = std::process::Command::new("docker")
        .args([
            "run",
            "--name",
            &oom,
            "-m",
            "8m",
            "--memory-swap",
            "8m",
            "opsdeck-test/busybox:v1",
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=64M",
            "count=1",
        ])
        .status()
        .expect("docker run");
    assert_eq!(status.code(), Some(137), "the kernel killed it");
    let project = unique("ev");
    let dir = sb.path().join("shop");
    let _stack_guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    let _stack = Stack::up(
        &dir,
        &project,
        &[
            (
                "docker-compose.yml",
                "services:\n  web:\n    image: opsdeck-test/busybox:v1\n".to_string(),
            ),
            (".env", format!("COMPOSE_PROJECT_NAME={project}\n")),
        ],
    );
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.shop]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"web\"]\n",
            dir.display()
        ),
    );

    let (code, out, err) = sb.run(&["events", &oom, "--since", "5m", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let evs = lines(&out);
    let actions: Vec<&str> = evs.iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["create", "start", "oom", "die"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(evs
        .iter()
        .all(|e| e["host"] == "local" && e["time"].is_string()));
    let die = evs.iter().find(|e| e["action"] == "die").expect("die");
    assert_eq!(die["exit_code"], 137, "{die}");
    assert_eq!(die["container"], oom.as_str());
    let connect = evs
        .iter()
        .find(|e| e["type"] == "network" && e["action"] == "connect")
        .expect("a network connect");
    assert_eq!(
        connect["container"],
        oom.as_str(),
        "named, not an id: {connect}"
    );
    assert!(
        !actions.iter().any(|a| a.starts_with("exec_")),
        "health-check execs are noise: {actions:?}"
    );

    // People's lines mark the OOM kill.
    let (code, out, _) = sb.run(&["events", &oom, "--since", "5m"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.contains(" oom") && l.contains("OUT OF MEMORY")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.contains("exit 137")), "{out}");

    // An app: only its project's containers; --action narrows further.
    let (code, out, err) = sb.run(&["events", "shop", "--since", "5m", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let evs = lines(&out);
    assert!(!evs.is_empty(), "the stack's start is there: {out}{err}");
    assert!(
        evs.iter().all(|e| e["project"] == project.as_str()),
        "only the app's: {out}"
    );
    let (code, out, _) = sb.run(&[
        "events", "--since", "5m", "--action", "oom", "--output", "json",
    ]);
    assert_eq!(code, 0);
    let evs = lines(&out);
    assert!(evs.iter().all(|e| e["action"] == "oom"));
    assert!(evs.iter().any(|e| e["container"] == oom.as_str()), "{out}");

    for (args, says) in [
        (vec!["events", "--since", "soon"], "--since"),
        (vec!["events", "--action", "die; rm"], "--action"),
        (vec!["events", "nope/web"], "nope"),
    ] {
        let (code, _, err) = sb.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// `events -f` sees a container started after it began, over `env`'s host.
fn follows(sb: &Sandbox, env: &[(String, String)]) {
    let name = unique("evf");
    let _g = ContainerGuard(name.clone());
    let mut child = sb
        .opsdeck_env(env)
        .args(["events", "-f", "--output", "json", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // A moment for the command to start: it follows from when it was asked.
    std::thread::sleep(Duration::from_millis(1500));
    let ran = std::process::Command::new("docker")
        .args([
            "run",
            "--name",
            &name,
            "opsdeck-test/busybox:v1",
            "sh",
            "-c",
            "exit 3",
        ])
        .status()
        .expect("docker run");
    assert_eq!(ran.code(), Some(3));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline
        && !seen
            .iter()
            .any(|e: &serde_json::Value| e["action"] == "die")
    {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(serde_json::from_str(&l).expect("json line"));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let die = seen
        .iter()
        .find(|e| e["action"] == "die")
        .unwrap_or_else(|| {
            let past = sb.run_env(env, &["events", &name, "--since", "1m", "--output", "json"]);
            panic!("no die followed (env {env:?}): {seen:?} {err}; past: {past:?}")
        });
    assert_eq!(die["exit_code"], 3);
    assert!(seen.iter().any(|e| e["action"] == "start"), "{seen:?}");
    assert!(
        seen.iter().all(|e| e["container"] == name.as_str()),
        "{seen:?}"
    );
}

#[test]
fn follow_shows_new_events_locally_and_over_ssh() {
    require_docker();
    let sb = Sandbox::new();
    sb.write("opsdeck.toml", "[hosts.local]\n");
    follows(&sb, &[]);
    let bed = ssh_bed::Bed::get();
    let sshd = ssh_bed::Sshd::start(&bed, true);
    let sb = Sandbox::new();
    let env = sshd.client_env(&sb, &bed);
    sb.write("opsdeck.toml", "[hosts.remote]\nssh = \"tb\"\n");
    follows(&sb, &env);
}

#[test]
fn a_container_restarting_in_a_loop_is_flagged_by_status() {
    require_docker();
    let sb = Sandbox::new();
    sb.write("opsdeck.toml", "[hosts.local]\n");
    let name = unique("loop");
    let _g = ContainerGuard(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--restart",
        "always",
        "opsdeck-test/busybox:v1",
        "sh",
        "-c",
        "sleep 0.2; exit 1",
    ]);
    let looping = wait_for("three restarts", Duration::from_secs(60), || {
        let (_, out, _) = sb.run(&["status"]);
        out.lines()
            .find(|l| l.contains(&name) && l.contains("restart loop"))
            .map(str::to_string)
    });
    assert!(looping.contains("restarts"), "{looping}");
    // Its events say why: it dies with its exit code, again and again.
    let (_, out, _) = sb.run(&[
        "events", &name, "--since", "2m", "--action", "die", "--output", "json",
    ]);
    let dies = lines(&out);
    assert!(dies.len() >= 3, "{out}");
    assert!(dies.iter().all(|e| e["exit_code"] == 1), "{out}");
}
