//! Seed 003, "Menuvo": one VPS; Caddy in front of two app instances `platform-a` and
//! `platform-b` (rolled one at a time), two workers, Postgres (the official image's
//! conventions, superuser `menuvo`) and Redis in the same compose project, `VERSION` in
//! `.env`, migrations through `compose run --rm`, memory/CPU limits; backups to S3 with
//! retention, verify, restore with the apps stopped.

use crate::common::stack::Stack;
use crate::common::*;
use crate::s3bed::{Moto, CREDS};
use crate::traefik_bed::Prober;

fn files(project: &str, caddy_port: u16, db_password: &str) -> Vec<(&'static str, String)> {
    let app = |name: &str| {
        format!(
            "  {name}:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n    mem_limit: 256m\n    cpus: 0.5\n    restart: unless-stopped\n    depends_on: [postgres, redis]\n"
        )
    };
    let worker = |name: &str| {
        format!(
            "  {name}:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n    command: [\"sleep\", \"1000000\"]\n    healthcheck:\n      disable: true\n    mem_limit: 128m\n"
        )
    };
    let compose = format!(
        "services:\n{}{}{}{}  postgres:\n    image: {}\n    environment:\n      POSTGRES_USER: menuvo\n      POSTGRES_DB: menuvo\n      POSTGRES_PASSWORD: ${{DB_PASSWORD}}\n    volumes: [\"pgdata:/var/lib/postgresql/data\"]\n  redis:\n    image: {}\n  caddy:\n    image: {}\n    environment:\n      XDG_DATA_HOME: /data\n      XDG_CONFIG_HOME: /data\n    ports: [\"127.0.0.1:${{CADDY_PORT}}:80\"]\n    volumes: [\"./Caddyfile:/etc/caddy/Caddyfile:ro\"]\n    depends_on: [platform-a, platform-b]\nvolumes:\n  pgdata: {{}}\n",
        app("platform-a"),
        app("platform-b"),
        worker("worker-images"),
        worker("worker-imports"),
        testbed_var("OPSDECK_TB_IMAGE_PG_OFFICIAL"),
        testbed_var("OPSDECK_TB_IMAGE_REDIS"),
        testbed_var("OPSDECK_TB_IMAGE_CADDY"),
    );
    // Caddy as seed 003 runs it: both instances upstream, a failed dial retried on the other.
    let caddyfile = ":80 {\n\treverse_proxy platform-a:80 platform-b:80 {\n\t\tlb_policy round_robin\n\t\tlb_try_duration 10s\n\t\tlb_try_interval 100ms\n\t\tfail_duration 2s\n\t}\n}\n".to_string();
    let env = format!(
        "# menuvo production\nCOMPOSE_PROJECT_NAME={project}\nVERSION=v1\nDB_PASSWORD={db_password}\nCADDY_PORT={caddy_port}\n"
    );
    vec![
        ("docker-compose.yml", compose),
        ("Caddyfile", caddyfile),
        (".env", env),
    ]
}

#[test]
fn menuvo_an_operators_day_deploy_behind_caddy_rollback_backup_to_s3_restore() {
    day(false);
}

#[test]
fn menuvo_the_same_day_over_ssh_as_the_deploy_user() {
    day(true);
}

fn day(over_ssh: bool) {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("menuvo");
    let caddy_port = free_port();
    let db_password = format!("db-{}-secret", std::process::id());
    let dir = sb.path().join("opt").join("menuvo");
    let stack = Stack::up(&dir, &project, &files(&project, caddy_port, &db_password));
    stack.wait_pg("postgres");
    stack.wait_healthy(&["platform-a", "platform-b"]);
    stack.psql(
        "postgres",
        "menuvo",
        "menuvo",
        "CREATE TABLE orders(id int PRIMARY KEY, total int); INSERT INTO orders SELECT g, g * 3 FROM generate_series(1, 2000) g",
    );
    let ssh = over_ssh.then(|| {
        let bed = crate::ssh_bed::Bed::get();
        let sshd = crate::ssh_bed::Sshd::start(&bed, true);
        // The deploy user owns the app's files on a server: here it may write them.
        sb.host_writable(&[]);
        for p in [sb.path().join("opt"), dir.clone()] {
            chmod(&p, "o+rwx");
        }
        chown(&dir.join(".env"), "deploy:deploy");
        let env = sshd.client_env(&sb, &bed);
        (sshd, env)
    });
    let host = if over_ssh { "remote" } else { "local" };
    let moto = Moto::start();
    moto.create_bucket("menuvo-backups");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[hosts.remote]\nssh = \"tb\"\n\
             [apps.menuvo]\nhost = \"{host}\"\ndir = \"{}\"\nservices = [\"platform-a\", \"platform-b\"]\nmigrate = \"wget -q -O /dev/null http://platform-b/health && echo migrated\"\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\n\
             [databases.menuvo]\nhost = \"{host}\"\nengine = \"postgres\"\ncontainer = \"postgres\"\ndatabase = \"menuvo\"\napps = [\"menuvo\"]\nbackup_to = \"r2\"\n\
             [databases.redis]\nhost = \"{host}\"\nengine = \"redis\"\ncontainer = \"redis\"\napps = [\"menuvo\"]\n\
             [storage.r2]\nkind = \"s3\"\nbucket = \"menuvo-backups\"\nendpoint = \"{}\"\nprefix = \"menuvo/\"\nkeep_count = 5\n",
            dir.display(),
            moto.endpoint()
        ),
    );
    let mut env: Vec<(String, String)> = CREDS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some((_, ssh_env)) = &ssh {
        env.extend(ssh_env.iter().cloned());
    }
    let run = |args: &[&str]| sb.run_env(&env, args);

    // Status: every container of the project, found by the name .env gives it.
    let (code, out, err) = run(&["status", "menuvo", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let names: Vec<String> = v[0]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["service"].as_str().map(str::to_string))
        .collect();
    for s in [
        "platform-a",
        "platform-b",
        "worker-images",
        "worker-imports",
        "postgres",
        "redis",
        "caddy",
    ] {
        assert!(names.iter().any(|n| n == s), "{s} missing from {names:?}");
    }
    // The limits compose applied are the ones the file asks for.
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
            &stack.container("platform-a")
        ])
        .trim(),
        "268435456 500000000"
    );

    // Deploy, a bad deploy, a rollback: through Caddy, not one request for the app's pages
    // fails. (The bad build serves its pages but never passes its health check; Caddy, as
    // configured here, routes by service name and sends it traffic while the deploy waits.)
    let probe = Prober::start_on(caddy_port, "/version", vec!["menuvo.test".to_string()]);
    let (code, out, err) = run(&["deploy", "menuvo", "--version", "v2"]);
    assert_eq!(code, 0, "deploy v2: {out}{err}");
    assert!(
        out.contains("migrated") || err.contains("migrated"),
        "{out}{err}"
    );
    let v2 = docker(&["inspect", "-f", "{{.Id}}", "opsdeck-test/busybox:v2"])
        .trim()
        .to_string();
    assert_eq!(stack.image_id("platform-a"), v2);
    assert_eq!(stack.image_id("platform-b"), v2);
    let (code, out, err) = run(&["deploy", "menuvo", "--version", "bad"]);
    assert_eq!(
        code, 1,
        "a deploy that never gets healthy fails: {out}{err}"
    );
    assert_eq!(stack.image_id("platform-a"), v2, "and is put back");
    assert_eq!(stack.image_id("platform-b"), v2);
    let (code, out, err) = run(&["rollback", "menuvo", "--yes"]);
    assert_eq!(code, 0, "rollback: {out}{err}");
    let (ok, failures) = probe.finish();
    assert!(
        failures.is_empty(),
        "{} failed requests through Caddy: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(ok > 50, "the probe ran ({ok} requests)");
    let env_file = std::fs::read_to_string(dir.join(".env")).expect(".env");
    assert!(
        env_file.contains("\nVERSION=v1\n") && env_file.contains("PREVIOUS_VERSION=v2"),
        "{env_file}"
    );
    assert!(
        env_file.contains(&format!("DB_PASSWORD={db_password}")),
        "other lines kept"
    );

    // Backup to S3 (the official image's superuser, no password given), verify, restore.
    let (code, out, err) = run(&["backup", "menuvo"]);
    assert_eq!(code, 0, "backup: {out}{err}");
    let (code, out, err) = run(&["backups", "menuvo", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    let id = list[0]["id"].as_str().expect("backup id").to_string();
    assert!(moto
        .objects("menuvo-backups")
        .iter()
        .any(|(k, _)| k == &format!("menuvo/{id}.dump")));
    let (code, out, err) = run(&["verify", "menuvo", &id]);
    assert_eq!(code, 0, "verify: {out}{err}");
    stack.psql(
        "postgres",
        "menuvo",
        "menuvo",
        "DELETE FROM orders WHERE id > 10",
    );
    let (code, out, err) = run(&["restore", "menuvo", &id, "--yes"]);
    assert_eq!(code, 0, "restore: {out}{err}");
    assert_eq!(
        stack.psql(
            "postgres",
            "menuvo",
            "menuvo",
            "SELECT count(*) FROM orders"
        ),
        "2000"
    );
    // The apps were stopped and are running again; Postgres itself was never stopped.
    stack.wait_healthy(&["platform-a", "platform-b"]);
    for s in ["worker-images", "worker-imports", "postgres", "redis"] {
        let st = docker(&["inspect", "-f", "{{.State.Status}}", &stack.container(s)]);
        assert_eq!(st.trim(), "running", "{s}");
    }
    // Nothing printed or journaled holds the database password.
    let (_, hist, _) = sb.run(&["history", "--output", "json"]);
    assert!(!hist.contains(&db_password));
    drop(ssh);
    drop(stack);
}
