//! dystore's `tracing` output, as a subscriber prints it: one span named
//! `dystore` per operation, closed with its operation, table, key (hashed
//! here), requests, retries, capacity units and outcome; retries and steps
//! run again as DEBUG events naming the failure's kind. No value ever
//! appears. The save's first request is throttled (injected), so its span
//! shows a retry and the event before it.
//!
//! `cargo run --example tracing`

use dystore::backend::{Fault, FaultPlan};
use dystore::{Client, KeyDisplay, Store};
use serde_json::json;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> dystore::Result<()> {
    // dystore's spans are INFO and its retry events DEBUG: keep both for
    // dystore, and only warnings for everything else.
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_span_events(FmtSpan::CLOSE).with_target(false))
        .with(Targets::new().with_target("dystore", LevelFilter::DEBUG).with_default(LevelFilter::WARN))
        .init();

    // Keys may be personal data (an email here): spans and errors show a
    // keyed hash of them instead.
    let db = Client::memory()?.with_key_display(KeyDisplay::hashed(b"a secret of the application"));
    let people = Store::new("People", "ID").shard(Store::new("Addresses", "AID").at("$.address"));
    db.store(&people).create_tables().await?;

    let (db, injected) = db.faulty(FaultPlan::seeded(1).fail_request(1, Fault::Throttling));
    let objects = db.store(&people);
    objects.write_with_key("ada@example.com", json!({"name": "Ada", "address": {"city": "London"}})).await?;
    objects.read("ada@example.com").await?;
    objects.read_path("ada@example.com", "$.address.city").await?;
    let missing = objects.read("nobody@example.com").await.unwrap_err();
    println!("throttled requests injected: {}", injected.total());
    println!("an error, its key hashed: {missing}");
    Ok(())
}
