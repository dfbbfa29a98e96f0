//! Property tests ("fuzzing") over every parser of text that comes from outside the process:
//! the inventory loader, the `.env` parser and editor, the routes file parser and editor, the
//! rule parser, the URL parsers and maskers, and the log line decoder.
//!
//! Each target runs `CASES` cases from a fixed seed, so CI runs the same inputs every time
//! (no `PROPTEST_RNG_SEED`, no persisted failures). Properties: no panic, no case slower than
//! `SLOW` (a hang shows up as a failing case), errors name the input (line, key or file).
//! Each test prints the number of cases it tried.
//!
//! Not covered here: the known_hosts parser (`host::ssh::known_hosts` is `pub(crate)`, so an
//! integration test cannot call it).

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use opsdeck::docker::compose::dotenv::DotEnv;
use opsdeck::docker::logs::{LineAssembler, LogLine, LogStream};

const CASES: u32 = 10_000;
const SLOW: Duration = Duration::from_secs(2);
const SEED: [u8; 32] = *b"opsdeck-fuzz-seed-issue-17-r24!!";

/// Run `test` over `CASES` values of `strategy` from the fixed seed; panics (with the
/// minimal failing input) on the first failure. Returns the number of cases tried.
fn fuzz<S: Strategy>(
    target: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u32
where
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    let tried = std::cell::Cell::new(0u32);
    let result = runner.run(&strategy, |v| {
        tried.set(tried.get() + 1);
        let started = Instant::now();
        let r = test(v);
        let took = started.elapsed();
        prop_assert!(took < SLOW, "one case took {took:?}");
        r
    });
    let n = tried.get();
    println!("fuzz {target}: {n} cases tried");
    if let Err(e) = result {
        panic!("fuzz {target}: {e}");
    }
    n
}

// ---------------------------------------------------------------- inventory

const FULL: &str = include_str!("config/full.toml");

/// Values a mutated line may get: plausible and hostile ones.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"\"".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("70000".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("true".to_string()),
        Just("\"0s\"".to_string()),
        Just("\"99999999999h\"".to_string()),
        Just("\"../../etc\"".to_string()),
        Just("\"a b; rm -rf /\"".to_string()),
        Just("\"postgres://u:p%zz@h/db\"".to_string()),
        Just("\"http://[::1\"".to_string()),
        Just("\"alpha\"".to_string()),
        Just("\"nowhere\"".to_string()),
        "\"[ -~]{0,24}\"".prop_map(|s| s.replace('\\', "/")),
        "[ -~]{0,12}",
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    DropLine(usize),
    DuplicateLine(usize),
    SetValue(usize, String),
    Insert(usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = FULL.lines().count();
    prop_oneof![
        (0..n).prop_map(Mutation::DropLine),
        (0..n).prop_map(Mutation::DuplicateLine),
        (0..n, toml_value()).prop_map(|(i, v)| Mutation::SetValue(i, v)),
        (0..n, "[ -~]{0,30}").prop_map(|(i, s)| Mutation::Insert(i, s)),
        (0..FULL.len()).prop_map(Mutation::Truncate),
    ]
}

/// The example inventory with a few lines dropped, doubled, given other values or cut short:
/// nearly valid inventories, which reach the validation behind the TOML syntax.
fn mutate(muts: &[Mutation]) -> String {
    let mut lines: Vec<String> = FULL.lines().map(str::to_string).collect();
    for m in muts {
        let len = lines.len().max(1);
        match m {
            Mutation::DropLine(i) if !lines.is_empty() => {
                lines.remove(i % len);
            }
            Mutation::DuplicateLine(i) if !lines.is_empty() => {
                let l = lines[i % len].clone();
                lines.insert(i % len, l);
            }
            Mutation::SetValue(i, v) if !lines.is_empty() => {
                let l = &mut lines[i % len];
                if let Some((k, _)) = l.split_once(" = ") {
                    *l = format!("{k} = {v}");
                }
            }
            Mutation::Insert(i, s) => lines.insert(i % (lines.len() + 1), s.clone()),
            Mutation::Truncate(at) => {
                let mut text = lines.join("\n");
                let mut at = (*at).min(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
                lines = text.lines().map(str::to_string).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn check_inventory(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("/fuzz/inventory.toml");
    if let Err(e) = opsdeck::inventory::load_str(text, file) {
        let msg = e.to_string();
        prop_assert!(
            msg.contains("inventory.toml"),
            "the error does not name the file: {msg}"
        );
        prop_assert!(!msg.trim().is_empty());
    }
    Ok(())
}

#[test]
fn inventory_loader_nearly_valid() {
    fuzz(
        "inventory (mutated example)",
        prop::collection::vec(mutation(), 1..5),
        |muts| check_inventory(&mutate(&muts)),
    );
}

#[test]
fn inventory_loader_random_text() {
    fuzz(
        "inventory (random text)",
        prop_oneof![
            "[\\[\\]a-z._\"= \n#0-9{},-]{0,200}",
            any::<String>(),
            "(\\[(hosts|apps|databases|storage|checks)\\.[a-z]{1,3}\\]\n([a-z_]{1,12} = (\"[a-z0-9:/@.]{0,12}\"|[0-9]{1,6}|\\[\\])\n){0,4}){0,4}",
        ],
        |text| check_inventory(&text),
    );
}

// ---------------------------------------------------------------- .env

/// `.env` text from the pieces Compose knows: comments, `export`, `:`, quotes, escapes,
/// references, CRLF, stray characters.
fn dotenv_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just(String::new()),
        "# [ -~]{0,12}",
        "(export )?[A-Z_][A-Z0-9_]{0,6}(=| = |: )[a-zA-Z0-9 $#{}]{0,12}",
        "[A-Z_][A-Z0-9_]{0,6}='[^'\n]{0,12}'",
        "[A-Z_][A-Z0-9_]{0,6}=\"([^\"\\\\]|\\\\[nr$\"\\\\]){0,12}\"",
        "[A-Z_][A-Z0-9_]{0,6}=\"[a-z\n]{0,10}\"",
        "[A-Z_]{1,3}=\\$\\{[A-Z_]{1,3}(:-|-|:\\+|\\+)?[a-z]{0,3}\\}",
        "[ -~]{0,16}",
    ];
    (
        prop::collection::vec(line, 0..8),
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(lines, eol)| lines.join(eol))
}

fn env_key() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Z_][A-Z0-9_]{0,6}", Just("A".to_string())]
}

#[test]
fn dotenv_parser() {
    fuzz(
        "dotenv parse",
        prop_oneof![dotenv_text(), any::<String>()],
        |text| {
            if let Err(e) = DotEnv::parse(&text) {
                let lines = text.split('\n').count().max(1);
                prop_assert!(
                    e.line >= 1 && e.line <= lines,
                    "line {} of a {lines}-line text",
                    e.line
                );
                let head = format!("line {}", e.line);
                prop_assert!(e.to_string().starts_with(&head));
            }
            Ok(())
        },
    );
}

#[test]
fn dotenv_editor_round_trip() {
    fuzz(
        "dotenv set",
        (dotenv_text(), env_key(), any::<String>()),
        |(text, key, value)| {
            let Ok(env) = DotEnv::parse(&text) else {
                return Ok(());
            };
            // A NUL cannot stand in a file Compose reads; the editor is not asked to write one.
            let value = value.replace('\0', "");
            let edited = env.set(&key, &value);
            let again = DotEnv::parse(&edited)
                .map_err(|e| TestCaseError::fail(format!("{e} in edited text {edited:?}")))?;
            prop_assert_eq!(again.get(&key), Some(value.clone()), "edited: {:?}", edited);
            // Only that value changed: every other statement reads as before.
            let before: Vec<_> = env.entries().iter().filter(|e| e.key != key).collect();
            let after: Vec<_> = again.entries().iter().filter(|e| e.key != key).collect();
            prop_assert_eq!(before.len(), after.len());
            for (b, a) in before.iter().zip(&after) {
                prop_assert_eq!(&b.key, &a.key);
                prop_assert_eq!(&b.raw, &a.raw);
                prop_assert_eq!(b.quote, a.quote);
            }
            // Every byte outside the edited value is kept.
            if let Some(e) = env.entry(&key) {
                prop_assert!(edited.starts_with(&text[..e.span.start]));
                prop_assert!(edited.ends_with(&text[e.span.end..]));
            } else {
                prop_assert!(edited.starts_with(&text));
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------- routes

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}"
}

fn routes_text() -> impl Strategy<Value = String> {
    let router = (name(), name(), "[a-z.]{1,12}").prop_map(|(r, s, h)| {
        format!("    {r}:\n      rule: \"Host(`{h}`)\"\n      service: {s}\n")
    });
    let service = name().prop_map(|s| {
        format!("    {s}:\n      loadBalancer:\n        servers:\n          - url: http://{s}:80\n")
    });
    prop_oneof![
        (
            prop::collection::vec(router, 0..4),
            prop::collection::vec(service, 0..3)
        )
            .prop_map(|(r, s)| {
                format!(
                    "http:\n  routers:\n{}  services:\n{}",
                    r.concat(),
                    s.concat()
                )
            }),
        Just(String::new()),
        Just("http:\n".to_string()),
        Just("http: 3\n".to_string()),
        Just("http:\n  routers: []\n".to_string()),
        Just("- a\n".to_string()),
        "[a-z: \n\\-{}\\[\\]]{0,60}",
        any::<String>(),
    ]
}

#[test]
fn routes_file_add_remove_round_trip() {
    let route = (name(), "[a-z]{1,8}\\.[a-z]{2,3}", 1u16..65535).prop_map(|(n, h, p)| {
        opsdeck::routes::NewRoute {
            name: n.clone(),
            rule: format!("Host(`{h}`)"),
            url: format!("http://{n}:{p}"),
            entrypoint: Some("websecure".into()),
            cert_resolver: None,
        }
    });
    fuzz(
        "routes file add/remove",
        (routes_text(), route),
        |(text, route)| {
            let parsed = opsdeck::routes::parse_file(&text);
            let added = opsdeck::routes::add_route(&text, &route);
            let Ok(added) = added else {
                return Ok(());
            };
            prop_assert!(parsed.is_ok(), "added to a file that does not parse");
            let doc = opsdeck::routes::parse_file(&added)
                .map_err(|e| TestCaseError::fail(format!("re-parse after add: {e}")))?;
            let routes = opsdeck::routes::file_routes(&doc, "fuzz");
            prop_assert!(
                routes.iter().any(|r| r.router == route.name),
                "added router missing: {added}"
            );
            prop_assert!(
                opsdeck::routes::add_route(&added, &route).is_err(),
                "a second add of {} succeeded",
                route.name
            );
            let removed = opsdeck::routes::remove_route(&added, &route.name)
                .map_err(|e| TestCaseError::fail(format!("remove after add: {e}")))?;
            let doc = opsdeck::routes::parse_file(&removed)
                .map_err(|e| TestCaseError::fail(format!("re-parse after remove: {e}")))?;
            let after = opsdeck::routes::file_routes(&doc, "fuzz");
            prop_assert!(!after.iter().any(|r| r.router == route.name));
            let err = opsdeck::routes::remove_route(&removed, &route.name)
                .err()
                .unwrap_or_default();
            prop_assert!(
                err.contains(&route.name),
                "error does not name the router: {err}"
            );
            Ok(())
        },
    );
}

#[test]
fn routes_file_checker() {
    fuzz("routes file check", routes_text(), |text| {
        let _ = opsdeck::routes::check_file(&text, "fuzz.yml");
        if let Ok(doc) = opsdeck::routes::parse_file(&text) {
            let _ = opsdeck::routes::file_routes(&doc, "fuzz.yml");
        }
        Ok(())
    });
}

#[test]
fn rule_parser() {
    let rule = prop_oneof![
        "(Host|PathPrefix|Path|Method|Header|HostRegexp|ClientIP)\\(`[a-z.*/{}]{0,10}`\\)( (&&|\\|\\|) !?(Host|Path)\\(`[a-z.]{0,6}`(, `[a-z]{0,4}`)?\\)){0,3}",
        "[()!&| `a-zA-Z.,]{0,40}",
        "[ -~]{0,60}",
        any::<String>(),
        "\\({0,40}Host\\(`a`\\)\\){0,40}",
    ];
    fuzz("rule", rule, |rule| {
        let _ = opsdeck::routes::rule::check(&rule);
        let _ = opsdeck::routes::rule::hosts_of(&rule);
        Ok(())
    });
}

// ---------------------------------------------------------------- URLs

fn url_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(postgres|postgresql|http|https|redis|ftp)://([a-z]{0,4}(:[ -~]{0,8})?@)?(\\[[0-9a-f:]{0,8}\\]|[a-z0-9.-]{0,10})(:[0-9]{0,6})?(/[ -~]{0,12})?",
        "[ -~]{0,40}",
        any::<String>(),
    ]
}

#[test]
fn url_parsers() {
    fuzz("url parsers", url_text(), |url| {
        if let Err(e) = opsdeck::db::postgres::parse_url(&url) {
            prop_assert!(!e.to_string().trim().is_empty());
        }
        let _ = opsdeck::db::postgres::url_sslmode(&url);
        if let Err(e) = opsdeck::http::parse_url(&url) {
            prop_assert!(!e.to_string().trim().is_empty());
        }
        let _ = opsdeck::secrets::mask_text(&url);
        Ok(())
    });
}

#[test]
fn mask_url_never_shows_the_password() {
    let parts = (
        prop_oneof![Just("postgres"), Just("redis"), Just("https"), Just("s3")],
        "[a-z0-9_.-]{0,8}",
        // Any characters people type unencoded, `@` `/` `#` `?` `:` `%` `'` included.
        "[ -~]{4,16}",
        "[a-z0-9.-]{1,10}(:[0-9]{1,5})?(/[a-z0-9?=&]{0,8})?",
    );
    fuzz("mask_url", parts, |(scheme, user, pass, host)| {
        let url = format!("{scheme}://{user}:{pass}@{host}");
        let masked = opsdeck::secrets::mask_url(&url);
        let skeleton = format!("{scheme}://{user}:***@{host}");
        // A password that is part of what may be shown (`***`, the host) cannot be told apart.
        if skeleton.contains(&pass) {
            return Ok(());
        }
        prop_assert!(!masked.contains(&pass), "{url} masked as {masked}");
        // In free text a URL ends at whitespace; `host:8080 more text` reads as a port, so a
        // password whose first word is a number after a named user is ambiguous there.
        let first = pass.split(char::is_whitespace).next().unwrap_or("");
        let ambiguous = !user.is_empty()
            && pass.contains(char::is_whitespace)
            && !first.is_empty()
            && first
                .split('/')
                .next()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        // And `u:p@h more@x`: with whitespace and `@` in the password, where the URL ends is
        // a guess; mask_url (above) gets the whole URL and must mask any password.
        let ambiguous = ambiguous || (pass.contains(char::is_whitespace) && pass.contains('@'));
        if ambiguous {
            return Ok(());
        }
        let text = opsdeck::secrets::mask_text(&format!("connecting to {url} failed"));
        prop_assert!(!text.contains(&pass), "{url} in text masked as {text}");
        Ok(())
    });
}

// ---------------------------------------------------------------- log frames

/// A docker log stream: lines (some long, some without an end, some not UTF-8, some with
/// timestamps) on both streams, cut into frames at arbitrary points.
/// (stderr?, bytes) per line; frame cut lengths; the line cap.
type LogInput = (Vec<(bool, Vec<u8>)>, Vec<usize>, usize);

fn log_input() -> impl Strategy<Value = LogInput> {
    let line = prop_oneof![
        "[ -~]{0,40}\n".prop_map(String::into_bytes),
        "2026-11-23T10:00:00\\.[0-9]{0,9}Z [a-z]{0,10}\r?\n".prop_map(String::into_bytes),
        "20[0-9-]{18,24} x\n".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..80),
        (0usize..3000).prop_map(|n| {
            let mut v = vec![b'x'; n];
            v.push(b'\n');
            v
        }),
    ];
    (
        prop::collection::vec((any::<bool>(), line), 0..12),
        prop::collection::vec(0usize..200, 0..20),
        0usize..300,
    )
}

#[test]
fn log_line_decoder() {
    fuzz("log frames", log_input(), |(lines, cuts, max)| {
        let mut asm = LineAssembler::new(max);
        let cap = max.max(16);
        let mut out: Vec<LogLine> = Vec::new();
        let mut expected = [0usize; 2];
        for (stderr, bytes) in &lines {
            let stream = if *stderr {
                LogStream::Stderr
            } else {
                LogStream::Stdout
            };
            expected[*stderr as usize] += bytes.iter().filter(|b| **b == b'\n').count();
            // The same bytes in frames cut at arbitrary points.
            let mut rest = &bytes[..];
            let mut i = 0;
            while !rest.is_empty() {
                let at = cuts.get(i).copied().unwrap_or(usize::MAX).min(rest.len());
                let at = at.max(1);
                asm.push(stream, &rest[..at], &mut out);
                rest = &rest[at..];
                i += 1;
            }
        }
        let ended: [usize; 2] = [
            out.iter().filter(|l| l.stream == LogStream::Stdout).count(),
            out.iter().filter(|l| l.stream == LogStream::Stderr).count(),
        ];
        prop_assert_eq!(ended, expected, "one line per newline per stream");
        asm.flush(&mut out);
        prop_assert!(out.len() <= expected[0] + expected[1] + 2);
        for l in &out {
            // Lossy UTF-8 may widen a byte to three (U+FFFD).
            prop_assert!(
                l.text.len() <= cap * 3,
                "a line of {} bytes with cap {cap}",
                l.text.len()
            );
            prop_assert!(!l.text.contains('\n'));
        }
        Ok(())
    });
}
