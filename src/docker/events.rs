//! The engine's event stream, container events only.

use super::{Engine, EngineError};
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::collections::HashMap;

/// Something happened to a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// The container's full ID.
    pub id: String,
    /// `start`, `die`, `destroy`, `health_status: healthy`, `exec_start: ...`, ...
    pub action: String,
}

/// Follow the engine's container events from now on (events that name no container are
/// left out). Ends when the engine closes the stream.
pub fn containers(docker: &Engine) -> BoxStream<'static, Result<ContainerEvent, EngineError>> {
    docker
        .events(Some(
            EventsOptionsBuilder::new()
                .filters(&HashMap::from([("type", vec!["container"])]))
                .build(),
        ))
        .filter_map(|ev| async move {
            match ev {
                Err(e) => Some(Err(e)),
                Ok(ev) => {
                    let id = ev.actor.as_ref().and_then(|a| a.id.clone())?;
                    Some(Ok(ContainerEvent {
                        id,
                        action: ev.action.unwrap_or_default(),
                    }))
                }
            }
        })
        .boxed()
}

/// One engine event, in our own stable shape (the `events` JSON contract).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineEvent {
    /// RFC 3339, UTC, with nanoseconds as the engine gives them.
    pub time: String,
    /// Nanoseconds since the epoch (for ordering events of several hosts).
    #[serde(skip)]
    pub nanos: i64,
    pub host: String,
    /// `container`, `image`, `network`, `volume`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// `start`, `die`, `oom`, `kill`, `health_status`, `restart`, `pull`, `connect`, ...
    pub action: String,
    /// What follows the action's colon (`healthy` for `health_status: healthy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The container's name (for a network event: the container's id until named).
    pub container: Option<String>,
    /// The full id of what the event is about (the container for network events).
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The network's name, for network events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Compose's project and service labels, when the container has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// Container actions that are noise for an operator (every health probe is an exec; a
/// console attaching or resizing is not news): left out of [`engine_events`].
const NOISE: [&str; 9] = [
    "exec_create",
    "exec_start",
    "exec_die",
    "exec_detach",
    "attach",
    "detach",
    "resize",
    "top",
    "archive-path",
];

/// The engine's container, image, network and volume events from `since` (unix seconds)
/// up to `until` (then the stream ends; none: it follows), minus [`NOISE`].
pub fn engine_events(
    docker: &Engine,
    host: &str,
    since: Option<i64>,
    until: Option<i64>,
) -> BoxStream<'static, Result<EngineEvent, EngineError>> {
    let mut opts = EventsOptionsBuilder::new().filters(&HashMap::from([(
        "type",
        vec!["container", "image", "network", "volume"],
    )]));
    let (since_s, until_s) = (since.map(|s| s.to_string()), until.map(|s| s.to_string()));
    if let Some(s) = &since_s {
        opts = opts.since(s);
    }
    if let Some(u) = &until_s {
        opts = opts.until(u);
    }
    let host = host.to_string();
    docker
        .events(Some(opts.build()))
        .filter_map(move |ev| {
            let host = host.clone();
            async move {
                match ev {
                    Err(e) => Some(Err(e)),
                    Ok(ev) => to_event(&host, ev).map(Ok),
                }
            }
        })
        .boxed()
}

fn to_event(host: &str, ev: bollard::models::EventMessage) -> Option<EngineEvent> {
    let kind = ev.typ.map(|t| t.to_string()).unwrap_or_default();
    let raw = ev.action.unwrap_or_default();
    let (action, detail) = match raw.split_once(':') {
        Some((a, d)) => (a.trim().to_string(), Some(d.trim().to_string())),
        None => (raw.clone(), None),
    };
    if kind == "container" && NOISE.contains(&action.as_str()) {
        return None;
    }
    let actor = ev.actor.unwrap_or_default();
    let attrs = actor.attributes.unwrap_or_default();
    let attr = |k: &str| attrs.get(k).filter(|v| !v.is_empty()).cloned();
    let nanos = ev
        .time_nano
        .or(ev.time.map(|s| s.saturating_mul(1_000_000_000)))
        .unwrap_or_default();
    let time = chrono::DateTime::from_timestamp(
        nanos.div_euclid(1_000_000_000),
        u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
    )
    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    .unwrap_or_default();
    let (container, id, network, image) = match kind.as_str() {
        "container" => (attr("name"), actor.id, None, attr("image")),
        // For a network event the actor is the network; the container is an attribute.
        "network" => (attr("container"), attr("container"), attr("name"), None),
        "image" => (None, actor.id.clone(), None, attr("name").or(actor.id)),
        _ => (None, actor.id, None, None),
    };
    Some(EngineEvent {
        time,
        nanos,
        host: host.to_string(),
        kind,
        action,
        detail,
        container,
        id,
        image,
        network,
        exit_code: attr("exitCode").and_then(|c| c.parse().ok()),
        signal: attr("signal"),
        project: attr("com.docker.compose.project"),
        service: attr("com.docker.compose.service"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{EventActor, EventMessage, EventMessageTypeEnum};

    fn msg(kind: EventMessageTypeEnum, action: &str, attrs: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(kind),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("abc123".into()),
                attributes: Some(
                    attrs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            time: Some(1_796_300_000),
            time_nano: Some(1_796_300_000_123_456_789),
            ..Default::default()
        }
    }

    #[test]
    fn events_carry_names_exit_codes_health_and_compose_labels() {
        let die = to_event(
            "alpha",
            msg(
                EventMessageTypeEnum::CONTAINER,
                "die",
                &[
                    ("name", "shop_web_1"),
                    ("image", "shop:v2"),
                    ("exitCode", "137"),
                    ("com.docker.compose.project", "shop"),
                    ("com.docker.compose.service", "web"),
                ],
            ),
        )
        .expect("an event");
        assert_eq!(die.container.as_deref(), Some("shop_web_1"));
        assert_eq!(die.exit_code, Some(137));
        assert_eq!(die.service.as_deref(), Some("web"));
        assert_eq!(die.time, "2026-12-03T12:13:20.123456789Z");
        let h = to_event(
            "alpha",
            msg(
                EventMessageTypeEnum::CONTAINER,
                "health_status: unhealthy",
                &[("name", "x")],
            ),
        )
        .expect("an event");
        assert_eq!(
            (h.action.as_str(), h.detail.as_deref()),
            ("health_status", Some("unhealthy"))
        );
        let net = to_event(
            "alpha",
            msg(
                EventMessageTypeEnum::NETWORK,
                "connect",
                &[("name", "shop_default"), ("container", "ffee")],
            ),
        )
        .expect("an event");
        assert_eq!(net.network.as_deref(), Some("shop_default"));
        assert_eq!(net.id.as_deref(), Some("ffee"));
        assert!(to_event(
            "alpha",
            msg(
                EventMessageTypeEnum::CONTAINER,
                "exec_start: wget -q http://x/health",
                &[]
            )
        )
        .is_none());
    }
}
