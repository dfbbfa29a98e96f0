//! Checking a whole routes file before it is written (the console's editor, `routes apply`).
//!
//! Traefik's file provider drops the *whole* file when any part of it does not decode, which
//! silently removes every route in it. So the check is strict where Traefik is: unknown keys,
//! a router without a rule or service, a reference to a service or middleware that is not
//! there, a rule that does not parse. Each problem names the router (or key) and its line.

use super::{rule, Route};
use serde_norway::{Mapping, Value};
use std::fmt;

/// What is wrong with a routes file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// 1-based line, when it could be found.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The largest routes file opsdeck writes.
pub const MAX_FILE_BYTES: usize = 1 << 20;

const TOP_KEYS: [&str; 4] = ["http", "tcp", "udp", "tls"];
const HTTP_KEYS: [&str; 4] = ["routers", "services", "middlewares", "serversTransports"];
const ROUTER_KEYS: [&str; 8] = [
    "entryPoints",
    "middlewares",
    "service",
    "rule",
    "ruleSyntax",
    "priority",
    "tls",
    "observability",
];
const SERVICE_KINDS: [&str; 4] = ["loadBalancer", "weighted", "mirroring", "failover"];

/// Check the text of a routes file; on success, its HTTP routes.
pub fn check_file(text: &str, source: &str) -> Result<Vec<Route>, FileProblem> {
    let at = |line: Option<usize>, message: String| FileProblem { line, message };
    if text.len() > MAX_FILE_BYTES {
        return Err(at(
            None,
            format!(
                "the file is {} bytes; opsdeck writes routes files up to {MAX_FILE_BYTES}",
                text.len()
            ),
        ));
    }
    if text.chars().any(|c| c == '\0') {
        return Err(at(None, "the text contains a NUL byte".into()));
    }
    let doc: Value = if text.trim().is_empty() {
        Value::Mapping(Mapping::new())
    } else {
        serde_norway::from_str(text).map_err(|e| {
            at(
                e.location().map(|l| l.line()),
                format!("not valid YAML: {e}"),
            )
        })?
    };
    let doc = match doc {
        Value::Null => Value::Mapping(Mapping::new()),
        v => v,
    };
    let top = doc.as_mapping().ok_or_else(|| {
        at(
            Some(1),
            "the top level is not a mapping (expected `http:`)".into(),
        )
    })?;
    for k in top.keys() {
        let k = key_str(k);
        if !TOP_KEYS.contains(&k.as_str()) {
            return Err(at(
                line_of_key(text, &k, 0),
                format!(
                    "unknown top-level key {k:?}; Traefik's file provider reads {}",
                    TOP_KEYS.join(", ")
                ),
            ));
        }
    }
    let Some(http) = top.get("http") else {
        return Ok(vec![]);
    };
    let empty = Mapping::new();
    let http = match http {
        Value::Null => &empty,
        Value::Mapping(m) => m,
        _ => {
            return Err(at(
                line_of_key(text, "http", 0),
                "`http` is not a mapping".into(),
            ))
        }
    };
    for k in http.keys() {
        let k = key_str(k);
        if !HTTP_KEYS.contains(&k.as_str()) {
            return Err(at(
                line_of_key(text, &k, 1),
                format!("unknown key http.{k}; allowed: {}", HTTP_KEYS.join(", ")),
            ));
        }
    }
    let section = |name: &str| -> Result<&Mapping, FileProblem> {
        match http.get(name) {
            None | Some(Value::Null) => Ok(&empty),
            Some(Value::Mapping(m)) if !m.is_empty() => Ok(m),
            // Traefik: "routers cannot be a standalone element" (and the file is dropped).
            Some(Value::Mapping(_)) => Err(at(
                line_of_key(text, name, 1),
                format!("http.{name} is empty: remove it (Traefik rejects the whole file)"),
            )),
            Some(_) => Err(at(
                line_of_key(text, name, 1),
                format!("http.{name} is not a mapping"),
            )),
        }
    };
    let routers = section("routers")?;
    let services = section("services")?;
    let middlewares = section("middlewares")?;

    for (name, svc) in services {
        let name = key_str(name);
        let line = line_in_section(text, "services", &name);
        check_name("service", &name).map_err(|e| at(line, e))?;
        let m = svc
            .as_mapping()
            .ok_or_else(|| at(line, format!("service {name} is not a mapping")))?;
        let kinds: Vec<String> = m.keys().map(key_str).collect();
        if kinds.len() != 1 || !SERVICE_KINDS.contains(&kinds[0].as_str()) {
            return Err(at(
                line,
                format!(
                    "service {name} must have exactly one of {} (it has {})",
                    SERVICE_KINDS.join(", "),
                    if kinds.is_empty() {
                        "none".to_string()
                    } else {
                        kinds.join(", ")
                    }
                ),
            ));
        }
        if kinds[0] == "loadBalancer" {
            let servers = m
                .get("loadBalancer")
                .and_then(|lb| lb.as_mapping())
                .and_then(|lb| lb.get("servers"))
                .and_then(Value::as_sequence)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    at(
                        line,
                        format!("service {name}: loadBalancer.servers is missing or empty"),
                    )
                })?;
            for s in servers {
                let url = s
                    .as_mapping()
                    .and_then(|s| s.get("url"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        at(
                            line,
                            format!("service {name}: a server has no `url: http://...`"),
                        )
                    })?;
                crate::http::parse_url(url)
                    .map_err(|e| at(line, format!("service {name}: server url: {e}")))?;
            }
        }
    }

    let mut rules: Vec<(String, String)> = Vec::new();
    for (name, r) in routers {
        let name = key_str(name);
        let line = line_in_section(text, "routers", &name);
        check_name("router", &name).map_err(|e| at(line, e))?;
        let m = r
            .as_mapping()
            .ok_or_else(|| at(line, format!("router {name} is not a mapping")))?;
        for k in m.keys() {
            let k = key_str(k);
            if !ROUTER_KEYS.contains(&k.as_str()) {
                return Err(at(
                    line,
                    format!(
                        "router {name}: unknown key {k:?} (Traefik would drop the whole file); allowed: {}",
                        ROUTER_KEYS.join(", ")
                    ),
                ));
            }
        }
        let rule_text = m
            .get("rule")
            .and_then(Value::as_str)
            .ok_or_else(|| at(line, format!("router {name} has no `rule`")))?;
        rule::check(rule_text).map_err(|e| at(line, format!("router {name}: rule: {e}")))?;
        if let Some((other, _)) = rules.iter().find(|(_, r)| r == rule_text) {
            return Err(at(
                line,
                format!("routers {other} and {name} have the same rule {rule_text}"),
            ));
        }
        rules.push((name.clone(), rule_text.to_string()));
        let service = m
            .get("service")
            .and_then(Value::as_str)
            .ok_or_else(|| at(line, format!("router {name} has no `service`")))?;
        if !service.contains('@') && !services.contains_key(service) {
            return Err(at(
                line,
                format!("router {name}: service {service:?} is not defined under http.services"),
            ));
        }
        for mw in names_of(m.get("middlewares")) {
            if !mw.contains('@') && !middlewares.contains_key(mw.as_str()) {
                return Err(at(
                    line,
                    format!(
                        "router {name}: middleware {mw:?} is not defined under http.middlewares"
                    ),
                ));
            }
        }
        if let Some(e) = m.get("entryPoints") {
            if !matches!(e, Value::Sequence(s) if s.iter().all(|x| x.as_str().is_some())) {
                return Err(at(
                    line,
                    format!("router {name}: entryPoints must be a list of names"),
                ));
            }
        }
        if let Some(p) = m.get("priority") {
            if p.as_i64().is_none() {
                return Err(at(
                    line,
                    format!("router {name}: priority must be a number"),
                ));
            }
        }
    }
    Ok(super::file_routes(&doc, source))
}

fn key_str(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

fn names_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![],
    }
}

/// Router and service names: what Traefik accepts in the file provider (no `@`, no spaces).
fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 200
        || name
            .chars()
            .any(|c| c == '@' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{what} name {:?} is empty, too long, or contains '@', spaces or control characters",
            crate::names::printable(name)
        ));
    }
    Ok(())
}

/// The line of `key:` after the line of `section:` (best effort: YAML flow style and anchors
/// can hide it; then the section's own line, or none).
fn line_in_section(text: &str, section: &str, key: &str) -> Option<usize> {
    let start = line_of_key(text, section, 1)?;
    text.lines()
        .enumerate()
        .skip(start)
        .find_map(|(i, l)| {
            let t = l.trim_start();
            [
                format!("{key}:"),
                format!("\"{key}\":"),
                format!("'{key}':"),
            ]
            .iter()
            .any(|p| t.starts_with(p.as_str()))
            .then_some(i + 1)
        })
        .or(Some(start))
}

/// The line of `key:` at nesting `depth` (by indentation order, best effort).
fn line_of_key(text: &str, key: &str, depth: usize) -> Option<usize> {
    text.lines().enumerate().find_map(|(i, l)| {
        let indent = l.len() - l.trim_start().len();
        let t = l.trim_start();
        let named = [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ]
        .iter()
        .any(|p| t.starts_with(p.as_str()));
        (named && (depth == 0) == (indent == 0)).then_some(i + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "http:
  routers:
    shop:
      rule: \"Host(`shop.test`)\"
      service: shop
      entryPoints: [web]
  services:
    shop:
      loadBalancer:
        servers:
          - url: http://shop:8080
";

    #[test]
    fn accepts_a_good_file_and_an_empty_one() {
        let r = check_file(GOOD, "f").expect("good");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].hosts, vec!["shop.test".to_string()]);
        assert_eq!(check_file("", "f").expect("empty").len(), 0);
        assert_eq!(check_file("# nothing\n", "f").expect("comment").len(), 0);
    }

    #[test]
    fn names_what_is_wrong_and_where() {
        let cases: [(&str, &str, Option<usize>); 9] = [
            (
                "http:\n  routers:\n    shop:\n      rule: Host(`a`\n",
                "rule",
                Some(3),
            ),
            ("http: [\n", "not valid YAML", Some(2)),
            (
                &GOOD.replace("service: shop", "service: nowhere"),
                "service \"nowhere\" is not defined",
                Some(3),
            ),
            (
                &GOOD.replace("entryPoints: [web]", "entrypoints: [web]"),
                "unknown key \"entrypoints\"",
                Some(3),
            ),
            (
                &GOOD.replace("      rule: \"Host(`shop.test`)\"\n", ""),
                "has no `rule`",
                Some(3),
            ),
            (
                &GOOD.replace("http://shop:8080", "shop:8080"),
                "server url",
                Some(8),
            ),
            ("htp:\n  routers: {}\n", "unknown top-level key \"htp\"", Some(1)),
            (
                "http:\n  routers: {}\n",
                "http.routers is empty",
                Some(2),
            ),
            (
                &format!(
                    "{GOOD}    other:\n      loadBalancer:\n        servers:\n          - url: http://o:1\n"
                )
                .replace(
                    "  services:",
                    "    again:\n      rule: \"Host(`shop.test`)\"\n      service: other\n  services:",
                ),
                "same rule",
                Some(7),
            ),
        ];
        for (text, want, line) in cases {
            let e = check_file(text, "f").expect_err(text);
            assert!(e.message.contains(want), "{text:?}: {e}");
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }
}
