//! `opsdeck images`, `volumes`, `networks`, `df` against the real engine, locally and over
//! the test bed's sshd: what a test creates shows up with who uses it, and `df` agrees with
//! the lists (and with `docker system df` where both count the same thing).

use opsdeck_testkit::{self as common, ssh::Bed};

use common::*;
use serde_json::Value;

struct Bed2 {
    sb: Sandbox,
    env: Vec<(String, String)>,
}

fn sandbox() -> Bed2 {
    require_docker();
    let ssh = Bed::get();
    let sb = Sandbox::new();
    let config = sb.write(
        "ssh/config",
        &format!(
            "Host tb\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n",
            ssh.host,
            ssh.port,
            ssh.user,
            ssh.key.display()
        ),
    );
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n\n[hosts.tb]\nssh = \"tb\"\n",
    );
    let env = vec![
        (
            "OPSDECK_SSH_CONFIG".to_string(),
            config.display().to_string(),
        ),
        (
            "OPSDECK_KNOWN_HOSTS".to_string(),
            ssh.known_hosts.display().to_string(),
        ),
    ];
    Bed2 { sb, env }
}

impl Bed2 {
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let (code, out, err) = self.sb.run_env(&self.env, &all);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
}

struct Cleanup(Vec<Vec<String>>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = std::process::Command::new("docker").args(c).output();
        }
    }
}

fn on<'a>(v: &'a Value, host: &str) -> Vec<&'a Value> {
    v.as_array()
        .expect("a list of objects")
        .iter()
        .filter(|r| r["host"] == host)
        .collect()
}

#[test]
fn images_volumes_networks_and_df_per_host_locally_and_over_ssh() {
    let b = sandbox();
    let name = unique("disk");
    let (vol, spare, net, tag) = (
        format!("{name}-data"),
        format!("{name}-spare"),
        format!("{name}-net"),
        format!("opsdeck-test/disk-{}:unused", std::process::id()),
    );
    let _cleanup = Cleanup(vec![
        vec!["rm".into(), "-f".into(), name.clone()],
        vec!["volume".into(), "rm".into(), "-f".into(), vol.clone()],
        vec!["volume".into(), "rm".into(), "-f".into(), spare.clone()],
        vec!["network".into(), "rm".into(), net.clone()],
        vec!["rmi".into(), tag.clone()],
    ]);
    docker(&["network", "create", &net]);
    docker(&["volume", "create", &spare]);
    docker(&["tag", "opsdeck-test/busybox:v1", &tag]);
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &net,
        "-v",
        &format!("{vol}:/data"),
        "opsdeck-test/busybox:v2",
        "sh",
        "-c",
        "echo 12345 > /written; exec sleep 600",
    ]);
    let ip = docker(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        &name,
    ]);
    let v2_id = docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        "opsdeck-test/busybox:v2",
    ]);

    for host in ["local", "tb"] {
        let images = b.json(&["images", "--host", host]);
        let rows = on(&images, host);
        let v2 = rows
            .iter()
            .find(|i| i["id"] == v2_id.trim())
            .unwrap_or_else(|| panic!("{host}: busybox:v2 listed: {images}"));
        assert!(
            v2["containers"]
                .as_array()
                .is_some_and(|c| c.iter().any(|n| n == name.as_str())),
            "{host}: v2 is used by {name}: {v2}"
        );
        assert!(v2["size"].as_u64().is_some_and(|s| s > 0), "{v2}");
        assert!(
            rows.iter().any(|i| i["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == tag.as_str()))),
            "{host}: the extra tag is listed"
        );

        let volumes = b.json(&["volumes", "--host", host]);
        let vrows = on(&volumes, host);
        let used = vrows
            .iter()
            .find(|v| v["name"] == vol.as_str())
            .expect("the mounted volume");
        assert_eq!(used["containers"][0], name.as_str(), "{used}");
        let free = vrows
            .iter()
            .find(|v| v["name"] == spare.as_str())
            .expect("the spare volume");
        assert_eq!(free["containers"].as_array().map(Vec::len), Some(0));

        let networks = b.json(&["networks", "--host", host]);
        let n = on(&networks, host)
            .into_iter()
            .find(|n| n["name"] == net.as_str())
            .expect("the test network");
        assert_eq!(n["driver"], "bridge");
        assert_eq!(n["containers"][0]["name"], name.as_str(), "{n}");
        assert_eq!(n["containers"][0]["ip_address"], ip.trim(), "{n}");
        assert!(n["subnets"][0].as_str().is_some(), "{n}");

        let df = b.json(&["df", "--host", host]);
        let rows = on(&df, host);
        let kinds: Vec<&str> = rows.iter().filter_map(|r| r["type"].as_str()).collect();
        assert_eq!(kinds, ["images", "containers", "volumes", "build_cache"]);
        // Other tests share this engine, so counts are bounds, not equalities (the exact
        // arithmetic of df is unit-tested on a fixed survey).
        let at_least = |r: &Value, k: &str, n: u64| {
            assert!(r[k].as_u64().is_some_and(|v| v >= n), "{k} >= {n}: {r}");
        };
        at_least(rows[0], "total", 2);
        at_least(rows[0], "active", 1);
        at_least(rows[0], "size", 1);
        at_least(rows[1], "total", 1);
        at_least(rows[1], "active", 1);
        // Our container wrote 6 bytes into its writable layer.
        at_least(rows[1], "size", 6);
        let vols = rows[2];
        at_least(vols, "total", 2);
        assert!(vols["active"].as_u64().is_some_and(|a| a >= 1), "{df}");
    }

    // The human tables name the same things.
    let (code, out, err) = b.sb.run_env(&b.env, &["networks", "--host", "tb"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&net) && out.contains(ip.trim()), "{out}");
    let (code, out, err) = b.sb.run_env(&b.env, &["df"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("RECLAIMABLE") && out.contains("local") && out.contains("tb"),
        "{out}"
    );
}

#[test]
fn an_unreachable_host_is_reported_and_the_others_listed() {
    require_docker();
    let sb = Sandbox::new();
    let port = free_port();
    let config = sb.write(
        "ssh/config",
        &format!("Host gone\n  HostName 127.0.0.1\n  Port {port}\n  ConnectTimeout 3\n"),
    );
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n\n[hosts.gone]\nssh = \"gone\"\n",
    );
    let env = vec![(
        "OPSDECK_SSH_CONFIG".to_string(),
        config.display().to_string(),
    )];
    let (code, out, err) = sb.run_env(&env, &["df", "--output", "json"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("gone"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(on(&v, "local").len(), 4, "{v}");
}
