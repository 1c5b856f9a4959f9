//! Reading what the Python package dynamo-store 0.6 wrote: the raw items of
//! `dystore/tests/fixtures/dynamo-store-0.6/` are put into their tables,
//! then every document is read back knowing only its root table, and must
//! be exactly the fixture's `expected`; on the embedded engine and over
//! HTTP. Also the malformed cases a reader must refuse by name.

mod common;

use base64::Engine as _;
use common::{Target, client};
use dystore::backend::{Item, Write, op};
use dystore::{Client, ErrorKind, FnLoader, Key, Store};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};
use std::collections::HashSet;

/// A fixture file with every table renamed to a name unique to this test
/// (the names stand in the items' metadata and references too), so tests
/// that change items do not race the others over HTTP.
fn fixture(name: &str) -> (Value, impl Fn(&str) -> String) {
    let path = format!("{}/dystore/tests/fixtures/dynamo-store-0.6/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let suffix = common::table("");
    for t in ["DynamoStoreRootDB", "DynamoStoreShard1", "DynamoDBShard2", "DynamoStoreShard3Deep"] {
        text = text.replace(&format!("\"{t}\""), &format!("\"{t}{suffix}\""));
    }
    (serde_json::from_str(&text).unwrap(), move |t: &str| format!("{t}{suffix}"))
}

/// A value in DynamoDB's JSON wire form as an attribute value.
fn attr(wire: &Value) -> AttributeValue {
    let (kind, v) = wire.as_object().and_then(|m| m.iter().next()).expect("one type key");
    let b64 = |s: &Value| base64::engine::general_purpose::STANDARD.decode(s.as_str().unwrap()).unwrap();
    let strings = |v: &Value| v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    match kind.as_str() {
        "S" => AttributeValue::S(v.as_str().unwrap().to_owned()),
        "N" => AttributeValue::N(v.as_str().unwrap().to_owned()),
        "B" => AttributeValue::B(b64(v)),
        "BOOL" => AttributeValue::Bool(v.as_bool().unwrap()),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(v)),
        "NS" => AttributeValue::Ns(strings(v)),
        "BS" => AttributeValue::Bs(v.as_array().unwrap().iter().map(b64).collect()),
        "L" => AttributeValue::L(v.as_array().unwrap().iter().map(attr).collect()),
        "M" => AttributeValue::M(v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), attr(v))).collect()),
        other => panic!("unknown wire type {other}"),
    }
}

/// Creates the fixture's tables and puts its raw items.
async fn put_fixture(db: &Client, fixture: &Value) {
    for (table, content) in fixture["tables"].as_object().unwrap() {
        let key_name = content["hash_key"].as_str().unwrap();
        db.store(&Store::new(table.as_str(), key_name)).create_tables().await.unwrap();
        for item in content["items"].as_array().unwrap() {
            let item: Item = item.as_object().unwrap().iter().map(|(k, v)| (k.clone(), attr(v))).collect();
            db.backend().write(Write::Put { table: table.clone(), item, condition: None }).await.unwrap();
        }
    }
}

/// The package's loader ported unchanged: a key string for the paths it
/// encrypted (asked in its own path form), `Key::from_legacy_string`.
fn loader(key_string: &str, paths: Option<HashSet<String>>) -> FnLoader {
    let key = Key::from_legacy_string(key_string);
    FnLoader::new()
        .on_key_for(move |path, _doc| paths.as_ref().is_none_or(|p| p.contains(path)).then(|| "legacy".to_owned()))
        .on_key(move |id| (id == "legacy").then(|| key.clone()))
}

async fn dict_documents_read_back_exactly(target: Target) {
    let (fixture, named) = fixture("documents.json");
    let db = client(target).await.with_loader(loader(fixture["key_string"].as_str().unwrap(), None));
    put_fixture(&db, &fixture).await;
    let (db, requests) = db.counted();
    for (name, doc) in fixture["documents"].as_object().unwrap() {
        let root = Store::new(doc["table"].as_str().unwrap(), "ID");
        requests.reset();
        let read = db.store(&root).read(doc["primary_key"].as_str().unwrap()).await.unwrap();
        assert_eq!(read, doc["expected"], "{name}");
        // The root, then one batched read per level of shards (two here).
        assert_eq!(requests.snapshot(), [(op::BATCH_GET_ITEM, 3)].into(), "{name}");
    }
    let root = Store::new(named("DynamoStoreRootDB"), "ID");
    assert_eq!(db.store(&root).read_path("compat-1", "$.location.city").await.unwrap(), [json!("Osaka")]);
    assert_eq!(
        db.store(&root).read_path("compat-2", "$.friends[1]").await.unwrap(),
        [fixture["documents"]["compat-2"]["expected"]["friends"][1].clone()]
    );
}

async fn class_objects_read_back_exactly(target: Target) {
    let (fixture, _) = fixture("objects.json");
    let mut db = client(target).await;
    put_fixture(&db, &fixture).await;
    for (name, doc) in fixture["documents"].as_object().unwrap() {
        let paths = doc["loader"]["encrypted_paths_by_loader"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
        db = db.with_loader(loader(fixture["key_string"].as_str().unwrap(), Some(paths)));
        let root = Store::new(doc["table"].as_str().unwrap(), "ID");
        let read = db.store(&root).read(doc["primary_key"].as_str().unwrap()).await.unwrap();
        assert_eq!(read, doc["expected"], "{name}: wrapped values, clear ones keeping their type, dead shard paths skipped");
    }
}

async fn malformed_legacy_objects_are_typed_errors(target: Target) {
    let (fixture, named) = fixture("documents.json");
    let key_string = fixture["key_string"].as_str().unwrap();
    let db = client(target).await.with_loader(loader(key_string, None));
    put_fixture(&db, &fixture).await;
    let (root_table, shard_table) = (named("DynamoStoreRootDB"), named("DynamoStoreShard1"));
    let root = Store::new(root_table.as_str(), "ID");

    // A wrong key string.
    let wrong = db.clone().with_loader(loader("not-the-key", None));
    let e = wrong.store(&root).read("compat-1").await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Authentication | ErrorKind::MalformedCiphertext), "{e}");
    assert!(e.path().is_some() && e.table().is_some() && e.key() == Some("compat-1"), "{e}");
    // No key for the path.
    let none = db.clone().with_loader(FnLoader::new());
    let e = none.store(&root).read("compat-1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingKey, "{e}");

    // A corrupt ciphertext (still base64 of whole blocks) and bad base64.
    let item = |key: &str| [("ID".to_owned(), AttributeValue::S(key.to_owned()))].into();
    let set = |key: &'static str, value: AttributeValue| {
        let mut update = dystore::backend::Expr { text: "SET #f = :v".into(), ..Default::default() };
        update.names.insert("#f".into(), "firstname".into());
        update.values.insert(":v".into(), value);
        Write::Update { table: root_table.clone(), key: item(key), update, condition: None }
    };
    let garbage = base64::engine::general_purpose::STANDARD.encode([7u8; 48]).into_bytes();
    db.backend().write(set("compat-1", AttributeValue::B(garbage))).await.unwrap();
    let e = db.store(&root).read("compat-1").await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Authentication | ErrorKind::MalformedCiphertext), "{e}");
    assert_eq!((e.path(), e.table()), (Some("$.firstname"), Some(root_table.as_str())), "{e}");

    // A missing shard item.
    let shard = fixture["tables"][&shard_table]["items"][0]["ID"]["S"].as_str().unwrap().to_owned();
    let key = [("ID".to_owned(), AttributeValue::S(shard))].into();
    db.backend().write(Write::Delete { table: shard_table.clone(), key, condition: None }).await.unwrap();
    let results = [db.store(&root).read("compat-1").await, db.store(&root).read("compat-2").await];
    let e = results.into_iter().find_map(Result::err).expect("the object whose shard is gone fails");
    assert_eq!((e.kind(), e.path(), e.table()), (ErrorKind::MissingShard, Some("$.birth_details"), Some(shard_table.as_str())), "{e}");
}

async fn legacy_objects_are_read_only_until_upgraded(target: Target) {
    let (fixture, named) = fixture("documents.json");
    let db = client(target).await.with_loader(loader(fixture["key_string"].as_str().unwrap(), None));
    put_fixture(&db, &fixture).await;
    let root = Store::new(named("DynamoStoreRootDB"), "ID");
    let objects = db.store(&root);
    let before = objects.read("compat-1").await.unwrap();
    let errors = [
        objects.write_path("compat-1", "$.firstname", json!("x")).await.unwrap_err(),
        objects.delete("compat-1").await.unwrap_err(),
        objects.write_with_key("compat-1", json!({"firstname": "x"})).await.unwrap_err(),
        objects.read_versioned("compat-1").await.unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.kind(), ErrorKind::Format, "{e}");
    }
    assert_eq!(objects.read("compat-1").await.unwrap(), before, "nothing changed");
}

conformance!(
    legacy_objects_are_read_only_until_upgraded,
    dict_documents_read_back_exactly,
    class_objects_read_back_exactly,
    malformed_legacy_objects_are_typed_errors
);
