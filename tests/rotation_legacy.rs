//! Key rotation of objects written by dynamo-store 0.6 (the items of
//! `dystore/tests/fixtures/dynamo-store-0.6/documents.json`): the plan
//! counts their ciphertexts under the key id the loader names for them,
//! the rotation upgrades them to format 1 under the new key, and a loader
//! knowing only that key reads them back as the package wrote them; on the
//! embedded engine and over HTTP.

mod common;

use common::legacy::{fixture, put_fixture};
use common::{Target, assert_same_json, client};
use dystore::rotate::Rotation;
use dystore::{FnLoader, Key, Store};

/// The package's key for its own path forms (no `$`), and key `B` as the
/// default every re-encrypted leaf falls back on.
fn loader(key_string: Option<&str>) -> FnLoader {
    let legacy = key_string.map(Key::from_legacy_string);
    let b = Key::new([0xB2; 32]).unwrap();
    FnLoader::new().on_key_for(|path, _| (!path.starts_with('$')).then(|| "py".to_owned())).with_default_key_id("B").on_key(move |id| {
        match id.as_str() {
            "py" => legacy.clone(),
            "B" => Some(b.clone()),
            _ => None,
        }
    })
}

async fn legacy_objects_are_upgraded_under_the_new_key(target: Target) {
    let (fixture, named) = fixture("documents.json");
    let key_string = fixture["key_string"].as_str().unwrap();
    let base = client(target).await;
    put_fixture(&base, &fixture).await;
    let db = base.clone().with_loader(loader(Some(key_string)));
    let root = Store::new(named("DynamoStoreRootDB"), "ID");
    let state = common::table("RotState");

    let plan = Rotation::new(&db, root.layout()).plan().await.unwrap();
    assert_eq!((plan.objects, plan.stale_objects, plan.failed), (2, 2, 0), "{plan:#?}");
    let legacy_leaves = plan.before["py"].legacy_leaves;
    assert_eq!((legacy_leaves, plan.before["py"].objects), (6 + 13, 2), "compat-1 encrypts 6 paths, compat-2 13");
    assert_eq!(plan.after["B"].leaves, legacy_leaves);

    let done = Rotation::new(&db, root.layout()).state_table(state.clone()).rotate().await.unwrap();
    assert_eq!((done.rotated, done.upgraded, done.failed), (2, 2, 0), "{done:#?}");
    let again = Rotation::new(&db, root.layout()).state_table(state).rotate().await.unwrap();
    assert_eq!((again.rotated, again.current), (0, 2));
    let verified = Rotation::new(&db, root.layout()).verify(Some("py")).await.unwrap();
    assert!(verified.ok() && verified.after["B"].leaves == legacy_leaves, "{verified:#?}");

    let only_b = base.with_loader(loader(None));
    for doc in fixture["documents"].as_object().unwrap().values() {
        let read = only_b.store(&root).read(doc["primary_key"].as_str().unwrap()).await.unwrap();
        assert_same_json(&read, &doc["expected"]);
    }
}

conformance!(legacy_objects_are_upgraded_under_the_new_key);
