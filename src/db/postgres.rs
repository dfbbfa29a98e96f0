//! Postgres administration over sqlx: roles and databases per app, isolated from each other.
//! Identifiers are validated by [`super::pg_ident`] and always double-quoted; the only
//! literal ever interpolated is a generated password (URL-safe alphabet), quoted too.

use super::Endpoint;
use crate::host::{Forward, Host};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::time::Duration;

pub struct PgAdmin {
    pool: PgPool,
    /// Keeps the tunnel open while the pool lives.
    _forward: Forward,
}

/// One database on the server.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DbRow {
    pub database: String,
    pub owner: String,
    pub size_bytes: i64,
    pub connections: i64,
    /// When the newest published backup of this database was taken (RFC 3339), if any.
    pub last_backup: Option<String>,
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Parse `postgres://user:pass@host:port/db`.
pub fn parse_url(url: &str) -> Result<Endpoint, String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| "a postgres URL starts with postgres://".to_string())?;
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (Some(a), r),
        None => (None, rest),
    };
    let (hostport, db) = match rest.split_once('/') {
        Some((h, d)) => (
            h,
            Some(d.split('?').next().unwrap_or(d).to_string()).filter(|d| !d.is_empty()),
        ),
        None => (rest, None),
    };
    let (h, port) = match hostport.rsplit_once(':').filter(|(_, p)| !p.contains(']')) {
        Some((h, p)) => (
            h.to_string(),
            p.parse().map_err(|_| format!("bad port {p:?}"))?,
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
    Ok(Endpoint {
        host_side: (h.clone(), port),
        from_host: (h, port),
        user,
        password,
        database: db,
    })
}

/// `%40` → `@`: user names, passwords and database names in a URL are percent-encoded.
fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a URL has a `%` not followed by two hex digits".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a URL part is not UTF-8 once decoded".to_string())
}

/// The `sslmode` a Postgres URL asks for (`?sslmode=require`), if any.
pub fn url_sslmode(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "sslmode")
        .map(|(_, v)| v.to_string())
}

impl PgAdmin {
    /// Connect as the server's admin user, through the host.
    pub async fn connect(host: &Host, ep: &Endpoint) -> Result<Self, String> {
        let forward = host
            .forward_tcp(&ep.from_host.0, ep.from_host.1)
            .await
            .map_err(|e| e.to_string())?;
        let mut opts = PgConnectOptions::new()
            .host(forward.host())
            .port(forward.port())
            .username(ep.user.as_deref().unwrap_or("postgres"))
            .database(ep.database.as_deref().unwrap_or("postgres"));
        if let Some(p) = &ep.password {
            opts = opts.password(p);
        }
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await
            .map_err(|e| {
                format!(
                    "connecting to postgres at {}:{}: {e}",
                    ep.from_host.0, ep.from_host.1
                )
            })?;
        Ok(Self {
            pool,
            _forward: forward,
        })
    }

    async fn exec(&self, sql: String) -> Result<(), String> {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub async fn role_exists(&self, role: &str) -> Result<bool, String> {
        sqlx::query("SELECT 1 FROM pg_roles WHERE rolname = $1")
            .bind(role)
            .fetch_optional(&self.pool)
            .await
            .map(|r| r.is_some())
            .map_err(|e| e.to_string())
    }

    pub async fn database_exists(&self, db: &str) -> Result<bool, String> {
        sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(db)
            .fetch_optional(&self.pool)
            .await
            .map(|r| r.is_some())
            .map_err(|e| e.to_string())
    }

    /// `role` and `db` must come from [`super::pg_ident`].
    pub async fn create_role(&self, role: &str, password: &str) -> Result<(), String> {
        self.exec(format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}",
            ident(role),
            literal(password)
        ))
        .await
    }

    pub async fn set_password(&self, role: &str, password: &str) -> Result<(), String> {
        self.exec(format!(
            "ALTER ROLE {} PASSWORD {}",
            ident(role),
            literal(password)
        ))
        .await
    }

    pub async fn create_database(&self, db: &str, owner: &str) -> Result<(), String> {
        self.exec(format!(
            "CREATE DATABASE {} OWNER {}",
            ident(db),
            ident(owner)
        ))
        .await
    }

    /// Only the owner may connect: no other app's role, nor PUBLIC.
    pub async fn isolate(&self, db: &str, owner: &str) -> Result<(), String> {
        self.exec(format!("REVOKE ALL ON DATABASE {} FROM PUBLIC", ident(db)))
            .await?;
        self.exec(format!(
            "GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}",
            ident(db),
            ident(owner)
        ))
        .await
    }

    /// Whether PUBLIC may still connect to `db` (for the isolation check).
    pub async fn public_can_connect(&self, db: &str) -> Result<bool, String> {
        sqlx::query(
            "SELECT coalesce(bool_or(a.grantee = 0 AND a.privilege_type = 'CONNECT'), false)
             FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
             WHERE d.datname = $1",
        )
        .bind(db)
        .fetch_one(&self.pool)
        .await
        .map(|r| r.get::<bool, _>(0))
        .map_err(|e| e.to_string())
    }

    pub async fn list(&self) -> Result<Vec<DbRow>, String> {
        let rows = sqlx::query(
            "SELECT d.datname, r.rolname, pg_database_size(d.datname),
                    (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname)
             FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
             WHERE NOT d.datistemplate ORDER BY d.datname",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .map(|r| DbRow {
                database: r.get(0),
                owner: r.get(1),
                size_bytes: r.get(2),
                connections: r.get(3),
                last_backup: None,
            })
            .collect())
    }

    /// Every role and database name (to prove a refused request changed nothing).
    pub async fn catalog(&self) -> Result<(Vec<String>, Vec<String>), String> {
        let roles = sqlx::query("SELECT rolname FROM pg_roles ORDER BY 1")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        let dbs = sqlx::query("SELECT datname FROM pg_database ORDER BY 1")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        Ok((roles, dbs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_quoting() {
        let e = parse_url("postgres://infra:s3cret@postgres:5433/app").expect("url");
        assert_eq!(e.host_side, ("postgres".to_string(), 5433));
        assert_eq!(e.user.as_deref(), Some("infra"));
        assert_eq!(e.password.as_deref(), Some("s3cret"));
        assert_eq!(e.database.as_deref(), Some("app"));
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert!(parse_url("mysql://x").is_err());
    }

    #[test]
    fn url_parts_are_decoded_and_ipv6_unbracketed() {
        let e = parse_url("postgresql://app%40corp:p%3Ass%2Fw@[::1]:6543/my%20db?sslmode=require")
            .expect("url");
        assert_eq!(e.user.as_deref(), Some("app@corp"));
        assert_eq!(e.password.as_deref(), Some("p:ss/w"));
        assert_eq!(e.from_host, ("::1".to_string(), 6543));
        assert_eq!(e.database.as_deref(), Some("my db"));
        let e = parse_url("postgres://u@[fe80::1]/x").expect("url");
        assert_eq!(e.from_host, ("fe80::1".to_string(), 5432));
        assert!(parse_url("postgres://u:%zz@h/x").is_err());
        assert_eq!(
            url_sslmode("postgres://h/x?application_name=a&sslmode=verify-full").as_deref(),
            Some("verify-full")
        );
        assert_eq!(url_sslmode("postgres://h/x"), None);
    }
}
