//! The operations dystore needs from DynamoDB, as one trait with two
//! implementations (`dynamodb` over aws-sdk-dynamodb, `embedded` over
//! dynoxide) and a counting wrapper for tests and diagnostics.
//!
//! Requests are plain data in DynamoDB's own vocabulary (expressions with
//! name and value placeholders), so each implementation is a translation and
//! holds no logic of dystore's.

mod counting;
mod dynamodb;
#[cfg(feature = "embedded")]
mod embedded;
#[cfg(feature = "testing")]
mod faults;
mod retry;

pub use counting::{Counting, Requests};
pub use dynamodb::DynamoDb;
#[cfg(feature = "embedded")]
pub use embedded::Embedded;
#[cfg(feature = "testing")]
pub use faults::{Fault, FaultPlan, Faulty, Injected};
pub use retry::RetryPolicy;
pub(crate) use retry::{Backoff, Retrying, retryable};

use async_trait::async_trait;
use serde_dynamo::AttributeValue;
use std::collections::HashMap;

/// One DynamoDB item: attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// An expression with its `#name` and `:value` placeholders.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expr {
    /// The expression text (condition, update or projection).
    pub text: String,
    /// `#placeholder` to attribute name.
    pub names: HashMap<String, String>,
    /// `:placeholder` to value.
    pub values: Item,
}

impl Expr {
    /// The `#name` and `:value` placeholders of an update and its condition,
    /// merged, as DynamoDB takes them in one request.
    pub fn merged_placeholders(update: &Expr, condition: Option<&Expr>) -> (HashMap<String, String>, Item) {
        let (mut names, mut values) = (update.names.clone(), update.values.clone());
        if let Some(c) = condition {
            names.extend(c.names.clone());
            values.extend(c.values.clone());
        }
        (names, values)
    }
}

/// Reads one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Get {
    /// Table to read.
    pub table: String,
    /// Primary key of the item.
    pub key: Item,
    /// Attributes to return (a projection expression); `None` returns all.
    pub projection: Option<Expr>,
    /// Strongly consistent read.
    pub consistent: bool,
}

/// The keys to read from one table in a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct TableKeys {
    /// Table to read.
    pub table: String,
    /// Primary keys to read.
    pub keys: Vec<Item>,
    /// Strongly consistent read.
    pub consistent: bool,
}

/// What a batch read returned, and what it left for a retry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchGetOutput {
    /// Items found, by table.
    pub items: HashMap<String, Vec<Item>>,
    /// Keys DynamoDB did not process (throttling, size); to be retried.
    pub unprocessed: Vec<TableKeys>,
}

/// One write, alone or inside a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Creates or replaces an item.
    Put {
        /// Table written.
        table: String,
        /// The whole item, key included.
        item: Item,
        /// Condition the existing item must meet.
        condition: Option<Expr>,
    },
    /// Changes attributes of an item.
    Update {
        /// Table written.
        table: String,
        /// Primary key of the item.
        key: Item,
        /// The update expression; its placeholders are shared with the condition.
        update: Expr,
        /// Condition the existing item must meet (placeholders merged with `update`'s).
        condition: Option<Expr>,
    },
    /// Deletes an item.
    Delete {
        /// Table written.
        table: String,
        /// Primary key of the item.
        key: Item,
        /// Condition the existing item must meet.
        condition: Option<Expr>,
    },
    /// Checks a condition on an item without writing it (transactions only).
    Check {
        /// Table read.
        table: String,
        /// Primary key of the item.
        key: Item,
        /// Condition the item must meet.
        condition: Expr,
    },
}

impl Write {
    /// The value of the key attribute `key_name` of the item this write
    /// touches.
    pub fn key_of(&self, key_name: &str) -> Option<&AttributeValue> {
        match self {
            Write::Put { item, .. } => item.get(key_name),
            Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => key.get(key_name),
        }
    }

    /// The write's condition expression, if it has one.
    pub fn condition(&self) -> Option<&Expr> {
        match self {
            Write::Put { condition, .. } | Write::Update { condition, .. } | Write::Delete { condition, .. } => condition.as_ref(),
            Write::Check { condition, .. } => Some(condition),
        }
    }

    /// The table this write touches.
    pub fn table(&self) -> &str {
        match self {
            Write::Put { table, .. } | Write::Update { table, .. } | Write::Delete { table, .. } | Write::Check { table, .. } => table,
        }
    }
}

/// A page of a scan or query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Items of this page.
    pub items: Vec<Item>,
    /// Where the next page starts; `None` on the last page.
    pub last_key: Option<Item>,
}

/// Reads a table, or one segment of a parallel scan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scan {
    /// Table to read.
    pub table: String,
    /// `(segment, total_segments)` for a parallel scan.
    pub segment: Option<(u32, u32)>,
    /// Continue after this key.
    pub start: Option<Item>,
    /// At most this many items per page.
    pub limit: Option<u32>,
    /// Strongly consistent read.
    pub consistent: bool,
}

/// Reads the items of one partition key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Table to read.
    pub table: String,
    /// Key condition (e.g. `#k = :v`).
    pub key_condition: Expr,
    /// Continue after this key.
    pub start: Option<Item>,
    /// At most this many items per page.
    pub limit: Option<u32>,
    /// Strongly consistent read.
    pub consistent: bool,
}

/// What dystore needs to know of an existing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// `(attribute name, key type)` in schema order; key type is `HASH` or `RANGE`.
    pub key_schema: Vec<(String, String)>,
    /// Attribute name to scalar type (`S`, `N`, `B`) for key attributes.
    pub attribute_types: HashMap<String, String>,
    /// `ACTIVE`, `CREATING`, ...
    pub status: String,
}

/// Why a backend request failed, in the terms dystore acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// A condition expression was not met.
    #[error("condition check failed")]
    ConditionFailed,
    /// A transaction was cancelled; one reason code per item (`None` if that
    /// item was fine).
    #[error("transaction cancelled: {}", reasons.iter().map(|r| r.as_deref().unwrap_or("None")).collect::<Vec<_>>().join(", "))]
    TransactionCanceled {
        /// Reason codes, in the order of the transaction's items.
        reasons: Vec<Option<String>>,
    },
    /// The table does not exist.
    #[error("table not found: {0}")]
    TableNotFound(String),
    /// The table already exists (create_table).
    #[error("table already exists: {0}")]
    TableExists(String),
    /// Throttled or over provisioned throughput; worth retrying.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The request was refused as invalid.
    #[error("validation error: {0}")]
    Validation(String),
    /// The service failed or did not answer in time (a 5xx, a timeout, a
    /// dropped connection); worth retrying.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything else (network, service error).
    #[error("{0}")]
    Other(String),
    /// A request failed in a way worth sending it again (`last`), from a
    /// backend whose [`Backend::may_fail_transiently`] answers `false`: no
    /// copy of the request was kept, so it was not sent again.
    #[error("{last}, from a backend whose `may_fail_transiently` answers false: not sent again")]
    NotRetried {
        /// The failure.
        last: Box<BackendError>,
    },
    /// The last error of a request sent more than once (retried), or once
    /// after an earlier attempt may have been applied.
    #[error("{last} (after {} attempts of {})", retries.attempts, retries.request)]
    Retried {
        /// How the request was retried.
        retries: Retries,
        /// The last attempt's error.
        last: Box<BackendError>,
    },
}

/// How one request was retried before it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retries {
    /// The DynamoDB operation (one of [`op`]).
    pub request: &'static str,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// Whether an attempt that failed may have been applied (a write that
    /// timed out or got a 5xx): the object may have changed.
    pub maybe_applied: bool,
}

impl BackendError {
    /// The kind of failure in a few words, without the message (which may
    /// quote keys or values): for logs and tracing events.
    pub fn kind_name(&self) -> &'static str {
        match self {
            BackendError::ConditionFailed => "condition check failed",
            BackendError::TransactionCanceled { .. } => "transaction cancelled",
            BackendError::TableNotFound(_) => "table not found",
            BackendError::TableExists(_) => "table exists",
            BackendError::Throttled(_) => "throttled",
            BackendError::Validation(_) => "validation error",
            BackendError::Unavailable(_) => "service unavailable",
            BackendError::Other(_) => "other",
            BackendError::Retried { last, .. } | BackendError::NotRetried { last } => last.kind_name(),
        }
    }

    /// The last attempt's error, and how the request was retried if it was.
    pub fn split(self) -> (BackendError, Option<Retries>) {
        match self {
            BackendError::Retried { retries, last } => (*last, Some(retries)),
            other => (other, None),
        }
    }
}

/// The DynamoDB operations dystore uses.
///
/// Implementations translate requests and do not retry on their own beyond
/// what their transport does; dystore retries throttling and unprocessed keys.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Reads one item; `None` if absent.
    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError>;
    /// Reads up to 100 items across tables in one request.
    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError>;
    /// One write outside a transaction.
    async fn write(&self, write: Write) -> Result<(), BackendError>;
    /// Up to 100 writes, all or nothing.
    async fn transact_write(&self, writes: Vec<Write>) -> Result<(), BackendError>;
    /// Up to 100 reads from one snapshot.
    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError>;
    /// One page of a query.
    async fn query(&self, query: Query) -> Result<Page, BackendError>;
    /// One page of a scan (or scan segment).
    async fn scan(&self, scan: Scan) -> Result<Page, BackendError>;
    /// Creates an on-demand table keyed by the string attribute `key`.
    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError>;
    /// Describes a table; `None` if it does not exist.
    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError>;

    /// Whether a request may fail in a way worth sending it again
    /// unchanged: throttling, a service unavailable or not answering, a
    /// transaction conflict (see `BackendError`). dystore keeps a copy of a
    /// request to send again only where this is `true`; answering `false`
    /// saves that copy (a whole object's items for a save, the keys of a
    /// read) and no request is ever sent twice. Default `true`.
    ///
    /// A decorator that only passes requests on answers as the backend it
    /// wraps; one that can itself throttle or fail (a rate limiter, fault
    /// injection) answers `true`. A request that fails so from a backend
    /// answering `false` is not retried, and fails with
    /// [`BackendError::NotRetried`] (an `ErrorKind::Backend` error saying
    /// so, out of an operation).
    fn may_fail_transiently(&self) -> bool {
        true
    }
}

/// The operation names counted by [`Counting`], as DynamoDB spells them.
pub mod op {
    /// GetItem.
    pub const GET_ITEM: &str = "GetItem";
    /// BatchGetItem.
    pub const BATCH_GET_ITEM: &str = "BatchGetItem";
    /// PutItem.
    pub const PUT_ITEM: &str = "PutItem";
    /// UpdateItem.
    pub const UPDATE_ITEM: &str = "UpdateItem";
    /// DeleteItem.
    pub const DELETE_ITEM: &str = "DeleteItem";
    /// TransactWriteItems.
    pub const TRANSACT_WRITE_ITEMS: &str = "TransactWriteItems";
    /// TransactGetItems.
    pub const TRANSACT_GET_ITEMS: &str = "TransactGetItems";
    /// Query.
    pub const QUERY: &str = "Query";
    /// Scan.
    pub const SCAN: &str = "Scan";
    /// CreateTable.
    pub const CREATE_TABLE: &str = "CreateTable";
    /// DescribeTable.
    pub const DESCRIBE_TABLE: &str = "DescribeTable";
}
