//! Database adapters: Postgres (sqlx) and Redis, reached through the host transport.

pub mod pg_url;
pub mod postgres;
pub mod redis;
pub mod scram;

pub use postgres::PgAdmin;
pub use redis::RedisAdmin;

/// The OS gave no random bytes (for a password or a salt).
#[derive(Debug, thiserror::Error)]
#[error("no randomness from the OS: {0}")]
pub struct NoRandomness(pub String);

/// A name that cannot be an app's database, role or Redis user.
#[derive(Debug, thiserror::Error)]
#[error("{name:?} cannot be a database or role name: use lowercase letters, digits, '_' or '-', starting with a letter (not pg_, and not postgres, template0/1, default or public)")]
pub struct InvalidName {
    /// Printable (control characters escaped).
    pub name: String,
}

/// For callers that report it as text (`Error::usage(...)`).
impl From<InvalidName> for String {
    fn from(e: InvalidName) -> String {
        e.to_string()
    }
}

/// A password of `bytes` random bytes (at least 16 = 128 bits), URL-safe.
pub fn generate_password(bytes: usize) -> Result<String, NoRandomness> {
    let mut buf = vec![0u8; bytes.max(16)];
    getrandom::fill(&mut buf).map_err(|e| NoRandomness(e.to_string()))?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    Ok(buf
        .iter()
        .map(|b| ALPHABET[usize::from(b & 63)] as char)
        .collect())
}

/// A Postgres identifier for an app name: lowercase letters, digits and `_` (a `-` becomes
/// `_`), starting with a letter or `_`, at most 63 bytes. Everything else is refused.
/// Names that are the server's own (Postgres' maintenance database and templates, Redis'
/// default user): an app never gets them, so provisioning cannot touch what they are.
const RESERVED: [&str; 5] = ["postgres", "template0", "template1", "default", "public"];

pub fn pg_ident(name: &str) -> Result<String, InvalidName> {
    let id = name.replace('-', "_");
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !id.starts_with("pg_")
        && !RESERVED.contains(&id.as_str());
    if ok {
        Ok(id)
    } else {
        Err(InvalidName {
            name: crate::names::printable(name),
        })
    }
}

/// A connection target: where to connect from here, and how the host's containers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The address as the apps on the host reach it (`postgres:5432`).
    pub host_side: (String, u16),
    /// The address the host itself can reach (a container IP, or the URL's host).
    pub from_host: (String, u16),
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    /// `sslmode` of a Postgres URL (disable ... verify-full), as libpq reads it.
    pub ssl_mode: Option<String>,
    /// `sslrootcert` of a Postgres URL: the CA file to verify the server with.
    pub ssl_root_cert: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_and_differ() {
        let a = generate_password(24).expect("pw");
        let b = generate_password(24).expect("pw");
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn identifiers() {
        assert_eq!(pg_ident("shop").ok().as_deref(), Some("shop"));
        assert_eq!(pg_ident("mint-auth").ok().as_deref(), Some("mint_auth"));
        for bad in [
            "",
            "Shop",
            "1app",
            "a;drop",
            "a\"b",
            "pg_admin",
            "a b",
            "é",
            &"x".repeat(64),
            "a'b",
            "a.b",
        ] {
            assert!(pg_ident(bad).is_err(), "{bad:?}");
        }
    }
}
