//! The service's DNS name on its networks: what a proxy that resolves the name (a Traefik
//! file route to `http://web:80`, Caddy, nginx when it loads, the app's own neighbours) sends
//! to. A new container is created off the name and put under it only once it is ready; the
//! old one leaves it before it drains, so nothing new reaches it. The engine keeps the
//! container's own names (its name and short ID) and, on a plain reconnect, its address.

use super::{engine_err, short, Member, Run};
use crate::docker::control::{self, Endpoint};
use crate::error::Error;

/// Networks without network-scoped names (the engine refuses aliases there).
fn has_names(ep: &Endpoint) -> bool {
    !matches!(ep.network.as_str(), "bridge" | "host" | "none")
}

impl Run<'_, '_> {
    /// Every network of container `id` with no alias (not under the service's name).
    pub(super) async fn off_the_name(&self, id: &str) -> Result<Vec<Endpoint>, Error> {
        let eps = control::endpoints(&self.d, id)
            .await
            .map_err(|e| engine_err(&format!("read the networks of {}", short(id)), e))?;
        for ep in eps.iter().filter(|ep| has_names(ep)) {
            control::reattach(&self.d, id, ep, &[]).await.map_err(|e| {
                engine_err(
                    &format!(
                        "take {} off the name {} on {}",
                        short(id),
                        self.sw.service,
                        ep.network
                    ),
                    e,
                )
            })?;
        }
        Ok(eps)
    }

    /// Back under the aliases `eps` recorded (the service's name among them).
    pub(super) async fn under_the_name(&self, id: &str, eps: &[Endpoint]) -> Result<(), Error> {
        for ep in eps.iter().filter(|ep| has_names(ep)) {
            control::reattach(&self.d, id, ep, &ep.aliases)
                .await
                .map_err(|e| {
                    engine_err(
                        &format!(
                            "put {} under the name {} on {}",
                            short(id),
                            self.sw.service,
                            ep.network
                        ),
                        e,
                    )
                })?;
        }
        Ok(())
    }

    /// A running container an interrupted or failed switch left off the service's name is
    /// put back under it (compose gives every container of a service that alias on each of
    /// its networks). Says what it did; `Ok(false)` when nothing was missing.
    pub(super) async fn named_again(&self, m: &Member) -> Result<bool, Error> {
        let eps = control::endpoints(&self.d, &m.id)
            .await
            .map_err(|e| engine_err(&format!("read the networks of {}", m.label()), e))?;
        let mut fixed = false;
        for ep in eps
            .iter()
            .filter(|ep| has_names(ep) && !ep.aliases.contains(&self.sw.service))
        {
            let mut aliases = ep.aliases.clone();
            aliases.push(self.sw.service.clone());
            control::reattach(&self.d, &m.id, ep, &aliases)
                .await
                .map_err(|e| {
                    engine_err(
                        &format!(
                            "put {} under the name {} on {}",
                            m.label(),
                            self.sw.service,
                            ep.network
                        ),
                        e,
                    )
                })?;
            self.say(format!(
                "{} was off the name {} on {}: put back",
                m.label(),
                self.sw.service,
                ep.network
            ));
            fixed = true;
        }
        Ok(fixed)
    }
}
