//! Storage format version 1: the `__dystore_meta__` entry, shard references
//! and deterministic shard keys.
//!
//! ```text
//! root item   { <key>: "K", ...fields, <shard>: {"__dystore_ref__": {table, key, region?}},
//!               "__dystore_meta__": {version: 1, table, key, region?, write_id, revision,
//!                                    layout: {table, key, region?, shards: [{path, layout}]},
//!                                    shape: <fingerprint of layout>, lists: {"$.locales": 3}} }
//! shard item  { <key>: "K#$.location", ...fields,
//!               "__dystore_meta__": {version: 1, write_id, shape, root: "K", path: "$.location"} }
//! ```
//! See `docs/FORMAT.md` for the full description. `legacy` reads the format
//! of the Python package dynamo-store 0.6.

pub(crate) mod legacy;

use crate::backend::Expr;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{Layout, Shard};
use crate::path::PlainPath;
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Name of the metadata attribute in every item dystore writes.
pub(crate) const META: &str = "__dystore_meta__";
/// Name of the single entry of a shard reference map.
pub(crate) const REF: &str = "__dystore_ref__";
/// The storage format this build writes.
pub(crate) const VERSION: u64 = 1;

/// The key of the shard item at `path` (full path from the root) of the
/// object keyed `root_key`: deterministic, so a save overwrites in place and
/// a reader can fetch shards without reading their parents first.
pub(crate) fn shard_key(root_key: &str, path: &PlainPath) -> String {
    // A printed path starts with `$`: the key holds SHARD_KEY_MARK.
    format!("{root_key}#{path}")
}

/// What a shard key holds right after its root key, and so what no root
/// key may hold: no root key can then name another object's shard item.
pub(crate) const SHARD_KEY_MARK: &str = "#$";

/// Appends to `update` (an update expression, `SET ...` or a `, ...` to
/// come) the new `revision` of a root: `#dm.#rev = :rev`.
pub(crate) fn set_revision(update: &mut Expr, revision: String) {
    update.names.insert("#dm".into(), META.into());
    update.names.insert("#rev".into(), "revision".into());
    update.values.insert(":rev".into(), AttributeValue::S(revision));
    update.text.push_str(if update.text.is_empty() { "SET #dm.#rev = :rev" } else { ", #dm.#rev = :rev" });
}

/// Adds to a projection the shape an item records (every item of a save
/// does); read it back from the projected item with [`recorded_shape`].
pub(crate) fn project_shape(projection: &mut Expr) {
    projection.names.insert("#dm".into(), META.into());
    projection.names.insert("#shape".into(), "shape".into());
    projection.text.push_str(if projection.text.is_empty() { "#dm.#shape" } else { ", #dm.#shape" });
}

/// The shape recorded in an item's (projected) metadata attribute.
pub(crate) fn recorded_shape(meta: Option<AttributeValue>) -> Option<String> {
    let AttributeValue::M(mut meta) = meta? else { return None };
    match meta.remove("shape")? {
        AttributeValue::S(shape) => Some(shape),
        _ => None,
    }
}

/// A fresh write id or revision token.
pub(crate) fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Where a shard item lives, as its parent records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Ref {
    pub(crate) table: String,
    pub(crate) key: String,
}

/// A reference map for a shard item.
pub(crate) fn ref_value(table: &str, key: &str, region: Option<&str>) -> Value {
    let mut r = Map::new();
    r.insert("table".into(), table.into());
    r.insert("key".into(), key.into());
    if let Some(region) = region {
        r.insert("region".into(), region.into());
    }
    json!({ REF: r })
}

/// The reference held by `value`, if it is a reference map.
pub(crate) fn as_ref(value: &Value) -> Option<Ref> {
    let r = value.as_object().filter(|m| m.len() == 1)?.get(REF)?.as_object()?;
    Some(Ref { table: r.get("table")?.as_str()?.to_owned(), key: r.get("key")?.as_str()?.to_owned() })
}

/// The reference held by a stored attribute value, if it is a reference map.
pub(crate) fn attr_ref(value: &AttributeValue) -> Option<Ref> {
    let AttributeValue::M(map) = value else { return None };
    let AttributeValue::M(r) = map.get(REF).filter(|_| map.len() == 1)? else { return None };
    let (Some(AttributeValue::S(table)), Some(AttributeValue::S(key))) = (r.get("table"), r.get("key")) else { return None };
    let region_ok = matches!(r.get("region"), None | Some(AttributeValue::S(_)));
    let known = r.keys().all(|k| matches!(k.as_str(), "table" | "key" | "region"));
    (region_ok && known).then(|| Ref { table: table.clone(), key: key.clone() })
}

/// The layout as stored in the root's metadata (encryption rules excluded:
/// they are the application's policy, not the data's shape).
pub(crate) fn layout_to_meta(layout: &Layout) -> Value {
    let shards: Vec<Value> = layout.shards.iter().map(|s| json!({"path": s.path.as_ref(), "layout": layout_to_meta(&s.layout)})).collect();
    let mut m = Map::new();
    m.insert("table".into(), layout.table.as_ref().into());
    m.insert("key".into(), layout.key.as_ref().into());
    if let Some(region) = &layout.region {
        m.insert("region".into(), region.as_ref().into());
    }
    m.insert("shards".into(), Value::Array(shards));
    Value::Object(m)
}

fn format_error(detail: &str) -> Error {
    Error::new(ErrorKind::Format, format!("`{META}` {detail}"))
}

/// The layout recorded in a root's metadata.
pub(crate) fn layout_from_meta(value: &Value) -> Result<Layout> {
    let text = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .map(|s| Cow::Owned(s.to_owned()))
            .ok_or_else(|| format_error(&format!("layout lacks `{name}`")))
    };
    let shards = match value.get("shards") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| {
                let path = s.get("path").and_then(Value::as_str).ok_or_else(|| format_error("shard lacks `path`"))?;
                let layout = layout_from_meta(s.get("layout").ok_or_else(|| format_error("shard lacks `layout`"))?)?;
                Ok(Shard { path: Cow::Owned(path.to_owned()), layout })
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(format_error("has `shards` that is not a list")),
    };
    Ok(Layout {
        table: text("table")?,
        key: text("key")?,
        region: value.get("region").and_then(Value::as_str).map(|s| Cow::Owned(s.to_owned())),
        shards: Cow::Owned(shards),
        encrypt: Cow::Owned(Vec::new()),
    })
}

/// A short fingerprint of a layout's shape (tables, keys, regions, shard
/// paths): equal shapes store an object under the same item keys.
pub(crate) fn shape_of(layout: &Layout) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(layout_to_meta(layout).to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A condition on a root item, guarding the requests that change an object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Guard<'a> {
    /// The object exists.
    Exists,
    /// The object does not exist.
    Absent,
    /// The object's stored revision is this one.
    Revision(&'a str),
    /// The object exists and was stored in this shape.
    Shape(&'a str),
    /// The object does not exist, or was stored in this shape.
    AbsentOrShape(&'a str),
}

impl Guard<'_> {
    /// The condition expression on a root keyed by `key_name`. Its
    /// placeholders (`#pk`, `#dm`, `#grev`, `#gshape`, `:grev`, `:gshape`)
    /// never collide with an update's (`#n0`, `:v`, `#rev`, `:rev`).
    pub(crate) fn condition(self, key_name: &str) -> Expr {
        let mut expr = Expr::default();
        if !matches!(self, Guard::Revision(_)) {
            expr.names.insert("#pk".into(), key_name.to_owned());
        }
        let mut compare = |name: &str, value: &str| {
            expr.names.insert("#dm".into(), META.into());
            expr.names.insert(format!("#g{name}"), name.to_owned());
            expr.values.insert(format!(":g{name}"), AttributeValue::S(value.to_owned()));
            format!("#dm.#g{name} = :g{name}")
        };
        expr.text = match self {
            Guard::Exists => "attribute_exists(#pk)".into(),
            Guard::Absent => "attribute_not_exists(#pk)".into(),
            Guard::Revision(rev) => compare("revision", rev),
            Guard::Shape(shape) => format!("attribute_exists(#pk) AND {}", compare("shape", shape)),
            Guard::AbsentOrShape(shape) => format!("attribute_not_exists(#pk) OR {}", compare("shape", shape)),
        };
        expr
    }
}

/// DynamoDB's cancellation reason for a write whose condition failed.
pub(crate) const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// DynamoDB's cancellation reason for a write it found invalid.
pub(crate) const VALIDATION_ERROR: &str = "ValidationError";

/// What each write of a cancelled transaction is (`roles`, one per write,
/// in the order sent), for those DynamoDB gave the reason `code`: the
/// reasons come back as a list in the order of the writes, and are read
/// here, once, by what each write is rather than where it stood.
pub(crate) fn cancelled<R: Copy>(reasons: &[Option<String>], roles: &[R], code: &str) -> Vec<R> {
    reasons.iter().zip(roles).filter(|(reason, _)| reason.as_deref() == Some(code)).map(|(_, role)| *role).collect()
}

/// The metadata of a root item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RootMeta {
    pub(crate) write_id: String,
    pub(crate) revision: String,
    pub(crate) layout: Layout,
    /// Element counts of list shards, by full path: what a later save must
    /// delete when a list shrinks.
    pub(crate) lists: BTreeMap<String, usize>,
}

impl RootMeta {
    pub(crate) fn to_value(&self, region: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert("version".into(), VERSION.into());
        m.insert("table".into(), self.layout.table.as_ref().into());
        m.insert("key".into(), self.layout.key.as_ref().into());
        if let Some(region) = region {
            m.insert("region".into(), region.into());
        }
        m.insert("write_id".into(), self.write_id.clone().into());
        m.insert("revision".into(), self.revision.clone().into());
        m.insert("layout".into(), layout_to_meta(&self.layout));
        m.insert("shape".into(), shape_of(&self.layout).into());
        if !self.lists.is_empty() {
            m.insert("lists".into(), json!(self.lists));
        }
        Value::Object(m)
    }

    /// A root's stored metadata attribute: as JSON (for loaders that keep
    /// it) and read.
    pub(crate) fn decode(meta: AttributeValue) -> Result<(Value, RootMeta)> {
        let value = crate::value::to_json(meta)?;
        let decoded = RootMeta::from_value(&value)?;
        Ok((value, decoded))
    }

    pub(crate) fn from_value(value: &Value) -> Result<Self> {
        check_version(value)?;
        let text =
            |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format_error(&format!("lacks `{name}`")));
        let lists = match value.get("lists") {
            None => BTreeMap::new(),
            Some(v) => serde_json::from_value(v.clone()).map_err(|_| format_error("has unreadable `lists`"))?,
        };
        Ok(RootMeta {
            write_id: text("write_id")?,
            revision: text("revision")?,
            layout: layout_from_meta(value.get("layout").ok_or_else(|| format_error("lacks `layout`"))?)?,
            lists,
        })
    }
}

/// The metadata of a shard item.
pub(crate) fn shard_meta(write_id: &str, shape: &str, root_key: &str, path: &PlainPath) -> Value {
    json!({"version": VERSION, "write_id": write_id, "shape": shape, "root": root_key, "path": path.to_string()})
}

/// The write id recorded in any item's metadata.
pub(crate) fn write_id_of(meta: &Value) -> Result<&str> {
    check_version(meta)?;
    meta.get("write_id").and_then(Value::as_str).ok_or_else(|| format_error("lacks `write_id`"))
}

fn check_version(meta: &Value) -> Result<()> {
    match meta.get("version").and_then(Value::as_u64) {
        Some(VERSION) => Ok(()),
        Some(v) => Err(format_error(&format!("has format version {v}; this build reads version {VERSION}"))),
        None => Err(format_error("lacks a format version (data not written by dystore 1?)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn layout_survives_the_metadata_round_trip() {
        let layout = Store::new("People", "ID")
            .region("eu-west-1")
            .shard(Store::new("Loc", "IDX").at("$.location").shard(Store::new("Geo", "G").at("$.geo")))
            .shard(Store::new("Locales", "L").at("$.locales[*]"))
            .into_layout();
        let back = layout_from_meta(&layout_to_meta(&layout)).unwrap();
        assert_eq!(back, layout);
    }

    #[test]
    fn references_are_recognised_only_in_their_exact_shape() {
        let r = ref_value("T", "k#$.a", None);
        assert_eq!(as_ref(&r), Some(Ref { table: "T".into(), key: "k#$.a".into() }));
        assert_eq!(as_ref(&json!({REF: {"table": "T"}})), None);
        assert_eq!(as_ref(&json!({REF: {"table": "T", "key": "k"}, "x": 1})), None);
    }

    #[test]
    fn unknown_versions_are_refused_with_the_version_named() {
        let e = write_id_of(&json!({"version": 7, "write_id": "w"})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Format);
        assert!(e.to_string().contains("version 7"), "{e}");
    }
}
