//! Loading a whole object: the root and its shards in one batched read
//! (list shards may take a second), checked for a save in progress, and
//! assembled by the shape recorded in the root.

use super::legacy::load_legacy;
use super::stale::ItemKey;
use super::{Env, batch::batch_get_all, batch::batch_get_partial, check_key, not_found, operation, stored_node};
use crate::backend::{Backoff, Item};
use crate::chunk::{self, ChunkedLeaf, chunked_leaves};
use crate::codec::{Codec, Site};
use crate::error::{Error, ErrorKind, Result};
use crate::format::legacy::is_legacy_meta;
use crate::format::{self, META, Root, RootMeta, attr_ref};
use crate::layout::Layout;
use crate::path::{PlainPath, Step};
use crate::shard::{all_shard_keys, deterministic_keys, slot_mut};
use crate::tree::{Cached, Node, Resolved};
use crate::value::to_json;
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// How many times a load retries after catching a save in progress.
const LOAD_ATTEMPTS: usize = 8;

/// An object read back: its fields and its root metadata.
pub(crate) struct Loaded {
    pub(crate) body: Map<String, Value>,
    /// `None` for an object written by dynamo-store 0.6.
    pub(crate) meta: Option<RootMeta>,
    /// The metadata entry as stored, for loaders that keep it (`null` for
    /// others, when the load did not need it as JSON).
    pub(crate) meta_value: Value,
}

/// A torn read: items of different saves, or a reference to an item not
/// (yet) written.
pub(crate) struct Torn;

/// Loads the object keyed `key`: the root, and with `resolve` every shard.
/// `layout` predicts shard keys so that one request usually suffices; the
/// shape actually followed is the one recorded in the root, and the rules
/// that say which leaves must be ciphertexts are `layout`'s.
pub(crate) async fn load(env: &Env<'_>, layout: &Layout, key: &str, resolve: bool, raw: bool) -> Result<Loaded> {
    operation(env, "load", layout, Some(key), false, load_now(env, layout, key, resolve, raw)).await
}

async fn load_now(env: &Env<'_>, layout: &Layout, key: &str, resolve: bool, raw: bool) -> Result<Loaded> {
    let cached = Resolved::cached(layout)?;
    let resolved = cached.borrow_dependent();
    check_key(layout, key)?;
    resolved.check_shard_keys(key)?;
    let mut backoff = Backoff::new(env.policy);
    for _ in 0..LOAD_ATTEMPTS {
        match try_load(env, resolved, key, resolve, raw).await? {
            Ok(loaded) => return Ok(loaded),
            Err(Torn) => {
                if !backoff.again("read caught a save in progress").await {
                    break;
                }
            }
        }
    }
    Err(Error::new(ErrorKind::Inconsistent, "items of different saves kept being read").with_table(layout.table.as_ref()).with_key(key))
}

pub(crate) type Fetched = HashMap<(String, String), Item>;

async fn try_load(env: &Env<'_>, resolved: &Resolved<'_>, key: &str, resolve: bool, raw: bool) -> Result<Result<Loaded, Torn>> {
    let wanted = first_keys(resolved, key, resolve);
    let (mut fetched, read) = batch_get_partial(env.backend, env.policy, &wanted).await;
    read.map_err(|e| undone_by_root(resolved, key, resolve, &fetched, e).with_key(key))?;
    let more = match begin(env, resolved, key, resolve, raw, &wanted, &mut fetched).await? {
        Begun::Done(loaded) => return Ok(Ok(loaded)),
        Begun::More(more) => more,
    };
    if !more.unfetched.is_empty() {
        fetched.extend(batch_get_all(env.backend, env.policy, &more.unfetched).await.map_err(|e| e.with_key(key))?);
    }
    finish(env, resolved, key, resolve, raw, more, fetched).await
}

/// The items a load of `key` reads first: the root, and with `resolve` the
/// shard items `resolved` predicts (every shard but list elements).
pub(crate) fn first_keys(resolved: &Resolved<'_>, key: &str, resolve: bool) -> Vec<ItemKey> {
    let layout = resolved.root.layout;
    let mut wanted = vec![(layout.table.to_string(), layout.key.to_string(), key.to_owned())];
    if resolve {
        for branch in resolved.root.shards.iter().filter(|b| !b.list) {
            let keys = deterministic_keys(&branch.node, key, &branch.at);
            wanted.extend(keys.into_iter().map(|(l, k)| (l.table.to_string(), l.key.to_string(), k)));
        }
    }
    wanted
}

/// Where a load stands after its first read.
pub(crate) enum Begun {
    /// Read whole (an object written by dynamo-store 0.6, read by its own
    /// reader).
    Done(Loaded),
    /// The root is read; `unfetched` are the items its metadata names that
    /// the first read did not have.
    More(More),
}

pub(crate) struct More {
    root: Item,
    meta: RootMeta,
    meta_value: Value,
    /// The shard tree the root records, and its large leaves
    /// ([`stored_shape`]), worked out once for both steps.
    stored: (Arc<Cached>, Vec<ChunkedLeaf>),
    pub(crate) unfetched: Vec<ItemKey>,
}

/// Takes the root of `key` out of `fetched` (the first read, which asked
/// for `asked`) and says what else its metadata names; `NotFound` for no
/// root or a tombstone. An item the first read asked for and did not get is
/// not asked again: it is absent (an optional shard left out), or, if the
/// root references it, [`finish`] follows the reference and finds the read
/// torn.
pub(crate) async fn begin(
    env: &Env<'_>,
    resolved: &Resolved<'_>,
    key: &str,
    resolve: bool,
    raw: bool,
    asked: &[ItemKey],
    fetched: &mut Fetched,
) -> Result<Begun> {
    let layout = resolved.root.layout;
    let Some(mut root) = fetched.remove(&(layout.table.to_string(), key.to_owned())) else {
        return Err(not_found(layout, key));
    };
    let meta_attr = root.remove(META).ok_or_else(|| {
        Error::new(ErrorKind::Format, format!("the item has no `{META}`")).with_table(layout.table.as_ref()).with_key(key)
    })?;
    if is_legacy_meta(&meta_attr) {
        let body = load_legacy(env, layout, key, root, &meta_attr, resolve, raw).await?;
        let meta_value = to_json(meta_attr)?;
        return Ok(Begun::Done(Loaded { body, meta: None, meta_value }));
    }
    let (meta_value, root_state) = Root::decode_expecting(meta_attr, layout, &resolved.recorded, env.loader.keep_metadata())
        .map_err(|e| e.with_table(layout.table.as_ref()).with_key(key))?;
    // A tombstone: the object was deleted, or its first save has not finished.
    let Some(meta) = root_state.object() else { return Err(not_found(layout, key)) };
    root.remove(layout.key.as_ref());
    // The root's metadata gives every list length and large leaf, so every
    // key is known now: one more request fetches all that the first missed.
    let stored = stored_shape(layout, &meta, key, resolve)?;
    let unfetched: Vec<_> = named_items(&stored, &meta, key, resolve)
        .into_iter()
        .filter(|item| !fetched.contains_key(&(item.0.clone(), item.2.clone())) && !asked.contains(item))
        .collect();
    Ok(Begun::More(More { root, meta, meta_value, stored, unfetched }))
}

/// Every item the root metadata `meta` of the object keyed `key` names
/// besides the root: with `resolve` its shard items, and the chunk items
/// of its large leaves (without, the root's own large leaves' only).
/// (`stored`: the root's [`stored_shape`].)
fn named_items((stored, leaves): &(Arc<Cached>, Vec<ChunkedLeaf>), meta: &RootMeta, key: &str, resolve: bool) -> Vec<ItemKey> {
    let mut known = Vec::new();
    if resolve {
        all_shard_keys(&stored.borrow_dependent().root, meta.keys(key), &PlainPath::root(), &meta.lists, &mut known);
    }
    known
        .into_iter()
        .map(|(l, k)| (l.table.to_string(), l.key.to_string(), k))
        .chain(leaves.iter().flat_map(|leaf| leaf.keys.iter().map(|k| (leaf.table.clone(), leaf.key_name.clone(), k.clone()))))
        .collect()
}

/// `e`, the failure of a load's first read, naming as undone what a load
/// of `key` would have read and did not: once the first read got the root,
/// every item the root names that was not read (the keys of the read after
/// the first, never sent, included; keys the first read only guessed at,
/// which the root does not name, left out), else the first read's keys
/// not read.
pub(crate) fn undone_by_root(resolved: &Resolved<'_>, key: &str, resolve: bool, fetched: &Fetched, e: Error) -> Error {
    let layout = resolved.root.layout;
    let Some(meta) = fetched.get(&(layout.table.to_string(), key.to_owned())).and_then(|root| root.get(META)) else { return e };
    // A dynamo-store 0.6 root names its items otherwise; a tombstone none.
    if is_legacy_meta(meta) {
        return e;
    }
    let Some(meta) = Root::decode(meta.clone()).ok().and_then(|(_, root)| root.object()) else { return e };
    let Ok(stored) = stored_shape(layout, &meta, key, resolve) else { return e };
    let named = named_items(&stored, &meta, key, resolve);
    let undone = named
        .into_iter()
        .filter(|(table, _, k)| !fetched.contains_key(&(table.clone(), k.clone())))
        .map(|(table, _, k)| format!("{table}/{k}"));
    let undone = undone.collect();
    e.with_undone(undone)
}

/// The shard tree recorded in a root, and the large leaves it records
/// (with `resolve`, all of them; else the root item's own).
fn stored_shape(layout: &Layout, meta: &RootMeta, key: &str, resolve: bool) -> Result<(Arc<Cached>, Vec<ChunkedLeaf>)> {
    let stored = stored_node(&meta.layout, key)?;
    let mut leaves = chunked_leaves(&stored.borrow_dependent().root, meta.keys(key), &meta.chunks)
        .map_err(|e| e.with_table(layout.table.as_ref()).with_key(key))?;
    if !resolve {
        leaves.retain(|leaf| leaf.base.steps.is_empty());
    }
    Ok((stored, leaves))
}

/// Assembles the object begun by [`begin`] from `fetched` (which holds the
/// items it named); torn if they are of different saves.
pub(crate) async fn finish(
    env: &Env<'_>,
    resolved: &Resolved<'_>,
    key: &str,
    resolve: bool,
    raw: bool,
    more: More,
    mut fetched: Fetched,
) -> Result<Result<Loaded, Torn>> {
    let layout = resolved.root.layout;
    let More { mut root, meta, meta_value, stored: (stored, leaves), .. } = more;
    let stored = &stored.borrow_dependent().root;
    let site = Site { table: &layout.table, root_key: key };
    let context = |e: Error| e.with_table(layout.table.as_ref()).with_key(key);
    if put_back(&mut root, &PlainPath::root(), &leaves, &mut fetched, &meta.write_id).map_err(context)?.is_err() {
        return Ok(Err(Torn));
    }
    if resolve {
        // References are still followed, for objects whose stored counts
        // and references disagree (a save in progress): then it is torn.
        let mut rounds = 0;
        loop {
            let missing = missing_refs(stored, &root, &fetched);
            if missing.is_empty() {
                break;
            }
            rounds += 1;
            let more = batch_get_all(env.backend, env.policy, &missing).await.map_err(|e| e.with_key(key))?;
            if more.len() < missing.len() || rounds > 64 {
                return Ok(Err(Torn));
            }
            fetched.extend(more);
        }
    }
    let codec = Codec { loader: env.loader, rules: &resolved.rules, raw, ivs: Default::default(), sealed_before: env.sealed_before };
    let mut body = codec.decode_body(site, &stored.shards, &PlainPath::root(), root)?;
    if resolve {
        let mut ctx = Assembly { codec: &codec, fetched: &mut fetched, root_key: key, write_id: &meta.write_id, leaves: &leaves };
        if ctx.attach(stored, &PlainPath::root(), &mut body)?.is_err() {
            return Ok(Err(Torn));
        }
    }
    Ok(Ok(Loaded { body, meta: Some(meta), meta_value }))
}

/// The (table, key attribute, key) of every referenced item not yet fetched,
/// found by following references from `item` through `node`.
fn missing_refs(node: &Node<'_>, item: &Item, fetched: &Fetched) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for branch in &node.shards {
        let Some(slot) = branch.at.find_in_item(item) else { continue };
        let refs: Vec<&AttributeValue> = match slot {
            AttributeValue::L(items) if branch.list => items.iter().collect(),
            other => vec![other],
        };
        for r in refs.into_iter().filter_map(attr_ref) {
            match fetched.get(&(r.table.clone(), r.key.clone())) {
                Some(child) => out.extend(missing_refs(&branch.node, child, fetched)),
                None => out.push((r.table, branch.node.layout.key.to_string(), r.key)),
            }
        }
    }
    out
}

/// Replaces references in decoded bodies with the shard objects they name.
struct Assembly<'a, 'c> {
    codec: &'a Codec<'c>,
    fetched: &'a mut Fetched,
    root_key: &'a str,
    write_id: &'a str,
    /// Leaves stored in chunk items, put back into their items.
    leaves: &'a [ChunkedLeaf],
}

impl Assembly<'_, '_> {
    fn attach(&mut self, node: &Node<'_>, base: &PlainPath, body: &mut Map<String, Value>) -> Result<Result<(), Torn>> {
        for branch in &node.shards {
            let Some(slot) = slot_mut(body, &branch.at) else { continue };
            let full = base.join(&branch.at);
            if branch.list {
                let Value::Array(items) = slot else { continue };
                for (i, element) in items.iter_mut().enumerate() {
                    if let Err(torn) = self.resolve(&branch.node, &full.child(Step::Index(i)), element)? {
                        return Ok(Err(torn));
                    }
                }
            } else if let Err(torn) = self.resolve(&branch.node, &full, slot)? {
                return Ok(Err(torn));
            }
        }
        Ok(Ok(()))
    }

    fn resolve(&mut self, node: &Node<'_>, path: &PlainPath, slot: &mut Value) -> Result<Result<(), Torn>> {
        let Some(r) = format::as_ref(slot) else { return Ok(Ok(())) };
        let Some(mut item) = self.fetched.remove(&(r.table.clone(), r.key.clone())) else { return Ok(Err(Torn)) };
        let meta = item.remove(META);
        let write_id = meta
            .as_ref()
            .map(format::write_id_of_attr)
            .transpose()
            .map_err(|e| e.with_table(r.table.clone()).with_path(path.to_string()))?;
        if write_id != Some(self.write_id) {
            return Ok(Err(Torn));
        }
        item.remove(node.layout.key.as_ref());
        let placed = put_back(&mut item, path, self.leaves, self.fetched, self.write_id)
            .map_err(|e| e.with_table(r.table.clone()).with_key(self.root_key))?;
        if placed.is_err() {
            return Ok(Err(Torn));
        }
        let site = Site { table: &r.table, root_key: self.root_key };
        let mut body = self.codec.decode_body(site, &node.shards, path, item)?;
        if let Err(torn) = self.attach(node, path, &mut body)? {
            return Ok(Err(torn));
        }
        *slot = Value::Object(body);
        Ok(Ok(()))
    }
}

/// Puts back into `item` (the item of the object at `base`) the leaves of
/// `leaves` it holds, from their chunk items in `fetched`; torn if a chunk
/// is missing or of another save than `write_id`.
fn put_back(item: &mut Item, base: &PlainPath, leaves: &[ChunkedLeaf], fetched: &mut Fetched, write_id: &str) -> Result<Result<(), Torn>> {
    for leaf in leaves.iter().filter(|leaf| &leaf.base == base) {
        let mut pieces = Vec::with_capacity(leaf.keys.len());
        for key in &leaf.keys {
            let Some(mut piece) = fetched.remove(&(leaf.table.clone(), key.clone())) else { return Ok(Err(Torn)) };
            let meta = piece.remove(META);
            if meta.as_ref().map(format::write_id_of_attr).transpose()? != Some(write_id) {
                return Ok(Err(Torn));
            }
            let data = piece
                .remove(crate::chunk::DATA)
                .ok_or_else(|| Error::new(ErrorKind::Format, "a chunk item holds no `data`").with_path(base.join(&leaf.rel).to_string()))?;
            pieces.push(data);
        }
        let path = base.join(&leaf.rel).to_string();
        let joined = chunk::join_checked(pieces, &leaf.recorded).map_err(|e| e.with_path(path.clone()))?;
        chunk::splice(item, &leaf.rel, joined).map_err(|e| e.with_path(path))?;
    }
    Ok(Ok(()))
}
