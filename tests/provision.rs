//! Provisioning against the test bed's real PostgreSQL and Redis (the "shared" servers of
//! the Alpha platform): one database and role per app, isolated; one Redis index per app.

use opsdeck_testkit as common;

use common::*;
use std::process::Command;

const PG: &str = "postgres://opsdeck:opsdeck-test@127.0.0.1:5432/postgres";

struct Env {
    sb: Sandbox,
    names: Vec<String>,
}

impl Env {
    fn new() -> Self {
        let pg = testbed_var("OPSDECK_TB_PG_URL");
        let redis = testbed_var("OPSDECK_TB_REDIS_URL");
        let sb = Sandbox::new();
        std::fs::create_dir_all(sb.path().join("app")).expect("mkdir");
        sb.write(
            "opsdeck.toml",
            &format!(
                "[hosts.local]\n[apps.envapp]\nhost = \"local\"\ndir = \"{}\"\n[databases.shared]\nhost = \"local\"\nengine = \"postgres\"\nurl = \"{pg}\"\n[databases.cache]\nhost = \"local\"\nengine = \"redis\"\nurl = \"{redis}\"\n",
                sb.path().join("app").display()
            ),
        );
        Self { sb, names: vec![] }
    }

    fn name(&mut self, what: &str) -> String {
        let n = unique(what).replace('-', "_");
        self.names.push(n.clone());
        n
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self
            .sb
            .opsdeck()
            .env("OPSDECK_LOCK_DIR", self.sb.path().join("locks"))
            .args(args)
            .output()
            .expect("runs");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Create and return the printed URL.
    fn create(&self, app: &str, extra: &[&str]) -> String {
        let mut args = vec!["db", "create", app];
        args.extend(extra);
        let (code, out, err) = self.run(&args);
        assert_eq!(code, 0, "{out}{err}");
        out.lines()
            .find_map(|l| {
                l.strip_prefix("DATABASE_URL=")
                    .filter(|u| !u.contains("***"))
            })
            .unwrap_or_else(|| panic!("no DATABASE_URL printed:\n{out}"))
            .to_string()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = psql(&format!("DROP DATABASE IF EXISTS \"{n}\""));
            let _ = psql(&format!("DROP ROLE IF EXISTS \"{n}\""));
            let _ = Command::new("redis-cli")
                .args(["HDEL", "opsdeck:db-index", n])
                .output();
            let _ = Command::new("redis-cli")
                .args(["ACL", "DELUSER", n])
                .output();
        }
    }
}

fn psql(sql: &str) -> String {
    let o = Command::new("psql")
        .args([PG, "-tAc", sql])
        .output()
        .expect("psql runs");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Whether `url` (as printed) can connect to database `db` with its credentials.
fn can_connect(url: &str, db: &str) -> bool {
    use sqlx::Connection;
    let (base, _) = url.rsplit_once('/').expect("url has a database");
    let target = format!("{base}/{db}");
    rt().block_on(async { sqlx::PgConnection::connect(&target).await.is_ok() })
}

#[test]
fn each_app_gets_its_own_isolated_database_and_creating_again_changes_nothing() {
    let mut env = Env::new();
    let (a, b) = (env.name("pa"), env.name("pb"));
    let url_a = env.create(&a, &[]);
    let url_b = env.create(&b, &[]);
    assert!(
        url_a.starts_with(&format!("postgres://{a}:"))
            && url_a.ends_with(&format!("@127.0.0.1:5432/{a}")),
        "{url_a}"
    );
    let password = url_a
        .split(':')
        .nth(2)
        .and_then(|p| p.split('@').next())
        .expect("password");
    assert!(password.len() >= 22, "at least 128 bits: {password}");
    assert!(can_connect(&url_a, &a) && can_connect(&url_b, &b));
    assert!(
        !can_connect(&url_a, &b),
        "app A's role must not connect to B's database"
    );
    assert!(!can_connect(&url_b, &a));
    assert_eq!(
        psql(&format!(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{a}'"
        )),
        a
    );

    // Again: exists, nothing changed, password kept.
    let (code, out, _) = env.run(&["db", "create", &a]);
    assert_eq!(code, 0);
    assert!(out.contains("exists") && out.contains("***"), "{out}");
    assert!(can_connect(&url_a, &a), "the password was not rotated");

    // Rotation: a new password; the old one stops working.
    let rotated = env.create(&a, &["--rotate-password"]);
    assert_ne!(rotated, url_a);
    assert!(can_connect(&rotated, &a));
    assert!(
        !can_connect(&url_a, &a),
        "the old password must stop working"
    );

    // The password never reaches the journal or later output.
    let (_, history, _) = env.run(&["history", "--output", "json"]);
    let journal = std::fs::read(env.sb.path().join("data/opsdeck/journal.db")).unwrap_or_default();
    let wal = std::fs::read(env.sb.path().join("data/opsdeck/journal.db-wal")).unwrap_or_default();
    let all = format!(
        "{history}{}{}",
        String::from_utf8_lossy(&journal),
        String::from_utf8_lossy(&wal)
    );
    for url in [&url_a, &url_b, &rotated] {
        let pw = url
            .split(':')
            .nth(2)
            .and_then(|p| p.split('@').next())
            .expect("pw");
        assert!(!all.contains(pw), "a password reached the journal");
    }
}

#[test]
fn ten_services_ten_isolated_databases() {
    let mut env = Env::new();
    let names: Vec<String> = [
        "auth",
        "wallet",
        "txns",
        "fraud",
        "kyc",
        "analytics",
        "notify",
        "social",
        "webhook",
        "audit",
    ]
    .iter()
    .map(|s| env.name(s))
    .collect();
    let urls: Vec<String> = names.iter().map(|n| env.create(n, &[])).collect();
    for (i, url) in urls.iter().enumerate() {
        for (j, db) in names.iter().enumerate() {
            assert_eq!(can_connect(url, db), i == j, "{} -> {db}", names[i]);
        }
    }
    let (code, out, _) = env.run(&["db", "list", "--output", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    for n in &names {
        assert!(
            v.as_array()
                .expect("list")
                .iter()
                .any(|d| d["database"] == n.as_str() && d["owner"] == n.as_str()),
            "{n}"
        );
    }
}

#[test]
fn write_env_puts_the_url_into_the_apps_env_atomically() {
    let env = Env::new();
    std::fs::write(env.sb.path().join("app/.env"), "VERSION=v1\n").expect(".env");
    let (code, out, err) = env.run(&["db", "create", "envapp", "--write-env"]);
    // envapp is the app's name; clean it up too.
    let _cleanup = Env {
        sb: Sandbox::new(),
        names: vec!["envapp".into()],
    };
    assert_eq!(code, 0, "{out}{err}");
    let written = std::fs::read_to_string(env.sb.path().join("app/.env")).expect(".env");
    assert!(
        written.starts_with("VERSION=v1\nDATABASE_URL=postgres://envapp:"),
        "{written}"
    );
    let url = written
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("DATABASE_URL="))
        .expect("url");
    assert!(can_connect(url, "envapp"));
}

#[test]
fn hostile_names_are_refused_and_the_catalog_is_unchanged() {
    // Other tests create and drop opsdeck_test_* names concurrently; nothing else may change.
    let catalog = || {
        (
            psql("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname NOT LIKE 'opsdeck_test_%'"),
            psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname NOT LIKE 'opsdeck_test_%'"),
        )
    };
    let env = Env::new();
    let before = catalog();
    let hostile = [
        "x\"; DROP DATABASE postgres; --",
        "a'b",
        "Robert'); DROP TABLE students;--",
        "UPPER",
        "pg_catalog",
        "1abc",
        "a b",
        "a;b",
        "$(id)",
        "../etc",
        "",
        "é",
        "a.b",
        &"x".repeat(64),
        "x\ny",
        "-rf",
    ];
    for name in hostile {
        let (code, out, err) = env.run(&["db", "create", name]);
        assert_eq!(code, 2, "{name:?} was not refused: {out}{err}");
        let (code, _, err) = env.run(&["redis", "assign", name]);
        assert_eq!(code, 2, "{name:?} (redis) was not refused: {err}");
    }
    let after = catalog();
    assert_eq!(before, after, "the server's catalog changed");
}

#[test]
fn redis_apps_get_different_empty_indexes_and_acl_users_fenced_to_their_prefix() {
    let mut env = Env::new();
    let (a, b) = (env.name("ra"), env.name("rb"));
    let url_of = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("REDIS_URL="))
            .unwrap_or_else(|| panic!("no REDIS_URL:\n{out}"))
            .to_string()
    };
    let (code, out_a, err) = env.run(&["redis", "assign", &a]);
    assert_eq!(code, 0, "{err}");
    let (code, out_b, _) = env.run(&["redis", "assign", &b]);
    assert_eq!(code, 0);
    let (url_a, url_b) = (url_of(&out_a), url_of(&out_b));
    let index = |u: &str| {
        u.rsplit('/')
            .next()
            .and_then(|i| i.parse::<u32>().ok())
            .expect("index")
    };
    assert_ne!(index(&url_a), index(&url_b));
    assert_ne!(index(&url_a), 0);
    // Recorded on the server for every operator to see.
    let reg = Command::new("redis-cli")
        .args(["HGET", "opsdeck:db-index", &a])
        .output()
        .expect("redis-cli");
    assert_eq!(
        String::from_utf8_lossy(&reg.stdout).trim(),
        index(&url_a).to_string()
    );
    // Idempotent.
    let (_, again, _) = env.run(&["redis", "assign", &a]);
    assert!(
        again.contains(&format!("/{}", index(&url_a))) && again.contains("***"),
        "{again}"
    );
    // The ACL user: own prefix yes, other prefix no, no flushing.
    let cli = |url: &str, args: &[&str]| {
        let o = Command::new("redis-cli")
            .arg("-u")
            .arg(url)
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    };
    assert!(cli(&url_a, &["SET", &format!("{a}:k"), "v"]).contains("OK"));
    assert!(cli(&url_a, &["SET", &format!("{b}:k"), "v"]).contains("NOPERM"));
    assert!(cli(&url_a, &["GET", "other:key"]).contains("NOPERM"));
    assert!(cli(&url_a, &["FLUSHDB"]).contains("NOPERM"));
    assert!(cli(&url_a, &["FLUSHALL"]).contains("NOPERM"));
    let _ = cli(&url_a, &["DEL", &format!("{a}:k")]);
}
