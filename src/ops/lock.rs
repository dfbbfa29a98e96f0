//! Locks: one per app per host, taken atomically on the host itself (`mkdir` is atomic on
//! every POSIX filesystem), so two operators on two laptops are serialized the same way as
//! two processes on one. The lock records who, from where, when and what; a heartbeat keeps
//! it fresh while its action runs, so a lock whose holder died is recognisably stale.

use crate::error::Error;
use crate::host::{Cmd, Host};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where locks live on a host (world-writable with the sticky bit, like /tmp).
pub const DEFAULT_LOCK_DIR: &str = "/var/tmp/opsdeck-locks";
/// How often a running action refreshes its lock.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// A lock not refreshed for this long belongs to a dead process.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

const ACQUIRE: &str = r#"d=$1; n=$2; info=$3
mkdir -p "$d" 2>/dev/null && chmod 1777 "$d" 2>/dev/null
if mkdir "$d/$n.lock" 2>/dev/null; then
  printf '%s\n' "$info" > "$d/$n.lock/owner" && echo ACQUIRED && exit 0
  rm -rf "$d/$n.lock"; echo "cannot write $d/$n.lock/owner" >&2; exit 2
fi
if [ -d "$d/$n.lock" ]; then echo HELD; exit 0; fi
echo "cannot create the lock $d/$n.lock: is $d writable by $(id -un)? (OPSDECK_LOCK_DIR sets it)" >&2
exit 2
"#;

const STATUS: &str = r#"d=$1; n=$2
if [ -d "$d/$n.lock" ]; then
  echo "HELD $(stat -c %Y "$d/$n.lock/owner" 2>/dev/null || stat -c %Y "$d/$n.lock") $(date +%s)"
  cat "$d/$n.lock/owner" 2>/dev/null
else
  echo FREE
fi
"#;

const HEARTBEAT_SCRIPT: &str = r#"d=$1; n=$2; tok=$3
case "$(cat "$d/$n.lock/owner" 2>/dev/null)" in *"$tok"*) touch "$d/$n.lock/owner" && echo OK;; *) echo LOST;; esac
"#;

/// Take over a lock whose holder is provably gone: only while its owner record still holds
/// the dead holder's token (`$3`), under a short-lived `NAME.takeover` mutex (one left by a
/// killed takeover is cleared after a minute), so two runs racing for it cannot both win.
const TAKEOVER: &str = r#"d=$1; n=$2; old=$3; info=$4
find "$d" -maxdepth 1 -name "$n.takeover" -mmin +1 -exec rmdir {} \; 2>/dev/null
mkdir "$d/$n.takeover" 2>/dev/null || { echo BUSY; exit 0; }
case "$(cat "$d/$n.lock/owner" 2>/dev/null)" in
  *"$old"*) if rm -rf "$d/$n.lock" && mkdir "$d/$n.lock" 2>/dev/null && printf '%s\n' "$info" > "$d/$n.lock/owner"; then r=ACQUIRED; else r=LOST; fi;;
  *) r=CHANGED;;
esac
rmdir "$d/$n.takeover"; echo $r
"#;

const RELEASE: &str = r#"d=$1; n=$2; tok=$3
[ -d "$d/$n.lock" ] || { echo FREE; exit 0; }
if [ -z "$tok" ]; then rm -rf "$d/$n.lock" && echo RELEASED; exit 0; fi
case "$(cat "$d/$n.lock/owner" 2>/dev/null)" in
  *"$tok"*) rm -rf "$d/$n.lock" && echo RELEASED;;
  *) echo NOT_OURS;;
esac
"#;

/// Who holds a lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub token: String,
    /// `user@machine`
    pub actor: String,
    pub machine: String,
    pub pid: u32,
    pub action: String,
    pub target: String,
    pub started_at: String,
    /// The holding process (boot id, pid, start time), so a later run on the same machine
    /// can tell for certain that it is gone. Absent in records of older versions.
    #[serde(default)]
    pub process: crate::process::ProcessId,
    /// `/etc/machine-id` of the holder's machine (the machine *name* may be missing or shared).
    #[serde(default)]
    pub machine_id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LockStatus {
    Free,
    Held {
        holder: Option<Box<Holder>>,
        /// Seconds since the last heartbeat.
        idle_secs: u64,
        /// Seconds since it was taken.
        age_secs: Option<u64>,
        stale: bool,
        stale_reason: Option<String>,
        /// The holder's process is certainly gone (this machine, same boot, no such
        /// process): the next action takes the lock over by itself.
        #[serde(default)]
        holder_gone: bool,
    },
}

/// A held lock; release it with [`Lock::release`].
pub struct Lock {
    dir: String,
    name: String,
    pub holder: Holder,
    /// Set when this lock was taken over from a holder whose process was gone: says whose.
    pub recovered: Option<String>,
}

fn lock_dir() -> String {
    std::env::var("OPSDECK_LOCK_DIR")
        .ok()
        .filter(|d| d.starts_with('/'))
        .unwrap_or_else(|| DEFAULT_LOCK_DIR.to_string())
}

fn sh(script: &str, args: &[&str]) -> Cmd {
    Cmd::new("sh")
        .arg("-c")
        .arg(script)
        .arg("opsdeck-lock")
        .args(args.iter().copied())
        .timeout(Duration::from_secs(30))
}

/// This machine's name (for lock records and the journal's actor). Without a readable host
/// name, the machine's id stands in (never a name shared by every such machine).
pub fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            let id = crate::process::machine_id();
            if id.is_empty() {
                "unknown".into()
            } else {
                format!("machine-{}", &id[..id.len().min(12)])
            }
        })
}

/// The name a lock has on disk. Lock names follow the name rule (letters, digits, `_.-`)
/// at any length: one longer than 63 characters (a long container or database name) is
/// shortened to its first 40 characters and a hash of the whole, so it stays unique.
pub fn lock_key(name: &str) -> Result<String, Error> {
    if name.len() <= 63 {
        crate::names::check_name("lock", name).map_err(Error::usage)?;
        return Ok(name.to_string());
    }
    if name.len() > 400 {
        return Err(Error::usage(format!(
            "lock name is {} characters long; at most 400 are allowed",
            name.len()
        )));
    }
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        // The rule's own message, on a name of allowed length with the same characters.
        let probe: String = name.chars().take(63).collect();
        crate::names::check_name("lock", &probe).map_err(Error::usage)?;
        return Err(Error::usage(format!(
            "lock name {:?} has a character other than letters, digits, '_', '.', '-'",
            crate::secrets::mask_text(name)
        )));
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}-{hex}", &name[..40]))
}

/// Whether a holder is certainly gone: recorded on this machine, and its process is not
/// running (the same boot without that process, or another boot). `None` when alive or
/// when this machine cannot tell.
fn gone(h: &Holder) -> Option<String> {
    use crate::process::Liveness;
    let mid = crate::process::machine_id();
    let same_machine = if !h.machine_id.is_empty() && !mid.is_empty() {
        h.machine_id == mid
    } else {
        // Records of older versions: the machine name, unless it is the shared fallback.
        h.machine != "unknown" && h.machine == machine_name()
    };
    if !same_machine {
        return None;
    }
    let dead = if h.process.boot_id.is_empty() {
        h.process.pid == 0 && !std::path::Path::new(&format!("/proc/{}", h.pid)).exists()
            || h.process.pid != 0 && crate::process::start_time(h.process.pid).is_none()
    } else {
        h.process.liveness() == Liveness::Gone
    };
    dead.then(|| format!("process {} on {} is gone", h.pid, h.machine))
}

/// `user@machine`, as the journal and locks record it.
pub fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", machine_name())
}

/// The name of this process's user, from its uid and /etc/passwd.
fn user_from_passwd() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
    })
}

fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

async fn run(host: &Host, cmd: Cmd) -> Result<String, Error> {
    let out = host.exec(&cmd, &CancellationToken::new()).await?;
    if !out.success() {
        return Err(Error::failed(format!(
            "{}: lock command failed: {}",
            host.name(),
            out.stderr_str().trim()
        )));
    }
    Ok(out.stdout_str())
}

/// Take the lock `name` on `host`, or refuse (exit 4) naming who holds it.
pub async fn acquire(host: &Host, name: &str, action: &str, target: &str) -> Result<Lock, Error> {
    let key = lock_key(name)?;
    let holder = Holder {
        token: token(),
        actor: actor(),
        machine: machine_name(),
        pid: std::process::id(),
        action: action.to_string(),
        target: target.to_string(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        process: crate::process::ProcessId::current(),
        machine_id: crate::process::machine_id(),
    };
    let info = serde_json::to_string(&holder)
        .map_err(|e| Error::failed(format!("encoding the lock record: {e}")))?;
    let dir = lock_dir();
    let out = run(host, sh(ACQUIRE, &[&dir, &key, &info])).await?;
    if out.trim() == "ACQUIRED" {
        return Ok(Lock {
            dir,
            name: key,
            holder,
            recovered: None,
        });
    }
    let st = status(host, name).await?;
    // A lock left by a process that is certainly gone (killed, crashed, the machine
    // rebooted) is taken over: the run that died cannot come back for it.
    if let LockStatus::Held {
        holder: Some(old),
        holder_gone: true,
        ..
    } = &st
    {
        let out = run(host, sh(TAKEOVER, &[&dir, &key, &old.token, &info])).await?;
        if out.trim() == "ACQUIRED" {
            return Ok(Lock {
                dir,
                name: key,
                holder,
                recovered: Some(format!(
                    "took over the lock {name} on {} left by {} ({} {}, pid {}, since {}), whose process is gone",
                    host.name(),
                    old.actor,
                    old.action,
                    old.target,
                    old.pid,
                    old.started_at
                )),
            });
        }
    }
    Err(Error::refused(format!(
        "{} on {}: {}",
        name,
        host.name(),
        describe(&st)
    )))
}

/// Say who holds a lock, for people.
pub fn describe(st: &LockStatus) -> String {
    match st {
        LockStatus::Free => "not locked".into(),
        LockStatus::Held {
            holder,
            idle_secs,
            age_secs,
            stale,
            stale_reason,
            ..
        } => {
            let who = match holder {
                Some(h) => format!(
                    "locked by {} ({} {}, pid {}, since {})",
                    h.actor, h.action, h.target, h.pid, h.started_at
                ),
                None => "locked (holder record unreadable)".into(),
            };
            let age = age_secs
                .map(|a| format!(", held for {a}s"))
                .unwrap_or_default();
            if *stale {
                format!(
                    "{who}{age}; STALE: {} — release it with `opsdeck lock release APP --yes`",
                    stale_reason.as_deref().unwrap_or("no heartbeat")
                )
            } else {
                format!("{who}{age}, last heartbeat {idle_secs}s ago")
            }
        }
    }
}

/// Read a lock's state.
pub async fn status(host: &Host, name: &str) -> Result<LockStatus, Error> {
    let key = lock_key(name)?;
    let out = run(host, sh(STATUS, &[&lock_dir(), &key])).await?;
    let mut lines = out.lines();
    let first = lines.next().unwrap_or("");
    if first.starts_with("FREE") {
        return Ok(LockStatus::Free);
    }
    let nums: Vec<i64> = first
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    let (mtime, now) = (
        nums.first().copied().unwrap_or(0),
        nums.get(1).copied().unwrap_or(0),
    );
    let idle_secs = (now - mtime).max(0) as u64;
    let holder: Option<Box<Holder>> = lines.next().and_then(|l| serde_json::from_str(l).ok());
    let age_secs = holder.as_ref().and_then(|h| {
        chrono::DateTime::parse_from_rfc3339(&h.started_at)
            .ok()
            .map(|t| (now - t.timestamp()).max(0) as u64)
    });
    let gone_reason = holder.as_deref().and_then(gone);
    let holder_gone = gone_reason.is_some();
    let stale_reason = gone_reason.or_else(|| {
        (idle_secs > STALE_AFTER.as_secs()).then(|| format!("no heartbeat for {idle_secs}s"))
    });
    Ok(LockStatus::Held {
        holder,
        idle_secs,
        age_secs,
        stale: stale_reason.is_some(),
        stale_reason,
        holder_gone,
    })
}

/// The app's host, as the inventory names it (locks live there).
fn app_host(inv: &crate::inventory::Inventory, app: &str) -> Result<Host, Error> {
    let spec = super::query::find_app(inv, app)?;
    super::select::host(inv, &spec.host)
}

/// The lock of an app, read on the app's host: (host name, status).
pub async fn app_status(
    inv: &crate::inventory::Inventory,
    app: &str,
) -> Result<(String, LockStatus), Error> {
    let host = app_host(inv, app)?;
    Ok((host.name().to_string(), status(&host, app).await?))
}

/// Release an app's lock on purpose (`lock release`): (host name, what happened).
pub async fn app_release(
    inv: &crate::inventory::Inventory,
    app: &str,
    force: bool,
) -> Result<(String, String), Error> {
    let host = app_host(inv, app)?;
    super::read_only::check_host(inv, host.name(), &format!("releasing the lock of {app}"))?;
    Ok((
        host.name().to_string(),
        release_deliberately(&host, app, force).await?,
    ))
}

/// Release a lock deliberately (`opsdeck lock release`). Refuses a live lock unless `force`.
pub async fn release_deliberately(host: &Host, name: &str, force: bool) -> Result<String, Error> {
    match status(host, name).await? {
        LockStatus::Free => Ok(format!("{name} on {} is not locked", host.name())),
        st @ LockStatus::Held { stale, .. } => {
            if !stale && !force {
                return Err(Error::refused(format!(
                    "{name} on {} is held by a live action ({}); add --force to release it anyway",
                    host.name(),
                    describe(&st)
                )));
            }
            let out = run(host, sh(RELEASE, &[&lock_dir(), &lock_key(name)?, ""])).await?;
            match out.trim() {
                "RELEASED" => Ok(format!(
                    "released {name} on {} ({})",
                    host.name(),
                    describe(&st)
                )),
                "FREE" => Ok(format!(
                    "{name} on {} was released meanwhile by someone else; it is not locked",
                    host.name()
                )),
                other => Err(Error::failed(format!(
                    "releasing {name} on {}: the lock is still there ({other})",
                    host.name()
                ))),
            }
        }
    }
}

impl Lock {
    /// The lock's name on disk.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Refresh the heartbeat; `false` when the lock is no longer ours.
    pub async fn heartbeat(&self, host: &Host) -> Result<bool, Error> {
        let out = run(
            host,
            sh(
                HEARTBEAT_SCRIPT,
                &[&self.dir, &self.name, &self.holder.token],
            ),
        )
        .await?;
        Ok(out.trim() == "OK")
    }

    /// Release it (only if it is still ours). An error says when there was nothing of ours
    /// to remove: gone already, or someone else's by now.
    pub async fn release(self, host: &Host) -> Result<(), Error> {
        let out = run(
            host,
            sh(RELEASE, &[&self.dir, &self.name, &self.holder.token]),
        )
        .await?;
        match out.trim() {
            "RELEASED" => Ok(()),
            "FREE" => Err(Error::failed(format!(
                "the lock {} on {} was already gone when the action ended (released by someone else)",
                self.name,
                host.name()
            ))),
            _ => Err(Error::failed(format!(
                "the lock {} on {} is now held by someone else",
                self.name,
                host.name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lock_names_are_shortened_uniquely_and_bad_ones_refused() {
        assert_eq!(lock_key("shop").expect("short"), "shop");
        let long_a = format!("container-{}", "a".repeat(70));
        let long_b = format!("container-{}b", "a".repeat(69));
        let (ka, kb) = (lock_key(&long_a).expect("a"), lock_key(&long_b).expect("b"));
        assert!(ka.len() <= 63 && kb.len() <= 63, "{ka} {kb}");
        assert_ne!(ka, kb, "two long names must not share a lock");
        assert_eq!(ka, lock_key(&long_a).expect("again"), "stable");
        crate::names::check_name("lock", &ka).expect("the key itself follows the name rule");
        let bad = format!("{}/../x", "a".repeat(70));
        assert!(lock_key(&bad).is_err());
        assert!(lock_key(&"a".repeat(500)).is_err());
        assert!(lock_key("").is_err());
    }
}
