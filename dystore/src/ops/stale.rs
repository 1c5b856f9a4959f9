//! Items owed deletion: what a root's `stale` entries name, and the cleanup
//! that deletes them once a save or delete spanning several transactions
//! has switched the root (see "Saves over one transaction" in FORMAT.md).

use super::{Env, backend_error, key_item, stored_node};
use crate::backend::{Expr, Write};
use crate::chunk::chunked_leaves;
use crate::error::Result;
use crate::format::{Guard, Keys, META, STALE, Stale};
use crate::layout::Layout;
use crate::path::PlainPath;
use crate::shard::all_shard_keys;
use std::collections::BTreeMap;

/// An item's place: table, key attribute, key.
pub(crate) type ItemKey = (String, String, String);

/// DynamoDB's limit on writes per TransactWriteItems, one kept for a guard.
const DELETES_PER_TRANSACTION: usize = 99;

/// Every shard and chunk item of one save of the object keyed `keys.root`.
pub(crate) fn save_items(
    layout: &Layout,
    lists: &BTreeMap<String, usize>,
    chunks: &BTreeMap<String, crate::chunk::Recorded>,
    keys: Keys<'_>,
) -> Result<Vec<ItemKey>> {
    let stored = stored_node(layout, keys.root)?;
    let node = &stored.borrow_dependent().root;
    let mut found = Vec::new();
    all_shard_keys(node, keys, &PlainPath::root(), lists, &mut found);
    let mut items: Vec<ItemKey> = found.into_iter().map(|(l, k)| (l.table.to_string(), l.key.to_string(), k)).collect();
    for leaf in chunked_leaves(node, keys, chunks)? {
        items.extend(leaf.keys.into_iter().map(|k| (leaf.table.clone(), leaf.key_name.clone(), k)));
    }
    Ok(items)
}

/// The items one stale entry names.
pub(crate) fn entry_items(id: &str, entry: &Stale, root_key: &str) -> Result<Vec<ItemKey>> {
    match entry {
        Stale::Save { layout, lists, chunks, keyed } => {
            save_items(layout, lists, chunks, Keys { root: root_key, write_id: keyed.then_some(id) })
        }
        Stale::Items(items) => Ok(items.clone()),
    }
}

/// How many items `stale` names (an entry whose items cannot be listed
/// counts as one).
pub(crate) fn count_items(stale: &BTreeMap<String, Stale>, root_key: &str) -> usize {
    stale.iter().map(|(id, entry)| entry_items(id, entry, root_key).map_or(1, |items| items.len())).sum()
}

/// Deletes every item `stale` names, then removes those entries from the
/// root, whose revision is `revision`.
///
/// Items under deterministic keys are deleted only while the root is still
/// at `revision` (a later save may have written those keys again); items
/// whose keys carry a write id or are a legacy object's random keys are
/// never written again, so their deletes go unconditioned. A failure leaves
/// the entries in the root for the next save or delete of the object.
pub(crate) async fn clean(env: &Env<'_>, layout: &Layout, key: &str, revision: &str, stale: &BTreeMap<String, Stale>) -> Result<()> {
    if stale.is_empty() {
        return Ok(());
    }
    let root_guard = Guard::Revision(revision).condition(&layout.key);
    for (id, entry) in stale {
        let guard = matches!(entry, Stale::Save { keyed: false, .. }).then(|| Write::Check {
            table: layout.table.to_string(),
            key: key_item(&layout.key, key),
            condition: root_guard.clone(),
        });
        delete_items(env, layout, key, &entry_items(id, entry, key)?, guard).await?;
    }
    forget(env, layout, key, stale.keys()).await
}

/// As [`clean`], for a caller that is not the save or delete that
/// recorded `stale` (a sweep, a rotation, another save finding entries
/// owed): some entry may be the pending items of a staged save still
/// running, which would switch the root to them after they were deleted.
/// So the root first takes a fresh revision (one conditional UpdateItem,
/// `Conflict` if the root is no longer at `revision`): a running save's
/// switch, guarded by the revision it staged under, can then only fail.
///
/// The object's revision changes: a versioned write holding the old one
/// gets `Conflict`, as after any other write.
pub(crate) async fn clean_fenced(env: &Env<'_>, layout: &Layout, key: &str, revision: &str, stale: &BTreeMap<String, Stale>) -> Result<()> {
    if stale.is_empty() {
        return Ok(());
    }
    let fenced = fence(env, layout, key, revision).await?;
    clean(env, layout, key, &fenced, stale).await
}

/// Gives the root of `key`, at `revision`, a fresh revision; `Conflict` if
/// it is not at `revision` (or gone).
pub(crate) async fn fence(env: &Env<'_>, layout: &Layout, key: &str, revision: &str) -> Result<String> {
    let fresh = crate::format::token();
    let mut update = Expr { text: "SET #dm.#rev = :rev".into(), ..Default::default() };
    update.names.insert("#dm".into(), META.into());
    update.names.insert("#rev".into(), "revision".into());
    update.values.insert(":rev".into(), serde_dynamo::AttributeValue::S(fresh.clone()));
    let condition = Guard::Revision(revision).condition(&layout.key);
    let write = Write::Update { table: layout.table.to_string(), key: key_item(&layout.key, key), update, condition: Some(condition) };
    match env.backend.write(write).await.map_err(|e| e.split()) {
        Ok(()) => Ok(fresh),
        Err((crate::backend::BackendError::ConditionFailed, _)) => Err(super::conflict(layout, key)),
        Err((e, retries)) => Err(backend_error(e, &layout.table).with_key(key).with_retries(retries)),
    }
}

/// Deletes `items` of the object keyed `key`, in transactions of up to 99
/// deletes, each with `guard` when there is one.
pub(crate) async fn delete_items(env: &Env<'_>, layout: &Layout, key: &str, items: &[ItemKey], guard: Option<Write>) -> Result<()> {
    for chunk in items.chunks(DELETES_PER_TRANSACTION) {
        let mut writes: Vec<Write> = chunk
            .iter()
            .map(|(table, key_name, k)| Write::Delete { table: table.clone(), key: key_item(key_name, k), condition: None })
            .collect();
        writes.extend(guard.clone());
        send(env, layout, key, writes).await?;
    }
    Ok(())
}

/// Sends writes as one request (a transaction when there are several).
async fn send(env: &Env<'_>, layout: &Layout, key: &str, mut writes: Vec<Write>) -> Result<()> {
    let sent = if writes.len() == 1 {
        env.backend.write(writes.pop().expect("one write")).await
    } else {
        env.backend.transact_write(writes).await
    };
    sent.map_err(|e| backend_error(e, &layout.table).with_key(key))
}

/// Removes the entries `ids` from the root's `stale` map, if the root and
/// the map are still there.
async fn forget(env: &Env<'_>, layout: &Layout, key: &str, ids: impl Iterator<Item = &String>) -> Result<()> {
    let mut update = Expr::default();
    update.names.insert("#dm".into(), META.into());
    update.names.insert("#st".into(), STALE.into());
    let removed: Vec<String> = ids
        .enumerate()
        .map(|(i, id)| {
            update.names.insert(format!("#s{i}"), id.clone());
            format!("#dm.#st.#s{i}")
        })
        .collect();
    update.text = format!("REMOVE {}", removed.join(", "));
    let mut condition = Expr { text: "attribute_exists(#dm.#st)".into(), ..Default::default() };
    condition.names.insert("#dm".into(), META.into());
    condition.names.insert("#st".into(), STALE.into());
    let write = Write::Update { table: layout.table.to_string(), key: key_item(&layout.key, key), update, condition: Some(condition) };
    match env.backend.write(write).await.map_err(|e| e.split()) {
        // The root was saved or deleted meanwhile: nothing left to forget.
        Err((crate::backend::BackendError::ConditionFailed, _)) | Ok(()) => Ok(()),
        Err((e, retries)) => Err(backend_error(e, &layout.table).with_key(key).with_retries(retries)),
    }
}
