//! Inventory errors: each file under tests/config/ holds one mistake; the binary must refuse it
//! with exit 2 and a message naming the file, the line and the key.

use opsdeck_testkit as common;

use common::Sandbox;
use std::path::PathBuf;

fn config(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config")
        .join(name)
}

/// (file, line, key, words the message must contain)
const CASES: &[(&str, usize, &str, &str)] = &[
    ("unknown_section.toml", 4, "hsts", "unknown field"),
    (
        "unknown_host_key.toml",
        3,
        "hosts.alpha.socket",
        "unknown field",
    ),
    (
        "bad_duration.toml",
        6,
        "apps.shop.health.timeout",
        "invalid duration",
    ),
    (
        "port_wrong_type.toml",
        9,
        "apps.shop.health.port",
        "invalid type",
    ),
    (
        "port_out_of_range.toml",
        6,
        "apps.shop.health.port",
        "70000",
    ),
    (
        "app_unknown_host.toml",
        5,
        "apps.shop.host",
        "no host named \"beta\"",
    ),
    ("relative_dir.toml", 5, "apps.shop.dir", "absolute path"),
    (
        "hostile_ssh_target.toml",
        3,
        "hosts.alpha.ssh",
        "not an SSH target",
    ),
    (
        "unknown_engine.toml",
        5,
        "databases.main.engine",
        "unknown variant",
    ),
    (
        "db_container_and_url.toml",
        7,
        "databases.main.url",
        "not both",
    ),
    (
        "storage_without_path.toml",
        1,
        "storage.nightly.path",
        "needs `path`",
    ),
    (
        "bad_check_url.toml",
        2,
        "checks.shop-public.url",
        "not a URL",
    ),
    ("syntax_error.toml", 2, "", "TOML syntax"),
    (
        "hostile_app_name.toml",
        3,
        "apps.shop;rm -rf",
        "contains ';'",
    ),
    (
        "duplicate_service.toml",
        6,
        "apps.shop.services.2",
        "listed twice",
    ),
    (
        "unknown_worker.toml",
        7,
        "apps.shop.workers.1",
        "is not one of the app's `services`",
    ),
    (
        "unknown_storage.toml",
        11,
        "databases.shop.backup_to",
        "no storage named \"r2\"",
    ),
    ("bad_tag.toml", 2, "hosts.alpha.tags.1", "contains ' '"),
    (
        "bad_storage_kind.toml",
        2,
        "storage.r2.kind",
        "unknown variant",
    ),
    (
        "bad_maintenance_image.toml",
        5,
        "hosts.alpha.proxy.maintenance_image",
        "not an image reference",
    ),
    (
        "zero_duration.toml",
        3,
        "checks.ping.every",
        "greater than zero",
    ),
    (
        "read_only_not_bool.toml",
        3,
        "hosts.alpha.read_only",
        "invalid type",
    ),
    (
        "read_only_typo.toml",
        3,
        "hosts.alpha.readonly",
        "unknown field",
    ),
];

#[test]
fn every_bad_file_is_refused_with_file_line_and_key() {
    let sb = Sandbox::new();
    let mut failures = Vec::new();
    for (file, line, key, words) in CASES {
        let path = config(file);
        let (code, _out, err) = sb.run(&["--config", path.to_str().expect("utf-8"), "hosts"]);
        let location = format!("{}:{line}", path.display());
        let ok = code == 2
            && err.contains(&location)
            && (key.is_empty() || err.contains(&format!("key `{key}`")))
            && err.contains(words);
        if !ok {
            failures.push(format!(
                "{file}: exit {code}, expected {location} key `{key}` and {words:?}; got:\n{err}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_interface_example_loads() {
    let inv = opsdeck::inventory::load_file(&config("full.toml")).expect("full.toml loads");
    assert_eq!(inv.hosts.len(), 1);
    assert_eq!(inv.apps["shop"].services, ["platform-a", "platform-b"]);
    assert_eq!(
        inv.apps["shop"]
            .health
            .as_ref()
            .map(|h| h.timeout.0.as_secs()),
        Some(60)
    );
    assert_eq!(inv.storage.len(), 2);
    let shop = &inv.apps["shop"];
    assert_eq!(
        (
            shop.drain().as_secs(),
            shop.settle().as_secs(),
            shop.zero_downtime
        ),
        (15, 5, true)
    );
    assert!(!inv.hosts["alpha"].read_only, "read_only defaults to false");
}

#[test]
fn a_read_only_host_loads_and_says_why() {
    let sb = Sandbox::new();
    let f = sb.write(
        "ro.toml",
        "[hosts.alpha]\nssh = \"deploy@alpha.example.com\"\nread_only = true\n\n[hosts.beta]\n",
    );
    let inv = opsdeck::inventory::load_file(&f).expect("loads");
    assert!(inv.hosts["alpha"].read_only);
    assert!(!inv.hosts["beta"].read_only);
    let why = inv.read_only_reason("alpha").expect("alpha is read-only");
    assert!(
        why.contains("alpha") && why.contains("read_only = true") && why.contains("ro.toml"),
        "{why}"
    );
    assert_eq!(inv.read_only_reason("beta"), None);
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error_not_the_default() {
    let sb = Sandbox::new();
    let (code, _, err) = sb.run(&["--config", "/nonexistent/opsdeck.toml", "hosts"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/nonexistent/opsdeck.toml") && err.contains("cannot read"),
        "{err}"
    );
    let (code, _, err) = sb
        .opsdeck()
        .env("OPSDECK_CONFIG", "/nonexistent/env.toml")
        .arg("hosts")
        .output()
        .map(|o| {
            (
                o.status.code().unwrap_or(-1),
                String::new(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .expect("runs");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/env.toml"), "{err}");
}

/// Lookup order: --config, then $OPSDECK_CONFIG, then ./opsdeck.toml, then XDG. Each level
/// holds a different (bad) file so the error tells which one was read.
#[test]
fn lookup_order() {
    let sb = Sandbox::new();
    let bad = |tag: &str| format!("[hosts.{tag}]\nbogus_{tag} = 1\n");
    let xdg = sb.write("config/opsdeck/opsdeck.toml", &bad("xdg"));
    let cwd = sb.write("opsdeck.toml", &bad("cwd"));
    let env = sb.write("env.toml", &bad("env"));
    let flag = sb.write("flag.toml", &bad("flag"));
    let run = |with_flag: bool, with_env: bool| {
        let mut c = sb.opsdeck();
        if with_flag {
            c.arg("--config").arg(&flag);
        }
        if with_env {
            c.env("OPSDECK_CONFIG", &env);
        }
        let o = c.arg("hosts").output().expect("runs");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(run(true, true).contains("bogus_flag"));
    assert!(run(false, true).contains("bogus_env"));
    assert!(run(false, false).contains("bogus_cwd"));
    std::fs::remove_file(&cwd).expect("rm");
    assert!(run(false, false).contains("bogus_xdg"));
    std::fs::remove_file(&xdg).expect("rm");
    // No file at all: the local engine, host `local`.
    let (code, v) = sb.json(&["hosts"]);
    assert!(code == 0 || code == 3, "exit {code}");
    assert_eq!(v[0]["host"], "local");
}

/// The README's recipes (one inventory per platform shape in `examples/recipes/`) load, and
/// the README shows each of them, so neither can rot.
#[test]
fn every_recipe_loads_and_is_in_the_readme() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut names: Vec<String> = std::fs::read_dir(root.join("examples/recipes"))
        .expect("examples/recipes")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "one recipe per seed platform: {names:?}");
    for n in &names {
        let path = root.join("examples/recipes").join(n);
        let inv = opsdeck::inventory::load_file(&path)
            .unwrap_or_else(|e| panic!("{n} does not load: {e}"));
        assert!(!inv.hosts.is_empty() && !inv.apps.is_empty(), "{n}");
        // Real projects name themselves (directory, .env): the recipes never pin `project`.
        assert!(inv.apps.values().all(|a| a.project.is_none()), "{n}");
        assert!(
            readme.contains(&format!("examples/recipes/{n}")),
            "README lacks {n}"
        );
    }
    let mint =
        opsdeck::inventory::load_file(&root.join("examples/recipes/mint-microservices.toml"))
            .expect("mint");
    assert_eq!(mint.apps["mint"].services.len(), 10);
    let elmeg = opsdeck::inventory::load_file(&root.join("examples/recipes/elmeg-git.toml"))
        .expect("elmeg");
    assert!(elmeg
        .apps
        .values()
        .all(|a| a.deploy == opsdeck::inventory::DeployKind::Git));
}
