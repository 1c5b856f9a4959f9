//! Creating the tables of a layout, and checking existing ones.

use super::{Env, backend_error};
use crate::backend::{BackendError, Backoff, RetryPolicy, TableInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::Layout;
use std::time::Duration;

/// Every (table, key attribute) of a layout, once each, root first, added
/// to `out`; a table the layout uses with two key attributes is `Config`
/// (the tables before it added).
pub(crate) fn tables(layout: &Layout, out: &mut Vec<(String, String)>) -> Result<()> {
    match out.iter().find(|(t, _)| t == layout.table.as_ref()) {
        Some((_, k)) if k != layout.key.as_ref() => {
            return Err(Error::new(
                ErrorKind::Config,
                format!("the layout uses this table with two key attributes, `{k}` and `{}`", layout.key),
            )
            .with_table(layout.table.as_ref()));
        }
        Some(_) => {}
        None => out.push((layout.table.to_string(), layout.key.to_string())),
    }
    layout.shards.iter().try_for_each(|s| tables(&s.layout, out))
}

/// Creates the missing tables of `layout` (on-demand billing), waits until
/// they are active, and checks the key schema of those that exist.
pub(crate) async fn create_tables(env: &Env<'_>, layout: &Layout) -> Result<()> {
    layout.validate()?;
    let mut all = Vec::new();
    tables(layout, &mut all)?;
    for (table, key) in &all {
        ensure(env, table, key).await?;
    }
    Ok(())
}

async fn describe(env: &Env<'_>, table: &str) -> Result<Option<TableInfo>> {
    env.backend.describe_table(table).await.map_err(|e| backend_error(e, table))
}

async fn ensure(env: &Env<'_>, table: &str, key: &str) -> Result<()> {
    if describe(env, table).await?.is_none() {
        match env.backend.create_table(table, key).await.map_err(|e| e.split()) {
            // Someone else (or an attempt that timed out) created it
            // meanwhile: check it like any existing table.
            Ok(()) | Err((BackendError::TableExists(_), _)) => {}
            Err((e, retries)) => return Err(backend_error(e, table).with_retries(retries)),
        }
    }
    // Creation on DynamoDB takes seconds; poll until the table is usable.
    let wait =
        RetryPolicy { deadline: Duration::from_secs(300), first_backoff: Duration::from_millis(20), max_backoff: Duration::from_secs(5) };
    let mut backoff = Backoff::new(wait);
    loop {
        let info = describe(env, table)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::TableNotFound, "the table vanished while it was being created").with_table(table))?;
        check_schema(&info, key)?;
        if info.status == "ACTIVE" {
            return Ok(());
        }
        if !backoff.wait().await {
            return Err(Error::new(ErrorKind::Backend, format!("the table stayed {} past the deadline", info.status)).with_table(table));
        }
    }
}

/// Checks that `table` exists and is keyed by the string attribute `key`
/// alone: `TableNotFound`, or `SchemaMismatch` saying what it is keyed by.
pub(crate) async fn check_table(env: &Env<'_>, table: &str, key: &str) -> Result<()> {
    match describe(env, table).await? {
        Some(info) => check_schema(&info, key),
        None => Err(Error::new(ErrorKind::TableNotFound, "").with_table(table)),
    }
}

/// An existing table must be keyed by the string attribute `key` alone.
fn check_schema(info: &TableInfo, key: &str) -> Result<()> {
    let expected = vec![(key.to_owned(), "HASH".to_owned())];
    let key_type = info.attribute_types.get(key).map(String::as_str);
    if info.key_schema == expected && key_type == Some("S") {
        return Ok(());
    }
    let found: Vec<String> = info
        .key_schema
        .iter()
        .map(|(name, kind)| format!("{kind} `{name}` ({})", info.attribute_types.get(name).map_or("?", String::as_str)))
        .collect();
    Err(Error::new(ErrorKind::SchemaMismatch, format!("expected partition key `{key}` (S) and no sort key, found {}", found.join(", ")))
        .with_table(info.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(schema: &[(&str, &str, &str)]) -> TableInfo {
        TableInfo {
            name: "T".into(),
            key_schema: schema.iter().map(|(n, k, _)| (n.to_string(), k.to_string())).collect(),
            attribute_types: schema.iter().map(|(n, _, t)| (n.to_string(), t.to_string())).collect(),
            status: "ACTIVE".into(),
        }
    }

    #[test]
    fn schema_mismatch_says_what_was_expected_and_found() {
        check_schema(&info(&[("ID", "HASH", "S")]), "ID").unwrap();
        let e = check_schema(&info(&[("id", "HASH", "S"), ("sk", "RANGE", "N")]), "ID").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
        assert_eq!(
            e.to_string(),
            "table schema mismatch: expected partition key `ID` (S) and no sort key, found HASH `id` (S), RANGE `sk` (N) (table `T`)"
        );
        let e = check_schema(&info(&[("ID", "HASH", "N")]), "ID").unwrap_err();
        assert!(e.to_string().contains("HASH `ID` (N)"), "{e}");
    }
}
