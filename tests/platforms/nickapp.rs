//! Seed 002, "nickapp": nginx in front of a frontend and a backend (each with a health check
//! and a `watchtower.enable` label), every container named with `container_name:`, Redis
//! started with `--requirepass ${REDIS_PASSWORD}` from the root `.env`, an uploads bind
//! mount. An operator's day: status and health, logs by service and by container name, a
//! restart, a Redis index for the app, a deploy of the two app services.

use crate::common::stack::Stack;
use crate::common::*;
use std::time::Duration;

#[test]
fn nickapp_status_logs_restart_and_redis_with_a_password() {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("nickapp");
    let name = |s: &str| format!("{project}-{s}");
    let port = free_port();
    let redis_password = format!("r3d!s/{}#pw", std::process::id());
    let compose = format!(
        "services:\n\
         \x20 nginx:\n    image: {nginx}\n    container_name: {n_nginx}\n    ports: [\"127.0.0.1:{port}:80\"]\n    volumes: [\"./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\"]\n    depends_on: [frontend, backend]\n\
         \x20 frontend:\n    image: \"opsdeck-test/busybox:${{VERSION:-v1}}\"\n    container_name: {n_front}\n    labels: [\"com.centurylinklabs.watchtower.enable=true\"]\n\
         \x20 backend:\n    image: \"opsdeck-test/busybox:${{VERSION:-v1}}\"\n    container_name: {n_back}\n    labels: [\"com.centurylinklabs.watchtower.enable=true\"]\n    volumes: [\"./uploads:/app/uploads\"]\n    depends_on: [redis]\n\
         \x20 redis:\n    image: {redis}\n    container_name: {n_redis}\n    command: [\"redis-server\", \"--requirepass\", \"${{REDIS_PASSWORD}}\"]\n    healthcheck:\n      test: [\"CMD-SHELL\", \"redis-cli --no-auth-warning -a \\\"$$REDIS_PASSWORD\\\" ping | grep -q PONG\"]\n      interval: 2s\n    environment:\n      REDIS_PASSWORD: ${{REDIS_PASSWORD}}\n",
        nginx = testbed_var("OPSDECK_TB_IMAGE_NGINX"),
        redis = testbed_var("OPSDECK_TB_IMAGE_REDIS"),
        n_nginx = name("nginx"),
        n_front = name("frontend"),
        n_back = name("backend"),
        n_redis = name("redis"),
    );
    let nginx_conf = "user root;\nworker_processes 1;\npid /run/nginx.pid;\nerror_log /dev/stderr warn;\nevents { worker_connections 256; }\nhttp {\n  access_log off;\n  client_body_temp_path /tmp/body;\n  proxy_temp_path /tmp/proxy;\n  fastcgi_temp_path /tmp/fastcgi;\n  uwsgi_temp_path /tmp/uwsgi;\n  scgi_temp_path /tmp/scgi;\n  resolver 127.0.0.11 valid=2s;\n  server {\n    listen 80;\n    set $front frontend;\n    set $back backend;\n    location /api/ { proxy_pass http://$back:80/; }\n    location / { proxy_pass http://$front:80; }\n  }\n}\n".to_string();
    let dir = sb.path().join("opt").join(&project);
    std::fs::create_dir_all(dir.join("nginx")).expect("mkdir");
    std::fs::create_dir_all(dir.join("uploads")).expect("mkdir");
    std::fs::write(dir.join("uploads/avatar.png"), b"not really a png").expect("upload");
    let stack = Stack::up(
        &dir,
        &project,
        &[
            ("docker-compose.yml", compose),
            ("nginx/nginx.conf", nginx_conf),
            (".env", format!("REDIS_PASSWORD='{redis_password}'\n")),
        ],
    );
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.nickapp]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"backend\", \"frontend\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\ndomains = [\"nickapp.localhost\"]\n\
             [databases.redis]\nhost = \"local\"\nengine = \"redis\"\ncontainer = \"{}\"\n\
             [checks.frontend]\nurl = \"http://nickapp.localhost:{port}/health\"\n\
             [checks.backend]\nurl = \"http://nickapp.localhost:{port}/api/health\"\n",
            dir.display(),
            name("redis")
        ),
    );
    // Every container healthy, found by compose's project (the directory) and by name.
    wait_for("all four healthy", Duration::from_secs(60), || {
        let (_, v) = sb.json(&["status", "nickapp"]);
        let cs = v[0]["containers"].as_array().cloned().unwrap_or_default();
        (cs.len() == 4
            && cs.iter().all(|c| {
                c["health"] == "healthy" || (c["name"] == name("nginx") && c["state"] == "running")
            }))
        .then_some(())
    });
    let (code, v) = sb.json(&["status", "nickapp"]);
    assert_eq!(code, 0);
    let mut names: Vec<String> = v[0]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    let mut want = vec![
        name("backend"),
        name("frontend"),
        name("nginx"),
        name("redis"),
    ];
    want.sort();
    assert_eq!(names, want);
    let (code, out, err) = sb.run(&["check"]);
    assert_eq!(code, 0, "checks through nginx: {out}{err}");

    // Logs by app/service and by container name.
    let (code, out, err) = sb.run(&["logs", "nickapp/backend", "--tail", "3"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = sb.run(&["logs", &name("nginx"), "--tail", "3"]);
    assert_eq!(code, 0, "{out}{err}");

    // A restart of the backend (a container_name service): back and healthy, uploads there.
    let started = docker(&["inspect", "-f", "{{.State.StartedAt}}", &name("backend")]);
    let (code, out, err) = sb.run(&["restart", "nickapp/backend"]);
    assert_eq!(code, 0, "restart: {out}{err}");
    assert_ne!(
        docker(&["inspect", "-f", "{{.State.StartedAt}}", &name("backend")]),
        started
    );
    assert_eq!(
        docker(&["exec", &name("backend"), "cat", "/app/uploads/avatar.png"]),
        "not really a png"
    );

    // A Redis index for the app, with the password the container was started with.
    let (code, out, err) = sb.run(&["redis", "assign", "nickapp"]);
    assert_eq!(code, 0, "redis assign: {out}{err}");
    assert!(!out.contains(&redis_password) && !err.contains(&redis_password));
    // The URL names the compose service, as the app's containers reach it.
    assert!(out.contains("@redis:6379/"), "{out}");

    // A deploy of both app services (container_name: recreated in place, one at a time).
    let (code, out, err) = sb.run(&["deploy", "nickapp", "--version", "v2"]);
    assert_eq!(code, 0, "deploy: {out}{err}");
    let v2 = docker(&["inspect", "-f", "{{.Id}}", "opsdeck-test/busybox:v2"]);
    for s in ["backend", "frontend"] {
        assert_eq!(
            docker(&["inspect", "-f", "{{.Image}}", &name(s)]),
            v2,
            "{s}"
        );
    }
    assert!(std::fs::read_to_string(dir.join(".env"))
        .expect(".env")
        .starts_with(&format!("REDIS_PASSWORD='{redis_password}'\n")));
    let (code, out, err) = sb.run(&["check"]);
    assert_eq!(code, 0, "checks after the deploy: {out}{err}");
    drop(stack);
}
