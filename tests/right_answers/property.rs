//! The kinds behind the examples, over generated documents:
//!
//! - `read_path(path)` equals evaluating `path` on what `read` returns, for
//!   every plain path of the document (leaves, maps and lists, in the root,
//!   in a shard and in list-shard elements) and for paths that are absent,
//!   each read twice (what `read_path` keeps of a path serves the second
//!   read, and later documents);
//! - every operation on a generated document (names and values from the
//!   classes people send, DynamoDB's limits included) either round-trips
//!   exactly or fails with a typed error that is not `Backend`, and an
//!   operation that fails has written nothing.

use super::common::{Target, client, table};
use dystore::{Client, ErrorKind, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

const CASES: u32 = 24;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,5}",
        1 => "[0-9]{1,2}",
        1 => proptest::collection::vec(
            prop_oneof![Just(' '), Just('.'), Just('\''), Just('['), Just('\\'), Just('$'), Just('*'), Just('é'), Just('😀'), Just('a')],
            1..5,
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
    .prop_filter("reserved", |n| !["ID", "SID", "LID", "s", "l"].contains(&n.as_str()))
}

/// Leaves from the classes people send, DynamoDB's refusals included.
fn leaf(limits: bool) -> BoxedStrategy<Value> {
    let ordinary = prop_oneof![
        "\\PC{0,8}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    if !limits {
        return ordinary.boxed();
    }
    prop_oneof![
        6 => ordinary,
        1 => prop_oneof![Just(json!(1e300)), Just(json!(-1e-131)), Just(json!(9.99e125)), Just(json!(1e-130)), Just(json!(f64::MAX))],
        1 => Just(json!("x".repeat(420 * 1024))),
    ]
    .boxed()
}

fn value(limits: bool) -> impl Strategy<Value = Value> {
    leaf(limits).prop_recursive(3, 12, 3, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map(name(), inner, 0..3).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object(limits: bool) -> impl Strategy<Value = Map<String, Value>> {
    // With `limits`, now and then a field under the empty name, which
    // DynamoDB refuses.
    let empty = if limits { prop_oneof![9 => Just(false), 1 => Just(true)].boxed() } else { Just(false).boxed() };
    (proptest::collection::btree_map(name(), value(limits), 0..4), empty).prop_map(|(m, empty)| {
        let mut m: Map<String, Value> = m.into_iter().collect();
        if empty {
            m.insert(String::new(), json!(1));
        }
        m
    })
}

/// A document of the layout below: fields, a shard `s`, a list shard `l`.
fn document(limits: bool) -> impl Strategy<Value = Value> {
    (object(limits), object(limits), proptest::collection::vec(object(limits), 0..3)).prop_map(|(mut root, shard, list)| {
        root.insert("s".into(), Value::Object(shard));
        root.insert("l".into(), Value::Array(list.into_iter().map(Value::Object).collect()));
        Value::Object(root)
    })
}

/// [`document`] with its shards now and then absent or `null`, and its
/// list shard now and then absent, `null` or empty.
fn document_with_absent_shards() -> impl Strategy<Value = Value> {
    let presence = || prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)];
    (document(false), presence(), presence()).prop_map(|(mut doc, s, l)| {
        for (name, how) in [("s", s), ("l", l)] {
            match how {
                1 => drop(doc.as_object_mut().and_then(|m| m.remove(name))),
                2 => doc[name] = Value::Null,
                _ => {}
            }
        }
        doc
    })
}

/// What `read_path(path)` answers for a document read back as `read`, by
/// docs/FORMAT.md ("Absent shards"): `Err(())` (`MissingShard`) for a path
/// below the shard `$.s` or an element of the list shard `$.l` that `read`
/// lacks or holds as `null`; else the value there, or none.
fn model(read: &Value, below_s: bool, below_element: Option<usize>, pointer: &str) -> Result<Vec<Value>, ()> {
    let absent = |v: Option<&Value>| v.is_none_or(Value::is_null);
    if below_s && absent(read.get("s")) {
        return Err(());
    }
    if let Some(i) = below_element
        && absent(read.get("l").and_then(|l| l.get(i)))
    {
        return Err(());
    }
    Ok(read.pointer(pointer).cloned().into_iter().collect())
}

struct Tables(String, String, String);

fn store(tables: &Tables) -> Store {
    Store::new(tables.0.clone(), "ID")
        .shard(Store::new(tables.1.clone(), "SID").at("$.s"))
        .shard(Store::new(tables.2.clone(), "LID").at("$.l[*]"))
}

/// A name in JSONPath's quoted form, escaped by hand.
fn quoted(name: &str) -> String {
    format!("['{}']", name.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Every plain path in `value` (itself included), with a JSON pointer to it.
fn paths(value: &Value, path: String, pointer: String, out: &mut Vec<(String, String)>) {
    out.push((path.clone(), pointer.clone()));
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                paths(v, format!("{path}{}", quoted(k)), format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(l) => l.iter().enumerate().for_each(|(i, v)| paths(v, format!("{path}[{i}]"), format!("{pointer}/{i}"), out)),
        _ => {}
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(format!("{what}: {e}"))
}

async fn read_path_agrees_with_read(db: &Client, store: &Store, doc: Value) -> Result<(), TestCaseError> {
    let objects = db.store(store);
    let key = objects.write(doc).await.map_err(|e| failed("write", e))?;
    let read = objects.read(&key).await.map_err(|e| failed("read", e))?;
    let mut all = Vec::new();
    paths(&read, "$".into(), String::new(), &mut all);
    // Twice: the second time from what read_path kept of each path (its
    // route), and with routes kept from earlier cases' documents.
    for (path, pointer) in all.iter().skip(1).chain(all.iter().skip(1)) {
        let expected: Vec<Value> = read.pointer(pointer).cloned().into_iter().collect();
        let got = objects.read_path(&key, path).await.map_err(|e| failed(path, e))?;
        prop_assert_eq!(&got, &expected, "read_path {}", path);
        // One step past what is there reads as no value (or MissingShard
        // past a shard that is absent).
        for absent in [format!("{path}['absent']"), format!("{path}[9]")] {
            match objects.read_path(&key, &absent).await {
                Ok(got) => prop_assert_eq!(got, Vec::<Value>::new(), "read_path {}", absent),
                Err(e) => prop_assert!(e.kind() == ErrorKind::MissingShard || e.kind() == ErrorKind::InvalidPath, "{absent}: {e}"),
            }
        }
    }
    // `[*]` and `.*` below every map and list select every member value or
    // element, as JSONPath's wildcard does (RFC 9535; `[*]` on a map read
    // as no value before the break test found it).
    for (path, pointer) in &all {
        let children: Vec<Value> = match read.pointer(pointer) {
            Some(Value::Object(m)) => m.values().cloned().collect(),
            Some(Value::Array(l)) => l.clone(),
            _ => continue,
        };
        for wildcard in [format!("{path}[*]"), format!("{path}.*")] {
            let got = objects.read_path(&key, &wildcard).await.map_err(|e| failed(&wildcard, e))?;
            prop_assert_eq!(&got, &children, "read_path {}", wildcard);
        }
    }
    // Into the shards, whether they are there or not: at them, below them,
    // and below a shard inside them (`$.s.x` where `$.s` is absent).
    let probes: [(&str, bool, Option<usize>, &str); 8] = [
        ("$.s", false, None, "/s"),
        ("$.s.x", true, None, "/s/x"),
        ("$.s['x']['y']", true, None, "/s/x/y"),
        ("$.l", false, None, "/l"),
        ("$.l[0]", false, None, "/l/0"),
        ("$.l[0].x", false, Some(0), "/l/0/x"),
        ("$.l[5].x", false, Some(5), "/l/5/x"),
        ("$.l[5]", false, None, "/l/5"),
    ];
    for _ in 0..2 {
        for (path, below_s, below_element, pointer) in probes {
            let expected = model(&read, below_s, below_element, pointer);
            match (objects.read_path(&key, path).await, expected) {
                (Ok(got), Ok(want)) => prop_assert_eq!(got, want, "read_path {}", path),
                (Err(e), Err(())) => prop_assert_eq!(e.kind(), ErrorKind::MissingShard, "read_path {}: {}", path, e),
                (got, want) => prop_assert!(false, "read_path {path} of {read}: got {got:?}, the docs say {want:?}"),
            }
        }
    }
    Ok(())
}

/// The object as stored, or `None`.
async fn stored(db: &Client, store: &Store, key: &str) -> Result<Option<Value>, TestCaseError> {
    match db.store(store).read(key).await {
        Ok(doc) => Ok(Some(doc)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(failed("read", e)),
    }
}

fn typed(what: &str, e: &dystore::Error) -> Result<(), TestCaseError> {
    prop_assert!(e.kind() != ErrorKind::Backend, "{what}: an untyped backend error for input dystore can check: {e:?}");
    Ok(())
}

async fn every_operation_round_trips_or_refuses(
    db: &Client,
    store: &Store,
    first: Value,
    second: Value,
    key: String,
) -> Result<(), TestCaseError> {
    let objects = db.store(store);
    // A save: the document reads back exactly, or a typed error and nothing stored.
    let saved = match objects.write_with_key(&key, first.clone()).await {
        Ok(()) => {
            prop_assert_eq!(stored(db, store, &key).await?, Some(first.clone()));
            true
        }
        Err(e) => {
            typed("write", &e)?;
            prop_assert_eq!(stored(db, store, &key).await?, None, "a refused write stored nothing");
            false
        }
    };
    if !saved {
        return Ok(());
    }
    // Each leaf of the second document written by path into the first.
    let mut all = Vec::new();
    paths(&second, "$".into(), String::new(), &mut all);
    for (path, pointer) in all.iter().skip(1) {
        let new = second.pointer(pointer).cloned().expect("a generated path");
        let before = stored(db, store, &key).await?.expect("saved");
        match objects.write_path(&key, path, new.clone()).await {
            Ok(()) => {
                let after = stored(db, store, &key).await?.expect("saved");
                prop_assert_eq!(after.pointer(pointer), Some(&new), "write_path {} reads back", path);
            }
            Err(e) => {
                typed(path, &e)?;
                prop_assert_eq!(stored(db, store, &key).await?, Some(before), "a refused write_path {} changed nothing", path);
            }
        }
    }
    // A second save over the first, then a delete that leaves nothing.
    let before = stored(db, store, &key).await?;
    match objects.write_with_key(&key, second.clone()).await {
        Ok(()) => prop_assert_eq!(stored(db, store, &key).await?, Some(second)),
        Err(e) => {
            typed("second write", &e)?;
            prop_assert_eq!(stored(db, store, &key).await?, before, "a refused save changed nothing");
        }
    }
    objects.delete(&key).await.map_err(|e| failed("delete", e))?;
    prop_assert_eq!(stored(db, store, &key).await?, None);
    Ok(())
}

async fn setup(target: Target) -> (Client, Store) {
    let db = client(target).await;
    let store = store(&Tables(table("RaPropRoot"), table("RaPropShard"), table("RaPropList")));
    db.store(&store).create_tables().await.expect("tables");
    (db, store)
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() })
}

fn read_path_property(target: Target) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (db, store) = runtime.block_on(setup(target));
    runner().run(&document_with_absent_shards(), |doc| runtime.block_on(read_path_agrees_with_read(&db, &store, doc))).unwrap();
}

fn operations_property(target: Target) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (db, store) = runtime.block_on(setup(target));
    runner()
        .run(&(document(true), document(true)), |(first, second)| {
            runtime.block_on(every_operation_round_trips_or_refuses(&db, &store, first, second, format!("case-{}", uuid::Uuid::new_v4())))
        })
        .unwrap();
}

#[test]
fn read_path_agrees_with_read_embedded() {
    read_path_property(Target::Embedded);
}

#[test]
fn read_path_agrees_with_read_http() {
    read_path_property(Target::Http);
}

#[test]
fn every_operation_round_trips_or_refuses_embedded() {
    operations_property(Target::Embedded);
}

#[test]
fn every_operation_round_trips_or_refuses_http() {
    operations_property(Target::Http);
}

#[test]
#[ignore = "runs against DYSTORE_TEST_ENDPOINT: cargo test -- --ignored"]
fn properties_on_the_endpoint() {
    read_path_property(Target::Endpoint);
    operations_property(Target::Endpoint);
}
