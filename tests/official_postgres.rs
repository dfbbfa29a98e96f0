//! `db create` against a shared Postgres that runs in a container with the official image's
//! defaults (seeds 000 and 004): the superuser's password exists only in the container's
//! `POSTGRES_PASSWORD`, the local socket is trusted, and every TCP login needs a password.
//! opsdeck is given no password at all; it must do what an operator does
//! (`docker compose exec postgres psql -U ...`), and the URL it prints must work for an app
//! on the compose network.

use opsdeck_testkit as common;

use common::stack::{database_url as url_from, pg_client as app_psql, wait_pg, Stack};
use common::*;

#[test]
fn db_create_on_an_official_image_postgres_needs_no_password_and_the_url_works_for_apps() {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("alpha");
    let admin_password = format!("adm-{}-Zq9", std::process::id());
    // Seed 000's shape: superuser `infra`, its password only in .env; every statement logged,
    // so the server log shows whether a password ever reached it.
    let stack = Stack::up(
        &sb.path().join("infra"),
        &project,
        &[
            (
                ".env",
                format!("COMPOSE_PROJECT_NAME={project}\nPOSTGRES_PASSWORD={admin_password}\n"),
            ),
            (
                "docker-compose.yml",
                format!(
                    "services:\n  postgres:\n    image: {}\n    command: [\"postgres\", \"-c\", \"log_statement=all\"]\n    environment:\n      POSTGRES_USER: infra\n      POSTGRES_PASSWORD: ${{POSTGRES_PASSWORD}}\n",
                    testbed_var("OPSDECK_TB_IMAGE_PG_OFFICIAL")
                ),
            ),
        ],
    );
    let container = stack.container("postgres");
    let network = format!("{project}_default");
    stack.wait_pg("postgres");
    // The defaults are real: over TCP, no password means no login.
    let (ok, out) = app_psql(
        &network,
        "postgresql://infra@postgres:5432/postgres",
        "select 1",
    );
    assert!(!ok, "TCP without a password must be refused: {out}");

    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[databases.shared]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"postgres\"\n",
    );
    let app = format!("shop_{}", std::process::id());
    let (code, out, err) = sb.run(&["db", "create", &app, "--server", "shared"]);
    assert_eq!(code, 0, "db create: {out}{err}");
    let url = url_from(&out);
    assert!(
        url.starts_with(&format!("postgres://{app}:"))
            && url.ends_with(&format!("@postgres:5432/{app}")),
        "the URL names the service as the apps reach it: {url}"
    );
    // An app on the compose network logs in with it and owns its database.
    let (ok, who) = app_psql(
        &network,
        &url,
        "select current_user || '/' || current_database()",
    );
    assert!(ok, "{who}");
    assert_eq!(who, format!("{app}/{app}"));
    let (ok, created) = app_psql(
        &network,
        &url,
        "create table t(x int); insert into t values (1); select count(*) from t",
    );
    assert!(ok && created == "1", "{created}");
    // Isolated: the role cannot reach another database, nor PUBLIC this one.
    let (ok, out) = app_psql(
        &network,
        &url.replace(&format!("/{app}"), "/postgres"),
        "select 1",
    );
    assert!(!ok, "the app's role must not connect to postgres: {out}");

    // Neither the generated password nor the admin's reached the server log, argv, or output.
    let password = url
        .strip_prefix(&format!("postgres://{app}:"))
        .and_then(|r| r.split_once('@'))
        .map(|(p, _)| p.to_string())
        .expect("password in url");
    let logs = std::process::Command::new("docker")
        .args(["logs", &container])
        .output()
        .expect("logs");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
    assert!(
        logs.contains("CREATE ROLE"),
        "log_statement=all is on: {logs}"
    );
    assert!(
        logs.contains("SCRAM-SHA-256$4096:"),
        "the role got a verifier, not a password"
    );
    assert!(
        !logs.contains(&password),
        "the password reached the server log"
    );
    assert!(!out.contains(&admin_password) && !err.contains(&admin_password));
    let (_, hist, _) = sb.run(&["history", "--output", "json"]);
    assert!(
        !hist.contains(&password) && !hist.contains(&admin_password),
        "{hist}"
    );

    // Again: nothing changes, the password is kept and not shown.
    let (code, out, err) = sb.run(&["db", "create", &app, "--server", "shared"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("exists") && out.contains("***"), "{out}");
    let (ok, _) = app_psql(&network, &url, "select 1");
    assert!(ok, "the old password still works");

    // Rotation: the new password works, the old one no longer.
    let (code, out, err) = sb.run(&[
        "db",
        "create",
        &app,
        "--server",
        "shared",
        "--rotate-password",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let rotated = url_from(&out);
    assert_ne!(rotated, url);
    assert!(app_psql(&network, &rotated, "select 1").0);
    assert!(
        !app_psql(&network, &url, "select 1").0,
        "old password still accepted"
    );

    // db list goes the same way in.
    let (code, v) = sb.json(&["db", "list"]);
    assert_eq!(code, 0, "{v}");
    let rows = v.to_string();
    assert!(
        rows.contains(&format!("\"database\":\"{app}\""))
            && rows.contains(&format!("\"owner\":\"{app}\"")),
        "{rows}"
    );
}

#[test]
fn a_wrong_superuser_or_an_ambiguous_service_is_a_clear_error_and_changes_nothing() {
    require_docker();
    let sb = Sandbox::new();
    let name = unique("pgo");
    let _c = ContainerGuard(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        "POSTGRES_PASSWORD=only-here",
        &testbed_var("OPSDECK_TB_IMAGE_PG_OFFICIAL"),
    ]);
    wait_pg(&name);
    // The container's name works as well as a service name; a user that is not a role fails
    // naming the container and the user.
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shared]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{name}\"\nuser = \"nobody\"\n"
        ),
    );
    let (code, out, err) = sb.run(&["db", "create", "app1"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(&name) && err.contains("nobody"), "{err}");
    let roles = docker(&[
        "exec",
        &name,
        "psql",
        "-U",
        "postgres",
        "-qAtX",
        "-c",
        "select count(*) from pg_roles where rolname = 'app1'",
    ]);
    assert_eq!(roles.trim(), "0");
    // Without `user`, the image's default superuser is used.
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shared]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{name}\"\n"
        ),
    );
    let (code, out, err) = sb.run(&["db", "create", "app1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        url_from(&out).ends_with(&format!("@{name}:5432/app1")),
        "{out}"
    );

    // A superuser is never an app's role (no rotation of the admin's password), and a
    // database owned by another role is not taken over.
    for sql in ["CREATE ROLE boss SUPERUSER LOGIN", "CREATE DATABASE taken"] {
        docker(&["exec", &name, "psql", "-U", "postgres", "-qAtX", "-c", sql]);
    }
    let (code, out, err) = sb.run(&["db", "create", "boss", "--rotate-password"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("superuser"), "{err}");
    let (code, out, err) = sb.run(&["db", "create", "taken"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("owned by postgres"), "{err}");
    let taken_role = docker(&[
        "exec",
        &name,
        "psql",
        "-U",
        "postgres",
        "-qAtX",
        "-c",
        "select count(*) from pg_roles where rolname = 'taken'",
    ]);
    assert_eq!(taken_role.trim(), "0", "nothing was created");

    // Two running containers are one service name (two projects with a `postgres`): which
    // one is meant cannot be guessed.
    let service = unique("svc");
    let twins: Vec<ContainerGuard> = (0..2)
        .map(|i| {
            let n = format!("{service}-{i}");
            docker(&[
                "run",
                "-d",
                "--name",
                &n,
                "--label",
                &format!("com.docker.compose.service={service}"),
                "--label",
                &format!("com.docker.compose.project={service}-p{i}"),
                "opsdeck-test/busybox:v1",
            ]);
            ContainerGuard(n)
        })
        .collect();
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shared]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{service}\"\n"
        ),
    );
    let (code, out, err) = sb.run(&["db", "create", "app2"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("several")
            && err.contains(&format!("{service}-0"))
            && err.contains("databases.shared.container"),
        "{err}"
    );
    drop(twins);
}

#[test]
fn backup_verify_restore_of_an_official_image_database_use_its_postgres_user() {
    require_docker();
    let sb = Sandbox::new();
    let name = unique("menuvo-pg");
    let _c = ContainerGuard(name.clone());
    // Seed 003's shape: the superuser is `menuvo` (POSTGRES_USER), there is no `postgres`
    // role at all, and the inventory does not repeat the user.
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        "POSTGRES_USER=menuvo",
        "-e",
        "POSTGRES_DB=menuvo",
        "-e",
        "POSTGRES_PASSWORD=only-in-the-container",
        &testbed_var("OPSDECK_TB_IMAGE_PG_OFFICIAL"),
    ]);
    wait_pg(&name);
    let sql = |q: &str| {
        docker(&[
            "exec",
            &name,
            "psql",
            "-U",
            "menuvo",
            "-d",
            "menuvo",
            "-qAtX",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            q,
        ])
        .trim()
        .to_string()
    };
    sql("CREATE TABLE orders(id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 300) g");
    let backups = sb.path().join("backups");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.menuvo]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{name}\"\nbackup_to = \"local\"\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n",
            backups.display()
        ),
    );
    let (code, out, err) = sb.run(&["backup", "menuvo"]);
    assert_eq!(code, 0, "backup: {out}{err}");
    let (code, v) = sb.json(&["backups", "menuvo"]);
    assert_eq!(code, 0, "{v}");
    let id = v[0]["id"].as_str().expect("a backup id").to_string();
    let (code, out, err) = sb.run(&["verify", "menuvo", &id]);
    assert_eq!(code, 0, "verify: {out}{err}");
    sql("DELETE FROM orders WHERE id > 100");
    let (code, out, err) = sb.run(&["restore", "menuvo", &id, "--yes"]);
    assert_eq!(code, 0, "restore: {out}{err}");
    assert_eq!(sql("SELECT count(*) FROM orders"), "300");
    assert_eq!(
        sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'menuvo'"),
        "menuvo"
    );
}

#[test]
fn a_restore_keeps_the_apps_owner_grants_isolation_and_encoding() {
    // A provisioned app's database (seed 004: one database and role per service): owned by
    // the app's role, PUBLIC's CONNECT revoked, one reporting role granted CONNECT and SELECT,
    // a non-default encoding. What a restore swaps in must be the same, or the app is locked
    // out of its own tables and every other role of the server can connect.
    require_docker();
    let sb = Sandbox::new();
    let name = unique("shop-pg");
    let _c = ContainerGuard(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        "POSTGRES_PASSWORD=only-in-the-container",
        &testbed_var("OPSDECK_TB_IMAGE_PG_OFFICIAL"),
    ]);
    wait_pg(&name);
    let sql_as = |user: &str, db: &str, q: &str| {
        docker(&[
            "exec",
            &name,
            "psql",
            "-U",
            user,
            "-d",
            db,
            "-qAtX",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            q,
        ])
        .trim()
        .to_string()
    };
    let admin = |q: &str| sql_as("postgres", "postgres", q);
    admin("CREATE ROLE shop LOGIN PASSWORD 'shop-pw'");
    admin("CREATE ROLE reporter LOGIN PASSWORD 'rep-pw'");
    admin("CREATE ROLE other LOGIN PASSWORD 'other-pw'");
    admin("CREATE DATABASE shop OWNER shop TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'");
    admin("REVOKE ALL ON DATABASE shop FROM PUBLIC");
    admin("GRANT CONNECT ON DATABASE shop TO reporter");
    sql_as(
        "shop",
        "shop",
        "CREATE TABLE orders(id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 120) g; GRANT SELECT ON orders TO reporter",
    );
    let shape = || {
        admin("SELECT concat_ws(' ', pg_get_userbyid(datdba), pg_encoding_to_char(encoding), has_database_privilege('public', 'shop', 'CONNECT'), has_database_privilege('reporter', 'shop', 'CONNECT'), has_database_privilege('other', 'shop', 'CONNECT')) FROM pg_database WHERE datname = 'shop'")
    };
    let before = shape();
    assert_eq!(before, "shop LATIN1 f t f");
    let backups = sb.path().join("backups");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shop]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{name}\"\ndatabase = \"shop\"\nbackup_to = \"local\"\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n",
            backups.display()
        ),
    );
    let (code, out, err) = sb.run(&["backup", "shop"]);
    assert_eq!(code, 0, "backup: {out}{err}");
    let (code, v) = sb.json(&["backups", "shop"]);
    assert_eq!(code, 0, "{v}");
    let id = v[0]["id"].as_str().expect("a backup id").to_string();
    let (code, out, err) = sb.run(&["verify", "shop", &id]);
    assert_eq!(code, 0, "verify: {out}{err}");
    sql_as("shop", "shop", "DELETE FROM orders WHERE id > 20");
    let (code, out, err) = sb.run(&["restore", "shop", &id, "--yes"]);
    assert_eq!(code, 0, "restore: {out}{err}");
    // The restored database is the old one's shape, and its tables are the app's.
    assert_eq!(
        shape(),
        before,
        "owner, encoding and grants after the restore"
    );
    assert_eq!(sql_as("shop", "shop", "SELECT count(*) FROM orders"), "120");
    assert_eq!(
        sql_as(
            "shop",
            "shop",
            "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'"
        ),
        "shop"
    );
    assert_eq!(
        sql_as("reporter", "shop", "SELECT count(*) FROM orders"),
        "120",
        "the reporting role still reads"
    );
    // The app can still change its own schema (it owns it), as before.
    sql_as("shop", "shop", "ALTER TABLE orders ADD COLUMN paid bool");
}
