//! Sending writes as transactions within DynamoDB's limits (100 items and
//! 4 MB per TransactWriteItems), in order, each guarded on the root.

use super::{Env, backend_error, conflict, key_item};
use crate::backend::{BackendError, Expr, Write};
use crate::error::Result;
use crate::format::{CONDITION_FAILED, cancelled};
use crate::layout::Layout;
use crate::value::item_size;

/// DynamoDB's limits on one TransactWriteItems request.
pub(super) const TRANSACT_ITEMS: usize = 100;
pub(super) const TRANSACT_BYTES: usize = 4 * 1024 * 1024;

/// Sends `writes` (root last) as one transaction, or, over DynamoDB's
/// limits, as several in order, each guarded by `guard` on the root. A
/// failed condition on the root is a `Conflict`.
pub(crate) async fn transact(env: &Env<'_>, layout: &Layout, key: &str, writes: Vec<Write>, guard: Option<Expr>) -> Result<()> {
    let chunks = split_transactions(writes, guard.is_some());
    let last = chunks.len() - 1;
    let root = key_item(&layout.key, key);
    for (i, mut chunk) in chunks.into_iter().enumerate() {
        if let Some(g) = guard.as_ref().filter(|_| i != last) {
            chunk.push(Write::Check { table: layout.table.to_string(), key: root.clone(), condition: g.clone() });
        }
        let on_root: Vec<bool> =
            chunk.iter().map(|w| w.table() == layout.table && w.key_of(&layout.key) == root.get(layout.key.as_ref())).collect();
        env.backend.transact_write(chunk).await.map_err(|e| match e.split() {
            (BackendError::TransactionCanceled { reasons }, retries) if cancelled(&reasons, &on_root, CONDITION_FAILED).contains(&true) => {
                conflict(layout, key).with_retries(retries)
            }
            (other, retries) => backend_error(other, &layout.table).with_key(key).with_retries(retries),
        })?;
    }
    Ok(())
}

/// What a write weighs in a transaction, by DynamoDB's item-size rules: an
/// item put, or a key (counted 1 KB) and its condition's values.
pub(crate) fn write_bytes(write: &Write) -> usize {
    let condition = write.condition().map_or(0, |c| c.values.values().map(crate::value::size).sum());
    match write {
        Write::Put { item, .. } => item_size(item) + condition,
        _ => 1024 + condition,
    }
}

/// Whether `writes` fit one TransactWriteItems request.
pub(crate) fn fits_one_transaction(writes: &[Write]) -> bool {
    fits_sizes(writes.len(), writes.iter().map(write_bytes).sum())
}

/// Whether writes of these sizes (bytes each, as [`write_bytes`] counts)
/// fit one TransactWriteItems request, as [`split_transactions`] would
/// leave them: at most 100, and (a lone write aside) at most 4 MB in all.
pub(crate) fn fits_sizes(count: usize, bytes: usize) -> bool {
    count <= TRANSACT_ITEMS && (count <= 1 || bytes <= TRANSACT_BYTES)
}

/// Splits writes into transactions within DynamoDB's limits (leaving room
/// for a guard per chunk), keeping their order.
fn split_transactions(writes: Vec<Write>, guarded: bool) -> Vec<Vec<Write>> {
    let max_items = TRANSACT_ITEMS - usize::from(guarded);
    let mut chunks = vec![Vec::new()];
    let mut bytes = 0;
    for w in writes {
        let w_bytes = write_bytes(&w);
        let current = chunks.last_mut().expect("never empty");
        if !current.is_empty() && (current.len() == max_items || bytes + w_bytes > TRANSACT_BYTES) {
            chunks.push(Vec::new());
            bytes = 0;
        }
        chunks.last_mut().expect("never empty").push(w);
        bytes += w_bytes;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_dynamo::AttributeValue;

    /// A put whose item is `bytes` long as DynamoDB counts it (or a delete
    /// for `None`, which counts as 1 KB).
    fn write(bytes: Option<usize>) -> Write {
        match bytes {
            Some(n) => Write::Put {
                table: "T".into(),
                item: [("k".to_owned(), AttributeValue::S("x".repeat(n.saturating_sub(1))))].into(),
                condition: None,
            },
            None => Write::Delete { table: "T".into(), key: [("k".to_owned(), AttributeValue::S("a".into()))].into(), condition: None },
        }
    }

    proptest! {
        /// Counting sizes without building the transactions gives the
        /// answer splitting them gives, around both of DynamoDB's limits.
        #[test]
        fn the_sizes_fit_one_transaction_exactly_when_the_writes_do(
            sizes in prop::collection::vec(prop::option::weighted(0.9, prop_oneof![1usize..2_000, 30_000usize..420_000]), 0..120)
        ) {
            let writes: Vec<Write> = sizes.into_iter().map(write).collect();
            let split = split_transactions(writes.clone(), false).len() == 1;
            prop_assert_eq!(fits_one_transaction(&writes), split);
        }
    }
}
