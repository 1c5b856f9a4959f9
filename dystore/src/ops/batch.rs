//! Batched reads: consistent BatchGetItem requests within DynamoDB's limit
//! of 100 keys, unprocessed keys retried with backoff.

use super::backend_error;
use crate::backend::{Backend, Backoff, Item, RetryPolicy, TableKeys};
use crate::error::{Error, ErrorKind, Result};
use serde_dynamo::AttributeValue;
use std::collections::HashMap;

/// DynamoDB's limit on keys per BatchGetItem.
pub(super) const BATCH_GET_KEYS: usize = 100;

/// Reads every `(table, key attribute, key)` with consistent BatchGetItem
/// requests (one per 100 keys), retrying unprocessed keys; returns the items
/// found by `(table, key)`.
pub(crate) async fn batch_get_all(
    backend: &dyn Backend,
    policy: RetryPolicy,
    keys: &[(String, String, String)],
) -> Result<HashMap<(String, String), Item>> {
    let (found, done) = batch_get_partial(backend, policy, keys).await;
    done.map(|()| found)
}

/// As [`batch_get_all`], returning what was read even when reading failed
/// part way: the error's `undone` names (as `table/key`) every key not
/// read.
pub(crate) async fn batch_get_partial(
    backend: &dyn Backend,
    policy: RetryPolicy,
    keys: &[(String, String, String)],
) -> (HashMap<(String, String), Item>, Result<()>) {
    let mut found = HashMap::new();
    // DynamoDB refuses a request that names a key twice; an object may
    // (two references of a dynamo-store 0.6 object to one item).
    let mut seen = std::collections::HashSet::new();
    let keys: Vec<&(String, String, String)> = keys.iter().filter(|(t, _, k)| seen.insert((t, k))).collect();
    let key_name_of = |table: &str| keys.iter().find(|(t, _, _)| t == table).map(|(_, k, _)| k.as_str()).unwrap_or_default();
    let chunks: Vec<&[&(String, String, String)]> = keys.chunks(BATCH_GET_KEYS).collect();
    for (n, chunk) in chunks.iter().enumerate() {
        let mut pending = group(chunk);
        // The request takes the keys it sends. Should it fail, its keys are
        // named from `chunk` (the first attempt's) or from `retrying`, the
        // first table and `table/key` of the keys left unprocessed before.
        let mut retrying: Option<(String, Vec<String>)> = None;
        let mut backoff = Backoff::new(policy);
        let mut attempts = 0;
        while !pending.is_empty() {
            attempts += 1;
            let out = match backend.batch_get(std::mem::take(&mut pending)).await {
                Ok(out) => out,
                Err(e) => {
                    // Undone: this request's keys and those of the requests
                    // not sent.
                    let (first_table, sent) = match retrying.take() {
                        Some(names) => names,
                        None => (chunk[0].0.clone(), unsent(std::slice::from_ref(chunk)).collect()),
                    };
                    let undone = sent.into_iter().chain(unsent(&chunks[n + 1..]));
                    return (found, Err(backend_error(e, &first_table).with_undone(undone.collect())));
                }
            };
            for (table, items) in out.items {
                let key_name = key_name_of(&table);
                for item in items {
                    if let Some(AttributeValue::S(key)) = item.get(key_name) {
                        found.insert((table.clone(), key.clone()), item);
                    }
                }
            }
            pending = out.unprocessed;
            if pending.is_empty() {
                break;
            }
            let unprocessed: Vec<String> = pending.iter().flat_map(|t| table_keys(t, key_name_of(&t.table))).collect();
            if !backoff.again("keys left unprocessed").await {
                // Undone: the keys still unprocessed, and those of the
                // requests not sent.
                let retries = crate::backend::Retries { request: crate::backend::op::BATCH_GET_ITEM, attempts, maybe_applied: false };
                let e = Error::new(ErrorKind::Throttled, "keys stayed unprocessed past the retry deadline")
                    .with_table(pending[0].table.clone())
                    .with_retries(Some(retries))
                    .with_undone(unprocessed.into_iter().chain(unsent(&chunks[n + 1..])).collect());
                return (found, Err(e));
            }
            retrying = Some((pending[0].table.clone(), unprocessed));
        }
    }
    (found, Ok(()))
}

/// `table/key` for every key of `keys`.
fn table_keys<'a>(keys: &'a TableKeys, key_name: &'a str) -> impl Iterator<Item = String> + 'a {
    keys.keys.iter().filter_map(move |k| match k.get(key_name) {
        Some(AttributeValue::S(key)) => Some(format!("{}/{key}", keys.table)),
        _ => None,
    })
}

/// `table/key` for every key of the requests not sent.
fn unsent<'a>(chunks: &'a [&'a [&'a (String, String, String)]]) -> impl Iterator<Item = String> + 'a {
    chunks.iter().flat_map(|c| c.iter()).map(|(t, _, k)| format!("{t}/{k}"))
}

fn group(keys: &[&(String, String, String)]) -> Vec<TableKeys> {
    let mut by_table: Vec<TableKeys> = Vec::new();
    for (table, key_name, key) in keys.iter().copied() {
        let item: Item = [(key_name.clone(), AttributeValue::S(key.clone()))].into();
        match by_table.iter_mut().find(|t| &t.table == table) {
            Some(t) => t.keys.push(item),
            None => by_table.push(TableKeys { table: table.clone(), keys: vec![item], consistent: true }),
        }
    }
    by_table
}
