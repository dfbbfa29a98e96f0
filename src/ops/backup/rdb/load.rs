//! Loading an RDB: into a throwaway Redis (verify, and the first stage of restore), and into
//! the live server with its apps stopped (restore), the data from before kept as a backup.

use super::super::super::event::ActionEvent;
use super::super::super::step::{RedisRef, StorageRef};
use super::super::{progress, Manifest};
use super::{check_manifest, cli, info_field, keys_text, live, parse_keyspace, take};
use crate::docker::archive;
use crate::docker::{control, Engine};
use crate::error::Error;
use crate::host::Host;
use crate::storage::Store;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Send the stored RDB `id` as the file `path` (in a tar) into container `cid` at `/`; its sha256.
async fn put_rdb(
    d: &Engine,
    cid: &str,
    store: &Store<'_>,
    m: &Manifest,
    path: &str,
    report: crate::storage::Progress<'_>,
) -> Result<String, Error> {
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    let mut reader = store.reader(&m.id).await?;
    let header =
        crate::storage::tar_index::file_header(path, m.size, 0o644).map_err(Error::failed)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let send = async move {
        let _ = tx.send(Ok(header.into())).await;
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return Err(format!("reading backup {}: {e}", m.id));
                }
            };
            if n == 0 {
                break;
            }
            if size + n as u64 > m.size {
                let _ = tx
                    .send(Err(std::io::Error::other("longer than its manifest")))
                    .await;
                return Err(format!("backup {} is longer than its manifest says: it is corrupt; nothing was changed", m.id));
            }
            hasher.update(&buf[..n]);
            size += n as u64;
            report(size);
            if tx
                .send(Ok(bytes::Bytes::copy_from_slice(&buf[..n])))
                .await
                .is_err()
            {
                break;
            }
        }
        if size != m.size {
            let _ = tx
                .send(Err(std::io::Error::other("shorter than its manifest")))
                .await;
            return Err(format!("backup {} is {size} bytes, its manifest says {}: it is corrupt; nothing was changed", m.id, m.size));
        }
        let _ = tx
            .send(Ok(crate::storage::tar_index::trailer(size).into()))
            .await;
        Ok(format!("{:x}", hasher.finalize()))
    };
    let (sent, up) = tokio::join!(send, archive::upload(d, cid, "/", body));
    let sha = sent.map_err(Error::failed)?;
    up.map_err(|e| {
        Error::failed(format!(
            "putting backup {} in place: {}",
            m.id,
            crate::docker::describe_error(&e)
        ))
    })?;
    if sha != m.sha256 {
        return Err(Error::failed(format!(
            "backup {}: its sha256 is {}, the manifest says {}: it is corrupt; nothing was changed",
            m.id,
            &sha[..16],
            &m.sha256[..m.sha256.len().min(16)]
        )));
    }
    Ok(sha)
}

/// Wait until the server in `cid` answers and has loaded its data; its keys per index.
async fn loaded(
    d: &Engine,
    cid: &str,
    env: &[String],
    limit: Duration,
) -> Result<BTreeMap<String, i64>, Error> {
    let start = std::time::Instant::now();
    let mut last = String::new();
    while start.elapsed() < limit {
        match cli(d, cid, env, &["INFO", "persistence"]).await {
            Ok(info) if info_field(&info, "loading") == "0" => {
                return Ok(parse_keyspace(
                    &cli(d, cid, env, &["INFO", "keyspace"]).await?,
                ));
            }
            Ok(_) => last = "still loading".into(),
            Err(e) => last = e.message,
        }
        if let Ok(i) = control::inspect(d, cid).await {
            if !i.running {
                return Err(Error::failed(format!(
                    "the Redis server exited (status {}) while loading the RDB",
                    i.exit_code.unwrap_or(-1)
                )));
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(Error::failed(format!(
        "the Redis server did not load the RDB within {}s ({last})",
        limit.as_secs()
    )))
}

/// Load the backup into a throwaway server from `image`; its key counts equal the manifest's.
async fn check_in_scratch(
    d: &Engine,
    image: &str,
    store: &Store<'_>,
    r: &RedisRef,
    m: &Manifest,
    report: crate::storage::Progress<'_>,
) -> Result<(), Error> {
    let name = format!(
        "opsdeck-redis-verify-{}-{}",
        r.name,
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3f")
    );
    let cmd: Vec<String> = [
        "redis-server",
        "--dir",
        "/opsdeck-verify",
        "--dbfilename",
        "dump.rdb",
        "--appendonly",
        "no",
        "--save",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cid = archive::create(d, &name, image, Some(&cmd), &[])
        .await
        .map_err(|e| {
            Error::failed(format!(
                "creating a throwaway Redis from {image}: {}",
                crate::docker::describe_error(&e)
            ))
        })?;
    let done = async {
        put_rdb(d, &cid, store, m, "opsdeck-verify/dump.rdb", report).await?;
        control::start(d, &cid).await.map_err(|e| {
            Error::failed(format!(
                "starting the throwaway Redis: {}",
                crate::docker::describe_error(&e)
            ))
        })?;
        let got = loaded(d, &cid, &[], Duration::from_secs(120)).await?;
        if got != m.tables {
            return Err(Error::failed(format!(
                "backup {}: loaded, it holds keys {}, the manifest says {}",
                m.id,
                keys_text(&got),
                keys_text(&m.tables)
            )));
        }
        Ok(())
    }
    .await;
    let _ = control::remove_forced(d, &cid).await;
    done
}

pub(in crate::ops) async fn verify(
    host: &Host,
    r: &RedisRef,
    st: &StorageRef,
    id: &str,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let store = st.open(host)?;
    let mut m = store.read_manifest(id).await?;
    check_manifest(&m, r, id)?;
    let d = host.docker().await?;
    let live = live(host, &d, r).await?;
    let report = |n: u64| progress(events, seq, n);
    check_in_scratch(&d, &live.image, &store, r, &m, &report).await?;
    m.verified = true;
    m.verified_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    store.write_manifest(&m).await?;
    Ok(format!(
        "{id}: sha256 matches; loaded into a throwaway Redis, keys {} as the manifest says; marked verified",
        keys_text(&m.tables)
    ))
}

pub(in crate::ops) async fn restore(
    host: &Host,
    r: &RedisRef,
    st: &StorageRef,
    id: &str,
    seq: usize,
    events: &UnboundedSender<ActionEvent>,
) -> Result<String, Error> {
    let store = st.open(host)?;
    let m = store.read_manifest(id).await?;
    check_manifest(&m, r, id)?;
    let d = host.docker().await?;
    let live = live(host, &d, r).await?;
    let config = |k: &'static str| {
        let (d, id, env) = (&d, live.id.clone(), live.env.clone());
        async move {
            let out = cli(d, &id, &env, &["CONFIG", "GET", k]).await?;
            Ok::<_, Error>(out.lines().nth(1).unwrap_or_default().trim().to_string())
        }
    };
    if config("appendonly").await? == "yes" {
        return Err(Error::failed(format!(
            "{}: appendonly is on, so the server would load its AOF, not an RDB; turn it off for the restore (and on again after); nothing was changed",
            r.container
        )));
    }
    let (dir, file) = (config("dir").await?, config("dbfilename").await?);
    if dir.is_empty() || file.is_empty() || file.contains('/') {
        return Err(Error::failed(format!(
            "{}: cannot tell where it loads its RDB from (dir {dir:?}, dbfilename {file:?})",
            r.container
        )));
    }
    let report = |n: u64| progress(events, seq, n);
    check_in_scratch(&d, &live.image, &store, r, &m, &report).await?;
    // What is live now, kept as an ordinary backup (restorable like any other).
    let kept = take(host, &d, &store, r, st, &live, seq, events).await?;
    let apps = super::super::restore::app_containers(host, &d, &r.apps).await?;
    for (cid, _) in &apps {
        let _ = control::stop(&d, cid, Some(30)).await;
    }
    let path = format!(
        "{}/{file}",
        dir.trim_end_matches('/').trim_start_matches('/')
    );
    let swap = |from: Manifest| {
        let (d, store, live, path, report) = (&d, &store, &live, path.clone(), &report);
        async move {
            control::stop(d, &live.id, Some(30)).await.map_err(|e| {
                Error::failed(format!(
                    "stopping the server: {}",
                    crate::docker::describe_error(&e)
                ))
            })?;
            put_rdb(d, &live.id, store, &from, &path, report).await?;
            control::start(d, &live.id).await.map_err(|e| {
                Error::failed(format!(
                    "starting the server: {}",
                    crate::docker::describe_error(&e)
                ))
            })?;
            let got = loaded(d, &live.id, &live.env, Duration::from_secs(300)).await?;
            if got != from.tables {
                return Err(Error::failed(format!(
                    "after the restore the server holds keys {}, the backup {} has {}",
                    keys_text(&got),
                    from.id,
                    keys_text(&from.tables)
                )));
            }
            Ok(())
        }
    };
    let done = match swap(m.clone()).await {
        Ok(()) => Ok(()),
        Err(e) => Err(match swap(kept.clone()).await {
            Ok(()) => Error::failed(format!(
                "{}; the data from before was put back (backup {})",
                e.message, kept.id
            )),
            Err(b) => Error::failed(format!(
                "{}; putting the data from before back failed too ({}): it is backup {}",
                e.message, b.message, kept.id
            )),
        }),
    };
    let mut not_started = Vec::new();
    for (cid, name) in &apps {
        if let Err(e) = control::start(&d, cid).await {
            not_started.push(format!("{name}: {}", crate::docker::describe_error(&e)));
        } else if let Err(e) =
            super::super::restore::wait_running(&d, cid, Duration::from_secs(300)).await
        {
            not_started.push(format!("{name}: {e}"));
        }
    }
    done?;
    if !not_started.is_empty() {
        return Err(Error::failed(format!(
            "{id} is restored, but apps did not come back: {}",
            not_started.join("; ")
        )));
    }
    Ok(format!(
        "{id} restored into {} (keys {}); what it held before is backup {}",
        r.container,
        keys_text(&m.tables),
        kept.id
    ))
}
