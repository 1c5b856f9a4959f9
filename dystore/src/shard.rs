//! Splitting a document into items by its resolved layout, enumerating the
//! keys of its shard items, and finding which item holds a path.

use crate::error::{Error, ErrorKind, Result};
use crate::format::{Keys, ref_value, shard_key};
use crate::layout::Layout;
use crate::path::{PlainPath, Step};
use crate::tree::Node;
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::collections::BTreeMap;

/// One item of a split document.
pub(crate) struct Part<'a> {
    pub(crate) node: &'a Node<'a>,
    /// Full path of this item's object from the root (`$` for the root).
    pub(crate) path: PlainPath,
    pub(crate) key: String,
    pub(crate) body: Map<String, Value>,
}

/// Everything one save writes.
pub(crate) struct Plan<'a> {
    /// Root first, then shards depth first.
    pub(crate) parts: Vec<Part<'a>>,
    /// Items of optional shards that are absent now, deleted so no orphan stays.
    pub(crate) absent: Vec<(&'a Layout, String)>,
    /// Element counts of list shards, by full path.
    pub(crate) lists: BTreeMap<String, usize>,
}

/// Splits `doc` (the root object) into one part per item, keyed by `keys`.
/// Each shard's place in its parent gets a reference (or `null` for an
/// absent one).
pub(crate) fn split<'a>(root: &'a Node<'a>, keys: Keys<'_>, region: Option<&str>, doc: Map<String, Value>) -> Result<Plan<'a>> {
    let mut plan = Plan { parts: Vec::new(), absent: Vec::new(), lists: BTreeMap::new() };
    split_object(root, keys, region, PlainPath::root(), keys.root.to_owned(), doc, &mut plan)?;
    Ok(plan)
}

fn split_object<'a>(
    node: &'a Node<'a>,
    keys: Keys<'_>,
    region: Option<&str>,
    path: PlainPath,
    key: String,
    mut body: Map<String, Value>,
    plan: &mut Plan<'a>,
) -> Result<()> {
    let index = plan.parts.len();
    plan.parts.push(Part { node, path: path.clone(), key, body: Map::new() });
    for branch in &node.shards {
        let full = path.join(&branch.at);
        let child = branch.node.layout;
        let mut slot = slot_mut(&mut body, &branch.at);
        let value = slot.as_deref_mut().map(std::mem::take).unwrap_or(Value::Null);
        // Each shard records its own layout's region, else the client's.
        let child_region = child.region.as_deref().or(region);
        match (value, branch.list) {
            (Value::Null, false) => {
                plan.absent.extend(deterministic_keys(&branch.node, keys.root, &full));
                put_back(slot, Value::Null);
            }
            (Value::Null, true) => {
                plan.lists.insert(full.to_string(), 0);
                put_back(slot, Value::Null);
            }
            (Value::Object(obj), false) => {
                let child_key = checked_shard_key(child, keys, &full)?;
                put_back(slot, ref_value(&child.table, &child_key, child_region));
                split_object(&branch.node, keys, region, full, child_key, obj, plan)?;
            }
            (Value::Array(items), true) => {
                plan.lists.insert(full.to_string(), items.len());
                let mut refs = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let element = full.child(Step::Index(i));
                    let Value::Object(obj) = item else {
                        return Err(not_an_object(child, &element));
                    };
                    let child_key = checked_shard_key(child, keys, &element)?;
                    refs.push(ref_value(&child.table, &child_key, child_region));
                    split_object(&branch.node, keys, region, element, child_key, obj, plan)?;
                }
                put_back(slot, Value::Array(refs));
            }
            (_, list) => {
                let what = if list { "a list of objects" } else { "an object" };
                return Err(Error::new(ErrorKind::InvalidDocument, format!("a shard must hold {what}"))
                    .with_table(child.table.as_ref())
                    .with_path(full.to_string()));
            }
        }
    }
    plan.parts[index].body = body;
    Ok(())
}

/// DynamoDB's limit on a partition key value, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 2048;

/// Refuses, before any request, a root key whose shard items outside lists
/// (the ones every operation names from the layout alone) would have keys
/// over DynamoDB's limit; list elements are checked as a save splits them.
pub(crate) fn check_shard_keys(root: &Node<'_>, root_key: &str) -> Result<()> {
    for branch in root.shards.iter().filter(|b| !b.list) {
        for (layout, key) in deterministic_keys(&branch.node, root_key, &branch.at) {
            if key.len() > MAX_KEY_BYTES {
                // A shard key is the root key, `#`, then the path.
                return Err(too_long(layout, key.len(), key[root_key.len() + 1..].to_owned()));
            }
        }
    }
    Ok(())
}

fn too_long(layout: &Layout, bytes: usize, path: String) -> Error {
    Error::new(
        ErrorKind::InvalidKey,
        format!("the shard's key (root key, `#`, path) would be {bytes} bytes, over DynamoDB's {MAX_KEY_BYTES}: shorten the key or the names on the path"),
    )
    .with_table(layout.table.as_ref())
    .with_path(path)
}

/// The key of the shard item at `path`, if DynamoDB accepts it.
fn checked_shard_key(layout: &Layout, keys: Keys<'_>, path: &PlainPath) -> Result<String> {
    let key = keys.at(path);
    if key.len() > MAX_KEY_BYTES {
        return Err(too_long(layout, key.len(), path.to_string()));
    }
    Ok(key)
}

fn not_an_object(layout: &Layout, path: &PlainPath) -> Error {
    Error::new(ErrorKind::InvalidDocument, "each element of a list shard must be an object")
        .with_table(layout.table.as_ref())
        .with_path(path.to_string())
}

fn put_back(slot: Option<&mut Value>, value: Value) {
    if let Some(slot) = slot {
        *slot = value;
    }
}

/// The value at `steps` (fields only) inside `body`, if every map on the way exists.
pub(crate) fn slot_mut<'a>(body: &'a mut Map<String, Value>, steps: &PlainPath) -> Option<&'a mut Value> {
    let (last, parents) = steps.steps.split_last()?;
    let mut map = body;
    for step in parents {
        let Step::Field(name) = step else { return None };
        map = map.get_mut(name)?.as_object_mut()?;
    }
    let Step::Field(name) = last else { return None };
    map.get_mut(name)
}

/// Keys of the shard `node` at `path` and of every shard below it that does
/// not sit in a list (those are enumerable from the layout alone).
pub(crate) fn deterministic_keys<'a>(node: &Node<'a>, root_key: &str, path: &PlainPath) -> Vec<(&'a Layout, String)> {
    let mut out = vec![(node.layout, shard_key(root_key, path))];
    for branch in node.shards.iter().filter(|b| !b.list) {
        out.extend(deterministic_keys(&branch.node, root_key, &path.join(&branch.at)));
    }
    out
}

/// Keys of every shard item of an object keyed by `keys` whose list shards
/// have the element counts `lists` (as recorded in its root metadata).
pub(crate) fn all_shard_keys<'a>(
    node: &Node<'a>,
    keys: Keys<'_>,
    path: &PlainPath,
    lists: &BTreeMap<String, usize>,
    out: &mut Vec<(&'a Layout, String)>,
) {
    for branch in &node.shards {
        let full = path.join(&branch.at);
        if branch.list {
            let count = lists.get(&full.to_string()).copied().unwrap_or(0);
            for i in 0..count {
                let element = full.child(Step::Index(i));
                out.push((branch.node.layout, keys.at(&element)));
                all_shard_keys(&branch.node, keys, &element, lists, out);
            }
        } else {
            out.push((branch.node.layout, keys.at(&full)));
            all_shard_keys(&branch.node, keys, &full, lists, out);
        }
    }
}

/// Which item holds a plain path.
pub(crate) enum Holder<'a> {
    /// Inside one item: its node, the full path of its object, its key,
    /// and the path's remainder within the item.
    Item { node: &'a Node<'a>, base: PlainPath, key: String, rest: PlainPath },
    /// The path is a shard, a list of shards, or holds shards: it spans items.
    Spans,
}

/// Finds the item holding `path` of the object whose items are keyed by `keys`.
pub(crate) fn holder<'a>(root: &'a Node<'a>, keys: Keys<'_>, path: &PlainPath) -> Result<Holder<'a>> {
    let Some(Place { branches, base, rest }) = place(root, path)? else { return Ok(Holder::Spans) };
    let key = if base.steps.is_empty() { keys.root.to_owned() } else { keys.at(&base) };
    Ok(Holder::Item { node: node_at(root, &branches), base, key, rest })
}

/// Where a plain path lies in a resolved layout, whatever the object's
/// keys: [`holder`] without the item's key, so that it can be kept.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// The branches taken from the root to the node of the item holding
    /// the path, by index into each node's `shards`.
    pub(crate) branches: SmallVec<[usize; 4]>,
    /// Full path of that item's object from the root (`$` for the root).
    pub(crate) base: PlainPath,
    /// The path's remainder within the item.
    pub(crate) rest: PlainPath,
}

/// The place of `path` below `root`; `None` when the path is a shard, a
/// list of shards, or holds shards (it spans items).
///
/// # Errors
///
/// `InvalidPath` for a path into a list shard that does not index it.
pub(crate) fn place(root: &Node<'_>, path: &PlainPath) -> Result<Option<Place>> {
    let (mut node, mut base, mut rest) = (root, PlainPath::root(), path.clone());
    let mut branches = SmallVec::new();
    'descend: loop {
        for (index, branch) in node.shards.iter().enumerate() {
            if branch.at.strip_prefix(&rest).is_some() {
                // The path is this shard's position or above it.
                return Ok(None);
            }
            let Some(after) = rest.strip_prefix(&branch.at) else { continue };
            let (into, after) = match (branch.list, after.steps.first()) {
                (false, _) => (base.join(&branch.at), after),
                (true, Some(Step::Index(i))) => {
                    let into = base.join(&branch.at).child(Step::Index(*i));
                    (into, PlainPath { steps: after.steps[1..].to_vec() })
                }
                (true, _) => {
                    return Err(Error::new(ErrorKind::InvalidPath, "a list shard is indexed by position")
                        .with_table(branch.node.layout.table.as_ref())
                        .with_path(path.to_string()));
                }
            };
            if after.steps.is_empty() {
                return Ok(None);
            }
            branches.push(index);
            (node, base, rest) = (&branch.node, into, after);
            continue 'descend;
        }
        return Ok(Some(Place { branches, base, rest }));
    }
}

/// The first shard on the way to `path` that `doc` (the whole object, by
/// `root`'s layout) lacks while `path` goes on below it: its layout and the
/// path of its place (for a list shard, of the element), absent or `null`
/// in `doc`. `None` when every shard on the way is there, and for a path
/// that stops at a shard's place (which reads as no value).
pub(crate) fn absent_shard_above<'a>(root: &'a Node<'a>, path: &PlainPath, doc: &Value) -> Option<(&'a Layout, PlainPath)> {
    let (mut node, mut base, mut rest) = (root, PlainPath::root(), path.clone());
    'descend: loop {
        for branch in &node.shards {
            let Some(after) = rest.strip_prefix(&branch.at) else { continue };
            let (into, after) = match (branch.list, after.steps.first()) {
                (false, _) => (base.join(&branch.at), after),
                (true, Some(Step::Index(i))) => {
                    (base.join(&branch.at).child(Step::Index(*i)), PlainPath { steps: after.steps[1..].to_vec() })
                }
                (true, _) => return None,
            };
            if after.steps.is_empty() {
                return None;
            }
            if into.find(doc).is_none_or(Value::is_null) {
                return Some((branch.node.layout, into));
            }
            (node, base, rest) = (&branch.node, into, after);
            continue 'descend;
        }
        return None;
    }
}

/// The node reached from `root` by taking `branches` (a [`Place`]'s).
pub(crate) fn node_at<'a>(root: &'a Node<'a>, branches: &[usize]) -> &'a Node<'a> {
    branches.iter().fold(root, |node, &i| &node.shards[i].node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::path::plain;
    use serde_json::json;

    fn people() -> Layout {
        Store::new("People", "ID")
            .shard(Store::new("Locations", "IDX").at("$.location").shard(Store::new("Geo", "GID").at("$.geo")))
            .shard(Store::new("Locales", "LID").at("$.locales[*]"))
            .into_layout()
    }

    #[test]
    fn split_places_references_and_keys() {
        let layout = people();
        let layout = Node::new(&layout).unwrap();
        let doc = json!({"name": "A", "location": {"city": "X", "geo": {"lat": 1}}, "locales": [{"t": 1}, {"t": 2}]});
        let plan = split(&layout, Keys::plain("k"), None, doc.as_object().unwrap().clone()).unwrap();
        let keys: Vec<_> = plan.parts.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["k", "k#$.location", "k#$.location.geo", "k#$.locales[0]", "k#$.locales[1]"]);
        assert_eq!(plan.parts[0].body["location"], json!({"__dystore_ref__": {"table": "Locations", "key": "k#$.location"}}));
        assert_eq!(plan.parts[1].body["city"], json!("X"));
        assert_eq!(plan.lists["$.locales"], 2);
    }

    #[test]
    fn absent_optional_shards_are_scheduled_for_deletion() {
        let layout = people();
        let layout = Node::new(&layout).unwrap();
        let plan = split(&layout, Keys::plain("k"), None, json!({"location": null}).as_object().unwrap().clone()).unwrap();
        let absent: Vec<_> = plan.absent.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(absent, ["k#$.location", "k#$.location.geo"]);
        assert_eq!(plan.parts.len(), 1);
    }

    #[test]
    fn a_shard_holding_a_scalar_is_an_invalid_document() {
        let layout = people();
        let layout = Node::new(&layout).unwrap();
        let e = split(&layout, Keys::plain("k"), None, json!({"location": 3}).as_object().unwrap().clone()).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidDocument);
        assert_eq!(e.path(), Some("$.location"));
        assert_eq!(e.table(), Some("Locations"));
    }

    #[test]
    fn holder_descends_into_shards() {
        let layout = people();
        let layout = Node::new(&layout).unwrap();
        let Holder::Item { key, rest, node, .. } = holder(&layout, Keys::plain("k"), &plain("$.location.geo.lat")).unwrap() else {
            panic!()
        };
        assert_eq!((key.as_str(), rest.to_string().as_str(), node.layout.table.as_ref()), ("k#$.location.geo", "$.lat", "Geo"));
        let Holder::Item { key, rest, .. } = holder(&layout, Keys::plain("k"), &plain("$.locales[3].t")).unwrap() else { panic!() };
        assert_eq!((key.as_str(), rest.to_string().as_str()), ("k#$.locales[3]", "$.t"));
        let Holder::Item { key, .. } = holder(&layout, Keys::plain("k"), &plain("$.name")).unwrap() else { panic!() };
        assert_eq!(key, "k");
        for spanning in ["$.location", "$.locales", "$.locales[1]", "$"] {
            assert!(matches!(holder(&layout, Keys::plain("k"), &plain(spanning)).unwrap(), Holder::Spans), "{spanning}");
        }
    }
}
