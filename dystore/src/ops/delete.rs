//! Deleting a whole object, every shard item included, whatever shape it
//! was stored in.

use super::transact::transact;
use super::{Env, RACE_ATTEMPTS, check_key, conflict, key_item, not_found, read_meta, stored_node};
use crate::backend::{Backoff, Write};
use crate::error::Result;
use crate::format::{self, Guard};
use crate::layout::Layout;
use crate::path::PlainPath;
use crate::shard::all_shard_keys;
use crate::shard::check_shard_keys;
use crate::tree::Resolved;
use std::collections::BTreeMap;

/// Deletes the object keyed `key` and all its shards; `NotFound` if it does
/// not exist.
///
/// Without list shards the items to delete follow from `layout`, guarded by
/// the stored shape; with list shards, or when the object was stored in
/// another shape (a `Store` that names only the root table, say), the root's
/// metadata is read and every item it records is deleted, guarded by the
/// revision read, so a save racing the delete cannot leave items behind.
///
/// With `expect`, only if the stored revision is still `expect`: the root's
/// metadata is always read first then, and a changed revision is a
/// `Conflict` at once.
pub(crate) async fn delete(env: &Env<'_>, layout: &Layout, key: &str, expect: Option<&str>) -> Result<()> {
    let resolved = Resolved::new(layout)?;
    check_key(layout, key)?;
    check_shard_keys(&resolved.root, key)?;
    let shape = format::shape_of(layout);
    let mut read_first = resolved.root.has_lists() || expect.is_some();
    let mut backoff = Backoff::new(env.policy);
    for _ in 0..RACE_ATTEMPTS {
        let mut keys = Vec::new();
        let old = if read_first { Some(read_meta(env, layout, key).await?.ok_or_else(|| not_found(layout, key))?) } else { None };
        if let (Some(old), Some(expect)) = (&old, expect)
            && old.revision != expect
        {
            return Err(conflict(layout, key));
        }
        let guard = match &old {
            Some(old) => {
                let stored = stored_node(&old.layout, key)?;
                all_shard_keys(&stored, key, &PlainPath::root(), &old.lists, &mut keys);
                Guard::Revision(&old.revision)
            }
            None => {
                all_shard_keys(&resolved.root, key, &PlainPath::root(), &BTreeMap::new(), &mut keys);
                Guard::Shape(&shape)
            }
        };
        let mut writes: Vec<Write> = keys
            .into_iter()
            .map(|(l, k)| Write::Delete { table: l.table.to_string(), key: key_item(&l.key, &k), condition: None })
            .collect();
        let condition = guard.condition(&layout.key);
        writes.push(Write::Delete { table: layout.table.to_string(), key: key_item(&layout.key, key), condition: Some(condition.clone()) });
        match transact(env, layout, key, writes, Some(condition)).await {
            Ok(()) => return Ok(()),
            // Gone, stored in another shape, or written meanwhile: read what
            // is stored and go again.
            Err(e) if e.is_conflict() && expect.is_some() => return Err(e),
            Err(e) if e.is_conflict() => {
                if read_first && !backoff.wait().await {
                    return Err(e);
                }
                read_first = true;
            }
            Err(e) => return Err(e),
        }
    }
    Err(conflict(layout, key))
}
