//! Read-only: `--read-only`, and `read_only = true` on a host, refuse every changing action
//! (exit 4, a message naming the host and why) while reads still work: locally and on the
//! test bed's sshd host, against the real engine.

use opsdeck_testkit::{self as common, ssh::Bed};

use common::*;

/// A sleeping container on the test bed's engine (the local host and the SSH host see the
/// same engine), and a sandbox whose inventory has `local` and the SSH host `tb`.
struct Bed2 {
    sb: Sandbox,
    env: Vec<(String, String)>,
    c: ContainerGuard,
}

fn bed(local_read_only: bool, tb_read_only: bool) -> Bed2 {
    require_docker();
    let ssh = Bed::get();
    let sb = Sandbox::new();
    sb.host_writable(&[]);
    let name = unique("ro");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "opsdeck-test/busybox:v1",
        "sh",
        "-c",
        "echo hello-from-ro; exec sleep 600",
    ]);
    let c = ContainerGuard(name);
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
    let routes = sb.write(
        "routes/routes.yml",
        "http:\n  routers:\n    r0:\n      rule: \"Host(`a.example.com`)\"\n      service: r0\n  services:\n    r0:\n      loadBalancer:\n        servers:\n          - url: \"http://web:80\"\n",
    );
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\nread_only = {local_read_only}\n\n[hosts.local.proxy]\nkind = \"traefik\"\nroutes_file = \"{}\"\n\n[hosts.tb]\nssh = \"tb\"\nread_only = {tb_read_only}\n\n[apps.shop]\nhost = \"tb\"\ndir = \"{}\"\nservices = [\"web\"]\n\n[databases.main]\nhost = \"tb\"\nengine = \"postgres\"\ncontainer = \"postgres\"\nbackup_to = \"nightly\"\n\n[storage.nightly]\nkind = \"dir\"\npath = \"{}\"\n",
            routes.display(),
            sb.path().join("shop").display(),
            sb.path().join("backups").display(),
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
    Bed2 { sb, env, c }
}

impl Bed2 {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.sb.run_env(&self.env, args)
    }
    fn started_at(&self) -> String {
        docker(&["inspect", "-f", "{{.State.StartedAt}}", &self.c.0])
    }
}

/// Every changing command of the CLI, as a user types it (`C` is the container).
fn changing_commands(c: &str, routes_file: &str) -> Vec<Vec<String>> {
    let w = |s: &str| s.split_whitespace().map(|w| w.replace('C', c)).collect();
    let mut all: Vec<Vec<String>> = [
        "start tb/C",
        "stop tb/C --yes",
        "restart tb/C",
        "exec tb/C -- touch /tmp/changed",
        "deploy shop --version v2",
        "rollback shop --yes",
        "backup main",
        "verify main b1",
        "restore main b1 --yes",
        "db create shop --server main",
        "redis assign shop --server main",
        "routes add r1 --rule Host(`a.example.com`) --to web:80 --host local",
        "routes remove r1 --yes --host local",
        "lock release shop --yes",
        "prune --host local --yes --label opsdeck.test=none",
        "maintenance shop on --message back-soon",
        "maintenance shop off",
        "up shop",
        "down shop --yes",
        "pull shop",
    ]
    .iter()
    .map(|s| w(s))
    .collect();
    all.push(vec![
        "routes".into(),
        "apply".into(),
        routes_file.into(),
        "--host".into(),
        "local".into(),
        "--yes".into(),
    ]);
    all
}

#[test]
fn read_only_flag_refuses_every_changing_command_and_reads_still_work() {
    let b = bed(false, false);
    let before = b.started_at();
    let routes = b.sb.path().join("routes/routes.yml");
    for args in changing_commands(&b.c.0, &routes.display().to_string()) {
        // Global flags go first: after `exec ... --` everything is the command.
        let mut a: Vec<&str> = vec!["--read-only"];
        a.extend(args.iter().map(String::as_str));
        let (code, out, err) = b.run(&a);
        assert_eq!(code, 4, "{a:?} must be refused (exit 4):\n{out}\n{err}");
        assert!(
            err.contains("read-only") && !err.contains("panicked"),
            "{a:?}: the refusal says why:\n{err}"
        );
        // A dry run of a refused action is refused too: nothing is planned on any host.
        a.insert(0, "--dry-run");
        let (code, _, err) = b.run(&a);
        assert_eq!(code, 4, "{a:?}: {err}");
    }
    assert_eq!(b.started_at(), before, "nothing restarted the container");
    let (_, out, _) = b.run(&["exec", &format!("tb/{}", b.c.0), "--", "ls", "/tmp"]);
    assert!(!out.contains("changed"), "the refused exec did not run");

    // Reads still work, over SSH and locally.
    let (code, v) = {
        let (code, out, err) = b.run(&["status", "--read-only", "--output", "json", "--no-stats"]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        (code, v)
    };
    assert_eq!(code, 0, "{v}");
    let text = v.to_string();
    assert!(text.contains(&b.c.0), "status lists the container: {text}");
    for target in [format!("tb/{}", b.c.0), format!("local/{}", b.c.0)] {
        let (code, out, err) = b.run(&["logs", &target, "--read-only", "--tail", "5"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("hello-from-ro"), "logs of {target}: {out}");
    }
}

#[test]
fn a_read_only_host_refuses_changes_over_ssh_and_others_still_change() {
    let b = bed(false, true);
    let before = b.started_at();
    let tb = format!("tb/{}", b.c.0);
    for args in [
        vec!["restart", tb.as_str()],
        vec!["stop", tb.as_str(), "--yes"],
        vec!["exec", tb.as_str(), "--", "touch", "/tmp/changed"],
        vec!["lock", "release", "shop", "--yes"],
    ] {
        let (code, out, err) = b.run(&args);
        assert_eq!(code, 4, "{args:?} must be refused:\n{out}\n{err}");
        assert!(
            err.contains("host tb") && err.contains("read_only = true"),
            "{args:?}: the message names the host and why:\n{err}"
        );
    }
    // JSON output: the refusal is the same exit code, and nothing ran.
    let (code, _, err) = b.run(&["restart", &tb, "--output", "json"]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(b.started_at(), before, "the container was not restarted");

    // Reads on the read-only host work.
    let (code, out, err) = b.run(&["logs", &tb, "--tail", "5"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("hello-from-ro"), "{out}");
    let (code, out, err) = b.run(&["status", "--host", "tb", "--no-stats"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&b.c.0), "{out}");

    // The same engine through the host that is not read-only still changes.
    let local = format!("local/{}", b.c.0);
    let (code, out, err) = b.run(&["exec", &local, "--", "touch", "/tmp/changed"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (_, out, _) = b.run(&["exec", &local, "--", "ls", "/tmp"]);
    assert!(out.contains("changed"), "{out}");
}

#[test]
fn a_read_only_local_host_refuses_restart() {
    let b = bed(true, false);
    let before = b.started_at();
    let (code, _, err) = b.run(&["restart", &format!("local/{}", b.c.0)]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("host local"), "{err}");
    assert_eq!(b.started_at(), before);
}
