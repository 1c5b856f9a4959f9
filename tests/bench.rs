//! The bench example's code (`examples/bench`) with tiny counts, so `cargo
//! test` keeps it running. It asserts what a reader of the figures relies
//! on: each operation sends the requests docs/FORMAT.md promises, the floor
//! stores and reads the same items as dystore, the report has every
//! section on every target. Never a timing.

// The bench's scenarios, as the example and benches/ops.rs compile them;
// each test runs a part.
#[allow(dead_code)]
#[path = "../examples/bench/suite/mod.rs"]
mod suite;

use std::time::Duration;
use suite::growth;
use suite::memory::{self, Object, Variant};
use suite::reference::{Bench, Op, Side};
use suite::report::{self, SECTIONS};
use suite::stats::Samples;
use suite::target::Target;

fn suffix() -> String {
    report::suffix()
}

/// Every operation costs dystore the request docs/FORMAT.md's "Round
/// trips" table promises (one each, of the kind listed), and the floor's
/// hand-written requests store and read what dystore does.
async fn reference_object(target: Target) {
    let bench = Bench::new(target.connect().await, &suffix(), "ada").await.expect("the reference object");
    bench.check().await.expect("the floor and dystore store and read the same items");
    let rows = suite::latency::run(&bench, 2, &Side::ALL).await.expect("the latency section");
    assert_eq!(rows.iter().map(|r| r.op).collect::<Vec<_>>(), Op::ALL);
    for row in &rows {
        assert_eq!(row.requests, row.op.promised_requests(), "{}", row.op.name());
        for side in Side::ALL {
            assert_eq!(row.of(side).len(), 2, "{} {}", row.op.name(), side.name());
        }
    }
    let warm = suite::latency::warm(&bench, 2, &Side::ALL).await.expect("the warm rows");
    assert_eq!(warm.iter().map(|w| w.op).collect::<Vec<_>>(), suite::latency::WARM);
    for row in &warm {
        for side in Side::ALL {
            assert_eq!(row.of(side).len(), 2, "warm {} {}", row.op.name(), side.name());
        }
    }
    let sent: Vec<Vec<&str>> = bench.recorded.iter().map(|r| r.iter().map(|q| q.op()).collect()).collect();
    let promised: Vec<Vec<&str>> = Op::ALL.iter().map(|op| vec![op.promised_request()]).collect();
    assert_eq!(sent, promised, "the request of each operation (docs/FORMAT.md, Round trips)");
    // The timed cycles leave the object as they found it: absent, and the
    // floor's items still read back as the reference document.
    bench.check().await.expect("the floor and dystore agree after the timed cycles");
}

#[tokio::test]
async fn reference_object_embedded() {
    reference_object(Target::Embedded).await;
}

#[tokio::test]
async fn reference_object_over_http() {
    reference_object(Target::Http).await;
}

/// Within one transaction a save and a load are one request each; a save
/// past one transaction is staged as docs/FORMAT.md counts it (GetItem, a
/// tombstone PutItem, ceil(150 / 99) transactions, the switch); a leaf too
/// large for its item goes to chunk items, read by a second BatchGetItem.
#[tokio::test]
async fn growth_counts_requests() {
    let db = Target::Embedded.client().await;
    for shards in [1, 10] {
        let point = growth::point(&db, shards, 100, false, 1).await.expect("a point");
        assert_eq!((point.save_requests, point.load_requests), (1, 1), "{shards} shards");
    }
    let staged = growth::point(&db, 150, 100, false, 1).await.expect("a staged point");
    assert_eq!(staged.save_requests, 1 + 1 + 150_u32.div_ceil(99) + 1);
    assert!(staged.load_requests >= 2, "keys carrying the write id follow from the root: {}", staged.load_requests);
    let chunked = growth::point(&db, 3, 400 * 1024, true, 1).await.expect("a chunked point");
    assert_eq!((chunked.save_requests, chunked.load_requests), (1, 2));
}

/// The memory section's variants send one request to save and one to
/// load, and read back whole (the figures themselves are the example's).
#[tokio::test]
async fn memory_variants_send_one_request_each_way() {
    for variant in [Variant::Dystore, Variant::Raw] {
        for encrypted in [false, true] {
            let object = Object { shards: 4, leaf: 10_000, encrypted };
            let figures = memory::measure(&Target::Embedded, variant, object).await.expect("a measurement");
            assert_eq!((figures.save_requests, figures.load_requests), (1, 1), "{} encrypted={encrypted}", variant.name());
            assert_eq!(figures.object, 40_000);
        }
    }
}

/// The whole report, every section on both default targets, with tiny
/// counts: each section's table is there, with a row per operation, per
/// memory variant and per number of tasks.
#[test]
fn report_has_every_section() {
    let flags = "--iterations 2 --growth-iterations 1 --seconds 0.05 --tasks 1,4 --memory-object 2,5000 --memory-in-process \
                 --shards 1,2 --leaves 100,1000";
    let args = report::parse(flags.split(' ').map(str::to_owned)).expect("the flags");
    assert_eq!(args.sections, SECTIONS);
    assert_eq!(args.targets, [Target::Embedded, Target::Http]);
    let mut out = suite::Out { quiet: true, ..Default::default() };
    report::run(&args, &mut out).expect("the report");
    let text = out.text;
    for target in ["embedded", "http"] {
        for header in [
            format!("## latency: reference object (root + 3 shards, 6 encrypted leaves), {target}, 2 iterations"),
            format!("## memory: 2 shards × 5000 B leaf (0.0 MB), {target};"),
            format!("## concurrency: reference object, one Client, {target},"),
            format!("## growth: shards of one 100 B leaf, {target}, 1 iterations"),
            format!("## growth: root + 3 shards of one leaf each, {target}, 1 iterations"),
        ] {
            assert_eq!(text.matches(&header).count(), 1, "{header}\n{text}");
        }
    }
    for op in Op::ALL {
        let row = format!("\n{:<11} {:>4} ", op.name(), 1);
        assert_eq!(text.matches(&row).count(), 2, "a latency row for {} per target:\n{text}", op.name());
    }
    for variant in ["dystore  plain", "raw      plain", "dystore  encrypted", "raw      encrypted"] {
        assert_eq!(text.matches(&format!("\n{variant} ")).count(), 2, "{variant}:\n{text}");
    }
    assert_eq!(text.matches("\n     1 ").count(), 2 + 2, "a row for 1 task and for 1 shard per target:\n{text}");
    assert_eq!(text.matches("\n     4 ").count(), 2, "4 tasks rows:\n{text}");
    assert!(text.contains("\n# done;"), "the report ends:\n{text}");
    assert!(
        !text.contains("NOT as docs/FORMAT.md promises") && !text.contains("^ docs/FORMAT.md promises"),
        "an operation sent other requests than docs/FORMAT.md promises:\n{text}"
    );
    assert_eq!(text.matches("(as docs/FORMAT.md promises)").count(), 2 * Op::ALL.len(), "{text}");
}

/// Unknown flags and sections are refused, not ignored.
#[test]
fn bad_flags_are_refused() {
    for flags in [&["--section", "speed"][..], &["--fast"], &["--iterations"]] {
        assert!(report::parse(flags.iter().map(|f| f.to_string())).is_err(), "{flags:?}");
    }
}

/// Medians and p90s are nearest-rank: the figures printed are timings
/// that happened.
#[test]
fn quantiles_are_nearest_rank() {
    let mut s = Samples::default();
    for ms in 1..=10 {
        s.push(Duration::from_millis(ms));
    }
    assert_eq!((s.median(), s.p90()), (Duration::from_millis(5), Duration::from_millis(9)));
}
