//! Which process is this, in a form another process on the same machine can check later:
//! (boot id, pid, start time). A pid alone is reused; the start time (clock ticks since boot,
//! from `/proc/PID/stat`) and the boot id make the triple unique, so "is the process that
//! wrote this record still running?" has a definite answer on Linux. Locks and the journal
//! record it; a lock whose process is gone is recoverable, a journal entry whose process is
//! gone is `interrupted`.

use serde::{Deserialize, Serialize};

/// A process, as recorded in a lock or a journal entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// `/proc/sys/kernel/random/boot_id` (empty when unreadable).
    #[serde(default)]
    pub boot_id: String,
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat` (0 when unreadable).
    #[serde(default)]
    pub start: u64,
}

/// Whether a recorded process still runs, as far as this machine can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// Certainly gone (same boot and no such process, or a reused pid, or the machine rebooted).
    Gone,
    /// Recorded elsewhere (another machine) or without enough to tell.
    Unknown,
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// This boot's id.
pub fn boot_id() -> String {
    read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default()
}

/// This machine's id (`/etc/machine-id`, systemd's and dbus's), empty when there is none.
pub fn machine_id() -> String {
    read_trimmed("/etc/machine-id")
        .or_else(|| read_trimmed("/var/lib/dbus/machine-id"))
        .unwrap_or_default()
}

/// The start time of a process (field 22 of its stat line), if it exists.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')': fields
    // after it start at the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts with field 3 (state); field 22 is the 20th from there.
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl ProcessId {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        ProcessId {
            boot_id: boot_id(),
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// Whether the recorded process still runs. Only meaningful on the machine it was
    /// recorded on: the caller checks that (machine id) first.
    pub fn liveness(&self) -> Liveness {
        let ours = boot_id();
        if self.boot_id.is_empty() || ours.is_empty() {
            return Liveness::Unknown;
        }
        if self.boot_id != ours {
            return Liveness::Gone;
        }
        match start_time(self.pid) {
            None => Liveness::Gone,
            Some(t) if self.start != 0 && t != self.start => Liveness::Gone,
            Some(_) => Liveness::Alive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_gone() {
        let me = ProcessId::current();
        assert!(me.pid > 0 && me.start > 0 && !me.boot_id.is_empty());
        assert_eq!(me.liveness(), Liveness::Alive);
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        let start = start_time(pid).unwrap_or(0);
        child.wait().expect("wait");
        let gone = ProcessId {
            boot_id: me.boot_id.clone(),
            pid,
            start,
        };
        assert_eq!(gone.liveness(), Liveness::Gone);
        // The same pid with another start time is another process (a reused pid).
        let reused = ProcessId {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(reused.liveness(), Liveness::Gone);
        // Another boot: gone. No boot id recorded: cannot tell.
        let rebooted = ProcessId {
            boot_id: "another-boot".into(),
            ..me.clone()
        };
        assert_eq!(rebooted.liveness(), Liveness::Gone);
        let old = ProcessId {
            boot_id: String::new(),
            ..me
        };
        assert_eq!(old.liveness(), Liveness::Unknown);
    }
}
