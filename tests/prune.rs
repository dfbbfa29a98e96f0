//! `opsdeck prune` against the real engine, locally and over the test bed's sshd. The test
//! bed's engine is shared (its images are unused most of the time), so every run that
//! removes is limited with `--label` to what this test created; the rules themselves are
//! table-tested in `src/ops/prune.rs`. An app's PREVIOUS_VERSION image stays although no
//! container uses it; a volume a container mounts stays; the plan shows the bytes.

use opsdeck_testkit::{self as common, ssh::Bed};

use common::*;
use serde_json::Value;

struct Objects {
    label: String,
    repo: String,
    stopped: String,
    running: String,
    orphan: String,
    attached: String,
}

impl Drop for Objects {
    fn drop(&mut self) {
        let run = |args: &[&str]| {
            let _ = std::process::Command::new("docker").args(args).output();
        };
        run(&["rm", "-f", &self.stopped, &self.running]);
        for t in ["old", "prev"] {
            run(&["rmi", &format!("{}:{t}", self.repo)]);
        }
        run(&["volume", "rm", "-f", &self.orphan, &self.attached]);
    }
}

fn image_exists(r: &str) -> bool {
    std::process::Command::new("docker")
        .args(["image", "inspect", r])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn exists(kind: &str, name: &str) -> bool {
    std::process::Command::new("docker")
        .args([kind, "inspect", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Two labelled images (`:old` and `:prev`, different ids), a stopped and a running
/// labelled container, an unattached and an attached labelled volume.
fn objects(what: &str) -> Objects {
    let u = unique(what);
    let o = Objects {
        label: format!("opsdeck.test.prune={u}"),
        repo: format!(
            "opsdeck-test/prune-{}",
            u.trim_start_matches("opsdeck-test-")
        ),
        stopped: format!("{u}-stopped"),
        running: format!("{u}-running"),
        orphan: format!("{u}-orphan"),
        attached: format!("{u}-attached"),
    };
    for t in ["old", "prev"] {
        let tmp = format!("{u}-build-{t}");
        docker(&[
            "run",
            "--name",
            &tmp,
            "opsdeck-test/busybox:v1",
            "sh",
            "-c",
            &format!("echo {t} > /which"),
        ]);
        docker(&[
            "commit",
            "--change",
            &format!("LABEL {}", o.label),
            &tmp,
            &format!("{}:{t}", o.repo),
        ]);
        docker(&["rm", "-f", &tmp]);
    }
    docker(&["volume", "create", "--label", &o.label, &o.orphan]);
    docker(&["volume", "create", "--label", &o.label, &o.attached]);
    docker(&[
        "create",
        "--name",
        &o.stopped,
        "--label",
        &o.label,
        "opsdeck-test/busybox:v1",
        "true",
    ]);
    docker(&[
        "run",
        "-d",
        "--name",
        &o.running,
        "--label",
        &o.label,
        "-v",
        &format!("{}:/data", o.attached),
        "opsdeck-test/busybox:v1",
        "sleep",
        "600",
    ]);
    o
}

/// A sandbox whose inventory has `local` and the SSH host `tb`, each with an app whose
/// `.env` says `VERSION=cur` and `PREVIOUS_VERSION=prev`.
fn sandbox() -> (Sandbox, Vec<(String, String)>) {
    require_docker();
    let ssh = Bed::get();
    let sb = Sandbox::new();
    let dirs = sb.host_writable(&["shop-local", "shop-tb"]);
    for d in &dirs {
        std::fs::write(
            d.join("docker-compose.yml"),
            "version: \"2.4\"\nservices:\n  web:\n    image: opsdeck-test/busybox:${VERSION}\n",
        )
        .expect("compose");
        std::fs::write(d.join(".env"), "VERSION=cur\nPREVIOUS_VERSION=prev\n").expect("env");
        chmod(d, "a+rx");
        chmod(&d.join(".env"), "a+r");
        chmod(&d.join("docker-compose.yml"), "a+r");
    }
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
        &format!(
            "[hosts.local]\n\n[hosts.tb]\nssh = \"tb\"\n\n[apps.shop]\nhost = \"local\"\ndir = \"{}\"\nproject = \"{}\"\nservices = [\"web\"]\n\n[apps.shoptb]\nhost = \"tb\"\ndir = \"{}\"\nproject = \"{}\"\nservices = [\"web\"]\n",
            dirs[0].display(),
            unique("prj"),
            dirs[1].display(),
            unique("prj"),
        ),
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
    (sb, env)
}

#[test]
fn prune_keeps_a_rollback_image_and_attached_volumes_locally_and_over_ssh() {
    let (sb, env) = sandbox();
    for host in ["local", "tb"] {
        let o = objects(host);
        let base = [
            "prune",
            "--host",
            host,
            "--images",
            "--containers",
            "--volumes",
            "--label",
            &o.label,
        ];

        // The plan: exactly our removable objects, each with its bytes, the total last.
        let mut dry = base.to_vec();
        dry.extend(["--dry-run", "--output", "json"]);
        let (code, out, err) = sb.run_env(&env, &dry);
        assert_eq!(code, 0, "{host}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let steps = v["plan"]["steps"].as_array().expect("steps");
        let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(steps.len(), 3, "{host}: {names:#?}");
        let joined = names.join("\n");
        for want in [&o.stopped, &format!("{}:old", o.repo), &o.orphan] {
            assert!(joined.contains(want.as_str()), "{host}: {want} in {joined}");
        }
        for never in [&format!("{}:prev", o.repo), &o.attached, &o.running] {
            assert!(
                !joined.contains(never.as_str()),
                "{host}: {never} kept: {joined}"
            );
        }
        assert!(
            steps
                .iter()
                .any(|s| s["bytes"].as_u64().is_some_and(|b| b > 0)),
            "{host}: bytes per step: {out}"
        );
        assert!(
            names.last().is_some_and(|n| n.contains("freed in all")),
            "{joined}"
        );

        // Destructive: without --yes, refused and nothing removed.
        let (code, _, err) = sb.run_env(&env, &base);
        assert_eq!(code, 4, "{host}: {err}");
        assert!(image_exists(&format!("{}:old", o.repo)));

        let mut yes = base.to_vec();
        yes.push("--yes");
        let (code, out, err) = sb.run_env(&env, &yes);
        assert_eq!(code, 0, "{host}: {out}\n{err}");
        assert!(
            !image_exists(&format!("{}:old", o.repo)),
            "{host}: old removed"
        );
        assert!(
            image_exists(&format!("{}:prev", o.repo)),
            "{host}: the PREVIOUS_VERSION image stays"
        );
        assert!(!exists("container", &o.stopped), "{host}: stopped removed");
        assert!(exists("container", &o.running), "{host}: running stays");
        assert!(!exists("volume", &o.orphan), "{host}: orphan removed");
        assert!(exists("volume", &o.attached), "{host}: attached stays");
        assert!(out.contains("freed"), "{out}");
    }
}

#[test]
fn prune_of_several_hosts_or_a_read_only_host_is_refused() {
    let (sb, env) = sandbox();
    let (code, _, err) = sb.run_env(&env, &["prune", "--dry-run"]);
    assert_eq!(code, 2, "two hosts: {err}");
    assert!(err.contains("--host"), "{err}");
    let (code, _, err) = sb.run_env(
        &env,
        &[
            "--read-only",
            "prune",
            "--host",
            "local",
            "--yes",
            "--label",
            "x=y",
        ],
    );
    assert_eq!(code, 4, "{err}");
}
