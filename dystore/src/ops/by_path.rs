//! Reading and writing one path of a stored object, touching only the item
//! that holds it.

use super::{Env, RACE_ATTEMPTS, When, backend_error, check_key, key_item, load, not_found, operation, read_meta, save, stored_node};
use crate::backend::{BackendError, Expr, Get, Write};
use crate::codec::{Codec, Site};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{
    CHUNKS, CONDITION_FAILED, Guard, Keys, META, RootMeta, VALIDATION_ERROR, cancelled, project_shape, recorded_chunks, recorded_shape,
    set_revision, shape_of, token,
};
use crate::layout::Layout;
use crate::path::{Path, PlainPath, Step, parse, parse_plain_only, placeholder_for};
use crate::rules::Rules;
use crate::shard::{Holder, Place, absent_shard_above, holder, node_at, place};
use crate::tree::{Node, Resolved};
use crate::value::MAX_ITEM_BYTES;
use jsonpath_rust::JsonPath;
use serde_dynamo::AttributeValue;
use serde_json::Value;

/// The values at `path` in the object keyed `key`: one or none for a plain
/// path, any number for a pattern or a query.
pub(crate) async fn read_path(env: &Env<'_>, layout: &Layout, key: &str, path: &str) -> Result<Vec<Value>> {
    operation(env, "read_path", layout, Some(key), false, read_path_now(env, layout, key, path)).await
}

async fn read_path_now(env: &Env<'_>, layout: &Layout, key: &str, path: &str) -> Result<Vec<Value>> {
    let cached = Resolved::cached(layout)?;
    let resolved = cached.borrow_dependent();
    let route = match Route::kept(resolved, path) {
        Some(route) => route,
        None => match parse(path).map_err(|e| e.with_table(layout.table.as_ref()))? {
            Path::Plain(plain) => Route::keep(resolved, path, plain)?,
            Path::Pattern(p) => {
                let doc = Value::Object(load(env, layout, key, true, false).await?.body);
                return Ok(p.find_all(&doc).into_iter().cloned().collect());
            }
            Path::Query(q) => return query_loaded(env, layout, key, &q).await,
        },
    };
    check_key(layout, key)?;
    resolved.check_shard_keys(key)?;
    // Deterministic keys first; an object saved in several transactions
    // has keys carrying its write id, which its root gives.
    let at = PathRead { env, resolved, layout, key, path, route: &route };
    match at.read(Keys::plain(key)).await? {
        Some(Read::Found(found)) => return Ok(found),
        Some(Read::Keyed(meta)) => {
            if let Some(Read::Found(found)) = at.read(meta.keys(key)).await? {
                return Ok(found);
            }
        }
        Some(Read::Whole) | None => {}
    }
    // The path spans items, or the object is stored in another shape than
    // `layout`'s, or a shard item was missing (absent from the object, or a
    // save or delete raced the read): read it whole, by the shape recorded
    // in its root, which sees one version.
    let loaded = load(env, layout, key, true, false).await?;
    let doc = Value::Object(loaded.body);
    into_absent_shard(resolved, loaded.meta.as_ref(), key, &route.plain, &doc)?;
    Ok(route.plain.find(&doc).into_iter().cloned().collect())
}

/// `MissingShard` for a path into a shard that `doc` (the object read
/// whole) lacks, by the shape it is stored in: the layout its root records
/// (`meta`), or for a dynamo-store 0.6 object the caller's (`resolved`).
fn into_absent_shard(resolved: &Resolved<'_>, meta: Option<&RootMeta>, key: &str, path: &PlainPath, doc: &Value) -> Result<()> {
    let stored = meta.map(|meta| stored_node(&meta.layout, key)).transpose()?;
    let root = match &stored {
        Some(stored) => &stored.borrow_dependent().root,
        None => &resolved.root,
    };
    match absent_shard_above(root, path, doc) {
        Some((shard, base)) => Err(no_shard_here(shard, key, &base)),
        None => Ok(()),
    }
}

/// What `read_path` works out from a plain path and the caller's layout
/// alone, whatever the key: the path parsed, the item that holds it, and
/// the GetItem's projection. Kept with the layout's resolution for the
/// paths read lately (`Resolved::routes`), so a path read again is not
/// parsed, placed or projected again.
pub(crate) struct Route {
    plain: PlainPath,
    /// `None` when the path spans items (it is a shard, or holds one).
    item: Option<RoutedItem>,
    /// The shape of the caller's layout, which the item must record.
    shape: String,
}

/// The item holding a routed path, and how to read the path from it.
struct RoutedItem {
    place: Place,
    /// The key attribute and the path's remainder, and the shape and large
    /// leaves the item records.
    projection: Expr,
    /// The full path printed, compared with the large leaves recorded.
    full: String,
}

impl Route {
    /// The route kept for `path` (as given), if any.
    fn kept(resolved: &Resolved<'_>, path: &str) -> Option<std::sync::Arc<Route>> {
        resolved.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(path).cloned()
    }

    /// Works out the route of `plain` (`path` parsed) and keeps it.
    ///
    /// # Errors
    ///
    /// `InvalidPath` for a path into a list shard that does not index it
    /// (nothing is kept then).
    fn keep(resolved: &Resolved<'_>, path: &str, plain: PlainPath) -> Result<std::sync::Arc<Route>> {
        let item = place(&resolved.root, &plain)?.map(|place| {
            let layout = node_at(&resolved.root, &place.branches).layout;
            // The key attribute is projected too, so an existing item
            // without the path still comes back and "absent path" differs
            // from "absent item"; so is the shape of the layout the item
            // was saved with (every item of a save records it), so a path
            // is never read by another shape.
            let mut projection = Expr::default();
            let key_operand = placeholder_for(&mut projection, &layout.key);
            let operand = place.rest.operand(&mut projection);
            projection.text = format!("{key_operand}, {operand}");
            project_shape(&mut projection);
            let full = place.base.join(&place.rest).to_string();
            RoutedItem { place, projection, full }
        });
        let route = std::sync::Arc::new(Route { plain, item, shape: resolved.shape().to_owned() });
        resolved.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).put(path.to_owned(), route.clone());
        Ok(route)
    }
}

/// One read_path request's fixed inputs.
struct PathRead<'a> {
    env: &'a Env<'a>,
    resolved: &'a Resolved<'a>,
    layout: &'a Layout,
    key: &'a str,
    path: &'a str,
    route: &'a Route,
}

impl PathRead<'_> {
    /// Reads the path from the one item holding it under `keys`; `None`
    /// when the path spans items.
    async fn read(&self, keys: Keys<'_>) -> Result<Option<Read>> {
        let Some(routed) = &self.route.item else { return Ok(None) };
        let Place { branches, base, rest } = &routed.place;
        let node = node_at(&self.resolved.root, branches);
        match rest.steps.first() {
            None => return Ok(None),
            // An object is a map: nothing is at an index of it.
            Some(Step::Index(_)) => return Ok(Some(Read::Found(Vec::new()))),
            Some(Step::Field(name)) if name == META || name == node.layout.key.as_ref() => {
                return Err(not_a_document_path(node.layout, self.key, self.path));
            }
            _ => {}
        }
        let item_key = if base.steps.is_empty() { keys.root.to_owned() } else { keys.at(base) };
        let item = ItemAt { node, base, key: &item_key, rest, write_id: keys.write_id };
        read_in_item(self.env, &self.resolved.rules, self.layout, self.key, item, routed, &self.route.shape).await.map(Some)
    }
}

async fn query_loaded(env: &Env<'_>, layout: &Layout, key: &str, query: &str) -> Result<Vec<Value>> {
    let loaded = load(env, layout, key, true, false).await?;
    let doc = Value::Object(loaded.body);
    let found = doc.query(query).map_err(|e| {
        Error::new(ErrorKind::InvalidPath, format!("the query failed: {e}")).with_path(query).with_table(layout.table.as_ref())
    })?;
    Ok(found.into_iter().cloned().collect())
}

/// The value a projection of `path` brought back, out of what came back:
/// DynamoDB returns the maps on the way with that one entry each, and each
/// list on the way with only the projected element, so an index step takes
/// the single element there, whatever its index was.
fn projected(mut value: AttributeValue, path: &PlainPath) -> Option<AttributeValue> {
    for step in &path.steps {
        value = match (value, step) {
            (AttributeValue::M(mut map), Step::Field(name)) => map.remove(name)?,
            (AttributeValue::L(mut items), Step::Index(_)) if items.len() == 1 => items.pop()?,
            _ => return None,
        };
    }
    Some(value)
}

/// The item holding a path: its node, the full path of its object, its
/// key, and the path's remainder inside it.
struct ItemAt<'a> {
    node: &'a Node<'a>,
    base: &'a PlainPath,
    key: &'a str,
    rest: &'a PlainPath,
    /// The write id the item's key carries, if any.
    write_id: Option<&'a str>,
}

/// What reading the item holding a path found.
enum Read {
    /// The values at the path (none if the path is absent).
    Found(Vec<Value>),
    /// The item is not there, and the object's shard keys carry the write
    /// id its root (this metadata) records.
    Keyed(Box<RootMeta>),
    /// Only the whole object can answer: it is stored in another shape
    /// than the one tried, a large leaf is at, above or below the path, or
    /// the shard item holding the path was absent while the root was there
    /// (absent from the object, or a read that raced a save).
    Whole,
}

/// One GetItem with the route's projection on the item holding the path;
/// the item must record `shape` (the caller's layout's).
async fn read_in_item(
    env: &Env<'_>,
    rules: &Rules,
    root_layout: &Layout,
    root_key: &str,
    at: ItemAt<'_>,
    routed: &RoutedItem,
    shape: &str,
) -> Result<Read> {
    let layout = at.node.layout;
    let projection = routed.projection.clone();
    let get = Get { table: layout.table.to_string(), key: key_item(&layout.key, at.key), projection: Some(projection), consistent: true };
    // Not read: the item, named as a batch read names what it left.
    let undone = |e| backend_error(e, &layout.table).with_key(root_key).with_undone(vec![format!("{}/{}", layout.table, at.key)]);
    let item = env.backend.get(get).await.map_err(undone)?;
    let Some(mut item) = item else {
        if at.base.steps.is_empty() {
            return Err(not_found(root_layout, root_key));
        }
        return match read_meta(env, root_layout, root_key).await {
            // Not format-1 metadata (a dynamo-store 0.6 object, say): the
            // whole read knows how to read it, or says why not.
            Err(e) if e.kind() == ErrorKind::Format => Ok(Read::Whole),
            Err(e) => Err(e),
            Ok(None) => Err(not_found(root_layout, root_key)),
            Ok(Some(meta)) if shape_of(&meta.layout) != shape => Ok(Read::Whole),
            // Keys carrying the write id: read again by them, unless they
            // were the ones just read.
            Ok(Some(meta)) if meta.keyed && at.write_id != Some(meta.write_id.as_str()) => Ok(Read::Keyed(Box::new(meta))),
            // The shard item was not there a request ago; the root that is
            // there now may be of a save or delete that raced this read.
            // The whole read, which sees one version, says.
            Ok(Some(_)) => Ok(Read::Whole),
        };
    };
    let meta = item.remove(META);
    // A large leaf at, above or below the path is in chunk items: the whole
    // read puts it back together.
    let chunked = recorded_chunks(meta.as_ref()).any(|leaf| overlaps(leaf, &routed.full));
    if chunked || recorded_shape(meta).as_deref() != Some(shape) {
        return Ok(Read::Whole);
    }
    item.remove(layout.key.as_ref());
    let Some(value) = projected(AttributeValue::M(item), at.rest) else { return Ok(Read::Found(Vec::new())) };
    let codec = Codec { loader: env.loader, rules, raw: false, ivs: Default::default(), sealed_before: env.sealed_before };
    let site = Site { table: &layout.table, root_key };
    Ok(Read::Found(vec![codec.decode_value(site, &at.node.shards, at.base, at.rest, value)?]))
}

/// Whether one printed path is the other or lies below it.
fn overlaps(a: &str, b: &str) -> bool {
    let below = |long: &str, short: &str| long.strip_prefix(short).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']));
    below(a, b) || below(b, a)
}

fn no_shard_here(layout: &Layout, root_key: &str, base: &PlainPath) -> Error {
    Error::new(ErrorKind::MissingShard, "the object has no shard here")
        .with_table(layout.table.as_ref())
        .with_key(root_key)
        .with_path(base.to_string())
}

/// The error for an item that is not there: the object is missing, or only
/// the shard the path leads into.
async fn missing_item(env: &Env<'_>, root_layout: &Layout, root_key: &str, layout: &Layout, base: &PlainPath) -> Error {
    if base.steps.is_empty() {
        return not_found(root_layout, root_key);
    }
    let mut projection = Expr::default();
    projection.text = placeholder_for(&mut projection, &root_layout.key);
    let get = Get {
        table: root_layout.table.to_string(),
        key: key_item(&root_layout.key, root_key),
        projection: Some(projection),
        consistent: true,
    };
    match env.backend.get(get).await {
        Ok(Some(_)) => no_shard_here(layout, root_key, base),
        Ok(None) => not_found(root_layout, root_key),
        Err(e) => backend_error(e, &root_layout.table).with_key(root_key),
    }
}

/// Sets the value at a plain `path`: one update of the item that holds it,
/// with the root's revision advanced in the same request, guarded by the
/// shape the object was stored in. An object stored in another shape than
/// `layout`'s (written through another `Store`, say) is written by the shape
/// recorded in its root instead, so a path is never written into a shard's
/// reference.
///
/// With `expect`, only if the object's revision is still `expect` (the
/// root's guard is its revision then): `Conflict` otherwise. Returns the
/// object's new revision.
pub(crate) async fn write_path(
    env: &Env<'_>,
    layout: &Layout,
    key: &str,
    path: &str,
    value: Value,
    expect: Option<&str>,
) -> Result<String> {
    operation(env, "write_path", layout, Some(key), true, write_path_now(env, layout, key, path, value, expect)).await
}

async fn write_path_now(env: &Env<'_>, layout: &Layout, key: &str, path: &str, value: Value, expect: Option<&str>) -> Result<String> {
    let cached = Resolved::cached(layout)?;
    let resolved = cached.borrow_dependent();
    check_key(layout, key)?;
    resolved.check_shard_keys(key)?;
    let plain = parse_plain_only(path, "write_path").map_err(|e| e.with_table(layout.table.as_ref()).with_key(key))?;
    let at = Request { env, rules: &resolved.rules, root: layout, key, path, plain: &plain, expect };
    // By the caller's layout and deterministic keys first; then by what the
    // root records (another shape, or keys carrying the write id).
    let mut outcome = at.write(&resolved.root, Keys::plain(key), value.clone()).await;
    for _ in 0..RACE_ATTEMPTS {
        match outcome {
            Err(Outcome::OtherShape) => {}
            Err(Outcome::Whole) => return write_whole(env, layout, key, &plain, value, expect).await,
            _ => break,
        }
        let meta = read_meta(env, layout, key).await?.ok_or_else(|| not_found(layout, key))?;
        let stored = stored_node(&meta.layout, key)?;
        outcome = at.write(&stored.borrow_dependent().root, meta.keys(key), value.clone()).await;
    }
    outcome.map_err(Outcome::into_error)
}

/// Adds to a guard on an item that it holds no leaf in chunk items (a
/// write into such an item could not keep its record of them right).
fn without_chunks(guard: &mut Expr) {
    guard.names.insert("#dm".into(), META.into());
    guard.names.insert("#wchunks".into(), CHUNKS.into());
    guard.text = format!("({}) AND attribute_not_exists(#dm.#wchunks)", guard.text);
}

/// write_path on an object whose item holding the path has leaves in chunk
/// items: the object read whole, changed at `path`, and saved if nobody
/// wrote it meanwhile (again, on a conflict).
async fn write_whole(env: &Env<'_>, layout: &Layout, key: &str, path: &PlainPath, value: Value, expect: Option<&str>) -> Result<String> {
    let mut backoff = crate::backend::Backoff::jittered(env.policy);
    loop {
        let loaded = load(env, layout, key, true, false).await?;
        let revision = loaded.meta.as_ref().map(|m| m.revision.clone()).ok_or_else(|| {
            Error::new(ErrorKind::Format, "a dynamo-store 0.6 object is read-only until upgraded")
                .with_table(layout.table.as_ref())
                .with_key(key)
        })?;
        if expect.is_some_and(|e| e != revision) {
            return Err(super::conflict(layout, key));
        }
        let mut doc = Value::Object(loaded.body);
        // Into a shard the object does not have, as the update would say.
        let cached = Resolved::cached(layout)?;
        into_absent_shard(cached.borrow_dependent(), loaded.meta.as_ref(), key, path, &doc)?;
        set_at(&mut doc, path, value.clone()).map_err(|e| e.with_table(layout.table.as_ref()).with_key(key))?;
        match save(env, layout, doc, Some(key.to_owned()), When::Revision(&revision)).await {
            Err(e) if e.is_conflict() && expect.is_none() && backoff.again("lost a race to another writer").await => continue,
            other => return other.map(|saved| saved.revision),
        }
    }
}

/// Sets `path` in `doc` as an update's SET would: a field of an existing
/// map (added if new), or an existing element of a list.
fn set_at(doc: &mut Value, path: &PlainPath, value: Value) -> Result<()> {
    let invalid = |why: &str| Error::new(ErrorKind::InvalidPath, why.to_owned()).with_path(path.to_string());
    let (last, parents) = path.steps.split_last().ok_or_else(|| invalid("write_path cannot replace the whole object"))?;
    let parent = PlainPath { steps: parents.to_vec() }
        .find_mut(doc)
        .ok_or_else(|| invalid("the stored object has no map or list where the path needs one"))?;
    match (parent, last) {
        (Value::Object(map), Step::Field(name)) => {
            map.insert(name.clone(), value);
            Ok(())
        }
        (Value::Array(items), Step::Index(i)) if *i < items.len() => {
            items[*i] = value;
            Ok(())
        }
        (Value::Array(_), Step::Index(_)) => {
            Err(invalid("no element at this index: write_path replaces an existing element, it does not append"))
        }
        _ => Err(invalid("the stored object has no map or list where the path needs one")),
    }
}

/// What a write_path attempt ended in, short of success.
enum Outcome {
    Error(Error),
    /// The object is stored in another shape than the one tried.
    OtherShape,
    /// The item holding the path has leaves in chunk items: the object is
    /// written whole.
    Whole,
}

impl Outcome {
    fn into_error(self) -> Error {
        match self {
            Outcome::Error(e) => e,
            Outcome::OtherShape | Outcome::Whole => {
                Error::new(ErrorKind::Conflict, "the object's shape changed while it was being written")
            }
        }
    }
}

impl From<Error> for Outcome {
    fn from(e: Error) -> Self {
        Outcome::Error(e)
    }
}

/// One write_path request's fixed inputs.
#[derive(Clone, Copy)]
struct Request<'a> {
    env: &'a Env<'a>,
    rules: &'a Rules,
    root: &'a Layout,
    key: &'a str,
    path: &'a str,
    plain: &'a PlainPath,
    /// The revision the object must still have, for a versioned write.
    expect: Option<&'a str>,
}

impl Request<'_> {
    /// Writes the value into the item `shape` (the caller's layout, or the
    /// one stored in the root) and `keys` say holds the path, guarded by
    /// that shape (and by the write id, for keys carrying it).
    async fn write(&self, shape: &Node<'_>, keys: Keys<'_>, value: Value) -> Result<String, Outcome> {
        let (env, key, path) = (self.env, self.key, self.path);
        let Holder::Item { node, base, key: item_key, rest } = holder(shape, keys, self.plain)? else {
            return Err(Error::new(ErrorKind::InvalidPath, "the path is a shard or holds shards; save the object instead")
                .with_table(self.root.table.as_ref())
                .with_key(key)
                .with_path(path)
                .into());
        };
        match rest.steps.first() {
            None => return Err(Error::new(ErrorKind::InvalidPath, "write_path cannot replace the whole object").with_path(path).into()),
            Some(Step::Index(_)) => {
                return Err(Error::new(ErrorKind::InvalidPath, "an object is a map, not a list: the path indexes it")
                    .with_table(node.layout.table.as_ref())
                    .with_key(key)
                    .with_path(path)
                    .into());
            }
            Some(Step::Field(name)) if name == META || name == node.layout.key.as_ref() => {
                return Err(not_a_document_path(node.layout, key, path).into());
            }
            _ => {}
        }
        let item_layout = node.layout;
        let codec = Codec { loader: env.loader, rules: self.rules, raw: false, ivs: Default::default(), sealed_before: env.sealed_before };
        let site = Site { table: &item_layout.table, root_key: key };
        let encoded = codec
            .encode_value(site, &node.shards, &base, rest.clone(), value, &Value::Null)
            .map_err(|e| e.with_table(item_layout.table.as_ref()).with_key(key))?;
        let size =
            crate::value::size(&encoded) + rest.steps.iter().map(|s| if let Step::Field(n) = s { n.len() } else { 0 }).sum::<usize>();
        if size > MAX_ITEM_BYTES {
            return Err(Error::new(
                ErrorKind::ItemTooLarge,
                format!("the value alone is {size} bytes, over DynamoDB's {MAX_ITEM_BYTES} per item"),
            )
            .with_table(item_layout.table.as_ref())
            .with_key(key)
            .with_path(path)
            .into());
        }

        let mut update = Expr::default();
        let operand = rest.operand(&mut update);
        update.values.insert(":v".into(), encoded);
        update.text = format!("SET {operand} = :v");
        // Writing an index replaces that element; DynamoDB would append past
        // the end of the list instead, at another index than the one named.
        let indexed = matches!(rest.steps.last(), Some(Step::Index(_)));
        let shape_token = shape_of(shape.layout);
        let mut root_guard = match keys.write_id {
            Some(write_id) if !base.steps.is_empty() => Guard::WriteId(write_id),
            _ => Guard::Shape(&shape_token),
        }
        .condition(&self.root.key);
        if let Some(expect) = self.expect {
            let revision = Guard::Revision(expect).condition(&self.root.key);
            root_guard.names.extend(revision.names);
            root_guard.values.extend(revision.values);
            root_guard.text = format!("({}) AND {}", root_guard.text, revision.text);
        }
        let revision = token();
        let mut writes = Vec::new();
        if base.steps.is_empty() {
            set_revision(&mut update, revision.clone());
            let mut guard = root_guard;
            without_chunks(&mut guard);
            if indexed {
                guard.text = format!("({}) AND attribute_exists({operand})", guard.text);
            }
            writes.push(Write::Update {
                table: self.root.table.to_string(),
                key: key_item(&self.root.key, key),
                update,
                condition: Some(guard),
            });
        } else {
            let mut guard = Guard::Exists.condition(&item_layout.key);
            without_chunks(&mut guard);
            if indexed {
                guard.text = format!("{} AND attribute_exists({operand})", guard.text);
            }
            writes.push(Write::Update {
                table: item_layout.table.to_string(),
                key: key_item(&item_layout.key, &item_key),
                update,
                condition: Some(guard),
            });
            let mut root_update = Expr::default();
            set_revision(&mut root_update, revision.clone());
            writes.push(Write::Update {
                table: self.root.table.to_string(),
                key: key_item(&self.root.key, key),
                update: root_update,
                condition: Some(root_guard),
            });
        }
        // The update of the item holding the path, then (in a transaction)
        // the root's revision update: `Part::Item`, `Part::Root`.
        let result = match writes.as_slice() {
            [one] => env.backend.write(one.clone()).await.map_err(|e| e.split()).map_err(|(e, r)| (Failed::from_single(e), r)),
            _ => env
                .backend
                .transact_write(writes)
                .await
                .map_err(|e| e.split())
                .map_err(|(e, r)| (Failed::from_transaction(e, &[Part::Item, Part::Root]), r)),
        };
        let Err((failed, retries)) = result else { return Ok(revision) };
        let at = Target { root: self.root, layout: item_layout, key, base: &base, path };
        if retries.as_ref().is_some_and(|r| r.maybe_applied) && matches!(failed, Failed::Item | Failed::Root) {
            // An attempt that timed out may have been applied, and then the
            // retry's guard failed on its own write: the root says so.
            if read_meta(env, self.root, key).await?.is_some_and(|m| m.revision == revision) {
                return Ok(revision);
            }
        }
        let outcome = match failed {
            Failed::Item | Failed::Root => Err(self.explain(shape, keys, at, &item_key, indexed).await),
            Failed::Invalid(None) => Err(invalid_in_transaction(env, at, &item_key, size).await.into()),
            Failed::Invalid(why) => Err(invalid(at, why).into()),
            Failed::Other(e) => Err(backend_error(e, &item_layout.table).with_key(key).with_path(path).into()),
        };
        outcome.map_err(|o| match o {
            Outcome::Error(e) => Outcome::Error(e.with_retries(retries)),
            other => other,
        })
    }

    /// Why a guard failed: the object is gone, stored in another shape, or
    /// the item holding the path is missing or has no element at the index.
    async fn explain(&self, shape: &Node<'_>, keys: Keys<'_>, at: Target<'_>, item_key: &str, indexed: bool) -> Outcome {
        let meta = match read_meta(self.env, self.root, self.key).await {
            Ok(Some(meta)) => meta,
            Ok(None) => return not_found(self.root, self.key).into(),
            Err(e) => return e.into(),
        };
        if self.expect.is_some_and(|expect| expect != meta.revision) {
            return super::conflict(self.root, self.key).into();
        }
        if shape_of(&meta.layout) != shape_of(shape.layout) || meta.keys(self.key).write_id != keys.write_id {
            return Outcome::OtherShape;
        }
        if !meta.chunks.is_empty() {
            return Outcome::Whole;
        }
        if indexed {
            return past_the_end_or_missing(self.env, at, item_key).await.into();
        }
        missing_item(self.env, self.root, self.key, at.layout, at.base).await.into()
    }
}

/// Why a write_path request failed, by which of its writes failed.
enum Failed {
    /// The condition on the item holding the path.
    Item,
    /// The condition on the root (the object is gone).
    Root,
    /// DynamoDB refused the update as invalid, with its message if it gave one.
    Invalid(Option<String>),
    Other(BackendError),
}

impl Failed {
    fn from_single(e: BackendError) -> Self {
        match e {
            BackendError::ConditionFailed => Failed::Item,
            BackendError::Validation(message) => Failed::Invalid(Some(message)),
            other => Failed::Other(other),
        }
    }

    /// Decodes a cancelled transaction by what each write is (`parts`).
    fn from_transaction(e: BackendError, parts: &[Part]) -> Self {
        let BackendError::TransactionCanceled { reasons } = &e else { return Failed::from_single(e) };
        let failed = cancelled(reasons, parts, CONDITION_FAILED);
        if failed.contains(&Part::Root) {
            Failed::Root
        } else if failed.contains(&Part::Item) {
            Failed::Item
        } else if cancelled(reasons, parts, VALIDATION_ERROR).contains(&Part::Item) {
            Failed::Invalid(None)
        } else {
            Failed::Other(e)
        }
    }
}

/// What a write of write_path's transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The update of the item holding the path.
    Item,
    /// The update of the root's revision.
    Root,
}

/// The key attribute and the metadata of an item are dystore's, not the
/// document's: no path reads or writes them.
fn not_a_document_path(layout: &Layout, key: &str, path: &str) -> Error {
    Error::new(ErrorKind::InvalidPath, "the key attribute and `__dystore_meta__` are not part of the document")
        .with_table(layout.table.as_ref())
        .with_key(key)
        .with_path(path)
}

/// Where a failed write_path was aimed, for its error.
#[derive(Clone, Copy)]
struct Target<'a> {
    root: &'a Layout,
    layout: &'a Layout,
    key: &'a str,
    base: &'a PlainPath,
    path: &'a str,
}

/// DynamoDB's refusal of an update, decoded by what it says: an item grown
/// over the size limit, or a path whose parent is not in the stored object.
fn invalid(at: Target<'_>, message: Option<String>) -> Error {
    let too_large = message.as_deref().is_some_and(|m| m.to_ascii_lowercase().contains("item size"));
    let error = if too_large {
        Error::new(ErrorKind::ItemTooLarge, format!("the item would grow over DynamoDB's {MAX_ITEM_BYTES} bytes"))
    } else {
        Error::new(ErrorKind::InvalidPath, "the stored object has no map or list where the path needs one")
    };
    error.with_table(at.layout.table.as_ref()).with_key(at.key).with_path(at.path)
}

/// A transaction's refusal carries no message (only the reason code
/// `ValidationError`): tell "the item would grow too large" from "the path
/// has no parent" by measuring the item as stored, `added` bytes to come.
async fn invalid_in_transaction(env: &Env<'_>, at: Target<'_>, item_key: &str, added: usize) -> Error {
    let get = Get { table: at.layout.table.to_string(), key: key_item(&at.layout.key, item_key), projection: None, consistent: true };
    let too_large = match env.backend.get(get).await {
        Ok(Some(item)) => crate::value::item_size(&item) + added > MAX_ITEM_BYTES,
        Ok(None) => false,
        Err(e) => return backend_error(e, &at.layout.table).with_key(at.key),
    };
    invalid(at, too_large.then(|| "Item size has exceeded the maximum allowed size".to_owned()))
}

/// After an indexed write's condition failed: the element is past the end
/// of the list (the item exists), or the item is missing.
async fn past_the_end_or_missing(env: &Env<'_>, at: Target<'_>, item_key: &str) -> Error {
    let mut projection = Expr::default();
    projection.text = placeholder_for(&mut projection, &at.layout.key);
    let get =
        Get { table: at.layout.table.to_string(), key: key_item(&at.layout.key, item_key), projection: Some(projection), consistent: true };
    match env.backend.get(get).await {
        Ok(Some(_)) => {
            Error::new(ErrorKind::InvalidPath, "no element at this index: write_path replaces an existing element, it does not append")
                .with_table(at.layout.table.as_ref())
                .with_key(at.key)
                .with_path(at.path)
        }
        Ok(None) => missing_item(env, at.root, at.key, at.layout, at.base).await,
        Err(e) => backend_error(e, &at.layout.table).with_key(at.key),
    }
}
