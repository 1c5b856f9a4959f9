//! 10,000 mixed operations (save, load, read_path, write_path, delete) on
//! objects with a shard, a list shard and encrypted leaves, with 20% of the
//! requests failing (throttling, 5xx, timeouts with and without the write
//! applied, transaction conflicts) and 20% of batch-read keys left
//! unprocessed, on the embedded engine and over HTTP (dynoxide's server,
//! started in this process on 127.0.0.1); prints what was injected and
//! checks every result against a model.
//!
//! `cargo run --release --example faults [operations]`

#[path = "../tests/reliability/workload.rs"]
mod workload;

use dystore::Client;
use dystore::backend::Fault;

/// dynoxide's HTTP server on its own thread and runtime; its address.
fn server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    listener.set_nonblocking(true).expect("non-blocking listener");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("server runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            dynoxide::server::serve_on(listener, dynoxide::Database::memory().expect("database")).await;
        });
    });
    addr
}

async fn http_client() -> Client {
    let credentials = aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "faults-example");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://{}", server()))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await;
    Client::from_conf(&conf)
}

async fn run(name: &str, db: Client, operations: usize) {
    let (figures, injected) = workload::run(db, ["FaultsRoot", "FaultsLoc", "FaultsTags"], operations, 50, 0.2, 2026).await;
    println!("== {name}");
    println!("operations                 {} ({:?})", figures.operations, figures.by_kind);
    for fault in [Fault::Throttling, Fault::ServerError, Fault::Timeout, Fault::TransactionConflict, Fault::AppliedTimeout] {
        println!("injected {:<18} {}", format!("{fault:?}"), injected.faults(fault));
    }
    println!("unprocessed keys           {}", injected.unprocessed_keys());
    println!("operations failed          {}", figures.failed.len());
    println!("lost or corrupted objects  {}", figures.mismatches.len());
    println!("slowest operation          {:?}", figures.slowest);
    println!("elapsed                    {:?}", figures.elapsed);
    assert!(figures.mismatches.is_empty(), "{:#?}", figures.mismatches);
    assert!(figures.failed.is_empty(), "{:#?}", figures.failed);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> dystore::Result<()> {
    let operations = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    run("embedded engine", Client::memory()?, operations).await;
    run("HTTP (dynoxide server)", http_client().await, operations).await;
    Ok(())
}
