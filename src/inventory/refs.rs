//! How a reference to an undefined name is reported.

/// `no host named "x"; known: a, b`.
pub(super) fn unknown<'a>(
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a String>,
) -> String {
    let known: Vec<&String> = known.collect();
    if known.is_empty() {
        format!("no {what} named {name:?} (none are defined)")
    } else {
        let list: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
        format!("no {what} named {name:?}; known: {}", list.join(", "))
    }
}
