//! `opsdeck up|down|pull APP` against a real engine and real compose, on an app set up as
//! operators set them up: the project named by `COMPOSE_PROJECT_NAME` in `.env` (not the
//! directory), a one-shot `*-migrate` service, a named volume with data, images from the
//! test bed's registry with authentication (the host's `docker login`), and the same app
//! over the test bed's sshd.

use opsdeck_testkit::{self as common, ssh as ssh_bed};

use common::*;
use std::path::PathBuf;

struct App {
    _guard: ComposeGuard,
    sb: Sandbox,
    dir: PathBuf,
    project: String,
    env: Vec<(String, String)>,
    _sshd: Option<ssh_bed::Sshd>,
}

/// An app in `sites/shop` whose `.env` names its project; `web` runs `image`, and
/// `db-migrate` runs once (exit 0) before it.
fn app(ssh: bool, image: &str) -> App {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("up");
    let dir = sb.path().join("sites").join("shop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "services:\n  web:\n    image: \"{image}\"\n    volumes:\n      - data:/data\n    depends_on:\n      - db-migrate\n  db-migrate:\n    image: opsdeck-test/busybox:v1\n    command: [\"sh\", \"-c\", \"echo migrations applied\"]\n    restart: \"no\"\n    healthcheck:\n      disable: true\nvolumes:\n  data: {{}}\n"
        ),
    )
    .expect("compose file");
    std::fs::write(
        dir.join(".env"),
        format!("COMPOSE_PROJECT_NAME={project}\nSECRET_KEY=keep-me\n"),
    )
    .expect(".env");
    let host = if ssh { "remote" } else { "local" };
    sb.write(
        "opsdeck.toml",
        &format!(
            "{}\n[apps.shop]\nhost = \"{host}\"\ndir = \"{}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\n",
            if ssh {
                "[hosts.remote]\nssh = \"tb\"\n"
            } else {
                "[hosts.local]\n"
            },
            dir.display()
        ),
    );
    let (env, sshd) = if ssh {
        let bed = ssh_bed::Bed::get();
        let sshd = ssh_bed::Sshd::start(&bed, true);
        for p in [sb.path(), &sb.path().join("sites"), dir.as_path()] {
            chmod(p, "o+rwx");
        }
        chmod(&dir.join(".env"), "o+r");
        (sshd.client_env(&sb, &bed), Some(sshd))
    } else {
        (vec![], None)
    };
    App {
        _guard: ComposeGuard {
            dir: dir.clone(),
            project: project.clone(),
        },
        sb,
        dir,
        project,
        env,
        _sshd: sshd,
    }
}

impl App {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.sb.run_locked(&self.env, args)
    }

    /// `name state health exit` of every container of the project, sorted by service.
    fn containers(&self) -> Vec<String> {
        let ids = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
        ]);
        let mut rows: Vec<String> = ids
            .lines()
            .map(|id| {
                docker(&[
                    "inspect",
                    "-f",
                    "{{index .Config.Labels \"com.docker.compose.service\"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}} {{.State.ExitCode}}",
                    id,
                ])
                .trim()
                .to_string()
            })
            .collect();
        rows.sort();
        rows
    }

    /// The running web container's id.
    fn web(&self) -> String {
        docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            "label=com.docker.compose.service=web",
        ])
        .trim()
        .to_string()
    }

    fn last_outcome(&self) -> String {
        let (_, hist, _) = self.run(&["history", "--output", "json", "--limit", "1"]);
        let j: serde_json::Value = serde_json::from_str(&hist).expect("history json");
        j[0]["outcome"].as_str().unwrap_or_default().to_string()
    }
}

fn up_and_down(ssh: bool) {
    let a = app(ssh, "opsdeck-test/busybox:v1");
    let env_before = std::fs::read_to_string(a.dir.join(".env")).expect(".env");

    // The plan says what will run, in which project (the one .env names).
    let (code, out, err) = a.run(&["up", "shop", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("(project {})", a.project)) && out.contains("db-migrate, web"),
        "{out}"
    );
    assert!(a.containers().is_empty(), "a dry run starts nothing");

    let (code, out, err) = a.run(&["up", "shop"]);
    assert_eq!(code, 0, "up: {out}{err}");
    assert_eq!(
        a.containers(),
        vec!["db-migrate exited - 0", "web running healthy 0"],
        "up waited for the health check and the one-shot"
    );
    assert!(out.contains("2 container(s) up and ready"), "{out}");
    assert_eq!(a.last_outcome(), "succeeded");
    // Data in the named volume, to see that down keeps it.
    docker(&["exec", &a.web(), "sh", "-c", "echo kept > /data/file"]);

    // Down is destructive: refused without --yes, and the plan names what it removes.
    let (code, out, err) = a.run(&["down", "shop"]);
    assert_eq!(code, 4, "down needs --yes: {out}{err}");
    assert_eq!(a.containers().len(), 2, "nothing was removed");
    let (code, out, err) = a.run(&["down", "shop", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("stop and remove 2 container(s)")
            && out.contains("volumes and images are kept"),
        "{out}"
    );
    let (code, out, err) = a.run(&["down", "shop", "--yes"]);
    assert_eq!(code, 0, "down: {out}{err}");
    assert!(a.containers().is_empty(), "{:?}", a.containers());
    assert_eq!(a.last_outcome(), "succeeded");

    // Up again: the volume kept its data; .env was never touched.
    let (code, out, err) = a.run(&["up", "shop"]);
    assert_eq!(code, 0, "up again: {out}{err}");
    assert_eq!(
        docker(&["exec", &a.web(), "cat", "/data/file"]).trim(),
        "kept"
    );
    assert_eq!(
        std::fs::read_to_string(a.dir.join(".env")).expect(".env"),
        env_before
    );
}

#[test]
fn up_waits_for_health_down_keeps_volumes_and_needs_yes() {
    up_and_down(false);
}

#[test]
fn up_and_down_work_the_same_over_ssh() {
    up_and_down(true);
}

#[test]
fn an_up_whose_service_never_gets_healthy_fails_naming_it() {
    let a = app(false, "opsdeck-test/busybox:bad");
    let (code, out, err) = a.run(&["up", "shop"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("web") && err.contains("unhealthy"),
        "the failure names the container and why: {err}"
    );
    assert_eq!(a.last_outcome(), "failed");
}

#[test]
fn pull_fetches_a_moved_tag_with_the_hosts_login_and_up_runs_it() {
    require_docker();
    let registry = testbed_var("OPSDECK_TB_REGISTRY");
    let repo = format!("{registry}/alpha/{}", unique("pull"));
    let latest = format!("{repo}:latest");
    let v1 = docker(&["inspect", "-f", "{{.Id}}", "opsdeck-test/busybox:v1"])
        .trim()
        .to_string();
    let v2 = docker(&["inspect", "-f", "{{.Id}}", "opsdeck-test/busybox:v2"])
        .trim()
        .to_string();
    docker(&["tag", "opsdeck-test/busybox:v1", &latest]);
    docker(&["push", "-q", &latest]);
    docker(&["rmi", &latest]);
    let a = app(false, &latest);
    let (code, out, err) = a.run(&["up", "shop"]);
    assert_eq!(code, 0, "up pulls what is missing: {out}{err}");
    let web_image = || {
        docker(&["inspect", "-f", "{{.Image}}", &a.web()])
            .trim()
            .to_string()
    };
    assert_eq!(web_image(), v1);

    // The tag moves in the registry (a new build pushed under `latest`).
    docker(&["tag", "opsdeck-test/busybox:v2", &latest]);
    docker(&["push", "-q", &latest]);
    docker(&["tag", "opsdeck-test/busybox:v1", &latest]);

    let (code, out, err) = a.run(&["pull", "shop", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&latest), "the plan names the image: {out}");
    let (code, out, err) = a.run(&["pull", "shop"]);
    assert_eq!(code, 0, "pull: {out}{err}");
    assert!(
        out.contains(&format!("updated: web ({latest})"))
            && out.contains("local only, in no registry (not pulled): db-migrate"),
        "the pull says what changed, and which image is the host's own build: {out}"
    );
    assert_eq!(web_image(), v1, "a pull changes no running container");
    let (code, out, err) = a.run(&["up", "shop"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(web_image(), v2, "up recreates web on the pulled image");
    docker(&["rmi", &latest]);
}

#[test]
fn bad_apps_are_refused_before_anything_runs() {
    let a = app(false, "opsdeck-test/busybox:v1");
    let (code, _, err) = a.run(&["up", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope"), "{err}");
    let (code, _, err) = a.run(&["down", "../shop", "--yes"]);
    assert_eq!(code, 2, "{err}");
    // A broken compose file is named, and nothing starts.
    std::fs::write(a.dir.join("docker-compose.yml"), "services: [\n").expect("write");
    let (code, _, err) = a.run(&["up", "shop"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("docker-compose.yml"), "{err}");
    assert!(a.containers().is_empty());
}
