//! Turning the parts of a split document into DynamoDB items and back, leaf
//! by leaf: this is where encrypted paths are sealed and opened, so every
//! operation (save, load, read_path, write_path) encrypts the same way.

use crate::backend::Item;
use crate::crypto::{self, Context, Key};
use crate::error::{Error, ErrorKind, Result};
use crate::format::REF;
use crate::layout::{EncryptRule, Layout};
use crate::loader::ConfigLoader;
use crate::path::{PlainPath, Step};
use crate::value::{to_attr, to_json};
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
    /// Return ciphertexts as stored instead of decrypting them.
    pub(crate) raw: bool,
}

impl Codec<'_> {
    /// A JSON body (fields of the object at `base`, rules of `layout`) as an item body.
    pub(crate) fn encode_body(&self, site: Site<'_>, layout: &Layout, base: &PlainPath, body: Map<String, Value>, doc: &Value) -> Result<Item> {
        body.into_iter()
            .map(|(name, value)| {
                let rel = PlainPath::root().child(Step::Field(name.clone()));
                Ok((name, self.encode_value(site, layout, base, rel, value, doc)?))
            })
            .collect()
    }

    /// One value at `base` + `rel`, with its leaves sealed where the rules
    /// or the loader say so.
    pub(crate) fn encode_value(&self, site: Site<'_>, layout: &Layout, base: &PlainPath, rel: PlainPath, value: Value, doc: &Value) -> Result<AttributeValue> {
        match value {
            Value::Object(map) if map.len() == 1 && map.contains_key(REF) => Ok(to_attr(Value::Object(map))),
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| {
                    let child = rel.child(Step::Field(k.clone()));
                    Ok((k, self.encode_value(site, layout, base, child, v, doc)?))
                })
                .collect::<Result<_>>()
                .map(AttributeValue::M),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| self.encode_value(site, layout, base, rel.child(Step::Index(i)), v, doc))
                .collect::<Result<_>>()
                .map(AttributeValue::L),
            leaf => {
                let full = base.join(&rel);
                match self.key_id_for(&layout.encrypt, &rel, &full, doc)? {
                    Some(key_id) => self.seal_leaf(site, &full, &key_id, to_attr(leaf)),
                    None => Ok(to_attr(leaf)),
                }
            }
        }
    }

    /// The key id that encrypts the leaf at `rel` (relative to the layout's
    /// object; `full` from the root), or `None` to store it in clear.
    fn key_id_for(&self, rules: &[EncryptRule], rel: &PlainPath, full: &PlainPath, doc: &Value) -> Result<Option<String>> {
        let rule = rules
            .iter()
            .filter(|r| rule_covers(&r.path, rel))
            .max_by_key(|r| r.path.len());
        let full_text = full.to_string();
        match rule {
            Some(r) if r.exempt => Ok(None),
            Some(r) => r
                .key_id
                .as_ref()
                .map(|k| k.to_string())
                .or_else(|| self.loader.key_for(&full_text, doc))
                .or_else(|| self.loader.default_key_id())
                .map(Some)
                .ok_or_else(|| {
                    Error::new(ErrorKind::MissingKey, "the path is marked encrypted but the loader names no key id for it")
                        .with_path(full_text)
                }),
            None => Ok(self.loader.key_for(&full_text, doc)),
        }
    }

    fn seal_leaf(&self, site: Site<'_>, path: &PlainPath, key_id: &str, leaf: AttributeValue) -> Result<AttributeValue> {
        let path = path.to_string();
        let key = self.key(site, &path, key_id)?;
        let context = Context::new(site.table, site.root_key, &path);
        crypto::seal(key_id, &key, &context, &leaf).map(AttributeValue::B)
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
        let key_id = crypto::envelope_key_id(&bytes).map_err(|e| e.with_table(site.table).with_key(site.root_key).with_path(path.clone()))?;
        let key = self.key(site, &path, key_id)?;
        let leaf = crypto::open(&key, &context, &bytes)?;
        to_json(leaf).map_err(|e| e.with_table(site.table).with_key(site.root_key).with_path(path))
    }

    /// A stored value at `path` as JSON, ciphertexts opened.
    pub(crate) fn decode_value(&self, site: Site<'_>, path: &PlainPath, value: AttributeValue) -> Result<Value> {
        match value {
            AttributeValue::B(bytes) => self.open_leaf(site, path, bytes),
            AttributeValue::M(map) => Ok(Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let child = path.child(Step::Field(k.clone()));
                        Ok((k, self.decode_value(site, &child, v)?))
                    })
                    .collect::<Result<_>>()?,
            )),
            AttributeValue::L(items) => Ok(Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.decode_value(site, &path.child(Step::Index(i)), v))
                    .collect::<Result<_>>()?,
            )),
            other => to_json(other).map_err(|e| e.with_table(site.table).with_key(site.root_key).with_path(path.to_string())),
        }
    }

    /// An item body (key and metadata already removed) of the object at `base`.
    pub(crate) fn decode_body(&self, site: Site<'_>, base: &PlainPath, item: Item) -> Result<Map<String, Value>> {
        item.into_iter()
            .map(|(k, v)| {
                let path = base.child(Step::Field(k.clone()));
                Ok((k, self.decode_value(site, &path, v)?))
            })
            .collect()
    }
}

/// Whether a rule path (`$.a`, `$.list[*].b`) covers `rel`: equal to it, or
/// above it.
fn rule_covers(rule: &str, rel: &PlainPath) -> bool {
    let mut steps = rel.steps.iter();
    let mut rest = match rule.strip_prefix('$') {
        Some(r) => r,
        None => return false,
    };
    while !rest.is_empty() {
        let (segment, next) = if let Some(r) = rest.strip_prefix("[*]") {
            (None, r)
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = match r.find(']') {
                Some(c) => c,
                None => return false,
            };
            (Some(Step::Index(r[..close].parse().unwrap_or(usize::MAX))), &r[close + 1..])
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            (Some(Step::Field(r[..end].to_owned())), &r[end..])
        } else {
            return false;
        };
        match (segment, steps.next()) {
            (None, Some(Step::Index(_))) => {}
            (Some(want), Some(got)) if &want == got => {}
            _ => return false,
        }
        rest = next;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::plain;


    #[test]
    fn rules_cover_their_path_and_everything_below() {
        assert!(rule_covers("$.a", &plain("$.a")));
        assert!(rule_covers("$.a", &plain("$.a.b[2]")));
        assert!(!rule_covers("$.a", &plain("$.ab")));
        assert!(!rule_covers("$.a.b", &plain("$.a")));
        assert!(rule_covers("$.l[*].x", &plain("$.l[4].x")));
        assert!(!rule_covers("$.l[*].x", &plain("$.l.x")));
        assert!(rule_covers("$.l[1]", &plain("$.l[1].y")));
        assert!(!rule_covers("$.l[1]", &plain("$.l[2]")));
    }
}
