//! How save and load time grow with the number of encryption rules a
//! layout has (issue 14: rules resolved once per layout, not tried per
//! leaf per rule). A document of 2,000 leaves is saved and loaded under
//! layouts with 0 to 1,000 `no_encrypt` rules that match none of its
//! leaves, on the embedded engine; prints the medians of 15 runs.
//!
//! ```sh
//! cargo run --release --example rule_count
//! ```

use dystore::{Client, Key, Keyring, Store};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> dystore::Result<()> {
    let db = Client::memory()?.with_loader(Keyring::new().with_key("a", Key::new([1u8; 32])?).default_key("a"));
    let doc = Value::Object((0..2000).map(|i| (format!("f{i}"), json!(i))).collect::<Map<_, _>>());
    println!("rules  save p50    load p50   (2,000 leaves, 15 runs)");
    for rules in [0usize, 1, 10, 100, 1000] {
        let layout = (0..rules).fold(Store::new(format!("Rules{rules}"), "ID"), |s, j| s.no_encrypt(format!("$.r{j}")));
        let objects = db.store(&layout);
        objects.create_tables().await?;
        objects.write_with_key("k", doc.clone()).await?;
        let (mut saves, mut loads) = (Vec::new(), Vec::new());
        for _ in 0..15 {
            let started = Instant::now();
            objects.write_with_key("k", doc.clone()).await?;
            saves.push(started.elapsed());
            let started = Instant::now();
            let read = objects.read("k").await?;
            loads.push(started.elapsed());
            assert_eq!(read, doc, "read back as saved");
        }
        println!("{rules:5}  {:>9.2?}  {:>9.2?}", median(&mut saves), median(&mut loads));
    }
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
