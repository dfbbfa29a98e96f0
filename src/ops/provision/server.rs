//! The database server a provisioning step works on: where it is, and opened for
//! administration (by URL over TCP, or with psql in its container).

use super::ServerRef;
use crate::db::{self, Endpoint, PgAdmin};
use crate::error::Error;
use crate::host::Host;

/// Where to reach the server from the host, and how apps on the host name it.
pub(super) async fn endpoint(
    host: &Host,
    s: &ServerRef,
    default_port: u16,
    default_user: &str,
) -> Result<Endpoint, Error> {
    if let Some(url) = &s.url {
        let mut ep = if url.starts_with("redis") {
            let t = crate::http::parse_url(
                &url.replacen("rediss://", "https://", 1)
                    .replacen("redis://", "http://", 1),
            )
            .map_err(Error::usage)?;
            let port = if url.contains(&format!(":{}", t.port)) {
                t.port
            } else {
                default_port
            };
            let pass = url
                .split_once("://")
                .and_then(|(_, r)| r.rsplit_once('@'))
                .and_then(|(a, _)| {
                    a.split_once(':')
                        .map(|(_, p)| p.to_string())
                        .or(Some(a.to_string()))
                })
                .filter(|p| !p.is_empty());
            Endpoint {
                host_side: (t.host.clone(), port),
                from_host: (t.host, port),
                user: None,
                password: pass,
                database: None,
                ssl_mode: None,
                ssl_root_cert: None,
            }
        } else {
            db::postgres::parse_url(url)
                .map_err(|e| Error::usage(format!("databases.{}.url: {e}", s.name)))?
        };
        if ep.user.is_none() {
            ep.user = s.user.clone();
        }
        return Ok(ep);
    }
    let c = server_container(host, s).await?;
    // A Redis run with `--requirepass` (seed 002's `redis-server --requirepass
    // ${REDIS_PASSWORD}`): its password is in its own command line or environment, where
    // an operator's `redis-cli -a` takes it from too. Used here, never shown.
    let password = (default_port == 6379)
        .then(|| super::super::query::redis_password(&c.cmd, &c.env))
        .flatten();
    Ok(Endpoint {
        host_side: (c.app_name.clone(), default_port),
        from_host: (c.ip.clone(), default_port),
        user: Some(s.user.clone().unwrap_or_else(|| default_user.to_string())),
        password,
        database: None,
        ssl_mode: None,
        ssl_root_cert: None,
    })
}

/// A database server's container on its host, as the apps and opsdeck see it.
struct ServerContainer {
    id: String,
    name: String,
    /// How the apps name it: the compose service, else the container's name.
    app_name: String,
    /// Its address on its first network, as the host reaches it.
    ip: String,
    /// The container's environment (`POSTGRES_USER`, ...), never printed.
    env: Vec<(String, String)>,
    /// Its command line (entrypoint and arguments), never printed.
    cmd: Vec<String>,
}

/// The running container `s.container` names: a container name, else the one compose
/// service of that name on the host (several projects with such a service: name the
/// container instead).
async fn server_container(host: &Host, s: &ServerRef) -> Result<ServerContainer, Error> {
    let name = s.container.as_deref().unwrap_or_default();
    let c = super::super::query::database_container(
        host,
        name,
        &s.apps,
        &format!("databases.{}.container", s.name),
    )
    .await?;
    let d = host.docker().await?;
    let inspect = crate::docker::control::inspect(&d, &c.id)
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
    let ip = inspect
        .ip(None)
        .map(str::to_string)
        .ok_or_else(|| Error::failed(format!("{} has no network address", c.name)))?;
    let cmd = inspect
        .entrypoint
        .iter()
        .chain(&inspect.cmd)
        .cloned()
        .collect();
    let env = inspect
        .env
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    Ok(ServerContainer {
        id: c.id.clone(),
        name: c.name.clone(),
        app_name: c.service.clone().unwrap_or_else(|| c.name.clone()),
        ip,
        env,
        cmd,
    })
}

/// A Postgres server opened for administration, and where its apps and opsdeck reach it.
pub(super) struct PgServer {
    pub admin: PgAdmin,
    /// As the apps on the host name it (for `DATABASE_URL`).
    pub host_side: (String, u16),
    /// As the host reaches it (for the login proof).
    pub from_host: (String, u16),
}

/// Open a Postgres server as the inventory gives it: by URL over TCP (its password in the
/// URL), or in its container with `psql` on the local socket as the container's superuser
/// (`databases.X.user`, else the container's `POSTGRES_USER`, else `postgres`), as
/// `docker compose exec postgres psql -U postgres` does: no password needed or read.
pub(super) async fn open_pg(host: &Host, s: &ServerRef) -> Result<PgServer, Error> {
    if s.url.is_some() {
        let ep = endpoint(host, s, 5432, "postgres").await?;
        let admin = PgAdmin::connect(host, &ep)
            .await
            .map_err(|e| Error::unreachable(crate::secrets::mask_text(&e.to_string())))?;
        return Ok(PgServer {
            admin,
            host_side: ep.host_side,
            from_host: ep.from_host,
        });
    }
    let c = server_container(host, s).await?;
    let user = s
        .user
        .clone()
        .or_else(|| {
            c.env
                .iter()
                .find(|(k, v)| k == "POSTGRES_USER" && !v.is_empty())
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|| "postgres".to_string());
    let d = host.docker().await?;
    let admin = PgAdmin::in_container(&d, &c.id, &user)
        .await
        .map_err(|e| Error::failed(format!("{}: {}: {e}", host.name(), c.name)))?;
    Ok(PgServer {
        admin,
        host_side: (c.app_name, 5432),
        from_host: (c.ip, 5432),
    })
}
