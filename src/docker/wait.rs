//! The one wait for a container: look at it every half second until it is ready, it failed,
//! the time is up, or the wait is cancelled. What "ready" means is the caller's ([`verdict`]
//! says it for the common case: running, and healthy when it has a health check).

use super::containers::{Health, State};
use super::control::Inspected;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often a waiting container is looked at.
pub const POLL: Duration = Duration::from_millis(500);

/// One look at what is waited for.
#[derive(Debug, Clone, PartialEq)]
pub enum Look<T> {
    /// Done: the wait returns this.
    Ready(T),
    /// Not yet; what was seen (for the timeout's message).
    NotYet(String),
    /// It will not get ready (exited, unhealthy): the wait ends with this message.
    Failed(String),
}

/// Why a wait ended without its value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WaitError<E> {
    #[error("{0}")]
    Failed(String),
    /// The time was up; the last thing seen.
    #[error("not ready within {}s; last: {last}", limit.as_secs())]
    TimedOut { limit: Duration, last: String },
    #[error("cancelled")]
    Cancelled,
    /// Looking failed (the engine did not answer).
    #[error("{0}")]
    Look(E),
}

/// Look with `look` until it says ready or failed, `limit` is over, or `cancel` fires. The
/// first look is immediate; a look that errors ends the wait.
pub async fn until<T, E, F, Fut>(
    limit: Duration,
    cancel: &CancellationToken,
    mut look: F,
) -> Result<T, WaitError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Look<T>, E>>,
{
    let started = Instant::now();
    loop {
        let last = match look().await.map_err(WaitError::Look)? {
            Look::Ready(v) => return Ok(v),
            Look::Failed(m) => return Err(WaitError::Failed(m)),
            Look::NotYet(seen) => seen,
        };
        if started.elapsed() >= limit {
            return Err(WaitError::TimedOut { limit, last });
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = cancel.cancelled() => return Err(WaitError::Cancelled),
        }
    }
}

/// Where a container stands for a wait that wants it running (and healthy, when it has a
/// health check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Running and healthy.
    Healthy,
    /// Running, no health check.
    Running,
    /// Running, health check not passed yet; or created, restarting.
    Starting,
    /// Running and its health check fails.
    Unhealthy,
    /// Exited or dead, with its status.
    Exited(i64),
}

/// The common judgement of an inspected container.
pub fn verdict(i: &Inspected) -> Verdict {
    match (i.state, i.health) {
        (State::Running, Health::Healthy) => Verdict::Healthy,
        (State::Running, Health::None) => Verdict::Running,
        (State::Running, Health::Unhealthy) => Verdict::Unhealthy,
        (State::Exited | State::Dead, _) => Verdict::Exited(i.exit_code.unwrap_or(-1)),
        _ => Verdict::Starting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ends_on_ready_failed_timeout_and_cancel() {
        let never = CancellationToken::new();
        let mut n = 0;
        let got: Result<u32, WaitError<()>> = until(Duration::from_secs(5), &never, || {
            n += 1;
            let k = n;
            async move {
                Ok(if k < 2 {
                    Look::NotYet("starting".into())
                } else {
                    Look::Ready(k)
                })
            }
        })
        .await;
        assert_eq!(got, Ok(2));
        let failed: Result<(), WaitError<()>> = until(Duration::from_secs(5), &never, || async {
            Ok(Look::Failed("exited with status 3".into()))
        })
        .await;
        assert_eq!(
            failed,
            Err(WaitError::Failed("exited with status 3".into()))
        );
        let timed: Result<(), WaitError<()>> = until(Duration::ZERO, &never, || async {
            Ok(Look::NotYet("health starting".into()))
        })
        .await;
        assert_eq!(
            timed,
            Err(WaitError::TimedOut {
                limit: Duration::ZERO,
                last: "health starting".into()
            })
        );
        let cancel = CancellationToken::new();
        cancel.cancel();
        let cancelled: Result<(), WaitError<()>> =
            until(Duration::from_secs(60), &cancel, || async {
                Ok(Look::NotYet("x".into()))
            })
            .await;
        assert_eq!(cancelled, Err(WaitError::Cancelled));
        let broke: Result<(), WaitError<&str>> = until(Duration::from_secs(60), &never, || async {
            Err("engine gone")
        })
        .await;
        assert_eq!(broke, Err(WaitError::Look("engine gone")));
    }
}
