//! What compose's resolved configuration (`compose config`) says about each service that
//! decides whether a second container of it can run beside the first: a fixed
//! `container_name`, a host port it publishes, the host's network.

use crate::host::{Cmd, Host, HostError};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One service of the resolved configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceShape {
    /// `container_name:`: compose gives every container of the service this one name.
    pub container_name: Option<String>,
    /// Host ports it publishes (`8080`, `127.0.0.1:9090`): a second container cannot bind them.
    pub fixed_ports: Vec<String>,
    /// `network_mode: host`: it shares the host's ports.
    pub host_network: bool,
    /// `image:`, resolved (`${VERSION}` filled in); none for a service that is only built.
    pub image: Option<String>,
}

impl ServiceShape {
    /// Why two containers of this service cannot run at once (`None`: they can).
    pub fn cannot_run_twice(&self) -> Option<String> {
        if let Some(name) = &self.container_name {
            return Some(format!(
                "it has `container_name: {name}`, so a second container of it cannot exist"
            ));
        }
        if !self.fixed_ports.is_empty() {
            return Some(format!(
                "it publishes host port {}, which a second container cannot bind",
                self.fixed_ports.join(", ")
            ));
        }
        if self.host_network {
            return Some(
                "it uses `network_mode: host`, so a second container would bind the same ports"
                    .into(),
            );
        }
        None
    }
}

/// Errors reading the resolved configuration.
#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    #[error("`compose config` output is not YAML: {0}")]
    Yaml(String),
    #[error("`compose config` output has no `services` mapping")]
    NoServices,
    #[error("`compose config` failed (exit {status}): {tail}")]
    Failed { status: i32, tail: String },
    #[error(transparent)]
    Host(#[from] HostError),
}

/// The services of `compose config`'s output (v1 and v2 print the same shape).
pub fn parse(yaml: &str) -> Result<BTreeMap<String, ServiceShape>, ShapeError> {
    let doc: serde_norway::Value =
        serde_norway::from_str(yaml).map_err(|e| ShapeError::Yaml(e.to_string()))?;
    let services = doc
        .get("services")
        .and_then(|s| s.as_mapping())
        .ok_or(ShapeError::NoServices)?;
    let mut out = BTreeMap::new();
    for (name, svc) in services {
        let Some(name) = name.as_str() else { continue };
        let text = |key: &str| {
            svc.get(key)
                .and_then(scalar)
                .filter(|v| !v.trim().is_empty())
        };
        let fixed_ports = svc
            .get("ports")
            .and_then(|p| p.as_sequence())
            .map(|ports| ports.iter().filter_map(published).collect())
            .unwrap_or_default();
        out.insert(
            name.to_string(),
            ServiceShape {
                container_name: text("container_name"),
                fixed_ports,
                host_network: text("network_mode").as_deref() == Some("host"),
                image: text("image"),
            },
        );
    }
    Ok(out)
}

fn scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The host port a `ports:` entry publishes, if it names one: the long form's `published`
/// (with `host_ip`), or the short form's `[IP:]HOST:CONTAINER[/proto]`.
fn published(entry: &serde_norway::Value) -> Option<String> {
    if entry.is_mapping() {
        let port = entry
            .get("published")
            .and_then(scalar)
            .filter(|p| !p.trim().is_empty() && p != "0")?;
        return Some(match entry.get("host_ip").and_then(scalar) {
            Some(ip) if !ip.is_empty() && ip != "0.0.0.0" => format!("{ip}:{port}"),
            _ => port,
        });
    }
    let short = scalar(entry)?;
    let short = short.split('/').next().unwrap_or_default();
    // The container port is the last field; anything before it names the host side.
    let (host_side, _container) = short.rsplit_once(':')?;
    let host_port = host_side.rsplit(':').next().unwrap_or_default();
    (!host_port.is_empty()).then(|| host_side.to_string())
}

/// Run `compose config` for the app on its host (with `env` set, so a `${VERSION:?}` in the
/// file resolves) and read the services' shapes.
pub async fn read(
    host: &Host,
    cmd: Cmd,
    cancel: &CancellationToken,
) -> Result<BTreeMap<String, ServiceShape>, ShapeError> {
    let out = host
        .exec(&cmd.timeout(Duration::from_secs(60)), cancel)
        .await?;
    if !out.success() {
        let err = out.stderr_str();
        let tail: Vec<&str> = err.lines().rev().take(4).collect();
        return Err(ShapeError::Failed {
            status: out.status,
            tail: tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
        });
    }
    parse(&out.stdout_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_ports_and_host_network_in_both_compose_outputs() {
        // As docker-compose 1.29 prints it.
        let v1 = "services:\n  db:\n    container_name: mydb\n    image: x\n    ports:\n    - published: 5432\n      target: 5432\n  web:\n    image: opsdeck-test/busybox:v1\n    ports:\n    - target: 81\n    - 127.0.0.1:9090:90/tcp\n  worker:\n    image: w\n    network_mode: host\n  api:\n    image: a\n    ports:\n    - target: 80\nversion: '3.9'\n";
        let s = parse(v1).expect("parse");
        assert_eq!(s["db"].container_name.as_deref(), Some("mydb"));
        assert_eq!(s["web"].image.as_deref(), Some("opsdeck-test/busybox:v1"));
        assert_eq!(s["db"].fixed_ports, ["5432"]);
        assert_eq!(s["web"].fixed_ports, ["127.0.0.1:9090"]);
        assert!(s["worker"].host_network);
        assert_eq!(s["api"].cannot_run_twice(), None);
        assert!(s["db"].cannot_run_twice().expect("why").contains("mydb"));
        assert!(s["web"].cannot_run_twice().expect("why").contains("9090"));
        // As Compose v2 prints it: published as a string, host_ip apart, mode and protocol.
        let v2 = "name: shop\nservices:\n  web:\n    image: x\n    ports:\n      - mode: ingress\n        host_ip: 127.0.0.1\n        target: 80\n        published: \"8080\"\n        protocol: tcp\n      - mode: ingress\n        target: 81\n        protocol: tcp\n  other:\n    image: y\n    ports:\n      - target: 80\n        published: \"\"\n";
        let s = parse(v2).expect("parse");
        assert_eq!(s["web"].fixed_ports, ["127.0.0.1:8080"]);
        assert!(s["other"].fixed_ports.is_empty());
        // Short forms compose may pass through.
        let short = "services:\n  a:\n    ports: [\"80\", \"8000:80\", \"0.0.0.0:443:443/tcp\"]\n";
        assert_eq!(
            parse(short).expect("parse")["a"].fixed_ports,
            ["8000", "0.0.0.0:443"]
        );
        assert!(matches!(parse("just text"), Err(ShapeError::NoServices)));
        assert!(matches!(parse("services: ["), Err(ShapeError::Yaml(_))));
    }
}
