//! Seed 001, "Elmeg/Ersen": projects under `<root>/srv/containers/<project>` owned by the
//! `deploy` user, worked on over SSH as that user; Traefik in a container on an external
//! `traefik` network, routing from a central, watched routes file
//! (`/srv/containers/ersen/traefik-routes.yml`) to container names; pull-based deploys
//! (`git pull && docker compose up -d --build`). An operator's day: a route for a new
//! subdomain, a git deploy, and the 404 checklist on a site with no route and on one that is
//! off the network.

use crate::common::stack::Stack;
use crate::common::*;
use crate::traefik_bed::get;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// git as the deploy user (who owns everything here, as on the seed's server).
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("runuser")
        .args(["-u", "deploy", "--", "git"])
        .args([
            "-c",
            "user.name=ersen dev",
            "-c",
            "user.email=dev@ersen.invalid",
        ])
        .args(args)
        .env("HOME", "/home/deploy")
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn push_version(upstream: &Path, version: &str) {
    std::fs::write(upstream.join("www/version"), version).expect("version");
    git(upstream, &["add", "-A"]);
    git(upstream, &["commit", "-qm", &format!("elmeg {version}")]);
    git(upstream, &["push", "-q", "origin", "HEAD:main"]);
}

struct Container(String);
impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
        let _ = Command::new("docker")
            .args(["network", "rm", &format!("{}-net", self.0)])
            .output();
    }
}

fn chown_deploy(p: &Path) {
    let st = Command::new("chown")
        .args(["-R", "deploy:deploy"])
        .arg(p)
        .status()
        .expect("chown");
    assert!(st.success(), "chown {}", p.display());
}

fn uid_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).expect("stat").uid()
}

#[test]
fn elmeg_over_ssh_a_new_route_a_git_deploy_and_the_404_checklist() {
    require_docker();
    let bed = crate::ssh_bed::Bed::get();
    let sshd = crate::ssh_bed::Sshd::start(&bed, true);
    let sb = Sandbox::new();
    let tag = unique("elmeg");
    let net = format!("{tag}-net");
    docker(&["network", "create", &net]);
    let root = sb.path().join("srv").join("containers");
    let ersen = root.join("ersen");
    std::fs::create_dir_all(&ersen).expect("mkdir");
    let c = |s: &str| format!("{tag}-{s}");
    // The central routes file: the app's router, and one for the site that is off the network.
    std::fs::write(
        ersen.join("traefik-routes.yml"),
        format!(
            "http:\n  routers:\n    elmeg-router:\n      rule: \"Host(`elmeg.localhost`)\"\n      service: elmeg\n      entryPoints:\n        - web\n    offnet-router:\n      rule: \"Host(`offnet.elmeg.localhost`)\"\n      service: offnet\n      entryPoints:\n        - web\n  services:\n    elmeg:\n      loadBalancer:\n        servers:\n          - url: \"http://{}:80\"\n    offnet:\n      loadBalancer:\n        servers:\n          - url: \"http://{}:80\"\n",
            c("backend"),
            c("offnet")
        ),
    )
    .expect("routes file");
    let (web, api) = (free_port(), free_port());
    let traefik = Container(c("traefik"));
    docker(&[
        "run",
        "-d",
        "--name",
        &traefik.0,
        "--network",
        &net,
        "-p",
        &format!("127.0.0.1:{web}:80"),
        "-p",
        &format!("127.0.0.1:{api}:8080"),
        "-v",
        &format!("{}:/etc/traefik/dyn", ersen.display()),
        "opsdeck-test/traefik:latest",
        "--entrypoints.web.address=:80",
        "--entrypoints.traefik.address=:8080",
        "--api.insecure=true",
        "--providers.file.directory=/etc/traefik/dyn",
        "--providers.file.watch=true",
        "--log.level=INFO",
    ]);

    // The app: a git checkout built by compose, on the external traefik network.
    let origin = sb.path().join("origin.git");
    let upstream = sb.path().join("upstream");
    std::fs::create_dir_all(&origin).expect("mkdir");
    std::fs::create_dir_all(upstream.join("www")).expect("mkdir");
    sb.host_writable(&[]);
    for p in [&origin, &upstream, &root] {
        chown_deploy(p);
    }
    git(&origin, &["init", "-q", "--bare", "-b", "main"]);
    git(&upstream, &["init", "-q", "-b", "main"]);
    git(
        &upstream,
        &["remote", "add", "origin", origin.to_str().expect("utf-8")],
    );
    std::fs::write(
        upstream.join("docker-compose.yml"),
        format!(
            "services:\n  backend:\n    build: .\n    container_name: {}\n    networks: [default, traefik]\n  stats:\n    image: opsdeck-test/busybox:v1\n    container_name: {}\n    networks: [traefik]\nnetworks:\n  traefik:\n    external: true\n    name: {net}\n",
            c("backend"),
            c("stats")
        ),
    )
    .expect("compose");
    std::fs::write(
        upstream.join("Dockerfile"),
        "FROM opsdeck-test/busybox:v1\nCOPY www/ /www/\n",
    )
    .expect("Dockerfile");
    std::fs::write(upstream.join(".gitignore"), ".env\n").expect(".gitignore");
    chown_deploy(&upstream);
    push_version(&upstream, "g1");
    let app_dir = root.join(format!("elmeg-{}", tag.trim_start_matches("opsdeck-test-")));
    git(
        &root,
        &[
            "clone",
            "-q",
            "-b",
            "main",
            origin.to_str().expect("utf-8"),
            app_dir.to_str().expect("utf-8"),
        ],
    );
    let project = app_dir
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    let elmeg = Stack {
        dir: app_dir.clone(),
        project: project.clone(),
    };
    elmeg.compose(&["up", "-d", "--build"]);
    // Two more sites: one whose route is missing, one whose container is off the network.
    let ghost = Stack::up(
        &root.join(format!("ghost-{}", tag.trim_start_matches("opsdeck-test-"))),
        "ghost",
        &[(
            "docker-compose.yml",
            format!("services:\n  web:\n    image: opsdeck-test/busybox:v1\n    container_name: {}\n    networks: [traefik]\nnetworks:\n  traefik:\n    external: true\n    name: {net}\n", c("ghost")),
        )],
    );
    let offnet = Stack::up(
        &root.join(format!(
            "offnet-{}",
            tag.trim_start_matches("opsdeck-test-")
        )),
        "offnet",
        &[(
            "docker-compose.yml",
            format!(
                "services:\n  web:\n    image: opsdeck-test/busybox:v1\n    container_name: {}\n",
                c("offnet")
            ),
        )],
    );
    // Everything under /srv/containers belongs to deploy, as the seed's standard says.
    chown_deploy(&sb.path().join("srv"));
    let deploy_uid = uid_of(&ersen.join("traefik-routes.yml"));
    wait_for("elmeg through Traefik", Duration::from_secs(30), || {
        (get(web, "/health", "elmeg.localhost").map(|r| r.0) == Some(200)).then_some(())
    });

    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.tangible]\nssh = \"tb\"\n\
             [hosts.tangible.proxy]\nkind = \"traefik\"\nroutes_file = \"{}\"\napi = \"http://127.0.0.1:{api}\"\nentrypoint = \"http://127.0.0.1:{web}\"\nnetwork = \"{net}\"\n\
             [apps.elmeg]\nhost = \"tangible\"\ndir = \"{}\"\ndeploy = \"git\"\nservices = [\"backend\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\ndomains = [\"elmeg.localhost\"]\n\
             [apps.ghost]\nhost = \"tangible\"\ndir = \"{}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80 }}\ndomains = [\"ghost.elmeg.localhost\"]\n\
             [apps.offnet]\nhost = \"tangible\"\ndir = \"{}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80 }}\ndomains = [\"offnet.elmeg.localhost\"]\n",
            ersen.join("traefik-routes.yml").display(),
            app_dir.display(),
            ghost.dir.display(),
            offnet.dir.display()
        ),
    );
    let env = sshd.client_env(&sb, &bed);
    let run = |args: &[&str]| sb.run_env(&env, args);

    // A route for a new subdomain, added to the central file and proven through Traefik.
    let (code, out, err) = run(&["routes", "list", "--host", "tangible"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("elmeg-router"), "{out}");
    let (code, out, err) = run(&[
        "routes",
        "add",
        "stats",
        "--rule",
        "Host(`stats.elmeg.localhost`)",
        "--to",
        &format!("{}:80", c("stats")),
        "--entrypoint",
        "web",
        "--host",
        "tangible",
    ]);
    assert_eq!(code, 0, "routes add: {out}{err}");
    assert_eq!(
        get(web, "/health", "stats.elmeg.localhost").map(|r| r.0),
        Some(200)
    );
    let routes = std::fs::read_to_string(ersen.join("traefik-routes.yml")).expect("routes");
    assert!(
        routes.contains("elmeg-router") && routes.contains("stats"),
        "{routes}"
    );
    assert_eq!(
        uid_of(&ersen.join("traefik-routes.yml")),
        deploy_uid,
        "still the deploy user's"
    );

    // A git deploy: pull, build, recreate, health-gated; the tree stays the deploy user's.
    push_version(&upstream, "g2");
    let (code, out, err) = run(&["deploy", "elmeg"]);
    assert_eq!(code, 0, "git deploy: {out}{err}");
    assert_eq!(
        get(web, "/version", "elmeg.localhost").map(|r| r.1),
        Some("g2".to_string())
    );
    assert_eq!(uid_of(&app_dir.join("www/version")), deploy_uid);

    // The 404 checklist: a domain with no route, and a route to a container off the network.
    let (_, out, err) = run(&["doctor", "ghost", "--output", "json"]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let verdict = |v: &serde_json::Value, id: &str| {
        v["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["id"] == id))
            .map(|s| s["verdict"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert_eq!(verdict(&v, "containers"), "pass", "{v:#}");
    assert_eq!(verdict(&v, "network"), "pass", "{v:#}");
    assert_eq!(verdict(&v, "route"), "fail", "{v:#}");
    let (_, out, err) = run(&["doctor", "offnet", "--output", "json"]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(verdict(&v, "network"), "fail", "{v:#}");
    assert!(
        v.to_string()
            .contains(&format!("docker network connect {net}")),
        "{v:#}"
    );
    drop(offnet);
    drop(ghost);
    drop(elmeg);
    drop(traefik);
}
