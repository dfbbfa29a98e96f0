//! A psql session inside the database's (or the tools') container, kept open: the dump's
//! snapshot must outlive a query, and verify/restore drive a scratch database through it.
//! Also the query that counts every table's rows, and its parser.

use crate::docker::exec::{self, Frame};
use crate::docker::Engine;
use crate::error::Error;
use std::collections::BTreeMap;
use tokio::io::AsyncWriteExt;

/// A psql session inside the container, kept open (for a snapshot that must outlive a query).
pub(super) struct Psql {
    session: exec::Session,
    buf: String,
    err: String,
}

const DONE: &str = "__opsdeck_done__";

impl Psql {
    pub(super) async fn open(
        d: &Engine,
        container: &str,
        user: &str,
        db: &str,
    ) -> Result<Self, Error> {
        let session = exec::start(
            d,
            container,
            crate::db::postgres::psql_argv(user, db, None),
            true,
        )
        .await
        .map_err(|e| {
            Error::failed(format!(
                "psql in {container}: {}",
                crate::docker::describe_error(&e)
            ))
        })?;
        Ok(Self {
            session,
            buf: String::new(),
            err: String::new(),
        })
    }

    /// Run SQL; returns the output lines.
    pub(super) async fn query(&mut self, sql: &str) -> Result<Vec<String>, Error> {
        let script = format!("{sql}\n\\echo {DONE}\n");
        self.session
            .input
            .write_all(script.as_bytes())
            .await
            .map_err(|e| Error::failed(format!("psql: {e}")))?;
        self.session
            .input
            .flush()
            .await
            .map_err(|e| Error::failed(format!("psql: {e}")))?;
        loop {
            if let Some(pos) = self.buf.find(&format!("{DONE}\n")) {
                let out: String = self.buf.drain(..pos + DONE.len() + 1).collect();
                return Ok(out
                    .lines()
                    .filter(|l| !l.is_empty() && *l != DONE)
                    .map(str::to_string)
                    .collect());
            }
            match tokio::time::timeout(
                std::time::Duration::from_secs(600),
                self.session.next_frame(),
            )
            .await
            {
                Ok(Some(Ok(Frame::Stderr(message)))) => {
                    self.err.push_str(&String::from_utf8_lossy(&message))
                }
                Ok(Some(Ok(Frame::Stdout(message)))) => {
                    self.buf.push_str(&String::from_utf8_lossy(&message))
                }
                Ok(Some(Err(e))) => {
                    return Err(Error::failed(format!(
                        "psql: {}",
                        crate::docker::describe_error(&e)
                    )))
                }
                Ok(None) => return Err(Error::failed(format!("psql ended: {}", self.err.trim()))),
                Err(_) => return Err(Error::failed("psql did not answer within 600s")),
            }
        }
    }

    pub(super) async fn close(mut self) {
        let _ = self.session.input.write_all(b"\\q\n").await;
        let _ = self.session.input.shutdown().await;
    }
}

pub(super) const COUNTS: &str = "SELECT format('SELECT %L || ''|'' || count(*) FROM %I.%I', schemaname || '.' || tablename, schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 \\gexec";

pub(super) fn parse_counts(lines: &[String]) -> BTreeMap<String, i64> {
    lines
        .iter()
        .filter_map(|l| l.rsplit_once('|'))
        .filter_map(|(t, n)| n.trim().parse().ok().map(|n| (t.to_string(), n)))
        .collect()
}
