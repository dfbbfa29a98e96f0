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
