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
/// Today's layout of the fixture's objects, marking every path the
/// package encrypted (an upgrade never stores those in clear).
fn example_store(named: &impl Fn(&str) -> String) -> Store {
    Store::new(named("DynamoStoreRootDB"), "ID")
        .encrypt_with("$.firstname", "k1")
        .encrypt_with("$.lastname", "k1")
        .encrypt_with("$.friends[*]", "k1")
        .encrypt_with("$.locales[*].type", "k1")
        .shard(
            Store::new(named("DynamoStoreShard1"), "ID").at("$.birth_details").encrypt_with("$.dob", "k1").encrypt_with("$.hospital", "k1"),
        )
        .shard(
            Store::new(named("DynamoDBShard2"), "IDX").at("$.location").encrypt_with("$.city", "k1").encrypt_with("$.country", "k1").shard(
                Store::new(named("DynamoStoreShard3Deep"), "ShardID")
                    .at("$.geolocation")
                    .encrypt_with("$.lattitude", "k1")
                    .encrypt_with("$.longitude", "k1"),
            ),
        )
}

/// The fixture's layout without a mark.
fn unmarked_store(named: &impl Fn(&str) -> String) -> Store {
    Store::new(named("DynamoStoreRootDB"), "ID").shard(Store::new(named("DynamoStoreShard1"), "ID").at("$.birth_details")).shard(
        Store::new(named("DynamoDBShard2"), "IDX")
            .at("$.location")
            .shard(Store::new(named("DynamoStoreShard3Deep"), "ShardID").at("$.geolocation")),
    )
}

/// A path as the package wrote it (`friends.[0]`) in dystore's form
/// (`$.friends[0]`).
fn dystore_path(package: &str) -> String {
    format!("$.{package}").replace(".[", "[")
}

/// The fixture table holding the leaf at a package path.
fn table_of(package: &str) -> &'static str {
    match package.split('.').take(2).collect::<Vec<_>>().as_slice() {
        ["birth_details", ..] => "DynamoStoreShard1",
        ["location", "geolocation"] => "DynamoStoreShard3Deep",
        ["location", ..] => "DynamoDBShard2",
        _ => "DynamoStoreRootDB",
    }
}

/// The old key for the package's paths; "k1" for today's paths in `sealed`.
fn sealing_loader(key_string: &str, sealed: HashSet<String>) -> FnLoader {
    let (old, new) = (Key::from_legacy_string(key_string), Key::new([4u8; 32]).unwrap());
    FnLoader::new()
        .on_key_for(move |path, _doc| match path.starts_with('$') {
            false => Some("legacy".to_owned()),
            true => sealed.contains(path).then(|| "k1".to_owned()),
        })
        .on_key(move |id| match id.as_str() {
            "legacy" => Some(old.clone()),
            "k1" => Some(new.clone()),
            _ => None,
        })
}

/// Every string and number in a stored value (binaries as lossy UTF-8).
fn strings(value: &AttributeValue, out: &mut Vec<String>) {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => out.push(s.clone()),
        AttributeValue::B(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        AttributeValue::Ss(v) | AttributeValue::Ns(v) => out.extend(v.iter().cloned()),
        AttributeValue::L(items) => items.iter().for_each(|v| strings(v, out)),
        AttributeValue::M(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// An upgrade never stores in clear what the package encrypted (the
/// break test's finding: MIGRATING.md's example upgrade, whose layout
/// marked only `$.firstname`, stored 12 of `compat-2`'s 13 encrypted values
/// in clear). For every encrypted path of every document, today's loader
/// sealing every other one: `MissingKey` naming the table, key and path,
/// and nothing written; sealing them all, the upgrade goes through and no
/// item holds any of their plaintexts; exempting one with `no_encrypt`
/// stores that one in clear, on purpose.
async fn an_upgrade_never_stores_in_clear_what_the_package_encrypted(target: Target) {
    let (fixture, named) = fixture("documents.json");
    let key_string = fixture["key_string"].as_str().unwrap();
    let db = client(target).await;
    put_fixture(&db, &fixture).await;
    let store = unmarked_store(&named);
    let tables = ["DynamoStoreRootDB", "DynamoStoreShard1", "DynamoDBShard2", "DynamoStoreShard3Deep"];
    let before: Vec<Vec<Item>> = all_items(&db, &tables, &named).await;
    for (name, doc) in fixture["documents"].as_object().unwrap() {
        let key = doc["primary_key"].as_str().unwrap();
        let encrypted: Vec<&str> = doc["encrypted_paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        let all: HashSet<String> = encrypted.iter().map(|p| dystore_path(p)).collect();
        for left_out in &encrypted {
            let mut sealed = all.clone();
            sealed.remove(&dystore_path(left_out));
            let db = db.clone().with_loader(sealing_loader(key_string, sealed));
            let e = db.store(&store).upgrade(key).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::MissingKey, "{name} without {left_out}: {e}");
            let expected_path = dystore_path(left_out);
            assert_eq!(
                (e.table(), e.key(), e.path()),
                (Some(named(table_of(left_out)).as_str()), Some(key), Some(expected_path.as_str())),
                "{name} without {left_out}: {e}"
            );
            let clear = read_leaf(&doc["expected"], left_out);
            assert!(clear.len() < 4 || !format!("{e} {e:?}").contains(&clear), "{name}: the plaintext of {left_out} in the error");
        }
        assert_eq!(all_items(&db, &tables, &named).await, before, "{name}: a refused upgrade writes nothing");
    }
    for (name, doc) in fixture["documents"].as_object().unwrap() {
        let key = doc["primary_key"].as_str().unwrap();
        let encrypted: Vec<&str> = doc["encrypted_paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        let sealed = encrypted.iter().map(|p| dystore_path(p)).collect();
        let db = db.clone().with_loader(sealing_loader(key_string, sealed));
        assert_eq!(db.store(&store).upgrade(key).await.unwrap(), Upgrade::Upgraded, "{name}");
        assert_eq!(db.store(&store).read(key).await.unwrap(), doc["expected"], "{name}");
        // The object's own items: keyed by its key, or by its key and a path.
        let mut stored = Vec::new();
        for (table, key_name) in tables.iter().zip(["ID", "ID", "IDX", "ShardID"]) {
            for item in items_of(&db, &named(table)).await {
                let own = matches!(item.get(key_name), Some(AttributeValue::S(k)) if k == key || k.starts_with(&format!("{key}#")));
                if own {
                    strings(&AttributeValue::M(item), &mut stored);
                }
            }
        }
        assert!(stored.len() > encrypted.len(), "{name}: the object's items were found");
        for path in &encrypted {
            let plain = dystore_path(path);
            let clear = read_leaf(&doc["expected"], path);
            assert!(!stored.iter().any(|s| s == &clear), "{name}: `{clear}` (at {plain}) is stored in clear");
        }
    }
    // On purpose: `no_encrypt` stores a value in clear.
    let (fixture, named) = common::legacy::fixture("documents.json");
    let db = client(target).await;
    put_fixture(&db, &fixture).await;
    let doc = &fixture["documents"]["compat-1"];
    let mut sealed: HashSet<String> =
        doc["encrypted_paths"].as_array().unwrap().iter().map(|p| dystore_path(p.as_str().unwrap())).collect();
    sealed.remove("$.lastname");
    let db = db.with_loader(sealing_loader(key_string, sealed));
    let exempt = unmarked_store(&named).no_encrypt("$.lastname");
    assert_eq!(db.store(&exempt).upgrade("compat-1").await.unwrap(), Upgrade::Upgraded);
    assert_eq!(db.store(&exempt).read_raw("compat-1").await.unwrap()["lastname"], doc["expected"]["lastname"], "exempt: in clear");
}

/// The leaf at a package path of a document.
fn read_leaf(doc: &Value, package: &str) -> String {
    let mut at = doc;
    for step in package.split('.') {
        at = match step.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            Some(i) => &at[i.parse::<usize>().unwrap()],
            None => &at[step],
        };
    }
    at.as_str().map_or_else(|| at.to_string(), str::to_owned)
}

/// Every item of each table, in a stable order.
async fn all_items(db: &Client, tables: &[&str], named: &impl Fn(&str) -> String) -> Vec<Vec<Item>> {
    let mut all = Vec::new();
    for table in tables {
        let mut items = items_of(db, &named(table)).await;
        items.sort_by_key(|i| format!("{:?}", i.iter().collect::<std::collections::BTreeMap<_, _>>()));
        all.push(items);
    }
    all
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
    #[dystore(encrypt = "k1")]
    lastname: String,
    #[dystore(shard)]
    location: Location,
    #[dystore(shard)]
    birth_details: BirthDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoDBShard2", key = "IDX")]
struct Location {
    #[dystore(encrypt = "k1")]
    city: String,
    #[dystore(encrypt = "k1")]
    country: String,
    #[dystore(shard)]
    geolocation: GeoLocation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoStoreShard3Deep", key = "ShardID")]
struct GeoLocation {
    #[dystore(encrypt = "k1")]
    lattitude: f64,
    longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoStoreShard1", key = "ID")]
struct BirthDetails {
    #[dystore(encrypt = "k1")]
    dob: String,
    #[dystore(encrypt = "k1")]
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
    assert!(raw.get("__class__").is_none() && raw["location"]["geolocation"]["longitude"] == json!(-0.1278), "the struct's form: {raw}");
    // What the package encrypted stays sealed (the class API's values,
    // unwrapped: `lattitude.value` is now `lattitude`).
    for sealed in [&raw["firstname"], &raw["lastname"], &raw["location"]["city"], &raw["location"]["geolocation"]["lattitude"]] {
        assert!(sealed.is_string() && sealed != "Ada" && sealed != "Lovelace" && sealed != "London", "sealed: {sealed}");
    }
}

/// The class model with `lastname` left unmarked.
mod lastname_unmarked {
    use dystore::DyObject;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
    #[dystore(table = "DynamoStoreRootDB", key = "ID")]
    pub(super) struct Root {
        #[dystore(encrypt = "k1")]
        pub(super) firstname: String,
        pub(super) lastname: String,
        #[dystore(shard)]
        pub(super) location: super::Location,
        #[dystore(shard)]
        pub(super) birth_details: super::BirthDetails,
    }
}

/// The class model with `lastname` renamed by serde: read from the old
/// name, stored under a new one, unmarked.
mod lastname_renamed {
    use dystore::DyObject;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
    #[dystore(table = "DynamoStoreRootDB", key = "ID")]
    pub(super) struct Aliased {
        #[dystore(encrypt = "k1")]
        pub(super) firstname: String,
        #[serde(alias = "lastname")]
        pub(super) surname: String,
        #[dystore(encrypt = "k1")]
        pub(super) location: serde_json::Value,
        #[dystore(encrypt = "k1")]
        pub(super) birth_details: serde_json::Value,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
    #[dystore(table = "DynamoStoreRootDB", key = "ID")]
    pub(super) struct Renamed {
        #[dystore(encrypt = "k1")]
        pub(super) firstname: String,
        #[serde(rename(deserialize = "lastname", serialize = "family"))]
        pub(super) family: String,
        #[dystore(encrypt = "k1")]
        pub(super) location: serde_json::Value,
        #[dystore(encrypt = "k1")]
        pub(super) birth_details: serde_json::Value,
    }
}

/// A value the package encrypted that the type's serde attributes move to
/// another, unmarked field (second break test: `#[serde(alias)]` and
/// `rename(deserialize = ..)` stored `lastname` in clear under its new
/// name) is refused where it would be stored, and so is one the loader
/// names a key for when asked once and not when asked again (the refusal
/// is the encoder's own decision, not a check before it).
async fn an_upgrade_refuses_a_package_ciphertext_moved_or_left_unsealed_later(target: Target) {
    let path = format!("{}/dystore/tests/fixtures/dynamo-store-0.6/objects.json", env!("CARGO_MANIFEST_DIR"));
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let key_string = fixture["key_string"].as_str().unwrap();
    let db = client(target).await.with_loader(migrating_loader(key_string)).with_legacy_number_strings(true);
    put_fixture(&db, &fixture).await;
    let e = db.upgrade::<lastname_renamed::Aliased>("obj-1").await.unwrap_err();
    assert_eq!((e.kind(), e.key(), e.path()), (ErrorKind::MissingKey, Some("obj-1"), Some("$.surname")), "{e}");
    let e = db.upgrade::<lastname_renamed::Renamed>("obj-1").await.unwrap_err();
    assert_eq!((e.kind(), e.key(), e.path()), (ErrorKind::MissingKey, Some("obj-1"), Some("$.family")), "{e}");
    let report = db.upgrade_table::<lastname_renamed::Aliased>().await.unwrap();
    assert_eq!(report.upgraded, 0, "{report:?}");
    // (`obj-2`, a list of locations, does not fit the struct.)
    let obj1 = report.failed.iter().find(|(key, _)| key == "obj-1").map(|(_, e)| (e.kind(), e.path()));
    assert_eq!(obj1, Some((ErrorKind::MissingKey, Some("$.surname"))), "{report:?}");

    // A loader that names a key for `$.lastname` once, then no more.
    let (old, new) = (Key::from_legacy_string(key_string), Key::new([4u8; 32]).unwrap());
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let fickle = FnLoader::new()
        .on_key_for(move |path, _doc| match path {
            p if !p.starts_with('$') => Some("legacy".to_owned()),
            "$.lastname" => (asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0).then(|| "k1".to_owned()),
            _ => None,
        })
        .on_key(move |id| match id.as_str() {
            "legacy" => Some(old.clone()),
            "k1" => Some(new.clone()),
            _ => None,
        });
    let fickle_db = db.clone().with_loader(fickle);
    match fickle_db.upgrade::<Root>("obj-1").await {
        Ok(_) => {
            let raw = db.objects(Root::layout()).read_raw("obj-1").await.unwrap();
            assert_ne!(raw["lastname"], json!("Lovelace"), "stored in clear: {raw}");
        }
        Err(e) => assert_eq!((e.kind(), e.path()), (ErrorKind::MissingKey, Some("$.lastname")), "{e}"),
    }
}

/// A typed upgrade unwraps the class API's values (`lastname.value`
/// becomes `lastname`) and is held to the same rule: a value the package
/// encrypted that today's struct leaves unmarked is `MissingKey` at its
/// unwrapped path, and nothing is written.
async fn a_typed_upgrade_never_stores_in_clear_what_the_package_encrypted(target: Target) {
    let path = format!("{}/dystore/tests/fixtures/dynamo-store-0.6/objects.json", env!("CARGO_MANIFEST_DIR"));
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let db = client(target).await.with_loader(migrating_loader(fixture["key_string"].as_str().unwrap())).with_legacy_number_strings(true);
    put_fixture(&db, &fixture).await;
    let root = db.backend().get(dystore::backend::Get {
        table: "DynamoStoreRootDB".into(),
        key: [("ID".to_owned(), AttributeValue::S("obj-1".into()))].into(),
        projection: None,
        consistent: true,
    });
    let before = root.await.unwrap();
    let e = db.upgrade::<lastname_unmarked::Root>("obj-1").await.unwrap_err();
    assert_eq!(
        (e.kind(), e.table(), e.key(), e.path()),
        (ErrorKind::MissingKey, Some("DynamoStoreRootDB"), Some("obj-1"), Some("$.lastname")),
        "{e}"
    );
    assert!(!format!("{e} {e:?}").contains("Lovelace"), "no plaintext in the error");
    let after = db
        .backend()
        .get(dystore::backend::Get {
            table: "DynamoStoreRootDB".into(),
            key: [("ID".to_owned(), AttributeValue::S("obj-1".into()))].into(),
            projection: None,
            consistent: true,
        })
        .await
        .unwrap();
    assert_eq!(after, before, "the legacy root is untouched");
    assert_eq!(db.upgrade::<Root>("obj-1").await.unwrap(), Upgrade::Upgraded, "marked, it goes through");
}

conformance!(
    a_whole_table_upgrades_and_a_rerun_changes_nothing,
    upgrades_rewrite_in_place_and_leave_only_format_1,
    class_objects_load_typed_and_upgrade,
    an_upgrade_never_stores_in_clear_what_the_package_encrypted,
    a_typed_upgrade_never_stores_in_clear_what_the_package_encrypted,
    an_upgrade_refuses_a_package_ciphertext_moved_or_left_unsealed_later,
    legacy_objects_are_read_only_until_upgraded,
    dict_documents_read_back_exactly,
    class_objects_read_back_exactly,
    malformed_legacy_objects_are_typed_errors
);
