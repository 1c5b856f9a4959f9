//! Saving a whole object: split by its layout, encode and measure every
//! item, then one transaction (several past DynamoDB's limits), guarded by
//! the stored shape or the revision read.

use super::transact::{fits_one_transaction, transact};
use super::{Env, RACE_ATTEMPTS, check_key, conflict, key_item, read_meta, stored_node};
use crate::backend::Backoff;
use crate::backend::{Expr, Item, Write};
use crate::codec::{Codec, Site};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, Guard, META, RootMeta, shard_meta, token};
use crate::layout::Layout;
use crate::path::{PlainPath, Step};
use crate::rules::Rules;
use crate::shard::{Plan, all_shard_keys, check_shard_keys, split};
use crate::tree::Resolved;
use crate::value::{MAX_ITEM_BYTES, item_size, size, to_attr};
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// What a save wrote.
#[derive(Debug)]
pub(crate) struct Saved {
    pub(crate) key: String,
    pub(crate) revision: String,
}

/// Saves `doc` under `key` (or a key from the loader, else a UUID v4); with
/// `when`, only if the object is absent or still at a revision.
///
/// The stored state is read first only when it decides what to delete:
/// with list shards (elements a shorter list no longer has), or when the
/// object was stored in another shape than `layout`'s (its shard items are
/// all deleted unless rewritten). Without lists the save is guarded by the
/// stored shape instead, and falls back to reading when that guard fails.
pub(crate) async fn save(env: &Env<'_>, layout: &Layout, doc: Value, key: Option<String>, when: When<'_>) -> Result<Saved> {
    let expect = match when {
        When::Revision(revision) => Some(revision),
        When::Always | When::Absent => None,
    };
    let create = matches!(when, When::Absent);
    let resolved = Resolved::new(layout)?;
    let (doc, key) = prepare(env, layout, doc, key)?;
    check_shard_keys(&resolved.root, &key)?;
    let body = doc.as_object().cloned().unwrap_or_default();
    let plan = split(&resolved.root, &key, env.region, body).map_err(|e| e.with_key(key.clone()))?;
    let meta = RootMeta { write_id: token(), revision: token(), layout: layout.clone(), lists: plan.lists.clone() };
    // Everything is encoded and measured before the first request.
    let puts = encode_items(env, &resolved.rules, layout, &key, &plan, &meta, &doc)?;
    let shape = format::shape_of(layout);

    let mut read_first = resolved.root.has_lists();
    let mut backoff = Backoff::new(env.policy);
    for _ in 0..RACE_ATTEMPTS {
        let old = if read_first { read_meta(env, layout, &key).await? } else { None };
        let guard = match (expect, &old) {
            _ if create && old.is_some() => return Err(already_exists(layout, &key)),
            _ if create => Guard::Absent,
            (Some(expect), Some(old)) if old.revision != expect => return Err(conflict(layout, &key)),
            (Some(expect), _) => Guard::Revision(expect),
            (None, Some(old)) => Guard::Revision(&old.revision),
            (None, None) if read_first => Guard::Absent,
            (None, None) => Guard::AbsentOrShape(&shape),
        };
        let mut writes = stale_deletes(&key, &plan, old.as_ref())?;
        // `puts` is deepest first and ends with the root, the order a
        // multi-request save must keep.
        let (root, shards) = puts.split_last().expect("a plan always has its root part");
        writes.extend(shards.iter().map(|(table, item)| Write::Put { table: table.clone(), item: item.clone(), condition: None }));
        let condition = guard.condition(&layout.key);
        writes.push(Write::Put { table: root.0.clone(), item: root.1.clone(), condition: Some(condition.clone()) });
        match transact(env, layout, &key, writes, Some(condition)).await {
            Ok(()) => return Ok(Saved { key, revision: meta.revision }),
            // The guard failed: another writer, or another shape. Read the
            // stored state and go again. A versioned save is guarded by its
            // revision alone, so its conflict is final at once.
            Err(e) if e.is_conflict() && create => return Err(already_exists(layout, &key)),
            Err(e) if e.is_conflict() && expect.is_none() => {
                if read_first && !backoff.wait().await {
                    return Err(e);
                }
                read_first = true;
            }
            Err(e) => return Err(e),
        }
    }
    Err(conflict(layout, &key))
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

/// Writes `doc` in format 1 over a dynamo-store 0.6 object keyed `key`, in
/// one transaction that also deletes every legacy shard item (`legacy`:
/// table, key attribute, key), guarded by `unchanged` on the legacy root.
pub(crate) async fn save_over_legacy(
    env: &Env<'_>,
    layout: &Layout,
    doc: Value,
    key: &str,
    legacy: &[(String, String, String)],
    unchanged: Expr,
) -> Result<Saved> {
    let resolved = Resolved::new(layout)?;
    let (doc, key) = prepare(env, layout, doc, Some(key.to_owned()))?;
    check_shard_keys(&resolved.root, &key)?;
    let body = doc.as_object().cloned().unwrap_or_default();
    let plan = split(&resolved.root, &key, env.region, body).map_err(|e| e.with_key(key.clone()))?;
    let meta = RootMeta { write_id: token(), revision: token(), layout: layout.clone(), lists: plan.lists.clone() };
    let puts = encode_items(env, &resolved.rules, layout, &key, &plan, &meta, &doc)?;
    let mut writes: Vec<Write> = legacy
        .iter()
        .filter(|(table, _, k)| !(table == layout.table.as_ref() && k == &key))
        .map(|(table, key_name, k)| Write::Delete { table: table.clone(), key: key_item(key_name, k), condition: None })
        .collect();
    let (root, shards) = puts.split_last().expect("a plan always has its root part");
    writes.extend(shards.iter().map(|(table, item)| Write::Put { table: table.clone(), item: item.clone(), condition: None }));
    writes.push(Write::Put { table: root.0.clone(), item: root.1.clone(), condition: Some(unchanged.clone()) });
    if !fits_one_transaction(&writes) {
        return Err(Error::new(
            ErrorKind::ItemTooLarge,
            "the upgrade would take more than one transaction (100 items or 4 MB): objects this large are not upgraded yet",
        )
        .with_table(layout.table.as_ref())
        .with_key(key));
    }
    transact(env, layout, &key, writes, Some(unchanged)).await?;
    Ok(Saved { key, revision: meta.revision })
}

/// Checks the document and settles its key.
fn prepare(env: &Env<'_>, layout: &Layout, doc: Value, key: Option<String>) -> Result<(Value, String)> {
    let Value::Object(mut body) = doc else {
        return Err(invalid_document(layout, "a document is a JSON object"));
    };
    body.remove(META);
    if body.contains_key(layout.key.as_ref()) {
        return Err(
            invalid_document(layout, "the document has a field named like the key attribute").with_path(format!("$.{}", layout.key))
        );
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

/// The items of a plan, deepest first and the root last, with keys and
/// metadata, each checked against the item size limit.
fn encode_items(
    env: &Env<'_>,
    rules: &Rules,
    layout: &Layout,
    key: &str,
    plan: &Plan<'_>,
    meta: &RootMeta,
    doc: &Value,
) -> Result<Vec<(String, Item)>> {
    let codec = Codec { loader: env.loader, rules, raw: false };
    let root_region = layout.region.as_deref().or(env.region);
    let mut puts = Vec::with_capacity(plan.parts.len());
    let shape = format::shape_of(layout);
    for part in plan.parts.iter().rev() {
        let part_layout = part.node.layout;
        check_reserved(part_layout, &part.path, &part.body).map_err(|e| e.with_key(key))?;
        let site = Site { table: &part_layout.table, root_key: key };
        let mut item = codec
            .encode_body(site, &part.node.shards, &part.path, part.body.clone(), doc)
            .map_err(|e| e.with_table(part_layout.table.as_ref()).with_key(key))?;
        let meta_value =
            if part.path.steps.is_empty() { meta.to_value(root_region) } else { shard_meta(&meta.write_id, &shape, key, &part.path) };
        item.insert(META.to_owned(), to_attr(meta_value));
        item.insert(part_layout.key.to_string(), AttributeValue::S(part.key.clone()));
        check_size(part_layout, &part.path, key, &item)?;
        puts.push((part_layout.table.to_string(), item));
    }
    Ok(puts)
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

/// Deletes of the shard items this save does not rewrite: absent optional
/// shards, and every shard item of the stored object (`old`, in the shape
/// it was stored in) that this save does not write.
fn stale_deletes(key: &str, plan: &Plan<'_>, old: Option<&RootMeta>) -> Result<Vec<Write>> {
    let written: HashSet<(&str, &str)> = plan.parts.iter().map(|p| (p.node.layout.table.as_ref(), p.key.as_str())).collect();
    let mut stale: Vec<(String, String, String)> =
        plan.absent.iter().map(|(l, k)| (l.table.to_string(), l.key.to_string(), k.clone())).collect();
    if let Some(old) = old {
        let stored = stored_node(&old.layout, key)?;
        let mut keys = Vec::new();
        all_shard_keys(&stored, key, &PlainPath::root(), &old.lists, &mut keys);
        stale.extend(keys.into_iter().map(|(l, k)| (l.table.to_string(), l.key.to_string(), k)));
    }
    let mut seen = HashSet::new();
    Ok(stale
        .into_iter()
        .filter(|(t, _, k)| !written.contains(&(t.as_str(), k.as_str())) && seen.insert((t.clone(), k.clone())))
        .map(|(t, key_name, k)| Write::Delete { key: key_item(&key_name, &k), table: t, condition: None })
        .collect())
}

/// Refuses an item over 400 KB, naming its largest top-level attribute.
fn check_size(layout: &Layout, base: &PlainPath, key: &str, item: &Item) -> Result<()> {
    let total = item_size(item);
    if total <= MAX_ITEM_BYTES {
        return Ok(());
    }
    let largest = item.iter().max_by_key(|(k, v)| k.len() + size(v)).map(|(k, _)| k.clone()).unwrap_or_default();
    Err(Error::new(
        ErrorKind::ItemTooLarge,
        format!("the item would be {total} bytes, over DynamoDB's {MAX_ITEM_BYTES}; make its largest part a shard"),
    )
    .with_table(layout.table.as_ref())
    .with_key(key)
    .with_path(base.child(Step::Field(largest)).to_string()))
}
