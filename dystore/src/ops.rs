//! Save, load and delete of whole objects, for any [`Layout`].

use crate::backend::{Expr, Item, Write};
use crate::client::Client;
use crate::codec::{Codec, Site};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, attr_ref, shard_meta, token, Guard, RootMeta, META};
use crate::io::{backend_error, batch_get_all, key_item, retrying, Backoff};
use crate::layout::Layout;
use crate::path::{PlainPath, Step};
use crate::rules::Rules;
use crate::shard::{all_shard_keys, deterministic_keys, slot_mut, split, Node, Plan, Resolved};
use crate::value::{item_size, size, to_attr, MAX_ITEM_BYTES};
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// DynamoDB's limits on one TransactWriteItems request.
const TRANSACT_ITEMS: usize = 100;
const TRANSACT_BYTES: usize = 4 * 1024 * 1024;
/// How many times a load retries after catching a save in progress.
const LOAD_ATTEMPTS: usize = 8;

/// What a save wrote.
pub(crate) struct Saved {
    pub(crate) key: String,
    pub(crate) revision: String,
}

/// An object read back: its fields and its root metadata.
pub(crate) struct Loaded {
    pub(crate) body: Map<String, Value>,
    pub(crate) meta: RootMeta,
    /// The metadata entry as stored, for loaders that keep it.
    pub(crate) meta_value: Value,
}

fn invalid_document(layout: &Layout, detail: &str) -> Error {
    Error::new(ErrorKind::InvalidDocument, detail.to_owned()).with_table(layout.table.as_ref())
}

/// The separator between a root key and a shard's path in a shard key:
/// reserved in root keys, so no root key can name another object's item.
const SHARD_KEY_MARK: &str = "#$";

/// Checks a root key before any request: one DynamoDB accepts, with room
/// for shard keys, and unable to collide with any shard key.
pub(crate) fn check_key(layout: &Layout, key: &str) -> Result<()> {
    let refuse = |why: &str| Err(Error::new(ErrorKind::InvalidKey, why.to_owned()).with_table(layout.table.as_ref()).with_key(key));
    // A shard key is the root key plus `#` and a path; keep room for it
    // under DynamoDB's 2048-byte partition key limit.
    if key.is_empty() || key.len() > 1024 {
        return refuse("a primary key is 1 to 1024 bytes (DynamoDB allows 2048; dystore keeps room for shard keys)");
    }
    if key.contains(SHARD_KEY_MARK) {
        return refuse("a primary key may not contain `#$`, which dystore reserves for shard keys");
    }
    Ok(())
}

/// How many times a save or delete that lost a race is retried.
const RACE_ATTEMPTS: usize = 8;

/// Saves `doc` under `key` (or a key from the loader, else a UUID v4); with
/// `expect`, only if the stored revision is still `expect`.
///
/// The stored state is read first only when it decides what to delete:
/// with list shards (elements a shorter list no longer has), or when the
/// object was stored in another shape than `layout`'s (its shard items are
/// all deleted unless rewritten). Without lists the save is guarded by the
/// stored shape instead, and falls back to reading when that guard fails.
pub(crate) async fn save(client: &Client, layout: &Layout, doc: Value, key: Option<String>, expect: Option<&str>) -> Result<Saved> {
    let resolved = Resolved::new(layout)?;
    let (doc, key) = prepare(client, layout, doc, key)?;
    let body = doc.as_object().cloned().unwrap_or_default();
    let plan = split(&resolved.root, &key, client.region(), body).map_err(|e| e.with_key(key.clone()))?;
    let meta = RootMeta { write_id: token(), revision: token(), layout: layout.clone(), lists: plan.lists.clone() };
    // Everything is encoded and measured before the first request.
    let puts = encode_items(client, &resolved.rules, layout, &key, &plan, &meta, &doc)?;
    let shape = format::shape_of(layout);

    let mut read_first = resolved.root.has_lists();
    let mut backoff = Backoff::new(client.policy());
    for _ in 0..RACE_ATTEMPTS {
        let old = if read_first { read_meta(client, layout, &key).await? } else { None };
        let guard = match (expect, &old) {
            (Some(expect), Some(old)) if old.revision != expect => return Err(conflict(layout, &key)),
            (Some(expect), _) => Guard::Revision(expect),
            (None, Some(old)) => Guard::Revision(&old.revision),
            (None, None) if read_first => Guard::Absent,
            (None, None) => Guard::AbsentOrShape(&shape),
        };
        let mut writes = stale_deletes(&key, &plan, old.as_ref())?;
        // `puts` is deepest first and ends with the root, the order a
        // multi-request save must keep.
        let (root, shards) = puts.split_last().expect("a plan always has its root part");
        writes.extend(shards.iter().map(|(table, item)| Write::Put { table: table.clone(), item: item.clone(), condition: None }));
        let condition = guard.condition(&layout.key);
        writes.push(Write::Put { table: root.0.clone(), item: root.1.clone(), condition: Some(condition.clone()) });
        match transact(client, layout, &key, writes, Some(condition)).await {
            Ok(()) => return Ok(Saved { key, revision: meta.revision }),
            // The guard failed: another writer, or another shape. Read the
            // stored state and go again; a versioned save that lost is done.
            Err(e) if e.is_conflict() && !(expect.is_some() && read_first) => {
                if read_first && !backoff.wait().await {
                    return Err(e);
                }
                read_first = true;
            }
            Err(e) => return Err(e),
        }
    }
    Err(conflict(layout, &key))
}

/// Checks the document and settles its key.
fn prepare(client: &Client, layout: &Layout, doc: Value, key: Option<String>) -> Result<(Value, String)> {
    let Value::Object(mut body) = doc else {
        return Err(invalid_document(layout, "a document is a JSON object"));
    };
    body.remove(META);
    if body.contains_key(layout.key.as_ref()) {
        return Err(invalid_document(layout, "the document has a field named like the key attribute").with_path(format!("$.{}", layout.key)));
    }
    let doc = Value::Object(body);
    let key = match key {
        Some(k) => k,
        None => client.loader().generate_pk(&doc).unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    check_key(layout, &key)?;
    Ok((doc, key))
}

/// The items of a plan, deepest first and the root last, with keys and
/// metadata, each checked against the item size limit.
fn encode_items(client: &Client, rules: &Rules, layout: &Layout, key: &str, plan: &Plan<'_>, meta: &RootMeta, doc: &Value) -> Result<Vec<(String, Item)>> {
    let codec = Codec { loader: client.loader(), rules, raw: false };
    let root_region = layout.region.as_deref().or(client.region());
    let mut puts = Vec::with_capacity(plan.parts.len());
    for part in plan.parts.iter().rev() {
        let part_layout = part.node.layout;
        check_reserved(part_layout, &part.path, &part.body).map_err(|e| e.with_key(key))?;
        let site = Site { table: &part_layout.table, root_key: key };
        let mut item = codec
            .encode_body(site, &part.node.shards, &part.path, part.body.clone(), doc)
            .map_err(|e| e.with_table(part_layout.table.as_ref()).with_key(key))?;
        let meta_value = if part.path.steps.is_empty() { meta.to_value(root_region) } else { shard_meta(&meta.write_id, key, &part.path) };
        item.insert(META.to_owned(), to_attr(meta_value));
        item.insert(part_layout.key.to_string(), AttributeValue::S(part.key.clone()));
        check_size(part_layout, &part.path, key, &item)?;
        puts.push((part_layout.table.to_string(), item));
    }
    Ok(puts)
}

/// Refuses a shard object holding a field named like its table's key
/// attribute or like dystore's metadata: either would be overwritten.
fn check_reserved(layout: &Layout, path: &PlainPath, body: &Map<String, Value>) -> Result<()> {
    if path.steps.is_empty() {
        // The root's were checked (key) and dropped (metadata) by `prepare`.
        return Ok(());
    }
    for name in [layout.key.as_ref(), META] {
        if body.contains_key(name) {
            let what = if name == META { "dystore's metadata" } else { "the shard table's key attribute" };
            return Err(invalid_document(layout, &format!("the shard has a field named like {what}")).with_path(path.child(Step::Field(name.to_owned())).to_string()));
        }
    }
    Ok(())
}

/// Deletes of the shard items this save does not rewrite: absent optional
/// shards, and every shard item of the stored object (`old`, in the shape
/// it was stored in) that this save does not write.
fn stale_deletes(key: &str, plan: &Plan<'_>, old: Option<&RootMeta>) -> Result<Vec<Write>> {
    let written: HashSet<(&str, &str)> = plan.parts.iter().map(|p| (p.node.layout.table.as_ref(), p.key.as_str())).collect();
    let mut stale: Vec<(String, String, String)> =
        plan.absent.iter().map(|(l, k)| (l.table.to_string(), l.key.to_string(), k.clone())).collect();
    if let Some(old) = old {
        let stored = stored_node(&old.layout, key)?;
        let mut keys = Vec::new();
        all_shard_keys(&stored, key, &PlainPath::root(), &old.lists, &mut keys);
        stale.extend(keys.into_iter().map(|(l, k)| (l.table.to_string(), l.key.to_string(), k)));
    }
    let mut seen = HashSet::new();
    Ok(stale
        .into_iter()
        .filter(|(t, _, k)| !written.contains(&(t.as_str(), k.as_str())) && seen.insert((t.clone(), k.clone())))
        .map(|(t, key_name, k)| Write::Delete { key: key_item(&key_name, &k), table: t, condition: None })
        .collect())
}

/// The shard tree of the layout recorded in a root.
fn stored_node<'l>(layout: &'l Layout, key: &str) -> Result<Node<'l>> {
    Node::new(layout).map_err(|e| {
        Error::new(ErrorKind::Format, "the layout recorded in the root does not resolve").with_table(layout.table.as_ref()).with_key(key).with_source(e)
    })
}

fn conflict(layout: &Layout, key: &str) -> Error {
    Error::new(ErrorKind::Conflict, "saved or written since it was read").with_table(layout.table.as_ref()).with_key(key)
}

/// Refuses an item over 400 KB, naming its largest top-level attribute.
fn check_size(layout: &Layout, base: &PlainPath, key: &str, item: &Item) -> Result<()> {
    let total = item_size(item);
    if total <= MAX_ITEM_BYTES {
        return Ok(());
    }
    let largest = item.iter().max_by_key(|(k, v)| k.len() + size(v)).map(|(k, _)| k.clone()).unwrap_or_default();
    Err(Error::new(
        ErrorKind::ItemTooLarge,
        format!("the item would be {total} bytes, over DynamoDB's {MAX_ITEM_BYTES}; make its largest part a shard"),
    )
    .with_table(layout.table.as_ref())
    .with_key(key)
    .with_path(base.child(Step::Field(largest)).to_string()))
}

/// Sends `writes` (root last) as one transaction, or, over DynamoDB's
/// limits, as several in order, each guarded by `guard` on the root.
async fn transact(client: &Client, layout: &Layout, key: &str, writes: Vec<Write>, guard: Option<Expr>) -> Result<()> {
    let chunks = chunk(writes, guard.is_some());
    let last = chunks.len() - 1;
    for (i, mut chunk) in chunks.into_iter().enumerate() {
        if let Some(g) = guard.as_ref().filter(|_| i != last) {
            chunk.push(Write::Check { table: layout.table.to_string(), key: key_item(&layout.key, key), condition: g.clone() });
        }
        let root_index = chunk.len() - 1;
        retrying(client.policy(), || client.backend().transact_write(chunk.clone()))
            .await
            .map_err(|e| match e {
                crate::backend::BackendError::TransactionCanceled { reasons }
                    if reasons.get(root_index).and_then(|r| r.as_deref()) == Some("ConditionalCheckFailed") =>
                {
                    conflict(layout, key)
                }
                other => backend_error(other, &layout.table).with_key(key),
            })?;
    }
    Ok(())
}

/// Splits writes into transactions within DynamoDB's limits (leaving room
/// for a guard per chunk), keeping their order.
fn chunk(writes: Vec<Write>, guarded: bool) -> Vec<Vec<Write>> {
    let max_items = TRANSACT_ITEMS - usize::from(guarded);
    let mut chunks = vec![Vec::new()];
    let mut bytes = 0;
    for w in writes {
        let w_bytes = match &w {
            Write::Put { item, .. } => item_size(item),
            _ => 1024,
        };
        let current = chunks.last_mut().expect("never empty");
        if !current.is_empty() && (current.len() == max_items || bytes + w_bytes > TRANSACT_BYTES) {
            chunks.push(Vec::new());
            bytes = 0;
        }
        chunks.last_mut().expect("never empty").push(w);
        bytes += w_bytes;
    }
    chunks
}

/// The stored root metadata, if the object exists.
pub(crate) async fn read_meta(client: &Client, layout: &Layout, key: &str) -> Result<Option<RootMeta>> {
    let mut projection = Expr { text: "#dm".into(), ..Default::default() };
    projection.names.insert("#dm".into(), META.into());
    let get = crate::backend::Get { table: layout.table.to_string(), key: key_item(&layout.key, key), projection: Some(projection), consistent: true };
    let item = retrying(client.policy(), || client.backend().get(get.clone()))
        .await
        .map_err(|e| backend_error(e, &layout.table).with_key(key))?;
    match item.and_then(|mut i| i.remove(META)) {
        None => Ok(None),
        Some(meta) => decode_root_meta(layout, key, meta).map(|(_, meta)| Some(meta)),
    }
}

/// A root's stored metadata: as JSON (for loaders that keep it) and read.
fn decode_root_meta(layout: &Layout, key: &str, meta: AttributeValue) -> Result<(Value, RootMeta)> {
    let context = |e: Error| e.with_table(layout.table.as_ref()).with_key(key);
    let value = crate::value::to_json(meta).map_err(context)?;
    let meta = RootMeta::from_value(&value).map_err(context)?;
    Ok((value, meta))
}

/// `NotFound` for the object keyed `key`.
pub(crate) fn not_found(layout: &Layout, key: &str) -> Error {
    Error::new(ErrorKind::NotFound, "no object has this key").with_table(layout.table.as_ref()).with_key(key)
}

/// A torn read: items of different saves, or a reference to an item not
/// (yet) written.
struct Torn;

/// Loads the object keyed `key`: the root, and with `resolve` every shard.
/// `layout` predicts shard keys so that one request usually suffices; the
/// shape actually followed is the one recorded in the root, and the rules
/// that say which leaves must be ciphertexts are `layout`'s.
pub(crate) async fn load(client: &Client, layout: &Layout, key: &str, resolve: bool, raw: bool) -> Result<Loaded> {
    let resolved = Resolved::new(layout)?;
    check_key(layout, key)?;
    let mut backoff = Backoff::new(client.policy());
    for _ in 0..LOAD_ATTEMPTS {
        match try_load(client, &resolved, key, resolve, raw).await? {
            Ok(loaded) => return Ok(loaded),
            Err(Torn) => {
                if !backoff.wait().await {
                    break;
                }
            }
        }
    }
    Err(Error::new(ErrorKind::Inconsistent, "items of different saves kept being read").with_table(layout.table.as_ref()).with_key(key))
}

type Fetched = HashMap<(String, String), Item>;

async fn try_load(client: &Client, resolved: &Resolved<'_>, key: &str, resolve: bool, raw: bool) -> Result<Result<Loaded, Torn>> {
    let layout = resolved.root.layout;
    let mut wanted = vec![(layout.table.to_string(), layout.key.to_string(), key.to_owned())];
    if resolve {
        for branch in resolved.root.shards.iter().filter(|b| !b.list) {
            let keys = deterministic_keys(&branch.node, key, &branch.at);
            wanted.extend(keys.into_iter().map(|(l, k)| (l.table.to_string(), l.key.to_string(), k)));
        }
    }
    let mut fetched = batch_get_all(client.backend(), client.policy(), &wanted).await.map_err(|e| e.with_key(key))?;
    let Some(mut root) = fetched.remove(&(layout.table.to_string(), key.to_owned())) else {
        return Err(not_found(layout, key));
    };
    let site = Site { table: &layout.table, root_key: key };
    let meta_attr = root.remove(META).ok_or_else(|| Error::new(ErrorKind::Format, format!("the item has no `{META}`")).with_table(layout.table.as_ref()).with_key(key))?;
    let (meta_value, meta) = decode_root_meta(layout, key, meta_attr)?;
    // The shape recorded in the root: which places hold references.
    let stored = stored_node(&meta.layout, key)?;
    root.remove(layout.key.as_ref());
    if resolve {
        // The root's metadata gives every list length, so every shard key
        // is known now: one more request fetches all that the first missed.
        let mut known = Vec::new();
        all_shard_keys(&stored, key, &PlainPath::root(), &meta.lists, &mut known);
        let unfetched: Vec<_> = known
            .into_iter()
            .filter(|(l, k)| !fetched.contains_key(&(l.table.to_string(), k.clone())))
            .map(|(l, k)| (l.table.to_string(), l.key.to_string(), k))
            .collect();
        if !unfetched.is_empty() {
            fetched.extend(batch_get_all(client.backend(), client.policy(), &unfetched).await.map_err(|e| e.with_key(key))?);
        }
        // References are still followed, for objects whose stored counts
        // and references disagree (a save in progress): then it is torn.
        let mut rounds = 0;
        loop {
            let missing = missing_refs(&stored, &root, &fetched);
            if missing.is_empty() {
                break;
            }
            rounds += 1;
            let more = batch_get_all(client.backend(), client.policy(), &missing).await.map_err(|e| e.with_key(key))?;
            if more.len() < missing.len() || rounds > 64 {
                return Ok(Err(Torn));
            }
            fetched.extend(more);
        }
    }
    let codec = Codec { loader: client.loader(), rules: &resolved.rules, raw };
    let mut body = codec.decode_body(site, &stored.shards, &PlainPath::root(), root)?;
    if resolve {
        let mut ctx = Assembly { codec: &codec, fetched: &mut fetched, root_key: key, write_id: &meta.write_id };
        if ctx.attach(&stored, &PlainPath::root(), &mut body)?.is_err() {
            return Ok(Err(Torn));
        }
    }
    Ok(Ok(Loaded { body, meta, meta_value }))
}

/// The (table, key attribute, key) of every referenced item not yet fetched,
/// found by following references from `item` through `node`.
fn missing_refs(node: &Node<'_>, item: &Item, fetched: &Fetched) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for branch in &node.shards {
        let Some(slot) = attr_at(item, &branch.at) else { continue };
        let refs: Vec<&AttributeValue> = match slot {
            AttributeValue::L(items) if branch.list => items.iter().collect(),
            other => vec![other],
        };
        for r in refs.into_iter().filter_map(attr_ref) {
            match fetched.get(&(r.table.clone(), r.key.clone())) {
                Some(child) => out.extend(missing_refs(&branch.node, child, fetched)),
                None => out.push((r.table, branch.node.layout.key.to_string(), r.key)),
            }
        }
    }
    out
}

/// The attribute at `steps` (fields only) of an item.
fn attr_at<'a>(item: &'a Item, steps: &PlainPath) -> Option<&'a AttributeValue> {
    let (first, rest) = steps.steps.split_first()?;
    let Step::Field(name) = first else { return None };
    let mut value = item.get(name)?;
    for step in rest {
        let (AttributeValue::M(map), Step::Field(name)) = (value, step) else { return None };
        value = map.get(name)?;
    }
    Some(value)
}

/// Replaces references in decoded bodies with the shard objects they name.
struct Assembly<'a, 'c> {
    codec: &'a Codec<'c>,
    fetched: &'a mut Fetched,
    root_key: &'a str,
    write_id: &'a str,
}

impl Assembly<'_, '_> {
    fn attach(&mut self, node: &Node<'_>, base: &PlainPath, body: &mut Map<String, Value>) -> Result<Result<(), Torn>> {
        for branch in &node.shards {
            let Some(slot) = slot_mut(body, &branch.at) else { continue };
            let full = base.join(&branch.at);
            if branch.list {
                let Value::Array(items) = slot else { continue };
                for (i, element) in items.iter_mut().enumerate() {
                    if let Err(torn) = self.resolve(&branch.node, &full.child(Step::Index(i)), element)? {
                        return Ok(Err(torn));
                    }
                }
            } else if let Err(torn) = self.resolve(&branch.node, &full, slot)? {
                return Ok(Err(torn));
            }
        }
        Ok(Ok(()))
    }

    fn resolve(&mut self, node: &Node<'_>, path: &PlainPath, slot: &mut Value) -> Result<Result<(), Torn>> {
        let Some(r) = format::as_ref(slot) else { return Ok(Ok(())) };
        let Some(mut item) = self.fetched.remove(&(r.table.clone(), r.key.clone())) else { return Ok(Err(Torn)) };
        let meta = item.remove(META).map(crate::value::to_json).transpose()?;
        let write_id = meta.as_ref().map(format::write_id_of).transpose().map_err(|e| e.with_table(r.table.clone()).with_path(path.to_string()))?;
        if write_id != Some(self.write_id) {
            return Ok(Err(Torn));
        }
        item.remove(node.layout.key.as_ref());
        let site = Site { table: &r.table, root_key: self.root_key };
        let mut body = self.codec.decode_body(site, &node.shards, path, item)?;
        if let Err(torn) = self.attach(node, path, &mut body)? {
            return Ok(Err(torn));
        }
        *slot = Value::Object(body);
        Ok(Ok(()))
    }
}

/// Deletes the object keyed `key` and all its shards; `NotFound` if it does
/// not exist.
///
/// Without list shards the items to delete follow from `layout`, guarded by
/// the stored shape; with list shards, or when the object was stored in
/// another shape (a `Store` that names only the root table, say), the root's
/// metadata is read and every item it records is deleted, guarded by the
/// revision read, so a save racing the delete cannot leave items behind.
pub(crate) async fn delete(client: &Client, layout: &Layout, key: &str) -> Result<()> {
    let resolved = Resolved::new(layout)?;
    check_key(layout, key)?;
    let shape = format::shape_of(layout);
    let mut read_first = resolved.root.has_lists();
    let mut backoff = Backoff::new(client.policy());
    for _ in 0..RACE_ATTEMPTS {
        let mut keys = Vec::new();
        let old = if read_first { Some(read_meta(client, layout, key).await?.ok_or_else(|| not_found(layout, key))?) } else { None };
        let guard = match &old {
            Some(old) => {
                let stored = stored_node(&old.layout, key)?;
                all_shard_keys(&stored, key, &PlainPath::root(), &old.lists, &mut keys);
                Guard::Revision(&old.revision)
            }
            None => {
                all_shard_keys(&resolved.root, key, &PlainPath::root(), &BTreeMap::new(), &mut keys);
                Guard::Shape(&shape)
            }
        };
        let mut writes: Vec<Write> = keys
            .into_iter()
            .map(|(l, k)| Write::Delete { table: l.table.to_string(), key: key_item(&l.key, &k), condition: None })
            .collect();
        let condition = guard.condition(&layout.key);
        writes.push(Write::Delete { table: layout.table.to_string(), key: key_item(&layout.key, key), condition: Some(condition.clone()) });
        match transact(client, layout, key, writes, Some(condition)).await {
            Ok(()) => return Ok(()),
            // Gone, stored in another shape, or written meanwhile: read what
            // is stored and go again.
            Err(e) if e.is_conflict() => {
                if read_first && !backoff.wait().await {
                    return Err(e);
                }
                read_first = true;
            }
            Err(e) => return Err(e),
        }
    }
    Err(conflict(layout, key))
}
