//! Leaves larger than an item: a 5 MB document with a 2 MB encrypted field
//! saves and loads, reads and writes by path; a chunk tampered with,
//! swapped or dropped is an authentication or inconsistency error, never
//! wrong data; a document over dystore's limit fails before anything is
//! written. On the embedded engine and over HTTP.

mod common;

use common::legacy::items_of;
use common::{Target, client, table};
use dystore::backend::{Item, Write};
use dystore::{Client, ErrorKind, Key, Keyring, RetryPolicy, Store};
use serde_dynamo::AttributeValue as A;
use serde_json::{Value, json};
use std::time::Duration;

const MB: usize = 1024 * 1024;

fn keyring() -> Keyring {
    Keyring::new().with_key("k", Key::new([9u8; 32]).unwrap()).default_key("k")
}

fn store(tables: &[String; 2]) -> Store {
    Store::new(&tables[0], "ID").encrypt("$.body").shard(Store::new(&tables[1], "NID").at("$.notes").encrypt("$.text"))
}

/// About 5 MB: a 2 MB encrypted body, three 1 MB attachments in clear, and
/// a 500 KB encrypted note in a shard.
fn document(tag: &str) -> Value {
    let body: String = (0..2 * MB).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let attachments: Vec<Value> = (0..3).map(|i| json!(format!("{tag}{i}").repeat(MB / 2))).collect();
    json!({"title": tag, "body": format!("{tag}:{body}"), "attachments": attachments, "notes": {"text": "é".repeat(250 * 1024), "n": 1}})
}

async fn ready(target: Target) -> (Client, Store, [String; 2]) {
    let policy =
        RetryPolicy { deadline: Duration::from_secs(2), first_backoff: Duration::from_millis(5), max_backoff: Duration::from_millis(50) };
    let db = client(target).await.with_loader(keyring()).with_retry_policy(policy);
    let tables = [table("Leaves"), table("LeafNotes")];
    let store = store(&tables);
    db.store(&store).create_tables().await.unwrap();
    (db, store, tables)
}

/// The chunk items of `key` in `table`, by chunk number.
async fn chunks(db: &Client, table: &str, key_name: &str, key: &str) -> Vec<Item> {
    let mut found: Vec<(usize, Item)> = items_of(db, table)
        .await
        .into_iter()
        .filter_map(|item| {
            let A::S(k) = item.get(key_name)? else { return None };
            let A::M(meta) = item.get("__dystore_meta__")? else { return None };
            let (A::S(root), A::S(path), A::N(n)) = (meta.get("root")?, meta.get("path")?, meta.get("chunk")?) else { return None };
            (root == key && path == "$.body" && k.contains("#c")).then(|| (n.parse().unwrap(), item.clone()))
        })
        .collect();
    found.sort_by_key(|(n, _)| *n);
    found.into_iter().map(|(_, item)| item).collect()
}

async fn a_5_mb_document_with_a_2_mb_encrypted_field_round_trips(target: Target) {
    let (db, store, tables) = ready(target).await;
    let objects = db.store(&store);
    let doc = document("v1");
    objects.write_with_key("big", doc.clone()).await.unwrap();
    assert_eq!(objects.read("big").await.unwrap(), doc);
    assert_eq!(objects.read_path("big", "$.body").await.unwrap(), [doc["body"].clone()]);
    assert_eq!(objects.read_path("big", "$.title").await.unwrap(), [json!("v1")]);
    assert_eq!(objects.read_path("big", "$.notes.text").await.unwrap(), [doc["notes"]["text"].clone()]);

    // The body is stored sealed, in chunks, none of which holds plaintext.
    let pieces = chunks(&db, &tables[0], "ID", "big").await;
    assert!(pieces.len() >= 6, "2 MB in chunks of at most 380 KB: {}", pieces.len());
    for piece in &pieces {
        let A::B(bytes) = &piece["data"] else { panic!("an encrypted leaf's chunks are binary") };
        assert!(!bytes.windows(26).any(|w| w == b"abcdefghijklmnopqrstuvwxyz"), "no plaintext in a chunk");
    }

    // write_path into the item that holds large leaves writes the object whole.
    objects.write_path("big", "$.title", json!("renamed")).await.unwrap();
    let mut expected = doc.clone();
    expected["title"] = json!("renamed");
    assert_eq!(objects.read("big").await.unwrap(), expected);

    // Saved again, smaller: the chunks it no longer needs are gone.
    let small = json!({"title": "small", "body": "short", "attachments": [], "notes": {"text": "t", "n": 2}});
    objects.write_with_key("big", small.clone()).await.unwrap();
    assert_eq!(objects.read("big").await.unwrap(), small);
    assert_eq!(items_of(&db, &tables[0]).await.len() + items_of(&db, &tables[1]).await.len(), 2, "the root and the note remain");

    objects.write_with_key("big", doc.clone()).await.unwrap();
    objects.delete("big").await.unwrap();
    assert!(items_of(&db, &tables[0]).await.is_empty() && items_of(&db, &tables[1]).await.is_empty(), "a delete takes every chunk");
}

async fn put(db: &Client, table: &str, item: Item) {
    db.backend().write(Write::Put { table: table.to_owned(), item, condition: None }).await.unwrap();
}

async fn chunks_tampered_with_swapped_or_dropped_never_read_as_data(target: Target) {
    let (db, store, tables) = ready(target).await;
    let objects = db.store(&store);
    let doc = document("t");
    for (i, case) in ["tampered", "swapped", "dropped", "cut short"].into_iter().enumerate() {
        let key = format!("case-{i}");
        objects.write_with_key(&key, doc.clone()).await.unwrap();
        let mut pieces = chunks(&db, &tables[0], "ID", &key).await;
        match case {
            "tampered" => {
                if let A::B(bytes) = pieces[1].get_mut("data").unwrap() {
                    bytes[100] ^= 1;
                }
                put(&db, &tables[0], pieces[1].clone()).await;
            }
            "swapped" => {
                let (first, second) = (pieces[0]["data"].clone(), pieces[1]["data"].clone());
                pieces[0].insert("data".into(), second);
                pieces[1].insert("data".into(), first);
                put(&db, &tables[0], pieces[0].clone()).await;
                put(&db, &tables[0], pieces[1].clone()).await;
            }
            "dropped" => {
                let key = [("ID".to_owned(), pieces[2]["ID"].clone())].into();
                db.backend().write(Write::Delete { table: tables[0].clone(), key, condition: None }).await.unwrap();
            }
            _ => {
                let last = pieces.last_mut().unwrap();
                if let A::B(bytes) = last.get_mut("data").unwrap() {
                    bytes.truncate(bytes.len() - 16);
                }
                put(&db, &tables[0], last.clone()).await;
            }
        }
        let e = objects.read(&key).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Authentication | ErrorKind::Inconsistent), "{case}: {e}");
        assert_eq!(e.key(), Some(key.as_str()), "{case}: {e}");
        let e = objects.read_path(&key, "$.body").await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Authentication | ErrorKind::Inconsistent), "{case}: {e}");
    }
}

async fn a_document_over_the_limit_fails_before_anything_is_written(target: Target) {
    let (db, store, tables) = ready(target).await;
    let huge = json!({"title": "huge", "attachments": (0..65).map(|_| json!("x".repeat(MB))).collect::<Vec<_>>()});
    let e = db.store(&store).write_with_key("huge", huge).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ItemTooLarge, "{e}");
    assert!(e.to_string().contains("64 MiB"), "the error says the limit: {e}");
    assert!(items_of(&db, &tables[0]).await.is_empty(), "nothing was written");
}

conformance!(
    a_5_mb_document_with_a_2_mb_encrypted_field_round_trips,
    chunks_tampered_with_swapped_or_dropped_never_read_as_data,
    a_document_over_the_limit_fails_before_anything_is_written,
);
