//! Leaves too large for any item: a string or binary (a ciphertext, for an
//! encrypted leaf) moved out of its item into chunk items, and put back on
//! read.
//!
//! ```text
//! holding item  { ..., <leaf place>: NULL, "__dystore_meta__": {..., "chunks": {"$.body": 6}} }
//! chunk item    { <key>: "K#$.body#c0", "data": S | B,
//!                 "__dystore_meta__": {version: 1, write_id, root: "K", path: "$.body", chunk: 0}}
//! ```
//!
//! An encrypted leaf is sealed whole before it is split (one IV, one tag
//! over every byte), so chunks reordered, swapped, dropped or cut short fail
//! authentication when the leaf is opened; `docs/FORMAT.md` ("Large
//! leaves") gives the rest.

use crate::backend::Item;
use crate::error::{Error, ErrorKind, Result};
use crate::path::{PlainPath, Step};
use crate::value::{MAX_ITEM_BYTES, item_size, size};
use serde_dynamo::AttributeValue;

/// The most data one chunk item holds, in bytes: room under DynamoDB's
/// 400 KB for the key (up to 2 KB) and the metadata.
pub(crate) const CHUNK_BYTES: usize = 380 * 1024;

/// The attribute of a chunk item holding its piece of the leaf.
pub(crate) const DATA: &str = "data";

/// Room kept in an item that gave leaves away, for its metadata.
const META_ROOM: usize = 8 * 1024;

/// Leaves smaller than this are never moved out: moving them could not
/// make an item fit that their siblings overflow.
const MIN_LEAF_BYTES: usize = 1024;

/// The most an object may weigh, every item and chunk counted: dystore's
/// own limit (DynamoDB has none per object), keeping one save's requests
/// and memory bounded.
pub(crate) const MAX_OBJECT_BYTES: usize = 64 * 1024 * 1024;

/// The most chunk items one leaf of an object within [`MAX_OBJECT_BYTES`]
/// can take (a cut at a character boundary may leave a piece up to 3 bytes
/// short of [`CHUNK_BYTES`]).
pub(crate) const MAX_CHUNKS: usize = MAX_OBJECT_BYTES.div_ceil(CHUNK_BYTES - 3);

/// What an item's metadata records of one leaf in chunk items: how many
/// chunks, and a digest of the whole leaf as stored (the first 16 bytes of
/// its SHA-256, in hex), checked when the chunks are put back together so
/// that chunks swapped, altered or cut short are never read as data, even
/// for a leaf stored in clear.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Recorded {
    pub(crate) n: usize,
    pub(crate) sha256: String,
}

impl Recorded {
    fn of(leaf: &AttributeValue, n: usize) -> Self {
        Recorded { n, sha256: digest(leaf) }
    }
}

/// The digest [`Recorded`] keeps of a leaf.
fn digest(leaf: &AttributeValue) -> String {
    use sha2::{Digest, Sha256};
    let bytes: &[u8] = match leaf {
        AttributeValue::S(s) => s.as_bytes(),
        AttributeValue::B(b) => b,
        _ => &[],
    };
    Sha256::digest(bytes)[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A leaf moved out of its item, in pieces of at most [`CHUNK_BYTES`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spilled {
    /// Full path of the leaf from the object's root.
    pub(crate) path: PlainPath,
    pub(crate) pieces: Vec<AttributeValue>,
    pub(crate) recorded: Recorded,
}

/// The key of chunk `i` of the leaf whose shard-style key is `leaf_key`
/// (`Keys::at` of the leaf's path). No such key is a shard key: a printed
/// path has no `#` outside its brackets, and a write id is 32 hex digits.
pub(crate) fn chunk_key(leaf_key: &str, i: usize) -> String {
    format!("{leaf_key}#c{i}")
}

/// Moves the largest string and binary leaves of `item` (the item of the
/// object at `base`; `reserved` its key attribute and metadata, never
/// touched) out, largest first, until it fits in an item with room for its
/// metadata; each moved leaf's place holds NULL.
pub(crate) fn spill(item: &mut Item, base: &PlainPath, reserved: &[&str]) -> Vec<Spilled> {
    let mut spilled = Vec::new();
    while item_size(item) + META_ROOM > MAX_ITEM_BYTES {
        let mut largest: Option<(usize, PlainPath)> = None;
        for (name, value) in item.iter().filter(|(name, _)| !reserved.contains(&name.as_str())) {
            largest_leaf(value, PlainPath { steps: vec![Step::Field(name.clone())] }, &mut largest);
        }
        let Some((_, at)) = largest.filter(|(bytes, _)| *bytes >= MIN_LEAF_BYTES) else { break };
        let Some(slot) = find_in_item_mut(item, &at) else { break };
        let leaf = std::mem::replace(slot, AttributeValue::Null(true));
        let pieces = split(&leaf);
        spilled.push(Spilled { path: base.join(&at), recorded: Recorded::of(&leaf, pieces.len()), pieces });
    }
    spilled
}

fn largest_leaf(value: &AttributeValue, at: PlainPath, largest: &mut Option<(usize, PlainPath)>) {
    match value {
        AttributeValue::S(_) | AttributeValue::B(_) => {
            let bytes = size(value);
            if largest.as_ref().is_none_or(|(best, _)| bytes > *best) {
                *largest = Some((bytes, at));
            }
        }
        AttributeValue::M(map) => map.iter().for_each(|(k, v)| largest_leaf(v, at.child(Step::Field(k.clone())), largest)),
        AttributeValue::L(items) => items.iter().enumerate().for_each(|(i, v)| largest_leaf(v, at.child(Step::Index(i)), largest)),
        _ => {}
    }
}

fn find_in_item_mut<'a>(item: &'a mut Item, at: &PlainPath) -> Option<&'a mut AttributeValue> {
    let (Step::Field(first), rest) = at.steps.split_first()? else { return None };
    PlainPath { steps: rest.to_vec() }.find_attr_mut(item.get_mut(first)?)
}

/// A string split at character boundaries, a binary at byte counts.
fn split(leaf: &AttributeValue) -> Vec<AttributeValue> {
    match leaf {
        AttributeValue::S(text) => {
            let mut pieces = Vec::new();
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(CHUNK_BYTES);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                pieces.push(AttributeValue::S(rest[..cut].to_owned()));
                rest = &rest[cut..];
            }
            pieces
        }
        AttributeValue::B(bytes) => bytes.chunks(CHUNK_BYTES).map(|c| AttributeValue::B(c.to_vec())).collect(),
        other => vec![other.clone()],
    }
}

/// The leaf put back together from its pieces and checked against what
/// was recorded of it: `Authentication` if it differs (a chunk altered,
/// swapped or cut short).
pub(crate) fn join_checked(pieces: Vec<AttributeValue>, recorded: &Recorded) -> Result<AttributeValue> {
    let leaf = join(pieces)?;
    if digest(&leaf) != recorded.sha256 {
        return Err(Error::new(
            ErrorKind::Authentication,
            "the chunks of a large leaf do not match the digest recorded with them: altered, swapped or cut short",
        ));
    }
    Ok(leaf)
}

/// The leaf put back together from its pieces, all strings or all binaries.
fn join(pieces: Vec<AttributeValue>) -> Result<AttributeValue> {
    let bad = || Error::new(ErrorKind::Format, "the chunks of a large leaf are not all strings or all binaries");
    match pieces.first() {
        Some(AttributeValue::S(_)) => {
            let mut text = String::new();
            for piece in pieces {
                let AttributeValue::S(s) = piece else { return Err(bad()) };
                text.push_str(&s);
            }
            Ok(AttributeValue::S(text))
        }
        Some(AttributeValue::B(_)) => {
            let mut bytes = Vec::new();
            for piece in pieces {
                let AttributeValue::B(b) = piece else { return Err(bad()) };
                bytes.extend_from_slice(&b);
            }
            Ok(AttributeValue::B(bytes))
        }
        _ => Err(bad()),
    }
}

/// Puts `leaf` back at `at` (relative to the item) in `item`.
pub(crate) fn splice(item: &mut Item, at: &PlainPath, leaf: AttributeValue) -> Result<()> {
    let slot = find_in_item_mut(item, at)
        .ok_or_else(|| Error::new(ErrorKind::Format, "a large leaf's place is missing from the item that records it"))?;
    *slot = leaf;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::plain;

    fn item(entries: Vec<(&str, AttributeValue)>) -> Item {
        entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    #[test]
    fn the_largest_leaves_go_until_the_item_fits() {
        let big: String = (0..60_000).map(|i| format!("é{i:08}")).collect(); // 600 KB, two-byte characters among digits
        let mid = vec![7u8; 150 * 1024];
        let mut it = item(vec![
            ("id", AttributeValue::S("k".into())),
            ("doc", AttributeValue::M([("body".to_owned(), AttributeValue::S(big.clone()))].into())),
            ("blob", AttributeValue::L(vec![AttributeValue::B(mid.clone())])),
            ("small", AttributeValue::S("x".repeat(2000))),
        ]);
        let spilled = spill(&mut it, &plain("$.loc"), &["id"]);
        assert_eq!(spilled.iter().map(|s| s.path.to_string()).collect::<Vec<_>>(), ["$.loc.doc.body"]);
        assert!(item_size(&it) + META_ROOM <= MAX_ITEM_BYTES);
        assert_eq!(it["doc"], AttributeValue::M([("body".to_owned(), AttributeValue::Null(true))].into()));
        let pieces = spilled[0].pieces.clone();
        assert!(pieces.len() == 2 && pieces.iter().all(|p| size(p) <= CHUNK_BYTES));
        assert_eq!(join_checked(pieces.clone(), &spilled[0].recorded).unwrap(), AttributeValue::S(big), "split at character boundaries");
        let swapped = vec![pieces[1].clone(), pieces[0].clone()];
        assert_eq!(join_checked(swapped, &spilled[0].recorded).unwrap_err().kind(), ErrorKind::Authentication);

        let mut blobs =
            item(vec![("a", AttributeValue::B(mid.clone())), ("b", AttributeValue::B(mid.clone())), ("c", AttributeValue::B(mid))]);
        assert_eq!(spill(&mut blobs, &PlainPath::root(), &[]).len(), 1, "one 150 KB leaf out makes 450 KB fit");
    }

    #[test]
    fn join_refuses_mixed_pieces_and_splice_a_missing_place() {
        assert!(join(vec![AttributeValue::S("a".into()), AttributeValue::B(vec![1])]).is_err());
        assert!(join(Vec::new()).is_err());
        let mut it = item(vec![("a", AttributeValue::Null(true))]);
        splice(&mut it, &plain("$.a"), AttributeValue::S("back".into())).unwrap();
        assert_eq!(it["a"], AttributeValue::S("back".into()));
        assert!(splice(&mut it, &plain("$.b.c"), AttributeValue::S("x".into())).is_err());
    }
}

/// A leaf stored in chunk items, as an object's metadata records it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChunkedLeaf {
    /// Full path of the object whose item holds the leaf (`$` for the root).
    pub(crate) base: PlainPath,
    /// The leaf's path within that item.
    pub(crate) rel: PlainPath,
    /// The chunk items' table, key attribute and keys, in order.
    pub(crate) table: String,
    pub(crate) key_name: String,
    pub(crate) keys: Vec<String>,
    pub(crate) recorded: Recorded,
}

/// Where the chunks of every leaf in `chunks` (full path → count) live,
/// for an object whose shards are `node` and whose items are keyed by
/// `keys`.
pub(crate) fn chunked_leaves(
    node: &crate::tree::Node<'_>,
    keys: crate::format::Keys<'_>,
    chunks: &std::collections::BTreeMap<String, Recorded>,
) -> Result<Vec<ChunkedLeaf>> {
    use crate::shard::{Holder, holder};
    // A damaged or forged root must not make a read ask for (or allocate
    // keys for) more chunks than an object within the limit can have.
    if let Some((path, recorded)) = chunks.iter().find(|(_, r)| r.n == 0 || r.n > MAX_CHUNKS) {
        return Err(Error::new(ErrorKind::Format, format!("a large leaf records {} chunk items", recorded.n)).with_path(path.clone()));
    }
    let total: usize = chunks.values().map(|r| r.n).sum();
    if total > MAX_CHUNKS + chunks.len() {
        return Err(Error::new(
            ErrorKind::Format,
            format!(
                "the root records {total} chunk items, more than an object within dystore's limit of {} MiB has",
                MAX_OBJECT_BYTES >> 20
            ),
        ));
    }
    chunks
        .iter()
        .map(|(path, recorded)| {
            let bad = || Error::new(ErrorKind::Format, "a large leaf's recorded path leads nowhere").with_path(path.clone());
            let full = crate::path::parse_plain_only(path, "a large leaf's path").map_err(|_| bad())?;
            let Holder::Item { node, base, rest, .. } = holder(node, keys, &full)? else { return Err(bad()) };
            let leaf_key = keys.at(&full);
            Ok(ChunkedLeaf {
                base,
                rel: rest,
                table: node.layout.table.to_string(),
                key_name: node.layout.key.to_string(),
                keys: (0..recorded.n).map(|i| chunk_key(&leaf_key, i)).collect(),
                recorded: recorded.clone(),
            })
        })
        .collect()
}
