//! Where the test bed (`scripts/testbed up`) keeps its state, and the facts in its env file.

use std::path::PathBuf;

/// The test bed's state directory.
pub(crate) fn testbed_dir() -> PathBuf {
    std::env::var_os("OPSDECK_TESTBED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/opsdeck-testbed"))
}

/// A value from the test bed's env file; panics (the test fails, never skips) when the test
/// bed is not up.
pub fn testbed_var(key: &str) -> String {
    let path = testbed_dir().join("env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the test bed is not up ({}: {e}); run `scripts/testbed up` first",
            path.display()
        )
    });
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{key} is missing from {}", path.display()))
}
