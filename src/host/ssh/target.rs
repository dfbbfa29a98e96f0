//! From the inventory's `ssh = "..."` to where and as whom to connect: `user@host[:port]` or
//! an alias of the ssh client config (Host, HostName, User, Port, IdentityFile, ProxyJump,
//! ConnectTimeout, ServerAliveInterval; Include is followed by the parser). Other options are
//! ignored, except ProxyCommand, which is refused rather than silently bypassed: opsdeck runs
//! no local commands to connect (use ProxyJump). Host keys are always checked strictly,
//! whatever StrictHostKeyChecking says.

use ssh2_config::{ParseRule, SshConfig};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How deep ProxyJump chains may nest (a jump host that itself has a ProxyJump...).
const MAX_JUMPS: usize = 8;

/// Why an inventory `ssh` value (or a ProxyJump entry, or the ssh client config) cannot be
/// used; each names the value or file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{path}: {detail}")]
    Config { path: String, detail: String },
    #[error("{spec:?} has a bad port {port:?}")]
    BadPort { spec: String, port: String },
    #[error("{spec:?}: unclosed '['")]
    Unclosed { spec: String },
    #[error("{spec:?}: unexpected {after:?} after ']'")]
    AfterBracket { spec: String, after: String },
    #[error("{spec:?} has no host")]
    NoHost { spec: String },
    #[error("ProxyJump nests deeper than {max} hops (a loop?) at {spec:?}", max = MAX_JUMPS)]
    TooDeep { spec: String },
    #[error("no user for {spec:?}: write user@{alias}")]
    NoUser { spec: String, alias: String },
    #[error("{alias}: the ssh config sets ProxyCommand {command:?}, which opsdeck does not run; use ProxyJump instead")]
    ProxyCommand { alias: String, command: String },
    #[error("{spec:?}: more than {max} ProxyJump hops", max = MAX_JUMPS)]
    TooManyHops { spec: String },
}

/// One SSH hop, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What the inventory (or a ProxyJump entry) said, for messages.
    pub alias: String,
    /// The name or address connected to (`HostName`), also the known_hosts name.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// `IdentityFile` entries of the config, in order; empty: the defaults.
    pub identity_files: Vec<PathBuf>,
    /// Hops to go through first, the first one first.
    pub jumps: Vec<Target>,
    pub connect_timeout: Option<Duration>,
    pub keepalive: Option<Duration>,
}

impl fmt::Display for Target {
    /// `deploy@127.0.0.1:2222`, with the jumps: `... via deploy@bastion:22`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)?;
        for j in &self.jumps {
            write!(f, " via {}@{}:{}", j.user, j.host, j.port)?;
        }
        Ok(())
    }
}

impl Target {
    /// Every hop in connection order: the jumps, then this host.
    pub fn hops(&self) -> Vec<Target> {
        let mut hops = self.jumps.clone();
        let mut me = self.clone();
        me.jumps.clear();
        hops.push(me);
        hops
    }

    /// `deploy@127.0.0.1:2222` for this hop alone.
    pub fn hop_label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Read the ssh client config; a missing file is an empty config.
pub fn load_config(path: Option<&Path>) -> Result<Option<SshConfig>, TargetError> {
    let Some(path) = path else { return Ok(None) };
    let config = |e: &dyn std::fmt::Display| TargetError::Config {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(config(&e)),
    };
    let mut reader = std::io::BufReader::new(file);
    SshConfig::default()
        .parse(
            &mut reader,
            ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
        .map(Some)
        .map_err(|e| config(&e))
}

/// Split `[user@]host[:port]` (also `[v6addr]:port` and `ssh://...`).
fn split_spec(spec: &str) -> Result<(Option<String>, String, Option<u16>), TargetError> {
    let spec = spec.strip_prefix("ssh://").unwrap_or(spec);
    let (user, host_port) = match spec.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some((_, h)) => (None, h),
        None => (None, spec),
    };
    let parse_port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| TargetError::BadPort {
                spec: spec.to_string(),
                port: p.to_string(),
            })
    };
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| TargetError::Unclosed {
            spec: spec.to_string(),
        })?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_string(), Some(parse_port(p)?)),
            None if after.is_empty() => (h.to_string(), None),
            None => {
                return Err(TargetError::AfterBracket {
                    spec: spec.to_string(),
                    after: after.to_string(),
                })
            }
        }
    } else {
        match host_port.split_once(':') {
            // One colon: host:port. More: a bare IPv6 address.
            Some((h, p)) if !p.contains(':') => (h.to_string(), Some(parse_port(p)?)),
            _ => (host_port.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(TargetError::NoHost {
            spec: spec.to_string(),
        });
    }
    Ok((user, host, port))
}

/// The local user, the default remote user as for ssh: `$USER`, `$LOGNAME`, else the passwd
/// entry of this process's uid.
fn local_user() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if let Some(u) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|u| !u.is_empty()))
    {
        return Some(u);
    }
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

/// Resolve an inventory `ssh` value (or a ProxyJump entry) against the config.
pub fn resolve(spec: &str, config: Option<&SshConfig>) -> Result<Target, TargetError> {
    resolve_depth(spec, config, 0)
}

fn resolve_depth(
    spec: &str,
    config: Option<&SshConfig>,
    depth: usize,
) -> Result<Target, TargetError> {
    if depth > MAX_JUMPS {
        return Err(TargetError::TooDeep {
            spec: spec.to_string(),
        });
    }
    let (user, alias, port) = split_spec(spec)?;
    let params = config.map(|c| c.query(&alias));
    let p = params.as_ref();
    let host = p
        .and_then(|p| p.host_name.clone())
        .map(|h| h.replace("%h", &alias).replace("%%", "%"))
        .unwrap_or_else(|| alias.clone());
    let user = user
        .or_else(|| p.and_then(|p| p.user.clone()))
        .or_else(local_user)
        .ok_or_else(|| TargetError::NoUser {
            spec: spec.to_string(),
            alias: alias.clone(),
        })?;
    let port = port.or_else(|| p.and_then(|p| p.port)).unwrap_or(22);
    let identity_files = p.and_then(|p| p.identity_file.clone()).unwrap_or_default();
    let proxy_command = p
        .and_then(|p| p.unsupported_fields.get("proxycommand"))
        .map(|args| args.join(" "))
        .filter(|c| !c.eq_ignore_ascii_case("none"));
    if let (Some(command), None) = (proxy_command, p.and_then(|p| p.proxy_jump.as_ref())) {
        return Err(TargetError::ProxyCommand { alias, command });
    }
    let mut jumps = Vec::new();
    if let Some(list) = p.and_then(|p| p.proxy_jump.clone()) {
        let entries: Vec<String> = list
            .iter()
            .flat_map(|e| e.split(','))
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        if !(entries.len() == 1 && entries[0].eq_ignore_ascii_case("none")) {
            for e in entries {
                let j = resolve_depth(&e, config, depth + 1)?;
                // A jump host's own jumps come before it.
                jumps.extend(j.hops());
            }
        }
    }
    if jumps.len() > MAX_JUMPS {
        return Err(TargetError::TooManyHops {
            spec: spec.to_string(),
        });
    }
    Ok(Target {
        alias,
        host,
        port,
        user,
        identity_files,
        jumps,
        connect_timeout: p.and_then(|p| p.connect_timeout),
        keepalive: p.and_then(|p| p.server_alive_interval),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> SshConfig {
        SshConfig::default()
            .parse(
                &mut text.as_bytes(),
                ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
            )
            .expect("config parses")
    }

    #[test]
    fn proxy_command_is_refused_not_bypassed() {
        let c = config(
            "Host old\n  User u\n  ProxyCommand ssh -W %h:%p bastion\n  StrictHostKeyChecking no\n\
             Host fine\n  User u\n  ProxyCommand none\n",
        );
        let e = resolve("old", Some(&c)).expect_err("refused");
        let e = e.to_string();
        assert!(e.contains("ProxyCommand") && e.contains("ProxyJump"), "{e}");
        assert!(resolve("fine", Some(&c)).is_ok());
    }

    #[test]
    fn plain_targets_need_no_config() {
        let t = resolve("deploy@127.0.0.1:2222", None).expect("resolves");
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("deploy", "127.0.0.1", 2222)
        );
        assert!(t.jumps.is_empty() && t.identity_files.is_empty());
        let t = resolve("root@[::1]:2200", None).expect("v6");
        assert_eq!((t.host.as_str(), t.port), ("::1", 2200));
        let t = resolve("root@fe80::1", None).expect("bare v6");
        assert_eq!((t.host.as_str(), t.port), ("fe80::1", 22));
        assert!(resolve("deploy@host:0", None).is_err());
        assert!(resolve("deploy@host:x", None).is_err());
        assert!(resolve("deploy@", None).is_err());
    }

    #[test]
    fn aliases_take_hostname_user_port_keys_and_jumps_from_the_config() {
        let c = config(
            "Host alpha\n  HostName 10.0.0.5\n  User deploy\n  Port 2200\n  IdentityFile /keys/alpha\n  ProxyJump bastion\n  UnknownThing yes\n\
             Host bastion\n  HostName bastion.example.com\n  User jump\n\
             Host *.internal\n  ProxyJump none\n  User ops\n",
        );
        let t = resolve("alpha", Some(&c)).expect("resolves");
        assert_eq!(t.host, "10.0.0.5");
        assert_eq!((t.user.as_str(), t.port), ("deploy", 2200));
        assert_eq!(t.identity_files, vec![PathBuf::from("/keys/alpha")]);
        assert_eq!(t.jumps.len(), 1);
        assert_eq!(t.jumps[0].host, "bastion.example.com");
        assert_eq!((t.jumps[0].user.as_str(), t.jumps[0].port), ("jump", 22));
        assert_eq!(
            t.to_string(),
            "deploy@10.0.0.5:2200 via jump@bastion.example.com:22"
        );
        // What the inventory says explicitly wins over the config.
        let t = resolve("root@alpha:2300", Some(&c)).expect("resolves");
        assert_eq!((t.user.as_str(), t.port), ("root", 2300));
        let t = resolve("db.internal", Some(&c)).expect("resolves");
        assert!(t.jumps.is_empty());
        assert_eq!(t.user, "ops");
    }

    #[test]
    fn jump_loops_are_an_error_not_a_hang() {
        let c = config("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\nHost *\n  User u\n");
        let e = resolve("u@a", Some(&c)).expect_err("a loop");
        assert!(e.to_string().contains("loop"), "{e}");
    }
}
