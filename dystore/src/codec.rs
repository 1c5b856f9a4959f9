//! Turning the parts of a split document into DynamoDB items and back, leaf
//! by leaf: this is where encrypted paths are sealed and opened, so every
//! operation (save, load, read_path, write_path) encrypts the same way.

use crate::backend::Item;
use crate::crypto::{self, Context, Key, KeyId};
use crate::error::{Error, ErrorKind, Result};
use crate::format::attr_ref;
use crate::loader::ConfigLoader;
use crate::path::{PlainPath, Step};
use crate::rules::{Rule, Rules};
use crate::tree::Branch;
use crate::value::{MAX_DEPTH, number_refusal, to_attr, to_json};
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value};

/// Where a leaf lives: the context a ciphertext is bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site<'a> {
    /// Table of the item holding the leaf.
    pub(crate) table: &'a str,
    /// Primary key of the object's root.
    pub(crate) root_key: &'a str,
}

/// Encodes and decodes item bodies for one operation.
pub(crate) struct Codec<'a> {
    pub(crate) loader: &'a dyn ConfigLoader,
    /// The layout's encryption rules, from the object root.
    pub(crate) rules: &'a Rules,
    /// Return ciphertexts as stored instead of decrypting them.
    pub(crate) raw: bool,
    /// IVs for the leaves this codec seals (one system call for many).
    pub(crate) ivs: std::sync::Mutex<crypto::Ivs>,
    /// Values that may not be stored in clear (an upgrade's).
    pub(crate) sealed_before: Option<&'a crate::ops::Sealed>,
}

impl Codec<'_> {
    /// A JSON body (fields of the object at `base`, whose own shards are
    /// `shards`) as an item body.
    pub(crate) fn encode_body(
        &self,
        site: Site<'_>,
        shards: &[Branch<'_>],
        base: &PlainPath,
        body: Map<String, Value>,
        doc: &Value,
    ) -> Result<Item> {
        let mut path = base.clone();
        let depth = base.steps.len();
        body.into_iter()
            .map(|(name, value)| {
                check_name(&name, &path)?;
                path.steps.push(Step::Field(name.clone()));
                let encoded = self.encode_at(site, shards, depth, &mut path, value, doc);
                path.steps.pop();
                Ok((name, encoded?))
            })
            .collect()
    }

    /// One value at `base` + `rel`, with its leaves sealed where the rules
    /// or the loader say so. A shard's place (one of `shards`, holding the
    /// reference the split put there) is stored as it is: whatever a user
    /// value looks like, it is never taken for dystore's own structure.
    pub(crate) fn encode_value(
        &self,
        site: Site<'_>,
        shards: &[Branch<'_>],
        base: &PlainPath,
        rel: PlainPath,
        value: Value,
        doc: &Value,
    ) -> Result<AttributeValue> {
        self.encode_at(site, shards, base.steps.len(), &mut base.join(&rel), value, doc)
    }

    /// [`encode_value`](Self::encode_value) of the value at `path` (from
    /// the root), whose first `depth` steps lead to the item's object. The
    /// path grows and shrinks back as the walk goes down and up: one path
    /// for the whole body, not one per value.
    fn encode_at(
        &self,
        site: Site<'_>,
        shards: &[Branch<'_>],
        depth: usize,
        path: &mut PlainPath,
        value: Value,
        doc: &Value,
    ) -> Result<AttributeValue> {
        let rel = &path.steps[depth..];
        if shards.iter().any(|b| b.at.steps == rel) {
            return Ok(to_attr(value));
        }
        if rel.len() > MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::InvalidDocument,
                format!("DynamoDB nests values at most {MAX_DEPTH} levels deep in an item"),
            )
            .with_path(path.to_string()));
        }
        let empty_container = matches!(&value, Value::Object(m) if m.is_empty()) || matches!(&value, Value::Array(l) if l.is_empty());
        match value {
            // An empty map or list has no leaves to seal: at an encrypted
            // path it is sealed whole, so a clear one there is a forgery.
            container if empty_container => self.encode_leaf(site, path, container, doc),
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| {
                    check_name(&k, path)?;
                    path.steps.push(Step::Field(k.clone()));
                    let encoded = self.encode_at(site, shards, depth, path, v, doc);
                    path.steps.pop();
                    Ok((k, encoded?))
                })
                .collect::<Result<_>>()
                .map(AttributeValue::M),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    path.steps.push(Step::Index(i));
                    let encoded = self.encode_at(site, shards, depth, path, v, doc);
                    path.steps.pop();
                    encoded
                })
                .collect::<Result<_>>()
                .map(AttributeValue::L),
            leaf => self.encode_leaf(site, path, leaf, doc),
        }
    }

    /// A leaf (or an empty map or list) at `full` (from the root): sealed
    /// where the rules or the loader say so, else stored as itself.
    fn encode_leaf(&self, site: Site<'_>, full: &PlainPath, leaf: Value, doc: &Value) -> Result<AttributeValue> {
        let text = full.to_string();
        match self.key_id_for(full, &text, doc)? {
            Some(key_id) => self.seal_leaf(site, &text, &key_id, to_attr(leaf)),
            None => {
                // An upgrade never stores in clear what dynamo-store 0.6
                // encrypted, unless a rule exempts the path on purpose.
                if let Some(sealed) = self.sealed_before
                    && sealed.holds(&text, &leaf)
                    && !self.rules.decide(&full.steps).is_some_and(|rule| rule.exempt)
                {
                    return Err(Error::new(
                        ErrorKind::MissingKey,
                        "dynamo-store 0.6 stored this value encrypted, and today's layout and loader name no key id for its path: an upgrade never stores in clear what the package encrypted (mark the path encrypted, have the loader name a key id for it, or exempt it with `no_encrypt` to store it in clear on purpose)",
                    )
                    .with_path(text));
                }
                // Only what DynamoDB sees is held to its number limits: a
                // sealed number is bytes to it.
                if let Value::Number(n) = &leaf
                    && let Some(why) = number_refusal(&n.to_string())
                {
                    return Err(Error::new(ErrorKind::InvalidDocument, why).with_path(text));
                }
                Ok(to_attr(leaf))
            }
        }
    }

    /// The key id that encrypts the leaf at `full` (from the root), or
    /// `None` to store it in clear. A leaf a rule marks encrypted gets a key
    /// id or an error: never stored in clear.
    /// (`text`: the same path as the loader is given it.)
    fn key_id_for(&self, full: &PlainPath, text: &str, doc: &Value) -> Result<Option<String>> {
        match self.rules.decide(&full.steps) {
            Some(r) if r.exempt => Ok(None),
            Some(Rule { key_id: Some(k), .. }) => Ok(Some(k.clone())),
            Some(_) => self.loader.key_for(text, doc).or_else(|| self.loader.default_key_id()).map(Some).ok_or_else(|| {
                Error::new(ErrorKind::MissingKey, "the path is marked encrypted but the loader names no key id for it").with_path(text)
            }),
            None => Ok(self.loader.key_for(text, doc)),
        }
    }

    fn seal_leaf(&self, site: Site<'_>, path: &str, key_id: &KeyId, leaf: AttributeValue) -> Result<AttributeValue> {
        if !self.loader.writes_with(key_id) {
            return Err(Error::new(
                ErrorKind::Config,
                "the key id names a key the loader keeps for reading only (a dynamo-store 0.6 key): name a format 1 key to write with",
            )
            .with_table(site.table)
            .with_key(site.root_key)
            .with_path(path)
            .with_key_id(key_id));
        }
        let key = self.key(site, path, key_id)?;
        let context = Context::new(site.table, site.root_key, path);
        let mut ivs = self.ivs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        crypto::seal_from(&mut ivs, key_id, &key, &context, &leaf).map(AttributeValue::B)
    }

    /// Key material for `key_id`, or `MissingKey` naming where it was needed.
    fn key(&self, site: Site<'_>, path: &str, key_id: &str) -> Result<Key> {
        self.loader.key(&key_id.to_owned()).ok_or_else(|| {
            Error::new(ErrorKind::MissingKey, "the loader has no key material for this key id")
                .with_table(site.table)
                .with_key(site.root_key)
                .with_path(path)
                .with_key_id(key_id)
        })
    }

    fn open_leaf(&self, site: Site<'_>, path: &PlainPath, bytes: Vec<u8>) -> Result<Value> {
        if self.raw {
            return to_json(AttributeValue::B(bytes));
        }
        let path = path.to_string();
        let context = Context::new(site.table, site.root_key, &path);
        if crypto::is_legacy(&bytes) {
            return Err(Error::new(ErrorKind::Encrypted, "a dynamo-store 0.6 ciphertext in a format 1 object; rotate it to format 1")
                .with_table(site.table)
                .with_key(site.root_key)
                .with_path(path));
        }
        let key_id =
            crypto::envelope_key_id(&bytes).map_err(|e| e.with_table(site.table).with_key(site.root_key).with_path(path.clone()))?;
        let key = self.key(site, &path, key_id)?;
        let leaf = crypto::open(&key, &context, &bytes)?;
        to_json(leaf).map_err(|e| e.with_table(site.table).with_key(site.root_key).with_path(path))
    }

    /// A stored value at `base` + `rel` as JSON, ciphertexts opened. A
    /// value in clear where the rules say the path is encrypted is refused:
    /// someone without the keys wrote it.
    pub(crate) fn decode_value(
        &self,
        site: Site<'_>,
        shards: &[Branch<'_>],
        base: &PlainPath,
        rel: &PlainPath,
        value: AttributeValue,
    ) -> Result<Value> {
        self.decode_at(site, shards, base.steps.len(), &mut base.join(rel), value)
    }

    /// An item body (key and metadata already removed) of the object at
    /// `base`, whose own shards are `shards`.
    pub(crate) fn decode_body(&self, site: Site<'_>, shards: &[Branch<'_>], base: &PlainPath, item: Item) -> Result<Map<String, Value>> {
        let mut path = base.clone();
        self.decode_map(site, shards, base.steps.len(), &mut path, item.into_iter())
    }

    /// [`decode_value`](Self::decode_value) of the value at `path` (from
    /// the root), whose first `depth` steps lead to the item's object. The
    /// path grows and shrinks back as the walk goes down and up, as
    /// [`encode_at`](Self::encode_at)'s does.
    fn decode_at(&self, site: Site<'_>, shards: &[Branch<'_>], depth: usize, path: &mut PlainPath, value: AttributeValue) -> Result<Value> {
        let rel = &path.steps[depth..];
        if let Some(branch) = shards.iter().find(|b| b.at.steps == rel) {
            // An absent shard stores `null` (an empty list shard `[]`) in its
            // place. Where the reader marks the place encrypted and knows no
            // shard there, that is a value in clear: the recorded layout may
            // have been forged to pass it off as a shard's place.
            let empty = matches!(&value, AttributeValue::Null(_)) || matches!(&value, AttributeValue::L(l) if l.is_empty());
            let forged_null = empty && !self.raw && self.rules.encrypts(&path.steps) && !self.rules.is_shard_place(&path.steps);
            if forged_null {
                return Err(clear_at_encrypted(site, path));
            }
            return decode_reference(site, branch, path, value);
        }
        let empty = matches!(&value, AttributeValue::M(m) if m.is_empty()) || matches!(&value, AttributeValue::L(l) if l.is_empty());
        if empty && !self.raw && self.rules.encrypts(&path.steps) {
            return Err(clear_at_encrypted(site, path));
        }
        match value {
            AttributeValue::M(map) => self.decode_map(site, shards, depth, path, map.into_iter()).map(Value::Object),
            AttributeValue::L(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    path.steps.push(Step::Index(i));
                    let decoded = self.decode_at(site, shards, depth, path, v);
                    path.steps.pop();
                    decoded
                })
                .collect::<Result<_>>()
                .map(Value::Array),
            AttributeValue::B(bytes) => {
                // Outside the marks, only a well-formed envelope is a
                // ciphertext (the loader may have sealed it); any other
                // binary is data, read as base64 (docs/FORMAT.md).
                if !self.rules.encrypts(&path.steps) && crypto::envelope_key_id(&bytes).is_err() {
                    return to_json(AttributeValue::B(bytes));
                }
                self.open_leaf(site, path, bytes)
            }
            other => {
                if !self.raw && self.rules.encrypts(&path.steps) {
                    return Err(clear_at_encrypted(site, path));
                }
                to_json(other).map_err(|e| e.with_table(site.table).with_key(site.root_key).with_path(path.to_string()))
            }
        }
    }

    /// The entries of a map at `path`, each decoded at its own path.
    fn decode_map(
        &self,
        site: Site<'_>,
        shards: &[Branch<'_>],
        depth: usize,
        path: &mut PlainPath,
        entries: impl Iterator<Item = (String, AttributeValue)>,
    ) -> Result<Map<String, Value>> {
        entries
            .map(|(k, v)| {
                path.steps.push(Step::Field(k));
                let decoded = self.decode_at(site, shards, depth, path, v);
                // The name goes back to the entry: no copy of it per entry.
                let Some(Step::Field(k)) = path.steps.pop() else {
                    return Err(Error::new(ErrorKind::Format, "the path lost its last step").with_path(path.to_string()));
                };
                Ok((k, decoded?))
            })
            .collect()
    }
}

/// DynamoDB's limit on an attribute name, in bytes (its developer guide,
/// "Service, account, and table quotas": 1 to 64 KB).
const MAX_NAME_BYTES: usize = 64 * 1024;

/// Refuses a map key DynamoDB would: empty, or over 64 KB.
/// Refuses the attribute name `name` of the object at `parent` (from the
/// root) where DynamoDB would.
fn check_name(name: &str, parent: &PlainPath) -> Result<()> {
    let why = match name.len() {
        0 => "DynamoDB accepts no empty attribute name, at any depth",
        n if n > MAX_NAME_BYTES => "DynamoDB accepts attribute names of at most 64 KB",
        _ => return Ok(()),
    };
    Err(Error::new(ErrorKind::InvalidDocument, why).with_path(parent.child(Step::Field(name.to_owned())).to_string()))
}

/// A value in clear where the reader's marks say the path is encrypted.
fn clear_at_encrypted(site: Site<'_>, path: &PlainPath) -> Error {
    Error::new(
        ErrorKind::Authentication,
        "a value in clear where the layout says the path is encrypted: it was not written through dystore's keys",
    )
    .with_table(site.table)
    .with_key(site.root_key)
    .with_path(path.to_string())
}

/// The stored value at a shard's place: a reference, a list of references
/// for a list shard, or `null` for an absent shard; anything else is refused
/// rather than handed back unchecked.
fn decode_reference(site: Site<'_>, branch: &Branch<'_>, path: &PlainPath, value: AttributeValue) -> Result<Value> {
    let well_formed = match (&value, branch.list) {
        (AttributeValue::Null(_), _) => true,
        (AttributeValue::L(items), true) => items.iter().all(|r| attr_ref(r).is_some()),
        (single, false) => attr_ref(single).is_some(),
        (_, true) => false,
    };
    if !well_formed {
        return Err(Error::new(ErrorKind::Format, "a shard's place in its parent holds something other than a reference")
            .with_table(site.table)
            .with_key(site.root_key)
            .with_path(path.to_string()));
    }
    to_json(value)
}
