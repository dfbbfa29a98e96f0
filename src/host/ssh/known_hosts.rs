//! Host keys, checked as strictly as OpenSSH with `StrictHostKeyChecking yes`: a key must be
//! recorded in known_hosts (plain or hashed names, `[host]:port` for other ports). Wildcard
//! patterns, `@cert-authority` and `@revoked` lines are not understood and never match, so such
//! hosts count as unknown.

use russh::keys::ssh_key::{HashAlg, PublicKey};
use std::io::Write;
use std::path::Path;

/// What known_hosts says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    Unknown,
    /// Another key of the same type is recorded for the host, on this line (1-based).
    Changed {
        line: usize,
    },
}

/// Look the key up. An unreadable file is an error; a missing one knows nothing.
pub fn check(path: &Path, host: &str, port: u16, key: &PublicKey) -> Result<Verdict, String> {
    match russh::keys::check_known_hosts_path(host, port, key, path) {
        Ok(true) => Ok(Verdict::Known),
        Ok(false) => Ok(Verdict::Unknown),
        Err(russh::keys::Error::KeyChanged { line }) => Ok(Verdict::Changed { line }),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Keys of any type recorded for the host, with their lines.
pub fn recorded(path: &Path, host: &str, port: u16) -> Result<Vec<(usize, PublicKey)>, String> {
    russh::keys::known_hosts::known_host_keys_path(host, port, path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// `SHA256:...`, as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// `ED25519`, `RSA`, `ECDSA`: the key type as OpenSSH names it in messages.
pub fn key_type(key: &PublicKey) -> String {
    let alg = key.algorithm();
    let name = alg.as_str();
    if name.contains("ed25519") {
        "ED25519".into()
    } else if name.contains("rsa") {
        "RSA".into()
    } else if name.contains("ecdsa") {
        "ECDSA".into()
    } else {
        name.to_string()
    }
}

/// The known_hosts name of a host: `host`, or `[host]:port` when the port is not 22.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Append `pattern alg base64` to the file (created 0644 with a 0700 parent when missing).
/// Returns the line written.
pub fn append(path: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
    }
    let mut plain = key.clone();
    plain.set_comment("");
    let line = format!(
        "{} {}",
        host_pattern(host, port),
        plain.to_openssh().map_err(std::io::Error::other)?.trim()
    );
    // Make sure the previous last line is terminated before adding ours.
    let needs_newline = match std::fs::read(path) {
        Ok(bytes) => bytes.last().is_some_and(|b| *b != b'\n'),
        Err(_) => false,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)?;
    let mut text = String::new();
    if needs_newline {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAINmBXCMk1wtd1SR5S5dL7QtEYzIJXPdb3pcLtdsiHzg7";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).expect("key parses")
    }

    #[test]
    fn append_then_check_round_trips_and_a_different_key_is_a_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/known_hosts");
        let a = key(KEY_A);
        assert_eq!(check(&path, "h", 2222, &a), Ok(Verdict::Unknown));
        let line = append(&path, "h", 2222, &a).expect("append");
        assert!(line.starts_with("[h]:2222 ssh-ed25519 "), "{line}");
        assert_eq!(check(&path, "h", 2222, &a), Ok(Verdict::Known));
        assert_eq!(check(&path, "h", 22, &a), Ok(Verdict::Unknown));
        // Another ed25519 key for the same name: changed, naming the line.
        let b = key(KEY_B);
        assert_eq!(
            check(&path, "h", 2222, &b),
            Ok(Verdict::Changed { line: 1 })
        );
        assert!(fingerprint(&a).starts_with("SHA256:"));
        assert_eq!(key_type(&a), "ED25519");
    }
}
