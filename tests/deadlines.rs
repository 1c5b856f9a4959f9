//! Errors that say what was not done, and calls that end within their
//! deadline: retries run out with the request kind and attempt count in
//! the error, unprocessed keys are named, a write whose answer was lost is
//! neither reported as a conflict nor applied twice, and a call stops at its
//! deadline. On the embedded engine and over HTTP.

mod common;

use common::{Target, client, table};
use dystore::backend::{Fault, FaultPlan, op};
use dystore::{Client, ErrorKind, RetryPolicy, Store};
use serde_json::json;
use std::time::{Duration, Instant};

fn store() -> Store {
    Store::new(table("DlRoot"), "ID").shard(Store::new(table("DlLoc"), "LID").at("$.location"))
}

/// A client whose requests are retried for at most `deadline`.
async fn quick(target: Target, deadline: Duration) -> Client {
    let policy = RetryPolicy { deadline, first_backoff: Duration::from_millis(2), max_backoff: Duration::from_millis(10) };
    client(target).await.with_retry_policy(policy)
}

fn doc(n: u32) -> serde_json::Value {
    json!({"n": n, "location": {"city": format!("c{n}")}})
}

async fn exhausted_retries_say_which_request_how_often_and_whether_anything_changed(target: Target) {
    let store = store();
    let db = quick(target, Duration::from_millis(60)).await;
    db.store(&store).create_tables().await.unwrap();

    let (throttled, _) = db.clone().faulty(FaultPlan::seeded(1).fail_fraction(1.0, &[Fault::Throttling]));
    let e = throttled.store(&store).write_with_key("a", doc(1)).await.unwrap_err();
    assert!(e.is_throttled() && e.is_retryable(), "{e}");
    assert_eq!(e.request(), Some(op::TRANSACT_WRITE_ITEMS), "{e}");
    assert!(e.attempts() >= 2, "{e}");
    assert!(!e.object_may_have_changed(), "a throttled request is not applied: {e}");
    assert!(e.to_string().contains(&format!("{} attempts of TransactWriteItems", e.attempts())), "{e}");
    assert_eq!((e.table(), e.key()), (Some(store.layout().table.as_ref()), Some("a")));

    let (failing, _) = db.clone().faulty(FaultPlan::seeded(2).fail_fraction(1.0, &[Fault::ServerError]));
    let e = failing.store(&store).write_with_key("a", doc(1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.is_retryable() && e.object_may_have_changed(), "a write that met a 5xx may have been applied: {e}");
    let e = failing.store(&store).read("a").await.unwrap_err();
    assert!(e.is_retryable() && !e.object_may_have_changed(), "a read changes nothing: {e}");
    assert_eq!(e.request(), Some(op::BATCH_GET_ITEM), "{e}");

    assert!(db.store(&store).read("a").await.unwrap_err().is_not_found(), "nothing was written");
}

async fn unprocessed_keys_are_named_in_the_error(target: Target) {
    let store = store();
    let db = quick(target, Duration::from_millis(60)).await;
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).write_with_key("b", doc(2)).await.unwrap();
    let (starved, _) = db.faulty(FaultPlan::seeded(3).unprocessed_fraction(1.0));
    let e = starved.store(&store).read("b").await.unwrap_err();
    assert!(e.is_throttled() && e.is_retryable(), "{e}");
    let root = format!("{}/b", store.layout().table);
    let shard = format!("{}/b#$.location", store.layout().shards[0].layout.table);
    let mut undone = e.undone().to_vec();
    undone.sort();
    let mut expected = vec![root, shard];
    expected.sort();
    assert_eq!(undone, expected, "{e}");
}

/// Each write, its answer lost once (`AppliedTimeout`, the request applied),
/// succeeds: its retry failing on the write's own effect is not a conflict.
async fn a_write_whose_answer_was_lost_succeeds_once(target: Target) {
    let store = store();
    let db = client(target).await;
    db.store(&store).create_tables().await.unwrap();
    // `n`: the request of the call that is the write.
    let lose = |n: usize| db.clone().faulty(FaultPlan::seeded(n as u64).fail_request(n, Fault::AppliedTimeout));

    let (c, injected) = lose(1);
    c.store(&store).create_with_key("c", doc(3)).await.expect("an insert whose answer was lost");
    assert_eq!(injected.faults(Fault::AppliedTimeout), 1);
    assert_eq!(db.store(&store).read("c").await.unwrap(), doc(3));

    let read = db.store(&store).read_versioned("c").await.unwrap();
    let mut changed = read.clone();
    changed.value = doc(4);
    let (c, _) = lose(1);
    c.store(&store).write_versioned(&changed).await.expect("a versioned save whose answer was lost");
    assert_eq!(db.store(&store).read("c").await.unwrap(), doc(4));

    let (c, _) = lose(1);
    c.store(&store).write_path("c", "$.location.city", json!("Paris")).await.expect("write_path");
    assert_eq!(db.store(&store).read_path("c", "$.location.city").await.unwrap(), [json!("Paris")]);

    let read = db.store(&store).read_versioned("c").await.unwrap();
    let (c, _) = lose(2);
    c.store(&store).delete_versioned(&read).await.expect("a versioned delete whose answer was lost");
    assert!(db.store(&store).read("c").await.unwrap_err().is_not_found());

    db.store(&store).write_with_key("d", doc(5)).await.unwrap();
    let (c, _) = lose(1);
    c.store(&store).delete("d").await.expect("a delete whose answer was lost");
    assert!(db.store(&store).read("d").await.unwrap_err().is_not_found());
}

async fn a_call_stops_at_its_deadline(target: Target) {
    let store = store();
    let db = quick(target, Duration::from_secs(30)).await;
    db.store(&store).create_tables().await.unwrap();
    db.store(&store).write_with_key("e", doc(6)).await.unwrap();
    let (throttled, _) = db.clone().faulty(FaultPlan::seeded(4).fail_fraction(1.0, &[Fault::Throttling]));
    let bounded = throttled.with_deadline(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let e = bounded.store(&store).write_with_key("e", doc(7)).await.unwrap_err();
    // Far below the 30 s the retry policy alone would allow.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.is_retryable() && e.object_may_have_changed(), "{e}");
    assert_eq!(e.key(), Some("e"));
    let e = bounded.store(&store).with_deadline(Some(Duration::from_millis(50))).read("e").await.unwrap_err();
    assert!(e.kind() == ErrorKind::Timeout && !e.object_may_have_changed(), "{e}");
    assert_eq!(db.store(&store).read("e").await.unwrap(), doc(6), "nothing was applied");
}

conformance!(
    exhausted_retries_say_which_request_how_often_and_whether_anything_changed,
    unprocessed_keys_are_named_in_the_error,
    a_write_whose_answer_was_lost_succeeds_once,
    a_call_stops_at_its_deadline,
);
