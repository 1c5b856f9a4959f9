//! Deleting a whole object, every shard item included, whatever shape it
//! was stored in: one transaction, or past DynamoDB's limits a tombstone
//! first (the object is gone from then on) and the items after it.

use super::save::send_one;
use super::stale::{ItemKey, clean, entry_items};
use super::transact::fits_one_transaction;
use super::{Env, check_key, conflict, key_item, not_found, operation, read_root};
use crate::backend::{Backoff, Write};
use crate::error::Result;
use crate::format::{Guard, Keys, META, Root, RootMeta, Stale, token, tombstone_meta};
use crate::layout::Layout;
use crate::path::PlainPath;
use crate::shard::all_shard_keys;
use crate::tree::Resolved;
use crate::value::to_attr;
use std::collections::BTreeMap;

/// Deletes the object keyed `key` and all its shards; `NotFound` if it does
/// not exist.
///
/// Without list shards the items to delete follow from `layout`, guarded by
/// the stored shape (and by nothing being owed deletion); with list shards,
/// or when the object is not settled in that shape, the root's metadata is
/// read and every item it records is deleted, guarded by the revision read,
/// so a save racing the delete cannot leave items behind.
///
/// With `expect`, only if the stored revision is still `expect`: the root's
/// metadata is always read first then, and a changed revision is a
/// `Conflict` at once.
pub(crate) async fn delete(env: &Env<'_>, layout: &Layout, key: &str, expect: Option<&str>) -> Result<()> {
    operation(env, "delete", layout, Some(key), true, delete_now(env, layout, key, expect)).await
}

async fn delete_now(env: &Env<'_>, layout: &Layout, key: &str, expect: Option<&str>) -> Result<()> {
    let cached = Resolved::cached(layout)?;
    let resolved = cached.borrow_dependent();
    check_key(layout, key)?;
    resolved.check_shard_keys(key)?;
    let shape = resolved.shape();
    let mut read_first = resolved.root.has_lists() || expect.is_some();
    let mut backoff = Backoff::new(env.policy);
    // Whether an attempt that failed may have deleted the object after all.
    let mut maybe_deleted = false;
    // Until the retry policy's deadline: an unconditional write that keeps
    // losing races is worth going on with.
    loop {
        let old = match read_first {
            true => match read_root(env, layout, key).await? {
                Some(Root::Object(meta)) => Some(meta),
                Some(Root::Tombstone { revision, stale }) => {
                    // Gone already; finish what an earlier delete or save left.
                    let _ = finish_tombstone_fenced(env, layout, key, &revision, &stale).await;
                    return if maybe_deleted { Ok(()) } else { Err(not_found(layout, key)) };
                }
                None if maybe_deleted => return Ok(()),
                None => return Err(not_found(layout, key)),
            },
            false => None,
        };
        if let (Some(old), Some(expect)) = (&old, expect)
            && old.revision != expect
        {
            return Err(conflict(layout, key));
        }
        let (items, guard) = match &old {
            Some(old) => (stored_items(old, key)?, Guard::Revision(&old.revision)),
            None => (settled_items(resolved, key), Guard::Settled(shape)),
        };
        let writes = delete_writes(layout, key, items, &guard);
        let outcome = match (&old, fits_one_transaction(&writes)) {
            (_, true) => send_one(env, layout, key, writes).await,
            (Some(old), false) => staged(env, layout, key, old).await,
            (None, false) => {
                read_first = true;
                continue;
            }
        };
        match outcome {
            Ok(()) => return Ok(()),
            // Gone, not settled in this shape, or written meanwhile: read
            // what is stored and go again.
            Err(e) if e.is_conflict() && expect.is_some() && !e.object_may_have_changed() => return Err(e),
            Err(e) if e.is_conflict() => {
                maybe_deleted |= e.object_may_have_changed();
                if read_first && !backoff.again("lost a race to another writer").await {
                    return Err(if expect.is_none() { e.retry_unchanged() } else { e });
                }
                read_first = true;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The writes of a delete packed with others, guarded as the first attempt
/// of [`delete`] is (the object settled in `layout`'s shape); `None` for a
/// layout with list shards, whose deletes read the stored root first, or
/// one past a transaction.
pub(crate) fn packable(resolved: &Resolved<'_>, layout: &Layout, key: &str) -> Result<Option<Vec<Write>>> {
    check_key(layout, key)?;
    resolved.check_shard_keys(key)?;
    if resolved.root.has_lists() {
        return Ok(None);
    }
    let shape = resolved.shape();
    let writes = delete_writes(layout, key, settled_items(resolved, key), &Guard::Settled(shape));
    Ok(fits_one_transaction(&writes).then_some(writes))
}

/// The shard items of the object keyed `key` stored settled in the
/// resolved layout's shape (deterministic keys, no list shards).
fn settled_items(resolved: &Resolved<'_>, key: &str) -> Vec<ItemKey> {
    let mut keys = Vec::new();
    all_shard_keys(&resolved.root, Keys::plain(key), &PlainPath::root(), &BTreeMap::new(), &mut keys);
    keys.into_iter().map(|(l, k)| (l.table.to_string(), l.key.to_string(), k)).collect()
}

/// Deletes of `items`, then of the root guarded by `guard`.
fn delete_writes(layout: &Layout, key: &str, items: Vec<ItemKey>, guard: &Guard<'_>) -> Vec<Write> {
    let mut writes: Vec<Write> =
        items.into_iter().map(|(table, key_name, k)| Write::Delete { table, key: key_item(&key_name, &k), condition: None }).collect();
    let condition = guard.condition(&layout.key);
    writes.push(Write::Delete { table: layout.table.to_string(), key: key_item(&layout.key, key), condition: Some(condition) });
    writes
}

/// Every item of a stored object but its root: its shard items and the
/// items its root records as owed deletion.
fn stored_items(meta: &RootMeta, key: &str) -> Result<Vec<ItemKey>> {
    let mut items = meta.items(key)?;
    for (id, entry) in &meta.stale {
        items.extend(entry_items(id, entry, key)?);
    }
    Ok(items)
}

/// A delete past one transaction: a tombstone replaces the root (the
/// commit point: the object is gone), recording every item as owed
/// deletion; the items go, then the tombstone.
async fn staged(env: &Env<'_>, layout: &Layout, key: &str, old: &RootMeta) -> Result<()> {
    let mut owed = old.stale.clone();
    owed.insert(old.write_id.clone(), old.as_stale());
    let revision = token();
    let mut item = key_item(&layout.key, key);
    item.insert(META.to_owned(), to_attr(tombstone_meta(&revision, &owed)));
    let condition = Guard::Revision(&old.revision).condition(&layout.key);
    send_one(env, layout, key, vec![Write::Put { table: layout.table.to_string(), item, condition: Some(condition) }]).await?;
    let _ = finish_tombstone(env, layout, key, &revision, &owed).await;
    Ok(())
}

/// As [`finish_tombstone`], for a caller that did not write the
/// tombstone: it may be the root of a first save still running, whose
/// pending items it records, so the tombstone first takes a fresh revision
/// (see [`clean_fenced`](super::stale::clean_fenced)). A tombstone written
/// again meanwhile is left to its writer.
pub(crate) async fn finish_tombstone_fenced(
    env: &Env<'_>,
    layout: &Layout,
    key: &str,
    revision: &str,
    owed: &BTreeMap<String, Stale>,
) -> Result<()> {
    if owed.is_empty() {
        return finish_tombstone(env, layout, key, revision, owed).await;
    }
    match super::stale::fence(env, layout, key, revision).await {
        Ok(fenced) => finish_tombstone(env, layout, key, &fenced, owed).await,
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes what a tombstone records, then the tombstone if nothing changed
/// it meanwhile. Whatever is left stays recorded for the next save or
/// delete; the error says why (most callers go on regardless).
pub(crate) async fn finish_tombstone(
    env: &Env<'_>,
    layout: &Layout,
    key: &str,
    revision: &str,
    owed: &BTreeMap<String, Stale>,
) -> Result<()> {
    clean(env, layout, key, revision, owed).await?;
    let condition = Guard::Revision(revision).condition(&layout.key);
    let delete = Write::Delete { table: layout.table.to_string(), key: key_item(&layout.key, key), condition: Some(condition) };
    match env.backend.write(delete).await.map_err(|e| e.split()) {
        // Written again meanwhile: that save owns the key now.
        Ok(()) | Err((crate::backend::BackendError::ConditionFailed, _)) => Ok(()),
        Err((e, retries)) => Err(super::backend_error(e, &layout.table).with_key(key).with_retries(retries)),
    }
}
