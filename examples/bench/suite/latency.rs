//! Latency of the five operations on the reference object: requests per
//! operation (dystore's, counted by `Client::measure`), and the median and
//! p90 of dystore, of its requests replayed, and of the hand-written floor,
//! the three interleaved iteration by iteration so that load from other
//! processes falls on all of them alike; then each operation but delete
//! alone, many times in a row (warm).

use super::reference::{Bench, Op, Side};
use super::stats::{Samples, fmt, ratio};
use super::{Out, Result};

/// The figures of one operation.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) op: Op,
    /// Requests dystore sent (retries included), per operation. The floor
    /// sends one hand-written request per operation.
    pub(crate) requests: u32,
    /// Timings by side, in [`Side::ALL`] order.
    pub(crate) samples: [Samples; 3],
}

impl Row {
    pub(crate) fn of(&self, side: Side) -> &Samples {
        &self.samples[Side::ALL.iter().position(|s| *s == side).expect("a side")]
    }

    /// The share of dystore's median not spent in the engine on dystore's
    /// own requests: its mapping, encryption and glue.
    pub(crate) fn own_share(&self) -> f64 {
        1.0 - ratio(self.of(Side::Replay).median(), self.of(Side::Dystore).median())
    }

    /// The share of dystore's median above the hand-written floor.
    pub(crate) fn over_floor(&self) -> f64 {
        1.0 - ratio(self.of(Side::Floor).median(), self.of(Side::Dystore).median())
    }
}

/// Counts requests per operation, then times `iterations` cycles of each
/// side in `sides` (after `iterations / 10` cycles of warm-up).
pub(crate) async fn run(bench: &Bench, iterations: usize, sides: &[Side]) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::new();
    for (side, op) in Side::ALL.iter().flat_map(|s| Op::ALL.iter().map(move |o| (*s, *o))) {
        let (outcome, usage) = bench.db.measure(bench.run(side, op)).await;
        outcome?;
        if side == Side::Dystore {
            rows.push(Row { op, requests: usage.requests, samples: Default::default() });
        }
    }
    for i in 0..iterations + iterations / 10 {
        for (s, side) in Side::ALL.iter().enumerate().filter(|(_, s)| sides.contains(s)) {
            for row in rows.iter_mut() {
                let elapsed = bench.run(*side, row.op).await?;
                if i >= iterations / 10 {
                    row.samples[s].push(elapsed);
                }
            }
        }
    }
    Ok(rows)
}

/// The operations timed warm: those that can run many times in a row on
/// one object, each side's requests as recorded. A save over the object as
/// the same side saved it (the first attempt's guard passes on an object
/// already settled in this shape), a write_path (its guard names the
/// shape, not a revision), and the reads, which leave the object as they
/// find it. A delete cannot run twice in a row, so it is timed in the
/// cycle only.
pub(crate) const WARM: [Op; 4] = [Op::Save, Op::WritePath, Op::Load, Op::ReadPath];

/// Times each of [`WARM`] `iterations` times in a row per side in `sides`
/// (after `iterations / 10` of warm-up), on the object as dystore saves
/// it: each operation alone, its code and data kept in the caches (the
/// cycle of [`run`] times each after four others, caches cold). After a
/// side's saves the side deletes its object and dystore saves it again,
/// after a side's writes dystore does, so that every block starts from
/// the object as dystore saves it. Requests are not counted again
/// (`requests` is 0). Leaves the object absent, as [`run`] does.
pub(crate) async fn warm(bench: &Bench, iterations: usize, sides: &[Side]) -> Result<Vec<Row>> {
    bench.run(Side::Dystore, Op::Save).await?;
    let mut warm = Vec::new();
    for op in WARM {
        let mut samples: [Samples; 3] = Default::default();
        for (s, side) in Side::ALL.iter().enumerate().filter(|(_, s)| sides.contains(s)) {
            for i in 0..iterations + iterations / 10 {
                let elapsed = bench.run(*side, op).await?;
                if i >= iterations / 10 {
                    samples[s].push(elapsed);
                }
            }
            match op {
                Op::Save => {
                    bench.run(*side, Op::Delete).await?;
                    bench.run(Side::Dystore, Op::Save).await?;
                }
                Op::WritePath => {
                    bench.run(Side::Dystore, Op::Delete).await?;
                    bench.run(Side::Dystore, Op::Save).await?;
                }
                _ => {}
            }
        }
        warm.push(Row { op, requests: 0, samples });
    }
    bench.run(Side::Dystore, Op::Delete).await?;
    Ok(warm)
}

/// Prints the warm rows under the cycle's table.
pub(crate) fn print_warm(out: &mut Out, iterations: usize, warm: &[Row]) {
    say!(
        out,
        "warm: each operation alone, {iterations} times in a row per side (the cycle above runs each after four others, caches cold; a delete cannot repeat)"
    );
    say!(out, "{}", header());
    for row in warm {
        say!(out, "{}", cells(row, ""));
    }
}

/// The columns [`cells`] fills.
fn header() -> String {
    format!(
        "{:<11} {:>4} {:>22} {:>22} {:>22} {:>15} {:>9}",
        "operation", "req", "dystore p50 / p90", "replay p50 / p90", "floor p50 / p90", "÷ floor p50/p90", "own share"
    )
}

/// A row's operation, `requests`, the three sides' median and p90,
/// dystore ÷ floor and the own share.
fn cells(row: &Row, requests: &str) -> String {
    let cell = |side| {
        let s: &Samples = row.of(side);
        if s.len() == 0 { "-".to_owned() } else { format!("{} / {}", fmt(s.median()), fmt(s.p90())) }
    };
    format!(
        "{:<11} {:>4} {:>22} {:>22} {:>22} {:>6.2}× / {:>5.2}× {:>8.0}%",
        row.op.name(),
        requests,
        cell(Side::Dystore),
        cell(Side::Replay),
        cell(Side::Floor),
        ratio(row.of(Side::Dystore).median(), row.of(Side::Floor).median()),
        ratio(row.of(Side::Dystore).p90(), row.of(Side::Floor).p90()),
        100.0 * row.own_share(),
    )
}

/// Prints the rows as a table.
pub(crate) fn print(out: &mut Out, target: &str, iterations: usize, rows: &[Row]) {
    say!(out, "\n## latency: reference object (root + 3 shards, 6 encrypted leaves), {target}, {iterations} iterations");
    say!(out, "{} {:>10}", header(), "over floor");
    for row in rows {
        say!(out, "{} {:>9.0}%", cells(row, &row.requests.to_string()), 100.0 * row.over_floor());
        if row.requests != row.op.promised_requests() {
            say!(out, "  ^ docs/FORMAT.md promises {} request(s) for {}", row.op.promised_requests(), row.op.name());
        }
    }
    say!(out, "req: dystore's requests per operation (Client::measure); floor: one hand-written request per operation, in the");
    say!(out, "engine's own types (dynoxide called directly, or a plain aws-sdk-dynamodb client); replay: dystore's recorded");
    say!(out, "requests sent again through its backend; own share: 1 - replay/dystore (mapping + encryption + glue);");
    say!(out, "over floor: 1 - floor/dystore.");
}
