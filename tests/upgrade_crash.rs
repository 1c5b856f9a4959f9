//! Upgrading a dynamo-store 0.6 object too large for one transaction (a
//! root and 120 list-element shards, in the package's format) survives a
//! crash after every request: the object reads the same at every point (the
//! legacy version or the upgraded one, never a mix or nothing), running the
//! upgrade again finishes the job, and then only the upgraded object's
//! format-1 items remain. On the embedded engine and over HTTP.

mod common;

use common::legacy::{items_of, legacy_meta, legacy_ref, s};
use common::{Target, client, table};
use dystore::backend::{Backend, Embedded, FaultPlan, Item, Write};
use dystore::{Client, Store, Upgrade};
use serde_dynamo::AttributeValue as A;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// List-element shards of the legacy object: past one transaction.
const PAGES: usize = 120;

/// Puts a legacy object keyed `key`: a root with a clear title and a list
/// whose every element is a shard item with a random key, as the package
/// wrote them; returns the document it reads as.
async fn put_legacy(db: &Client, root_table: &str, pages_table: &str, key: &str) -> Value {
    let mut refs = Vec::new();
    let mut shard_metas = Vec::new();
    for i in 0..PAGES {
        let path = format!("$.pages[{i}]");
        let shard_key = uuid::Uuid::new_v4().to_string();
        let item: Item = HashMap::from([
            ("PID".to_owned(), s(&shard_key)),
            ("text".to_owned(), s(&format!("page {i} of {key}"))),
            ("__dystore_meta__".to_owned(), legacy_meta(pages_table, "PID", Some(&path), vec![])),
        ]);
        db.backend().write(Write::Put { table: pages_table.to_owned(), item, condition: None }).await.expect("put a legacy shard");
        refs.push(legacy_ref(&shard_key, pages_table));
        shard_metas.push(legacy_meta(pages_table, "PID", Some(&path), vec![]));
    }
    let root: Item = HashMap::from([
        ("ID".to_owned(), s(key)),
        ("title".to_owned(), s("a long book")),
        ("pages".to_owned(), A::L(refs)),
        ("__dystore_meta__".to_owned(), legacy_meta(root_table, "ID", None, shard_metas)),
    ]);
    db.backend().write(Write::Put { table: root_table.to_owned(), item: root, condition: None }).await.expect("put the legacy root");
    let pages: Vec<Value> = (0..PAGES).map(|i| json!({"text": format!("page {i} of {key}")})).collect();
    json!({"title": "a long book", "pages": pages})
}

async fn an_upgrade_past_one_transaction_survives_a_crash_after_every_request(target: Target) {
    let (root_table, pages_table) = (table("UpRoot"), table("UpPages"));
    let store = Store::new(&root_table, "ID").shard(Store::new(&pages_table, "PID").at("$.pages[*]"));
    let embedded = (target == Target::Embedded).then(|| Arc::new(Embedded::memory().expect("engine")) as Arc<dyn Backend>);
    let new_client = async || match &embedded {
        Some(engine) => Client::from_backend(engine.clone()),
        None => client(target).await,
    };
    let survivor = new_client().await;
    survivor.store(&store).create_tables().await.expect("tables");

    let expected = put_legacy(&survivor, &root_table, &pages_table, "count").await;
    let (counted, requests) = new_client().await.counted();
    assert_eq!(counted.store(&store).upgrade("count").await.expect("upgrade"), Upgrade::Upgraded);
    assert_eq!(survivor.store(&store).read("count").await.expect("read"), expected);
    let total = requests.total();
    assert!(total >= 5, "a staged upgrade takes several requests: {total}");

    for n in 0..=total {
        let key = format!("book-{n}");
        let what = format!("{target:?}, crash after request {n} of {total}");
        let expected = put_legacy(&survivor, &root_table, &pages_table, &key).await;
        let (crashing, _) = new_client().await.faulty(FaultPlan::seeded(n as u64).crash_after(n));
        let outcome = crashing.store(&store).upgrade(&key).await;
        if n == total {
            assert_eq!(outcome.unwrap_or_else(|e| panic!("{what}: {e}")), Upgrade::Upgraded);
        }
        let read = survivor.store(&store).read(&key).await.unwrap_or_else(|e| panic!("{what}: a read after the crash failed: {e}"));
        assert_eq!(read, expected, "{what}: the document reads the same after the crash");

        // Running it again finishes the job.
        let again = survivor.store(&store).upgrade(&key).await.unwrap_or_else(|e| panic!("{what}: the retry failed: {e}"));
        assert!(matches!(again, Upgrade::Upgraded | Upgrade::AlreadyCurrent), "{what}");
        assert_eq!(survivor.store(&store).read(&key).await.expect("read"), expected, "{what}: after the retry");
        assert_eq!(survivor.store(&store).upgrade(&key).await.expect("third"), Upgrade::AlreadyCurrent, "{what}");
    }

    // Only format-1 items remain: one root and one item per page for every
    // object, nothing legacy, nothing orphaned.
    let objects = total + 2;
    let roots = items_of(&survivor, &root_table).await;
    assert_eq!(roots.len(), objects);
    let pages = items_of(&survivor, &pages_table).await;
    let mut per_object: HashMap<String, BTreeSet<String>> = HashMap::new();
    for item in &pages {
        let Some(A::M(meta)) = item.get("__dystore_meta__") else { panic!("a shard item without metadata") };
        assert_eq!(meta.get("version"), Some(&A::N("1".into())), "only format-1 items remain: {item:?}");
        let (Some(A::S(root)), Some(A::S(write_id))) = (meta.get("root"), meta.get("write_id")) else { panic!("{meta:?}") };
        per_object.entry(root.clone()).or_default().insert(write_id.clone());
    }
    assert_eq!(pages.len(), objects * PAGES, "one item per page per object");
    assert!(per_object.values().all(|ids| ids.len() == 1), "every object's items are of one save: {per_object:?}");
}

conformance!(an_upgrade_past_one_transaction_survives_a_crash_after_every_request);
