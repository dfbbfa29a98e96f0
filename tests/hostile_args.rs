//! Input that used to panic or leak: a `--since` beyond the calendar, `keep_days` beyond it,
//! credentials inside a check URL, reserved names for provisioning. Each is bad input: exit 2
//! with a message naming it (or, for the check, a result that shows no password).

use opsdeck_testkit as common;

use common::*;

#[test]
fn durations_beyond_the_calendar_are_bad_input_not_a_panic() {
    let sb = Sandbox::new();
    sb.write("opsdeck.toml", "[hosts.local]\n");
    let (code, out, err) = sb.run(&["history", "--since", "300000y"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("300000y") && err.contains("too long"), "{err}");
}

#[test]
fn keep_days_beyond_a_century_is_refused_naming_the_key() {
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[storage.nightly]\nkind = \"dir\"\npath = \"/var/backups\"\nkeep_days = 100000000\n",
    );
    let (code, out, err) = sb.run(&["history"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("storage.nightly.keep_days") && err.contains("100 years"),
        "{err}"
    );
}

#[test]
fn a_check_url_with_credentials_never_shows_them() {
    let sb = Sandbox::new();
    let port = free_port();
    sb.write(
        "opsdeck.toml",
        &format!("[hosts.local]\n[checks.api]\nurl = \"http://monitor:Chk-pw1@127.0.0.1:{port}/health\"\n"),
    );
    for json in [false, true] {
        let mut args = vec!["check"];
        if json {
            args.extend(["--output", "json"]);
        }
        let (code, out, err) = sb.run(&args);
        assert_eq!(code, 1, "nothing listens there: {out}{err}");
        assert!(
            !out.contains("Chk-pw1") && !err.contains("Chk-pw1"),
            "{out}{err}"
        );
        assert!(out.contains("monitor:***@127.0.0.1"), "{out}");
    }
}

#[test]
fn reserved_names_are_never_provisioned() {
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        "[hosts.local]\n[databases.shared]\nhost = \"local\"\nengine = \"postgres\"\nurl = \"postgres://admin:x@127.0.0.1:5999/postgres\"\n\
         [databases.cache]\nhost = \"local\"\nengine = \"redis\"\nurl = \"redis://127.0.0.1:6999/0\"\n",
    );
    for args in [
        vec!["db", "create", "postgres", "--rotate-password"],
        vec!["db", "create", "template1"],
        vec!["redis", "assign", "default"],
    ] {
        let (code, out, err) = sb.run(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("cannot be a database or role name"), "{err}");
    }
}
