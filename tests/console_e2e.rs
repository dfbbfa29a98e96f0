//! The console end to end: the real binary in a real terminal (tmux), against its own compose
//! project on the test bed's engine. Keys go in with `tmux send-keys`, the screen comes back
//! with `tmux capture-pane -p`. Every wait is bounded and fails naming what it waited for,
//! with the last screen. A missing test bed (no engine, no tmux) fails; nothing skips.

use opsdeck_testkit as common;

use common::*;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

const COMPOSE: &str = r#"version: "2.4"
services:
  web:
    image: opsdeck-test/busybox:v1
  talker:
    image: opsdeck-test/busybox:v1
    command: ["sh", "-c", "trap 'exit 0' TERM INT; echo talker ready; while true; do sleep 1; done"]
    healthcheck:
      disable: true
"#;

/// A tmux server of our own (its own socket), killed on drop with everything in it.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().unwrap_or_else(|e| {
            panic!("tmux {args:?} could not run ({e}); is tmux installed? run `scripts/testbed up`")
        });
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Type literal text.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "e2e", "-l", text]);
    }

    /// Press named keys (`Enter`, `Escape`, ...).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    /// A tmux format value of the pane (`#{alternate_on}`, `#{pane_current_command}`, ...).
    fn format(&self, f: &str) -> String {
        String::from_utf8_lossy(&self.run(&["display-message", "-p", "-t", "e2e", f]).stdout)
            .trim()
            .to_string()
    }

    fn resize(&self, w: u16, h: u16) {
        self.run(&[
            "resize-window",
            "-t",
            "e2e",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
    }

    /// Wait until the screen satisfies `ok`; panics with the last screen after [`WAIT`].
    fn wait_screen(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "timed out after {WAIT:?} waiting for {what}; the console is {}; last screen:\n{s}",
                    self.describe_process()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn describe_process(&self) -> String {
        format!(
            "running {:?} (alternate screen {})",
            self.format("#{pane_current_command}"),
            self.format("#{alternate_on}")
        )
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // tmux leaves its socket file behind: remove it too.
        let socket = self
            .cmd()
            .args(["display-message", "-p", "#{socket_path}"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|p| p.ends_with(&self.socket));
        let _ = self.cmd().arg("kill-server").output();
        if let Some(p) = socket {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Fields drop in order: the terminal (and the console in it) first, then the containers,
/// then the sandbox that holds the compose file.
struct Fixture {
    tmux: Tmux,
    late: Option<ContainerGuard>,
    _stack: ComposeGuard,
    _sb: Sandbox,
    project: String,
}

fn container_name(project: &str, service: &str) -> String {
    docker(&[
        "ps",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        &format!("label=com.docker.compose.service={service}"),
        "--format",
        "{{.Names}}",
    ])
}

fn start() -> Fixture {
    require_docker();
    let sb = Sandbox::new();
    let project = format!("opsdeck-test-e2e-{}", std::process::id());
    let dir = sb.path().join("app");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("docker-compose.yml"), COMPOSE).expect("compose file");
    let config = sb.write(
        "opsdeck.toml",
        &format!(
            "[hosts.local]\n\n[apps.e2e]\nhost = \"local\"\ndir = \"{}\"\nproject = \"{project}\"\nservices = [\"web\", \"talker\"]\n",
            dir.display()
        ),
    );
    let stack = ComposeGuard {
        dir: dir.clone(),
        project: project.clone(),
    };
    compose(&dir, &project, &["up", "-d"]);
    let tmux = Tmux {
        socket: format!("opsdeck-test-{}", std::process::id()),
    };
    // A plain shell in a 160x45 terminal, with the sandbox's XDG dirs; the console is typed
    // into it, so that after `q` the same shell must read commands normally again.
    let status = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            "160",
            "-y",
            "45",
            "sh",
        ])
        .env_remove("ENV")
        .env("XDG_CONFIG_HOME", sb.path().join("config"))
        .env("XDG_DATA_HOME", sb.path().join("data"))
        .env("XDG_STATE_HOME", sb.path().join("state"))
        .env_remove("OPSDECK_CONFIG")
        .env_remove("OPSDECK_JOURNAL")
        .env_remove("NO_COLOR")
        .current_dir(sb.path())
        .status()
        .expect("tmux runs (install it with scripts/testbed up)");
    assert!(status.success(), "tmux new-session failed");
    // dash sets its own prompt for root; set ours so the test can tell the shell is back.
    tmux.type_text("PS1='e2e$ '");
    tmux.keys(&["Enter"]);
    tmux.wait_screen("the shell prompt", |s| s.contains("e2e$"));
    let bin = env!("CARGO_BIN_EXE_opsdeck");
    tmux.type_text(&format!(
        "'{bin}' --config '{}'; echo \"console-exit=$?\"",
        config.display()
    ));
    tmux.keys(&["Enter"]);
    Fixture {
        tmux,
        late: None,
        _stack: stack,
        _sb: sb,
        project,
    }
}

/// `Containers (N)` or `Containers (SHOWN of N)` from the pane title.
fn counts(screen: &str) -> Option<(usize, usize)> {
    let re = regex::Regex::new(r"Containers \((\d+)(?: of (\d+))?\)").expect("regex");
    let c = re.captures(screen)?;
    let a: usize = c.get(1)?.as_str().parse().ok()?;
    match c.get(2) {
        Some(total) => Some((a, total.as_str().parse().ok()?)),
        None => Some((a, a)),
    }
}

/// Group headings on screen (`▾ project (n)`).
fn groups(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter_map(|l| l.split_once('▾').map(|(_, r)| r.trim().to_string()))
        .map(|r| r.trim_end_matches('│').trim().to_string())
        .collect()
}

/// The row of a service of the project: its service name and (the start of) its container
/// name on one line (long names are cut to the column's width).
fn has_row(screen: &str, service: &str, project: &str) -> bool {
    screen
        .lines()
        .any(|l| l.contains(&format!("  {service} ")) && l.contains(project))
}

fn console_alive(t: &Tmux) -> bool {
    t.format("#{pane_current_command}") == "opsdeck"
}

#[test]
fn console_end_to_end_containers_events_logs_filter_resize_quit() {
    let mut fx = start();
    let t = &fx.tmux;
    let project = fx.project.clone();
    let web = container_name(&project, "web");
    let talker = container_name(&project, "talker");
    assert!(
        !web.is_empty() && !talker.is_empty(),
        "compose did not start both services"
    );

    // 1. The console opens on the alternate screen and the project's containers appear.
    let s = t.wait_screen("the project's containers", |s| {
        has_row(s, "web", &project) && has_row(s, "talker", &project)
    });
    assert_eq!(
        t.format("#{alternate_on}"),
        "1",
        "the console is not on the alternate screen"
    );
    let (_, total) = counts(&s).unwrap_or_else(|| panic!("no container count in the title:\n{s}"));
    assert!(total >= 2, "title counts {total} containers:\n{s}");

    // 2. The `/` filter narrows the pane: `talker` leaves the talker and drops the web
    // service (and, with them, every other project's rows).
    t.type_text("/talker");
    t.keys(&["Enter"]);
    let s = t.wait_screen("the filter `talker` to narrow the pane", |s| {
        counts(s).is_some_and(|(shown, all)| shown < all) && !has_row(s, "web", &project)
    });
    assert!(
        has_row(&s, "talker", &project),
        "the talker row is kept:\n{s}"
    );
    assert!(
        s.contains("filter: talker"),
        "the status bar shows the filter:\n{s}"
    );
    // Esc while editing clears the filter; then keep only this test's containers (the pid is
    // in the project's name and in the late container's).
    let pid = std::process::id().to_string();
    t.type_text("/");
    t.keys(&["Escape"]);
    t.wait_screen("the filter to be cleared", |s| {
        counts(s).is_some_and(|(shown, all)| shown == all) && has_row(s, "web", &project)
    });
    t.type_text(&format!("/{pid}"));
    t.keys(&["Enter"]);
    let s = t.wait_screen("the filter on the pid", |s| {
        counts(s).is_some_and(|(shown, _)| shown == 2)
    });
    let gs = groups(&s);
    assert!(
        gs.len() == 1 && format!("{project} (2)").starts_with(gs[0].as_str()),
        "only this project's group is left, got {gs:?}:\n{s}"
    );
    assert!(
        has_row(&s, "web", &project) && has_row(&s, "talker", &project),
        "{s}"
    );

    // 3. A container started now appears (Docker events; the console never re-lists).
    let late = format!("opsdeck-test-{pid}-late");
    fx.late = Some(ContainerGuard(late.clone()));
    docker(&[
        "run",
        "-d",
        "--name",
        &late,
        "--label",
        "opsdeck.test=e2e",
        "opsdeck-test/busybox:v1",
    ]);
    let t = &fx.tmux;
    let s = t.wait_screen("the container started during the test", |s| {
        s.contains(&late) && counts(s).is_some_and(|(shown, _)| shown == 3)
    });
    assert!(
        groups(&s).iter().any(|g| g.starts_with("(no project)")),
        "the late container is listed as loose:\n{s}"
    );

    // 4. A log line emitted now appears in the logs pane (`l` on the selected container:
    // the first row, the talker service).
    t.type_text("l");
    t.wait_screen("the logs pane of the talker", |s| {
        s.contains(&format!("local/{talker}")) && s.contains("talker ready")
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let marker = format!("marker-{}-{nanos}", std::process::id());
    docker(&[
        "exec",
        &talker,
        "sh",
        "-c",
        &format!("echo {marker} > /proc/1/fd/1"),
    ]);
    t.wait_screen("the log line emitted during the test", |s| {
        s.contains(&marker)
    });

    // 5. Resizing never kills the console; it redraws at every size.
    for (w, h) in [(80, 24), (20, 6), (1, 1), (200, 60), (100, 30), (160, 45)] {
        t.resize(w, h);
        std::thread::sleep(Duration::from_millis(150));
        assert!(
            console_alive(t),
            "the console died after a resize to {w}x{h}; screen:\n{}",
            t.screen()
        );
    }
    t.wait_screen("the logs pane redrawn at 160x45", |s| {
        s.contains(&marker) && s.lines().any(|l| l.chars().count() >= 150)
    });

    // 6. `q` quits; the terminal is restored: main screen, visible cursor, a shell that
    // reads lines again (raw mode off).
    t.type_text("q");
    // The command line itself shows `console-exit=$?`; the shell's answer starts a line.
    let s = t.wait_screen("the console to exit", |s| {
        s.lines().any(|l| l.starts_with("console-exit="))
    });
    assert!(
        s.lines().any(|l| l.trim() == "console-exit=0"),
        "the console exited non-zero:\n{s}"
    );
    assert_eq!(
        t.format("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(
        t.format("#{cursor_flag}"),
        "1",
        "the cursor is still hidden"
    );
    t.type_text("echo restored-$((40 + 2))");
    t.keys(&["Enter"]);
    t.wait_screen("the shell to run a command after the console", |s| {
        s.lines().any(|l| l.trim() == "restored-42")
    });
}
