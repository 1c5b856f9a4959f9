//! Saving a whole object: split by its layout, encode and measure every
//! item, then one transaction guarded by the stored shape or the revision
//! read; past DynamoDB's limits for one transaction, a staged save
//! (`staged.rs`) that keeps the previous version readable throughout.

use super::staged::{self, Draft, Stage};
use super::stale::{ItemKey, entry_items};
use super::{Env, backend_error, check_key, conflict, key_item, operation, read_root};
use crate::backend::{BackendError, Backoff, Expr, Item, Write};
use crate::chunk;
use crate::codec::{Codec, Site};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, CONDITION_FAILED, Guard, Keys, META, Root, RootMeta, cancelled, chunk_meta, shard_meta, token};
use crate::layout::Layout;
use crate::path::{PlainPath, Step};
use crate::rules::Rules;
use crate::shard::Part;
use crate::tree::Resolved;
use crate::value::{MAX_ITEM_BYTES, item_size, size, to_attr};
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a save wrote.
#[derive(Debug)]
pub(crate) struct Saved {
    pub(crate) key: String,
    pub(crate) revision: String,
}

/// Saves `doc` under `key` (or a key from the loader, else a UUID v4); with
/// `when`, only if the object is absent or still at a revision.
///
/// The stored root is read first only when it decides what to delete: with
/// list shards (elements a shorter list no longer has), or when the object
/// is not settled in `layout`'s shape (stored in another shape, under keys
/// carrying a write id, or with items owed deletion). Otherwise the save is
/// guarded by the stored shape instead, and falls back to reading when that
/// guard fails. A save that does not fit one transaction is staged.
pub(crate) async fn save(env: &Env<'_>, layout: &Layout, doc: Value, key: Option<String>, when: When<'_>) -> Result<Saved> {
    let named = key.clone();
    // An attempt that may have changed the object (a staged save's root
    // moved to a new revision) before a later one failed: the error says so.
    let mut changed = false;
    let attempts = async {
        let saved = save_now(env, layout, doc, key, when, &mut changed).await;
        saved.map_err(|e| if changed { e.may_have_changed() } else { e })
    };
    operation(env, "save", layout, named.as_deref(), true, attempts).await
}

async fn save_now(env: &Env<'_>, layout: &Layout, doc: Value, key: Option<String>, when: When<'_>, changed: &mut bool) -> Result<Saved> {
    let cached = Resolved::cached(layout)?;
    let resolved = cached.borrow_dependent();
    let (doc, key) = prepare(env, layout, doc, key)?;
    resolved.check_shard_keys(&key)?;
    let write_id = token();
    // Everything is encoded and measured before the first request.
    let mut draft = Draft::new(env, resolved, layout, &key, &doc, &write_id, false)?;
    let mut staged_draft = None;
    let shape = resolved.shape();

    let mut read_first = resolved.root.has_lists();
    let mut backoff = Backoff::new(env.policy);
    // Until the retry policy's deadline: an unconditional write that keeps
    // losing races is worth going on with.
    loop {
        let old = if read_first { read_root(env, layout, &key).await? } else { None };
        // An attempt that timed out was applied after all, and its retry
        // then failed its guard: the stored revision is this save's own.
        let ours = |r: &str| r == draft.meta.revision || staged_draft.as_ref().is_some_and(|d: &Draft| r == d.meta.revision);
        if let Some(old) = old.as_ref().filter(|o| ours(o.revision())) {
            let revision = old.revision().to_owned();
            return Ok(Saved { key, revision });
        }
        let guard = match (when, &old) {
            (When::Absent, Some(Root::Object(_))) => return Err(already_exists(layout, &key)),
            (When::Revision(expect), Some(old)) if old.revision() != expect => return Err(conflict(layout, &key)),
            (When::Revision(_), Some(Root::Tombstone { .. })) => return Err(conflict(layout, &key)),
            (When::Revision(_), None) if read_first => return Err(conflict(layout, &key)),
            (When::Revision(expect), _) if read_first => Guard::Revision(expect),
            (When::Revision(expect), _) => Guard::RevisionSettled(expect),
            (_, Some(old)) => Guard::Revision(old.revision()),
            (When::Absent, None) => Guard::Absent,
            (When::Always, None) if read_first => Guard::Absent,
            (When::Always, None) => Guard::AbsentOrSettled(shape),
        };
        let mut writes = stale_deletes(&key, &draft.plan_keys, &draft.absent, old.as_ref())?;
        let condition = guard.condition(&layout.key);
        // The first attempt's request takes the draft's items; one after it
        // encodes the document again.
        if draft.is_taken() {
            draft = draft.again(env, resolved, layout, &key, &doc)?;
        }
        let (outcome, revision) = if draft.fits_one_transaction_with(&writes, &condition) {
            let (shard_puts, root) = draft.take();
            writes.extend(shard_puts);
            writes.push(Write::Put { table: layout.table.to_string(), item: root, condition: Some(condition) });
            (send_one(env, layout, &key, writes).await, &draft.meta.revision)
        } else if !read_first {
            // A staged save starts from the root as stored.
            read_first = true;
            continue;
        } else {
            let staged = match staged_draft.as_mut() {
                Some(d) => d,
                None => staged_draft.insert(Draft::new(env, resolved, layout, &key, &doc, &write_id, true)?),
            };
            (staged::save(env, layout, &key, staged, Stage { old: old.as_ref() }).await, &staged.meta.revision)
        };
        match outcome {
            Ok(()) => return Ok(Saved { revision: revision.clone(), key }),
            // The guard failed: another writer, another shape, or a root
            // with items owed deletion. Read the stored root and go again;
            // a versioned save or an insert decides on what it reads.
            Err(e) if e.is_conflict() => {
                *changed |= e.object_may_have_changed();
                if read_first && !matches!(when, When::Always) && !e.object_may_have_changed() {
                    return Err(match when {
                        When::Absent => already_exists(layout, &key),
                        _ => e,
                    });
                }
                if read_first && !backoff.again("lost a race to another writer").await {
                    return Err(if matches!(when, When::Always) { e.retry_unchanged() } else { e });
                }
                read_first = true;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A save that [`save_many`](super::many::save_many) can pack with others.
pub(crate) enum Packable {
    /// One transaction's writes (the root's put last), guarded by the
    /// stored shape as the first attempt of [`save`] is: an absent object,
    /// or one settled in `layout`'s shape.
    Writes { key: String, revision: String, writes: Vec<Write>, doc: Value },
    /// A save that reads the stored root first (list shards) or does not fit
    /// one transaction: done alone by [`save`].
    Alone { key: String, doc: Value },
}

/// Checks, splits and encodes `doc` (keyed `key`, else the loader's or a
/// UUID v4) for a save packed with others, before any request.
pub(crate) fn packable(env: &Env<'_>, resolved: &Resolved<'_>, layout: &Layout, doc: Value, key: Option<String>) -> Result<Packable> {
    let (doc, key) = prepare(env, layout, doc, key)?;
    resolved.check_shard_keys(&key)?;
    if resolved.root.has_lists() {
        return Ok(Packable::Alone { key, doc });
    }
    let mut draft = Draft::new(env, resolved, layout, &key, &doc, &token(), false)?;
    let shape = resolved.shape();
    let mut writes = stale_deletes(&key, &draft.plan_keys, &draft.absent, None)?;
    let condition = Guard::AbsentOrSettled(shape).condition(&layout.key);
    if !draft.fits_one_transaction_with(&writes, &condition) {
        return Ok(Packable::Alone { key, doc });
    }
    let (shard_puts, root) = draft.take();
    writes.extend(shard_puts);
    writes.push(Write::Put { table: layout.table.to_string(), item: root, condition: Some(condition) });
    Ok(Packable::Writes { key, revision: draft.meta.revision, writes, doc })
}

/// Sends the writes of a save as one transaction (one request when there
/// is only one write); a failed condition (on the root, or on an upgrade
/// record) is a `Conflict`.
pub(super) async fn send_one(env: &Env<'_>, layout: &Layout, key: &str, mut writes: Vec<Write>) -> Result<()> {
    let guarded: Vec<bool> = writes.iter().map(|w| w.condition().is_some()).collect();
    let sent = if writes.len() == 1 {
        env.backend.write(writes.pop().expect("one write")).await
    } else {
        env.backend.transact_write(writes).await
    };
    sent.map_err(|e| match e.split() {
        (BackendError::ConditionFailed, retries) => conflict(layout, key).with_retries(retries),
        (BackendError::TransactionCanceled { reasons }, retries) if cancelled(&reasons, &guarded, CONDITION_FAILED).contains(&true) => {
            conflict(layout, key).with_retries(retries)
        }
        (other, retries) => backend_error(other, &layout.table).with_key(key).with_retries(retries),
    })
}

/// When a save may write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum When<'a> {
    /// Whatever is stored under the key.
    Always,
    /// Only if the stored revision is still this one.
    Revision(&'a str),
    /// Only if no object is stored under the key (an insert).
    Absent,
}

fn already_exists(layout: &Layout, key: &str) -> Error {
    Error::new(ErrorKind::Conflict, "an object is already stored under this key").with_table(layout.table.as_ref()).with_key(key)
}

/// Writes `doc` in format 1 over a dynamo-store 0.6 object keyed `key`,
/// deleting every legacy shard item (`legacy`: table, key attribute, key),
/// guarded by `unchanged` on the legacy root: one transaction, or past
/// DynamoDB's limits a staged upgrade (`staged::over_legacy`).
pub(crate) async fn save_over_legacy(
    env: &Env<'_>,
    layout: &Layout,
    doc: Value,
    key: &str,
    legacy: &[(String, String, String)],
    guards: &HashMap<(String, String), Expr>,
    unchanged: Expr,
) -> Result<Saved> {
    let cached = Resolved::cached(layout)?;
    let resolved = cached.borrow_dependent();
    let (doc, key) = prepare(env, layout, doc, Some(key.to_owned()))?;
    resolved.check_shard_keys(&key)?;
    let legacy: Vec<_> = legacy.iter().filter(|(table, _, k)| !(table == layout.table.as_ref() && k == &key)).cloned().collect();
    let write_id = token();
    let mut draft = Draft::new(env, resolved, layout, &key, &doc, &write_id, false)?;
    // Each legacy shard item deleted only if still as read: the package may
    // rewrite a shard under the same key and leave the root as it was.
    let mut writes: Vec<Write> = legacy.iter().map(|item| legacy_delete(item, guards)).collect();
    if draft.fits_one_transaction_with(&writes, &unchanged) {
        let (shard_puts, root) = draft.take();
        writes.extend(shard_puts);
        writes.push(Write::Put { table: layout.table.to_string(), item: root, condition: Some(unchanged.clone()) });
        match send_one(env, layout, &key, writes).await {
            Ok(()) => return Ok(Saved { key, revision: draft.meta.revision }),
            // Applied with its answer lost, the retry failing its guard on
            // the upgrade itself: the root is this upgrade's.
            Err(e) if e.is_conflict() && e.object_may_have_changed() => {
                return match staged::switched_to(env, layout, &key, &write_id, &draft.meta.revision).await {
                    Some(Ok(())) => Ok(Saved { key, revision: draft.meta.revision }),
                    _ => Err(e),
                };
            }
            Err(e) => return Err(e),
        }
    }
    let staged = Draft::new(env, resolved, layout, &key, &doc, &write_id, true)?;
    staged::over_legacy(env, layout, &key, &staged, &legacy, guards, unchanged).await?;
    Ok(Saved { key, revision: staged.meta.revision })
}

/// The delete of a legacy shard item, conditioned on it being as read.
pub(super) fn legacy_delete((table, key_name, k): &ItemKey, guards: &HashMap<(String, String), Expr>) -> Write {
    Write::Delete { table: table.clone(), key: key_item(key_name, k), condition: guards.get(&(table.clone(), k.clone())).cloned() }
}

/// Checks the document and settles its key.
fn prepare(env: &Env<'_>, layout: &Layout, doc: Value, key: Option<String>) -> Result<(Value, String)> {
    // Named by the key when the caller gave one (a generated key is not
    // settled yet).
    let with_key = |e: Error| match &key {
        Some(k) => e.with_key(k.as_str()),
        None => e,
    };
    let Value::Object(mut body) = doc else {
        return Err(with_key(invalid_document(layout, "a document is a JSON object")));
    };
    body.remove(META);
    if body.contains_key(layout.key.as_ref()) {
        let path = PlainPath::root().child(Step::Field(layout.key.to_string()));
        return Err(with_key(
            invalid_document(layout, "the document has a field named like the key attribute").with_path(path.to_string()),
        ));
    }
    let doc = Value::Object(body);
    let key = match key {
        Some(k) => k,
        None => env.loader.generate_pk(&doc).unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    check_key(layout, &key)?;
    Ok((doc, key))
}

fn invalid_document(layout: &Layout, detail: &str) -> Error {
    Error::new(ErrorKind::InvalidDocument, detail.to_owned()).with_table(layout.table.as_ref())
}

/// A save's items (table, item, size in bytes as DynamoDB counts it),
/// deepest first and the root last, and the large leaves the root records.
pub(super) type Encoded = (Vec<(String, Item, usize)>, BTreeMap<String, chunk::Recorded>);

/// The items of a plan, deepest first and the root last, with keys and
/// metadata, each checked against the item size limit; leaves too large
/// for their item go to chunk items (placed before it). Also the chunk
/// counts of those leaves, by full path, which the root records.
pub(super) fn encode_items(
    env: &Env<'_>,
    (rules, recorded): (&Rules, &format::Recorded),
    layout: &Layout,
    keys: Keys<'_>,
    parts: Vec<Part<'_>>,
    meta: &RootMeta,
    doc: &Value,
) -> Result<Encoded> {
    let key = keys.root;
    let codec = Codec { loader: env.loader, rules, raw: false, ivs: Default::default(), sealed_before: env.sealed_before };
    let root_region = layout.region.as_deref().or(env.region);
    let mut puts = Vec::with_capacity(parts.len());
    let mut all_chunks = BTreeMap::new();
    let shape = &recorded.shape;
    // Each part's body moves into its item: no copy of the document.
    for part in parts.into_iter().rev() {
        let part_layout = part.node.layout;
        check_reserved(part_layout, &part.path, &part.body).map_err(|e| e.with_key(key))?;
        let site = Site { table: &part_layout.table, root_key: key };
        let mut item = codec
            .encode_body(site, &part.node.shards, &part.path, part.body, doc)
            .map_err(|e| e.with_table(part_layout.table.as_ref()).with_key(key))?;
        let mut own_chunks = BTreeMap::new();
        for leaf in chunk::spill(&mut item, &part.path, &[]) {
            if part_layout.key == chunk::DATA {
                // A chunk item holds its piece under `data`, beside its key.
                return Err(Error::new(
                    ErrorKind::InvalidKey,
                    format!(
                        "the leaf is too large for its item and goes to chunk items, which hold their piece in an attribute named `{}`: the table's key attribute has that name, so this table cannot hold chunk items (docs/FORMAT.md, \"Large leaves\")",
                        chunk::DATA
                    ),
                )
                .with_table(part_layout.table.as_ref())
                .with_key(key)
                .with_path(leaf.path.to_string()));
            }
            let leaf_key = keys.at(&leaf.path);
            let last_key = chunk::chunk_key(&leaf_key, leaf.pieces.len().saturating_sub(1));
            if last_key.len() > crate::shard::MAX_KEY_BYTES {
                return Err(Error::new(
                    ErrorKind::InvalidKey,
                    format!(
                        "the leaf is too large for its item, and its chunk items' keys (root key, `#`, path, `#c`, index) would be {} bytes, over DynamoDB's {}: shorten the key or the names on the path",
                        last_key.len(),
                        crate::shard::MAX_KEY_BYTES
                    ),
                )
                .with_table(part_layout.table.as_ref())
                .with_key(key)
                .with_path(leaf.path.to_string()));
            }
            own_chunks.insert(leaf.path.to_string(), leaf.recorded.clone());
            for (i, piece) in leaf.pieces.into_iter().enumerate() {
                let chunk: Item = [
                    (part_layout.key.to_string(), AttributeValue::S(chunk::chunk_key(&leaf_key, i))),
                    (chunk::DATA.to_owned(), piece),
                    (META.to_owned(), to_attr(chunk_meta(&meta.write_id, key, &leaf.path, i))),
                ]
                .into();
                let bytes = item_size(&chunk);
                puts.push((part_layout.table.to_string(), chunk, bytes));
            }
        }
        all_chunks.extend(own_chunks.clone());
        let meta_attr = if part.path.steps.is_empty() {
            meta.to_attr_with(recorded, root_region, &all_chunks, &meta.stale)
        } else {
            to_attr(shard_meta(&meta.write_id, shape, key, &part.path, &own_chunks))
        };
        item.insert(META.to_owned(), meta_attr);
        item.insert(part_layout.key.to_string(), AttributeValue::S(part.key));
        let bytes = check_size(part_layout, &part.path, key, &item)?;
        puts.push((part_layout.table.to_string(), item, bytes));
    }
    let total: usize = puts.iter().map(|(_, _, bytes)| bytes).sum();
    if total > chunk::MAX_OBJECT_BYTES {
        return Err(Error::new(
            ErrorKind::ItemTooLarge,
            format!(
                "the object would take {total} bytes of items, over dystore's limit of {} MiB per object",
                chunk::MAX_OBJECT_BYTES >> 20
            ),
        )
        .with_table(layout.table.as_ref())
        .with_key(key));
    }
    Ok((puts, all_chunks))
}

/// Refuses a shard object holding a field named like its table's key
/// attribute or like dystore's metadata: either would be overwritten.
fn check_reserved(layout: &Layout, path: &PlainPath, body: &Map<String, Value>) -> Result<()> {
    if path.steps.is_empty() {
        // The root's were checked (key) and dropped (metadata) by `prepare`.
        return Ok(());
    }
    for name in [layout.key.as_ref(), META] {
        if body.contains_key(name) {
            let what = if name == META { "dystore's metadata" } else { "the shard table's key attribute" };
            return Err(invalid_document(layout, &format!("the shard has a field named like {what}"))
                .with_path(path.child(Step::Field(name.to_owned())).to_string()));
        }
    }
    Ok(())
}

/// Deletes of the items this save does not rewrite (`written`, by table
/// and key): absent optional shards (`absent`), every shard item of the
/// stored object (`old`, in the shape and keys it was stored with), and
/// every item its root records as owed deletion.
fn stale_deletes(key: &str, written: &HashSet<(String, String)>, absent: &[ItemKey], old: Option<&Root>) -> Result<Vec<Write>> {
    let mut stale: Vec<ItemKey> = absent.to_vec();
    if let Some(old) = old {
        if let Root::Object(meta) = old {
            stale.extend(meta.items(key)?);
        }
        for (id, entry) in old.stale() {
            stale.extend(entry_items(id, entry, key)?);
        }
    }
    let mut seen = HashSet::new();
    Ok(stale
        .into_iter()
        .filter(|(t, _, k)| !written.contains(&(t.clone(), k.clone())) && seen.insert((t.clone(), k.clone())))
        .map(|(t, key_name, k)| Write::Delete { key: key_item(&key_name, &k), table: t, condition: None })
        .collect())
}

/// Refuses an item over 400 KB, naming its largest top-level attribute;
/// else its size in bytes.
fn check_size(layout: &Layout, base: &PlainPath, key: &str, item: &Item) -> Result<usize> {
    let total = item_size(item);
    if total <= MAX_ITEM_BYTES {
        return Ok(total);
    }
    let largest = item.iter().max_by_key(|(k, v)| k.len() + size(v)).map(|(k, _)| k.clone()).unwrap_or_default();
    if largest == META {
        // The records of leaves moved to chunk items (or of shards) fill
        // the item: the remedy is a shard for part of the document.
        return Err(Error::new(
            ErrorKind::ItemTooLarge,
            format!(
                "the item would be {total} bytes, over DynamoDB's {MAX_ITEM_BYTES}, its metadata being the largest part: too many leaves were too large for the item (each moved to chunk items is recorded there); make part of the document a shard"
            ),
        )
        .with_table(layout.table.as_ref())
        .with_key(key)
        .with_path(base.to_string()));
    }
    Err(Error::new(
        ErrorKind::ItemTooLarge,
        format!("the item would be {total} bytes, over DynamoDB's {MAX_ITEM_BYTES}; make its largest part a shard"),
    )
    .with_table(layout.table.as_ref())
    .with_key(key)
    .with_path(base.child(Step::Field(largest)).to_string()))
}
