//! Host keys, checked as strictly as OpenSSH with `StrictHostKeyChecking yes`, read by our own
//! parser of OpenSSH's known_hosts format: plain and hashed (`|1|salt|hash`) names, comma
//! lists, `[host]:port` for other ports, `*`/`?` wildcards and `!negation`; a key revoked by
//! an `@revoked` line is refused whatever else the file says; `@cert-authority` lines name CAs,
//! not host keys, so they neither match nor count as another key; a host may have several
//! keys of one type (any of them matches). Fields may be separated by spaces or tabs; a line
//! that does not parse is skipped (as ssh does), and line numbers count every line.

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
    /// This key is revoked by an `@revoked` line (1-based).
    Revoked {
        line: usize,
    },
}

/// A known_hosts file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct KnownHostsError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// One usable line: its number, marker, host patterns and key.
struct Line {
    number: usize,
    marker: Marker,
    hosts: String,
    key: PublicKey,
}

fn lines(path: &Path) -> Result<Vec<Line>, KnownHostsError> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(KnownHostsError {
                path: path.display().to_string(),
                source,
            })
        }
    };
    Ok(parse(&text))
}

/// Every line that parses (the rest are skipped, as ssh skips them).
fn parse(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(mut first) = fields.next() else {
            continue;
        };
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            m if m.starts_with('@') => continue,
            _ => Marker::None,
        };
        if marker != Marker::None {
            match fields.next() {
                Some(h) => first = h,
                None => continue,
            }
        }
        // The type field is not trusted: the key blob names its own algorithm.
        let (Some(_kind), Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(key) = russh::keys::parse_public_key_base64(b64) else {
            continue;
        };
        out.push(Line {
            number: i + 1,
            marker,
            hosts: first.to_string(),
            key,
        });
    }
    out
}

/// `*` any run, `?` one character (OpenSSH's match_pattern), ASCII case-insensitive.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], name) || (!name.is_empty() && glob(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p.eq_ignore_ascii_case(n) => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// HMAC-SHA1, as OpenSSH hashes known_hosts names.
fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use sha1::Digest;
    let mut k = [0u8; 64];
    if key.len() > 64 {
        let d = sha1::Sha1::digest(key);
        k[..d.len()].copy_from_slice(&d);
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let mut inner = sha1::Sha1::new();
    inner.update(ipad);
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = sha1::Sha1::new();
    outer.update(opad);
    outer.update(inner);
    outer.finalize().to_vec()
}

/// Whether a line's host field names `host:port` (its `[host]:port` form off port 22).
fn hosts_match(field: &str, host: &str, port: u16) -> bool {
    use base64::Engine as _;
    let name = host_pattern(host, port);
    if let Some(rest) = field.strip_prefix("|1|") {
        let Some((salt, hash)) = rest.split_once('|') else {
            return false;
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        return match (b64.decode(salt), b64.decode(hash)) {
            (Ok(salt), Ok(hash)) => hmac_sha1(&salt, name.as_bytes()) == hash,
            _ => false,
        };
    }
    let mut matched = false;
    for p in field.split(',') {
        let (negated, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p),
        };
        if glob(p.as_bytes(), name.as_bytes()) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// Look the key up. An unreadable file is an error; a missing one knows nothing.
pub fn check(
    path: &Path,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<Verdict, KnownHostsError> {
    Ok(verdict(&lines(path)?, host, port, key))
}

fn verdict(all: &[Line], host: &str, port: u16, key: &PublicKey) -> Verdict {
    // A revoked key is refused even where another line lists it.
    if let Some(l) = all
        .iter()
        .find(|l| l.marker == Marker::Revoked && same_key(&l.key, key))
    {
        return Verdict::Revoked { line: l.number };
    }
    let mine: Vec<&Line> = all
        .iter()
        .filter(|l| l.marker == Marker::None && hosts_match(&l.hosts, host, port))
        .collect();
    if mine.iter().any(|l| same_key(&l.key, key)) {
        return Verdict::Known;
    }
    match mine.iter().find(|l| l.key.algorithm() == key.algorithm()) {
        Some(l) => Verdict::Changed { line: l.number },
        None => Verdict::Unknown,
    }
}

/// Host keys (not CAs, not revoked ones) recorded for the host, with their lines.
pub fn recorded(
    path: &Path,
    host: &str,
    port: u16,
) -> Result<Vec<(usize, PublicKey)>, KnownHostsError> {
    let all = lines(path)?;
    Ok(all
        .iter()
        .filter(|l| l.marker == Marker::None && hosts_match(&l.hosts, host, port))
        .filter(|l| {
            !all.iter()
                .any(|r| r.marker == Marker::Revoked && same_key(&r.key, &l.key))
        })
        .map(|l| (l.number, l.key.clone()))
        .collect())
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
        assert_eq!(check(&path, "h", 2222, &a).ok(), Some(Verdict::Unknown));
        let line = append(&path, "h", 2222, &a).expect("append");
        assert!(line.starts_with("[h]:2222 ssh-ed25519 "), "{line}");
        assert_eq!(check(&path, "h", 2222, &a).ok(), Some(Verdict::Known));
        assert_eq!(check(&path, "h", 22, &a).ok(), Some(Verdict::Unknown));
        // Another ed25519 key for the same name: changed, naming the line.
        let b = key(KEY_B);
        assert_eq!(
            check(&path, "h", 2222, &b).ok(),
            Some(Verdict::Changed { line: 1 })
        );
        assert!(fingerprint(&a).starts_with("SHA256:"));
        assert_eq!(key_type(&a), "ED25519");
    }

    #[test]
    fn hmac_sha1_is_the_rfc_2202_one() {
        let d = hmac_sha1(&[0x0b; 20], b"Hi There");
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b617318655057264e28bc0b6fb378c8ef146be00");
    }

    #[test]
    fn markers_several_keys_patterns_and_hashed_names_as_openssh_reads_them() {
        use base64::Engine as _;
        let (a, b) = (key(KEY_A), key(KEY_B));
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = [7u8; 20];
        let hashed = format!(
            "|1|{}|{}",
            b64.encode(salt),
            b64.encode(hmac_sha1(&salt, b"[hashed.example]:2222"))
        );
        let text = format!(
            "# a comment\n\
             two.example\tssh-ed25519 {KEY_B}\n\
             two.example ssh-ed25519   {KEY_A} second key of one type\n\
             @cert-authority *.example ssh-ed25519 {KEY_B}\n\
             ca.example ssh-ed25519 {KEY_A}\n\
             *.wild,!bad.wild ssh-ed25519 {KEY_A}\n\
             {hashed} ssh-ed25519 {KEY_A}\n\
             garbage line\n\
             @revoked * ssh-ed25519 {KEY_B}\n"
        );
        let all = parse(&text);
        // Two ed25519 keys for one host, the second matching: known (but B is revoked).
        assert_eq!(verdict(&all, "two.example", 22, &a), Verdict::Known);
        assert_eq!(
            verdict(&all, "two.example", 22, &b),
            Verdict::Revoked { line: 9 },
            "a revoked key is refused even where it is listed"
        );
        // A CA line is not a host key of ca.example: its own line decides.
        assert_eq!(verdict(&all, "ca.example", 22, &a), Verdict::Known);
        // Wildcards and negation.
        assert_eq!(verdict(&all, "x.wild", 22, &a), Verdict::Known);
        assert_eq!(verdict(&all, "bad.wild", 22, &a), Verdict::Unknown);
        assert_eq!(verdict(&all, "x.wild", 2222, &a), Verdict::Unknown);
        // Hashed names, with the port form.
        assert_eq!(verdict(&all, "hashed.example", 2222, &a), Verdict::Known);
        assert_eq!(verdict(&all, "hashed.example", 22, &a), Verdict::Unknown);
        // Line numbers count comments and skipped lines.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, format!("# c\n\nh ssh-ed25519 {KEY_A}\n")).expect("write");
        assert_eq!(
            check(&path, "h", 22, &b).ok(),
            Some(Verdict::Changed { line: 3 })
        );
        // Recorded keys leave out CAs and revoked keys.
        std::fs::write(&path, &text).expect("write");
        let rec = recorded(&path, "two.example", 22).expect("recorded");
        assert_eq!(rec.len(), 1, "B is revoked, only A is offered");
        assert_eq!(rec[0].0, 3);
    }
}
