//! The Traefik adapter: routes from the file provider's YAML and from container labels, the
//! rule checker, edits of the routes file (as text in, text out), and the API client
//! ([`api`]). It knows nothing about actions or frontends.

pub mod api;
mod check;
pub mod maintenance;
pub mod rule;

pub use check::{check_file, FileProblem, MAX_FILE_BYTES};

use serde::Serialize;
use serde_norway::{Mapping, Value};
use std::collections::HashMap;

/// One route as opsdeck shows it, whichever provider it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// The router's name, without the `@provider` suffix.
    pub router: String,
    /// `file` or `docker`.
    pub provider: String,
    pub rule: String,
    /// The host names of the rule's `Host(...)` matchers.
    pub hosts: Vec<String>,
    pub entrypoints: Vec<String>,
    pub cert_resolver: Option<String>,
    /// Whether the router terminates TLS (`tls:` in the file, `tls=true` or a cert resolver
    /// in labels).
    pub tls: bool,
    pub service: Option<String>,
    /// A URL (file provider) or `container:port` (labels).
    pub targets: Vec<String>,
    /// The routes file, or the container carrying the labels.
    pub source: String,
}

impl Route {
    /// The name Traefik's API knows the router by.
    pub fn api_name(&self) -> String {
        format!("{}@{}", self.router, self.provider)
    }
}

/// Parse a routes file. An empty file is an empty configuration.
pub fn parse_file(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Mapping(Mapping::new()));
    }
    let v: Value = serde_norway::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    match v {
        Value::Mapping(_) => Ok(v),
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        _ => Err("the top level is not a mapping (expected `http:`)".into()),
    }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        _ => vec![],
    }
}

/// The HTTP routers of a parsed routes file.
pub fn file_routes(doc: &Value, source: &str) -> Vec<Route> {
    let http = get(doc, "http");
    let routers = http
        .and_then(|h| get(h, "routers"))
        .and_then(Value::as_mapping);
    let services = http.and_then(|h| get(h, "services"));
    let mut out = Vec::new();
    for (name, r) in routers.into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        let rule = get(r, "rule")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let service = get(r, "service")
            .and_then(Value::as_str)
            .map(str::to_string);
        let targets = service
            .as_deref()
            .and_then(|s| services.and_then(|v| get(v, s)))
            .and_then(|s| get(s, "loadBalancer"))
            .and_then(|lb| get(lb, "servers"))
            .and_then(Value::as_sequence)
            .map(|servers| {
                servers
                    .iter()
                    .filter_map(|s| get(s, "url").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Route {
            router: name.to_string(),
            provider: "file".into(),
            hosts: rule::hosts_of(&rule),
            rule,
            entrypoints: strings(get(r, "entryPoints")),
            cert_resolver: get(r, "tls")
                .and_then(|t| get(t, "certResolver"))
                .and_then(Value::as_str)
                .map(str::to_string),
            tls: get(r, "tls").is_some(),
            service,
            targets,
            source: source.to_string(),
        });
    }
    out
}

/// The routers a container declares with `traefik.http.routers.NAME.*` labels (only when
/// `traefik.enable=true`, as our proxies run with `exposedbydefault=false`).
pub fn label_routes(container: &str, labels: &HashMap<String, String>) -> Vec<Route> {
    if labels.get("traefik.enable").map(String::as_str) != Some("true") {
        return vec![];
    }
    let mut routers: Vec<&str> = labels
        .keys()
        .filter_map(|k| k.strip_prefix("traefik.http.routers."))
        .filter_map(|k| k.split('.').next())
        .collect();
    routers.sort();
    routers.dedup();
    let services: Vec<&str> = {
        let mut s: Vec<&str> = labels
            .keys()
            .filter_map(|k| k.strip_prefix("traefik.http.services."))
            .filter_map(|k| k.split('.').next())
            .collect();
        s.sort();
        s.dedup();
        s
    };
    let l = |router: &str, key: &str| labels.get(&format!("traefik.http.routers.{router}.{key}"));
    routers
        .into_iter()
        .map(|r| {
            let rule = l(r, "rule").cloned().unwrap_or_default();
            // The router's service, else the container's only service, else one named after it.
            let service = l(r, "service")
                .cloned()
                .or_else(|| (services.len() == 1).then(|| services[0].to_string()))
                .unwrap_or_else(|| r.to_string());
            let port = labels
                .get(&format!(
                    "traefik.http.services.{service}.loadbalancer.server.port"
                ))
                .cloned();
            Route {
                router: r.to_string(),
                provider: "docker".into(),
                hosts: rule::hosts_of(&rule),
                rule,
                entrypoints: l(r, "entrypoints")
                    .map(|e| {
                        e.split(',')
                            .map(|x| x.trim().to_string())
                            .filter(|x| !x.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                cert_resolver: l(r, "tls.certresolver").cloned(),
                tls: l(r, "tls").is_some_and(|v| v == "true") || l(r, "tls.certresolver").is_some(),
                service: Some(service),
                targets: vec![format!(
                    "{container}:{}",
                    port.unwrap_or_else(|| "(exposed port)".into())
                )],
                source: container.to_string(),
            }
        })
        .collect()
}

/// A new route for the routes file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewRoute {
    pub name: String,
    pub rule: String,
    /// The backend URL (`container:port` is turned into `http://container:port`).
    pub url: String,
    pub entrypoint: Option<String>,
    pub cert_resolver: Option<String>,
}

fn key(s: &str) -> Value {
    Value::String(s.to_string())
}

fn child<'a>(m: &'a mut Mapping, k: &str) -> Result<&'a mut Mapping, String> {
    if !m.contains_key(k) || m.get(k).is_some_and(Value::is_null) {
        m.insert(key(k), Value::Mapping(Mapping::new()));
    }
    m.get_mut(k)
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| format!("`{k}` in the routes file is not a mapping"))
}

/// Drop empty sections: Traefik refuses `routers: {}` ("cannot be a standalone element") and
/// would then keep serving its previous configuration of the whole file.
fn prune(doc: &mut Value) {
    let Some(top) = doc.as_mapping_mut() else {
        return;
    };
    for (_, section) in top.iter_mut() {
        if let Some(m) = section.as_mapping_mut() {
            m.retain(|_, v| !(v.is_null() || v.as_mapping().is_some_and(Mapping::is_empty)));
        }
    }
    top.retain(|_, v| !(v.is_null() || v.as_mapping().is_some_and(Mapping::is_empty)));
}

fn render(doc: &Value) -> Result<String, String> {
    let mut doc = doc.clone();
    prune(&mut doc);
    let body = serde_norway::to_string(&doc).map_err(|e| format!("writing YAML: {e}"))?;
    Ok(format!(
        "# Traefik dynamic configuration (file provider); edited by opsdeck.\n{body}"
    ))
}

/// The routes file with `route` added (router and a service of the same name). Refuses a
/// router or service name that exists.
pub fn add_route(text: &str, route: &NewRoute) -> Result<String, String> {
    let mut doc = parse_file(text)?;
    let top = doc
        .as_mapping_mut()
        .ok_or("the routes file is not a mapping")?;
    let http = child(top, "http")?;
    let routers = child(http, "routers")?;
    if routers.contains_key(route.name.as_str()) {
        return Err(format!(
            "router {} already exists in the routes file",
            route.name
        ));
    }
    let mut r = Mapping::new();
    r.insert(key("rule"), key(&route.rule));
    r.insert(key("service"), key(&route.name));
    if let Some(e) = &route.entrypoint {
        r.insert(key("entryPoints"), Value::Sequence(vec![key(e)]));
    }
    if let Some(c) = &route.cert_resolver {
        let mut tls = Mapping::new();
        tls.insert(key("certResolver"), key(c));
        r.insert(key("tls"), Value::Mapping(tls));
    }
    routers.insert(key(&route.name), Value::Mapping(r));
    let services = child(http, "services")?;
    if services.contains_key(route.name.as_str()) {
        return Err(format!(
            "service {} already exists in the routes file",
            route.name
        ));
    }
    let mut server = Mapping::new();
    server.insert(key("url"), key(&route.url));
    let mut lb = Mapping::new();
    lb.insert(
        key("servers"),
        Value::Sequence(vec![Value::Mapping(server)]),
    );
    let mut svc = Mapping::new();
    svc.insert(key("loadBalancer"), Value::Mapping(lb));
    services.insert(key(&route.name), Value::Mapping(svc));
    render(&doc)
}

/// The routes file without router `name` (and its service, when no other router uses it).
pub fn remove_route(text: &str, name: &str) -> Result<String, String> {
    let mut doc = parse_file(text)?;
    let top = doc
        .as_mapping_mut()
        .ok_or("the routes file is not a mapping")?;
    let http = child(top, "http")?;
    let routers = child(http, "routers")?;
    let removed = routers
        .remove(name)
        .ok_or_else(|| format!("router {name} is not in the routes file"))?;
    let service = get(&removed, "service")
        .and_then(Value::as_str)
        .map(str::to_string);
    let still_used = |s: &str, routers: &Mapping| {
        routers
            .values()
            .any(|r| get(r, "service").and_then(Value::as_str) == Some(s))
    };
    if let Some(s) = service {
        let used = still_used(&s, routers);
        if !used {
            if let Some(services) = http.get_mut("services").and_then(Value::as_mapping_mut) {
                services.remove(s.as_str());
            }
        }
    }
    render(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
http:
  routers:
    my-new-service-router:
      rule: "Host(`new.elmeg.xyz`)"
      service: my-new-service
      entryPoints:
        - websecure
      tls:
        certResolver: letsencrypt
  services:
    my-new-service:
      loadBalancer:
        servers:
          - url: "http://container-name:3000"
"#;

    #[test]
    fn reads_the_seed_file_and_edits_it() {
        let doc = parse_file(SEED).expect("parses");
        let r = file_routes(&doc, "/srv/traefik-routes.yml");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].hosts, vec!["new.elmeg.xyz"]);
        assert_eq!(r[0].entrypoints, vec!["websecure"]);
        assert_eq!(r[0].cert_resolver.as_deref(), Some("letsencrypt"));
        assert!(r[0].tls);
        assert_eq!(r[0].targets, vec!["http://container-name:3000"]);
        let nr = NewRoute {
            name: "shop".into(),
            rule: "Host(`shop.test`)".into(),
            url: "http://shop:80".into(),
            entrypoint: Some("web".into()),
            cert_resolver: None,
        };
        let added = add_route(SEED, &nr).expect("adds");
        let r = file_routes(&parse_file(&added).expect("parses"), "f");
        assert_eq!(r.len(), 2);
        assert!(add_route(&added, &nr).is_err(), "duplicate");
        let removed = remove_route(&added, "shop").expect("removes");
        let doc = parse_file(&removed).expect("parses");
        assert_eq!(file_routes(&doc, "f").len(), 1);
        assert!(get(
            get(get(&doc, "http").expect("http"), "services").expect("s"),
            "shop"
        )
        .is_none());
        assert!(remove_route(&removed, "shop").is_err());
        // Removing the last route leaves no empty `routers:` behind (Traefik rejects those).
        let only = add_route("", &nr).expect("adds");
        let empty = remove_route(&only, "shop").expect("removes");
        assert!(!empty.contains("routers"), "{empty}");
        assert!(parse_file(&empty).is_ok());
        assert!(parse_file("http: [").is_err());
    }

    #[test]
    fn reads_labels() {
        let labels: HashMap<String, String> = [
            ("traefik.enable", "true"),
            (
                "traefik.http.routers.app.rule",
                "Host(`example.com`,`www.example.com`)",
            ),
            ("traefik.http.routers.app.entrypoints", "websecure"),
            ("traefik.http.routers.app.tls.certresolver", "le"),
            ("traefik.http.services.app.loadbalancer.server.port", "3000"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let r = label_routes("shop-web-1", &labels);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].hosts, vec!["example.com", "www.example.com"]);
        assert_eq!(r[0].targets, vec!["shop-web-1:3000"]);
        assert_eq!(r[0].cert_resolver.as_deref(), Some("le"));
        assert!(r[0].tls);
        let plain: HashMap<String, String> = [
            ("traefik.enable", "true"),
            ("traefik.http.routers.app.rule", "Host(`example.com`)"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert!(!label_routes("c", &plain)[0].tls);
    }
}
