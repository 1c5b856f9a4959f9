//! Saves and deletes past one transaction survive a crash after every
//! request: readers running beside the crashed operation, and after it,
//! see the old document or the new one (never a mix, never an error), and
//! the next save of the object leaves no item behind.
//!
//! The crash is a `FaultPlan::crash_after(n)`: request `n` is the last one
//! the "process" sends. Every `n` from 0 to the operation's request count
//! is tried, on the embedded engine and over HTTP.

mod common;

use common::{Target, client, table};
use dystore::backend::{Backend, Embedded, FaultPlan, Scan};
use dystore::{Client, Key, Keyring, Store};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Pages per document: 150 list-shard items, more than one transaction.
const LARGE: usize = 150;
/// Pages of a document that fits one transaction.
const SMALL: usize = 20;

fn store(tables: &[String; 3]) -> Store {
    Store::new(&tables[0], "ID")
        .encrypt("$.secret")
        .shard(Store::new(&tables[1], "PID").at("$.pages[*]").encrypt("$.text"))
        .shard(Store::new(&tables[2], "MID").at("$.meta"))
}

fn keyring() -> Keyring {
    Keyring::new().with_key("k", Key::new([7u8; 32]).expect("a 32-byte key")).default_key("k")
}

/// Version `v` of the document, with `pages` list-shard elements.
fn document(v: &str, pages: usize) -> Value {
    let pages: Vec<Value> = (0..pages).map(|i| json!({"text": format!("{v}-page-{i}"), "n": i})).collect();
    json!({"version": v, "secret": format!("secret-{v}"), "meta": {"by": v}, "pages": pages})
}

/// Clients on one engine: a survivor that never crashes, and a maker of
/// clients that crash after a given request.
struct Engine {
    target: Target,
    embedded: Option<Arc<dyn Backend>>,
}

impl Engine {
    async fn new(target: Target) -> Self {
        let embedded = (target == Target::Embedded).then(|| Arc::new(Embedded::memory().expect("engine")) as Arc<dyn Backend>);
        Engine { target, embedded }
    }

    async fn client(&self) -> Client {
        let db = match &self.embedded {
            Some(engine) => Client::from_backend(engine.clone()),
            None => client(self.target).await,
        };
        db.with_loader(keyring())
    }

    async fn crashing_after(&self, n: usize) -> Client {
        self.client().await.faulty(FaultPlan::seeded(n as u64).crash_after(n)).0
    }
}

/// Every item key in `tables`, as (table, key).
async fn all_items(db: &Client, tables: &[String; 3], key_names: [&str; 3]) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (table, key_name) in tables.iter().zip(key_names) {
        let mut start = None;
        loop {
            let scan = Scan { table: table.clone(), segment: None, start: start.take(), limit: None, consistent: true };
            let page = db.backend().scan(scan).await.expect("scan");
            for item in page.items {
                if let Some(serde_dynamo::AttributeValue::S(k)) = item.get(key_name) {
                    found.insert((table.clone(), k.clone()));
                }
            }
            match page.last_key {
                Some(last) => start = Some(last),
                None => break,
            }
        }
    }
    found
}

/// The `#` and write id ending a shard key saved in several transactions,
/// or "" for a deterministic key.
fn write_id_suffix(key: &str) -> &str {
    match key.rsplit_once('#') {
        Some((_, id)) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => &key[key.len() - 33..],
        _ => "",
    }
}

/// What a reader may see: one of these documents (`None`: no object).
fn check_read(what: &str, read: dystore::Result<Value>, allowed: &[Option<&Value>]) {
    match read {
        Ok(doc) => assert!(allowed.contains(&Some(&doc)), "{what}: a read returned a document that is neither version: {doc}"),
        Err(e) if e.is_not_found() => assert!(allowed.contains(&None), "{what}: the object vanished"),
        Err(e) => panic!("{what}: a read failed: {e}"),
    }
}

/// Reads `key` whole and by path until `done`, checking each result.
async fn reader(db: Client, store: Store, key: String, allowed: Vec<Option<Value>>, done: Arc<AtomicBool>, what: String) -> usize {
    let allowed_refs: Vec<Option<&Value>> = allowed.iter().map(Option::as_ref).collect();
    let page_texts: Vec<Option<Value>> =
        allowed.iter().map(|d| d.as_ref().map(|d| d["pages"].get(3).map_or(json!([]), |p| json!([p["text"]])))).collect();
    let mut reads = 0;
    loop {
        let finished = done.load(Ordering::SeqCst);
        check_read(&what, db.store(&store).read(&key).await, &allowed_refs);
        match db.store(&store).read_path(&key, "$.pages[3].text").await {
            Ok(found) => {
                let found = Value::Array(found);
                assert!(page_texts.iter().any(|t| t.as_ref() == Some(&found)), "{what}: read_path returned {found}");
            }
            Err(e) if e.is_not_found() => assert!(allowed.contains(&None), "{what}: read_path found no object"),
            Err(e) => panic!("{what}: read_path failed: {e}"),
        }
        reads += 1;
        if finished {
            return reads;
        }
        tokio::task::yield_now().await;
    }
}

/// How many requests `op` sends when nothing crashes.
async fn requests_of(engine: &Engine, store: &Store, before: Option<&Value>, op: &Op) -> usize {
    let key = "count";
    let db = engine.client().await;
    if let Some(doc) = before {
        db.store(store).write_with_key(key, doc.clone()).await.expect("first save");
    }
    let (counted, requests) = db.counted();
    op.run(&counted, store, key).await.expect("the operation, uncrashed");
    let total = requests.total();
    counted.store(store).delete(key).await.ok();
    total
}

enum Op {
    Save(Value),
    Delete,
}

impl Op {
    async fn run(&self, db: &Client, store: &Store, key: &str) -> dystore::Result<()> {
        match self {
            Op::Save(doc) => db.store(store).write_with_key(key, doc.clone()).await,
            Op::Delete => db.store(store).delete(key).await,
        }
    }
}

/// Crashes `op` after every request in turn, from `before` (`None`: no
/// object yet); returns the number of cases.
async fn crash_everywhere(target: Target, before: Option<Value>, op: Op) -> usize {
    let tables = [table("CrashRoot"), table("CrashPages"), table("CrashMeta")];
    let key_names = ["ID", "PID", "MID"];
    let store = store(&tables);
    let engine = Engine::new(target).await;
    let survivor = engine.client().await;
    survivor.store(&store).create_tables().await.expect("tables");
    let total = requests_of(&engine, &store, before.as_ref(), &op).await;
    let after = match &op {
        Op::Save(doc) => Some(doc.clone()),
        Op::Delete => None,
    };
    for n in 0..=total {
        let key = format!("obj-{n}");
        if let Some(doc) = &before {
            survivor.store(&store).write_with_key(&key, doc.clone()).await.expect("the version before");
        }
        let done = Arc::new(AtomicBool::new(false));
        let what = format!("{target:?}, crash after request {n} of {total}");
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let allowed = vec![before.clone(), after.clone()];
                tokio::spawn(reader(survivor.clone(), store.clone(), key.clone(), allowed, done.clone(), what.clone()))
            })
            .collect();
        let revision = |read: dystore::Result<dystore::Versioned<Value>>| read.ok().map(|v| v.revision);
        let revision_before = revision(survivor.store(&store).read_versioned(&key).await);
        let crashing = engine.crashing_after(n).await;
        let outcome = op.run(&crashing, &store, &key).await;
        done.store(true, Ordering::SeqCst);
        for r in readers {
            assert!(r.await.expect("reader") >= 1);
        }
        // An error that says the object did not change leaves its revision
        // as it was: a versioned write holding it still succeeds.
        if let Err(e) = &outcome
            && !e.object_may_have_changed()
        {
            let revision_after = revision(survivor.store(&store).read_versioned(&key).await);
            assert_eq!(revision_after, revision_before, "{what}: the error says the object did not change: {e}");
        }
        if n == total {
            outcome.unwrap_or_else(|e| panic!("{what}: with every request sent the operation succeeds: {e}"));
        }
        // After the crash: still one version or the other.
        let now = survivor.store(&store).read(&key).await;
        let pages = now.as_ref().ok().map(|doc| doc["pages"].as_array().map_or(0, Vec::len));
        check_read(&what, now, &[before.as_ref(), after.as_ref()]);

        // A sweep finishes whatever the crash left recorded, and finds
        // nothing unaccounted for: only the readable version's items remain.
        let report = survivor.store(&store).sweep(false).await.unwrap_or_else(|e| panic!("{what}: sweep: {e}"));
        assert!(report.orphans.is_empty() && report.failed.is_empty(), "{what}: {report:?}");
        let of_key = |k: &str| k == key || k.starts_with(&format!("{key}#"));
        let left = all_items(&survivor, &tables, key_names).await.into_iter().filter(|(_, k)| of_key(k)).count();
        assert_eq!(left, pages.map_or(0, |p| p + 2), "{what}: after the sweep, the items of the version read ({report:?})");

        // The next save cleans up whatever the crash left.
        let next = document("next", SMALL);
        survivor.store(&store).write_with_key(&key, next.clone()).await.unwrap_or_else(|e| panic!("{what}: the next save: {e}"));
        assert_eq!(survivor.store(&store).read(&key).await.expect("next"), next, "{what}");
        let mut expected: BTreeSet<(String, String)> = (0..SMALL).map(|i| (tables[1].clone(), format!("{key}#$.pages[{i}]"))).collect();
        expected.insert((tables[0].clone(), key.clone()));
        expected.insert((tables[2].clone(), format!("{key}#$.meta")));
        let stored: Vec<_> = all_items(&survivor, &tables, key_names)
            .await
            .into_iter()
            .filter(|(_, k)| k.starts_with(&format!("{key}#")) || k == &key)
            .collect();
        // The next save may itself be staged (it deletes 150 items): its
        // shard keys then all carry its one write id.
        let suffixes: BTreeSet<&str> = stored.iter().filter(|(_, k)| k != &key).map(|(_, k)| write_id_suffix(k)).collect();
        assert!(suffixes.len() == 1, "{what}: one save's items, found suffixes {suffixes:?}");
        let plain: BTreeSet<(String, String)> =
            stored.iter().map(|(t, k)| (t.clone(), k.strip_suffix(write_id_suffix(k)).unwrap_or(k).to_owned())).collect();
        assert_eq!((plain, stored.len()), (expected, SMALL + 2), "{what}: exactly the next save's items remain");
    }
    println!("{target:?}: {} crash points, each with 2 readers beside it and a read, a sweep and a save after it", total + 1);
    total + 1
}

async fn a_large_save_over_a_large_one_survives_a_crash_after_every_request(target: Target) {
    let cases = crash_everywhere(target, Some(document("old", LARGE)), Op::Save(document("new", LARGE))).await;
    assert!(cases > 6, "a staged save takes several requests: {cases} cases");
}

async fn a_large_save_over_a_small_one_survives_a_crash_after_every_request(target: Target) {
    crash_everywhere(target, Some(document("old", SMALL)), Op::Save(document("new", LARGE))).await;
}

async fn a_first_large_save_survives_a_crash_after_every_request(target: Target) {
    crash_everywhere(target, None, Op::Save(document("new", LARGE))).await;
}

async fn a_large_delete_survives_a_crash_after_every_request(target: Target) {
    crash_everywhere(target, Some(document("old", LARGE)), Op::Delete).await;
}

async fn a_small_save_over_a_large_one_survives_a_crash_after_every_request(target: Target) {
    crash_everywhere(target, Some(document("old", LARGE)), Op::Save(document("new", SMALL))).await;
}

async fn a_sweep_reports_and_deletes_items_no_root_accounts_for(target: Target) {
    let tables = [table("SweepRoot"), table("SweepPages"), table("SweepMeta")];
    let store = store(&tables);
    let db = Engine::new(target).await.client().await;
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).write_with_key("live", document("v", 3)).await.unwrap();
    // A shard item of a save its root never committed, and one of a root
    // that is gone, as data written by other means could leave them.
    for (key, root) in [("live#$.pages[9]", "live"), ("gone#$.meta", "gone")] {
        let meta = json!({"version": 1, "write_id": "0123456789abcdef0123456789abcdef", "shape": "x", "root": root, "path": "$.x"});
        let table = if key.ends_with("meta") { &tables[2] } else { &tables[1] };
        let key_name = if key.ends_with("meta") { "MID" } else { "PID" };
        let item = [
            (key_name.to_owned(), serde_dynamo::AttributeValue::S(key.to_owned())),
            ("__dystore_meta__".to_owned(), serde_dynamo::to_attribute_value(meta).unwrap()),
        ]
        .into();
        db.backend().write(dystore::backend::Write::Put { table: table.clone(), item, condition: None }).await.unwrap();
    }
    let found = db.store(&store).sweep(false).await.unwrap();
    let mut orphans: Vec<&str> = found.orphans.iter().map(|(_, k)| k.as_str()).collect();
    orphans.sort();
    assert_eq!(orphans, ["gone#$.meta", "live#$.pages[9]"], "{found:?}");
    assert_eq!((found.objects, found.failed.len()), (1, 0), "{found:?}");
    assert_eq!(db.store(&store).sweep(true).await.unwrap().orphans.len(), 2);
    assert!(db.store(&store).sweep(false).await.unwrap().orphans.is_empty(), "deleted");
    assert_eq!(db.store(&store).read("live").await.unwrap(), document("v", 3), "the object is untouched");
}

/// Every request of a staged save answered with a timeout once, the
/// request applied: the save succeeds, reads back, and leaves nothing.
async fn a_staged_save_whose_answers_are_lost_succeeds(target: Target) {
    let tables = [table("LostRoot"), table("LostPages"), table("LostMeta")];
    let store = store(&tables);
    let engine = Engine::new(target).await;
    let db = engine.client().await;
    db.store(&store).create_tables().await.unwrap();
    let total = requests_of(&engine, &store, Some(&document("old", LARGE)), &Op::Save(document("new", LARGE))).await;
    for n in 1..=total {
        let key = format!("lost-{n}");
        db.store(&store).write_with_key(&key, document("old", LARGE)).await.unwrap();
        let (lossy, injected) =
            engine.client().await.faulty(FaultPlan::seeded(n as u64).fail_request(n, dystore::backend::Fault::AppliedTimeout));
        lossy
            .store(&store)
            .write_with_key(&key, document("new", LARGE))
            .await
            .unwrap_or_else(|e| panic!("answer of request {n} lost: {e}"));
        assert_eq!(injected.faults(dystore::backend::Fault::AppliedTimeout), 1);
        assert_eq!(db.store(&store).read(&key).await.unwrap(), document("new", LARGE), "answer of request {n} lost");
    }
    let report = db.store(&store).sweep(false).await.unwrap();
    assert!(report.orphans.is_empty() && report.failed.is_empty(), "{report:?}");
}

conformance!(
    a_staged_save_whose_answers_are_lost_succeeds,
    a_sweep_reports_and_deletes_items_no_root_accounts_for,
    a_large_save_over_a_large_one_survives_a_crash_after_every_request,
    a_large_save_over_a_small_one_survives_a_crash_after_every_request,
    a_first_large_save_survives_a_crash_after_every_request,
    a_large_delete_survives_a_crash_after_every_request,
    a_small_save_over_a_large_one_survives_a_crash_after_every_request,
);
