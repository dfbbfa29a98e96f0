//! Backups of `[volumes.NAME]` for real: a compose app's named volume (the project named in
//! `.env`, as compose names its volumes `PROJECT_data`) and a host directory bind-mounted
//! into a container, each seeded with what real data has (unicode names, symlinks, a hard
//! link, empty directories, odd permissions and owners, a file of tens of MB), backed up to a
//! `dir` and to an `s3` storage (moto), verified, changed, restored: every entry (path, kind,
//! mode, owner, sha256) equals the original; the old contents are kept; a corrupted backup is
//! refused at the scratch stage with the live data untouched; the same over SSH.

use opsdeck_testkit::{self as common, pg::sha256sum, s3 as s3bed, ssh as ssh_bed};

use common::*;
use s3bed::{Moto, CREDS};
use std::path::{Path, PathBuf};

const BOX: &str = "opsdeck-test/busybox:v1";

/// Every entry under the mount `/d` of `mount` (a `VOLUME:/d` or `DIR:/d` argument): path,
/// type, mode, owner, link target, sha256 of files; sorted.
fn tree(mount: &str) -> Vec<String> {
    let script = r#"cd /d && find . | sort | while IFS= read -r f; do
  t=$(stat -c '%F %a %u:%g' "$f")
  if [ -L "$f" ]; then echo "$f $t -> $(readlink "$f")";
  elif [ -f "$f" ]; then echo "$f $t $(sha256sum < "$f" | cut -c1-64)";
  else echo "$f $t"; fi
done"#;
    docker(&["run", "--rm", "-v", mount, BOX, "sh", "-c", script])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Real-looking contents: unicode names, a symlink, a hard link, empty dirs, modes, owners,
/// and a 12 MB file (several MiB chunks of the stream, and more than one S3 part).
fn seed(mount: &str) {
    docker(&[
        "run",
        "--rm",
        "-v",
        mount,
        BOX,
        "sh",
        "-c",
        "set -e; mkdir -p '/d/Fotos – 2026/été' /d/empty/deeper /d/private; \
         echo 'bonjour' > '/d/Fotos – 2026/été/café ☕.txt'; \
         printf 'secret\\n' > /d/private/key; chmod 600 /d/private/key; chmod 750 /d/private; \
         chown -R 1000:1000 /d/private; \
         ln -s 'Fotos – 2026/été/café ☕.txt' /d/latest; ln /d/private/key /d/key-hardlink; \
         printf '#!/bin/sh\\n' > /d/run.sh; chmod 4755 /d/run.sh; \
         dd if=/dev/urandom of=/d/big.bin bs=1M count=12 2>/dev/null; : > /d/empty.txt",
    ]);
}

fn change(mount: &str) {
    docker(&[
        "run", "--rm", "-v", mount, BOX, "sh", "-c",
        "echo changed > '/d/Fotos – 2026/été/café ☕.txt'; rm -rf /d/empty /d/latest; \
         chmod 644 /d/private/key; echo added > /d/new.txt; dd if=/dev/zero of=/d/big.bin bs=1k count=1 conv=notrunc 2>/dev/null",
    ]);
}

fn json(sb: &Sandbox, env: &[(String, String)], args: &[&str]) -> serde_json::Value {
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

/// The newest backup of `name` in `storage`: its id and manifest.
fn newest(
    sb: &Sandbox,
    env: &[(String, String)],
    name: &str,
    storage: &str,
) -> (String, serde_json::Value) {
    let list = json(sb, env, &["backups", name]);
    let b = list
        .as_array()
        .expect("list")
        .iter()
        .find(|b| b["storage"] == storage)
        .unwrap_or_else(|| panic!("no backup in {storage}: {list}"))
        .clone();
    (b["id"].as_str().expect("id").to_string(), b)
}

fn volume_exists(name: &str) -> bool {
    docker(&["volume", "ls", "-q"]).lines().any(|l| l == name)
}

struct VolumeGuard(Vec<String>);
impl Drop for VolumeGuard {
    fn drop(&mut self) {
        for v in &self.0 {
            let _ = std::process::Command::new("docker")
                .args(["volume", "rm", "-f", v])
                .output();
        }
        // What a restore kept, and any scratch left by a failed test.
        if let Ok(out) = std::process::Command::new("docker")
            .args(["volume", "ls", "-q"])
            .output()
        {
            for v in String::from_utf8_lossy(&out.stdout).lines() {
                if self
                    .0
                    .iter()
                    .any(|k| v.starts_with(&format!("{k}-before-restore-")))
                {
                    let _ = std::process::Command::new("docker")
                        .args(["volume", "rm", "-f", v])
                        .output();
                }
            }
        }
    }
}

#[test]
fn a_compose_apps_named_volume_round_trips_through_dir_and_s3() {
    require_docker();
    let moto = Moto::start();
    moto.create_bucket("vols");
    let sb = Sandbox::new();
    let project = unique("vol");
    let dir = sb.path().join("sites").join("nick");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!("services:\n  web:\n    image: {BOX}\n    volumes:\n      - uploads:/www/uploads\nvolumes:\n  uploads: {{}}\n"),
    )
    .expect("compose");
    std::fs::write(
        dir.join(".env"),
        format!("COMPOSE_PROJECT_NAME={project}\n"),
    )
    .expect(".env");
    let _compose = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    let out = compose(&dir, &project, &["up", "-d"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vol = format!("{project}_uploads");
    let _vols = VolumeGuard(vec![vol.clone()]);
    seed(&format!("{vol}:/d"));
    let original = tree(&format!("{vol}:/d"));
    assert!(
        original.iter().any(|l| l.contains("café ☕.txt")),
        "{original:?}"
    );
    let store = sb.path().join("backups");
    let config = |backup_to: &str| {
        format!(
            "[hosts.local]\n[apps.nick]\nhost = \"local\"\ndir = \"{}\"\nservices = [\"web\"]\nhealth = {{ path = \"/health\", port = 80, timeout = \"30s\" }}\n\
             [storage.local]\nkind = \"dir\"\npath = \"{}\"\nkeep_count = 5\n\
             [storage.r2]\nkind = \"s3\"\nbucket = \"vols\"\nendpoint = \"{}\"\nprefix = \"v/\"\n\
             [volumes.uploads]\nhost = \"local\"\nvolume = \"{vol}\"\napps = [\"nick\"]\nbackup_to = \"{backup_to}\"\n",
            dir.display(),
            store.display(),
            moto.endpoint()
        )
    };
    let env = s3_env();
    for storage in ["local", "r2"] {
        // `backups NAME` lists the volume's own storage: point it at the one under test.
        sb.write("opsdeck.toml", &config(storage));
        let (code, out, err) = sb.run_env(&env, &["backup", "uploads", "--to", storage]);
        assert_eq!(code, 0, "backup to {storage}: {out}{err}");
        let (id, m) = newest(&sb, &env, "uploads", storage);
        assert_eq!(m["kind"], "volume");
        assert_eq!(m["verified"], false);
        // The manifest lists every entry with its checksum: the big file and the unicode one.
        let files = m["files"].as_array().expect("files");
        let big = files
            .iter()
            .find(|f| f["path"] == "big.bin")
            .expect("big.bin listed");
        assert_eq!(big["size"], 12 << 20);
        assert_eq!(big["sha256"].as_str().map(str::len), Some(64));
        let link = files
            .iter()
            .find(|f| f["path"] == "latest")
            .expect("symlink listed");
        assert_eq!(link["kind"], "symlink");
        assert_eq!(link["link"], "Fotos – 2026/été/café ☕.txt");
        let key = files
            .iter()
            .find(|f| f["path"] == "private/key")
            .expect("key listed");
        assert_eq!(
            (key["mode"].as_u64(), key["uid"].as_u64()),
            (Some(0o600), Some(1000))
        );
        assert!(files
            .iter()
            .any(|f| f["path"] == "empty/deeper" && f["kind"] == "dir"));
        if storage == "local" {
            let dump = store.join(format!("{id}.dump"));
            assert_eq!(sha256sum(&dump), m["sha256"].as_str().expect("sha"));
        } else {
            assert_eq!(moto.pending_uploads("vols"), 0);
        }

        let (code, out, err) = sb.run_env(&env, &["verify", "uploads", &id, "--to", storage]);
        assert_eq!(code, 0, "verify {storage}: {out}{err}");
        let (_, m) = newest(&sb, &env, "uploads", storage);
        assert_eq!(m["verified"], true, "{m}");
        assert!(
            !docker(&["volume", "ls", "-q"]).contains("opsdeck-scratch-uploads-"),
            "verify removed its scratch volume"
        );

        change(&format!("{vol}:/d"));
        assert_ne!(tree(&format!("{vol}:/d")), original);
        // Destructive: refused without --yes when not on a terminal.
        let (code, _, err) = sb.run_env(&env, &["restore", "uploads", &id, "--to", storage]);
        assert_ne!(code, 0, "restore without --yes: {err}");
        let (code, out, err) =
            sb.run_env(&env, &["restore", "uploads", &id, "--to", storage, "--yes"]);
        assert_eq!(code, 0, "restore {storage}: {out}{err}");
        assert_eq!(
            tree(&format!("{vol}:/d")),
            original,
            "restored from {storage}"
        );
        // The app runs again, on the restored volume, as compose's own container.
        let ps = compose(&dir, &project, &["ps", "-q", "web"]);
        let web = String::from_utf8_lossy(&ps.stdout).trim().to_string();
        assert!(!web.is_empty(), "compose knows the web container again");
        let state = docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Health.Status}}",
            &web,
        ]);
        assert_eq!(state.trim(), "running healthy");
        let labels = docker(&[
            "volume",
            "inspect",
            "-f",
            "{{index .Labels \"com.docker.compose.project\"}}",
            &vol,
        ]);
        assert_eq!(
            labels.trim(),
            project,
            "compose's labels kept on the recreated volume"
        );
        // The old contents are kept, in a dated volume.
        let kept: Vec<String> = docker(&["volume", "ls", "-q"])
            .lines()
            .filter(|v| v.starts_with(&format!("{vol}-before-restore-")))
            .map(str::to_string)
            .collect();
        assert!(!kept.is_empty(), "old contents kept");
        let old = tree(&format!("{}:/d", kept.last().expect("kept")));
        assert!(old.iter().any(|l| l.starts_with("./new.txt ")), "{old:?}");
        for k in kept {
            docker(&["volume", "rm", &k]);
        }
    }
    let (_, hist, _) = sb.run(&["history", "--output", "json", "--limit", "20"]);
    let h: serde_json::Value = serde_json::from_str(&hist).expect("history");
    let restores = h
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["action"] == "restore" && e["outcome"] == "succeeded")
        .count();
    assert_eq!(restores, 2, "{h}");
}

/// A directory on the host, bind-mounted by a plain container.
fn dir_setup(sb: &Sandbox) -> (PathBuf, ContainerGuard) {
    let data = sb.path().join("srv").join("uploads");
    std::fs::create_dir_all(&data).expect("mkdir");
    seed(&format!("{}:/d", data.display()));
    let name = unique("voluser");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        &format!("{}:/www/uploads", data.display()),
        BOX,
    ]);
    (data, ContainerGuard(name))
}

fn flip_a_byte(p: &Path, at: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .expect("open");
    f.seek(SeekFrom::Start(at)).expect("seek");
    let mut b = [0u8; 1];
    f.read_exact(&mut b).expect("read");
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&[b[0] ^ 0xff]).expect("write");
}

#[test]
fn a_host_directory_round_trips_and_a_corrupt_backup_changes_nothing() {
    require_docker();
    let sb = Sandbox::new();
    let (data, user) = dir_setup(&sb);
    let mount = format!("{}:/d", data.display());
    let original = tree(&mount);
    let store = sb.path().join("backups");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n\
             [volumes.files]\nhost = \"local\"\npath = \"{}/\"\nbackup_to = \"local\"\nstop_apps = true\n",
            store.display(),
            data.display()
        ),
    );
    let (code, out, err) = sb.run(&["backup", "files"]);
    assert_eq!(code, 0, "{out}{err}");
    // stop_apps: the container that mounts it was stopped for the copy and runs again.
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &user.0]).trim(),
        "true"
    );
    let (id, m) = newest(&sb, &[], "files", "local");
    assert_eq!(m["kind"], "directory");
    let (code, out, err) = sb.run(&["verify", "files", &id]);
    assert_eq!(code, 0, "{out}{err}");

    // A corrupted backup: refused at the scratch stage; the live directory untouched.
    change(&mount);
    let changed = tree(&mount);
    let dump = store.join(format!("{id}.dump"));
    flip_a_byte(&dump, 5 << 20);
    let (code, out, err) = sb.run(&["restore", "files", &id, "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(format!("{out}{err}").contains("corrupt"), "{out}{err}");
    assert_eq!(tree(&mount), changed, "live data untouched");
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &user.0]).trim(),
        "true"
    );
    let (code, out, err) = sb.run(&["verify", "files", &id]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        !docker(&["volume", "ls", "-q"]).contains("opsdeck-scratch-files"),
        "scratch removed"
    );
    flip_a_byte(&dump, 5 << 20);

    let (code, out, err) = sb.run(&["restore", "files", &id, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(tree(&mount), original);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &user.0]).trim(),
        "true"
    );
    // The container sees the restored directory (it was stopped and started around the swap).
    let seen = docker(&[
        "exec",
        &user.0,
        "cat",
        "/www/uploads/Fotos – 2026/été/café ☕.txt",
    ]);
    assert_eq!(seen.trim(), "bonjour");
    let kept: Vec<_> = std::fs::read_dir(data.parent().expect("parent"))
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("uploads.before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let kept = data.parent().expect("parent").join(&kept[0]);
    assert!(
        kept.join("new.txt").exists(),
        "the old contents are kept beside it"
    );
}

#[test]
fn volume_settings_and_unsafe_restores_are_refused_before_anything_changes() {
    require_docker();
    let sb = Sandbox::new();
    let store = sb.path().join("backups");
    let bad = [
        (
            "volume = \"a_b\"\npath = \"/srv/x\"",
            "either `volume` or `path`",
        ),
        ("path = \"srv/x\"", "absolute"),
        ("volume = \"bad name\"", "Docker volume name"),
        ("volume = \"x\"\nbackup_to = \"nowhere\"", "nowhere"),
    ];
    for (body, want) in bad {
        sb.write(
            "opsdeck.toml",
            &format!("[hosts.local]\n[volumes.v]\nhost = \"local\"\n{body}\n"),
        );
        let (code, out, err) = sb.run(&["backup", "v", "--dry-run"]);
        assert_eq!(code, 2, "{body}: {out}{err}");
        assert!(
            err.contains(want) && err.contains("volumes.v"),
            "{body}: {err}"
        );
    }
    // A host-dir storage keeps only what a command on the host writes: refused, exit 2.
    let vol = unique("volx");
    let _vols = VolumeGuard(vec![vol.clone()]);
    docker(&["volume", "create", &vol]);
    seed(&format!("{vol}:/d"));
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n[storage.there]\nkind = \"host-dir\"\npath = \"/var/tmp/x\"\n\
             [volumes.v]\nhost = \"local\"\nvolume = \"{vol}\"\nbackup_to = \"local\"\n\
             [volumes.gone]\nhost = \"local\"\nvolume = \"{vol}-missing\"\nbackup_to = \"local\"\n",
            store.display()
        ),
    );
    let (code, _, err) = sb.run(&["backup", "v", "--to", "there"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("host-dir"), "{err}");
    let (code, _, err) = sb.run(&["backup", "gone"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no volume"), "{err}");
    assert!(
        !volume_exists(&format!("{vol}-missing")),
        "a backup never creates the volume"
    );
    // A container that is not of the volume's apps uses it: a restore is refused, nothing changed.
    let (code, out, err) = sb.run(&["backup", "v"]);
    assert_eq!(code, 0, "{out}{err}");
    let (id, _) = newest(&sb, &[], "v", "local");
    let stranger = unique("stranger");
    docker(&[
        "run",
        "-d",
        "--name",
        &stranger,
        "-v",
        &format!("{vol}:/data"),
        BOX,
    ]);
    let _g = ContainerGuard(stranger.clone());
    change(&format!("{vol}:/d"));
    let before = tree(&format!("{vol}:/d"));
    let (code, out, err) = sb.run(&["restore", "v", &id, "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains(&stranger),
        "names the container: {out}{err}"
    );
    assert_eq!(tree(&format!("{vol}:/d")), before);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &stranger]).trim(),
        "true"
    );
    // A backup of another volume planted under this one's id is refused.
    let (code, _, err) = sb.run(&["verify", "gone", &id]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn a_volume_on_an_ssh_host_round_trips_through_the_connection() {
    require_docker();
    let sb = Sandbox::new();
    sb.host_writable(&[]);
    let bed = ssh_bed::Bed::get();
    let sshd = ssh_bed::Sshd::start(&bed, true);
    let env = sshd.client_env(&sb, &bed);
    let vol = unique("volssh");
    let _vols = VolumeGuard(vec![vol.clone()]);
    docker(&["volume", "create", &vol]);
    seed(&format!("{vol}:/d"));
    let original = tree(&format!("{vol}:/d"));
    let store = sb.path().join("backups");
    sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.remote]\nssh = \"tb\"\n[storage.local]\nkind = \"dir\"\npath = \"{}\"\n\
             [volumes.v]\nhost = \"remote\"\nvolume = \"{vol}\"\nbackup_to = \"local\"\n",
            store.display()
        ),
    );
    let (code, out, err) = sb.run_env(&env, &["backup", "v"]);
    assert_eq!(code, 0, "{out}{err}");
    let (id, m) = newest(&sb, &env, "v", "local");
    assert_eq!(m["host"], "remote");
    let (code, out, err) = sb.run_env(&env, &["verify", "v", &id]);
    assert_eq!(code, 0, "{out}{err}");
    change(&format!("{vol}:/d"));
    let (code, out, err) = sb.run_env(&env, &["restore", "v", &id, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(tree(&format!("{vol}:/d")), original);
}
