//! `opsdeck forward`: a loopback listener carried through the host connection, used by real
//! clients from the test machine: `psql` to a database in a container (this machine) and to
//! the test bed's shared Postgres over the test bed's sshd (a `url` database), and HTTP to
//! a container port; a named `[forwards.NAME]`; another local user refused; anything but
//! loopback refused before listening.

use opsdeck_testkit::{self as common, pg as pgbed, ssh as ssh_bed};

use common::*;
use pgbed::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `opsdeck forward`, and the JSON event it printed first.
struct Running {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    started: serde_json::Value,
}

fn start(sb: &Sandbox, env: &[(String, String)], args: &[&str]) -> Running {
    let mut child = sb
        .opsdeck_env(env)
        .args(["--output", "json", "forward"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
        let _ = child.kill();
        let err = child
            .stderr
            .take()
            .map(|mut s| {
                let mut t = String::new();
                let _ = std::io::Read::read_to_string(&mut s, &mut t);
                t
            })
            .unwrap_or_default();
        panic!("forward did not start ({e}): {line:?} {err}")
    });
    Running {
        child,
        out,
        started,
    }
}

impl Running {
    fn local(&self) -> String {
        self.started["local"].as_str().expect("local").to_string()
    }

    fn port(&self) -> String {
        self.local().rsplit(':').next().expect("port").to_string()
    }

    /// Ctrl-C: it exits 0 and says what it carried.
    fn stop(mut self) -> serde_json::Value {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success());
        let mut line = String::new();
        self.out.read_line(&mut line).expect("closing line");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "forward exits 0 on Ctrl-C: {status:?}");
        serde_json::from_str(&line).expect("closing event")
    }
}

fn psql(port: &str, user: &str, password: Option<&str>, db: &str, sql: &str) -> String {
    let mut c = Command::new("psql");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        port,
        "-U",
        user,
        "-d",
        db,
        "-tAc",
        sql,
    ]);
    if let Some(p) = password {
        c.env("PGPASSWORD", p);
    }
    let o = c.env("PGCONNECT_TIMEOUT", "10").output().expect("psql");
    assert!(
        o.status.success(),
        "psql through the forward: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn psql_reaches_a_container_database_and_a_named_forward_reaches_a_web_port() {
    let pg = pg();
    require_docker();
    let web = unique("fwweb");
    let _web = ContainerGuard(web.clone());
    docker(&["run", "-d", "--name", &web, "opsdeck-test/busybox:v1"]);
    let sb = Sandbox::new();
    let web_port = free_port();
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shopdb]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\n[forwards.site]\ntarget = \"local/{web}:80\"\nlocal = \"127.0.0.1:{web_port}\"\n",
            pg.name
        ),
    );

    // The database by its inventory name, on a port we pick.
    let db_port = free_port();
    let f = start(
        &sb,
        &[],
        &["shopdb", "--local", &format!("127.0.0.1:{db_port}")],
    );
    assert_eq!(f.local(), format!("127.0.0.1:{db_port}"));
    assert_eq!(f.started["host"], "local");
    assert!(
        f.started["remote"]
            .as_str()
            .is_some_and(|r| r.ends_with(":5432")),
        "{}",
        f.started
    );
    assert_eq!(
        psql(
            &f.port(),
            "postgres",
            None,
            "shop",
            "SELECT count(*) FROM orders"
        ),
        "5000"
    );
    assert_eq!(
        psql(
            &f.port(),
            "postgres",
            None,
            "shop",
            "SELECT email FROM users WHERE id = 2"
        ),
        "b@x"
    );
    // Another user of this machine cannot use it (the test bed's `deploy` user).
    let other = Command::new("runuser")
        .args(["-u", "deploy", "--", "psql", "-h", "127.0.0.1", "-p"])
        .arg(f.port())
        .args(["-U", "postgres", "-d", "shop", "-tAc", "SELECT 1"])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("runuser");
    assert!(!other.status.success(), "another user got through");
    let closed = f.stop();
    assert_eq!(closed["event"], "closed");
    assert_eq!(closed["connections"], 2, "{closed}");
    assert!(closed["refused"].as_u64() >= Some(1), "{closed}");
    assert!(closed["received_bytes"].as_u64() > Some(0), "{closed}");

    // A named forward: its target and its local address come from the inventory.
    let f = start(&sb, &[], &["site"]);
    assert_eq!(f.local(), format!("127.0.0.1:{web_port}"));
    let body = http_get(&f.local(), "/version");
    assert!(body.contains("v1"), "{body}");
    f.stop();
}

/// GET `path` from `addr` (no proxy, 10 s timeout); the body.
fn http_get(addr: &str, path: &str) -> String {
    let o = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "-m", "10"])
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("curl");
    assert!(
        o.status.success(),
        "GET {path}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn psql_reaches_the_shared_postgres_through_the_ssh_connection() {
    let url = testbed_var("OPSDECK_TB_PG_URL");
    let bed = ssh_bed::Bed::get();
    let sshd = ssh_bed::Sshd::start(&bed, true);
    let sb = Sandbox::new();
    let env = sshd.client_env(&sb, &bed);
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.remote]\nssh = \"tb\"\n[databases.shared]\nhost = \"remote\"\nengine = \"postgres\"\nurl = \"{url}\"\n[forwards.shared-db]\ntarget = \"databases.shared\"\n"
        ),
    );
    let f = start(&sb, &env, &["databases.shared"]);
    assert_eq!(f.started["host"], "remote");
    assert!(
        !f.started.to_string().contains("opsdeck-test"),
        "the URL's password is never printed: {}",
        f.started
    );
    let (user, password) = url
        .strip_prefix("postgres://")
        .and_then(|r| r.split_once('@'))
        .and_then(|(a, _)| a.split_once(':'))
        .expect("user:password in the test bed's URL");
    assert_eq!(
        psql(&f.port(), user, Some(password), "postgres", "SELECT 6*7"),
        "42"
    );
    // The session went through the sshd: it ran while the forward was open.
    assert!(!sshd.sessions().is_empty(), "no SSH session carried it");
    let closed = f.stop();
    assert_eq!(closed["connections"], 1, "{closed}");
    // The named forward takes the target's port when it is free, else another.
    let f = start(&sb, &env, &["shared-db"]);
    assert_eq!(
        psql(&f.port(), user, Some(password), "postgres", "SELECT 1"),
        "1"
    );
    f.stop();
}

#[test]
fn a_forward_listens_on_loopback_only_and_names_what_it_cannot_find() {
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[forwards.bad]\ntarget = \"databases.nope\"\n",
    );
    let (code, _, err) = sb.run(&["forward", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("forwards.bad.target") && err.contains("nope"),
        "the inventory names the bad forward: {err}"
    );
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[forwards.open]\ntarget = \"web:80\"\nlocal = \"0.0.0.0:8080\"\n",
    );
    let (code, _, err) = sb.run(&["forward", "open"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("loopback"), "{err}");
    sb.write("opsdeck.toml", "[hosts.local]\n");
    for (args, says) in [
        (
            vec!["forward", "web:80", "--local", "0.0.0.0:9999"],
            "loopback",
        ),
        (vec!["forward", "web:http"], "not a port"),
        (vec!["forward", "no-such-container:80"], "no-such-container"),
    ] {
        let (code, _, err) = sb.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
