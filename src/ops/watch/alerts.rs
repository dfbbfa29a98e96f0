//! Sending an alert: the channel built from `[alerts.NAME]` (its secrets read from the
//! environment), the message, the rate limit, and the journal entry every send or failure to
//! send gets.

use super::observe::Observation;
use super::rules::Transition;
use crate::error::Error;
use crate::inventory::{AlertKind, AlertSpec};
use crate::journal::{Journal, NewEntry, Outcome};
use crate::notify::{self, Channel, Notice, Smtp};
use std::time::Duration;

fn env(var: &str, alert: &str, key: &str) -> Result<String, Error> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Error::usage(format!(
                "alert {alert}: {key} names the environment variable {var}, which is not set"
            ))
        })
}

/// The channel of an alert, with its secrets read from the environment.
pub fn channel(name: &str, a: &AlertSpec) -> Result<Channel, Error> {
    let url = || -> Result<String, Error> {
        match (&a.url, &a.url_env) {
            (Some(u), _) => Ok(u.clone()),
            (None, Some(v)) => env(v, name, "url_env"),
            (None, None) => Err(Error::usage(format!("alert {name}: no url"))),
        }
    };
    Ok(match a.kind {
        AlertKind::Webhook => Channel::Webhook { url: url()? },
        AlertKind::Slack => Channel::Slack { url: url()? },
        AlertKind::Ntfy => Channel::Ntfy { url: url()? },
        AlertKind::Telegram => Channel::Telegram {
            api: a
                .api
                .clone()
                .unwrap_or_else(|| "https://api.telegram.org".into()),
            token: env(a.token_env.as_deref().unwrap_or(""), name, "token_env")?,
            chat_id: a.chat_id.clone().unwrap_or_default(),
        },
        AlertKind::Email => {
            let smtp = a.smtp.clone().unwrap_or_default();
            let (host, port) = smtp
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse().ok()?)))
                .ok_or_else(|| {
                    Error::usage(format!("alert {name}: smtp {smtp:?} is not host:port"))
                })?;
            let login = match (&a.user, &a.password_env) {
                (Some(u), Some(p)) => Some((u.clone(), env(p, name, "password_env")?)),
                (Some(_), None) | (None, Some(_)) => {
                    return Err(Error::usage(format!(
                        "alert {name}: user and password_env go together"
                    )))
                }
                (None, None) => None,
            };
            Channel::Email(Smtp {
                host,
                port,
                from: a.from.clone().unwrap_or_default(),
                to: a.to.clone(),
                login,
                tls: a.tls,
            })
        }
    })
}

/// The message of a transition.
pub fn notice(alert: &str, o: &Observation, t: Transition, since: Option<&str>) -> Notice {
    let status = match t {
        Transition::Fire => "firing",
        Transition::Resolve => "resolved",
    };
    let message = crate::secrets::mask_text(&o.message);
    let title = format!("{} {}", status.to_ascii_uppercase(), o.subject);
    let mut text = format!("{title}\n{message}");
    if let Some(app) = &o.app {
        text.push_str(&format!("\napp: {app}"));
    }
    if let Some(h) = &o.host {
        text.push_str(&format!("\nhost: {h}"));
    }
    if let (Transition::Resolve, Some(s)) = (t, since) {
        text.push_str(&format!("\nfiring since: {s}"));
    }
    let mut json = serde_json::json!({
        "source": "opsdeck",
        "alert": alert,
        "status": status,
        "subject": o.subject,
        "kind": o.kind,
        "app": o.app,
        "host": o.host,
        "message": message,
        "since": since,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    crate::secrets::mask_json(&mut json);
    Notice { title, text, json }
}

/// How one send went, for the watcher's events.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sent {
    pub alert: String,
    pub subject: String,
    pub status: &'static str,
    pub delivered: bool,
    pub error: Option<String>,
}

/// Send (unless over the hourly limit) and journal it.
pub async fn deliver(
    journal: &Journal,
    name: &str,
    spec: &AlertSpec,
    o: &Observation,
    t: Transition,
    since: Option<&str>,
) -> Sent {
    let n = notice(name, o, t, since);
    let status = match t {
        Transition::Fire => "firing",
        Transition::Resolve => "resolved",
    };
    let entry = NewEntry {
        action: "alert".into(),
        target: name.into(),
        host: o.host.clone(),
        app: o.app.clone(),
        actor: super::super::lock::actor(),
        params: serde_json::json!({
            "kind": spec.kind.as_str(),
            "subject": o.subject,
            "status": status,
            "message": n.json["message"],
        }),
    };
    let id = journal.begin(&entry).await.ok();
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let limit = spec.per_hour.unwrap_or(AlertSpec::DEFAULT_PER_HOUR);
    let sent_lately = journal
        .alerts_sent_since(name, &hour_ago)
        .await
        .unwrap_or(0);
    let result = if sent_lately >= u64::from(limit) {
        Err(format!(
            "not sent: {sent_lately} alerts went through {name} in the last hour (per_hour = {limit})"
        ))
    } else {
        match channel(name, spec) {
            Err(e) => Err(e.message),
            Ok(ch) => notify::send(&ch, &n, Duration::from_secs(20))
                .await
                .map_err(|e| e.to_string()),
        }
    };
    let error = result.err().map(|e| crate::secrets::mask_text(&e));
    if let Some(id) = id {
        let outcome = if error.is_none() {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        };
        let _ = journal.finish(id, outcome, error.as_deref()).await;
    }
    Sent {
        alert: name.into(),
        subject: o.subject.clone(),
        status,
        delivered: error.is_none(),
        error,
    }
}
