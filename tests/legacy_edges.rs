//! dynamo-store 0.6 objects beyond the fixtures' shapes: damaged
//! ciphertexts, tables holding several kinds of item, staged upgrades that
//! crash and then meet the package's own writes, references the package
//! could write (lists recorded with `[*]`, two references to one item,
//! broken ones), the loader's view of the document, and reads over 16 MB.
//! On the embedded engine and over HTTP.

mod common;

use base64::Engine as _;
use common::legacy::{delete, items_of, known_ciphertext, legacy_meta, legacy_ref, put, s};
use common::{Target, client, table};
use dystore::backend::{Fault, FaultPlan};
use dystore::{Client, DyObject, ErrorKind, FnLoader, Key, Store, Upgrade};
use serde::{Deserialize, Serialize};
use serde_dynamo::AttributeValue as A;
use serde_json::{Value, json};

/// The package's key string for package paths (no leading `$.`), "k1" for
/// today's marks.
fn migrating(key_string: &str) -> FnLoader {
    let (old, new) = (Key::from_legacy_string(key_string), Key::new([4u8; 32]).unwrap());
    FnLoader::new().on_key_for(|path, _| (!path.starts_with("$.") && !path.starts_with("$[")).then(|| "legacy".to_owned())).on_key(
        move |id| match id.as_str() {
            "legacy" => Some(old.clone()),
            "k1" => Some(new.clone()),
            _ => None,
        },
    )
}

async fn damaged_ciphertexts_are_errors_and_block_the_upgrade(target: Target) {
    let (key_string, cipher, plain) = known_ciphertext();
    let db = client(target).await.with_loader(migrating(&key_string));
    let t = table("Damaged");
    let today = Store::new(&t, "ID").encrypt_with("$.firstname", "k1");
    db.store(&today).create_tables().await.unwrap();
    let raw = base64::engine::general_purpose::STANDARD.decode(&cipher).unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes).into_bytes();
    let damaged: [(&str, Vec<u8>); 5] = [
        ("one byte short", b64(&raw[..raw.len() - 1])),
        ("the IV alone", b64(&raw[..16])),
        ("not base64", b"!!!!not-base64!!!!".to_vec()),
        ("URL-safe alphabet", base64::engine::general_purpose::URL_SAFE.encode([0xfbu8; 48]).into_bytes()),
        ("empty after trimming", b" ".to_vec()),
    ];
    for (i, (what, bytes)) in damaged.into_iter().enumerate() {
        let key = format!("p{i}");
        put(&db, &t, vec![("ID", s(&key)), ("firstname", A::B(bytes)), ("__dystore_meta__", legacy_meta(&t, "ID", None, vec![]))]).await;
        let e = db.store(&today).read(&key).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::MalformedCiphertext | ErrorKind::Authentication), "{what}: {e}");
        assert_eq!((e.path(), e.key()), (Some("$.firstname"), Some(key.as_str())), "{what}: {e}");
        let e = db.store(&today).upgrade(&key).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::MalformedCiphertext | ErrorKind::Authentication), "{what}: {e}");
        let stored = items_of(&db, &t).await.into_iter().find(|i| i["ID"] == s(&key)).unwrap();
        assert!(matches!(&stored["__dystore_meta__"], A::M(m) if m.contains_key("table_name")), "{what}: still the legacy item");
    }
    // Line breaks, which Python's b64decode skipped, are skipped too.
    let mut wrapped = cipher.clone();
    wrapped.insert(20, b'\n');
    put(&db, &t, vec![("ID", s("wrapped")), ("firstname", A::B(wrapped)), ("__dystore_meta__", legacy_meta(&t, "ID", None, vec![]))]).await;
    assert_eq!(db.store(&today).read("wrapped").await.unwrap(), json!({"firstname": plain}));
}

async fn shard_items_in_the_root_table_are_not_objects(target: Target) {
    let (key_string, cipher, plain) = known_ciphertext();
    let db = client(target).await.with_loader(migrating(&key_string));
    let t = table("App");
    let today = Store::new(&t, "ID").encrypt_with("$.name", "k1").encrypt_with("$.location.city", "k1");
    db.store(&today).create_tables().await.unwrap();
    let loc_meta = legacy_meta(&t, "ID", Some("$.location"), vec![]);
    put(&db, &t, vec![("ID", s("LOC-1")), ("city", A::B(cipher.clone())), ("__dystore_meta__", loc_meta.clone())]).await;
    let root_meta = legacy_meta(&t, "ID", None, vec![loc_meta]);
    put(&db, &t, vec![("ID", s("ada")), ("name", A::B(cipher)), ("location", legacy_ref("LOC-1", &t)), ("__dystore_meta__", root_meta)])
        .await;
    let before = db.store(&today).read("ada").await.unwrap();
    assert_eq!(before, json!({"name": plain, "location": {"city": plain}}));

    let e = db.store(&today).upgrade("LOC-1").await.unwrap_err();
    assert_eq!((e.kind(), e.key()), (ErrorKind::Format, Some("LOC-1")), "{e}");
    let report = db.store(&today).upgrade_table().await.unwrap();
    assert_eq!((report.upgraded, report.skipped, report.failed.len()), (1, 1, 0), "{report:?}");
    assert_eq!(db.store(&today).read("ada").await.unwrap(), before, "the object reads the same, upgraded");
    let again = db.store(&today).upgrade_table().await.unwrap();
    assert_eq!(
        (again.upgraded, again.already_current, again.skipped, again.failed.len()),
        (0, 1, 0, 0),
        "the legacy shard item went with the upgrade: {again:?}"
    );
}

/// A legacy object of `pages` list-element shards in `pages_table`; its
/// shard keys are fresh on every call, as the package made them.
async fn put_book(db: &Client, root_table: &str, pages_table: &str, key: &str, pages: usize, edition: &str) -> Value {
    let mut refs = Vec::new();
    let mut metas = Vec::new();
    for i in 0..pages {
        let path = format!("$.pages[{i}]");
        let shard_key = uuid::Uuid::new_v4().to_string();
        let meta = legacy_meta(pages_table, "PID", Some(&path), vec![]);
        put(db, pages_table, vec![("PID", s(&shard_key)), ("text", s(&format!("{edition} {i}"))), ("__dystore_meta__", meta.clone())])
            .await;
        refs.push(legacy_ref(&shard_key, pages_table));
        metas.push(meta);
    }
    let meta = legacy_meta(root_table, "ID", None, metas);
    put(db, root_table, vec![("ID", s(key)), ("pages", A::L(refs)), ("__dystore_meta__", meta)]).await;
    json!({"pages": (0..pages).map(|i| json!({"text": format!("{edition} {i}")})).collect::<Vec<_>>()})
}

/// The package deletes the object: its shard items, then its root.
async fn package_deletes(db: &Client, root_table: &str, pages_table: &str, key: &str) {
    for item in items_of(db, pages_table).await {
        let A::M(meta) = &item["__dystore_meta__"] else { continue };
        if meta.contains_key("table_name")
            && let A::S(pid) = &item["PID"]
        {
            delete(db, pages_table, "PID", pid).await;
        }
    }
    delete(db, root_table, "ID", key).await;
}

async fn a_staged_upgrade_that_crashed_leaves_nothing_behind_whatever_the_package_does_next(target: Target) {
    const PAGES: usize = 120;
    let (root_table, pages_table) = (table("BookRoot"), table("BookPages"));
    let store = Store::new(&root_table, "ID").shard(Store::new(&pages_table, "PID").at("$.pages[*]"));
    let db = client(target).await;
    db.store(&store).create_tables().await.unwrap();
    put_book(&db, &root_table, &pages_table, "count", PAGES, "first").await;
    let (counted, requests) = db.clone().counted();
    counted.store(&store).upgrade("count").await.unwrap();
    db.store(&store).delete("count").await.unwrap();
    let total = requests.total();

    for n in 1..total {
        for rewrite in [false, true] {
            let key = format!("book-{n}-{rewrite}");
            let what = format!(
                "{target:?}, crash after request {n} of {total}, then the package {}",
                if rewrite { "rewrites" } else { "deletes" }
            );
            put_book(&db, &root_table, &pages_table, &key, PAGES, "first").await;
            let (crashing, _) = db.clone().faulty(FaultPlan::seeded(n as u64).crash_after(n));
            let _ = crashing.store(&store).upgrade(&key).await;
            let switched = items_of(&db, &root_table)
                .await
                .iter()
                .any(|i| i["ID"] == s(&key) && matches!(&i["__dystore_meta__"], A::M(m) if m.contains_key("version")));
            if switched {
                // The crash came after the switch: the object is dystore's
                // now. Upgrading again finishes the job; delete it as a
                // dystore user would.
                assert_eq!(db.store(&store).upgrade(&key).await.unwrap(), Upgrade::AlreadyCurrent, "{what}");
                db.store(&store).delete(&key).await.unwrap();
            } else if rewrite {
                package_deletes(&db, &root_table, &pages_table, &key).await;
                let expected = put_book(&db, &root_table, &pages_table, &key, PAGES, "second").await;
                assert_eq!(db.store(&store).upgrade(&key).await.unwrap_or_else(|e| panic!("{what}: {e}")), Upgrade::Upgraded, "{what}");
                assert_eq!(db.store(&store).read(&key).await.unwrap(), expected, "{what}");
                db.store(&store).delete(&key).await.unwrap();
            } else {
                package_deletes(&db, &root_table, &pages_table, &key).await;
                assert!(db.store(&store).upgrade(&key).await.unwrap_err().is_not_found(), "{what}");
            }
            let left: Vec<_> = items_of(&db, &pages_table).await.into_iter().chain(items_of(&db, &root_table).await).collect();
            assert!(
                left.is_empty(),
                "{what}: {} items left behind, e.g. {:?}",
                left.len(),
                left.first().map(|i| i.keys().collect::<Vec<_>>())
            );
        }
    }
}

async fn paths_and_references_the_package_could_write(target: Target) {
    let (key_string, cipher, plain) = known_ciphertext();
    let db = client(target).await.with_loader(migrating(&key_string));
    let (root_table, loc_table) = (table("Refs"), table("RefsLoc"));
    let known = Store::new(&root_table, "ID").shard(Store::new(&loc_table, "LID").at("$.location"));
    db.store(&known).create_tables().await.unwrap();

    // read_path through the layout the user knows.
    let loc_meta = legacy_meta(&loc_table, "LID", Some("$.location"), vec![]);
    put(&db, &loc_table, vec![("LID", s("L1")), ("city", A::B(cipher.clone())), ("__dystore_meta__", loc_meta.clone())]).await;
    let meta = legacy_meta(&root_table, "ID", None, vec![loc_meta.clone()]);
    put(&db, &root_table, vec![("ID", s("one")), ("location", legacy_ref("L1", &loc_table)), ("__dystore_meta__", meta.clone())]).await;
    assert_eq!(db.store(&known).read_path("one", "$.location.city").await.unwrap(), [json!(plain)]);

    // A list of shards recorded with `[*]`, two of its references naming one item.
    let each = legacy_meta(&loc_table, "LID", Some("$.locales[*]"), vec![]);
    put(&db, &loc_table, vec![("LID", s("L2")), ("t", s("en")), ("__dystore_meta__", each.clone())]).await;
    let refs = A::L(vec![legacy_ref("L1", &loc_table), legacy_ref("L2", &loc_table), legacy_ref("L2", &loc_table)]);
    let meta = legacy_meta(&root_table, "ID", None, vec![each]);
    put(&db, &root_table, vec![("ID", s("list")), ("locales", refs), ("__dystore_meta__", meta)]).await;
    let root_only = Store::new(&root_table, "ID");
    assert_eq!(db.store(&root_only).read("list").await.unwrap(), json!({"locales": [{"city": plain}, {"t": "en"}, {"t": "en"}]}));

    // Broken references: named by path.
    let mut broken = legacy_ref("", &loc_table);
    let meta = legacy_meta(&root_table, "ID", None, vec![loc_meta.clone()]);
    put(&db, &root_table, vec![("ID", s("empty")), ("location", broken.clone()), ("__dystore_meta__", meta.clone())]).await;
    let e = db.store(&root_only).read("empty").await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::Format, Some("$.location")), "{e}");
    if let A::M(map) = &mut broken {
        map.insert("primary_key".into(), A::N("7".into()));
    }
    put(&db, &root_table, vec![("ID", s("number")), ("location", broken), ("__dystore_meta__", meta)]).await;
    let e = db.store(&root_only).read("number").await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::Format, Some("$.location")), "{e}");

    // The loader sees the object as the package gave it (`data=root`).
    let doc_aware = FnLoader::new()
        .on_key_for(|path, doc| (doc.get("location").is_some() && !path.starts_with('$')).then(|| "legacy".to_owned()))
        .on_key(move |id| (id == "legacy").then(|| Key::from_legacy_string(&key_string)));
    assert_eq!(db.clone().with_loader(doc_aware).store(&root_only).read("one").await.unwrap(), json!({"location": {"city": plain}}));
}

async fn a_shard_level_over_16_mb_reads(target: Target) {
    // 48 shard items of 350 KB: one BatchGetItem answers 16 MB at most.
    let (root_table, pages_table) = (table("Big"), table("BigPages"));
    let db = client(target).await;
    db.store(&Store::new(&root_table, "ID").shard(Store::new(&pages_table, "PID").at("$.pages[*]"))).create_tables().await.unwrap();
    let text = "x".repeat(350 * 1024);
    let mut refs = Vec::new();
    let mut metas = Vec::new();
    for i in 0..48 {
        let meta = legacy_meta(&pages_table, "PID", Some(&format!("$.pages[{i}]")), vec![]);
        put(&db, &pages_table, vec![("PID", s(&format!("p{i}"))), ("text", s(&text)), ("__dystore_meta__", meta.clone())]).await;
        refs.push(legacy_ref(&format!("p{i}"), &pages_table));
        metas.push(meta);
    }
    put(&db, &root_table, vec![("ID", s("big")), ("pages", A::L(refs)), ("__dystore_meta__", legacy_meta(&root_table, "ID", None, metas))])
        .await;
    let read = db.store(&Store::new(&root_table, "ID")).read("big").await.unwrap();
    let pages = read["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 48);
    assert!(pages.iter().all(|p| p["text"].as_str() == Some(text.as_str())));
}

#[derive(Debug, Serialize, Deserialize, DyObject, PartialEq)]
#[dystore(table = "LegacyNotes", key = "ID")]
struct Note {
    count: Option<i64>,
    meta: Value,
}

async fn typed_loads_convert_none_and_keep_maps_that_only_look_wrapped(target: Target) {
    let db = client(target).await.with_legacy_number_strings(true);
    db.create_tables::<Note>().await.unwrap();
    let value = |v: A| {
        A::M([("__metatype__".to_owned(), s("value")), ("value".to_owned(), v), ("__class__".to_owned(), s("int"))].into_iter().collect())
    };
    let data = A::M(
        [("__metatype__".to_owned(), s("value")), ("value".to_owned(), s("v")), ("author".to_owned(), s("ada"))].into_iter().collect(),
    );
    let key = uuid::Uuid::new_v4().to_string();
    put(
        &db,
        "LegacyNotes",
        vec![
            ("ID", s(&key)),
            ("count", value(s("None"))),
            ("meta", data),
            ("__dystore_meta__", legacy_meta("LegacyNotes", "ID", None, vec![])),
        ],
    )
    .await;
    let note = db.load::<Note>(&key).await.unwrap();
    assert_eq!(note, Note { count: None, meta: json!({"__metatype__": "value", "value": "v", "author": "ada"}) });
}

async fn staged_upgrades_racing_or_losing_their_answer_keep_the_object(target: Target) {
    const PAGES: usize = 130;
    let (root_table, pages_table) = (table("RaceRoot"), table("RacePages"));
    let store = Store::new(&root_table, "ID").shard(Store::new(&pages_table, "PID").at("$.pages[*]"));
    let db = client(target).await;
    db.store(&store).create_tables().await.unwrap();
    for round in 0..3 {
        let key = format!("race-{round}");
        let expected = put_book(&db, &root_table, &pages_table, &key, PAGES, "r").await;
        let (a, b) = (db.clone(), db.clone());
        let (sa, sb) = (store.clone(), store.clone());
        let (ka, kb) = (key.clone(), key.clone());
        let first = tokio::spawn(async move { a.store(&sa).upgrade(&ka).await });
        let second = tokio::spawn(async move { b.store(&sb).upgrade(&kb).await });
        let outcomes = [first.await.unwrap(), second.await.unwrap()];
        assert!(outcomes.iter().any(|o| matches!(o, Ok(Upgrade::Upgraded))), "{outcomes:?}");
        assert_eq!(db.store(&store).read(&key).await.unwrap(), expected, "round {round}: {outcomes:?}");
    }
    // The switch applied, its answer lost: the upgrade succeeded.
    let key = "lost";
    let expected = put_book(&db, &root_table, &pages_table, key, PAGES, "l").await;
    for n in 1..=10 {
        let probe = format!("probe-{n}");
        put_book(&db, &root_table, &pages_table, &probe, PAGES, "p").await;
        let (lossy, injected) = db.clone().faulty(FaultPlan::seeded(n as u64).fail_request(n, Fault::AppliedTimeout));
        let outcome = lossy.store(&store).upgrade(&probe).await;
        assert_eq!(injected.faults(Fault::AppliedTimeout), 1);
        assert!(matches!(outcome, Ok(Upgrade::Upgraded)), "a lost answer on request {n}: {outcome:?}");
        assert_eq!(db.store(&store).read(&probe).await.unwrap()["pages"].as_array().unwrap().len(), PAGES, "request {n}");
    }
    let (lossy, _) = db.clone().faulty(FaultPlan::seeded(0).fail_request(1, Fault::AppliedTimeout));
    assert_eq!(lossy.store(&store).upgrade(key).await.unwrap(), Upgrade::Upgraded);
    assert_eq!(db.store(&store).read(key).await.unwrap(), expected);
}

async fn staged_upgrades_take_shared_references_crashes_and_changed_layouts(target: Target) {
    let (root_table, pages_table, other_pages) = (table("DupRoot"), table("DupPages"), table("DupPages2"));
    let store = Store::new(&root_table, "ID").shard(Store::new(&pages_table, "PID").at("$.pages[*]"));
    let moved = Store::new(&root_table, "ID").shard(Store::new(&other_pages, "PID").at("$.pages[*]"));
    let db = client(target).await;
    db.store(&store).create_tables().await.unwrap();
    db.store(&moved).create_tables().await.unwrap();

    // 130 list elements over two items (the package's constant keys).
    let mut metas = Vec::new();
    for (i, pid) in ["P0", "P1"].iter().enumerate() {
        let meta = legacy_meta(&pages_table, "PID", Some(&format!("$.pages[{i}]")), vec![]);
        put(&db, &pages_table, vec![("PID", s(pid)), ("text", s(pid)), ("__dystore_meta__", meta.clone())]).await;
        metas.push(meta);
    }
    let refs = A::L((0..130).map(|i| legacy_ref(if i % 2 == 0 { "P0" } else { "P1" }, &pages_table)).collect());
    let metas: Vec<A> = (0..130).map(|i| legacy_meta(&pages_table, "PID", Some(&format!("$.pages[{i}]")), vec![])).collect();
    put(&db, &root_table, vec![("ID", s("dup")), ("pages", refs), ("__dystore_meta__", legacy_meta(&root_table, "ID", None, metas))]).await;
    let before = db.store(&Store::new(&root_table, "ID")).read("dup").await.unwrap();
    assert_eq!(db.store(&store).upgrade("dup").await.unwrap(), Upgrade::Upgraded);
    assert_eq!(db.store(&store).read("dup").await.unwrap(), before);

    // A crash, then the upgrade run again with another layout: the crashed
    // attempt's items go too.
    for n in [5, 6, 7] {
        let key = format!("moved-{n}");
        let expected = put_book(&db, &root_table, &pages_table, &key, 130, "m").await;
        let (crashing, _) = db.clone().faulty(FaultPlan::seeded(n as u64).crash_after(n));
        let _ = crashing.store(&store).upgrade(&key).await;
        let again = db.store(&moved).upgrade(&key).await.unwrap();
        assert!(matches!(again, Upgrade::Upgraded | Upgrade::AlreadyCurrent));
        if again == Upgrade::Upgraded {
            assert_eq!(db.store(&moved).read(&key).await.unwrap(), expected, "crash after {n}");
        }
    }
    let in_pages = items_of(&db, &pages_table)
        .await
        .into_iter()
        .filter(|i| {
            matches!(&i["PID"], A::S(k) if k.starts_with("moved-"))
                && matches!(&i["__dystore_meta__"], A::M(m) if m.contains_key("version"))
        })
        .count();
    assert_eq!(in_pages, 0, "no item of a crashed attempt stays in the old layout's table");
}

async fn legacy_edges_beyond_paths_this_reader_takes(target: Target) {
    let (key_string, cipher, _) = known_ciphertext();
    let db = client(target).await.with_loader(migrating(&key_string));
    let (root_table, loc_table) = (table("Odd"), table("OddLoc"));
    let root_only = Store::new(&root_table, "ID");
    db.store(&root_only.clone().shard(Store::new(&loc_table, "LID").at("$.location"))).create_tables().await.unwrap();
    // A shard path the package followed (jsonpath-ng takes `location`) and
    // this reader does not: an error naming the place, never the reference
    // as data, and no upgrade.
    let meta = legacy_meta(&loc_table, "LID", Some("location"), vec![]);
    put(&db, &loc_table, vec![("LID", s("S0")), ("city", A::B(cipher)), ("__dystore_meta__", meta.clone())]).await;
    let root_meta = legacy_meta(&root_table, "ID", None, vec![meta]);
    put(&db, &root_table, vec![("ID", s("odd")), ("location", legacy_ref("S0", &loc_table)), ("__dystore_meta__", root_meta)]).await;
    let e = db.store(&root_only).read("odd").await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::Format, Some("$.location")), "{e}");
    assert_eq!(db.store(&root_only).upgrade("odd").await.unwrap_err().kind(), ErrorKind::Format);
    assert_eq!(items_of(&db, &loc_table).await.len(), 1, "the shard item stays");
    // Writes over a legacy object say what it is.
    let e = db.store(&root_only).write_path("odd", "$.x", json!(1)).await.unwrap_err();
    assert!(e.to_string().contains("dynamo-store 0.6"), "{e}");
}

conformance!(
    staged_upgrades_racing_or_losing_their_answer_keep_the_object,
    staged_upgrades_take_shared_references_crashes_and_changed_layouts,
    legacy_edges_beyond_paths_this_reader_takes,
    damaged_ciphertexts_are_errors_and_block_the_upgrade,
    shard_items_in_the_root_table_are_not_objects,
    a_staged_upgrade_that_crashed_leaves_nothing_behind_whatever_the_package_does_next,
    paths_and_references_the_package_could_write,
    a_shard_level_over_16_mb_reads,
    typed_loads_convert_none_and_keep_maps_that_only_look_wrapped,
);
