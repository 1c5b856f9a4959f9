//! Key rotation against the break test of the rotation feature: a key id
//! to retire that nobody has, a resumed run whose keyring changed,
//! dynamo-store 0.6 roots with any key, clear leaves a rule now covers,
//! legacy keys as targets, tables that hold no object, and damaged
//! objects. On the embedded engine.

mod common;

use common::legacy::{known_ciphertext, legacy_meta, put, s};
use common::{Target, client, table};
use dystore::rotate::Rotation;
use dystore::{Client, ErrorKind, FnLoader, Key, Keyring, PathPattern, Store};
use serde_dynamo::AttributeValue;
use serde_json::json;

fn key(byte: u8) -> Key {
    Key::new([byte; 32]).unwrap()
}

/// Keys `ids` (each its own material), every path under `$.secret` and
/// the default under `current`.
fn keyring(ids: &[&str], current: &str) -> Keyring {
    let ring = ids.iter().enumerate().fold(Keyring::new(), |ring, (i, id)| ring.with_key(*id, key(i as u8 + 1)));
    ring.rule(PathPattern::prefix("$.secret").unwrap(), current).default_key(current)
}

async fn seeded(objects: usize, ids: &[&str], current: &str) -> (Client, Store) {
    let store = Store::new(table("Break"), "ID");
    let db = client(Target::Embedded).await.with_loader(keyring(ids, current));
    db.store(&store).create_tables().await.unwrap();
    for i in 0..objects {
        db.store(&store).write_with_key(&format!("k{i}"), json!({"secret": format!("s{i}"), "n": i})).await.unwrap();
    }
    (db, store)
}

/// Finding 1: `verify --retire a` (a typo of `A`) must not pass.
#[tokio::test]
async fn a_key_id_to_retire_that_nobody_has_is_refused() {
    let (db, store) = seeded(5, &["A"], "A").await;
    for typo in ["a", "A ", ""] {
        let e = Rotation::new(&db, store.layout()).verify(Some(typo)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{typo:?}: {e}");
        assert!(e.to_string().contains("mistyped"), "{e}");
    }
    let used = Rotation::new(&db, store.layout()).verify(Some("A")).await.unwrap();
    assert_eq!(used.retire.map(|r| (r.leaves, r.passed)), Some((5, false)));
    // A key id the loader holds and no leaf uses may be retired.
    let db = db.with_loader(keyring(&["A", "C"], "A"));
    assert!(Rotation::new(&db, store.layout()).verify(Some("C")).await.unwrap().ok());
    // A key id some leaf uses whose material is gone is still checked: it fails.
    let db = db.with_loader(keyring(&["B"], "B"));
    let lost = Rotation::new(&db, store.layout()).verify(Some("A")).await.unwrap();
    assert!(!lost.ok() && lost.failed == 5, "{lost:#?}");
}

/// A loader for dynamo-store 0.6 paths (no `$`) naming `py`, and `B` the default.
fn legacy_loader(key_string: &str) -> FnLoader {
    let py = Key::from_legacy_string(key_string);
    FnLoader::new().on_key_for(|path, _| (!path.starts_with('$')).then(|| "py".to_owned())).with_default_key_id("B").on_key(move |id| {
        match id.as_str() {
            "py" => Some(py.clone()),
            "B" => Some(key(2)),
            _ => None,
        }
    })
}

/// Finding 7: a dynamo-store 0.6 root whose key holds `#$` is an object:
/// it is counted, and `py` cannot pass for retired while it holds a
/// ciphertext under it.
#[tokio::test]
async fn a_legacy_root_with_any_key_is_never_skipped() {
    let (key_string, ciphertext, _) = known_ciphertext();
    let t = table("BreakLegacy");
    let db = client(Target::Embedded).await.with_loader(legacy_loader(&key_string));
    let store = Store::new(&t, "ID");
    db.store(&store).create_tables().await.unwrap();
    for k in ["plain", "odd#$key"] {
        let item = vec![
            ("ID", s(k)),
            ("firstname", AttributeValue::B(ciphertext.clone())),
            ("__dystore_meta__", legacy_meta(&t, "ID", None, vec![])),
        ];
        put(&db, &t, item).await;
    }
    let plan = Rotation::new(&db, store.layout()).plan().await.unwrap();
    assert_eq!((plan.objects, plan.skipped, plan.before["py"].legacy_leaves), (2, 0, 2), "{plan:#?}");
    let rotated = Rotation::new(&db, store.layout()).state_table(table("BreakState")).rotate().await.unwrap();
    assert_eq!(rotated.skipped, 0, "{rotated:#?}");
    let verified = Rotation::new(&db, store.layout()).verify(Some("py")).await.unwrap();
    let odd = |r: &dystore::rotate::Report| r.failures.iter().filter(|f| f.key == "odd#$key").map(|f| f.kind).collect::<Vec<_>>();
    assert_eq!((rotated.rotated, odd(&rotated)), (1, vec![ErrorKind::InvalidKey]), "{rotated:#?}");
    let retire = verified.retire.clone().unwrap();
    assert_eq!((retire.passed, retire.leaves, odd(&verified)), (false, 1, vec![ErrorKind::InvalidKey]), "{verified:#?}");
}

/// Finding 2: a rotation to B dies part-way; the next one, with a keyring
/// naming C, must not resume B's checkpoints (whose finished pages hold
/// leaves under B, stale now): every object ends under C.
#[tokio::test]
async fn a_resumed_rotation_with_another_keyring_starts_again() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (db, store) = seeded(30, &["A"], "A").await;
    let state = table("BreakState");
    let to_b = db.clone().with_loader(keyring(&["A", "B"], "B"));
    let reached = AtomicBool::new(false);
    let dying = Rotation::new(&to_b, store.layout())
        .owner("host-1")
        .page_size(5)
        .state_table(state.clone())
        .on_progress(|p| reached.store(p.objects >= 12, Ordering::SeqCst));
    tokio::select! {
        biased;
        () = async { while !reached.load(Ordering::SeqCst) { tokio::task::yield_now().await } } => {}
        done = dying.rotate() => panic!("the rotation ended before it was dropped: {done:?}"),
    }
    let to_c = db.with_loader(keyring(&["A", "B", "C"], "C"));
    let done = Rotation::new(&to_c, store.layout()).owner("host-1").page_size(5).state_table(state).rotate().await.unwrap();
    assert_eq!((done.resumed_segments, done.objects, done.failed), (0, 30, 0), "{done:#?}");
    let plan = Rotation::new(&to_c, store.layout()).plan().await.unwrap();
    assert_eq!((plan.stale_objects, plan.after["C"].leaves), (0, 30), "{plan:#?}");
    assert!(Rotation::new(&to_c, store.layout()).verify(Some("B")).await.unwrap().ok());
}

/// Finding 6: a rule added since the objects were written covers leaves
/// stored in clear. The plan counts them stale (under `<clear>`), a
/// verification fails on them, the rotation encrypts them and says so.
#[tokio::test]
async fn clear_leaves_a_new_rule_covers_are_stale() {
    use dystore::rotate::CLEAR_KEY_ID;
    let store = Store::new(table("BreakClear"), "ID");
    let old = client(Target::Embedded).await.with_loader(keyring(&["A"], "A"));
    old.store(&store).create_tables().await.unwrap();
    for i in 0..4 {
        old.store(&store).write_with_key(&format!("k{i}"), json!({"secret": "s", "phone": format!("555-{i}"), "n": i})).await.unwrap();
    }
    let new = keyring(&["A", "B"], "B").rule(PathPattern::exact("$.phone").unwrap(), "B");
    let db = old.with_loader(new);
    let plan = Rotation::new(&db, store.layout()).plan().await.unwrap();
    assert_eq!((plan.stale_objects, plan.before[CLEAR_KEY_ID].leaves, plan.after["B"].leaves), (4, 4, 8), "{plan:#?}");
    let before = Rotation::new(&db, store.layout()).verify(None).await.unwrap();
    assert_eq!(before.failed, 4, "{before:#?}");
    let f = &before.failures[0];
    assert_eq!((f.kind, f.path.as_deref(), f.key_id.as_deref()), (ErrorKind::Unfinished, Some("$.phone"), Some("B")));
    assert!(!f.message.contains("555"), "no value in a failure: {}", f.message);

    let done = Rotation::new(&db, store.layout()).state_table(table("BreakState")).rotate().await.unwrap();
    assert_eq!((done.rotated, done.before[CLEAR_KEY_ID].leaves, done.after["B"].leaves, done.failed), (4, 4, 8, 0), "{done:#?}");
    let after = Rotation::new(&db, store.layout()).verify(Some("A")).await.unwrap();
    assert!(after.ok() && after.before["B"].leaves == 8 && !after.before.contains_key(CLEAR_KEY_ID), "{after:#?}");
    let item = common::stored_item(Target::Embedded, &db, &store.layout().table, "ID", "k1").await.unwrap();
    assert!(matches!(item.get("phone"), Some(AttributeValue::B(_))), "the phone is a ciphertext now: {item:?}");
    assert!(matches!(item.get("n"), Some(AttributeValue::N(_))), "a leaf no rule covers stays in clear: {item:?}");
}

/// Finding 3: a dynamo-store 0.6 key only reads. An unanchored regex rule
/// naming it (`firstname` matches `$.firstname` too) does not make it the
/// key a rotation writes with: the object goes to the default, B.
#[tokio::test]
async fn a_legacy_key_is_never_the_rotation_target() {
    let (key_string, ciphertext, _) = known_ciphertext();
    let t = table("BreakLegacyTarget");
    let ring = Keyring::new()
        .with_key("B", key(2))
        .with_legacy_key("py", &key_string)
        .unwrap()
        .rule(PathPattern::regex("firstname").unwrap(), "py")
        .default_key("B");
    ring.validate().unwrap();
    let db = client(Target::Embedded).await.with_loader(ring);
    let store = Store::new(&t, "ID");
    db.store(&store).create_tables().await.unwrap();
    let item =
        vec![("ID", s("p")), ("firstname", AttributeValue::B(ciphertext)), ("__dystore_meta__", legacy_meta(&t, "ID", None, vec![]))];
    put(&db, &t, item).await;
    let plan = Rotation::new(&db, store.layout()).plan().await.unwrap();
    assert_eq!((plan.before["py"].legacy_leaves, plan.after.get("py"), plan.after["B"].leaves), (1, None, 1), "{plan:#?}");
    let done = Rotation::new(&db, store.layout()).state_table(table("BreakState")).rotate().await.unwrap();
    assert_eq!((done.upgraded, done.failed), (1, 0), "{done:#?}");
    assert!(Rotation::new(&db, store.layout()).verify(Some("py")).await.unwrap().ok());
    let item = common::stored_item(Target::Embedded, &db, &t, "ID", "p").await.unwrap();
    let Some(AttributeValue::B(bytes)) = item.get("firstname") else { panic!("{item:?}") };
    assert_eq!(dystore::crypto::envelope_key_id(bytes).unwrap(), "B");
}

/// Finding 9: a plan or rotation of a table that holds items but no
/// dystore object (a shard table, another program's items) is an error
/// before any state is written, never "0 objects, skipped 6".
#[tokio::test]
async fn a_table_of_no_object_is_refused_before_any_state() {
    let contacts = table("BreakContacts");
    let store = Store::new(table("BreakRoots"), "ID").shard(Store::new(&contacts, "ID").at("$.contact"));
    let db = client(Target::Embedded).await.with_loader(keyring(&["A"], "A"));
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).write_with_key("k", json!({"secret": "s", "contact": {"secret": "t"}})).await.unwrap();
    let foreign = Store::new(table("BreakForeign"), "ID");
    db.store(&foreign).create_tables().await.unwrap();
    put(&db, &foreign.layout().table, vec![("ID", s("x")), ("name", s("not dystore's"))]).await;
    let state = table("BreakState");
    for t in [contacts.as_str(), foreign.layout().table.as_ref()] {
        let layout = Store::new(t, "ID");
        let plan = Rotation::new(&db, layout.layout()).plan().await.unwrap_err();
        let rotate = Rotation::new(&db, layout.layout()).state_table(state.clone()).rotate().await.unwrap_err();
        for e in [plan, rotate] {
            assert_eq!((e.kind(), e.table()), (ErrorKind::NotFound, Some(t)), "{e}");
            assert!(e.to_string().contains("holds no dystore object"), "{e}");
        }
    }
    assert!(db.backend().describe_table(&state).await.unwrap().is_none(), "no state table was created");
    // An empty table is no mistake: 0 objects.
    let empty = Store::new(table("BreakEmpty"), "ID");
    db.store(&empty).create_tables().await.unwrap();
    assert_eq!(Rotation::new(&db, empty.layout()).plan().await.unwrap().objects, 0);
}

/// Finding 10: an object one of whose shard items was deleted directly is
/// damaged, not a save in progress: reported at once as `MissingShard`
/// naming the path, not after ~19 s of retries as `Inconsistent`.
#[tokio::test]
async fn a_damaged_object_is_reported_quickly_as_missing_shard() {
    let contacts = table("BreakDamagedContacts");
    let store = Store::new(table("BreakDamaged"), "ID").shard(Store::new(&contacts, "CID").at("$.contact"));
    let db = client(Target::Embedded).await.with_loader(keyring(&["A"], "A"));
    db.store(&store).create_tables().await.unwrap();
    for k in ["ok", "hurt"] {
        db.store(&store).write_with_key(k, json!({"secret": "s", "contact": {"city": "Oslo"}})).await.unwrap();
    }
    let hurt = common::legacy::items_of(&db, &contacts).await.into_iter().find_map(|item| match item.get("CID") {
        Some(AttributeValue::S(k)) if k.starts_with("hurt") => Some(k.clone()),
        _ => None,
    });
    common::legacy::delete(&db, &contacts, "CID", &hurt.expect("the shard item of `hurt`")).await;
    let db = db.with_loader(keyring(&["A", "B"], "B"));
    let started = std::time::Instant::now();
    let plan = Rotation::new(&db, store.layout()).plan().await.unwrap();
    let verify = Rotation::new(&db, store.layout()).verify(None).await.unwrap();
    let rotate = Rotation::new(&db, store.layout()).state_table(table("BreakState")).rotate().await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    for report in [&plan, &verify, &rotate] {
        let f: Vec<_> = report.failures.iter().map(|f| (f.kind, f.key.as_str(), f.path.as_deref(), f.table.as_str())).collect();
        assert_eq!(f, [(ErrorKind::MissingShard, "hurt", Some("$.contact"), contacts.as_str())], "{report:#?}");
    }
    assert_eq!(rotate.rotated, 1, "the sound object is rotated");
}

/// `share(i, n)`: machines each rotating one scan segment of the table,
/// side by side, each with its own lease and checkpoints, together rotate
/// every object; the whole table cannot be rotated meanwhile (nor a share
/// while the whole table is), and a share that is not one is refused.
#[tokio::test]
async fn shares_of_a_table_rotate_it_together() {
    let (db, store) = seeded(40, &["A"], "A").await;
    let db = db.with_loader(keyring(&["A", "B"], "B"));
    let state = table("BreakState");
    let share = |i| Rotation::new(&db, store.layout()).share(i, 3).state_table(state.clone()).owner(format!("host-{i}"));
    let (s0, s1, s2) = (share(0), share(1), share(2));
    let (r0, r1, r2) = tokio::join!(s0.rotate(), s1.rotate(), s2.rotate());
    let reports = [r0.unwrap(), r1.unwrap(), r2.unwrap()];
    let rotated: u64 = reports.iter().map(|r| r.rotated).sum();
    assert_eq!(rotated, 40, "{reports:#?}");
    assert_eq!(reports[1].share, Some([1, 3]));
    assert!(reports.iter().all(|r| r.objects < 40), "each scanned its share only");
    assert!(Rotation::new(&db, store.layout()).verify(Some("A")).await.unwrap().ok());

    // A dead share's lease keeps the whole table from being rotated, and the other way round.
    let dead = Rotation::new(&db, store.layout())
        .share(0, 2)
        .state_table(state.clone())
        .owner("dead")
        .lease_ttl(std::time::Duration::from_secs(600));
    let reached = std::sync::atomic::AtomicBool::new(false);
    let dead = dead.page_size(1).on_progress(|_| reached.store(true, std::sync::atomic::Ordering::SeqCst));
    tokio::select! {
        biased;
        () = async { while !reached.load(std::sync::atomic::Ordering::SeqCst) { tokio::task::yield_now().await } } => {}
        done = dead.rotate() => panic!("ended before it was dropped: {done:?}"),
    }
    let whole = Rotation::new(&db, store.layout()).state_table(state.clone()).rotate().await.unwrap_err();
    assert_eq!(whole.kind(), ErrorKind::LeaseHeld, "{whole}");
    let other_share = Rotation::new(&db, store.layout()).share(1, 2).state_table(state.clone()).rotate().await;
    assert!(other_share.is_ok(), "shares run beside each other: {other_share:?}");

    for (i, n) in [(3, 3), (0, 0)] {
        let e = Rotation::new(&db, store.layout()).share(i, n).plan().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    }
    assert_eq!(Rotation::new(&db, store.layout()).share(0, 2).segments(2).plan().await.unwrap_err().kind(), ErrorKind::Config);
}

/// The progress carries an estimate of the run's size once a segment was
/// scanned whole (for the ETA): none before, and the count times the
/// segments after; with one segment, none until the end.
#[tokio::test]
async fn progress_estimates_the_objects_once_a_segment_is_done() {
    use std::sync::Mutex;
    let (db, store) = seeded(60, &["A"], "A").await;
    let seen = Mutex::new(Vec::new());
    let plan = Rotation::new(&db, store.layout())
        .segments(4)
        .page_size(5)
        .on_progress(|p| seen.lock().unwrap().push((p.segments_done, p.objects, p.estimated_objects)))
        .plan()
        .await
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert!(seen.iter().all(|(done, _, estimate)| (*done == 0) == estimate.is_none()), "{seen:?}");
    let first = seen.iter().find_map(|(_, objects, estimate)| estimate.map(|e| (e, *objects))).expect("an estimate");
    assert!(first.0 >= first.1 && first.0 > 0 && first.0 <= 4 * 60, "{first:?}");
    assert_eq!(seen.last().map(|s| s.2.unwrap() >= plan.objects), Some(true), "{seen:?}");
}

/// `checkpoint_file`: the checkpoints are mirrored in a local file; a run
/// whose state table holds no interrupted run (here: another, new state
/// table) resumes from the file; a finished run removes it.
#[tokio::test]
async fn checkpoints_mirrored_in_a_file_resume_a_run_whose_state_table_is_gone() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (db, store) = seeded(30, &["A"], "A").await;
    let db = db.with_loader(keyring(&["A", "B"], "B"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checkpoints.json");
    let reached = AtomicBool::new(false);
    let dying = Rotation::new(&db, store.layout())
        .segments(2)
        .page_size(4)
        .state_table(table("BreakStateLost"))
        .checkpoint_file(&file)
        .on_progress(|p| reached.store(p.objects >= 12, Ordering::SeqCst));
    tokio::select! {
        biased;
        () = async { while !reached.load(Ordering::SeqCst) { tokio::task::yield_now().await } } => {}
        done = dying.rotate() => panic!("the rotation ended before it was dropped: {done:?}"),
    }
    let mirrored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(mirrored["segments"], json!(2), "{mirrored}");
    let other = || Rotation::new(&db, store.layout()).segments(2).page_size(4).state_table(table("BreakStateNew"));
    let wrong = other().segments(3).checkpoint_file(&file).rotate().await.unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Config, "another number of segments: {wrong}");
    let done = other().checkpoint_file(&file).rotate().await.unwrap();
    assert!(done.resumed_segments > 0 && done.objects < 30, "{done:#?}");
    assert!(!file.exists(), "a finished run removes its file");
    assert!(
        Rotation::new(&db, store.layout()).verify(Some("A")).await.unwrap().ok(),
        "objects before the checkpoints were rotated by the dead run"
    );
}

/// A dynamo-store 0.6 key in a keyring only reads: a save that would
/// encrypt under it fails with `Config` naming it and the path, before any
/// request, whoever names it: the keyring's default, a layout's rule, or a
/// keyring rule (skipped for format 1 paths, so the default decides).
/// Second break test of issue 14.
#[tokio::test]
async fn a_legacy_key_never_writes_whoever_names_it() {
    let ring = || Keyring::new().with_key("new", Key::new([3u8; 32]).unwrap()).with_legacy_key("old", "a password").unwrap();
    let cases = [
        ("the default", ring().default_key("old"), Store::new("LegacyDefault", "ID").encrypt("$.x")),
        ("a layout's rule", ring(), Store::new("LegacyRule", "ID").encrypt_with("$.x", "old")),
    ];
    for (named_by, keyring, layout) in cases {
        let (db, requests) = Client::memory().unwrap().with_loader(keyring).counted();
        let objects = db.store(&layout);
        objects.create_tables().await.unwrap();
        let before = requests.total();
        let e = objects.write_with_key("k", json!({"x": "secret"})).await.unwrap_err();
        assert_eq!((e.kind(), e.path(), e.key_id()), (ErrorKind::Config, Some("$.x"), Some("old")), "{named_by}: {e}");
        assert_eq!(requests.total(), before, "{named_by}: refused before any request");
    }
    // A keyring rule naming the legacy key is passed over for `$` paths: the
    // format 1 key the default names encrypts the leaf.
    let keyring = ring().rule(PathPattern::exact("$.x").unwrap(), "old").default_key("new");
    let db = Client::memory().unwrap().with_loader(keyring);
    let layout = Store::new("LegacyKeyringRule", "ID").encrypt("$.x");
    db.store(&layout).create_tables().await.unwrap();
    db.store(&layout).write_with_key("k", json!({"x": "secret"})).await.unwrap();
    // Read with the new key alone (the layout refuses a clear value there).
    let only_new = db.clone().with_loader(Keyring::new().with_key("new", Key::new([3u8; 32]).unwrap()));
    assert_eq!(only_new.store(&layout).read("k").await.unwrap(), json!({"x": "secret"}));
}
