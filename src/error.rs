//! The error kinds every frontend maps to an exit code.
//!
//! Adapters have their own `thiserror` types; they are folded into [`Error`] at the action
//! layer, where the kind (bad input, unreachable, refused, failed) is decided once.

use std::fmt;

/// Exit codes, as promised in the interface contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// The action failed (and was rolled back where it says so).
    Failed = 1,
    /// Bad usage or bad input: nothing was done.
    Usage = 2,
    /// A host could not be reached.
    Unreachable = 3,
    /// Refused: lock held, confirmation missing, host key unknown or changed.
    Refused = 4,
}

impl ExitKind {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error with the kind that decides the exit code and a message written for the user.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Error {
    pub kind: ExitKind,
    pub message: String,
    /// The work was cancelled (Ctrl-C, the console's cancel), not failed on its own.
    pub cancelled: bool,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The kind constructors take anything displayable: a message, or an adapter's typed error
/// (its text is the message).
impl Error {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            cancelled: false,
        }
    }
    /// Cancelled by the operator: exits as a failure (the action did not complete), journaled
    /// as cancelled.
    pub fn cancelled() -> Self {
        Self {
            cancelled: true,
            ..Self::failed("cancelled")
        }
    }
    pub fn usage(message: impl fmt::Display) -> Self {
        Self::new(ExitKind::Usage, message.to_string())
    }
    pub fn unreachable(message: impl fmt::Display) -> Self {
        Self::new(ExitKind::Unreachable, message.to_string())
    }
    pub fn refused(message: impl fmt::Display) -> Self {
        Self::new(ExitKind::Refused, message.to_string())
    }
    pub fn failed(message: impl fmt::Display) -> Self {
        Self::new(ExitKind::Failed, message.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
