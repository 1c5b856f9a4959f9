//! Writers that meet: inserts that refuse to overwrite, and
//! read-modify-write changes retried under optimistic locking, on the
//! embedded engine (with a multi-threaded runtime) and over HTTP, where
//! requests really interleave. `cargo run --release --example contention`
//! runs the full 8 tasks × 500 increments.

mod common;

use common::{Target, client, table};
use dystore::{DyObject, ErrorKind, Store};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Tasks and increments per task in `cargo test`.
const TASKS: usize = 8;
const INCREMENTS: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_contention_Counter", key = "ID")]
struct Counter {
    #[dystore(pk)]
    id: String,
    count: u64,
}

async fn inserts_never_overwrite(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Insert"), "ID").shard(Store::new(table("InsertList"), "LID").at("$.items[*]"));
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    objects.create_with_key("k", json!({"v": 1, "items": [{"a": 1}]})).await.unwrap();
    let e = objects.create_with_key("k", json!({"v": 2, "items": []})).await.unwrap_err();
    assert_eq!((e.kind(), e.key()), (ErrorKind::Conflict, Some("k")), "{e}");
    assert_eq!(objects.read("k").await.unwrap(), json!({"v": 1, "items": [{"a": 1}]}), "nothing was overwritten");

    db.create_tables::<Counter>().await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    db.create(&Counter { id: id.clone(), count: 1 }).await.unwrap();
    let e = db.create(&Counter { id: id.clone(), count: 9 }).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(db.load::<Counter>(&id).await.unwrap().count, 1);
}

async fn versioned_deletes_lose_to_a_later_write(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("VDel"), "ID").shard(Store::new(table("VDelLoc"), "LID").at("$.loc"));
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    objects.write_with_key("k", json!({"loc": {"c": 1}})).await.unwrap();
    let read = objects.read_versioned("k").await.unwrap();
    objects.write_path("k", "$.loc.c", json!(2)).await.unwrap();
    let e = objects.delete_versioned(&read).await.unwrap_err();
    assert!(e.is_conflict(), "{e}");
    assert_eq!(objects.read("k").await.unwrap(), json!({"loc": {"c": 2}}), "the later write stands");
    let fresh = objects.read_versioned("k").await.unwrap();
    objects.delete_versioned(&fresh).await.unwrap();
    assert!(objects.read("k").await.unwrap_err().is_not_found());

    db.create_tables::<Counter>().await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    db.create(&Counter { id: id.clone(), count: 1 }).await.unwrap();
    let read = db.load_versioned::<Counter>(&id).await.unwrap();
    db.update::<Counter>(&id, |c| c.count += 1).await.unwrap();
    assert!(db.delete_versioned(&read).await.unwrap_err().is_conflict());
    let fresh = db.load_versioned::<Counter>(&id).await.unwrap();
    db.delete_versioned(&fresh).await.unwrap();
    assert!(db.load::<Counter>(&id).await.unwrap_err().is_not_found());
}

async fn versioned_path_writes_lose_to_a_later_write(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("VPath"), "ID").shard(Store::new(table("VPathLoc"), "LID").at("$.loc"));
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    objects.write_with_key("k", json!({"n": 0, "loc": {"c": 1}})).await.unwrap();
    let read = objects.read_versioned("k").await.unwrap();
    // In the root item and in a shard's, each returning the next revision.
    let next = objects.write_path_versioned(&read, "$.n", json!(1)).await.unwrap();
    let read = dystore::Versioned { revision: next, ..read };
    let next = objects.write_path_versioned(&read, "$.loc.c", json!(2)).await.unwrap();
    assert_eq!(objects.read_versioned("k").await.unwrap().revision, next);
    // The revision read before those writes is stale now, in either item.
    for path in ["$.n", "$.loc.c"] {
        let e = objects.write_path_versioned(&read, path, json!(99)).await.unwrap_err();
        assert!(e.is_conflict(), "{path}: {e}");
    }
    assert_eq!(objects.read("k").await.unwrap(), json!({"n": 1, "loc": {"c": 2}}), "the stale writes changed nothing");

    db.create_tables::<Counter>().await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    db.create(&Counter { id: id.clone(), count: 1 }).await.unwrap();
    let read = db.load_versioned::<Counter>(&id).await.unwrap();
    db.update::<Counter>(&id, |c| c.count += 1).await.unwrap();
    assert!(db.write_path_versioned(&read, "$.count", json!(7)).await.unwrap_err().is_conflict());
    let fresh = db.load_versioned::<Counter>(&id).await.unwrap();
    db.write_path_versioned(&fresh, "$.count", json!(7)).await.unwrap();
    assert_eq!(db.load::<Counter>(&id).await.unwrap().count, 7);
}

async fn concurrent_increments_all_count(target: Target) {
    let db = client(target).await;
    db.create_tables::<Counter>().await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    db.create(&Counter { id: id.clone(), count: 0 }).await.unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (db, id) = (db.clone(), id.clone());
            tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    db.update::<Counter>(&id, |c| c.count += 1).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(db.load::<Counter>(&id).await.unwrap().count, (TASKS * INCREMENTS) as u64, "no increment lost");

    // The dynamic form, on a document.
    let store = Store::new(table("Tally"), "ID");
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    objects.create_with_key("t", json!({"n": 0})).await.unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (db, store) = (db.clone(), store.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    db.store(&store)
                        .update("t", |mut doc| {
                            doc["n"] = json!(doc["n"].as_u64().unwrap() + 1);
                            Ok(doc)
                        })
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(objects.read("t").await.unwrap(), json!({"n": 40}));
}

mod embedded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versioned_deletes_lose_to_a_later_write() {
        super::versioned_deletes_lose_to_a_later_write(super::Target::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versioned_path_writes_lose_to_a_later_write() {
        super::versioned_path_writes_lose_to_a_later_write(super::Target::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inserts_never_overwrite() {
        super::inserts_never_overwrite(super::Target::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_increments_all_count() {
        super::concurrent_increments_all_count(super::Target::Embedded).await
    }
}

mod http {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versioned_deletes_lose_to_a_later_write() {
        super::versioned_deletes_lose_to_a_later_write(super::Target::Http).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versioned_path_writes_lose_to_a_later_write() {
        super::versioned_path_writes_lose_to_a_later_write(super::Target::Http).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inserts_never_overwrite() {
        super::inserts_never_overwrite(super::Target::Http).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_increments_all_count() {
        super::concurrent_increments_all_count(super::Target::Http).await
    }
}
