//! The zero-downtime switch of one service, as kamal-proxy does it for one container, but
//! through the host's own proxy: new containers start beside the old ones (`compose up
//! --scale N --no-recreate`, so they carry the service's labels, networks and DNS name and
//! compose counts them as its own), become ready, are routed by the proxy; then the old ones
//! leave the rotation, finish their in-flight requests (up to the drain time) and are removed.
//! Until the old ones stop, every failure removes the new containers and leaves the old ones
//! serving.
//!
//! Proxies that resolve the service's name (a Traefik file route, Caddy, nginx, the app's
//! neighbours) see a container only while it is under that name: the new one is created
//! without starting, started off the name and put under it once ready; the old one leaves it
//! before draining (see `dns`).
//!
//! Taking an old container out of Traefik's docker provider without failing a request:
//! Traefik re-reads the containers on start/die/health events and skips paused ones, so the
//! old container is paused (connections to it wait, none fail), a throwaway container's start
//! makes Traefik re-read, and once Traefik's API no longer lists the old address it is
//! unpaused to finish what it holds; Traefik does not re-read on unpause.

use super::super::event::{ActionEvent, Stream};
use super::super::step::{Readiness, Switch};
use super::exec::{compose_flavor, run_checked};
use crate::docker::control::{self, Inspected};
use crate::docker::{self, Engine, Health, State};
use crate::error::Error;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

mod dns;
mod ready;
mod traefik;

const POLL: Duration = Duration::from_millis(200);

/// How long an old container taken off the service's name keeps serving at least: what
/// resolved the name just before, or had its first SYN dropped while the engine reattached it
/// (TCP sends it again after 1 s), still arrives.
const STRAGGLERS: Duration = Duration::from_millis(2500);

fn engine_err(what: &str, e: docker::EngineError) -> Error {
    Error::failed(format!("{what}: {}", docker::describe_error(&e)))
}

/// `abc123def456` for messages.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A container of the service as the switch sees it.
#[derive(Debug, Clone)]
struct Member {
    id: String,
    i: Inspected,
}

impl Member {
    fn label(&self) -> String {
        format!("{} ({})", self.i.name, short(&self.id))
    }
}

/// The service's containers in the project (all states), oldest first.
async fn members(d: &Engine, sw: &Switch) -> Result<Vec<Member>, Error> {
    let label = format!("com.docker.compose.service={}", sw.service);
    let mut list = control::with_label(d, &label, true)
        .await
        .map_err(|e| engine_err(&format!("listing {}", sw.service), e))?;
    list.retain(|c| {
        sw.compose.owns(
            c.label("com.docker.compose.project"),
            c.label("com.docker.compose.project.working_dir"),
        ) && c.label("com.docker.compose.oneoff") != Some("True")
    });
    list.sort_by_key(|c| c.created.unwrap_or(0));
    let mut out = Vec::new();
    for c in list {
        match control::inspect(d, &c.id).await {
            Ok(i) => out.push(Member { id: c.id, i }),
            Err(e) if docker::is_not_found(&e) => {}
            Err(e) => return Err(engine_err(&format!("inspect {}", sw.service), e)),
        }
    }
    Ok(out)
}

/// What the switch needs from the step runner (not the runner's own context, which would
/// make `deploy` and `steps` import each other).
pub(in crate::ops) struct SwitchCtx<'a> {
    pub host: &'a crate::host::Host,
    pub seq: usize,
    pub events: &'a tokio::sync::mpsc::UnboundedSender<ActionEvent>,
    pub cancel: &'a tokio_util::sync::CancellationToken,
}

struct Run<'a, 'b> {
    cx: &'a SwitchCtx<'b>,
    sw: &'a Switch,
    d: Engine,
}

impl Run<'_, '_> {
    fn say(&self, line: String) {
        let _ = self.cx.events.send(ActionEvent::Output {
            seq: self.cx.seq,
            stream: Stream::Stdout,
            line,
        });
    }

    fn check_cancel(&self) -> Result<(), Error> {
        if self.cx.cancel.is_cancelled() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    }

    async fn sleep(&self, d: Duration) -> Result<(), Error> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.cx.cancel.cancelled() => Err(Error::cancelled()),
        }
    }

    /// `compose up --no-start --no-deps --no-recreate --scale SERVICE=N SERVICE` with the new
    /// env: the new container is created, not started (the switch starts it off the name).
    async fn scale_to(&self, n: usize) -> Result<(), Error> {
        let flavor = compose_flavor(self.cx.host).await?;
        let scale = format!("{}={n}", self.sw.service);
        let mut args = vec!["up", "--no-start", "--no-deps", "--no-recreate"];
        if !self.sw.build {
            args.push("--no-build");
        }
        args.extend(["--scale", &scale, &self.sw.service]);
        let mut cmd = self
            .sw
            .compose
            .cmd(&flavor, &args)
            .timeout(Duration::from_secs(600));
        for (k, v) in &self.sw.env {
            cmd = cmd.env(k, v);
        }
        run_checked(
            self.cx.host,
            &cmd,
            self.cx.cancel,
            &format!("starting a new {} beside the old", self.sw.service),
        )
        .await
        .map(|_| ())
    }

    /// Remove the new containers, and make sure the old ones run unpaused (the failure path).
    async fn put_back(&self, new: &[String], old: &[Member]) -> Vec<String> {
        let mut problems = Vec::new();
        for o in old {
            if let Ok(i) = control::inspect(&self.d, &o.id).await {
                if i.paused {
                    if let Err(e) = control::unpause(&self.d, &o.id).await {
                        problems.push(format!(
                            "unpause {}: {}",
                            o.label(),
                            docker::describe_error(&e)
                        ));
                    }
                }
            }
            if let Err(e) = self.named_again(o).await {
                problems.push(e.message);
            }
        }
        for id in new {
            match control::remove_forced(&self.d, id).await {
                Ok(()) => self.say(format!("removed the new container {}", short(id))),
                Err(e) if docker::is_not_found(&e) => {}
                Err(e) => problems.push(format!(
                    "remove {}: {}",
                    short(id),
                    docker::describe_error(&e)
                )),
            }
        }
        if let (Some(c), false) = (&self.sw.proxy.reload, old.is_empty()) {
            // nginx may have loaded the new container alone: it resolves the old one again.
            if let Err(e) = reload_proxy(self, c).await {
                problems.push(e.message);
            }
        }
        if !old.is_empty() {
            // A throwaway start makes Traefik's docker provider read the containers again,
            // so an old container it dropped while paused is served again at once.
            if self.sw.proxy.kind.as_deref() == Some("traefik") || has_traefik_labels(&old[0].i) {
                let _ = self.nudge_traefik(new.first().map(String::as_str)).await;
            }
        }
        problems
    }
}

fn has_traefik_labels(i: &Inspected) -> bool {
    i.labels.get("traefik.enable").map(String::as_str) != Some("false")
        && i.labels.keys().any(|k| k.starts_with("traefik."))
}

/// Run the switch.
pub(in crate::ops) async fn switch(cx: &SwitchCtx<'_>, sw: &Switch) -> Result<String, Error> {
    let d = cx.host.docker().await?;
    let run = Run { cx, sw, d };
    run.check_cancel()?;
    let before = members(&run.d, sw).await?;
    // What an interrupted switch may have left: a paused container (unpause it), stopped
    // ones (compose would start them again instead of new ones; they serve nothing).
    let mut old = Vec::new();
    for m in before {
        if m.i.paused {
            control::unpause(&run.d, &m.id)
                .await
                .map_err(|e| engine_err(&format!("unpause {}", m.label()), e))?;
            run.say(format!(
                "{} was left paused by an interrupted run: unpaused",
                m.label()
            ));
        }
        if m.i.running {
            run.named_again(&m).await?;
            old.push(m);
        } else {
            control::remove_forced(&run.d, &m.id)
                .await
                .map_err(|e| engine_err(&format!("remove the stopped {}", m.label()), e))?;
            run.say(format!("removed the stopped {}", m.label()));
        }
    }
    // More than one running: a switch interrupted after its new container started. Keep the
    // oldest (what served before it), remove the rest, and switch again.
    while old.len() > 1 {
        if let Some(extra) = old.pop() {
            control::remove_forced(&run.d, &extra.id)
                .await
                .map_err(|e| engine_err(&format!("remove {}", extra.label()), e))?;
            run.say(format!(
                "removed {}, left by an interrupted switch",
                extra.label()
            ));
        }
    }
    let old_ids: BTreeSet<String> = old.iter().map(|m| m.id.clone()).collect();
    if let Err(e) = run.scale_to(old.len() + 1).await {
        let now = members(&run.d, sw).await.unwrap_or_default();
        let new: Vec<String> = now
            .into_iter()
            .map(|m| m.id)
            .filter(|id| !old_ids.contains(id))
            .collect();
        let problems = run.put_back(&new, &old).await;
        return Err(with_problems(e, problems));
    }
    let now = members(&run.d, sw).await?;
    let new: Vec<Member> = now
        .into_iter()
        .filter(|m| !old_ids.contains(&m.id))
        .collect();
    let new_ids: Vec<String> = new.iter().map(|m| m.id.clone()).collect();
    let Some(fresh) = new.first().filter(|_| new.len() == 1) else {
        let problems = run.put_back(&new_ids, &old).await;
        return Err(with_problems(
            Error::failed(format!(
                "expected one new container of {}, compose started {}",
                sw.service,
                new.len()
            )),
            problems,
        ));
    };
    // A proxy that resolves the service's name must not find the new container before it is
    // ready: it starts off the name (Traefik's docker provider skips it until healthy).
    let off_name = matches!(sw.ready, Readiness::Http { .. }) && !has_traefik_labels(&fresh.i);
    let started = async {
        let eps = if off_name {
            run.off_the_name(&fresh.id).await?
        } else {
            Vec::new()
        };
        control::start(&run.d, &fresh.id)
            .await
            .map_err(|e| engine_err(&format!("start {}", fresh.label()), e))?;
        Ok::<_, Error>(eps)
    }
    .await;
    let eps = match started {
        Ok(eps) => eps,
        Err(e) => {
            let problems = run.put_back(&new_ids, &old).await;
            return Err(with_problems(e, problems));
        }
    };
    match old.first() {
        Some(o) => run.say(format!("started {} beside {}", fresh.label(), o.label())),
        None => run.say(format!("started {} (nothing ran before)", fresh.label())),
    }
    let result = finish(&run, fresh, old.first(), off_name.then_some(&eps[..])).await;
    match result {
        Ok(summary) => Ok(summary),
        Err(e) => {
            let problems = run.put_back(&new_ids, &old).await;
            Err(with_problems(e, problems))
        }
    }
}

fn with_problems(e: Error, problems: Vec<String>) -> Error {
    if problems.is_empty() {
        e
    } else {
        Error::failed(format!(
            "{e}; putting it back also failed: {}",
            problems.join("; ")
        ))
    }
}

/// Ready, routed, old drained and removed. `named`: the new container started off the
/// service's DNS name, these are the networks to put it under the name on once ready (and
/// the old one leaves the name before it drains).
async fn finish(
    run: &Run<'_, '_>,
    fresh: &Member,
    old: Option<&Member>,
    named: Option<&[control::Endpoint]>,
) -> Result<String, Error> {
    let sw = run.sw;
    let limit = Duration::from_secs(sw.timeout_secs.max(1));
    let started = Instant::now();
    let ready = run.wait_ready(&fresh.id, limit).await?;
    run.say(format!("{} is ready: {ready}", fresh.label()));
    if let Some(eps) = named {
        run.under_the_name(&fresh.id, eps).await?;
        run.say(format!(
            "{} is under the name {}",
            fresh.label(),
            sw.service
        ));
    }
    let fresh_i = control::inspect(&run.d, &fresh.id)
        .await
        .map_err(|e| engine_err("inspect the new container", e))?;
    let traefik_labels = has_traefik_labels(&fresh_i);
    let new_ip = fresh_i.ip(None).map(str::to_string);
    // Routed: Traefik's API lists the new address, or a Host-header probe through the
    // entrypoint answers.
    let remaining = limit
        .saturating_sub(started.elapsed())
        .max(Duration::from_secs(5));
    let mut routed = String::from("no proxy to ask");
    let worker = matches!(sw.ready, Readiness::Settle { .. }) && !traefik_labels;
    if let (Some(c), false) = (&sw.proxy.reload, worker) {
        // nginx resolves the service's name when it loads: now it finds both.
        reload_proxy(run, c).await?;
        routed = format!("nginx in {c} reloaded");
    }
    if worker {
        routed = "a worker: nothing routes to it".into();
    } else if let (Some(api), true, Some(ip)) = (&sw.proxy.api, traefik_labels, &new_ip) {
        run.traefik_lists(api, std::slice::from_ref(ip), true, remaining)
            .await?;
        routed = format!("Traefik lists {ip}");
    } else if let (Some(ep), Some(domain)) = (&sw.proxy.entrypoint, sw.proxy.domains.first()) {
        let url = format!("{}{}", ep.trim_end_matches('/'), sw.proxy.probe_path);
        let p = crate::http::probe(&url, remaining, Some(run.cx.host), Some(domain)).await;
        if !p.is_up(None) {
            return Err(Error::failed(format!(
                "the proxy does not serve {domain}{} ({})",
                sw.proxy.probe_path,
                p.error
                    .unwrap_or_else(|| format!("status {}", p.status.unwrap_or(0)))
            )));
        }
        routed = format!(
            "{domain} answers {} through the proxy",
            p.status.unwrap_or(0)
        );
    }
    run.say(format!("routed: {routed}"));
    let Some(old) = old else {
        return Ok(format!(
            "{}: started {} ({ready}; {routed}); nothing to drain",
            sw.service,
            fresh.label()
        ));
    };
    // Out of rotation.
    let drain = Duration::from_secs(sw.drain_secs);
    let old_i = control::inspect(&run.d, &old.id)
        .await
        .map_err(|e| engine_err("inspect the old container", e))?;
    let old_ip = old_i.ip(None).map(str::to_string);
    if has_traefik_labels(&old_i) {
        // Traefik applies one provider change per 2 s: let the one that added the new
        // container pass, so the next is applied at once.
        run.sleep(Duration::from_secs(2)).await?;
        control::pause(&run.d, &old.id)
            .await
            .map_err(|e| engine_err(&format!("pause {}", old.label()), e))?;
        let out = async {
            run.nudge_traefik(Some(&fresh.id)).await?;
            match (&sw.proxy.api, &old_ip) {
                (Some(api), Some(ip)) => {
                    run.traefik_lists(
                        api,
                        std::slice::from_ref(ip),
                        false,
                        Duration::from_secs(15),
                    )
                    .await
                }
                _ => run.sleep(Duration::from_millis(2500)).await,
            }
        }
        .await;
        control::unpause(&run.d, &old.id)
            .await
            .map_err(|e| engine_err(&format!("unpause {}", old.label()), e))?;
        out?;
        run.say(format!("{} is out of Traefik's rotation", old.label()));
    }
    let mut warnings = Vec::new();
    if named.is_some() {
        // Off the name (the engine keeps its address, so what it holds carries on): whatever
        // resolves the name from now on, nginx's reload too, finds only the new container.
        run.off_the_name(&old.id).await?;
        run.say(format!("{} is off the name {}", old.label(), sw.service));
        if let (Some(c), false) = (&sw.proxy.reload, worker) {
            reload_proxy(run, c).await?;
            run.say(format!("nginx in {c} reloaded: only the new container"));
        }
    }
    let drain_start = Instant::now();
    let mut drained = String::from("in-flight requests not readable; waited 1s");
    loop {
        // The new one must still be serving while, and until, the old one goes.
        let check = control::inspect(&run.d, &fresh.id)
            .await
            .map_err(|e| engine_err("inspect the new container", e))?;
        if !check.running || check.health == Health::Unhealthy || check.state == State::Restarting {
            return Err(Error::failed(format!(
                "the new {} stopped serving while the old one drained ({}, health {})",
                sw.service,
                check.state.as_str(),
                check.health.as_str()
            )));
        }
        let waited = drain_start.elapsed();
        match run.in_flight(old_i.pid).await {
            // Off the name, a connection that resolved it just before may still be on its
            // way (a SYN the reattach dropped is sent again after 1 s): keep serving that long.
            Some(0) if named.is_some() && waited < drain.min(STRAGGLERS) => {}
            Some(0) => {
                drained = "no request in flight".into();
                break;
            }
            Some(n) if waited >= drain => {
                drained = format!("{n} still in flight at the drain limit");
                break;
            }
            Some(n) => drained = format!("{n} in flight"),
            None if waited >= drain.min(Duration::from_secs(1)) => break,
            None => {}
        }
        run.sleep(Duration::from_millis(100)).await?;
    }
    if let (Some(c), true, false) = (&sw.proxy.reload, named.is_none(), worker) {
        // nginx resolves the service's name when it loads: off the networks first (nothing
        // is in flight), so the reload sees only the new container, then stop it.
        for (net, _) in &old_i.addresses {
            if let Err(e) = control::disconnect(&run.d, net, &old.id).await {
                warnings.push(format!(
                    "taking {} off {net}: {}",
                    old.label(),
                    docker::describe_error(&e)
                ));
            }
        }
        if let Err(e) = reload_proxy(run, c).await {
            warnings.push(e.message);
        }
    }
    let grace = drain.saturating_sub(drain_start.elapsed()).as_secs().max(1) as i32;
    control::stop(&run.d, &old.id, Some(grace))
        .await
        .map_err(|e| engine_err(&format!("stop {}", old.label()), e))?;
    // From here the new container serves alone: the switch is done, and what fails now is
    // said, not undone.
    if let Err(e) = control::remove_forced(&run.d, &old.id).await {
        warnings.push(format!(
            "the stopped {} was not removed: {}",
            old.label(),
            docker::describe_error(&e)
        ));
    }
    for w in &warnings {
        run.say(format!("warning: {w}"));
    }
    let took = drain_start.elapsed();
    run.say(format!("removed {}", old.label()));
    Ok(format!(
        "{}: start-first, old {} -> new {}, drained {:.1}s of {}s ({drained}); {ready}; {routed}{}",
        sw.service,
        old.label(),
        fresh.label(),
        took.as_secs_f64(),
        sw.drain_secs,
        warnings
            .iter()
            .map(|w| format!("; warning: {w}"))
            .collect::<String>()
    ))
}

/// `nginx -s reload` in the proxy's container, so it resolves the service's name again.
async fn reload_proxy(run: &Run<'_, '_>, container: &str) -> Result<(), Error> {
    let cmd = crate::host::Cmd::new("docker")
        .args(["exec", container, "nginx", "-s", "reload"])
        .timeout(Duration::from_secs(30));
    run_checked(
        run.cx.host,
        &cmd,
        run.cx.cancel,
        &format!("reloading nginx in {container}"),
    )
    .await
    .map(|_| ())
}
