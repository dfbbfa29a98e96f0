//! TCP forwards: a listener on this machine's loopback whose connections are carried to an
//! address as a host sees it (dialled directly for this machine, through a direct-tcpip
//! channel for an SSH host). A forward reaches the remote service with our credentials, so
//! only our own user may use it ([`peer`]); each forward counts its connections and bytes.

mod peer;

pub(crate) use peer::is_own_user;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// A byte stream to the remote end of a forward.
pub(crate) trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// Opens the remote end for one client (its address given, as SSH reports the originator).
pub(crate) type Opener = Arc<
    dyn Fn(SocketAddr) -> Pin<Box<dyn Future<Output = Result<Box<dyn Duplex>, String>> + Send>>
        + Send
        + Sync,
>;

/// What a forward carried so far.
#[derive(Debug, Default)]
pub struct ForwardStats {
    connections: AtomicU64,
    active: AtomicU64,
    refused: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

/// A reading of [`ForwardStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ForwardCounts {
    /// Connections accepted and carried (ended or not).
    pub connections: u64,
    /// Connections open now.
    pub active: u64,
    /// Connections of other users (or unknown owners) refused.
    pub refused: u64,
    /// Bytes from the clients to the remote end (of ended connections).
    pub sent: u64,
    /// Bytes from the remote end to the clients (of ended connections).
    pub received: u64,
}

impl ForwardStats {
    pub fn counts(&self) -> ForwardCounts {
        ForwardCounts {
            connections: self.connections.load(Ordering::Relaxed),
            active: self.active.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
        }
    }
}

/// Accept on `listener` until the task is aborted; carry each own-user connection to what
/// `open` opens. `label` names the far end in log lines.
pub(crate) fn serve(
    listener: TcpListener,
    open: Opener,
    stats: Arc<ForwardStats>,
    label: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        let mut pause = Duration::from_millis(50);
        loop {
            let (mut sock, peer) = match listener.accept().await {
                Ok(c) => {
                    pause = Duration::from_millis(50);
                    c
                }
                // Out of descriptors and the like: wait instead of spinning.
                Err(e) => {
                    tracing::warn!("forward listener: {e}; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            if !is_own_user(peer) {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "forward listener: refused a connection of another user from {peer}"
                );
                drop(sock);
                continue;
            }
            let (open, stats, label) = (open.clone(), stats.clone(), label.clone());
            conns.spawn(async move {
                match open(peer).await {
                    Ok(mut remote) => {
                        stats.connections.fetch_add(1, Ordering::Relaxed);
                        stats.active.fetch_add(1, Ordering::Relaxed);
                        if let Ok((up, down)) =
                            tokio::io::copy_bidirectional(&mut sock, &mut remote).await
                        {
                            stats.sent.fetch_add(up, Ordering::Relaxed);
                            stats.received.fetch_add(down, Ordering::Relaxed);
                        }
                        stats.active.fetch_sub(1, Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!("forward to {label}: {e}"),
                }
            });
            // Reap finished connections so the set does not grow.
            while conns.try_join_next().is_some() {}
        }
    })
}

/// Dial `host:port` from this machine (the local transport's forward).
pub(crate) fn direct(host: &str, port: u16) -> Opener {
    let host = host.to_string();
    Arc::new(move |_peer| {
        let host = host.clone();
        Box::pin(async move {
            let s = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await
            .map_err(|_| format!("connecting to {host}:{port} timed out"))?
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
            Ok(Box::new(s) as Box<dyn Duplex>)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_forward_carries_bytes_both_ways_and_counts_them() {
        // The far end: an echo server on loopback.
        let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let echo_addr = echo.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stats = Arc::new(ForwardStats::default());
        let task = serve(
            listener,
            direct("127.0.0.1", echo_addr.port()),
            stats.clone(),
            "echo".into(),
        );
        let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"hello").await.expect("write");
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"hello");
        c.shutdown().await.expect("shutdown");
        drop(c);
        let mut counts = stats.counts();
        for _ in 0..100 {
            if counts.active == 0 && counts.sent == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            counts = stats.counts();
        }
        assert_eq!(
            counts,
            ForwardCounts {
                connections: 1,
                active: 0,
                refused: 0,
                sent: 5,
                received: 5
            }
        );
        task.abort();
    }
}
