//! Masking: no password, token or secret value reaches the journal, a log or the screen.

/// A secret value held in memory: never printed (`Debug` shows `***`) and never serialized
/// (hold it in a `#[serde(skip)]` field).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The value itself, for the one place that must hand it over.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Replace the password of a URL (`scheme://user:pass@host`) with `***`. The password may
/// hold any character people type unencoded (`/`, `#`, `?`, `@`): userinfo ends at the last `@`.
pub fn mask_url(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_string();
    };
    match rest.rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) if !user.contains('/') => {
                format!("{scheme}://{user}:***@{}", &rest[at + 1..])
            }
            _ => s.to_string(),
        },
        None => s.to_string(),
    }
}

/// For `#[serde(serialize_with = ...)]` on an optional URL: serialized without its password.
pub fn serialize_masked_url<S: serde::Serializer>(
    url: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_some(&mask_url(u)),
        None => s.serialize_none(),
    }
}

/// Whether an environment variable or parameter name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "pass",
        "secret",
        "token",
        "key",
        "credential",
        "auth",
        "dsn",
        "private",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// A value as it may be shown: secrets by name are `***`, URLs lose their password.
pub fn mask_value(name: &str, value: &str) -> String {
    if is_secret_name(name) && !value.is_empty() {
        "***".to_string()
    } else {
        mask_text(value)
    }
}

/// Mask secrets inside free text (a log line, an error message, a command): URL passwords,
/// and the values of `NAME=value` words whose name says secret (`DB_PASSWORD=...`).
pub fn mask_text(text: &str) -> String {
    if !text.contains("://") && !text.contains('=') {
        return text.to_string();
    }
    let text = &mask_spaced_passwords(text);
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let trimmed = word.trim_end();
            let ws = &word[trimmed.len()..];
            if let Some((name, value)) = trimmed.split_once('=') {
                let bare = name.trim_start_matches(['-', '\'', '"']);
                if !value.is_empty()
                    && !bare.is_empty()
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
                    && is_secret_name(bare)
                {
                    return format!("{name}=***{ws}");
                }
            }
            let (prefix, url) = match trimmed.find("://") {
                Some(i) => {
                    let start = trimmed[..i]
                        .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                        .map(|p| p + 1)
                        .unwrap_or(0);
                    trimmed.split_at(start)
                }
                None => return word.to_string(),
            };
            format!("{prefix}{}{ws}", mask_url(url))
        })
        .collect()
}

/// A URL password holding whitespace (`postgres://u:pa ss@h`) spans words, which the
/// word-wise masking cannot see: the text from `user:` to the last `@` of the first later
/// word of the same line that has one becomes `***` (masking too much rather than too little).
fn mask_spaced_passwords(text: &str) -> String {
    static START: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:").ok()
    });
    let Some(re) = START.as_ref() else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(m) = re.find_at(text, pos) {
        let after = m.end();
        let line_end = text[after..].find('\n').map_or(text.len(), |i| after + i);
        let word_end = text[after..line_end]
            .find(char::is_whitespace)
            .map_or(line_end, |i| after + i);
        let first = &text[after..word_end];
        // `host:8080 ...` is a port, not a password; with an empty user (`redis://:pw`) it
        // cannot be. (`admin:1234 5@h` stays ambiguous and is read as a port.)
        let has_user = !m.as_str().ends_with("://:");
        let port = has_user
            && first
                .split('/')
                .next()
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        // `user:p@host` in one word is the ordinary case; `user:p@ rest` has no host yet.
        let whole = first.contains('@') && !first.ends_with('@');
        if whole || word_end == line_end || port {
            out.push_str(&text[pos..after]);
            pos = after;
            continue;
        }
        // The first later word of the line that holds an `@` ends the password.
        let mut end = None;
        let mut i = word_end;
        while i < line_end {
            let w_end = text[i..line_end]
                .find(char::is_whitespace)
                .map_or(line_end, |j| i + j);
            if let Some(at) = text[i..w_end].rfind('@') {
                end = Some(i + at);
                break;
            }
            i = w_end + text[w_end..].chars().next().map_or(1, char::len_utf8);
        }
        match end {
            Some(at) => {
                out.push_str(&text[pos..after]);
                out.push_str("***");
                pos = at;
            }
            None => {
                out.push_str(&text[pos..after]);
                pos = after;
            }
        }
    }
    out.push_str(&text[pos..]);
    out
}

/// The password of a URL (`scheme://user:pass@host`), as [`mask_url`] finds it.
pub fn url_password(s: &str) -> Option<&str> {
    let start = s.find("://")? + 3;
    let rest = &s[start..];
    let at = rest.rfind('@')?;
    let (user, pass) = rest[..at].split_once(':')?;
    (!user.contains('/') && !pass.is_empty()).then_some(pass)
}

/// Masking by value as well as by name: the values of secret-named variables, and the
/// passwords inside URL values, become `***` wherever they show up again (a command line,
/// a label, a health probe's output), on top of [`mask_text`].
#[derive(Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// Values shorter than this are only masked by name (masking `1` or `yes` everywhere
    /// would garble the output and hide nothing worth hiding).
    const MIN_LEN: usize = 4;

    /// Learn the secrets of `NAME=value` pairs (an environment).
    pub fn from_env<'a>(env: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut r = Redactor::default();
        for (name, value) in env {
            if is_secret_name(name) {
                r.learn(value);
            }
            for word in value.split_whitespace() {
                if let Some(p) = url_password(word) {
                    r.learn(p);
                }
            }
            if let Some(p) = url_password(value) {
                r.learn(p);
            }
        }
        // Longest first, so a secret holding another is replaced whole.
        r.values
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        r.values.dedup();
        r
    }

    fn learn(&mut self, value: &str) {
        if value.chars().count() >= Self::MIN_LEN {
            self.values.push(value.to_string());
        }
    }

    /// `text` with every known secret value, then every secret [`mask_text`] sees, masked.
    pub fn mask(&self, text: &str) -> String {
        let mut t = text.to_string();
        for v in &self.values {
            if t.contains(v.as_str()) {
                t = t.replace(v.as_str(), "***");
            }
        }
        mask_text(&t)
    }

    /// One variable's value: `***` when its name says secret, else [`Redactor::mask`].
    pub fn mask_var(&self, name: &str, value: &str) -> String {
        if is_secret_name(name) && !value.is_empty() {
            "***".to_string()
        } else {
            self.mask(value)
        }
    }
}

/// Mask a JSON value in place: secret-named keys and URL passwords in strings.
pub fn mask_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_secret_name(k) && !val.is_null() {
                    *val = serde_json::Value::String("***".into());
                } else {
                    mask_json(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        serde_json::Value::String(s) => *s = mask_text(s),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            mask_url("postgres://app:s3cr3t@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(mask_url("redis://db:6379/1"), "redis://db:6379/1");
        for (url, want) in [
            ("postgres://app:pa/ss@db/app", "postgres://app:***@db/app"),
            (
                "redis://:r3d!s/1#pw@redis:6379/2",
                "redis://:***@redis:6379/2",
            ),
            (
                "postgres://u:p@ss?x@h:5432/d?sslmode=require",
                "postgres://u:***@h:5432/d?sslmode=require",
            ),
            (
                "https://example.com/users/@me",
                "https://example.com/users/@me",
            ),
            ("https://user@example.com/", "https://user@example.com/"),
        ] {
            assert_eq!(mask_url(url), want, "{url}");
        }
        assert_eq!(
            mask_text("connect to postgres://a:b@c/d failed"),
            "connect to postgres://a:***@c/d failed"
        );
        assert_eq!(
            mask_text("DATABASE_URL=postgres://a:pw@h/d"),
            "DATABASE_URL=postgres://a:***@h/d"
        );
    }

    #[test]
    fn json_secrets_are_masked() {
        let mut v = serde_json::json!({"password": "x", "env": {"API_TOKEN": "t", "MODE": "prod"},
            "url": "postgres://u:p@h/d"});
        mask_json(&mut v);
        let s = v.to_string();
        assert!(
            !s.contains("\"x\"") && !s.contains("\"t\"") && !s.contains(":p@"),
            "{s}"
        );
        assert!(s.contains("prod"));
    }

    #[test]
    fn a_redactor_masks_by_name_and_by_value() {
        let env = [
            ("DATABASE_URL", "postgres://u:SECRETPW@h/db"),
            ("API_TOKEN", "tok-12345"),
            ("MODE", "prod"),
            ("DEBUG", "1"),
        ];
        let r = Redactor::from_env(env);
        assert_eq!(
            r.mask_var("DATABASE_URL", env[0].1),
            "postgres://u:***@h/db"
        );
        assert_eq!(r.mask_var("API_TOKEN", "tok-12345"), "***");
        assert_eq!(r.mask_var("MODE", "prod"), "prod");
        // The same values elsewhere, in any shape, are masked too.
        let t = r.mask("sh -c 'echo SECRETPW; curl -H \"X: tok-12345\" x' DEBUG 1");
        assert!(!t.contains("SECRETPW") && !t.contains("tok-12345"), "{t}");
        assert!(
            t.contains("DEBUG 1"),
            "short values are masked by name only: {t}"
        );
        assert_eq!(url_password("redis://:pw@h:6379"), Some("pw"));
        assert_eq!(url_password("https://example.com/@me"), None);
    }

    #[test]
    fn a_url_password_with_spaces_is_masked_in_text() {
        // Found by tests/fuzz.rs (mask_url_never_shows_the_password).
        let t = mask_text("connecting to postgres://u:pa ss w@rd@db:5432/x failed");
        assert_eq!(t, "connecting to postgres://u:***@db:5432/x failed");
        let t = mask_text("postgres://: aa0@a");
        assert!(!t.contains("aa0"), "{t}");
        // A port is not a password.
        let t = mask_text("GET http://127.0.0.1:8080/health as deploy@alpha");
        assert_eq!(t, "GET http://127.0.0.1:8080/health as deploy@alpha");
        let t = mask_text("redis://h:6379 down");
        assert_eq!(t, "redis://h:6379 down");
    }
}
