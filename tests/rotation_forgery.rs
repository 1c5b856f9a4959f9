//! A rotation never launders a forgery: a value in clear at a path the
//! caller's layout marks encrypted (written by someone without the keys)
//! is a failure of its object, which is left as it is, in every place a
//! leaf can be stored (the root item, a shard, a list shard's element, a
//! large leaf in chunk items), whether the caller's layout is the root
//! table alone with its marks or the full layout; a plain read with the
//! same layout refuses the object too.

use dystore::backend::Get;
use dystore::rotate::Rotation;
use dystore::{Client, ErrorKind, Key, Keyring, Store};
use proptest::prelude::*;
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};

/// Every encrypted path of the document, as a mark.
const MARKED: [&str; 4] = ["$.ssn", "$.contact.phone", "$.cards[*].number", "$.big"];

/// Where the forged value is: the mark that covers it and its printed path.
const PLACES: [(&str, &str); 4] =
    [("$.ssn", "$.ssn"), ("$.contact.phone", "$.contact.phone"), ("$.cards[*].number", "$.cards[0].number"), ("$.big", "$.big")];

fn full(marks: &[&str]) -> Store {
    let store =
        Store::new("People", "ID").shard(Store::new("Contacts", "CID").at("$.contact")).shard(Store::new("Cards", "KID").at("$.cards[*]"));
    marks.iter().fold(store, |store, mark| store.encrypt(*mark))
}

fn root_only(marks: &[&str]) -> Store {
    marks.iter().fold(Store::new("People", "ID"), |store, mark| store.encrypt(*mark))
}

fn keyring(keys: &[(&str, u8)], default: &str) -> Keyring {
    keys.iter().fold(Keyring::new(), |ring, (id, byte)| ring.with_key(*id, Key::new([*byte; 32]).unwrap())).default_key(default)
}

/// The document, `forged` at `path` (a large leaf is always large: it is
/// the one stored in chunk items).
fn document(path: &str, forged: &Value) -> Value {
    let mut doc = json!({"name": "Ada", "ssn": "078-05-1120", "contact": {"phone": "555", "city": "Oslo"},
                         "cards": [{"number": "4000"}, {"number": "5000"}], "big": "b".repeat(450 * 1024)});
    let slot = match path {
        "$.ssn" => &mut doc["ssn"],
        "$.contact.phone" => &mut doc["contact"]["phone"],
        "$.cards[0].number" => &mut doc["cards"][0]["number"],
        _ => return doc,
    };
    *slot = forged.clone();
    doc
}

/// Whether the printed path `p` is `path` or a path below it (a forged map's leaves).
fn at_or_below(p: &str, path: &str) -> bool {
    p.strip_prefix(path).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

async fn revision(db: &Client) -> AttributeValue {
    let key = [("ID".to_owned(), AttributeValue::S("ada".into()))].into();
    let root = db.backend().get(Get { table: "People".into(), key, projection: None, consistent: true }).await.unwrap().unwrap();
    root["__dystore_meta__"].clone()
}

/// Writes the object with every mark but the forged one's (its value then
/// stored in clear, as a forger would), and rotates it with `caller`.
async fn forged_value_is_refused(place: usize, forged: Value, caller_root_only: bool) {
    let (mark, path) = PLACES[place];
    let db = Client::memory().unwrap();
    let writer = full(&MARKED.iter().copied().filter(|m| *m != mark).collect::<Vec<_>>());
    let old = db.clone().with_loader(keyring(&[("A", 1)], "A"));
    old.store(&writer).create_tables().await.unwrap();
    old.store(&writer).write_with_key("ada", document(path, &forged)).await.unwrap();
    let before = revision(&db).await;

    let caller = if caller_root_only { root_only(&MARKED) } else { full(&MARKED) };
    let db = db.with_loader(keyring(&[("A", 1), ("B", 2)], "B"));
    let read = db.store(&caller).read("ada").await.unwrap_err();
    assert!(read.kind() == ErrorKind::Authentication && read.path().is_some_and(|p| at_or_below(p, path)), "a read refuses it: {read}");

    for report in [
        Rotation::new(&db, caller.layout()).plan().await.unwrap(),
        Rotation::new(&db, caller.layout()).verify(Some("A")).await.unwrap(),
        Rotation::new(&db, caller.layout()).state_table("State").rotate().await.unwrap(),
    ] {
        let failure = report.failures.iter().find(|f| f.path.as_deref().is_some_and(|p| at_or_below(p, path)));
        let failure = failure.unwrap_or_else(|| panic!("{:?} does not name {path}: {report:#?}", report.mode));
        assert_eq!((failure.kind, failure.key.as_str()), (ErrorKind::Authentication, "ada"), "{failure:?}");
        assert!(failure.message.contains("in clear"), "{failure:?}");
        assert_eq!((report.rotated, report.ok()), (0, false), "{:?}: nothing rewritten", report.mode);
    }
    assert_eq!(revision(&db).await, before, "the object is left as it was");
}

fn forged_values() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-zA-Z0-9 -]{0,12}".prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(json!({})),
        Just(json!([])),
        Just(json!({"nested": "clear"})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_value_in_clear_at_a_marked_path_is_never_rotated(place in 0..PLACES.len(), forged in forged_values(), root_only in any::<bool>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(forged_value_is_refused(place, forged, root_only));
    }
}

/// The break-test's case exactly: `Store::new("People", "ID").encrypt("$.ssn")`.
#[tokio::test]
async fn a_root_only_layout_with_a_mark_refuses_a_clear_ssn() {
    forged_value_is_refused(0, json!("FORGED-VALUE"), true).await;
}
