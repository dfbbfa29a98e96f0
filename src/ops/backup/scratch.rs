//! The scratch database a verify or a restore goes through, made like the live one: its
//! owner, encoding and locale, and its database-level grants (a provisioned app's `REVOKE ALL
//! ... FROM PUBLIC` and the `CONNECT` it grants back), so what a restore swaps in keeps the
//! app's isolation. Objects keep their owners from the dump when the connecting user is a
//! superuser (`pg_restore` without `--no-owner`); a user that is not restores as itself.
//!
//! Each scratch database has a name no other run can pick (milliseconds and random bits) and
//! a comment naming the live database it was made for. A run killed mid-way leaves its
//! scratch behind; the next run for the same live database, holding that database's lock,
//! knows nobody else is using it and drops it.

use super::psql::Psql;
use crate::error::Error;

/// How the backup is restored into the scratch database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scratch {
    /// The connecting user is a superuser: the dump's owners are kept.
    pub keep_owners: bool,
    /// Scratch databases of the same live database left by runs that died, dropped first.
    pub dropped_stale: Vec<String>,
}

impl Scratch {
    /// Tell the operator which dead runs' scratch databases were dropped.
    pub(super) fn tell(
        &self,
        events: &tokio::sync::mpsc::UnboundedSender<crate::ops::ActionEvent>,
    ) {
        for name in &self.dropped_stale {
            let _ = events.send(crate::ops::ActionEvent::Notice {
                message: format!("dropped {name}, a scratch database left by a run that died"),
            });
        }
    }
}

/// The comment that marks a scratch database made for `live`.
fn mark(live: &str) -> String {
    format!("opsdeck scratch of {live}")
}

/// A scratch database name for a `kind` (`verify`, `restore`) no other run picks: the time
/// to the millisecond and 24 random bits (a re-run in the same second, or two hosts at once,
/// cannot collide). At most 41 bytes, inside Postgres' 63.
pub(super) fn name(kind: &str) -> String {
    let mut bits = [0u8; 3];
    if getrandom::fill(&mut bits).is_err() {
        // No randomness: the process id still tells two runs on one machine apart.
        bits.copy_from_slice(&std::process::id().to_be_bytes()[1..]);
    }
    format!(
        "opsdeck_{kind}_{}_{:02x}{:02x}{:02x}",
        chrono::Utc::now().format("%Y%m%d%H%M%S%3f"),
        bits[0],
        bits[1],
        bits[2]
    )
}

/// `prefix_SUFFIX`, with `prefix` cut (at a character boundary) so the whole name fits in
/// Postgres' 63 bytes: a longer name would be truncated by the server, and a rename checked
/// by name would then not be found.
pub(super) fn fit_name(prefix: &str, suffix: &str) -> String {
    let room = 63usize.saturating_sub(suffix.len());
    let mut cut = prefix.len().min(room);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &prefix[..cut])
}

/// `'text'` as an SQL literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `"name"` as an SQL identifier.
fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One entry of the live database's ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    privilege: &'static str,
    /// Already quoted (`quote_ident`), or `PUBLIC`.
    grantee: String,
    grantable: bool,
}

fn parse_grant(line: &str) -> Option<Grant> {
    let mut parts = line.split('|');
    let privilege = match parts.next()? {
        "CONNECT" => "CONNECT",
        "CREATE" => "CREATE",
        "TEMPORARY" => "TEMPORARY",
        _ => return None,
    };
    let grantee = parts.next()?.to_string();
    let grantable = parts.next()? == "true";
    Some(Grant {
        privilege,
        grantee,
        grantable,
    })
}

/// The SQL that makes `scratch` like the live database (`shape`: owner, encoding, collate,
/// ctype, whether its ACL is set; `grants`: its ACL entries).
fn create_sql(scratch: &str, shape: &[&str], grants: &[Grant]) -> Result<Vec<String>, Error> {
    let [owner, encoding, collate, ctype, acl_set] = shape else {
        return Err(Error::failed(format!(
            "reading the live database's owner and locale gave {shape:?}"
        )));
    };
    let mut sql = vec![format!(
        "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {};",
        ident(scratch),
        ident(owner),
        literal(encoding),
        literal(collate),
        literal(ctype)
    )];
    if *acl_set == "true" {
        // Its ACL was changed from the default: start from none, grant what it has.
        sql.push(format!(
            "REVOKE ALL ON DATABASE {} FROM PUBLIC;",
            ident(scratch)
        ));
        for g in grants {
            sql.push(format!(
                "GRANT {} ON DATABASE {} TO {}{};",
                g.privilege,
                ident(scratch),
                g.grantee,
                if g.grantable {
                    " WITH GRANT OPTION"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(sql)
}

/// Create `scratch` like `live` (read through `admin`, connected to another database).
pub(super) async fn create_like(
    admin: &mut Psql,
    live: &str,
    scratch: &str,
) -> Result<Scratch, Error> {
    let named = literal(live);
    let shape = admin
        .query(&format!(
            "SELECT concat_ws('|', pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype, (datacl IS NOT NULL)::text) FROM pg_database WHERE datname = {named};"
        ))
        .await?;
    let Some(shape) = shape.first() else {
        return Err(Error::failed(format!(
            "the live database {live} is not on the server"
        )));
    };
    let grants: Vec<Grant> = admin
        .query(&format!(
            "SELECT concat_ws('|', a.privilege_type, coalesce(quote_ident(r.rolname), 'PUBLIC'), a.is_grantable::text) FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee WHERE d.datname = {named};"
        ))
        .await?
        .iter()
        .filter_map(|l| parse_grant(l))
        .collect();
    let superuser = admin
        .query("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user;")
        .await?;
    let fields: Vec<&str> = shape.split('|').collect();
    let statements = create_sql(scratch, &fields, &grants)?;
    let dropped_stale = drop_stale(admin, live).await?;
    let mut statements = statements.into_iter();
    if let Some(create) = statements.next() {
        // If this fails, nothing of ours exists: nothing to drop (a database of that name
        // would be someone else's).
        admin.query(&create).await?;
    }
    let rest = async {
        admin
            .query(&format!(
                "COMMENT ON DATABASE {} IS {};",
                ident(scratch),
                literal(&mark(live))
            ))
            .await?;
        for statement in statements {
            admin.query(&statement).await?;
        }
        Ok::<(), Error>(())
    }
    .await;
    if let Err(e) = rest {
        let _ = admin
            .query(&format!("DROP DATABASE IF EXISTS {};", ident(scratch)))
            .await;
        return Err(e);
    }
    Ok(Scratch {
        keep_owners: superuser.first().map(String::as_str) == Some("true"),
        dropped_stale,
    })
}

/// Drop the scratch databases made for `live` by runs that died (the caller holds the live
/// database's lock, so no living run uses them): their sessions (a `pg_restore` left running
/// in the container) are ended first. The names dropped.
async fn drop_stale(admin: &mut Psql, live: &str) -> Result<Vec<String>, Error> {
    let stale = admin
        .query(&format!(
            "SELECT d.datname FROM pg_database d JOIN pg_shdescription s ON s.objoid = d.oid AND s.classoid = 'pg_database'::regclass WHERE s.description = {} AND (d.datname LIKE 'opsdeck\\_verify\\_%' OR d.datname LIKE 'opsdeck\\_restore\\_%') ORDER BY 1;",
            literal(&mark(live))
        ))
        .await?;
    let mut dropped = Vec::new();
    for name in stale.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        admin
            .query(&format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid();",
                literal(name)
            ))
            .await?;
        admin
            .query(&format!("DROP DATABASE IF EXISTS {};", ident(name)))
            .await
            .map_err(|e| {
                Error::failed(format!(
                    "dropping {name}, a scratch database of {live} left by a run that died: {}",
                    e.message
                ))
            })?;
        dropped.push(name.to_string());
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_public_and_granted_roles_are_made_again() {
        let grants: Vec<Grant> = [
            "CONNECT|shop|false",
            "TEMPORARY|shop|false",
            "CREATE|shop|true",
            "CONNECT|\"Report er\"|false",
            "DROP|x|false",
        ]
        .iter()
        .filter_map(|l| parse_grant(l))
        .collect();
        assert_eq!(grants.len(), 4, "an unknown privilege is skipped");
        let sql = create_sql(
            "opsdeck_restore_1",
            &["shop", "UTF8", "C", "C.UTF-8", "true"],
            &grants,
        )
        .expect("sql");
        assert_eq!(
            sql[0],
            "CREATE DATABASE \"opsdeck_restore_1\" OWNER \"shop\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8';"
        );
        assert_eq!(
            sql[1],
            "REVOKE ALL ON DATABASE \"opsdeck_restore_1\" FROM PUBLIC;"
        );
        assert!(sql.contains(
            &"GRANT CREATE ON DATABASE \"opsdeck_restore_1\" TO shop WITH GRANT OPTION;"
                .to_string()
        ));
        assert!(sql.contains(
            &"GRANT CONNECT ON DATABASE \"opsdeck_restore_1\" TO \"Report er\";".to_string()
        ));
        assert_eq!(sql.len(), 6);
    }

    #[test]
    fn scratch_names_differ_and_fit_in_postgres_names() {
        let a = name("restore");
        let b = name("restore");
        assert_ne!(a, b, "two names in one millisecond still differ");
        assert!(a.starts_with("opsdeck_restore_") && a.len() <= 63, "{a}");
        let long = "é".repeat(40);
        let kept = fit_name(&long, "_before_restore_20261203013655123");
        assert!(kept.len() <= 63, "{kept}");
        assert!(kept.ends_with("_before_restore_20261203013655123"));
        assert_eq!(fit_name("shop", "_x"), "shop_x");
    }

    #[test]
    fn a_default_acl_is_left_default_and_quotes_are_escaped() {
        let sql = create_sql("s", &["o\"wner", "LATIN1", "it's", "C", "false"], &[]).expect("sql");
        assert_eq!(
            sql,
            vec!["CREATE DATABASE \"s\" OWNER \"o\"\"wner\" TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'it''s' LC_CTYPE 'C';".to_string()]
        );
        assert!(create_sql("s", &["o", "UTF8"], &[]).is_err());
    }
}
