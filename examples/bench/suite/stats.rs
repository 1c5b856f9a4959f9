//! Medians and percentiles of timings, and their printing.

use std::time::Duration;

/// Timings of one measured thing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples(Vec<Duration>);

impl Samples {
    /// Records one timing.
    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// How many timings were recorded.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (0.5 the median), nearest rank; zero if empty.
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(rank).copied().unwrap_or_default()
    }

    /// The median.
    pub(crate) fn median(&self) -> Duration {
        self.quantile(0.5)
    }

    /// The 90th percentile.
    pub(crate) fn p90(&self) -> Duration {
        self.quantile(0.9)
    }
}

/// A duration in the unit that suits it: `85 µs`, `1.24 ms`, `2.1 s`.
pub(crate) fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// `a / b`, zero when `b` is.
pub(crate) fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() { 0.0 } else { a.as_secs_f64() / b.as_secs_f64() }
}
