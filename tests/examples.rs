//! The examples `wallet` and `config_store`, run here through their own
//! `run` functions (the files are included as modules, so nothing is built
//! twice and no process is started), with figures small enough for a test,
//! and their reports checked: money kept whole across concurrent transfers
//! and crashes, and options read back, cached, reloaded and refused from a
//! table keyed otherwise.

#[allow(dead_code, reason = "each example's `main` and printing run under `cargo run --example`, not here")]
#[path = "../examples/wallet.rs"]
mod wallet;

#[allow(dead_code, reason = "each example's `main` and printing run under `cargo run --example`, not here")]
#[path = "../examples/config_store.rs"]
mod config_store;

use dystore::ErrorKind;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wallet_transfers_keep_the_money_whole() {
    // Small balances and large amounts, so that debits get refused; a high
    // crash rate, so that some tasks stop mid-transfer (the draws are
    // seeded: the same tasks crash on every run).
    let settings = wallet::Settings { tasks: 8, transfers: 25, balance: 100, max_amount: 80, crash_rate: 0.05, seed: 15 };
    let report = wallet::run(settings).await.unwrap();
    assert_eq!(report.violations(), Vec::<String>::new(), "{report:#?}");
    assert_eq!(report.total(), 800);
    assert!(report.balances.values().all(|b| *b >= 0), "{:?}", report.balances);
    assert!(report.done > 0 && report.refused > 0, "{report:#?}");
    assert!(report.crashed > 0, "some tasks crash mid-transfer");
    assert_eq!((report.recovered, report.pending), (report.crashed, 0));
    assert_eq!(report.stopped_total + report.in_flight, 800, "money in flight is accounted for");
    assert!(report.usage.requests > 0 && report.usage.consumed.total().write > 0.0);
}

#[tokio::test(flavor = "current_thread")]
async fn config_store_reads_back_caches_and_checks_the_table() {
    let every = Duration::from_millis(100);
    let report = config_store::run(every).await.unwrap();
    assert_eq!(report.db, Some(json!({"host": "db-cluster.com", "port": 27017})));
    assert_eq!(report.missing, None);
    assert_eq!(report.many.keys().collect::<Vec<_>>(), ["db", "external-port"], "an option not set is left out");
    assert_eq!(report.prod.keys().collect::<Vec<_>>(), ["db", "external-port", "features"]);
    assert_eq!(report.test["external-port"], json!({"port": 4000}), "stores do not mix");
    assert_eq!(report.test.len(), 2);
    assert_eq!(report.cached, [json!(80), json!(80), json!(8080), json!(443)], "cached, kept, reloaded, expired");
    assert_eq!(report.mismatch.kind(), ErrorKind::SchemaMismatch);
    assert_eq!(report.mismatch.table(), Some("LegacyConfig"));
    assert!(report.mismatch.to_string().contains("expected partition key `StoreOption` (S) and no sort key, found HASH `_store` (S)"));
}
