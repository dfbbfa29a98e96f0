//! `.env` files read and edited the way Compose reads them (compose-go's dotenv parser, and
//! python-dotenv for Compose v1): blank lines and `#` comments, an optional `export ` prefix,
//! `KEY=value` (and the YAML-like `KEY: value`), unquoted values with a ` #` comment after
//! them, `'single'` quotes taken literally, `"double"` quotes with `\n`/`\"`/`\\`/`\$` escapes,
//! quoted values spanning lines, and `${VAR}` / `$VAR` references. A key given twice counts
//! with its last assignment.
//!
//! Editing changes only the bytes of the value being set (of the last assignment of its key)
//! and leaves every other byte of the file as it was: comments, order, quoting elsewhere, line
//! endings, a missing final newline.

use std::collections::HashMap;
use std::ops::Range;

/// One `KEY=value` statement of a `.env` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// The value as written, without its quotes (escapes and references not processed).
    pub raw: String,
    pub quote: Quote,
    /// Where the value (with its quotes) stands in the text; empty for `KEY=`.
    pub span: Range<usize>,
    /// 1-based line of the key.
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    None,
    Single,
    Double,
}

/// A line that is not a statement Compose accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// A parsed `.env` text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DotEnv {
    text: String,
    entries: Vec<Entry>,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

fn key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')
}

impl DotEnv {
    /// Parse `text`; an error names the line that Compose would refuse too.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let bytes = text.as_bytes();
        let mut entries = Vec::new();
        let mut i = 0;
        let line_at = |pos: usize| 1 + bytes[..pos].iter().filter(|b| **b == b'\n').count();
        while i < text.len() {
            // Start of a line: skip leading blanks, blank lines and comment lines.
            let rest = &text[i..];
            let trimmed = rest.trim_start_matches(is_space);
            let skipped = rest.len() - trimmed.len();
            if trimmed.is_empty() {
                break;
            }
            if trimmed.starts_with('\n') {
                i += skipped + 1;
                continue;
            }
            if trimmed.starts_with('#') {
                i += skipped + trimmed.find('\n').map_or(trimmed.len(), |n| n + 1);
                continue;
            }
            let mut pos = i + skipped;
            if let Some(after) = text[pos..].strip_prefix("export") {
                if after.starts_with(is_space) {
                    pos += "export".len();
                    pos += text[pos..].len() - text[pos..].trim_start_matches(is_space).len();
                }
            }
            let line = line_at(pos);
            let key_start = pos;
            let mut key_end = pos;
            let mut sep = None;
            for (off, c) in text[pos..].char_indices() {
                match c {
                    '=' | ':' | '\n' => {
                        sep = Some((pos + off, c));
                        break;
                    }
                    c if is_space(c) => {}
                    c if key_char(c) => key_end = pos + off + c.len_utf8(),
                    c => {
                        return Err(ParseError {
                            line,
                            message: format!(
                                "unexpected character {c:?} in variable name {:?}",
                                text[key_start..pos + off + c.len_utf8()].trim()
                            ),
                        })
                    }
                }
            }
            let key = text[key_start..key_end].trim_end_matches(is_space);
            if key.is_empty() {
                return Err(ParseError {
                    line,
                    message: "a statement without a variable name".into(),
                });
            }
            if key.contains(is_space) {
                return Err(ParseError {
                    line,
                    message: format!("space in variable name {key:?}"),
                });
            }
            let (sep_pos, sep_char) = match sep {
                Some(s) => s,
                None => (text.len(), '\n'),
            };
            if sep_char == '\n' || sep_pos == text.len() {
                // `KEY` alone: Compose takes it from the environment. Not a value of the file.
                i = (sep_pos + 1).min(text.len());
                continue;
            }
            let mut v = sep_pos + 1;
            v += text[v..].len() - text[v..].trim_start_matches(is_space).len();
            let first = text[v..].chars().next();
            let (raw, quote, span, next) = match first {
                Some(q @ ('\'' | '"')) => {
                    let body = v + 1;
                    let mut close = None;
                    let mut escaped = false;
                    for (off, c) in text[body..].char_indices() {
                        if escaped {
                            escaped = false;
                            continue;
                        }
                        if c == '\\' && q == '"' {
                            escaped = true;
                        } else if c == q {
                            close = Some(body + off);
                            break;
                        }
                    }
                    let close = close.ok_or_else(|| ParseError {
                        line,
                        message: format!("unterminated quoted value for {key}"),
                    })?;
                    let end_of_line = text[close..].find('\n').map_or(text.len(), |n| close + n);
                    (
                        text[body..close].to_string(),
                        if q == '\'' {
                            Quote::Single
                        } else {
                            Quote::Double
                        },
                        v..close + 1,
                        (end_of_line + 1).min(text.len()),
                    )
                }
                _ => {
                    let end_of_line = text[v..].find('\n').map_or(text.len(), |n| v + n);
                    let mut value = &text[v..end_of_line];
                    if let Some(c) = value.find(" #").or_else(|| value.find("\t#")) {
                        value = &value[..c];
                    }
                    let value = value.trim_end_matches(is_space);
                    (
                        value.to_string(),
                        Quote::None,
                        v..v + value.len(),
                        (end_of_line + 1).min(text.len()),
                    )
                }
            };
            entries.push(Entry {
                key: key.to_string(),
                raw,
                quote,
                span,
                line,
            });
            i = next;
        }
        Ok(Self {
            text: text.to_string(),
            entries,
        })
    }

    /// Every statement, in file order (a key given twice appears twice).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The assignment of `key` that counts (the last one).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// The value of `key` as Compose sees it: quotes removed, escapes processed, references to
    /// earlier keys of the file (or `env`) expanded; single quotes are literal.
    pub fn get_with(&self, key: &str, env: &HashMap<String, String>) -> Option<String> {
        let idx = self.entries.iter().rposition(|e| e.key == key)?;
        let mut known: HashMap<String, String> = HashMap::new();
        for e in &self.entries[..=idx] {
            let lookup = |name: &str| known.get(name).or_else(|| env.get(name)).cloned();
            let value = match e.quote {
                Quote::Single => e.raw.clone(),
                Quote::None => expand(&e.raw, &lookup),
                Quote::Double => expand(&unescape_double(&e.raw), &lookup),
            };
            known.insert(e.key.clone(), value);
        }
        known.remove(key)
    }

    /// [`DotEnv::get_with`] with no outside environment.
    pub fn get(&self, key: &str) -> Option<String> {
        self.get_with(key, &HashMap::new())
    }

    /// The text with `key` set to `value`: the last assignment of `key` gets the new value
    /// (quoted as needed, in the quoting the line used where it can hold the value); every
    /// other byte is kept. A new key is appended on a line of its own.
    pub fn set(&self, key: &str, value: &str) -> String {
        match self.entry(key) {
            Some(e) => {
                let encoded = encode(value, e.quote);
                let mut out = String::with_capacity(self.text.len() + encoded.len());
                out.push_str(&self.text[..e.span.start]);
                out.push_str(&encoded);
                out.push_str(&self.text[e.span.end..]);
                out
            }
            None => {
                let eol = if self.text.contains("\r\n") {
                    "\r\n"
                } else {
                    "\n"
                };
                let mut out = self.text.clone();
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push_str(eol);
                }
                out.push_str(key);
                out.push('=');
                out.push_str(&encode(value, Quote::None));
                out.push_str(eol);
                out
            }
        }
    }
}

/// Apply several `set`s in order.
pub fn set_all(text: &str, pairs: &[(&str, &str)]) -> Result<String, ParseError> {
    let mut out = text.to_string();
    for (k, v) in pairs {
        out = DotEnv::parse(&out)?.set(k, v);
    }
    Ok(out)
}

fn plain_safe(value: &str) -> bool {
    value.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '_' | '-' | '.' | '/' | ':' | '@' | '%' | '+' | ',' | '=' | '~'
            )
    })
}

/// A value written so that Compose reads back exactly `value`. `prefer` is the quoting the
/// line had; it is kept when it can carry the value.
fn encode(value: &str, prefer: Quote) -> String {
    let single_ok = !value.contains('\'') && !value.contains('\n');
    match prefer {
        Quote::Single if single_ok => format!("'{value}'"),
        Quote::Double => double_quote(value),
        _ if plain_safe(value) => value.to_string(),
        _ if single_ok => format!("'{value}'"),
        _ => double_quote(value),
    }
}

fn double_quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '$' => s.push_str("\\$"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Escapes in a double-quoted value; `\$` stays for [`expand`] to read as a literal `$`.
fn unescape_double(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('$') => out.push_str("\\$"),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`; `\$`
/// is a literal `$`. An unknown variable is empty, as in Compose.
pub fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        let c = b[i];
        if c == b'\\' && b.get(i + 1) == Some(&b'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != b'$' {
            let ch = s[i..].chars().next().unwrap_or_default();
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        if b.get(i + 1) == Some(&b'{') {
            let Some(close) = s[i + 2..].find('}') else {
                out.push_str(&s[i..]);
                break;
            };
            let inner = &s[i + 2..i + 2 + close];
            out.push_str(&expand_braced(inner, lookup));
            i += 3 + close;
            continue;
        }
        let name_len = s[i + 1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len() - i - 1);
        if name_len == 0 {
            out.push('$');
            i += 1;
            continue;
        }
        out.push_str(&lookup(&s[i + 1..i + 1 + name_len]).unwrap_or_default());
        i += 1 + name_len;
    }
    out
}

fn expand_braced(inner: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    for op in [":-", ":+", ":?", "-", "+", "?"] {
        if let Some((name, arg)) = inner.split_once(op) {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let v = lookup(name);
            let set = v.is_some();
            let non_empty = v.as_deref().is_some_and(|v| !v.is_empty());
            let arg = expand(arg, lookup);
            return match op {
                ":-" if !non_empty => arg,
                "-" if !set => arg,
                ":+" => {
                    if non_empty {
                        arg
                    } else {
                        String::new()
                    }
                }
                "+" => {
                    if set {
                        arg
                    } else {
                        String::new()
                    }
                }
                _ => v.unwrap_or_default(),
            };
        }
    }
    lookup(inner).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(text: &str, key: &str) -> Option<String> {
        DotEnv::parse(text).expect("parses").get(key)
    }

    #[test]
    fn values_as_compose_reads_them() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("A=1\n", "A", Some("1")),
            ("A=1", "A", Some("1")),
            ("  A = 1  \n", "A", Some("1")),
            ("export A=1\n", "A", Some("1")),
            ("export\tA=1\n", "A", Some("1")),
            ("exportA=1\n", "exportA", Some("1")),
            ("A: 1\n", "A", Some("1")),
            ("A=\n", "A", Some("")),
            ("A=1 # note\n", "A", Some("1")),
            ("A=1#not-a-comment\n", "A", Some("1#not-a-comment")),
            ("A='x # y'\n", "A", Some("x # y")),
            ("A=\"x # y\" # c\n", "A", Some("x # y")),
            ("A='$B \\n'\nB=2\n", "A", Some("$B \\n")),
            ("A=\"a\\nb\\\"c\\\\\"\n", "A", Some("a\nb\"c\\")),
            ("A=\"one\ntwo\"\nB=3\n", "A", Some("one\ntwo")),
            ("A=\"one\ntwo\"\nB=3\n", "B", Some("3")),
            ("B=x\nA=${B}-y\n", "A", Some("x-y")),
            ("B=x\nA=$B/y\n", "A", Some("x/y")),
            ("A=${NOPE:-dflt}\n", "A", Some("dflt")),
            ("A=\"\\$B\"\nB=1\n", "A", Some("$B")),
            ("A=1\nA=2\n", "A", Some("2")),
            ("# A=1\n", "A", None),
            ("A\n", "A", None),
            ("A=1\r\nB=2\r\n", "A", Some("1")),
            ("A=1\r\nB=2\r\n", "B", Some("2")),
            ("\n\n# c\n\n  # c2\nA=ok\n", "A", Some("ok")),
            ("A=p@ss:w/rd=\n", "A", Some("p@ss:w/rd=")),
        ];
        for (text, key, want) in cases {
            assert_eq!(get(text, key).as_deref(), *want, "{text:?} {key}");
        }
    }

    #[test]
    fn bad_lines_name_their_line() {
        let e = DotEnv::parse("A=1\nB C=2\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = DotEnv::parse("A=1\n\nB=\"open\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("unterminated"), "{e}");
        let e = DotEnv::parse("A!=1\n").unwrap_err();
        assert!(e.message.contains('!'), "{e}");
    }

    #[test]
    fn edits_change_the_last_assignment_and_keep_every_other_byte() {
        let text = "# deploy settings\r\nexport VERSION=1.4.0 # first\r\nSECRET='x y'\r\n\r\nVERSION=\"1.4.1\"   # wins\r\nTAIL=${SECRET}";
        let env = DotEnv::parse(text).unwrap();
        assert_eq!(env.get("VERSION").as_deref(), Some("1.4.1"));
        let out = env.set("VERSION", "1.5.0");
        assert_eq!(
            out,
            "# deploy settings\r\nexport VERSION=1.4.0 # first\r\nSECRET='x y'\r\n\r\nVERSION=\"1.5.0\"   # wins\r\nTAIL=${SECRET}"
        );
        let out = DotEnv::parse(&out).unwrap().set("NEW", "v");
        assert!(out.ends_with("TAIL=${SECRET}\r\nNEW=v\r\n"), "{out:?}");
        assert_eq!(
            DotEnv::parse(&out).unwrap().get("TAIL").as_deref(),
            Some("x y")
        );
    }

    #[test]
    fn values_that_need_quotes_read_back_exactly() {
        for v in [
            "plain",
            "",
            "with space",
            "hash # here",
            "it's",
            "both ' and \"",
            "dollar $HOME and ${X}",
            "back\\slash",
            "multi\nline",
            "postgres://app:pa/ss@db:5432/app",
        ] {
            for start in ["K=old\n", "K='old'\n", "K=\"old\"\n", ""] {
                let out = DotEnv::parse(start).unwrap().set("K", v);
                let back = DotEnv::parse(&out).unwrap();
                assert_eq!(back.get("K").as_deref(), Some(v), "{start:?} -> {out:?}");
                assert_eq!(back.entries().len(), 1, "{out:?}");
            }
        }
    }

    #[test]
    fn untouched_text_round_trips_byte_for_byte() {
        let text = "A=1\n# c\nexport B='two'\nC=\"x\ny\"\n\nD=${A}";
        let env = DotEnv::parse(text).unwrap();
        assert_eq!(env.text(), text);
        // Setting a key to the value it has keeps the file identical.
        assert_eq!(env.set("B", "two"), text);
        assert_eq!(env.set("A", "1"), text);
        assert_eq!(
            set_all(text, &[("A", "2"), ("A", "1")]).unwrap(),
            text,
            "two edits that cancel out"
        );
    }
}
