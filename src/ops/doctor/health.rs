//! The health steps: the health path answers from each container, then through the proxy.

use super::{step, Ctx, DoctorStep};
use crate::docker::ContainerInfo;
use crate::host::Host;
use crate::inventory::HealthSpec;
use crate::ops::routes::HEALTH_PATH;
use std::time::Duration;

/// The health path answers from each running container, bypassing the proxy.
pub(super) async fn check_health_direct(cx: &Ctx<'_>) -> DoctorStep {
    let mut s = step(
        "health_direct",
        "the health path answers from the container",
    );
    let running = cx.running();
    match (&cx.spec.health, running.is_empty()) {
        (None, _) => return s.skip("the app has no `health` (path, port) in the inventory"),
        (Some(_), true) => s.fail(
            "no running container to ask".into(),
            "fix the containers step first".into(),
        ),
        (Some(h), false) => {
            for c in &running {
                probe_container(cx, h, c, &mut s).await;
            }
        }
    }
    s
}

async fn probe_container(cx: &Ctx<'_>, h: &HealthSpec, c: &ContainerInfo, s: &mut DoctorStep) {
    let app = cx.app;
    let Some(ip) = container_ip(&cx.host, c, cx.proxy_network()).await else {
        s.fail(
            format!("{} has no network address", c.name),
            "check its networks".into(),
        );
        return;
    };
    let url = format!("http://{ip}:{}{}", h.port, h.path);
    let p = crate::http::probe(&url, Duration::from_secs(5), Some(&cx.host), None).await;
    if p.is_up(None) {
        s.detail.push(format!(
            "{}: GET {} -> {} in {:.0} ms",
            c.name,
            h.path,
            p.status.unwrap_or(0),
            p.latency_ms.unwrap_or(0.0)
        ));
    } else {
        s.fail(
            format!(
                "{}: GET {url} -> {}",
                c.name,
                p.status
                    .map(|x| x.to_string())
                    .or(p.error)
                    .unwrap_or_else(|| "no answer".into())
            ),
            format!(
                "the app itself does not answer {}: read opsdeck logs {app}",
                h.path
            ),
        );
    }
}

/// The container's address, on `network` when given (the proxy's), else on any network.
async fn container_ip(host: &Host, c: &ContainerInfo, network: Option<&str>) -> Option<String> {
    let d = host.docker().await.ok()?;
    let i = crate::docker::control::inspect(&d, &c.id).await.ok()?;
    i.ip(network).map(str::to_string)
}

/// The health path answers through the proxy's entrypoint, with each domain as Host.
pub(super) async fn check_health_proxy(cx: &Ctx<'_>) -> DoctorStep {
    let mut s = step("health_proxy", "the health path answers through the proxy");
    let e = match (cx.entrypoint(), cx.spec.domains.is_empty()) {
        (None, _) => return s.skip("the host's proxy has no `entrypoint` in the inventory"),
        (_, true) => return s.skip("the app has no domains"),
        (Some(e), false) => e,
    };
    let path = cx
        .spec
        .health
        .as_ref()
        .map(|h| h.path.clone())
        .unwrap_or_else(|| HEALTH_PATH.into());
    for d in &cx.spec.domains {
        let url = format!("{}{path}", e.trim_end_matches('/'));
        let p = crate::http::probe(&url, Duration::from_secs(5), Some(&cx.host), Some(d)).await;
        if p.is_up(None) {
            s.detail.push(format!(
                "{d}: GET {path} -> {} in {:.0} ms",
                p.status.unwrap_or(0),
                p.latency_ms.unwrap_or(0.0)
            ));
        } else {
            let what = p
                .status
                .map(|x| x.to_string())
                .or(p.error)
                .unwrap_or_else(|| "no answer".into());
            let hint = match p.status {
                Some(404) => "404 from the proxy: no router matches this Host (see the route step)".to_string(),
                Some(502 | 504) => "the proxy cannot reach the container: check the network step and the service port".to_string(),
                _ => format!("check the proxy at {e}"),
            };
            s.fail(format!("{d}: GET {url} with Host: {d} -> {what}"), hint);
        }
    }
    s
}
