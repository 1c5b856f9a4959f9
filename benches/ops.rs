//! Save, load, read_path, write_path and delete of the reference object
//! (a root and three shards, six encrypted leaves) on the embedded engine,
//! each beside the same operation's requests replayed and the same items
//! put and got with hand-written requests (the floor): the scenario of
//! `examples/bench` (`--section latency`), under criterion.
//!
//! `cargo bench -p dystore-suite --bench ops`

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

// The bench's scenarios; this bench uses the reference object only.
#[allow(dead_code)]
#[path = "../examples/bench/suite/mod.rs"]
mod suite;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::time::Duration;
use suite::reference::{Bench, Op, Side};
use suite::target::Target;

/// Each iteration runs a whole cycle (the five operations leave the object
/// as they found it) and counts the time of one operation only.
fn reference(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let bench = runtime.block_on(async {
        let bench = Bench::new(Target::Embedded.connect().await, "", "ada").await.expect("the reference object");
        bench.check().await.expect("the floor stores what dystore stores");
        bench
    });
    for op in Op::ALL {
        let mut group = c.benchmark_group(format!("reference/{}", op.name()));
        for side in Side::ALL {
            group.bench_function(BenchmarkId::from_parameter(side.name()), |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            for each in Op::ALL {
                                let elapsed = bench.run(side, each).await.expect("an operation");
                                if each == op {
                                    total += elapsed;
                                }
                            }
                        }
                        total
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs: the figures are compared side by side, not tracked over time.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = reference
}
criterion_main!(benches);
