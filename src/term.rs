//! Terminal conventions both frontends follow.

/// Whether colours are off: `--no-color` or a non-empty `NO_COLOR` (<https://no-color.org>).
pub fn no_color(cli_flag: bool) -> bool {
    cli_flag || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}
