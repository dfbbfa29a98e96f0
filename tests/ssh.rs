//! The SSH transport against the test bed's real sshd (127.0.0.1:2222, user deploy) and the
//! real engine behind it: authentication (key file, agent, encrypted key), strict host keys
//! and `trust`, ~/.ssh/config aliases with Include and ProxyJump, commands, files, forwards,
//! and what happens when a connection is cut.

use opsdeck_testkit::{self as common, ssh as ssh_bed};

use opsdeck::error::ExitKind;
use opsdeck::host::{Cmd, ConnectionState, ExecEvent, Host, HostError, PassphraseSource};
use ssh_bed::{spec, Agent, Bed, Sshd};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(30);

fn host(bed: &Bed, opts: opsdeck::host::SshOptions) -> Host {
    Host::with_options("tb", &spec(&bed.target()), opts).expect("host")
}

async fn run(h: &Host, cmd: Cmd) -> Result<opsdeck::host::ExecOutput, HostError> {
    tokio::time::timeout(BOUND, h.exec(&cmd, &CancellationToken::new()))
        .await
        .expect("exec returned within the bound")
}

#[tokio::test]
async fn key_file_auth_runs_commands_with_quoting_status_and_stderr() {
    let bed = Bed::get();
    let h = host(&bed, bed.opts());
    assert_eq!(h.transport_kind(), "ssh");
    assert_eq!(h.connection_state(), ConnectionState::NotConnected);
    assert_eq!(h.auth_method(), None, "nothing before the first call");
    assert_eq!(
        h.docker_endpoint(),
        format!("ssh://{} → /var/run/docker.sock", bed.target())
    );

    let out = run(&h, Cmd::new("id").arg("-un")).await.expect("id runs");
    assert_eq!(out.stdout_str().trim(), "deploy");
    assert_eq!(
        h.auth_method(),
        Some(format!("key:{}", bed.key.display())),
        "the method that worked is recorded"
    );
    assert!(matches!(
        h.connection_state(),
        ConnectionState::Connected { .. }
    ));

    // Arguments arrive byte for byte; nothing is interpreted by the remote shell.
    let marker = format!("/tmp/opsdeck-pwned-{}", std::process::id());
    let hostile = [
        format!("$(touch {marker})"),
        "a b".into(),
        "it's".into(),
        "`id`;|&".into(),
        "new\nline".into(),
        String::new(),
    ];
    let out = run(
        &h,
        Cmd::new("printf").arg("[%s]").args(hostile.iter().cloned()),
    )
    .await
    .expect("printf runs");
    let expected: String = hostile.iter().map(|s| format!("[{s}]")).collect();
    assert_eq!(out.stdout_str(), expected);
    assert!(!Path::new(&marker).exists());

    // Exit status, stderr, env and working directory.
    let out = run(
        &h,
        Cmd::new("sh")
            .args([
                "-c",
                "echo \"$GREETING from $(pwd)\"; echo oops >&2; exit 3",
            ])
            .env("GREETING", "hello world")
            .cwd("/tmp"),
    )
    .await
    .expect("sh runs");
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout_str(), "hello world from /tmp\n");
    assert_eq!(out.stderr_str(), "oops\n");
    // A missing program is an exit status (127), like any remote failure.
    let out = run(&h, Cmd::new("opsdeck-no-such-program"))
        .await
        .expect("ran");
    assert_eq!(out.status, 127);
    // Stdin reaches the command.
    let out = run(&h, Cmd::new("wc").arg("-c").stdin(vec![b'x'; 200_000]))
        .await
        .expect("wc runs");
    assert_eq!(out.stdout_str().trim(), "200000");
}

#[tokio::test]
async fn agent_auth_is_tried_first_and_recorded() {
    let bed = Bed::get();
    let agent = Agent::start(&bed.key);
    let mut opts = bed.opts();
    opts.agent_socket = Some(agent.socket.clone());
    opts.default_identities = vec![];
    let h = host(&bed, opts);
    let out = run(&h, Cmd::new("id").arg("-un")).await.expect("runs");
    assert_eq!(out.stdout_str().trim(), "deploy");
    assert_eq!(h.auth_method().as_deref(), Some("agent"));

    // An agent without the right key: the key file still gets in, and says so.
    drop(agent);
    let other = tempfile::tempdir().expect("tempdir");
    let k = other.path().join("stranger");
    assert!(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&k)
        .status()
        .expect("ssh-keygen")
        .success());
    let agent = Agent::start(&k);
    let mut opts = bed.opts();
    opts.agent_socket = Some(agent.socket.clone());
    let h = host(&bed, opts);
    run(&h, Cmd::new("true")).await.expect("runs");
    assert_eq!(h.auth_method(), Some(format!("key:{}", bed.key.display())));
}

struct CountingPrompt {
    answer: String,
    asked: AtomicUsize,
}

impl PassphraseSource for CountingPrompt {
    fn passphrase<'a>(
        &'a self,
        host: &'a str,
        key_file: &'a Path,
    ) -> Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            assert_eq!(host, "tb");
            assert!(key_file.ends_with("client_enc_ed25519"));
            self.asked.fetch_add(1, Ordering::SeqCst);
            Some(self.answer.clone())
        })
    }
}

#[tokio::test]
async fn encrypted_key_opens_with_the_passphrase_and_says_why_without_it() {
    let bed = Bed::get();
    // Without a passphrase: a clear error naming the key and the way out.
    let mut opts = bed.opts();
    opts.default_identities = vec![bed.key_enc.clone()];
    let h = host(&bed, opts.clone());
    let e = run(&h, Cmd::new("true")).await.expect_err("no passphrase");
    let msg = e.to_string();
    assert!(
        msg.contains(&bed.key_enc.display().to_string())
            && msg.contains("encrypted")
            && msg.contains("OPSDECK_SSH_PASSPHRASE"),
        "{msg}"
    );
    assert_eq!(e.exit_kind(), ExitKind::Unreachable);

    // A wrong one: said so, and the passphrase never appears in the message.
    opts.passphrase = Some("not-the-passphrase".into());
    let h = host(&bed, opts.clone());
    let msg = run(&h, Cmd::new("true"))
        .await
        .expect_err("wrong")
        .to_string();
    assert!(msg.contains("wrong passphrase"), "{msg}");
    assert!(!msg.contains("not-the-passphrase"), "{msg}");

    // The right one (what OPSDECK_SSH_PASSPHRASE feeds).
    opts.passphrase = Some(bed.key_pass.clone());
    let h = host(&bed, opts.clone());
    run(&h, Cmd::new("true")).await.expect("opens");
    assert_eq!(
        h.auth_method(),
        Some(format!("key:{}", bed.key_enc.display()))
    );

    // The prompt hook (the TUI's), asked once: reconnects reuse the decrypted key.
    let prompt = Arc::new(CountingPrompt {
        answer: bed.key_pass.clone(),
        asked: AtomicUsize::new(0),
    });
    opts.passphrase = None;
    opts.passphrase_source = Some(prompt.clone());
    let h = host(&bed, opts);
    run(&h, Cmd::new("true"))
        .await
        .expect("opens via the prompt");
    assert_eq!(prompt.asked.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_host_key_is_refused_with_its_fingerprint_until_trusted() {
    let bed = Bed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    let mut opts = bed.opts();
    opts.known_hosts = kh.clone();
    let h = host(&bed, opts.clone());
    let e = run(&h, Cmd::new("true")).await.expect_err("refused");
    assert!(
        matches!(e.root(), HostError::HostKeyUnknown { .. }),
        "{e:?}"
    );
    assert_eq!(e.exit_kind(), ExitKind::Refused);
    let msg = e.to_string();
    assert!(msg.contains(&bed.host_fingerprint()), "{msg}");
    assert!(msg.contains("run: opsdeck hosts trust tb"), "{msg}");
    // What the CLI turns it into: exit 4.
    assert_eq!(opsdeck::error::Error::from(e).kind, ExitKind::Refused);
    assert!(!kh.exists(), "a refusal never writes known_hosts");
    // Asking again right away does not hammer the host: same refusal, with the backoff.
    let e = run(&h, Cmd::new("true")).await.expect_err("still refused");
    assert!(matches!(e, HostError::Backoff { .. }), "{e:?}");
    assert!(matches!(e.root(), HostError::HostKeyUnknown { .. }));
    assert_eq!(e.exit_kind(), ExitKind::Refused);
    assert!(matches!(
        h.connection_state(),
        ConnectionState::Down {
            retry_at: Some(_),
            ..
        }
    ));

    // A confirmation that says no records nothing (exit 4).
    let e = opsdeck::host::trust_host_with("tb", &spec(&bed.target()), &opts, &|_| false)
        .await
        .expect_err("declined");
    assert_eq!(e.exit_kind(), ExitKind::Refused);
    assert!(!kh.exists());
    // Trust records exactly the key, in [host]:port form, after showing it.
    let fp = bed.host_fingerprint();
    let trusted = opsdeck::host::trust_host_with("tb", &spec(&bed.target()), &opts, &|k| {
        k.fingerprint == fp && k.target == "deploy@127.0.0.1:2222"
    })
    .await
    .expect("trust");
    assert_eq!(trusted.len(), 1);
    assert!(trusted[0].added);
    assert_eq!(trusted[0].fingerprint, bed.host_fingerprint());
    let text = std::fs::read_to_string(&kh).expect("written");
    assert_eq!(
        text,
        format!("[127.0.0.1]:{} {}\n", bed.port, bed.host_key_line())
    );
    // Trusting again changes nothing.
    let again = opsdeck::host::trust_host_with("tb", &spec(&bed.target()), &opts, &|_| true)
        .await
        .expect("trust again");
    assert!(!again[0].added);
    assert_eq!(std::fs::read_to_string(&kh).expect("read"), text);
    // And now the connection goes through.
    let h = host(&bed, opts);
    run(&h, Cmd::new("true"))
        .await
        .expect("connects after trust");
}

#[tokio::test]
async fn changed_host_key_is_refused_loudly_and_never_replaced() {
    let bed = Bed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    let text = format!(
        "# other hosts\nexample.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINmBXCMk1wtd1SR5S5dL7QtEYzIJXPdb3pcLtdsiHzg7\n[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\n",
        bed.port
    );
    std::fs::write(&kh, &text).expect("write");
    let mut opts = bed.opts();
    opts.known_hosts = kh.clone();
    let h = host(&bed, opts.clone());
    let e = run(&h, Cmd::new("true")).await.expect_err("refused");
    assert_eq!(e.exit_kind(), ExitKind::Refused);
    let msg = e.to_string();
    for word in [
        "CHANGED",
        "attack",
        &bed.host_fingerprint(),
        // The physical line (the comment counts, as in ssh's own messages).
        &format!("{} line 3", kh.display()),
        "never replaces",
    ] {
        assert!(msg.contains(word), "{word:?} missing from: {msg}");
    }
    let e = opsdeck::host::trust_host_with("tb", &spec(&bed.target()), &opts, &|_| true)
        .await
        .expect_err("trust refuses a different recorded key");
    assert!(e.to_string().contains("CHANGED"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&kh).expect("read"),
        text,
        "untouched"
    );
}

#[tokio::test]
async fn ssh_config_alias_with_include_gives_hostname_user_port_and_key() {
    let bed = Bed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let inc = dir.path().join("tb.conf");
    std::fs::write(
        &inc,
        format!(
            "Host tb-alias\n  HostName {}\n  User {}\n  Port {}\n  IdentityFile {}\n  ServerAliveInterval 7\n  SomeUnknownOption yes\n",
            bed.host,
            bed.user,
            bed.port,
            bed.key.display()
        ),
    )
    .expect("write");
    let config = dir.path().join("config");
    std::fs::write(&config, format!("Include {}\n", inc.display())).expect("write");
    let mut opts = bed.opts();
    opts.config_file = Some(config);
    opts.default_identities = vec![];
    let h = Host::with_options("tb", &spec("tb-alias"), opts).expect("host");
    let t = h.ssh_target().expect("an ssh host");
    assert_eq!(
        (t.host.as_str(), t.port, t.user.as_str()),
        (bed.host.as_str(), bed.port, bed.user.as_str())
    );
    assert_eq!(t.keepalive, Some(Duration::from_secs(7)));
    let out = run(&h, Cmd::new("id").arg("-un")).await.expect("runs");
    assert_eq!(out.stdout_str().trim(), "deploy");
    assert_eq!(h.auth_method(), Some(format!("key:{}", bed.key.display())));
}

#[tokio::test]
async fn proxy_jump_goes_through_the_jump_host_and_fails_clearly_when_it_refuses() {
    let bed = Bed::get();
    let jump = Sshd::start(&bed, true);
    let closed_jump = Sshd::start(&bed, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    std::fs::write(
        &kh,
        format!(
            "{}\n{}\n{}\n",
            std::fs::read_to_string(&bed.known_hosts)
                .expect("bed known_hosts")
                .trim(),
            jump.known_hosts_line(&bed),
            closed_jump.known_hosts_line(&bed)
        ),
    )
    .expect("write");
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "Host jumpbox\n  HostName 127.0.0.1\n  Port {}\n\
             Host closedbox\n  HostName 127.0.0.1\n  Port {}\n\
             Host behind\n  HostName {}\n  Port {}\n  ProxyJump jumpbox\n\
             Host behind-closed\n  HostName {}\n  Port {}\n  ProxyJump closedbox\n\
             Host *\n  User {}\n  IdentityFile {}\n",
            jump.port,
            closed_jump.port,
            bed.host,
            bed.port,
            bed.host,
            bed.port,
            bed.user,
            bed.key.display()
        ),
    )
    .expect("write");
    let mut opts = bed.opts();
    opts.config_file = Some(config);
    opts.known_hosts = kh;
    let h = Host::with_options("behind", &spec("behind"), opts.clone()).expect("host");
    assert_eq!(h.ssh_target().expect("ssh").jumps.len(), 1);
    let out = run(&h, Cmd::new("id").arg("-un"))
        .await
        .expect("runs through the jump");
    assert_eq!(out.stdout_str().trim(), "deploy");
    let log = std::fs::read_to_string(&jump.log).expect("jump log");
    assert!(
        log.contains(&format!("target 127.0.0.1 port {}", bed.port)),
        "the jump host forwarded the connection:\n{log}"
    );

    // A jump host whose key is not known yet: refused naming the jump; trust records the
    // jump's key (the target's is known already), then the chain connects.
    let kh2 = dir.path().join("known_hosts2");
    std::fs::copy(&bed.known_hosts, &kh2).expect("copy");
    let mut opts2 = opts.clone();
    opts2.known_hosts = kh2.clone();
    let h = Host::with_options("behind", &spec("behind"), opts2.clone()).expect("host");
    let e = run(&h, Cmd::new("true")).await.expect_err("jump unknown");
    assert_eq!(e.exit_kind(), ExitKind::Refused);
    assert!(
        e.to_string().contains(&format!("127.0.0.1:{}", jump.port)),
        "names the jump: {e}"
    );
    let keys = opsdeck::host::trust_host_with("behind", &spec("behind"), &opts2, &|_| true)
        .await
        .expect("trust through the jump");
    let summary: Vec<(String, bool)> = keys.iter().map(|k| (k.target.clone(), k.added)).collect();
    assert_eq!(
        summary,
        vec![
            (format!("deploy@127.0.0.1:{}", jump.port), true),
            (bed.target(), false)
        ]
    );
    let h = Host::with_options("behind", &spec("behind"), opts2).expect("host");
    run(&h, Cmd::new("true"))
        .await
        .expect("connects after trust");

    // A jump host that does not forward: the error names it, nothing hangs.
    let h = Host::with_options("behind-closed", &spec("behind-closed"), opts).expect("host");
    let e = run(&h, Cmd::new("true")).await.expect_err("no forwarding");
    let msg = e.to_string();
    assert!(msg.contains("tunnel"), "{msg}");
    assert_eq!(e.exit_kind(), ExitKind::Unreachable);
}

#[tokio::test]
async fn exec_stream_delivers_output_while_the_command_runs_local_and_ssh() {
    let bed = Bed::get();
    let local = Host::new("local", &opsdeck::inventory::HostSpec::default()).expect("local");
    let remote = host(&bed, bed.opts());
    for h in [&local, &remote] {
        let cmd = Cmd::new("sh").args(["-c", "echo first; sleep 2; echo second >&2; exit 4"]);
        let started = Instant::now();
        let mut rx = h
            .exec_stream(&cmd, &CancellationToken::new())
            .await
            .expect("starts");
        let first = tokio::time::timeout(BOUND, rx.recv())
            .await
            .expect("bounded");
        assert!(
            matches!(&first, Some(ExecEvent::Stdout(b)) if b == b"first\n"),
            "{}: {first:?}",
            h.name()
        );
        assert!(
            started.elapsed() < Duration::from_millis(1800),
            "{}: the first line came before the command finished",
            h.name()
        );
        let mut rest = Vec::new();
        while let Some(ev) = tokio::time::timeout(BOUND, rx.recv())
            .await
            .expect("bounded")
        {
            rest.push(ev);
        }
        assert!(
            matches!(rest.as_slice(), [ExecEvent::Stderr(e), ExecEvent::Exit(4)] if e == b"second\n"),
            "{}: {rest:?}",
            h.name()
        );
    }
}

/// Whether a process whose command line contains `needle` runs on this machine.
fn process_running(needle: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", needle])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::test]
async fn exec_timeout_and_cancellation_stop_the_remote_command() {
    let bed = Bed::get();
    let h = host(&bed, bed.opts());
    // A unique duration makes the remote process findable.
    let secs = format!("{}.{}", 300 + std::process::id() % 600, 17);
    let started = Instant::now();
    let e = run(
        &h,
        Cmd::new("sleep").arg(&secs).timeout(Duration::from_secs(1)),
    )
    .await
    .expect_err("times out");
    assert!(matches!(e, HostError::Timeout { .. }), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    common::wait_for(
        "the timed-out sleep to be gone",
        Duration::from_secs(10),
        || (!process_running(&format!("sleep {secs}"))).then_some(()),
    );

    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        c2.cancel();
    });
    let secs = format!("{}.{}", 300 + std::process::id() % 600, 23);
    let started = Instant::now();
    let e = tokio::time::timeout(BOUND, h.exec(&Cmd::new("sleep").arg(&secs), &cancel))
        .await
        .expect("bounded")
        .expect_err("cancelled");
    assert!(matches!(e, HostError::Cancelled { .. }), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    common::wait_for(
        "the cancelled sleep to be gone",
        Duration::from_secs(10),
        || (!process_running(&format!("sleep {secs}"))).then_some(()),
    );
    // The connection is still good for the next command.
    run(&h, Cmd::new("true")).await.expect("still connected");
}

#[tokio::test]
async fn files_are_read_and_replaced_atomically_keeping_the_mode() {
    let bed = Bed::get();
    let h = host(&bed, bed.opts());
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("it's a dir");
    std::fs::create_dir(&d).expect("mkdir");
    assert!(std::process::Command::new("chown")
        .args(["deploy:deploy"])
        .arg(&d)
        .status()
        .expect("chown")
        .success());
    use std::os::unix::fs::PermissionsExt;
    let f = d.join("routes $file.yml");
    std::fs::write(&f, "old\n").expect("write");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    assert!(std::process::Command::new("chown")
        .args(["deploy:deploy"])
        .arg(&f)
        .status()
        .expect("chown")
        .success());

    assert_eq!(h.read_file(&f).await.expect("read"), b"old\n");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    h.write_file_atomic(&f, &big, Some(0o600))
        .await
        .expect("write");
    assert_eq!(std::fs::read(&f).expect("read back"), big);
    let mode = std::fs::metadata(&f).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640, "the old mode is kept");
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&f).expect("stat");
        let deploy_uid: u32 = String::from_utf8_lossy(
            &std::process::Command::new("id")
                .args(["-u", "deploy"])
                .output()
                .expect("id")
                .stdout,
        )
        .trim()
        .parse()
        .expect("uid");
        assert_eq!(m.uid(), deploy_uid, "the owner is kept");
    }
    // A file the SSH user does not own, in a directory it may write: replacing it would
    // change its owner, so the write is refused and the file stays as it was.
    let theirs = d.join("root-owned.env");
    std::fs::write(&theirs, "KEEP=1\n").expect("write");
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let e = h
        .write_file_atomic(&theirs, b"KEEP=2\n", Some(0o600))
        .await
        .expect_err("would change the owner");
    assert!(e.to_string().contains("owner"), "{e}");
    assert_eq!(std::fs::read(&theirs).expect("read"), b"KEEP=1\n");
    std::fs::remove_file(&theirs).expect("rm");
    assert_eq!(h.read_file(&f).await.expect("read over ssh"), big);

    let new = d.join("new.env");
    h.write_file_atomic(&new, b"A=1\n", Some(0o600))
        .await
        .expect("write");
    let mode = std::fs::metadata(&new).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "a new file gets the mode asked for");
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("opsdeck"))
        .collect();
    assert!(leftovers.is_empty(), "no temp files left: {leftovers:?}");

    let e = h
        .read_file(&d.join("missing"))
        .await
        .expect_err("no such file");
    assert!(
        matches!(&e, HostError::File { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{e:?}"
    );
    // A directory deploy may not write: an error, and the old file stays.
    let e = h
        .write_file_atomic(Path::new("/etc/opsdeck-test-denied"), b"x", None)
        .await
        .expect_err("denied");
    assert!(
        matches!(&e, HostError::File { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied),
        "{e:?}"
    );
}

#[tokio::test]
async fn forward_tcp_reaches_a_port_only_the_host_sees() {
    let bed = Bed::get();
    let h = host(&bed, bed.opts());
    let url = common::testbed_var("OPSDECK_TB_REDIS_URL");
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("redis port");
    let fwd = h.forward_tcp("127.0.0.1", port).await.expect("forward");
    assert_eq!(fwd.host(), "127.0.0.1");
    assert_ne!(fwd.port(), port, "a local listener of its own");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(fwd.addr())
            .await
            .expect("connect");
        s.write_all(b"PING\r\n").await.expect("write");
        let mut buf = [0u8; 7];
        tokio::time::timeout(BOUND, s.read_exact(&mut buf))
            .await
            .expect("bounded")
            .expect("read");
        assert_eq!(&buf, b"+PONG\r\n");
    }
    let addr = fwd.addr();
    drop(fwd);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "the listener closes with the Forward"
    );
    // The local transport hands the address back as it is.
    let local = Host::new("local", &opsdeck::inventory::HostSpec::default()).expect("local");
    let fwd = local.forward_tcp("127.0.0.1", port).await.expect("direct");
    assert_eq!(fwd.addr(), format!("127.0.0.1:{port}"));
}

#[tokio::test]
async fn a_cut_connection_is_reestablished_on_the_next_call_and_a_dead_host_fails_fast() {
    let bed = Bed::get();
    let mut sshd = Sshd::start(&bed, true);
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, format!("{}\n", sshd.known_hosts_line(&bed))).expect("write");
    let mut opts = bed.opts();
    opts.known_hosts = kh;
    let h = Host::with_options(
        "cut",
        &spec(&format!("{}@127.0.0.1:{}", bed.user, sshd.port)),
        opts,
    )
    .expect("host");
    let mut states = h.watch_connection();
    run(&h, Cmd::new("true")).await.expect("connected");

    // Cut while a command streams: the stream ends with a clear failure, never hangs.
    let mut rx = h
        .exec_stream(
            &Cmd::new("sh").args(["-c", "while :; do echo tick; sleep 0.2; done"]),
            &CancellationToken::new(),
        )
        .await
        .expect("starts");
    assert!(matches!(
        tokio::time::timeout(BOUND, rx.recv())
            .await
            .expect("bounded"),
        Some(ExecEvent::Stdout(_))
    ));
    assert!(sshd.cut_sessions() > 0, "there was a session to cut");
    let last = tokio::time::timeout(BOUND, async {
        let mut last = None;
        while let Some(ev) = rx.recv().await {
            last = Some(ev);
        }
        last
    })
    .await
    .expect("the stream ends within the bound");
    match last {
        Some(ExecEvent::Failed(e)) => {
            assert!(e.to_string().contains("connection closed"), "{e}");
            assert_eq!(e.exit_kind(), ExitKind::Unreachable);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    // The UI hears about it.
    tokio::time::timeout(
        BOUND,
        states.wait_for(|s| matches!(s, ConnectionState::Down { .. })),
    )
    .await
    .expect("bounded")
    .expect("state");

    // The next call reconnects by itself.
    let out = run(&h, Cmd::new("echo").arg("back"))
        .await
        .expect("reconnected");
    assert_eq!(out.stdout_str(), "back\n");
    assert!(matches!(
        h.connection_state(),
        ConnectionState::Connected { .. }
    ));

    // The host goes away for good: a clear, quick failure, then fast refusals while backing off.
    sshd.cut_sessions();
    sshd.stop();
    let started = Instant::now();
    let e = run(&h, Cmd::new("true")).await.expect_err("host is gone");
    assert_eq!(e.exit_kind(), ExitKind::Unreachable, "{e}");
    assert!(e.to_string().contains("cannot connect"), "{e}");
    let e = run(&h, Cmd::new("true")).await.expect_err("still gone");
    assert!(matches!(e, HostError::Backoff { .. }), "{e:?}");
    assert!(e.to_string().contains("next attempt in"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn dropping_the_host_closes_its_connection() {
    let bed = Bed::get();
    let sshd = Sshd::start(&bed, true);
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, format!("{}\n", sshd.known_hosts_line(&bed))).expect("write");
    let mut opts = bed.opts();
    opts.known_hosts = kh;
    let h = Host::with_options(
        "gone",
        &spec(&format!("{}@127.0.0.1:{}", bed.user, sshd.port)),
        opts,
    )
    .expect("host");
    run(&h, Cmd::new("true")).await.expect("runs");
    let d = h.docker().await.expect("docker");
    d.ping().await.expect("ping");
    assert!(!sshd.sessions().is_empty(), "a session is open");
    drop(h);
    let started = Instant::now();
    while !sshd.sessions().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the session outlived its host: {:?}",
            sshd.sessions()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A Docker client kept past its host says so instead of hanging.
    let e = tokio::time::timeout(BOUND, d.ping())
        .await
        .expect("bounded")
        .expect_err("host dropped");
    assert!(
        opsdeck::docker::describe_error(&e).contains("dropped"),
        "{e}"
    );
}

/// known_hosts as OpenSSH reads it, against the real sshd: two keys of one type for the host
/// (one matching) connect; an `@cert-authority` line is no host key; an `@revoked` line for
/// the host's key refuses it, loudly, and trust-on-first-use refuses it too.
#[tokio::test]
async fn several_keys_ca_lines_and_revoked_keys_are_read_as_openssh_reads_them() {
    let bed = Bed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINmBXCMk1wtd1SR5S5dL7QtEYzIJXPdb3pcLtdsiHzg7";
    let name = format!("[127.0.0.1]:{}", bed.port);
    let base = format!(
        "# comment\n@cert-authority * {other}\n{name}\t{other}\n{name} {}\n",
        bed.host_key_line()
    );
    std::fs::write(&kh, &base).expect("write");
    let mut opts = bed.opts();
    opts.known_hosts = kh.clone();
    run(&host(&bed, opts.clone()), Cmd::new("true"))
        .await
        .expect("one of the two recorded keys matches: known");
    // The same file with the host's key revoked.
    std::fs::write(&kh, format!("{base}@revoked * {}\n", bed.host_key_line())).expect("write");
    let e = run(&host(&bed, opts.clone()), Cmd::new("true"))
        .await
        .expect_err("a revoked key is refused");
    assert_eq!(e.exit_kind(), ExitKind::Refused);
    let msg = e.to_string();
    for word in [
        "REVOKED",
        &bed.host_fingerprint(),
        &format!("{} line 5", kh.display()),
    ] {
        assert!(msg.contains(word), "{word:?} missing from: {msg}");
    }
    // Not offered for trust either, even with only the revocation in the file.
    std::fs::write(&kh, format!("@revoked * {}\n", bed.host_key_line())).expect("write");
    let e = opsdeck::host::trust_host_with("tb", &spec(&bed.target()), &opts, &|_| true)
        .await
        .expect_err("trust refuses a revoked key");
    assert!(e.to_string().contains("REVOKED"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&kh).expect("read"),
        format!("@revoked * {}\n", bed.host_key_line()),
        "nothing appended"
    );
}

/// Connect to 127.0.0.1:`port` as `user` (or as ourselves), send a Redis PING, print what
/// comes back.
fn ping_as(port: u16, user: Option<&str>) -> String {
    let script = format!(
        "import socket\ns=socket.create_connection(('127.0.0.1',{port}))\ns.settimeout(5)\ns.sendall(b'PING\\r\\n')\ntry:\n    print(s.recv(16))\nexcept Exception as e:\n    print('error', e)\n"
    );
    let mut c = match user {
        Some(u) => {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", u, "--"]);
            c.arg("python3");
            c
        }
        None => std::process::Command::new("python3"),
    };
    let o = c.args(["-c", &script]).output().expect("python3 runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A forward listener carries our SSH credentials to the remote service: another local user
/// connecting to it is dropped (a real second uid: the client runs as `nobody`).
#[tokio::test]
async fn a_forward_refuses_other_local_users() {
    let bed = Bed::get();
    let h = host(&bed, bed.opts());
    let url = common::testbed_var("OPSDECK_TB_REDIS_URL");
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("redis port");
    let fwd = h.forward_tcp("127.0.0.1", port).await.expect("forward");
    let p = fwd.port();
    let ours = tokio::task::spawn_blocking(move || ping_as(p, None))
        .await
        .expect("probe");
    assert!(
        ours.contains("+PONG"),
        "our own user reaches the service: {ours}"
    );
    let theirs = tokio::task::spawn_blocking(move || ping_as(p, Some("nobody")))
        .await
        .expect("probe");
    assert!(
        !theirs.contains("PONG"),
        "another user was let through: {theirs}"
    );
    assert!(
        theirs.contains("b''") || theirs.contains("error"),
        "{theirs}"
    );
}

/// known_hosts records the server's RSA key only; the server prefers (and has) ed25519. As
/// OpenSSH does, the key type known_hosts records is asked for first, so the connection is
/// made with the key we know instead of refused as unknown.
#[tokio::test]
async fn a_recorded_key_of_a_type_the_server_does_not_prefer_is_the_one_negotiated() {
    let bed = Bed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let rsa = dir.path().join("host_rsa");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&rsa)
        .status()
        .expect("ssh-keygen runs");
    assert!(made.success());
    let sshd = Sshd::start_with_keys(&bed, false, std::slice::from_ref(&rsa));
    let rsa_pub = std::fs::read_to_string(rsa.with_extension("pub")).expect("rsa pub");
    let rsa_line: String = rsa_pub
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, format!("[127.0.0.1]:{} {rsa_line}\n", sshd.port)).expect("write");
    let mut opts = bed.opts();
    opts.known_hosts = kh.clone();
    let target = format!("{}@127.0.0.1:{}", bed.user, sshd.port);
    let h = Host::with_options("tb", &spec(&target), opts.clone()).expect("host");
    let out = run(&h, Cmd::new("echo").arg("over rsa"))
        .await
        .expect("connected with the recorded RSA key");
    assert_eq!(out.stdout_str().trim(), "over rsa");
    // The same server with only its ed25519 key recorded: that one is used, as before.
    std::fs::write(
        &kh,
        format!("[127.0.0.1]:{} {}\n", sshd.port, bed.host_key_line()),
    )
    .expect("write");
    let h = Host::with_options("tb", &spec(&target), opts.clone()).expect("host");
    run(&h, Cmd::new("true")).await.expect("ed25519 known");
    // A recorded RSA key that is not the server's: refused as changed, never accepted.
    let other = dir.path().join("other_rsa");
    std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen runs");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("pub");
    let other_line: String = other_pub
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(&kh, format!("[127.0.0.1]:{} {other_line}\n", sshd.port)).expect("write");
    let h = Host::with_options("tb", &spec(&target), opts).expect("host");
    let e = run(&h, Cmd::new("true"))
        .await
        .expect_err("a wrong RSA key is refused");
    assert_eq!(e.exit_kind(), ExitKind::Refused, "{e}");
}
