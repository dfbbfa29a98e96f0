//! Backups of Redis databases (`engine = "redis"` with a `container`): an RDB snapshot
//! streamed by `redis-cli --rdb -` inside the container (the server forks and sends a point-in-
//! time copy, as a replica would get it) into the storage, with the keys per DB index counted
//! just before. Verify loads the RDB into a throwaway Redis container from the same image (no
//! network, no persistence) and compares the key counts per index. Restore does the same
//! first, takes a fresh backup of what is live (so the old data is kept as an ordinary backup),
//! stops the apps and the server, puts the RDB where the server loads it from, starts the
//! server and checks the counts, then starts the apps; a failure puts the old RDB back.
//!
//! The password of a server run with `--requirepass` (or `REDIS_PASSWORD`) is read from its
//! container and handed to redis-cli through `REDISCLI_AUTH` in the exec's environment:
//! never on a command line, in a plan or in the journal.

use super::super::event::ActionEvent;
use super::super::step::{Plan, RedisRef, Step, StepKind, StorageRef};
use super::super::Action;
use super::{progress, Manifest};
use crate::docker::{control, exec, Engine};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::{Inventory, StorageKind};
use crate::names;
use crate::storage::{InContainer, Store};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

mod load;

pub(in crate::ops) use load::{restore, verify};

pub(super) fn plan(inv: &Inventory, action: &Action) -> Result<Plan, Error> {
    let (name, to) = match action {
        Action::Backup { db, to }
        | Action::Verify { db, to, .. }
        | Action::Restore { db, to, .. } => (db.as_str(), to.as_deref()),
        _ => return Err(Error::usage("not a backup action")),
    };
    let spec = &inv.databases[name];
    let Some(container) = spec.container.clone() else {
        return Err(Error::usage(format!(
            "{name}: a Redis given by `url` cannot be backed up here (its RDB is read inside its container); give `container`"
        )));
    };
    let sname = to
        .map(str::to_string)
        .or_else(|| spec.backup_to.clone())
        .ok_or_else(|| {
            Error::usage(format!(
                "{name}: no storage: pass --to STORAGE or set backup_to"
            ))
        })?;
    let st = inv.storage.get(&sname).ok_or_else(|| {
        Error::usage(names::unknown_name_message(
            "storage",
            &sname,
            inv.storage.keys().map(String::as_str),
        ))
    })?;
    if st.kind == StorageKind::HostDir {
        return Err(Error::usage(format!(
            "{name}: Redis backups go to a dir or s3 storage ({sname} is a host-dir)"
        )));
    }
    Store::check(&sname, st)?;
    let r = RedisRef {
        name: name.to_string(),
        container: container.clone(),
        apps: spec
            .apps
            .iter()
            .filter_map(|a| inv.apps.get(a).cloned())
            .collect(),
    };
    let storage = StorageRef {
        name: sname,
        spec: st.clone(),
    };
    let step = match action {
        Action::Backup { .. } => Step {
            name: format!(
                "redis-cli --rdb in {container} → {} (sha256, keys per DB index)",
                storage.location(&spec.host)
            ),
            kind: StepKind::BackupRedis { db: r, storage },
            undo: vec![],
        },
        Action::Verify { backup, .. } => {
            super::check_id(backup)?;
            Step {
                name: format!("verify {backup}: sha256, load it into a throwaway Redis, compare keys per DB index"),
                kind: StepKind::VerifyRedis { db: r, storage, id: backup.clone() },
                undo: vec![],
            }
        }
        Action::Restore { backup, .. } => {
            super::check_id(backup)?;
            Step {
                name: format!(
                    "load {backup} into a throwaway Redis and check it; back up what {container} holds now; stop {} and {container}; put the RDB in place; start and check the keys; start the apps",
                    if spec.apps.is_empty() { "no apps".to_string() } else { spec.apps.join(", ") }
                ),
                kind: StepKind::RestoreRedis { db: r, storage, id: backup.clone() },
                undo: vec![],
            }
        }
        _ => unreachable!("matched above"),
    };
    let mut plan = Plan::new(
        action,
        spec.host.clone(),
        format!("db-{name}"),
        Some(name.to_string()),
        vec![step],
    );
    if matches!(action, Action::Restore { .. }) {
        for a in &spec.apps {
            if let Some(app) = inv.apps.get(a) {
                plan.also_lock.push(super::super::step::LockRef {
                    host: app.host.clone(),
                    lock: a.clone(),
                });
            }
        }
    }
    Ok(plan)
}

/// The running server: its container, image and `REDISCLI_AUTH` environment.
pub(super) struct Live {
    pub(super) id: String,
    pub(super) image: String,
    pub(super) env: Vec<String>,
}

pub(super) async fn live(host: &Host, d: &Engine, r: &RedisRef) -> Result<Live, Error> {
    let key = format!("databases.{}.container", r.name);
    let c = super::super::query::database_container(host, &r.container, &r.apps, &key).await?;
    let i = control::inspect(d, &c.id)
        .await
        .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
    let cmd: Vec<String> = i.entrypoint.iter().chain(&i.cmd).cloned().collect();
    let env: Vec<(String, String)> = i
        .env
        .iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let password = super::super::query::redis_password(&cmd, &env);
    Ok(Live {
        id: c.id.clone(),
        image: i.image_id.unwrap_or_else(|| i.image.unwrap_or_default()),
        env: password
            .map(|p| vec![format!("REDISCLI_AUTH={p}")])
            .unwrap_or_default(),
    })
}

/// `redis-cli ARGS` in `cid`; its stdout, or an error with its (masked) stderr.
pub(super) async fn cli(
    d: &Engine,
    cid: &str,
    env: &[String],
    args: &[&str],
) -> Result<String, Error> {
    let mut argv = vec!["redis-cli".to_string(), "--no-auth-warning".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let mut s = exec::start_with_env(d, cid, argv, env.to_vec(), false)
        .await
        .map_err(|e| Error::failed(format!("redis-cli: {}", crate::docker::describe_error(&e))))?;
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(f) = s.next_frame().await {
        match f.map_err(|e| Error::failed(crate::docker::describe_error(&e)))? {
            exec::Frame::Stdout(b) => out.push_str(&String::from_utf8_lossy(&b)),
            exec::Frame::Stderr(b) => err.push_str(&String::from_utf8_lossy(&b)),
        }
    }
    let mut code = None;
    for _ in 0..50 {
        code = exec::exit_code(d, &s.id).await.ok().flatten();
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // redis-cli exits 0 on a server error reply: that is in its stdout.
    if code != Some(0)
        || out.starts_with("ERR")
        || out.starts_with("NOAUTH")
        || out.starts_with("WRONGPASS")
    {
        return Err(Error::failed(format!(
            "redis-cli {}: {}",
            args.first().copied().unwrap_or(""),
            crate::secrets::mask_text(format!("{}{}", out.trim(), err.trim()).trim())
        )));
    }
    Ok(out)
}

/// `db3:keys=1,expires=0,avg_ttl=0` lines → {"db3": 1}.
pub(super) fn parse_keyspace(info: &str) -> BTreeMap<String, i64> {
    info.lines()
        .filter_map(|l| {
            let (db, rest) = l.trim().split_once(':')?;
            let keys = rest.split(',').find_map(|kv| kv.strip_prefix("keys="))?;
            let keys: i64 = keys.parse().ok()?;
            db.starts_with("db").then(|| (db.to_string(), keys))
        })
        .collect()
}

pub(super) fn info_field(info: &str, field: &str) -> String {
    info.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(&format!("{field}:"))
                .map(str::to_string)
        })
        .unwrap_or_default()
}

pub(in crate::ops) async fn backup(
    host: &Host,
    r: &RedisRef,
    st: &StorageRef,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let store = st.open(host)?;
    let d = host.docker().await?;
    let live = live(host, &d, r).await?;
    let m = take(host, &d, &store, r, st, &live, seq, events).await?;
    let pruned = super::dump::retention(&store, &r.name, st)
        .await
        .unwrap_or_default();
    Ok(format!(
        "{}: {} bytes, sha256 {}, keys {}, in {}{}",
        m.id,
        m.size,
        &m.sha256[..16],
        keys_text(&m.tables),
        store.location(),
        if pruned.is_empty() {
            String::new()
        } else {
            format!("; retention removed {}", pruned.join(", "))
        }
    ))
}

pub(super) fn keys_text(t: &BTreeMap<String, i64>) -> String {
    if t.is_empty() {
        return "none".into();
    }
    t.iter()
        .map(|(db, n)| format!("{db}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Take and publish one backup of the live server.
#[allow(clippy::too_many_arguments)]
pub(super) async fn take(
    host: &Host,
    d: &Engine,
    store: &Store<'_>,
    r: &RedisRef,
    st: &StorageRef,
    live: &Live,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<Manifest, Error> {
    let now = chrono::Utc::now();
    let id = format!("{}-{}", r.name, now.format("%Y%m%dT%H%M%S%3fZ"));
    let tables = parse_keyspace(&cli(d, &live.id, &live.env, &["INFO", "keyspace"]).await?);
    let version = info_field(
        &cli(d, &live.id, &live.env, &["INFO", "server"]).await?,
        "redis_version",
    );
    let report = |n: u64| progress(events, seq, n);
    let staged = store
        .dump(
            InContainer {
                docker: d,
                container: &live.id,
                argv: ["redis-cli", "--no-auth-warning", "--rdb", "-"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                env: live.env.clone(),
            },
            &id,
            &report,
        )
        .await?;
    let manifest = Manifest {
        id: id.clone(),
        database: r.name.clone(),
        db_name: String::new(),
        host: host.name().to_string(),
        container: r.container.clone(),
        time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        size: staged.size,
        sha256: staged.sha256.clone(),
        format: "Redis RDB (redis-cli --rdb)".into(),
        server_version: version,
        tables,
        verified: false,
        verified_at: None,
        storage: st.name.clone(),
        kind: "redis".into(),
        files: vec![],
    };
    store.publish(&id, staged).await?;
    if let Err(e) = store.write_manifest(&manifest).await {
        let _ = store.delete(&id).await;
        return Err(e.into());
    }
    Ok(manifest)
}

pub(super) fn check_manifest(m: &Manifest, r: &RedisRef, id: &str) -> Result<(), Error> {
    if m.id != id || m.database != r.name || m.kind != "redis" {
        return Err(Error::failed(format!(
            "backup {id} is not a Redis backup of {}; nothing was changed",
            r.name
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keyspace_lines_give_keys_per_index() {
        let info =
            "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\ndb7:keys=12,expires=1,avg_ttl=5\r\n";
        let k = super::parse_keyspace(info);
        assert_eq!(k.len(), 2);
        assert_eq!((k["db0"], k["db7"]), (3, 12));
    }
}
