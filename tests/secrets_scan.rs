//! No secret leaves opsdeck: a distinct secret is planted in each place one can come from
//! (URL passwords with `/ # ? @ % : '` and spaces, a `migrate` command's `PGPASSWORD=...`, a
//! check URL's `user:pass@`, `.env` values, S3 credentials and the SSH key passphrase from the
//! environment), every command that can touch them runs (plans human and JSON, status,
//! check, db create, redis assign, deploy, backup, history, doctor; the servers named are
//! not listening, so the error paths print too), and everything opsdeck printed and every
//! file it wrote under its state, data and lock dirs is scanned.
//!
//! Also: `-v` prints debug lines (and, still, no secret).

use opsdeck_testkit as common;

use common::*;
use std::path::Path;

/// Each secret, as planted. Fragments that a naive parser would split off are listed too.
const SECRETS: &[&str] = &[
    "Adm/9#q?z@x%41:y'w",
    "Adm/9",
    "Red#4?k@y/%3A'z",
    "Red#4",
    "Mig-7v3p",
    "Chk-2m8t",
    "Env-5s1q",
    "Env-4u6r",
    "AKIA-S3-6n2d",
    "S3sec-8b4c",
    "Pass-1x9e",
];

fn setup() -> Sandbox {
    let sb = Sandbox::new();
    let dir = sb.path().join("shop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("docker-compose.yml"),
        "services:\n  web:\n    image: opsdeck-test/busybox:${VERSION}\n    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n",
    )
    .expect("compose");
    std::fs::write(
        dir.join(".env"),
        "VERSION=v1\nDB_PASSWORD=Env-5s1q\nAPI_TOKEN='Env-4u6r'\n",
    )
    .expect(".env");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n\
             [apps.shop]\nhost = \"local\"\ndir = \"{dir}\"\nservices = [\"web\"]\n\
             migrate = \"PGPASSWORD=Mig-7v3p bunx drizzle-kit migrate\"\n\
             [databases.shared]\nhost = \"local\"\nengine = \"postgres\"\n\
             url = \"postgres://admin:Adm/9#q?z@x%41:y'w@127.0.0.1:5999/postgres\"\n\
             [databases.cache]\nhost = \"local\"\nengine = \"redis\"\n\
             url = \"redis://:Red#4?k@y/%3A'z@127.0.0.1:6999/0\"\n\
             [storage.s3]\nkind = \"s3\"\nbucket = \"scan\"\nendpoint = \"http://127.0.0.1:5998\"\n\
             [checks.shop-public]\nurl = \"http://probe:Chk-2m8t@127.0.0.1:5997/health\"\nevery = \"10s\"\n",
            dir = dir.display()
        ),
    );
    sb
}

fn env() -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "AKIA-S3-6n2d"),
        ("AWS_SECRET_ACCESS_KEY", "S3sec-8b4c"),
        ("OPSDECK_SSH_PASSPHRASE", "Pass-1x9e"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn leaks(what: &str, text: &str) -> Vec<String> {
    SECRETS
        .iter()
        .filter(|s| text.contains(**s))
        .map(|s| format!("{what} carries {s}"))
        .collect()
}

/// Every file under `dir` (the journal database and its WAL, logs, manifests...).
fn scan_files(dir: &Path, skip: &[&Path], found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if skip.contains(&p.as_path()) {
            continue;
        }
        if p.is_dir() {
            scan_files(&p, skip, found);
        } else if let Ok(bytes) = std::fs::read(&p) {
            found.extend(leaks(
                &p.display().to_string(),
                &String::from_utf8_lossy(&bytes),
            ));
        }
    }
}

#[test]
fn verbose_prints_debug_lines_and_no_secret() {
    let sb = setup();
    let (code, out, err) = sb.run_env(
        &env(),
        &[
            "-v",
            "db",
            "create",
            "newapp",
            "--server",
            "shared",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("DEBUG") && err.contains("inventory loaded"),
        "-v printed no debug line:\n{err}"
    );
    assert_eq!(
        leaks("-v output", &format!("{out}{err}")),
        Vec::<String>::new()
    );
    // Off by default.
    let (_, _, err) = sb.run(&["db", "create", "newapp", "--server", "shared", "--dry-run"]);
    assert!(!err.contains("DEBUG"), "debug output without -v:\n{err}");
}

#[test]
fn no_command_prints_or_stores_a_secret() {
    let sb = setup();
    let mut found = Vec::new();
    let runs: Vec<Vec<&str>> = vec![
        vec!["db", "create", "newapp", "--server", "shared", "--dry-run"],
        vec!["db", "create", "newapp", "--server", "shared", "--yes"],
        vec![
            "redis",
            "assign",
            "newapp",
            "--server",
            "cache",
            "--dry-run",
        ],
        vec!["redis", "assign", "newapp", "--server", "cache", "--yes"],
        vec!["deploy", "shop", "--version", "v2", "--dry-run"],
        vec!["deploy", "shop", "--version", "v2", "--yes"],
        vec!["backup", "shared", "--dry-run"],
        vec!["backup", "shared", "--yes"],
        vec!["status"],
        vec!["check"],
        vec!["history"],
        vec!["doctor"],
        vec!["-vv", "check"],
        vec![
            "-vv", "db", "create", "other", "--server", "shared", "--yes",
        ],
    ];
    // A PATH shim in front of `docker` and `docker-compose` (the programs opsdeck spawns on a
    // local host) records each child's argv and environment, then execs the real binary:
    // what /proc/PID/cmdline and /proc/PID/environ of the children show.
    let shims = sb.path().join("shims");
    let seen = sb.path().join("children");
    std::fs::create_dir_all(&shims).expect("mkdir");
    std::fs::create_dir_all(&seen).expect("mkdir");
    let path = std::env::var("PATH").unwrap_or_default();
    for prog in ["docker", "docker-compose"] {
        let real = path
            .split(':')
            .map(|d| Path::new(d).join(prog))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{prog} on PATH"));
        let shim = shims.join(prog);
        std::fs::write(
            &shim,
            format!(
                "#!/bin/sh
# Only opsdeck's own children: what docker-compose passes on to docker is compose's.
case \"$(cat /proc/$PPID/comm 2>/dev/null)\" in opsdeck*) ;; *) exec {real} \"$@\";; esac
f={}/$$-{prog}
printf '%s\\n' \"$@\" > \"$f.argv\"
env > \"$f.env\"
exec {} \"$@\"
",
                seen.display(),
                real.display(),
                real = real.display()
            ),
        )
        .expect("shim");
        chmod(&shim, "755");
    }
    let mut env = env();
    env.push(("PATH".into(), format!("{}:{path}", shims.display())));
    for args in &runs {
        for json in [false, true] {
            let mut all = args.clone();
            if json {
                all.extend(["--output", "json"]);
            }
            let (_code, out, err) = sb.run_env(&env, &all);
            found.extend(leaks(&format!("{all:?} stdout"), &out));
            found.extend(leaks(&format!("{all:?} stderr"), &err));
        }
    }
    // The children's environment: opsdeck's own (with the S3 keys the test gave it) is
    // inherited by design; what opsdeck adds must carry no secret, and its own secret (the
    // key passphrase) is removed.
    let inherited = ["AKIA-S3-6n2d", "S3sec-8b4c"];
    let mut children = 0;
    for e in std::fs::read_dir(&seen).expect("children").flatten() {
        children += 1;
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let name = e.path().display().to_string();
        found.extend(
            leaks(&name, &text)
                .into_iter()
                .filter(|l| !(name.ends_with(".env") && inherited.iter().any(|s| l.ends_with(s)))),
        );
    }
    assert!(children > 0, "no child was spawned through the shim");
    let seen_dir = seen.clone();
    let inv = sb.path().join("opsdeck.toml");
    let dotenv = sb.path().join("shop/.env");
    scan_files(
        sb.path(),
        &[inv.as_path(), dotenv.as_path(), seen_dir.as_path()],
        &mut found,
    );
    assert!(found.is_empty(), "secrets found:\n{}", found.join("\n"));
}
