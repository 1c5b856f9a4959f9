//! 8 tasks × 500 read-modify-write increments of one counter through
//! `Client::update`, on the embedded engine with a multi-threaded runtime;
//! prints the final count (exactly 4,000 when nothing is lost) and how many
//! writes lost a race and were retried.
//!
//! `cargo run --release --example contention [tasks] [increments]`

use dystore::backend::op;
use dystore::{Client, DyObject};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, DyObject)]
#[dystore(table = "Counters", key = "ID")]
struct Counter {
    #[dystore(pk)]
    id: String,
    count: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> dystore::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let (tasks, increments) = (args.next().unwrap_or(8), args.next().unwrap_or(500));
    let (db, requests) = Client::memory()?.counted();
    db.create_tables::<Counter>().await?;
    db.create(&Counter { id: "c".into(), count: 0 }).await?;
    requests.reset();
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                for _ in 0..increments {
                    db.update::<Counter>("c", |c| c.count += 1).await?;
                }
                dystore::Result::Ok(())
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("task")?;
    }
    let count = db.load::<Counter>("c").await?.count;
    // A save of an object without shards is one PutItem; with shards, one TransactWriteItems.
    let writes = requests.get(op::PUT_ITEM) + requests.get(op::TRANSACT_WRITE_ITEMS);
    println!("tasks × increments   {tasks} × {increments}");
    println!("final count          {count} (expected {})", tasks * increments);
    println!("writes sent          {writes} ({} lost a race and were retried)", writes - tasks * increments);
    println!("elapsed              {:?}", started.elapsed());
    assert_eq!(count, (tasks * increments) as u64);
    Ok(())
}
