//! The [`Client`]: a backend, a config loader and a retry policy. Typed
//! objects are saved and loaded through it (`typed.rs`); dynamic documents
//! through the [`Objects`] handle it gives for a [`Store`] or a [`Layout`].

use crate::backend::{Backend, Counting, DynamoDb, Requests, RetryPolicy, Retrying};
#[cfg(feature = "embedded")]
use crate::error::{Error, ErrorKind};
use crate::error::{KeyDisplay, Result};
use crate::layout::Layout;
use crate::loader::{ConfigLoader, DefaultLoader};
use crate::objects::Objects;
use crate::ops::Env;
use crate::store::Store;
use crate::usage::{Meter, Usage};
use std::sync::Arc;

/// A handle on a DynamoDB backend with a config loader. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// use dystore::{Client, Store};
/// use serde_json::json;
///
/// let db = Client::memory()?;
/// let people = Store::new("People", "ID").shard(Store::new("Locations", "IDX").at("$.location"));
/// db.store(&people).create_tables().await?;
/// let key = db.store(&people).write(json!({"name": "Ada", "location": {"city": "London"}})).await?;
/// assert_eq!(db.store(&people).read(&key).await?["location"]["city"], "London");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    /// The engine or network client, maybe wrapped (counted).
    raw: Arc<dyn Backend>,
    /// `raw` behind the retry decorator: where operations send requests.
    backend: Arc<dyn Backend>,
    loader: Arc<dyn ConfigLoader>,
    /// Region recorded in shard references (the SDK's region, if any).
    region: Option<String>,
    policy: RetryPolicy,
    /// How long one call may take, every request and wait included.
    deadline: Option<std::time::Duration>,
    /// Typed loads of dynamo-store 0.6 objects turn decrypted strings into
    /// the numbers and booleans the type wants (`legacy_number_strings`).
    pub(crate) legacy_number_strings: bool,
    /// What every operation of this client and its clones cost.
    meter: Arc<Meter>,
    /// How keys appear in errors and spans.
    key_display: Arc<KeyDisplay>,
}

/// The default deadline of a call ([`Client::with_deadline`]).
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("region", &self.region).finish_non_exhaustive()
    }
}

impl Client {
    /// A client over any backend.
    pub fn new(backend: impl Backend) -> Self {
        Client::from_backend(Arc::new(backend))
    }

    /// A client over a shared backend.
    pub fn from_backend(backend: Arc<dyn Backend>) -> Self {
        let policy = RetryPolicy::default();
        Client {
            backend: Arc::new(Retrying::new(backend.clone(), policy)),
            raw: backend,
            loader: Arc::new(DefaultLoader),
            region: None,
            policy,
            deadline: Some(DEFAULT_DEADLINE),
            legacy_number_strings: false,
            meter: Meter::root(),
            key_display: Arc::new(KeyDisplay::Plain),
        }
    }

    /// The same client with keys shown in errors and tracing spans as
    /// `display` says: as stored (the default), as a keyed hash, or not at
    /// all. For keys that are personal data (an email, a national ID).
    ///
    /// It covers the errors of every operation on objects (a key, the items
    /// left undone, a detail or cause that quotes the key) and the `key`
    /// field of the operation's span. It does not cover what the
    /// application passes around itself, nor the key rotation's report.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
    /// let db = dystore::Client::memory()?.with_key_display(dystore::KeyDisplay::hashed(b"log secret"));
    /// let store = dystore::Store::new("Users", "ID");
    /// db.store(&store).create_tables().await?;
    /// let e = db.store(&store).read("ada@example.com").await.unwrap_err();
    /// assert!(!e.to_string().contains("ada@example.com"));
    /// assert!(e.key().unwrap().starts_with("h:"));
    /// # Ok(()) }
    /// ```
    pub fn with_key_display(self, display: KeyDisplay) -> Self {
        Client { key_display: Arc::new(display), ..self }
    }

    /// What the operations of this client (and of its clones) have cost so
    /// far: requests sent, retries, and the read and write capacity units
    /// DynamoDB (or the embedded engine, by DynamoDB's rules) reported
    /// consumed, per table. See [`usage`](crate::usage).
    pub fn usage(&self) -> Usage {
        self.meter.usage()
    }

    /// Starts [`usage`](Self::usage) again from zero.
    pub fn reset_usage(&self) {
        self.meter.reset();
    }

    /// Runs `work` (any operations of this client) and returns its output
    /// with what it cost: requests, retries and capacity, its own only,
    /// even while other tasks use the same client.
    ///
    /// The figures follow `work` itself, the futures it awaits and joins
    /// included, but not tasks it spawns (`tokio::spawn`): a spawned task
    /// runs outside `work`, and its operations count only in
    /// [`usage`](Self::usage). Measure inside the spawned task instead.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
    /// let db = dystore::Client::memory()?;
    /// let store = dystore::Store::new("Measured", "ID");
    /// db.store(&store).create_tables().await?;
    /// let (written, usage) = db.measure(db.store(&store).write_with_key("k", serde_json::json!({"n": 1}))).await;
    /// written?;
    /// assert_eq!(usage.requests, 1);
    /// assert_eq!(usage.consumed.table("Measured").write, 1.0); // one item under 1 KB
    /// # Ok(()) }
    /// ```
    pub async fn measure<F: std::future::Future>(&self, work: F) -> (F::Output, Usage) {
        // Below any measure around it; the operations inside add to their
        // own clients' totals, whichever client measures.
        let (output, metered) = crate::usage::metered(crate::usage::current(), None, false, work).await;
        (output, metered.usage)
    }

    /// The same client with another deadline per call: a call (save, load,
    /// read_path, write_path, delete, upgrade) that has not finished after
    /// `deadline`, every request and retry wait included, stops and fails
    /// with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout). `None`: no
    /// deadline beyond the retry policy's for each request. The default is
    /// 60 seconds.
    ///
    /// A call stopped by its deadline may have sent writes
    /// ([`Error::object_may_have_changed`](crate::Error::object_may_have_changed)
    /// says so); what it leaves is what a crash at that point leaves, which
    /// `docs/FORMAT.md` describes: the object reads as before or after.
    /// Clients are cheap to clone, so a deadline for one call is
    /// `db.with_deadline(Some(d)).load::<T>(key)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let db = dystore::Client::memory()?.with_deadline(Some(Duration::from_secs(5)));
    /// # Ok::<(), dystore::Error>(())
    /// ```
    pub fn with_deadline(self, deadline: Option<std::time::Duration>) -> Self {
        Client { deadline, ..self }
    }

    /// The same client with another retry policy: how long throttled
    /// requests, unprocessed keys and reads that catch a save in progress
    /// are retried.
    pub fn with_retry_policy(self, policy: RetryPolicy) -> Self {
        Client { backend: Arc::new(Retrying::new(self.raw.clone(), policy)), policy, ..self }
    }

    /// A client on a fresh in-memory embedded engine: no AWS, no network.
    ///
    /// # Errors
    ///
    /// `Backend` if the engine cannot open its in-memory database.
    #[cfg(feature = "embedded")]
    pub fn memory() -> Result<Self> {
        let engine = crate::backend::Embedded::memory()
            .map_err(|e| Error::new(ErrorKind::Backend, "cannot open the in-memory engine").with_source(e))?;
        Ok(Client::new(engine))
    }

    /// A client on an embedded engine persisted in the SQLite file at `path`
    /// (created if absent); data survives a restart of the process.
    ///
    /// # Errors
    ///
    /// `Backend` if the file cannot be opened as a database.
    #[cfg(feature = "embedded")]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = path.to_str().ok_or_else(|| Error::new(ErrorKind::Config, "the database path is not UTF-8"))?;
        let engine = crate::backend::Embedded::open(text)
            .map_err(|e| Error::new(ErrorKind::Backend, format!("cannot open the database file `{text}`")).with_source(e))?;
        Ok(Client::new(engine))
    }

    /// A client on DynamoDB configured the aws-config way: `AWS_REGION`,
    /// `AWS_ENDPOINT_URL_DYNAMODB` (for a compatible engine), profiles and
    /// the usual credentials chain.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for configuration checks.
    pub async fn from_env() -> Result<Self> {
        let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Client::from_conf(&conf))
    }

    /// A client on DynamoDB from a loaded aws-config.
    pub fn from_conf(conf: &aws_config::SdkConfig) -> Self {
        let mut client = Client::new(DynamoDb::new(aws_sdk_dynamodb::Client::new(conf)));
        client.region = conf.region().map(|r| r.to_string());
        client
    }

    /// The same client with another config loader (per-call override: the
    /// original client keeps its own).
    pub fn with_loader(mut self, loader: impl ConfigLoader + 'static) -> Self {
        self.loader = Arc::new(loader);
        self
    }

    /// The same client, turning (or not) the strings dynamo-store 0.6 gave
    /// back for every encrypted value (`"1.5"`, `"True"`) into the number or
    /// boolean a typed `load` or `upgrade` wants there. Off by default: a
    /// string where the type wants a number is then a `Serialization` error.
    pub fn with_legacy_number_strings(self, convert: bool) -> Self {
        Client { legacy_number_strings: convert, ..self }
    }

    /// The same client with faults injected into its requests by `plan`
    /// (feature `testing`), and the handle that counts them. Retries and
    /// counting stay outside the faults, as they would face a real service.
    #[cfg(feature = "testing")]
    pub fn faulty(self, plan: crate::backend::FaultPlan) -> (Self, crate::backend::Injected) {
        let (faulty, injected) = crate::backend::Faulty::new(self.raw.clone(), plan);
        let raw: Arc<dyn Backend> = Arc::new(faulty);
        let backend = Arc::new(Retrying::new(raw.clone(), self.policy));
        (Client { raw, backend, ..self }, injected)
    }

    /// The same client, its requests counted by operation (every request
    /// sent, a retried one once per attempt).
    pub fn counted(self) -> (Self, Requests) {
        let requests = Requests::default();
        let raw: Arc<dyn Backend> = Arc::new(Counting::new(self.raw.clone(), requests.clone()));
        let backend = Arc::new(Retrying::new(raw.clone(), self.policy));
        (Client { raw, backend, ..self }, requests)
    }

    /// The backend requests go to (throttling retried by the client's
    /// [`RetryPolicy`]).
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The backend requests go to, shared, for decorators layered on top
    /// of it (the capacity meter of a key rotation).
    pub(crate) fn shared_backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    pub(crate) fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// What the operations work with.
    pub(crate) fn env(&self) -> Env<'_> {
        Env {
            backend: self.backend.as_ref(),
            loader: self.loader.as_ref(),
            policy: self.policy,
            region: self.region.as_deref(),
            deadline: self.deadline,
            meter: &self.meter,
            keys: &self.key_display,
            sealed_before: None,
        }
    }

    /// Operations on the dynamic documents of `store`.
    pub fn store<'a>(&'a self, store: &'a Store) -> Objects<'a> {
        Objects::new(self.env(), store.layout())
    }

    /// Operations on objects of any layout (a derived type's
    /// `T::layout()`, or one read from elsewhere). To read an object
    /// knowing only its root table, use a `Store` of that table alone: reads
    /// follow the layout recorded in the root.
    pub fn objects<'a>(&'a self, layout: &'a Layout) -> Objects<'a> {
        Objects::new(self.env(), layout)
    }
}
