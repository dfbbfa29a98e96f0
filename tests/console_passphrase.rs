//! The console unlocks an encrypted SSH key by asking for its passphrase on the terminal
//! before it takes the screen (real binary in tmux, real sshd, real engine).

use opsdeck_testkit::{self as common, ssh as ssh_bed};

use common::*;
use std::process::Command;
use std::time::Duration;

struct Tmux(String);

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
    }
}

fn capture(socket: &str) -> String {
    let o = Command::new("tmux")
        .args(["-L", socket, "capture-pane", "-p"])
        .output()
        .expect("tmux");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_console_asks_for_the_passphrase_of_an_encrypted_key() {
    require_docker();
    let bed = ssh_bed::Bed::get();
    let sb = Sandbox::new();
    let config = sb.write(
        "ssh_config",
        &format!(
            "Host enc\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n",
            bed.host,
            bed.port,
            bed.user,
            bed.key_enc.display()
        ),
    );
    sb.write("opsdeck.toml", "[hosts.enc]\nssh = \"enc\"\n");
    let socket = unique("tmux");
    let _t = Tmux(socket.clone());
    let cmd = format!(
        "cd {} && env -u SSH_AUTH_SOCK -u OPSDECK_SSH_PASSPHRASE OPSDECK_SSH_CONFIG={} OPSDECK_KNOWN_HOSTS={} XDG_DATA_HOME={}/data XDG_CONFIG_HOME={}/config {}; sleep 30",
        sb.path().display(),
        config.display(),
        bed.known_hosts.display(),
        sb.path().display(),
        sb.path().display(),
        env!("CARGO_BIN_EXE_opsdeck")
    );
    let ok = Command::new("tmux")
        .args([
            "-L",
            &socket,
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "30",
            &cmd,
        ])
        .status()
        .expect("tmux")
        .success();
    assert!(ok, "tmux starts");
    wait_for("the passphrase prompt", Duration::from_secs(20), || {
        capture(&socket).contains("Passphrase for").then_some(())
    });
    assert!(capture(&socket).contains(&bed.key_enc.display().to_string()));
    let _ = Command::new("tmux")
        .args(["-L", &socket, "send-keys", &bed.key_pass, "Enter"])
        .status();
    wait_for(
        "the host connected in the console",
        Duration::from_secs(30),
        || {
            let screen = capture(&socket);
            (screen.contains("● enc") && !screen.contains(&bed.key_pass)).then_some(())
        },
    );
    let _ = Command::new("tmux")
        .args(["-L", &socket, "send-keys", "q"])
        .status();
}
