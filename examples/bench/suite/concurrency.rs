//! Operations per second with 1, 8 and 64 tasks sharing one `Client` on
//! the caller's (multi-threaded) runtime: each task saves, or loads, its
//! own reference object over and over for a fixed time; the floor's
//! hand-written requests beside them.

use super::floor::Engine;
use super::reference::{Bench, Op, Side, store};
use super::{Out, Result};
use dystore::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Operations per second of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rate {
    pub(crate) tasks: usize,
    pub(crate) side: Side,
    pub(crate) op: Op,
    /// Operations done by all tasks together in the run's duration.
    pub(crate) ops: u64,
}

/// Runs every (tasks, side, op) for `duration` each, on one client of the
/// reference tables (names ending in `suffix`).
pub(crate) async fn run((db, engine): (Client, Engine), suffix: &str, task_counts: &[usize], duration: Duration) -> Result<Vec<Rate>> {
    let layout = store(suffix);
    db.store(&layout).create_tables().await?;
    let most = task_counts.iter().copied().max().unwrap_or(1);
    let mut benches = Vec::with_capacity(most);
    for t in 0..most {
        let bench = Bench::on_tables(db.clone(), engine.clone(), layout.clone(), &format!("task-{t}")).await?;
        bench.run(Side::Dystore, Op::Save).await?;
        benches.push(Arc::new(bench));
    }
    let mut rates = Vec::new();
    for &tasks in task_counts {
        for side in [Side::Dystore, Side::Floor] {
            for op in [Op::Save, Op::Load] {
                let ops = run_one(&benches[..tasks], side, op, duration).await?;
                rates.push(Rate { tasks, side, op, ops });
            }
        }
    }
    Ok(rates)
}

/// `op` as `side` by one task per bench until `duration` has passed; the
/// operations done in all.
async fn run_one(benches: &[Arc<Bench>], side: Side, op: Op, duration: Duration) -> Result<u64> {
    let deadline = Instant::now() + duration;
    let handles: Vec<_> = benches
        .iter()
        .map(|bench| {
            let bench = bench.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    bench.run(side, op).await?;
                    done += 1;
                }
                Ok::<u64, super::BoxError>(done)
            })
        })
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await??;
    }
    Ok(total)
}

/// Prints the rates of one target as a table.
pub(crate) fn print(out: &mut Out, target: &str, workers: usize, duration: Duration, rates: &[Rate]) {
    say!(out, "\n## concurrency: reference object, one Client, {target}, {workers} runtime workers, {:?} per cell", duration);
    say!(out, "{:>6} {:>14} {:>14} {:>14} {:>14}", "tasks", "dystore save/s", "floor save/s", "dystore load/s", "floor load/s");
    let mut counts: Vec<usize> = rates.iter().map(|r| r.tasks).collect();
    counts.dedup();
    for tasks in counts {
        let cell = |side, op| {
            let ops = rates.iter().find(|r| r.tasks == tasks && r.side == side && r.op == op).map_or(0, |r| r.ops);
            ops as f64 / duration.as_secs_f64()
        };
        say!(
            out,
            "{tasks:>6} {:>14.0} {:>14.0} {:>14.0} {:>14.0}",
            cell(Side::Dystore, Op::Save),
            cell(Side::Floor, Op::Save),
            cell(Side::Dystore, Op::Load),
            cell(Side::Floor, Op::Load)
        );
    }
}
