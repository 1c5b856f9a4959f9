//! Operations on stored objects, one file per family. Each takes an
//! [`Env`] (the backend, the loader, the retry policy, the region), never
//! the public `Client`, which is the thin face on top.
//!
//! - `save`: a whole object, split by its layout, in one transaction.
//! - `load`: a whole object, in one batched read, assembled; `legacy`: one written by dynamo-store 0.6.
//! - `delete`: a whole object, every shard item included.
//! - `by_path`: `read_path` and `write_path`, touching the item that holds the path.
//! - `tables`: `create_tables`; `upgrade`: a dynamo-store 0.6 object rewritten in format 1.
//! - `list`: every object of a layout, a Scan page at a time.
//! - `many`: many objects at once, packed into batched reads and transactions.
//! - `batch`: batched reads, and `transact`: transactions, within DynamoDB's limits.

mod batch;
pub(crate) mod by_path;
mod delete;
mod legacy;
mod list;
mod load;
mod many;
mod save;
mod staged;
mod stale;
mod sweep;
mod tables;
mod transact;
mod upgrade;

pub(crate) use batch::batch_get_all;
pub(crate) use by_path::{read_path, write_path};

pub(crate) use delete::{delete, finish_tombstone_fenced};
pub(crate) use legacy::places;
pub(crate) use list::{keys, objects};
pub(crate) use load::{Loaded, load};
pub(crate) use many::{delete_many, load_many, save_many};
pub(crate) use save::{When, save};
pub(crate) use staged::upgrade_record_of;
pub(crate) use stale::{count_items, save_items};
pub use sweep::SweepReport;
pub(crate) use sweep::sweep;
pub(crate) use tables::{check_table, create_tables};
pub use upgrade::{Upgrade, UpgradeReport};
pub(crate) use upgrade::{sweep_record, upgrade, upgrade_table, upgrade_table_with};

use crate::backend::{Backend, BackendError, Expr, Item, RetryPolicy};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{META, Root, RootMeta, SHARD_KEY_MARK};
use crate::layout::Layout;
use crate::loader::ConfigLoader;
use serde_dynamo::AttributeValue;

/// What every operation works with.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    /// Where requests go; throttling is retried inside it.
    pub(crate) backend: &'a dyn Backend,
    pub(crate) loader: &'a dyn ConfigLoader,
    /// How long the operations' own retries (unprocessed keys, torn reads,
    /// lost races) go on.
    pub(crate) policy: RetryPolicy,
    /// Region recorded in shard references (the SDK's region, if any).
    pub(crate) region: Option<&'a str>,
    /// How long one call may take.
    pub(crate) deadline: Option<std::time::Duration>,
    /// The client's totals, where an operation's usage adds up.
    pub(crate) meter: &'a std::sync::Arc<crate::usage::Meter>,
    /// How keys appear in errors and spans.
    pub(crate) keys: &'a crate::error::KeyDisplay,
    /// For an upgrade: the values dynamo-store 0.6 stored encrypted, which
    /// its saves may not store in clear ([`Sealed`]).
    pub(crate) sealed_before: Option<&'a Sealed>,
}

/// The values of a dynamo-store 0.6 object that the package stored
/// encrypted, which an upgrade may not store in clear: by the path they
/// keep in the document to save, and (for values the document holds
/// elsewhere, moved by the type's serde attributes: a renamed field) by
/// their plaintext. A rule exempting a path (`no_encrypt`) lets its value
/// be stored in clear, on purpose.
#[derive(Debug, Default)]
pub(crate) struct Sealed {
    pub(crate) paths: std::collections::HashSet<String>,
    pub(crate) moved: std::collections::HashSet<String>,
}

impl Sealed {
    /// Whether the clear `leaf` at `path` is one of these values.
    pub(crate) fn holds(&self, path: &str, leaf: &serde_json::Value) -> bool {
        if self.paths.contains(path) {
            return true;
        }
        match leaf {
            serde_json::Value::String(s) => self.moved.contains(s),
            // Decrypted values are strings; `with_legacy_number_strings`
            // turns them into numbers and booleans.
            serde_json::Value::Number(n) => self.moved.contains(&n.to_string()),
            serde_json::Value::Bool(b) => self.moved.iter().any(|t| t.eq_ignore_ascii_case(if *b { "true" } else { "false" })),
            _ => false,
        }
    }
}

/// Runs the operation `name` (`call`, on the object keyed `key` of
/// `layout`, or on many objects with `None`) as every operation runs: in a
/// `tracing` span named `dystore` with the operation, table and key (as the
/// client shows keys) and, once done, the requests sent, the retries, the
/// capacity units consumed and the outcome; under a usage meter that adds
/// up into the client's totals; within the env's deadline (past it,
/// `Timeout`, saying whether writes may have been sent: `writes`); and
/// with the keys of its error shown as the client asks.
pub(crate) async fn operation<T>(
    env: &Env<'_>,
    name: &'static str,
    layout: &Layout,
    key: Option<&str>,
    writes: bool,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    // On the heap before anything else: operations nest (a typed call
    // around a dynamic one, a call on many objects around single ones), and
    // a call passed on by value is copied through every frame, over 100 KB
    // deep in a debug build.
    operation_with(env, name, layout, key, writes, |_| "ok", Box::pin(call)).await
}

/// As [`operation`], with `outcome` naming a successful call's outcome in
/// its span (a call on many objects answers `Ok` with failures inside),
/// and the call already on the heap.
pub(crate) async fn operation_with<T>(
    env: &Env<'_>,
    name: &'static str,
    layout: &Layout,
    key: Option<&str>,
    writes: bool,
    outcome: impl FnOnce(&T) -> &'static str,
    call: std::pin::Pin<Box<impl std::future::Future<Output = Result<T>>>>,
) -> Result<T> {
    use tracing::Instrument;
    use tracing::field::Empty;
    // A write of this call that timed out or met a 5xx may have been
    // applied, whatever the later requests answered: its error says so.
    let flag = |result: Result<T>, maybe_applied: bool| match result {
        Err(e) if writes && maybe_applied && !e.object_may_have_changed() => Err(e.may_have_changed()),
        other => other,
    };
    let parent = crate::usage::current();
    // Inside another operation (a typed call, a call on many objects),
    // this one is part of it: its span, its usage.
    if let Some(parent) = parent.clone().filter(|_| crate::usage::in_operation()) {
        let (result, metered) =
            crate::usage::metered(Some(parent), Some(env.meter.clone()), true, within_deadline(env, layout, key, writes, call)).await;
        // Located here, before the key is redacted: the enclosing call
        // sees the located error (whose source is no backend error).
        let result = match flag(result, metered.maybe_applied) {
            Err(e) if table_in_doubt(&e) => Err(located(env, layout, e).await),
            other => other,
        };
        return result.map_err(|e| e.redact(env.keys));
    }
    let span = tracing::info_span!(
        "dystore",
        operation = name,
        table = %layout.table,
        key = Empty,
        requests = Empty,
        retries = Empty,
        read_units = Empty,
        write_units = Empty,
        outcome = Empty,
    );
    // Shown only to a subscriber that takes the span: a hashed key costs an HMAC.
    if let Some(shown) = key.filter(|_| !span.is_disabled()).and_then(|k| env.keys.show(k)) {
        span.record("key", shown.as_str());
    }
    let (result, metered) = crate::usage::metered(parent, Some(env.meter.clone()), true, within_deadline(env, layout, key, writes, call))
        .instrument(span.clone())
        .await;
    let result = match result {
        Err(e) if table_in_doubt(&e) => Err(located(env, layout, e).instrument(span.clone()).await),
        other => other,
    };
    let result = flag(result, metered.maybe_applied);
    let units = metered.usage.consumed.total();
    span.record("requests", metered.usage.requests);
    span.record("retries", metered.usage.retries);
    span.record("read_units", units.read);
    span.record("write_units", units.write);
    match &result {
        Ok(value) => span.record("outcome", outcome(value)),
        Err(e) => span.record("outcome", tracing::field::debug(e.kind())),
    };
    result.map_err(|e| e.redact(env.keys))
}

/// Whether `e` may be about another table than the one it names (the
/// operation's root table): DynamoDB's ResourceNotFoundException of a
/// transaction or a batch names no table, and a request naming a key
/// attribute the table is not keyed by fails validation without naming one
/// either.
fn table_in_doubt(e: &Error) -> bool {
    use std::error::Error as _;
    match e.source().and_then(|s| s.downcast_ref::<BackendError>()).map(|b| b.clone().split().0) {
        // Even with a layout of one table: the object may be stored in a
        // shape with shards (a root-only `Store` reads any object).
        Some(BackendError::TableNotFound(_)) => e.kind() == ErrorKind::TableNotFound,
        // Undecoded, or decoded as a key DynamoDB refused ("the provided
        // key element does not match the schema").
        Some(BackendError::Validation(_)) => matches!(e.kind(), ErrorKind::Backend | ErrorKind::InvalidKey),
        Some(BackendError::TransactionCanceled { reasons }) => {
            e.kind() == ErrorKind::Backend && reasons.iter().flatten().any(|code| code == "ValidationError")
        }
        _ => false,
    }
}

/// `e` (see [`table_in_doubt`]) naming the table at fault, among those of
/// `layout` and of the layout the object's root records (the shape it is
/// stored in, which a root-only layout does not know), found by reading
/// the root's metadata and a DescribeTable of each table (requests made
/// only on this failure path): `TableNotFound` for a table that does not
/// exist, `SchemaMismatch` for one keyed otherwise, the original error as
/// its source; `e` itself if every table is as the layouts say.
async fn located(env: &Env<'_>, layout: &Layout, e: Error) -> Error {
    // A table used with two key attributes is `create_tables`' error to
    // report; the tables listed up to it are still checked here.
    let mut all = Vec::new();
    let _ = tables::tables(layout, &mut all);
    if let Some(key) = e.key()
        && let Ok(Some(Root::Object(stored))) = read_root(env, layout, key).await
    {
        let _ = tables::tables(&stored.layout, &mut all);
    }
    for (table, key_name) in &all {
        let (table, key_name) = (table.as_str(), key_name.as_str());
        match tables::check_table(env, table, key_name).await {
            Ok(()) => {}
            Err(found) if matches!(found.kind(), ErrorKind::TableNotFound | ErrorKind::SchemaMismatch) => {
                let detail = match found.kind() {
                    ErrorKind::TableNotFound => "a table the layout names does not exist: create it with `create_tables`".to_owned(),
                    _ => found.detail().to_owned(),
                };
                return Error::new(found.kind(), detail).with_table(table).with_context_of(&e).with_source(e);
            }
            // The check itself failed: the original error stands.
            Err(_) => return e,
        }
    }
    e
}

async fn within_deadline<T>(
    env: &Env<'_>,
    layout: &Layout,
    key: Option<&str>,
    writes: bool,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let Some(deadline) = env.deadline else { return call.await };
    // No time at all: nothing is sent (a timer of zero may not fire before
    // a call that takes less than the timer's resolution ends).
    let call = async {
        if deadline.is_zero() {
            std::future::pending::<()>().await;
        }
        call.await
    };
    match tokio::time::timeout(deadline, call).await {
        Ok(result) => result,
        Err(_) => {
            let mut e = Error::new(ErrorKind::Timeout, format!("the call took over its deadline of {} ms", deadline.as_millis()))
                .with_table(layout.table.as_ref());
            if let Some(key) = key {
                e = e.with_key(key);
            }
            Err(if writes { e.may_have_changed() } else { e })
        }
    }
}

/// How many times a save or delete that lost a race is retried.
const RACE_ATTEMPTS: usize = 8;

/// Checks a root key before any request: one DynamoDB accepts, with room
/// for shard keys, and unable to collide with any shard key.
pub(crate) fn check_key(layout: &Layout, key: &str) -> Result<()> {
    let refuse = |why: &str| Err(Error::new(ErrorKind::InvalidKey, why.to_owned()).with_table(layout.table.as_ref()).with_key(key));
    // A shard key is the root key plus `#` and a path; keep room for it
    // under DynamoDB's 2048-byte partition key limit.
    if key.is_empty() || key.len() > 1024 {
        return refuse("a primary key is 1 to 1024 bytes (DynamoDB allows 2048; dystore keeps room for shard keys)");
    }
    if key.contains(SHARD_KEY_MARK) {
        return refuse("a primary key may not contain `#$`, which dystore reserves for shard keys");
    }
    Ok(())
}

/// `NotFound` for the object keyed `key`.
pub(crate) fn not_found(layout: &Layout, key: &str) -> Error {
    Error::new(ErrorKind::NotFound, "no object has this key").with_table(layout.table.as_ref()).with_key(key)
}

pub(crate) fn conflict(layout: &Layout, key: &str) -> Error {
    Error::new(ErrorKind::Conflict, "saved or written since it was read").with_table(layout.table.as_ref()).with_key(key)
}

/// The stored root metadata, if the object exists (a tombstone is no object).
pub(crate) async fn read_meta(env: &Env<'_>, layout: &Layout, key: &str) -> Result<Option<RootMeta>> {
    Ok(read_root(env, layout, key).await?.and_then(Root::object))
}

/// What the root item under `key` holds, if there is one.
pub(crate) async fn read_root(env: &Env<'_>, layout: &Layout, key: &str) -> Result<Option<Root>> {
    let mut projection = Expr { text: "#dm".into(), ..Default::default() };
    projection.names.insert("#dm".into(), META.into());
    let get = crate::backend::Get {
        table: layout.table.to_string(),
        key: key_item(&layout.key, key),
        projection: Some(projection),
        consistent: true,
    };
    let item = env.backend.get(get).await.map_err(|e| backend_error(e, &layout.table).with_key(key))?;
    match item.and_then(|mut i| i.remove(META)) {
        None => Ok(None),
        Some(meta) => Root::decode(meta).map(|(_, root)| Some(root)).map_err(|e| e.with_table(layout.table.as_ref()).with_key(key)),
    }
}

/// The shard tree of the layout recorded in a root (its `root`), resolved
/// once per layout ([`Resolved::cached`](crate::tree::Resolved::cached)).
pub(crate) fn stored_node(layout: &Layout, key: &str) -> Result<std::sync::Arc<crate::tree::Cached>> {
    crate::tree::Resolved::cached(layout).map_err(|e| {
        Error::new(ErrorKind::Format, "the layout recorded in the root does not resolve")
            .with_table(layout.table.as_ref())
            .with_key(key)
            .with_source(e)
    })
}

/// A backend error as a dystore error, for an operation on `table`, with
/// how its request was retried.
pub(crate) fn backend_error(e: BackendError, table: &str) -> Error {
    let (e, retries) = e.split();
    let (kind, detail) = match &e {
        BackendError::TableNotFound(_) => (ErrorKind::TableNotFound, "create it with `create_tables`".to_owned()),
        BackendError::Throttled(_) => (ErrorKind::Throttled, String::new()),
        BackendError::Unavailable(_) => (ErrorKind::Unavailable, String::new()),
        BackendError::ConditionFailed => (ErrorKind::Conflict, "a condition on the item was not met".to_owned()),
        BackendError::TransactionCanceled { .. } if crate::backend::retryable(&e) => {
            (ErrorKind::Conflict, "the transaction kept conflicting with other transactions on the same items".to_owned())
        }
        BackendError::Validation(message) => match refusal(message) {
            Some(decoded) => decoded,
            None => (ErrorKind::Backend, String::new()),
        },
        BackendError::NotRetried { last } => (
            ErrorKind::Backend,
            format!(
                "the backend failed a request in a way worth retrying ({}), but its `may_fail_transiently` answers false, so the request was not kept to be sent again; a backend that can fail so must answer true",
                last.kind_name()
            ),
        ),
        _ => (ErrorKind::Backend, String::new()),
    };
    Error::new(kind, detail).with_table(table).with_retries(retries).with_source(e)
}

/// A validation error DynamoDB still sent back for input dystore checks
/// first, decoded by what its message says (DynamoDB's own wording, as
/// dynoxide reproduces it); `None` for anything else.
fn refusal(message: &str) -> Option<(ErrorKind, String)> {
    let m = message.to_ascii_lowercase();
    let kind = if m.contains("item size") {
        ErrorKind::ItemTooLarge
    } else if ["nesting levels", "numeric value", "number overflow", "number underflow", "significant digits"].iter().any(|p| m.contains(p))
    {
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

/// The primary key of an item in a table keyed by `key_name`.
pub(crate) fn key_item(key_name: &str, key: &str) -> Item {
    [(key_name.to_owned(), AttributeValue::S(key.to_owned()))].into()
}
