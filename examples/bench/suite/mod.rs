//! The bench's scenarios, shared by `examples/bench` (the figures),
//! `benches/ops.rs` (criterion) and `tests/bench.rs` (structural checks
//! with tiny iteration counts), so the three measure the same thing.
//!
//! - `report`: the command line and the whole report, section by section.
//! - `target`: which backend (embedded engine, in-process HTTP server, any
//!   endpoint) and how to connect to it.
//! - `floor`: hand-written requests in the engine's own types, sent without
//!   dystore.
//! - `reference`: the reference object (root + 3 shards, 6
//!   encrypted leaves), its five operations through dystore, and the same
//!   items through hand-written requests (the floor) and dystore's own
//!   requests replayed (the replay).
//! - `stats`: medians and percentiles.
//! - `latency`, `memory`, `concurrency`, `growth`: one section each.

/// Writes one line of the report: `say!(out, "{} ops", n)`.
macro_rules! say {
    ($out:expr) => {
        $out.line(format_args!(""))
    };
    ($out:expr, $($arg:tt)*) => {
        $out.line(format_args!($($arg)*))
    };
}

pub(crate) mod concurrency;
pub(crate) mod floor;
pub(crate) mod growth;
pub(crate) mod latency;
pub(crate) mod memory;
pub(crate) mod reference;
pub(crate) mod report;
pub(crate) mod stats;
pub(crate) mod target;

/// The error type of the bench: anything, with a message.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The result type of the bench.
pub(crate) type Result<T, E = BoxError> = std::result::Result<T, E>;

/// The report as it is written: printed as it goes (unless quiet) and kept,
/// so a test can read it back.
#[derive(Debug, Default)]
pub(crate) struct Out {
    /// Whether lines are kept only, not printed.
    pub(crate) quiet: bool,
    /// Every line so far.
    pub(crate) text: String,
}

impl Out {
    /// Writes one line.
    pub(crate) fn line(&mut self, line: std::fmt::Arguments<'_>) {
        let line = line.to_string();
        if !self.quiet {
            println!("{line}");
        }
        self.text.push_str(&line);
        self.text.push('\n');
    }
}
