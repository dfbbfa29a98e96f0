//! Where the Postgres client tools (psql, pg_dump, pg_restore) run for a backup, a verify or a
//! restore: inside the database's own container, or, for a database given by a server URL, in
//! a throwaway container on the database's host. That container uses the host's network, so
//! the URL means there what it means to the apps on that host (`127.0.0.1:5432` is the host's
//! own Postgres), and it is removed afterwards (a leftover from a run that was killed is
//! removed by the next run for the same database, which holds the database's lock).
//!
//! The password reaches that container as a pgpass file written through an exec's standard
//! input: it is never in an argv, the container's environment (`docker inspect`), a log or
//! the journal. Connection settings that are not secret (host, port, sslmode) are the
//! container's `PG*` environment, so the commands are the same as in the database's own
//! container.

use super::step::ToolsServer;
use crate::docker::control::{self, NewContainer};
use crate::docker::{exec, images, Engine};
use crate::error::Error;
use crate::host::Host;
use crate::secrets::Secret;
use std::collections::HashMap;

/// The image pulled when the host has no `postgres` image and none is configured.
pub const DEFAULT_TOOLS_IMAGE: &str = "postgres:18";
const ROLE_LABEL: &str = "opsdeck.pg-tools";
const PGPASSFILE: &str = "/tmp/opsdeck.pgpass";

/// The container the tools run in, for one action.
pub struct Tools {
    pub cid: String,
    /// Ours to remove when done.
    temporary: bool,
}

impl Tools {
    /// The database's own running container (`container` named), or a fresh tools container
    /// for `server`, checked to reach the server with a pg_dump at least as new as it.
    pub async fn open(
        host: &Host,
        d: &Engine,
        db_name: &str,
        (container, apps): (&str, &[crate::inventory::AppSpec]),
        server: Option<&ToolsServer>,
        login: (&str, &str),
    ) -> Result<Self, Error> {
        match server {
            None => Ok(Self {
                cid: crate::ops::query::database_container(
                    host,
                    container,
                    apps,
                    &format!("databases.{db_name}.container"),
                )
                .await?
                .id,
                temporary: false,
            }),
            Some(s) => {
                remove_leftovers(d, db_name).await;
                let image = pick_image(host, d, s).await?;
                let cid = create(d, db_name, &image, s).await.map_err(|e| {
                    Error::failed(format!(
                        "{}: starting a tools container from {image}: {e}",
                        host.name()
                    ))
                })?;
                let tools = Self {
                    cid,
                    temporary: true,
                };
                if let Err(e) = tools.prepare(host, d, &image, s, login).await {
                    tools.close(d).await;
                    return Err(e);
                }
                Ok(tools)
            }
        }
    }

    /// Remove the tools container if it is ours (never the database's own container).
    pub async fn close(self, d: &Engine) {
        if self.temporary {
            let _ = control::remove_forced(d, &self.cid).await;
        }
    }

    /// Hand over the password and check the tools against the server.
    async fn prepare(
        &self,
        host: &Host,
        d: &Engine,
        image: &str,
        s: &ToolsServer,
        (user, database): (&str, &str),
    ) -> Result<(), Error> {
        let fail = |what: String| Error::failed(format!("{}: {what}", host.name()));
        let run = |argv: &[&str], stdin: Option<Vec<u8>>| {
            let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
            async move {
                exec::run(d, &self.cid, argv, stdin.as_deref())
                    .await
                    .map_err(|e| crate::docker::describe_error(&e))
            }
        };
        if let Some(pw) = &s.password {
            let wrote = run(
                &["sh", "-c", "umask 077 && cat > \"$PGPASSFILE\""],
                Some(pgpass_line(pw).into_bytes()),
            )
            .await
            .map_err(|e| {
                fail(format!(
                    "writing the password file in the tools container: {e}"
                ))
            })?;
            if wrote.code != 0 {
                return Err(fail(format!(
                    "writing the password file in the tools container ({image}) failed: {}",
                    wrote.stderr.trim()
                )));
            }
        }
        let tools = run(&["pg_dump", "--version"], None)
            .await
            .map_err(|e| fail(format!("pg_dump in {image}: {e}")))?;
        let tools_major = (tools.code == 0)
            .then(|| client_major(&tools.stdout))
            .flatten()
            .ok_or_else(|| {
                fail(format!(
                    "{image} has no working pg_dump ({}); set `tools_image` to a Postgres image",
                    tools.stderr.trim()
                ))
            })?;
        let server = run(
            &[
                "psql",
                "-X",
                "-A",
                "-t",
                "-q",
                "-U",
                user,
                "-d",
                database,
                "-c",
                "SHOW server_version_num",
            ],
            None,
        )
        .await
        .map_err(|e| fail(format!("psql in {image}: {e}")))?;
        if server.code != 0 {
            return Err(fail(format!(
                "cannot connect to the database at {} as {user}: {}",
                s.display(),
                crate::secrets::mask_text(server.stderr.trim())
            )));
        }
        let num: u32 = server.stdout.trim().parse().map_err(|_| {
            fail(format!(
                "unexpected server_version_num {:?}",
                server.stdout.trim()
            ))
        })?;
        let server_major = if num >= 100_000 {
            num / 10_000
        } else {
            num / 100
        };
        if tools_major < server_major {
            return Err(fail(format!(
                "{image} has pg_dump {tools_major}, older than the server's {server_major}: pg_dump refuses a newer server; set `tools_image` to postgres:{server_major} or newer"
            )));
        }
        Ok(())
    }
}

/// The major version in `pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)`.
fn client_major(version: &str) -> Option<u32> {
    let after = version.split_once(')')?.1.trim_start();
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A pgpass line matching any server and user (the container talks to one server only):
/// `\` and `:` escaped as pgpass requires.
fn pgpass_line(pw: &Secret) -> String {
    let escaped = pw.expose().replace('\\', "\\\\").replace(':', "\\:");
    format!("*:*:*:*:{escaped}\n")
}

/// The running container named `name` (or compose service `name`) on the host.
/// The superuser a container of the official Postgres image was made with: its
/// `POSTGRES_USER`, else `postgres`. `None` when the container cannot be inspected.
pub async fn container_superuser(d: &Engine, cid: &str) -> Option<String> {
    let i = control::inspect(d, cid).await.ok()?;
    Some(
        i.env
            .iter()
            .find_map(|kv| kv.strip_prefix("POSTGRES_USER="))
            .filter(|u| !u.is_empty())
            .unwrap_or("postgres")
            .to_string(),
    )
}

/// Tools containers of this database left by a run that was killed before it cleaned up.
async fn remove_leftovers(d: &Engine, db_name: &str) {
    let label = format!("{ROLE_LABEL}={db_name}");
    if let Ok(list) = control::with_label(d, &label, true).await {
        for c in list {
            let _ = control::remove_forced(d, &c.id).await;
        }
    }
}

/// The configured image (pulled if missing), else the newest `postgres` image on the host,
/// else [`DEFAULT_TOOLS_IMAGE`] pulled.
async fn pick_image(host: &Host, d: &Engine, s: &ToolsServer) -> Result<String, Error> {
    let image = match &s.tools_image {
        Some(i) => i.clone(),
        None => match newest_local_postgres(d).await {
            Some(i) => return Ok(i),
            None => DEFAULT_TOOLS_IMAGE.to_string(),
        },
    };
    if images::inspect(d, &image).await.is_ok() {
        return Ok(image);
    }
    let (repo, tag) = crate::docker::parse_image_ref(&image);
    if let Err(e) = images::pull(d, &repo, tag.as_deref().unwrap_or("latest")).await {
        return Err(Error::failed(format!(
            "{}: the Postgres tools image {image} is not on the host and pulling it failed: {}; set `tools_image` on the database to an image the host has (with pg_dump at least the server's version)",
            host.name(),
            crate::docker::describe_error(&e)
        )));
    }
    Ok(image)
}

/// `repo/postgres:TAG` images on the host, the highest major version first (`latest` and
/// other words after the numbered ones).
async fn newest_local_postgres(d: &Engine) -> Option<String> {
    let list = images::list_tags(d).await.ok()?;
    list.into_iter()
        .filter_map(|t| {
            let (repo, tag) = t.rsplit_once(':')?;
            let name = repo.rsplit('/').next()?;
            (name == "postgres").then(|| {
                let major: u32 = tag
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                (major, t.clone())
            })
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, t)| t)
}

async fn create(d: &Engine, db_name: &str, image: &str, s: &ToolsServer) -> Result<String, String> {
    let safe: String = db_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = format!(
        "opsdeck-pgtools-{safe}-{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S%3f")
    );
    let mut env = vec![
        format!("PGHOST={}", s.address),
        format!("PGPORT={}", s.port),
        format!("PGPASSFILE={PGPASSFILE}"),
        "PGCONNECT_TIMEOUT=15".to_string(),
        "PGAPPNAME=opsdeck".to_string(),
    ];
    if let Some(mode) = &s.sslmode {
        env.push(format!("PGSSLMODE={mode}"));
    }
    let spec = NewContainer {
        name,
        image: image.to_string(),
        // The image's own entrypoint (a server's start script) is not wanted: only a process
        // that keeps the container up while the tools are exec'd into it.
        entrypoint: vec!["sleep".into()],
        cmd: vec!["2147483".into()],
        env,
        labels: HashMap::from([(ROLE_LABEL.to_string(), db_name.to_string())]),
        host_network: true,
        network: None,
        no_healthcheck: false,
    };
    control::run_detached(d, &spec)
        .await
        .map_err(|e| crate::docker::describe_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_versions_and_pgpass_escaping() {
        assert_eq!(
            client_major("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(client_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(client_major("sh: pg_dump: not found"), None);
        assert_eq!(pgpass_line(&Secret::new(r"a:b\c")), "*:*:*:*:a\\:b\\\\c\n");
        let s = ToolsServer {
            address: "::1".into(),
            port: 5432,
            sslmode: None,
            tools_image: None,
            password: Some(Secret::new("hunter2")),
        };
        assert_eq!(s.display(), "[::1]:5432");
        assert!(!format!("{s:?}").contains("hunter2"));
        let json = serde_json::to_string(&s).expect("json");
        assert!(!json.contains("hunter2"), "{json}");
    }
}
