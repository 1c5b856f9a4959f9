//! Splitting a document into items by its layout, and finding which item
//! holds a path.

use crate::error::{Error, ErrorKind, Result};
use crate::format::{ref_value, shard_key};
use crate::layout::{Layout, Shard};
use crate::path::{parse_plain_only, PlainPath, Step};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A shard's position in its parent: the field steps, and whether it is a
/// list of shards (`[*]`).
pub(crate) struct Position {
    pub(crate) steps: PlainPath,
    pub(crate) list: bool,
}

/// Parses a shard's path (`$.a.b` or `$.a.b[*]`).
pub(crate) fn position(shard: &Shard) -> Result<Position> {
    let (raw, list) = match shard.path.strip_suffix("[*]") {
        Some(p) => (p, true),
        None => (shard.path.as_ref(), false),
    };
    let steps = parse_plain_only(raw, "a shard path").map_err(|e| e.with_table(shard.layout.table.as_ref()))?;
    let fields_only = steps.steps.iter().all(|s| matches!(s, Step::Field(_)));
    if steps.steps.is_empty() || !fields_only {
        return Err(Error::new(ErrorKind::InvalidPath, "a shard path names a field: `$.name`, `$.a.b` or `$.list[*]`")
            .with_table(shard.layout.table.as_ref())
            .with_path(shard.path.as_ref()));
    }
    Ok(Position { steps, list })
}

/// Checks a layout before use: table names DynamoDB accepts, key names,
/// shard paths.
pub(crate) fn validate(layout: &Layout) -> Result<()> {
    validate_table_name(&layout.table)?;
    if layout.key.is_empty() || layout.key.len() > 255 {
        return Err(Error::new(ErrorKind::InvalidKey, "the key attribute name must be 1 to 255 bytes").with_table(layout.table.as_ref()));
    }
    for shard in layout.shards.iter() {
        position(shard)?;
        if shard.layout.table == layout.table && shard.layout.key == layout.key {
            return Err(Error::new(ErrorKind::Config, "a shard cannot share its parent's table and key attribute")
                .with_table(layout.table.as_ref())
                .with_path(shard.path.as_ref()));
        }
        validate(&shard.layout)?;
    }
    Ok(())
}

/// DynamoDB's rule: 3 to 255 characters of `[A-Za-z0-9_.-]`.
pub(crate) fn validate_table_name(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if (3..=255).contains(&name.len()) && ok_chars {
        return Ok(());
    }
    Err(Error::new(ErrorKind::InvalidTableName, "a table name is 3 to 255 characters of letters, digits, `_`, `-` and `.`").with_table(name))
}

/// One item of a split document.
pub(crate) struct Part<'l> {
    pub(crate) layout: &'l Layout,
    /// Full path of this item's object from the root (`$` for the root).
    pub(crate) path: PlainPath,
    pub(crate) key: String,
    pub(crate) body: Map<String, Value>,
}

/// Everything one save writes.
pub(crate) struct Plan<'l> {
    /// Root first, then shards depth first.
    pub(crate) parts: Vec<Part<'l>>,
    /// Items of optional shards that are absent now, deleted so no orphan stays.
    pub(crate) absent: Vec<(&'l Layout, String)>,
    /// Element counts of list shards, by full path.
    pub(crate) lists: BTreeMap<String, usize>,
}

/// Splits `doc` (the root object) into one part per item.
pub(crate) fn split<'l>(layout: &'l Layout, root_key: &str, region: Option<&str>, doc: Map<String, Value>) -> Result<Plan<'l>> {
    let mut plan = Plan { parts: Vec::new(), absent: Vec::new(), lists: BTreeMap::new() };
    split_object(layout, root_key, region, PlainPath::root(), root_key.to_owned(), doc, &mut plan)?;
    Ok(plan)
}

fn split_object<'l>(
    layout: &'l Layout,
    root_key: &str,
    region: Option<&str>,
    path: PlainPath,
    key: String,
    mut body: Map<String, Value>,
    plan: &mut Plan<'l>,
) -> Result<()> {
    let index = plan.parts.len();
    plan.parts.push(Part { layout, path: path.clone(), key, body: Map::new() });
    for shard in layout.shards.iter() {
        let pos = position(shard)?;
        let full = path.join(&pos.steps);
        let child = &shard.layout;
        let mut slot = slot_mut(&mut body, &pos.steps);
        let value = slot.as_deref_mut().map(std::mem::take).unwrap_or(Value::Null);
        // Each shard records its own layout's region, else the client's.
        let child_region = child.region.as_deref().or(region);
        match (value, pos.list) {
            (Value::Null, false) => {
                plan.absent.extend(deterministic_keys(child, root_key, &full));
                put_back(slot, Value::Null);
            }
            (Value::Null, true) => {
                plan.lists.insert(full.to_string(), 0);
                put_back(slot, Value::Null);
            }
            (Value::Object(obj), false) => {
                let child_key = shard_key(root_key, &full);
                put_back(slot, ref_value(&child.table, &child_key, child_region));
                split_object(child, root_key, region, full, child_key, obj, plan)?;
            }
            (Value::Array(items), true) => {
                plan.lists.insert(full.to_string(), items.len());
                let mut refs = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let element = full.child(Step::Index(i));
                    let Value::Object(obj) = item else {
                        return Err(not_an_object(child, &element));
                    };
                    let child_key = shard_key(root_key, &element);
                    refs.push(ref_value(&child.table, &child_key, child_region));
                    split_object(child, root_key, region, element, child_key, obj, plan)?;
                }
                put_back(slot, Value::Array(refs));
            }
            (_, list) => {
                let what = if list { "a list of objects" } else { "an object" };
                return Err(Error::new(ErrorKind::InvalidDocument, format!("a shard holds {what}"))
                    .with_table(child.table.as_ref())
                    .with_path(full.to_string()));
            }
        }
    }
    plan.parts[index].body = body;
    Ok(())
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
fn slot_mut<'a>(body: &'a mut Map<String, Value>, steps: &PlainPath) -> Option<&'a mut Value> {
    let (last, parents) = steps.steps.split_last()?;
    let mut map = body;
    for step in parents {
        let Step::Field(name) = step else { return None };
        map = map.get_mut(name)?.as_object_mut()?;
    }
    let Step::Field(name) = last else { return None };
    map.get_mut(name)
}

/// Keys of the shard at `path` and of every shard below it that does not sit
/// in a list (those are enumerable from the layout alone).
pub(crate) fn deterministic_keys<'l>(layout: &'l Layout, root_key: &str, path: &PlainPath) -> Vec<(&'l Layout, String)> {
    let mut out = vec![(layout, shard_key(root_key, path))];
    for shard in layout.shards.iter() {
        if let Ok(pos) = position(shard)
            && !pos.list
        {
            out.extend(deterministic_keys(&shard.layout, root_key, &path.join(&pos.steps)));
        }
    }
    out
}

/// Keys of every shard item of an object whose list shards have the element
/// counts `lists` (as recorded in its root metadata).
pub(crate) fn all_shard_keys<'l>(layout: &'l Layout, root_key: &str, path: &PlainPath, lists: &BTreeMap<String, usize>, out: &mut Vec<(&'l Layout, String)>) {
    for shard in layout.shards.iter() {
        let Ok(pos) = position(shard) else { continue };
        let full = path.join(&pos.steps);
        if pos.list {
            let count = lists.get(&full.to_string()).copied().unwrap_or(0);
            for i in 0..count {
                let element = full.child(Step::Index(i));
                out.push((&shard.layout, shard_key(root_key, &element)));
                all_shard_keys(&shard.layout, root_key, &element, lists, out);
            }
        } else {
            out.push((&shard.layout, shard_key(root_key, &full)));
            all_shard_keys(&shard.layout, root_key, &full, lists, out);
        }
    }
}

/// Whether a layout (or any shard below it) has list shards.
pub(crate) fn has_lists(layout: &Layout) -> bool {
    layout.shards.iter().any(|s| s.is_list() || has_lists(&s.layout))
}

/// Which item holds a plain path.
pub(crate) enum Holder<'l> {
    /// Inside one item: its layout, the full path of its object, its key,
    /// and the path's remainder within the item.
    Item { layout: &'l Layout, base: PlainPath, key: String, rest: PlainPath },
    /// The path is a shard, a list of shards, or holds shards: it spans items.
    Spans,
}

/// Finds the item holding `path` of the object keyed `root_key`.
pub(crate) fn holder<'l>(layout: &'l Layout, root_key: &str, path: &PlainPath) -> Result<Holder<'l>> {
    let (mut layout, mut base, mut key, mut rest) = (layout, PlainPath::root(), root_key.to_owned(), path.clone());
    'descend: loop {
        for shard in layout.shards.iter() {
            let pos = position(shard)?;
            if pos.steps.strip_prefix(&rest).is_some() {
                // The path is this shard's position or above it.
                return Ok(Holder::Spans);
            }
            let Some(after) = rest.strip_prefix(&pos.steps) else { continue };
            let (into, after) = match (pos.list, after.steps.first()) {
                (false, _) => (base.join(&pos.steps), after),
                (true, Some(Step::Index(i))) => {
                    let into = base.join(&pos.steps).child(Step::Index(*i));
                    (into, PlainPath { steps: after.steps[1..].to_vec() })
                }
                (true, _) => return Err(Error::new(ErrorKind::InvalidPath, "a list shard is indexed by position").with_path(path.to_string())),
            };
            if after.steps.is_empty() {
                return Ok(Holder::Spans);
            }
            key = shard_key(root_key, &into);
            (layout, base, rest) = (&shard.layout, into, after);
            continue 'descend;
        }
        return Ok(Holder::Item { layout, base, key, rest });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::plain;
    use crate::Store;
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
        let doc = json!({"name": "A", "location": {"city": "X", "geo": {"lat": 1}}, "locales": [{"t": 1}, {"t": 2}]});
        let plan = split(&layout, "k", None, doc.as_object().unwrap().clone()).unwrap();
        let keys: Vec<_> = plan.parts.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["k", "k#$.location", "k#$.location.geo", "k#$.locales[0]", "k#$.locales[1]"]);
        assert_eq!(plan.parts[0].body["location"], json!({"__dystore_ref__": {"table": "Locations", "key": "k#$.location"}}));
        assert_eq!(plan.parts[1].body["city"], json!("X"));
        assert_eq!(plan.lists["$.locales"], 2);
    }

    #[test]
    fn absent_optional_shards_are_scheduled_for_deletion() {
        let layout = people();
        let plan = split(&layout, "k", None, json!({"location": null}).as_object().unwrap().clone()).unwrap();
        let absent: Vec<_> = plan.absent.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(absent, ["k#$.location", "k#$.location.geo"]);
        assert_eq!(plan.parts.len(), 1);
    }

    #[test]
    fn a_shard_holding_a_scalar_is_an_invalid_document() {
        let layout = people();
        let e = split(&layout, "k", None, json!({"location": 3}).as_object().unwrap().clone()).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidDocument);
        assert_eq!(e.path(), Some("$.location"));
        assert_eq!(e.table(), Some("Locations"));
    }

    #[test]
    fn holder_descends_into_shards() {
        let layout = people();
        let Holder::Item { key, rest, layout: l, .. } = holder(&layout, "k", &plain("$.location.geo.lat")).unwrap() else { panic!() };
        assert_eq!((key.as_str(), rest.to_string().as_str(), l.table.as_ref()), ("k#$.location.geo", "$.lat", "Geo"));
        let Holder::Item { key, rest, .. } = holder(&layout, "k", &plain("$.locales[3].t")).unwrap() else { panic!() };
        assert_eq!((key.as_str(), rest.to_string().as_str()), ("k#$.locales[3]", "$.t"));
        let Holder::Item { key, .. } = holder(&layout, "k", &plain("$.name")).unwrap() else { panic!() };
        assert_eq!(key, "k");
        for spanning in ["$.location", "$.locales", "$.locales[1]", "$"] {
            assert!(matches!(holder(&layout, "k", &plain(spanning)).unwrap(), Holder::Spans), "{spanning}");
        }
    }

    #[test]
    fn table_names_follow_dynamodb_rules() {
        for bad in ["ab", "has space", "semi;colon", &"x".repeat(256)] {
            assert_eq!(validate_table_name(bad).unwrap_err().kind(), ErrorKind::InvalidTableName, "{bad}");
        }
        validate_table_name("My_Table-1.0").unwrap();
    }
}
