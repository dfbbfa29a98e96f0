//! A Postgres server URL from the inventory (`postgres://user:pass@host:port/db?sslmode=...`):
//! its parts decoded, and its user and database checked before they reach any SQL or psql.

use super::Endpoint;

/// What is wrong with a Postgres URL. Never holds the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("a postgres URL starts with postgres:// or postgresql://")]
    Scheme,
    #[error("bad port {0:?}")]
    Port(String),
    #[error("a URL has a `%` not followed by two hex digits")]
    Percent,
    #[error("a URL part is not UTF-8 once decoded")]
    NotUtf8,
    /// The decoded user or database is not a plain name (a quote, `;`, a newline...).
    #[error("the {part} {value:?} is not a plain name: use letters, digits, '_', '-' or '.'{} (at most 63 bytes)", if *.part == "user" { ", '@'" } else { "" })]
    Name { part: &'static str, value: String },
    #[error("sslmode {0:?} is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    SslMode(String),
}

/// Parse `postgres://user:pass@host:port/db`.
pub fn parse_url(url: &str) -> Result<Endpoint, UrlError> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or(UrlError::Scheme)?;
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (Some(a), r),
        None => (None, rest),
    };
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    let (hostport, db) = match rest.split_once('/') {
        Some((h, d)) => (h, Some(d.to_string()).filter(|d| !d.is_empty())),
        None => (rest, None),
    };
    let (h, port) = match hostport.rsplit_once(':').filter(|(_, p)| !p.contains(']')) {
        Some((h, p)) => (
            h.to_string(),
            p.parse().map_err(|_| UrlError::Port(p.to_string()))?,
        ),
        None => (hostport.to_string(), 5432),
    };
    // `[::1]` is an IPv6 address; the brackets are URL syntax, not part of the name.
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .map_or(h.clone(), str::to_string);
    let (user, password) = match auth {
        Some(a) => match a.split_once(':') {
            Some((u, p)) => (Some(percent_decode(u)?), Some(percent_decode(p)?)),
            None => (Some(percent_decode(a)?), None),
        },
        None => (None, None),
    };
    let db = db.map(|d| percent_decode(&d)).transpose()?;
    if let Some(u) = &user {
        plain_name("user", u)?;
    }
    if let Some(d) = &db {
        plain_name("database", d)?;
    }
    if let Some(m) = url_sslmode(url) {
        if !SSL_MODES.contains(&m.as_str()) {
            return Err(UrlError::SslMode(crate::names::printable(&m)));
        }
    }
    Ok(Endpoint {
        host_side: (h.clone(), port),
        from_host: (h, port),
        user,
        password,
        database: db,
        ssl_mode: url_sslmode(url),
        ssl_root_cert: url_param(url, "sslrootcert"),
    })
}

const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// A user or database name as it will be double-quoted in SQL and given to psql: letters,
/// digits, `_`, `-`, `.` (and `@` in a user, as some hosted servers name theirs), 1 to 63
/// bytes. No quote, `;`, backslash, space or control character gets through.
fn plain_name(part: &'static str, value: &str) -> Result<(), UrlError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.')
                || (part == "user" && c == '@')
        });
    if ok {
        Ok(())
    } else {
        Err(UrlError::Name {
            part,
            value: crate::names::printable(value),
        })
    }
}

/// `%40` → `@`: user names, passwords and database names in a URL are percent-encoded.
fn percent_decode(s: &str) -> Result<String, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(UrlError::Percent)?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::NotUtf8)
}

/// A query parameter of a Postgres URL (`?sslmode=require&sslrootcert=/path`), decoded.
pub fn url_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v).unwrap_or_else(|_| v.to_string()))
}

/// The `sslmode` a Postgres URL asks for (`?sslmode=require`), if any.
pub fn url_sslmode(url: &str) -> Option<String> {
    url_param(url, "sslmode")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split() {
        let e = parse_url("postgres://infra:s3cret@postgres:5433/app").expect("url");
        assert_eq!(e.host_side, ("postgres".to_string(), 5433));
        assert_eq!(e.user.as_deref(), Some("infra"));
        assert_eq!(e.password.as_deref(), Some("s3cret"));
        assert_eq!(e.database.as_deref(), Some("app"));
        assert!(parse_url("mysql://x").is_err());
    }

    #[test]
    fn url_parts_are_decoded_and_ipv6_unbracketed() {
        let e = parse_url("postgresql://app%40corp:p%3Ass%2Fw@[::1]:6543/my_db?sslmode=require")
            .expect("url");
        assert_eq!(e.user.as_deref(), Some("app@corp"));
        assert_eq!(e.password.as_deref(), Some("p:ss/w"));
        assert_eq!(e.from_host, ("::1".to_string(), 6543));
        assert_eq!(e.database.as_deref(), Some("my_db"));
        let e = parse_url("postgres://u@[fe80::1]/x").expect("url");
        assert_eq!(e.from_host, ("fe80::1".to_string(), 5432));
        assert!(parse_url("postgres://u:%zz@h/x").is_err());
        assert_eq!(
            url_sslmode("postgres://h/x?application_name=a&sslmode=verify-full").as_deref(),
            Some("verify-full")
        );
        assert_eq!(url_sslmode("postgres://h/x"), None);
        assert_eq!(
            url_param("postgres://h/x?sslrootcert=%2Fetc%2Fca.pem", "sslrootcert").as_deref(),
            Some("/etc/ca.pem")
        );
    }

    #[test]
    fn hostile_users_and_databases_are_refused_without_the_password() {
        for url in [
            "postgres://admin:hunter2@h/app%27%3BDROP%20DATABASE%20x%3B--",
            "postgres://admin:hunter2@h/app%0A%5C%21id",
            "postgres://a%22b:hunter2@h/app",
            "postgres://a%27:hunter2@h/app",
            "postgres://adm%0Ain:hunter2@h/app",
            "postgres://admin:hunter2@h/my%20db",
            "postgres://admin:hunter2@h/a%5Cb",
        ] {
            let e = parse_url(url).expect_err(url);
            assert!(matches!(e, UrlError::Name { .. }), "{url}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        let long = format!("postgres://admin@h/{}", "d".repeat(64));
        assert!(parse_url(&long).is_err());
        assert!(matches!(
            parse_url("postgres://h/x?sslmode=maybe"),
            Err(UrlError::SslMode(_))
        ));
    }
}
