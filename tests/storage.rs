//! The other storage kinds, for real: `s3` against a real S3 API (moto_server on loopback:
//! multipart upload, refusal, aborted uploads) and `host-dir` on an SSH host (the dump is
//! written there by the SSH user and never crosses the connection). Every failure exits 1,
//! journals failed and publishes nothing.

use opsdeck_testkit::{self as common, pg as pgbed, s3 as s3bed, ssh as ssh_bed};

use common::*;
use pgbed::*;
use s3bed::{FlakyRelay, Moto, CREDS};
use sha2::{Digest, Sha256};
use std::process::Command;
use std::time::Duration;

fn json_with(sb: &Sandbox, env: &[(String, String)], args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let (code, out, err) = sb.run_env(env, &all);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn s3_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = CREDS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push(("AWS_REGION".into(), "us-east-1".into()));
    env
}

fn s3_config(pg: &Pg, moto: &Moto) -> String {
    format!(
        "[hosts.local]\n[databases.shopdb]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\nbackup_to = \"r2\"\n\
         [storage.r2]\nkind = \"s3\"\nbucket = \"shop-backups\"\nendpoint = \"{}\"\nprefix = \"shop/nightly/\"\n\
         [storage.gone]\nkind = \"s3\"\nbucket = \"no-such-bucket\"\nendpoint = \"{}\"\n",
        pg.name,
        moto.endpoint(),
        moto.endpoint()
    )
}

#[test]
fn s3_backups_are_multipart_uploads_that_verify_and_restore() {
    let moto = Moto::start();
    moto.create_bucket("shop-backups");
    let pg = pg();
    // A dump larger than one 8 MiB part.
    pg.sql(
        "shop",
        "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g*3)::text) || md5((g*7)::text) AS x FROM generate_series(1, 300000) g",
    );
    let sb = Sandbox::new();
    sb.write("opsdeck.toml", &s3_config(&pg, &moto));
    let env = s3_env();
    let seeded = pg.checksum();
    let (code, out, err) = sb.run_env(&env, &["backup", "shopdb"]);
    assert_eq!(code, 0, "{out}{err}");
    let list = json_with(&sb, &env, &["backups", "shopdb"]);
    let b = list[0].clone();
    let id = b["id"].as_str().expect("id").to_string();
    assert_eq!(b["storage"], "r2");
    assert_eq!(b["tables"]["public.big"], 300000);
    // In the bucket, under the prefix: the dump and its manifest, nothing half-done.
    let dump_key = format!("shop/nightly/{id}.dump");
    let mut keys: Vec<String> = moto
        .objects("shop-backups")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![dump_key.clone(), format!("shop/nightly/{id}.json")]
    );
    assert_eq!(moto.pending_uploads("shop-backups"), 0);
    let bytes = moto.get("shop-backups", &dump_key);
    assert_eq!(bytes.len() as u64, b["size"].as_u64().expect("size"));
    assert!(bytes.len() > 8 << 20, "more than one part: {}", bytes.len());
    assert_eq!(
        format!("{:x}", Sha256::digest(&bytes)),
        b["sha256"].as_str().expect("sha")
    );
    let etag = moto.etag("shop-backups", &dump_key);
    let parts: u32 = etag
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0);
    assert!(parts >= 2, "a multipart upload: ETag {etag}");
    // Verify (downloads, hashes, restores into a scratch database), then restore.
    let (code, out, err) = sb.run_env(&env, &["verify", "shopdb", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        json_with(&sb, &env, &["backups", "shopdb"])[0]["verified"],
        true
    );
    pg.sql(
        "shop",
        "DELETE FROM orders WHERE id % 3 = 0; UPDATE users SET email = 'changed'",
    );
    assert_ne!(pg.checksum(), seeded);
    let (code, out, err) = sb.run_env(&env, &["restore", "shopdb", &id, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(pg.checksum(), seeded, "the data equals the seeded data");
    assert_eq!(pg.sql("shop", "SELECT count(*) FROM big"), "300000");
    // The object damaged in the bucket: verification fails and the backup is no longer
    // counted as verified.
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    let f = sb.path().join("damaged.dump");
    std::fs::write(&f, &damaged).expect("write");
    moto.put("shop-backups", &dump_key, &f);
    let (code, _, err) = sb.run_env(&env, &["verify", "shopdb", &id]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("checksum mismatch"), "{err}");
    assert_eq!(last_outcome(&sb), "failed");
    assert_eq!(
        json_with(&sb, &env, &["backups", "shopdb"])[0]["verified"],
        false
    );
}

#[test]
fn s3_refusals_and_failed_dumps_publish_nothing() {
    let moto = Moto::start();
    moto.create_bucket("shop-backups");
    let pg = pg();
    let sb = Sandbox::new();
    sb.write("opsdeck.toml", &s3_config(&pg, &moto));
    let env = s3_env();
    // No credentials: a usage error naming the variables.
    let (code, _, err) = sb.run_env(&[], &["backup", "shopdb"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    // The bucket refuses the upload.
    let (code, _, err) = sb.run_env(&env, &["backup", "shopdb", "--to", "gone"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("NoSuchBucket"), "{err}");
    assert_eq!(last_outcome(&sb), "failed");
    // pg_dump killed while parts are uploading: the upload is aborted, nothing is visible.
    pg.sql(
        "shop",
        "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g*7)::text) || md5((g*13)::text) AS x FROM generate_series(1, 1500000) g",
    );
    let backup = || {
        let mut cmd = sb.opsdeck_env(&env);
        cmd.args(["backup", "shopdb"]);
        start_streaming(cmd, "pg_dump uploading", || {
            pg.pg_dump_running() && moto.pending_uploads("shop-backups") == 1
        })
    };
    let child = backup();
    std::thread::sleep(Duration::from_millis(500));
    assert!(pg.kill_pg_dump() > 0, "pg_dump was running");
    let (code, err) = finish(child);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("pg_dump exited"), "{err}");
    assert!(
        moto.objects("shop-backups").is_empty(),
        "{:?}",
        moto.objects("shop-backups")
    );
    assert_eq!(
        moto.pending_uploads("shop-backups"),
        0,
        "the upload was aborted"
    );
    assert_eq!(last_outcome(&sb), "failed");
    // The S3 server goes away mid-upload: a clear failure, not a hang and not a success.
    let child = backup();
    drop(moto);
    let (code, err) = finish(child);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("connect"), "{err}");
    assert_eq!(last_outcome(&sb), "failed");
}

/// The database and the storage on an SSH host: the dump is written on that host (files owned
/// by the SSH user, mode 0600), verified and restored there.
#[test]
fn host_dir_backups_stay_on_the_database_host() {
    let bed = ssh_bed::Bed::get();
    let sshd = ssh_bed::Sshd::start(&bed, true);
    let pg = pg();
    let sb = Sandbox::new();
    let store = sb.host_writable(&["onhost"]).remove(0);
    let full = sb.path().join("full");
    std::fs::create_dir_all(&full).expect("mkdir");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.remote]\nssh = \"tb\"\n[databases.shopdb]\nhost = \"remote\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\nbackup_to = \"onhost\"\n\
             [storage.onhost]\nkind = \"host-dir\"\npath = \"{}\"\n[storage.full]\nkind = \"host-dir\"\npath = \"{}\"\n",
            pg.name,
            store.join("shop").display(),
            full.display()
        ),
    );
    let env = sshd.client_env(&sb, &bed);
    let seeded = pg.checksum();
    // A partial left on the host by an earlier backup that died: removed by the next one.
    let dir = store.join("shop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    chmod(&dir, "0777");
    let stale = dir.join("shopdb-20200101T000000000Z.dump.partial");
    std::fs::write(&stale, "x").expect("write");
    let (code, out, err) = sb.run_env(&env, &["backup", "shopdb"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!stale.exists(), "the dead backup's partial was removed");
    let list = json_with(&sb, &env, &["backups", "shopdb"]);
    let id = list[0]["id"].as_str().expect("id").to_string();
    assert_eq!(
        files(&dir),
        vec![format!("{id}.dump"), format!("{id}.json")]
    );
    let dump = dir.join(format!("{id}.dump"));
    assert_eq!(sha256sum(&dump), list[0]["sha256"].as_str().expect("sha"));
    // Written on the host by the SSH user, readable by nobody else.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&dump).expect("stat");
    let deploy_uid = String::from_utf8_lossy(
        &Command::new("id")
            .args(["-u", &bed.user])
            .output()
            .expect("id")
            .stdout,
    )
    .trim()
    .parse::<u32>()
    .expect("uid");
    assert_eq!(
        meta.uid(),
        deploy_uid,
        "the dump was written by the SSH user"
    );
    assert_eq!(meta.mode() & 0o777, 0o600);
    let (code, out, err) = sb.run_env(&env, &["verify", "shopdb", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        json_with(&sb, &env, &["backups", "shopdb"])[0]["verified"],
        true
    );
    pg.sql(
        "shop",
        "DELETE FROM orders WHERE id > 100; DELETE FROM users",
    );
    let (code, out, err) = sb.run_env(&env, &["restore", "shopdb", &id, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(pg.checksum(), seeded, "the data equals the seeded data");

    // A full disk on the host: 256 KiB tmpfs, a larger dump.
    pg.sql("shop", "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g*7)::text) AS x FROM generate_series(1, 100000) g");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k,mode=1777", "tmpfs"])
        .arg(&full)
        .status()
        .expect("mount")
        .success();
    assert!(mounted, "mounting a small tmpfs for the disk-full case");
    let (code, _, err) = sb.run_env(&env, &["backup", "shopdb", "--to", "full"]);
    let left = files(&full);
    let _ = Command::new("umount").arg(&full).status();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(left.is_empty(), "nothing published, no partial: {left:?}");
    assert_eq!(last_outcome(&sb), "failed");

    // pg_dump killed mid-stream on the host.
    pg.sql(
        "shop",
        "INSERT INTO big SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 400000) g",
    );
    let mut cmd = sb.opsdeck_env(&env);
    cmd.args(["backup", "shopdb"]);
    let child = start_streaming(cmd, "the dump to be written on the host", || {
        has_partial(&dir) && pg.pg_dump_running()
    });
    assert!(pg.kill_pg_dump() > 0);
    let (code, err) = finish(child);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("pg_dump exited"), "{err}");
    assert_eq!(
        files(&dir),
        vec![format!("{id}.dump"), format!("{id}.json")],
        "only the earlier backup; no partial"
    );
    assert_eq!(last_outcome(&sb), "failed");
}

/// `host-dir` with the SSH connection cut while the dump is written on the host: the backup
/// fails (exit 1, journaled), nothing is published (the pipeline on the host can never
/// publish: that is a separate step opsdeck takes after it), and the next backup over a fresh
/// connection removes what the cut one left and publishes a whole one.
#[test]
fn host_dir_backup_with_the_ssh_connection_cut_publishes_nothing() {
    let bed = ssh_bed::Bed::get();
    let sshd = ssh_bed::Sshd::start(&bed, true);
    let pg = pg();
    pg.sql(
        "shop",
        "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g*7)::text) || md5((g*13)::text) AS x FROM generate_series(1, 1500000) g",
    );
    let sb = Sandbox::new();
    let dir = sb.host_writable(&["onhost"]).remove(0);
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.remote]\nssh = \"tb\"\n[databases.shopdb]\nhost = \"remote\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\nbackup_to = \"onhost\"\n\
             [storage.onhost]\nkind = \"host-dir\"\npath = \"{}\"\n",
            pg.name,
            dir.display()
        ),
    );
    let env = sshd.client_env(&sb, &bed);
    let mut cmd = sb.opsdeck_env(&env);
    cmd.args(["backup", "shopdb"]);
    let child = start_streaming(cmd, "the dump to be written on the host", || {
        has_partial(&dir)
    });
    let cut = sshd.cut_sessions();
    assert!(cut > 0, "there were sessions to cut");
    let (code, err) = finish(child);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(last_outcome(&sb), "failed");
    let left = files(&dir);
    assert!(
        left.iter().all(|f| f.ends_with(".partial")),
        "nothing published: {left:?}"
    );
    // Whatever the host's pipeline does after the cut, it never publishes.
    wait_for(
        "pg_dump of the cut backup to end",
        Duration::from_secs(120),
        || (!pg.pg_dump_running()).then_some(()),
    );
    let left = files(&dir);
    assert!(
        left.iter().all(|f| f.ends_with(".partial")),
        "nothing published after the pipeline ended: {left:?}"
    );
    // A fresh connection: the next backup removes the leftover and publishes a whole one.
    let (code, _, err) = sb.run_env(&env, &["backup", "shopdb"]);
    assert_eq!(code, 0, "{err}");
    let list = json_with(&sb, &env, &["backups", "shopdb"]);
    let id = list[0]["id"].as_str().expect("id").to_string();
    assert_eq!(
        files(&dir),
        vec![format!("{id}.dump"), format!("{id}.json")]
    );
    assert_eq!(
        sha256sum(&dir.join(format!("{id}.dump"))),
        list[0]["sha256"].as_str().expect("sha")
    );
}

/// A part whose connection is reset mid-request is sent again and the backup completes whole;
/// a part that keeps failing fails the backup after three sends, and the upload is aborted.
#[test]
fn s3_parts_are_sent_again_after_a_dropped_connection() {
    let moto = Moto::start();
    moto.create_bucket("shop-backups");
    let pg = pg();
    // Three parts of 8 MiB.
    pg.sql(
        "shop",
        "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g*3)::text) || md5((g*7)::text) AS x FROM generate_series(1, 300000) g",
    );
    let once = FlakyRelay::start(moto.port, "partNumber=2", 1);
    let always = FlakyRelay::start(moto.port, "partNumber=2", usize::MAX);
    let sb = Sandbox::new();
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[databases.shopdb]\nhost = \"local\"\nengine = \"postgres\"\ncontainer = \"{}\"\ndatabase = \"shop\"\nbackup_to = \"once\"\n\
             [storage.once]\nkind = \"s3\"\nbucket = \"shop-backups\"\nendpoint = \"{}\"\n\
             [storage.always]\nkind = \"s3\"\nbucket = \"shop-backups\"\nendpoint = \"{}\"\n",
            pg.name,
            once.endpoint(),
            always.endpoint()
        ),
    );
    let env = s3_env();
    let (code, out, err) = sb.run_env(&env, &["backup", "shopdb"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(once.dropped(), 1, "part 2's first connection was dropped");
    let list = json_with(&sb, &env, &["backups", "shopdb"]);
    let id = list[0]["id"].as_str().expect("id").to_string();
    let dump = moto.get("shop-backups", &format!("{id}.dump"));
    assert_eq!(dump.len() as u64, list[0]["size"].as_u64().expect("size"));
    assert_eq!(
        format!("{:x}", Sha256::digest(&dump)),
        list[0]["sha256"].as_str().expect("sha")
    );
    assert!(moto
        .etag("shop-backups", &format!("{id}.dump"))
        .ends_with("-3"));
    let (code, out, err) = sb.run_env(&env, &["verify", "shopdb", &id]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, _, err) = sb.run_env(&env, &["backup", "shopdb", "--to", "always"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("part 2") && err.contains("sent 3 times"),
        "{err}"
    );
    assert_eq!(always.dropped(), 3);
    assert_eq!(last_outcome(&sb), "failed");
    assert_eq!(
        moto.pending_uploads("shop-backups"),
        0,
        "the upload was aborted"
    );
    assert_eq!(
        moto.objects("shop-backups").len(),
        2,
        "only the first backup: {:?}",
        moto.objects("shop-backups")
    );
}
