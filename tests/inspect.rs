//! `opsdeck inspect` against the real engine, locally and over the test bed's sshd: a
//! container with planted secrets (env, and the same values in its command, a label and its
//! health probe's output) never shows them, in human or JSON output; the facts are there
//! (image and digest, limits, ports, networks with addresses, mounts, restart policy, health
//! log, OOM-killed and exit code).

use opsdeck_testkit::{self as common, ssh::Bed};

use common::*;
use serde_json::Value;

const PW: &str = "SECRETPW";
const TOKEN: &str = "tok-9f8e7d6c5b4a";

struct Bed2 {
    sb: Sandbox,
    env: Vec<(String, String)>,
}

fn sandbox() -> Bed2 {
    require_docker();
    let ssh = Bed::get();
    let sb = Sandbox::new();
    let config = sb.write(
        "ssh/config",
        &format!(
            "Host tb\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n",
            ssh.host,
            ssh.port,
            ssh.user,
            ssh.key.display()
        ),
    );
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n\n[hosts.tb]\nssh = \"tb\"\n",
    );
    let env = vec![
        (
            "OPSDECK_SSH_CONFIG".to_string(),
            config.display().to_string(),
        ),
        (
            "OPSDECK_KNOWN_HOSTS".to_string(),
            ssh.known_hosts.display().to_string(),
        ),
    ];
    Bed2 { sb, env }
}

struct VolumeGuard(String);
impl Drop for VolumeGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["volume", "rm", "-f", &self.0])
            .output();
    }
}

#[test]
fn inspect_masks_planted_secrets_and_shows_the_facts_locally_and_over_ssh() {
    let b = sandbox();
    let name = unique("insp");
    let vol = VolumeGuard(format!("{name}-data"));
    let c = ContainerGuard(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        &format!("DATABASE_URL=postgres://u:{PW}@h/db"),
        "-e",
        &format!("API_TOKEN={TOKEN}"),
        "-e",
        "MODE=prod",
        "-l",
        &format!("note=login with {TOKEN}"),
        "-l",
        "team=shop",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--restart",
        "on-failure:3",
        "-p",
        "127.0.0.1::80",
        "-v",
        &format!("{}:/data", vol.0),
        "--health-cmd",
        &format!("echo probe {PW}"),
        "--health-interval",
        "1s",
        "opsdeck-test/busybox:v1",
        "sh",
        "-c",
        &format!("echo {TOKEN} >/dev/null; exec sleep 600"),
    ]);
    let ip = docker(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.bridge.IPAddress}}",
        &name,
    ]);
    let image_id = docker(&["inspect", "-f", "{{.Image}}", &name]);
    // Enough probes for a health log.
    wait_for(
        "two health probes",
        std::time::Duration::from_secs(30),
        || {
            let n = docker(&["inspect", "-f", "{{len .State.Health.Log}}", &name]);
            (n.trim().parse::<usize>().unwrap_or(0) >= 2).then_some(())
        },
    );

    for target in [format!("local/{name}"), format!("tb/{name}"), name.clone()] {
        let mut args = vec!["inspect", target.as_str()];
        if target == name {
            args.extend(["--host", "tb"]);
        }
        let (code, out, err) = b.sb.run_env(&b.env, &args);
        assert_eq!(code, 0, "{target}: {err}");
        for s in [PW, TOKEN] {
            assert!(
                !out.contains(s) && !err.contains(s),
                "{target}: {s} shown:\n{out}\n{err}"
            );
        }
        assert!(out.contains("DATABASE_URL=postgres://u:***@h/db"), "{out}");
        assert!(out.contains("API_TOKEN=***"), "{out}");
        assert!(out.contains("MODE=prod"), "{out}");
        assert!(out.contains(&ip.trim().to_string()), "address: {out}");
        assert!(out.contains("cpus 0.5"), "{out}");
        assert!(out.contains("on-failure (at most 3)"), "{out}");

        args.extend(["--output", "json"]);
        let (code, out, err) = b.sb.run_env(&b.env, &args);
        assert_eq!(code, 0, "{target}: {err}");
        for s in [PW, TOKEN] {
            assert!(!out.contains(s), "{target}: {s} in JSON:\n{out}");
        }
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let list = v.as_array().expect("a list of objects");
        assert_eq!(list.len(), 1, "{out}");
        let d = &list[0];
        assert_eq!(d["name"], name.as_str());
        assert_eq!(d["image"], "opsdeck-test/busybox:v1");
        assert_eq!(d["image_id"], image_id.trim());
        assert_eq!(d["env"]["API_TOKEN"], "***");
        assert_eq!(d["env"]["DATABASE_URL"], "postgres://u:***@h/db");
        assert_eq!(d["labels"]["team"], "shop");
        assert_eq!(d["labels"]["note"], "login with ***");
        assert_eq!(d["mounts"][0]["name"], vol.0.as_str());
        assert_eq!(d["mounts"][0]["destination"], "/data");
        assert_eq!(d["networks"][0]["name"], "bridge");
        assert_eq!(d["networks"][0]["ip_address"], ip.trim());
        assert_eq!(d["ports"][0]["container"], "80/tcp");
        assert_eq!(d["ports"][0]["host_ip"], "127.0.0.1");
        assert!(d["ports"][0]["host_port"].as_str().is_some(), "{out}");
        assert_eq!(d["limits"]["memory_bytes"], 64 << 20);
        assert_eq!(d["restart_policy"], "on-failure");
        assert_eq!(d["restart_count"], 0);
        assert_eq!(d["state"]["oom_killed"], false);
        assert_eq!(d["health"]["status"], "healthy");
        let log = d["health"]["log"].as_array().expect("a health log");
        assert!((2..=5).contains(&log.len()), "{out}");
        assert_eq!(log[0]["output"], "probe ***");
        assert_eq!(d["command"][2], "echo *** >/dev/null; exec sleep 600");
    }
    drop(c);
}

#[test]
fn inspect_shows_an_oom_kill_and_its_exit_code() {
    let b = sandbox();
    let name = unique("oom");
    let _c = ContainerGuard(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--memory",
        "8m",
        "--memory-swap",
        "8m",
        "opsdeck-test/busybox:v1",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    wait_for("the OOM kill", std::time::Duration::from_secs(30), || {
        (docker(&["inspect", "-f", "{{.State.Status}}", &name]).trim() == "exited").then_some(())
    });
    let (code, out, err) = b.sb.run_env(
        &b.env,
        &["inspect", &format!("tb/{name}"), "--output", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v[0]["state"]["oom_killed"], true, "{out}");
    assert_eq!(v[0]["state"]["exit_code"], 137, "{out}");
    let (_, out, _) = b.sb.run_env(&b.env, &["inspect", &format!("local/{name}")]);
    assert!(out.contains("exit code 137, OOM-KILLED"), "{out}");
}

#[test]
fn inspect_of_nothing_is_bad_usage() {
    let b = sandbox();
    let (code, _, err) =
        b.sb.run_env(&b.env, &["inspect", "local/opsdeck-test-no-such-container"]);
    assert_eq!(code, 2, "{err}");
}
