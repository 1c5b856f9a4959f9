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
use std::collections::{BTreeMap, HashMap};

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

/// The key of the shard item at `path` of the object keyed `root_key` for
/// the save `write_id`, when that save's shard keys carry its write id (a
/// save spanning several transactions writes beside the items it replaces).
/// No such key is ever a [`shard_key`]: a printed path never holds `#`
/// outside its brackets.
pub(crate) fn keyed_shard_key(root_key: &str, path: &PlainPath, write_id: &str) -> String {
    format!("{root_key}#{path}#{write_id}")
}

/// How one save of an object keys its shard items.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keys<'a> {
    pub(crate) root: &'a str,
    /// The save's write id, when its shard keys carry it.
    pub(crate) write_id: Option<&'a str>,
}

impl<'a> Keys<'a> {
    /// Deterministic keys: the root key and the path.
    pub(crate) fn plain(root: &'a str) -> Self {
        Keys { root, write_id: None }
    }

    /// The key of the shard item at `path`.
    pub(crate) fn at(&self, path: &PlainPath) -> String {
        match self.write_id {
            None => shard_key(self.root, path),
            Some(w) => keyed_shard_key(self.root, path, w),
        }
    }
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
/// does) and its large leaves; read them back from the projected item with
/// [`recorded_shape`] and [`recorded_chunks`].
pub(crate) fn project_shape(projection: &mut Expr) {
    projection.names.insert("#dm".into(), META.into());
    projection.names.insert("#shape".into(), "shape".into());
    projection.names.insert("#chunks".into(), CHUNKS.into());
    projection.text.push_str(if projection.text.is_empty() { "#dm.#shape, #dm.#chunks" } else { ", #dm.#shape, #dm.#chunks" });
}

/// The paths of the large leaves an item's (projected) metadata records.
pub(crate) fn recorded_chunks(meta: Option<&AttributeValue>) -> impl Iterator<Item = &str> {
    let chunks = match meta {
        Some(AttributeValue::M(meta)) => match meta.get(CHUNKS) {
            Some(AttributeValue::M(chunks)) => Some(chunks),
            _ => None,
        },
        _ => None,
    };
    chunks.into_iter().flat_map(|chunks| chunks.keys().map(String::as_str))
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
    recorded(layout).meta.clone()
}

/// What a root records of a layout, worked out once per layout (and kept
/// with its resolution, [`crate::tree::Resolved::recorded`]).
#[derive(Debug)]
pub(crate) struct Recorded {
    /// [`layout_to_meta`].
    meta: Value,
    /// The same as a stored attribute value, which a save's root records.
    attr: AttributeValue,
    /// [`shape_of`].
    pub(crate) shape: String,
}

/// The recorded form of `layout` (see [`crate::layout_cache`]).
pub(crate) fn recorded(layout: &Layout) -> std::sync::Arc<Recorded> {
    static RECORDED: crate::layout_cache::ByLayout<Recorded> = crate::layout_cache::ByLayout::new();
    RECORDED.get_or(layout, || {
        use sha2::{Digest, Sha256};
        let meta = build_layout_meta(layout);
        let digest = Sha256::digest(meta.to_string().as_bytes());
        let shape = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Recorded { attr: crate::value::to_attr(meta.clone()), meta, shape }
    })
}

fn build_layout_meta(layout: &Layout) -> Value {
    // Shard paths in the normal form (docs/FORMAT.md, "Paths"): two spellings
    // of one path (`$.location`, `$['location']`) are one shape. A path that
    // does not parse is recorded as written; no operation gets past
    // resolving such a layout.
    let normal = |path: &str| crate::path::parse_pattern(path).map_or_else(|_| path.to_owned(), |p| p.to_string());
    let shards: Vec<Value> =
        layout.shards.iter().map(|s| json!({"path": normal(&s.path), "layout": build_layout_meta(&s.layout)})).collect();
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
    recorded(layout).shape.clone()
}

/// A condition on a root item, guarding the requests that change an object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Guard<'a> {
    /// The object exists.
    Exists,
    /// No root item (object or tombstone) is stored under the key.
    Absent,
    /// The root's stored revision is this one.
    Revision(&'a str),
    /// The object exists and was stored in this shape.
    Shape(&'a str),
    /// The object was saved with this write id (its shard items are this save's).
    WriteId(&'a str),
    /// The object exists, was stored in this shape under deterministic
    /// shard keys, and no cleanup is owed: its items follow from the shape.
    Settled(&'a str),
    /// Nothing is stored under the key, or [`Guard::Settled`].
    AbsentOrSettled(&'a str),
    /// [`Guard::Revision`] and settled.
    RevisionSettled(&'a str),
}

impl Guard<'_> {
    /// The condition expression on a root keyed by `key_name`. Its
    /// placeholders (`#pk`, `#dm`, `#g...`, `:g...`) never collide with an
    /// update's (`#n0`, `:v`, `#rev`, `:rev`, `#st`, `:st`).
    pub(crate) fn condition(self, key_name: &str) -> Expr {
        let mut expr = Expr::default();
        let pk = |expr: &mut Expr| {
            expr.names.insert("#pk".into(), key_name.to_owned());
            "#pk"
        };
        let compare = |expr: &mut Expr, name: &str, value: &str| {
            expr.names.insert("#dm".into(), META.into());
            expr.names.insert(format!("#g{name}"), name.to_owned());
            expr.values.insert(format!(":g{name}"), AttributeValue::S(value.to_owned()));
            format!("#dm.#g{name} = :g{name}")
        };
        let settled = |expr: &mut Expr| {
            expr.names.insert("#dm".into(), META.into());
            expr.names.insert("#gstale".into(), STALE.into());
            expr.names.insert("#gkeys".into(), SHARD_KEYS.into());
            expr.names.insert("#gchunks".into(), CHUNKS.into());
            "(attribute_not_exists(#dm.#gstale) OR size(#dm.#gstale) = :gzero) AND attribute_not_exists(#dm.#gkeys) \
             AND attribute_not_exists(#dm.#gchunks)"
                .to_owned()
        };
        expr.text = match self {
            Guard::Exists => format!("attribute_exists({})", pk(&mut expr)),
            Guard::Absent => format!("attribute_not_exists({})", pk(&mut expr)),
            Guard::Revision(rev) => compare(&mut expr, "revision", rev),
            Guard::WriteId(id) => compare(&mut expr, "write_id", id),
            Guard::Shape(shape) => format!("attribute_exists({}) AND {}", pk(&mut expr), compare(&mut expr, "shape", shape)),
            Guard::Settled(shape) => {
                let exists = format!("attribute_exists({})", pk(&mut expr));
                format!("{exists} AND {} AND {}", compare(&mut expr, "shape", shape), settled(&mut expr))
            }
            Guard::AbsentOrSettled(shape) => {
                let absent = format!("attribute_not_exists({})", pk(&mut expr));
                format!("{absent} OR ({} AND {})", compare(&mut expr, "shape", shape), settled(&mut expr))
            }
            Guard::RevisionSettled(rev) => format!("{} AND {}", compare(&mut expr, "revision", rev), settled(&mut expr)),
        };
        if expr.text.contains(":gzero") {
            expr.values.insert(":gzero".into(), AttributeValue::N("0".into()));
        }
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

/// Name of the root metadata entry that says a save's shard keys carry its
/// write id ([`keyed_shard_key`]); its value is `"write_id"`.
pub(crate) const SHARD_KEYS: &str = "shard_keys";
/// Name of the root metadata entry listing the items owed deletion.
pub(crate) const STALE: &str = "stale";
/// Name of the metadata entry of an item (the root: of the object) listing
/// the leaves stored in chunk items.
pub(crate) const CHUNKS: &str = "chunks";

/// The metadata of a root item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RootMeta {
    pub(crate) write_id: String,
    pub(crate) revision: String,
    pub(crate) layout: Layout,
    /// Element counts of list shards, by full path: what a later save must
    /// delete when a list shrinks.
    pub(crate) lists: BTreeMap<String, usize>,
    /// Whether this save's shard keys carry its write id.
    pub(crate) keyed: bool,
    /// Leaves stored in chunk items, by full path: how many chunks each.
    pub(crate) chunks: BTreeMap<String, crate::chunk::Recorded>,
    /// Items owed deletion (superseded saves, saves that never committed),
    /// by id: a save or delete of the object deletes them.
    pub(crate) stale: BTreeMap<String, Stale>,
}

/// Items a root records as owed deletion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stale {
    /// Every shard and chunk item of one save (its id is the save's write id).
    Save { layout: Layout, lists: BTreeMap<String, usize>, chunks: BTreeMap<String, crate::chunk::Recorded>, keyed: bool },
    /// Items named one by one, `(table, key attribute, key)`: a dynamo-store
    /// 0.6 object's shard items, whose keys are random.
    Items(Vec<(String, String, String)>),
}

impl Stale {
    fn to_value(&self, id: &str) -> Value {
        match self {
            Stale::Save { layout, lists, chunks, keyed } => {
                let mut m = Map::new();
                m.insert("write_id".into(), id.into());
                m.insert("layout".into(), layout_to_meta(layout));
                if !lists.is_empty() {
                    m.insert("lists".into(), json!(lists));
                }
                if !chunks.is_empty() {
                    m.insert(CHUNKS.into(), json!(chunks));
                }
                if *keyed {
                    m.insert(SHARD_KEYS.into(), "write_id".into());
                }
                Value::Object(m)
            }
            Stale::Items(items) => json!({"items": items}),
        }
    }

    fn from_value(value: &Value) -> Result<Self> {
        if let Some(items) = value.get("items") {
            return serde_json::from_value(items.clone()).map(Stale::Items).map_err(|_| format_error("has unreadable stale items"));
        }
        Ok(Stale::Save {
            layout: layout_from_meta(value.get("layout").ok_or_else(|| format_error("has a stale save without `layout`"))?)?,
            lists: lists_of(value)?,
            chunks: chunks_of(value)?,
            keyed: keyed_of(value)?,
        })
    }

    /// The stale entries as stored in a root's metadata.
    pub(crate) fn map_value(stale: &BTreeMap<String, Stale>) -> Value {
        Value::Object(stale.iter().map(|(id, s)| (id.clone(), s.to_value(id))).collect())
    }
}

fn lists_of(value: &Value) -> Result<BTreeMap<String, usize>> {
    match value.get("lists") {
        None => Ok(BTreeMap::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| format_error("has unreadable `lists`")),
    }
}

/// The `chunks` entry of an item's metadata: chunk counts by leaf path.
pub(crate) fn chunks_of(value: &Value) -> Result<BTreeMap<String, crate::chunk::Recorded>> {
    match value.get(CHUNKS) {
        None => Ok(BTreeMap::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| format_error(&format!("has unreadable `{CHUNKS}`"))),
    }
}

fn keyed_of(value: &Value) -> Result<bool> {
    match value.get(SHARD_KEYS) {
        None => Ok(false),
        Some(v) if v == "write_id" => Ok(true),
        Some(_) => Err(format_error(&format!("has an unknown `{SHARD_KEYS}`"))),
    }
}

fn stale_of(value: &Value) -> Result<BTreeMap<String, Stale>> {
    match value.get(STALE) {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(entries)) => entries.iter().map(|(id, v)| Ok((id.clone(), Stale::from_value(v)?))).collect(),
        Some(_) => Err(format_error(&format!("has `{STALE}` that is not a map"))),
    }
}

/// What a root item holds: an object, or a tombstone (no object, items
/// owed deletion: a delete or a first save that has not finished).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Root {
    Object(RootMeta),
    Tombstone { revision: String, stale: BTreeMap<String, Stale> },
}

impl Root {
    /// A root's stored metadata attribute: as JSON (for loaders that keep
    /// it) and read.
    pub(crate) fn decode(meta: AttributeValue) -> Result<(Value, Root)> {
        let value = crate::value::to_json(meta)?;
        let decoded = Root::from_value(&value)?;
        Ok((value, decoded))
    }

    /// [`decode`](Self::decode) by a load that expects the object in
    /// `expected`'s layout: a stored layout equal to what `expected`
    /// records is taken as `expected`, without turning it into JSON and
    /// reading it back. The metadata as JSON only with `keep` (for a loader
    /// that keeps it), `null` otherwise.
    /// (`recorded`: what `expected` records, [`recorded`]`(expected)`.)
    pub(crate) fn decode_expecting(meta: AttributeValue, expected: &Layout, recorded: &Recorded, keep: bool) -> Result<(Value, Root)> {
        let AttributeValue::M(mut map) = meta else { return Self::decode(meta) };
        if map.get("layout") != Some(&recorded.attr) {
            return Self::decode(AttributeValue::M(map));
        }
        map.remove("layout");
        let mut value = crate::value::to_json(AttributeValue::M(map))?;
        // A root recording a layout holds an object (a tombstone has none).
        let decoded = RootMeta::from_value_with(&value, Some(expected)).map(Root::Object)?;
        match (keep, &mut value) {
            (true, Value::Object(m)) => {
                m.insert("layout".into(), recorded.meta.clone());
            }
            _ => value = Value::Null,
        }
        Ok((value, decoded))
    }

    pub(crate) fn from_value(value: &Value) -> Result<Self> {
        check_version(value)?;
        if value.get("write_id").is_none() && value.get("layout").is_none() {
            let revision = value.get("revision").and_then(Value::as_str).ok_or_else(|| format_error("lacks `revision`"))?;
            return Ok(Root::Tombstone { revision: revision.to_owned(), stale: stale_of(value)? });
        }
        RootMeta::from_value(value).map(Root::Object)
    }

    pub(crate) fn revision(&self) -> &str {
        match self {
            Root::Object(meta) => &meta.revision,
            Root::Tombstone { revision, .. } => revision,
        }
    }

    pub(crate) fn stale(&self) -> &BTreeMap<String, Stale> {
        match self {
            Root::Object(meta) => &meta.stale,
            Root::Tombstone { stale, .. } => stale,
        }
    }

    /// The object, if this root holds one.
    pub(crate) fn object(self) -> Option<RootMeta> {
        match self {
            Root::Object(meta) => Some(meta),
            Root::Tombstone { .. } => None,
        }
    }
}

/// The metadata of a tombstone root.
pub(crate) fn tombstone_meta(revision: &str, stale: &BTreeMap<String, Stale>) -> Value {
    json!({"version": VERSION, "revision": revision, STALE: Stale::map_value(stale)})
}

impl RootMeta {
    /// The metadata attribute of a root holding this object, recording
    /// these chunk counts and stale entries (a save's root records those
    /// of all its items, and what it owes; this one's own are not read).
    /// The layout's part is `recorded`, the attribute value kept for the
    /// layout ([`recorded`]`(&self.layout)`), not built again for every save.
    pub(crate) fn to_attr_with(
        &self,
        recorded: &Recorded,
        region: Option<&str>,
        chunks: &BTreeMap<String, crate::chunk::Recorded>,
        stale: &BTreeMap<String, Stale>,
    ) -> AttributeValue {
        let mut m = Map::new();
        m.insert("version".into(), VERSION.into());
        m.insert("table".into(), self.layout.table.as_ref().into());
        m.insert("key".into(), self.layout.key.as_ref().into());
        if let Some(region) = region {
            m.insert("region".into(), region.into());
        }
        m.insert("write_id".into(), self.write_id.clone().into());
        m.insert("revision".into(), self.revision.clone().into());
        m.insert("shape".into(), recorded.shape.clone().into());
        if !self.lists.is_empty() {
            m.insert("lists".into(), json!(self.lists));
        }
        if self.keyed {
            m.insert(SHARD_KEYS.into(), "write_id".into());
        }
        if !chunks.is_empty() {
            m.insert(CHUNKS.into(), json!(chunks));
        }
        if !stale.is_empty() {
            m.insert(STALE.into(), Stale::map_value(stale));
        }
        let mut attr: HashMap<String, AttributeValue> = m.into_iter().map(|(name, v)| (name, crate::value::to_attr(v))).collect();
        attr.insert("layout".into(), recorded.attr.clone());
        AttributeValue::M(attr)
    }

    pub(crate) fn from_value(value: &Value) -> Result<Self> {
        Self::from_value_with(value, None)
    }

    /// [`from_value`](Self::from_value), with the layout given when it is
    /// already known (then `value` need not hold it).
    fn from_value_with(value: &Value, layout: Option<&Layout>) -> Result<Self> {
        check_version(value)?;
        let text =
            |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format_error(&format!("lacks `{name}`")));
        let layout = match layout {
            Some(layout) => layout.clone(),
            None => layout_from_meta(value.get("layout").ok_or_else(|| format_error("lacks `layout`"))?)?,
        };
        Ok(RootMeta {
            write_id: text("write_id")?,
            revision: text("revision")?,
            layout,
            lists: lists_of(value)?,
            keyed: keyed_of(value)?,
            chunks: chunks_of(value)?,
            stale: stale_of(value)?,
        })
    }

    /// This save's items, as a stale entry (its id: the write id).
    pub(crate) fn as_stale(&self) -> Stale {
        Stale::Save { layout: self.layout.clone(), lists: self.lists.clone(), chunks: self.chunks.clone(), keyed: self.keyed }
    }

    /// Every shard and chunk item of this save of the object keyed `root`.
    pub(crate) fn items(&self, root: &str) -> Result<Vec<(String, String, String)>> {
        crate::ops::save_items(&self.layout, &self.lists, &self.chunks, self.keys(root))
    }

    /// How this save keyed its shard items.
    pub(crate) fn keys<'a>(&'a self, root: &'a str) -> Keys<'a> {
        Keys { root, write_id: self.keyed.then_some(self.write_id.as_str()) }
    }
}

/// The metadata of a shard item, with the chunk counts of its own leaves
/// stored in chunk items.
pub(crate) fn shard_meta(
    write_id: &str,
    shape: &str,
    root_key: &str,
    path: &PlainPath,
    chunks: &BTreeMap<String, crate::chunk::Recorded>,
) -> Value {
    let mut meta = json!({"version": VERSION, "write_id": write_id, "shape": shape, "root": root_key, "path": path.to_string()});
    if !chunks.is_empty() {
        meta[CHUNKS] = json!(chunks);
    }
    meta
}

/// The metadata of a chunk item: chunk `index` of the leaf at `path`.
pub(crate) fn chunk_meta(write_id: &str, root_key: &str, path: &PlainPath, index: usize) -> Value {
    json!({"version": VERSION, "write_id": write_id, "root": root_key, "path": path.to_string(), "chunk": index})
}

/// The write id recorded in any item's metadata.
pub(crate) fn write_id_of(meta: &Value) -> Result<&str> {
    check_version(meta)?;
    meta.get("write_id").and_then(Value::as_str).ok_or_else(|| format_error("lacks `write_id`"))
}

/// [`write_id_of`] read straight from an item's metadata attribute, as
/// a load checks every shard and chunk item it assembles: without turning
/// the whole attribute into JSON first.
pub(crate) fn write_id_of_attr(meta: &AttributeValue) -> Result<&str> {
    let AttributeValue::M(m) = meta else {
        return Err(format_error("lacks a format version (data not written by dystore 1?)"));
    };
    let version = m.get("version");
    if version.is_none() && m.contains_key("table_name") && m.contains_key("primary_key_name") {
        return Err(format_error("is dynamo-store 0.6's: the object is read-only until upgraded (`upgrade`, docs/MIGRATING.md)"));
    }
    match version {
        Some(AttributeValue::N(n)) => match n.parse::<u64>() {
            Ok(VERSION) => {}
            Ok(v) => return Err(format_error(&format!("has format version {v}; this build reads version {VERSION}"))),
            Err(_) => return Err(format_error("lacks a format version (data not written by dystore 1?)")),
        },
        _ => return Err(format_error("lacks a format version (data not written by dystore 1?)")),
    }
    match m.get("write_id") {
        Some(AttributeValue::S(id)) => Ok(id),
        _ => Err(format_error("lacks `write_id`")),
    }
}

fn check_version(meta: &Value) -> Result<()> {
    if meta.get("version").is_none() && meta.get("table_name").is_some() && meta.get("primary_key_name").is_some() {
        return Err(format_error("is dynamo-store 0.6's: the object is read-only until upgraded (`upgrade`, docs/MIGRATING.md)"));
    }
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
    fn a_root_records_its_layout_and_the_rest_as_docs_format_says() {
        let layout = Store::new("People", "ID").shard(Store::new("Loc", "IDX").at("$.location")).into_layout();
        let meta = RootMeta {
            write_id: "w".into(),
            revision: "r".into(),
            layout: layout.clone(),
            lists: BTreeMap::from([("$.l".to_owned(), 2)]),
            keyed: true,
            chunks: BTreeMap::new(),
            stale: BTreeMap::new(),
        };
        let chunks = BTreeMap::from([("$.big".to_owned(), crate::chunk::Recorded { n: 3, sha256: "ab".into() })]);
        let stale = BTreeMap::from([("old".to_owned(), Stale::Items(vec![("T".into(), "K".into(), "k".into())]))]);
        let stored = crate::value::to_json(meta.to_attr_with(&recorded(&layout), Some("eu-west-1"), &chunks, &stale)).unwrap();
        let expected = json!({
            "version": VERSION, "table": "People", "key": "ID", "region": "eu-west-1", "write_id": "w", "revision": "r",
            "layout": {"table": "People", "key": "ID", "shards": [{"path": "$.location", "layout": {"table": "Loc", "key": "IDX", "shards": []}}]},
            "shape": shape_of(&layout), "lists": {"$.l": 2}, SHARD_KEYS: "write_id",
            CHUNKS: {"$.big": {"n": 3, "sha256": "ab"}}, STALE: {"old": {"items": [["T", "K", "k"]]}},
        });
        assert_eq!(stored, expected);
        assert_eq!(RootMeta::from_value(&stored).unwrap(), RootMeta { chunks, stale, ..meta });
    }

    #[test]
    fn a_load_expecting_a_layout_decodes_as_any_reader_does() {
        let people = Store::new("People", "ID").shard(Store::new("Loc", "IDX").at("$.location")).into_layout();
        let other = Store::new("People", "ID").shard(Store::new("Loc", "IDX").at("$.place")).into_layout();
        let meta = |layout: &Layout| RootMeta {
            write_id: "w".into(),
            revision: "r".into(),
            layout: layout.clone(),
            lists: BTreeMap::new(),
            keyed: false,
            chunks: BTreeMap::new(),
            stale: BTreeMap::new(),
        };
        let tombstone = crate::value::to_attr(tombstone_meta("r", &BTreeMap::new()));
        let bad = crate::value::to_attr(json!({"version": VERSION, "revision": "r", "layout": layout_to_meta(&people)}));
        for attr in [
            meta(&people).to_attr_with(&recorded(&people), None, &BTreeMap::new(), &BTreeMap::new()),
            meta(&other).to_attr_with(&recorded(&other), None, &BTreeMap::new(), &BTreeMap::new()),
            tombstone,
            bad,
        ] {
            let any = Root::decode(attr.clone()).map_err(|e| e.to_string());
            let kept = Root::decode_expecting(attr.clone(), &people, &recorded(&people), true).map_err(|e| e.to_string());
            assert_eq!(kept, any, "{attr:?}");
            let unkept = Root::decode_expecting(attr, &people, &recorded(&people), false).map_err(|e| e.to_string());
            assert_eq!(unkept.map(|(_, root)| root), any.map(|(_, root)| root));
        }
    }

    #[test]
    fn shard_paths_are_recorded_in_normal_form() {
        let spelled = |loc: &str, items: &str| {
            Store::new("People", "ID").shard(Store::new("Loc", "IDX").at(loc)).shard(Store::new("Items", "I").at(items)).into_layout()
        };
        let normal = spelled("$.location", "$.items[*]");
        for other in [spelled("$['location']", "$['items'][*]"), spelled("$[\"location\"]", "$[\"items\"][*]")] {
            assert_eq!(layout_to_meta(&other), layout_to_meta(&normal));
            assert_eq!(shape_of(&other), shape_of(&normal));
        }
        assert_eq!(layout_to_meta(&normal)["shards"][1]["path"], json!("$.items[*]"));
    }

    #[test]
    fn references_are_recognised_only_in_their_exact_shape() {
        let r = ref_value("T", "k#$.a", None);
        assert_eq!(as_ref(&r), Some(Ref { table: "T".into(), key: "k#$.a".into() }));
        assert_eq!(as_ref(&json!({REF: {"table": "T"}})), None);
        assert_eq!(as_ref(&json!({REF: {"table": "T", "key": "k"}, "x": 1})), None);
    }

    proptest::proptest! {
        /// Read from the attribute or from its JSON, an item's write id
        /// (or the reason there is none) is the same.
        #[test]
        fn the_write_id_reads_alike_from_the_attribute_and_from_json(
            version in proptest::option::of(proptest::prop_oneof![
                proptest::strategy::Just(json!(1)), proptest::strategy::Just(json!(2)), proptest::strategy::Just(json!(1.0)),
                proptest::strategy::Just(json!(-1)), proptest::strategy::Just(json!("1")), proptest::strategy::Just(json!(null)),
            ]),
            write_id in proptest::option::of(proptest::prop_oneof![
                proptest::strategy::Just(json!("w1")), proptest::strategy::Just(json!(7)), proptest::strategy::Just(json!({"a": 1})),
            ]),
            legacy in proptest::bool::ANY,
        ) {
            let mut m = Map::new();
            if let Some(v) = version { m.insert("version".into(), v); }
            if let Some(w) = write_id { m.insert("write_id".into(), w); }
            if legacy {
                m.insert("table_name".into(), json!("T"));
                m.insert("primary_key_name".into(), json!("K"));
            }
            let value = Value::Object(m);
            let attr = crate::value::to_attr(value.clone());
            let from_attr = write_id_of_attr(&attr).map_err(|e| e.to_string());
            let from_json = write_id_of(&value).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(from_attr, from_json);
        }
    }

    #[test]
    fn unknown_versions_are_refused_with_the_version_named() {
        let e = write_id_of(&json!({"version": 7, "write_id": "w"})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Format);
        assert!(e.to_string().contains("version 7"), "{e}");
    }
}
