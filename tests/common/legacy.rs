//! Items in dynamo-store 0.6's format, built by hand for the tests that
//! need more shapes than the fixtures hold (see
//! `dystore/tests/fixtures/dynamo-store-0.6/FORMAT.md`).

use base64::Engine as _;
use dystore::backend::{Item, Scan, Write};
use dystore::{Client, Store};
use serde_dynamo::AttributeValue as A;
use serde_json::Value;
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
    let stored = base64::engine::general_purpose::STANDARD.decode(root["firstname"]["B"].as_str().expect("binary")).expect("wire base64");
    (fixture["key_string"].as_str().expect("key string").to_owned(), stored, "john")
}

/// A fixture file with every table renamed to a name unique to this test
/// (the names stand in the items' metadata and references too), so tests
/// that change items do not race the others over HTTP.
pub fn fixture(name: &str) -> (Value, impl Fn(&str) -> String) {
    let path = format!("{}/dystore/tests/fixtures/dynamo-store-0.6/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let suffix = super::table("");
    for t in ["DynamoStoreRootDB", "DynamoStoreShard1", "DynamoDBShard2", "DynamoStoreShard3Deep"] {
        text = text.replace(&format!("\"{t}\""), &format!("\"{t}{suffix}\""));
    }
    (serde_json::from_str(&text).unwrap(), move |t: &str| format!("{t}{suffix}"))
}

/// A value in DynamoDB's JSON wire form as an attribute value.
pub fn attr(wire: &Value) -> A {
    let (kind, v) = wire.as_object().and_then(|m| m.iter().next()).expect("one type key");
    let b64 = |s: &Value| base64::engine::general_purpose::STANDARD.decode(s.as_str().unwrap()).unwrap();
    let strings = |v: &Value| v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    match kind.as_str() {
        "S" => A::S(v.as_str().unwrap().to_owned()),
        "N" => A::N(v.as_str().unwrap().to_owned()),
        "B" => A::B(b64(v)),
        "BOOL" => A::Bool(v.as_bool().unwrap()),
        "NULL" => A::Null(true),
        "SS" => A::Ss(strings(v)),
        "NS" => A::Ns(strings(v)),
        "BS" => A::Bs(v.as_array().unwrap().iter().map(b64).collect()),
        "L" => A::L(v.as_array().unwrap().iter().map(attr).collect()),
        "M" => A::M(v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), attr(v))).collect()),
        other => panic!("unknown wire type {other}"),
    }
}

/// Creates the fixture's tables and puts its raw items.
pub async fn put_fixture(db: &Client, fixture: &Value) {
    for (table, content) in fixture["tables"].as_object().unwrap() {
        let key_name = content["hash_key"].as_str().unwrap();
        db.store(&Store::new(table.as_str(), key_name)).create_tables().await.unwrap();
        for item in content["items"].as_array().unwrap() {
            let item: Item = item.as_object().unwrap().iter().map(|(k, v)| (k.clone(), attr(v))).collect();
            db.backend().write(Write::Put { table: table.clone(), item, condition: None }).await.unwrap();
        }
    }
}
