//! Items in dynamo-store 0.6's format, built by hand for the tests that
//! need more shapes than the fixtures hold (see
//! `dystore/tests/fixtures/dynamo-store-0.6/FORMAT.md`).

use dystore::Client;
use dystore::backend::{Item, Scan, Write};
use serde_dynamo::AttributeValue as A;
use std::collections::HashMap;

/// A string attribute.
pub fn s(text: &str) -> A {
    A::S(text.to_owned())
}

/// The package's `__dystore_meta__` for an item of `table` at `path`
/// (`None` for a root), with the metadata of its shards.
pub fn legacy_meta(table: &str, key_name: &str, path: Option<&str>, shards: Vec<A>) -> A {
    A::M(HashMap::from([
        ("table_name".to_owned(), s(table)),
        ("region_name".to_owned(), s("us-east-2")),
        ("primary_key_name".to_owned(), s(key_name)),
        ("path".to_owned(), path.map_or(A::Null(true), s)),
        ("shards".to_owned(), A::L(shards)),
    ]))
}

/// The package's reference to the shard item keyed `key` in `table`.
pub fn legacy_ref(key: &str, table: &str) -> A {
    A::M(HashMap::from([
        ("primary_key".to_owned(), s(key)),
        ("table_name:".to_owned(), s(table)),
        ("region_name:".to_owned(), s("us-east-2")),
        ("modified_utc".to_owned(), s("1795252818")),
    ]))
}

/// Puts a raw item.
pub async fn put(db: &Client, table: &str, item: Vec<(&str, A)>) {
    let item: Item = item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    db.backend().write(Write::Put { table: table.to_owned(), item, condition: None }).await.expect("put a raw item");
}

/// Deletes a raw item.
pub async fn delete(db: &Client, table: &str, key_name: &str, key: &str) {
    let key: Item = [(key_name.to_owned(), s(key))].into();
    db.backend().write(Write::Delete { table: table.to_owned(), key, condition: None }).await.expect("delete a raw item");
}

/// Every item of `table`.
pub async fn items_of(db: &Client, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let scan = Scan { table: table.to_owned(), consistent: true, start: start.take(), ..Default::default() };
        let page = db.backend().scan(scan).await.expect("scan");
        items.extend(page.items);
        match page.last_key {
            Some(last) => start = Some(last),
            None => return items,
        }
    }
}

/// A ciphertext the package wrote (the fixture's `firstname` of
/// `compat-1`), its key string and its plaintext.
pub fn known_ciphertext() -> (String, Vec<u8>, &'static str) {
    let path = format!("{}/dystore/tests/fixtures/dynamo-store-0.6/documents.json", env!("CARGO_MANIFEST_DIR"));
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json");
    let root = fixture["tables"]["DynamoStoreRootDB"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["ID"]["S"] == "compat-1")
        .expect("compat-1")
        .clone();
    use base64::Engine as _;
    let stored = base64::engine::general_purpose::STANDARD.decode(root["firstname"]["B"].as_str().expect("binary")).expect("wire base64");
    (fixture["key_string"].as_str().expect("key string").to_owned(), stored, "john")
}
