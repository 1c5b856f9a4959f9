//! Reading one stored object for a rotation: its root (from the scan) and
//! every shard item, walked leaf by leaf so that each ciphertext is seen
//! with its table, path and key id, and (when asked) opened.
//!
//! The object is read here rather than through `ops::load` because a load
//! gives back the document and forgets which leaves were ciphertexts and
//! under which key ids; the document assembled here is the same one, and is
//! what a rotation writes back.

use crate::backend::Item;
use crate::chunk::{self, ChunkedLeaf, chunked_leaves};
use crate::crypto::{self, Context};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, META, Root, Stale, attr_ref};
use crate::layout::Layout;
use crate::ops::{Env, batch_get_all, count_items};
use crate::path::{PlainPath, Step};
use crate::rules::Rules;
use crate::shard::all_shard_keys;
use crate::tree::{Branch, Node, Resolved};
use crate::value::to_json;
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// One encrypted leaf of a stored object.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    /// The table of the item holding it.
    pub(crate) table: String,
    /// Its path from the object root.
    pub(crate) path: PlainPath,
    /// The key id in its header; for a dynamo-store 0.6 ciphertext, the one
    /// the loader names for its path (asked as the package did), if any.
    pub(crate) key_id: Option<String>,
    /// A dynamo-store 0.6 ciphertext.
    pub(crate) legacy: bool,
}

/// An object read whole.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) key: String,
    /// The revision read; `None` for an object of dynamo-store 0.6.
    pub(crate) revision: Option<String>,
    /// The layout to write it back with: the recorded one (the caller's
    /// when it has the same shape, for its encryption marks).
    pub(crate) layout: Layout,
    /// The encryption marks of the caller's layout, whatever the shape
    /// recorded: they say which paths must hold ciphertext, as for a load.
    pub(crate) rules: Rules,
    /// The document, ciphertexts opened (or `null` where not opened).
    pub(crate) doc: Value,
    pub(crate) leaves: Vec<Leaf>,
    /// Leaves stored in clear (table of the item, path): a rule the loader
    /// gained since may cover them.
    pub(crate) clear: Vec<(String, PlainPath)>,
    /// Leaves or places that could not be read; the object must not be
    /// written back.
    pub(crate) failures: Vec<Error>,
    /// Items the root records as owed deletion, if any.
    pub(crate) owed: Option<Owed>,
}

/// Items a root records as owed deletion: left by a save, delete or
/// upgrade that was interrupted (`docs/FORMAT.md`, "Saves over one
/// transaction"). They are not part of the object any more, but may hold
/// ciphertext under any key id until they are deleted.
#[derive(Debug, Clone)]
pub(crate) struct Owed {
    /// The revision of the root (or record) that records them.
    pub(crate) revision: String,
    pub(crate) stale: BTreeMap<String, Stale>,
    /// How many items they are.
    pub(crate) items: usize,
}

impl Owed {
    /// What a root keyed `key` records as owed, if anything.
    pub(crate) fn of(key: &str, revision: &str, stale: &BTreeMap<String, Stale>) -> Option<Owed> {
        (!stale.is_empty()).then(|| Owed { revision: revision.to_owned(), stale: stale.clone(), items: count_items(stale, key) })
    }

    /// The failure a verification reports for them: the key id cannot be
    /// retired while they may hold its ciphertext.
    pub(crate) fn error(&self, table: &str, key: &str) -> Error {
        Error::new(
            ErrorKind::Unfinished,
            format!(
                "{} items are recorded as owed deletion and may hold ciphertext under any key id; \
                 a rotation deletes them (so does the object's next save or delete, or `Objects::sweep`)",
                self.items
            ),
        )
        .with_table(table)
        .with_key(key)
    }
}

/// What reading an object gave.
pub(crate) enum Read {
    Object(Box<Stored>),
    /// Items of different saves (a save in progress): read the root again.
    /// With what was wrong, reported if the root read again is the same
    /// (then no save is in progress: the object is damaged).
    Torn(Error),
    /// A tombstone: the object was deleted, or its first save has not
    /// finished; with what it records as owed deletion, if anything.
    Gone(Option<Owed>),
}

type Fetched = HashMap<(String, String), Item>;

/// Reads the format-1 object keyed `key` whose root item is `root`, its
/// ciphertexts opened with `decrypt`.
pub(crate) async fn read(env: &Env<'_>, caller: &Layout, key: &str, mut root: Item, decrypt: bool) -> Result<Read> {
    let context = |e: Error| e.with_table(caller.table.as_ref()).with_key(key);
    let meta = root.remove(META).ok_or_else(|| context(Error::new(ErrorKind::Format, format!("the item has no `{META}`"))))?;
    let (_, state) = Root::decode(meta).map_err(context)?;
    let meta = match state {
        Root::Object(meta) => meta,
        Root::Tombstone { revision, stale } => return Ok(Read::Gone(Owed::of(key, &revision, &stale))),
    };
    let same_shape = format::shape_of(caller) == format::shape_of(&meta.layout);
    let layout = if same_shape { caller.clone() } else { meta.layout.clone() };
    let resolved = Resolved::new(&layout).map_err(context)?;
    // The caller's marks decide which paths must hold ciphertext, in
    // whatever shape the object is stored (a load does the same).
    let rules = if same_shape { resolved.rules.clone() } else { Resolved::new(caller).map_err(context)?.rules };
    let keys = meta.keys(key);
    // Leaves too large for an item are in chunk items, put back before walking.
    let chunked = chunked_leaves(&resolved.root, keys, &meta.chunks).map_err(context)?;
    let mut known = Vec::new();
    all_shard_keys(&resolved.root, keys, &PlainPath::root(), &meta.lists, &mut known);
    let wanted: Vec<_> = known
        .into_iter()
        .map(|(l, k)| (l.table.to_string(), l.key.to_string(), k))
        .chain(chunked.iter().flat_map(|leaf| leaf.keys.iter().map(|k| (leaf.table.clone(), leaf.key_name.clone(), k.clone()))))
        .collect();
    let fetched =
        if wanted.is_empty() { Fetched::new() } else { batch_get_all(env.backend, env.policy, &wanted).await.map_err(context)? };
    let mut walk = Walk {
        env,
        rules: &rules,
        root_key: key,
        write_id: &meta.write_id,
        decrypt,
        fetched,
        chunked,
        leaves: Vec::new(),
        clear: Vec::new(),
        failures: Vec::new(),
        torn: None,
    };
    let body = walk.body(&resolved.root, &PlainPath::root(), &layout.table, root);
    if let Some(torn) = walk.torn {
        return Ok(Read::Torn(torn));
    }
    let (leaves, clear, failures) = (walk.leaves, walk.clear, walk.failures);
    drop(resolved);
    let owed = Owed::of(key, &meta.revision, &meta.stale);
    Ok(Read::Object(Box::new(Stored {
        key: key.to_owned(),
        revision: Some(meta.revision),
        layout,
        rules,
        doc: Value::Object(body),
        leaves,
        clear,
        failures,
        owed,
    })))
}

/// Walks the items of one object, recording leaves and failures.
struct Walk<'a> {
    env: &'a Env<'a>,
    rules: &'a Rules,
    root_key: &'a str,
    write_id: &'a str,
    decrypt: bool,
    fetched: Fetched,
    chunked: Vec<ChunkedLeaf>,
    leaves: Vec<Leaf>,
    clear: Vec<(String, PlainPath)>,
    failures: Vec<Error>,
    /// The first item missing or of another save, as an error naming it.
    torn: Option<Error>,
}

impl Walk<'_> {
    /// The fields of an item (key and metadata left out) of the object at
    /// `base`, whose own shards are `node`'s.
    fn body(&mut self, node: &Node<'_>, base: &PlainPath, table: &str, mut item: Item) -> Map<String, Value> {
        self.put_back(&mut item, base, table);
        item.into_iter()
            .filter(|(name, _)| name != META && name != node.layout.key.as_ref())
            .map(|(name, value)| {
                let rel = PlainPath::root().child(Step::Field(name.clone()));
                (name, self.value(&node.shards, base, rel, table, value))
            })
            .collect()
    }

    fn value(&mut self, shards: &[Branch<'_>], base: &PlainPath, rel: PlainPath, table: &str, value: AttributeValue) -> Value {
        let full = base.join(&rel);
        if let Some(branch) = shards.iter().find(|b| b.at == rel) {
            return self.place(branch, &full, table, value);
        }
        let empty = matches!(&value, AttributeValue::M(m) if m.is_empty()) || matches!(&value, AttributeValue::L(l) if l.is_empty());
        match value {
            AttributeValue::M(map) if !empty => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let child = rel.child(Step::Field(k.clone()));
                        (k, self.value(shards, base, child, table, v))
                    })
                    .collect(),
            ),
            AttributeValue::L(items) if !empty => Value::Array(
                items.into_iter().enumerate().map(|(i, v)| self.value(shards, base, rel.child(Step::Index(i)), table, v)).collect(),
            ),
            AttributeValue::B(bytes) => self.leaf(table, full, bytes),
            clear => {
                if self.rules.encrypts(&full.steps) {
                    self.failures.push(clear_at_encrypted(table, self.root_key, &full));
                }
                if !matches!(clear, AttributeValue::M(_) | AttributeValue::L(_)) {
                    self.clear.push((table.to_owned(), full.clone()));
                }
                self.json(clear, table, &full)
            }
        }
    }

    /// A shard's place: `null` (no shard), a reference, or a list of them.
    /// An empty place the caller's marks say is encrypted, where the
    /// caller's layout has no shard, is a value in clear (as a load sees
    /// it: the recorded layout may be forged to pass it off as a shard's).
    fn place(&mut self, branch: &Branch<'_>, full: &PlainPath, table: &str, value: AttributeValue) -> Value {
        let empty = matches!(&value, AttributeValue::Null(_)) || matches!(&value, AttributeValue::L(l) if l.is_empty());
        if empty && self.rules.encrypts(&full.steps) && !self.rules.is_shard_place(&full.steps) {
            self.failures.push(clear_at_encrypted(table, self.root_key, full));
        }
        match value {
            AttributeValue::Null(_) => Value::Null,
            AttributeValue::L(refs) if branch.list => Value::Array(
                refs.into_iter().enumerate().map(|(i, r)| self.shard(&branch.node, &full.child(Step::Index(i)), table, r)).collect(),
            ),
            single if !branch.list => self.shard(&branch.node, full, table, single),
            _ => {
                self.failures.push(not_a_reference(table, self.root_key, full));
                Value::Null
            }
        }
    }

    /// The shard item a reference names, walked as the object at `path`.
    fn shard(&mut self, node: &Node<'_>, path: &PlainPath, table: &str, reference: AttributeValue) -> Value {
        let Some(r) = attr_ref(&reference) else {
            self.failures.push(not_a_reference(table, self.root_key, path));
            return Value::Null;
        };
        let Some(mut item) = self.fetched.remove(&(r.table.clone(), r.key.clone())) else {
            self.tear(ErrorKind::MissingShard, "the shard item its parent refers to is missing", &r.table, path);
            return Value::Null;
        };
        let meta = item.remove(META).map(to_json).transpose().ok().flatten();
        if meta.as_ref().and_then(|m| format::write_id_of(m).ok()) != Some(self.write_id) {
            self.tear(ErrorKind::Format, "the shard item holds another save's data than its root", &r.table, path);
            return Value::Null;
        }
        Value::Object(self.body(node, path, &r.table, item))
    }

    /// Puts back into `item` (of the object at `base`) its leaves stored in
    /// chunk items, checked as a load checks them: a chunk missing or of
    /// another save is a save in progress; a digest that does not match is
    /// a failure.
    fn put_back(&mut self, item: &mut Item, base: &PlainPath, table: &str) {
        let leaves: Vec<ChunkedLeaf> = self.chunked.iter().filter(|leaf| &leaf.base == base).cloned().collect();
        for leaf in leaves {
            let path = base.join(&leaf.rel);
            let mut pieces = Vec::with_capacity(leaf.keys.len());
            for key in &leaf.keys {
                let Some(mut piece) = self.fetched.remove(&(leaf.table.clone(), key.clone())) else {
                    self.tear(ErrorKind::MissingShard, "a chunk item of this large leaf is missing", &leaf.table, &path);
                    return;
                };
                let meta = piece.remove(META).map(to_json).transpose().ok().flatten();
                if meta.as_ref().and_then(|m| format::write_id_of(m).ok()) != Some(self.write_id) {
                    self.tear(ErrorKind::Format, "a chunk item of this large leaf holds another save's data", &leaf.table, &path);
                    return;
                }
                pieces.push(piece.remove(crate::chunk::DATA).unwrap_or(AttributeValue::Null(true)));
            }
            let joined = chunk::join_checked(pieces, &leaf.recorded).and_then(|leaf_value| chunk::splice(item, &leaf.rel, leaf_value));
            if let Err(e) = joined {
                self.failures.push(e.with_table(table).with_key(self.root_key).with_path(path.to_string()));
            }
        }
    }

    /// Records the first item found missing or of another save.
    fn tear(&mut self, kind: ErrorKind, why: &str, table: &str, path: &PlainPath) {
        if self.torn.is_none() {
            self.torn = Some(Error::new(kind, why).with_table(table).with_key(self.root_key).with_path(path.to_string()));
        }
    }

    /// A Binary: a format-1 ciphertext (recorded, and opened when asked),
    /// or data where no mark says the path is encrypted.
    fn leaf(&mut self, table: &str, full: PlainPath, bytes: Vec<u8>) -> Value {
        let Ok(key_id) = crypto::envelope_key_id(&bytes) else {
            if self.rules.encrypts(&full.steps) {
                self.failures.push(clear_at_encrypted(table, self.root_key, &full));
            }
            self.clear.push((table.to_owned(), full.clone()));
            return self.json(AttributeValue::B(bytes), table, &full);
        };
        let key_id = key_id.to_owned();
        let value = if self.decrypt { self.open(table, &full, &key_id, &bytes) } else { Value::Null };
        self.leaves.push(Leaf { table: table.to_owned(), path: full, key_id: Some(key_id), legacy: false });
        value
    }

    fn open(&mut self, table: &str, full: &PlainPath, key_id: &str, bytes: &[u8]) -> Value {
        let path = full.to_string();
        let opened = match self.env.loader.key(&key_id.to_owned()) {
            None => Err(Error::new(ErrorKind::MissingKey, "the loader has no key material for this key id").with_key_id(key_id)),
            Some(key) => crypto::open(&key, &Context::new(table, self.root_key, &path), bytes).and_then(to_json),
        };
        opened.unwrap_or_else(|e| {
            self.failures.push(e.with_table(table).with_key(self.root_key).with_path(path).with_key_id(key_id));
            Value::Null
        })
    }

    fn json(&mut self, value: AttributeValue, table: &str, full: &PlainPath) -> Value {
        to_json(value).unwrap_or_else(|e| {
            self.failures.push(e.with_table(table).with_key(self.root_key).with_path(full.to_string()));
            Value::Null
        })
    }
}

fn clear_at_encrypted(table: &str, key: &str, path: &PlainPath) -> Error {
    Error::new(ErrorKind::Authentication, "a value in clear where the layout says the path is encrypted")
        .with_table(table)
        .with_key(key)
        .with_path(path.to_string())
}

fn not_a_reference(table: &str, key: &str, path: &PlainPath) -> Error {
    Error::new(ErrorKind::Format, "a shard's place in its parent holds something other than a reference")
        .with_table(table)
        .with_key(key)
        .with_path(path.to_string())
}
