//! Splitting a document into items by its layout, and finding which item
//! holds a path.

use crate::error::{Error, ErrorKind, Result};
use crate::format::{META, ref_value, shard_key};
use crate::layout::{Layout, Shard};
use crate::path::{Pattern, PatternStep, PlainPath, Step, parse_pattern};
use crate::rules::{Rules, never_matches, never_matches_shard};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A layout with every shard path parsed and checked: what each operation
/// resolves once and walks, never re-reading path strings.
#[derive(Debug)]
pub(crate) struct Node<'l> {
    pub(crate) layout: &'l Layout,
    pub(crate) shards: Vec<Branch<'l>>,
}

/// A shard of a [`Node`], placed in its parent object.
#[derive(Debug)]
pub(crate) struct Branch<'l> {
    /// The field steps from the parent object (`$.location` is `[location]`).
    pub(crate) at: PlainPath,
    /// One item per element of a list (`$.locales[*]`).
    pub(crate) list: bool,
    pub(crate) node: Node<'l>,
}

/// A layout resolved for one operation: its shard tree and its encryption
/// rules, both checked.
#[derive(Debug)]
pub(crate) struct Resolved<'l> {
    pub(crate) root: Node<'l>,
    pub(crate) rules: Rules,
}

impl<'l> Resolved<'l> {
    /// Resolves and checks `layout`: table and key names, shard paths, and
    /// every encryption rule (well formed, and able to match something).
    ///
    /// Errors name the table of the layout at fault and the path as written.
    pub(crate) fn new(layout: &'l Layout) -> Result<Self> {
        let root = Node::new(layout)?;
        let mut rules = Rules::default();
        root.add_rules(&Pattern::default(), &mut rules)?;
        root.check_rules(&rules, &Pattern::default())?;
        Ok(Resolved { root, rules })
    }
}

impl<'l> Node<'l> {
    /// Parses and checks `layout`'s names and shard paths, all the way down.
    pub(crate) fn new(layout: &'l Layout) -> Result<Self> {
        validate_table_name(&layout.table)?;
        if layout.key.is_empty() || layout.key.len() > 255 {
            return Err(
                Error::new(ErrorKind::InvalidKey, "the key attribute name must be 1 to 255 bytes").with_table(layout.table.as_ref())
            );
        }
        let shards = layout
            .shards
            .iter()
            .map(|shard| {
                let (at, list) = position(shard)?;
                check_place(layout, shard, &at)?;
                if shard.layout.table == layout.table && shard.layout.key == layout.key {
                    return Err(Error::new(ErrorKind::Config, "a shard cannot share its parent's table and key attribute")
                        .with_table(layout.table.as_ref())
                        .with_path(shard.path.as_ref()));
                }
                Ok(Branch { at, list, node: Node::new(&shard.layout)? })
            })
            .collect::<Result<Vec<Branch<'l>>>>()?;
        for (i, a) in shards.iter().enumerate() {
            if let Some(b) = shards[..i].iter().find(|b| a.at.strip_prefix(&b.at).is_some() || b.at.strip_prefix(&a.at).is_some()) {
                return Err(Error::new(
                    ErrorKind::InvalidPath,
                    format!("two shards at overlapping paths, `{}` and `{}`: one would be stored inside the other's reference", b.at, a.at),
                )
                .with_table(layout.table.as_ref())
                .with_path(a.at.to_string()));
            }
        }
        Ok(Node { layout, shards })
    }

    /// Whether this node (or any shard below it) has list shards.
    pub(crate) fn has_lists(&self) -> bool {
        self.shards.iter().any(|b| b.list || b.node.has_lists())
    }

    fn add_rules(&self, at: &Pattern, rules: &mut Rules) -> Result<()> {
        rules.add(self.layout, at)?;
        for branch in &self.shards {
            rules.add_shard_place(at.join(&branch.at.to_pattern()));
            branch.node.add_rules(&branch.place(at), rules)?;
        }
        Ok(())
    }

    /// Refuses a rule that can never match: into a list shard without an
    /// index, into an object shard with one, or at a key attribute or the
    /// metadata.
    fn check_rules(&self, rules: &Rules, at: &Pattern) -> Result<()> {
        for rule in rules.iter() {
            let mut why = never_matches(&rule.pattern, at, &self.layout.key);
            for branch in &self.shards {
                why = why.or_else(|| never_matches_shard(&rule.pattern, &at.join(&branch.at.to_pattern()), branch.list));
            }
            if let Some(why) = why {
                let (table, path) = &rule.declared;
                return Err(Error::new(ErrorKind::InvalidPath, format!("the encryption rule can never match: {why}"))
                    .with_table(table.as_str())
                    .with_path(path.as_str()));
            }
        }
        self.shards.iter().try_for_each(|b| b.node.check_rules(rules, &b.place(at)))
    }
}

impl Branch<'_> {
    /// Where this shard's object sits, as a pattern from the root, when its
    /// parent sits at `parent`: `$.location`, or `$.locales[*]` for a list.
    fn place(&self, parent: &Pattern) -> Pattern {
        let mut at = parent.join(&self.at.to_pattern());
        if self.list {
            at.steps.push(PatternStep::AnyIndex);
        }
        at
    }
}

/// Refuses a shard placed at its parent's key attribute or metadata: the
/// parent's item holds those, and never a reference.
fn check_place(parent: &Layout, shard: &Shard, at: &PlainPath) -> Result<()> {
    match at.steps.first() {
        Some(Step::Field(name)) if name == parent.key.as_ref() || name == META => {
            Err(Error::new(ErrorKind::InvalidPath, format!("a shard cannot be placed at `{name}`, which its parent's item holds itself"))
                .with_table(shard.layout.table.as_ref())
                .with_path(shard.path.as_ref()))
        }
        _ => Ok(()),
    }
}

/// Parses a shard's path: `$.a.b` (one object) or `$.a.b[*]` (one item per
/// element of a list).
fn position(shard: &Shard) -> Result<(PlainPath, bool)> {
    let context = |e: Error| e.with_table(shard.layout.table.as_ref()).with_path(shard.path.as_ref());
    let mut pattern = parse_pattern(&shard.path).map_err(context)?;
    let list = pattern.steps.last() == Some(&PatternStep::AnyIndex);
    if list {
        pattern.steps.pop();
    }
    match pattern.to_plain() {
        Some(at) if !at.steps.is_empty() && at.steps.iter().all(|s| matches!(s, Step::Field(_))) => Ok((at, list)),
        _ => Err(context(Error::new(ErrorKind::InvalidPath, "a shard path names a field: `$.name`, `$.a.b` or `$.list[*]`"))),
    }
}

/// The public check of a layout is the resolution every operation does;
/// it lives here, beside it, so `layout.rs` needs nothing from this module.
impl Layout {
    /// Checks the layout as every operation does before its first request:
    /// table names and key attribute names DynamoDB accepts, shard paths of
    /// names ending in an optional `[*]`, and encryption rules that parse and
    /// can match something (not into a list shard without an index, not
    /// into an object shard with one, not at a key attribute or at
    /// `__dystore_meta__`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPath`](crate::ErrorKind) naming the path as
    /// written and the table of the layout that declares it;
    /// `InvalidTableName`, `InvalidKey` or `Config` for the names.
    ///
    /// ```
    /// use dystore::{ErrorKind, Store};
    /// assert!(Store::new("People", "ID").encrypt("$['first name']").layout().validate().is_ok());
    /// let typo = Store::new("People", "ID").encrypt("contact");
    /// assert_eq!(typo.layout().validate().unwrap_err().kind(), ErrorKind::InvalidPath);
    /// ```
    pub fn validate(&self) -> crate::Result<()> {
        Resolved::new(self).map(drop)
    }
}

/// Checks a layout before use: table names DynamoDB accepts, key names,
/// shard paths and encryption rules.
pub(crate) fn validate(layout: &Layout) -> Result<()> {
    layout.validate()
}

/// DynamoDB's rule: 3 to 255 characters of `[A-Za-z0-9_.-]`.
pub(crate) fn validate_table_name(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if (3..=255).contains(&name.len()) && ok_chars {
        return Ok(());
    }
    Err(Error::new(ErrorKind::InvalidTableName, "a table name is 3 to 255 characters of letters, digits, `_`, `-` and `.`")
        .with_table(name))
}

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

/// Splits `doc` (the root object) into one part per item. Each shard's
/// place in its parent gets a reference (or `null` for an absent one).
pub(crate) fn split<'a>(root: &'a Node<'a>, root_key: &str, region: Option<&str>, doc: Map<String, Value>) -> Result<Plan<'a>> {
    let mut plan = Plan { parts: Vec::new(), absent: Vec::new(), lists: BTreeMap::new() };
    split_object(root, root_key, region, PlainPath::root(), root_key.to_owned(), doc, &mut plan)?;
    Ok(plan)
}

fn split_object<'a>(
    node: &'a Node<'a>,
    root_key: &str,
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
                plan.absent.extend(deterministic_keys(&branch.node, root_key, &full));
                put_back(slot, Value::Null);
            }
            (Value::Null, true) => {
                plan.lists.insert(full.to_string(), 0);
                put_back(slot, Value::Null);
            }
            (Value::Object(obj), false) => {
                let child_key = checked_shard_key(child, root_key, &full)?;
                put_back(slot, ref_value(&child.table, &child_key, child_region));
                split_object(&branch.node, root_key, region, full, child_key, obj, plan)?;
            }
            (Value::Array(items), true) => {
                plan.lists.insert(full.to_string(), items.len());
                let mut refs = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let element = full.child(Step::Index(i));
                    let Value::Object(obj) = item else {
                        return Err(not_an_object(child, &element));
                    };
                    let child_key = checked_shard_key(child, root_key, &element)?;
                    refs.push(ref_value(&child.table, &child_key, child_region));
                    split_object(&branch.node, root_key, region, element, child_key, obj, plan)?;
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

/// DynamoDB's limit on a partition key value, in bytes.
const MAX_KEY_BYTES: usize = 2048;

/// The key of the shard item at `path`, if DynamoDB accepts it.
fn checked_shard_key(layout: &Layout, root_key: &str, path: &PlainPath) -> Result<String> {
    let key = shard_key(root_key, path);
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidKey,
            format!(
                "the shard's key (root key, `#`, path) would be {} bytes, over DynamoDB's {MAX_KEY_BYTES}: shorten the names on the path",
                key.len()
            ),
        )
        .with_table(layout.table.as_ref())
        .with_path(path.to_string()));
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

/// Keys of every shard item of an object whose list shards have the element
/// counts `lists` (as recorded in its root metadata).
pub(crate) fn all_shard_keys<'a>(
    node: &Node<'a>,
    root_key: &str,
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
                out.push((branch.node.layout, shard_key(root_key, &element)));
                all_shard_keys(&branch.node, root_key, &element, lists, out);
            }
        } else {
            out.push((branch.node.layout, shard_key(root_key, &full)));
            all_shard_keys(&branch.node, root_key, &full, lists, out);
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

/// Finds the item holding `path` of the object keyed `root_key`.
pub(crate) fn holder<'a>(root: &'a Node<'a>, root_key: &str, path: &PlainPath) -> Result<Holder<'a>> {
    let (mut node, mut base, mut key, mut rest) = (root, PlainPath::root(), root_key.to_owned(), path.clone());
    'descend: loop {
        for branch in &node.shards {
            if branch.at.strip_prefix(&rest).is_some() {
                // The path is this shard's position or above it.
                return Ok(Holder::Spans);
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
                return Ok(Holder::Spans);
            }
            key = shard_key(root_key, &into);
            (node, base, rest) = (&branch.node, into, after);
            continue 'descend;
        }
        return Ok(Holder::Item { node, base, key, rest });
    }
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
        let layout = Node::new(&layout).unwrap();
        let plan = split(&layout, "k", None, json!({"location": null}).as_object().unwrap().clone()).unwrap();
        let absent: Vec<_> = plan.absent.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(absent, ["k#$.location", "k#$.location.geo"]);
        assert_eq!(plan.parts.len(), 1);
    }

    #[test]
    fn a_shard_holding_a_scalar_is_an_invalid_document() {
        let layout = people();
        let layout = Node::new(&layout).unwrap();
        let e = split(&layout, "k", None, json!({"location": 3}).as_object().unwrap().clone()).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidDocument);
        assert_eq!(e.path(), Some("$.location"));
        assert_eq!(e.table(), Some("Locations"));
    }

    #[test]
    fn holder_descends_into_shards() {
        let layout = people();
        let layout = Node::new(&layout).unwrap();
        let Holder::Item { key, rest, node, .. } = holder(&layout, "k", &plain("$.location.geo.lat")).unwrap() else { panic!() };
        assert_eq!((key.as_str(), rest.to_string().as_str(), node.layout.table.as_ref()), ("k#$.location.geo", "$.lat", "Geo"));
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

    #[test]
    fn shard_paths_take_quoted_names_and_refuse_everything_else() {
        let odd = Store::new("People", "ID").shard(Store::new("Odd", "OID").at("$['a b']['e.mail'][*]")).into_layout();
        let node = Node::new(&odd).unwrap();
        assert_eq!(node.shards[0].at, PlainPath { steps: vec![Step::Field("a b".into()), Step::Field("e.mail".into())] });
        assert!(node.shards[0].list);
        for bad in ["location", "$", "$[*]", "$.a[0]", "$.a[*].b", "$..a", "$['']", "$.a.*", "$.a["] {
            let layout = Store::new("People", "ID").shard(Store::new("Locations", "IDX").at(bad)).into_layout();
            let e = validate(&layout).unwrap_err();
            assert_eq!((e.kind(), e.path(), e.table()), (ErrorKind::InvalidPath, Some(bad), Some("Locations")), "{bad}");
        }
    }

    #[test]
    fn rules_that_can_never_match_are_refused() {
        let with = |rule: &str| {
            Store::new("People", "ID")
                .encrypt(rule)
                .shard(Store::new("Locations", "IDX").at("$.location"))
                .shard(Store::new("Locales", "LID").at("$.locales[*]"))
                .into_layout()
        };
        for ok in ["$", "$.location", "$.location.city", "$.locales", "$.locales[*].type", "$.locales[2].type", "$.other[*]"] {
            validate(&with(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for never in [
            "$.locales.type",
            "$.location[*]",
            "$.location[0].x",
            "$.ID",
            "$.__dystore_meta__",
            "$.location.IDX",
            "$.locales[*].LID",
            "$[*].card",
            "$[0]",
            "$[*]",
            "$.locales[*][0]",
            "$.locales[0][*]",
            "$.locales[*][*]",
            "$.location[0]",
        ] {
            let e = validate(&with(never)).unwrap_err();
            assert_eq!((e.kind(), e.path(), e.table()), (ErrorKind::InvalidPath, Some(never), Some("People")), "{never}");
            assert!(e.to_string().contains("can never match"), "{e}");
        }
        for (rule, table) in [("$.LID", "Locales"), ("$[0]", "Locales")] {
            let nested = Store::new("People", "ID").shard(Store::new("Locales", "LID").at("$.locales[*]").encrypt(rule)).into_layout();
            let e = validate(&nested).unwrap_err();
            assert_eq!((e.path(), e.table()), (Some(rule), Some(table)));
        }
    }

    #[test]
    fn shards_at_reserved_or_overlapping_places_are_refused() {
        for bad in ["$.ID", "$.__dystore_meta__", "$.ID.x"] {
            let layout = Store::new("People", "ID").shard(Store::new("Locations", "IDX").at(bad)).into_layout();
            let e = validate(&layout).unwrap_err();
            assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some(bad)), "{bad}: {e}");
        }
        for (a, b) in [("$.a", "$['a']"), ("$.a", "$.a.b"), ("$.a.b", "$.a[*]")] {
            let layout = Store::new("People", "ID").shard(Store::new("One", "K1").at(a)).shard(Store::new("Two", "K2").at(b)).into_layout();
            let e = validate(&layout).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidPath, "{a} {b}");
            assert!(e.to_string().contains("overlapping"), "{e}");
        }
    }
}
