//! Retries as a decorator: any backend whose throttled, failed or
//! conflicting requests (see [`retryable`]) are retried with exponential
//! backoff until a deadline, so operations send each
//! request once and never wrap it themselves. Retries of another kind
//! (unprocessed keys of a batch, a torn read, a lost race) are decisions of
//! the operations and stay there, using the same [`Backoff`].

use super::counting::write_op;
use super::{Backend, BackendError, BatchGetOutput, Get, Item, Page, Query, Retries, Scan, TableInfo, TableKeys, Write, op};
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long throttled requests, unprocessed keys and torn reads are retried,
/// and how fast the waits between attempts grow.
///
/// The wait starts at `first_backoff` and doubles up to `max_backoff`; no
/// attempt starts once `deadline` would be passed. The default (20 s, 25 ms,
/// 2 s) suits an interactive service; a batch job may give more.
///
/// ```
/// use std::time::Duration;
/// let db = dystore::Client::memory()?
///     .with_retry_policy(dystore::RetryPolicy { deadline: Duration::from_secs(60), ..Default::default() });
/// # Ok::<(), dystore::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retrying stops once this much time has passed since the first attempt.
    pub deadline: Duration,
    /// The first wait between attempts.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { deadline: Duration::from_secs(20), first_backoff: Duration::from_millis(25), max_backoff: Duration::from_secs(2) }
    }
}

/// Exponential backoff with a deadline.
pub(crate) struct Backoff {
    policy: RetryPolicy,
    started: Instant,
    next: Duration,
    /// Each wait a random share (50 to 100 %) of the next one, so writers
    /// that lost the same race do not meet again at once.
    jitter: bool,
}

impl Backoff {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Backoff { policy, started: Instant::now(), next: policy.first_backoff.min(policy.max_backoff), jitter: false }
    }

    /// A backoff whose waits are jittered.
    pub(crate) fn jittered(policy: RetryPolicy) -> Self {
        Backoff { jitter: true, ..Backoff::new(policy) }
    }

    /// Whether the next wait would end past the deadline. Saturating: a
    /// policy of `Duration::MAX` means "never give up", not an overflow.
    fn out_of_time(&self) -> bool {
        self.started.elapsed().saturating_add(self.next) > self.policy.deadline
    }

    /// Sleeps before the next attempt; `false` once the deadline has passed.
    pub(crate) async fn wait(&mut self) -> bool {
        if self.out_of_time() {
            return false;
        }
        let wait = if self.jitter { self.next.mul_f64(0.5 + 0.5 * unit_random()) } else { self.next };
        tokio::time::sleep(wait).await;
        self.next = self.next.saturating_mul(2).min(self.policy.max_backoff);
        true
    }

    /// As [`wait`](Self::wait), before an operation runs a step again
    /// (`reason`: a read caught a save in progress, keys left unprocessed,
    /// a race lost to another writer): a DEBUG event says so and the
    /// operation's usage counts a retry. `false` once the deadline has
    /// passed (no event then).
    pub(crate) async fn again(&mut self, reason: &'static str) -> bool {
        if self.out_of_time() {
            return false;
        }
        tracing::debug!(reason, "operation step failed; running it again after backoff");
        crate::usage::retry();
        self.wait().await
    }
}

/// A number in [0, 1) that differs from call to call and thread to thread:
/// the standard library's randomly seeded hasher over a counter. Jitter
/// needs no more than that, so no random-number crate for it.
fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether a failed request may succeed when sent again unchanged:
/// throttling, a service that failed or did not answer, and a transaction
/// cancelled only because another transaction held its items (DynamoDB's
/// `TransactionConflict`) or throttling.
pub(crate) fn retryable(e: &BackendError) -> bool {
    match e {
        BackendError::Throttled(_) | BackendError::Unavailable(_) => true,
        BackendError::TransactionCanceled { reasons } => {
            let mut codes = reasons.iter().flatten().peekable();
            codes.peek().is_some() && codes.all(|code| matches!(code.as_str(), "TransactionConflict" | "ThrottlingError"))
        }
        _ => false,
    }
}

/// A backend whose throttled requests are retried by a [`RetryPolicy`].
pub(crate) struct Retrying {
    inner: Arc<dyn Backend>,
    policy: RetryPolicy,
}

impl Retrying {
    pub(crate) fn new(inner: Arc<dyn Backend>, policy: RetryPolicy) -> Self {
        Retrying { inner, policy }
    }

    /// Runs `request` (the DynamoDB operation `name`, a write if `writes`),
    /// again while it fails in a way worth retrying. An error after more
    /// than one attempt, or after an attempt of a write that may have been
    /// applied, comes back as [`BackendError::Retried`].
    async fn run<T, F, Fut>(&self, name: &'static str, writes: bool, request: F) -> Result<T, BackendError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        self.run_up_to(name, writes, true, request).await
    }

    /// Sends the request `input` (a write if `writes`) with `send`: the
    /// request itself when the inner backend never fails in a way worth
    /// retrying (no copy of a large object's items is kept, none of a
    /// read's keys made), else a copy per attempt.
    async fn send_input<I, T, F, Fut>(&self, name: &'static str, writes: bool, input: I, send: F) -> Result<T, BackendError>
    where
        I: Clone,
        F: Fn(I) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        if self.inner.may_fail_transiently() {
            return self.run(name, writes, || send(input.clone())).await;
        }
        let (mut input, send) = (Some(input), &send);
        // Not retried, so asked for once.
        let sent = self
            .run_up_to(name, writes, false, || {
                let input = input.take();
                async move {
                    match input {
                        Some(input) => send(input).await,
                        None => Err(BackendError::Other("a request that is not retried was asked for again".into())),
                    }
                }
            })
            .await;
        // A failure worth sending the request again, from a backend that
        // said it has none: say so, rather than "past the retry deadline".
        sent.map_err(|e| {
            let (last, retries) = e.split();
            if !retryable(&last) {
                return match retries {
                    Some(retries) => BackendError::Retried { retries, last: Box::new(last) },
                    None => last,
                };
            }
            let broken = BackendError::NotRetried { last: Box::new(last) };
            match retries {
                Some(retries) => BackendError::Retried { retries, last: Box::new(broken) },
                None => broken,
            }
        })
    }

    /// As [`run`](Self::run), sending the request again only if `retry`.
    async fn run_up_to<T, F, Fut>(&self, name: &'static str, writes: bool, retry: bool, mut request: F) -> Result<T, BackendError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let mut backoff = Backoff::new(self.policy);
        let mut retries = Retries { request: name, attempts: 0, maybe_applied: false };
        loop {
            retries.attempts += 1;
            crate::usage::request(retries.attempts > 1);
            let e = match request().await {
                Err(e) => e,
                ok => return ok,
            };
            // A write that timed out or met a 5xx may have been applied,
            // the last attempt's included.
            if writes && matches!(e, BackendError::Unavailable(_)) {
                retries.maybe_applied = true;
                // The operation remembers it, whatever its later requests
                // answer.
                crate::usage::maybe_applied();
            }
            let again = retry && retryable(&e) && {
                // Names the request and the kind of failure, never its
                // message (which may quote keys or values).
                tracing::debug!(
                    request = name,
                    attempt = retries.attempts,
                    failure = e.kind_name(),
                    "request failed; retrying after backoff"
                );
                backoff.wait().await
            };
            if !again {
                return Err(if retries.attempts > 1 || retries.maybe_applied {
                    BackendError::Retried { retries, last: Box::new(e) }
                } else {
                    e
                });
            }
        }
    }
}

#[async_trait]
impl Backend for Retrying {
    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        self.send_input(op::GET_ITEM, false, get, |g| self.inner.get(g)).await
    }

    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        self.send_input(op::BATCH_GET_ITEM, false, keys, |k| self.inner.batch_get(k)).await
    }

    async fn write(&self, write: Write) -> Result<(), BackendError> {
        self.send_input(write_op(&write), true, write, |w| self.inner.write(w)).await
    }

    async fn transact_write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        self.send_input(op::TRANSACT_WRITE_ITEMS, true, writes, |w| self.inner.transact_write(w)).await
    }

    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        self.send_input(op::TRANSACT_GET_ITEMS, false, gets, |g| self.inner.transact_get(g)).await
    }

    async fn query(&self, query: Query) -> Result<Page, BackendError> {
        self.send_input(op::QUERY, false, query, |q| self.inner.query(q)).await
    }

    async fn scan(&self, scan: Scan) -> Result<Page, BackendError> {
        self.send_input(op::SCAN, false, scan, |q| self.inner.scan(q)).await
    }

    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError> {
        self.run(op::CREATE_TABLE, true, || self.inner.create_table(table, key)).await
    }

    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError> {
        self.run(op::DESCRIBE_TABLE, false, || self.inner.describe_table(table)).await
    }

    fn may_fail_transiently(&self) -> bool {
        self.inner.may_fail_transiently()
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn retrying(deadline_ms: u64) -> Retrying {
        let engine = super::super::Embedded::memory().expect("embedded engine");
        let policy = RetryPolicy {
            deadline: Duration::from_millis(deadline_ms),
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        Retrying::new(Arc::new(engine), policy)
    }

    /// A request throttled `n` times, then answered.
    async fn throttled(calls: &AtomicUsize, n: usize) -> Result<usize, BackendError> {
        let call = calls.fetch_add(1, Ordering::SeqCst);
        if call < n { Err(BackendError::Throttled("slow down".into())) } else { Ok(call) }
    }

    #[tokio::test]
    async fn throttling_is_retried_until_it_passes_or_the_deadline() {
        let calls = AtomicUsize::new(0);
        assert_eq!(retrying(1_000).run(op::GET_ITEM, false, || throttled(&calls, 3)).await, Ok(3), "three throttles, then the answer");
        let calls = AtomicUsize::new(0);
        let (last, retries) = retrying(20).run(op::GET_ITEM, false, || throttled(&calls, usize::MAX)).await.unwrap_err().split();
        assert!(matches!(last, BackendError::Throttled(_)), "past the deadline: {last}");
        let retries = retries.expect("retried");
        assert_eq!(
            (retries.request, retries.attempts as usize, retries.maybe_applied),
            (op::GET_ITEM, calls.load(Ordering::SeqCst), false)
        );
        let calls = AtomicUsize::new(0);
        let other = retrying(1_000)
            .run(op::GET_ITEM, false, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(BackendError::Validation("no".into()))
            })
            .await;
        assert_eq!((other, calls.load(Ordering::SeqCst)), (Err(BackendError::Validation("no".into())), 1), "other errors are not retried");
    }

    /// A request that counts the copies made of it.
    struct Counted<'a>(&'a AtomicUsize);

    impl Clone for Counted<'_> {
        fn clone(&self) -> Self {
            self.0.fetch_add(1, Ordering::SeqCst);
            Counted(self.0)
        }
    }

    #[tokio::test]
    async fn a_request_to_a_backend_that_never_fails_transiently_is_sent_once_and_never_copied() {
        let (copies, calls) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let retrying = retrying(1_000);
        assert!(!retrying.may_fail_transiently(), "the embedded engine answers as it is");
        let e = retrying
            .send_input(op::TRANSACT_WRITE_ITEMS, true, Counted(&copies), |_request| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(BackendError::Throttled("slow down".into()))
            })
            .await
            .unwrap_err();
        assert_eq!((calls.load(Ordering::SeqCst), copies.load(Ordering::SeqCst)), (1, 0), "the request itself goes, once");
        // A throttle from a backend that said it never fails so is its
        // broken promise, named as such: not "throttled past the deadline".
        assert_eq!(e, BackendError::NotRetried { last: Box::new(BackendError::Throttled("slow down".into())) });
        let e = retrying
            .send_input(op::PUT_ITEM, true, Counted(&copies), |_request| async { Err::<(), _>(BackendError::ConditionFailed) })
            .await
            .unwrap_err();
        assert_eq!(e, BackendError::ConditionFailed, "other failures come back as they are");
        // Reads alike: their keys are not copied either.
        let calls = AtomicUsize::new(0);
        let read = retrying
            .send_input(op::BATCH_GET_ITEM, false, Counted(&copies), |_request| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, BackendError>(7)
            })
            .await;
        assert_eq!((read, calls.load(Ordering::SeqCst), copies.load(Ordering::SeqCst)), (Ok(7), 1, 0));
    }

    #[tokio::test]
    async fn a_write_that_timed_out_then_failed_may_have_been_applied() {
        let calls = AtomicUsize::new(0);
        let e = retrying(1_000)
            .run(op::PUT_ITEM, true, || async {
                let call = calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(if call == 0 { BackendError::Unavailable("timeout".into()) } else { BackendError::ConditionFailed })
            })
            .await
            .unwrap_err();
        let (last, retries) = e.split();
        assert_eq!(last, BackendError::ConditionFailed);
        assert_eq!(retries, Some(Retries { request: op::PUT_ITEM, attempts: 2, maybe_applied: true }));
    }

    #[tokio::test]
    async fn requests_pass_through_to_the_inner_backend() {
        assert_eq!(retrying(1_000).describe_table("Absent").await, Ok(None));
    }
}
