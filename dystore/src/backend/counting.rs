//! A wrapper that counts requests by operation, around any backend.

use super::{Backend, BackendError, BatchGetOutput, Get, Item, Page, Query, Scan, TableInfo, TableKeys, Write, op};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Request counts by DynamoDB operation name, shared with a [`Counting`]
/// backend. Cheap to clone; all clones see the same counts.
#[derive(Debug, Clone, Default)]
pub struct Requests {
    counts: Arc<Mutex<BTreeMap<&'static str, usize>>>,
}

impl Requests {
    fn record(&self, operation: &'static str) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(operation).or_default() += 1;
    }

    /// Requests sent of one operation (see [`op`](crate::backend::op)).
    pub fn get(&self, operation: &str) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(operation).copied().unwrap_or(0)
    }

    /// Requests sent in all.
    pub fn total(&self) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.values().sum()
    }

    /// Counts by operation, in name order.
    pub fn snapshot(&self) -> BTreeMap<&'static str, usize> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Forgets every count.
    pub fn reset(&self) {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// A backend that counts the requests it forwards to `inner`.
pub struct Counting<B: ?Sized> {
    requests: Requests,
    inner: Arc<B>,
}

impl<B: ?Sized> Counting<B> {
    /// Wraps `inner`; counts go to `requests`.
    pub fn new(inner: Arc<B>, requests: Requests) -> Self {
        Counting { requests, inner }
    }
}

/// The DynamoDB operation that sends `write` alone.
pub(crate) fn write_op(write: &Write) -> &'static str {
    match write {
        Write::Put { .. } => op::PUT_ITEM,
        Write::Update { .. } => op::UPDATE_ITEM,
        Write::Delete { .. } => op::DELETE_ITEM,
        // A lone condition check is not a DynamoDB operation; backends refuse it.
        Write::Check { .. } => op::TRANSACT_WRITE_ITEMS,
    }
}

#[async_trait]
impl<B: Backend + ?Sized> Backend for Counting<B> {
    fn may_fail_transiently(&self) -> bool {
        self.inner.may_fail_transiently()
    }

    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        self.requests.record(op::GET_ITEM);
        self.inner.get(get).await
    }

    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        self.requests.record(op::BATCH_GET_ITEM);
        self.inner.batch_get(keys).await
    }

    async fn write(&self, write: Write) -> Result<(), BackendError> {
        self.requests.record(write_op(&write));
        self.inner.write(write).await
    }

    async fn transact_write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        self.requests.record(op::TRANSACT_WRITE_ITEMS);
        self.inner.transact_write(writes).await
    }

    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        self.requests.record(op::TRANSACT_GET_ITEMS);
        self.inner.transact_get(gets).await
    }

    async fn query(&self, query: Query) -> Result<Page, BackendError> {
        self.requests.record(op::QUERY);
        self.inner.query(query).await
    }

    async fn scan(&self, scan: Scan) -> Result<Page, BackendError> {
        self.requests.record(op::SCAN);
        self.inner.scan(scan).await
    }

    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError> {
        self.requests.record(op::CREATE_TABLE);
        self.inner.create_table(table, key).await
    }

    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError> {
        self.requests.record(op::DESCRIBE_TABLE);
        self.inner.describe_table(table).await
    }
}
