//! Trust on first use: `opsdeck hosts trust NAME` records the host keys of a host and of its
//! ProxyJump hops in known_hosts, never replacing a different recorded key.

use super::session::{self, Ctx, KeyCache};
use super::{known_hosts, target, SshOptions};
use crate::host::HostError;

/// What `trust_host` recorded (or found already recorded) for one hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// `deploy@127.0.0.1:2222`.
    pub target: String,
    /// The known_hosts name: `host` or `[host]:port`.
    pub pattern: String,
    /// `ED25519`, `RSA`, ...
    pub key_type: String,
    /// `SHA256:...`
    pub fingerprint: String,
    /// False when the key was already recorded.
    pub added: bool,
}

/// Record the host keys of a host (and of its ProxyJump hops) in known_hosts: what
/// `opsdeck hosts trust NAME` does. A key already recorded is left alone; a DIFFERENT key
/// already recorded is refused (never replaced). The host itself comes last in the list.
pub async fn trust(
    name: &str,
    spec: &str,
    opts: &SshOptions,
    confirm: &(dyn Fn(&TrustedKey) -> bool + Sync),
) -> Result<Vec<TrustedKey>, HostError> {
    let usage = |reason: target::TargetError| HostError::Config {
        host: name.to_string(),
        reason: reason.to_string(),
    };
    let config = target::load_config(opts.config_file.as_deref()).map_err(usage)?;
    let target = target::resolve(spec, config.as_ref()).map_err(usage)?;
    let keys: KeyCache = Default::default();
    let ctx = Ctx {
        name,
        opts,
        keys: &keys,
    };
    let timeout = target.connect_timeout.unwrap_or(opts.connect_timeout);
    let hops = target.hops();
    let mut out = Vec::new();
    for i in 0..hops.len() {
        let hop = &hops[i];
        let seen = tokio::time::timeout(timeout, session::capture_key(&ctx, &target, &hops[..=i]))
            .await
            .map_err(|_| HostError::Connect {
                host: name.to_string(),
                target: hop.hop_label(),
                reason: format!("no SSH handshake within {}s", timeout.as_secs()),
            })??;
        let fingerprint = known_hosts::fingerprint(&seen.key);
        let key_type = known_hosts::key_type(&seen.key);
        let kh = &opts.known_hosts;
        let unreadable = |reason: known_hosts::KnownHostsError| HostError::Connect {
            host: name.to_string(),
            target: hop.hop_label(),
            reason: reason.to_string(),
        };
        let info = |key_type: String, fingerprint: String| {
            Box::new(crate::host::HostKeyInfo {
                target: hop.hop_label(),
                key_type,
                fingerprint,
                known_hosts: kh.display().to_string(),
            })
        };
        // A revoked key is never trusted, not even on first use.
        if let known_hosts::Verdict::Revoked { line } =
            known_hosts::check(kh, &hop.host, hop.port, &seen.key).map_err(unreadable)?
        {
            return Err(HostError::HostKeyRevoked {
                host: name.to_string(),
                key: info(key_type, fingerprint),
                line,
            });
        }
        let recorded = known_hosts::recorded(kh, &hop.host, hop.port).map_err(unreadable)?;
        let pattern = known_hosts::host_pattern(&hop.host, hop.port);
        if recorded.iter().any(|(_, k)| *k == seen.key) {
            out.push(TrustedKey {
                target: hop.hop_label(),
                pattern,
                key_type,
                fingerprint,
                added: false,
            });
            continue;
        }
        if let Some((line, _)) = recorded.first() {
            return Err(HostError::HostKeyChanged {
                host: name.to_string(),
                key: info(key_type, fingerprint),
                line: *line,
            });
        }
        let offer = TrustedKey {
            target: hop.hop_label(),
            pattern,
            key_type,
            fingerprint,
            added: true,
        };
        if !confirm(&offer) {
            return Err(HostError::TrustDeclined {
                host: name.to_string(),
                target: offer.target,
                fingerprint: offer.fingerprint,
            });
        }
        known_hosts::append(kh, &hop.host, hop.port, &seen.key).map_err(|e| HostError::File {
            host: name.to_string(),
            path: kh.display().to_string(),
            source: e,
        })?;
        out.push(offer);
    }
    Ok(out)
}
