use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops::lock;

pub async fn status(inv: &Inventory, cli: &Cli, app: &str) -> Result<u8, Error> {
    let (host, st) = lock::app_status(inv, app).await?;
    match cli.output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({"app": app, "host": host, "lock": st}))?
        }
        OutputFormat::Human => outln!("{app} on {host}: {}", lock::describe(&st)),
    }
    Ok(0)
}

pub async fn release(inv: &Inventory, cli: &Cli, app: &str, force: bool) -> Result<u8, Error> {
    if !cli.yes {
        let (_, st) = lock::app_status(inv, app).await?;
        return Err(Error::refused(format!(
            "releasing a lock lets another action run on {app}; add --yes to confirm ({})",
            lock::describe(&st)
        )));
    }
    let (host, msg) = lock::app_release(inv, app, force).await?;
    match cli.output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({"app": app, "host": host, "result": msg}))?
        }
        OutputFormat::Human => outln!("{msg}"),
    }
    Ok(0)
}
