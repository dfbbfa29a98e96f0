//! Backups of a real Postgres in a container (the test bed's opsdeck-test/postgres image):
//! streamed, checksummed, published only when complete, verified by restoring; every failure
//! exits 1, journals failed and publishes nothing.

use opsdeck_testkit::{self as common, pg as pgbed, ssh as ssh_bed};

use common::*;
use pgbed::*;
use std::process::Command;

fn setup(pg: &Pg, path: &std::path::Path, extra: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shopdb]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\nbackup_to = \"local\"\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n{extra}",
            pg.name,
            path.display()
        ),
    );
    sb
}

#[test]
fn backup_is_streamed_checksummed_and_verified_by_restoring() {
    let pg = pg();
    let store = tempfile::tempdir().expect("tmp");
    let sb = setup(&pg, store.path(), "");
    // Left over from backups that died: this database's is removed, another's is not.
    let stale = store.path().join("shopdb-20200101T000000000Z.dump.partial");
    let others = store.path().join("other-20200101T000000000Z.dump.partial");
    std::fs::write(&stale, "x").expect("write");
    std::fs::write(&others, "x").expect("write");
    let (code, out, err) = sb.run(&["backup", "shopdb"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!stale.exists(), "the dead backup's partial was removed");
    assert!(
        others.exists(),
        "another database's partial is not ours to remove"
    );
    std::fs::remove_file(&others).expect("rm");
    let (_, list) = sb.json(&["backups", "shopdb"]);
    let b = list[0].clone();
    let id = b["id"].as_str().expect("id").to_string();
    for key in ["id", "database", "time", "size", "sha256", "verified"] {
        assert!(!b[key].is_null(), "{key} missing: {b}");
    }
    assert_eq!(b["verified"], false);
    assert_eq!(b["tables"]["public.orders"], 5000);
    assert_eq!(b["tables"]["public.users"], 2);
    // The published file is what the manifest says.
    let dump = store.path().join(format!("{id}.dump"));
    let sum = Command::new("sha256sum")
        .arg(&dump)
        .output()
        .expect("sha256sum");
    assert!(String::from_utf8_lossy(&sum.stdout).starts_with(b["sha256"].as_str().expect("sha")));
    assert_eq!(
        std::fs::metadata(&dump).expect("dump").len(),
        b["size"].as_u64().expect("size")
    );
    assert!(files(store.path()).iter().all(|f| !f.ends_with(".partial")));
    // `db list` knows the database's last backup.
    let (code, dbs) = sb.json(&["db", "list"]);
    assert_eq!(code, 0, "{dbs}");
    let shop = dbs
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["database"] == "shop")
        .cloned()
        .expect("shop listed");
    assert_eq!(shop["last_backup"], b["time"], "{shop}");
    // Verify: only this marks it verified; the scratch database is gone afterwards.
    let (code, out, err) = sb.run(&["verify", "shopdb", &id]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, list) = sb.json(&["backups", "shopdb"]);
    assert_eq!(list[0]["verified"], true);
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'opsdeck_verify_%'"
        ),
        "0"
    );
    // A corrupted backup is refused at verification, and stays unverified.
    let (code, _, _) = sb.run(&["backup", "shopdb"]);
    assert_eq!(code, 0);
    let (_, list) = sb.json(&["backups", "shopdb"]);
    let newest = list[0]["id"].as_str().expect("id").to_string();
    let p = store.path().join(format!("{newest}.dump"));
    let mut bytes = std::fs::read(&p).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&p, bytes).expect("write");
    let (code, _, err) = sb.run(&["verify", "shopdb", &newest]);
    assert_eq!(code, 1);
    assert!(err.contains("checksum mismatch"), "{err}");
    assert_eq!(last_outcome(&sb), "failed");
    let (_, list) = sb.json(&["backups", "shopdb"]);
    assert_eq!(list[0]["verified"], false);
}

#[test]
fn a_failing_dump_or_storage_publishes_nothing() {
    let pg = pg();
    // Storage that cannot be written: a path below a regular file.
    let sb0 = Sandbox::new();
    let not_a_dir = sb0.write("file", "x");
    let sb = setup(&pg, &not_a_dir.join("backups"), "");
    let (code, _, err) = sb.run(&["backup", "shopdb"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(last_outcome(&sb), "failed");

    // A full disk: a 256 KiB tmpfs, and a database whose dump is larger.
    pg.sql("shop", "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g*7)::text) AS x FROM generate_series(1, 100000) g");
    let full = tempfile::tempdir().expect("tmp");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(full.path())
        .status()
        .expect("mount")
        .success();
    assert!(mounted, "mounting a small tmpfs for the disk-full case");
    let sb = setup(&pg, full.path(), "");
    let (code, _, err) = sb.run(&["backup", "shopdb"]);
    let left = files(full.path());
    let _ = Command::new("umount").arg(full.path()).status();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("No space left") || err.contains("space"),
        "{err}"
    );
    assert!(
        left.is_empty(),
        "nothing published, no partial left: {left:?}"
    );
    assert_eq!(last_outcome(&sb), "failed");

    // pg_dump killed mid-stream.
    pg.sql(
        "shop",
        "INSERT INTO big SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 400000) g",
    );
    let store = tempfile::tempdir().expect("tmp");
    let sb = setup(&pg, store.path(), "");
    let mut cmd = sb.opsdeck();
    cmd.args(["backup", "shopdb"]);
    let child = start_streaming(cmd, "the dump to be streaming", || {
        has_partial(store.path())
    });
    // Kill our container's pg_dump (found by `docker top`, which gives host PIDs).
    assert!(pg.kill_pg_dump() > 0, "pg_dump was running");
    let (code, err) = finish(child);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        files(store.path()).is_empty(),
        "nothing published: {:?}",
        files(store.path())
    );
    assert_eq!(last_outcome(&sb), "failed");
}

#[test]
fn retention_thins_only_behind_a_newer_verified_backup() {
    let pg = pg();
    let store = tempfile::tempdir().expect("tmp");
    let sb = setup(&pg, store.path(), "keep_count = 1\n");
    for _ in 0..3 {
        let (code, _, err) = sb.run(&["backup", "shopdb"]);
        assert_eq!(code, 0, "{err}");
    }
    let (_, list) = sb.json(&["backups"]);
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(3),
        "nothing verified yet: nothing deleted"
    );
    let (_, err_out, warn) = sb.run(&["backups", "shopdb"]);
    assert!(warn.contains("no verified backup"), "{err_out}{warn}");
    let newest = list[0]["id"].as_str().expect("id").to_string();
    let (code, _, err) = sb.run(&["verify", "shopdb", &newest]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = sb.run(&["backup", "shopdb"]);
    assert_eq!(code, 0, "{err}");
    let (_, list) = sb.json(&["backups"]);
    let ids: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|b| b["id"].as_str())
        .collect();
    assert_eq!(
        ids.len(),
        2,
        "the new one and the verified one remain: {ids:?}"
    );
    assert!(ids.contains(&newest.as_str()));
}

#[test]
fn restore_goes_through_a_checked_scratch_database_and_keeps_the_old_one() {
    let pg = pg();
    let store = tempfile::tempdir().expect("tmp");
    // An app that uses the database: stopped and started around the restore.
    let app = unique("user");
    let _app = ContainerGuard(app.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &app,
        "--label",
        "com.docker.compose.project=opsdeck-test-resapp",
        "opsdeck-test/busybox:v1",
    ]);
    let sb = setup(
        &pg,
        store.path(),
        "[apps.resapp]\nhost = \"local\"\ndir = \"/nonexistent/resapp\"\nproject = \"opsdeck-test-resapp\"\n",
    );
    // `apps` of the database: patch the file (the table is already written above).
    let cfg = std::fs::read_to_string(sb.path().join("opsdeck.toml")).expect("cfg");
    std::fs::write(
        sb.path().join("opsdeck.toml"),
        cfg.replace(
            "backup_to = \"local\"\n",
            "backup_to = \"local\"\napps = [\"resapp\"]\n",
        ),
    )
    .expect("cfg");
    let checksum = |pg: &Pg| {
        pg.sql("shop", "SELECT md5(string_agg(id || ':' || total || ':' || note, ',' ORDER BY id)) FROM orders")
    };
    let seeded = checksum(&pg);
    let (code, _, err) = sb.run(&["backup", "shopdb"]);
    assert_eq!(code, 0, "{err}");
    let (_, list) = sb.json(&["backups", "shopdb"]);
    let id = list[0]["id"].as_str().expect("id").to_string();
    // Change the data, then restore (confirmation required).
    pg.sql(
        "shop",
        "DELETE FROM orders WHERE id % 2 = 0; UPDATE users SET email = 'changed'",
    );
    assert_ne!(checksum(&pg), seeded);
    let (code, _, err) = sb.run(&["restore", "shopdb", &id]);
    assert_eq!(code, 4, "restore needs --yes: {err}");
    let started_before = docker(&["inspect", "-f", "{{.State.StartedAt}}", &app]);
    let (code, out, err) = sb.run(&["restore", "shopdb", &id, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(checksum(&pg), seeded, "the data equals the seeded data");
    assert_eq!(
        pg.sql("shop", "SELECT count(*) FROM users WHERE email = 'changed'"),
        "0"
    );
    let kept = pg.sql(
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE 'shop_before_restore_%'",
    );
    assert!(
        !kept.is_empty(),
        "the old database is kept under a dated name"
    );
    assert_ne!(
        docker(&["inspect", "-f", "{{.State.StartedAt}}", &app]),
        started_before,
        "the app was restarted"
    );
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Status}}", &app]),
        "running"
    );

    // A corrupted backup: refused at the scratch stage; live data and the app untouched.
    let (code, _, _) = sb.run(&["backup", "shopdb"]);
    assert_eq!(code, 0);
    let (_, list) = sb.json(&["backups", "shopdb"]);
    let newest = list[0]["id"].as_str().expect("id").to_string();
    let p = store.path().join(format!("{newest}.dump"));
    let mut bytes = std::fs::read(&p).expect("read");
    let cut = bytes.len() * 2 / 3;
    bytes.truncate(cut);
    std::fs::write(&p, &bytes).expect("write");
    // Make the manifest agree with the damaged file, so the damage is only found by restoring.
    let mpath = store.path().join(format!("{newest}.json"));
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).expect("m")).expect("json");
    let sum = Command::new("sha256sum")
        .arg(&p)
        .output()
        .expect("sha256sum");
    m["sha256"] = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .into();
    m["size"] = (cut as u64).into();
    std::fs::write(&mpath, serde_json::to_vec(&m).expect("json")).expect("write");
    pg.sql("shop", "INSERT INTO users VALUES (3, 'after')");
    let before = checksum(&pg);
    let started = docker(&["inspect", "-f", "{{.State.StartedAt}}", &app]);
    let (code, _, err) = sb.run(&["restore", "shopdb", &newest, "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not touched"), "{err}");
    assert_eq!(checksum(&pg), before);
    assert_eq!(
        pg.sql("shop", "SELECT count(*) FROM users WHERE email = 'after'"),
        "1"
    );
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.StartedAt}}", &app]),
        started,
        "the app was not stopped"
    );
    assert_eq!(last_outcome(&sb), "failed");
}

/// The database on an SSH host, the storage on this machine: the dump streams over the SSH
/// connection. Cutting every session mid-transfer fails the backup (exit 1, journaled
/// failed) and publishes nothing; the next backup over a fresh connection succeeds.
#[test]
fn an_ssh_connection_cut_mid_transfer_publishes_nothing() {
    let bed = ssh_bed::Bed::get();
    let sshd = ssh_bed::Sshd::start(&bed, true);
    let pg = pg();
    pg.sql(
        "shop",
        "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g*7)::text) || md5((g*13)::text) AS x FROM generate_series(1, 1500000) g",
    );
    let store = tempfile::tempdir().expect("tmp");
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.remote]\nssh = \"tb\"\n[databases.shopdb]\nhost = \"remote\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\nbackup_to = \"local\"\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n",
            pg.name,
            store.path().display()
        ),
    );
    let env = sshd.client_env(&sb, &bed);
    // The app lock is taken on the host by the SSH user, in the sandbox's lock directory.
    sb.host_writable(&[]);
    let mut cmd = sb.opsdeck_env(&env);
    cmd.args(["backup", "shopdb"]);
    let child = start_streaming(cmd, "the dump to stream over SSH", || {
        has_partial(store.path())
    });
    let cut = sshd.cut_sessions();
    assert!(cut > 0, "there were sessions to cut");
    let (code, err) = finish(child);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        files(store.path()).is_empty(),
        "nothing published, no partial left: {:?}",
        files(store.path())
    );
    assert_eq!(last_outcome(&sb), "failed");
    // A new connection: the same backup goes through and is whole.
    let (code, _, err) = sb.run_env(&env, &["backup", "shopdb"]);
    assert_eq!(code, 0, "{err}");
    let published = files(store.path());
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(
        published.iter().all(|f| !f.ends_with(".partial")),
        "{published:?}"
    );
}

#[test]
fn a_backup_of_another_database_and_a_locked_app_are_refused_before_a_restore_changes_anything() {
    let pg = pg();
    pg.sql("postgres", "CREATE DATABASE other");
    pg.sql("other", "CREATE TABLE t(x int); INSERT INTO t VALUES (42)");
    let store = tempfile::tempdir().expect("tmp");
    let app_dir = tempfile::tempdir().expect("tmp");
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shopdb]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{pg}\"\ndatabase = \"shop\"\nbackup_to = \"local\"\napps = [\"shop\"]\n[databases.otherdb]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{pg}\"\ndatabase = \"other\"\nbackup_to = \"local\"\n[apps.shop]\nhost = \"local\"\ndir = \"{app}\"\n[storage.local]\nkind = \"dir\"\npath = \"{store}\"\n",
            pg = pg.name,
            app = app_dir.path().display(),
            store = store.path().display()
        ),
    );
    let (code, out, err) = sb.run(&["backup", "shopdb"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, list) = sb.json(&["backups", "shopdb"]);
    let id = list[0]["id"].as_str().expect("id").to_string();
    // The manifest says whose backup it is: otherdb is not overwritten with shopdb's data.
    let (code, _, err) = sb.run(&["restore", "otherdb", &id, "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "backup {id} is a backup of database shopdb, not of otherdb"
        )),
        "{err}"
    );
    assert_eq!(pg.sql("other", "SELECT x FROM t"), "42");
    let (code, _, err) = sb.run(&["verify", "otherdb", &id]);
    assert_eq!(code, 1, "{err}");
    // A restore holds the locks of the database's apps: with `shop` locked by a live run
    // (this test process, recorded as opsdeck records a holder), it is refused.
    let before = pg.checksum();
    let lock = sb.path().join("locks/shop.lock");
    std::fs::create_dir_all(&lock).expect("lock dir");
    let me = opsdeck::process::ProcessId::current();
    std::fs::write(
        lock.join("owner"),
        serde_json::json!({
            "token": "feedfacefeedface", "actor": "ops@here", "machine": "here",
            "pid": me.pid, "action": "deploy", "target": "shop",
            "started_at": "2026-12-02T00:00:00Z", "process": me,
            "machine_id": opsdeck::process::machine_id(),
        })
        .to_string(),
    )
    .expect("owner");
    let (code, _, err) = sb.run(&["restore", "shopdb", &id, "--yes"]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("shop") && err.contains("locked by ops@here"),
        "{err}"
    );
    assert_eq!(pg.checksum(), before, "nothing restored");
    // And the database's own lock was not left behind.
    assert!(
        !sb.path().join("locks/db-shopdb.lock").exists(),
        "the database's lock was released when an app's lock refused the run"
    );
}
