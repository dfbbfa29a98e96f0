//! A real S3 API per test: the test bed's moto_server on its own loopback port, and a few
//! unsigned requests (curl) to look into the bucket the way an operator would.

use crate::net::free_port;
use crate::testbed::testbed_var;
use crate::wait::wait_for;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The credentials the tests give opsdeck (moto accepts any).
pub const CREDS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "opsdeck-test-key"),
    ("AWS_SECRET_ACCESS_KEY", "opsdeck-test-secret"),
];

impl Moto {
    pub fn start() -> Self {
        let bin = testbed_var("OPSDECK_TB_MOTO");
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e}; run `scripts/testbed up`"));
        let m = Moto { child, port };
        wait_for("moto_server to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        m
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn curl(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "60"])
            .args(args)
            .output()
            .expect("curl runs");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.curl(&["-X", "PUT", &format!("{}/{bucket}", self.endpoint())]);
    }

    /// (key, size) of every object in the bucket.
    pub fn objects(&self, bucket: &str) -> Vec<(String, u64)> {
        let xml = String::from_utf8_lossy(
            &self.curl(&[&format!("{}/{bucket}?list-type=2", self.endpoint())]),
        )
        .into_owned();
        xml.split("<Contents>")
            .skip(1)
            .filter_map(|c| Some((tag(c, "Key")?, tag(c, "Size")?.parse().ok()?)))
            .collect()
    }

    /// The ETag of an object (a multipart object's ends in `-PARTS`).
    pub fn etag(&self, bucket: &str, key: &str) -> String {
        let xml = String::from_utf8_lossy(
            &self.curl(&[&format!("{}/{bucket}?list-type=2", self.endpoint())]),
        )
        .into_owned();
        xml.split("<Contents>")
            .skip(1)
            .find(|c| tag(c, "Key").as_deref() == Some(key))
            .and_then(|c| tag(c, "ETag"))
            .unwrap_or_default()
            .replace("&#34;", "")
            .replace("&quot;", "")
            .replace('"', "")
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub fn pending_uploads(&self, bucket: &str) -> usize {
        String::from_utf8_lossy(&self.curl(&[&format!("{}/{bucket}?uploads", self.endpoint())]))
            .matches("<Upload>")
            .count()
    }

    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.curl(&[&format!("{}/{bucket}/{key}", self.endpoint())])
    }

    pub fn put(&self, bucket: &str, key: &str, file: &std::path::Path) {
        self.curl(&[
            // A plain upload (`--data-binary` would send a form content type, which moto
            // tries to parse).
            "-T",
            &file.display().to_string(),
            &format!("{}/{bucket}/{key}", self.endpoint()),
        ]);
    }
}

fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_string())
}

/// A TCP relay in front of the S3 server that drops the first `drops` connections whose
/// request line contains `needle` (closing them before a byte reaches the server: the client
/// sees its connection reset mid-request). A real network fault on a real connection; moto
/// itself cannot be made to fail one request and serve the next.
pub struct FlakyRelay {
    port: u16,
    dropped: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FlakyRelay {
    pub fn start(target: u16, needle: &'static str, drops: usize) -> Self {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = dropped.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let mut client = client;
                    // The request line (and whatever came with it).
                    let mut head = Vec::new();
                    let mut buf = [0u8; 16 * 1024];
                    while !head.windows(2).any(|w| w == b"\r\n") {
                        match client.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line_end = head.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
                    let line = String::from_utf8_lossy(&head[..line_end]).to_string();
                    if line.contains(needle)
                        && counter
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                (n < drops).then_some(n + 1)
                            })
                            .is_ok()
                    {
                        let _ = client.shutdown(Shutdown::Both);
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)) else {
                        return;
                    };
                    if server.write_all(&head).is_err() {
                        return;
                    }
                    let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
                        return;
                    };
                    let up = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut c2, &mut s2);
                        let _ = s2.shutdown(Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(Shutdown::Write);
                    let _ = up.join();
                });
            }
        });
        Self { port, dropped }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(std::sync::atomic::Ordering::SeqCst)
    }
}
