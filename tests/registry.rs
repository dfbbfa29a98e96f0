//! Deploys from a real registry with authentication (the test bed's Debian `docker-registry`
//! with TLS from its own CA and htpasswd, `docker login` done on the host as on a real one):
//! pulls use the host's credentials as they are, a tag the registry does not have is refused
//! before anything changes, the journal records the digest each service ran, and a rollback
//! runs that digest even after the tag was moved in the registry and pulled onto the host
//! (seed 002's Watchtower problem: a broken build pushed under a tag that was good).

use opsdeck_testkit as common;

use common::stack::Stack;
use common::*;

fn retag_push(src: &str, dst: &str) {
    docker(&["tag", src, dst]);
    docker(&["push", "-q", dst]);
}

fn inspect(what: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, what]).trim().to_string()
}

#[test]
fn deploys_pull_with_the_hosts_login_refuse_unknown_tags_and_roll_back_to_the_recorded_digest() {
    require_docker();
    let registry = testbed_var("OPSDECK_TB_REGISTRY");
    let sb = Sandbox::new();
    let project = unique("reg");
    let repo = format!("{registry}/alpha/{project}");
    let good_v1 = inspect("opsdeck-test/busybox:v1", "{{.Id}}");
    let v2 = inspect("opsdeck-test/busybox:v2", "{{.Id}}");
    retag_push("opsdeck-test/busybox:v1", &format!("{repo}:v1"));
    retag_push("opsdeck-test/busybox:v2", &format!("{repo}:v2"));
    // Nothing of the repository on the host under its name: every use must pull, with auth.
    docker(&["rmi", &format!("{repo}:v1"), &format!("{repo}:v2")]);

    let dir = sb.path().join("sites").join("site");
    let stack = Stack::up(
        &dir,
        &project,
        &[
            (
                "docker-compose.yml",
                format!("services:\n  web:\n    image: \"{repo}:${{VERSION}}\"\n"),
            ),
            (
                ".env",
                format!("COMPOSE_PROJECT_NAME={project}\nVERSION=v1\n"),
            ),
        ],
    );
    // The web container of the moment: a zero-downtime deploy replaces it with one of the
    // next number (`_web_2`), so it is looked up by compose's labels each time.
    let web = || stack.container("web");
    assert_eq!(inspect(&web(), "{{.Image}}"), good_v1);
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[apps.site]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"20s\" }}\n",
            dir.display()
        ),
    );

    // 1. A deploy pulls v2 from the registry with the host's login.
    let (code, out, err) = sb.run(&["deploy", "site", "--version", "v2"]);
    assert_eq!(code, 0, "deploy v2: {out}{err}");
    assert_eq!(inspect(&web(), "{{.Image}}"), v2);
    // The image carries digests of every repository it was pushed to (other tests', earlier
    // runs'): ours is the one of this repository.
    let digest_in = |image: &str| {
        docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", image])
            .trim()
            .trim_matches(['[', ']'])
            .split(',')
            .map(|d| d.trim_matches('"').to_string())
            .find(|d| d.starts_with(&format!("{repo}@sha256:")))
            .unwrap_or_else(|| panic!("{image} has no digest of {repo}"))
    };
    let v2_digest = digest_in(&format!("{repo}:v2"));
    let v1_recorded = digest_in(&good_v1);
    // The journal holds the digest of what ran before (v1) and of what runs now (v2).
    let (_, hist, _) = sb.run(&["history", "site", "--output", "json", "--limit", "1"]);
    assert!(
        hist.contains(&v2_digest),
        "v2's digest is in the journal: {hist}"
    );
    assert!(
        hist.contains(&v1_recorded),
        "v1's digest is in the journal: {hist}"
    );

    // 2. A tag the registry does not have: refused before anything changes.
    let before = inspect(&web(), "{{.Id}}");
    let (code, out, err) = sb.run(&["deploy", "site", "--version", "v9"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("{repo}:v9"))
            && err.contains(&registry)
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(
        inspect(&web(), "{{.Id}}"),
        before,
        "the container was not touched"
    );
    assert!(std::fs::read_to_string(dir.join(".env"))
        .expect(".env")
        .contains("VERSION=v2"));

    // 3. The tag v1 is moved in the registry to a broken build, and the host pulls it.
    retag_push("opsdeck-test/busybox:bad", &format!("{repo}:v1"));
    docker(&["pull", "-q", &format!("{repo}:v1")]);
    assert_ne!(inspect(&format!("{repo}:v1"), "{{.Id}}"), good_v1);
    // The good image is not on the host under its digest any more: the pin must pull it.
    docker(&["rmi", &v1_recorded]);
    let (code, out, err) = sb.run(&["rollback", "site", "--yes"]);
    assert_eq!(code, 0, "rollback: {out}{err}");
    assert!(out.contains("pin ") || err.contains("pin "), "{out}{err}");
    assert_eq!(
        inspect(&web(), "{{.Image}}"),
        good_v1,
        "the rollback ran the image recorded for v1, not what the tag names now"
    );
    assert_eq!(inspect(&format!("{repo}:v1"), "{{.Id}}"), good_v1);
    assert!(std::fs::read_to_string(dir.join(".env"))
        .expect(".env")
        .contains("VERSION=v1"));
}
