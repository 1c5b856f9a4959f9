//! Many objects at once: `read_many`/`write_many`/`delete_many` and the
//! typed `load_many`/`save_many`/`delete_many`, with the request counts the
//! docs promise, one answer per object in input order, and the objects that
//! cannot be packed (another shape, list shards, named twice, bad input)
//! answered one by one.

mod common;

use common::{Target, client, people, person, table};
use dystore::backend::{Fault, FaultPlan, op};
use dystore::{Client, DyObject, ErrorKind, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

fn doc(i: usize) -> Value {
    json!({"n": i, "name": format!("user {i}"), "tags": ["a", "b"]})
}

async fn thousand_small_objects_take_ten_requests_each_way(target: Target) {
    let (db, requests) = client(target).await.counted();
    let store = Store::new(table("Many"), "ID");
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    let keys: Vec<String> = (0..1000).map(|i| format!("k{i:04}")).collect();

    requests.reset();
    let written = objects.write_many(keys.iter().enumerate().map(|(i, k)| (k.clone(), doc(i)))).await;
    assert_eq!(written.len(), 1000);
    assert!(written.iter().all(Result::is_ok), "{:?}", written.iter().find(|r| r.is_err()));
    assert_eq!((requests.get(op::TRANSACT_WRITE_ITEMS), requests.total()), (10, 10), "{:?}", requests.snapshot());

    requests.reset();
    let read = objects.read_many(&keys).await;
    assert_eq!((requests.get(op::BATCH_GET_ITEM), requests.total()), (10, 10), "{:?}", requests.snapshot());
    for (i, r) in read.into_iter().enumerate() {
        assert_eq!(r.unwrap(), doc(i), "answers come in input order");
    }
    // A read of the same objects one by one agrees.
    assert_eq!(objects.read("k0777").await.unwrap(), doc(777));

    requests.reset();
    let deleted = objects.delete_many(&keys).await;
    assert!(deleted.iter().all(Result::is_ok));
    assert_eq!((requests.get(op::TRANSACT_WRITE_ITEMS), requests.total()), (10, 10), "{:?}", requests.snapshot());
    let gone = objects.read_many(&keys[..5]).await;
    assert!(gone.iter().all(|r| r.as_ref().is_err_and(|e| e.kind() == ErrorKind::NotFound)));
}

async fn objects_with_shards_pack_whole(target: Target) {
    let (db, requests) = client(target).await.counted();
    let store = people();
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    let keys: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
    let doc_of = |i: usize| {
        let mut d = person();
        d["firstname"] = json!(format!("Ada {i}"));
        d
    };
    requests.reset();
    let written = objects.write_many(keys.iter().enumerate().map(|(i, k)| (k.clone(), doc_of(i)))).await;
    assert!(written.iter().all(Result::is_ok));
    // Four items per object: 25 objects per transaction of 100 actions.
    assert_eq!((requests.get(op::TRANSACT_WRITE_ITEMS), requests.total()), (4, 4), "{:?}", requests.snapshot());
    requests.reset();
    let read = objects.read_many(&keys).await;
    // Four keys per object: 25 objects per BatchGetItem of 100 keys.
    assert_eq!((requests.get(op::BATCH_GET_ITEM), requests.total()), (4, 4), "{:?}", requests.snapshot());
    for (i, r) in read.into_iter().enumerate() {
        common::assert_same_json(&r.unwrap(), &doc_of(i));
    }
    let deleted = objects.delete_many(&keys).await;
    assert!(deleted.iter().all(Result::is_ok));
    for t in [&store.layout().table, &store.layout().shards[0].layout.table] {
        assert!(common::legacy::items_of(&db, t).await.is_empty(), "every item of {t} deleted");
    }
}

async fn each_object_gets_its_own_answer(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Answers"), "ID");
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    let written = objects
        .write_many(vec![
            ("a", json!({"v": 1})),
            ("", json!({"v": 2})),
            ("b", json!([1, 2])),
            ("c", json!({"v": 3})),
            ("d", json!({"v": 4})),
            ("c", json!({"v": 5})),
            ("bad#$key", json!({"v": 6})),
            ("e", json!({"ID": "x"})),
        ])
        .await;
    let kinds: Vec<Option<ErrorKind>> = written.iter().map(|r| r.as_ref().err().map(|e| e.kind())).collect();
    assert_eq!(
        kinds,
        vec![
            None,
            Some(ErrorKind::InvalidKey),
            Some(ErrorKind::InvalidDocument),
            Some(ErrorKind::InvalidKey),
            None,
            Some(ErrorKind::InvalidKey),
            Some(ErrorKind::InvalidKey),
            Some(ErrorKind::InvalidDocument)
        ]
    );
    let repeated = written[3].as_ref().unwrap_err();
    assert_eq!((repeated.table(), repeated.key()), (Some(store.layout().table.as_ref()), Some("c")), "{repeated}");
    let read = objects.read_many(["a", "c", "d", "nobody", ""]).await;
    assert_eq!(read[0].as_ref().unwrap(), &json!({"v": 1}));
    assert_eq!(read[1].as_ref().unwrap_err().kind(), ErrorKind::NotFound, "neither write of a repeated key happened");
    assert_eq!(read[2].as_ref().unwrap(), &json!({"v": 4}));
    assert_eq!(read[3].as_ref().unwrap_err().key(), Some("nobody"));
    assert_eq!(read[4].as_ref().unwrap_err().kind(), ErrorKind::InvalidKey);
    // A key named twice in a read is answered twice.
    let twice = objects.read_many(["a", "a"]).await;
    assert_eq!((twice[0].as_ref().unwrap(), twice[1].as_ref().unwrap()), (&json!({"v": 1}), &json!({"v": 1})));
    let deleted = objects.delete_many(["a", "nobody", "d", "d"]).await;
    let kinds: Vec<Option<ErrorKind>> = deleted.iter().map(|r| r.as_ref().err().map(|e| e.kind())).collect();
    assert_eq!(kinds, vec![None, Some(ErrorKind::NotFound), Some(ErrorKind::InvalidKey), Some(ErrorKind::InvalidKey)]);
    assert_eq!(objects.read("d").await.unwrap(), json!({"v": 4}));
}

/// An object stored with a large leaf (chunk items) is not in the shape a
/// packed save is guarded by: its condition fails, the rest of its
/// transaction goes again, and it is saved alone, its chunks deleted.
async fn objects_stored_otherwise_are_saved_alone(target: Target) {
    let (db, requests) = client(target).await.counted();
    let store = Store::new(table("Otherwise"), "ID");
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    objects.write_with_key("big", json!({"blob": "x".repeat(600_000)})).await.unwrap();
    assert!(common::legacy::items_of(&db, &store.layout().table).await.len() > 1, "chunk items stored");
    requests.reset();
    let written = objects.write_many((0..10).map(|i| (if i == 5 { "big".to_owned() } else { format!("s{i}") }, doc(i)))).await;
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    assert!(requests.get(op::TRANSACT_WRITE_ITEMS) >= 2, "the pack went again without the object stored otherwise");
    let read = objects.read_many((0..10).map(|i| if i == 5 { "big".to_owned() } else { format!("s{i}") })).await;
    for (i, r) in read.into_iter().enumerate() {
        assert_eq!(r.unwrap(), doc(i));
    }
    assert_eq!(common::legacy::items_of(&db, &store.layout().table).await.len(), 10, "no chunk item left behind");
}

async fn list_shards_go_alone(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Lists"), "ID").shard(Store::new(table("Items"), "IID").at("$.items[*]"));
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    objects.write_with_key("l1", json!({"items": [{"a": 1}, {"a": 2}, {"a": 3}]})).await.unwrap();
    let docs = |i: usize| json!({"n": i, "items": (0..i).map(|j| json!({"a": j})).collect::<Vec<_>>()});
    let written = objects.write_many((0..4).map(|i| (format!("l{i}"), docs(i)))).await;
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    let read = objects.read_many((0..4).map(|i| format!("l{i}"))).await;
    for (i, r) in read.into_iter().enumerate() {
        assert_eq!(r.unwrap(), docs(i));
    }
    // 0 + 1 + 2 + 3 elements: l1's three became one, and none stays behind.
    assert_eq!(common::legacy::items_of(&db, &store.layout().shards[0].layout.table).await.len(), 6);
    assert!(objects.delete_many((0..4).map(|i| format!("l{i}"))).await.iter().all(Result::is_ok));
    assert!(common::legacy::items_of(&db, &store.layout().shards[0].layout.table).await.is_empty());
}

async fn missing_tables_fail_every_object(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Nowhere"), "ID");
    let objects = db.store(&store);
    let written = objects.write_many([("a", json!({})), ("b", json!({}))]).await;
    let read = objects.read_many(["a", "b"]).await;
    for (answers, what) in [
        (written.iter().map(|r| r.as_ref().map(drop)).collect::<Vec<_>>(), "write"),
        (read.iter().map(|r| r.as_ref().map(drop)).collect(), "read"),
    ] {
        for (r, key) in answers.iter().zip(["a", "b"]) {
            let e = r.as_ref().unwrap_err();
            assert_eq!((e.kind(), e.key()), (ErrorKind::TableNotFound, Some(key)), "{what}: {e}");
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_many_Account", key = "ID")]
struct Account {
    #[dystore(pk)]
    id: String,
    #[dystore(shard)]
    profile: Profile,
    balance: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_many_Profile", key = "PID")]
struct Profile {
    #[dystore(encrypt)]
    email: String,
}

async fn typed_many(target: Target) {
    let keyring = dystore::Keyring::new().with_key("k", dystore::Key::new([7u8; 32]).unwrap()).default_key("k");
    let db = client(target).await.with_loader(keyring);
    db.create_tables::<Account>().await.unwrap();
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let accounts: Vec<Account> = (0..30)
        .map(|i| Account { id: format!("{prefix}-{i}"), profile: Profile { email: format!("u{i}@example.com") }, balance: i })
        .collect();
    let (db, requests) = db.counted();
    let keys: Vec<String> = db.save_many(&accounts).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(keys, accounts.iter().map(|a| a.id.clone()).collect::<Vec<_>>());
    assert_eq!(requests.get(op::TRANSACT_WRITE_ITEMS), 1, "60 items in one transaction: {:?}", requests.snapshot());
    let loaded: Vec<Account> = db.load_many::<Account, _>(&keys).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(loaded, accounts);
    let unset = Account { id: String::new(), ..accounts[0].clone() };
    let answers = db.save_many([&accounts[0], &unset]).await;
    assert!(answers[0].is_ok());
    assert_eq!(answers[1].as_ref().unwrap_err().kind(), ErrorKind::InvalidKey);
    assert!(db.delete_many::<Account, _>(&keys).await.iter().all(Result::is_ok));
    assert!(db.load_many::<Account, _>(&keys[..2]).await.iter().all(|r| r.as_ref().is_err_and(dystore::Error::is_not_found)));
}

/// Throttling, 5xx, timeouts and unprocessed keys on a fifth of the
/// requests: every object is still written and read whole.
async fn faults_are_retried(target: Target) {
    let (db, injected) = client(target).await.faulty(
        FaultPlan::seeded(15)
            .fail_fraction(0.2, &[Fault::Throttling, Fault::ServerError, Fault::Timeout, Fault::AppliedTimeout, Fault::TransactionConflict])
            .unprocessed_fraction(0.3),
    );
    let store = people();
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("f{i}")).collect();
    let written = objects.write_many(keys.iter().map(|k| (k.clone(), person()))).await;
    assert!(written.iter().all(Result::is_ok), "{:?}", written.iter().find(|r| r.is_err()));
    let read = objects.read_many(&keys).await;
    for r in read {
        common::assert_same_json(&r.unwrap(), &person());
    }
    // Deletes whose answers are lost (applied, then retried) still say Ok.
    let deleted = objects.delete_many(&keys).await;
    assert!(deleted.iter().all(Result::is_ok), "{:?}", deleted.iter().find(|r| r.is_err()));
    assert!(objects.read_many(&keys).await.iter().all(|r| r.as_ref().is_err_and(dystore::Error::is_not_found)));
    assert!(injected.total() > 0 && injected.unprocessed_keys() > 0, "faults were injected");
    assert!(injected.faults(Fault::AppliedTimeout) > 0);
}

/// Listing: every object once, nothing else of the root table (chunk
/// items, tombstones), one page held at a time, segments that together
/// list every object once.
async fn listing_yields_every_object_once(target: Target) {
    use futures_util::{StreamExt, TryStreamExt};
    let (db, requests) = client(target).await.counted();
    let store = Store::new(table("Listing"), "ID");
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    let keys: Vec<String> = (0..250).map(|i| format!("k{i:03}")).collect();
    assert!(objects.write_many(keys.iter().enumerate().map(|(i, k)| (k.clone(), doc(i)))).await.iter().all(Result::is_ok));
    // A large leaf puts chunk items in the root table; a deleted object
    // is gone from the listing.
    objects.write_with_key("big", json!({"blob": "y".repeat(500_000)})).await.unwrap();
    objects.write_with_key("gone", json!({})).await.unwrap();
    objects.delete("gone").await.unwrap();

    requests.reset();
    let mut stream = std::pin::pin!(objects.list());
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(objects.read(&first.0).await.unwrap(), first.1);
    assert_eq!(requests.get(op::SCAN), 1, "one page is read at a time: {:?}", requests.snapshot());
    let mut seen: Vec<(String, Value)> = vec![first];
    seen.extend(stream.try_collect::<Vec<_>>().await.unwrap());
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<(String, Value)> = keys.iter().enumerate().map(|(i, k)| (k.clone(), doc(i))).collect();
    expected.push(("big".to_owned(), json!({"blob": "y".repeat(500_000)})));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen.len(), expected.len());
    assert!(seen == expected, "every object once, with its document");

    let mut listed: Vec<String> = objects.keys().try_collect().await.unwrap();
    listed.sort();
    assert_eq!(listed, expected.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());

    let mut segmented = Vec::new();
    for segment in 0..4 {
        let part: Vec<(String, Value)> = objects.list_segment(segment, 4).try_collect().await.unwrap();
        segmented.extend(part.into_iter().map(|(k, _)| k));
    }
    segmented.sort();
    assert_eq!(segmented, listed, "four segments together list every object once");
    let mut segmented_keys = Vec::new();
    for segment in 0..3 {
        segmented_keys.extend(objects.keys_segment(segment, 3).try_collect::<Vec<_>>().await.unwrap());
    }
    segmented_keys.sort();
    assert_eq!(segmented_keys, listed);

    for (segment, total) in [(4, 4), (0, 0), (0, 1_000_001)] {
        let refused: Vec<_> = objects.list_segment(segment, total).collect().await;
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].as_ref().unwrap_err().kind(), ErrorKind::Config);
        let refused: Vec<_> = objects.keys_segment(segment, total).collect().await;
        assert_eq!(refused[0].as_ref().unwrap_err().kind(), ErrorKind::Config);
    }
    let missing = Store::new(table("NoSuchTable"), "ID");
    let failed: Vec<_> = db.store(&missing).list().collect().await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].as_ref().unwrap_err().kind(), ErrorKind::TableNotFound);
}

async fn typed_listing(target: Target) {
    use futures_util::TryStreamExt;
    let keyring = dystore::Keyring::new().with_key("k", dystore::Key::new([7u8; 32]).unwrap()).default_key("k");
    let db = client(target).await.with_loader(keyring);
    db.create_tables::<Account>().await.unwrap();
    let before: Vec<String> = db.keys::<Account>().try_collect().await.unwrap();
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let accounts: Vec<Account> = (0..5)
        .map(|i| Account { id: format!("{prefix}-{i}"), profile: Profile { email: format!("l{i}@example.com") }, balance: i })
        .collect();
    assert!(db.save_many(&accounts).await.iter().all(Result::is_ok));
    let listed: Vec<Account> = db.list::<Account>().try_collect().await.unwrap();
    let mut ours: Vec<Account> = listed.into_iter().filter(|a| a.id.starts_with(&prefix)).collect();
    ours.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(ours, accounts);
    let after: Vec<String> = db.keys::<Account>().try_collect().await.unwrap();
    assert!(after.len() >= before.len() + 5);
    assert!(db.delete_many::<Account, _>(accounts.iter().map(|a| &a.id)).await.iter().all(Result::is_ok));
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_many_Order", key = "ID")]
struct Order {
    #[dystore(pk)]
    id: String,
    total: u32,
}

/// A batch across types: one answer per operation in order, each type
/// packed, a key named twice refused, a missing object `NotFound`.
async fn batches_across_types(target: Target) {
    let keyring = dystore::Keyring::new().with_key("k", dystore::Key::new([7u8; 32]).unwrap()).default_key("k");
    let (db, requests) = client(target).await.with_loader(keyring).counted();
    db.create_tables::<Account>().await.unwrap();
    db.create_tables::<Order>().await.unwrap();
    let p = uuid::Uuid::new_v4().simple().to_string();
    let account = |i: i64| Account { id: format!("{p}-a{i}"), profile: Profile { email: format!("b{i}@example.com") }, balance: i };
    let order = |i: u32| Order { id: format!("{p}-o{i}"), total: i };
    db.save(&order(9)).await.unwrap();
    requests.reset();
    let mut batch = db.batch();
    for i in 0..9 {
        batch = batch.save(&account(i)).save(&order(i as u32));
    }
    let answers = batch
        .save(&account(9))
        .delete::<Order>(format!("{p}-o9"))
        .delete::<Order>(format!("{p}-nobody"))
        .save(&order(20))
        .delete::<Order>(format!("{p}-o20"))
        .save(&Account { id: String::new(), ..account(0) })
        .run()
        .await;
    assert_eq!(answers.len(), 24);
    for i in 0..9 {
        assert_eq!(answers[2 * i].as_ref().unwrap(), &format!("{p}-a{i}"));
        assert_eq!(answers[2 * i + 1].as_ref().unwrap(), &format!("{p}-o{i}"));
    }
    assert_eq!(answers[18].as_ref().unwrap(), &format!("{p}-a9"));
    assert_eq!(answers[19].as_ref().unwrap(), &format!("{p}-o9"));
    assert!(answers[20].as_ref().is_err_and(dystore::Error::is_not_found));
    for i in [21, 22] {
        assert_eq!(answers[i].as_ref().unwrap_err().kind(), ErrorKind::InvalidKey, "o20 named twice");
    }
    assert_eq!(answers[23].as_ref().unwrap_err().kind(), ErrorKind::InvalidKey, "an empty pk");
    // Accounts (20 items) in one transaction, orders' 9 puts in one and
    // their 2 deletes in one, which the missing order's failed condition
    // cancels: the other delete goes again, the missing one alone.
    assert!(requests.get(op::TRANSACT_WRITE_ITEMS) <= 4, "{:?}", requests.snapshot());
    let loaded: Vec<Account> =
        db.load_many::<Account, _>((0..10).map(|i| format!("{p}-a{i}"))).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(loaded, (0..10).map(account).collect::<Vec<_>>());
    assert!(db.load::<Order>(&format!("{p}-o9")).await.unwrap_err().is_not_found());
    assert!(db.load::<Order>(&format!("{p}-o20")).await.unwrap_err().is_not_found());
}

/// A packed delete applied with its answer lost: the retry finds the
/// objects gone, and each still answers `Ok`, as a single delete would.
async fn a_packed_delete_whose_answer_was_lost(target: Target) {
    let db = client(target).await;
    let store = people();
    db.store(&store).create_tables().await.unwrap();
    let keys: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
    assert!(db.store(&store).write_many(keys.iter().map(|k| (k.clone(), person()))).await.iter().all(Result::is_ok));
    let (faulty, injected) = db.clone().faulty(FaultPlan::seeded(6).fail_request(1, Fault::AppliedTimeout));
    let deleted = faulty.store(&store).delete_many(&keys).await;
    assert_eq!(injected.faults(Fault::AppliedTimeout), 1);
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    assert!(db.store(&store).read_many(&keys).await.iter().all(|r| r.as_ref().is_err_and(dystore::Error::is_not_found)));
}

conformance!(
    a_packed_delete_whose_answer_was_lost,
    batches_across_types,
    listing_yields_every_object_once,
    typed_listing,
    thousand_small_objects_take_ten_requests_each_way,
    objects_with_shards_pack_whole,
    each_object_gets_its_own_answer,
    objects_stored_otherwise_are_saved_alone,
    list_shards_go_alone,
    missing_tables_fail_every_object,
    typed_many,
    faults_are_retried,
);

#[test]
fn many_is_send() {
    fn send<T: Send>(_: T) {}
    let db = Client::memory().unwrap();
    let store = Store::new("t", "ID");
    send(async move { db.store(&store).read_many(["a"]).await });
}

/// What a call on many objects does to any mix of keys (repeated, absent,
/// invalid) and documents, against a model: each answer is what the single
/// call would say, a key named twice is refused without a write, and the
/// stored objects are the model's after every call.
mod model {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Call {
        Write(Vec<(String, i64)>),
        Delete(Vec<String>),
        Read(Vec<String>),
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![8 => "k[0-5]", 1 => Just(String::new()), 1 => Just("bad#$key".to_owned())]
    }

    fn call() -> impl Strategy<Value = Call> {
        prop_oneof![
            proptest::collection::vec((key(), 0i64..100), 0..8).prop_map(Call::Write),
            proptest::collection::vec(key(), 0..8).prop_map(Call::Delete),
            proptest::collection::vec(key(), 0..8).prop_map(Call::Read),
        ]
    }

    fn repeated(keys: &[&String]) -> impl Fn(&str) -> bool {
        let mut count: HashMap<String, usize> = HashMap::new();
        for k in keys {
            *count.entry((*k).clone()).or_default() += 1;
        }
        move |k| count.get(k).is_some_and(|n| *n > 1)
    }

    fn valid(key: &str) -> bool {
        !key.is_empty() && !key.contains("#$")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        #[test]
        fn many_calls_agree_with_a_model(calls in proptest::collection::vec(call(), 1..8), sharded in any::<bool>()) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let db = Client::memory().unwrap();
                let store = if sharded { people() } else { Store::new("Model", "ID") };
                let objects = db.store(&store);
                objects.create_tables().await.unwrap();
                let doc = |n: i64| if sharded { let mut d = person(); d["n"] = json!(n); d } else { json!({"n": n}) };
                let mut model: HashMap<String, i64> = HashMap::new();
                for call in calls {
                    match call {
                        Call::Write(entries) => {
                            let keys: Vec<&String> = entries.iter().map(|(k, _)| k).filter(|k| valid(k)).collect();
                            let twice = repeated(&keys);
                            let answers = objects.write_many(entries.iter().map(|(k, n)| (k.clone(), doc(*n)))).await;
                            for ((k, n), answer) in entries.iter().zip(answers) {
                                match answer {
                                    Ok(()) => {
                                        prop_assert!(valid(k) && !twice(k));
                                        model.insert(k.clone(), *n);
                                    }
                                    Err(e) => prop_assert!(e.kind() == ErrorKind::InvalidKey && (!valid(k) || twice(k)), "{e}"),
                                }
                            }
                        }
                        Call::Delete(keys) => {
                            let valid_keys: Vec<&String> = keys.iter().filter(|k| valid(k)).collect();
                            let twice = repeated(&valid_keys);
                            let answers = objects.delete_many(&keys).await;
                            for (k, answer) in keys.iter().zip(answers) {
                                match answer {
                                    Ok(()) => prop_assert!(model.remove(k).is_some() && !twice(k)),
                                    Err(e) if e.kind() == ErrorKind::NotFound => prop_assert!(!model.contains_key(k) && !twice(k)),
                                    Err(e) => prop_assert!(e.kind() == ErrorKind::InvalidKey && (!valid(k) || twice(k)), "{e}"),
                                }
                            }
                        }
                        Call::Read(keys) => {
                            let answers = objects.read_many(&keys).await;
                            for (k, answer) in keys.iter().zip(answers) {
                                match (answer, model.get(k)) {
                                    (Ok(found), Some(n)) => prop_assert!(common::same_json(&found, &doc(*n))),
                                    (Err(e), None) if valid(k) => prop_assert_eq!(e.kind(), ErrorKind::NotFound),
                                    (Err(e), None) => prop_assert_eq!(e.kind(), ErrorKind::InvalidKey),
                                    (answer, expected) => prop_assert!(false, "{k}: {answer:?} where the model has {expected:?}"),
                                }
                            }
                        }
                    }
                }
                // The stored objects are the model's.
                let mut listed: Vec<(String, Value)> = futures_util::TryStreamExt::try_collect(objects.list()).await.unwrap();
                listed.sort_by(|a, b| a.0.cmp(&b.0));
                let mut expected: Vec<(String, i64)> = model.into_iter().collect();
                expected.sort();
                prop_assert_eq!(listed.len(), expected.len());
                for ((k, found), (ek, n)) in listed.iter().zip(&expected) {
                    prop_assert_eq!(k, ek);
                    prop_assert!(common::same_json(found, &doc(*n)));
                }
                Ok(())
            })?;
        }
    }
}
