//! Saves past DynamoDB's limits for one transaction (100 items, 4 MB),
//! staged so that the previous version stays readable until the new one is
//! complete and a crash at any point loses nothing:
//!
//! 1. the root records the save as pending (its items owed deletion should
//!    it never finish) and takes a fresh revision; an absent object gets a
//!    tombstone root for this;
//! 2. the new shard items go under keys carrying the save's write id, in
//!    transactions each guarded by that revision;
//! 3. one transaction puts the new root (the commit point) and deletes the
//!    previous version's items under deterministic keys, so none of those
//!    ever outlives the root that names them;
//! 4. the previous version's items under write-id keys, and any the root
//!    recorded as owed, are deleted, then their entries removed.
//!
//! `docs/FORMAT.md` ("Saves over one transaction") gives the guarantee and
//! the request sequence.

use super::save::{encode_items, legacy_delete, send_one};
use super::stale::{ItemKey, clean, delete_items, entry_items, fence};
use super::transact::transact;
use super::transact::{fits_sizes, write_bytes};
use super::{Env, backend_error, key_item, read_root};
use crate::backend::{BackendError, Expr, Item, Write};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Guard, Keys, META, Root, RootMeta, STALE, Stale, token, tombstone_meta};
use crate::layout::Layout;
use crate::tree::Resolved;
use crate::value::to_attr;
use serde_dynamo::AttributeValue;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// How many deletes of the previous version's items ride with the new root
/// in the transaction that switches it (DynamoDB's 100 writes, less the root).
const DELETES_IN_SWITCH: usize = 99;

/// DynamoDB's limit on one TransactWriteItems request, in bytes.
const SWITCH_BYTES: usize = 4 * 1024 * 1024;

/// One save, encoded: its root metadata and items, before any request.
pub(crate) struct Draft {
    /// Metadata of the new root (its `stale` is settled when it is sent).
    pub(crate) meta: RootMeta,
    /// Items deepest first, the root last.
    puts: Vec<(String, Item, usize)>,
    /// Every item this save writes, by table and key.
    pub(crate) plan_keys: HashSet<(String, String)>,
    /// Items of optional shards absent from the document (deterministic keys).
    pub(crate) absent: Vec<ItemKey>,
    region: Option<String>,
    /// What the root records of the layout.
    recorded: std::sync::Arc<crate::format::Recorded>,
}

impl Draft {
    /// Splits and encodes `doc` for the save `write_id`, its shard keys
    /// carrying the write id when `keyed`.
    pub(crate) fn new(
        env: &Env<'_>,
        resolved: &Resolved<'_>,
        layout: &Layout,
        key: &str,
        doc: &Value,
        write_id: &str,
        keyed: bool,
    ) -> Result<Self> {
        Self::encode(env, resolved, layout, key, doc, (write_id, &token()), keyed)
    }

    /// The same save encoded again from `doc`, under the same write id and
    /// revision: for an attempt after the first, whose request took the
    /// items ([`take`](Self::take)).
    pub(crate) fn again(&self, env: &Env<'_>, resolved: &Resolved<'_>, layout: &Layout, key: &str, doc: &Value) -> Result<Self> {
        Self::encode(env, resolved, layout, key, doc, (&self.meta.write_id, &self.meta.revision), self.meta.keyed)
    }

    /// Whether `others` and the draft's items (the root's put conditioned
    /// on `condition`) fit one TransactWriteItems request; asked before
    /// the items are taken, so that a save going staged keeps them.
    pub(crate) fn fits_one_transaction_with(&self, others: &[Write], condition: &Expr) -> bool {
        let condition_bytes: usize = condition.values.values().map(crate::value::size).sum();
        let mine: usize = self.puts.iter().map(|(_, _, bytes)| bytes).sum();
        let others_bytes: usize = others.iter().map(write_bytes).sum();
        fits_sizes(others.len() + self.puts.len(), others_bytes + mine + condition_bytes)
    }

    /// Whether the items were taken by a request.
    pub(crate) fn is_taken(&self) -> bool {
        self.puts.is_empty()
    }

    fn encode(
        env: &Env<'_>,
        resolved: &Resolved<'_>,
        layout: &Layout,
        key: &str,
        doc: &Value,
        (write_id, revision): (&str, &str),
        keyed: bool,
    ) -> Result<Self> {
        // The root records what `resolved` records of its layout.
        debug_assert!(resolved.root.layout == layout, "a draft encodes by its layout's own resolution");
        let keys = Keys { root: key, write_id: keyed.then_some(write_id) };
        // The one copy of the document a save makes: the split moves it
        // into parts, and the encoding moves the parts' strings into items.
        // (The document itself stays with the caller: a loader's `key_for`
        // is given it, and a later attempt encodes it again.)
        let body = doc.as_object().cloned().unwrap_or_default();
        let plan = crate::shard::split(&resolved.root, keys, env.region, body).map_err(|e| e.with_key(key.to_owned()))?;
        let absent = plan.absent.iter().map(|(l, k)| (l.table.to_string(), l.key.to_string(), k.clone())).collect();
        let mut meta = RootMeta {
            write_id: write_id.to_owned(),
            revision: revision.to_owned(),
            layout: layout.clone(),
            lists: plan.lists,
            keyed,
            chunks: BTreeMap::new(),
            stale: BTreeMap::new(),
        };
        let (puts, chunks) = encode_items(env, (&resolved.rules, &resolved.recorded), layout, keys, plan.parts, &meta, doc)?;
        meta.chunks = chunks;
        let plan_keys = puts
            .iter()
            .filter_map(|(table, item, _)| {
                let key_name = if table == layout.table.as_ref() { layout.key.as_ref() } else { table_key_name(resolved, table)? };
                match item.get(key_name) {
                    Some(AttributeValue::S(k)) => Some((table.clone(), k.clone())),
                    _ => None,
                }
            })
            .collect();
        let region = layout.region.as_deref().or(env.region).map(str::to_owned);
        Ok(Draft { meta, puts, plan_keys, absent, region, recorded: resolved.recorded.clone() })
    }

    /// The writes of the items, moved out of the draft (no copy of a
    /// large object is made for its request): the puts of the shard items,
    /// deepest first, unconditioned, and the root item. Afterwards the
    /// draft [`is_taken`](Self::is_taken); [`again`](Self::again) encodes
    /// it anew for another attempt.
    pub(crate) fn take(&mut self) -> (Vec<Write>, Item) {
        let mut puts = std::mem::take(&mut self.puts);
        let (_, root, _) = puts.pop().expect("a plan always has its root part");
        let shards = puts.into_iter().map(|(table, item, _)| Write::Put { table, item, condition: None }).collect();
        (shards, root)
    }

    /// Puts of the shard items, deepest first, unconditioned (copies: a
    /// staged save may send them again).
    pub(crate) fn shard_puts(&self) -> impl Iterator<Item = Write> + '_ {
        let (_, shards) = self.puts.split_last().expect("a plan always has its root part");
        shards.iter().map(|(table, item, _)| Write::Put { table: table.clone(), item: item.clone(), condition: None })
    }

    /// The root item, recording `stale` as owed deletion.
    pub(crate) fn root_item(&self, stale: &BTreeMap<String, Stale>) -> Item {
        let (_, root, _) = self.puts.last().expect("a plan always has its root part");
        let mut root = root.clone();
        if !stale.is_empty() {
            root.insert(META.to_owned(), self.meta.to_attr_with(&self.recorded, self.region.as_deref(), &self.meta.chunks, stale));
        }
        root
    }
}

/// The key attribute of `table` in a resolved layout.
fn table_key_name<'a>(resolved: &'a Resolved<'_>, table: &str) -> Option<&'a str> {
    fn find<'a>(node: &'a crate::tree::Node<'_>, table: &str) -> Option<&'a str> {
        if node.layout.table == table {
            return Some(node.layout.key.as_ref());
        }
        node.shards.iter().find_map(|b| find(&b.node, table))
    }
    find(&resolved.root, table)
}

/// What a staged save starts from.
pub(crate) struct Stage<'a> {
    /// The root as read before the save (`None`: nothing stored).
    pub(crate) old: Option<&'a Root>,
}

/// Saves `draft` (keyed by its write id) over `stage.old`, staged. A
/// `Conflict` means another writer changed the root since it was read.
///
/// A failure after the root's revision moved (the fence, the pending
/// record) says the object may have changed: the content is the old one,
/// but a versioned write holding the old revision would now conflict.
pub(crate) async fn save(env: &Env<'_>, layout: &Layout, key: &str, draft: &Draft, stage: Stage<'_>) -> Result<()> {
    let mut moved = false;
    staged_save(env, layout, key, draft, stage, &mut moved).await.map_err(|e| if moved { e.may_have_changed() } else { e })
}

/// [`save`], recording in `moved` whether the stored root's revision is no
/// longer the one read.
async fn staged_save(env: &Env<'_>, layout: &Layout, key: &str, draft: &Draft, stage: Stage<'_>, moved: &mut bool) -> Result<()> {
    let write_id = draft.meta.write_id.as_str();
    let pending = draft.meta.as_stale();
    let mut owed = stage.old.map(|o| o.stale().clone()).unwrap_or_default();
    let mut current = stage.old.map(|o| o.revision().to_owned());
    // What earlier saves left owed (among it, the items of attempts that
    // crashed) is deleted first, so that attempts crashing again and again
    // do not pile entries up in the root until it outgrows its item. An
    // entry may be another staged save still running: the root is fenced
    // first (a fresh revision that save's switch cannot pass).
    if let Some(revision) = current.as_deref().filter(|_| !owed.is_empty()) {
        let fenced = fence(env, layout, key, revision).await?;
        *moved = true;
        if clean(env, layout, key, &fenced, &owed).await.is_ok() {
            owed.clear();
        }
        current = Some(fenced);
    }

    // 1. The root records the save as pending, under a fresh revision.
    let staging = token();
    let mut with_pending = owed.clone();
    with_pending.insert(write_id.to_owned(), pending.clone());
    let record = match current.as_deref() {
        None => {
            let mut item = key_item(&layout.key, key);
            item.insert(META.to_owned(), to_attr(tombstone_meta(&staging, &with_pending)));
            Write::Put { table: layout.table.to_string(), item, condition: Some(Guard::Absent.condition(&layout.key)) }
        }
        Some(revision) => {
            let mut update = Expr { text: "SET #dm.#st = :st, #dm.#rev = :rev".into(), ..Default::default() };
            update.names.insert("#dm".into(), META.into());
            update.names.insert("#st".into(), STALE.into());
            update.names.insert("#rev".into(), "revision".into());
            update.values.insert(":st".into(), to_attr(Stale::map_value(&with_pending)));
            update.values.insert(":rev".into(), AttributeValue::S(staging.clone()));
            let condition = Guard::Revision(revision).condition(&layout.key);
            Write::Update { table: layout.table.to_string(), key: key_item(&layout.key, key), update, condition: Some(condition) }
        }
    };
    if let Err(e) = send_one(env, layout, key, vec![record]).await {
        // Applied with its answer lost: the root has the staging revision.
        let applied =
            e.object_may_have_changed() && read_root(env, layout, key).await.ok().flatten().is_some_and(|root| root.revision() == staging);
        if !applied {
            return Err(e);
        }
    }
    *moved = true;

    let switched = async {
        // 2. The new shard items, every transaction guarded by the staging revision.
        let guard = Guard::Revision(&staging).condition(&layout.key);
        let mut writes: Vec<Write> = draft.shard_puts().collect();
        writes.push(Write::Check { table: layout.table.to_string(), key: key_item(&layout.key, key), condition: guard.clone() });
        transact(env, layout, key, writes, Some(guard.clone())).await?;

        // 3. The switch: the new root, and the deletes of the previous
        // version's deterministic items (or, too many of them, a record).
        let mut owed = owed.clone();
        let mut switch = Vec::new();
        if let Some(Root::Object(old)) = stage.old {
            let items = old.items(key)?;
            if old.keyed || items.len() > DELETES_IN_SWITCH {
                owed.insert(old.write_id.clone(), old.as_stale());
            } else {
                switch.extend(items.into_iter().map(|(table, key_name, k)| Write::Delete {
                    table,
                    key: key_item(&key_name, &k),
                    condition: None,
                }));
            }
        }
        switch.push(Write::Put { table: layout.table.to_string(), item: draft.root_item(&owed), condition: Some(guard) });
        send_one(env, layout, key, switch).await?;
        Ok(owed)
    }
    .await;

    match switched {
        Ok(owed) => {
            // 4. Cleanup. The save is done whatever happens here: what is
            // left stays recorded in the root for the next save or delete.
            let _ = clean(env, layout, key, &draft.meta.revision, &owed).await;
            Ok(())
        }
        Err(e) => {
            // The switch may have been applied with its answer lost: then
            // the root is this save's, and nothing may be undone.
            match switched_to(env, layout, key, write_id, &draft.meta.revision).await {
                Some(Ok(())) => return Ok(()),
                Some(Err(_)) => return Err(e),
                None => {}
            }
            // Undo this attempt as far as possible; what a crash leaves
            // stays recorded as pending in the root.
            let _ = clean(env, layout, key, &staging, &BTreeMap::from([(write_id.to_owned(), pending)])).await;
            if stage.old.is_none() {
                let tombstone = Write::Delete {
                    table: layout.table.to_string(),
                    key: key_item(&layout.key, key),
                    condition: Some(Guard::Revision(&staging).condition(&layout.key)),
                };
                // Gone again: nothing was stored before, nothing is now.
                if env.backend.write(tombstone).await.is_ok() {
                    *moved = false;
                }
            }
            Err(e)
        }
    }
}

/// Writes `draft` (keyed by its write id) over a dynamo-store 0.6 object
/// whose shard items are `legacy`, guarded by `unchanged` on its root:
///
/// 1. an upgrade record (a tombstone under [`upgrade_record_key`]) records
///    the new items as pending, since the legacy root, which the package
///    still reads, is never changed before the switch;
/// 2. the new shard items, every transaction guarded by `unchanged`;
/// 3. the switch: the new root, the record's delete, and as many legacy
///    deletes as fit (the rest recorded in the root and deleted after).
///
/// Each attempt has its own write id, so attempts never share items: what
/// one that crashed recorded is deleted by the next upgrade of the key (or
/// by `upgrade_table`, `Objects::sweep`).
pub(crate) async fn over_legacy(
    env: &Env<'_>,
    layout: &Layout,
    key: &str,
    draft: &Draft,
    legacy: &[ItemKey],
    guards: &std::collections::HashMap<(String, String), Expr>,
    unchanged: Expr,
) -> Result<()> {
    let write_id = draft.meta.write_id.as_str();
    let pending = draft.meta.as_stale();
    let record_key = upgrade_record_key(key);
    let earlier = read_record(env, layout, key).await?;
    let mut recorded = earlier.as_ref().map(|(_, stale)| stale.clone()).unwrap_or_default();
    recorded.insert(write_id.to_owned(), pending.clone());
    let revision = token();
    let mut record = key_item(&layout.key, &record_key);
    record.insert(META.to_owned(), to_attr(tombstone_meta(&revision, &recorded)));
    let condition = match &earlier {
        None => Guard::Absent.condition(&layout.key),
        Some((earlier_revision, _)) => Guard::Revision(earlier_revision).condition(&layout.key),
    };
    let put = Write::Put { table: layout.table.to_string(), item: record, condition: Some(condition) };
    if let Err(e) = send_one(env, layout, key, vec![put]).await {
        // Applied with its answer lost: the record has this revision.
        let applied = e.object_may_have_changed() && read_record(env, layout, key).await.ok().flatten().is_some_and(|(r, _)| r == revision);
        if !applied {
            return Err(e);
        }
    }

    let switched = async {
        let mut writes: Vec<Write> = draft.shard_puts().collect();
        writes.push(Write::Check { table: layout.table.to_string(), key: key_item(&layout.key, key), condition: unchanged.clone() });
        transact(env, layout, key, writes, Some(unchanged.clone())).await?;
        // Room in the switch for the root and the record's delete; the
        // legacy deletes in it are conditioned on their items being as
        // read, as many as fit DynamoDB's 4 MB.
        let root = draft.root_item(&BTreeMap::new());
        let mut room = SWITCH_BYTES.saturating_sub(crate::value::item_size(&root) + 2048);
        let mut fit = 0;
        for item in legacy.iter().take(DELETES_IN_SWITCH - 1) {
            let bytes = write_bytes(&legacy_delete(item, guards));
            if bytes > room {
                break;
            }
            room -= bytes;
            fit += 1;
        }
        let (now, later) = legacy.split_at(fit);
        let mut owed: BTreeMap<String, Stale> =
            recorded.iter().filter(|(id, _)| id.as_str() != write_id).map(|(i, s)| (i.clone(), s.clone())).collect();
        if !later.is_empty() {
            owed.insert(token(), Stale::Items(later.to_vec()));
        }
        let mut switch: Vec<Write> = now.iter().map(|item| legacy_delete(item, guards)).collect();
        switch.push(Write::Delete {
            table: layout.table.to_string(),
            key: key_item(&layout.key, &record_key),
            condition: Some(Guard::Revision(&revision).condition(&layout.key)),
        });
        switch.push(Write::Put { table: layout.table.to_string(), item: draft.root_item(&owed), condition: Some(unchanged.clone()) });
        send_one(env, layout, key, switch).await?;
        Ok(owed)
    }
    .await;
    match switched {
        Ok(owed) => {
            let _ = clean(env, layout, key, &draft.meta.revision, &owed).await;
            Ok(())
        }
        Err(e) => {
            // The switch may have been applied with its answer lost, or an
            // upgrade of the same legacy object (the same write id) won:
            // then the root names these items, and nothing may be undone.
            match switched_to(env, layout, key, write_id, &draft.meta.revision).await {
                Some(Ok(())) => return Ok(()),
                Some(Err(_)) => return Err(e),
                None => {}
            }
            // Undo this attempt as far as possible; a crash leaves it recorded.
            if let Ok(items) = entry_items(write_id, &pending, key)
                && delete_items(env, layout, key, &items, None).await.is_ok()
            {
                let _ = forget_record(env, layout, key, &revision, write_id, earlier.is_none()).await;
            }
            Err(e)
        }
    }
}

/// After a staged write failed: `Some(Ok)` if the root now names the
/// items of `write_id` (its switch was applied after all; what the root
/// records as owed is cleaned while the root is still at `revision`, the
/// one this write switched it to), `Some(Err)` if the root cannot be read
/// (nothing may be undone then), `None` if the root is another save's.
pub(crate) async fn switched_to(env: &Env<'_>, layout: &Layout, key: &str, write_id: &str, revision: &str) -> Option<Result<()>> {
    match read_root(env, layout, key).await {
        Ok(Some(Root::Object(meta))) if meta.write_id == write_id => {
            // At another revision, a save has begun since (its pending
            // items are recorded too): the cleanup is left to it.
            if meta.revision == revision {
                let _ = clean(env, layout, key, &meta.revision, &meta.stale).await;
            }
            Some(Ok(()))
        }
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }
}

/// The key of the record a staged upgrade of the object keyed `key` keeps
/// in the root table while it runs: the key, `#$`, `upgrade`. No root key
/// holds `#$` and no printed path starts `$u`, so it is no object's key
/// and no shard's.
pub(crate) fn upgrade_record_key(key: &str) -> String {
    format!("{key}#$upgrade")
}

/// The key of the object whose upgrade record is keyed `key`, if it is one.
pub(crate) fn upgrade_record_of(key: &str) -> Option<&str> {
    key.strip_suffix("#$upgrade")
}

/// The upgrade record of the object keyed `key`: its revision and the
/// items it records, if there is one.
pub(crate) async fn read_record(env: &Env<'_>, layout: &Layout, key: &str) -> Result<Option<(String, BTreeMap<String, Stale>)>> {
    match read_root(env, layout, &upgrade_record_key(key)).await? {
        Some(Root::Tombstone { revision, stale }) => Ok(Some((revision, stale))),
        Some(Root::Object(_)) => Err(Error::new(ErrorKind::Format, "an upgrade record holds an object")
            .with_table(layout.table.as_ref())
            .with_key(upgrade_record_key(key))),
        None => Ok(None),
    }
}

/// Deletes what an upgrade record records for the object keyed `key`, then
/// the record, if nothing changed it meanwhile.
pub(crate) async fn finish_record(
    env: &Env<'_>,
    layout: &Layout,
    key: &str,
    revision: &str,
    recorded: &BTreeMap<String, Stale>,
) -> Result<()> {
    for (id, entry) in recorded {
        delete_items(env, layout, key, &entry_items(id, entry, key)?, None).await?;
    }
    let condition = Guard::Revision(revision).condition(&layout.key);
    let delete =
        Write::Delete { table: layout.table.to_string(), key: key_item(&layout.key, &upgrade_record_key(key)), condition: Some(condition) };
    match env.backend.write(delete).await.map_err(BackendError::split) {
        Ok(()) | Err((BackendError::ConditionFailed, _)) => Ok(()),
        Err((e, retries)) => Err(backend_error(e, &layout.table).with_key(key).with_retries(retries)),
    }
}

/// Removes one attempt's entry from the upgrade record (the whole record
/// when it was the only one).
async fn forget_record(env: &Env<'_>, layout: &Layout, key: &str, revision: &str, write_id: &str, only: bool) -> Result<()> {
    let record = key_item(&layout.key, &upgrade_record_key(key));
    let condition = Some(Guard::Revision(revision).condition(&layout.key));
    let write = if only {
        Write::Delete { table: layout.table.to_string(), key: record, condition }
    } else {
        let mut update = Expr { text: "REMOVE #dm.#st.#w".into(), ..Default::default() };
        update.names.insert("#dm".into(), META.into());
        update.names.insert("#st".into(), STALE.into());
        update.names.insert("#w".into(), write_id.to_owned());
        Write::Update { table: layout.table.to_string(), key: record, update, condition }
    };
    env.backend.write(write).await.map_err(|e| backend_error(e, &layout.table).with_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::transact::{TRANSACT_BYTES, fits_one_transaction};
    use proptest::prelude::*;

    /// A draft of `leaves` (one shard each) keyed `k`.
    fn draft(env: &Env<'_>, layout: &Layout, leaves: &[usize]) -> Draft {
        let doc: serde_json::Map<String, Value> =
            leaves.iter().enumerate().map(|(i, n)| (format!("s{i}"), serde_json::json!({"leaf": "x".repeat(*n)}))).collect();
        let cached = Resolved::cached(layout).expect("a layout");
        Draft::new(env, cached.borrow_dependent(), layout, "k", &Value::Object(doc), &token(), false).expect("a draft")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whether a draft fits one transaction with other writes, asked
        /// by sizes before its items are taken, is what the writes the
        /// save then sends give, at DynamoDB's 100 items and within a few
        /// bytes of its 4 MB.
        #[test]
        fn a_draft_fits_one_transaction_as_the_writes_it_becomes(
            shards in 90usize..=101,
            deletes in 0usize..=5,
            slack in -3i64..=3,
            guarded in any::<bool>(),
        ) {
            let db = crate::Client::memory().expect("an engine");
            let env = db.env();
            let store = (0..shards)
                .fold(crate::Store::new("Root", "ID"), |store, i| store.shard(crate::Store::new("Shards", "SID").at(format!("$.s{i}"))));
            let layout = store.layout();
            let mut writes: Vec<Write> = (0..deletes)
                .map(|i| Write::Delete { table: "Shards".into(), key: key_item("SID", &format!("old{i}")), condition: None })
                .collect();
            let revision = token();
            let condition = if guarded { Guard::Revision(&revision) } else { Guard::Absent }.condition(&layout.key);
            // Leaves sized so that everything comes to 4 MB and `slack`
            // bytes: a leaf's item grows by a byte per byte of the leaf.
            let mut leaves = vec![TRANSACT_BYTES / shards; shards];
            let first = draft(&env, layout, &leaves);
            let condition_bytes: usize = condition.values.values().map(crate::value::size).sum();
            let others: usize = writes.iter().map(write_bytes).sum();
            let now = (first.puts.iter().map(|(_, _, b)| b).sum::<usize>() + others + condition_bytes) as i64;
            leaves[0] = (leaves[0] as i64 + TRANSACT_BYTES as i64 + slack - now) as usize;
            let mut draft = draft(&env, layout, &leaves);
            let asked = draft.fits_one_transaction_with(&writes, &condition);
            let (shard_puts, root) = draft.take();
            writes.extend(shard_puts);
            writes.push(Write::Put { table: layout.table.to_string(), item: root, condition: Some(condition) });
            prop_assert_eq!(asked, fits_one_transaction(&writes));
        }
    }
}
