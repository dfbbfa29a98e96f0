//! Redis administration: one DB index per app, recorded on the server itself (a registry
//! hash in DB 0 every operator can read), and a per-app ACL user where the server has ACLs.

use crate::host::{Forward, Host};
use serde::Serialize;

/// Where assignments are recorded, in DB 0.
pub const REGISTRY_KEY: &str = "opsdeck:db-index";

/// Claim index ARGV[2] for app ARGV[1] in the registry KEYS[1], atomically: 0 if the app
/// has an index already, -1 if another app holds this one, 1 when claimed.
static CLAIM: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {0} end
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  if v == ARGV[2] then return {-1} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1}
",
    )
});

pub struct RedisAdmin {
    conn: redis::aio::MultiplexedConnection,
    _forward: Forward,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Assignment {
    pub app: String,
    pub index: u32,
    /// A new ACL user was created or its password set (the URL carries it).
    pub password: Option<String>,
    pub acl: bool,
    pub existed: bool,
}

/// What went wrong talking to a Redis server, said for the operator.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The tunnel to the server (over the host) could not be opened.
    #[error("{0}")]
    Forward(#[from] crate::host::HostError),
    #[error("connecting to redis at {host}:{port}: timed out")]
    ConnectTimeout { host: String, port: u16 },
    #[error("connecting to redis at {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: redis::RedisError,
    },
    /// A command the server refused or could not answer.
    #[error("{0}")]
    Command(#[from] redis::RedisError),
    #[error("no empty, unassigned DB index left (the server has {databases})")]
    Full { databases: u32 },
}

impl RedisAdmin {
    pub async fn connect(
        host: &Host,
        addr: (&str, u16),
        password: Option<&str>,
    ) -> Result<Self, RedisError> {
        let forward = host.forward_tcp(addr.0, addr.1).await?;
        // Percent-encoded: a password with `@`, `/` or `#` must not change the URL's shape.
        let auth = password
            .map(|p| {
                let enc: String = p
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                format!(":{enc}@")
            })
            .unwrap_or_default();
        let url = format!("redis://{auth}{}/0", forward.addr());
        let client = redis::Client::open(url)?;
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(15),
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| RedisError::ConnectTimeout {
            host: addr.0.to_string(),
            port: addr.1,
        })?
        .map_err(|source| RedisError::Connect {
            host: addr.0.to_string(),
            port: addr.1,
            source,
        })?;
        Ok(Self {
            conn,
            _forward: forward,
        })
    }

    async fn cmd<T: redis::FromRedisValue>(&self, c: &mut redis::Cmd) -> Result<T, RedisError> {
        let mut conn = self.conn.clone();
        Ok(c.query_async(&mut conn).await?)
    }

    /// The index an app has, if any.
    pub async fn assigned(&self, app: &str) -> Result<Option<u32>, RedisError> {
        self.cmd(redis::cmd("HGET").arg(REGISTRY_KEY).arg(app))
            .await
    }

    pub async fn registry(&self) -> Result<Vec<(String, u32)>, RedisError> {
        let mut v: Vec<(String, u32)> = self.cmd(redis::cmd("HGETALL").arg(REGISTRY_KEY)).await?;
        v.sort_by_key(|(_, i)| *i);
        Ok(v)
    }

    async fn databases(&self) -> Result<u32, RedisError> {
        let v: Vec<String> = self
            .cmd(redis::cmd("CONFIG").arg("GET").arg("databases"))
            .await?;
        Ok(v.get(1).and_then(|n| n.parse().ok()).unwrap_or(16))
    }

    async fn dbsize(&self, index: u32) -> Result<u64, RedisError> {
        // A fresh connection per index: SELECT is per connection.
        let mut conn = self.conn.clone();
        redis::pipe()
            .cmd("SELECT")
            .arg(index)
            .ignore()
            .cmd("DBSIZE")
            .cmd("SELECT")
            .arg(0)
            .ignore()
            .query_async::<(u64,)>(&mut conn)
            .await
            .map(|(n,)| n)
            .map_err(RedisError::from)
    }

    async fn has_acl(&self) -> bool {
        self.cmd::<String>(redis::cmd("ACL").arg("WHOAMI"))
            .await
            .is_ok()
    }

    /// Give `app` an empty, unassigned index (1.. ; 0 holds the registry). Idempotent: an app
    /// that has one keeps it; its password changes only when `rotate`.
    pub async fn assign(
        &self,
        app: &str,
        password: &str,
        rotate: bool,
    ) -> Result<Assignment, RedisError> {
        let acl = self.has_acl().await;
        if let Some(index) = self.assigned(app).await? {
            let mut password_out = None;
            if rotate && acl {
                self.set_acl_user(app, password).await?;
                password_out = Some(password.to_string());
            }
            return Ok(Assignment {
                app: app.into(),
                index,
                password: password_out,
                acl,
                existed: true,
            });
        }
        let taken: Vec<u32> = self.registry().await?.into_iter().map(|(_, i)| i).collect();
        let n = self.databases().await?;
        for index in 1..n {
            if taken.contains(&index) || self.dbsize(index).await? > 0 {
                continue;
            }
            // One atomic claim on the server (a script runs alone): the app has no index yet
            // and no other app holds this one. Two apps assigning at once, under different
            // locks, cannot both take it.
            let claim: Vec<i64> = CLAIM
                .key(REGISTRY_KEY)
                .arg(app)
                .arg(index)
                .invoke_async(&mut self.conn.clone())
                .await?;
            match claim.as_slice() {
                [1] => {}
                // Another run gave this app an index meanwhile: report that one.
                [0] => return Box::pin(self.assign(app, password, rotate)).await,
                // Another app took this index meanwhile: try the next.
                _ => continue,
            }
            let mut password_out = None;
            if acl {
                self.set_acl_user(app, password).await?;
                password_out = Some(password.to_string());
            }
            return Ok(Assignment {
                app: app.into(),
                index,
                password: password_out,
                acl,
                existed: false,
            });
        }
        Err(RedisError::Full { databases: n })
    }

    /// A user limited to `APP:*` keys, without FLUSHALL/FLUSHDB or other dangerous commands.
    async fn set_acl_user(&self, app: &str, password: &str) -> Result<(), RedisError> {
        self.cmd::<String>(
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(app)
                .arg("reset")
                .arg("on")
                .arg(format!(">{password}"))
                .arg(format!("~{app}:*"))
                .arg(format!("&{app}:*"))
                .arg("+@all")
                .arg("-@dangerous")
                .arg("-flushall")
                .arg("-flushdb")
                .arg("-swapdb")
                .arg("-move"),
        )
        .await
        .map(|_| ())
    }
}
