//! The dependency rule of `ARCHITECTURE.md`, checked on the source: no import cycle between
//! modules (top-level, and between the children of each module), adapters are the only users
//! of the Docker/SSH/SQL/Redis crates, `model` never reaches up into `ops`, frontends reach
//! adapters only through the action layer's re-exports, and no new file grows past the size
//! a newcomer can read. Reads `crate::`/`super::` paths in the code (comments and test
//! modules left out); a violation names the file and the path that broke the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that talk to the outside world.
const ADAPTERS: &[&str] = &[
    "host", "docker", "db", "storage", "routes", "http", "journal", "notify",
];
/// Leaves every layer may use.
const SHARED: &[&str] = &[
    "error", "names", "secrets", "paths", "units", "term", "process",
];
/// Frontends.
const FRONTENDS: &[&str] = &["cli", "tui"];
/// Crates only adapters may name (`journal` is the SQLite adapter, so sqlx is its own).
const OUTSIDE_CRATES: &[&str] = &["bollard", "russh", "sqlx", "redis"];
/// The size past which a non-test file is split (see ARCHITECTURE.md).
const MAX_LINES: usize = 600;
/// Files over that size today, each to be split in its own step; the list may only shrink
/// (a file that got under the limit must be taken off it).
const OVERSIZE_KNOWN: &[&str] = &[];

struct Source {
    path: String,
    /// Module path inside the crate, e.g. `["ops", "deploy"]`.
    module: Vec<String>,
    /// The code without comments and without its test module.
    code: String,
    lines: usize,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Drop `//` comments (doc comments included) and string contents that could look like
/// paths; good enough for the paths this checks.
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str || c == '"' {
                kept.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The code before the file's `#[cfg(test)]` module (tests may use anything).
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut lines = code.lines().peekable();
    while let Some(l) = lines.next() {
        if l.trim() == "#[cfg(test)]" {
            if let Some(next) = lines.peek() {
                if next.trim_start().starts_with("mod ") {
                    break;
                }
            }
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&root).expect("under src");
        let mut module: Vec<String> = rel
            .with_extension("")
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        if module.last().map(String::as_str) == Some("mod") {
            module.pop();
        }
        if module == ["lib"] || module == ["main"] {
            continue;
        }
        // Test-only files (`mod tests;` under #[cfg(test)]) are not part of the layering.
        if module.iter().any(|m| m == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("source file");
        let code = without_tests(&strip_comments(&text));
        out.push(Source {
            path: format!("src/{}", rel.display()),
            // Lines as a reader meets them (comments count), the test module left out.
            lines: without_tests(&text).lines().count(),
            module,
            code,
        });
    }
    out
}

/// Every module path a file names: `crate::a::b`, `super::x`, and the names inside
/// `crate::a::{b, c}` / `super::{x, y}` groups, resolved to absolute paths.
fn references(src: &Source) -> Vec<Vec<String>> {
    let code = &src.code;
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let (base, skip): (Vec<String>, usize) = if rest.starts_with("crate::") {
            (vec![], "crate::".len())
        } else if rest.starts_with("super::") {
            let mut parent = src.module.clone();
            let mut n = 0;
            let mut r = rest;
            while let Some(t) = r.strip_prefix("super::") {
                parent.pop();
                n += "super::".len();
                r = t;
            }
            (parent, n)
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let before = if i == 0 { b' ' } else { bytes[i - 1] };
        if before.is_ascii_alphanumeric() || before == b'_' || (before == b':' && base.is_empty()) {
            i += skip;
            continue;
        }
        let tail = &code[i + skip..];
        let path_len = tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        let path_text = &tail[..path_len];
        let mut prefix = base.clone();
        prefix.extend(
            path_text
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
        let group = tail[path_len..].strip_prefix('{');
        match group {
            Some(group) if path_text.is_empty() || path_text.ends_with("::") => {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let first = item.trim().split("::").next().unwrap_or("").trim();
                    let mut p = prefix.clone();
                    match first {
                        "" => continue,
                        "self" => {}
                        f => p.push(f.to_string()),
                    }
                    out.push(p);
                }
            }
            _ => out.push(prefix),
        }
        i += skip;
    }
    out
}

/// Module names are lower case; a path ends where its first item (a type, a value) starts.
fn module_prefix(path: &[String]) -> Vec<String> {
    path.iter()
        .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .cloned()
        .collect()
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, graph, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// Edges between the children of `parent` (a file's child is the first module under
/// `parent` on its path; the parent itself is the node `(root)`).
fn child_graph(sources: &[Source], parent: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let child = |m: &[String]| -> Option<String> {
        if m.len() < parent.len() || m[..parent.len()] != *parent {
            return None;
        }
        Some(
            m.get(parent.len())
                .cloned()
                .unwrap_or_else(|| "(root)".into()),
        )
    };
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources {
        let Some(from) = child(&s.module) else {
            continue;
        };
        // The parent module is the facade: it may name its children (re-exports, dispatch).
        if from == "(root)" {
            continue;
        }
        for r in references(s) {
            let m = module_prefix(&r);
            if let Some(to) = child(&m) {
                if to != from {
                    g.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    g
}

#[test]
fn no_import_cycles() {
    let sources = sources();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut parents: BTreeSet<Vec<String>> = BTreeSet::new();
    for s in &sources {
        for k in 1..s.module.len() {
            parents.insert(s.module[..k].to_vec());
        }
        for r in references(s) {
            if let Some(t) = r.first() {
                if *t != s.module[0] {
                    top.entry(s.module[0].clone())
                        .or_default()
                        .insert(t.clone());
                }
            }
        }
    }
    assert!(top.len() > 8, "the scan found too few modules: {top:?}");
    let mut cycles = Vec::new();
    if let Some(c) = find_cycle(&top) {
        cycles.push(format!("between modules: {}", c.join(" -> ")));
    }
    for p in &parents {
        if let Some(c) = find_cycle(&child_graph(&sources, p)) {
            cycles.push(format!("inside {}: {}", p.join("::"), c.join(" -> ")));
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn layers_are_kept() {
    let mut problems = Vec::new();
    for s in sources() {
        let me = s.module[0].as_str();
        for krate in OUTSIDE_CRATES {
            let used = s.code.match_indices(&format!("{krate}::")).any(|(i, _)| {
                i == 0 || {
                    let b = s.code.as_bytes()[i - 1];
                    !(b.is_ascii_alphanumeric() || b == b'_' || b == b':')
                }
            });
            if used && !ADAPTERS.contains(&me) {
                problems.push(format!("{}: uses {krate} (only adapters may)", s.path));
            }
        }
        for r in references(&s) {
            let Some(to) = r.first().map(String::as_str) else {
                continue;
            };
            if to == me || SHARED.contains(&to) {
                continue;
            }
            let allowed = match me {
                m if FRONTENDS.contains(&m) => {
                    matches!(to, "ops" | "model" | "inventory" | "journal")
                }
                "model" => ADAPTERS.contains(&to) || to == "inventory",
                "ops" => ADAPTERS.contains(&to) || matches!(to, "inventory" | "model"),
                "inventory" => false,
                m if ADAPTERS.contains(&m) => ADAPTERS.contains(&to) || to == "inventory",
                _ => true,
            };
            if !allowed {
                problems.push(format!("{}: {me} uses crate::{}", s.path, r.join("::")));
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "layer rule broken (see ARCHITECTURE.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn files_stay_readable() {
    let sources = sources();
    let mut over = Vec::new();
    for s in &sources {
        if s.lines > MAX_LINES && !OVERSIZE_KNOWN.contains(&s.path.as_str()) {
            over.push(format!("{} ({} lines)", s.path, s.lines));
        }
    }
    assert!(
        over.is_empty(),
        "files over {MAX_LINES} lines (split them by concern, see ARCHITECTURE.md): {}",
        over.join(", ")
    );
    for known in OVERSIZE_KNOWN {
        let s = sources
            .iter()
            .find(|s| s.path == *known)
            .unwrap_or_else(|| panic!("{known} is listed as oversize but does not exist"));
        assert!(
            s.lines > MAX_LINES,
            "{known} has {} lines now: take it off OVERSIZE_KNOWN",
            s.lines
        );
    }
}

#[test]
fn the_scan_sees_what_it_checks() {
    // The checker itself: a cycle and a crossing planted in text are found.
    let a = Source {
        path: "src/x/a.rs".into(),
        module: vec!["x".into(), "a".into()],
        code: "use super::b::Thing;\nuse crate::docker::{self, State};\nfn f() { bollard::x(); }\n"
            .into(),
        lines: 3,
    };
    let b = Source {
        path: "src/x/b.rs".into(),
        module: vec!["x".into(), "b".into()],
        code: "use super::{a, c};\n".into(),
        lines: 1,
    };
    let refs = references(&a);
    assert!(refs.contains(&vec!["x".into(), "b".into(), "Thing".into()]));
    assert!(refs.contains(&vec!["docker".into(), "State".into()]));
    let g = child_graph(&[a, b], &["x".to_string()]);
    let cycle = find_cycle(&g).expect("a <-> b is a cycle");
    assert!(cycle.contains(&"a".to_string()) && cycle.contains(&"b".to_string()));
    assert_eq!(
        strip_comments("let x = 1; // crate::tui::y").trim(),
        "let x = 1;"
    );
}
