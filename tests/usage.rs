//! What operations cost and what they tell: requests and capacity units
//! per operation (`Client::measure`) and per client (`Client::usage`), the
//! units by DynamoDB's item-size rules on both backends, one `tracing` span
//! per operation with its figures and never a value, retries as events, and
//! keys shown as a keyed hash or not at all.

mod common;

use common::recorder::recorded;
use common::{Target, client, people, person, table};
use dystore::backend::{Fault, FaultPlan};
use dystore::usage::Units;
use dystore::{Client, DyObject, KeyDisplay, Store};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Units as DynamoDB bills them: a strongly consistent read 1 per 4 KB of
/// each item, rounded up; a write 1 per 1 KB; transactions twice that.
async fn units_follow_dynamodb_item_size_rules(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Units"), "ID");
    let t = store.layout().table.to_string();
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();

    // One small item: one PutItem, 1 WCU.
    let (written, cost) = db.measure(objects.write_with_key("small", json!({"n": 1}))).await;
    written.unwrap();
    assert_eq!((cost.requests, cost.consumed.table(&t)), (1, Units { read: 0.0, write: 1.0 }));
    // An item of about 2.5 KB: 3 WCU to write, 1 RCU to read.
    let (written, cost) = db.measure(objects.write_with_key("mid", json!({"s": "x".repeat(2500)}))).await;
    written.unwrap();
    assert_eq!(cost.consumed.table(&t), Units { read: 0.0, write: 3.0 });
    let (read, cost) = db.measure(objects.read("mid")).await;
    read.unwrap();
    assert_eq!((cost.requests, cost.consumed.table(&t)), (1, Units { read: 1.0, write: 0.0 }));
    // About 9 KB: 3 RCU (4 KB each, rounded up).
    objects.write_with_key("big", json!({"s": "y".repeat(9000)})).await.unwrap();
    let (read, cost) = db.measure(objects.read("big")).await;
    read.unwrap();
    assert_eq!(cost.consumed.table(&t).read, 3.0);

    // Four small items in one transaction: 2 WCU each; read back in one
    // BatchGetItem: 1 RCU each.
    let people = people();
    let objects = db.store(&people);
    objects.create_tables().await.unwrap();
    let (written, cost) = db.measure(objects.write_with_key("ada", person())).await;
    written.unwrap();
    assert_eq!((cost.requests, cost.consumed.total()), (1, Units { read: 0.0, write: 8.0 }));
    assert_eq!(cost.consumed.tables().count(), 4, "every table's own figure");
    assert!(cost.consumed.tables().all(|(_, u)| u.write == 2.0));
    let (read, cost) = db.measure(objects.read("ada")).await;
    read.unwrap();
    assert_eq!((cost.requests, cost.consumed.total()), (1, Units { read: 4.0, write: 0.0 }));
}

/// The client's totals are the sum of its operations; concurrent tasks
/// each measure their own.
async fn totals_add_up_and_tasks_measure_their_own(target: Target) {
    let (db, requests) = client(target).await.counted();
    let store = Store::new(table("Totals"), "ID");
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    db.reset_usage();
    requests.reset();
    let work = |n: usize| {
        let db = db.clone();
        let store = store.clone();
        async move {
            db.measure(async {
                for i in 0..n {
                    db.store(&store).write_with_key(&format!("t{n}-{i}"), json!({"i": i})).await.unwrap();
                }
            })
            .await
            .1
        }
    };
    let (a, b) = tokio::join!(work(3), work(5));
    assert_eq!((a.requests, b.requests), (3, 5), "each task its own figures");
    assert_eq!((a.consumed.total().write, b.consumed.total().write), (3.0, 5.0));
    let total = db.usage();
    assert_eq!(total.requests as usize, requests.total(), "the client's count is the requests sent");
    assert_eq!(total.consumed.total().write, 8.0);
    let read = objects.read_many((0..3).map(|i| format!("t3-{i}"))).await;
    assert!(read.iter().all(Result::is_ok));
    assert_eq!(db.usage().consumed.total().read, 3.0);
}

conformance!(units_follow_dynamodb_item_size_rules, totals_add_up_and_tasks_measure_their_own);

/// Retries are counted, and the figures of a faulty run are still the
/// requests that reached the engine.
#[tokio::test]
async fn retries_are_counted() {
    let db = Client::memory().unwrap();
    let store = Store::new(table("Retried"), "ID");
    db.store(&store).create_tables().await.unwrap();
    let (db, injected) = db.faulty(FaultPlan::seeded(3).fail_fraction(0.5, &[Fault::Throttling]));
    let ((), usage) = db
        .measure(async {
            for i in 0..20 {
                db.store(&store).write_with_key(&format!("r{i}"), json!({})).await.unwrap();
            }
        })
        .await;
    assert!(injected.faults(Fault::Throttling) > 0);
    assert_eq!(usage.retries as usize, injected.faults(Fault::Throttling), "every throttled attempt was retried once");
    assert_eq!(usage.requests as usize, 20 + injected.faults(Fault::Throttling));
    assert_eq!(usage.consumed.total().write, 20.0, "only the writes that reached the engine consumed units");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_usage_Patient", key = "ID")]
struct Patient {
    #[dystore(pk)]
    email: String,
    #[dystore(encrypt)]
    diagnosis: String,
}

const SECRET_VALUE: &str = "hypertension-stage-2";

#[test]
fn one_span_per_operation_with_its_figures_and_no_values() {
    let ((), recorder) = recorded(async {
        let keyring = dystore::Keyring::new().with_key("k", dystore::Key::new([3u8; 32]).unwrap()).default_key("k");
        let db = Client::memory().unwrap().with_loader(keyring);
        db.create_tables::<Patient>().await.unwrap();
        // The save's first attempt is throttled.
        let (db, _) = db.faulty(FaultPlan::seeded(1).fail_request(1, Fault::Throttling));
        let p = Patient { email: "ada@example.com".into(), diagnosis: SECRET_VALUE.into() };
        db.save(&p).await.unwrap();
        assert_eq!(db.load::<Patient>(&p.email).await.unwrap(), p);
        db.load::<Patient>("nobody@example.com").await.unwrap_err();
    });
    let spans = recorder.spans.lock().unwrap().clone();
    let ours: Vec<_> = spans.iter().filter(|s| s["name"] == "dystore").collect();
    let ops: Vec<&str> = ours.iter().map(|s| s["operation"].as_str()).collect();
    assert_eq!(ops, vec!["create_tables", "save", "load", "load"], "one span per operation: {spans:#?}");
    let save = ours[1];
    assert_eq!(
        (save["table"].as_str(), save["key"].as_str(), save["requests"].as_str(), save["retries"].as_str(), save["outcome"].as_str()),
        ("dystore_usage_Patient", "ada@example.com", "2", "1", "ok"),
        "{save:?}"
    );
    assert_eq!((save["read_units"].as_str(), save["write_units"].as_str()), ("0.0", "1.0"));
    assert_eq!(ours[3]["outcome"], "NotFound");
    let events = recorder.events.lock().unwrap().clone();
    assert!(
        events.iter().any(|e| e.get("failure").is_some_and(|f| f == "throttled") && e.get("request").is_some()),
        "the retry is an event: {events:#?}"
    );
    let everything = format!("{spans:?}{events:?}");
    assert!(!everything.contains(SECRET_VALUE), "no value in spans or events");
}

#[test]
fn hidden_and_hashed_keys_stay_out_of_spans() {
    for (display, shown) in
        [(KeyDisplay::Hidden, None), (KeyDisplay::hashed(b"log secret"), KeyDisplay::hashed(b"log secret").show("ada@example.com"))]
    {
        let ((), recorder) = recorded(async {
            let keyring = dystore::Keyring::new().with_key("k", dystore::Key::new([3u8; 32]).unwrap()).default_key("k");
            let db = Client::memory().unwrap().with_loader(keyring).with_key_display(display);
            db.create_tables::<Patient>().await.unwrap();
            db.save(&Patient { email: "ada@example.com".into(), diagnosis: "x".into() }).await.unwrap();
        });
        let spans = recorder.spans.lock().unwrap().clone();
        assert!(!format!("{spans:?}").contains("ada@example.com"));
        let save = spans.iter().find(|s| s.get("operation").is_some_and(|o| o == "save")).unwrap();
        assert_eq!(save.get("key").cloned(), shown);
    }
}

/// Errors of every kind of operation under a key that is personal data:
/// the key never shows, in the message, the debug form, the key accessor,
/// the items left undone, or a cause.
async fn errors_keep_personal_keys_out(db: &Client, key: &str) -> Vec<dystore::Error> {
    let store = Store::new("dystore_usage_Hidden", "ID").shard(Store::new("dystore_usage_HiddenShard", "SID").at("$.s"));
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    let _ = objects.delete(key).await;
    let mut errors = vec![
        objects.read(key).await.unwrap_err(),
        objects.read_path(key, "$.s.x").await.unwrap_err(),
        objects.write_path(key, "$.s.x", json!(1)).await.unwrap_err(),
        objects.delete(key).await.unwrap_err(),
        db.load::<Patient>(key).await.unwrap_err(),
    ];
    errors.extend(objects.read_many([key, key]).await.into_iter().filter_map(Result::err));
    objects.write_with_key(key, json!({"s": {"x": 1}})).await.unwrap();
    errors.push(objects.create_with_key(key, json!({})).await.unwrap_err());
    errors.push(objects.write_many([(key, json!({})), (key, json!({}))]).await.remove(0).unwrap_err());
    // A call on many objects stopped by its deadline, and a listing that
    // meets an object it cannot read.
    let hurried = db.clone().with_deadline(Some(std::time::Duration::ZERO));
    errors.push(hurried.store(&store).read_many([key]).await.remove(0).unwrap_err());
    db.store(&Store::new("dystore_usage_Listed", "ID")).create_tables().await.unwrap();
    let marked = Store::new("dystore_usage_Listed", "ID").encrypt("$.secret");
    let keyring = dystore::Keyring::new().with_key("k", dystore::Key::new([3u8; 32]).unwrap()).default_key("k");
    db.clone().with_loader(keyring).store(&marked).write_with_key(key, json!({"secret": "s"})).await.unwrap();
    let listed: Vec<_> = futures_util::StreamExt::collect(db.store(&marked).list()).await;
    errors.extend(listed.into_iter().filter_map(Result::err));
    let typed = Store::new("dystore_usage_Patient", "ID");
    db.store(&typed).create_tables().await.unwrap();
    db.store(&typed).write_with_key(key, json!({"diagnosis": 5})).await.unwrap();
    errors.push(db.load::<Patient>(key).await.unwrap_err());
    errors.extend(db.load_many::<Patient, _>([key]).await.into_iter().filter_map(Result::err));
    let _ = objects.delete(key).await;
    errors
}

#[test]
fn keys_in_errors_as_the_client_shows_them() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let key = "ada.lovelace@example.com";
        let plain = errors_keep_personal_keys_out(&Client::memory().unwrap(), key).await;
        assert!(plain.len() >= 10);
        assert!(plain.iter().all(|e| e.key() == Some(key)), "by default keys show as stored: {plain:#?}");
        for display in [KeyDisplay::Hidden, KeyDisplay::hashed([9u8; 32])] {
            let db = Client::memory().unwrap().with_key_display(display.clone());
            let errors = errors_keep_personal_keys_out(&db, key).await;
            assert_eq!(errors.len(), plain.len());
            for e in &errors {
                let shown = format!("{e} {e:?} {:?} {:?}", e.key(), e.undone());
                let mut source = std::error::Error::source(e);
                let mut causes = String::new();
                while let Some(s) = source {
                    causes.push_str(&s.to_string());
                    source = s.source();
                }
                assert!(!shown.contains(key) && !causes.contains(key), "{shown} / {causes}");
                assert_eq!(e.key().map(str::to_owned), display.show(key), "{e}");
            }
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Any key, shown hashed, is the same hash every time and never the
    /// key; hashes of different keys differ.
    #[test]
    fn hashed_keys_are_stable_and_opaque(a in "[a-zA-Z0-9._+-]{1,30}@[a-z.]{3,20}", b in "[a-zA-Z0-9._+-]{1,30}@[a-z.]{3,20}") {
        let shown = KeyDisplay::hashed(b"secret");
        let (ha, hb) = (shown.show(&a).unwrap(), shown.show(&b).unwrap());
        prop_assert_eq!(&ha, &shown.show(&a).unwrap());
        prop_assert!(ha.starts_with("h:") && ha.len() == 18);
        prop_assert!(!ha.contains(&a));
        prop_assert_eq!(a == b, ha == hb);
        prop_assert_ne!(ha, KeyDisplay::hashed(b"other secret").show(&a).unwrap());
    }
}
