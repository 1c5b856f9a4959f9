//! Reading what the Python package dynamo-store 0.6 wrote: the raw items of
//! `dystore/tests/fixtures/dynamo-store-0.6/` are put into their tables,
//! then every document is read back knowing only its root table, and must
//! be exactly the fixture's `expected`; on the embedded engine and over
//! HTTP. Also the malformed cases a reader must refuse by name.

mod common;

use base64::Engine as _;
use common::legacy::{fixture, put_fixture};
use common::{Target, client};
use dystore::backend::Scan;
use dystore::backend::{Item, Write, op};
use dystore::{Client, DyObject, ErrorKind, FnLoader, Key, Store, Upgrade};
use serde::{Deserialize, Serialize};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};
use std::collections::HashSet;

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

/// The layout the package's own example had, on `named` tables, with
/// today's encryption marks (key "k1").
fn example_store(named: &impl Fn(&str) -> String) -> Store {
    Store::new(named("DynamoStoreRootDB"), "ID")
        .encrypt_with("$.firstname", "k1")
        .encrypt_with("$.lastname", "k1")
        .shard(Store::new(named("DynamoStoreShard1"), "ID").at("$.birth_details").encrypt_with("$.dob", "k1"))
        .shard(
            Store::new(named("DynamoDBShard2"), "IDX")
                .at("$.location")
                .encrypt_with("$.city", "k1")
                .shard(Store::new(named("DynamoStoreShard3Deep"), "ShardID").at("$.geolocation")),
        )
}

/// Old key string for the package's paths, "k1" for today's marks.
fn migrating_loader(key_string: &str) -> FnLoader {
    let (old, new) = (Key::from_legacy_string(key_string), Key::new([4u8; 32]).unwrap());
    FnLoader::new()
        // The package's paths never start with `$`; dystore's always do.
        .on_key_for(|path, _doc| (!path.starts_with('$')).then(|| "legacy".to_owned()))
        .on_key(move |id| match id.as_str() {
            "legacy" => Some(old.clone()),
            "k1" => Some(new.clone()),
            _ => None,
        })
}

async fn items_of(db: &Client, table: &str) -> Vec<Item> {
    db.backend().scan(Scan { table: table.to_owned(), consistent: true, ..Default::default() }).await.unwrap().items
}

async fn upgrades_rewrite_in_place_and_leave_only_format_1(target: Target) {
    let (fixture, named) = fixture("documents.json");
    let db = client(target).await.with_loader(migrating_loader(fixture["key_string"].as_str().unwrap()));
    put_fixture(&db, &fixture).await;
    let store = example_store(&named);
    let objects = db.store(&store);
    for (name, doc) in fixture["documents"].as_object().unwrap() {
        let key = doc["primary_key"].as_str().unwrap();
        assert_eq!(objects.upgrade(key).await.unwrap(), Upgrade::Upgraded, "{name}");
        assert_eq!(objects.read(key).await.unwrap(), doc["expected"], "{name}: the document is unchanged");
        assert_eq!(objects.upgrade(key).await.unwrap(), Upgrade::AlreadyCurrent, "{name}: a second upgrade changes nothing");
        let root = objects.read_raw(key).await.unwrap();
        assert_ne!(root["firstname"], doc["expected"]["firstname"], "{name}: sealed under today's marks");
    }
    for table in ["DynamoStoreRootDB", "DynamoStoreShard1", "DynamoDBShard2", "DynamoStoreShard3Deep"] {
        for item in items_of(&db, &named(table)).await {
            let Some(AttributeValue::M(meta)) = item.get("__dystore_meta__") else { panic!("{table}: an item without metadata") };
            assert_eq!(meta.get("version"), Some(&AttributeValue::N("1".into())), "{table}: only format-1 items remain");
        }
    }
    assert_eq!(items_of(&db, &named("DynamoStoreShard1")).await.len(), 2, "the legacy shard items are gone, the new ones there");
}

async fn a_whole_table_upgrades_and_a_rerun_changes_nothing(target: Target) {
    let (fixture, named) = fixture("documents.json");
    let db = client(target).await.with_loader(migrating_loader(fixture["key_string"].as_str().unwrap()));
    put_fixture(&db, &fixture).await;
    let store = example_store(&named);
    // A table holding both formats: each object is read by its own.
    db.store(&store).upgrade("compat-1").await.unwrap();
    for (name, doc) in fixture["documents"].as_object().unwrap() {
        assert_eq!(db.store(&store).read(doc["primary_key"].as_str().unwrap()).await.unwrap(), doc["expected"], "mixed: {name}");
    }
    let report = db.store(&store).upgrade_table().await.unwrap();
    assert_eq!((report.upgraded, report.already_current, report.failed.len()), (1, 1, 0), "{report:?}");
    let again = db.store(&store).upgrade_table().await.unwrap();
    assert_eq!((again.upgraded, again.already_current, again.failed.len()), (0, 2, 0), "{again:?}");
    for (name, doc) in fixture["documents"].as_object().unwrap() {
        assert_eq!(db.store(&store).read(doc["primary_key"].as_str().unwrap()).await.unwrap(), doc["expected"], "{name}");
    }
}

/// The package's class model as Rust structs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoStoreRootDB", key = "ID")]
struct Root {
    #[dystore(encrypt = "k1")]
    firstname: String,
    lastname: String,
    #[dystore(shard)]
    location: Location,
    #[dystore(shard)]
    birth_details: BirthDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoDBShard2", key = "IDX")]
struct Location {
    city: String,
    country: String,
    #[dystore(shard)]
    geolocation: GeoLocation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoStoreShard3Deep", key = "ShardID")]
struct GeoLocation {
    lattitude: f64,
    longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoStoreShard1", key = "ID")]
struct BirthDetails {
    #[dystore(encrypt = "k1")]
    dob: String,
    hospital: String,
}

/// Typed loads unwrap the class API's values, and with the opt-in read the
/// strings its decryption gave as the numbers the struct wants; a typed
/// upgrade stores the struct's own form. The derive names the tables, so
/// this test alone uses the fixture's own names.
async fn class_objects_load_typed_and_upgrade(target: Target) {
    let path = format!("{}/dystore/tests/fixtures/dynamo-store-0.6/objects.json", env!("CARGO_MANIFEST_DIR"));
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let db = client(target).await.with_loader(migrating_loader(fixture["key_string"].as_str().unwrap()));
    put_fixture(&db, &fixture).await;
    let e = db.load::<Root>("obj-1").await.unwrap_err();
    assert_eq!(
        (e.kind(), e.path()),
        (ErrorKind::Serialization, Some("$.location.geolocation.lattitude")),
        "strings stay strings by default: {e}"
    );
    let db = db.with_legacy_number_strings(true);
    let plain = &fixture["documents"]["obj-1"]["expected_plain"];
    let expected = Root {
        firstname: "Ada".into(),
        lastname: "Lovelace".into(),
        location: Location {
            city: "London".into(),
            country: "United Kingdom".into(),
            geolocation: GeoLocation { lattitude: 51.5074, longitude: -0.1278 },
        },
        birth_details: BirthDetails { dob: plain["birth_details"]["dob"].as_str().unwrap().into(), hospital: "St Marylebone".into() },
    };
    assert_eq!(db.load::<Root>("obj-1").await.unwrap(), expected);
    assert_eq!(db.upgrade::<Root>("obj-1").await.unwrap(), Upgrade::Upgraded);
    assert_eq!(db.load::<Root>("obj-1").await.unwrap(), expected, "the same object, now in format 1");
    assert_eq!(db.upgrade::<Root>("obj-1").await.unwrap(), Upgrade::AlreadyCurrent);
    let raw = db.objects(Root::layout()).read_raw("obj-1").await.unwrap();
    assert!(raw.get("__class__").is_none() && raw["location"]["geolocation"]["lattitude"] == json!(51.5074), "the struct's form: {raw}");
}

conformance!(
    a_whole_table_upgrades_and_a_rerun_changes_nothing,
    upgrades_rewrite_in_place_and_leave_only_format_1,
    class_objects_load_typed_and_upgrade,
    legacy_objects_are_read_only_until_upgraded,
    dict_documents_read_back_exactly,
    class_objects_read_back_exactly,
    malformed_legacy_objects_are_typed_errors
);
