//! Apps whose compose project is named the way operators name it, not by our inventory: a
//! `COMPOSE_PROJECT_NAME` in `.env` (with the comments, `export`, quotes and duplicated keys
//! real `.env` files have), a directory whose name compose must normalise, and services with
//! `container_name:`. The stacks are started by the real compose in their directory with no
//! `-p`, exactly as an operator's `docker compose up -d` does; the inventory never names the
//! project.

use opsdeck_testkit as common;

use common::stack::Stack;
use common::*;

fn label(container: &str, key: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        &format!("{{{{index .Config.Labels \"{key}\"}}}}"),
        container,
    ])
}

fn image_of(container: &str) -> String {
    docker(&["inspect", "-f", "{{.Config.Image}}", container])
}

/// The one container of a service (by compose's labels: a zero-downtime deploy leaves it
/// under the next number, as compose's own scaling names it).
fn service_container(project: &str, service: &str) -> String {
    let out = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        &format!("label=com.docker.compose.service={service}"),
    ]);
    assert_eq!(out.lines().count(), 1, "one {service} container: {out}");
    out
}

/// Containers (names) of a compose project, by its label.
fn project_containers(project: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        "{{.Names}}",
    ]);
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn a_project_named_in_dotenv_deploys_rolls_back_and_is_found_everywhere() {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("menuvo");
    let nginx_name = format!("{project}-nginx");
    // The directory's own name would give another project ("menuvoshop").
    let dir = sb.path().join("sites").join("Menuvo.Shop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "services:\n  web:\n    image: \"opsdeck-test/busybox:${{VERSION}}\"\n  nginx:\n    image: opsdeck-test/busybox:v1\n    container_name: {nginx_name}\n"
        ),
    )
    .expect("compose file");
    // The shapes of a real .env: comments, blank lines, `export`, quotes, an inline comment,
    // a reference, and VERSION given twice (the last one counts for compose).
    let env_before = format!(
        "# menuvo production\r\n\r\nexport COMPOSE_PROJECT_NAME=\"{project}\"   # pinned\r\nVERSION=v2\r\nDATABASE_URL='postgres://app:s3cr#t@postgres:5432/app'\r\nPUBLIC_URL=https://${{DOMAIN}}/\r\nVERSION=\"v1\" # what runs\r\n"
    );
    std::fs::write(dir.join(".env"), &env_before).expect(".env");
    // The site's files belong to its own user, not to whoever runs opsdeck (root here).
    chown(&dir.join(".env"), "nobody:nogroup");
    chmod(&dir.join(".env"), "640");
    let _stack = Stack::up(&dir, &project, &[]);
    let web = format!("{project}_web_1");
    assert_eq!(
        image_of(&web),
        "opsdeck-test/busybox:v1",
        "compose read the last VERSION"
    );
    assert_eq!(label(&web, "com.docker.compose.project"), project);

    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.menuvo]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"20s\" }}\n",
            dir.display()
        ),
    );

    // status APP finds both containers, the container_name one too.
    let (code, v) = sb.json(&["status", "menuvo"]);
    assert_eq!(code, 0, "{v}");
    let mut names: Vec<String> = v[0]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    assert_eq!(names, project_containers(&project), "{v}");
    assert!(names.contains(&nginx_name), "{names:?}");

    // The version opsdeck reads is compose's: the last assignment.
    let (code, out, err) = sb.run(&["deploy", "menuvo", "--version", "v2", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = sb.run(&["deploy", "menuvo", "--version", "v2"]);
    assert_eq!(code, 0, "deploy: {out}{err}");
    assert_eq!(
        image_of(&service_container(&project, "web")),
        "opsdeck-test/busybox:v2"
    );
    assert_eq!(
        project_containers(&project).len(),
        2,
        "no container of another project was made"
    );
    let env_after = std::fs::read_to_string(dir.join(".env")).expect(".env");
    assert_eq!(
        env_after,
        env_before.replace("VERSION=\"v1\" # what runs", "VERSION=\"v2\" # what runs")
            + "PREVIOUS_VERSION=v1\r\n",
        "only the last VERSION changed; every other byte kept"
    );
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(dir.join(".env")).expect("stat");
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "owner and group kept");
        assert_eq!(m.permissions().mode() & 0o777, 0o640, "mode kept");
    }

    // logs APP and app/service (a container_name service) reach the right containers.
    let (code, out, err) = sb.run(&["logs", "menuvo", "--tail", "5"]);
    assert_eq!(code, 0, "logs: {out}{err}");
    let (code, out, err) = sb.run(&["restart", "menuvo/nginx"]);
    assert_eq!(code, 0, "restart menuvo/nginx: {out}{err}");
    assert!(
        out.contains(&nginx_name) || err.contains(&nginx_name),
        "{out}{err}"
    );

    // Rollback goes back through the same resolution.
    let (code, out, err) = sb.run(&["rollback", "menuvo", "--yes"]);
    assert_eq!(code, 0, "rollback: {out}{err}");
    assert_eq!(
        image_of(&service_container(&project, "web")),
        "opsdeck-test/busybox:v1"
    );

    // The doctor names the project and where its name came from.
    let (_, out, err) = sb.run(&["doctor", "menuvo"]);
    assert!(
        out.contains(&format!(
            "compose project {project} (from COMPOSE_PROJECT_NAME in .env)"
        )),
        "{out}{err}"
    );
}

#[test]
fn a_project_named_by_its_directory_is_normalised_as_compose_does() {
    require_docker();
    let sb = Sandbox::new();
    let tag = unique("x").replace("opsdeck-test-x-", "");
    // Upper case and a dot: compose names this project "opsdeck-test-sitev2-<tag>".
    let dir_name = format!("Opsdeck-Test-Site.V2-{tag}");
    let project = format!("opsdeck-test-sitev2-{tag}");
    let dir = sb.path().join(&dir_name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("docker-compose.yml"),
        "services:\n  web:\n    image: \"opsdeck-test/busybox:${VERSION:-v1}\"\n",
    )
    .expect("compose file");
    let _stack = Stack::up(&dir, &project, &[]);
    let found = project_containers(&project);
    assert_eq!(found.len(), 1, "compose's own name is {project}: {found:?}");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.site]\nhost = \"local\"\ndir = \"{}/\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"20s\" }}\n",
            dir.display()
        ),
    );
    let (code, v) = sb.json(&["status", "site"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v[0]["containers"].as_array().map(Vec::len), Some(1), "{v}");
    // No .env yet: the deploy creates it with the version.
    let (code, out, err) = sb.run(&["deploy", "site", "--version", "v2"]);
    assert_eq!(code, 0, "deploy: {out}{err}");
    assert_eq!(
        image_of(&service_container(&project, "web")),
        "opsdeck-test/busybox:v2"
    );
    assert_eq!(project_containers(&project).len(), 1);
    assert_eq!(
        std::fs::read_to_string(dir.join(".env")).expect(".env"),
        "VERSION=v2\n"
    );
}

#[test]
fn a_dotenv_compose_cannot_read_is_refused_before_anything_changes() {
    require_docker();
    let sb = Sandbox::new();
    let dir = sb.path().join("app");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("docker-compose.yml"),
        "services:\n  web:\n    image: opsdeck-test/busybox:v1\n",
    )
    .expect("compose file");
    let env = "VERSION=v1\nNOT A KEY=1\n";
    std::fs::write(dir.join(".env"), env).expect(".env");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.app]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"web\"]\n",
            dir.display()
        ),
    );
    let (code, out, err) = sb.run(&["deploy", "app", "--version", "v2"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(".env") && err.contains("line 2"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join(".env")).expect(".env"),
        env
    );
}
