//! `redis assign` against a Redis in a container started with `--requirepass` (seed 002's
//! `redis-server --requirepass ${REDIS_PASSWORD}`): opsdeck is given no password; it uses the
//! one the container was started with and never prints it.

use opsdeck_testkit as common;

use common::*;
use std::time::Duration;

#[test]
fn redis_with_requirepass_in_its_container_is_assigned_without_showing_the_password() {
    require_docker();
    let sb = Sandbox::new();
    let name = unique("nickapp-redis");
    let _c = ContainerGuard(name.clone());
    // A password with the characters that break naive URLs.
    let password = format!("p@ss/w#rd:{}", std::process::id());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        &testbed_var("OPSDECK_TB_IMAGE_REDIS"),
        "redis-server",
        "--requirepass",
        &password,
    ]);
    let cli = |args: &[&str]| {
        let mut all = vec!["exec", name.as_str(), "redis-cli", "--no-auth-warning"];
        all.extend_from_slice(args);
        docker(&all).trim().to_string()
    };
    // Until the server listens, redis-cli fails: ask without the helper that fails the test.
    let pong = || {
        std::process::Command::new("docker")
            .args([
                "exec",
                &name,
                "redis-cli",
                "--no-auth-warning",
                "-a",
                &password,
                "ping",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
    };
    wait_for("redis", Duration::from_secs(20), || pong().then_some(()));
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.cache]\nhost = \"local\"\nengine = \"redis\"\ncontainer = \"{name}\"\n"
        ),
    );
    let (code, out, err) = sb.run(&["redis", "assign", "app1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains(&password) && !err.contains(&password),
        "{out}{err}"
    );
    let url = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("REDIS_URL="))
        .map(|u| u.split_whitespace().next().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no REDIS_URL: {out}"));
    let rest = url.strip_prefix("redis://app1:").expect("user app1");
    let (pw, addr) = rest.split_once('@').expect("@");
    let (hostport, index) = addr.split_once('/').expect("/index");
    assert_eq!(hostport, format!("{name}:6379"), "{url}");
    assert_ne!(index, "0");
    assert_eq!(
        cli(&["--user", "app1", "--pass", pw, "-n", index, "SET", "app1:k", "v"]),
        "OK"
    );
    assert!(
        cli(&["--user", "app1", "--pass", pw, "-n", index, "SET", "other:k", "v"])
            .contains("NOPERM")
    );
    let (_, hist, _) = sb.run(&["history", "--output", "json"]);
    assert!(!hist.contains(&password) && !hist.contains(pw), "{hist}");
}
