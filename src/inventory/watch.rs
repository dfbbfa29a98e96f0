//! What `opsdeck watch` reads: where alerts go (`[alerts.NAME]`) and the watcher's own
//! thresholds (`[watch]`). Secrets (webhook URLs with tokens, bot tokens, SMTP passwords)
//! may be named by environment variable (`*_env`) so the file never holds them.

use super::ConfigDuration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// A JSON POST of the alert.
    Webhook,
    /// A Slack incoming webhook (`{"text": ...}`).
    Slack,
    /// Telegram's bot API `sendMessage`.
    Telegram,
    /// SMTP (STARTTLS unless `tls = "none"`).
    Email,
    /// An ntfy topic URL (the message as the body, the title as a header).
    Ntfy,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Webhook => "webhook",
            AlertKind::Slack => "slack",
            AlertKind::Telegram => "telegram",
            AlertKind::Email => "email",
            AlertKind::Ntfy => "ntfy",
        }
    }
}

/// How an email alert's connection is secured.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS, required (the default).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text: only for a relay on loopback.
    None,
}

/// Where alerts are sent.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    pub kind: AlertKind,
    /// webhook, slack, ntfy: the URL (or `url_env`, the variable that holds it).
    pub url: Option<String>,
    pub url_env: Option<String>,
    /// telegram: the variable holding the bot token, the chat, and the API's base URL
    /// (default `https://api.telegram.org`).
    pub token_env: Option<String>,
    pub chat_id: Option<String>,
    pub api: Option<String>,
    /// email: `host:port` of the SMTP server, sender, recipients, login.
    pub smtp: Option<String>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    pub user: Option<String>,
    pub password_env: Option<String>,
    #[serde(default)]
    pub tls: SmtpTls,
    /// Consecutive failures of a check before it alerts (default 2).
    pub failures: Option<u32>,
    /// Consecutive successes before an alert is resolved (default 2).
    pub successes: Option<u32>,
    /// At most this many messages per hour through this alert (default 30); the rest are
    /// recorded in the journal as not sent.
    pub per_hour: Option<u32>,
    /// Only alerts about these apps (default: every app and every host-wide check).
    #[serde(default)]
    pub apps: Vec<String>,
}

impl AlertSpec {
    pub const DEFAULT_FAILURES: u32 = 2;
    pub const DEFAULT_SUCCESSES: u32 = 2;
    pub const DEFAULT_PER_HOUR: u32 = 30;
}

/// `[watch]`: the watcher's thresholds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WatchSpec {
    /// How often containers, disks and backups are looked at (checks keep their `every`).
    #[serde(default = "default_interval")]
    pub interval: ConfigDuration,
    /// Alert when a host's root filesystem is fuller than this, in percent.
    #[serde(default = "default_disk_percent")]
    pub disk_percent: u8,
    /// Alert when an https check's certificate expires within this many days.
    #[serde(default = "default_cert_days")]
    pub cert_days: u32,
    /// Check results kept for uptime, in days.
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
}

impl Default for WatchSpec {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            disk_percent: default_disk_percent(),
            cert_days: default_cert_days(),
            keep_days: default_keep_days(),
        }
    }
}

fn default_interval() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(10))
}
fn default_disk_percent() -> u8 {
    90
}
fn default_cert_days() -> u32 {
    14
}
fn default_keep_days() -> u32 {
    30
}

/// A cron schedule as written in the inventory: five fields (`0 3 * * *`, as crontab) or the
/// cron crate's six/seven (with seconds first).
pub fn parse_schedule(s: &str) -> Result<cron::Schedule, String> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let full = match parts.len() {
        5 => format!("0 {} {}", parts[..4].join(" "), crontab_weekdays(parts[4])?),
        6 | 7 => s.to_string(),
        _ => {
            return Err(format!(
                "{s:?} is not a cron schedule (five fields: minute hour day month weekday)"
            ))
        }
    };
    std::str::FromStr::from_str(&full).map_err(|e| format!("{s:?} is not a cron schedule: {e}"))
}

/// Crontab's weekday field (0 or 7 = Sunday, ranges, steps, names) as explicit day names,
/// which mean the same in the cron crate (whose numbers start at Sunday = 1).
fn crontab_weekdays(f: &str) -> Result<String, String> {
    const NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    if f == "*" || f == "?" {
        return Ok(f.to_string());
    }
    let bad = || format!("weekday field {f:?} is not 0-7, a name, a range or a step");
    let mut days = Vec::new();
    for item in f.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, st)) => (r, st.parse::<usize>().map_err(|_| bad())?),
            None => (item, 1),
        };
        if step == 0 {
            return Err(bad());
        }
        let num = |x: &str| -> Result<usize, String> {
            if let Ok(n) = x.parse::<usize>() {
                return (n <= 7).then_some(n).ok_or_else(bad);
            }
            NAMES
                .iter()
                .position(|d| d.eq_ignore_ascii_case(x))
                .ok_or_else(bad)
        };
        let (a, b) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None if step > 1 => (num(r)?, 6),
                None => (num(r)?, num(r)?),
            },
        };
        if a > b {
            return Err(bad());
        }
        days.extend((a..=b).step_by(step).map(|d| NAMES[d % 7]));
    }
    let mut uniq: Vec<&str> = Vec::new();
    for d in days {
        if !uniq.contains(&d) {
            uniq.push(d);
        }
    }
    Ok(uniq.join(","))
}

type Problems = Vec<(Vec<String>, String)>;

fn env_name_ok(v: &str) -> bool {
    !v.is_empty()
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !v.starts_with(|c: char| c.is_ascii_digit())
}

/// The `[alerts]`, `[watch]` and schedule keys serde cannot check.
pub(super) fn validate(inv: &super::Inventory) -> Problems {
    let mut p = Problems::new();
    let key = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for (name, a) in &inv.alerts {
        if let Err(e) = crate::names::check_name("alert", name) {
            p.push((key(&["alerts", name]), e));
        }
        let k = |f: &str| key(&["alerts", name, f]);
        let need = |p: &mut Problems, f: &str, present: bool, why: &str| {
            if !present {
                p.push((k(f), format!("a {} alert needs {why}", a.kind.as_str())));
            }
        };
        match a.kind {
            AlertKind::Webhook | AlertKind::Slack | AlertKind::Ntfy => {
                need(
                    &mut p,
                    "url",
                    a.url.is_some() != a.url_env.is_some(),
                    "exactly one of `url` and `url_env`",
                );
            }
            AlertKind::Telegram => {
                need(&mut p, "token_env", a.token_env.is_some(), "`token_env`");
                need(&mut p, "chat_id", a.chat_id.is_some(), "`chat_id`");
            }
            AlertKind::Email => {
                need(&mut p, "smtp", a.smtp.is_some(), "`smtp` (host:port)");
                need(&mut p, "from", a.from.is_some(), "`from`");
                need(&mut p, "to", !a.to.is_empty(), "`to` (a list of addresses)");
                if let Some(s) = &a.smtp {
                    let ok = s
                        .rsplit_once(':')
                        .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok());
                    if !ok {
                        p.push((k("smtp"), format!("{s:?} must be host:port")));
                    }
                }
            }
        }
        for (f, v) in [("url", &a.url), ("api", &a.api)] {
            if let Some(u) = v {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    p.push((
                        k(f),
                        format!("{:?} must be an http(s) URL", crate::secrets::mask_url(u)),
                    ));
                }
            }
        }
        for (f, v) in [
            ("url_env", &a.url_env),
            ("token_env", &a.token_env),
            ("password_env", &a.password_env),
        ] {
            if let Some(v) = v {
                if !env_name_ok(v) {
                    p.push((k(f), format!("{v:?} is not an environment variable name")));
                }
            }
        }
        for (f, v) in [("failures", a.failures), ("successes", a.successes)] {
            if v == Some(0) {
                p.push((k(f), "must be 1 or more".into()));
            }
        }
        for app in &a.apps {
            if !inv.apps.contains_key(app) {
                p.push((k("apps"), format!("no app named {app:?}")));
            }
        }
    }
    for (name, c) in &inv.checks {
        if let Some(app) = &c.app {
            if !inv.apps.contains_key(app) {
                p.push((
                    key(&["checks", name, "app"]),
                    format!("no app named {app:?}"),
                ));
            }
        }
        for (f, v) in [("failures", c.failures), ("successes", c.successes)] {
            if v == Some(0) {
                p.push((key(&["checks", name, f]), "must be 1 or more".into()));
            }
        }
    }
    for (name, d) in &inv.databases {
        for (f, v) in [
            ("schedule", &d.schedule),
            ("verify_schedule", &d.verify_schedule),
        ] {
            if let Some(s) = v {
                if let Err(e) = parse_schedule(s) {
                    p.push((key(&["databases", name, f]), e));
                }
                if d.backup_to.is_none() {
                    p.push((
                        key(&["databases", name, f]),
                        "a schedule needs `backup_to` (where the backups go)".into(),
                    ));
                }
            }
        }
    }
    if !(1..=100).contains(&inv.watch.disk_percent) {
        p.push((
            key(&["watch", "disk_percent"]),
            "must be between 1 and 100".into(),
        ));
    }
    if inv.watch.interval.0 < std::time::Duration::from_secs(1) {
        p.push((key(&["watch", "interval"]), "must be at least 1s".into()));
    }
    p
}
