//! The local engine end to end, headless: real containers on the test bed's dockerd, read
//! through the real binary.

use opsdeck_testkit as common;

use common::*;
use serde_json::Value;
use std::time::Duration;

const COMPOSE: &str = r#"version: "2.4"
services:
  web:
    image: opsdeck-test/busybox:v1
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 1s
      timeout: 1s
      retries: 1
      start_period: 120s
  api:
    image: opsdeck-test/busybox:v2
    healthcheck:
      disable: true
  broken:
    image: opsdeck-test/busybox:bad
"#;

// Fields drop in order: the stack goes down before the sandbox (holding its compose file) goes.
struct Stack {
    _guard: ComposeGuard,
    sb: Sandbox,
    project: String,
}

fn stack() -> Stack {
    require_docker();
    let sb = Sandbox::new();
    let project = unique("stack");
    let dir = sb.path().join("app");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("docker-compose.yml"), COMPOSE).expect("compose file");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n\n[apps.stack]\nhost = \"local\"\ndir = \"{}\"\nproject = \"{project}\"\nservices = [\"web\", \"api\"]\n",
            dir.display()
        ),
    );
    let guard = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    compose(&dir, &project, &["up", "-d"]);
    Stack {
        sb,
        project,
        _guard: guard,
    }
}

fn containers(v: &Value) -> Vec<Value> {
    v.as_array()
        .expect("a list of hosts")
        .iter()
        .flat_map(|h| h["containers"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn service<'a>(cs: &'a [Value], name: &str) -> &'a Value {
    cs.iter()
        .find(|c| c["service"] == name)
        .unwrap_or_else(|| panic!("no {name} in {cs:?}"))
}

#[test]
fn status_groups_by_project_and_follows_health_transitions() {
    let st = stack();
    // Right after `up`, web's check has not passed yet: starting.
    let (code, v) = st.sb.json(&["status", "stack"]);
    assert_eq!(code, 0);
    let cs = containers(&v);
    assert_eq!(cs.len(), 3, "only the app's three containers: {cs:?}");
    let web = service(&cs, "web");
    assert_eq!(web["health"], "starting");
    assert_eq!(web["state"], "running");
    assert_eq!(web["project"], st.project.as_str());
    assert_eq!(web["image"], "opsdeck-test/busybox:v1");
    assert_eq!(web["tag"], "v1");
    assert_eq!(web["host"], "local");
    assert_eq!(web["id"].as_str().map(str::len), Some(12));
    assert!(web["uptime_secs"].is_u64(), "{web}");
    assert!(web["cpu_percent"].is_f64(), "stats sampled: {web}");
    assert!(web["memory_bytes"].is_u64(), "stats sampled: {web}");
    assert_eq!(service(&cs, "api")["health"], "none");
    assert_eq!(service(&cs, "api")["tag"], "v2");

    // Make web's check pass: starting -> healthy. The bad image never passes: unhealthy.
    let web_name = web["name"].as_str().expect("name").to_string();
    docker(&["exec", &web_name, "touch", "/tmp/ready"]);
    wait_for(
        "web healthy and broken unhealthy",
        Duration::from_secs(60),
        || {
            let (_, v) = st.sb.json(&["status", "stack", "--no-stats"]);
            let cs = containers(&v);
            (service(&cs, "web")["health"] == "healthy"
                && service(&cs, "broken")["health"] == "unhealthy")
                .then_some(())
        },
    );
    let (_, v) = st.sb.json(&["status", "stack", "--no-stats"]);
    let broken = service(&containers(&v), "broken").clone();
    assert!(
        broken["cpu_percent"].is_null(),
        "--no-stats takes no sample"
    );
    // The human form groups under the project and shows the states.
    let (code, out, _) = st.sb.run(&["status", "stack", "--no-stats"]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("{}/", st.project)), "{out}");
    for word in [
        "web",
        "api",
        "broken",
        "healthy",
        "unhealthy",
        "opsdeck-test/busybox:bad",
    ] {
        assert!(out.contains(word), "{word} missing from:\n{out}");
    }
}

#[test]
fn stopped_and_loose_containers_are_shown_with_their_state() {
    require_docker();
    let sb = Sandbox::new();
    let name = unique("loose");
    let _g = ContainerGuard(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "opsdeck-test/busybox:v1",
        "sh",
        "-c",
        "exit 3",
    ]);
    wait_for("the container to exit", Duration::from_secs(20), || {
        (docker(&["inspect", "-f", "{{.State.Status}}", &name]) == "exited").then_some(())
    });
    let (code, v) = sb.json(&["status", "--no-stats"]);
    assert_eq!(code, 0);
    let cs = containers(&v);
    let c = cs
        .iter()
        .find(|c| c["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!(c["state"], "exited");
    assert_eq!(c["exit_code"], 3);
    assert!(c["project"].is_null());
    assert!(c["uptime_secs"].is_null());
    let (_, out, _) = sb.run(&["status", "--no-stats"]);
    assert!(
        out.contains("(no project)") && out.contains("exited (3)"),
        "{out}"
    );
}

#[test]
fn unknown_app_is_bad_input_with_suggestions() {
    require_docker();
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[apps.shop]\nhost = \"local\"\ndir = \"/opt/shop\"\n",
    );
    let (code, out, err) = sb.run(&["status", "shpo"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("did you mean: shop"), "{err}");
    let (code, _, err) = sb.run(&["status", "--host", "nowhere"]);
    assert_eq!(code, 2);
    assert!(err.contains("no host named \"nowhere\""), "{err}");
}

#[test]
fn an_unreachable_engine_exits_3_naming_the_socket_and_why() {
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        "[hosts.ghost]\ndocker_socket = \"/nonexistent/docker.sock\"\n",
    );
    let (code, out, err) = sb.run(&["status"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("unix:///nonexistent/docker.sock") && err.contains("does not exist"),
        "{err}"
    );
    // A path that exists but where no engine listens.
    let not_a_socket = sb.write("fake.sock", "");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.ghost]\ndocker_socket = \"{}\"\n",
            not_a_socket.display()
        ),
    );
    let (code, _, err) = sb.run(&["hosts"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&not_a_socket.display().to_string()), "{err}");
    let (code, v) = sb.json(&["hosts"]);
    assert_eq!(code, 3);
    assert_eq!(v[0]["reachable"], false);
    assert!(
        v[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("fake.sock")),
        "{v}"
    );
}

#[test]
fn one_unreachable_host_does_not_hide_the_others() {
    require_docker();
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\ntags = [\"prod\"]\n[hosts.ghost]\ndocker_socket = \"/nonexistent/docker.sock\"\ntags = [\"prod\"]\n[hosts.other]\n",
    );
    let (code, v) = sb.json(&["hosts", "--host", "tag:prod"]);
    assert_eq!(code, 3, "{v}");
    let hosts: Vec<&str> = v
        .as_array()
        .expect("list")
        .iter()
        .map(|h| h["host"].as_str().expect("host"))
        .collect();
    assert_eq!(
        hosts,
        ["ghost", "local"],
        "tag:prod selects exactly the tagged hosts"
    );
    let local = &v[1];
    assert_eq!(local["reachable"], true);
    assert!(local["engine_version"].is_string() && local["api_version"].is_string());
    assert!(local["latency_ms"].is_f64());
    assert!(
        local["compose"]
            .as_str()
            .is_some_and(|c| c.contains("compose")),
        "compose detected: {local}"
    );
    assert_eq!(local["transport"], "local");
    let (code, out, err) = sb.run(&["status", "--no-stats", "--host", "local", "--host", "ghost"]);
    assert_eq!(code, 3);
    assert!(
        out.contains("local"),
        "the reachable host is still printed: {out}"
    );
    assert!(err.contains("ghost: unreachable"), "{err}");
    let (code, _) = sb.json(&["hosts", "--host", "local"]);
    assert_eq!(code, 0);
}

#[test]
fn history_starts_empty_and_creates_the_journal() {
    let sb = Sandbox::new();
    let (code, out, err) = sb.run(&["history"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no actions recorded"), "{out}");
    assert!(sb.path().join("data/opsdeck/journal.db").is_file());
    let (code, v) = sb.json(&["history"]);
    assert_eq!(code, 0);
    assert_eq!(v, serde_json::json!([]));
    let (code, _, err) = sb.run(&["history", "--since", "yesterday"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let sb = Sandbox::new();
    let (code, out, _) = sb.run(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(out.contains("opsdeck") && out.contains("status"));
    let (code, out, _) = sb.run(&["man"]);
    assert_eq!(code, 0);
    assert!(out.contains(".TH") && out.contains("hosts"));
}

#[test]
fn the_console_refuses_to_start_without_a_terminal() {
    let sb = Sandbox::new();
    let (code, _, err) = sb.run(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("needs a terminal"), "{err}");
}

/// The version picker's feed: the tagged images on a host, read from the real engine.
#[tokio::test]
async fn host_images_lists_the_tags_present_on_the_engine() {
    require_docker();
    let local = opsdeck::host::Host::new("local", &opsdeck::inventory::HostSpec::default())
        .expect("local host");
    let images = opsdeck::ops::query::host_images(&[local]).await;
    for tag in ["v1", "v2", "bad"] {
        assert!(
            images
                .iter()
                .any(|(h, i)| h == "local" && i == &format!("opsdeck-test/busybox:{tag}")),
            "busybox:{tag} in {images:?}"
        );
    }
    assert!(images.iter().all(|(_, i)| !i.starts_with("<none>")));
}

/// The console's stats watcher on the real engine: only the containers in focus are sampled;
/// a busy one shows CPU once two samples exist, and memory from the first.
#[test]
fn stats_are_sampled_for_the_containers_in_focus_only() {
    require_docker();
    let busy = unique("busy");
    let idle = unique("idle");
    let _b = ContainerGuard(busy.clone());
    let _i = ContainerGuard(idle.clone());
    let busy_id = docker(&[
        "run",
        "-d",
        "--no-healthcheck",
        "--name",
        &busy,
        "opsdeck-test/busybox:v1",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    let idle_id = docker(&[
        "run",
        "-d",
        "--no-healthcheck",
        "--name",
        &idle,
        "opsdeck-test/busybox:v1",
        "sleep",
        "600",
    ]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let host = opsdeck::host::Host::new("local", &Default::default()).expect("host");
        let mut focus = opsdeck::model::Focus::new();
        focus.insert(("local".to_string(), busy_id.clone()));
        let (_focus_tx, focus_rx) = tokio::sync::watch::channel(focus);
        let (mut updates, _watchers) = opsdeck::model::spawn_watchers(vec![host], focus_rx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut busy_cpu = None;
        while busy_cpu.is_none() {
            let u = tokio::time::timeout_at(deadline, updates.recv())
                .await
                .expect("a stats sample of the focused container within 20 s")
                .expect("the watchers run");
            if let opsdeck::model::Update::Stats { id, sample, .. } = u {
                assert_ne!(id, idle_id, "a container out of focus was sampled");
                assert_eq!(id, busy_id);
                assert!(sample.memory_bytes > 0, "{sample:?}");
                busy_cpu = Some(sample.cpu_percent);
            }
        }
        let cpu = busy_cpu.unwrap_or_default();
        assert!(cpu > 20.0, "a spinning container shows CPU: {cpu}");
    });
}
