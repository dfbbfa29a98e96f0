//! Backups of a Redis database for real: a Redis in a container started with `--requirepass`
//! (seed 002's `redis-server --requirepass ${REDIS_PASSWORD}`), keys in three DB indexes, an
//! app container that uses it. Backup (an RDB through `redis-cli --rdb` in the container),
//! verify (loaded into a throwaway Redis, keys per index compared), change, restore: every key
//! is back, the app runs again, what was live is kept as a backup; a corrupted backup is
//! refused before anything changes; the password is never printed or journaled.

use opsdeck_testkit::{self as common, pg::sha256sum};

use common::*;
use std::time::Duration;

struct Redis {
    name: String,
    password: String,
    _c: ContainerGuard,
}

impl Redis {
    fn start() -> Self {
        let name = unique("cache-redis");
        let c = ContainerGuard(name.clone());
        let password = format!("r3d!s/pa#ss:{}", std::process::id());
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
        let r = Redis {
            name,
            password,
            _c: c,
        };
        wait_for("redis", Duration::from_secs(20), || {
            std::process::Command::new("docker")
                .args([
                    "exec",
                    &r.name,
                    "redis-cli",
                    "--no-auth-warning",
                    "-a",
                    &r.password,
                    "ping",
                ])
                .output()
                .ok()
                .filter(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
                .map(|_| ())
        });
        r
    }

    fn cli(&self, args: &[&str]) -> String {
        let mut all = vec![
            "exec",
            self.name.as_str(),
            "redis-cli",
            "--no-auth-warning",
            "-a",
            &self.password,
        ];
        all.extend_from_slice(args);
        docker(&all).trim().to_string()
    }

    /// Keys per DB index and a few values: what a restore must bring back.
    fn state(&self) -> Vec<String> {
        let mut out = vec![self
            .cli(&["INFO", "keyspace"])
            .lines()
            .filter(|l| l.starts_with("db"))
            .map(|l| l.split(',').next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join(" ")];
        out.push(self.cli(&["-n", "3", "GET", "session:42"]));
        out.push(
            self.cli(&["-n", "7", "HGETALL", "user:1"])
                .replace('\n', ","),
        );
        out
    }
}

#[test]
fn a_redis_round_trips_through_an_rdb_with_keys_in_three_indexes() {
    require_docker();
    let redis = Redis::start();
    for i in 0..5 {
        redis.cli(&["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    redis.cli(&["-n", "3", "SET", "session:42", "ünïcode ☕ value"]);
    redis.cli(&["-n", "3", "SET", "session:43", "x"]);
    for i in 0..120 {
        redis.cli(&[
            "-n",
            "7",
            "HSET",
            &format!("user:{i}"),
            "name",
            &format!("user {i}"),
        ]);
    }
    let original = redis.state();
    assert!(original[0].contains("db7:keys=120"), "{original:?}");
    // An app that uses it: stopped and started around the restore.
    let app = unique("cache-user");
    docker(&[
        "run",
        "-d",
        "--name",
        &app,
        "--label",
        "com.docker.compose.project=cacheapp",
        "--label",
        "com.docker.compose.service=web",
        "opsdeck-test/busybox:v1",
    ]);
    let _app = ContainerGuard(app.clone());
    let sb = Sandbox::new();
    let store = sb.path().join("backups");
    std::fs::create_dir_all(sb.path().join("cacheapp")).expect("app dir");
    sb.write(
        "cacheapp/docker-compose.yml",
        "services:\n  web:\n    image: opsdeck-test/busybox:v1\n",
    );
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.cacheapp]\nhost = \"local\"\ndir = \"{}\"\nproject = \"cacheapp\"\n\
             [storage.local]\nkind = \"dir\"\npath = \"{}\"\n\
             [databases.cache]\nhost = \"local\"\nengine = \"redis\"\ncontainer = \"{}\"\nbackup_to = \"local\"\napps = [\"cacheapp\"]\n",
            sb.path().join("cacheapp").display(),
            store.display(),
            redis.name
        ),
    );
    let mut printed = String::new();
    let mut run = |args: &[&str]| {
        let (code, out, err) = sb.run(args);
        printed.push_str(&out);
        printed.push_str(&err);
        (code, out, err)
    };
    let (code, out, err) = run(&["backup", "cache"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&["backups", "cache", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    let b = &list[0];
    assert_eq!(b["kind"], "redis");
    assert_eq!(b["tables"]["db0"], 5);
    assert_eq!(b["tables"]["db3"], 2);
    assert_eq!(b["tables"]["db7"], 120);
    let id = b["id"].as_str().expect("id").to_string();
    let dump = store.join(format!("{id}.dump"));
    assert_eq!(sha256sum(&dump), b["sha256"].as_str().expect("sha"));
    assert_eq!(
        &std::fs::read(&dump).expect("dump")[..5],
        b"REDIS",
        "an RDB"
    );

    let (code, out, err) = run(&["verify", "cache", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        docker(&["ps", "-aq", "--filter", "name=opsdeck-redis-verify"])
            .trim()
            .is_empty(),
        "throwaway removed"
    );

    // Changed, then a corrupt copy of the backup is refused with the live data untouched.
    redis.cli(&["FLUSHALL"]);
    redis.cli(&["-n", "3", "SET", "session:42", "new"]);
    let changed = redis.state();
    let good = std::fs::read(&dump).expect("dump");
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0xff;
    std::fs::write(&dump, &bad).expect("corrupt");
    let (code, out, err) = run(&["restore", "cache", &id, "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("corrupt"), "{out}{err}");
    assert_eq!(redis.state(), changed, "live data untouched");
    std::fs::write(&dump, &good).expect("repair");

    let (code, out, err) = run(&["restore", "cache", &id, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(redis.state(), original);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &app]).trim(),
        "true",
        "app started again"
    );
    // What was live before is kept as a backup of its own.
    let (_, out, _) = run(&["backups", "cache", "--output", "json"]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert!(list
        .as_array()
        .expect("list")
        .iter()
        .any(|b| b["tables"]["db3"] == 1));

    let (_, hist, _) = sb.run(&["history", "--output", "json", "--limit", "20"]);
    printed.push_str(&hist);
    let journal = std::fs::read(sb.path().join("data/opsdeck/journal.db")).unwrap_or_default();
    assert!(!printed.contains(&redis.password), "password printed");
    assert!(
        !String::from_utf8_lossy(&journal).contains(&redis.password),
        "password in the journal"
    );
}
