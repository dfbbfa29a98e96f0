//! Who is on the other end of a loopback TCP connection to one of our forward listeners. A
//! forward reaches a service on the remote host with our SSH credentials, so only our own
//! user may use it: the kernel's socket table (`/proc/net/tcp`) names the owner of the
//! client's socket.

use std::net::{IpAddr, SocketAddr};

/// The uid owning the local socket at `addr` (the client's end), from `/proc/net/tcp`.
fn socket_uid(addr: SocketAddr) -> Option<u32> {
    let IpAddr::V4(ip) = addr.ip() else {
        return None;
    };
    // The kernel prints the address as the in-memory u32 in hex, the port big-endian.
    let want = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(ip.octets()),
        addr.port()
    );
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&want.as_str()))
            .then(|| f.get(7).and_then(|u| u.parse().ok()))
            .flatten()
    })
}

/// This process's effective uid.
fn own_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether the connection from `peer` belongs to our own user. Unknown owners are refused.
pub(crate) fn is_own_user(peer: SocketAddr) -> bool {
    matches!((socket_uid(peer), own_uid()), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_of_our_own_is_ours() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (_s, peer) = l.accept().expect("accept");
        assert_eq!(peer, c.local_addr().expect("local"));
        assert!(is_own_user(peer));
        // A port nobody holds has no owner: refused.
        assert!(!is_own_user("127.0.0.1:1".parse().expect("addr")));
    }
}
