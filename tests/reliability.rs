//! Reliability under injected faults: a seeded workload of mixed
//! operations, with 20% of the requests throttled, failed, timed out or
//! conflicting and 20% of the batch-read keys left unprocessed, loses and
//! corrupts nothing against a model, on the embedded engine and over HTTP.
//! `cargo run --example faults` runs the full 10,000 operations and prints
//! the figures.

mod common;

#[path = "reliability/workload.rs"]
mod workload;

use common::{Target, client, table};

/// Operations per backend in `cargo test`.
const OPERATIONS: usize = 300;

async fn mixed_operations_under_faults_lose_nothing(target: Target) {
    let tables = [table("RelRoot"), table("RelLoc"), table("RelTags")];
    let names = [tables[0].as_str(), tables[1].as_str(), tables[2].as_str()];
    let (figures, injected) = workload::run(client(target).await, names, OPERATIONS, 12, 0.2, 42).await;
    assert_eq!(figures.operations, OPERATIONS);
    assert!(injected.total() > OPERATIONS / 10, "faults were injected: {injected:?}");
    assert!(figures.mismatches.is_empty(), "lost or corrupted: {:#?}", figures.mismatches);
    assert!(figures.failed.is_empty(), "every injected fault is retryable, so every operation succeeds: {:#?}", figures.failed);
}

conformance!(mixed_operations_under_faults_lose_nothing);
