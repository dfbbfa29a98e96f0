//! Many hosts: the test bed's network-namespace hosts (`scripts/testbed hosts`), each with its
//! own sshd and host key behind a veth link. Fan-out through the binary, one host cut off by
//! taking its link down (the others unaffected), and a silent cut under a live connection.

use opsdeck_testkit::{self as common, ssh as ssh_bed};

use common::*;
use opsdeck::error::ExitKind;
use opsdeck::host::{Cmd, ExecEvent, Host, SshOptions};
use serde_json::Value;
use ssh_bed::{spec, Bed};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const BOUND: Duration = Duration::from_secs(45);

/// The namespace hosts' addresses; fails (never skips) when they are not up.
fn ns_hosts() -> Vec<String> {
    let hosts: Vec<String> = testbed_var("OPSDECK_TB_NS_HOSTS")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(
        hosts.len() >= 3,
        "the test bed has {} namespace hosts, these tests need 3; run `scripts/testbed up`",
        hosts.len()
    );
    hosts
}

/// Takes host I's link down; brings it back up when dropped.
struct LinkCut(usize);

impl LinkCut {
    fn new(i: usize) -> Self {
        set_link(i, "down");
        LinkCut(i)
    }
}

impl Drop for LinkCut {
    fn drop(&mut self) {
        set_link(self.0, "up");
    }
}

fn set_link(i: usize, state: &str) {
    let ok = Command::new("ip")
        .args(["link", "set", &format!("odh{i}"), state])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ip link set odh{i} {state} failed");
}

fn sandbox(bed: &Bed, hosts: &[String]) -> (Sandbox, Vec<(String, String)>) {
    let sb = Sandbox::new();
    let mut config = String::new();
    let mut inv = String::from("[hosts.local]\ntags = [\"fleet\"]\n");
    for (i, addr) in hosts.iter().enumerate() {
        let n = i + 1;
        config.push_str(&format!("Host h{n}\n  HostName {addr}\n"));
        inv.push_str(&format!(
            "[hosts.h{n}]\nssh = \"h{n}\"\ntags = [\"fleet\"]\n"
        ));
    }
    config.push_str(&format!(
        "Host *\n  User {}\n  IdentityFile {}\n  ConnectTimeout 5\n",
        bed.user,
        bed.key.display()
    ));
    let config = sb.write("ssh_config", &config);
    sb.write("opsdeck.toml", &inv);
    let env = vec![
        (
            "OPSDECK_SSH_CONFIG".to_string(),
            config.display().to_string(),
        ),
        (
            "OPSDECK_KNOWN_HOSTS".to_string(),
            testbed_var("OPSDECK_TB_NS_KNOWN_HOSTS"),
        ),
    ];
    (sb, env)
}

fn json(sb: &Sandbox, env: &[(String, String)], args: &[&str]) -> (i32, Value, Duration) {
    let started = Instant::now();
    let out = sb
        .opsdeck()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("SSH_AUTH_SOCK")
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("opsdeck runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v, started.elapsed())
}

fn by_host<'a>(v: &'a Value, host: &str) -> &'a Value {
    v.as_array()
        .expect("a list")
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no {host} in {v}"))
}

#[test]
fn fan_out_reports_every_host_and_one_cut_off_host_hides_nothing() {
    let bed = Bed::get();
    let hosts = ns_hosts();
    let (sb, env) = sandbox(&bed, &hosts);

    let (code, v, _) = json(&sb, &env, &["hosts", "--host", "tag:fleet"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(hosts.len() + 1));
    for n in 1..=hosts.len() {
        let h = by_host(&v, &format!("h{n}"));
        assert_eq!(h["reachable"], true, "{h}");
        assert_eq!(h["transport"], "ssh");
        assert_eq!(h["target"], format!("h{n}"));
        assert!(h["engine_version"].is_string(), "{h}");
        assert!(h["latency_ms"].is_f64(), "{h}");
    }

    // Host 2 drops off the network: reported on its own line, quickly; the rest as before.
    let cut = LinkCut::new(2);
    let (code, v, took) = json(&sb, &env, &["hosts", "--host", "tag:fleet"]);
    assert_eq!(code, ExitKind::Unreachable.code(), "{v}");
    let h2 = by_host(&v, "h2");
    assert_eq!(h2["reachable"], false);
    let err = h2["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("cannot connect") && err.contains(&hosts[1]),
        "{err}"
    );
    for other in ["local", "h1", "h3"] {
        assert_eq!(by_host(&v, other)["reachable"], true, "{other}: {v}");
    }
    assert!(took < Duration::from_secs(20), "took {took:?}");

    let (code, v, _) = json(&sb, &env, &["status", "--no-stats", "--host", "tag:fleet"]);
    assert_eq!(code, ExitKind::Unreachable.code(), "{v}");
    assert_eq!(by_host(&v, "h2")["reachable"], false);
    let local_count = by_host(&v, "local")["containers"].as_array().map(Vec::len);
    assert!(local_count.is_some());
    for other in ["h1", "h3"] {
        assert_eq!(by_host(&v, other)["reachable"], true, "{other}: {v}");
    }

    drop(cut);
    let (code, v, _) = json(&sb, &env, &["hosts", "--host", "tag:fleet"]);
    assert_eq!(code, 0, "back on the network: {v}");
}

#[tokio::test]
async fn a_silent_cut_under_a_live_connection_is_detected_and_healed() {
    let bed = Bed::get();
    let hosts = ns_hosts();
    let opts = SshOptions {
        known_hosts: testbed_var("OPSDECK_TB_NS_KNOWN_HOSTS").into(),
        keepalive_interval: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(5),
        ..bed.opts()
    };
    let h = Host::with_options("h3", &spec(&format!("deploy@{}", hosts[2])), opts).expect("host");
    let out = h
        .exec(&Cmd::new("hostname").arg("-I"), &CancellationToken::new())
        .await
        .expect("runs on h3");
    assert_eq!(
        out.stdout_str().trim(),
        hosts[2],
        "it really is the namespace host"
    );

    let mut rx = h
        .exec_stream(
            &Cmd::new("sh").args(["-c", "while :; do echo tick; sleep 0.2; done"]),
            &CancellationToken::new(),
        )
        .await
        .expect("starts");
    assert!(matches!(rx.recv().await, Some(ExecEvent::Stdout(_))));
    // No FIN, no RST: packets just stop. Keepalives must notice.
    let cut = LinkCut::new(3);
    let started = Instant::now();
    let last = tokio::time::timeout(BOUND, async {
        let mut last = None;
        while let Some(ev) = rx.recv().await {
            last = Some(ev);
        }
        last
    })
    .await
    .expect("the stream ends within the bound, not never");
    assert!(matches!(last, Some(ExecEvent::Failed(_))), "{last:?}");
    let noticed = started.elapsed();
    // While cut off: a clear error, within the bound.
    let e = tokio::time::timeout(BOUND, h.exec(&Cmd::new("true"), &CancellationToken::new()))
        .await
        .expect("bounded")
        .expect_err("unreachable");
    assert_eq!(e.exit_kind(), ExitKind::Unreachable, "{e}");

    drop(cut);
    // Back: the next call after the backoff reconnects.
    let out = tokio::time::timeout(BOUND, async {
        loop {
            match h
                .exec(&Cmd::new("echo").arg("back"), &CancellationToken::new())
                .await
            {
                Ok(out) => return out,
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    })
    .await
    .expect("reconnects within the bound");
    assert_eq!(out.stdout_str(), "back\n");
    assert!(
        noticed < Duration::from_secs(30),
        "noticed after {noticed:?}"
    );
}
