//! Planning a route edit (`routes add`, `routes remove`, `routes apply`): what the host has
//! now, then a pure function to a checked write proven through Traefik's API and the proxy.

use super::super::action::{target_url, Action};
use super::super::step::{Plan, RouterExpect, Step, StepKind};
use super::{
    label_routes, read_routes, traefik_of, ANSWER_TIMEOUT_SECS, HEALTH_PATH, LOAD_TIMEOUT_SECS,
};
use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use crate::routes::{self, api::ApiRouter, rule, NewRoute, Route};

/// What a route edit is planned from.
#[derive(Debug, Clone)]
pub struct RoutesInput {
    pub host: String,
    pub routes_file: String,
    pub api: String,
    pub entrypoint_url: Option<String>,
    /// The file now (`None`: it does not exist).
    pub current: Option<String>,
    /// Every route on the host (file and labels).
    pub existing: Vec<Route>,
    /// The routers Traefik reports.
    pub api_routers: Vec<ApiRouter>,
}

/// Read what a route edit needs from the host: the file, the label routes, the API.
pub async fn gather(inv: &Inventory, host_name: &str) -> Result<(RoutesInput, Host), Error> {
    let proxy = traefik_of(inv, host_name)?;
    let file = proxy.routes_file.clone().ok_or_else(|| {
        Error::usage(format!(
            "host {host_name}: set proxy.routes_file (the file provider's file) to edit routes"
        ))
    })?;
    let api = proxy.api.clone().ok_or_else(|| {
        Error::usage(format!(
            "host {host_name}: set proxy.api (Traefik's API, e.g. http://127.0.0.1:8080): a route edit is confirmed through it"
        ))
    })?;
    let host = super::super::select::host(inv, host_name)?;
    let current = read_routes(&host, &file).await.map_err(Error::failed)?;
    let doc = routes::parse_file(current.as_deref().unwrap_or("")).map_err(|e| {
        Error::usage(format!(
            "{file} on {host_name}: {e}; fix it (or restore {file}.previous) before editing"
        ))
    })?;
    let mut existing = routes::file_routes(&doc, &file);
    existing.extend(label_routes(&host).await.map_err(Error::failed)?);
    let api_routers = routes::api::routers(&host, &api).await.map_err(|e| {
        Error::unreachable(format!(
            "Traefik's API on {host_name} does not answer ({e}); nothing was changed"
        ))
    })?;
    Ok((
        RoutesInput {
            host: host_name.to_string(),
            routes_file: file,
            api,
            entrypoint_url: proxy.entrypoint.clone(),
            current,
            existing,
            api_routers,
        },
        host,
    ))
}

/// The planner of `routes add` / `routes remove` / `routes apply` (the signature every
/// planner has).
pub async fn plan(inv: &Inventory, _hosts: &[Host], action: &Action) -> Result<Plan, Error> {
    let host = match action {
        Action::RouteAdd { host, .. }
        | Action::RouteRemove { host, .. }
        | Action::RoutesApply { host, .. } => host,
        other => {
            return Err(Error::usage(format!(
                "{} is not a route edit",
                other.name()
            )));
        }
    };
    let (input, _) = gather(inv, host).await?;
    plan_routes(action, &input)
}

/// Plan `routes add` / `routes remove`. Pure: refusals here are exit 2, nothing written.
pub fn plan_routes(action: &Action, input: &RoutesInput) -> Result<Plan, Error> {
    let file = &input.routes_file;
    let current = input.current.clone().unwrap_or_default();
    let restore = StepKind::WriteRoutes {
        path: file.clone(),
        contents: if input.current.is_some() {
            current.clone()
        } else {
            "{}\n".into()
        },
        keep_previous: false,
    };
    let mut steps = Vec::new();
    match action {
        Action::RouteAdd {
            name,
            rule,
            to,
            entrypoint,
            cert_resolver,
            ..
        } => {
            let hosts = rule::check(rule).map_err(|e| Error::usage(format!("--rule: {e}")))?;
            if let Some(r) = input.existing.iter().find(|r| &r.router == name) {
                return Err(Error::usage(format!(
                    "a router named {name} already exists ({} route from {}); nothing was written",
                    r.provider, r.source
                )));
            }
            // Traefik's own routers (`api@internal`, ...) live in another namespace.
            if let Some(a) = input
                .api_routers
                .iter()
                .filter(|a| a.provider != "internal" && !a.name.ends_with("@internal"))
                .find(|a| a.name.split('@').next() == Some(name.as_str()))
            {
                return Err(Error::usage(format!(
                    "Traefik already has a router named {}; nothing was written",
                    a.name
                )));
            }
            for h in &hosts {
                if let Some(r) = input.existing.iter().find(|r| r.hosts.contains(h)) {
                    return Err(Error::usage(format!(
                        "{h} is already routed by {} ({} route from {}, rule {}); remove that route first. Nothing was written",
                        r.router, r.provider, r.source, r.rule
                    )));
                }
            }
            let new = routes::add_route(
                &current,
                &NewRoute {
                    name: name.clone(),
                    rule: rule.clone(),
                    url: target_url(to)?,
                    entrypoint: entrypoint.clone(),
                    cert_resolver: cert_resolver.clone(),
                },
            )
            .map_err(|e| Error::usage(format!("{file}: {e}; nothing was written")))?;
            steps.push(Step {
                name: format!("write {file} with router {name} (previous kept as {file}.previous)"),
                kind: StepKind::WriteRoutes {
                    path: file.clone(),
                    contents: new,
                    keep_previous: true,
                },
                // Put the file back, and wait until Traefik has dropped the new router again.
                undo: vec![
                    restore,
                    StepKind::RouteLoaded {
                        api: input.api.clone(),
                        router: format!("{name}@file"),
                        present: false,
                        expect: None,
                        timeout_secs: LOAD_TIMEOUT_SECS,
                    },
                ],
            });
            steps.push(Step {
                name: format!("Traefik loads router {name}@file without errors"),
                kind: StepKind::RouteLoaded {
                    api: input.api.clone(),
                    router: format!("{name}@file"),
                    present: true,
                    expect: Some(RouterExpect {
                        rule: rule.clone(),
                        entrypoints: entrypoint.iter().cloned().collect(),
                        service: Some(name.clone()),
                        servers: vec![target_url(to)?],
                    }),
                    timeout_secs: LOAD_TIMEOUT_SECS,
                },
                undo: vec![],
            });
            let entry = input.entrypoint_url.clone().ok_or_else(|| {
                Error::usage(format!(
                    "host {}: set proxy.entrypoint (where Host-header probes go, e.g. http://127.0.0.1:80)",
                    input.host
                ))
            })?;
            steps.push(Step {
                name: format!(
                    "GET {HEALTH_PATH} through {entry} with Host: {} answers 2xx",
                    hosts[0]
                ),
                kind: StepKind::RouteAnswers {
                    entrypoint: entry,
                    host_header: hosts[0].clone(),
                    path: HEALTH_PATH.into(),
                    timeout_secs: ANSWER_TIMEOUT_SECS,
                },
                undo: vec![],
            });
        }
        Action::RouteRemove { name, .. } => {
            if !input
                .existing
                .iter()
                .any(|r| &r.router == name && r.provider == "file")
            {
                let hint = match input.existing.iter().find(|r| &r.router == name) {
                    Some(r) => format!(
                        "; it is a label route of container {}: remove its traefik.* labels",
                        r.source
                    ),
                    None => String::new(),
                };
                return Err(Error::usage(format!(
                    "router {name} is not in {file}{hint}; nothing was written"
                )));
            }
            let new = routes::remove_route(&current, name)
                .map_err(|e| Error::usage(format!("{file}: {e}")))?;
            steps.push(Step {
                name: format!(
                    "write {file} without router {name} (previous kept as {file}.previous)"
                ),
                kind: StepKind::WriteRoutes {
                    path: file.clone(),
                    contents: new,
                    keep_previous: true,
                },
                undo: vec![restore],
            });
            steps.push(Step {
                name: format!("Traefik drops router {name}@file"),
                kind: StepKind::RouteLoaded {
                    api: input.api.clone(),
                    router: format!("{name}@file"),
                    present: false,
                    expect: None,
                    timeout_secs: LOAD_TIMEOUT_SECS,
                },
                undo: vec![],
            });
        }
        Action::RoutesApply { contents, .. } => {
            let removed = plan_apply(input, contents, restore, &mut steps)?;
            let mut plan = Plan::new(action, input.host.clone(), "routes", None, steps);
            // Dropping routers takes sites offline: that needs a confirmation.
            plan.destructive = removed > 0;
            return Ok(plan);
        }
        _ => return Err(Error::usage("not a route action")),
    }
    Ok(Plan::new(action, input.host.clone(), "routes", None, steps))
}

/// Steps of `routes apply`: check the whole new file, write it, then prove every router of it
/// loaded with its new rule, the dropped ones gone, and the new or changed ones answering.
/// Returns how many routers the new file drops.
fn plan_apply(
    input: &RoutesInput,
    contents: &str,
    restore: StepKind,
    steps: &mut Vec<Step>,
) -> Result<usize, Error> {
    let file = &input.routes_file;
    let new = routes::check_file(contents, file)
        .map_err(|e| Error::usage(format!("{file}: {e}; nothing was written")))?;
    let current = input.current.clone().unwrap_or_default();
    if contents == current {
        return Err(Error::usage(format!(
            "{file} already has this text; nothing to apply"
        )));
    }
    let old: Vec<&Route> = input
        .existing
        .iter()
        .filter(|r| r.provider == "file")
        .collect();
    // A host name routed by a container label stays routed there: refuse a second router.
    for r in &new {
        for h in &r.hosts {
            if let Some(l) = input
                .existing
                .iter()
                .find(|l| l.provider != "file" && l.hosts.contains(h))
            {
                return Err(Error::usage(format!(
                    "router {}: {h} is already routed by {} (label route of container {}); nothing was written",
                    r.router, l.router, l.source
                )));
            }
        }
    }
    let changed: Vec<&Route> = new.iter().filter(|r| !old.iter().any(|o| o == r)).collect();
    let added: Vec<&Route> = new
        .iter()
        .filter(|r| !old.iter().any(|o| o.router == r.router))
        .collect();
    let dropped: Vec<&&Route> = old
        .iter()
        .filter(|o| !new.iter().any(|r| r.router == o.router))
        .collect();
    let entry = input.entrypoint_url.clone();
    if entry.is_none() && changed.iter().any(|r| !r.hosts.is_empty()) {
        return Err(Error::usage(format!(
            "host {}: set proxy.entrypoint (where Host-header probes go, e.g. http://127.0.0.1:80) so new routes can be proven",
            input.host
        )));
    }
    // Undo: the old text back, then wait until Traefik serves it again: the new routers gone,
    // the changed ones (that Traefik had loaded cleanly) back to what they were.
    let mut undo = vec![restore];
    undo.extend(added.iter().map(|r| StepKind::RouteLoaded {
        api: input.api.clone(),
        router: r.api_name(),
        present: false,
        expect: None,
        timeout_secs: LOAD_TIMEOUT_SECS,
    }));
    undo.extend(
        old.iter()
            .filter(|o| changed.iter().any(|c| c.router == o.router))
            .filter(|o| {
                input
                    .api_routers
                    .iter()
                    .any(|a| a.name == o.api_name() && a.ok())
            })
            .map(|o| StepKind::RouteLoaded {
                api: input.api.clone(),
                router: o.api_name(),
                present: true,
                expect: Some(RouterExpect::of(o)),
                timeout_secs: LOAD_TIMEOUT_SECS,
            }),
    );
    steps.push(Step {
        name: format!(
            "write {file}: {} routers ({} new or changed, {} dropped; previous kept as {file}.previous)",
            new.len(),
            changed.len(),
            dropped.len()
        ),
        kind: StepKind::WriteRoutes {
            path: file.clone(),
            contents: contents.to_string(),
            keep_previous: true,
        },
        undo,
    });
    for r in &new {
        steps.push(Step {
            name: format!("Traefik has router {} without errors", r.api_name()),
            kind: StepKind::RouteLoaded {
                api: input.api.clone(),
                router: r.api_name(),
                present: true,
                expect: Some(RouterExpect::of(r)),
                timeout_secs: LOAD_TIMEOUT_SECS,
            },
            undo: vec![],
        });
    }
    for r in &dropped {
        steps.push(Step {
            name: format!("Traefik drops router {}", r.api_name()),
            kind: StepKind::RouteLoaded {
                api: input.api.clone(),
                router: r.api_name(),
                present: false,
                expect: None,
                timeout_secs: LOAD_TIMEOUT_SECS,
            },
            undo: vec![],
        });
    }
    if let Some(entry) = entry {
        // A rule with a path matcher may not route /health: those are proven by the API only.
        for r in changed
            .iter()
            .filter(|r| !r.hosts.is_empty() && !r.rule.contains("Path"))
        {
            steps.push(Step {
                name: format!(
                    "GET {HEALTH_PATH} through {entry} with Host: {} answers 2xx ({})",
                    r.hosts[0], r.router
                ),
                kind: StepKind::RouteAnswers {
                    entrypoint: entry.clone(),
                    host_header: r.hosts[0].clone(),
                    path: HEALTH_PATH.into(),
                    timeout_secs: ANSWER_TIMEOUT_SECS,
                },
                undo: vec![],
            });
        }
    }
    Ok(dropped.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "http:
  routers:
    shop:
      rule: \"Host(`shop.test`)\"
      service: shop
    blog:
      rule: \"Host(`blog.test`)\"
      service: blog
  services:
    shop:
      loadBalancer:
        servers:
          - url: http://shop:80
    blog:
      loadBalancer:
        servers:
          - url: http://blog:80
";

    fn input() -> RoutesInput {
        let doc = routes::parse_file(FILE).expect("parses");
        let mut existing = routes::file_routes(&doc, "/srv/routes.yml");
        existing.extend(routes::label_routes(
            "docs",
            &[
                ("traefik.enable", "true"),
                ("traefik.http.routers.docs.rule", "Host(`docs.test`)"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ));
        RoutesInput {
            host: "alpha".into(),
            routes_file: "/srv/routes.yml".into(),
            api: "http://127.0.0.1:8080".into(),
            entrypoint_url: Some("http://127.0.0.1:80".into()),
            current: Some(FILE.into()),
            existing,
            api_routers: vec![],
        }
    }

    fn apply(contents: &str) -> Result<Plan, Error> {
        let a = Action::RoutesApply {
            host: "alpha".into(),
            contents: contents.into(),
        };
        plan_routes(&a, &input())
    }

    #[test]
    fn apply_plans_a_checked_write_then_proves_every_router() {
        // blog moves to a new host, shop stays, wiki is new.
        let new = FILE
            .replace("Host(`blog.test`)", "Host(`blog2.test`)")
            .replace(
                "  services:\n",
                "    wiki:\n      rule: \"Host(`wiki.test`) && PathPrefix(`/w`)\"\n      service: blog\n  services:\n",
            );
        let p = apply(&new).expect("plan");
        assert!(!p.destructive, "nothing dropped");
        assert_eq!(p.lock, "routes");
        let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
        assert!(
            names[0].starts_with("write /srv/routes.yml: 3 routers (2 new or changed, 0 dropped"),
            "{names:?}"
        );
        // Every router of the new file must load with its new rule.
        for r in ["shop@file", "blog@file", "wiki@file"] {
            assert!(
                p.steps.iter().any(|s| matches!(&s.kind, StepKind::RouteLoaded { router, present: true, expect: Some(_), .. } if router == r)),
                "{r}: {names:?}"
            );
        }
        // Only the changed plain-Host router is probed through the proxy (the path one is not).
        let probes: Vec<&str> = p
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::RouteAnswers { host_header, .. } => Some(host_header.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(probes, vec!["blog2.test"]);
        // The write's undo puts the old text back and waits for the new router to go.
        assert!(
            matches!(&p.steps[0].undo[0], StepKind::WriteRoutes { contents, keep_previous: false, .. } if contents == FILE)
        );
        assert!(p.steps[0].undo.iter().any(|u| matches!(u, StepKind::RouteLoaded { router, present: false, .. } if router == "wiki@file")));
    }

    #[test]
    fn apply_refuses_bad_text_no_change_and_taken_hosts_and_asks_before_dropping() {
        for (text, why) in [
            ("http:\n  routers: [\n", "not valid YAML"),
            (FILE, "already has this text"),
            (
                &FILE.replace("service: blog\n  services", "service: nope\n  services"),
                "not defined",
            ),
            (
                &FILE.replace("Host(`blog.test`)", "Host(`docs.test`)"),
                "already routed by docs",
            ),
            (
                &FILE.replace("rule: \"Host(`blog.test`)\"", "rule: \"Hots(`blog.test`)\""),
                "rule",
            ),
        ] {
            let e = apply(text).expect_err(text);
            assert_eq!(
                e.kind,
                crate::error::ExitKind::Usage,
                "{text}: {}",
                e.message
            );
            assert!(e.message.contains(why), "{text}: {}", e.message);
        }
        // Dropping blog: destructive, and Traefik must drop it.
        let start = FILE.find("    blog:\n      rule").expect("blog router");
        let end = FILE.find("  services:").expect("services");
        let dropped = format!("{}{}", &FILE[..start], &FILE[end..]);
        let p = apply(&dropped).expect("plan");
        assert!(p.destructive);
        assert!(p.steps.iter().any(|s| matches!(&s.kind, StepKind::RouteLoaded { router, present: false, .. } if router == "blog@file")));
        // Without an entrypoint a new route cannot be proven: refused.
        let mut i = input();
        i.entrypoint_url = None;
        let a = Action::RoutesApply {
            host: "alpha".into(),
            contents: FILE.replace("Host(`blog.test`)", "Host(`blog2.test`)"),
        };
        let e = plan_routes(&a, &i).expect_err("no entrypoint");
        assert!(e.message.contains("proxy.entrypoint"), "{}", e.message);
    }
}
