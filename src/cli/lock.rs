use super::{print_json, Cli, OutputFormat};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::ops::{self, lock};

fn app_host(inv: &Inventory, app: &str) -> Result<crate::host::Host, Error> {
    let spec = ops::query::find_app(inv, app)?;
    crate::host::Host::new(&spec.host, &inv.hosts[&spec.host])
}

pub async fn status(inv: &Inventory, cli: &Cli, app: &str) -> Result<u8, Error> {
    let host = app_host(inv, app)?;
    let st = lock::status(&host, app).await?;
    match cli.output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({"app": app, "host": host.name(), "lock": st}))?
        }
        OutputFormat::Human => outln!("{app} on {}: {}", host.name(), lock::describe(&st)),
    }
    Ok(0)
}

pub async fn release(inv: &Inventory, cli: &Cli, app: &str, force: bool) -> Result<u8, Error> {
    let host = app_host(inv, app)?;
    if !cli.yes {
        let st = lock::status(&host, app).await?;
        return Err(Error::refused(format!(
            "releasing a lock lets another action run on {app}; add --yes to confirm ({})",
            lock::describe(&st)
        )));
    }
    let msg = lock::release_deliberately(&host, app, force).await?;
    match cli.output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({"app": app, "host": host.name(), "result": msg}))?
        }
        OutputFormat::Human => outln!("{msg}"),
    }
    Ok(0)
}
