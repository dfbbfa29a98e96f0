//! Seed 000, "Alpha": many customer sites on one host, each in `<root>/opt/alpha/sites/APP/`
//! (compose file, optional `.env`), routed by Traefik through container labels; one shared
//! Postgres (the official image, superuser `infra`) and one shared Redis in an infra project
//! on an external network; images from the private registry (with auth, the host's
//! `docker login`). An operator's day: status, logs, a new site's database and Redis index,
//! a deploy, and the `/health` check of every site.

use crate::common::stack::{database_url, pg_client, Stack};
use crate::common::*;
use crate::traefik_bed::{file_routes, get, Traefik};
use std::process::Command;

struct Network(String);
impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

#[test]
fn alpha_an_operators_day_across_three_sites() {
    day(false);
}

#[test]
fn alpha_the_same_day_over_ssh_as_the_deploy_user() {
    day(true);
}

fn day(over_ssh: bool) {
    require_docker();
    let sb = Sandbox::new();
    let registry = testbed_var("OPSDECK_TB_REGISTRY");
    let tag = unique("alpha");
    let net = Network(format!("{tag}-net"));
    docker(&["network", "create", &net.0]);
    let traefik = Traefik::start(sb.path(), &file_routes(&[]));
    let root = sb.path().join("opt").join("alpha");

    // The shared infrastructure.
    let infra_project = format!("{tag}-infra");
    let infra = Stack::up(
        &root.join("infra"),
        &infra_project,
        &[
            (
                "docker-compose.yml",
                format!(
                    "services:\n  postgres:\n    image: {}\n    environment:\n      POSTGRES_USER: infra\n      POSTGRES_PASSWORD: ${{PG_PASSWORD}}\n    networks: [alpha]\n  redis:\n    image: {}\n    networks: [alpha]\nnetworks:\n  alpha:\n    external: true\n    name: {}\n",
                    testbed_var("OPSDECK_TB_IMAGE_PG_OFFICIAL"),
                    testbed_var("OPSDECK_TB_IMAGE_REDIS"),
                    net.0
                ),
            ),
            (
                ".env",
                format!("COMPOSE_PROJECT_NAME={infra_project}\nPG_PASSWORD=infra-{}\n", std::process::id()),
            ),
        ],
    );
    infra.wait_pg("postgres");

    // Three sites; two name their project by their directory, one by its .env.
    let sites: Vec<(String, String)> = ["klz", "marisas", "shop"]
        .iter()
        .map(|s| {
            (
                s.to_string(),
                format!("{s}-{}", tag.trim_start_matches("opsdeck-test-")),
            )
        })
        .collect();
    let mut stacks = Vec::new();
    for (i, (app, dirname)) in sites.iter().enumerate() {
        let compose = format!(
            "services:\n  web:\n    image: \"{registry}/alpha/site:${{VERSION:-v1}}\"\n    labels:\n      - traefik.enable=true\n      - opsdeck.test={}\n      - traefik.http.routers.{dirname}.rule=Host(`{dirname}.localhost`)\n      - traefik.http.routers.{dirname}.entrypoints=web\n      - traefik.http.services.{dirname}.loadbalancer.server.port=80\n    networks: [default, alpha]\nnetworks:\n  alpha:\n    external: true\n    name: {}\n",
            traefik.tag, net.0
        );
        let mut files = vec![("docker-compose.yml", compose)];
        let project = if i == 2 {
            let p = format!("{tag}-{app}");
            files.push((".env", format!("COMPOSE_PROJECT_NAME={p}\nVERSION=v1\n")));
            p
        } else {
            dirname.clone()
        };
        let dir = root.join("sites").join(dirname);
        stacks.push((
            app.clone(),
            dirname.clone(),
            Stack::up(&dir, &project, &files),
        ));
    }
    for (_, dirname, _) in &stacks {
        traefik.wait_answers(&format!("{dirname}.localhost"), 200);
    }

    let ssh = over_ssh.then(|| {
        let bed = crate::ssh_bed::Bed::get();
        let sshd = crate::ssh_bed::Sshd::start(&bed, true);
        sb.host_writable(&[]);
        for p in [sb.path().join("opt"), root.clone(), root.join("sites")] {
            chmod(&p, "o+rwx");
        }
        for (_, _, s) in &stacks {
            chmod(&s.dir, "o+rwx");
            if s.dir.join(".env").exists() {
                chown(&s.dir.join(".env"), "deploy:deploy");
            }
        }
        let env = sshd.client_env(&sb, &bed);
        (sshd, env)
    });
    let host = if over_ssh { "remote" } else { "local" };
    let mut inv = format!(
        "[hosts.local]\n[hosts.remote]\nssh = \"tb\"\n\
         [databases.shared]\nhost = \"{host}\"\nengine = \"postgres\"\ncontainer = \"{}\"\n\
         [databases.redis]\nhost = \"{host}\"\nengine = \"redis\"\ncontainer = \"{}\"\n",
        infra.container("postgres"),
        infra.container("redis"),
    );
    for (app, dirname, s) in &stacks {
        inv.push_str(&format!(
            "[apps.{app}]\nhost = \"{host}\"\ndir = \"{}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\ndomains = [\"{dirname}.localhost\"]\n\
             [checks.{app}]\nurl = \"http://{dirname}.localhost:{}/health\"\nevery = \"10s\"\n",
            s.dir.display(),
            traefik.web
        ));
    }
    sb.write("opsdeck.toml", &inv);
    let env: Vec<(String, String)> = ssh.as_ref().map(|(_, e)| e.clone()).unwrap_or_default();
    let run = |args: &[&str]| sb.run_env(&env, args);

    // Status of every site, each found by the name compose gave its project.
    for (app, _, s) in &stacks {
        let (code, out, err) = run(&["status", app, "--output", "json"]);
        assert_eq!(code, 0, "status {app}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let names: Vec<&str> = v[0]["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, [s.container("web")], "{app}");
    }
    let (code, out, err) = run(&["logs", "klz", "--tail", "3"]);
    assert_eq!(code, 0, "logs: {out}{err}");

    // A new site gets its own database on the shared server and a Redis index.
    let (code, out, err) = run(&["db", "create", "newsite", "--server", "shared"]);
    assert_eq!(code, 0, "db create: {out}{err}");
    let url = database_url(&out);
    assert!(url.ends_with("@postgres:5432/newsite"), "{url}");
    let (ok, who) = pg_client(&net.0, &url, "select current_user");
    assert!(ok, "{who}");
    assert_eq!(who, "newsite");
    let (code, out, err) = run(&["redis", "assign", "newsite", "--server", "redis"]);
    assert_eq!(code, 0, "redis assign: {out}{err}");
    assert!(
        out.contains("REDIS_URL=redis://newsite:") && out.contains("@redis:6379/"),
        "{out}"
    );

    // A deploy of one site pulls from the registry with the host's login; the others are
    // untouched.
    let before: Vec<String> = stacks.iter().map(|(_, _, s)| s.image_id("web")).collect();
    let (code, out, err) = run(&["deploy", "klz", "--version", "v2"]);
    assert_eq!(code, 0, "deploy klz: {out}{err}");
    let v2 = docker(&["inspect", "-f", "{{.Id}}", "opsdeck-test/busybox:v2"])
        .trim()
        .to_string();
    assert_eq!(stacks[0].2.image_id("web"), v2);
    assert_eq!(stacks[1].2.image_id("web"), before[1]);
    assert_eq!(stacks[2].2.image_id("web"), before[2]);
    traefik.wait_answers(&format!("{}.localhost", stacks[0].1), 200);
    let (_, body) = get(
        traefik.web,
        "/version",
        &format!("{}.localhost", stacks[0].1),
    )
    .expect("answer");
    assert!(body.contains("v2"), "{body}");

    // Every site's /health through Traefik, as the inventory's checks run it.
    let (code, out, err) = run(&["check", "--output", "json"]);
    assert_eq!(code, 0, "check: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let text = v.to_string();
    for (app, _, _) in &stacks {
        assert!(
            text.contains(&format!("\"{app}\"")),
            "{app} checked: {text}"
        );
    }
    assert_eq!(text.matches("\"status\":200").count(), 3, "{text}");
    drop(ssh);
    drop(stacks);
    drop(infra);
}
