//! Requests with dystore's retry rules: throttling retried with backoff until
//! a deadline, batch reads split at DynamoDB's limits and their unprocessed
//! keys retried, backend errors turned into [`Error`]s with context.

use crate::backend::{Backend, BackendError, Item, TableKeys};
use crate::error::{Error, ErrorKind, Result};
use serde_dynamo::AttributeValue;
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long throttled requests and unprocessed keys are retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) deadline: Duration,
    pub(crate) first_backoff: Duration,
    pub(crate) max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            deadline: Duration::from_secs(20),
            first_backoff: Duration::from_millis(25),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Exponential backoff with a deadline.
pub(crate) struct Backoff {
    policy: RetryPolicy,
    started: Instant,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Backoff { policy, started: Instant::now(), next: policy.first_backoff }
    }

    /// Sleeps before the next attempt; `false` once the deadline has passed.
    pub(crate) async fn wait(&mut self) -> bool {
        if self.started.elapsed() + self.next > self.policy.deadline {
            return false;
        }
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.policy.max_backoff);
        true
    }
}

/// Runs `request`, retrying while the backend reports throttling.
pub(crate) async fn retrying<T, F, Fut>(policy: RetryPolicy, mut request: F) -> Result<T, BackendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BackendError>>,
{
    let mut backoff = Backoff::new(policy);
    loop {
        match request().await {
            Err(BackendError::Throttled(m)) => {
                if !backoff.wait().await {
                    return Err(BackendError::Throttled(m));
                }
            }
            other => return other,
        }
    }
}

/// A backend error as a dystore error, for an operation on `table`.
pub(crate) fn backend_error(e: BackendError, table: &str) -> Error {
    let (kind, detail) = match &e {
        BackendError::TableNotFound(_) => (ErrorKind::TableNotFound, "create it with `create_tables`".to_owned()),
        BackendError::Throttled(_) => (ErrorKind::Throttled, String::new()),
        BackendError::ConditionFailed => (ErrorKind::Conflict, "a condition on the item was not met".to_owned()),
        BackendError::Validation(message) => match refusal(message) {
            Some(decoded) => decoded,
            None => (ErrorKind::Backend, String::new()),
        },
        _ => (ErrorKind::Backend, String::new()),
    };
    Error::new(kind, detail).with_table(table).with_source(e)
}

/// A validation error DynamoDB still sent back for input dystore checks
/// first, decoded by what its message says (DynamoDB's own wording, as
/// dynoxide reproduces it); `None` for anything else.
fn refusal(message: &str) -> Option<(ErrorKind, String)> {
    let m = message.to_ascii_lowercase();
    let kind = if m.contains("item size") {
        ErrorKind::ItemTooLarge
    } else if ["nesting levels", "numeric value", "number overflow", "number underflow", "significant digits"].iter().any(|p| m.contains(p)) {
        ErrorKind::InvalidDocument
    } else if m.contains("empty attribute name") || m.contains("document path") {
        ErrorKind::InvalidPath
    } else if m.contains("key element") || m.contains("key attribute") {
        ErrorKind::InvalidKey
    } else {
        return None;
    };
    Some((kind, "DynamoDB refused the request".to_owned()))
}

/// DynamoDB's limit on keys per BatchGetItem.
const BATCH_GET_KEYS: usize = 100;

/// Reads every `(table, key attribute, key)` with consistent BatchGetItem
/// requests (one per 100 keys), retrying unprocessed keys; returns the items
/// found by `(table, key)`.
pub(crate) async fn batch_get_all(
    backend: &dyn Backend,
    policy: RetryPolicy,
    keys: &[(String, String, String)],
) -> Result<HashMap<(String, String), Item>> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(BATCH_GET_KEYS) {
        let key_names: HashMap<&str, &str> = chunk.iter().map(|(t, k, _)| (t.as_str(), k.as_str())).collect();
        let mut pending = group(chunk);
        let mut backoff = Backoff::new(policy);
        while !pending.is_empty() {
            let first_table = pending[0].table.clone();
            let out = retrying(policy, || backend.batch_get(pending.clone()))
                .await
                .map_err(|e| backend_error(e, &first_table))?;
            for (table, items) in out.items {
                let key_name = key_names.get(table.as_str()).copied().unwrap_or_default();
                for item in items {
                    if let Some(AttributeValue::S(key)) = item.get(key_name) {
                        found.insert((table.clone(), key.clone()), item);
                    }
                }
            }
            pending = out.unprocessed;
            if !pending.is_empty() && !backoff.wait().await {
                return Err(Error::new(ErrorKind::Throttled, "keys stayed unprocessed").with_table(pending[0].table.clone()));
            }
        }
    }
    Ok(found)
}

fn group(keys: &[(String, String, String)]) -> Vec<TableKeys> {
    let mut by_table: Vec<TableKeys> = Vec::new();
    for (table, key_name, key) in keys {
        let item: Item = [(key_name.clone(), AttributeValue::S(key.clone()))].into();
        match by_table.iter_mut().find(|t| &t.table == table) {
            Some(t) => t.keys.push(item),
            None => by_table.push(TableKeys { table: table.clone(), keys: vec![item], consistent: true }),
        }
    }
    by_table
}

/// The primary key of an item in a table keyed by `key_name`.
pub(crate) fn key_item(key_name: &str, key: &str) -> Item {
    [(key_name.to_owned(), AttributeValue::S(key.to_owned()))].into()
}
