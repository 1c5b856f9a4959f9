//! The conformance suite: every public operation of the core runtime and
//! its errors, on every backend (see `common`).

mod common;

use common::{Target, client, people, person, table};
use dystore::backend::{Get, Scan, Write, op};
use dystore::{ConfigLoader, ErrorKind, Store};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};

async fn ready(target: Target) -> (dystore::Client, Store) {
    let db = client(target).await;
    let store = people();
    db.store(&store).create_tables().await.expect("create tables");
    (db, store)
}

fn shard_table(store: &Store, i: usize) -> String {
    store.layout().shards[i].layout.table.to_string()
}

async fn raw_item(db: &dystore::Client, table: &str, key_name: &str, key: &str) -> Option<dystore::backend::Item> {
    let key = [(key_name.to_owned(), AttributeValue::S(key.to_owned()))].into();
    db.backend().get(Get { table: table.to_owned(), key, projection: None, consistent: true }).await.unwrap()
}

async fn count_items(db: &dystore::Client, table: &str) -> usize {
    let page = db.backend().scan(Scan { table: table.to_owned(), consistent: true, ..Default::default() }).await.unwrap();
    page.items.len()
}

async fn round_trip_across_tables(target: Target) {
    let (db, store) = ready(target).await;
    let key = db.store(&store).write(person()).await.unwrap();
    assert_eq!(db.store(&store).read(&key).await.unwrap(), person());

    // Each part lives in its own table, keyed by the root key and its path.
    let root = raw_item(&db, &store.layout().table, "ID", &key).await.unwrap();
    assert!(!root.contains_key("hospital") && root.contains_key("firstname"));
    let location = raw_item(&db, &shard_table(&store, 0), "IDX", &format!("{key}#$.location")).await.unwrap();
    assert_eq!(location["city"], AttributeValue::S("London".into()));
    let geo_table = store.layout().shards[0].layout.shards[0].layout.table.to_string();
    let geo = raw_item(&db, &geo_table, "GID", &format!("{key}#$.location.geolocation")).await.unwrap();
    assert!(geo.contains_key("lat"));
    let birth = raw_item(&db, &shard_table(&store, 1), "BID", &format!("{key}#$.birth_details")).await.unwrap();
    assert!(birth.contains_key("dob"));
}

async fn every_item_of_a_save_carries_its_write_id(target: Target) {
    let (db, store) = ready(target).await;
    let key = db.store(&store).write(person()).await.unwrap();
    let write_id = |item: &dystore::backend::Item| match &item["__dystore_meta__"] {
        AttributeValue::M(m) => m["write_id"].clone(),
        other => panic!("metadata is {other:?}"),
    };
    let root = raw_item(&db, &store.layout().table, "ID", &key).await.unwrap();
    let birth = raw_item(&db, &shard_table(&store, 1), "BID", &format!("{key}#$.birth_details")).await.unwrap();
    assert_eq!(write_id(&root), write_id(&birth));
    db.store(&store).write_with_key(&key, person()).await.unwrap();
    let root_again = raw_item(&db, &store.layout().table, "ID", &key).await.unwrap();
    assert_ne!(write_id(&root), write_id(&root_again), "every save draws a new write id");
}

async fn one_request_per_operation(target: Target) {
    let (db, store) = ready(target).await;
    let (db, requests) = db.counted();
    let objects = db.store(&store);

    let key = objects.write(person()).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::TRANSACT_WRITE_ITEMS, 1)].into(), "save");
    requests.reset();

    objects.read(&key).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::BATCH_GET_ITEM, 1)].into(), "load");
    requests.reset();

    let city = objects.read_path(&key, "$.location.city").await.unwrap();
    assert_eq!(city, vec![json!("London")]);
    assert_eq!(requests.snapshot(), [(op::GET_ITEM, 1)].into(), "read_path");
    requests.reset();

    objects.write_path(&key, "$.location.geolocation.lat", json!(35.68)).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::TRANSACT_WRITE_ITEMS, 1)].into(), "write_path into a shard");
    requests.reset();

    objects.write_path(&key, "$.lastname", json!("King")).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::UPDATE_ITEM, 1)].into(), "write_path in the root");
    requests.reset();

    objects.delete(&key).await.unwrap();
    assert_eq!(requests.snapshot(), [(op::TRANSACT_WRITE_ITEMS, 1)].into(), "delete");
}

async fn write_path_changes_only_its_path(target: Target) {
    let (db, store) = ready(target).await;
    let objects = db.store(&store);
    let key = objects.write(person()).await.unwrap();
    objects.write_path(&key, "$.location.city", json!("Tokyo")).await.unwrap();
    objects.write_path(&key, "$.birth_details.tags", json!(["a", {"b": 1}])).await.unwrap();
    let mut expected = person();
    expected["location"]["city"] = json!("Tokyo");
    expected["birth_details"]["tags"] = json!(["a", {"b": 1}]);
    assert_eq!(objects.read(&key).await.unwrap(), expected);
}

async fn write_path_refuses_what_it_cannot_do_in_one_item(target: Target) {
    let (db, store) = ready(target).await;
    let objects = db.store(&store);
    let key = objects.write(person()).await.unwrap();
    for (path, why) in [
        ("$.location", "shard"),
        ("$.loc*", "JSONPath"),
        ("$..city", "wildcards"),
        ("$.location[*].city", "wildcards"),
        ("$", "holds shards"),
    ] {
        let e = objects.write_path(&key, path, json!(1)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidPath, "{path}: {e}");
        assert!(e.to_string().contains(why), "{path}: {e}");
    }
    let e = objects.write_path(&key, "$.nothing.below", json!(1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidPath, "{e}");
    assert_eq!(e.path(), Some("$.nothing.below"));
    assert_eq!(objects.read(&key).await.unwrap(), person(), "nothing changed");
}

async fn missing_objects_are_not_found(target: Target) {
    let (db, store) = ready(target).await;
    let objects = db.store(&store);
    assert!(objects.read("nobody").await.unwrap_err().is_not_found());
    assert!(objects.read_path("nobody", "$.firstname").await.unwrap_err().is_not_found());
    assert!(objects.read_path("nobody", "$.location.city").await.unwrap_err().is_not_found());
    let e = objects.write_path("nobody", "$.firstname", json!("x")).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = objects.write_path("nobody", "$.location.city", json!("x")).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = objects.delete("nobody").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.key(), Some("nobody"));
    assert_eq!(e.table(), Some(store.layout().table.as_ref()));
    assert_eq!(count_items(&db, &store.layout().table).await, 0, "write_path created nothing");
}

async fn paths_into_missing_shards_are_their_own_error(target: Target) {
    let (db, store) = ready(target).await;
    let objects = db.store(&store);
    let mut doc = person();
    doc["location"] = Value::Null;
    let key = objects.write(doc.clone()).await.unwrap();
    assert_eq!(objects.read(&key).await.unwrap(), doc);
    for result in
        [objects.read_path(&key, "$.location.city").await.map(drop), objects.write_path(&key, "$.location.city", json!("x")).await]
    {
        let e = result.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingShard, "{e}");
        assert_eq!(e.path(), Some("$.location"));
    }
    // A path that is simply absent reads as no value.
    assert_eq!(objects.read_path(&key, "$.middlename").await.unwrap(), Vec::<Value>::new());
}

async fn bad_input_gets_clear_errors(target: Target) {
    let (db, store) = ready(target).await;
    let objects = db.store(&store);
    let e = objects.write(json!(["not", "an", "object"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidDocument);
    let mut doc = person();
    doc["location"] = json!("Paris");
    let e = objects.write(doc).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidDocument, Some("$.location")));
    let e = objects.write(json!({"ID": "x"})).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidDocument, Some("$.ID")));
    // With the key given, the error names it too (break test).
    let e = objects.write_with_key("ada", json!({"ID": 1})).await.unwrap_err();
    assert_eq!((e.kind(), e.key(), e.path()), (ErrorKind::InvalidDocument, Some("ada"), Some("$.ID")), "{e}");
    let e = objects.write_with_key("ada", json!([1])).await.unwrap_err();
    assert_eq!((e.kind(), e.key()), (ErrorKind::InvalidDocument, Some("ada")), "{e}");
    let e = objects.read_path("k", "location.city").await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some("location.city")));

    let bad = Store::new("no spaces allowed", "ID");
    for e in [db.store(&bad).write(json!({})).await.unwrap_err(), db.store(&bad).create_tables().await.unwrap_err()] {
        assert_eq!(e.kind(), ErrorKind::InvalidTableName);
        assert_eq!(e.table(), Some("no spaces allowed"));
    }
    let absent = Store::new(table("Absent"), "ID");
    let e = db.store(&absent).write(json!({})).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TableNotFound, "{e}");
}

async fn oversized_items_are_refused_before_sending(target: Target) {
    let (db, store) = ready(target).await;
    let (db, requests) = db.counted();
    let mut doc = person();
    // Many small values: no leaf large enough to go to chunk items (a
    // single large string would; see tests/large_leaves.rs).
    doc["location"]["history"] = json!((0..60_000).map(|i| format!("visit {i:06}")).collect::<Vec<_>>());
    doc["location"]["notes"] = json!("y".repeat(150 * 1024));
    let e = db.store(&store).write(doc).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ItemTooLarge);
    assert_eq!(e.table(), Some(shard_table(&store, 0).as_str()));
    assert_eq!(e.path(), Some("$.location.history"));
    assert_eq!(requests.total(), 0, "nothing was sent");
    for (i, t) in [store.layout().table.to_string(), shard_table(&store, 0), shard_table(&store, 1)].iter().enumerate() {
        assert_eq!(count_items(&db, t).await, 0, "table {i} is empty");
    }
}

async fn resaving_leaves_no_orphans(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Root"), "ID")
        .shard(Store::new(table("Locales"), "LID").at("$.locales[*]").shard(Store::new(table("Notes"), "NID").at("$.note")))
        .shard(Store::new(table("Opt"), "OID").at("$.extra"));
    db.store(&store).create_tables().await.unwrap();
    let locales = store.layout().shards[0].layout.table.to_string();
    let notes = store.layout().shards[0].layout.shards[0].layout.table.to_string();
    let extra = store.layout().shards[1].layout.table.to_string();
    let three = json!({"locales": [{"t": "en", "note": {"n": 1}}, {"t": "fr", "note": {"n": 2}}, {"t": "de", "note": {"n": 3}}], "extra": {"e": 1}});
    let key = db.store(&store).write(three.clone()).await.unwrap();
    assert_eq!(db.store(&store).read(&key).await.unwrap(), three);
    assert_eq!((count_items(&db, &locales).await, count_items(&db, &notes).await, count_items(&db, &extra).await), (3, 3, 1));

    let one = json!({"locales": [{"t": "es", "note": {"n": 9}}], "extra": null});
    db.store(&store).write_with_key(&key, one.clone()).await.unwrap();
    assert_eq!(db.store(&store).read(&key).await.unwrap(), one);
    assert_eq!((count_items(&db, &locales).await, count_items(&db, &notes).await, count_items(&db, &extra).await), (1, 1, 0));

    db.store(&store).delete(&key).await.unwrap();
    assert_eq!(count_items(&db, &locales).await + count_items(&db, &notes).await, 0);
    assert!(db.store(&store).read(&key).await.unwrap_err().is_not_found());
}

async fn list_shards_read_by_path_and_query(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Person"), "ID").shard(Store::new(table("Locale"), "LID").at("$.locales[*]"));
    db.store(&store).create_tables().await.unwrap();
    let doc = json!({"name": "A", "locales": [{"type": "home", "lang": "en"}, {"type": "work", "lang": "de"}]});
    let key = db.store(&store).write(doc.clone()).await.unwrap();
    let (db, requests) = db.counted();
    let objects = db.store(&store);
    assert_eq!(objects.read(&key).await.unwrap(), doc);
    assert_eq!(requests.snapshot(), [(op::BATCH_GET_ITEM, 2)].into(), "a list of shards takes a second request");
    requests.reset();
    assert_eq!(objects.read_path(&key, "$.locales[1].type").await.unwrap(), vec![json!("work")]);
    assert_eq!(requests.snapshot(), [(op::GET_ITEM, 1)].into());
    assert_eq!(objects.read_path(&key, "$.locales[*].type").await.unwrap(), vec![json!("home"), json!("work")]);
    assert_eq!(objects.read_path(&key, "$.locales[?@.lang == 'de'].type").await.unwrap(), vec![json!("work")]);
    assert_eq!(objects.read_path(&key, "$.locales").await.unwrap(), vec![doc["locales"].clone()]);
    objects.write_path(&key, "$.locales[0].lang", json!("fr")).await.unwrap();
    assert_eq!(objects.read_path(&key, "$..lang").await.unwrap(), vec![json!("fr"), json!("de")]);
}

async fn reading_with_the_root_table_alone(target: Target) {
    let (db, store) = ready(target).await;
    let key = db.store(&store).write(person()).await.unwrap();
    let read = db.store(&Store::new(store.layout().table.as_ref(), "ID")).read(&key).await.unwrap();
    assert_eq!(read, person());
    let shallow = db.store(&store).read_shallow(&key).await.unwrap();
    assert_eq!(shallow["location"]["__dystore_ref__"]["key"], json!(format!("{key}#$.location")));
    assert_eq!(shallow["firstname"], json!("Ada"));
}

async fn torn_reads_are_never_returned(target: Target) {
    let (db, store) = ready(target).await;
    let key = db.store(&store).write(person()).await.unwrap();
    // Simulate a save caught halfway: one shard carries another write id.
    let birth = shard_table(&store, 1);
    let mut update = dystore::backend::Expr { text: "SET #m.#w = :w".into(), ..Default::default() };
    update.names.insert("#m".into(), "__dystore_meta__".into());
    update.names.insert("#w".into(), "write_id".into());
    update.values.insert(":w".into(), AttributeValue::S("other-save".into()));
    let shard_key = [("BID".to_owned(), AttributeValue::S(format!("{key}#$.birth_details")))].into();
    db.backend().write(Write::Update { table: birth, key: shard_key, update, condition: None }).await.unwrap();
    let e = db.store(&store).read(&key).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Inconsistent, "{e}");
    // A new save makes the object whole again.
    db.store(&store).write_with_key(&key, person()).await.unwrap();
    assert_eq!(db.store(&store).read(&key).await.unwrap(), person());
}

async fn optimistic_locking(target: Target) {
    let (db, store) = ready(target).await;
    let objects = db.store(&store);
    let key = objects.write(person()).await.unwrap();
    let mut first = objects.read_versioned(&key).await.unwrap();
    let second = objects.read_versioned(&key).await.unwrap();
    first.value["lastname"] = json!("Byron");
    let revision = objects.write_versioned(&first).await.unwrap();
    assert_ne!(revision, first.revision);
    let e = objects.write_versioned(&second).await.unwrap_err();
    assert!(e.is_conflict(), "{e}");
    assert_eq!(objects.read(&key).await.unwrap()["lastname"], json!("Byron"));

    // write_path advances the revision too.
    let third = objects.read_versioned(&key).await.unwrap();
    objects.write_path(&key, "$.location.city", json!("Paris")).await.unwrap();
    assert!(objects.write_versioned(&third).await.unwrap_err().is_conflict());
}

struct Loader;
impl ConfigLoader for Loader {
    fn generate_pk(&self, doc: &Value) -> Option<String> {
        doc["lastname"].as_str().map(|s| format!("person-{s}"))
    }
    fn keep_metadata(&self) -> bool {
        true
    }
}

async fn the_loader_chooses_keys_and_metadata(target: Target) {
    let (db, store) = ready(target).await;
    let db = db.with_loader(Loader);
    let key = db.store(&store).write(person()).await.unwrap();
    assert_eq!(key, "person-Lovelace");
    let read = db.store(&store).read(&key).await.unwrap();
    let meta = &read["__dystore_meta__"];
    assert_eq!(meta["version"], json!(1));
    assert_eq!(meta["table"], json!(store.layout().table.as_ref()));
    assert_eq!(meta["layout"]["shards"][0]["path"], json!("$.location"));
    // A document read with its metadata can be written back as it is.
    db.store(&store).write_with_key(&key, read).await.unwrap();
}

async fn saves_beyond_one_transaction(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Big"), "ID").shard(Store::new(table("Elems"), "EID").at("$.items[*]"));
    db.store(&store).create_tables().await.unwrap();
    let doc = json!({"items": (0..150).map(|i| json!({"i": i})).collect::<Vec<_>>()});
    let (db, requests) = db.counted();
    let key = db.store(&store).write(doc.clone()).await.unwrap();
    assert_eq!(requests.get(op::TRANSACT_WRITE_ITEMS), 2, "151 items need two transactions");
    assert_eq!(db.store(&store).read(&key).await.unwrap(), doc);
}

async fn create_tables_checks_existing_schemas(target: Target) {
    let db = client(target).await;
    let name = table("Clash");
    db.backend().create_table(&name, "other").await.unwrap();
    let e = db.store(&Store::new(name.clone(), "ID")).create_tables().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
    assert_eq!(e.table(), Some(name.as_str()));
    assert!(e.to_string().contains("expected partition key `ID` (S) and no sort key, found HASH `other` (S)"), "{e}");
    // Creating twice is fine: existing tables that match are kept.
    let store = people();
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).create_tables().await.unwrap();
}

async fn concurrent_saves_never_show_a_mix(target: Target) {
    let db = client(target).await;
    let store = Store::new(table("Mix"), "ID").shard(Store::new(table("MixElems"), "EID").at("$.items[*]"));
    db.store(&store).create_tables().await.unwrap();
    // 150 elements: each save takes two transactions, so a reader can land
    // between them and must notice.
    let version = |v: u64| json!({"v": v, "items": (0..150).map(|_| json!({"v": v})).collect::<Vec<_>>()});
    let key = db.store(&store).write(version(0)).await.unwrap();
    let writer = {
        let (db, store, key) = (db.clone(), store.clone(), key.clone());
        tokio::spawn(async move {
            for v in 1..=12 {
                db.store(&store).write_with_key(&key, version(v)).await.unwrap();
            }
        })
    };
    let mut whole_reads = 0;
    // Bounded, and yielding: on the embedded engine requests never suspend,
    // so the writer only runs when the reader yields.
    for _ in 0..10_000 {
        if writer.is_finished() {
            break;
        }
        tokio::task::yield_now().await;
        match db.store(&store).read(&key).await {
            Ok(doc) => {
                let v = doc["v"].clone();
                assert!(doc["items"].as_array().unwrap().iter().all(|e| e["v"] == v), "a mix of saves was returned");
                whole_reads += 1;
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Inconsistent, "{e}"),
        }
    }
    writer.await.unwrap();
    assert_eq!(db.store(&store).read(&key).await.unwrap(), version(12));
    assert!(whole_reads > 0, "no read completed while the writer ran");
}

conformance!(
    round_trip_across_tables,
    every_item_of_a_save_carries_its_write_id,
    one_request_per_operation,
    write_path_changes_only_its_path,
    write_path_refuses_what_it_cannot_do_in_one_item,
    missing_objects_are_not_found,
    paths_into_missing_shards_are_their_own_error,
    bad_input_gets_clear_errors,
    oversized_items_are_refused_before_sending,
    resaving_leaves_no_orphans,
    list_shards_read_by_path_and_query,
    reading_with_the_root_table_alone,
    torn_reads_are_never_returned,
    optimistic_locking,
    the_loader_chooses_keys_and_metadata,
    saves_beyond_one_transaction,
    create_tables_checks_existing_schemas,
    concurrent_saves_never_show_a_mix,
);
