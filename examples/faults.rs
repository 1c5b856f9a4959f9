//! 10,000 mixed operations (save, load, read_path, write_path, delete) on
//! objects with a shard, a list shard and encrypted leaves, with 20% of the
//! requests failing (throttling, 5xx, timeouts, transaction conflicts) and
//! 20% of batch-read keys left unprocessed, on the embedded engine; prints
//! what was injected and checks every result against a model.
//!
//! `cargo run --release --example faults [operations]`

#[path = "../tests/reliability/workload.rs"]
mod workload;

use dystore::Client;
use dystore::backend::Fault;

#[tokio::main(flavor = "current_thread")]
async fn main() -> dystore::Result<()> {
    let operations = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let (figures, injected) = workload::run(Client::memory()?, ["FaultsRoot", "FaultsLoc", "FaultsTags"], operations, 50, 0.2, 2026).await;
    println!("operations                 {} ({:?})", figures.operations, figures.by_kind);
    for fault in [Fault::Throttling, Fault::ServerError, Fault::Timeout, Fault::TransactionConflict] {
        println!("injected {:<18} {}", format!("{fault:?}"), injected.faults(fault));
    }
    println!("unprocessed keys           {}", injected.unprocessed_keys());
    println!("operations failed          {}", figures.failed.len());
    println!("lost or corrupted objects  {}", figures.mismatches.len());
    println!("slowest operation          {:?}", figures.slowest);
    println!("elapsed                    {:?}", figures.elapsed);
    assert!(figures.mismatches.is_empty(), "{:#?}", figures.mismatches);
    assert!(figures.failed.is_empty(), "{:#?}", figures.failed);
    Ok(())
}
