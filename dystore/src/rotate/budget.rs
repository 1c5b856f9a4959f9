//! The capacity budget of a rotation: read and write capacity units
//! estimated for every request by DynamoDB's published item-size rules,
//! and requests held back so that the units spent never exceed the limit
//! times the time elapsed plus one window's burst.
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
//!
//! The limit is kept as a bucket (DynamoDB's own model): it holds up to the
//! limit times the window, fills at the limit per second, and every request
//! takes its units from it, going into debt when it costs more than the
//! bucket holds; a request waits until the debt it leaves is paid, so one
//! costing more than a window's allowance waits its cost over the limit. A
//! write's units are known before it is sent; a read's are taken at their
//! least before it is sent and the rest when its answer arrives, before the
//! caller goes on.

use crate::backend::{Backend, BackendError, BatchGetOutput, Get, Item, Page, Query, Scan, TableInfo, TableKeys, Write};
use crate::value::item_size;
use async_trait::async_trait;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
// The runtime's clock, so that a paused clock (tests) drives the waits.
use tokio::time::Instant;

/// The most read and write capacity units per second a rotation may use,
/// on average over the run, with bursts of up to one window's worth.
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

    /// How long a burst may be (at least 100 ms; default 5 seconds): the
    /// run may spend the limit times this at once, unused capacity is kept
    /// for up to this long, and over the run it spends at most the limit
    /// times its duration plus this burst. DynamoDB itself keeps up to 300
    /// seconds of unused capacity for bursts.
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

/// The buckets of a run, shared by every segment.
#[derive(Debug)]
pub(crate) struct Meter {
    budget: Budget,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    /// Units in each bucket (negative: a debt); full at the start.
    level: Units,
    /// When `level` was last brought up to date.
    at: Instant,
    total: Units,
}

impl Meter {
    pub(crate) fn new(budget: Budget) -> Self {
        let secs = budget.window.as_secs_f64();
        let full = |limit: Option<f64>| limit.map_or(0.0, |l| l * secs);
        let level = Units { rcu: full(budget.max_rcu), wcu: full(budget.max_wcu) };
        Meter { budget, state: Mutex::new(Buckets { level, at: Instant::now(), total: Units::default() }) }
    }

    fn state(&self) -> MutexGuard<'_, Buckets> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every unit spent so far.
    pub(crate) fn total(&self) -> Units {
        self.state().total
    }

    /// Takes `units` from the buckets and, when `hold`, waits until the
    /// debt that leaves (this request's and every earlier one's) is paid.
    async fn spend(&self, units: Units, hold: bool) {
        let wait = {
            let mut state = self.state();
            let now = Instant::now();
            let elapsed = now.duration_since(state.at).as_secs_f64();
            state.at = now;
            let secs = self.budget.window.as_secs_f64();
            // Fills at the limit, up to a window's worth; returns the wait
            // in seconds until it is out of debt after taking `units` (none
            // for a request that takes nothing from it: reads do not wait
            // for the writes' debt).
            let take = |level: &mut f64, limit: Option<f64>, units: f64| {
                let Some(limit) = limit else { return 0.0 };
                *level = (*level + limit * elapsed).min(limit * secs) - units;
                if units > 0.0 { (-*level / limit).max(0.0) } else { 0.0 }
            };
            let rcu = take(&mut state.level.rcu, self.budget.max_rcu, units.rcu);
            let wcu = take(&mut state.level.wcu, self.budget.max_wcu, units.wcu);
            state.total.rcu += units.rcu;
            state.total.wcu += units.wcu;
            rcu.max(wcu)
        };
        if hold && wait > 0.0 {
            // `wait` is finite: limits are positive and finite, units finite.
            tokio::time::sleep(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX)).await;
        }
    }
}

/// A backend whose requests are metered and held to a [`Budget`].
pub(crate) struct Metered {
    inner: Arc<dyn Backend>,
    meter: Arc<Meter>,
    /// Whether requests wait for the budget; the lease's renewals are only
    /// counted, so that a run held by its budget keeps its lease (the next
    /// request held pays for them).
    hold: bool,
}

impl Metered {
    /// Requests through `inner`, counted by `meter` and held to its budget.
    pub(crate) fn new(inner: Arc<dyn Backend>, meter: Arc<Meter>) -> Self {
        Metered { inner, meter, hold: true }
    }

    /// Requests through `inner`, counted by `meter` but never held.
    pub(crate) fn counted(inner: Arc<dyn Backend>, meter: Arc<Meter>) -> Self {
        Metered { inner, meter, hold: false }
    }

    /// Spends `units` before a request.
    async fn before(&self, units: Units) {
        self.meter.spend(units, self.hold).await;
    }

    /// Spends what a read cost beyond the `least` taken before it.
    async fn after_read(&self, rcu: f64, least: f64) {
        if rcu > least {
            self.meter.spend(reads(rcu - least), self.hold).await;
        }
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
    fn may_fail_transiently(&self) -> bool {
        self.inner.may_fail_transiently()
    }

    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        let least = read_units(0, get.consistent);
        self.before(reads(least)).await;
        let consistent = get.consistent;
        let out = self.inner.get(get).await?;
        self.after_read(read_units(out.as_ref().map_or(0, item_size), consistent), least).await;
        Ok(out)
    }

    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        let consistent = keys.iter().all(|t| t.consistent);
        let least = read_units(0, consistent);
        self.before(reads(least)).await;
        let out = self.inner.batch_get(keys).await?;
        let rcu = out.items.values().flatten().map(|item| read_units(item_size(item), consistent)).sum();
        self.after_read(rcu, least).await;
        Ok(out)
    }

    async fn write(&self, write: Write) -> Result<(), BackendError> {
        // A failed condition consumes the write's units too.
        self.before(writes(write_units(&write))).await;
        self.inner.write(write).await
    }

    async fn transact_write(&self, batch: Vec<Write>) -> Result<(), BackendError> {
        self.before(writes(2.0 * batch.iter().map(write_units).sum::<f64>())).await;
        self.inner.transact_write(batch).await
    }

    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        let least = 2.0 * read_units(0, true);
        self.before(reads(least)).await;
        let out = self.inner.transact_get(gets).await?;
        let rcu = out.iter().map(|item| 2.0 * read_units(item.as_ref().map_or(0, item_size), true)).sum();
        self.after_read(rcu, least).await;
        Ok(out)
    }

    async fn query(&self, query: Query) -> Result<Page, BackendError> {
        let least = read_units(0, query.consistent);
        self.before(reads(least)).await;
        let consistent = query.consistent;
        let page = self.inner.query(query).await?;
        self.after_read(page_units(&page, consistent), least).await;
        Ok(page)
    }

    async fn scan(&self, scan: Scan) -> Result<Page, BackendError> {
        let least = read_units(0, scan.consistent);
        self.before(reads(least)).await;
        let consistent = scan.consistent;
        let page = self.inner.scan(scan).await?;
        self.after_read(page_units(&page, consistent), least).await;
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

    /// A runtime on a paused clock: sleeps advance it at once, so waits
    /// are measured exactly and take no real time.
    fn paused() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap()
    }

    /// The break-test's case: 2 WCU/s over a window of 1 s, rewrites of
    /// about 8 WCU each. The first takes the window's 2 units and owes the
    /// rest; each one waits its cost over the limit.
    #[test]
    fn a_request_costing_more_than_a_window_waits_its_cost_over_the_limit() {
        paused().block_on(async {
            let meter = Meter::new(Budget::unlimited().max_wcu(2.0).window(Duration::from_secs(1)));
            let started = Instant::now();
            for _ in 0..40 {
                meter.spend(writes(8.25), true).await;
            }
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(meter.total(), writes(330.0));
            assert!((secs - (330.0 - 2.0) / 2.0).abs() < 1e-3, "{secs} s for 330 WCU at 2 WCU/s");
        });
    }

    #[test]
    fn reads_are_not_held_by_the_write_budget_and_the_lease_is_not_held() {
        paused().block_on(async {
            let meter = Meter::new(Budget::unlimited().max_wcu(10.0).window(Duration::from_secs(1)));
            let started = Instant::now();
            meter.spend(writes(30.0), false).await;
            meter.spend(reads(1000.0), true).await;
            assert_eq!(started.elapsed(), Duration::ZERO, "counted, not held");
            meter.spend(writes(1.0), true).await;
            assert!((started.elapsed().as_secs_f64() - 2.1).abs() < 1e-3, "the next write pays the debt: {:?}", started.elapsed());
        });
    }

    proptest::proptest! {
        /// Whatever the requests cost, a run never spends more than the
        /// limit times its duration plus one window; back to back, it
        /// waits no longer than that needs.
        #[test]
        fn units_spent_stay_within_the_limit_plus_one_window(
            limit in 0.5f64..200.0,
            window_ms in 100u64..10_000,
            costs in proptest::collection::vec((0.0f64..500.0, 0u64..3_000), 1..60),
        ) {
            paused().block_on(async {
                let window = Duration::from_millis(window_ms);
                let meter = Meter::new(Budget::unlimited().max_wcu(limit).window(window));
                let burst = limit * window.as_secs_f64();
                let started = Instant::now();
                let mut idle = 0.0;
                for (cost, gap_ms) in costs {
                    tokio::time::sleep(Duration::from_millis(gap_ms)).await;
                    idle += gap_ms as f64 / 1000.0;
                    meter.spend(writes(cost), true).await;
                    let (spent, secs) = (meter.total().wcu, started.elapsed().as_secs_f64());
                    assert!(spent <= limit * secs + burst + 1e-6, "{spent} units in {secs} s at {limit}/s, burst {burst}");
                    let needed = ((spent - burst) / limit).max(0.0);
                    assert!(secs <= needed + idle + 1e-3, "{secs} s for {spent} units: waited too long (needs {needed} s + {idle} s idle)");
                }
            });
        }
    }
}
