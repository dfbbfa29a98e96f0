//! The fault matrix: opsdeck killed with SIGKILL (no cleanup, no undo can run) or its SSH
//! connection cut, at every step of deploy, rollback, db create, backup, verify and restore.
//! The trigger is the engine's own event stream (`--output json`): the fault lands when step
//! N starts (and, for the one-step actions, at several moments inside the step). After each
//! fault, what persists is whole (`.env` parses and holds the old or the new version; no
//! published backup is partial; the live database exists and holds whole data), the killed
//! run's journal entry is `interrupted`, and a re-run of the same action succeeds and leaves
//! the "after" state. Everything is real: the engine, compose, Postgres, sshd.

use opsdeck_testkit::{self as common, pg as pgbed, ssh as ssh_bed};

use common::*;
use pgbed::*;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// When the fault lands.
#[derive(Clone, Copy, Debug)]
enum At {
    /// This long after step N (1-based) started.
    Step(usize, u64),
    /// When the step reports its first progress (bytes streamed).
    FirstProgress,
}

/// What the fault is.
enum Fault<'a> {
    Kill,
    CutSsh(&'a ssh_bed::Sshd),
}

/// Run `cmd` (an action with `--output json`) and land `fault` at `at`. Returns whether
/// the fault landed (false: the action ended first), and the exit status.
fn interrupt(mut cmd: Command, at: At, fault: Fault<'_>) -> (bool, Option<i32>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn opsdeck");
    let stdout = child.stdout.take().expect("stdout");
    let mut landed = false;
    let mut armed: Option<(Instant, u64)> = None;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    while Instant::now() < deadline {
        if let Some((t, ms)) = armed {
            if t.elapsed() >= Duration::from_millis(ms) {
                if let Ok(Some(_)) = child.try_wait() {
                    // It ended before the fault: nothing landed.
                    break;
                }
                landed = true;
                match &fault {
                    Fault::Kill => {
                        let _ = child.kill();
                    }
                    Fault::CutSsh(sshd) => {
                        sshd.cut_sessions();
                    }
                }
                break;
            }
        }
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(line) => {
                let Ok(ev) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let hit = match at {
                    At::Step(n, _) => {
                        ev["event"] == "step_started" && ev["seq"].as_u64() == Some(n as u64)
                    }
                    At::FirstProgress => ev["event"] == "progress",
                };
                if hit && armed.is_none() {
                    let ms = match at {
                        At::Step(_, ms) => ms,
                        At::FirstProgress => 0,
                    };
                    armed = Some((Instant::now(), ms));
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if armed.is_none() {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if armed.is_none() {
                    break;
                }
            }
        }
    }
    let status = wait_for(
        "the interrupted run to end",
        Duration::from_secs(240),
        || child.try_wait().ok().flatten(),
    );
    (landed, status.code())
}

/// The newest journal entry, as `history` shows it.
fn last_entry(sb: &Sandbox, env: &[(String, String)]) -> Value {
    let (_, out, _) = sb.run_env(env, &["history", "--output", "json", "--limit", "1"]);
    serde_json::from_str::<Value>(&out).expect("history json")[0].clone()
}

/// A killed run is `interrupted`; a run whose connection was cut ends itself (failed, or
/// cancelled, or even succeeded if the cut came after its last remote call).
fn assert_journaled_end(sb: &Sandbox, env: &[(String, String)], killed: bool, what: &str) {
    let e = last_entry(sb, env);
    let outcome = e["outcome"].as_str().unwrap_or("");
    if killed {
        assert_eq!(outcome, "interrupted", "{what}: {e}");
    } else {
        assert_ne!(outcome, "running", "{what}: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// deploy and rollback

struct Shop {
    _guard: ComposeGuard,
    sb: Sandbox,
    dir: PathBuf,
    project: String,
    env: Vec<(String, String)>,
}

fn shop(ssh: Option<(&ssh_bed::Bed, &ssh_bed::Sshd)>) -> Shop {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("fm");
    let dir = sb.path().join("shop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("docker-compose.yml"),
        "version: \"2.4\"\nservices:\n  web:\n    image: \"opsdeck-test/busybox:${VERSION}\"\n  api:\n    image: \"opsdeck-test/busybox:${VERSION}\"\n",
    )
    .expect("compose");
    std::fs::write(dir.join(".env"), "# shop\nVERSION=v1\nAPI_KEY=keep-me\n").expect(".env");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n{}[apps.shop]\nhost = \"{}\"\ndir = \"{}\"\nproject = \"{project}\"\nservices = [\"web\", \"api\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"20s\" }}\n",
            ssh.map(|_| "[hosts.remote]\nssh = \"tb\"\n").unwrap_or_default(),
            if ssh.is_some() { "remote" } else { "local" },
            dir.display()
        ),
    );
    let guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    compose(&dir, &project, &["up", "-d"]);
    let mut env = vec![];
    if let Some((bed, sshd)) = ssh {
        for p in [sb.path(), dir.as_path()] {
            let _ = Command::new("chmod").arg("o+rwx").arg(p).status();
        }
        chown(&dir.join(".env"), "deploy:deploy");
        sb.host_writable(&[]);
        env = sshd.client_env(&sb, bed);
    }
    Shop {
        _guard: guard,
        sb,
        dir,
        project,
        env,
    }
}

impl Shop {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.sb.opsdeck_env(&self.env);
        c.args(args).args(["--output", "json"]);
        c
    }
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.sb.run_env(&self.env, args)
    }
    fn version(&self) -> String {
        let env = std::fs::read_to_string(self.dir.join(".env")).expect(".env");
        assert!(env.starts_with("# shop\n"), "comment kept: {env}");
        assert!(env.contains("API_KEY=keep-me\n"), "other keys kept: {env}");
        let versions: Vec<&str> = env
            .lines()
            .filter_map(|l| l.strip_prefix("VERSION="))
            .collect();
        assert_eq!(versions.len(), 1, "one VERSION line: {env}");
        versions[0].to_string()
    }
    /// Each service's image, and that the project has exactly its two containers.
    fn images(&self) -> Vec<String> {
        let ids = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
        ]);
        assert_eq!(
            ids.lines().count(),
            2,
            "two containers, no leftovers: {ids}"
        );
        ["web", "api"]
            .iter()
            .map(|s| {
                // By compose's labels: a zero-downtime switch leaves the service's container
                // under the next number (`shop_web_2`), as compose itself would scale it.
                let id = docker(&[
                    "ps",
                    "-aq",
                    "--filter",
                    &format!("label=com.docker.compose.project={}", self.project),
                    "--filter",
                    &format!("label=com.docker.compose.service={s}"),
                ]);
                assert_eq!(id.lines().count(), 1, "one {s} container: {id}");
                docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Status}}", &id])
            })
            .collect()
    }
    fn steps(&self, args: &[&str]) -> usize {
        let mut a = args.to_vec();
        a.push("--dry-run");
        let (code, out, err) = self.run(&[a.as_slice(), &["--output", "json"]].concat());
        assert_eq!(code, 0, "{out}{err}");
        let v: Value = serde_json::from_str(&out).expect("plan json");
        v["plan"]["steps"].as_array().map(Vec::len).unwrap_or(0)
    }
}

/// At every step of `action`, the fault; then the state is whole, and a re-run ends it.
/// `reset` puts the "before" state back between points. Returns how many faults landed.
fn every_step<'a>(
    s: &Shop,
    action: &[&str],
    after: &str,
    fault: impl Fn() -> Fault<'a>,
    reset: impl Fn(),
) -> usize {
    let n = s.steps(action);
    assert!(n >= 3, "{action:?} has {n} steps");
    let before_images = s.images();
    let mut landed = 0;
    for k in 1..=n {
        let f = fault();
        let killed = matches!(f, Fault::Kill);
        // As the step starts (some steps take only milliseconds).
        let (hit, _) = interrupt(s.cmd(action), At::Step(k, 0), f);
        assert!(hit || k == n, "{action:?}: the fault landed at step {k}");
        landed += usize::from(hit);
        let v = s.version();
        assert!(
            v == after || before_images.iter().any(|i| i.contains(&format!(":{v} "))),
            "{action:?} step {k}: .env holds the old or the new version, not {v}"
        );
        assert_journaled_end(&s.sb, &s.env, killed, &format!("{action:?} step {k}"));
        let (code, out, err) = s.run(action);
        assert_eq!(
            code, 0,
            "{action:?}: re-run after a fault at step {k}: {out}{err}"
        );
        assert_eq!(s.version(), after, "{action:?} step {k}");
        let img = format!("opsdeck-test/busybox:{after} running");
        assert_eq!(s.images(), [img.clone(), img], "{action:?} step {k}");
        reset();
    }
    landed
}

#[test]
fn deploy_and_rollback_killed_at_every_step_end_whole_and_rerun() {
    let s = shop(None);
    let deploy = ["deploy", "shop", "--version", "v2"];
    let rollback = ["rollback", "shop", "--to", "v1", "--yes"];
    let landed = every_step(
        &s,
        &deploy,
        "v2",
        || Fault::Kill,
        || {
            let (code, out, err) = s.run(&rollback);
            assert_eq!(code, 0, "reset: {out}{err}");
        },
    );
    // From v2, roll back to v1 at every step.
    let (code, out, err) = s.run(&deploy);
    assert_eq!(code, 0, "{out}{err}");
    let landed2 = every_step(
        &s,
        &rollback,
        "v1",
        || Fault::Kill,
        || {
            let (code, out, err) = s.run(&deploy);
            assert_eq!(code, 0, "reset: {out}{err}");
        },
    );
    eprintln!("fault matrix: deploy {landed} points, rollback {landed2} points (kill -9)");
    assert!(landed + landed2 >= 8);
}

#[test]
fn deploy_over_ssh_cut_at_every_step_ends_whole_and_reruns() {
    let bed = ssh_bed::Bed::get();
    let sshd = ssh_bed::Sshd::start(&bed, true);
    let s = shop(Some((&bed, &sshd)));
    let deploy = ["deploy", "shop", "--version", "v2"];
    let rollback = ["rollback", "shop", "--to", "v1", "--yes"];
    let landed = every_step(
        &s,
        &deploy,
        "v2",
        || Fault::CutSsh(&sshd),
        || {
            let (code, out, err) = s.run(&rollback);
            assert_eq!(code, 0, "reset: {out}{err}");
        },
    );
    eprintln!("fault matrix: deploy over SSH {landed} points (connection cut)");
}

// ---------------------------------------------------------------------------------------
// backup, verify, restore (a real Postgres in a container; a dir storage)

fn db_sandbox(pg: &Pg, store: &Path) -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shopdb]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\nbackup_to = \"local\"\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n",
            pg.name,
            store.display()
        ),
    );
    sb
}

fn json_cmd(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = sb.opsdeck();
    c.args(args).args(["--output", "json", "--yes"]);
    c
}

/// The scratch databases on the server (verify's and restore's), one per line.
fn scratch_left(pg: &Pg) -> String {
    pg.sql(
        "postgres",
        "SELECT string_agg(datname, E'\\n' ORDER BY datname) FROM pg_database WHERE datname LIKE 'opsdeck\\_%'",
    )
}

#[test]
fn backup_verify_and_restore_killed_mid_way_leave_whole_state_and_rerun() {
    let pg = pg();
    // Big enough that the dump streams for a while.
    pg.sql(
        "shop",
        "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g*7)::text) AS x FROM generate_series(1, 400000) g",
    );
    let store = tempfile::tempdir().expect("tmp");
    let sb = db_sandbox(&pg, store.path());
    let none: Vec<(String, String)> = vec![];
    let mut points = 0;

    // backup: at its start, and while the dump streams.
    for at in [At::Step(1, 0), At::FirstProgress, At::Step(1, 700)] {
        let (hit, _) = interrupt(json_cmd(&sb, &["backup", "shopdb"]), at, Fault::Kill);
        if !hit {
            continue;
        }
        points += 1;
        // What the killed run published (if anything) is checked below: every listed
        // backup must verify.
        assert_journaled_end(&sb, &none, true, &format!("backup {at:?}"));
        // Whatever was published is whole: every listed backup verifies below.
        let (code, out, err) = sb.run(&["backup", "shopdb"]);
        assert_eq!(code, 0, "backup re-run after {at:?}: {out}{err}");
    }
    let (_, list) = sb.json(&["backups", "shopdb"]);
    let ids: Vec<String> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_string())
        .collect();
    assert!(ids.len() >= 2, "{list}");
    assert!(files(store.path()).iter().all(|f| !f.ends_with(".partial")));
    let id = ids[0].clone();

    // verify: killed while the scratch restore runs; the re-run verifies, and no scratch
    // database is left behind by either.
    for at in [At::Step(1, 0), At::FirstProgress, At::Step(1, 1500)] {
        let (hit, _) = interrupt(json_cmd(&sb, &["verify", "shopdb", &id]), at, Fault::Kill);
        if !hit {
            continue;
        }
        points += 1;
        assert_journaled_end(&sb, &none, true, &format!("verify {at:?}"));
        let (code, out, err) = sb.run(&["verify", "shopdb", &id]);
        assert_eq!(code, 0, "verify re-run after {at:?}: {out}{err}");
        assert_eq!(
            scratch_left(&pg),
            "",
            "verify re-run after {at:?} leaves no scratch database (its own nor the dead run's)"
        );
    }
    for other in &ids[1..] {
        let (code, out, err) = sb.run(&["verify", "shopdb", other]);
        assert_eq!(
            code, 0,
            "every published backup is whole: {other}: {out}{err}"
        );
    }

    // restore: the data changes, then a restore is killed at several moments. The live
    // database always exists and holds either the changed data or the backup's, whole;
    // the re-run restores the backup's.
    let backed_up = pg.checksum();
    for (i, at) in [
        At::Step(1, 0),
        At::FirstProgress,
        At::Step(1, 1500),
        At::Step(1, 4000),
    ]
    .into_iter()
    .enumerate()
    {
        pg.sql(
            "shop",
            &format!("UPDATE users SET email = 'changed{i}@x' WHERE id = 1"),
        );
        let changed = pg.checksum();
        let (hit, _) = interrupt(json_cmd(&sb, &["restore", "shopdb", &id]), at, Fault::Kill);
        if !hit {
            continue;
        }
        points += 1;
        let live = pg.checksum();
        assert!(
            live == changed || live == backed_up,
            "restore {at:?}: the live database holds neither the old nor the restored data"
        );
        assert_journaled_end(&sb, &none, true, &format!("restore {at:?}"));
        let (code, out, err) = sb.run(&["restore", "shopdb", &id, "--yes"]);
        assert_eq!(code, 0, "restore re-run after {at:?}: {out}{err}");
        assert_eq!(pg.checksum(), backed_up, "restore {at:?}");
        assert_eq!(
            scratch_left(&pg),
            "",
            "restore re-run after {at:?} leaves no scratch database"
        );
    }
    eprintln!("fault matrix: backup/verify/restore {points} points (kill -9)");
    assert!(points >= 7, "{points} faults landed");
}

// ---------------------------------------------------------------------------------------
// db create --write-env (the test bed's shared Postgres, by URL)

#[test]
fn db_create_killed_mid_way_reruns_to_a_working_url_in_env() {
    let pg_url = testbed_var("OPSDECK_TB_PG_URL");
    let sb = Sandbox::new();
    let app_dir = sb.path().join("app");
    std::fs::create_dir_all(&app_dir).expect("mkdir");
    std::fs::write(app_dir.join(".env"), "KEEP=1\n").expect(".env");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.fmapp]\nhost = \"local\"\ndir = \"{}\"\n[databases.shared]\nhost = \"local\"\nengine = \"postgres\"\nurl = \"{pg_url}\"\n",
            app_dir.display()
        ),
    );
    let none: Vec<(String, String)> = vec![];
    let mut points = 0;
    let mut made = vec![];
    for (i, ms) in [0u64, 60, 150, 400].into_iter().enumerate() {
        let app = unique("fmdb").replace('-', "_");
        made.push(app.clone());
        let inv = std::fs::read_to_string(sb.path().join("opsdeck.toml")).expect("inv");
        sb.write(
            "opsdeck.toml",
            &inv.replace(
                &format!(
                    "[apps.{}]",
                    if i == 0 {
                        "fmapp".to_string()
                    } else {
                        made[i - 1].clone()
                    }
                ),
                &format!("[apps.{app}]"),
            ),
        );
        let (hit, _) = interrupt(
            json_cmd(&sb, &["db", "create", &app, "--write-env"]),
            At::Step(1, ms),
            Fault::Kill,
        );
        let env_now = std::fs::read_to_string(app_dir.join(".env")).expect(".env");
        assert!(env_now.contains("KEEP=1\n"), "{env_now}");
        if hit {
            points += 1;
            assert_journaled_end(&sb, &none, true, &format!("db create +{ms}ms"));
        }
        let (code, out, err) = sb.run(&["db", "create", &app, "--write-env"]);
        assert_eq!(code, 0, "db create re-run after +{ms}ms: {out}{err}");
        let env = std::fs::read_to_string(app_dir.join(".env")).expect(".env");
        let url = env
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("DATABASE_URL="))
            .unwrap_or_else(|| panic!("no DATABASE_URL in .env after the re-run (+{ms}ms):\n{env}"))
            .trim_matches('"')
            .to_string();
        let url = url.replace("@postgres:", "@127.0.0.1:");
        let ok = Command::new("psql")
            .arg(&url)
            .args(["-Atc", "SELECT current_user"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == app)
            .unwrap_or(false);
        assert!(ok, "the DATABASE_URL in .env logs in as {app} (+{ms}ms)");
    }
    for n in &made {
        let admin = pg_url.clone();
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{n}\""),
            format!("DROP ROLE IF EXISTS \"{n}\""),
        ] {
            let _ = Command::new("psql").arg(&admin).args(["-c", &sql]).output();
        }
    }
    eprintln!("fault matrix: db create {points} points (kill -9)");
    assert!(points >= 2, "{points}");
}
