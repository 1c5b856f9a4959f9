//! A backend that injects faults on purpose (feature `testing`): the
//! failures DynamoDB and networks produce (throttling, 5xx, timeouts,
//! transaction conflicts, unprocessed keys) and a process that dies between
//! two requests, around any backend, seeded so a failing case replays.
//!
//! Every injected fault but [`Fault::AppliedTimeout`] stops the request
//! before it reaches the inner backend, so nothing it would have written is
//! written; that one lets it through and loses the answer.

use super::{Backend, BackendError, BatchGetOutput, Get, Item, Page, Query, Scan, TableInfo, TableKeys, Write};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A fault to inject into one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Fault {
    /// `ThrottlingException` / `ProvisionedThroughputExceededException`.
    Throttling,
    /// A 5xx: `InternalServerError`.
    ServerError,
    /// No answer in time.
    Timeout,
    /// A transaction cancelled because another one held its items
    /// (`TransactionConflict`); on a request that is not a transaction,
    /// throttling instead.
    TransactionConflict,
    /// No answer in time, but the request reached the backend and was
    /// applied: the ambiguous timeout of a write DynamoDB committed.
    AppliedTimeout,
}

/// Which faults to inject, and when. Requests are numbered from 1 in the
/// order they reach the backend.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// use dystore::backend::{Fault, FaultPlan};
/// use dystore::{Client, Store};
///
/// let plan = FaultPlan::seeded(7).fail_request(1, Fault::Throttling).fail_fraction(0.2, &[Fault::ServerError]);
/// let (db, injected) = Client::memory()?.faulty(plan);
/// db.store(&Store::new("People", "ID")).create_tables().await?; // throttled and 5xx requests are retried
/// assert!(injected.total() >= 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    seed: u64,
    /// Request number → the fault it gets.
    nth: BTreeMap<usize, Fault>,
    /// The share of requests (0 to 1) that get one of `kinds`, drawn.
    rate: f64,
    kinds: Vec<Fault>,
    /// The share of the keys of each batch read left unprocessed, drawn.
    unprocessed: f64,
    /// Requests after this one are never sent: the process died.
    crash_after: Option<usize>,
}

impl FaultPlan {
    /// No faults yet; draws seeded by `seed`.
    pub fn seeded(seed: u64) -> Self {
        FaultPlan { seed, ..FaultPlan::default() }
    }

    /// Request number `n` (from 1) gets `fault`.
    pub fn fail_request(mut self, n: usize, fault: Fault) -> Self {
        self.nth.insert(n, fault);
        self
    }

    /// A share `rate` (0 to 1) of the requests, drawn, gets one of `faults`.
    pub fn fail_fraction(mut self, rate: f64, faults: &[Fault]) -> Self {
        self.rate = rate.clamp(0.0, 1.0);
        self.kinds = faults.to_vec();
        self
    }

    /// A share `rate` (0 to 1) of the keys of every batch read, drawn, is
    /// left unprocessed (not read, handed back to retry), as DynamoDB does
    /// under load.
    pub fn unprocessed_fraction(mut self, rate: f64) -> Self {
        self.unprocessed = rate.clamp(0.0, 1.0);
        self
    }

    /// Request `n` is the last one sent: every later request fails without
    /// reaching the backend, as if the process had died after request `n`.
    pub fn crash_after(mut self, n: usize) -> Self {
        self.crash_after = Some(n);
        self
    }
}

/// What a [`Faulty`] backend injected so far. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Injected(Arc<Mutex<Counts>>);

#[derive(Debug, Default)]
struct Counts {
    faults: BTreeMap<Fault, usize>,
    unprocessed_keys: usize,
    cut: usize,
}

impl Injected {
    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many times `fault` was injected.
    pub fn faults(&self, fault: Fault) -> usize {
        self.counts().faults.get(&fault).copied().unwrap_or(0)
    }

    /// Faults injected, of every kind.
    pub fn total(&self) -> usize {
        self.counts().faults.values().sum()
    }

    /// Keys of batch reads left unprocessed.
    pub fn unprocessed_keys(&self) -> usize {
        self.counts().unprocessed_keys
    }

    /// Requests not sent because of [`FaultPlan::crash_after`].
    pub fn cut(&self) -> usize {
        self.counts().cut
    }
}

/// Any backend with faults injected by a [`FaultPlan`].
pub struct Faulty<B: ?Sized> {
    inner: Arc<B>,
    plan: FaultPlan,
    state: Mutex<State>,
    injected: Injected,
}

struct State {
    rng: fastrand::Rng,
    sent: usize,
}

/// What happens to one request.
enum Verdict {
    Send,
    Fail(Fault),
    Crashed,
}

impl<B: ?Sized> Faulty<B> {
    /// `inner` with the faults of `plan`, and the handle that counts them.
    pub fn new(inner: Arc<B>, plan: FaultPlan) -> (Self, Injected) {
        let injected = Injected::default();
        let state = Mutex::new(State { rng: fastrand::Rng::with_seed(plan.seed), sent: 0 });
        (Faulty { inner, plan, state, injected: injected.clone() }, injected)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Numbers the request and decides its fate.
    fn verdict(&self, transaction: bool) -> Verdict {
        let mut state = self.state();
        state.sent += 1;
        let n = state.sent;
        if self.plan.crash_after.is_some_and(|last| n > last) {
            self.injected.counts().cut += 1;
            return Verdict::Crashed;
        }
        let drawn = (self.plan.rate > 0.0 && !self.plan.kinds.is_empty() && state.rng.f64() < self.plan.rate)
            .then(|| self.plan.kinds[state.rng.usize(..self.plan.kinds.len())]);
        match self.plan.nth.get(&n).copied().or(drawn) {
            Some(Fault::TransactionConflict) if !transaction => Verdict::Fail(Fault::Throttling),
            Some(fault) => Verdict::Fail(fault),
            None => Verdict::Send,
        }
    }

    /// Runs `request` on the inner backend unless a fault stops it.
    async fn guard<T, F>(&self, transaction: bool, writes: usize, request: F) -> Result<T, BackendError>
    where
        F: Future<Output = Result<T, BackendError>>,
    {
        let fault = match self.verdict(transaction) {
            Verdict::Send => return request.await,
            Verdict::Crashed => return Err(BackendError::Other("injected: the process stopped before this request".into())),
            Verdict::Fail(fault) => fault,
        };
        *self.injected.counts().faults.entry(fault).or_insert(0) += 1;
        Err(match fault {
            Fault::AppliedTimeout => {
                // Whatever the backend answered is lost on the way back.
                let _ = request.await;
                BackendError::Unavailable("injected: no answer in time (the request was applied)".into())
            }
            Fault::Throttling => BackendError::Throttled("injected: rate exceeded".into()),
            Fault::ServerError => BackendError::Unavailable("injected: internal server error".into()),
            Fault::Timeout => BackendError::Unavailable("injected: no answer in time".into()),
            Fault::TransactionConflict => {
                BackendError::TransactionCanceled { reasons: vec![Some("TransactionConflict".to_owned()); writes.max(1)] }
            }
        })
    }

    /// Splits a batch read's keys into those sent and those left
    /// unprocessed, as drawn.
    fn split_batch(&self, keys: Vec<TableKeys>) -> (Vec<TableKeys>, Vec<TableKeys>) {
        if self.plan.unprocessed <= 0.0 {
            return (keys, Vec::new());
        }
        let mut state = self.state();
        let (mut sent, mut left) = (Vec::new(), Vec::new());
        for table in keys {
            let (mut go, mut stay) = (table.clone(), table.clone());
            (go.keys, stay.keys) = table.keys.into_iter().partition(|_| state.rng.f64() >= self.plan.unprocessed);
            self.injected.counts().unprocessed_keys += stay.keys.len();
            if !go.keys.is_empty() {
                sent.push(go);
            }
            if !stay.keys.is_empty() {
                left.push(stay);
            }
        }
        (sent, left)
    }
}

#[async_trait]
impl<B: Backend + ?Sized> Backend for Faulty<B> {
    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        self.guard(false, 1, self.inner.get(get)).await
    }

    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        let (sent, left) = self.split_batch(keys);
        let mut out = if sent.is_empty() {
            self.guard(false, 1, async { Ok(BatchGetOutput::default()) }).await?
        } else {
            self.guard(false, 1, self.inner.batch_get(sent)).await?
        };
        out.unprocessed.extend(left);
        Ok(out)
    }

    async fn write(&self, write: Write) -> Result<(), BackendError> {
        self.guard(false, 1, self.inner.write(write)).await
    }

    async fn transact_write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        let n = writes.len();
        self.guard(true, n, self.inner.transact_write(writes)).await
    }

    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        let n = gets.len();
        self.guard(true, n, self.inner.transact_get(gets)).await
    }

    async fn query(&self, query: Query) -> Result<Page, BackendError> {
        self.guard(false, 1, self.inner.query(query)).await
    }

    async fn scan(&self, scan: Scan) -> Result<Page, BackendError> {
        self.guard(false, 1, self.inner.scan(scan)).await
    }

    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError> {
        self.guard(false, 1, self.inner.create_table(table, key)).await
    }

    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError> {
        self.guard(false, 1, self.inner.describe_table(table)).await
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::{Client, Store};
    use serde_json::json;
    use std::time::Duration;

    fn quick(db: Client) -> Client {
        db.with_retry_policy(crate::RetryPolicy {
            deadline: Duration::from_secs(30),
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
        })
    }

    #[tokio::test]
    async fn injected_faults_are_retried_and_nothing_is_lost() {
        let plan = FaultPlan::seeded(1)
            .fail_request(2, Fault::TransactionConflict)
            .fail_fraction(0.3, &[Fault::Throttling, Fault::ServerError, Fault::Timeout, Fault::TransactionConflict])
            .unprocessed_fraction(0.5);
        let (db, injected) = quick(Client::memory().unwrap()).faulty(plan);
        let store = Store::new("People", "ID").shard(Store::new("Locales", "LID").at("$.locales[*]"));
        let objects = db.store(&store);
        objects.create_tables().await.unwrap();
        for i in 0..20 {
            let doc = json!({"n": i, "locales": [{"t": i}, {"t": i + 1}]});
            objects.write_with_key(&format!("k{i}"), doc.clone()).await.unwrap();
            assert_eq!(objects.read(&format!("k{i}")).await.unwrap(), doc);
        }
        assert!(injected.total() > 10 && injected.unprocessed_keys() > 0, "faults were injected: {injected:?}");
        assert!(injected.faults(Fault::TransactionConflict) >= 1);
    }

    #[tokio::test]
    async fn a_crash_stops_every_later_request_and_the_same_seed_replays() {
        let engine: Arc<dyn Backend> = Arc::new(crate::backend::Embedded::memory().unwrap());
        let store = Store::new("People", "ID");
        Client::from_backend(engine.clone()).store(&store).create_tables().await.unwrap();
        let (db, injected) = Client::from_backend(engine.clone()).faulty(FaultPlan::seeded(3).crash_after(1));
        db.store(&store).write_with_key("a", json!({"x": 1})).await.unwrap();
        let e = db.store(&store).write_with_key("b", json!({"x": 2})).await.unwrap_err();
        assert_eq!((e.kind(), injected.cut()), (crate::ErrorKind::Backend, 1), "{e}");
        let survivor = Client::from_backend(engine);
        assert_eq!(survivor.store(&store).read("a").await.unwrap(), json!({"x": 1}));
        assert!(survivor.store(&store).read("b").await.unwrap_err().is_not_found(), "nothing after the crash was sent");

        let draws = |seed| {
            let (faulty, _) = Faulty::new(Arc::new(()), FaultPlan::seeded(seed).fail_fraction(0.5, &[Fault::Throttling, Fault::Timeout]));
            (0..32).map(|_| matches!(faulty.verdict(false), Verdict::Fail(_))).collect::<Vec<_>>()
        };
        assert_eq!(draws(9), draws(9), "a seed replays");
        assert_ne!(draws(9), draws(10));
    }
}
