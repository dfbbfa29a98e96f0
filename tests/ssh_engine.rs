//! The Docker engine over SSH (bollard through direct-streamlocal channels, no ssh binary, no
//! docker CLI on our side), and the real binary driving an SSH host: `status` over SSH equals
//! `status` of the same engine locally; an unknown host key is refused.

use opsdeck_testkit::{self as common, ssh as ssh_bed};

use bollard::query_parameters::LogsOptionsBuilder;
use common::*;
use futures_util::StreamExt;
use opsdeck::host::{Host, SshOptions};
use serde_json::Value;
use ssh_bed::{spec, Bed, Sshd};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(30);

/// A host on our own sshd (so its connections can be counted and cut) and the sshd.
fn own_host(bed: &Bed) -> (Host, Sshd, tempfile::TempDir) {
    let sshd = Sshd::start(bed, true);
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, format!("{}\n", sshd.known_hosts_line(bed))).expect("write");
    let opts = SshOptions {
        known_hosts: kh,
        ..bed.opts()
    };
    let h = Host::with_options(
        "own",
        &spec(&format!("{}@127.0.0.1:{}", bed.user, sshd.port)),
        opts,
    )
    .expect("host");
    (h, sshd, dir)
}

fn streamlocal_opens(sshd: &Sshd) -> usize {
    std::fs::read_to_string(&sshd.log)
        .unwrap_or_default()
        .matches("server_request_direct_streamlocal")
        .count()
}

/// A container printing a numbered line every 200 ms.
fn ticker() -> ContainerGuard {
    require_docker();
    let name = unique("ticker");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "opsdeck-test/busybox:v1",
        "sh",
        "-c",
        "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]);
    ContainerGuard(name)
}

#[tokio::test]
async fn the_engine_answers_over_ssh_with_streams_exec_and_pooled_connections() {
    let bed = Bed::get();
    let (h, sshd, _dir) = own_host(&bed);
    let c = ticker();
    let d = tokio::time::timeout(BOUND, h.docker())
        .await
        .expect("bounded")
        .expect("docker over ssh");
    let local = Host::new("local", &Default::default()).expect("local");
    let ld = local.docker().await.expect("local docker");
    let v = d.version().await.expect("version");
    assert_eq!(
        v.version,
        ld.version().await.expect("local version").version
    );
    assert_eq!(
        d.client_version().to_string(),
        ld.client_version().to_string(),
        "the same negotiated API version"
    );

    // Sequential calls reuse ready connections instead of a channel each.
    let before = streamlocal_opens(&sshd);
    for _ in 0..20 {
        d.ping().await.expect("ping");
        d.list_containers(None::<bollard::query_parameters::ListContainersOptions>)
            .await
            .expect("list");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let opened = streamlocal_opens(&sshd) - before;
    assert!(before >= 1, "the sshd log shows the socket channels");
    assert!(opened <= 1, "40 requests opened {opened} more channels");

    // A followed log stream delivers lines as they come.
    let mut logs = d.logs(
        &c.0,
        Some(
            LogsOptionsBuilder::new()
                .follow(true)
                .stdout(true)
                .tail("0")
                .build(),
        ),
    );
    let mut lines = Vec::new();
    tokio::time::timeout(BOUND, async {
        while lines.len() < 3 {
            let chunk = logs.next().await.expect("more").expect("a log chunk");
            lines.push(chunk.to_string());
        }
    })
    .await
    .expect("three live lines within the bound");
    assert!(lines.iter().all(|l| l.starts_with("tick ")), "{lines:?}");
    // While that stream stays open, other calls still work (another connection).
    d.ping().await.expect("ping during a stream");

    // Attached exec: an HTTP upgrade through the SSH channel.
    let exec = d
        .create_exec(
            &c.0,
            bollard::models::ExecConfig {
                cmd: Some(vec!["sh".into(), "-c".into(), "echo from-exec; cat".into()]),
                attach_stdout: Some(true),
                attach_stdin: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("create exec");
    match d.start_exec(&exec.id, None).await.expect("start exec") {
        bollard::exec::StartExecResults::Attached {
            mut output,
            mut input,
        } => {
            use tokio::io::AsyncWriteExt;
            input.write_all(b"from-stdin\n").await.expect("stdin");
            input.shutdown().await.expect("close stdin");
            let mut text = String::new();
            tokio::time::timeout(BOUND, async {
                while let Some(chunk) = output.next().await {
                    text.push_str(&chunk.expect("exec output").to_string());
                    if text.contains("from-stdin") {
                        break;
                    }
                }
            })
            .await
            .expect("exec output within the bound");
            assert!(
                text.contains("from-exec\n") && text.contains("from-stdin\n"),
                "{text:?}"
            );
        }
        other => panic!("expected an attached exec, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cut_during_logs_follow_ends_the_stream_clearly_and_the_next_call_reconnects() {
    let bed = Bed::get();
    let (h, sshd, _dir) = own_host(&bed);
    let c = ticker();
    let d = h.docker().await.expect("docker over ssh");
    let mut logs = d.logs(
        &c.0,
        Some(
            LogsOptionsBuilder::new()
                .follow(true)
                .stdout(true)
                .tail("0")
                .build(),
        ),
    );
    let first = tokio::time::timeout(BOUND, logs.next())
        .await
        .expect("bounded");
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    assert!(sshd.cut_sessions() > 0);
    // The stream ends (an error or the end), within the bound: never a hang.
    let ended = tokio::time::timeout(BOUND, async {
        loop {
            match logs.next().await {
                None => return "ended".to_string(),
                Some(Err(e)) => return opsdeck::docker::describe_error(&e),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the followed stream stops within the bound after the cut");
    assert!(!ended.is_empty());
    // The same client (as the watchers keep it) works again: the transport reconnects.
    let d2 = h.docker().await.expect("reconnects");
    tokio::time::timeout(BOUND, d2.ping())
        .await
        .expect("bounded")
        .expect("ping after reconnect");
    tokio::time::timeout(BOUND, d.ping())
        .await
        .expect("bounded")
        .expect("the old handle works too");
}

/// An ssh config with the alias `tb` for the test bed, for the binary (which reads
/// OPSDECK_SSH_CONFIG and OPSDECK_KNOWN_HOSTS).
fn binary_env(sb: &Sandbox, bed: &Bed, known_hosts: &std::path::Path) -> Vec<(String, String)> {
    let config = sb.write(
        "ssh_config",
        &format!(
            "Host tb\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n",
            bed.host,
            bed.port,
            bed.user,
            bed.key.display()
        ),
    );
    vec![
        ("OPSDECK_SSH_CONFIG".into(), config.display().to_string()),
        (
            "OPSDECK_KNOWN_HOSTS".into(),
            known_hosts.display().to_string(),
        ),
    ]
}

fn run_with(sb: &Sandbox, env: &[(String, String)], args: &[&str]) -> (i32, String, String) {
    sb.run_env(env, args)
}

/// The container list of one host from `status --output json`, without what differs from one
/// moment (or one observer) to the next.
fn comparable(v: &Value, host: &str) -> Vec<Value> {
    let h = v
        .as_array()
        .expect("a list")
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no {host} in {v}"));
    assert_eq!(h["reachable"], true, "{h}");
    let mut list: Vec<Value> = h["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| {
            let mut c = c.clone();
            let o = c.as_object_mut().expect("object");
            for k in [
                "host",
                "uptime_secs",
                "cpu_percent",
                "memory_bytes",
                "status",
            ] {
                o.remove(k);
            }
            c
        })
        .collect();
    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    list
}

#[test]
fn status_over_ssh_equals_status_of_the_same_engine_locally() {
    let bed = Bed::get();
    let _c = ticker();
    let sb = Sandbox::new();
    let env = binary_env(&sb, &bed, &bed.known_hosts);
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[hosts.remote]\nssh = \"tb\"\n",
    );
    // Other tests start and stop containers meanwhile: compare until two snapshots agree.
    let mut last = (vec![], vec![]);
    for _ in 0..6 {
        let (code, out, err) = run_with(&sb, &env, &["status", "--no-stats", "--output", "json"]);
        assert_eq!(code, 0, "{out}\n{err}");
        let v: Value = serde_json::from_str(&out).expect("json");
        last = (comparable(&v, "local"), comparable(&v, "remote"));
        if last.0 == last.1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(!last.0.is_empty(), "the ticker at least");
    assert_eq!(last.0, last.1, "remote status differs from local status");

    let (code, out, err) = run_with(
        &sb,
        &env,
        &["hosts", "--host", "remote", "--output", "json"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v[0]["transport"], "ssh");
    assert_eq!(v[0]["reachable"], true);
    assert!(v[0]["engine_version"].is_string(), "{v}");
    assert!(
        v[0]["compose"]
            .as_str()
            .is_some_and(|c| c.contains("compose")),
        "compose found on the host over ssh: {v}"
    );
}

#[test]
fn the_binary_refuses_an_unknown_host_key_showing_the_fingerprint() {
    let bed = Bed::get();
    let sb = Sandbox::new();
    let empty = sb.write("known_hosts", "");
    let env = binary_env(&sb, &bed, &empty);
    sb.write("opsdeck.toml", "[hosts.remote]\nssh = \"tb\"\n");
    let (code, out, err) = run_with(&sb, &env, &["status", "--no-stats"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains(&bed.host_fingerprint()), "{err}");
    assert!(err.contains("opsdeck hosts trust remote"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&empty).expect("read"),
        "",
        "nothing recorded"
    );
}

#[test]
fn the_binary_exits_4_on_an_unknown_host_key() {
    let bed = Bed::get();
    let sb = Sandbox::new();
    let empty = sb.write("known_hosts", "");
    let env = binary_env(&sb, &bed, &empty);
    sb.write("opsdeck.toml", "[hosts.remote]\nssh = \"tb\"\n");
    for cmd in [["hosts"], ["status"]] {
        let (code, _, err) = run_with(&sb, &env, &cmd);
        assert_eq!(code, 4, "{cmd:?}: {err}");
    }
    // `hosts trust`: shows the fingerprint and refuses without confirmation...
    let fp = bed.host_fingerprint();
    let (code, _, err) = run_with(&sb, &env, &["hosts", "trust", "remote"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains(&fp) && err.contains("--fingerprint"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&empty).expect("read"),
        "",
        "nothing recorded"
    );
    // ...refuses a wrong fingerprint, records the right one, and then the host works.
    let (code, _, _) = run_with(
        &sb,
        &env,
        &["hosts", "trust", "remote", "--fingerprint", "SHA256:wrong"],
    );
    assert_eq!(code, 4);
    let (code, out, err) = run_with(
        &sb,
        &env,
        &["hosts", "trust", "remote", "--fingerprint", &fp],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("recorded") && out.contains(&fp), "{out}");
    let (code, out, err) = run_with(&sb, &env, &["hosts", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert!(
        v[0]["auth"].as_str().is_some_and(|a| a.starts_with("key:")),
        "{v}"
    );
}

#[tokio::test]
async fn an_engine_on_tcp_behind_the_host_is_reached_through_a_tcp_channel() {
    let bed = Bed::get();
    require_docker();
    // Stand-in for an engine on tcp://127.0.0.1:PORT of the host: a relay to the socket.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = relay.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = relay.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    let spec = opsdeck::inventory::HostSpec {
        ssh: Some(bed.target()),
        docker_socket: Some(format!("tcp://127.0.0.1:{port}")),
        ..Default::default()
    };
    let h = Host::with_options("tcp", &spec, bed.opts()).expect("host");
    assert!(h
        .docker_endpoint()
        .ends_with(&format!("→ tcp://127.0.0.1:{port}")));
    let d = tokio::time::timeout(BOUND, h.docker())
        .await
        .expect("bounded")
        .expect("docker over ssh and tcp");
    d.ping().await.expect("ping");
    assert!(d.version().await.expect("version").version.is_some());
    task.abort();
}

#[test]
fn the_binary_opens_an_encrypted_key_with_opsdeck_ssh_passphrase() {
    let bed = Bed::get();
    let sb = Sandbox::new();
    let config = sb.write(
        "ssh_config",
        &format!(
            "Host tb\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n",
            bed.host,
            bed.port,
            bed.user,
            bed.key_enc.display()
        ),
    );
    sb.write("opsdeck.toml", "[hosts.remote]\nssh = \"tb\"\n");
    let run = |pass: Option<&str>| {
        let mut c = sb.opsdeck();
        c.env("OPSDECK_SSH_CONFIG", &config)
            .env("OPSDECK_KNOWN_HOSTS", &bed.known_hosts)
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("OPSDECK_SSH_PASSPHRASE")
            .args(["status", "--no-stats"]);
        if let Some(p) = pass {
            c.env("OPSDECK_SSH_PASSPHRASE", p);
        }
        let out = c.output().expect("opsdeck runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(Some(&bed.key_pass));
    assert_eq!(code, 0, "{err}");
    let (code, err) = run(None);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("encrypted") && err.contains("OPSDECK_SSH_PASSPHRASE"),
        "{err}"
    );
    let (code, err) = run(Some("opsdeck-wrong-pass"));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(
        !err.contains("opsdeck-wrong-pass") && !err.contains(&bed.key_pass),
        "{err}"
    );
}

/// Locks over SSH: the lock is taken on the remote host (in its lock directory, by the SSH
/// user), a second action on the same app is refused while it is held, a live lock is not
/// released without --force, and a finished action leaves the app free.
#[test]
fn locks_are_taken_on_the_remote_host_and_serialize_actions_over_ssh() {
    let bed = Bed::get();
    let sb = Sandbox::new();
    let env = binary_env(&sb, &bed, &bed.known_hosts);
    let project = unique("lockssh");
    let name = format!("{project}-web-1");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=web",
        "opsdeck-test/busybox:v1",
    ]);
    let _c = ContainerGuard(name.clone());
    // The lock directory lives on the host; the SSH user (deploy) creates the locks in it.
    sb.host_writable(&[]);
    let locks = sb.path().join("locks");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.remote]\nssh = \"tb\"\n[apps.shop]\nhost = \"remote\"\ndir = \"/srv/shop\"\nproject = \"{project}\"\nservices = [\"web\"]\n"
        ),
    );
    let mut env = env;
    env.push(("OPSDECK_LOCK_DIR".into(), locks.display().to_string()));
    let started = || docker(&["inspect", "-f", "{{.State.StartedAt}}", &name]);
    let before = started();

    let mut holder = sb
        .opsdeck()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("SSH_AUTH_SOCK")
        .args(["exec", "shop/web", "--", "sleep", "6"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for(
        "the lock to be taken over SSH",
        Duration::from_secs(30),
        || {
            let (_, out, _) = run_with(&sb, &env, &["lock", "status", "shop"]);
            out.contains("locked by").then_some(())
        },
    );
    // Taken on the host, by the SSH user.
    let owner = std::fs::metadata(locks.join("shop.lock")).expect("the lock directory");
    let deploy_uid = std::process::Command::new("id")
        .args(["-u", &bed.user])
        .output()
        .expect("id");
    assert_eq!(
        {
            use std::os::unix::fs::MetadataExt;
            owner.uid().to_string()
        },
        String::from_utf8_lossy(&deploy_uid.stdout).trim(),
        "the lock was made by the SSH user on the host"
    );
    // A second action is refused, naming the holder; nothing restarted.
    let (code, out, err) = run_with(&sb, &env, &["restart", "shop/web"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("locked by") && err.contains("exec"), "{err}");
    assert_eq!(started(), before, "nothing restarted");
    // A live lock is not released without --force.
    let (code, _, err) = run_with(&sb, &env, &["lock", "release", "shop", "--yes"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("--force"), "{err}");
    // The holder finishes: the lock is gone and the restart runs.
    assert!(holder.wait().expect("wait").success());
    let (_, out, _) = run_with(&sb, &env, &["lock", "status", "shop"]);
    assert!(out.contains("not locked"), "{out}");
    assert!(!locks.join("shop.lock").exists());
    let (code, out, err) = run_with(&sb, &env, &["restart", "shop/web"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(started(), before, "restarted over SSH");
}
