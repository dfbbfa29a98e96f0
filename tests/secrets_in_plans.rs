//! Plans shown by `--dry-run` (human and JSON) never carry a password: an admin URL's (with
//! characters that break naive parsing), a `migrate` command's `PGPASSWORD=...`, a Redis URL's.

use opsdeck_testkit as common;

use common::*;

#[test]
fn dry_run_plans_show_no_password_in_either_output() {
    let sb = Sandbox::new();
    let dir = sb.path().join("shop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("docker-compose.yml"),
        "services:\n  web:\n    image: opsdeck-test/busybox:${VERSION}\n",
    )
    .expect("compose");
    std::fs::write(dir.join(".env"), "VERSION=v1\n").expect(".env");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n\
             [apps.shop]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"web\"]\nmigrate = \"PGPASSWORD=Mig-9q7x bunx drizzle-kit migrate\"\n\
             [databases.shared]\nhost = \"local\"\nengine = \"postgres\"\nurl = \"postgres://admin:Adm-5k/2z@127.0.0.1:5999/postgres\"\n\
             [databases.cache]\nhost = \"local\"\nengine = \"redis\"\nurl = \"redis://:Red-3h#8w@127.0.0.1:6999/0\"\n",
            dir.display()
        ),
    );
    let secrets = ["Mig-9q7x", "Adm-5k/2z", "Adm-5k", "Red-3h#8w", "Red-3h"];
    for args in [
        vec!["db", "create", "newapp", "--server", "shared", "--dry-run"],
        vec![
            "redis",
            "assign",
            "newapp",
            "--server",
            "cache",
            "--dry-run",
        ],
        vec!["deploy", "shop", "--version", "v2", "--dry-run"],
    ] {
        for json in [false, true] {
            let mut all = args.clone();
            if json {
                all.extend(["--output", "json"]);
            }
            let (code, out, err) = sb.run(&all);
            assert_eq!(code, 0, "{all:?}: {out}{err}");
            for s in secrets {
                assert!(
                    !out.contains(s) && !err.contains(s),
                    "{all:?} shows {s}:\n{out}{err}"
                );
            }
            if json {
                let _: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
            }
        }
    }
}
