//! Which hosts a command runs on.

use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use crate::names;
use std::collections::BTreeMap;

/// The `--host` arguments: names or `tag:TAG`; empty means every host.
#[derive(Debug, Clone, Default)]
pub struct HostSelection(pub Vec<String>);

/// The process's host handles, one per host name (clones share the connection), so an
/// action, its plan, the console's watchers and its runs all talk over one SSH connection,
/// and a key unlocked once stays unlocked.
fn registry() -> &'static std::sync::Mutex<BTreeMap<String, Host>> {
    static HOSTS: std::sync::OnceLock<std::sync::Mutex<BTreeMap<String, Host>>> =
        std::sync::OnceLock::new();
    HOSTS.get_or_init(Default::default)
}

/// The handle of the inventory's host `name`: the one this process already has (when its
/// settings are the inventory's), else a new one, kept for the next caller.
pub fn host(inv: &Inventory, name: &str) -> Result<Host, Error> {
    let spec = host_spec(inv, name)?;
    let mut hosts = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = hosts.get(name).filter(|h| h.spec() == spec) {
        return Ok(h.clone());
    }
    let h = Host::new(name, spec)?;
    hosts.insert(name.to_string(), h.clone());
    Ok(h)
}

/// The inventory's host `name`; an unknown name is a usage error listing the hosts there are.
pub fn host_spec<'a>(
    inv: &'a Inventory,
    name: &str,
) -> Result<&'a crate::inventory::HostSpec, Error> {
    inv.hosts.get(name).ok_or_else(|| {
        Error::usage(names::unknown_name_message(
            "host",
            name,
            inv.hosts.keys().map(String::as_str),
        ))
    })
}

/// Keep `h` as the process's handle for its name (a host connected with a passphrase
/// prompt, so later callers reuse the unlocked connection).
fn register(h: &Host) {
    let mut hosts = registry().lock().unwrap_or_else(|p| p.into_inner());
    hosts.insert(h.name().to_string(), h.clone());
}

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
    chosen.into_iter().map(|n| host(inv, n)).collect()
}

/// Connect the selected SSH hosts up front, asking `source` for the passphrase of an
/// encrypted key (the console prompts before it takes over the screen). The connected hosts
/// become the process's handles ([`host`]), and a passphrase that worked stays with its
/// handle (in memory only, never written anywhere), so a reconnect does not ask again.
/// Hosts that fail are returned too; their watchers report the error and retry.
pub async fn connect_interactively(
    inv: &Inventory,
    sel: &HostSelection,
    source: std::sync::Arc<dyn crate::host::PassphraseSource>,
) -> Result<Vec<Host>, Error> {
    let plain = select_hosts(inv, sel)?;
    let mut out = Vec::with_capacity(plain.len());
    for h in plain {
        if h.spec().ssh.is_none() {
            out.push(h);
            continue;
        }
        let asked = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let confirmed = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let recorder = std::sync::Arc::new(Recording {
            inner: source.clone(),
            last: asked.clone(),
            confirmed: confirmed.clone(),
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
                // A reconnect of this handle answers itself: no prompt over the console.
                if let Ok(mut c) = confirmed.lock() {
                    *c = Some(p);
                }
            }
        }
        register(&host);
        out.push(host);
    }
    Ok(out)
}

/// Asks `inner` and records the answer; once a connection proved an answer right
/// (`confirmed`), gives it without asking.
struct Recording {
    inner: std::sync::Arc<dyn crate::host::PassphraseSource>,
    last: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    confirmed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl crate::host::PassphraseSource for Recording {
    fn passphrase<'a>(
        &'a self,
        host: &'a str,
        key_file: &'a std::path::Path,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(p) = self.confirmed.lock().ok().and_then(|g| g.clone()) {
                return Some(p);
            }
            let p = self.inner.passphrase(host, key_file).await;
            if let (Some(v), Ok(mut g)) = (&p, self.last.lock()) {
                *g = Some(v.clone());
            }
            p
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(socket: &str) -> Inventory {
        let text =
            format!("[hosts.registry-a]\ndocker_socket = \"{socket}\"\n[hosts.registry-b]\n");
        crate::inventory::load_str(&text, std::path::Path::new("test.toml")).expect("inventory")
    }

    #[test]
    fn one_handle_per_host_name() {
        let inv = inventory("/run/a.sock");
        let a1 = host(&inv, "registry-a").expect("a");
        let a2 = host(&inv, "registry-a").expect("a again");
        let b = host(&inv, "registry-b").expect("b");
        assert!(a1.same_connection(&a2));
        assert!(!a1.same_connection(&b));
        let chosen = select_hosts(&inv, &HostSelection(vec!["registry-a".into()])).expect("sel");
        assert!(chosen[0].same_connection(&a1));
        // Other settings under the same name (another inventory): a new handle.
        let other = host(&inventory("/run/other.sock"), "registry-a").expect("other");
        assert!(!other.same_connection(&a1));
        match host(&inv, "registry-c") {
            Err(e) => assert!(e.message.contains("registry-c"), "{}", e.message),
            Ok(_) => panic!("an unknown host got a handle"),
        }
    }
}
