//! SSH helpers for the integration tests: the test bed's sshd (127.0.0.1:2222, user deploy),
//! private sshd instances a test starts and stops itself (for ProxyJump and for cutting
//! connections without disturbing anyone else), and an ssh-agent.

use crate::net::free_port;
use crate::sandbox::Sandbox;
use crate::testbed::testbed_var;
use crate::wait::wait_for;
use opsdeck::host::SshOptions;
use opsdeck::inventory::HostSpec;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The test bed's SSH facts; panics (the test fails, never skips) when the bed is not up.
pub struct Bed {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key: PathBuf,
    pub key_enc: PathBuf,
    pub key_pass: String,
    pub known_hosts: PathBuf,
    host_key_pub: PathBuf,
    state: PathBuf,
}

impl Bed {
    pub fn get() -> Self {
        let bed = Self {
            host: testbed_var("OPSDECK_TB_SSH_HOST"),
            port: testbed_var("OPSDECK_TB_SSH_PORT")
                .parse()
                .expect("OPSDECK_TB_SSH_PORT is a port"),
            user: testbed_var("OPSDECK_TB_SSH_USER"),
            key: testbed_var("OPSDECK_TB_SSH_KEY").into(),
            key_enc: testbed_var("OPSDECK_TB_SSH_KEY_ENC").into(),
            key_pass: testbed_var("OPSDECK_TB_SSH_KEY_PASS"),
            known_hosts: testbed_var("OPSDECK_TB_KNOWN_HOSTS").into(),
            host_key_pub: testbed_var("OPSDECK_TB_HOST_KEY_PUB").into(),
            state: testbed_var("OPSDECK_TB_STATE").into(),
        };
        assert!(
            std::net::TcpStream::connect((bed.host.as_str(), bed.port)).is_ok(),
            "the test bed's sshd does not answer on {}:{}; run `scripts/testbed up`",
            bed.host,
            bed.port
        );
        bed
    }

    /// `deploy@127.0.0.1:2222`.
    pub fn target(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }

    /// Options that know the test bed's host key and offer its plain key file, nothing else
    /// (no ssh config, no agent, no passphrase).
    pub fn opts(&self) -> SshOptions {
        SshOptions {
            config_file: None,
            known_hosts: self.known_hosts.clone(),
            agent_socket: None,
            default_identities: vec![self.key.clone()],
            passphrase: None,
            passphrase_source: None,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
        }
    }

    /// The host key's `SHA256:...` fingerprint, as ssh-keygen prints it.
    pub fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&self.host_key_pub)
            .output()
            .expect("ssh-keygen runs");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("a fingerprint")
            .to_string()
    }

    /// The host key as `type base64`.
    pub fn host_key_line(&self) -> String {
        let text = std::fs::read_to_string(&self.host_key_pub).expect("host key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// An ssh spec for `target`.
pub fn spec(target: &str) -> HostSpec {
    HostSpec {
        ssh: Some(target.to_string()),
        ..HostSpec::default()
    }
}

/// Our own sshd on 127.0.0.1:`port` with the test bed's host key and authorized keys, started
/// for one test and killed (by pid) when dropped.
pub struct Sshd {
    pub port: u16,
    child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sshd {
    pub fn start(bed: &Bed, allow_tcp_forwarding: bool) -> Self {
        Self::start_with_keys(bed, allow_tcp_forwarding, &[])
    }

    /// [`Sshd::start`] with more host keys beside the test bed's (each a private key file).
    pub fn start_with_keys(bed: &Bed, allow_tcp_forwarding: bool, more: &[PathBuf]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let ssh_dir = bed.state.join("ssh");
        let config = dir.path().join("sshd_config");
        let log = dir.path().join("sshd.log");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\n{more}PidFile none\n\
                 AuthorizedKeysFile {ak}\nStrictModes no\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 AllowStreamLocalForwarding yes\nAllowTcpForwarding {fw}\nX11Forwarding no\n\
                 PrintMotd no\nLogLevel DEBUG1\n",
                hk = ssh_dir.join("host_ed25519").display(),
                more = more
                    .iter()
                    .map(|k| format!("HostKey {}\n", k.display()))
                    .collect::<String>(),
                ak = ssh_dir.join("authorized_keys").display(),
                fw = if allow_tcp_forwarding { "yes" } else { "no" },
            ),
        )
        .expect("sshd config");
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(&config)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .expect("sshd starts");
        wait_for("our sshd to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Self {
            port,
            child,
            log,
            _dir: dir,
        }
    }

    /// The per-connection sshd processes (the listener's descendants: the privileged
    /// monitor, the network child, the user's commands).
    pub fn sessions(&self) -> Vec<u32> {
        let mut all = Vec::new();
        let mut parents = vec![self.child.id()];
        while let Some(p) = parents.pop() {
            let out = Command::new("pgrep")
                .args(["-P", &p.to_string()])
                .output()
                .expect("pgrep runs");
            for pid in String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok())
            {
                all.push(pid);
                parents.push(pid);
            }
        }
        all
    }

    /// Kill every session process: the connections drop, the listener stays.
    pub fn cut_sessions(&self) -> usize {
        let pids = self.sessions();
        for pid in &pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        pids.len()
    }

    /// A known_hosts line for this instance (same key as the test bed, other port).
    pub fn known_hosts_line(&self, bed: &Bed) -> String {
        format!("[127.0.0.1]:{} {}", self.port, bed.host_key_line())
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Environment for the binary: an ssh config naming this sshd `tb`, and a known_hosts
    /// file for it (written into the sandbox).
    pub fn client_env(&self, sb: &Sandbox, bed: &Bed) -> Vec<(String, String)> {
        let config = sb.write(
            "ssh/config",
            &format!(
                "Host tb\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n",
                self.port,
                bed.user,
                bed.key.display()
            ),
        );
        let known = sb.write(
            "ssh/known_hosts",
            &format!("{}\n", self.known_hosts_line(bed)),
        );
        vec![
            ("OPSDECK_SSH_CONFIG".into(), config.display().to_string()),
            ("OPSDECK_KNOWN_HOSTS".into(), known.display().to_string()),
        ]
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The sessions first: the listener's death does not end them.
        self.cut_sessions();
        self.stop();
    }
}

/// An ssh-agent of our own holding `key`, killed when dropped.
pub struct Agent {
    pub socket: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Agent {
    pub fn start(key: &Path) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .expect("ssh-agent starts");
        wait_for("ssh-agent's socket", Duration::from_secs(10), || {
            socket.exists().then_some(())
        });
        let added = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .expect("ssh-add runs");
        assert!(
            added.status.success(),
            "ssh-add failed: {}",
            String::from_utf8_lossy(&added.stderr)
        );
        Self {
            socket,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
