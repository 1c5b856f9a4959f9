//! Key rotation end to end (`dystore::rotate`), on the embedded engine and
//! over HTTP: objects written under key A are rotated to B, verified, and
//! read with a loader that knows only B; an interrupted rotation resumes
//! from its checkpoints while another writer keeps writing, and loses
//! nothing; a second rotation of the same table is refused until the
//! first one's lease expires.

mod common;

use async_trait::async_trait;
use common::{Target, assert_same_json, client, stored_item, table};
use dystore::backend::{Backend, BackendError, BatchGetOutput, FaultPlan, Get, Item, Page, Query, Scan, TableInfo, TableKeys, Write};
use dystore::rotate::{Budget, Rotation};
use dystore::{Client, ErrorKind, Key, Keyring, PathPattern, Store};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const OBJECTS: usize = 40;

fn key(byte: u8) -> Key {
    Key::new([byte; 32]).unwrap()
}

/// Objects with an encrypted root field, a shard with an encrypted field,
/// and a list shard whose elements have one.
fn layout() -> Store {
    Store::new(table("RotPeople"), "ID")
        .shard(Store::new(table("RotContacts"), "CID").at("$.contact"))
        .shard(Store::new(table("RotCards"), "KID").at("$.cards[*]"))
}

/// A keyring holding `keys`, naming `current` for every encrypted path.
fn keyring(keys: &[(&str, u8)], current: &str) -> Keyring {
    let mut ring = Keyring::new();
    for (id, byte) in keys {
        ring = ring.with_key(*id, key(*byte));
    }
    ["$.name", "$.contact.phone", "$.cards[*].number"]
        .into_iter()
        .fold(ring, |ring, path| ring.rule(PathPattern::exact(path).unwrap(), current))
        .default_key(current)
}

fn doc(i: usize) -> Value {
    json!({"name": format!("person {i}"), "n": 0, "contact": {"phone": format!("555-{i:04}"), "city": "Oslo"},
           "cards": [{"number": format!("4000-{i}")}, {"number": format!("5000-{i}"), "kind": "debit"}]})
}

async fn seed(db: &Client, store: &Store) {
    db.store(store).create_tables().await.unwrap();
    for i in 0..OBJECTS {
        db.store(store).write_with_key(&format!("p{i}"), doc(i)).await.unwrap();
    }
}

/// The key id in the envelope stored at `attr` of the root item keyed `key`.
async fn root_key_id(target: Target, db: &Client, store: &Store, key: &str, attr: &str) -> String {
    let item = stored_item(target, db, &store.layout().table, &store.layout().key, key).await.unwrap();
    let Some(AttributeValue::B(bytes)) = item.get(attr) else { panic!("`{attr}` is not a ciphertext: {item:?}") };
    dystore::crypto::envelope_key_id(bytes).unwrap().to_owned()
}

async fn rotates_to_b_and_a_can_be_retired(target: Target) {
    let store = layout();
    let state = table("RotState");
    let db = client(target).await;
    seed(&db.clone().with_loader(keyring(&[("A", 1)], "A")), &store).await;
    assert_eq!(root_key_id(target, &db, &store, "p0", "name").await, "A");

    let db = db.with_loader(keyring(&[("A", 1), ("B", 2)], "B"));
    let rotation = || Rotation::new(&db, store.layout()).segments(3).state_table(state.clone());
    let plan = rotation().plan().await.unwrap();
    let leaves = OBJECTS as u64 * 4;
    assert_eq!((plan.objects, plan.stale_objects, plan.current), (OBJECTS as u64, OBJECTS as u64, 0));
    assert_eq!((plan.before["A"].leaves, plan.before["A"].stale_leaves, plan.before["A"].objects), (leaves, leaves, OBJECTS as u64));
    assert_eq!(plan.after["B"].leaves, leaves);
    assert!(plan.failures.is_empty(), "{:#?}", plan.failures);

    let done = rotation().rotate().await.unwrap();
    assert_eq!((done.rotated, done.current, done.failed), (OBJECTS as u64, 0, 0), "{:#?}", done.failures);
    assert_eq!((done.before["A"].leaves, done.after["B"].leaves, done.after.get("A")), (leaves, leaves, None));
    assert!(done.consumed.wcu > 0.0 && done.consumed.rcu > 0.0, "{:?}", done.consumed);
    assert_eq!(root_key_id(target, &db, &store, "p0", "name").await, "B");

    let again = rotation().rotate().await.unwrap();
    assert_eq!((again.rotated, again.current), (0, OBJECTS as u64), "a second run writes nothing");
    assert!(again.consumed.wcu < 30.0, "only the lease and checkpoints are written: {:?}", again.consumed);

    let verified = rotation().verify(Some("A")).await.unwrap();
    assert!(verified.ok(), "{verified:#?}");
    assert_eq!(verified.retire.as_ref().map(|r| (r.leaves, r.passed)), Some((0, true)));
    let still_used = rotation().verify(Some("B")).await.unwrap();
    assert_eq!(still_used.retire.as_ref().map(|r| (r.leaves, r.objects, r.passed)), Some((leaves, OBJECTS as u64, false)));

    let only_b = db.clone().with_loader(keyring(&[("B", 2)], "B"));
    for i in 0..OBJECTS {
        assert_same_json(&only_b.store(&store).read(&format!("p{i}")).await.unwrap(), &doc(i));
    }
    let root_only = Store::new(store.layout().table.to_string(), "ID");
    assert!(Rotation::new(&only_b, root_only.layout()).verify(None).await.unwrap().ok(), "a loader without A reads everything");
    // A has no material any more and no leaf uses it: asking to retire it is taken for a typo.
    let gone = Rotation::new(&only_b, root_only.layout()).verify(Some("A")).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::Config, "{gone}");
}

async fn verify_names_every_leaf_that_fails(target: Target) {
    let store = layout();
    let db = client(target).await;
    seed(&db.clone().with_loader(keyring(&[("A", 1)], "A")), &store).await;
    let without_a = db.with_loader(keyring(&[("B", 2)], "B"));
    let report = Rotation::new(&without_a, store.layout()).verify(Some("A")).await.unwrap();
    assert_eq!(report.failed, OBJECTS as u64 * 4);
    let failure = report.failures.iter().find(|f| f.key == "p3" && f.path.as_deref() == Some("$.cards[1].number")).unwrap();
    assert_eq!((failure.kind, failure.key_id.as_deref()), (ErrorKind::MissingKey, Some("A")));
    assert_eq!(failure.table, store.layout().shards[1].layout.table);
    assert!(!report.ok() && !report.retire.unwrap().passed);

    let plan = Rotation::new(&without_a, store.layout()).plan().await.unwrap();
    assert_eq!((plan.failed, plan.stale_objects), (0, OBJECTS as u64), "a plan needs no key material");
    let rotated = Rotation::new(&without_a, store.layout()).state_table(table("RotState")).rotate().await.unwrap();
    assert_eq!((rotated.rotated, rotated.failed), (0, OBJECTS as u64 * 4), "nothing that does not decrypt is rewritten");
}

/// Runs `rotate` until `reached` is set (by its progress callback), then
/// drops it, as a process killed part-way would stop.
async fn drop_when<T: std::fmt::Debug>(rotate: impl Future<Output = T>, reached: &AtomicBool) {
    tokio::select! {
        biased;
        () = async { while !reached.load(Ordering::SeqCst) { tokio::time::sleep(Duration::from_millis(1)).await } } => {}
        done = rotate => panic!("the rotation ended before it was dropped: {done:?}"),
    }
}

/// An interrupted rotation (a crash after some requests, then a dropped
/// future) resumes from its checkpoints, with a writer incrementing
/// counters all along: every object ends under B, and no increment is lost.
async fn an_interrupted_rotation_resumes_and_a_concurrent_writer_loses_nothing(target: Target) {
    let store = layout();
    let state = table("RotState");
    let base = client(target).await;
    seed(&base.clone().with_loader(keyring(&[("A", 1)], "A")), &store).await;
    let db = base.clone().with_loader(keyring(&[("A", 1), ("B", 2)], "B"));
    // Each run's count of rewritten objects, as its progress last said.
    let counts: [Arc<AtomicU64>; 3] = Default::default();
    let reached = Arc::new(AtomicBool::new(false));
    let rotation = |db, run: usize| {
        let (count, reached) = (counts[run].clone(), reached.clone());
        Rotation::new(db, store.layout()).segments(2).page_size(5).state_table(state.clone()).owner("rotator").on_progress(move |p| {
            count.store(p.rotated, Ordering::SeqCst);
            // The dropped run goes on until it has rewritten a few objects.
            reached.store(run == 1 && p.rotated >= 3, Ordering::SeqCst);
        })
    };

    // Crashes part-way: requests after the 60th are never sent.
    let (crashing, injected) = db.clone().faulty(FaultPlan::seeded(5).crash_after(60));
    let crashed = rotation(&crashing, 0).rotate().await;
    assert!(crashed.is_err() && injected.cut() > 0, "{crashed:?}");

    // Increments by path: the encrypted leaves stay as they are, so the
    // rotation still has them to do, and loses races to these writes.
    let writer = async {
        let mut increments = 0;
        for round in 0..3 {
            for i in (round..OBJECTS).step_by(3) {
                let key = format!("p{i}");
                let n = db.store(&store).read_path(&key, "$.n").await.unwrap()[0].as_u64().unwrap();
                db.store(&store).write_path(&key, "$.n", json!(n + 1)).await.unwrap();
                increments += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        increments
    };
    // Dropped part-way, then run to the end, both while the writer writes.
    let interrupted = async {
        let slow = rotation(&db, 1).budget(Budget::unlimited().max_wcu(30.0).window(Duration::from_secs(1)));
        drop_when(slow.rotate(), &reached).await;
        rotation(&db, 2).rotate().await.unwrap()
    };
    let (resumed, increments) = tokio::join!(interrupted, writer);
    assert!(resumed.resumed_segments > 0, "{resumed:#?}");
    assert_eq!(resumed.failed, 0, "{:#?}", resumed.failures);
    // Each object is rewritten once: a resumed run finds those rewritten
    // before the crash current. Over HTTP, an interrupted run may not have
    // counted a rewrite that was on the wire when it stopped (the dropped
    // future's, or the other segment's when the crash ended the run), so
    // up to one per interrupted run is not counted there.
    let rewritten: u64 = counts.iter().map(|c| c.load(Ordering::SeqCst)).sum();
    assert!(counts[0].load(Ordering::SeqCst) > 0, "the crashed run rotated some: {counts:?}");
    let uncounted = if target == Target::Embedded { 0 } else { 2 };
    assert!(rewritten <= OBJECTS as u64 && rewritten + uncounted >= OBJECTS as u64, "{counts:?}");

    let finished = rotation(&db, 2).rotate().await.unwrap();
    assert_eq!((finished.resumed_segments, finished.rotated), (0, 0), "a finished rotation leaves no checkpoint");
    let verified = rotation(&db, 2).verify(Some("A")).await.unwrap();
    assert!(verified.ok(), "every object ends under B: {verified:#?}");
    assert_eq!((verified.after["B"].objects, verified.after["B"].leaves), (OBJECTS as u64, 4 * OBJECTS as u64));
    let only_b = base.with_loader(keyring(&[("B", 2)], "B"));
    let mut total = 0;
    for i in 0..OBJECTS {
        let read = only_b.store(&store).read(&format!("p{i}")).await.unwrap();
        total += read["n"].as_u64().unwrap();
        let mut expected = doc(i);
        expected["n"] = read["n"].clone();
        assert_same_json(&read, &expected);
    }
    assert_eq!(total, increments, "no increment was lost");
}

async fn a_second_rotation_is_refused_until_the_lease_expires(target: Target) {
    let store = layout();
    let state = table("RotState");
    let db = client(target).await;
    seed(&db.clone().with_loader(keyring(&[("A", 1)], "A")), &store).await;
    let db = db.with_loader(keyring(&[("A", 1), ("B", 2)], "B"));
    let ttl = Duration::from_secs(2);
    let rotation = |owner: &str| {
        let budget = Budget::unlimited().max_wcu(40.0);
        Rotation::new(&db, store.layout()).state_table(state.clone()).owner(owner).lease_ttl(ttl).page_size(5).budget(budget)
    };
    // The first holder dies part-way, past its first checkpoint (its
    // future dropped), its lease left.
    let reached = AtomicBool::new(false);
    let first = rotation("first").on_progress(|p| reached.store(p.objects >= 8, Ordering::SeqCst));
    drop_when(first.rotate(), &reached).await;
    let refused = rotation("second").rotate().await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::LeaseHeld, "{refused}");
    let message = refused.to_string();
    assert!(message.starts_with("another rotation holds the table's lease: owner `first` holds it for "), "the holder is named: {message}");

    tokio::time::sleep(ttl).await;
    let other_split = rotation("second").segments(3).rotate().await.unwrap_err();
    assert_eq!(other_split.kind(), ErrorKind::Config, "checkpoints of one segment mean nothing to three: {other_split}");
    let taken_over = rotation("second").rotate().await.unwrap();
    assert!(taken_over.resumed_segments > 0, "it resumed the dead run's checkpoints");
    assert!(taken_over.rotated > 0 && taken_over.objects < OBJECTS as u64, "only what the first run left: {taken_over:#?}");
    assert!(rotation("third").verify(Some("A")).await.unwrap().ok());
}

/// A backend that, on the first rewrite of an object of `store`, has
/// another client write that object first (a path outside the encrypted
/// ones), so the rewrite finds a revision other than the one it read.
struct Interfering {
    inner: Arc<dyn Backend>,
    other: Client,
    store: Store,
    fired: AtomicBool,
}

#[async_trait]
impl Backend for Interfering {
    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        self.inner.get(get).await
    }
    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        self.inner.batch_get(keys).await
    }
    async fn write(&self, write: Write) -> Result<(), BackendError> {
        self.inner.write(write).await
    }
    async fn transact_write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        let root = writes.last().filter(|w| w.table() == self.store.layout().table.as_ref()).and_then(|w| w.key_of("ID")).cloned();
        if let Some(AttributeValue::S(key)) = root
            && !self.fired.swap(true, Ordering::SeqCst)
        {
            self.other.store(&self.store).write_path(&key, "$.n", json!(100)).await.unwrap();
        }
        self.inner.transact_write(writes).await
    }
    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        self.inner.transact_get(gets).await
    }
    async fn query(&self, query: Query) -> Result<Page, BackendError> {
        self.inner.query(query).await
    }
    async fn scan(&self, scan: Scan) -> Result<Page, BackendError> {
        self.inner.scan(scan).await
    }
    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError> {
        self.inner.create_table(table, key).await
    }
    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError> {
        self.inner.describe_table(table).await
    }
}

/// The engine or server of `target`, as a backend to wrap.
async fn engine(target: Target) -> Arc<dyn Backend> {
    match target {
        Target::Embedded => Arc::new(dystore::backend::Embedded::memory().unwrap()),
        Target::Http | Target::Endpoint => Arc::new(dystore::backend::DynamoDb::new(common::sdk(target).await)),
    }
}

async fn a_lost_race_is_read_again_and_counted(target: Target) {
    let store = layout();
    let inner = engine(target).await;
    let plain = Client::from_backend(inner.clone());
    seed(&plain.clone().with_loader(keyring(&[("A", 1)], "A")), &store).await;
    let loader = || keyring(&[("A", 1), ("B", 2)], "B");
    let other = plain.clone().with_loader(loader());
    let interfering = Interfering { inner, other, store: store.clone(), fired: AtomicBool::new(false) };
    let db = Client::new(interfering).with_loader(loader());
    // The root table alone: each object is rewritten in the layout its root records.
    let root_only = Store::new(store.layout().table.to_string(), "ID");
    let report = Rotation::new(&db, root_only.layout()).state_table(table("RotState")).rotate().await.unwrap();
    assert_eq!((report.conflicts, report.rotated, report.failed), (1, OBJECTS as u64, 0), "{report:#?}");
    let only_b = plain.with_loader(keyring(&[("B", 2)], "B"));
    let mut hundreds = 0;
    for i in 0..OBJECTS {
        let read = only_b.store(&store).read(&format!("p{i}")).await.unwrap();
        hundreds += usize::from(read["n"] == json!(100));
    }
    assert_eq!(hundreds, 1, "the other writer's value stands");
    let cards = store.layout().shards[1].layout.table.to_string();
    assert!(stored_item(target, &only_b, &cards, "KID", "p3#$.cards[1]").await.is_some(), "list shard items stay in place");
}

/// The break-test's case on a paused clock (waits take no real time and
/// are measured exactly): 2 WCU/s over a window of 1 s, each object's
/// rewrite costing far more than a window's 2 units. The run spends at
/// most the limit times its duration plus one window, and no less time
/// than that needs.
#[tokio::test(start_paused = true)]
async fn the_write_budget_holds_the_average_over_the_run() {
    let store = layout();
    let db = Client::memory().unwrap();
    seed(&db.clone().with_loader(keyring(&[("A", 1)], "A")), &store).await;
    let db = db.with_loader(keyring(&[("A", 1), ("B", 2)], "B"));
    let (max, window) = (2.0, Duration::from_secs(1));
    let budget = Budget::unlimited().max_wcu(max).window(window);
    let started = tokio::time::Instant::now();
    let report = Rotation::new(&db, store.layout()).state_table(table("RotState")).budget(budget).rotate().await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.rotated, OBJECTS as u64);
    let (spent, burst) = (report.consumed.wcu, max * window.as_secs_f64());
    assert!(spent > 10.0 * burst, "each rewrite costs more than a window's allowance: {spent} WCU");
    assert!(spent <= max * secs + burst, "{spent} WCU in {secs} s at {max} WCU/s");
    // The last request's debt is paid before the run ends; a millisecond
    // per wait is the timer's resolution.
    assert!(secs <= (spent - burst) / max + 0.5, "{spent} WCU in {secs} s: held no longer than needed");
    assert!((report.elapsed.as_secs_f64() - secs).abs() < 0.01, "the report measures the same run: {:?}", report.elapsed);
}

/// A rotation held back by its budget for longer than its lease keeps the
/// lease (renewed while it waits): a second rotation started without
/// `force` meanwhile is refused, naming the holder, and the first ends.
/// Real time (the lease is wall-clock time between processes), with a
/// lease renewed every 0.67 s and a wait of about 5 s per object.
#[tokio::test]
async fn a_throttled_rotation_keeps_its_lease() {
    let store = layout();
    let state = table("RotState");
    let db = Client::memory().unwrap();
    let old = db.clone().with_loader(keyring(&[("A", 1)], "A"));
    old.store(&store).create_tables().await.unwrap();
    for i in 0..2 {
        old.store(&store).write_with_key(&format!("p{i}"), doc(i)).await.unwrap();
    }
    let db = db.with_loader(keyring(&[("A", 1), ("B", 2)], "B"));
    let ttl = Duration::from_secs(2);
    let budget = Budget::unlimited().max_wcu(1.6).window(Duration::from_millis(100));
    let slow = Rotation::new(&db, store.layout()).state_table(state.clone()).owner("slow").lease_ttl(ttl).page_size(1).budget(budget);
    let second = async {
        tokio::time::sleep(ttl * 2 + Duration::from_millis(500)).await;
        Rotation::new(&db, store.layout()).state_table(state.clone()).owner("second").lease_ttl(ttl).rotate().await
    };
    let (done, refused) = tokio::join!(slow.rotate(), second);
    let refused = refused.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::LeaseHeld, "{refused}");
    assert!(refused.to_string().contains("`slow`"), "{refused}");
    let done = done.unwrap();
    assert_eq!((done.rotated, done.failed), (2, 0), "{done:#?}");
    assert!(done.elapsed > ttl * 3, "the run outlived its lease's time several times: {:?}", done.elapsed);
}

/// An encrypted leaf too large for an item lives in chunk items: the
/// rotation reads it back together, moves it to B, and the object reads
/// back whole with only B; a root-table-only rotation does the same.
async fn a_leaf_in_chunk_items_is_rotated(target: Target) {
    let (root, notes) = (table("RotLarge"), table("RotLargeNotes"));
    let store = Store::new(&root, "ID").shard(Store::new(&notes, "NID").at("$.notes"));
    let ring = |keys: &[(&str, u8)], current: &str| {
        let mut ring = Keyring::new();
        for (id, byte) in keys {
            ring = ring.with_key(*id, key(*byte));
        }
        ring.rule(PathPattern::exact("$.body").unwrap(), current).rule(PathPattern::exact("$.notes.text").unwrap(), current)
    };
    let db = client(target).await;
    let doc = json!({"title": "big", "body": "b".repeat(600 * 1024), "notes": {"text": "é".repeat(250 * 1024), "n": 1}});
    let old = db.clone().with_loader(ring(&[("A", 1)], "A"));
    old.store(&store).create_tables().await.unwrap();
    old.store(&store).write_with_key("big", doc.clone()).await.unwrap();

    let db = db.with_loader(ring(&[("A", 1), ("B", 2)], "B"));
    let root_only = Store::new(&root, "ID");
    let plan = Rotation::new(&db, root_only.layout()).plan().await.unwrap();
    assert_eq!((plan.before["A"].leaves, plan.failed), (2, 0), "{plan:#?}");
    let done = Rotation::new(&db, root_only.layout()).state_table(table("RotState")).rotate().await.unwrap();
    assert_eq!((done.rotated, done.after["B"].leaves, done.failed), (1, 2, 0), "{done:#?}");
    assert!(Rotation::new(&db, root_only.layout()).verify(Some("A")).await.unwrap().ok());
    let only_b = db.with_loader(ring(&[("B", 2)], "B"));
    assert_eq!(only_b.store(&store).read("big").await.unwrap(), doc);
}

conformance!(
    a_leaf_in_chunk_items_is_rotated,
    a_lost_race_is_read_again_and_counted,
    rotates_to_b_and_a_can_be_retired,
    verify_names_every_leaf_that_fails,
    an_interrupted_rotation_resumes_and_a_concurrent_writer_loses_nothing,
    a_second_rotation_is_refused_until_the_lease_expires,
);
