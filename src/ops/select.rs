//! Which hosts a command runs on.

use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use crate::names;

/// The `--host` arguments: names or `tag:TAG`; empty means every host.
#[derive(Debug, Clone, Default)]
pub struct HostSelection(pub Vec<String>);

/// Resolve the selection against the inventory into host handles, in inventory order.
pub fn select_hosts(inv: &Inventory, sel: &HostSelection) -> Result<Vec<Host>, Error> {
    let mut chosen: Vec<&String> = Vec::new();
    if sel.0.is_empty() {
        chosen.extend(inv.hosts.keys());
    }
    for s in &sel.0 {
        if let Some(tag) = s.strip_prefix("tag:") {
            let tagged: Vec<&String> = inv
                .hosts
                .iter()
                .filter(|(_, h)| h.tags.iter().any(|t| t == tag))
                .map(|(n, _)| n)
                .collect();
            if tagged.is_empty() {
                let mut tags: Vec<&str> = inv
                    .hosts
                    .values()
                    .flat_map(|h| h.tags.iter().map(String::as_str))
                    .collect();
                tags.sort();
                tags.dedup();
                return Err(Error::usage(names::unknown_name_message(
                    "host tag", tag, tags,
                )));
            }
            chosen.extend(tagged);
        } else if let Some((name, _)) = inv.hosts.get_key_value(s) {
            chosen.push(name);
        } else {
            return Err(Error::usage(names::unknown_name_message(
                "host",
                s,
                inv.hosts.keys().map(String::as_str),
            )));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    chosen.retain(|n| seen.insert(n.as_str()));
    chosen
        .into_iter()
        .map(|n| Host::new(n, &inv.hosts[n]))
        .collect()
}

/// Connect the selected SSH hosts up front, asking `source` for the passphrase of an
/// encrypted key (the console prompts before it takes over the screen). A passphrase that
/// worked is kept for the rest of this process (`OPSDECK_SSH_PASSPHRASE`, never written
/// anywhere), so later connections do not ask again. Hosts that fail are returned too; their
/// watchers report the error and retry.
pub async fn connect_interactively(
    inv: &Inventory,
    sel: &HostSelection,
    source: std::sync::Arc<dyn crate::host::PassphraseSource>,
    remember: &(dyn Fn(&str) + Sync),
) -> Result<Vec<Host>, Error> {
    let plain = select_hosts(inv, sel)?;
    let mut out = Vec::with_capacity(plain.len());
    for h in plain {
        if h.spec().ssh.is_none() {
            out.push(h);
            continue;
        }
        let asked = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let recorder = std::sync::Arc::new(Recording {
            inner: source.clone(),
            last: asked.clone(),
        });
        let opts = crate::host::SshOptions {
            passphrase_source: Some(recorder),
            ..crate::host::SshOptions::from_env()
        };
        let host = Host::with_options(h.name(), h.spec(), opts)?;
        let ok = tokio::time::timeout(std::time::Duration::from_secs(30), host.connect())
            .await
            .is_ok_and(|r| r.is_ok());
        if ok {
            if let Some(p) = asked.lock().ok().and_then(|g| g.clone()) {
                remember(&p);
            }
        }
        out.push(host);
    }
    Ok(out)
}

struct Recording {
    inner: std::sync::Arc<dyn crate::host::PassphraseSource>,
    last: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl crate::host::PassphraseSource for Recording {
    fn passphrase<'a>(
        &'a self,
        host: &'a str,
        key_file: &'a std::path::Path,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            let p = self.inner.passphrase(host, key_file).await;
            if let (Some(v), Ok(mut g)) = (&p, self.last.lock()) {
                *g = Some(v.clone());
            }
            p
        })
    }
}
