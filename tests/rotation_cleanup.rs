//! A rotation that is interrupted while it rewrites an object past one
//! transaction (a staged save), or that finds the leftovers of a delete
//! that was interrupted, leaves items recorded as owed deletion in the
//! object's root. They may hold ciphertext under the old key: a
//! verification must not pass while they are there, and the next rotation
//! must delete them, even when every leaf of the object is current.
//!
//! Each case crashes the operation after every one of its requests
//! (`FaultPlan::crash_after`), then checks what is stored item by item.

mod common;

use common::{Target, client, table};
use dystore::backend::{FaultPlan, Scan};
use dystore::rotate::Rotation;
use dystore::{Client, ErrorKind, Key, Keyring, PathPattern, Store};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};

/// List-shard elements of the large object: more items than one
/// transaction takes, so its rewrite is staged.
const CARDS: usize = 101;

fn key(byte: u8) -> Key {
    Key::new([byte; 32]).unwrap()
}

/// A keyring holding `keys`, naming `current` for every encrypted path.
fn keyring(keys: &[(&str, u8)], current: &str) -> Keyring {
    let ring = keys.iter().fold(Keyring::new(), |ring, (id, byte)| ring.with_key(*id, key(*byte)));
    ring.rule(PathPattern::exact("$.body").unwrap(), current).rule(PathPattern::exact("$.cards[*].number").unwrap(), current)
}

/// A root with a large encrypted leaf (in chunk items) and a list shard
/// with an encrypted field per element.
fn layout() -> Store {
    Store::new(table("CleanPeople"), "ID").shard(Store::new(table("CleanCards"), "KID").at("$.cards[*]"))
}

fn large() -> Value {
    let cards: Vec<Value> = (0..CARDS).map(|i| json!({"number": format!("4000-{i}"), "n": i})).collect();
    json!({"name": "large", "body": "b".repeat(410 * 1024), "cards": cards})
}

fn small() -> Value {
    json!({"name": "small", "body": "body", "cards": [{"number": "5000"}]})
}

/// Every table of `store`, with its key attribute.
fn tables(store: &Store) -> Vec<String> {
    let layout = store.layout();
    vec![layout.table.to_string(), layout.shards[0].layout.table.to_string()]
}

/// How many ciphertexts under `key_id` are stored anywhere in `tables`,
/// item by item: whole ones, and the first pieces of those split across
/// chunk items (which start with the envelope's header: format 1, the key
/// id's length, the key id).
async fn ciphertexts_under(db: &Client, tables: &[String], key_id: &str) -> usize {
    fn walk(value: &AttributeValue, key_id: &str) -> usize {
        match value {
            AttributeValue::B(bytes) => {
                let header = [&[1, key_id.len() as u8][..], key_id.as_bytes()].concat();
                usize::from(dystore::crypto::envelope_key_id(bytes).is_ok_and(|id| id == key_id) || bytes.starts_with(&header))
            }
            AttributeValue::L(items) => items.iter().map(|v| walk(v, key_id)).sum(),
            AttributeValue::M(map) => map.values().map(|v| walk(v, key_id)).sum(),
            _ => 0,
        }
    }
    let mut found = 0;
    for table in tables {
        let mut start = None;
        loop {
            let scan = Scan { table: table.clone(), segment: None, start: start.take(), limit: None, consistent: true };
            let page = db.backend().scan(scan).await.unwrap();
            found += page.items.iter().flat_map(|item| item.values()).map(|v| walk(v, key_id)).sum::<usize>();
            match page.last_key {
                Some(last) => start = Some(last),
                None => break,
            }
        }
    }
    found
}

/// Seeds the large object and a small one under key A.
async fn seed(db: &Client, store: &Store) {
    let old = db.clone().with_loader(keyring(&[("A", 1)], "A"));
    old.store(store).create_tables().await.unwrap();
    old.store(store).write_with_key("large", large()).await.unwrap();
    old.store(store).write_with_key("small", small()).await.unwrap();
}

/// After whatever a crash left: a verification passes only if no item
/// holds a ciphertext under A; the next rotation deletes every one, and
/// the objects read back whole with B alone. Returns whether the crash
/// left items owed deletion (the verification reported them).
async fn check_after_crash(what: &str, db: &Client, store: &Store, state: &str, objects: &[(&str, Value)]) -> bool {
    let root_only = Store::new(store.layout().table.to_string(), "ID");
    let verified = Rotation::new(db, root_only.layout()).verify(Some("A")).await.unwrap();
    let left = ciphertexts_under(db, &tables(store), "A").await;
    assert!(!verified.ok() || left == 0, "{what}: verify passed with {left} ciphertexts under A stored: {verified:#?}");
    let owed = verified.failures.iter().find(|f| f.kind == ErrorKind::Unfinished);
    if let Some(failure) = owed {
        assert!(failure.message.contains("owed deletion") && verified.owing > 0, "{what}: {failure:?}");
    }

    let rotation = Rotation::new(db, root_only.layout()).state_table(state).owner("rotator");
    let done = rotation.rotate().await.unwrap_or_else(|e| panic!("{what}: the rotation after the crash failed: {e}"));
    assert_eq!(done.failed, 0, "{what}: {:#?}", done.failures);
    let verified = Rotation::new(db, root_only.layout()).verify(Some("A")).await.unwrap();
    assert!(verified.ok() && verified.owing == 0, "{what}: {verified:#?}");
    assert_eq!(ciphertexts_under(db, &tables(store), "A").await, 0, "{what}: ciphertexts under A left after the rotation");
    let only_b = db.clone().with_loader(keyring(&[("B", 2)], "B"));
    for (key, doc) in objects {
        assert_eq!(&only_b.store(store).read(key).await.unwrap(), doc, "{what}: `{key}` read back");
    }
    owed.is_some()
}

/// A rotation crashed after each of its requests, then checked.
async fn an_interrupted_rotation_leaves_no_ciphertext_under_the_old_key(target: Target) {
    let base = client(target).await;
    let objects = [("large", large()), ("small", small())];
    let mut owed_seen = 0;
    for n in 1.. {
        let (store, state) = (layout(), table("CleanState"));
        seed(&base, &store).await;
        let db = base.clone().with_loader(keyring(&[("A", 1), ("B", 2)], "B"));
        let (crashing, injected) = db.clone().faulty(FaultPlan::seeded(n as u64).crash_after(n));
        let root_only = Store::new(store.layout().table.to_string(), "ID");
        let crashed = Rotation::new(&crashing, root_only.layout()).state_table(&state).owner("rotator").rotate().await;
        if injected.cut() == 0 {
            assert!(crashed.is_ok(), "{crashed:?}");
            break;
        }
        owed_seen += usize::from(check_after_crash(&format!("crash after request {n}"), &db, &store, &state, &objects).await);
    }
    assert!(owed_seen > 0, "some crash point left items owed deletion (the case under test)");
}

/// A staged delete of the large object crashed after each of its
/// requests: its tombstone records items under A until a rotation
/// finishes it.
async fn a_deleted_objects_leftovers_fail_verification_until_rotated(target: Target) {
    let base = client(target).await;
    let mut owed_seen = 0;
    for n in 1.. {
        let (store, state) = (layout(), table("CleanState"));
        seed(&base, &store).await;
        let (crashing, injected) = base.clone().with_loader(keyring(&[("A", 1)], "A")).faulty(FaultPlan::seeded(n as u64).crash_after(n));
        let deleted = crashing.store(&store).delete("large").await;
        if injected.cut() == 0 {
            assert!(deleted.is_ok(), "{deleted:?}");
            break;
        }
        let db = base.clone().with_loader(keyring(&[("A", 1), ("B", 2)], "B"));
        // Before its commit point the delete left the object as it was.
        let survived = db.store(&store).read("large").await.is_ok();
        let objects: Vec<(&str, Value)> = survived.then(|| ("large", large())).into_iter().chain([("small", small())]).collect();
        owed_seen += usize::from(check_after_crash(&format!("delete crashed after request {n}"), &db, &store, &state, &objects).await);
    }
    assert!(owed_seen > 0, "some crash point left a tombstone owing deletes (the case under test)");
}

conformance!(an_interrupted_rotation_leaves_no_ciphertext_under_the_old_key, a_deleted_objects_leftovers_fail_verification_until_rotated);
