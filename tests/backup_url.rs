//! Backups of a Postgres given only by a server URL (no container of its own): the test bed's
//! Postgres on this machine (password login over TCP). The client tools run in a throwaway
//! container on the database's host (the local engine here) and are removed afterwards; the
//! password never shows in output, the journal or that container's configuration.

use opsdeck_testkit::{self as common, pg as pgbed, ssh as ssh_bed};

use common::*;
use pgbed::*;
use std::path::Path;
use std::process::Command;

/// A database of its own on the test bed's server, dropped (with whatever a restore kept)
/// at the end.
struct UrlDb {
    admin_url: String,
    name: String,
}

impl UrlDb {
    fn new() -> Self {
        let admin_url = testbed_var("OPSDECK_TB_PG_URL");
        let name = unique("urldb").replace('-', "_");
        let db = Self { admin_url, name };
        db.sql("postgres", &format!("CREATE DATABASE \"{}\"", db.name));
        db.sql(
            &db.name.clone(),
            "CREATE TABLE orders(id serial PRIMARY KEY, total int, note text); \
             INSERT INTO orders(total, note) SELECT g, md5(g::text) FROM generate_series(1, 5000) g; \
             CREATE TABLE users(id int, email text); INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x');",
        );
        db
    }

    /// The server's URL with another database (and optionally another password).
    fn url(&self, db: &str, password: Option<&str>) -> String {
        let (base, _) = self.admin_url.rsplit_once('/').expect("url has a path");
        let base = match password {
            Some(p) => base.replace(":opsdeck-test@", &format!(":{p}@")),
            None => base.to_string(),
        };
        format!("{base}/{db}")
    }

    fn sql(&self, db: &str, sql: &str) -> String {
        let o = Command::new("psql")
            .args([
                &self.url(db, None),
                "-XtAq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        assert!(
            o.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn checksum(&self) -> String {
        self.sql(
            &self.name,
            "SELECT md5((SELECT string_agg(id || ':' || total || ':' || note, ',' ORDER BY id) FROM orders) || '|' || (SELECT string_agg(id || ':' || email, ',' ORDER BY id) FROM users))",
        )
    }

    /// Databases on the server whose name starts with `prefix`.
    fn databases_like(&self, prefix: &str) -> Vec<String> {
        self.sql(
            "postgres",
            &format!("SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%' ORDER BY 1"),
        )
        .lines()
        .map(str::to_string)
        .collect()
    }
}

impl Drop for UrlDb {
    fn drop(&mut self) {
        for d in self.databases_like(&self.name) {
            let _ = Command::new("psql")
                .args([
                    &self.url("postgres", None),
                    "-XtAq",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS \"{d}\" WITH (FORCE)"),
                ])
                .output();
        }
    }
}

/// The inventory: database `inv_name` given by `url`, backups to `store`.
fn sandbox(inv_name: &str, url: &str, store: &Path, extra: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.{inv_name}]\nhost = \"local\"\nengine = \"postgres\"\nurl = \"{url}\"\nbackup_to = \"local\"\n{extra}[storage.local]\nkind = \"dir\"\npath = \"{}\"\n",
            store.display()
        ),
    );
    sb
}

/// Tools containers of the inventory database `inv_name` still on the engine.
fn tools_containers(inv_name: &str) -> String {
    docker(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("label=opsdeck.pg-tools={inv_name}"),
    ])
}

/// The files opsdeck wrote in the sandbox (journal, state; not the inventory) that hold the
/// test bed's password.
fn files_with_password(dir: &Path) -> Vec<std::path::PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| !p.ends_with("opsdeck.toml"))
        .filter(|p| std::fs::read(p).is_ok_and(|t| leaks_password(&String::from_utf8_lossy(&t))))
        .collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The test bed's password outside of image names (`opsdeck-test/postgres:15`).
fn leaks_password(text: &str) -> bool {
    text.replace("opsdeck-test/", "").contains("opsdeck-test")
}

#[test]
fn a_database_given_by_url_is_backed_up_verified_and_restored() {
    let db = UrlDb::new();
    let inv = unique("u").replace('-', "_");
    let store = tempfile::tempdir().expect("tmp");
    // No `tools_image`: the host's newest `postgres` image is used (the test bed's 15).
    let sb = sandbox(&inv, &db.url(&db.name, None), store.path(), "");
    let seeded = db.checksum();

    let (code, out, err) = sb.run(&["backup", &inv, "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("from 127.0.0.1:5432"), "{out}");
    assert!(!leaks_password(&out), "{out}");

    // A tools container left by a run that was killed: removed by the next run.
    let leftover = unique("leftover");
    let _guard = ContainerGuard(leftover.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &leftover,
        "--label",
        &format!("opsdeck.pg-tools={inv}"),
        "opsdeck-test/busybox:v1",
        "sleep",
        "600",
    ]);
    let (code, out, err) = sb.run(&["backup", &inv]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!leaks_password(&format!("{out}{err}")), "{out}{err}");
    assert_eq!(tools_containers(&inv), "", "the tools container is removed");
    let (_, list) = sb.json(&["backups", &inv]);
    let b = list[0].clone();
    let id = b["id"].as_str().expect("id").to_string();
    assert_eq!(b["tables"]["public.orders"], 5000, "{b}");
    assert_eq!(b["tables"]["public.users"], 2, "{b}");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.path().join(format!("{id}.json"))).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["db_name"], db.name.as_str(), "{manifest}");
    assert_eq!(manifest["container"], "127.0.0.1:5432", "{manifest}");
    assert!(
        manifest["server_version"]
            .as_str()
            .unwrap_or("")
            .starts_with("15"),
        "{manifest}"
    );
    let dump = store.path().join(format!("{id}.dump"));
    assert_eq!(sha256sum(&dump), b["sha256"].as_str().expect("sha"));
    assert!(files(store.path()).iter().all(|f| !f.ends_with(".partial")));

    // Verify restores into a scratch database on the same server, then drops it.
    let (code, out, err) = sb.run(&["verify", &inv, &id]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, list) = sb.json(&["backups", &inv]);
    assert_eq!(list[0]["verified"], true);
    assert!(db.databases_like("opsdeck_verify_").is_empty());
    assert_eq!(tools_containers(&inv), "");

    // Change the data; restore swaps the backup in and keeps the old database.
    db.sql(
        &db.name,
        "DELETE FROM orders WHERE id % 2 = 0; UPDATE users SET email = 'changed'",
    );
    assert_ne!(db.checksum(), seeded);
    let (code, out, err) = sb.run(&["restore", &inv, &id, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(db.checksum(), seeded, "the data equals the seeded data");
    assert_eq!(
        db.databases_like(&format!("{}_before_restore_", db.name))
            .len(),
        1,
        "the old database is kept under a dated name"
    );
    assert_eq!(tools_containers(&inv), "");
    assert_eq!(last_outcome(&sb), "succeeded");
    assert!(
        walk(&sb.path().join("state")).len() + walk(&sb.path().join("data")).len() > 0,
        "the journal was written"
    );
    assert_eq!(
        files_with_password(sb.path()),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn a_database_given_by_url_fails_clearly_and_publishes_nothing() {
    let db = UrlDb::new();
    let store = tempfile::tempdir().expect("tmp");

    // A wrong password: refused by the server, said so, nothing published or left running.
    let inv = unique("u").replace('-', "_");
    let sb = sandbox(
        &inv,
        &db.url(&db.name, Some("wrong%3Apassword")),
        store.path(),
        "tools_image = \"opsdeck-test/postgres:15\"\n",
    );
    let (code, out, err) = sb.run(&["backup", &inv]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("wrong:password"), "{err}");
    assert_eq!(last_outcome(&sb), "failed");
    assert_eq!(tools_containers(&inv), "");
    assert!(files(store.path()).is_empty(), "{:?}", files(store.path()));

    // A tools image without pg_dump: named in the error, with what to set.
    let inv = unique("u").replace('-', "_");
    let sb = sandbox(
        &inv,
        &db.url(&db.name, None),
        store.path(),
        "tools_image = \"opsdeck-test/busybox:v1\"\n",
    );
    let (code, _, err) = sb.run(&["backup", &inv]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("opsdeck-test/busybox:v1 has no working pg_dump")
            && err.contains("tools_image"),
        "{err}"
    );
    assert_eq!(tools_containers(&inv), "");
    assert!(files(store.path()).is_empty());

    // An image the host does not have (and cannot pull: no registry here).
    let inv = unique("u").replace('-', "_");
    let sb = sandbox(
        &inv,
        &db.url(&db.name, None),
        store.path(),
        "tools_image = \"opsdeck-test/no-such-image:1\"\n",
    );
    let (code, _, err) = sb.run(&["backup", &inv]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("opsdeck-test/no-such-image:1 is not on the host"),
        "{err}"
    );
    assert!(files(store.path()).is_empty());

    // `tools_image` beside `container` is an inventory error naming the key.
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[databases.x]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"pg\"\ntools_image = \"postgres:16\"\n",
    );
    let (code, _, err) = sb.run(&["backups", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("databases.x.tools_image"), "{err}");
}

/// The database's host is an SSH host and the backups stay on it (`host-dir`): the tools
/// container runs on that host's engine, the pipeline there execs into it.
#[test]
fn a_database_given_by_url_on_an_ssh_host_backs_up_into_a_host_dir() {
    let bed = ssh_bed::Bed::get();
    let sshd = ssh_bed::Sshd::start(&bed, true);
    let db = UrlDb::new();
    let inv = unique("u").replace('-', "_");
    let sb = Sandbox::new();
    let store = sb.host_writable(&["onhost"]).remove(0);
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.remote]\nssh = \"tb\"\n[databases.{inv}]\nhost = \"remote\"\nengine = \"postgres\"\nurl = \"{}\"\ntools_image = \"opsdeck-test/postgres:15\"\nbackup_to = \"onhost\"\n\
             [storage.onhost]\nkind = \"host-dir\"\npath = \"{}\"\n",
            db.url(&db.name, None),
            store.display()
        ),
    );
    let env = sshd.client_env(&sb, &bed);
    let seeded = db.checksum();
    let (code, out, err) = sb.run_env(&env, &["backup", &inv]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(tools_containers(&inv), "");
    let (_, out, _) = sb.run_env(&env, &["--output", "json", "backups", &inv]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    let id = list[0]["id"].as_str().expect("id").to_string();
    assert_eq!(
        files(&store),
        vec![format!("{id}.dump"), format!("{id}.json")]
    );
    assert_eq!(
        sha256sum(&store.join(format!("{id}.dump"))),
        list[0]["sha256"].as_str().expect("sha")
    );
    assert_eq!(list[0]["tables"]["public.orders"], 5000, "{list}");
    let (code, out, err) = sb.run_env(&env, &["verify", &inv, &id]);
    assert_eq!(code, 0, "{out}{err}");
    db.sql(
        &db.name,
        "DELETE FROM orders WHERE id > 100; DELETE FROM users",
    );
    let (code, out, err) = sb.run_env(&env, &["restore", &inv, &id, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(db.checksum(), seeded, "the data equals the seeded data");
    assert_eq!(tools_containers(&inv), "");
}
