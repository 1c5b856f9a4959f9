//! Typed objects (`#[derive(DyObject)]`) end to end, on every backend: the
//! Python package's own example model, the round-trip contract, `pk`
//! binding, optimistic locking, errors, serde renames, and the one format
//! typed and dynamic objects share.
//!
//! Derived table names are literals, so these tests cannot use `table()`'s
//! unique names: every object here lives in fixed `dystore_typed_*` tables
//! (on the embedded engine, a fresh database per test; over HTTP, one server
//! shared by the whole binary). Tests stay independent because
//! `create_tables` is idempotent and every object gets its own key (a UUID),
//! and no test counts the items of a whole table.

mod common;

use common::{Target, assert_same_json, client};
use dystore::backend::{Get, Item, op};
use dystore::{Client, DyObject, ErrorKind, FnLoader, Keyring, Store};
use serde_dynamo::AttributeValue;
use serde_json::json;

#[path = "typed/models.rs"]
mod models;

use models::*;

/// A client with the keyring and the tables of `T`.
async fn ready<T: DyObject>(target: Target) -> Client {
    let db = client(target).await.with_loader(keyring());
    db.create_tables::<T>().await.expect("create tables");
    db
}

async fn raw_item(db: &Client, layout: &dystore::Layout, key: &str) -> Option<Item> {
    let key = [(layout.key.to_string(), AttributeValue::S(key.to_owned()))].into();
    db.backend().get(Get { table: layout.table.to_string(), key, projection: None, consistent: true }).await.unwrap()
}

fn key_id(value: &AttributeValue) -> String {
    match value {
        AttributeValue::B(bytes) => dystore::crypto::envelope_key_id(bytes).unwrap().to_owned(),
        other => panic!("not encrypted: {other:?}"),
    }
}

async fn python_example_round_trips(target: Target) {
    let db = ready::<Root>(target).await;
    let root = ada(&unique());
    let key = db.save(&root).await.unwrap();
    assert_eq!(key, root.id);
    assert_eq!(db.load::<Root>(&key).await.unwrap(), root);

    // Each shard is an item of its own table, keyed by the root key and path.
    let shallow = db.objects(Root::layout()).read_shallow(&key).await.unwrap();
    let reference = &shallow["location"]["__dystore_ref__"];
    assert_eq!(reference["table"], json!("dystore_typed_Location"));
    assert_eq!(reference["key"], json!(format!("{key}#$.location")));
    assert_eq!(reference["region"], json!("us-east-2"));
    let geo = raw_item(&db, GeoLocation::layout(), &format!("{key}#$.location.geolocation")).await.unwrap();
    assert!(geo.contains_key("lattitude"));
    assert!(raw_item(&db, Passport::layout(), &format!("{key}#$.passport")).await.is_some());

    // The same values read path by path.
    assert_eq!(db.read_path::<Root>(&key, "$.location.geolocation.lattitude").await.unwrap(), vec![json!(51.5072)]);
    assert_eq!(db.read_path::<Root>(&key, "$.visits").await.unwrap(), vec![json!(u64::MAX)]);
    assert_eq!(db.read_path::<Root>(&key, "$.birth_details.hospital").await.unwrap(), vec![json!("Piccadilly")]);
}

async fn optional_shards_come_and_go(target: Target) {
    let db = ready::<Root>(target).await;
    let mut root = ada(&unique());
    let key = db.save(&root).await.unwrap();
    let passport_key = format!("{key}#$.passport");
    assert!(raw_item(&db, Passport::layout(), &passport_key).await.is_some());

    root.passport = None;
    root.nickname = Some("Countess".into());
    db.save(&root).await.unwrap();
    assert_eq!(db.load::<Root>(&key).await.unwrap(), root);
    assert!(raw_item(&db, Passport::layout(), &passport_key).await.is_none(), "saving None deletes the shard item");
    let e = db.read_path::<Root>(&key, "$.passport.issuer").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingShard, "{e}");

    root.passport = Some(Passport { number: "P-2".into(), issuer: "FR".into() });
    db.save(&root).await.unwrap();
    assert_eq!(db.load::<Root>(&key).await.unwrap().passport, root.passport);
}

async fn every_operation_costs_one_request(target: Target) {
    let (db, requests) = ready::<Root>(target).await.counted();
    let mut root = ada(&unique());

    let key = db.save(&root).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::TRANSACT_WRITE_ITEMS, 1)].into(), "save: root and 4 shards in one transaction");
    requests.reset();

    assert_eq!(db.load::<Root>(&key).await.unwrap(), root);
    assert_eq!(requests.snapshot(), [(op::BATCH_GET_ITEM, 1)].into(), "load: nested shards known from the type");
    requests.reset();

    assert_eq!(db.read_path::<Root>(&key, "$.location.geolocation.longitude").await.unwrap(), vec![json!(-0.1276)]);
    assert_eq!(requests.snapshot(), [(op::GET_ITEM, 1)].into(), "read_path in a nested shard");
    requests.reset();

    db.write_path::<Root>(&key, "$.lastname", json!("King")).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::UPDATE_ITEM, 1)].into(), "write_path in the root");
    requests.reset();

    db.write_path::<Root>(&key, "$.location.city", json!("Paris")).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::TRANSACT_WRITE_ITEMS, 1)].into(), "write_path in a shard");
    requests.reset();
    root.lastname = "King".into();
    root.location.city = "Paris".into();
    assert_eq!(db.load::<Root>(&key).await.unwrap(), root);
    requests.reset();

    db.delete::<Root>(&key).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::TRANSACT_WRITE_ITEMS, 1)].into(), "delete");
    assert!(db.load::<Root>(&key).await.unwrap_err().is_not_found());
    assert!(raw_item(&db, GeoLocation::layout(), &format!("{key}#$.location.geolocation")).await.is_none(), "shards go with the root");
}

async fn list_shards_take_a_second_request(target: Target) {
    let (db, requests) = ready::<Traveller>(target).await.counted();
    let passport = |n: &str| Passport { number: n.into(), issuer: "UK".into() };
    let mut obj = Traveller { id: unique(), name: "Ada".into(), passports: vec![passport("P-1"), passport("P-2"), passport("P-3")] };

    let key = db.save(&obj).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::GET_ITEM, 1), (op::TRANSACT_WRITE_ITEMS, 1)].into(), "save reads the stored list lengths first");
    requests.reset();

    assert_eq!(db.load::<Traveller>(&key).await.unwrap(), obj);
    assert_eq!(requests.snapshot(), [(op::BATCH_GET_ITEM, 2)].into(), "load: the list elements in a second batch");
    requests.reset();

    assert_eq!(db.read_path::<Traveller>(&key, "$.passports[2].number").await.unwrap(), vec![json!("P-3")]);
    assert_eq!(requests.snapshot(), [(op::GET_ITEM, 1)].into(), "read_path in a list element");
    requests.reset();

    db.write_path::<Traveller>(&key, "$.passports[1].issuer", json!("FR")).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::TRANSACT_WRITE_ITEMS, 1)].into(), "write_path in a list element");
    obj.passports[1].issuer = "FR".into();
    assert_eq!(db.load::<Traveller>(&key).await.unwrap(), obj);
    requests.reset();

    db.delete::<Traveller>(&key).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::GET_ITEM, 1), (op::TRANSACT_WRITE_ITEMS, 1)].into(), "delete finds the elements first");
    assert!(raw_item(&db, Passport::layout(), &format!("{key}#$.passports[0]")).await.is_none());
}

async fn python_list_example_round_trips(target: Target) {
    let db = ready::<RootMulti>(target).await;
    let mut obj = multi(&["London", "Paris", "Turin"]);
    obj.address = Some("12 St James's Square".into());
    let key = db.save(&obj).await.unwrap();

    let loaded = db.load::<RootMulti>(&key).await.unwrap();
    assert_eq!(loaded.address, None, "a field serde skips is not stored");
    obj.address = None;
    assert_eq!(loaded, obj);
    let shallow = db.objects(RootMulti::layout()).read_shallow(&key).await.unwrap();
    assert!(shallow.get("address").is_none());
    assert_eq!(shallow["locations"][2]["__dystore_ref__"]["key"], json!(format!("{key}#$.locations[2]")));
    let geo = raw_item(&db, GeoLocation::layout(), &format!("{key}#$.locations[2].geolocation")).await.unwrap();
    assert!(geo.contains_key("longitude"), "shards inside list elements are items too");

    db.write_path::<RootMulti>(&key, "$.locations[1].geolocation.lattitude", json!(45.76)).await.unwrap();
    assert_eq!(db.read_path::<RootMulti>(&key, "$.locations[1].geolocation.lattitude").await.unwrap(), vec![json!(45.76)]);
    assert_eq!(
        db.read_path::<RootMulti>(&key, "$.locations[*].city").await.unwrap(),
        vec![json!("London"), json!("Paris"), json!("Turin")]
    );

    // A shorter list leaves no element behind.
    let shorter = multi(&["Geneva"]);
    save_as(&db, &key, &shorter).await;
    assert_eq!(db.load::<RootMulti>(&key).await.unwrap(), shorter);
    for i in 1..3 {
        assert!(raw_item(&db, Location::layout(), &format!("{key}#$.locations[{i}]")).await.is_none(), "element {i} was deleted");
        assert!(raw_item(&db, GeoLocation::layout(), &format!("{key}#$.locations[{i}].geolocation")).await.is_none());
    }
    db.delete::<RootMulti>(&key).await.unwrap();
    assert!(raw_item(&db, GeoLocation::layout(), &format!("{key}#$.locations[0].geolocation")).await.is_none());
}

/// Shards nested inside list elements: once the root gives the list
/// lengths, every key below the elements is deterministic, so `RootMulti`
/// (locations, each with a geolocation) loads in two batches, not one per
/// level of nesting.
async fn shards_inside_list_elements_load_in_two_batches(target: Target) {
    let (db, requests) = ready::<RootMulti>(target).await.counted();
    let obj = multi(&["London", "Paris"]);
    let key = unique();
    save_as(&db, &key, &obj).await;
    requests.reset();
    assert_eq!(db.load::<RootMulti>(&key).await.unwrap(), obj);
    assert_eq!(requests.snapshot(), [(op::BATCH_GET_ITEM, 2)].into(), "load of a list of shards with nested shards");
}

/// Saves `obj`, a type without a `pk` field, under a chosen key.
async fn save_as<T: DyObject>(db: &Client, key: &str, obj: &T) {
    let doc = serde_json::to_value(obj).unwrap();
    db.objects(T::layout()).write_with_key(key, doc).await.unwrap();
}

async fn pk_field_binds_the_key(target: Target) {
    let db = ready::<Root>(target).await;

    // Set: the key is the field, stored once, as the key attribute.
    let chosen = format!("ada-{}", unique());
    let key = db.save(&ada(&chosen)).await.unwrap();
    assert_eq!(key, chosen);
    let root_item = raw_item(&db, Root::layout(), &key).await.unwrap();
    assert_eq!(root_item["ID"], AttributeValue::S(chosen.clone()));
    assert!(!root_item.contains_key("id"), "the pk field is the key attribute, not a copy");

    // Empty: refused by `save` before any request (a forgotten key must not
    // mint a second record), generated only when asked for.
    let (counted, requests) = db.clone().counted();
    let e = counted.save(&ada("")).await.unwrap_err();
    assert_eq!((e.kind(), requests.total()), (ErrorKind::InvalidKey, 0), "{e}");
    assert_eq!(counted.save_new(&ada(&chosen)).await.unwrap_err().kind(), ErrorKind::InvalidKey, "save_new with a key set");
    let generated = db.save_new(&ada("")).await.unwrap();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    let loaded = db.load::<Root>(&generated).await.unwrap();
    assert_eq!(loaded.id, generated);
    assert_eq!(loaded, ada(&generated));
    assert_ne!(db.save_new(&ada("")).await.unwrap(), generated, "every generated key is new");

    // Saving what was loaded writes it back in place.
    let mut again = loaded;
    again.lastname = "King".into();
    assert_eq!(db.save(&again).await.unwrap(), generated);
    assert_eq!(db.load::<Root>(&generated).await.unwrap().lastname, "King");

    // Empty, with a loader that generates keys: the loader's key.
    let from_loader = format!("loader-{}", unique());
    let k = from_loader.clone();
    let keys = keyring();
    let loader = FnLoader::new()
        .on_generate_pk(move |doc| doc["lastname"].as_str().map(|last| format!("{k}-{last}")))
        .with_default_key_id("k1")
        .on_key(move |id| dystore::ConfigLoader::key(&keys, id));
    let key = db.clone().with_loader(loader).save_new(&ada("")).await.unwrap();
    assert_eq!(key, format!("{from_loader}-Lovelace"));
    assert_eq!(db.load::<Root>(&key).await.unwrap().id, key);
}

/// The `pk` field's path is the key, not an attribute: writing it fails
/// with `InvalidPath`, as `$.ID` does, and stores nothing (no shadow `id`
/// attribute for `load` to override).
async fn the_pk_field_is_not_a_writable_path(target: Target) {
    let db = ready::<Root>(target).await;
    let key = db.save(&ada(&unique())).await.unwrap();
    let result = db.write_path::<Root>(&key, "$.id", json!("someone-else")).await;
    assert!(matches!(&result, Err(e) if e.kind() == ErrorKind::InvalidPath), "writing the pk field: {result:?}");
    let dynamic = db.objects(Root::layout()).read(&key).await.unwrap();
    assert!(dynamic.get("id").is_none(), "the key is stored once, as `ID`: {dynamic}");
}

async fn encrypted_fields_are_stored_as_binary(target: Target) {
    let db = ready::<Root>(target).await;
    let key = db.save(&ada(&unique())).await.unwrap();

    let root_item = raw_item(&db, Root::layout(), &key).await.unwrap();
    assert_eq!(key_id(&root_item["firstname"]), "k1", "bare `encrypt` takes the default key");
    assert_eq!(key_id(&root_item["nickname"]), "k1", "a `None` is an encrypted null");
    assert_eq!(root_item["lastname"], AttributeValue::S("Lovelace".into()));
    let birth_item = raw_item(&db, BirthDetails::layout(), &format!("{key}#$.birth_details")).await.unwrap();
    assert_eq!(key_id(&birth_item["hospital"]), "k2", "`encrypt = \"k2\"` names its key");
    assert_eq!(key_id(&birth_item["dob"]), "k1");
    assert!(matches!(birth_item["weight"], AttributeValue::N(_)));
    let passport_item = raw_item(&db, Passport::layout(), &format!("{key}#$.passport")).await.unwrap();
    assert_eq!(key_id(&passport_item["number"]), "k1");

    // Tooling without keys sees ciphertext, never the plaintext.
    let raw = db.objects(Root::layout()).read_raw(&key).await.unwrap();
    assert!(raw["firstname"].is_string() && raw["firstname"] != json!("Ada"));
    assert!(raw["birth_details"]["hospital"].is_string() && raw["birth_details"]["hospital"] != json!("Piccadilly"));
    assert_eq!(raw["lastname"], json!("Lovelace"));

    // Without the keys, a typed load fails on the path it cannot open.
    let e = db.clone().with_loader(dystore::DefaultLoader).load::<Root>(&key).await.unwrap_err();
    assert!(e.is_missing_key(), "{e}");
    let only_k1 = Keyring::new().with_key("k1", material(7, 32)).default_key("k1");
    let e = db.clone().with_loader(only_k1).load::<Root>(&key).await.unwrap_err();
    assert_eq!((e.kind(), e.key_id(), e.path()), (ErrorKind::MissingKey, Some("k2"), Some("$.birth_details.hospital")), "{e}");

    // write_path seals the new value under the field's key.
    db.write_path::<Root>(&key, "$.birth_details.hospital", json!("St Thomas'")).await.unwrap();
    let birth_item = raw_item(&db, BirthDetails::layout(), &format!("{key}#$.birth_details")).await.unwrap();
    assert_eq!(key_id(&birth_item["hospital"]), "k2");
    assert_eq!(db.load::<Root>(&key).await.unwrap().birth_details.hospital, "St Thomas'");
}

async fn versioned_save_refuses_to_overwrite_a_concurrent_write(target: Target) {
    let db = ready::<Root>(target).await;
    let key = db.save(&ada(&unique())).await.unwrap();

    let mut read = db.load_versioned::<Root>(&key).await.unwrap();
    assert_eq!(read.key, key);
    assert_eq!(read.value.id, key);
    // Someone else changes one path meanwhile.
    db.write_path::<Root>(&key, "$.location.city", json!("Paris")).await.unwrap();
    read.value.lastname = "King".into();
    let (counted, requests) = db.clone().counted();
    let e = counted.save_versioned(&read).await.unwrap_err();
    assert!(e.is_conflict(), "{e}");
    // The refused transaction, then a GetItem of the root telling a changed
    // revision from items owed deletion.
    assert_eq!(
        requests.snapshot(),
        [(op::TRANSACT_WRITE_ITEMS, 1), (op::GET_ITEM, 1)].into(),
        "a stale versioned save costs its request and a read of the root"
    );
    assert_eq!(e.key(), Some(key.as_str()));
    let stored = db.load::<Root>(&key).await.unwrap();
    assert_eq!((stored.location.city.as_str(), stored.lastname.as_str()), ("Paris", "Lovelace"), "the concurrent write survives");

    // Read again, save again: accepted, and the revision moves on.
    let mut fresh = db.load_versioned::<Root>(&key).await.unwrap();
    fresh.value.lastname = "King".into();
    let revision = db.save_versioned(&fresh).await.unwrap();
    assert_ne!(revision, fresh.revision);
    assert_eq!(db.load_versioned::<Root>(&key).await.unwrap().revision, revision);
    assert!(db.save_versioned(&fresh).await.unwrap_err().is_conflict(), "a revision is good for one save");

    // A deleted object is a conflict too, and is not brought back.
    let gone = db.load_versioned::<Root>(&key).await.unwrap();
    db.delete::<Root>(&key).await.unwrap();
    assert!(db.save_versioned(&gone).await.unwrap_err().is_conflict());
    assert!(db.load::<Root>(&key).await.unwrap_err().is_not_found());
}

async fn versioned_save_with_list_shards(target: Target) {
    let db = ready::<RootMulti>(target).await;
    let key = unique();
    save_as(&db, &key, &multi(&["London", "Paris"])).await;
    let mut read = db.load_versioned::<RootMulti>(&key).await.unwrap();
    db.write_path::<RootMulti>(&key, "$.locations[0].city", json!("Bath")).await.unwrap();
    read.value.locations.pop();
    assert!(db.save_versioned(&read).await.unwrap_err().is_conflict());
    let stored = db.load::<RootMulti>(&key).await.unwrap();
    assert_eq!(stored.locations.len(), 2, "the refused save deleted no element");
    assert_eq!(stored.locations[0].city, "Bath");

    let mut fresh = db.load_versioned::<RootMulti>(&key).await.unwrap();
    fresh.value.locations.pop();
    db.save_versioned(&fresh).await.unwrap();
    assert_eq!(db.load::<RootMulti>(&key).await.unwrap(), fresh.value);
}

async fn missing_objects_are_not_found(target: Target) {
    let db = ready::<Root>(target).await;
    let key = unique();
    assert!(db.load::<Root>(&key).await.unwrap_err().is_not_found());
    assert!(db.load_versioned::<Root>(&key).await.unwrap_err().is_not_found());
    assert!(db.read_path::<Root>(&key, "$.lastname").await.unwrap_err().is_not_found());
    assert!(db.read_path::<Root>(&key, "$.location.city").await.unwrap_err().is_not_found());
    assert!(db.write_path::<Root>(&key, "$.lastname", json!("x")).await.unwrap_err().is_not_found());
    assert!(db.write_path::<Root>(&key, "$.location.city", json!("x")).await.unwrap_err().is_not_found());
    let e = db.delete::<Root>(&key).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!((e.table(), e.key()), (Some("dystore_typed_Root"), Some(key.as_str())));
    assert!(db.load::<Root>(&key).await.unwrap_err().is_not_found(), "write_path created nothing");

    let db = ready::<RootMulti>(target).await;
    assert!(db.load::<RootMulti>(&key).await.unwrap_err().is_not_found());
    assert!(db.delete::<RootMulti>(&key).await.unwrap_err().is_not_found());
}

async fn a_document_that_does_not_fit_is_a_serialization_error(target: Target) {
    let db = ready::<Root>(target).await;
    let key = unique();
    let mut doc = serde_json::to_value(ada("")).unwrap();
    doc.as_object_mut().unwrap().remove("id");
    // The wrong type, holding a value that must not leak into the message.
    doc["visits"] = json!("secret-visits-value");
    doc["firstname"] = json!({"secret-firstname": "Ada-secret"});
    db.objects(Root::layout()).write_with_key(&key, doc.clone()).await.unwrap();

    let e = db.load::<Root>(&key).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Serialization, "{e}");
    assert_eq!((e.table(), e.key()), (Some("dystore_typed_Root"), Some(key.as_str())));
    let message = format!("{e} {e:?}");
    for secret in ["secret", "Ada"] {
        assert!(!message.contains(secret), "stored value in {message}");
    }
    assert!(db.load_versioned::<Root>(&key).await.unwrap_err().kind() == ErrorKind::Serialization);

    // A missing field in a shard fails the same way; the document still reads.
    let mut partial = serde_json::to_value(ada("")).unwrap();
    partial.as_object_mut().unwrap().remove("id");
    partial["location"].as_object_mut().unwrap().remove("country");
    db.objects(Root::layout()).write_with_key(&key, partial.clone()).await.unwrap();
    let e = db.load::<Root>(&key).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::Serialization, Some("$.location")), "the error names where the type does not fit: {e}");
    // A whole `f64` (weight 3.0) may read back as 3: compared by value.
    assert_same_json(&db.objects(Root::layout()).read(&key).await.unwrap(), &partial);
}

async fn serde_renames_name_the_stored_attributes(target: Target) {
    let db = ready::<Renamed>(target).await;
    let obj = Renamed {
        record_id: unique(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        home_location: GeoLocation { lattitude: 51.5, longitude: -0.12 },
    };
    let key = db.save(&obj).await.unwrap();
    assert_eq!(key, obj.record_id);
    assert_eq!(db.load::<Renamed>(&key).await.unwrap(), obj);

    let shallow = db.objects(Renamed::layout()).read_shallow(&key).await.unwrap();
    let mut names: Vec<&str> = shallow.as_object().unwrap().keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["SURNAME", "firstName", "home"]);
    assert_eq!(shallow["home"]["__dystore_ref__"]["key"], json!(format!("{key}#$.home")));
    let root_item = raw_item(&db, Renamed::layout(), &key).await.unwrap();
    assert_eq!(key_id(&root_item["firstName"]), "k1", "the rename carries the encryption");

    assert_eq!(db.read_path::<Renamed>(&key, "$.SURNAME").await.unwrap(), vec![json!("Lovelace")]);
    let e = db.read_path::<Renamed>(&key, "$.last_name").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidPath, "Rust names are not paths: {e}");
    db.write_path::<Renamed>(&key, "$.home.lattitude", json!(48.85)).await.unwrap();
    db.write_path::<Renamed>(&key, "$.firstName", json!("Augusta")).await.unwrap();
    let loaded = db.load::<Renamed>(&key).await.unwrap();
    assert_eq!((loaded.first_name.as_str(), loaded.home_location.lattitude), ("Augusta", 48.85));
}

/// The `Store` a user would write for `Root` by hand.
fn root_store() -> Store {
    Store::new("dystore_typed_Root", "ID")
        .region("us-east-2")
        .encrypt("$.firstname")
        .encrypt("$.nickname")
        .shard(
            Store::new("dystore_typed_Location", "IDX")
                .region("us-east-2")
                .at("$.location")
                .shard(Store::new("dystore_typed_GeoLocation", "ShardID").region("us-east-2").at("$.geolocation")),
        )
        .shard(
            Store::new("dystore_typed_BirthDetails", "ID")
                .region("us-east-2")
                .at("$.birth_details")
                .encrypt("$.dob")
                .encrypt_with("$.hospital", "k2"),
        )
        .shard(Store::new("dystore_typed_Passport", "PID").at("$.passport").encrypt("$.number"))
}

async fn typed_and_dynamic_objects_share_one_format(target: Target) {
    let db = ready::<Root>(target).await;
    let store = root_store();
    assert_eq!(store.layout(), Root::layout());

    // Typed save, dynamic read: the document is the struct minus its key.
    let root = ada(&unique());
    let key = db.save(&root).await.unwrap();
    let mut expected = serde_json::to_value(&root).unwrap();
    expected.as_object_mut().unwrap().remove("id");
    // A whole `f64` (weight 3.0) may read back as 3: compared by value.
    assert_same_json(&db.store(&store).read(&key).await.unwrap(), &expected);
    assert_same_json(&db.objects(Root::layout()).read(&key).await.unwrap(), &expected);
    // The root's metadata alone is enough to find the shards, and the
    // ciphertexts name their keys.
    assert_same_json(&db.store(&Store::new("dystore_typed_Root", "ID")).read(&key).await.unwrap(), &expected);

    // Dynamic write, typed load.
    let mut doc = expected.clone();
    doc["location"]["city"] = json!("Turin");
    let key = db.store(&store).write(doc).await.unwrap();
    let loaded = db.load::<Root>(&key).await.unwrap();
    assert_eq!(loaded.location.city, "Turin");
    assert_eq!(loaded.id, key);
    let raw = raw_item(&db, Root::layout(), &key).await.unwrap();
    assert_eq!(key_id(&raw["firstname"]), "k1", "the store's rules are the type's rules");
}

conformance!(
    python_example_round_trips,
    optional_shards_come_and_go,
    every_operation_costs_one_request,
    list_shards_take_a_second_request,
    python_list_example_round_trips,
    shards_inside_list_elements_load_in_two_batches,
    pk_field_binds_the_key,
    the_pk_field_is_not_a_writable_path,
    encrypted_fields_are_stored_as_binary,
    versioned_save_refuses_to_overwrite_a_concurrent_write,
    versioned_save_with_list_shards,
    missing_objects_are_not_found,
    a_document_that_does_not_fit_is_a_serialization_error,
    serde_renames_name_the_stored_attributes,
    typed_and_dynamic_objects_share_one_format,
);
