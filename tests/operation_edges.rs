//! Edges of whole operations found by the break test of issue 15: a write
//! that may have been applied is remembered to the end of its operation, a
//! listing skips objects deleted under it, steps an operation runs again
//! are events and retries, an absent optional shard costs no second read,
//! and a call on many objects says in its span when some failed.

mod common;

use async_trait::async_trait;
use common::recorder::recorded;
use common::{Target, client, table};
use dystore::backend::{
    Backend, BackendError, BatchGetOutput, Embedded, Fault, FaultPlan, Get, Item, Page, Query, Scan, TableInfo, TableKeys, Write, op,
};
use dystore::{Client, ErrorKind, RetryPolicy, Store};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde_dynamo::AttributeValue;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A backend that runs a piece of work once, right after the first Scan
/// (`after_scan`) or right before a write (`before_write`: after letting
/// that many writes through): another writer acting between two requests
/// of an operation. BatchGetItem always
/// leaves the key `stuck` unprocessed, as DynamoDB may under throttling.
struct Meddling {
    inner: Arc<dyn Backend>,
    after_scan: Mutex<Option<BoxFuture<'static, ()>>>,
    before_write: Mutex<Option<(usize, BoxFuture<'static, ()>)>>,
    stuck: Option<String>,
    /// Every `n`th write (and, with `throttle_reads`, read) is throttled
    /// before it reaches the engine.
    throttle_every: Option<usize>,
    throttle_reads: bool,
    writes: std::sync::atomic::AtomicUsize,
    /// What `may_fail_transiently` answers; `None` keeps the default.
    says_transient: Option<bool>,
}

impl Meddling {
    fn new(inner: Arc<dyn Backend>) -> Self {
        Meddling {
            inner,
            after_scan: Mutex::new(None),
            before_write: Mutex::new(None),
            stuck: None,
            throttle_every: None,
            throttle_reads: false,
            writes: Default::default(),
            says_transient: None,
        }
    }

    fn throttle(&self) -> Result<(), BackendError> {
        let n = self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        match self.throttle_every {
            Some(every) if n.is_multiple_of(every) => Err(BackendError::Throttled("slow down".into())),
            _ => Ok(()),
        }
    }

    async fn meddle(slot: &Mutex<Option<BoxFuture<'static, ()>>>) {
        let work = slot.lock().unwrap().take();
        if let Some(work) = work {
            work.await;
        }
    }

    async fn before_write(&self) {
        let work = {
            let mut slot = self.before_write.lock().unwrap();
            match slot.as_mut() {
                Some((0, _)) => slot.take().map(|(_, work)| work),
                Some((skip, _)) => {
                    *skip -= 1;
                    None
                }
                None => None,
            }
        };
        if let Some(work) = work {
            work.await;
        }
    }
}

#[async_trait]
impl Backend for Meddling {
    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        if self.throttle_reads {
            self.throttle()?;
        }
        self.inner.get(get).await
    }
    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        if self.throttle_reads {
            self.throttle()?;
        }
        let Some(stuck) = &self.stuck else { return self.inner.batch_get(keys).await };
        let is_stuck = |k: &Item| k.values().any(|v| matches!(v, AttributeValue::S(s) if s == stuck));
        let mut unprocessed = Vec::new();
        let mut asked = Vec::new();
        for mut table in keys {
            let (out, kept): (Vec<Item>, Vec<Item>) = table.keys.drain(..).partition(is_stuck);
            if !out.is_empty() {
                unprocessed.push(TableKeys { table: table.table.clone(), keys: out, consistent: table.consistent });
            }
            if !kept.is_empty() {
                asked.push(TableKeys { keys: kept, ..table });
            }
        }
        let mut output = if asked.is_empty() { BatchGetOutput::default() } else { self.inner.batch_get(asked).await? };
        output.unprocessed.extend(unprocessed);
        Ok(output)
    }
    async fn write(&self, write: Write) -> Result<(), BackendError> {
        self.before_write().await;
        self.throttle()?;
        self.inner.write(write).await
    }
    async fn transact_write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        self.before_write().await;
        self.throttle()?;
        self.inner.transact_write(writes).await
    }
    fn may_fail_transiently(&self) -> bool {
        self.says_transient.unwrap_or(true)
    }
    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        self.inner.transact_get(gets).await
    }
    async fn query(&self, query: Query) -> Result<Page, BackendError> {
        self.inner.query(query).await
    }
    async fn scan(&self, scan: Scan) -> Result<Page, BackendError> {
        let page = self.inner.scan(scan).await?;
        Meddling::meddle(&self.after_scan).await;
        Ok(page)
    }
    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError> {
        self.inner.create_table(table, key).await
    }
    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError> {
        self.inner.describe_table(table).await
    }
}

/// A save of a layout with list shards reads the stored root, then writes.
/// Its write is applied but the answer lost; the retry's condition fails
/// (the object changed: by this save); the read that follows is throttled
/// until the deadline. The error must say the object may have changed, as
/// it did.
#[tokio::test]
async fn a_write_that_may_have_been_applied_is_remembered_to_the_end() {
    let policy = RetryPolicy {
        deadline: Duration::from_millis(150),
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    };
    let base = Client::memory().unwrap();
    let lists = Store::new("Lists", "ID").shard(Store::new("ListItems", "LID").at("$.l[*]"));
    base.store(&lists).create_tables().await.unwrap();
    base.store(&lists).write_with_key("a", json!({"v": "old", "l": [{"x": 1}]})).await.unwrap();

    let mut plan = FaultPlan::seeded(1).fail_request(2, Fault::AppliedTimeout);
    for n in 4..200 {
        plan = plan.fail_request(n, Fault::Throttling);
    }
    let (db, injected) = base.clone().with_retry_policy(policy).faulty(plan);
    let e = db.store(&lists).write_with_key("a", json!({"v": "new", "l": [{"x": 2}]})).await.unwrap_err();
    assert_eq!(injected.faults(Fault::AppliedTimeout), 1);
    assert_eq!(base.store(&lists).read("a").await.unwrap()["v"], "new", "the lost write was applied");
    assert!(e.object_may_have_changed(), "{e}");
}

/// A failed call that never wrote says the object did not change.
#[tokio::test]
async fn a_call_whose_writes_all_failed_cleanly_says_nothing_changed() {
    let policy = RetryPolicy {
        deadline: Duration::from_millis(100),
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    };
    let base = Client::memory().unwrap();
    let store = Store::new("Clean", "ID");
    base.store(&store).create_tables().await.unwrap();
    let mut plan = FaultPlan::seeded(1);
    for n in 1..200 {
        plan = plan.fail_request(n, Fault::Throttling);
    }
    let (db, _) = base.with_retry_policy(policy).faulty(plan);
    let e = db.store(&store).write_with_key("a", json!({"v": 1})).await.unwrap_err();
    assert!(!e.object_may_have_changed(), "throttled writes were not applied: {e}");
}

/// An object deleted between a listing's Scan and its read is left out of
/// the listing, not an error; every other object is listed.
#[tokio::test]
async fn a_listing_skips_an_object_deleted_under_it() {
    let engine: Arc<dyn Backend> = Arc::new(Embedded::memory().unwrap());
    let meddling = Arc::new(Meddling::new(engine.clone()));
    let db = Client::from_backend(meddling.clone());
    let other = Client::from_backend(engine);
    let store = Store::new("Listed", "ID").shard(Store::new("ListedShard", "SID").at("$.s"));
    db.store(&store).create_tables().await.unwrap();
    let written = db.store(&store).write_many((0..5).map(|i| (format!("k{i}"), json!({"i": i, "s": {"x": i}})))).await;
    assert!(written.iter().all(Result::is_ok));

    let deleter = other.clone();
    let deleted_store = store.clone();
    *meddling.after_scan.lock().unwrap() = Some(Box::pin(async move {
        deleter.store(&deleted_store).delete("k2").await.unwrap();
    }));
    let listed: Vec<_> = db.store(&store).list().collect().await;
    let mut keys: Vec<String> = listed.into_iter().map(|r| r.map(|(k, _)| k).unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["k0", "k1", "k3", "k4"]);
    assert!(meddling.after_scan.lock().unwrap().is_none(), "the delete ran");
}

/// An update that loses a race to another writer runs again: the second
/// round is a retry in the call's usage and a DEBUG event saying why.
#[test]
fn a_step_run_again_is_a_retry_and_an_event() {
    let (usage, recorder) = recorded(async {
        let engine: Arc<dyn Backend> = Arc::new(Embedded::memory().unwrap());
        let meddling = Arc::new(Meddling::new(engine.clone()));
        let db = Client::from_backend(meddling.clone());
        let other = Client::from_backend(engine);
        let store = Store::new("Raced", "ID");
        db.store(&store).create_tables().await.unwrap();
        db.store(&store).write_with_key("a", json!({"n": 1})).await.unwrap();
        let rival = store.clone();
        *meddling.before_write.lock().unwrap() = Some((
            0,
            Box::pin(async move {
                other.store(&rival).write_with_key("a", json!({"n": 10})).await.unwrap();
            }),
        ));
        let (updated, usage) = db
            .measure(db.store(&store).update("a", |mut v| {
                v["n"] = json!(v["n"].as_i64().unwrap() + 1);
                Ok(v)
            }))
            .await;
        assert_eq!(updated.unwrap(), json!({"n": 11}), "the second round read the rival's write");
        usage
    });
    assert_eq!(usage.retries, 1, "{usage:?}");
    let events = recorder.events.lock().unwrap().clone();
    assert!(events.iter().any(|e| e.get("reason").is_some_and(|r| r == "lost a race to another writer")), "{events:#?}");
}

/// An object whose optional shard is absent loads in one request, alone or
/// with others: the shard item the first read asked for and did not get is
/// not asked again.
async fn an_absent_optional_shard_costs_no_second_read(target: Target) {
    let (db, requests) = client(target).await.counted();
    let store = Store::new(table("Optional"), "ID").shard(Store::new(table("OptionalShard"), "SID").at("$.extra"));
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    objects.write_with_key("a", json!({"n": 1})).await.unwrap();
    objects.write_with_key("b", json!({"n": 2, "extra": {"x": true}})).await.unwrap();

    requests.reset();
    assert_eq!(objects.read("a").await.unwrap(), json!({"n": 1}));
    assert_eq!((requests.get(op::BATCH_GET_ITEM), requests.total()), (1, 1), "{:?}", requests.snapshot());

    requests.reset();
    let read = objects.read_many(["a", "b"]).await;
    assert_eq!(read[0].as_ref().unwrap(), &json!({"n": 1}));
    assert_eq!(read[1].as_ref().unwrap(), &json!({"n": 2, "extra": {"x": true}}));
    assert_eq!((requests.get(op::BATCH_GET_ITEM), requests.total()), (1, 1), "{:?}", requests.snapshot());
}

/// A call on many objects answers `Ok` with one answer per object; its span
/// says whether all, some or none succeeded.
#[test]
fn a_call_on_many_objects_says_when_some_failed() {
    let ((), recorder) = recorded(async {
        let db = Client::memory().unwrap();
        let store = Store::new("Outcomes", "ID");
        db.store(&store).create_tables().await.unwrap();
        db.store(&store).write_with_key("a", json!({"n": 1})).await.unwrap();
        db.store(&store).read_many(["a"]).await;
        db.store(&store).read_many(["a", "absent"]).await;
        db.store(&store).read_many(["absent"]).await;
    });
    let spans = recorder.spans.lock().unwrap().clone();
    let outcomes: Vec<&str> =
        spans.iter().filter(|s| s.get("operation").is_some_and(|o| o == "load_many")).map(|s| s["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["ok", "partial", "failed"], "{spans:#?}");
}

conformance!(an_absent_optional_shard_costs_no_second_read);

/// A delete applied with its answer lost answers `Ok` however it went: a
/// single delete, a call on many objects with one object (sent alone) or
/// several (packed), with or without shards.
#[tokio::test]
async fn a_delete_whose_answer_was_lost_answers_ok() {
    let flat = Store::new("LostFlat", "ID");
    let sharded = Store::new("LostSharded", "ID").shard(Store::new("LostShard", "SID").at("$.s"));
    for store in [flat, sharded] {
        let base = Client::memory().unwrap();
        base.store(&store).create_tables().await.unwrap();
        for (how, keys) in [("delete", vec!["one"]), ("delete_many", vec!["one"]), ("delete_many", vec!["two", "three"])] {
            for key in &keys {
                base.store(&store).write_with_key(key, json!({"v": 1, "s": {"x": 1}})).await.unwrap();
            }
            let (db, injected) = base.clone().faulty(FaultPlan::seeded(3).fail_request(1, Fault::AppliedTimeout));
            let answers = match how {
                "delete" => vec![db.store(&store).delete(keys[0]).await],
                _ => db.store(&store).delete_many(&keys).await,
            };
            assert_eq!(injected.faults(Fault::AppliedTimeout), 1);
            assert!(answers.iter().all(Result::is_ok), "{:?} {how} {keys:?}: {answers:?}", store.layout().table);
            for key in &keys {
                assert!(base.store(&store).read(key).await.unwrap_err().is_not_found());
            }
        }
    }
}

/// A key DynamoDB keeps leaving unprocessed fails its own object only: the
/// objects read whole in the same BatchGetItem request are answered.
#[tokio::test]
async fn a_key_left_unprocessed_fails_its_object_only() {
    let engine: Arc<dyn Backend> = Arc::new(Embedded::memory().unwrap());
    let plain = Client::from_backend(engine.clone());
    let store = Store::new("Unprocessed", "ID").shard(Store::new("UnprocessedShard", "SID").at("$.s"));
    plain.store(&store).create_tables().await.unwrap();
    let keys = ["a", "b", "c"];
    for key in keys {
        plain.store(&store).write_with_key(key, json!({"k": key, "s": {"x": 1}})).await.unwrap();
    }
    let policy = RetryPolicy {
        deadline: Duration::from_millis(100),
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    };
    let stuck = Meddling { stuck: Some("b#$.s".to_owned()), ..Meddling::new(engine) };
    let db = Client::from_backend(Arc::new(stuck)).with_retry_policy(policy);
    let read = db.store(&store).read_many(keys).await;
    assert_eq!(read[0].as_ref().unwrap()["k"], "a");
    assert_eq!(read[2].as_ref().unwrap()["k"], "c");
    let e = read[1].as_ref().unwrap_err();
    assert_eq!((e.kind(), e.key()), (dystore::ErrorKind::Throttled, Some("b")), "{e}");
    assert_eq!(e.undone(), ["UnprocessedShard/b#$.s"]);
}

/// A load whose first read fails after getting the root names as undone
/// every item that root records and was not read: the list elements and,
/// for an object saved in several transactions, its write-id keys, which
/// the read after the first would have asked for (found by the break test
/// of this change: only the first read's keys were named). Keys the first
/// read only guessed at, which the root does not name, are not.
#[tokio::test]
async fn a_failed_first_read_names_every_item_its_root_records() {
    let engine: Arc<dyn Backend> = Arc::new(Embedded::memory().unwrap());
    let plain = Client::from_backend(engine.clone());
    let (root, pages, meta) = (table("UndoneRoot"), table("UndonePages"), table("UndoneMeta"));
    let store = Store::new(&root, "ID").shard(Store::new(&pages, "PID").at("$.pages[*]")).shard(Store::new(&meta, "MID").at("$.m"));
    plain.store(&store).create_tables().await.unwrap();
    let doc = |n: usize| json!({"m": {"x": 1}, "pages": (0..n).map(|i| json!({"i": i})).collect::<Vec<_>>()});
    plain.store(&store).write_with_key("k", doc(3)).await.unwrap();
    // Over 100 items: staged, its shard keys carry its write id.
    plain.store(&store).write_with_key("s", doc(120)).await.unwrap();
    let policy = RetryPolicy {
        deadline: Duration::from_millis(30),
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
    };
    let stuck = |key: &str| {
        let db = Client::from_backend(Arc::new(Meddling { stuck: Some(key.to_owned()), ..Meddling::new(engine.clone()) }));
        db.with_retry_policy(policy)
    };
    let sorted = |e: &dystore::Error| {
        let mut undone = e.undone().to_vec();
        undone.sort();
        undone
    };
    let db = stuck("k#$.m");
    let e = db.store(&store).read("k").await.unwrap_err();
    let mut expected =
        vec![format!("{meta}/k#$.m"), format!("{pages}/k#$.pages[0]"), format!("{pages}/k#$.pages[1]"), format!("{pages}/k#$.pages[2]")];
    expected.sort();
    assert_eq!((e.kind(), sorted(&e)), (ErrorKind::Throttled, expected.clone()), "{e}");
    let many = db.store(&store).read_many(["k"]).await;
    assert_eq!(sorted(many[0].as_ref().unwrap_err()), expected, "read_many alike");

    let db = stuck("s#$.m");
    let e = db.store(&store).read("s").await.unwrap_err();
    let undone = sorted(&e);
    assert_eq!(undone.len(), 121, "120 elements and the map, under write-id keys: {e}");
    assert!(!undone.contains(&format!("{meta}/s#$.m")), "the guessed key is no item of the object: {undone:?}");
    assert!(undone.iter().all(|u| u.starts_with(&format!("{pages}/s#$.pages[")) || u.starts_with(&format!("{meta}/s#$.m#"))), "{undone:?}");
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, dystore::DyObject)]
#[dystore(table = "dystore_edges_Pets", key = "ID")]
struct Cat {
    #[dystore(pk)]
    id: String,
    lives: u32,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, dystore::DyObject)]
#[dystore(table = "dystore_edges_Pets", key = "ID")]
struct Dog {
    #[dystore(pk)]
    id: String,
    good: bool,
}

/// Two types stored in one table: a batch naming the same key under both
/// names one item twice, and is refused for that key as for one type.
#[tokio::test]
async fn a_batch_names_an_item_twice_across_types_of_one_table() {
    let db = Client::memory().unwrap();
    db.create_tables::<Cat>().await.unwrap();
    db.save(&Dog { id: "rex".into(), good: true }).await.unwrap();
    let answers =
        db.batch().save(&Cat { id: "rex".into(), lives: 9 }).delete::<Dog>("rex").save(&Cat { id: "tom".into(), lives: 7 }).run().await;
    for answer in &answers[..2] {
        let e = answer.as_ref().unwrap_err();
        assert_eq!((e.kind(), e.key()), (dystore::ErrorKind::InvalidKey, Some("rex")), "{e}");
    }
    assert_eq!(answers[2].as_ref().unwrap(), "tom");
    assert_eq!(db.load::<Dog>("rex").await.unwrap(), Dog { id: "rex".into(), good: true }, "neither operation ran");
}

fn listed(tag: &str, n: usize) -> serde_json::Value {
    json!({"tag": tag, "items": (0..n).map(|i| json!({"i": i, "pad": "p".repeat(100)})).collect::<Vec<_>>()})
}

/// A save past one transaction records its new items as pending in the
/// root, writes them, then switches the root to them. Whoever cleans what
/// a root records as owed while such a save runs (a sweep, another save, a
/// delete finishing a tombstone) must not delete the pending items out from
/// under the switch: the object would name items that are gone.
#[tokio::test]
async fn a_cleanup_never_deletes_the_items_of_a_save_still_running() {
    type Meddle = fn(Client, Store) -> BoxFuture<'static, ()>;
    let meddles: [(&str, Meddle); 4] = [
        ("a sweep", |other, store| {
            Box::pin(async move {
                other.store(&store).sweep(false).await.unwrap();
            })
        }),
        ("a delete", |other, store| {
            Box::pin(async move {
                let _ = other.store(&store).delete("k").await;
            })
        }),
        ("a small save", |other, store| {
            Box::pin(async move {
                other.store(&store).write_with_key("k", listed("small", 2)).await.unwrap();
            })
        }),
        ("another large save", |other, store| {
            Box::pin(async move {
                other.store(&store).write_with_key("k", listed("rival", 110)).await.unwrap();
            })
        }),
    ];
    for (first, pending) in [(true, "over an object"), (false, "as a first save")] {
        for (who, meddle) in meddles {
            let engine: Arc<dyn Backend> = Arc::new(Embedded::memory().unwrap());
            let meddling = Arc::new(Meddling::new(engine.clone()));
            let db = Client::from_backend(meddling.clone());
            let other = Client::from_backend(engine);
            let store = Store::new("Staged", "ID").shard(Store::new("StagedItems", "IID").at("$.items[*]"));
            db.store(&store).create_tables().await.unwrap();
            let mut skip = 0;
            if first {
                db.store(&store).write_with_key("k", listed("first", 3)).await.unwrap();
            }
            // The large save's writes: the root recording it as pending,
            // then its 120 items in two transactions; the meddling runs
            // right before the switch.
            skip += 3;
            *meddling.before_write.lock().unwrap() = Some((skip, meddle(other.clone(), store.clone())));
            let saved = db.store(&store).write_with_key("k", listed("large", 120)).await;
            assert!(meddling.before_write.lock().unwrap().is_none(), "{who} ran ({pending})");
            let read = other.store(&store).read("k").await;
            let read = read.unwrap_or_else(|e| panic!("{who} during a large save {pending}: the object reads no more: {e}"));
            let tag = read["tag"].as_str().unwrap().to_owned();
            match saved {
                Ok(_) => assert!(tag == "large" || tag == "small" || tag == "rival", "{tag}"),
                Err(e) => assert!(tag != "large", "{who} {pending}: the save failed ({e}) yet its object stands"),
            }
            let report = other.store(&store).sweep(false).await.unwrap();
            assert!(report.orphans.is_empty(), "{who} {pending}: {:?}", report.orphans);
        }
    }
}

/// A server's or proxy's own failure page (an HTTP 500 with an HTML body,
/// no DynamoDB error code) is a failure of the service, retried like
/// DynamoDB's `InternalServerError`. A proxy in front of the dynoxide
/// server answers the first two requests so, then passes every request on.
#[tokio::test]
async fn a_failure_page_with_no_error_code_is_retried() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = common::server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let failed = Arc::new(AtomicUsize::new(0));
    let failing = failed.clone();
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            if failing.fetch_add(1, Ordering::SeqCst) < 2 {
                // Read the request's head and body, answer 500, close.
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let n = inbound.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let body = "<html><title>500 Internal Server Error</title></html>";
                let answer = format!(
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                inbound.write_all(answer.as_bytes()).await.unwrap();
                let _ = inbound.shutdown().await;
            } else {
                tokio::spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(upstream).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        }
    });
    let db = common::network_client(&format!("http://{proxy}"), true).await;
    let store = Store::new(table("FailurePage"), "ID");
    let (written, usage) = db
        .measure(async {
            db.store(&store).create_tables().await?;
            db.store(&store).write_with_key("k", json!({"n": 1})).await
        })
        .await;
    written.unwrap();
    assert!(failed.load(Ordering::SeqCst) >= 2, "the proxy failed two requests");
    assert!(usage.retries >= 2, "{usage:?}");
    assert_eq!(db.store(&store).read("k").await.unwrap(), json!({"n": 1}));
}

/// Hiding or hashing keys never rewrites an error's own words: a key that
/// is also a word or a number of the message ("key", "o", "0") leaves the
/// message as it is, and shows only where the key is shown.
#[tokio::test]
async fn hidden_keys_leave_the_message_alone() {
    let store = Store::new("Words", "ID");
    for display in [dystore::KeyDisplay::Hidden, dystore::KeyDisplay::hashed(b"secret")] {
        let db = Client::memory().unwrap().with_key_display(display.clone());
        db.store(&store).create_tables().await.unwrap();
        for key in ["key", "o", "0", "e", "found"] {
            let e = db.store(&store).read(key).await.unwrap_err();
            assert!(e.to_string().starts_with("object not found: no object has this key (table `Words`"), "{key:?}: {e}");
            assert_eq!(e.key().map(str::to_owned), display.show(key), "{key:?}");
            let many = db.store(&store).read_many([key]).await.remove(0).unwrap_err();
            assert!(many.to_string().starts_with("object not found: no object has this key"), "{key:?}: {many}");
        }
        let zero = RetryPolicy { deadline: Duration::ZERO, ..RetryPolicy::default() };
        let db = db.with_deadline(Some(Duration::ZERO)).with_retry_policy(zero);
        let e = db.store(&store).read("0").await.unwrap_err();
        assert!(e.to_string().contains("deadline of 0 ms"), "{e}");
    }
}

/// `measure` on one client around another client's work: the figures are
/// the measure's, and the work's cost goes to the totals of the client
/// that did it, never of the one that measured.
#[tokio::test]
async fn a_measure_counts_into_the_client_that_did_the_work() {
    let store = Store::new("Measured", "ID");
    let a = Client::memory().unwrap();
    let b = Client::memory().unwrap();
    a.store(&store).create_tables().await.unwrap();
    a.reset_usage();
    let (written, usage) = b.measure(a.store(&store).write_with_key("k", json!({"n": 1}))).await;
    written.unwrap();
    assert_eq!((usage.requests, usage.consumed.total().write), (1, 1.0));
    assert_eq!(a.usage(), usage, "a did the work");
    assert_eq!(b.usage().requests, 0, "b sent nothing");
    let (read, nested) = b.measure(a.measure(a.store(&store).read("k"))).await;
    assert_eq!(read.0.unwrap(), json!({"n": 1}));
    assert_eq!((nested.requests, read.1.requests), (1, 1));
    assert_eq!((a.usage().requests, b.usage().requests), (2, 0));
}

/// A user's decorator over the embedded engine that throttles every third
/// write. Answering `true` to `may_fail_transiently` (the default), its
/// throttled writes are sent again and every save lands. Answering `false`
/// (as the embedded engine it wraps does), a throttled write is not sent
/// again, and its error says why instead of "throttled past the retry
/// deadline" (break test of issue 14).
#[tokio::test]
async fn a_decorator_that_throttles_must_say_it_may_fail_transiently() {
    let layout = Store::new("Throttled", "ID").shard(Store::new("ThrottledParts", "PID").at("$.part"));
    for says in [None, Some(false)] {
        let mut meddling = Meddling::new(Arc::new(Embedded::memory().unwrap()));
        meddling.throttle_every = Some(3);
        meddling.says_transient = says;
        let db = Client::new(meddling);
        let objects = db.store(&layout);
        objects.create_tables().await.unwrap();
        let mut failed = Vec::new();
        for i in 0..12 {
            let (key, doc) = (format!("k{i}"), json!({"i": i, "part": {"v": i}}));
            match objects.write_with_key(&key, doc.clone()).await {
                Ok(_) => assert_eq!(objects.read(&key).await.unwrap(), doc),
                Err(e) => failed.push(e),
            }
        }
        if says.is_none() {
            assert!(failed.is_empty(), "retried until they land: {failed:?}");
            continue;
        }
        assert_eq!(failed.len(), 4, "every third write throttled, none sent again: {failed:?}");
        for e in &failed {
            assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
            assert!(e.to_string().contains("may_fail_transiently"), "{e}");
        }
    }
}

/// Reads alike: a backend saying it never fails transiently gets no copy
/// of a read's keys kept, so a throttled read is not sent again.
#[tokio::test]
async fn a_decorator_that_throttles_reads_must_say_it_may_fail_transiently() {
    let layout = Store::new("ThrottledReads", "ID").shard(Store::new("ThrottledReadParts", "PID").at("$.part"));
    let engine: Arc<dyn Backend> = Arc::new(Embedded::memory().unwrap());
    let plain = Client::from_backend(engine.clone());
    plain.store(&layout).create_tables().await.unwrap();
    plain.store(&layout).write_with_key("k", json!({"i": 1, "part": {"v": 2}})).await.unwrap();
    for says in [None, Some(false)] {
        let mut meddling = Meddling::new(engine.clone());
        (meddling.throttle_every, meddling.throttle_reads, meddling.says_transient) = (Some(3), true, says);
        let objects = Client::new(meddling);
        let mut failed = Vec::new();
        for _ in 0..6 {
            for read in [
                objects.store(&layout).read("k").await,
                objects.store(&layout).read_path("k", "$.part.v").await.map(serde_json::Value::from),
            ] {
                if let Err(e) = read {
                    failed.push(e);
                }
            }
        }
        if says.is_none() {
            assert!(failed.is_empty(), "retried until answered: {failed:?}");
            continue;
        }
        assert_eq!(failed.len(), 4, "every third read throttled, none sent again: {failed:?}");
        for e in &failed {
            assert!(e.kind() == ErrorKind::Backend && e.to_string().contains("may_fail_transiently"), "{e}");
        }
    }
}
