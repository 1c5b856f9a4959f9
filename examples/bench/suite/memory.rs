//! Peak memory of saving and loading a large object (by default the
//! issue's: 16 shards × one 250 KB leaf, 4 MB), through dystore and as the
//! same puts and gets sent by hand, read from the process's resident set:
//! `VmRSS` and the peak `VmHWM` of /proc/self/status, the peak reset
//! between phases by writing 5 to /proc/self/clear_refs (Linux ≥ 4.0).
//!
//! Each measurement belongs in a fresh process (the bench runs one child
//! per variant), so what one left allocated does not hide another's peak;
//! the bench also runs the children with glibc's mmap threshold fixed at
//! 128 KB, so every large block is returned to the system when freed and
//! the resident set follows what is live.
//!
//! Figures are in multiples of the object (the sum of its leaves):
//! - `save`: the peak during the save above the resident set once the
//!   document (for the raw variant: the request's items) is built;
//! - `load`: the peak during the load above the resident set before it
//!   (the loaded document or the returned items included);
//! - `whole`: the peak over building, saving and loading above the
//!   resident set before building (the engine's copy included when it is
//!   in process).

use super::Result;
use super::reference::Request;
use super::target::Target;
use dystore::backend::{Item, TableKeys, Write};
use dystore::{Context, Key, Keyring, PathPattern, Store};
use serde::{Deserialize, Serialize};
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value};

/// The object measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Object {
    pub(crate) shards: usize,
    /// Bytes of the one string leaf in each shard.
    pub(crate) leaf: usize,
    /// Whether each leaf is encrypted (by the loader's keyring; the raw
    /// variant seals it itself before the clock starts).
    pub(crate) encrypted: bool,
}

impl Object {
    /// The issue's: 16 shards × 250 KB, 4 MB in all.
    pub(crate) const ISSUE: Object = Object { shards: 16, leaf: 250_000, encrypted: false };

    pub(crate) fn bytes(&self) -> usize {
        self.shards * self.leaf
    }
}

/// Who sends the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// `write_with_key` and `read` of the document.
    Dystore,
    /// One TransactWriteItems of the items and one BatchGetItem of their
    /// keys, written by hand in the engine's own types (`suite::floor`).
    Raw,
}

impl Variant {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Variant::Dystore => "dystore",
            Variant::Raw => "raw",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Variant> {
        [Variant::Dystore, Variant::Raw].into_iter().find(|v| v.name() == s)
    }
}

/// What one measurement found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Figures {
    /// Bytes of the object (its leaves).
    pub(crate) object: usize,
    /// Resident set before building, kB.
    pub(crate) baseline_kb: u64,
    /// Peaks above their baselines, in multiples of the object.
    pub(crate) save: f64,
    pub(crate) load: f64,
    pub(crate) whole: f64,
    /// Requests the save and the load sent.
    pub(crate) save_requests: u32,
    pub(crate) load_requests: u32,
    /// Whether the peak could be reset between phases (else each phase's
    /// peak is the process's so far: an upper bound).
    pub(crate) reset: bool,
}

const KEY: &str = "big";
const KEY_ID: &str = "k1";

fn key() -> Key {
    Key::new([7u8; 32]).expect("a 32-byte key")
}

fn shard_path(i: usize) -> String {
    format!("$.s{i:03}")
}

/// The object's layout: a root and `shards` shards in one shard table.
pub(crate) fn store(suffix: &str, object: Object) -> Store {
    (0..object.shards).fold(Store::new(format!("Big{suffix}"), "ID"), |store, i| {
        store.shard(Store::new(format!("BigShards{suffix}"), "SID").at(shard_path(i)))
    })
}

fn keyring(object: Object) -> Keyring {
    let ring = Keyring::new().with_key(KEY_ID, key());
    if !object.encrypted {
        return ring;
    }
    (0..object.shards).fold(ring, |ring, i| ring.rule(PathPattern::exact(&format!("{}.leaf", shard_path(i))).expect("a path"), KEY_ID))
}

fn document(object: Object) -> Value {
    let body: Map<String, Value> =
        (0..object.shards).map(|i| (format!("s{i:03}"), serde_json::json!({"leaf": "x".repeat(object.leaf)}))).collect();
    Value::Object(body)
}

/// A `/proc/self/status` figure in kB (`VmRSS`, `VmHWM`); 0 if unreadable.
pub(crate) fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets `VmHWM` to the current resident set; false if the kernel refused.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// One phase: the resident set when it started, and its peak since.
#[derive(Debug, Clone, Copy)]
struct Phase {
    /// `VmRSS` at the start, kB.
    before: u64,
    /// `VmHWM` at the end, kB (the peak reset at the start).
    peak: u64,
}

impl Phase {
    /// Resets the peak and runs `work` as one phase.
    async fn run<T>(work: impl std::future::Future<Output = T>) -> (T, Phase) {
        reset_peak();
        let before = status_kb("VmRSS");
        let out = work.await;
        (out, Phase { before, peak: status_kb("VmHWM").max(before) })
    }

    /// The peak above the start, in multiples of `object` bytes.
    fn above(&self, object: usize) -> f64 {
        self.peak.saturating_sub(self.before) as f64 * 1024.0 / object as f64
    }
}

/// Measures `variant` saving and loading `object` on `target`, in this
/// process (which should be fresh: see the module docs).
pub(crate) async fn measure(target: &Target, variant: Variant, object: Object) -> Result<Figures> {
    let suffix = format!("_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let store = store(&suffix, object);
    let (db, engine) = target.connect().await;
    let db = db.with_loader(keyring(object));
    db.store(&store).create_tables().await?;
    let reset = reset_peak();
    let (build, save, load, save_requests, load_requests) = match variant {
        Variant::Dystore => {
            let (doc, build) = Phase::run(async { document(object) }).await;
            let ((saved, saved_usage), save) = Phase::run(db.measure(db.store(&store).write_with_key(KEY, doc))).await;
            saved?;
            let ((loaded, loaded_usage), load) = Phase::run(db.measure(db.store(&store).read(KEY))).await;
            check_loaded(&loaded?, object)?;
            (build, save, load, saved_usage.requests, loaded_usage.requests)
        }
        Variant::Raw => {
            // Built in the engine's own types: what a hand-written
            // application holds before it sends.
            let (requests, build) = Phase::run(async {
                let (writes, keys) = raw_requests(&store, object)?;
                Ok::<_, super::BoxError>((engine.prepare(Request::Transact(writes))?, engine.prepare(Request::BatchGet(keys))?))
            })
            .await;
            let (save_request, load_request) = requests?;
            let (saved, save) = Phase::run(engine.send(save_request)).await;
            drop(saved?);
            let (loaded, load) = Phase::run(engine.send(load_request)).await;
            let items = loaded?.items().len();
            if items != object.shards + 1 {
                return Err(format!("the raw load returned {items} items").into());
            }
            (build, save, load, 1, 1)
        }
    };
    // The phases follow one another, so the highest of their peaks is the
    // process's since building began.
    let whole = Phase { before: build.before, peak: build.peak.max(save.peak).max(load.peak) };
    Ok(Figures {
        object: object.bytes(),
        baseline_kb: build.before,
        save: save.above(object.bytes()),
        load: load.above(object.bytes()),
        whole: whole.above(object.bytes()),
        save_requests,
        load_requests,
        reset,
    })
}

/// Whether the loaded document has every leaf whole.
fn check_loaded(doc: &Value, object: Object) -> Result<()> {
    let whole = (0..object.shards).all(|i| doc[format!("s{i:03}")]["leaf"].as_str().is_some_and(|s| s.len() == object.leaf));
    if whole { Ok(()) } else { Err("the loaded document lacks a leaf".into()) }
}

/// The raw variant's requests: the root and the shard items as a hand-written
/// application would store them (leaves sealed with the same envelope when
/// encrypted), and the BatchGetItem of their keys.
fn raw_requests(store: &Store, object: Object) -> Result<(Vec<Write>, Vec<TableKeys>)> {
    let root = store.layout();
    let shard = &root.shards[0].layout;
    let key = key();
    let mut writes = Vec::with_capacity(object.shards + 1);
    let mut shard_keys = Vec::with_capacity(object.shards);
    for i in 0..object.shards {
        let path = format!("{}.leaf", shard_path(i));
        let shard_key: Item = [(shard.key.to_string(), AttributeValue::S(format!("{KEY}#{}", shard_path(i))))].into();
        let plain = AttributeValue::S("x".repeat(object.leaf));
        let leaf = if object.encrypted {
            AttributeValue::B(dystore::crypto::seal(KEY_ID, &key, &Context::new(&shard.table, KEY, &path), &plain)?)
        } else {
            plain
        };
        let mut item = shard_key.clone();
        item.insert("leaf".to_owned(), leaf);
        writes.push(Write::Put { table: shard.table.to_string(), item, condition: None });
        shard_keys.push(shard_key);
    }
    let root_key: Item = [(root.key.to_string(), AttributeValue::S(KEY.to_owned()))].into();
    let mut root_item = root_key.clone();
    root_item.insert("shards".to_owned(), AttributeValue::N(object.shards.to_string()));
    writes.push(Write::Put { table: root.table.to_string(), item: root_item, condition: None });
    let keys = vec![
        TableKeys { table: root.table.to_string(), keys: vec![root_key], consistent: true },
        TableKeys { table: shard.table.to_string(), keys: shard_keys, consistent: true },
    ];
    Ok((writes, keys))
}
