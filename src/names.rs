//! Validation of every name that reaches a host: inventory names, compose services,
//! container names, image tags. One place decides what is acceptable, so nothing hostile is
//! ever passed on to a shell, a SQL statement or a file path.

use crate::error::Error;

/// A name in the inventory (host, app, database, storage, check): `[A-Za-z0-9][A-Za-z0-9_.-]*`,
/// at most 63 characters, and never `.`/`..`-like.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} name is empty"));
    }
    if name.len() > 63 {
        return Err(format!(
            "{what} name is {} characters long; at most 63 are allowed",
            name.len()
        ));
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or('-');
    if !first.is_ascii_alphanumeric() {
        return Err(format!(
            "{what} name {:?} must start with a letter or digit",
            printable(name)
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "{what} name {:?} contains {:?}; only letters, digits, '_', '.' and '-' are allowed",
            printable(name),
            bad
        ));
    }
    if name.contains("..") {
        return Err(format!("{what} name {:?} contains '..'", printable(name)));
    }
    Ok(())
}

/// A container name as Docker allows it (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), or a container id.
pub fn check_container(name: &str) -> Result<(), String> {
    check_name("container", name.trim_start_matches('/'))
}

/// Why an image tag is refused; the tag is shown [`printable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("image tag {0:?} must be 1 to 128 characters")]
    Length(String),
    #[error("image tag {0:?} is not valid: use letters, digits, '_', '.' and '-', not starting with '.' or '-'")]
    Characters(String),
}

/// An image tag as the registry spec allows it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), TagError> {
    if tag.is_empty() || tag.len() > 128 {
        return Err(TagError::Length(printable(tag)));
    }
    let first = tag.chars().next().unwrap_or('-');
    if !(first.is_ascii_alphanumeric() || first == '_')
        || !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(TagError::Characters(printable(tag)));
    }
    Ok(())
}

/// A string safe to show in an error: control characters escaped, cut at 80 characters.
/// A DNS name (`what` says which: "domain", "host"): dot-separated labels of letters, digits
/// and inner hyphens, each at most 63 bytes, at most 253 in all.
pub fn check_dns_name(what: &str, d: &str) -> Result<(), String> {
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{:?} is not a valid {what} name", printable(d)))
    }
}

pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_default).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::usage(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_ordinary_and_refuse_hostile() {
        for ok in ["alpha", "shop-1", "db_main", "a.b", "A9"] {
            assert!(check_name("app", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "a b",
            "a;rm -rf /",
            "a/b",
            "a..b",
            "$(id)",
            "a\nb",
            "é",
            &"x".repeat(64),
        ] {
            assert!(check_name("app", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags() {
        for ok in ["v1", "1.2.3", "latest", "_x", "sha-abc"] {
            assert!(check_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-v1", ".v", "v 1", "v1;ls", "a/b", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
    }
}

/// Up to three known names closest to `wanted`, for "did you mean" messages.
pub fn close_matches<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = known
        .into_iter()
        .map(|k| {
            let d = edit_distance(&wanted.to_lowercase(), &k.to_lowercase());
            let bonus = if k.contains(wanted) || wanted.contains(k) {
                0
            } else {
                1
            };
            (d * 2 + bonus, k)
        })
        .filter(|(score, k)| *score <= (k.len().max(wanted.len()) + 1))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, k)| k).collect()
}

/// "no app named "shpo"; did you mean: shop?" or the full list when nothing is close.
pub fn unknown_name_message<'a>(
    what: &str,
    wanted: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    let close = close_matches(wanted, known.clone());
    let all: Vec<&str> = known.into_iter().collect();
    if all.is_empty() {
        format!("no {what} named {:?}: none are defined", printable(wanted))
    } else if close.is_empty() {
        format!(
            "no {what} named {:?}; known: {}",
            printable(wanted),
            all.join(", ")
        )
    } else {
        format!(
            "no {what} named {:?}; did you mean: {}?",
            printable(wanted),
            close.join(", ")
        )
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod suggest_tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let known = ["shop", "blog", "shop-admin"];
        assert_eq!(close_matches("shpo", known)[0], "shop");
        assert!(close_matches("zzzzzzzz", known).is_empty());
        let msg = unknown_name_message("app", "shpo", known);
        assert!(
            msg.contains("did you mean") && msg.contains("shop"),
            "{msg}"
        );
    }
}

/// A forward's listening address: `PORT` (on 127.0.0.1), `ADDR:PORT` or `[::1]:PORT`, on
/// loopback only (so that no other machine can use the host connection behind it).
pub fn parse_loopback(s: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = match s.parse::<u16>() {
        Ok(port) => std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Err(_) => s.parse().map_err(|_| {
            format!(
                "{:?}: write PORT, 127.0.0.1:PORT or [::1]:PORT",
                printable(s)
            )
        })?,
    };
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{s}: a forward listens on loopback only (127.0.0.1 or ::1), so that no other \
             machine can use the host connection; {} is not loopback",
            addr.ip()
        ));
    }
    Ok(addr)
}
