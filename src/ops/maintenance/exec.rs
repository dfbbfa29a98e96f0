//! Running maintenance steps: the container (busybox `httpd` with a CGI script answering 503
//! with the page for every request), the routes file edit with the container's address, and
//! the proof through the proxy that the page is what a visitor gets.

use super::super::step::MaintenanceSite;
use super::{LABEL, MESSAGE_LABEL, PROJECT_LABEL};
use crate::docker::control::{self, NewContainer};
use crate::docker::wait::{self, Look, Verdict, WaitError};
use crate::error::Error;
use crate::host::Host;
use crate::routes::maintenance::{self as rm, MaintRouter};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What every maintenance page starts with (a probe reads the first 200 characters).
pub const MARKER: &str = "<!doctype html><!-- opsdeck-maintenance -->";

/// How long the container may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The CGI script: every request (Traefik rewrites the path to it) gets a 503.
const CGI: &str = "#!/bin/sh\nprintf 'Status: 503 Service Unavailable\\r\\nContent-Type: text/html; charset=utf-8\\r\\nRetry-After: 120\\r\\nCache-Control: no-store\\r\\n\\r\\n'\ncat /www/page.html\n";

/// The container's command: fixed text; the page and the script come in the environment.
const START: &str = "mkdir -p /www/cgi-bin && printf '%s' \"$OPSDECK_CGI\" > /www/cgi-bin/opsdeck-maintenance && chmod 755 /www/cgi-bin/opsdeck-maintenance && printf '%s' \"$OPSDECK_PAGE\" > /www/page.html && exec httpd -f -p \"$OPSDECK_PORT\" -h /www";

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page a visitor sees.
pub fn page(message: &str) -> String {
    format!(
        "{MARKER}<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Down for maintenance</title></head><body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>Down for maintenance</h1><p>{}</p></body></html>\n",
        escape_html(message)
    )
}

fn engine_err(what: &str, e: crate::docker::EngineError) -> Error {
    Error::failed(format!("{what}: {}", crate::docker::describe_error(&e)))
}

/// Step: start the maintenance container and wait until it answers 503 with the page.
pub(in crate::ops) async fn start(
    host: &Host,
    site: &MaintenanceSite,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let d = host.docker().await?;
    // A stopped one left by an earlier run is replaced (a running one was refused at plan).
    if let Ok(old) = control::inspect(&d, &site.container).await {
        if old.running {
            return Err(Error::failed(format!(
                "{} is running already (another run?); nothing was changed",
                site.container
            )));
        }
        control::remove_forced(&d, &site.container)
            .await
            .map_err(|e| engine_err(&format!("removing the old {}", site.container), e))?;
    }
    let spec = NewContainer {
        name: site.container.clone(),
        image: site.image.clone(),
        entrypoint: vec!["sh".into(), "-c".into()],
        cmd: vec![START.into()],
        env: vec![
            format!("OPSDECK_CGI={CGI}"),
            format!("OPSDECK_PAGE={}", page(&site.message)),
            format!("OPSDECK_PORT={}", site.port),
        ],
        labels: HashMap::from([
            (LABEL.to_string(), site.app.clone()),
            (MESSAGE_LABEL.to_string(), site.message.clone()),
            (PROJECT_LABEL.to_string(), site.project.clone()),
        ]),
        host_network: false,
        network: site.network.clone(),
        no_healthcheck: true,
    };
    let id = control::run_detached(&d, &spec).await.map_err(|e| {
        engine_err(
            &format!("starting {} from {}", site.container, site.image),
            e,
        )
    })?;
    let waited = wait::until(START_TIMEOUT, cancel, || {
        let (d, id) = (&d, &id);
        async move {
            let i = control::inspect(d, id).await?;
            // Its answer is what counts (the image's own health check, if any, is off).
            Ok(match (wait::verdict(&i), i.ip(site.network.as_deref())) {
                (Verdict::Exited(code), _) => Look::Failed(format!(
                    "{} exited with status {code} (does {} have busybox sh and httpd?)",
                    site.container, site.image
                )),
                (_, Some(ip)) if i.running => {
                    let url = format!("http://{ip}:{}/cgi-bin/opsdeck-maintenance", site.port);
                    let p =
                        crate::http::probe(&url, Duration::from_secs(3), Some(host), None).await;
                    if p.status == Some(503)
                        && p.body.as_deref().is_some_and(|b| b.starts_with(MARKER))
                    {
                        Look::Ready(format!(
                            "{} answers 503 at {ip}:{}",
                            site.container, site.port
                        ))
                    } else {
                        Look::NotYet(format!(
                            "GET {url}: {:?} {}",
                            p.status,
                            p.error.unwrap_or_default()
                        ))
                    }
                }
                _ => Look::NotYet(format!("{} is {}", site.container, i.state.as_str())),
            })
        }
    })
    .await;
    waited.map_err(|e| match e {
        WaitError::Look(e) => engine_err(&format!("inspect {}", site.container), e),
        WaitError::Cancelled => Error::cancelled(),
        other => Error::failed(other.to_string()),
    })
}

/// Step: remove the maintenance container (already gone is fine).
pub(in crate::ops) async fn stop(host: &Host, app: &str, container: &str) -> Result<String, Error> {
    let d = host.docker().await?;
    match control::inspect(&d, container).await {
        Err(_) => Ok(format!("{container} is not there (nothing to remove)")),
        Ok(_) => {
            control::remove_forced(&d, container)
                .await
                .map_err(|e| engine_err(&format!("removing {container}"), e))?;
            Ok(format!("removed {container}; {app} is out of maintenance"))
        }
    }
}

/// Step: add the maintenance routers to the file as it is now (the lock keeps others out),
/// the service at the container's address on the proxy's network (or the default bridge):
/// reached the same way by a Traefik in a container on that network and by one on the host.
pub(in crate::ops) async fn write_routes(
    host: &Host,
    path: &str,
    site: &MaintenanceSite,
    routers: &[MaintRouter],
) -> Result<String, Error> {
    let d = host.docker().await?;
    let i = control::inspect(&d, &site.container)
        .await
        .map_err(|e| engine_err(&format!("inspect {}", site.container), e))?;
    let ip = i
        .ip(site.network.as_deref())
        .ok_or_else(|| Error::failed(format!("{} has no network address", site.container)))?;
    let url = format!("http://{ip}:{}", site.port);
    let read = host.read_optional(std::path::Path::new(path)).await;
    let now = match read.map_err(|e| Error::failed(format!("reading {path}: {e}")))? {
        Some(b) => {
            String::from_utf8(b).map_err(|_| Error::failed(format!("{path} is not UTF-8 text")))?
        }
        None => String::new(),
    };
    let text = rm::add_maintenance(&now, &site.app, &url, routers)
        .map_err(|e| Error::failed(format!("{path}: {e}")))?;
    crate::routes::check_file(&text, path)
        .map_err(|e| Error::failed(format!("refusing to write {path}: {e}")))?;
    let done = super::super::routes::write_routes(host, path, &text, true).await?;
    Ok(format!("{done}; {} served by {url}", site.app))
}

/// Step: GET `/` through the entrypoint with `Host: host_header` until it answers 503 with
/// the maintenance page.
pub(in crate::ops) async fn answers(
    host: &Host,
    entrypoint: &str,
    host_header: &str,
    limit: Duration,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let started = Instant::now();
    let url = format!("{}/", entrypoint.trim_end_matches('/'));
    loop {
        let p =
            crate::http::probe(&url, Duration::from_secs(5), Some(host), Some(host_header)).await;
        let page = p.body.as_deref().is_some_and(|b| b.starts_with(MARKER));
        if p.status == Some(503) && page {
            return Ok(format!(
                "GET / with Host: {host_header} answered 503 with the maintenance page in {:.0} ms",
                p.latency_ms.unwrap_or(0.0)
            ));
        }
        if started.elapsed() >= limit {
            let what = match (p.status, p.error) {
                (Some(s), _) => format!("answered {s}: {}", p.body.unwrap_or_default()),
                (None, Some(e)) => e,
                _ => "no answer".into(),
            };
            return Err(Error::failed(format!(
                "GET {url} with Host: {host_header} did not show the maintenance page within {}s: {what}",
                limit.as_secs()
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_the_message_and_starts_with_the_marker() {
        let p = page("Back at <b>5</b> & \"soon\"");
        assert!(p.starts_with(MARKER));
        assert!(
            p.contains("Back at &lt;b&gt;5&lt;/b&gt; &amp; &quot;soon&quot;"),
            "{p}"
        );
        assert!(!p.contains("<b>"));
    }
}
