//! Every input gets the right answer or a clear error: `read_path` and
//! `write_path` at list indexes, fields named like a shard's key, binaries
//! written by other tools, deletes that leave nothing behind, saves racing on
//! list shards, keys that could collide, and values over DynamoDB's limits.
//! Each test is one example of its kind, asserting the right value, on the
//! embedded engine and over HTTP.

mod common;

use common::{Target, client, table};
use dystore::backend::{Expr, Scan, Write};
use dystore::{Client, ErrorKind, Key, Keyring, Store};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};

async fn keys_in(db: &Client, table: &str) -> Vec<String> {
    let page = db.backend().scan(Scan { table: table.to_owned(), consistent: true, ..Default::default() }).await.unwrap();
    let mut keys: Vec<String> = page
        .items
        .into_iter()
        .flat_map(|item| item.into_values().filter_map(|v| if let AttributeValue::S(s) = v { Some(s) } else { None }).take(1))
        .collect();
    keys.sort();
    keys
}

async fn items_in(db: &Client, table: &str) -> usize {
    let page = db.backend().scan(Scan { table: table.to_owned(), consistent: true, ..Default::default() }).await.unwrap();
    page.items.len()
}

fn shards() -> Store {
    Store::new(table("RaPeople"), "ID")
        .shard(Store::new(table("RaLocations"), "IDX").at("$.location").shard(Store::new(table("RaGeo"), "GID").at("$.geo")))
        .shard(Store::new(table("RaLocales"), "LID").at("$.locales[*]"))
}

async fn ready(target: Target, store: &Store) -> Client {
    let db = client(target).await.with_loader(Keyring::new().with_key("k", Key::new([5u8; 32]).unwrap()).default_key("k"));
    db.store(store).create_tables().await.unwrap();
    db
}

// ---- read_path at list indexes ----

async fn read_path_reads_any_index(target: Target) {
    let store = shards().encrypt("$.secret");
    let db = ready(target, &store).await;
    let objects = db.store(&store);
    let doc = json!({
        "friends": ["bob", "john", "mick"],
        "matrix": [[1, 2], [3, 4]],
        "secret": ["a", "b", "c"],
        "location": {"tags": ["x", "y", "z"], "geo": {"points": [[0, 0], [1, 5]]}},
        "locales": [{"type": "a"}, {"type": "b"}, {"type": "c", "words": ["un", "deux"]}]
    });
    let key = objects.write(doc).await.unwrap();
    let (db, requests) = db.counted();
    let objects = db.store(&store);
    for (path, want) in [
        ("$.friends[1]", json!("john")),
        ("$.friends[2]", json!("mick")),
        ("$.matrix[1][0]", json!(3)),
        ("$.matrix[1]", json!([3, 4])),
        ("$.secret[2]", json!("c")),
        ("$.location.tags[2]", json!("z")),
        ("$.location.geo.points[1][1]", json!(5)),
        ("$.locales[2].type", json!("c")),
        ("$.locales[2].words[1]", json!("deux")),
    ] {
        assert_eq!(objects.read_path(&key, path).await.unwrap(), [want], "{path}");
    }
    assert_eq!(requests.total(), 9, "one GetItem each");
    assert_eq!(objects.read_path(&key, "$.friends[3]").await.unwrap(), Vec::<Value>::new(), "past the end: no value");
}

// ---- write_path past the end of a list ----

async fn write_path_never_appends(target: Target) {
    let store = shards().encrypt("$.secret");
    let db = ready(target, &store).await;
    let objects = db.store(&store);
    let doc = json!({"list": [1, 2], "secret": ["a", "b"], "location": {"l": [1]}, "locales": [{"w": [1, 2]}]});
    let key = objects.write(doc.clone()).await.unwrap();
    for path in ["$.list[5]", "$.list[2]", "$.secret[5]", "$.location.l[1]", "$.locales[0].w[2]"] {
        let e = objects.write_path(&key, path, json!(99)).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some(path)), "{path}: {e}");
        assert!(e.to_string().contains("no element at this index"), "{e}");
    }
    assert_eq!(objects.read(&key).await.unwrap(), doc, "nothing changed, and the object still loads");
    objects.write_path(&key, "$.secret[1]", json!("B")).await.unwrap();
    objects.write_path(&key, "$.locales[0].w[1]", json!(20)).await.unwrap();
    let read = objects.read(&key).await.unwrap();
    assert_eq!((&read["secret"], &read["locales"][0]["w"]), (&json!(["a", "B"]), &json!([1, 20])), "an existing index is replaced");
}

// ---- fields named like what dystore stores beside them ----

async fn fields_named_like_a_shard_key_are_refused(target: Target) {
    let store = shards();
    let db = ready(target, &store).await;
    let (counted, requests) = db.clone().counted();
    for (doc, path) in [
        (json!({"location": {"city": "London", "IDX": "mine"}}), "$.location.IDX"),
        (json!({"location": {"geo": {"GID": 1}}}), "$.location.geo.GID"),
        (json!({"locales": [{"LID": "x"}]}), "$.locales[0].LID"),
        (json!({"location": {"__dystore_meta__": {}}}), "$.location.__dystore_meta__"),
    ] {
        let e = counted.store(&store).write(doc).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidDocument, Some(path)), "{e}");
    }
    assert_eq!(requests.total(), 0, "refused before any request");
}

// ---- binaries other tools wrote ----

async fn binaries_outside_encrypted_paths_read_as_base64(target: Target) {
    let store = shards().encrypt("$.secret");
    let db = ready(target, &store).await;
    let key = db.store(&store).write(json!({"name": "Ada", "secret": "s"})).await.unwrap();
    let mut update = Expr { text: "SET #a = :a, #e = :e, #l = :l".into(), ..Default::default() };
    for (p, n) in [("#a", "avatar"), ("#e", "empty"), ("#l", "looks")] {
        update.names.insert(p.into(), n.into());
    }
    update.values.insert(":a".into(), AttributeValue::B(vec![0x00, 0xff, 0x01]));
    update.values.insert(":e".into(), AttributeValue::B(vec![]));
    // Starts like a format 1 envelope but is not one (too short).
    update.values.insert(":l".into(), AttributeValue::B(vec![0x01, 0x01, b'k', 1, 2, 3]));
    let item = [("ID".to_owned(), AttributeValue::S(key.clone()))].into();
    db.backend().write(Write::Update { table: store.layout().table.to_string(), key: item, update, condition: None }).await.unwrap();
    let read = db.store(&store).read(&key).await.unwrap();
    assert_eq!((&read["avatar"], &read["empty"], &read["looks"]), (&json!("AP8B"), &json!(""), &json!("AQFrAQID")));
    assert_eq!(db.store(&store).read_path(&key, "$.avatar").await.unwrap(), [json!("AP8B")]);
}

// ---- deletes leave nothing behind ----

async fn deletes_through_the_root_table_alone_leave_nothing(target: Target) {
    let store = shards();
    let db = ready(target, &store).await;
    let doc = json!({"name": "Ada", "location": {"city": "London", "geo": {"lat": 51.5}}, "locales": [{"t": 1}, {"t": 2}]});
    let key = db.store(&store).write(doc.clone()).await.unwrap();
    let root_only = Store::new(store.layout().table.to_string(), "ID");
    assert_eq!(db.store(&root_only).read(&key).await.unwrap(), doc, "reads follow the stored layout");
    assert_eq!(db.store(&root_only).read_path(&key, "$.location.city").await.unwrap(), [json!("London")]);
    db.store(&root_only).write_path(&key, "$.location.city", json!("Paris")).await.unwrap();
    assert_eq!(db.store(&store).read(&key).await.unwrap()["location"]["city"], json!("Paris"), "written into the shard, not the reference");
    db.store(&root_only).delete(&key).await.unwrap();
    let tables = [
        &store.layout().table,
        &store.layout().shards[0].layout.table,
        &store.layout().shards[0].layout.shards[0].layout.table,
        &store.layout().shards[1].layout.table,
    ];
    for t in tables {
        assert_eq!(items_in(&db, t).await, 0, "no item of the object remains in {t}");
    }
    assert!(db.store(&store).read(&key).await.unwrap_err().is_not_found());
}

async fn saves_racing_on_a_list_shard_leave_only_the_winner(target: Target) {
    let store = shards();
    let db = ready(target, &store).await;
    let key = db.store(&store).write(json!({"locales": [{"n": 0}, {"n": 1}, {"n": 2}]})).await.unwrap();
    let locales = store.layout().shards[1].layout.table.to_string();
    for round in 0..4 {
        let mut tasks = Vec::new();
        for len in [5usize, 2, 7, 1] {
            let (db, store, key) = (db.clone(), store.clone(), key.clone());
            let doc = json!({"locales": (0..len).map(|i| json!({"n": i, "round": round})).collect::<Vec<_>>()});
            tasks.push(tokio::spawn(async move { db.store(&store).write_with_key(&key, doc).await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let read = db.store(&store).read(&key).await.unwrap();
        let len = read["locales"].as_array().unwrap().len();
        assert_eq!(keys_in(&db, &locales).await.len(), len, "round {round}: only the winner's {len} elements are stored");
    }
    // A delete racing a save: afterwards, nothing or a whole object.
    let (db2, store2, key2) = (db.clone(), store.clone(), key.clone());
    let saving = tokio::spawn(async move {
        db2.store(&store2).write_with_key(&key2, json!({"locales": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]})).await
    });
    let deleted = db.store(&store).delete(&key).await;
    saving.await.unwrap().unwrap();
    match db.store(&store).read(&key).await {
        Ok(read) => assert_eq!(keys_in(&db, &locales).await.len(), read["locales"].as_array().unwrap().len()),
        Err(e) => {
            assert!(e.is_not_found() && deleted.is_ok(), "{e}");
            assert_eq!(items_in(&db, &locales).await, 0, "the delete left no element behind");
        }
    }
}

// ---- keys ----

async fn keys_that_could_collide_or_that_dynamodb_refuses_are_invalid(target: Target) {
    let store = shards();
    let db = ready(target, &store).await;
    let victim = db.store(&store).write(json!({"location": {"city": "London"}})).await.unwrap();
    let (counted, requests) = db.clone().counted();
    let objects = counted.store(&store);
    for bad in [format!("{victim}#$.location"), String::new(), "x".repeat(1025), "a#$b".into()] {
        let errors = [
            objects.write_with_key(&bad, json!({})).await.unwrap_err(),
            objects.read(&bad).await.unwrap_err(),
            objects.read_path(&bad, "$.a").await.unwrap_err(),
            objects.write_path(&bad, "$.a", json!(1)).await.unwrap_err(),
            objects.delete(&bad).await.unwrap_err(),
        ];
        for e in errors {
            assert_eq!(e.kind(), ErrorKind::InvalidKey, "{bad:?}: {e}");
        }
    }
    assert_eq!(requests.total(), 0, "refused before any request");
    assert_eq!(db.store(&store).read(&victim).await.unwrap(), json!({"location": {"city": "London"}}), "the other object is untouched");
    // `#` alone is an ordinary character in keys.
    objects.write_with_key("a#b", json!({"x": 1})).await.unwrap();
    assert_eq!(objects.read("a#b").await.unwrap(), json!({"x": 1}));
}

// ---- DynamoDB's limits ----

async fn values_over_the_item_limit_are_item_too_large(target: Target) {
    let store = shards();
    let db = ready(target, &store).await;
    let objects = db.store(&store);
    let key = objects.write(json!({"a": "x", "location": {"c": 1}})).await.unwrap();
    let big = json!("x".repeat(500 * 1024));
    let (counted, requests) = db.clone().counted();
    for path in ["$.a", "$.location.c"] {
        let e = counted.store(&store).write_path(&key, path, big.clone()).await.unwrap_err();
        assert_eq!((e.kind(), e.path(), e.key()), (ErrorKind::ItemTooLarge, Some(path), Some(key.as_str())), "{e}");
    }
    assert_eq!(requests.total(), 0);
    // Two values that fit alone but not together: DynamoDB refuses, and the
    // refusal is decoded as what it is.
    let half = json!("y".repeat(300 * 1024));
    objects.write_path(&key, "$.a", half.clone()).await.unwrap();
    let e = objects.write_path(&key, "$.b", half.clone()).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::ItemTooLarge, Some("$.b")), "{e}");
    // The same in a shard item, where the refusal comes back as a
    // transaction's bare reason code.
    objects.write_path(&key, "$.location.a", half.clone()).await.unwrap();
    let e = objects.write_path(&key, "$.location.b", half).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::ItemTooLarge, Some("$.location.b")), "{e}");
    let e = objects.write_path(&key, "$.location.none.x", json!(1)).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some("$.location.none.x")), "a missing parent is still InvalidPath: {e}");
}

async fn numbers_and_nesting_dynamodb_refuses_are_invalid_documents(target: Target) {
    let store = shards().encrypt("$.sealed");
    let db = ready(target, &store).await;
    let key = db.store(&store).write(json!({"a": 1, "location": {"b": 2}})).await.unwrap();
    let (counted, requests) = db.clone().counted();
    let objects = counted.store(&store);
    let mut deep = json!("leaf");
    for _ in 0..32 {
        deep = json!([deep]);
    }
    let long_name: String = "x".repeat(64 * 1024 + 1);
    for (doc, path) in [
        (json!({"n": {long_name.clone(): 1}}), format!("$.n.{long_name}")),
        (json!({"a": 1e300}), "$.a".to_owned()),
        (json!({"a": [1, 1e-131]}), "$.a[1]".to_owned()),
        (json!({"location": {"b": -1e200}}), "$.location.b".to_owned()),
        (json!({"locales": [{"x": {"y": 1e-140}}]}), "$.locales[0].x.y".to_owned()),
        (
            json!({"deep": deep}),
            "$.deep[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]".to_owned(),
        ),
    ] {
        let e = objects.write_with_key(&key, doc).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidDocument, Some(path.as_str())), "{e}");
    }
    for (path, value) in [("$.a", json!(1e300)), ("$.location.b", json!(1e-131))] {
        let e = objects.write_path(&key, path, value).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidDocument, Some(path)), "{e}");
    }
    assert_eq!(requests.total(), 0, "refused before any request");
    // A sealed number is bytes to DynamoDB: any JSON number goes.
    objects.write_path(&key, "$.sealed", json!(1e300)).await.unwrap();
    assert_eq!(objects.read_path(&key, "$.sealed").await.unwrap(), [json!(1e300)]);
    let mut ok = json!("leaf");
    for _ in 0..31 {
        ok = json!([ok]);
    }
    objects.write_with_key(&key, json!({"deep": ok.clone(), "big": 9.99e125, "small": 1e-130})).await.unwrap();
    assert_eq!(objects.read(&key).await.unwrap(), json!({"deep": ok, "big": 9.99e125, "small": 1e-130}));
}

async fn paths_read_through_another_shape_follow_the_stored_one(target: Target) {
    let full = Store::new(table("RaShRoot"), "ID")
        .shard(Store::new(table("RaShLoc"), "LX").at("$.loc").shard(Store::new(table("RaShGeo"), "GX").at("$.geo")))
        .shard(Store::new(table("RaShLst"), "SX").at("$.lst[*]").shard(Store::new(table("RaShInn"), "IX").at("$.inn[*]")));
    let db = ready(target, &full).await;
    let doc = json!({"loc": {"c": "x", "geo": {"g": 1}}, "lst": [{"inn": [{"i": 2}]}]});
    let key = db.store(&full).write(doc).await.unwrap();
    // The same tables, without the shards below the first level.
    let mut partial = full.clone().into_layout();
    partial.shards.to_mut()[0].layout.shards = Vec::new().into();
    partial.shards.to_mut()[1].layout.shards = Vec::new().into();
    let objects = db.objects(&partial);
    for (path, want) in [
        ("$.loc.geo.g", json!(1)),
        ("$.loc.geo", json!({"g": 1})),
        ("$.lst[0].inn[0].i", json!(2)),
        ("$.lst[0].inn", json!([{"i": 2}])),
        ("$.loc.c", json!("x")),
    ] {
        assert_eq!(objects.read_path(&key, path).await.unwrap(), [want], "{path}: never a reference, never a wrong answer");
    }
}

/// An absent shard reads the same however the object was saved (in one
/// transaction, staged with shard keys carrying the write id, or with a
/// leaf in chunk items): `MissingShard` for a path into it, a shard inside
/// it included, for write_path too; no value at the place of a shard, or at
/// a plain path simply absent. A staged object's absent shard once read as
/// no value, a nested shard's place inside an absent shard too, and
/// write_path into an absent shard of an object with a large leaf was
/// `InvalidPath`.
async fn absent_shards_read_alike_however_the_object_was_saved(target: Target) {
    let store = Store::new(table("RaAbsent"), "ID")
        .shard(Store::new(table("RaAbsentLoc"), "LX").at("$.location").shard(Store::new(table("RaAbsentGeo"), "GX").at("$.geo")))
        .shard(Store::new(table("RaAbsentItems"), "IX").at("$.items[*]").shard(Store::new(table("RaAbsentSub"), "SX").at("$.sub")));
    let db = ready(target, &store).await;
    let objects = db.store(&store);
    let items = |n: usize| (0..n).map(|i| json!({"n": i})).collect::<Vec<_>>();
    let saves = [
        ("one", json!({"items": items(3)})),
        // Over DynamoDB's 100 writes per transaction: staged.
        ("staged", json!({"items": items(150)})),
        // A leaf over the item limit: in chunk items.
        ("large", json!({"items": items(3), "big": "x".repeat(500 * 1024)})),
    ];
    let missing = ["$.location.city", "$.location.geo", "$.location.geo.g", "$.items[1].sub.s", "$.items[200].n", "$.items[200].sub"];
    let no_value = ["$.location", "$.items[1].absent", "$.items[1].sub", "$.items[200]", "$.other"];
    for (key, doc) in saves {
        objects.write_with_key(key, doc).await.unwrap();
        for path in missing {
            let e = objects.read_path(key, path).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::MissingShard, "{key} {path}: {e}");
        }
        for path in no_value {
            assert_eq!(objects.read_path(key, path).await.unwrap(), Vec::<Value>::new(), "{key} {path}");
        }
        assert_eq!(objects.read_path(key, "$.items[1].n").await.unwrap(), [json!(1)], "{key}");
        for path in ["$.location.city", "$.location.geo.g", "$.items[1].sub.s", "$.items[200].n"] {
            let e = objects.write_path(key, path, json!(1)).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::MissingShard, "write_path {key} {path}: {e}");
        }
    }
}

/// Whether a path leads into an absent shard is decided by the shape the
/// object is stored in (docs/FORMAT.md, "Another shape"), for read_path and
/// write_path alike: through a layout without the shard, a path into the
/// stored shard that is absent is `MissingShard`; through a layout with a
/// shard where the stored object has plain data, an absent path reads as
/// no value. Both once followed the caller's layout, and read_path and
/// write_path disagreed.
async fn absent_shards_follow_the_stored_shape(target: Target) {
    let root = table("RaStShape");
    let sharded = Store::new(root.clone(), "ID").shard(Store::new(table("RaStShapeLoc"), "LX").at("$.location"));
    let bare = Store::new(root, "ID");
    let db = ready(target, &sharded).await;
    let big = "x".repeat(450 * 1024);
    for (key, doc) in [("small", json!({"name": "n"})), ("large", json!({"name": "n", "big": big}))] {
        db.store(&sharded).write_with_key(key, doc.clone()).await.unwrap();
        let e = db.store(&bare).read_path(key, "$.location.city").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingShard, "{key}: {e}");
        let e = db.store(&bare).write_path(key, "$.location.city", json!(1)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingShard, "{key}: {e}");
        // Stored without the shard: plain data, absent.
        db.store(&bare).write_with_key(key, doc).await.unwrap();
        assert_eq!(db.store(&sharded).read_path(key, "$.location.city").await.unwrap(), Vec::<Value>::new(), "{key}");
        let e = db.store(&sharded).write_path(key, "$.location.city", json!(1)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidPath, "{key}: {e}");
    }
}

/// Two spellings of one shard path are one shape: the root records shard
/// paths in normal form (docs/FORMAT.md, "Paths"), so an object saved
/// through `$['location']` is read through `$.location` by one GetItem, not
/// as an object of another shape. It once recorded the path as written.
async fn two_spellings_of_a_shard_path_are_one_shape(target: Target) {
    let (root, loc) = (table("RaSpell"), table("RaSpellLoc"));
    let quoted = Store::new(root.clone(), "ID").shard(Store::new(loc.clone(), "LX").at("$['location']"));
    let dotted = Store::new(root, "ID").shard(Store::new(loc, "LX").at("$.location"));
    let db = ready(target, &quoted).await;
    db.store(&quoted).write_with_key("k", json!({"location": {"city": "Oslo"}})).await.unwrap();
    let (counted, requests) = db.clone().counted();
    assert_eq!(counted.store(&dotted).read_path("k", "$.location.city").await.unwrap(), [json!("Oslo")]);
    assert_eq!(requests.total(), 1, "one GetItem: the stored shape is the reader's");
}

async fn key_attributes_and_metadata_are_not_document_paths(target: Target) {
    let store = shards();
    let db = ready(target, &store).await;
    let key = db.store(&store).write(json!({"location": {"c": 1}, "locales": [{"t": 1}]})).await.unwrap();
    let (counted, requests) = db.clone().counted();
    let objects = counted.store(&store);
    for path in [
        "$.ID",
        "$.ID.x",
        "$.__dystore_meta__",
        "$.__dystore_meta__.shape",
        "$.location.IDX",
        "$.location.__dystore_meta__",
        "$.locales[0].LID",
    ] {
        let e = objects.read_path(&key, path).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some(path)), "{e}");
        let e = objects.write_path(&key, path, json!(1)).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some(path)), "{e}");
    }
    assert_eq!(requests.total(), 0, "refused before any request");
}

async fn shard_keys_over_the_limit_are_invalid_keys_for_every_operation(target: Target) {
    let long = "n".repeat(1100);
    let store = Store::new(table("RaLongRoot"), "ID").shard(Store::new(table("RaLongShard"), "SX").at(format!("$.{long}")));
    let db = ready(target, &store).await;
    let root_key = "k".repeat(1000);
    let (counted, requests) = db.clone().counted();
    let objects = counted.store(&store);
    let errors = [
        objects.write_with_key(&root_key, json!({"a": 1})).await.unwrap_err(),
        objects.write_with_key(&root_key, json!({long.clone(): {"b": 1}})).await.unwrap_err(),
        objects.read(&root_key).await.unwrap_err(),
        objects.read_path(&root_key, &format!("$.{long}.b")).await.unwrap_err(),
        objects.write_path(&root_key, &format!("$.{long}.b"), json!(1)).await.unwrap_err(),
        objects.delete(&root_key).await.unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.kind(), ErrorKind::InvalidKey, "{e}");
    }
    assert_eq!(requests.total(), 0, "refused before any request");
    objects.write_with_key("short", json!({long.clone(): {"b": 1}})).await.unwrap();
}

/// `[*]` selects a map's member values as it selects a list's elements
/// (RFC 9535's wildcard selector, as `.*` does): the break test's example,
/// where `$.m[*]`, `$.location[*]` (a shard) and `$[*]` read as no value.
async fn a_wildcard_index_selects_the_values_of_a_map(target: Target) {
    let store = shards();
    let db = ready(target, &store).await;
    let objects = db.store(&store);
    objects.write_with_key("k", json!({"m": {"a": 1, "b": 2}, "location": {"city": "Paris"}})).await.unwrap();
    assert_eq!(objects.read_path("k", "$.m[*]").await.unwrap(), [json!(1), json!(2)]);
    assert_eq!(objects.read_path("k", "$.location[*]").await.unwrap(), [json!("Paris")]);
    assert_eq!(objects.read_path("k", "$[*]").await.unwrap(), [json!({"city": "Paris"}), json!({"a": 1, "b": 2})]);
    assert_eq!(objects.read_path("k", "$.m[*]").await.unwrap(), objects.read_path("k", "$.m.*").await.unwrap());
}

/// A shard table that does not exist, or is keyed by another attribute,
/// is named by the error of every operation that meets it (break test:
/// `TableNotFound` named the root table, which existed, and a shard table
/// keyed otherwise was an untyped `Backend` error naming the root).
async fn a_missing_or_mis_keyed_shard_table_is_named(target: Target) {
    let db = client(target).await;
    let (root, shard) = (table("RaNamedRoot"), table("RaNamedShard"));
    let store = Store::new(root.as_str(), "ID").shard(Store::new(shard.as_str(), "IDX").at("$.location"));
    db.store(&Store::new(root.as_str(), "ID")).create_tables().await.unwrap();
    let objects = db.store(&store);
    let doc = json!({"name": "Ada", "location": {"city": "Paris"}});
    let check = |e: dystore::Error, kind: ErrorKind, what: &str| {
        assert_eq!((e.kind(), e.table(), e.key()), (kind, Some(shard.as_str()), Some("k")), "{what}: {e}");
    };
    // The shard's table is missing.
    check(objects.write_with_key("k", doc.clone()).await.unwrap_err(), ErrorKind::TableNotFound, "write");
    db.store(&Store::new(root.as_str(), "ID")).write_with_key("k", json!({"name": "Ada"})).await.unwrap();
    check(objects.read("k").await.unwrap_err(), ErrorKind::TableNotFound, "read");
    check(objects.read_path("k", "$.location.city").await.unwrap_err(), ErrorKind::TableNotFound, "read_path");
    check(objects.delete("k").await.unwrap_err(), ErrorKind::TableNotFound, "delete");
    // The shard's table is keyed by another attribute.
    db.store(&Store::new(shard.as_str(), "OTHER")).create_tables().await.unwrap();
    check(objects.write_with_key("k", doc.clone()).await.unwrap_err(), ErrorKind::SchemaMismatch, "write, keyed otherwise");
    check(objects.read("k").await.unwrap_err(), ErrorKind::SchemaMismatch, "read, keyed otherwise");
    check(objects.read_path("k", "$.location.city").await.unwrap_err(), ErrorKind::SchemaMismatch, "read_path, keyed otherwise");
    let e = objects.write_with_key("k", doc).await.unwrap_err();
    assert!(e.to_string().contains("IDX") && e.to_string().contains("OTHER"), "says what each key is: {e}");
}

/// Through a root-only layout (which reads any object, following the
/// shape its root records) a shard table dropped or re-created keyed
/// otherwise after the save is named too (second break test: a read named
/// another shard table, a delete was an untyped `Backend` error naming the
/// root). Embedded: the test drops tables on the engine itself.
#[tokio::test]
async fn a_dropped_or_rekeyed_shard_table_is_named_through_a_root_only_layout() {
    let database = dynoxide::Database::memory().unwrap();
    let db = Client::new(dystore::backend::Embedded::from_database(database.clone()));
    let (root, loc, items) = (table("RaDropRoot"), table("RaDropLoc"), table("RaDropItems"));
    let full = Store::new(root.as_str(), "ID")
        .shard(Store::new(loc.as_str(), "IDX").at("$.location"))
        .shard(Store::new(items.as_str(), "LID").at("$.locales[*]"));
    db.store(&full).create_tables().await.unwrap();
    db.store(&full).write_with_key("k", json!({"location": {"city": "c"}, "locales": [{"t": 1}]})).await.unwrap();
    let drop =
        |name: &str| database.delete_table(dynoxide::actions::delete_table::DeleteTableRequest { table_name: name.to_owned() }).unwrap();
    drop(&items);
    let root_only = Store::new(root.as_str(), "ID");
    let objects = db.store(&root_only);
    for (e, what) in [(objects.read("k").await.unwrap_err(), "read"), (objects.delete("k").await.unwrap_err(), "delete")] {
        assert_eq!((e.kind(), e.table(), e.key()), (ErrorKind::TableNotFound, Some(items.as_str()), Some("k")), "{what}: {e}");
    }
    db.store(&Store::new(items.as_str(), "OTHER")).create_tables().await.unwrap();
    for (e, what) in [
        (objects.read("k").await.unwrap_err(), "read"),
        (objects.read_path("k", "$.locales[0].t").await.unwrap_err(), "read_path"),
        (objects.write_path("k", "$.locales[0].t", json!(2)).await.unwrap_err(), "write_path"),
        (objects.delete("k").await.unwrap_err(), "delete"),
    ] {
        assert_eq!((e.kind(), e.table(), e.key()), (ErrorKind::SchemaMismatch, Some(items.as_str()), Some("k")), "{what}: {e}");
    }
    // Nothing was half-done: the root and the location item are still there.
    assert_eq!((items_in(&db, &root).await, items_in(&db, &loc).await), (1, 1));
}

conformance!(
    a_missing_or_mis_keyed_shard_table_is_named,
    a_wildcard_index_selects_the_values_of_a_map,
    absent_shards_read_alike_however_the_object_was_saved,
    absent_shards_follow_the_stored_shape,
    two_spellings_of_a_shard_path_are_one_shape,
    paths_read_through_another_shape_follow_the_stored_one,
    key_attributes_and_metadata_are_not_document_paths,
    shard_keys_over_the_limit_are_invalid_keys_for_every_operation,
    numbers_and_nesting_dynamodb_refuses_are_invalid_documents,
    read_path_reads_any_index,
    write_path_never_appends,
    fields_named_like_a_shard_key_are_refused,
    binaries_outside_encrypted_paths_read_as_base64,
    deletes_through_the_root_table_alone_leave_nothing,
    saves_racing_on_a_list_shard_leave_only_the_winner,
    keys_that_could_collide_or_that_dynamodb_refuses_are_invalid,
    values_over_the_item_limit_are_item_too_large,
);

#[path = "right_answers/property.rs"]
mod property;
