//! Checks that serde cannot express: names, references between sections, required fields
//! per kind, URL and path shapes. Each problem carries the key path it is about.

use super::refs::unknown;
use super::*;
use crate::names;

type Problems = Vec<(Vec<String>, String)>;

fn key(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

pub(super) fn validate(inv: &Inventory) -> Problems {
    let mut p = Problems::new();
    for (section, names_) in [
        ("hosts", inv.hosts.keys().collect::<Vec<_>>()),
        ("apps", inv.apps.keys().collect()),
        ("databases", inv.databases.keys().collect()),
        ("storage", inv.storage.keys().collect()),
        ("checks", inv.checks.keys().collect()),
        ("forwards", inv.forwards.keys().collect()),
    ] {
        for n in names_ {
            if let Err(e) = names::check_name(section.trim_end_matches('s'), n) {
                p.push((key(&[section, n]), e));
            }
        }
    }
    if inv.hosts.is_empty() && !(inv.apps.is_empty() && inv.databases.is_empty()) {
        p.push((
            key(&["hosts"]),
            "no hosts are defined, but apps or databases refer to hosts; add a [hosts.NAME] table"
                .into(),
        ));
    }
    for (name, h) in &inv.hosts {
        host(&mut p, name, h);
    }
    for (name, a) in &inv.apps {
        app(&mut p, inv, name, a);
    }
    for (name, d) in &inv.databases {
        database(&mut p, inv, name, d);
    }
    for (name, s) in &inv.storage {
        storage(&mut p, name, s);
    }
    for (name, f) in &inv.forwards {
        forward(&mut p, inv, name, f);
    }
    for (name, c) in &inv.checks {
        let k = |f: &str| key(&["checks", name, f]);
        if let Err(e) = check_url(&c.url, &["http", "https"]) {
            p.push((k("url"), e));
        }
        if let Some(via) = &c.via {
            if !inv.hosts.contains_key(via) {
                p.push((k("via"), unknown("host", via, inv.hosts.keys())));
            }
        }
        if let Some(code) = c.expect_status {
            if !(100..=599).contains(&code) {
                p.push((
                    k("expect_status"),
                    format!("{code} is not an HTTP status (100-599)"),
                ));
            }
        }
    }
    p.extend(super::watch::validate(inv));
    p.extend(super::volumes::validate(inv));
    if inv.console.log_lines == 0 || inv.console.log_lines > 1_000_000 {
        p.push((
            key(&["console", "log_lines"]),
            "must be between 1 and 1000000".into(),
        ));
    }
    if !(256..=1_048_576).contains(&inv.console.log_line_bytes) {
        p.push((
            key(&["console", "log_line_bytes"]),
            "must be between 256 and 1048576".into(),
        ));
    }
    p
}

fn host(p: &mut Problems, name: &str, h: &HostSpec) {
    let k = |f: &str| key(&["hosts", name, f]);
    if let Some(ssh) = &h.ssh {
        if let Err(e) = check_ssh_target(ssh) {
            p.push((k("ssh"), e));
        }
    }
    if let Some(sock) = &h.docker_socket {
        let path = sock.strip_prefix("unix://").unwrap_or(sock);
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            p.push((
                k("docker_socket"),
                format!("{sock:?} must be an absolute socket path (optionally unix://...)"),
            ));
        }
    }
    for (i, t) in h.tags.iter().enumerate() {
        if let Err(e) = names::check_name("tag", t) {
            p.push((key(&["hosts", name, "tags", &i.to_string()]), e));
        }
    }
    if let Some(proxy) = &h.proxy {
        let k = |f: &str| key(&["hosts", name, "proxy", f]);
        if let Some(f) = &proxy.routes_file {
            if !f.starts_with('/') {
                p.push((
                    k("routes_file"),
                    format!("{f:?} must be an absolute path on the host"),
                ));
            }
        }
        for (field, v) in [("api", &proxy.api), ("entrypoint", &proxy.entrypoint)] {
            if let Some(v) = v {
                if let Err(e) = check_url(v, &["http", "https"]) {
                    p.push((k(field), e));
                }
            }
        }
        if let Some(img) = &proxy.maintenance_image {
            if img.is_empty()
                || img.starts_with('-')
                || img.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                p.push((
                    k("maintenance_image"),
                    format!("{:?} is not an image reference", names::printable(img)),
                ));
            }
        }
        if proxy.kind == ProxyKind::Traefik && proxy.routes_file.is_none() && proxy.api.is_none() {
            p.push((
                k("kind"),
                "a traefik proxy needs `routes_file` or `api` (or both)".into(),
            ));
        }
    }
}

fn app(p: &mut Problems, inv: &Inventory, name: &str, a: &AppSpec) {
    let k = |f: &str| key(&["apps", name, f]);
    if !inv.hosts.contains_key(&a.host) {
        p.push((k("host"), unknown("host", &a.host, inv.hosts.keys())));
    }
    if !a.dir.starts_with('/') || a.dir.split('/').any(|c| c == "..") || a.dir.contains('\n') {
        p.push((
            k("dir"),
            format!("{:?} must be an absolute path without '..'", a.dir),
        ));
    }
    if a.compose_file.is_empty()
        || a.compose_file.starts_with('/')
        || a.compose_file.split('/').any(|c| c == "..")
        || a.compose_file.contains(|c: char| c.is_control())
    {
        p.push((
            k("compose_file"),
            format!("{:?} must be a file name relative to `dir`", a.compose_file),
        ));
    }
    if let Some(project) = &a.project {
        if project.is_empty()
            || !project
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            p.push((k("project"), format!("{project:?} is not a valid compose project name (lowercase letters, digits, '-' and '_')")));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in a.services.iter().enumerate() {
        if let Err(e) = names::check_name("service", s) {
            p.push((key(&["apps", name, "services", &i.to_string()]), e));
        } else if !seen.insert(s) {
            p.push((
                key(&["apps", name, "services", &i.to_string()]),
                format!("service {s:?} is listed twice"),
            ));
        }
    }
    if a.version_var.is_empty()
        || !a
            .version_var
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || a.version_var.starts_with(|c: char| c.is_ascii_digit())
    {
        p.push((
            k("version_var"),
            format!(
                "{:?} is not a valid environment variable name",
                a.version_var
            ),
        ));
    }
    if let Some(m) = &a.migrate {
        if m.trim().is_empty() || m.contains('\n') {
            p.push((k("migrate"), "must be a one-line command".into()));
        }
        if a.services.is_empty() {
            p.push((
                k("migrate"),
                "needs `services` (the migration runs in the first one)".into(),
            ));
        }
    }
    if let Some(h) = &a.health {
        if !h.path.starts_with('/') || h.path.contains(char::is_whitespace) {
            p.push((
                key(&["apps", name, "health", "path"]),
                format!("{:?} must start with '/' and contain no spaces", h.path),
            ));
        }
        if h.port == 0 {
            p.push((
                key(&["apps", name, "health", "port"]),
                "must be between 1 and 65535".into(),
            ));
        }
    }
    for (i, w) in a.workers.iter().enumerate() {
        if !a.services.contains(w) {
            p.push((
                key(&["apps", name, "workers", &i.to_string()]),
                format!(
                    "{w:?} is not one of the app's `services` ({})",
                    a.services.join(", ")
                ),
            ));
        }
    }
    if a.drain
        .is_some_and(|d| d.0 > std::time::Duration::from_secs(3600))
    {
        p.push((k("drain"), "must be at most 1h".into()));
    }
    if a.settle
        .is_some_and(|d| d.0 > std::time::Duration::from_secs(3600))
    {
        p.push((k("settle"), "must be at most 1h".into()));
    }
    for (i, d) in a.domains.iter().enumerate() {
        if let Err(e) = names::check_dns_name("domain", d) {
            p.push((key(&["apps", name, "domains", &i.to_string()]), e));
        }
    }
}

fn database(p: &mut Problems, inv: &Inventory, name: &str, d: &DatabaseSpec) {
    let k = |f: &str| key(&["databases", name, f]);
    if !inv.hosts.contains_key(&d.host) {
        p.push((k("host"), unknown("host", &d.host, inv.hosts.keys())));
    }
    match (&d.container, &d.url) {
        (Some(_), Some(_)) => p.push((
            k("url"),
            "give either `container` or `url`, not both".into(),
        )),
        (None, None) => p.push((
            k("container"),
            "give `container` (a compose service or container name) or `url`".into(),
        )),
        (Some(c), None) => {
            if let Err(e) = names::check_container(c) {
                p.push((k("container"), e));
            }
        }
        (None, Some(u)) => {
            let schemes: &[&str] = match d.engine {
                DbEngine::Postgres => &["postgres", "postgresql"],
                DbEngine::Redis => &["redis", "rediss"],
            };
            if let Err(e) = check_url(u, schemes) {
                p.push((k("url"), e));
            }
        }
    }
    if let Some(img) = &d.tools_image {
        if d.url.is_none() || d.engine != DbEngine::Postgres {
            p.push((
                k("tools_image"),
                "only a postgres database given by `url` runs its tools in a separate image".into(),
            ));
        } else if img.is_empty() || img.chars().any(|c| c.is_whitespace() || c.is_control()) {
            p.push((
                k("tools_image"),
                format!("{:?} is not an image reference", names::printable(img)),
            ));
        }
    }
    for (field, v) in [("database", &d.database), ("user", &d.user)] {
        if let Some(v) = v {
            if let Err(e) = names::check_name(field, v) {
                p.push((k(field), e));
            }
        }
    }
    if let Some(s) = &d.backup_to {
        if !inv.storage.contains_key(s) {
            p.push((k("backup_to"), unknown("storage", s, inv.storage.keys())));
        }
    }
    for (i, a) in d.apps.iter().enumerate() {
        if !inv.apps.contains_key(a) {
            p.push((
                key(&["databases", name, "apps", &i.to_string()]),
                unknown("app", a, inv.apps.keys()),
            ));
        }
    }
}

fn storage(p: &mut Problems, name: &str, s: &StorageSpec) {
    let k = |f: &str| key(&["storage", name, f]);
    match s.kind {
        StorageKind::Dir | StorageKind::HostDir => match &s.path {
            None => p.push((
                k("path"),
                "a `dir` or `host-dir` storage needs `path`".into(),
            )),
            Some(path) if !path.starts_with('/') => {
                p.push((k("path"), format!("{path:?} must be an absolute path")))
            }
            _ => {}
        },
        StorageKind::S3 => {
            if s.bucket.as_deref().unwrap_or("").is_empty() {
                p.push((k("bucket"), "an `s3` storage needs `bucket`".into()));
            }
            if let Some(e) = &s.endpoint {
                if let Err(err) = check_url(e, &["http", "https"]) {
                    p.push((k("endpoint"), err));
                }
            }
        }
    }
    if s.keep_days == Some(0) {
        p.push((
            k("keep_days"),
            "must be at least 1 (or left out to keep everything)".into(),
        ));
    }
    if s.keep_days.is_some_and(|d| d > 36_500) {
        p.push((
            k("keep_days"),
            format!(
                "{} days is more than 100 years; leave it out to keep everything",
                s.keep_days.unwrap_or_default()
            ),
        ));
    }
    if s.keep_count == Some(0) {
        p.push((
            k("keep_count"),
            "must be at least 1 (or left out to keep everything)".into(),
        ));
    }
}

/// `user@host[:port]` or an ssh-config alias; nothing that ssh would read as an option.
pub fn check_ssh_target(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.starts_with('-')
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "'\"`$;&|<>\\".contains(c))
    {
        return Err(format!("{s:?} is not an SSH target; write user@host, user@host:port or an alias from ~/.ssh/config"));
    }
    let host_port = s.rsplit_once('@').map(|(_, h)| h).unwrap_or(s);
    if host_port.is_empty() {
        return Err(format!("{s:?} has no host after '@'"));
    }
    if let Some((_, port)) = host_port.rsplit_once(':').filter(|(h, _)| !h.contains(':')) {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("{s:?} has a bad port {port:?}")),
        }
    }
    Ok(())
}

fn check_url(u: &str, schemes: &[&str]) -> Result<(), String> {
    let Some((scheme, rest)) = u.split_once("://") else {
        return Err(format!(
            "{:?} is not a URL (expected {}://...)",
            names::printable(u),
            schemes[0]
        ));
    };
    if !schemes.contains(&scheme) {
        return Err(format!(
            "{:?} must use {}",
            names::printable(u),
            schemes.join(" or ")
        ));
    }
    if rest.is_empty()
        || rest.starts_with('/')
        || u.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{:?} has no host or contains spaces",
            names::printable(u)
        ));
    }
    Ok(())
}

fn forward(p: &mut Problems, inv: &Inventory, name: &str, f: &ForwardSpec) {
    let k = |field: &str| key(&["forwards", name, field]);
    if let Some(db) = f.target.strip_prefix("databases.") {
        if !inv.databases.contains_key(db) {
            p.push((k("target"), unknown("database", db, inv.databases.keys())));
        }
    } else {
        let (t, port) = f.target.rsplit_once(':').unwrap_or((&f.target, ""));
        let port_ok = port.is_empty() || port.parse::<u16>().is_ok_and(|p| p > 0);
        let target_ok = t.split('/').count() <= 2
            && t.split('/')
                .all(|part| names::check_container(part).is_ok());
        if !port_ok || !target_ok || t.is_empty() {
            p.push((
                k("target"),
                format!(
                    "{:?}: write databases.NAME, app/service:PORT, host/container:PORT or container:PORT",
                    names::printable(&f.target)
                ),
            ));
        }
    }
    if let Some(local) = &f.local {
        if let Err(e) = names::parse_loopback(local) {
            p.push((k("local"), e));
        }
    }
}
