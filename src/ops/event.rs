//! Progress is data: the engine emits these; frontends fold them into bars, lines or JSON.

use crate::journal::Outcome;
use serde::Serialize;

/// What a `Progress` event counts (`bytes` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Bytes,
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unit::Bytes => "bytes",
        })
    }
}

/// Which output stream a line came from (`stdout`/`stderr` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ActionEvent {
    /// The plan the engine is about to run.
    Planned {
        action: String,
        target: String,
        host: String,
        steps: Vec<String>,
    },
    StepStarted {
        seq: usize,
        name: String,
    },
    Progress {
        seq: usize,
        done: u64,
        total: Option<u64>,
        unit: Unit,
    },
    Output {
        seq: usize,
        stream: Stream,
        line: String,
    },
    /// A secret shown once (a new DATABASE_URL): never journaled, never logged.
    Secret {
        seq: usize,
        name: String,
        value: String,
    },
    StepDone {
        seq: usize,
        name: String,
        elapsed_ms: u64,
        /// What the step reports (`a1b2c3d -> e4f5a6b`, `wrote /srv/routes.yml`), masked.
        #[serde(skip_serializing_if = "String::is_empty", default)]
        summary: String,
    },
    StepFailed {
        seq: usize,
        name: String,
        error: String,
    },
    /// Something the operator should know that is not a step (a lock taken over from a
    /// dead run, a lock someone else removed meanwhile). Masked.
    Notice {
        message: String,
    },
    Finished {
        action: String,
        target: String,
        outcome: Outcome,
        error: Option<String>,
        journal_id: Option<i64>,
        elapsed_ms: u64,
    },
}
