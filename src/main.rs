//! The `opsdeck` binary: everything lives in the library; see `src/lib.rs` for the map.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    opsdeck::cli::main(|inv, hosts, no_color| Box::pin(opsdeck::tui::run(inv, hosts, no_color)))
}
