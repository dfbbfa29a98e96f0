//! `-v` / `-vv` / `-vvv` (or `RUST_LOG`): diagnostics on stderr, through the secret masker.
//! Off unless asked for: without either, no subscriber is installed and nothing is printed.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The filter `-v` repeated `verbose` times means; `RUST_LOG` when no `-v` is given.
fn filter(verbose: u8) -> Option<EnvFilter> {
    let directives = match verbose {
        0 => return EnvFilter::try_from_default_env().ok(),
        1 => "warn,opsdeck=debug",
        2 => "info,opsdeck=trace",
        _ => "trace",
    };
    Some(EnvFilter::new(directives))
}

/// Install the stderr subscriber when `-v` or `RUST_LOG` asks for it.
pub fn init(verbose: u8) {
    let Some(filter) = filter(verbose) else {
        return;
    };
    // A second install (tests calling `main` twice) keeps the first one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MaskedStderr)
        .with_ansi(false)
        .with_target(true)
        .try_init();
}

/// Stderr, with URL passwords and secret-named values masked out of every event.
struct MaskedStderr;

impl<'a> MakeWriter<'a> for MaskedStderr {
    type Writer = Masking;
    fn make_writer(&'a self) -> Self::Writer {
        Masking(Vec::new())
    }
}

/// Collects one event and writes it masked when dropped (an event is formatted whole).
struct Masking(Vec<u8>);

impl Write for Masking {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Masking {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().write_all(crate::secrets::mask_text(&text).as_bytes());
    }
}
