//! Gathering what a plan needs: which containers a target names, on which host.

use super::action::Target;
use super::plan::{PlanInput, Resolved};
use super::query::{app_project, belongs_to_app, find_app};
use crate::docker;
use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use crate::names;

/// Look the target up on the hosts it can live on. `hosts` is the `--host` selection.
pub async fn resolve(inv: &Inventory, hosts: &[Host], target: &Target) -> Result<PlanInput, Error> {
    let mut owned = Vec::new();
    let (look_at, app_spec): (Vec<&Host>, _) = match target {
        Target::App { app } | Target::AppService { app, .. } => {
            let spec = find_app(inv, app)?;
            let h = match hosts.iter().find(|h| h.name() == spec.host) {
                Some(h) => h,
                None => {
                    owned.push(Host::new(&spec.host, &inv.hosts[&spec.host])?);
                    &owned[0]
                }
            };
            (vec![h], Some(spec))
        }
        Target::HostContainer { host, .. } => {
            let h = match hosts.iter().find(|h| h.name() == host) {
                Some(h) => h,
                None => {
                    let spec = inv.hosts.get(host).ok_or_else(|| {
                        Error::usage(names::unknown_name_message(
                            "host",
                            host,
                            inv.hosts.keys().map(String::as_str),
                        ))
                    })?;
                    owned.push(Host::new(host, spec)?);
                    &owned[0]
                }
            };
            (vec![h], None)
        }
        Target::Container { .. } => (hosts.iter().collect(), None),
    };
    let mut input = PlanInput {
        service_order: app_spec.map(|a| a.services.clone()).unwrap_or_default(),
        ..PlanInput::default()
    };
    let mut services_seen = Vec::new();
    let target_project = match (app_spec, look_at.first()) {
        (Some(a), Some(h)) => Some(app_project(h, a).await?),
        _ => None,
    };
    for h in look_at {
        // The projects of the host's apps, resolved on the first container that needs them.
        let mut projects: Option<Vec<(String, crate::docker::compose::Project)>> = None;
        let d = h.docker().await?;
        let list = docker::list_containers(&d, h.name()).await.map_err(|e| {
            Error::unreachable(format!(
                "{}: listing containers failed: {}",
                h.name(),
                docker::describe_error(&e)
            ))
        })?;
        for c in list {
            input.known_names.push(c.name.clone());
            let in_target_app = target_project
                .as_ref()
                .is_some_and(|p| belongs_to_app(&c, p));
            let hit = match target {
                Target::Container { name } | Target::HostContainer { name, .. } => {
                    c.name == *name || (name.len() >= 6 && c.id.starts_with(name.as_str()))
                }
                Target::App { .. } => in_target_app,
                Target::AppService { service, .. } => {
                    let in_app = in_target_app;
                    if in_app {
                        if let Some(s) = &c.service {
                            services_seen.push(s.clone());
                        }
                    }
                    in_app && c.service.as_deref() == Some(service.as_str())
                }
            };
            if hit {
                let app_of = match target {
                    Target::App { app } | Target::AppService { app, .. } => Some(app.clone()),
                    _ => {
                        if projects.is_none() {
                            let mut v = Vec::new();
                            for (n, a) in inv.apps.iter().filter(|(_, a)| a.host == h.name()) {
                                v.push((n.clone(), app_project(h, a).await?));
                            }
                            projects = Some(v);
                        }
                        projects
                            .iter()
                            .flatten()
                            .find(|(_, p)| belongs_to_app(&c, p))
                            .map(|(n, _)| n.clone())
                    }
                };
                input.matched.push(Resolved {
                    host: h.name().to_string(),
                    id: c.id.clone(),
                    name: c.name.clone(),
                    app: app_of,
                    service: c.service.clone(),
                    state: c.state,
                    health: c.health,
                });
            }
        }
    }
    if let (Target::AppService { app, service }, true) = (target, input.matched.is_empty()) {
        services_seen.sort();
        services_seen.dedup();
        return Err(Error::usage(format!(
            "app {app}: {}",
            names::unknown_name_message(
                "service",
                service,
                services_seen.iter().map(String::as_str)
            )
        )));
    }
    Ok(input)
}
