//! The capacity budget of a rotation: read and write capacity units
//! estimated for every request by DynamoDB's published item-size rules,
//! and requests held back while the average over a sliding window would
//! exceed the budget.
//!
//! The [`Backend`] trait reports no consumed capacity (neither backend asks
//! DynamoDB for `ReturnConsumedCapacity`), so units are estimated from the
//! sizes of the items sent and received:
//!
//! - reads: one unit per 4 KB of each item read (GetItem, BatchGetItem), or
//!   of all the items of a Scan page together, rounded up; half for an
//!   eventually consistent read; twice for a transactional read;
//! - writes: one unit per 1 KB of each item written, rounded up (an update
//!   or delete, whose item size is not known to the client, counts as its
//!   request's size, at least one unit); twice inside a transaction, where
//!   a condition check counts as a write of one unit.

use crate::backend::{Backend, BackendError, BatchGetOutput, Get, Item, Page, Query, Scan, TableInfo, TableKeys, Write};
use crate::value::item_size;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The most read and write capacity units per second a rotation may use,
/// on average over a sliding window.
///
/// ```
/// use dystore::rotate::Budget;
/// use std::time::Duration;
///
/// let budget = Budget::unlimited().max_rcu(100.0).max_wcu(50.0).window(Duration::from_secs(10));
/// assert_eq!(budget.rcu(), Some(100.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    max_rcu: Option<f64>,
    max_wcu: Option<f64>,
    window: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::unlimited()
    }
}

impl Budget {
    /// No limit (the default); the window is 5 seconds.
    pub fn unlimited() -> Self {
        Budget { max_rcu: None, max_wcu: None, window: Duration::from_secs(5) }
    }

    /// At most `units` read capacity units per second (a non-positive or
    /// non-finite value means no limit).
    pub fn max_rcu(self, units: f64) -> Self {
        Budget { max_rcu: (units.is_finite() && units > 0.0).then_some(units), ..self }
    }

    /// At most `units` write capacity units per second (a non-positive or
    /// non-finite value means no limit).
    pub fn max_wcu(self, units: f64) -> Self {
        Budget { max_wcu: (units.is_finite() && units > 0.0).then_some(units), ..self }
    }

    /// The window the averages are taken over (at least 100 ms). A longer
    /// window allows longer bursts; DynamoDB itself keeps up to 300 seconds
    /// of unused capacity for bursts.
    pub fn window(self, window: Duration) -> Self {
        Budget { window: window.max(Duration::from_millis(100)), ..self }
    }

    /// The read limit, if any.
    pub fn rcu(&self) -> Option<f64> {
        self.max_rcu
    }

    /// The write limit, if any.
    pub fn wcu(&self) -> Option<f64> {
        self.max_wcu
    }
}

/// Capacity units spent, estimated.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Units {
    /// Read capacity units.
    pub rcu: f64,
    /// Write capacity units.
    pub wcu: f64,
}

/// The sliding window of units spent, shared by every segment of a run.
#[derive(Debug)]
pub(crate) struct Meter {
    budget: Budget,
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// (when, units) of every request in the window, oldest first.
    spent: VecDeque<(Instant, Units)>,
    in_window: Units,
    total: Units,
}

impl Meter {
    pub(crate) fn new(budget: Budget) -> Self {
        Meter { budget, state: Mutex::new(Window::default()) }
    }

    fn state(&self) -> MutexGuard<'_, Window> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every unit spent so far.
    pub(crate) fn total(&self) -> Units {
        self.state().total
    }

    fn record(&self, units: Units) {
        let mut state = self.state();
        state.spent.push_back((Instant::now(), units));
        state.in_window.rcu += units.rcu;
        state.in_window.wcu += units.wcu;
        state.total.rcu += units.rcu;
        state.total.wcu += units.wcu;
    }

    /// Waits until the average over the window is under the budget for
    /// the kind of request about to be sent (reads, writes or both).
    async fn admit(&self, reads: bool, writes: bool) {
        loop {
            let wait = {
                let mut state = self.state();
                let now = Instant::now();
                let window = self.budget.window;
                while let Some((at, units)) = state.spent.front().copied() {
                    if now.duration_since(at) < window {
                        break;
                    }
                    state.spent.pop_front();
                    state.in_window.rcu -= units.rcu;
                    state.in_window.wcu -= units.wcu;
                }
                let secs = window.as_secs_f64();
                let over = |limit: Option<f64>, spent: f64| limit.is_some_and(|l| spent >= l * secs);
                let blocked =
                    (reads && over(self.budget.max_rcu, state.in_window.rcu)) || (writes && over(self.budget.max_wcu, state.in_window.wcu));
                if !blocked {
                    return;
                }
                // Until the oldest request leaves the window.
                state.spent.front().map_or(Duration::from_millis(10), |(at, _)| window.saturating_sub(now.duration_since(*at)))
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

/// A backend whose requests are metered and held to a [`Budget`].
pub(crate) struct Metered {
    inner: Arc<dyn Backend>,
    meter: Arc<Meter>,
}

impl Metered {
    pub(crate) fn new(inner: Arc<dyn Backend>, meter: Arc<Meter>) -> Self {
        Metered { inner, meter }
    }
}

const READ_UNIT: usize = 4096;
const WRITE_UNIT: usize = 1024;

/// Read units of one item of `bytes` bytes.
fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(READ_UNIT).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// Write units of one write.
fn write_units(write: &Write) -> f64 {
    let bytes = match write {
        Write::Put { item, .. } => item_size(item),
        Write::Update { key, update, .. } => item_size(key) + item_size(&update.values),
        Write::Delete { key, .. } | Write::Check { key, .. } => item_size(key),
    };
    bytes.div_ceil(WRITE_UNIT).max(1) as f64
}

fn reads(rcu: f64) -> Units {
    Units { rcu, wcu: 0.0 }
}

fn writes(wcu: f64) -> Units {
    Units { rcu: 0.0, wcu }
}

#[async_trait]
impl Backend for Metered {
    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        self.meter.admit(true, false).await;
        let consistent = get.consistent;
        let out = self.inner.get(get).await?;
        self.meter.record(reads(read_units(out.as_ref().map_or(0, item_size), consistent)));
        Ok(out)
    }

    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        self.meter.admit(true, false).await;
        let consistent = keys.iter().all(|t| t.consistent);
        let out = self.inner.batch_get(keys).await?;
        let rcu = out.items.values().flatten().map(|item| read_units(item_size(item), consistent)).sum();
        self.meter.record(reads(rcu));
        Ok(out)
    }

    async fn write(&self, write: Write) -> Result<(), BackendError> {
        self.meter.admit(false, true).await;
        let units = write_units(&write);
        let out = self.inner.write(write).await;
        // A failed condition consumes the write's units too.
        self.meter.record(writes(units));
        out
    }

    async fn transact_write(&self, batch: Vec<Write>) -> Result<(), BackendError> {
        self.meter.admit(false, true).await;
        let units = 2.0 * batch.iter().map(write_units).sum::<f64>();
        let out = self.inner.transact_write(batch).await;
        self.meter.record(writes(units));
        out
    }

    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        self.meter.admit(true, false).await;
        let out = self.inner.transact_get(gets).await?;
        let rcu = out.iter().map(|item| 2.0 * read_units(item.as_ref().map_or(0, item_size), true)).sum();
        self.meter.record(reads(rcu));
        Ok(out)
    }

    async fn query(&self, query: Query) -> Result<Page, BackendError> {
        self.meter.admit(true, false).await;
        let consistent = query.consistent;
        let page = self.inner.query(query).await?;
        self.meter.record(reads(page_units(&page, consistent)));
        Ok(page)
    }

    async fn scan(&self, scan: Scan) -> Result<Page, BackendError> {
        self.meter.admit(true, false).await;
        let consistent = scan.consistent;
        let page = self.inner.scan(scan).await?;
        self.meter.record(reads(page_units(&page, consistent)));
        Ok(page)
    }

    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError> {
        self.inner.create_table(table, key).await
    }

    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError> {
        self.inner.describe_table(table).await
    }
}

/// A Scan or Query page is charged for the size of all its items together.
fn page_units(page: &Page, consistent: bool) -> f64 {
    read_units(page.items.iter().map(item_size).sum(), consistent)
}

/// The size of an attribute value, for tests of the estimates.
#[cfg(test)]
fn value_size(value: &serde_dynamo::AttributeValue) -> usize {
    crate::value::size(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_dynamo::AttributeValue;

    #[test]
    fn units_follow_dynamodbs_item_size_rules() {
        assert_eq!(read_units(0, true), 1.0);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(4097, false), 1.0);
        let item: Item = [("k".to_owned(), AttributeValue::S("x".repeat(1500)))].into();
        assert_eq!(value_size(&item["k"]), 1500);
        assert_eq!(write_units(&Write::Put { table: "T".into(), item, condition: None }), 2.0);
    }

    #[tokio::test]
    async fn requests_wait_while_the_window_is_over_budget() {
        let meter = Meter::new(Budget::unlimited().max_wcu(10.0).window(Duration::from_millis(300)));
        meter.record(writes(3.0));
        let started = Instant::now();
        meter.admit(true, false).await;
        assert!(started.elapsed() < Duration::from_millis(100), "reads are not held by the write budget");
        meter.admit(false, true).await;
        assert!(started.elapsed() >= Duration::from_millis(250), "a write waits for the window to move on");
        assert_eq!(meter.total(), writes(3.0));
    }
}
