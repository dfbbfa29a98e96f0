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
