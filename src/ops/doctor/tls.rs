//! The TLS step: the certificate the proxy serves for each domain is valid and not near
//! expiry.

use super::{step, Ctx, DoctorStep, CERT_MIN_DAYS};
use std::time::Duration;

/// Over https (entrypoint or a cert resolver): each domain's certificate is valid and
/// not within `CERT_MIN_DAYS` of expiry.
pub(super) async fn check_tls(cx: &Ctx<'_>) -> DoctorStep {
    let s = step("tls", "the TLS certificate is valid and not near expiry");
    // The entrypoint counts as https only when the proxy step probed it (the app has domains).
    let https =
        !cx.spec.domains.is_empty() && cx.entrypoint().is_some_and(|e| e.starts_with("https://"));
    let uses_tls = https
        || cx
            .listed
            .iter()
            .any(|r| r.route.cert_resolver.is_some() && cx.serves_app_domain(r));
    match cx.entrypoint() {
        Some(e) if uses_tls => check_certs(cx, e, s).await,
        _ => s.skip("the site is served over plain http"),
    }
}

async fn check_certs(cx: &Ctx<'_>, entry: &str, mut s: DoctorStep) -> DoctorStep {
    let t = crate::http::parse_url(entry).ok();
    let port = t
        .as_ref()
        .map(|t| if t.tls { t.port } else { 443 })
        .unwrap_or(443);
    let h = t.map(|t| t.host).unwrap_or_else(|| "127.0.0.1".into());
    for d in &cx.spec.domains {
        let url = format!("https://{h}:{port}/");
        let p = crate::http::probe(&url, Duration::from_secs(5), Some(&cx.host), Some(d)).await;
        match (&p.cert_not_after, &p.error) {
            (Some(na), _) => {
                let days = chrono::DateTime::parse_from_rfc3339(na)
                    .map(|t| (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days())
                    .unwrap_or(0);
                if days < CERT_MIN_DAYS {
                    s.fail(
                        format!("{d}: the certificate expires {na} ({days} days)"),
                        "renewal is failing: read the proxy's ACME log lines".into(),
                    );
                } else {
                    s.detail.push(format!("{d}: valid until {na} ({days} days)"));
                }
            }
            (None, e) => s.fail(
                format!("{d}: TLS: {}", e.clone().unwrap_or_else(|| "no certificate".into())),
                "the proxy has no valid certificate for this name: check the cert resolver and that DNS points here (ACME needs it)".into(),
            ),
        }
    }
    s
}
