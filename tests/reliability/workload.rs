//! A seeded workload of mixed operations on objects with a shard, a list
//! shard and encrypted leaves, run through a client with faults injected,
//! checked against a model of what every object should be. Shared by
//! `tests/reliability.rs` (a few hundred operations, in `cargo test`) and
//! `examples/faults.rs` (10,000, printing the figures).

use dystore::backend::{Fault, FaultPlan, Injected};
use dystore::{Client, Key, Keyring, RetryPolicy, Store};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What a run did.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    pub(crate) operations: usize,
    pub(crate) by_kind: BTreeMap<&'static str, usize>,
    /// Operations that returned an error (each must be typed and within
    /// the deadline; with every injected fault retryable, none is expected).
    pub(crate) failed: Vec<String>,
    /// Reads that disagreed with the model: lost or corrupted objects.
    pub(crate) mismatches: Vec<String>,
    pub(crate) slowest: Duration,
    pub(crate) elapsed: Duration,
}

/// The layout: a root with an encrypted leaf, a shard and a list shard.
pub(crate) fn store(tables: [&str; 3]) -> Store {
    Store::new(tables[0], "ID")
        .encrypt("$.secret")
        .shard(Store::new(tables[1], "LID").at("$.loc").encrypt("$.city"))
        .shard(Store::new(tables[2], "TID").at("$.tags[*]"))
}

fn keyring() -> Keyring {
    Keyring::new().with_key("k", Key::new([3u8; 32]).expect("a 32-byte key")).default_key("k")
}

fn document(rng: &mut fastrand::Rng, generation: usize) -> Value {
    let tags: Vec<Value> = (0..rng.usize(0..4)).map(|i| json!({"t": format!("tag-{generation}-{i}")})).collect();
    json!({"secret": format!("s{}", rng.u32(..)), "n": generation, "loc": {"city": format!("c{}", rng.u16(..)), "zip": rng.u16(..)}, "tags": tags})
}

/// Runs `operations` operations on `objects` objects with a share `rate`
/// of the requests failing, seeded by `seed`.
pub(crate) async fn run(db: Client, tables: [&str; 3], operations: usize, objects: usize, rate: f64, seed: u64) -> (Figures, Injected) {
    let plan = FaultPlan::seeded(seed)
        .fail_fraction(rate, &[Fault::Throttling, Fault::ServerError, Fault::Timeout, Fault::TransactionConflict, Fault::AppliedTimeout])
        .unprocessed_fraction(rate);
    let policy =
        RetryPolicy { deadline: Duration::from_secs(30), first_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(20) };
    let db = db.with_loader(keyring()).with_retry_policy(policy);
    let store = store(tables);
    db.store(&store).create_tables().await.expect("tables");
    let (db, injected) = db.faulty(plan);
    let objects_handle = db.store(&store);
    let mut model: BTreeMap<String, Value> = BTreeMap::new();
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let mut figures = Figures::default();
    let started = Instant::now();
    for op in 0..operations {
        let key = format!("obj-{seed}-{}", rng.usize(..objects));
        let kind = ["save", "load", "read_path", "write_path", "delete"][rng.usize(..5)];
        let began = Instant::now();
        let expected = model.get(&key).cloned();
        let outcome: Result<(), String> = match kind {
            "save" => {
                let doc = document(&mut rng, op);
                match objects_handle.write_with_key(&key, doc.clone()).await {
                    Ok(()) => {
                        model.insert(key.clone(), doc);
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            "load" => match (objects_handle.read(&key).await, expected) {
                (Ok(read), Some(want)) if read == want => Ok(()),
                (Err(e), None) if e.is_not_found() => Ok(()),
                (got, want) => {
                    figures.mismatches.push(format!("load {key}: got {got:?}, model {want:?}"));
                    Ok(())
                }
            },
            "read_path" => match (objects_handle.read_path(&key, "$.loc.city").await, expected) {
                (Ok(read), Some(want)) if read == vec![want["loc"]["city"].clone()] => Ok(()),
                (Err(e), None) if e.is_not_found() => Ok(()),
                (got, want) => {
                    figures.mismatches.push(format!("read_path {key}: got {got:?}, model {want:?}"));
                    Ok(())
                }
            },
            "write_path" => {
                let city = json!(format!("w{op}"));
                match (objects_handle.write_path(&key, "$.loc.city", city.clone()).await, expected) {
                    (Ok(()), Some(mut doc)) => {
                        doc["loc"]["city"] = city;
                        model.insert(key.clone(), doc);
                        Ok(())
                    }
                    (Err(e), None) if e.is_not_found() => Ok(()),
                    (Err(e), _) => Err(e.to_string()),
                    (Ok(()), None) => {
                        figures.mismatches.push(format!("write_path {key}: succeeded on an object the model does not have"));
                        Ok(())
                    }
                }
            }
            _ => match (objects_handle.delete(&key).await, expected) {
                (Ok(()), Some(_)) => {
                    model.remove(&key);
                    Ok(())
                }
                (Err(e), None) if e.is_not_found() => Ok(()),
                (Err(e), _) => Err(e.to_string()),
                // A delete whose answer was lost (`AppliedTimeout`) and then
                // finds no object reports success: it cannot tell whether
                // its first attempt deleted it. The object is absent either
                // way, which the final reads check.
                (Ok(()), None) => Ok(()),
            },
        };
        if let Err(e) = outcome {
            figures.failed.push(format!("{kind} {key}: {e}"));
        }
        figures.slowest = figures.slowest.max(began.elapsed());
        *figures.by_kind.entry(kind).or_insert(0) += 1;
        figures.operations += 1;
    }
    // Every object the model has reads back exactly, and no other.
    for (key, want) in &model {
        match objects_handle.read(key).await {
            Ok(read) if &read == want => {}
            got => figures.mismatches.push(format!("final {key}: got {got:?}")),
        }
    }
    figures.elapsed = started.elapsed();
    (figures, injected)
}
