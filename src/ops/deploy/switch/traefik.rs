//! Traefik's side of the switch: whether its API lists an address, and making its docker
//! provider read the containers again.

use super::{engine_err, Run, POLL};
use crate::docker::control::{self, NewContainer};
use crate::error::Error;
use std::time::{Duration, Instant};

impl Run<'_, '_> {
    /// Every server URL Traefik's API lists, over all services.
    pub(super) async fn traefik_servers(&self, api: &str) -> Result<Vec<String>, Error> {
        let mut urls = Vec::new();
        for page in 1..=50 {
            let (status, body) = crate::routes::api::get(
                self.cx.host,
                api,
                &format!("/api/http/services?per_page=100&page={page}"),
                Duration::from_secs(10),
            )
            .await
            .map_err(Error::failed)?;
            if status != 200 {
                return Err(Error::failed(format!(
                    "{api}/api/http/services answered {status}"
                )));
            }
            let v: serde_json::Value = serde_json::from_str(&body)
                .map_err(|e| Error::failed(format!("{api}/api/http/services: {e}")))?;
            let list = v.as_array().cloned().unwrap_or_default();
            for s in &list {
                for srv in s["loadBalancer"]["servers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if let Some(u) = srv["url"].as_str() {
                        urls.push(u.to_string());
                    }
                }
            }
            if list.len() < 100 {
                break;
            }
        }
        Ok(urls)
    }

    /// Wait until Traefik lists (`present`) or no longer lists an address of every container
    /// in `ips`.
    pub(super) async fn traefik_lists(
        &self,
        api: &str,
        ips: &[String],
        present: bool,
        limit: Duration,
    ) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            let urls = self.traefik_servers(api).await?;
            let listed = |ip: &String| {
                urls.iter().any(|u| {
                    u.strip_prefix("http://")
                        .or_else(|| u.strip_prefix("https://"))
                        .is_some_and(|r| r.starts_with(&format!("{ip}:")) || r == ip)
                })
            };
            if ips.iter().all(|ip| listed(ip) == present) {
                return Ok(());
            }
            if start.elapsed() >= limit {
                return Err(Error::failed(format!(
                    "Traefik ({api}) {} {} within {}s",
                    if present {
                        "did not route to"
                    } else {
                        "still routes to"
                    },
                    ips.join(", "),
                    limit.as_secs()
                )));
            }
            self.sleep(POLL).await?;
        }
    }

    /// Make Traefik's docker provider read the containers again: it does on a container's
    /// start. A throwaway container of the service's image (no network, no mounts, no
    /// environment, removed at once) is that start.
    pub(super) async fn nudge_traefik(&self, image_of: Option<&str>) -> Result<(), Error> {
        let image = match image_of {
            Some(id) => control::inspect(&self.d, id)
                .await
                .ok()
                .and_then(|i| i.image_id),
            None => None,
        };
        let Some(image) = image else { return Ok(()) };
        let c = NewContainer {
            name: format!("opsdeck-nudge-{}", uniq()),
            image,
            entrypoint: vec![],
            cmd: vec![],
            env: vec![],
            labels: [("opsdeck.nudge".to_string(), "true".to_string())].into(),
            host_network: false,
            network: Some("none".into()),
            no_healthcheck: true,
        };
        match control::run_detached(&self.d, &c).await {
            Ok(id) => {
                let _ = control::remove_forced(&self.d, &id).await;
                Ok(())
            }
            Err(e) => Err(engine_err("starting a throwaway container", e)),
        }
    }
}

fn uniq() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{n:x}{:x}", std::process::id())
}
