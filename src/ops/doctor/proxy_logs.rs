//! The proxy_logs step: the proxy's recent log lines about the app (information only).

use super::{step, Ctx, DoctorStep};
use crate::host::Cmd;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The proxy's recent log lines that mention the app's domains or routers (information,
/// never a failure).
pub(super) async fn check_proxy_logs(cx: &Ctx<'_>) -> DoctorStep {
    let mut s = step("proxy_logs", "recent proxy log lines mentioning the domain");
    let Some(c) = cx.proxy.as_ref().and_then(|p| p.container.as_deref()) else {
        return s.skip("set proxy.container in the inventory to see its log lines");
    };
    let cmd = Cmd::new("docker")
        .args(["logs", "--tail", "500", c])
        .timeout(Duration::from_secs(10));
    match cx.host.exec(&cmd, &CancellationToken::new()).await {
        Ok(o) if o.success() => {
            let all = format!("{}{}", o.stdout_str(), o.stderr_str());
            let lines = mentioning_app(cx, &all);
            let n = lines.len();
            s.detail
                .extend(lines.into_iter().rev().take(10).rev().map(|l| {
                    crate::secrets::mask_text(l.chars().take(300).collect::<String>().as_str())
                }));
            if n == 0 {
                s.detail.push("no recent line mentions the domains".into());
            }
        }
        Ok(o) => s
            .detail
            .push(format!("docker logs {c}: {}", o.stderr_str().trim())),
        Err(e) => s.detail.push(format!("docker logs {c}: {e}")),
    }
    s
}

/// The lines of `all` naming one of the app's domains or one of its routers: Traefik's
/// access log (CLF) names the router, not the Host, so match both.
fn mentioning_app<'t>(cx: &Ctx<'_>, all: &'t str) -> Vec<&'t str> {
    let mut needles: Vec<String> = cx.spec.domains.clone();
    needles.extend(
        cx.listed
            .iter()
            .filter(|r| cx.serves_app_domain(r))
            .map(|r| format!("\"{}\"", r.route.api_name())),
    );
    all.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n.as_str())))
        .collect()
}
