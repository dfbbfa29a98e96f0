//! The routes-file side of maintenance mode (text in, text out): for an app, one service
//! pointing at its maintenance container, one `replacePath` middleware (every request goes to
//! the container's 503 page), and a router per rule that serves the app, with a priority
//! above every ordinary router (the docker provider's and the file's alike). Removing takes
//! out exactly those, by name.

use super::{child, get, key, parse_file, render};
use serde::Serialize;
use serde_norway::{Mapping, Value};

/// Above any priority Traefik derives from a rule's length (and any a person writes by hand).
pub const PRIORITY: i64 = 1_000_000;
/// Where the maintenance container answers every request (a CGI script answering 503).
pub const PAGE_PATH: &str = "/cgi-bin/opsdeck-maintenance";

/// One router that sends a rule of the app to its maintenance page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintRouter {
    pub name: String,
    pub rule: String,
    pub entrypoints: Vec<String>,
    pub cert_resolver: Option<String>,
    /// Terminates TLS (with the default certificate when there is no resolver): a copy of a
    /// TLS router must be one too, or HTTPS requests keep reaching the app.
    pub tls: bool,
}

/// The service and middleware name of an app's maintenance (`opsdeck-maint-APP`).
pub fn service_name(app: &str) -> String {
    format!("opsdeck-maint-{app}")
}

/// The name of the app's `i`-th maintenance router (`opsdeck-maint-rI-APP`: the app comes
/// last so that no app's names are a prefix of another's).
pub fn router_name(app: &str, i: usize) -> String {
    format!("opsdeck-maint-r{i}-{app}")
}

/// The app a maintenance router name belongs to, if it is one.
pub fn router_app(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("opsdeck-maint-r")?;
    let (i, app) = rest.split_once('-')?;
    (!i.is_empty() && i.chars().all(|c| c.is_ascii_digit()) && !app.is_empty()).then_some(app)
}

/// Whether the routes file already has maintenance entries of `app`.
pub fn has_maintenance(text: &str, app: &str) -> Result<bool, String> {
    let doc = parse_file(text)?;
    let http = get(&doc, "http");
    let names = |section: &str| -> Vec<String> {
        http.and_then(|h| get(h, section))
            .and_then(Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let svc = service_name(app);
    Ok(names("routers").iter().any(|r| router_app(r) == Some(app))
        || names("services").contains(&svc)
        || names("middlewares").contains(&svc))
}

/// The routes file with `app`'s maintenance entries added, the service at `url`.
pub fn add_maintenance(
    text: &str,
    app: &str,
    url: &str,
    routers: &[MaintRouter],
) -> Result<String, String> {
    if routers.is_empty() {
        return Err(format!("no router to put {app} into maintenance with"));
    }
    if has_maintenance(text, app)? {
        return Err(format!(
            "the routes file already has maintenance entries of {app}"
        ));
    }
    let mut doc = parse_file(text)?;
    let top = doc
        .as_mapping_mut()
        .ok_or("the routes file is not a mapping")?;
    let http = child(top, "http")?;
    let svc = service_name(app);
    {
        let mut rp = Mapping::new();
        rp.insert(key("path"), key(PAGE_PATH));
        let mut mw = Mapping::new();
        mw.insert(key("replacePath"), Value::Mapping(rp));
        child(http, "middlewares")?.insert(key(&svc), Value::Mapping(mw));
    }
    {
        let mut server = Mapping::new();
        server.insert(key("url"), key(url));
        let mut lb = Mapping::new();
        lb.insert(
            key("servers"),
            Value::Sequence(vec![Value::Mapping(server)]),
        );
        let mut s = Mapping::new();
        s.insert(key("loadBalancer"), Value::Mapping(lb));
        let services = child(http, "services")?;
        if services.contains_key(svc.as_str()) {
            return Err(format!("service {svc} already exists in the routes file"));
        }
        services.insert(key(&svc), Value::Mapping(s));
    }
    let rs = child(http, "routers")?;
    for r in routers {
        if rs.contains_key(r.name.as_str()) {
            return Err(format!(
                "router {} already exists in the routes file",
                r.name
            ));
        }
        let mut m = Mapping::new();
        m.insert(key("rule"), key(&r.rule));
        m.insert(key("service"), key(&svc));
        m.insert(key("middlewares"), Value::Sequence(vec![key(&svc)]));
        m.insert(key("priority"), Value::Number(PRIORITY.into()));
        if !r.entrypoints.is_empty() {
            m.insert(
                key("entryPoints"),
                Value::Sequence(r.entrypoints.iter().map(|e| key(e)).collect()),
            );
        }
        if r.tls || r.cert_resolver.is_some() {
            let mut tls = Mapping::new();
            if let Some(c) = &r.cert_resolver {
                tls.insert(key("certResolver"), key(c));
            }
            m.insert(key("tls"), Value::Mapping(tls));
        }
        rs.insert(key(&r.name), Value::Mapping(m));
    }
    render(&doc)
}

/// The routes file without `app`'s maintenance entries (refused when it has none).
pub fn remove_maintenance(text: &str, app: &str) -> Result<String, String> {
    if !has_maintenance(text, app)? {
        return Err(format!(
            "the routes file has no maintenance entries of {app}"
        ));
    }
    let mut doc = parse_file(text)?;
    let top = doc
        .as_mapping_mut()
        .ok_or("the routes file is not a mapping")?;
    let http = child(top, "http")?;
    let svc = service_name(app);
    if let Some(rs) = http.get_mut("routers").and_then(Value::as_mapping_mut) {
        rs.retain(|k, _| k.as_str().and_then(router_app) != Some(app));
    }
    for section in ["services", "middlewares"] {
        if let Some(m) = http.get_mut(section).and_then(Value::as_mapping_mut) {
            m.remove(svc.as_str());
        }
    }
    render(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "http:
  routers:
    shop:
      rule: \"Host(`shop.test`)\"
      service: shop
  services:
    shop:
      loadBalancer:
        servers:
          - url: http://shop:80
";

    #[test]
    fn adds_and_removes_exactly_the_apps_entries() {
        let routers = vec![MaintRouter {
            name: router_name("shop", 0),
            rule: "(Host(`shop.test`))".into(),
            entrypoints: vec!["websecure".into()],
            cert_resolver: Some("le".into()),
            tls: true,
        }];
        let on = add_maintenance(FILE, "shop", "http://10.0.0.9:8080", &routers).expect("adds");
        let checked = crate::routes::check_file(&on, "f").expect("Traefik would take it");
        assert_eq!(checked.len(), 2, "{on}");
        assert!(
            on.contains("priority: 1000000") && on.contains(PAGE_PATH),
            "{on}"
        );
        assert!(on.contains("certResolver: le"), "{on}");
        assert!(has_maintenance(&on, "shop").expect("parses"));
        assert!(!has_maintenance(&on, "sho").expect("parses"));
        // Another app whose name extends this one's is not touched by its removal.
        let other = vec![MaintRouter {
            name: router_name("shop-2", 0),
            rule: "(Host(`two.test`))".into(),
            entrypoints: vec![],
            cert_resolver: None,
            tls: true,
        }];
        let both = add_maintenance(&on, "shop-2", "http://x:8080", &other).expect("adds");
        // A TLS router without a resolver is copied with `tls: {}` (the default certificate).
        let doc = crate::routes::parse_file(&both).expect("yaml");
        let two = crate::routes::file_routes(&doc, "f");
        assert!(
            two.iter().any(|r| r.router == router_name("shop-2", 0)
                && r.tls
                && r.cert_resolver.is_none()),
            "{both}"
        );
        assert!(add_maintenance(&both, "shop", "http://y:8080", &routers).is_err());
        let off = remove_maintenance(&both, "shop").expect("removes");
        assert!(!has_maintenance(&off, "shop").expect("parses"));
        assert!(has_maintenance(&off, "shop-2").expect("parses"));
        let off = remove_maintenance(&off, "shop-2").expect("removes");
        assert_eq!(
            crate::routes::check_file(&off, "f").expect("valid"),
            crate::routes::check_file(FILE, "f").expect("valid")
        );
        assert!(!off.contains("middlewares"), "{off}");
        assert!(remove_maintenance(&off, "shop").is_err());
        assert!(add_maintenance(FILE, "shop", "http://x:1", &[]).is_err());
        assert_eq!(router_app("opsdeck-maint-r12-shop-2"), Some("shop-2"));
        assert_eq!(router_app("opsdeck-maint-rx-shop"), None);
        assert_eq!(router_app("shop"), None);
    }
}
