//! A deploy's image steps: checking (and pulling) the images of a version before anything is
//! recreated, tagging and pinning (a rollback's recorded images put back under their tags),
//! and recording the images a version runs in the journal.

use super::super::step::ComposeTarget;
use super::exec::{compose_flavor, run_checked, service_container};
use super::short_id;
use crate::docker::{control, images};
use crate::error::Error;
use crate::host::{Cmd, Host};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Image names per service from `compose config` (normalized YAML: two-space indents).
pub fn images_from_config(config: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_services = false;
    let mut current: Option<String> = None;
    for line in config.lines() {
        if !line.starts_with(' ') {
            in_services = line.trim_end() == "services:";
            current = None;
            continue;
        }
        if !in_services {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 2 && t.ends_with(':') {
            current = Some(t.trim_end_matches(':').trim_matches('"').to_string());
        } else if indent == 4 {
            if let (Some(svc), Some(img)) = (&current, t.strip_prefix("image: ")) {
                out.push((
                    svc.clone(),
                    img.trim_matches('"').trim_matches('\'').to_string(),
                ));
            }
        }
    }
    out
}

pub(in crate::ops) async fn check_images(
    host: &Host,
    compose: &ComposeTarget,
    services: &[String],
    version_var: &str,
    version: &str,
    pull: bool,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let flavor = compose_flavor(host).await?;
    let config = run_checked(
        host,
        &compose
            .cmd(&flavor, &["config"])
            .env(version_var, version)
            .timeout(Duration::from_secs(60)),
        cancel,
        "compose config",
    )
    .await?;
    let images = images_from_config(&config);
    let docker = host.docker().await?;
    let mut report = Vec::new();
    for svc in services {
        let Some((_, image)) = images.iter().find(|(s, _)| s == svc) else {
            return Err(Error::failed(format!(
                "service {svc} is not in the compose file (or has no image)"
            )));
        };
        let mut pull_error = None;
        if pull {
            let mut args = vec!["pull", "--quiet"];
            args.push(svc);
            let out = host
                .exec(
                    &compose
                        .cmd(&flavor, &args)
                        .env(version_var, version)
                        .timeout(Duration::from_secs(600)),
                    cancel,
                )
                .await?;
            if out.success() {
                report.push(format!("{svc}: pulled {image}"));
                continue;
            }
            let err = out.stderr_str();
            let tail: Vec<&str> = err
                .lines()
                .filter(|l| !l.trim().is_empty())
                .rev()
                .take(2)
                .collect();
            pull_error = Some(crate::secrets::mask_text(
                &tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
            ));
        }
        let registry = registry_of(image);
        // A registry that answers "no such tag" is the authority: a copy of that name left
        // on the host is not what the tag means now.
        let unknown_tag = pull_error.as_deref().is_some_and(|e| {
            let e = e.to_ascii_lowercase();
            registry.is_some() && (e.contains("manifest unknown") || e.contains("not found"))
        });
        match images::inspect(&docker, image).await {
            Ok(_) if !unknown_tag => report.push(format!("{svc}: {image} is on the host")),
            _ => {
                return Err(Error::failed(format!(
                    "image {image} for {svc}: {}; nothing was changed",
                    match (&pull_error, registry) {
                        (Some(e), Some(r)) => format!("the registry {r} refused it ({e})"),
                        (Some(e), None) =>
                            format!("it cannot be pulled ({e}) and is not on {}", host.name()),
                        (None, _) => format!("it is not on {}", host.name()),
                    }
                )))
            }
        }
    }
    Ok(report.join("; "))
}

pub(in crate::ops) async fn tag_image(
    host: &Host,
    image_id: &str,
    reference: &str,
) -> Result<String, Error> {
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (reference, "latest"),
    };
    let docker = host.docker().await?;
    images::tag(&docker, image_id, repo, tag)
        .await
        .map_err(|e| {
            Error::failed(format!(
                "docker tag {} {reference}: {}",
                short_id(image_id),
                crate::docker::describe_error(&e)
            ))
        })?;
    Ok(format!("{} tagged {repo}:{tag}", short_id(image_id)))
}

/// The registry an image reference names (`registry.example.com`, `127.0.0.1:5443`,
/// `ghcr.io`), or `None` for Docker Hub's short names.
pub fn registry_of(image: &str) -> Option<&str> {
    let (first, rest) = image.split_once('/')?;
    (!rest.is_empty() && (first.contains('.') || first.contains(':') || first == "localhost"))
        .then_some(first)
}

pub(in crate::ops) async fn record_images(
    host: &Host,
    (journal, action_id): (&crate::journal::Journal, i64),
    app: &str,
    compose: &ComposeTarget,
    services: &[String],
    version: &str,
) -> Result<String, Error> {
    let docker = host.docker().await?;
    let mut seen = Vec::new();
    for svc in services {
        let Some(id) = service_container(&docker, compose, svc, false).await? else {
            seen.push(format!("{svc}: no running container"));
            continue;
        };
        let c = control::inspect(&docker, &id)
            .await
            .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
        let (Some(reference), Some(image_id)) = (c.image, c.image_id) else {
            continue;
        };
        let image = images::inspect(&docker, &image_id)
            .await
            .map_err(|e| Error::failed(crate::docker::describe_error(&e)))?;
        let (repo, _) = crate::docker::parse_image_ref(&reference);
        let digest = image
            .repo_digests
            .into_iter()
            .find(|d| d.split('@').next() == Some(repo.as_str()));
        journal
            .record_image(
                action_id,
                &crate::journal::ImageRecord {
                    app: app.to_string(),
                    service: svc.clone(),
                    version: version.to_string(),
                    reference: reference.clone(),
                    image_id: image_id.clone(),
                    digest: digest.clone(),
                    seen_at: String::new(),
                },
            )
            .await?;
        seen.push(format!(
            "{svc}: {reference} = {}",
            digest.unwrap_or_else(|| format!("image {}", short_id(&image_id)))
        ));
    }
    Ok(seen.join("; "))
}

pub(in crate::ops) async fn pin_image(
    host: &Host,
    reference: &str,
    image_id: &str,
    digest: Option<&str>,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let docker = host.docker().await?;
    let source = match digest {
        Some(d) => {
            if images::inspect(&docker, d).await.is_err() {
                // The docker CLI, so the host's own `docker login` credentials are used.
                let mut cmd = Cmd::new("docker")
                    .args(["pull", "--quiet", d])
                    .timeout(Duration::from_secs(600));
                if let Some(sock) = &host.spec().docker_socket {
                    cmd = cmd.env("DOCKER_HOST", format!("unix://{sock}"));
                }
                run_checked(host, &cmd, cancel, &format!("docker pull {d}")).await?;
            }
            d.to_string()
        }
        None => {
            images::inspect(&docker, image_id).await.map_err(|_| {
                Error::failed(format!(
                    "the image recorded for {reference} ({}) is no longer on {} and came from no registry",
                    short_id(image_id),
                    host.name()
                ))
            })?;
            image_id.to_string()
        }
    };
    tag_image(host, &source, reference).await?;
    Ok(format!("{reference} -> {source}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_of_image_references() {
        assert_eq!(
            registry_of("127.0.0.1:5443/alpha/site:v1"),
            Some("127.0.0.1:5443")
        );
        assert_eq!(registry_of("ghcr.io/nick/app:latest"), Some("ghcr.io"));
        assert_eq!(registry_of("localhost/x"), Some("localhost"));
        assert_eq!(registry_of("mintel/app:1"), None);
        assert_eq!(registry_of("postgres:18"), None);
    }

    #[test]
    fn images_from_compose_config() {
        let cfg = "services:\n  api:\n    image: reg/app:2\n    ports:\n    - 80\n  web:\n    build: .\n    image: \"reg/web:2\"\nversion: '2.4'\n";
        assert_eq!(
            images_from_config(cfg),
            [
                ("api".to_string(), "reg/app:2".to_string()),
                ("web".to_string(), "reg/web:2".to_string())
            ]
        );
    }
}
