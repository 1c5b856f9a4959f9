//! Reading an object written by dynamo-store 0.6 for a rotation: its shard
//! items level by level (their keys are random, so each level is known once
//! its parents are read), then every ciphertext recorded with its path,
//! and opened when asked, as `ops::legacy` opens them: with the key id the
//! loader names for the path in the package's own form.
//!
//! Rotating such an object is upgrading it to format 1
//! (`ops::upgrade`), which reads it again: the document is not kept here.

use super::object::{Leaf, Stored};
use crate::backend::Item;
use crate::crypto::{is_legacy, open_legacy};
use crate::error::{Error, ErrorKind, Result};
use crate::format::META;
use crate::format::legacy::{never_encrypted, package_path, shards_of};
use crate::layout::Layout;
use crate::ops::{Env, batch_get_all, places};
use crate::path::{PlainPath, Step};
use crate::tree::Resolved;
use serde_dynamo::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;

/// Reads the legacy object keyed `key` whose root item is `root` and whose
/// metadata attribute is `meta`; `caller` is the layout it would be
/// upgraded into.
pub(crate) async fn read(
    env: &Env<'_>,
    caller: &Layout,
    key: &str,
    mut root: Item,
    meta: &AttributeValue,
    decrypt: bool,
) -> Result<Stored> {
    let context = |e: Error| e.with_table(caller.table.as_ref()).with_key(key);
    let rules = Resolved::new(caller).map_err(context)?.rules;
    let shards = shards_of(meta).map_err(context)?;
    root.remove(caller.key.as_ref());
    root.remove(META);
    let mut body = AttributeValue::M(root);
    let mut tables: HashMap<PlainPath, String> = HashMap::new();
    let mut failures = Vec::new();
    let mut level = places(&body, &PlainPath::root(), &shards).map_err(context)?;
    while !level.is_empty() {
        let wanted: Vec<_> = level.iter().map(|p| (p.shard.table.clone(), p.shard.key_name.clone(), p.key.clone())).collect();
        let mut fetched = batch_get_all(env.backend, env.policy, &wanted).await.map_err(context)?;
        let mut next = Vec::new();
        for pending in level {
            let Some(mut item) = fetched.remove(&(pending.shard.table.clone(), pending.key.clone())) else {
                failures.push(
                    Error::new(ErrorKind::MissingShard, "a shard item the object refers to is not in its table")
                        .with_table(pending.shard.table.as_str())
                        .with_key(key)
                        .with_path(pending.at.to_string()),
                );
                continue;
            };
            item.remove(META);
            item.remove(&pending.shard.key_name);
            let child = AttributeValue::M(item);
            next.extend(places(&child, &pending.at, &pending.shard.shards).map_err(context)?);
            tables.insert(pending.at.clone(), pending.shard.table.clone());
            if let Some(slot) = pending.at.find_attr_mut(&mut body) {
                *slot = child;
            }
        }
        level = next;
    }
    // The package asked its loader with the whole object as stored, its
    // shards put back and its values still encrypted, as `ops::legacy` does.
    let document = crate::value::to_json(body.clone()).unwrap_or(Value::Null);
    let mut walk = Walk { env, key_name: &caller.key, root_key: key, decrypt, tables, document, leaves: Vec::new(), failures };
    walk.value(&body, &PlainPath::root(), &caller.table);
    Ok(Stored {
        key: key.to_owned(),
        revision: None,
        layout: caller.clone(),
        rules,
        doc: Value::Null,
        leaves: walk.leaves,
        // Upgraded by a save, which encrypts every leaf the loader names a key for.
        clear: Vec::new(),
        failures: walk.failures,
        owed: None,
    })
}

struct Walk<'a> {
    env: &'a Env<'a>,
    key_name: &'a str,
    root_key: &'a str,
    decrypt: bool,
    /// The table each shard's subtree came from.
    tables: HashMap<PlainPath, String>,
    /// The object as stored, for the loader's `key_for`.
    document: Value,
    leaves: Vec<Leaf>,
    failures: Vec<Error>,
}

impl Walk<'_> {
    fn value(&mut self, value: &AttributeValue, path: &PlainPath, table: &str) {
        let table = self.tables.get(path).cloned().unwrap_or_else(|| table.to_owned());
        match value {
            AttributeValue::M(map) => map.iter().for_each(|(k, v)| self.value(v, &path.child(Step::Field(k.clone())), &table)),
            AttributeValue::L(items) => items.iter().enumerate().for_each(|(i, v)| self.value(v, &path.child(Step::Index(i)), &table)),
            AttributeValue::B(bytes) => self.leaf(bytes, path, &table),
            _ => {}
        }
    }

    /// A Binary where the package may have encrypted, read as `ops::legacy`
    /// reads it: a ciphertext where the loader names a key id for its path
    /// (asked in the package's form), or where it has the package's shape
    /// (then with no key id: `MissingKey` when opened); data otherwise.
    fn leaf(&mut self, bytes: &[u8], path: &PlainPath, table: &str) {
        let theirs = package_path(path);
        if never_encrypted(&theirs, self.key_name) {
            return;
        }
        let loader = self.env.loader;
        let key_id = loader.key_for(&theirs, &self.document);
        if key_id.is_none() && !is_legacy(bytes) {
            return;
        }
        self.leaves.push(Leaf { table: table.to_owned(), path: path.clone(), key_id: key_id.clone(), legacy: true });
        if !self.decrypt {
            return;
        }
        let context = |e: Error| e.with_table(table).with_key(self.root_key).with_path(path.to_string());
        let opened = match &key_id {
            None => Err(Error::new(ErrorKind::MissingKey, "a dynamo-store 0.6 ciphertext, and the loader names no key id for its path")),
            Some(id) => match loader.key(id) {
                None => Err(Error::new(ErrorKind::MissingKey, "the loader has no key material for this key id").with_key_id(id.as_str())),
                Some(key) => open_legacy(&key, bytes).map(drop).map_err(|e| e.with_key_id(id.as_str())),
            },
        };
        if let Err(e) = opened {
            self.failures.push(context(e));
        }
    }
}
