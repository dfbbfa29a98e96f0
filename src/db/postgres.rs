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

/// What went wrong administering a Postgres server, said for the operator.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The tunnel to the server (over the host) could not be opened.
    #[error("{0}")]
    Forward(#[from] crate::host::HostError),
    #[error("connecting to postgres at {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: sqlx::Error,
    },
    /// A statement the server refused or could not answer.
    #[error("{0}")]
    Sql(#[from] sqlx::Error),
    #[error("running psql in its container: {0}")]
    Exec(String),
    #[error("psql exited with status {code}{}", if .stderr.is_empty() { String::new() } else { format!(": {}", .stderr) })]
    Psql { code: i64, stderr: String },
    #[error("sslmode {0:?} is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    SslMode(String),
    #[error(transparent)]
    NoRandomness(#[from] super::NoRandomness),
    #[error("unexpected row from the server: {0:?}")]
    UnexpectedRow(Vec<String>),
    #[error("psql in container {container} as {user} (its local socket): {source}")]
    InContainer {
        container: String,
        user: String,
        source: Box<PgError>,
    },
    #[error("logging in as {user} to {database}: {source}")]
    Login {
        user: String,
        database: String,
        source: Box<PgError>,
    },
    #[error("logged in as {user}, but the server did not answer a query")]
    NoAnswer { user: String },
}

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

pub use super::pg_url::{parse_url, url_sslmode};

impl PgAdmin {
    /// Connect as the server's admin user over TCP, through the host.
    pub async fn connect(host: &Host, ep: &Endpoint) -> Result<Self, PgError> {
        let forward = host.forward_tcp(&ep.from_host.0, ep.from_host.1).await?;
        let mut opts = PgConnectOptions::new()
            .host(forward.host())
            .port(forward.port())
            .username(ep.user.as_deref().unwrap_or("postgres"))
            .database(ep.database.as_deref().unwrap_or("postgres"));
        if let Some(p) = &ep.password {
            opts = opts.password(p);
        }
        // TLS as the URL asks (libpq's default, `prefer`, when it does not say).
        if let Some(m) = &ep.ssl_mode {
            opts = opts.ssl_mode(m.parse().map_err(|_| PgError::SslMode(m.clone()))?);
        }
        if let Some(ca) = &ep.ssl_root_cert {
            opts = opts.ssl_root_cert(ca.as_str());
        }
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await
            .map_err(|source| PgError::Connect {
                host: ep.from_host.0.clone(),
                port: ep.from_host.1,
                source,
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
    ) -> Result<Self, PgError> {
        let admin = Self {
            conn: Conn::Exec {
                docker: docker.clone(),
                container: container.to_string(),
                user: user.to_string(),
            },
        };
        admin
            .rows("SELECT 'yes'::text")
            .await
            .map_err(|e| PgError::InContainer {
                container: container.to_string(),
                user: user.to_string(),
                source: Box::new(e),
            })?;
        Ok(admin)
    }

    /// Run `sql` (one or more statements) and return the rows of the last one as text.
    async fn rows(&self, sql: &str) -> Result<Vec<Vec<String>>, PgError> {
        match &self.conn {
            Conn::Tcp { pool, .. } => {
                let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                r.try_get::<Option<String>, _>(i)
                                    .map(Option::unwrap_or_default)
                                    .map_err(PgError::from)
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
                    .map_err(|e| PgError::Exec(crate::docker::describe_error(&e)))?;
                if ran.code != 0 {
                    return Err(PgError::Psql {
                        code: ran.code,
                        stderr: ran.stderr.trim().to_string(),
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

    async fn exec(&self, sql: String) -> Result<(), PgError> {
        self.rows(&sql).await.map(|_| ())
    }

    async fn exists(&self, sql: String) -> Result<bool, PgError> {
        Ok(!self.rows(&sql).await?.is_empty())
    }

    /// `role` must come from [`super::pg_ident`].
    pub async fn role_exists(&self, role: &str) -> Result<bool, PgError> {
        self.exists(format!(
            "SELECT 'yes'::text FROM pg_roles WHERE rolname = {}",
            literal(role)
        ))
        .await
    }

    /// Whether `role` is a superuser (never an app's role to hand out or rotate).
    pub async fn is_superuser(&self, role: &str) -> Result<bool, PgError> {
        self.exists(format!(
            "SELECT 'yes'::text FROM pg_roles WHERE rolname = {} AND rolsuper",
            literal(role)
        ))
        .await
    }

    /// The owner of database `db`, if it exists.
    pub async fn database_owner(&self, db: &str) -> Result<Option<String>, PgError> {
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

    pub async fn database_exists(&self, db: &str) -> Result<bool, PgError> {
        self.exists(format!(
            "SELECT 'yes'::text FROM pg_database WHERE datname = {}",
            literal(db)
        ))
        .await
    }

    /// `role` and `db` must come from [`super::pg_ident`].
    pub async fn create_role(&self, role: &str, password: &str) -> Result<(), PgError> {
        self.exec(format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}",
            ident(role),
            literal(&super::scram::scram_verifier(password)?)
        ))
        .await
    }

    pub async fn set_password(&self, role: &str, password: &str) -> Result<(), PgError> {
        self.set_verifier(role, &super::scram::scram_verifier(password)?)
            .await
    }

    /// Set a role's stored password verifier as it is (to put an old one back).
    pub async fn set_verifier(&self, role: &str, verifier: &str) -> Result<(), PgError> {
        self.exec(format!(
            "ALTER ROLE {} PASSWORD {}",
            ident(role),
            literal(verifier)
        ))
        .await
    }

    /// The role's stored password verifier (superusers only), to undo a rotation.
    pub async fn verifier(&self, role: &str) -> Result<Option<String>, PgError> {
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

    pub async fn create_database(&self, db: &str, owner: &str) -> Result<(), PgError> {
        self.exec(format!(
            "CREATE DATABASE {} OWNER {}",
            ident(db),
            ident(owner)
        ))
        .await
    }

    /// Undo a creation: the database (if any) and the role.
    pub async fn drop_database(&self, db: &str) -> Result<(), PgError> {
        self.exec(format!("DROP DATABASE IF EXISTS {}", ident(db)))
            .await
    }

    pub async fn drop_role(&self, role: &str) -> Result<(), PgError> {
        self.exec(format!("DROP ROLE IF EXISTS {}", ident(role)))
            .await
    }

    /// Only the owner may connect: no other app's role, nor PUBLIC.
    pub async fn isolate(&self, db: &str, owner: &str) -> Result<(), PgError> {
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
    pub async fn public_can_connect(&self, db: &str) -> Result<bool, PgError> {
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

    pub async fn list(&self) -> Result<Vec<DbRow>, PgError> {
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
                        .ok_or_else(|| PgError::UnexpectedRow(r.clone()))
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
    pub async fn catalog(&self) -> Result<(Vec<String>, Vec<String>), PgError> {
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
) -> Result<(), PgError> {
    let ep = Endpoint {
        host_side: (addr.0.to_string(), addr.1),
        from_host: (addr.0.to_string(), addr.1),
        user: Some(user.to_string()),
        password: Some(password.to_string()),
        database: Some(database.to_string()),
        ssl_mode: None,
        ssl_root_cert: None,
    };
    let login = PgAdmin::connect(host, &ep)
        .await
        .map_err(|e| PgError::Login {
            user: user.to_string(),
            database: database.to_string(),
            source: Box::new(e),
        })?;
    let rows = login.rows("SELECT 'yes'::text").await?;
    if let Conn::Tcp { pool, .. } = &login.conn {
        pool.close().await;
    }
    if rows.first().and_then(|r| r.first()).map(String::as_str) == Some("yes") {
        Ok(())
    } else {
        Err(PgError::NoAnswer {
            user: user.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
