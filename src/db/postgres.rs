//! Postgres administration: roles and databases per app, isolated from each other.
//!
//! Two ways in, as operators have them: a server given by URL is reached over TCP with
//! sqlx (through the host), and a server in a container is reached the way
//! `docker compose exec postgres psql -U postgres` reaches it: `psql` inside the container on
//! its local socket, as the container's superuser, with the SQL on standard input (never in
//! an argv). The official image trusts its local socket and wants a password over TCP that
//! only its `POSTGRES_PASSWORD` knows, so the second way needs no password at all.
//!
//! Identifiers are validated by [`super::pg_ident`] and always double-quoted. Passwords never
//! reach the server as text: a SCRAM-SHA-256 verifier is computed here (as psql's `\password`
//! does), so the statement the server may log holds no password.

use super::Endpoint;
use crate::host::{Forward, Host};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::time::Duration;

pub struct PgAdmin {
    conn: Conn,
}

enum Conn {
    Tcp {
        pool: PgPool,
        /// Keeps the tunnel open while the pool lives.
        _forward: Forward,
    },
    Exec {
        docker: bollard::Docker,
        container: String,
        user: String,
    },
}

/// The unit separator between psql's fields (never in a name we create or list).
const FIELD_SEP: char = '\u{1f}';

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
    /// Connect as the server's admin user over TCP, through the host.
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
            conn: Conn::Tcp {
                pool,
                _forward: forward,
            },
        })
    }

    /// Administer the server inside `container` with its own psql, as `user`, on its local
    /// socket. Checked at once with a query, so a wrong user fails here, clearly.
    pub async fn in_container(
        docker: &bollard::Docker,
        container: &str,
        user: &str,
    ) -> Result<Self, String> {
        let admin = Self {
            conn: Conn::Exec {
                docker: docker.clone(),
                container: container.to_string(),
                user: user.to_string(),
            },
        };
        admin.rows("SELECT 'yes'::text").await.map_err(|e| {
            format!("psql in container {container} as {user} (its local socket): {e}")
        })?;
        Ok(admin)
    }

    /// Run `sql` (one or more statements) and return the rows of the last one as text.
    async fn rows(&self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        match &self.conn {
            Conn::Tcp { pool, .. } => {
                let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all(pool)
                    .await
                    .map_err(|e| e.to_string())?;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                r.try_get::<Option<String>, _>(i)
                                    .map(Option::unwrap_or_default)
                                    .map_err(|e| e.to_string())
                            })
                            .collect()
                    })
                    .collect()
            }
            Conn::Exec {
                docker,
                container,
                user,
            } => {
                let argv = psql_argv(user, "postgres", Some(FIELD_SEP));
                let mut input = sql.to_string();
                input.push_str(";\n");
                let ran = crate::docker::exec::run(docker, container, argv, Some(input.as_bytes()))
                    .await
                    .map_err(|e| crate::docker::describe_error(&e))?;
                if ran.code != 0 {
                    let err = ran.stderr.trim();
                    return Err(if err.is_empty() {
                        format!("psql exited with status {}", ran.code)
                    } else {
                        err.to_string()
                    });
                }
                Ok(ran
                    .stdout
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| l.split(FIELD_SEP).map(str::to_string).collect())
                    .collect())
            }
        }
    }

    async fn exec(&self, sql: String) -> Result<(), String> {
        self.rows(&sql).await.map(|_| ())
    }

    async fn exists(&self, sql: String) -> Result<bool, String> {
        Ok(!self.rows(&sql).await?.is_empty())
    }

    /// `role` must come from [`super::pg_ident`].
    pub async fn role_exists(&self, role: &str) -> Result<bool, String> {
        self.exists(format!(
            "SELECT 'yes'::text FROM pg_roles WHERE rolname = {}",
            literal(role)
        ))
        .await
    }

    /// Whether `role` is a superuser (never an app's role to hand out or rotate).
    pub async fn is_superuser(&self, role: &str) -> Result<bool, String> {
        self.exists(format!(
            "SELECT 'yes'::text FROM pg_roles WHERE rolname = {} AND rolsuper",
            literal(role)
        ))
        .await
    }

    /// The owner of database `db`, if it exists.
    pub async fn database_owner(&self, db: &str) -> Result<Option<String>, String> {
        Ok(self
            .rows(&format!(
                "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = {}",
                literal(db)
            ))
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next()))
    }

    pub async fn database_exists(&self, db: &str) -> Result<bool, String> {
        self.exists(format!(
            "SELECT 'yes'::text FROM pg_database WHERE datname = {}",
            literal(db)
        ))
        .await
    }

    /// `role` and `db` must come from [`super::pg_ident`].
    pub async fn create_role(&self, role: &str, password: &str) -> Result<(), String> {
        self.exec(format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}",
            ident(role),
            literal(&scram_verifier(password)?)
        ))
        .await
    }

    pub async fn set_password(&self, role: &str, password: &str) -> Result<(), String> {
        self.set_verifier(role, &scram_verifier(password)?).await
    }

    /// Set a role's stored password verifier as it is (to put an old one back).
    pub async fn set_verifier(&self, role: &str, verifier: &str) -> Result<(), String> {
        self.exec(format!(
            "ALTER ROLE {} PASSWORD {}",
            ident(role),
            literal(verifier)
        ))
        .await
    }

    /// The role's stored password verifier (superusers only), to undo a rotation.
    pub async fn verifier(&self, role: &str) -> Result<Option<String>, String> {
        Ok(self
            .rows(&format!(
                "SELECT coalesce(rolpassword, '') FROM pg_authid WHERE rolname = {}",
                literal(role)
            ))
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .filter(|v| !v.is_empty()))
    }

    pub async fn create_database(&self, db: &str, owner: &str) -> Result<(), String> {
        self.exec(format!(
            "CREATE DATABASE {} OWNER {}",
            ident(db),
            ident(owner)
        ))
        .await
    }

    /// Undo a creation: the database (if any) and the role.
    pub async fn drop_database(&self, db: &str) -> Result<(), String> {
        self.exec(format!("DROP DATABASE IF EXISTS {}", ident(db)))
            .await
    }

    pub async fn drop_role(&self, role: &str) -> Result<(), String> {
        self.exec(format!("DROP ROLE IF EXISTS {}", ident(role)))
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
        let rows = self
            .rows(&format!(
                "SELECT coalesce(bool_or(a.grantee = 0 AND a.privilege_type = 'CONNECT'), false)::text
                 FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                 WHERE d.datname = {}",
                literal(db)
            ))
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .is_some_and(|v| v == "true"))
    }

    pub async fn list(&self) -> Result<Vec<DbRow>, String> {
        let rows = self
            .rows(
                "SELECT d.datname::text, r.rolname::text, pg_database_size(d.datname)::text,
                    (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname)::text
             FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
             WHERE NOT d.datistemplate ORDER BY d.datname",
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let num = |i: usize| {
                    r.get(i)
                        .and_then(|v| v.parse::<i64>().ok())
                        .ok_or_else(|| format!("unexpected row from the server: {r:?}"))
                };
                Ok(DbRow {
                    database: r.first().cloned().unwrap_or_default(),
                    owner: r.get(1).cloned().unwrap_or_default(),
                    size_bytes: num(2)?,
                    connections: num(3)?,
                    last_backup: None,
                })
            })
            .collect()
    }

    /// Every role and database name (to prove a refused request changed nothing).
    pub async fn catalog(&self) -> Result<(Vec<String>, Vec<String>), String> {
        let col = |rows: Vec<Vec<String>>| {
            rows.into_iter()
                .filter_map(|r| r.into_iter().next())
                .collect::<Vec<_>>()
        };
        let roles = col(self
            .rows("SELECT rolname::text FROM pg_roles ORDER BY 1")
            .await?);
        let dbs = col(self
            .rows("SELECT datname::text FROM pg_database ORDER BY 1")
            .await?);
        Ok((roles, dbs))
    }
}

/// `psql` as the tools run it inside a container: no psqlrc, quiet, unaligned tuples only,
/// stopping at the first error; fields separated by `sep` when given.
pub fn psql_argv(user: &str, db: &str, sep: Option<char>) -> Vec<String> {
    let mut v: Vec<String> = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(c) = sep {
        v.extend(["-F".to_string(), c.to_string()]);
    }
    v.extend([
        "-U".to_string(),
        user.to_string(),
        "-d".to_string(),
        db.to_string(),
    ]);
    v
}

/// Log in over TCP as `user` with `password` to `database` at `addr` (as the host reaches
/// it): the proof that a new role's URL works for the apps.
pub async fn try_login(
    host: &Host,
    addr: (&str, u16),
    user: &str,
    password: &str,
    database: &str,
) -> Result<(), String> {
    let ep = Endpoint {
        host_side: (addr.0.to_string(), addr.1),
        from_host: (addr.0.to_string(), addr.1),
        user: Some(user.to_string()),
        password: Some(password.to_string()),
        database: Some(database.to_string()),
    };
    let login = PgAdmin::connect(host, &ep)
        .await
        .map_err(|e| format!("logging in as {user} to {database}: {e}"))?;
    let rows = login.rows("SELECT 'yes'::text").await?;
    if let Conn::Tcp { pool, .. } = &login.conn {
        pool.close().await;
    }
    if rows.first().and_then(|r| r.first()).map(String::as_str) == Some("yes") {
        Ok(())
    } else {
        Err(format!(
            "logged in as {user}, but the server did not answer a query"
        ))
    }
}

/// The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802/7677, as libpq's
/// `PQencryptPasswordConn` makes it): `SCRAM-SHA-256$4096:salt$StoredKey:ServerKey`.
pub fn scram_verifier(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(scram_verifier_with(password, &salt, 4096))
}

fn scram_verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    use sha2::{Digest, Sha256};
    let salted = pbkdf2_sha256(password.as_bytes(), salt, iterations);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac_sha256(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        base64(salt),
        base64(&stored_key),
        base64(&server_key)
    )
}

/// PBKDF2-HMAC-SHA256 with one block (the output is one digest long).
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &block);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.iter().map(|b| b ^ 0x36).collect::<Vec<u8>>());
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.iter().map(|b| b ^ 0x5c).collect::<Vec<u8>>());
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn scram_pieces_match_their_published_test_vectors() {
        // RFC 4231, test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // PBKDF2-HMAC-SHA256 (RFC 7914's companion vectors): "password"/"salt", 4096 rounds.
        assert_eq!(
            hex(&pbkdf2_sha256(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"f"), "Zg==");
        let v = scram_verifier_with("pencil", b"0123456789abcdef", 4096);
        assert!(
            v.starts_with("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"),
            "{v}"
        );
        assert!(!v.contains("pencil"));
        // A fresh salt each time: two verifiers of one password differ.
        assert_ne!(
            scram_verifier("pw").expect("verifier"),
            scram_verifier("pw").expect("verifier")
        );
    }
}
