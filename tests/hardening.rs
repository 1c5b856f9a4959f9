//! Faults a fresh user found by trying to break the reliability work, each
//! kept as a regression test of its whole kind: damaged chunk records,
//! crashed large saves piling up in the root, a last attempt that may have
//! been applied, deadlines on the embedded engine, unconditional writes and
//! path reads racing other writers, keys of chunk items over DynamoDB's
//! limit, metadata outgrowing its item, what an error says of a batch read
//! left undone, and a retry policy of `Duration::MAX`.

mod common;

use common::legacy::items_of;
use common::{Target, client, table};
use dystore::backend::{Expr, Fault, FaultPlan, Item, Write, op};
use dystore::{Client, ErrorKind, RetryPolicy, Store};
use serde_dynamo::AttributeValue as A;
use serde_json::{Value, json};
use std::time::Duration;

fn key_item(name: &str, key: &str) -> Item {
    [(name.to_owned(), A::S(key.to_owned()))].into()
}

/// A root whose chunk record says 100 billion chunks is a `Format` error
/// after one request, never an allocation that aborts the process.
#[tokio::test]
async fn a_damaged_chunk_count_is_a_format_error() {
    let (db, requests) = Client::memory().unwrap().counted();
    let store = Store::new(table("Damaged"), "ID");
    let t = store.layout().table.to_string();
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).write_with_key("A", json!({"body": "a".repeat(1_000_000)})).await.unwrap();
    for n in ["100000000000", "100000", "0"] {
        let mut update = Expr { text: "SET #dm.#ch.#p.#n = :n".into(), ..Default::default() };
        for (k, v) in [("#dm", "__dystore_meta__"), ("#ch", "chunks"), ("#p", "$.body"), ("#n", "n")] {
            update.names.insert(k.into(), v.into());
        }
        update.values.insert(":n".into(), A::N(n.into()));
        db.backend().write(Write::Update { table: t.clone(), key: key_item("ID", "A"), update, condition: None }).await.unwrap();
        requests.reset();
        let e = db.store(&store).read("A").await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::Format, Some("$.body")), "n = {n}: {e}");
        assert_eq!(requests.total(), 1, "refused on the root's record alone");
    }
}

fn listed(tag: &str, n: usize) -> Value {
    json!({"tag": tag, "items": (0..n).map(|i| json!({"i": i, "pad": "p".repeat(100)})).collect::<Vec<_>>()})
}

/// A staged save crashing again and again after writing its first shard
/// items: each attempt cleans what the one before left, so the root stays
/// small and the next save works.
async fn crashed_large_saves_do_not_pile_up(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Piled"), "ID").shard(Store::new(table("PiledItems"), "IID").at("$.items[*]"));
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    objects.write_with_key("k", listed("first", 3)).await.unwrap();
    let root_size = |items: Vec<Item>| -> usize {
        items.iter().filter(|i| i.get("ID") == Some(&A::S("k".into()))).map(|i| format!("{i:?}").len()).sum()
    };
    let mut sizes = Vec::new();
    for attempt in 0..12 {
        let (crashing, _) = db.clone().faulty(FaultPlan::seeded(attempt).crash_after(3));
        assert!(crashing.store(&store).write_with_key("k", listed("crashed", 120)).await.is_err());
        assert_eq!(objects.read("k").await.unwrap(), listed("first", 3), "the previous version reads");
        sizes.push(root_size(items_of(&db, &store.layout().table).await));
    }
    assert!(sizes.iter().all(|s| *s <= sizes[0] * 2), "the root does not grow with each crash: {sizes:?}");
    objects.write_with_key("k", listed("final", 2)).await.unwrap();
    assert_eq!(objects.read("k").await.unwrap(), listed("final", 2));
    assert_eq!(items_of(&db, &store.layout().shards[0].layout.table).await.len(), 2, "nothing of the crashed attempts is left");
}

/// A write whose last attempt timed out or met a 5xx may have been applied,
/// and the error says so, with the request and the attempts.
#[tokio::test]
async fn the_last_attempt_may_have_been_applied() {
    let store = Store::new(table("Applied"), "ID");
    let db = Client::memory().unwrap();
    db.store(&store).create_tables().await.unwrap();
    let zero = RetryPolicy { deadline: Duration::ZERO, ..RetryPolicy::default() };
    for fault in [Fault::AppliedTimeout, Fault::ServerError, Fault::Timeout] {
        let (faulty, _) = db.clone().with_retry_policy(zero).faulty(FaultPlan::seeded(1).fail_request(1, fault));
        let e = faulty.store(&store).write_with_key("k", json!({"x": 1})).await.unwrap_err();
        assert!(e.object_may_have_changed(), "{fault:?}: {e}");
        assert_eq!((e.request(), e.attempts()), (Some(op::PUT_ITEM), 1), "{fault:?}: {e}");
        assert!(e.is_retryable());
    }
    // The same after a throttled first attempt.
    let policy = RetryPolicy { deadline: Duration::from_millis(50), first_backoff: Duration::from_millis(30), ..RetryPolicy::default() };
    let (faulty, _) = db
        .clone()
        .with_retry_policy(policy)
        .faulty(FaultPlan::seeded(1).fail_request(1, Fault::Throttling).fail_request(2, Fault::AppliedTimeout));
    let e = faulty.store(&store).write_with_key("j", json!({"x": 1})).await.unwrap_err();
    assert!(e.object_may_have_changed() && e.attempts() == 2, "{e}");
    assert_eq!(db.store(&store).read("j").await.unwrap(), json!({"x": 1}), "it was applied indeed");
}

/// The embedded engine answers at once, yet a call's deadline holds: every
/// call, `update` and `sweep` included.
#[tokio::test]
async fn deadlines_hold_on_the_embedded_engine() {
    let db = Client::memory().unwrap();
    let store = Store::new(table("Deadline"), "ID");
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).write_with_key("k", json!({"n": 1})).await.unwrap();
    let hurried = db.clone().with_deadline(Some(Duration::ZERO));
    let objects = hurried.store(&store);
    let big = json!({"a": "x".repeat(6 << 20)});
    let errors = vec![
        objects.write_with_key("big", big).await.unwrap_err(),
        objects.read("k").await.unwrap_err(),
        objects.update("k", Ok).await.unwrap_err(),
        objects.sweep(false).await.unwrap_err(),
        objects.create_tables().await.unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    }
    assert_eq!(db.store(&store).read("k").await.unwrap(), json!({"n": 1}));
}

/// Unconditional writes, deletes and path reads racing each other: writes
/// and deletes succeed (or, past the retry deadline, say they are worth
/// retrying), and a path read gives a value or `NotFound`, never
/// `MissingShard` for a shard every version has.
async fn racing_writers_and_readers(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Race"), "ID")
        .shard(Store::new(table("RaceLoc"), "LID").at("$.loc"))
        .shard(Store::new(table("RaceItems"), "IID").at("$.items[*]"));
    db.store(&store).create_tables().await.unwrap();
    let doc = |n: usize| json!({"loc": {"city": format!("c{n}")}, "items": (0..n).map(|i| json!({"i": i})).collect::<Vec<_>>()});
    db.store(&store).write_with_key("k", doc(1)).await.unwrap();
    let rounds = 12;
    let writer = |n: usize| {
        let (db, store) = (db.clone(), store.clone());
        tokio::spawn(async move {
            for _ in 0..rounds {
                if let Err(e) = db.store(&store).write_with_key("k", doc(n)).await {
                    assert!(e.is_retryable(), "an unconditional write fails only with a retryable error: {e}");
                }
            }
        })
    };
    let deleter = {
        let (db, store) = (db.clone(), store.clone());
        tokio::spawn(async move {
            for _ in 0..rounds {
                match db.store(&store).delete("k").await {
                    Ok(()) => {}
                    Err(e) => assert!(e.is_not_found() || e.is_retryable(), "{e}"),
                }
            }
        })
    };
    let reader = {
        let (db, store) = (db.clone(), store.clone());
        tokio::spawn(async move {
            for _ in 0..rounds * 3 {
                match db.store(&store).read_path("k", "$.loc.city").await {
                    Ok(found) => assert!(found.len() == 1, "{found:?}"),
                    Err(e) => assert!(e.is_not_found() || e.is_retryable(), "{e}"),
                }
            }
        })
    };
    for task in [writer(120), writer(2), writer(3), deleter, reader] {
        task.await.unwrap();
    }
}

/// A large leaf whose chunk keys would pass DynamoDB's 2048-byte limit is
/// refused before any request, naming the path.
#[tokio::test]
async fn chunk_keys_over_the_limit_are_invalid_keys() {
    let (db, requests) = Client::memory().unwrap().counted();
    let store = Store::new(table("LongName"), "ID");
    db.store(&store).create_tables().await.unwrap();
    requests.reset();
    let name = "f".repeat(2100);
    let e = db.store(&store).write_with_key("short", json!({ name.clone(): "x".repeat(500 * 1024) })).await.unwrap_err();
    assert_eq!((e.kind(), e.key(), e.path().map(str::len)), (ErrorKind::InvalidKey, Some("short"), Some(2102)), "{e}");
    assert_eq!(requests.total(), 0);
    // Just under the limit, it is stored and read back.
    let name = "g".repeat(2000);
    let doc = json!({ name: "y".repeat(500 * 1024) });
    db.store(&store).write_with_key("short", doc.clone()).await.unwrap();
    assert_eq!(db.store(&store).read("short").await.unwrap(), doc);
}

/// A key attribute named like dystore's own attributes (break test): named
/// `__dystore_meta__`, the name of every item's metadata, a layout is
/// `InvalidKey` before any request, at the root and in a shard (saves went
/// through before and left objects that could not be read or deleted);
/// named `data`, which a chunk item holds its piece in, a table works
/// until a leaf must go to chunk items in it, which is then `InvalidKey`
/// naming the table, key and path before any request (an untyped backend
/// error before).
#[tokio::test]
async fn key_attributes_named_like_dystores_own_attributes() {
    let (db, requests) = Client::memory().unwrap().counted();
    let meta_root = Store::new(table("MetaKeyRoot"), "__dystore_meta__");
    let meta_shard = Store::new(table("MetaKeyParent"), "ID").shard(Store::new(table("MetaKeyShard"), "__dystore_meta__").at("$.s"));
    for store in [&meta_root, &meta_shard] {
        let objects = db.store(store);
        let doc = json!({"a": 1, "s": {"b": 2}});
        let failures = [
            objects.create_tables().await.unwrap_err(),
            objects.write_with_key("k", doc.clone()).await.unwrap_err(),
            objects.read("k").await.unwrap_err(),
            objects.read_path("k", "$.s.b").await.unwrap_err(),
            objects.write_path("k", "$.a", json!(3)).await.unwrap_err(),
            objects.delete("k").await.unwrap_err(),
        ];
        for e in failures {
            assert_eq!(e.kind(), ErrorKind::InvalidKey, "{e}");
            assert!(e.to_string().contains("__dystore_meta__") && e.table().is_some(), "{e}");
        }
    }
    assert_eq!(requests.total(), 0, "refused before any request");

    let data_root = Store::new(table("DataKeyRoot"), "data");
    let data_shard = Store::new(table("DataKeyParent"), "ID").shard(Store::new(table("DataKeyShard"), "data").at("$.s"));
    for (store, path, holder) in [
        (&data_root, "$.big", data_root.layout().table.to_string()),
        (&data_shard, "$.s.big", data_shard.layout().shards[0].layout.table.to_string()),
    ] {
        let objects = db.store(store);
        objects.create_tables().await.unwrap();
        let small = json!({"a": 1, "s": {"b": 2}});
        objects.write_with_key("k", small.clone()).await.unwrap();
        assert_eq!(objects.read("k").await.unwrap(), small, "a table keyed `data` holds small objects");
        let mut large = small.clone();
        match path {
            "$.big" => large["big"] = json!("x".repeat(500 * 1024)),
            _ => large["s"]["big"] = json!("x".repeat(500 * 1024)),
        }
        requests.reset();
        let e = objects.write_with_key("k", large).await.unwrap_err();
        assert_eq!((e.kind(), e.table(), e.key(), e.path()), (ErrorKind::InvalidKey, Some(holder.as_str()), Some("k"), Some(path)), "{e}");
        assert_eq!(requests.total(), 0, "refused before any request");
        assert_eq!(objects.read("k").await.unwrap(), small, "the object is as it was");
    }
}

/// Thousands of leaves each moved to chunk items fill the root's metadata:
/// the error says so and what to do, before any request.
#[tokio::test]
async fn metadata_outgrowing_its_item_says_what_to_do() {
    let (db, requests) = Client::memory().unwrap().counted();
    let store = Store::new(table("ManyLeaves"), "ID");
    db.store(&store).create_tables().await.unwrap();
    requests.reset();
    let doc: serde_json::Map<String, Value> = (0..5000).map(|i| (format!("f{i}"), json!("z".repeat(1100)))).collect();
    let e = db.store(&store).write_with_key("many", Value::Object(doc)).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::ItemTooLarge, Some("$")), "{e}");
    assert!(e.to_string().contains("make part of the document a shard"), "{e}");
    assert_eq!(requests.total(), 0);
}

/// Keys left unprocessed past the retry deadline: the error names the
/// request, its attempts, and every key not read (those of requests never
/// sent included).
#[tokio::test]
async fn a_batch_read_left_undone_says_what_and_how_often() {
    let db = Client::memory().unwrap();
    let store = Store::new(table("Undone"), "ID").shard(Store::new(table("UndoneShard"), "SID").at("$.s"));
    db.store(&store).create_tables().await.unwrap();
    let keys: Vec<String> = (0..60).map(|i| format!("u{i}")).collect();
    assert!(db.store(&store).write_many(keys.iter().map(|k| (k.clone(), json!({"s": {"x": 1}})))).await.iter().all(Result::is_ok));
    let policy = RetryPolicy { deadline: Duration::from_millis(40), first_backoff: Duration::from_millis(5), ..RetryPolicy::default() };
    let (faulty, _) = db.with_retry_policy(policy).faulty(FaultPlan::seeded(2).unprocessed_fraction(1.0));
    let e = faulty.store(&store).read("u1").await.unwrap_err();
    assert_eq!((e.kind(), e.request()), (ErrorKind::Throttled, Some(op::BATCH_GET_ITEM)), "{e}");
    assert!(e.attempts() >= 2, "{e}");
    assert_eq!(e.undone().len(), 2, "the root and its shard: {:?}", e.undone());
    // Many objects: each answers with the keys of its request undone.
    let answers = faulty.store(&store).read_many(&keys).await;
    let e = answers[0].as_ref().unwrap_err();
    let (root, shard) = (&store.layout().table, &store.layout().shards[0].layout.table);
    assert_eq!(e.undone(), [format!("{root}/u0"), format!("{shard}/u0#$.s")], "its own items only");
}

/// A read_path whose GetItem stayed throttled names the item it asked for
/// as undone, as a batch read names its keys.
#[tokio::test]
async fn a_path_read_left_undone_names_its_item() {
    let db = Client::memory().unwrap();
    let store = Store::new(table("PathUndone"), "ID").shard(Store::new(table("PathUndoneShard"), "SID").at("$.s"));
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).write_with_key("u1", json!({"s": {"x": 1}, "y": 2})).await.unwrap();
    let policy = RetryPolicy { deadline: Duration::from_millis(30), first_backoff: Duration::from_millis(5), ..RetryPolicy::default() };
    let (faulty, _) = db.with_retry_policy(policy).faulty(FaultPlan::seeded(5).fail_fraction(1.0, &[dystore::backend::Fault::Throttling]));
    let (root, shard) = (&store.layout().table, &store.layout().shards[0].layout.table);
    for (path, item) in [("$.s.x", format!("{shard}/u1#$.s")), ("$.y", format!("{root}/u1"))] {
        let e = faulty.store(&store).read_path("u1", path).await.unwrap_err();
        assert_eq!((e.kind(), e.request()), (ErrorKind::Throttled, Some(op::GET_ITEM)), "{e}");
        assert_eq!(e.undone(), [item], "{path}: {e}");
    }
}

/// A batch read whose keys came back unprocessed, then whose next request
/// failed, names those keys as undone: what the failed request carried.
#[tokio::test]
async fn a_batch_read_failing_after_unprocessed_keys_names_them() {
    let db = Client::memory().unwrap();
    let store = Store::new(table("Retried"), "ID").shard(Store::new(table("RetriedShard"), "SID").at("$.s"));
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).write_with_key("u1", json!({"s": {"x": 1}})).await.unwrap();
    let (faulty, injected) = db.faulty(FaultPlan::seeded(4).unprocessed_fraction(1.0).crash_after(1));
    let e = faulty.store(&store).read("u1").await.unwrap_err();
    assert!(injected.unprocessed_keys() >= 2 && injected.cut() == 1, "{e}");
    let (root, shard) = (&store.layout().table, &store.layout().shards[0].layout.table);
    let mut undone = e.undone().to_vec();
    undone.sort();
    let mut expected = vec![format!("{root}/u1"), format!("{shard}/u1#$.s")];
    expected.sort();
    assert_eq!(undone, expected, "{e}");
    assert_eq!((e.kind(), e.table(), e.key()), (ErrorKind::Backend, Some(root.as_ref()), Some("u1")), "{e}");
}

/// A retry policy of `Duration::MAX` waits and retries; it never panics.
#[tokio::test]
async fn a_retry_policy_of_duration_max_does_not_overflow() {
    let policy = RetryPolicy { deadline: Duration::MAX, first_backoff: Duration::MAX, max_backoff: Duration::from_millis(1) };
    let db = Client::memory().unwrap();
    let store = Store::new(table("MaxPolicy"), "ID");
    db.store(&store).create_tables().await.unwrap();
    let policy_small = RetryPolicy { first_backoff: Duration::from_millis(1), ..policy };
    let (faulty, _) = db.with_retry_policy(policy_small).faulty(FaultPlan::seeded(4).fail_request(1, Fault::Throttling));
    faulty.store(&store).write_with_key("k", json!({})).await.unwrap();
    let (faulty, _) = faulty
        .with_retry_policy(policy)
        .with_deadline(Some(Duration::from_millis(200)))
        .faulty(FaultPlan::seeded(5).fail_request(1, Fault::Throttling));
    // The first wait is `max_backoff` at most; the call's deadline ends it
    // if not.
    let r = faulty.store(&store).write_with_key("k", json!({"n": 2})).await;
    assert!(r.is_ok() || r.as_ref().is_err_and(|e| e.kind() == ErrorKind::Timeout), "{r:?}");
}

conformance!(crashed_large_saves_do_not_pile_up, racing_writers_and_readers);
