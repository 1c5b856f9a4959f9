//! Per-path encryption through the whole stack: sharding, both backends,
//! read_path and write_path, and every way a ciphertext can be wrong.

mod common;

use common::{Target, client, table};
use dystore::backend::{Get, Write, op};
use dystore::{ErrorKind, Key, Keyring, PathPattern, Store};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};

fn material(byte: u8, len: usize) -> Key {
    Key::new(vec![byte; len]).unwrap()
}

/// Keys "k1" (AES-256) and "k2" (AES-128); `$.contact` goes to k2, any other
/// encrypted path to k1.
fn keyring() -> Keyring {
    Keyring::new()
        .with_key("k1", material(7, 32))
        .with_key("k2", material(9, 16))
        .rule(PathPattern::prefix("$.contact").unwrap(), "k2")
        .default_key("k1")
}

fn store() -> Store {
    Store::new(table("Secret"), "ID")
        .encrypt("$.firstname")
        .encrypt("$.contact")
        .no_encrypt("$.contact.kind")
        .shard(Store::new(table("SecretLoc"), "IDX").at("$.location").encrypt("$.city").encrypt("$.geo"))
        .shard(Store::new(table("SecretTags"), "TID").at("$.tags[*]").encrypt("$.label"))
}

fn doc() -> Value {
    json!({
        "firstname": "Ada",
        "lastname": "Lovelace",
        "contact": {"phone": "+44 20 7946 0000", "kind": "home", "prefs": [true, null, 3, -1.5], "extra": {"z": ""}},
        "location": {"city": "London", "country": "UK", "geo": {"lat": 51.5072, "lng": -0.1276}},
        "tags": [{"label": "mathematician", "n": 1}, {"label": "writer", "n": 2}]
    })
}

async fn ready(target: Target) -> (dystore::Client, Store) {
    let db = client(target).await.with_loader(keyring());
    let store = store();
    db.store(&store).create_tables().await.unwrap();
    (db, store)
}

async fn raw(db: &dystore::Client, table: &str, key_name: &str, key: &str) -> dystore::backend::Item {
    let key = [(key_name.to_owned(), AttributeValue::S(key.to_owned()))].into();
    db.backend().get(Get { table: table.to_owned(), key, projection: None, consistent: true }).await.unwrap().unwrap()
}

fn is_binary(v: &AttributeValue) -> bool {
    matches!(v, AttributeValue::B(_))
}

async fn every_type_round_trips_through_shards(target: Target) {
    let (db, store) = ready(target).await;
    let key = db.store(&store).write(doc()).await.unwrap();
    assert_eq!(db.store(&store).read(&key).await.unwrap(), doc());

    let root = raw(&db, &store.layout().table, "ID", &key).await;
    assert!(is_binary(&root["firstname"]));
    assert_eq!(root["lastname"], AttributeValue::S("Lovelace".into()));
    let AttributeValue::M(contact) = &root["contact"] else { panic!("contact is a map") };
    assert!(is_binary(&contact["phone"]));
    assert_eq!(contact["kind"], AttributeValue::S("home".into()), "no_encrypt exempts a path");
    let AttributeValue::L(prefs) = &contact["prefs"] else { panic!("prefs is a list") };
    assert!(prefs.iter().all(is_binary), "every leaf of a list is sealed on its own");
    let loc = raw(&db, &store.layout().shards[0].layout.table, "IDX", &format!("{key}#$.location")).await;
    assert!(is_binary(&loc["city"]) && !is_binary(&loc["country"]));
    let AttributeValue::M(geo) = &loc["geo"] else { panic!("geo is a map") };
    assert!(is_binary(&geo["lat"]));
    let tag = raw(&db, &store.layout().shards[1].layout.table, "TID", &format!("{key}#$.tags[1]")).await;
    assert!(is_binary(&tag["label"]) && !is_binary(&tag["n"]));
}

async fn key_ids_follow_the_loader_rules(target: Target) {
    let (db, store) = ready(target).await;
    let key = db.store(&store).write(doc()).await.unwrap();
    let root = raw(&db, &store.layout().table, "ID", &key).await;
    let key_id = |v: &AttributeValue| match v {
        AttributeValue::B(b) => dystore::crypto::envelope_key_id(b).unwrap().to_owned(),
        other => panic!("not sealed: {other:?}"),
    };
    assert_eq!(key_id(&root["firstname"]), "k1");
    let AttributeValue::M(contact) = &root["contact"] else { panic!() };
    assert_eq!(key_id(&contact["phone"]), "k2");
}

async fn paths_are_read_and_written_encrypted(target: Target) {
    let (db, store) = ready(target).await;
    let key = db.store(&store).write(doc()).await.unwrap();
    let (db, requests) = db.counted();
    let objects = db.store(&store);
    assert_eq!(objects.read_path(&key, "$.location.city").await.unwrap(), vec![json!("London")]);
    assert_eq!(objects.read_path(&key, "$.contact").await.unwrap(), vec![doc()["contact"].clone()]);
    assert_eq!(requests.snapshot(), [(op::GET_ITEM, 2)].into());
    requests.reset();
    objects.write_path(&key, "$.location.city", json!("Tokyo")).await.unwrap();
    objects.write_path(&key, "$.firstname", json!(42)).await.unwrap();
    assert_eq!(requests.total(), 2, "one request per write_path, encrypted or not");
    let loc = raw(&db, &store.layout().shards[0].layout.table, "IDX", &format!("{key}#$.location")).await;
    assert!(is_binary(&loc["city"]), "the new value is sealed");
    let read = objects.read(&key).await.unwrap();
    assert_eq!(read["location"]["city"], json!("Tokyo"));
    assert_eq!(read["firstname"], json!(42), "a number comes back a number");
}

async fn moved_ciphertexts_do_not_open(target: Target) {
    let (db, store) = ready(target).await;
    let a = db.store(&store).write(doc()).await.unwrap();
    let b = db.store(&store).write(doc()).await.unwrap();
    let root_table = store.layout().table.to_string();
    let firstname_a = raw(&db, &root_table, "ID", &a).await["firstname"].clone();
    // Same path, another item.
    set(&db, &root_table, "ID", &b, "firstname", firstname_a.clone()).await;
    let e = db.store(&store).read(&b).await.unwrap_err();
    assert_eq!((e.kind(), e.path(), e.key()), (ErrorKind::Authentication, Some("$.firstname"), Some(b.as_str())), "{e}");
    // Same item, another path.
    set(&db, &root_table, "ID", &a, "lastname", firstname_a.clone()).await;
    let e = db.store(&store).read_path(&a, "$.lastname").await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::Authentication, Some("$.lastname")), "{e}");
    // Another table, same key and path.
    let loc_table = store.layout().shards[0].layout.table.to_string();
    let city = raw(&db, &loc_table, "IDX", &format!("{a}#$.location")).await["city"].clone();
    set(&db, &root_table, "ID", &a, "firstname", city).await;
    let e = db.store(&store).read_path(&a, "$.firstname").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(!e.to_string().contains("London") && !e.to_string().contains("Ada"), "no plaintext in {e}");
}

async fn set(db: &dystore::Client, table: &str, key_name: &str, key: &str, attr: &str, value: AttributeValue) {
    let mut update = dystore::backend::Expr { text: "SET #a = :v".into(), ..Default::default() };
    update.names.insert("#a".into(), attr.into());
    update.values.insert(":v".into(), value);
    let key = [(key_name.to_owned(), AttributeValue::S(key.to_owned()))].into();
    db.backend().write(Write::Update { table: table.into(), key, update, condition: None }).await.unwrap();
}

async fn keys_missing_or_wrong_are_clear_errors(target: Target) {
    let (db, store) = ready(target).await;
    let key = db.store(&store).write(doc()).await.unwrap();

    let without_k2 = Keyring::new().with_key("k1", material(7, 32)).default_key("k1");
    let e = db.clone().with_loader(without_k2).store(&store).read(&key).await.unwrap_err();
    assert!(e.is_missing_key(), "{e}");
    assert_eq!(e.key_id(), Some("k2"));
    assert!(e.path().is_some_and(|p| p.starts_with("$.contact.")), "{e}");

    let wrong = Keyring::new().with_key("k1", material(8, 32)).with_key("k2", material(9, 16)).default_key("k1");
    let e = db.clone().with_loader(wrong).store(&store).read_path(&key, "$.firstname").await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::Authentication, Some("$.firstname")), "{e}");

    let e = db.clone().with_loader(dystore::DefaultLoader).store(&store).read_path(&key, "$.firstname").await.unwrap_err();
    assert!(e.is_missing_key(), "no loader, no key: {e}");

    // Raw reads return ciphertexts as stored, for tooling.
    let raw_doc = db.clone().with_loader(dystore::DefaultLoader).store(&store).read_raw(&key).await.unwrap();
    assert!(raw_doc["firstname"].is_string() && raw_doc["firstname"] != json!("Ada"));
    assert_eq!(raw_doc["lastname"], json!("Lovelace"));

    // Writing an encrypted path with no key id to use is refused before sending.
    let (plain_db, requests) = db.clone().with_loader(dystore::DefaultLoader).counted();
    let e = plain_db.store(&store).write(doc()).await.unwrap_err();
    assert!(e.is_missing_key(), "{e}");
    let encrypted = ["$.firstname", "$.location.city", "$.tags[0].label", "$.tags[1].label"];
    assert!(e.path().is_some_and(|p| encrypted.contains(&p) || p.starts_with("$.location.geo")), "{e}");
    assert_eq!(requests.total(), 0);
}

async fn tampered_and_truncated_ciphertexts_fail(target: Target) {
    let (db, store) = ready(target).await;
    let mut long = doc();
    long["firstname"] = json!("Augusta Ada King, Countess of Lovelace");
    let key = db.store(&store).write(long).await.unwrap();
    let root_table = store.layout().table.to_string();
    let AttributeValue::B(sealed) = raw(&db, &root_table, "ID", &key).await["firstname"].clone() else { panic!() };
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    for (bytes, kind) in [
        (flipped, ErrorKind::Authentication),
        (sealed[..sealed.len() - 16].to_vec(), ErrorKind::Authentication),
        (sealed[..sealed.len() - 5].to_vec(), ErrorKind::MalformedCiphertext),
        (sealed[..3].to_vec(), ErrorKind::MalformedCiphertext),
        (
            {
                let mut v = sealed.clone();
                v[0] = 0x7f;
                v
            },
            ErrorKind::UnsupportedFormat,
        ),
    ] {
        set(&db, &root_table, "ID", &key, "firstname", AttributeValue::B(bytes)).await;
        let e = db.store(&store).read_path(&key, "$.firstname").await.unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert_eq!(e.path(), Some("$.firstname"));
        assert_eq!(e.table(), Some(root_table.as_str()));
    }
}

conformance!(
    every_type_round_trips_through_shards,
    key_ids_follow_the_loader_rules,
    paths_are_read_and_written_encrypted,
    moved_ciphertexts_do_not_open,
    keys_missing_or_wrong_are_clear_errors,
    tampered_and_truncated_ciphertexts_fail,
);
