//! Traefik router rules: a checker for the syntax (matchers joined by `&&`/`||`, `!`,
//! parentheses, quoted arguments) and the host names of the `Host(...)` matchers.

/// The matchers Traefik v2/v3 know.
const MATCHERS: [&str; 11] = [
    "Host",
    "HostRegexp",
    "Path",
    "PathPrefix",
    "PathRegexp",
    "Method",
    "Header",
    "HeaderRegexp",
    "Query",
    "QueryRegexp",
    "ClientIP",
];

/// Why a rule is refused, said for the operator (with where in the rule, where it helps).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("a single {op:?} at position {at}; write && or ||")]
    SingleOperator { op: char, at: usize },
    #[error("the quote at position {at} is not closed")]
    UnclosedQuote { at: usize },
    #[error("unexpected {found:?} at position {at}")]
    UnexpectedChar { found: char, at: usize },
    #[error("a '(' is not closed")]
    UnclosedParen,
    #[error("unknown matcher {name:?}; Traefik knows {}", MATCHERS.join(", "))]
    UnknownMatcher { name: String },
    #[error("{name} must be followed by '('")]
    NoArguments { name: String },
    #[error("{name}(...) takes quoted arguments, e.g. {name}(`example.com`)")]
    UnquotedArgument { name: String },
    #[error("{name}(...) is not closed")]
    UnclosedCall { name: String },
    #[error("expected a matcher, found {found}")]
    ExpectedMatcher { found: String },
    #[error("the rule ends where a matcher was expected")]
    EndsEarly,
    #[error("unexpected {found} after a complete rule")]
    TrailingInput { found: String },
    #[error("the rule is longer than 1000 characters")]
    TooLong,
    #[error("the rule contains control characters")]
    ControlCharacters,
    /// A `Host(...)` argument that is not a DNS name.
    #[error("{0}")]
    BadHost(String),
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Open,
    Close,
    Comma,
    And,
    Or,
    Not,
}

fn lex(rule: &str) -> Result<Vec<Tok>, RuleError> {
    let mut out = Vec::new();
    let chars: Vec<char> = rule.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '!' => {
                out.push(Tok::Not);
                i += 1
            }
            '&' | '|' => {
                if chars.get(i + 1) != Some(&c) {
                    return Err(RuleError::SingleOperator { op: c, at: i });
                }
                out.push(if c == '&' { Tok::And } else { Tok::Or });
                i += 2
            }
            '`' | '"' | '\'' => {
                let start = i;
                i += 1;
                let mut s = String::new();
                while i < chars.len() && chars[i] != c {
                    s.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(RuleError::UnclosedQuote { at: start });
                }
                i += 1;
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_alphabetic() => {
                let mut s = String::new();
                while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                    s.push(chars[i]);
                    i += 1;
                }
                out.push(Tok::Ident(s));
            }
            other => {
                return Err(RuleError::UnexpectedChar {
                    found: other,
                    at: i,
                })
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    hosts: Vec<String>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<&Tok> {
        self.pos += 1;
        self.toks.get(self.pos - 1)
    }
    fn expr(&mut self) -> Result<(), RuleError> {
        self.term()?;
        while matches!(self.peek(), Some(Tok::And | Tok::Or)) {
            self.pos += 1;
            self.term()?;
        }
        Ok(())
    }
    fn term(&mut self) -> Result<(), RuleError> {
        match self.next() {
            Some(Tok::Not) => self.term(),
            Some(Tok::Open) => {
                self.expr()?;
                match self.next() {
                    Some(Tok::Close) => Ok(()),
                    _ => Err(RuleError::UnclosedParen),
                }
            }
            Some(Tok::Ident(name)) => {
                let name = name.clone();
                if !MATCHERS.contains(&name.as_str()) {
                    return Err(RuleError::UnknownMatcher { name });
                }
                if self.next() != Some(&Tok::Open) {
                    return Err(RuleError::NoArguments { name });
                }
                let mut args = Vec::new();
                loop {
                    match self.next() {
                        Some(Tok::Str(s)) => args.push(s.clone()),
                        _ => return Err(RuleError::UnquotedArgument { name }),
                    }
                    match self.next() {
                        Some(Tok::Comma) => continue,
                        Some(Tok::Close) => break,
                        _ => return Err(RuleError::UnclosedCall { name }),
                    }
                }
                if name == "Host" {
                    for a in &args {
                        check_hostname(a).map_err(RuleError::BadHost)?;
                        self.hosts.push(a.to_ascii_lowercase());
                    }
                }
                Ok(())
            }
            Some(t) => Err(RuleError::ExpectedMatcher {
                found: format!("{t:?}"),
            }),
            None => Err(RuleError::EndsEarly),
        }
    }
}

/// A DNS name as a `Host` matcher takes it.
pub fn check_hostname(h: &str) -> Result<(), String> {
    crate::names::check_dns_name("host", h)
}

/// Check a rule's syntax; returns the host names of its `Host(...)` matchers.
pub fn check(rule: &str) -> Result<Vec<String>, RuleError> {
    if rule.len() > 1000 {
        return Err(RuleError::TooLong);
    }
    if rule.chars().any(|c| c.is_control()) {
        return Err(RuleError::ControlCharacters);
    }
    let mut p = Parser {
        toks: lex(rule)?,
        pos: 0,
        hosts: vec![],
    };
    p.expr()?;
    if p.pos != p.toks.len() {
        return Err(RuleError::TrailingInput {
            found: format!("{:?}", p.toks[p.pos]),
        });
    }
    Ok(p.hosts)
}

/// The host names in a rule, best effort (for rules written by others).
pub fn hosts_of(rule: &str) -> Vec<String> {
    if let Ok(h) = check(rule) {
        return h;
    }
    let re = regex::Regex::new(r"Host\(([^)]*)\)").ok();
    let mut out = Vec::new();
    for c in re.iter().flat_map(|re| re.captures_iter(rule)) {
        for a in c[1].split(',') {
            let a = a.trim().trim_matches(['`', '"', '\'']);
            if !a.is_empty() {
                out.push(a.to_ascii_lowercase());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(
            check("Host(`a.test`)").ok(),
            Some(vec!["a.test".to_string()])
        );
        assert_eq!(
            check("Host(`a.test`) || Host(`www.a.test`)")
                .ok()
                .map(|v| v.len()),
            Some(2)
        );
        assert!(check("Host(`a.test`) && PathPrefix(`/api`)").is_ok());
        assert!(check("(Host(`a.test`) && !Method(`POST`))").is_ok());
        assert_eq!(hosts_of("Host(example.com,www.example.com)").len(), 2);
        for bad in [
            "",
            "Host(`a.test`",
            "Host(a.test)",
            "Hots(`a.test`)",
            "Host(`a.test`) & Path(`/`)",
            "Host(`a b`)",
            "Host(`$(id)`)",
            "Host(`a.test`) Host(`b.test`)",
            "Host(`x`)\n",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }
}
