//! Reading an object written by dynamo-store 0.6: the root found by the
//! same first request as any load, then its shard items level by level (one
//! batched read per level: the package gave shards random keys, so a level
//! is known only once its parents are read), then every leaf decoded as the
//! package returned it: ciphertexts opened with the loader's keys (asked in
//! the package's own path form) and given back as strings, other values as
//! stored.

use super::Env;
use super::batch::batch_get_all;
use crate::backend::Item;
use crate::crypto::{self, open_legacy};
use crate::error::{Error, ErrorKind, Result};
use crate::format::META;
use crate::format::legacy::{LegacyShard, is_legacy_meta, never_encrypted, package_path, reference, shards_of, unchanged};
use crate::layout::Layout;
use crate::path::{PlainPath, Step};
use crate::value::to_json;
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A shard item to fetch: where it goes, what it is, and its key.
pub(crate) struct Pending<'s> {
    pub(crate) at: PlainPath,
    pub(crate) shard: &'s LegacyShard,
    pub(crate) key: String,
}

/// A legacy object read whole.
pub(crate) struct LegacyRead {
    /// The document, as the package returned it.
    pub(crate) body: Map<String, Value>,
    /// Every shard item read: (table, key attribute, key).
    pub(crate) shard_items: Vec<(String, String, String)>,
    /// For each shard item read, by (table, key), a condition that holds
    /// while it is still as read.
    pub(crate) guards: HashMap<(String, String), crate::backend::Expr>,
    /// Every leaf that was a package ciphertext, opened: its path in the
    /// document and its plaintext.
    pub(crate) opened: Vec<(PlainPath, String)>,
}

/// The document of the legacy root `root` (its key attribute still in it),
/// whose metadata attribute was `meta`; with `resolve`, its shards put
/// back; with `raw`, ciphertexts returned as stored.
pub(crate) async fn load_legacy(
    env: &Env<'_>,
    layout: &Layout,
    key: &str,
    root: Item,
    meta: &AttributeValue,
    resolve: bool,
    raw: bool,
) -> Result<Map<String, Value>> {
    read_legacy(env, layout, key, root, meta, resolve, raw).await.map(|read| read.body)
}

/// As [`load_legacy`], with the shard items it read.
pub(crate) async fn read_legacy(
    env: &Env<'_>,
    layout: &Layout,
    key: &str,
    mut root: Item,
    meta: &AttributeValue,
    resolve: bool,
    raw: bool,
) -> Result<LegacyRead> {
    let context = |e: Error| e.with_table(layout.table.as_ref()).with_key(key);
    let shards = shards_of(meta).map_err(context)?;
    root.remove(layout.key.as_ref());
    let mut body = AttributeValue::M(root);
    // The table each shard's subtree came from, for errors.
    let mut tables: HashMap<PlainPath, String> = HashMap::new();
    let mut level = if resolve { places(&body, &PlainPath::root(), &shards).map_err(context)? } else { Vec::new() };
    let mut shard_items = Vec::new();
    let mut guards = HashMap::new();
    while !level.is_empty() {
        let wanted: Vec<(String, String, String)> =
            level.iter().map(|p| (p.shard.table.clone(), p.shard.key_name.clone(), p.key.clone())).collect();
        // Each item once, however many references name it: a transaction
        // may not touch one item twice.
        for w in &wanted {
            if !shard_items.contains(w) {
                shard_items.push(w.clone());
            }
        }
        let fetched = batch_get_all(env.backend, env.policy, &wanted).await.map_err(|e| e.with_key(key))?;
        let mut next = Vec::new();
        for pending in level {
            // Two references may name one item (the package's constant keys).
            let Some(mut item) = fetched.get(&(pending.shard.table.clone(), pending.key.clone())).cloned() else {
                return Err(Error::new(
                    ErrorKind::MissingShard,
                    format!("the shard item `{}` the object refers to is not in its table", pending.key),
                )
                .with_table(pending.shard.table.as_str())
                .with_key(key)
                .with_path(pending.at.to_string()));
            };
            if !item.get(META).is_some_and(is_legacy_meta) {
                return Err(Error::new(ErrorKind::Format, "a shard item the dynamo-store 0.6 object refers to is not in its format")
                    .with_table(pending.shard.table.as_str())
                    .with_key(key)
                    .with_path(pending.at.to_string()));
            }
            // An upgrade deletes the item only if it is still as read.
            guards.insert((pending.shard.table.clone(), pending.key.clone()), unchanged(&item, &pending.shard.key_name));
            item.remove(META);
            item.remove(&pending.shard.key_name);
            let child = AttributeValue::M(item);
            next.extend(places(&child, &pending.at, &pending.shard.shards).map_err(|e| e.with_key(key))?);
            tables.insert(pending.at.clone(), pending.shard.table.clone());
            if let Some(slot) = pending.at.find_attr_mut(&mut body) {
                *slot = child;
            }
        }
        level = next;
    }
    // A reference left in place was not followed: its recorded shard path
    // is one this reader does not take. Never hand it back as data.
    if resolve && let Some(at) = unfollowed(&body, &PlainPath::root()) {
        return Err(context(
            Error::new(ErrorKind::Format, "a dynamo-store 0.6 shard reference whose recorded shard path this reader cannot follow")
                .with_path(at.to_string()),
        ));
    }
    // The package asked its loader with the whole object as stored, its
    // shards put back and its values still encrypted (`data=root`).
    let document = if raw { Value::Null } else { to_json(body.clone()).unwrap_or(Value::Null) };
    let decoder = Decoder { env, layout, key, raw, tables, document, opened: Default::default() };
    match decoder.decode(body, &PlainPath::root(), layout.table.as_ref())? {
        Value::Object(body) => Ok(LegacyRead { body, shard_items, guards, opened: decoder.opened.into_inner() }),
        _ => Err(context(Error::new(ErrorKind::Format, "a dynamo-store 0.6 root item is not a map"))),
    }
}

/// The references the shards of an item (`value`, placed at `base`) point
/// through; a recorded place that holds no reference is skipped, as the
/// package skipped it, and one holding a broken reference is a `Format`
/// error naming it.
pub(crate) fn places<'s>(value: &AttributeValue, base: &PlainPath, shards: &'s [LegacyShard]) -> Result<Vec<Pending<'s>>> {
    let mut found = Vec::new();
    for shard in shards {
        let Some(at) = shard.at.as_ref() else { continue };
        let Some(place) = at.find_attr(value) else { continue };
        let candidates: Vec<(PlainPath, &AttributeValue)> = match (shard.each, place) {
            (true, AttributeValue::L(items)) => items.iter().enumerate().map(|(i, v)| (at.child(Step::Index(i)), v)).collect(),
            (true, _) => continue,
            (false, v) => vec![(at.clone(), v)],
        };
        for (at, v) in candidates {
            let full = base.join(&at);
            let key = reference(v).map_err(|e| e.with_table(shard.table.as_str()).with_path(full.to_string()))?;
            if let Some(key) = key {
                found.push(Pending { at: full, shard, key: key.to_owned() });
            }
        }
    }
    Ok(found)
}

/// Turns an assembled legacy object into JSON, leaf by leaf.
struct Decoder<'a> {
    env: &'a Env<'a>,
    layout: &'a Layout,
    key: &'a str,
    raw: bool,
    tables: HashMap<PlainPath, String>,
    /// The object as the package's loader saw it.
    document: Value,
    /// The leaves opened so far ([`LegacyRead::opened`]).
    opened: std::cell::RefCell<Vec<(PlainPath, String)>>,
}

impl Decoder<'_> {
    fn decode(&self, value: AttributeValue, path: &PlainPath, table: &str) -> Result<Value> {
        let table = self.tables.get(path).map_or(table, String::as_str);
        match value {
            AttributeValue::M(map) => map
                .into_iter()
                .map(|(k, v)| {
                    let child = path.child(Step::Field(k.clone()));
                    Ok((k, self.decode(v, &child, table)?))
                })
                .collect::<Result<Map<_, _>>>()
                .map(Value::Object),
            AttributeValue::L(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| self.decode(v, &path.child(Step::Index(i)), table))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array),
            AttributeValue::B(bytes) => self.leaf(bytes, path, table),
            other => to_json(other).map_err(|e| self.context(e, path, table)),
        }
    }

    /// A Binary leaf: where the loader names a key for its path, a
    /// ciphertext, opened as the package did (giving a string) or refused
    /// with a typed error, never returned as it is; elsewhere data (base64),
    /// unless it has the shape of a package ciphertext (then `MissingKey`).
    fn leaf(&self, bytes: Vec<u8>, path: &PlainPath, table: &str) -> Result<Value> {
        let theirs = package_path(path);
        if self.raw || never_encrypted(&theirs, &self.layout.key) {
            return to_json(AttributeValue::B(bytes));
        }
        let loader = self.env.loader;
        let missing = |detail: &str| self.context(Error::new(ErrorKind::MissingKey, detail.to_owned()), path, table);
        let Some(key_id) = loader.key_for(&theirs, &self.document) else {
            if !crypto::is_legacy(&bytes) {
                return to_json(AttributeValue::B(bytes));
            }
            return Err(missing("a dynamo-store 0.6 ciphertext, and the loader names no key id for its path (asked as the package did)"));
        };
        let Some(key) = loader.key(&key_id) else {
            return Err(missing("the loader has no key material for this key id").with_key_id(key_id));
        };
        let opened = open_legacy(&key, &bytes).map_err(|e| self.context(e, path, table).with_key_id(key_id))?;
        self.opened.borrow_mut().push((path.clone(), opened.clone()));
        Ok(Value::String(opened))
    }

    fn context(&self, e: Error, path: &PlainPath, table: &str) -> Error {
        e.with_table(table).with_key(self.key).with_path(path.to_string())
    }
}

/// The place of a package shard reference in an assembled object, if one
/// is left (a map with the reference's own entries, `primary_key` and the
/// colon-named `table_name:`).
fn unfollowed(value: &AttributeValue, at: &PlainPath) -> Option<PlainPath> {
    match value {
        AttributeValue::M(map) if map.contains_key("primary_key") && map.contains_key("table_name:") => Some(at.clone()),
        AttributeValue::M(map) => map.iter().find_map(|(k, v)| unfollowed(v, &at.child(Step::Field(k.clone())))),
        AttributeValue::L(items) => items.iter().enumerate().find_map(|(i, v)| unfollowed(v, &at.child(Step::Index(i)))),
        _ => None,
    }
}
