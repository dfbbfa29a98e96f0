//! `opsdeck doctor APP`: the checklist, one line per step with its verdict and hint.

use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops::doctor::{self, Verdict};

pub async fn run(inv: &Inventory, cli: &Cli, app: &str) -> Result<u8, Error> {
    crate::names::check_name("app", app).map_err(Error::usage)?;
    let report = doctor::run(inv, app).await?;
    match cli.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Human => {
            outln!("doctor {} on {}", report.app, report.host);
            for (i, s) in report.steps.iter().enumerate() {
                outln!("{:>2}. [{}] {}", i + 1, s.verdict.as_str(), s.name);
                for d in &s.detail {
                    outln!("      {d}");
                }
                if let (Verdict::Fail, Some(h)) = (s.verdict, &s.hint) {
                    outln!("      hint: {h}");
                }
            }
            outln!(
                "{}",
                if report.ok {
                    "all checks passed"
                } else {
                    "some checks FAILED"
                }
            );
        }
    }
    Ok(if report.ok { 0 } else { 1 })
}
