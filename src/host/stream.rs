//! Streamed command output, shared by both transports: a command's stdout and stderr arrive as
//! chunks while it runs, then exactly one final event (its exit status, or why it ended early).

use super::{ExecOutput, HostError};
use tokio::sync::mpsc;

/// How many undelivered events a running command may queue before it is paused (the remote
/// side is then held back by SSH flow control, the local one by its pipe).
pub(super) const EVENT_BUFFER: usize = 64;

/// One piece of a running command's life. The last event is always `Exit` or `Failed`; the
/// channel closes after it.
#[derive(Debug)]
pub enum ExecEvent {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The exit status; -1 when the process was killed by a signal.
    Exit(i32),
    /// The command did not run to completion: timeout, cancellation, lost connection.
    Failed(HostError),
}

/// Collect a stream into an [`ExecOutput`]: what `Host::exec` returns.
pub(super) async fn collect(
    mut rx: mpsc::Receiver<ExecEvent>,
    lost: impl FnOnce() -> HostError,
) -> Result<ExecOutput, HostError> {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            ExecEvent::Stdout(b) => stdout.extend_from_slice(&b),
            ExecEvent::Stderr(b) => stderr.extend_from_slice(&b),
            ExecEvent::Exit(status) => {
                return Ok(ExecOutput {
                    status,
                    stdout,
                    stderr,
                })
            }
            ExecEvent::Failed(e) => return Err(e),
        }
    }
    Err(lost())
}
