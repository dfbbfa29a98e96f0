//! The route step: each domain has a router that Traefik loads without errors.

use super::{step, Ctx, DoctorStep};
use crate::ops::routes::host_routes;

/// Each domain has an enabled, error-free router; records the host's routes in `cx`.
pub(super) async fn check_route(cx: &mut Ctx<'_>) -> DoctorStep {
    let mut s = step(
        "route",
        "a route exists for each domain and Traefik loads it without errors",
    );
    if cx.proxy.is_none() {
        return s.skip("the host has no proxy in the inventory");
    }
    let hr = host_routes(cx.inv, &cx.host).await;
    for e in [&hr.file_error, &hr.labels_error, &hr.api_error]
        .into_iter()
        .flatten()
    {
        s.detail.push(format!("note: {e}"));
    }
    cx.listed = hr.routes;
    if cx.spec.domains.is_empty() {
        return s.skip("the app has no domains in the inventory");
    }
    for d in &cx.spec.domains {
        judge_route(cx, &d.to_ascii_lowercase(), &mut s);
    }
    s
}

/// The router for domain `d` (lower case): enabled, broken, or missing.
fn judge_route(cx: &Ctx<'_>, d: &str, s: &mut DoctorStep) {
    match cx
        .listed
        .iter()
        .find(|r| r.route.hosts.iter().any(|h| h == d))
    {
        Some(r) if r.status.as_deref() == Some("enabled") && r.errors.is_empty() => {
            s.detail.push(format!(
                "{d}: router {} ({} route from {}) is enabled",
                r.route.api_name(),
                r.route.provider,
                r.route.source
            ))
        }
        Some(r) => s.fail(
            format!(
                "{d}: router {} is {}{}",
                r.route.api_name(),
                r.status
                    .clone()
                    .unwrap_or_else(|| "not reported by Traefik".into()),
                if r.errors.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.errors.join("; "))
                }
            ),
            format!(
                "fix router {} in {} (Traefik's log says why: docker logs <traefik> --tail 50)",
                r.route.router, r.route.source
            ),
        ),
        None => no_route(cx, d, s),
    }
}

/// No router names `d`: a route to this app under another name is the "wrong Host" case.
fn no_route(cx: &Ctx<'_>, d: &str, s: &mut DoctorStep) {
    let (app, spec) = (cx.app, &cx.spec);
    let app_names: Vec<&str> = cx.containers.iter().map(|c| c.name.as_str()).collect();
    let to_app = cx.listed.iter().find(|r| {
        app_names.iter().any(|n| {
            r.route.source == *n
                || r.route
                    .targets
                    .iter()
                    .any(|t| t.contains(&format!("//{n}:")))
        })
    });
    let also_serves = to_app.filter(|r| cx.serves_app_domain(r));
    match (to_app, also_serves) {
        (_, Some(r)) => s.fail(
            format!(
                "{d}: no route; router {} serves this app for {} only",
                r.route.router,
                r.route.hosts.join(", ")
            ),
            format!(
                "add the name to router {}: {} || Host(`{d}`) (in {})",
                r.route.router, r.route.rule, r.route.source
            ),
        ),
        (Some(r), None) => s.fail(
            format!(
                "{d}: no route; router {} sends {} to this app",
                r.route.router, r.route.rule
            ),
            format!(
                "the rule names the wrong host: make it Host(`{d}`) in {}",
                r.route.source
            ),
        ),
        (None, None) => s.fail(
            format!("{d}: no route names this host"),
            format!(
                "add one: opsdeck routes add {app} --rule 'Host(`{d}`)' --to CONTAINER:PORT --host {}",
                spec.host
            ),
        ),
    }
}
