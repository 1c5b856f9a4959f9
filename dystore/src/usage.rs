//! What operations cost: requests sent, retries, and the read and write
//! capacity units DynamoDB reports consumed, per table.
//!
//! Every request asks for `ReturnConsumedCapacity: TOTAL`; the embedded
//! engine answers it as DynamoDB does (dynoxide computes the units by
//! DynamoDB's item-size rules: a strongly consistent read costs 1 unit per
//! 4 KB of each item, rounded up, a write 1 unit per 1 KB, transactions
//! twice that). The figures are gathered by a meter the operation runs
//! under (a tokio task-local), so that concurrent operations on one
//! `Client` each see their own, and added up into the client's totals.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Read and write capacity units (DynamoDB's RCU and WCU).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    /// Read capacity units: GetItem, BatchGetItem, TransactGetItems, Query
    /// and Scan requests.
    pub read: f64,
    /// Write capacity units: PutItem, UpdateItem, DeleteItem and
    /// TransactWriteItems requests (a transaction's condition checks
    /// included, as DynamoDB reports them).
    pub write: f64,
}

impl std::ops::AddAssign for Units {
    fn add_assign(&mut self, other: Units) {
        self.read += other.read;
        self.write += other.write;
    }
}

/// Capacity units consumed, by table, as DynamoDB reported them in
/// `ConsumedCapacity`. Requests that failed report nothing (DynamoDB sends
/// no figures with an error), though DynamoDB may bill a failed conditional
/// write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Consumed {
    by_table: BTreeMap<String, Units>,
}

impl Consumed {
    /// The units of every table together.
    pub fn total(&self) -> Units {
        let mut total = Units::default();
        for units in self.by_table.values() {
            total += *units;
        }
        total
    }

    /// The units of one table (zero if it was not touched).
    pub fn table(&self, table: &str) -> Units {
        self.by_table.get(table).copied().unwrap_or_default()
    }

    /// Every table touched, in name order, with its units.
    pub fn tables(&self) -> impl Iterator<Item = (&str, Units)> + '_ {
        self.by_table.iter().map(|(t, u)| (t.as_str(), *u))
    }

    fn add(&mut self, table: &str, units: Units) {
        *self.by_table.entry(table.to_owned()).or_default() += units;
    }
}

impl std::fmt::Display for Consumed {
    /// `12.5 RCU, 40 WCU` (all tables together).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = self.total();
        write!(f, "{} RCU, {} WCU", total.read, total.write)
    }
}

/// What some work cost: requests sent (every attempt of a retried request
/// counts), how many of them were retries, and the capacity consumed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Requests sent to DynamoDB, retries included.
    pub requests: u32,
    /// Attempts that repeated a request which had failed (throttling, 5xx,
    /// timeouts, transaction conflicts), and steps an operation ran again
    /// (a read that caught a save in progress, keys BatchGetItem left
    /// unprocessed, a race lost to another writer: each counts once).
    pub retries: u32,
    /// Capacity units consumed, by table.
    pub consumed: Consumed,
}

/// A meter: usage gathered here and in every meter above it (the
/// `measure` and operation scopes the work runs in), and in the totals of
/// the client whose operation it is (`client`).
pub(crate) struct Meter {
    parent: Option<Arc<Meter>>,
    /// The totals of the client an operation belongs to: a `measure` of
    /// another client around it takes the figures, its totals do not.
    client: Option<Arc<Meter>>,
    usage: Mutex<Usage>,
    /// An operation's own meter (see `ops::operation`).
    operation: bool,
    /// A write request under this meter timed out or met a 5xx: it may
    /// have been applied.
    maybe_applied: AtomicBool,
}

tokio::task_local! {
    static METER: Arc<Meter>;
}

impl Meter {
    /// A meter with nothing above it (a client's totals).
    pub(crate) fn root() -> Arc<Meter> {
        Arc::new(Meter { parent: None, client: None, usage: Mutex::default(), operation: false, maybe_applied: AtomicBool::new(false) })
    }

    /// What was gathered so far.
    pub(crate) fn usage(&self) -> Usage {
        self.usage.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Forgets what was gathered.
    pub(crate) fn reset(&self) {
        *self.usage.lock().unwrap_or_else(PoisonError::into_inner) = Usage::default();
    }
}

/// The meter the current task runs under, if any.
pub(crate) fn current() -> Option<Arc<Meter>> {
    METER.try_with(Arc::clone).ok()
}

/// Whether the current task runs inside an operation.
pub(crate) fn in_operation() -> bool {
    METER.try_with(|m| m.operation).unwrap_or(false)
}

/// What a piece of work cost, and whether a write of it may have been
/// applied without an answer.
pub(crate) struct Metered {
    pub(crate) usage: Usage,
    pub(crate) maybe_applied: bool,
}

/// Runs `work` under a new meter below `parent` (an operation's own with
/// `operation`, whose client's totals are `client`); returns its output
/// and what it cost (also added to `parent` and every meter above, and to
/// `client`).
pub(crate) async fn metered<F: Future>(
    parent: Option<Arc<Meter>>,
    client: Option<Arc<Meter>>,
    operation: bool,
    work: F,
) -> (F::Output, Metered) {
    let meter = Arc::new(Meter { parent, client, usage: Mutex::default(), operation, maybe_applied: AtomicBool::new(false) });
    let output = METER.scope(meter.clone(), work).await;
    (output, Metered { usage: meter.usage(), maybe_applied: meter.maybe_applied.load(Ordering::Relaxed) })
}

/// `meter` and every meter above it.
fn chain(meter: &Arc<Meter>) -> impl Iterator<Item = &Arc<Meter>> {
    std::iter::successors(Some(meter), |m| m.parent.as_ref())
}

fn record(change: impl Fn(&mut Usage)) {
    let _ = METER.try_with(|meter| {
        // Each client's totals once, however many of its operations nest.
        let mut clients: Vec<&Arc<Meter>> = Vec::new();
        for m in chain(meter) {
            change(&mut m.usage.lock().unwrap_or_else(PoisonError::into_inner));
            if let Some(client) = &m.client
                && !clients.iter().any(|c| Arc::ptr_eq(c, client))
            {
                clients.push(client);
            }
        }
        for client in clients {
            change(&mut client.usage.lock().unwrap_or_else(PoisonError::into_inner));
        }
    });
}

/// One request sent; a retry if `retry`.
pub(crate) fn request(retry: bool) {
    record(|u| {
        u.requests += 1;
        u.retries += u32::from(retry);
    });
}

/// An operation ran a step again.
pub(crate) fn retry() {
    record(|u| u.retries += 1);
}

/// A write request may have been applied without an answer.
pub(crate) fn maybe_applied() {
    let _ = METER.try_with(|meter| chain(meter).for_each(|m| m.maybe_applied.store(true, Ordering::Relaxed)));
}

/// Capacity a request consumed on `table`.
pub(crate) fn consumed(table: &str, units: Units) {
    record(|u| u.consumed.add(table, units));
}

/// Read units consumed on `table`.
pub(crate) fn read(table: &str, units: f64) {
    consumed(table, Units { read: units, write: 0.0 });
}

/// Write units consumed on `table`.
pub(crate) fn write(table: &str, units: f64) {
    consumed(table, Units { read: 0.0, write: units });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn usage_goes_to_every_meter_above() {
        let client = Meter::root();
        let (inner, outer) = metered(None, None, false, async {
            request(false);
            let ((), inner) = metered(current(), Some(client.clone()), true, async {
                request(true);
                write("T", 2.0);
            })
            .await;
            read("U", 0.5);
            inner.usage
        })
        .await;
        let outer = outer.usage;
        assert_eq!((inner.requests, inner.retries, inner.consumed.total()), (1, 1, Units { read: 0.0, write: 2.0 }));
        assert_eq!((outer.requests, outer.retries), (2, 1));
        assert_eq!(outer.consumed.table("T").write, 2.0);
        assert_eq!(outer.consumed.table("U").read, 0.5);
        // The client's totals hold its operation's figures, not what the
        // measure around it saw outside the operation.
        assert_eq!(client.usage(), inner);
        assert_eq!(outer.consumed.to_string(), "0.5 RCU, 2 WCU");
        // Outside any meter nothing is recorded, and nothing fails.
        request(false);
        assert_eq!(client.usage().requests, 1);
    }
}
