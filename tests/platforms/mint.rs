//! Seed 004, "Mint": ten services behind an nginx gateway with per-path routing, each with its
//! own Postgres database and credentials (made here with `db create`), migrations in one-shot
//! `*-migrate` containers that run and exit 0, Redis for queues. An operator's day: databases
//! for every service, status of all (a finished migration is not "down"), merged logs.

use crate::common::stack::{database_url, pg_client, Stack};
use crate::common::*;

const SERVICES: [&str; 10] = [
    "auth",
    "wallet",
    "transactions",
    "kyc",
    "analytics",
    "notifications",
    "social",
    "webhook",
    "admin",
    "audit",
];

#[test]
fn mint_ten_services_each_get_a_database_and_one_shots_are_not_down() {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("mint");
    let gateway_port = free_port();
    let mut compose = String::from("services:\n");
    for s in SERVICES {
        compose.push_str(&format!(
            "  {s}:\n    image: opsdeck-test/busybox:v1\n    restart: unless-stopped\n  {s}-migrate:\n    image: opsdeck-test/busybox:v1\n    command: [\"sh\", \"-c\", \"echo {s}: migrations applied\"]\n    healthcheck:\n      disable: true\n    restart: \"no\"\n"
        ));
    }
    compose.push_str(&format!(
        "  postgres:\n    image: {}\n    environment:\n      POSTGRES_USER: mint\n      POSTGRES_PASSWORD: ${{PG_PASSWORD}}\n  redis:\n    image: {}\n  nginx:\n    image: {}\n    ports: [\"127.0.0.1:{gateway_port}:80\"]\n    volumes: [\"./nginx.conf:/etc/nginx/nginx.conf:ro\"]\n    depends_on: [{}]\n",
        testbed_var("OPSDECK_TB_IMAGE_PG_OFFICIAL"),
        testbed_var("OPSDECK_TB_IMAGE_REDIS"),
        testbed_var("OPSDECK_TB_IMAGE_NGINX"),
        SERVICES.join(", ")
    ));
    let mut locations = String::new();
    for s in SERVICES {
        locations.push_str(&format!(
            "    location /api/v1/{s}/ {{ proxy_pass http://{s}:80/; }}\n"
        ));
    }
    let nginx = format!(
        "user root;\nworker_processes 1;\npid /run/nginx.pid;\nerror_log /dev/stderr warn;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  client_body_temp_path /tmp/body;\n  proxy_temp_path /tmp/proxy;\n  fastcgi_temp_path /tmp/fastcgi;\n  uwsgi_temp_path /tmp/uwsgi;\n  scgi_temp_path /tmp/scgi;\n  server {{\n    listen 80;\n{locations}    location = /health {{ return 200 'ok'; }}\n  }}\n}}\n"
    );
    let dir = sb.path().join("srv").join("mint");
    let stack = Stack::up(
        &dir,
        &project,
        &[
            ("docker-compose.yml", compose),
            ("nginx.conf", nginx),
            (
                ".env",
                format!(
                    "COMPOSE_PROJECT_NAME={project}\nPG_PASSWORD=mint-{}\n",
                    std::process::id()
                ),
            ),
        ],
    );
    stack.wait_pg("postgres");
    let network = format!("{project}_default");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.mint]\nhost = \"local\"\ndir = \"{}\"\nservices = [{}]\nhealth = {{ path = \"/health\", port = 80 }}\n\
             [databases.postgres]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"postgres\"\napps = [\"mint\"]\n",
            dir.display(),
            SERVICES.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
        ),
    );

    // One database and role per service, each usable from the compose network, none
    // reaching another's.
    let mut urls = Vec::new();
    for s in SERVICES {
        let db = format!("mint_{s}");
        let (code, out, err) = sb.run(&["db", "create", &db, "--server", "postgres"]);
        assert_eq!(code, 0, "db create {db}: {out}{err}");
        let url = database_url(&out);
        assert!(url.ends_with(&format!("@postgres:5432/{db}")), "{url}");
        urls.push((db, url));
    }
    for (db, url) in [&urls[0], &urls[9]] {
        assert_eq!(
            pg_client(&network, url, "select current_database()"),
            (true, db.clone())
        );
    }
    let (auth_db, auth_url) = &urls[0];
    let (wallet_db, _) = &urls[1];
    let (ok, _) = pg_client(
        &network,
        &auth_url.replace(auth_db.as_str(), wallet_db),
        "select 1",
    );
    assert!(!ok, "auth's role must not reach the wallet's database");
    let (code, v) = sb.json(&["db", "list", "--server", "postgres"]);
    assert_eq!(code, 0, "{v}");
    let listed = v.to_string();
    for (db, _) in &urls {
        assert!(
            listed.contains(&format!("\"database\":\"{db}\"")),
            "{db} in {listed}"
        );
    }

    // Status of all 23 containers; a migration that ran is "done", not down.
    let (code, v) = sb.json(&["status", "mint"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v[0]["containers"].as_array().map(Vec::len), Some(23), "{v}");
    let (code, out, err) = sb.run(&["status", "mint"]);
    assert_eq!(code, 0, "{out}{err}");
    let migrate_rows: Vec<&str> = out.lines().filter(|l| l.contains("-migrate")).collect();
    assert_eq!(migrate_rows.len(), 10, "{out}");
    assert!(migrate_rows.iter().all(|l| l.contains("done (0)")), "{out}");

    // Merged logs: every migration's line, each prefixed with its container.
    let (code, out, err) = sb.run(&["logs", "mint", "--tail", "5"]);
    assert_eq!(code, 0, "{out}{err}");
    for s in SERVICES {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("{s}: migrations applied")))
            .unwrap_or_else(|| panic!("no migration line of {s} in:\n{out}"));
        assert!(line.contains(&format!("{s}-migrate")), "{line}");
    }

    // The gateway routes by path to each service.
    for s in ["auth", "audit"] {
        let r = http_get(gateway_port, &format!("/api/v1/{s}/health"), "mint.test");
        assert_eq!(r.map(|r| r.0), Some(200), "{s} through the gateway");
    }
    drop(stack);
}
