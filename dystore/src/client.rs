//! The [`Client`]: a backend, a config loader, and every operation, for
//! typed objects ([`DyObject`]) and dynamic documents ([`Store`]).

use crate::backend::{Backend, Counting, DynamoDb, Requests};
use crate::error::{Error, ErrorKind, Result};
use crate::format::META;
use crate::io::RetryPolicy;
use crate::layout::Layout;
use crate::loader::{ConfigLoader, DefaultLoader};
use crate::object::DyObject;
use crate::store::Store;
use crate::{ops, paths, tables};
use serde_json::Value;
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
/// let key = db.write(&people, json!({"name": "Ada", "location": {"city": "London"}})).await?;
/// assert_eq!(db.read(&people, &key).await?["location"]["city"], "London");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    backend: Arc<dyn Backend>,
    loader: Arc<dyn ConfigLoader>,
    /// Region recorded in shard references (the SDK's region, if any).
    region: Option<String>,
    policy: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("region", &self.region).finish_non_exhaustive()
    }
}

/// An object read together with its revision, to be saved back only if
/// nobody wrote it since (optimistic locking).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The object's primary key.
    pub key: String,
    /// The revision read; a save succeeds only if it is still current.
    pub revision: String,
    /// The object.
    pub value: T,
}

impl Client {
    /// A client over any backend.
    pub fn new(backend: impl Backend) -> Self {
        Client::from_backend(Arc::new(backend))
    }

    /// A client over a shared backend.
    pub fn from_backend(backend: Arc<dyn Backend>) -> Self {
        Client { backend, loader: Arc::new(DefaultLoader), region: None, policy: RetryPolicy::default() }
    }

    /// A client on a fresh in-memory embedded engine: no AWS, no network.
    ///
    /// # Errors
    ///
    /// `Backend` if the engine cannot open its in-memory database.
    #[cfg(feature = "embedded")]
    pub fn memory() -> Result<Self> {
        let engine = crate::backend::Embedded::memory().map_err(|e| Error::new(ErrorKind::Backend, "cannot open the in-memory engine").with_source(e))?;
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

    /// The same client, its requests counted by operation.
    pub fn counted(self) -> (Self, Requests) {
        let requests = Requests::default();
        let backend: Arc<dyn Backend> = Arc::new(Counting::new(self.backend.clone(), requests.clone()));
        (Client { backend, ..self }, requests)
    }

    /// The backend requests go to.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub(crate) fn loader(&self) -> &dyn ConfigLoader {
        self.loader.as_ref()
    }

    pub(crate) fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    pub(crate) fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Operations on the dynamic documents of `store`.
    pub fn store<'a>(&'a self, store: &'a Store) -> Objects<'a> {
        Objects { client: self, layout: store.layout() }
    }

    /// Operations on objects of any layout.
    pub fn objects<'a>(&'a self, layout: &'a Layout) -> Objects<'a> {
        Objects { client: self, layout }
    }

    /// Writes a document; returns its key (the loader's, else a UUID v4).
    ///
    /// # Errors
    ///
    /// As [`Objects::write`].
    pub async fn write(&self, store: &Store, doc: Value) -> Result<String> {
        self.store(store).write(doc).await
    }

    /// Reads a document with its shards.
    ///
    /// # Errors
    ///
    /// As [`Objects::read`].
    pub async fn read(&self, store: &Store, key: &str) -> Result<Value> {
        self.store(store).read(key).await
    }

    /// Reads a document knowing only its root table and key attribute: the
    /// metadata stored in the root describes the shards.
    ///
    /// # Errors
    ///
    /// As [`Objects::read`].
    pub async fn read_stored(&self, table: &str, key_name: &str, key: &str) -> Result<Value> {
        let layout = Store::new(table, key_name).into_layout();
        self.objects(&layout).read(key).await
    }

    /// Creates the tables of `T` and of all its shards.
    ///
    /// # Errors
    ///
    /// As [`Objects::create_tables`].
    pub async fn create_tables<T: DyObject>(&self) -> Result<()> {
        self.objects(T::layout()).create_tables().await
    }

    /// Saves `obj`; returns its key: the `#[dystore(pk)]` field, or for a
    /// type without one, the loader's `generate_pk`, else a new UUID v4.
    ///
    /// # Errors
    ///
    /// As [`Objects::write`], plus `Serialization` if `obj` does not
    /// serialize to a JSON object, and `InvalidKey` (before any request) if
    /// its `pk` field is empty: set it, or call [`save_new`](Self::save_new).
    pub async fn save<T: DyObject>(&self, obj: &T) -> Result<String> {
        let (doc, key) = to_document::<T>(obj)?;
        if let (Some(field), None) = (T::PK_FIELD, &key) {
            return Err(Error::new(ErrorKind::InvalidKey, format!("the `pk` field `{field}` is empty: set it, or call `save_new` to have a key generated"))
                .with_table(T::layout().table.as_ref()));
        }
        Ok(ops::save(self, T::layout(), doc, key, None).await?.key)
    }

    /// Saves `obj` as a new object under a generated key (the loader's
    /// `generate_pk`, else a UUID v4) and returns it; `obj`'s `pk` field, if
    /// it has one, must be empty.
    ///
    /// # Errors
    ///
    /// As [`save`](Self::save), and `InvalidKey` if the `pk` field is set
    /// (call `save` to store the object under it).
    pub async fn save_new<T: DyObject>(&self, obj: &T) -> Result<String> {
        let (doc, key) = to_document::<T>(obj)?;
        if let (Some(field), Some(_)) = (T::PK_FIELD, &key) {
            return Err(Error::new(ErrorKind::InvalidKey, format!("`save_new` generates the key, but the `pk` field `{field}` is set: call `save`"))
                .with_table(T::layout().table.as_ref()));
        }
        Ok(ops::save(self, T::layout(), doc, None, None).await?.key)
    }

    /// Loads the object keyed `key`.
    ///
    /// # Errors
    ///
    /// As [`Objects::read`], plus `Serialization` if the stored document
    /// does not fit `T`.
    pub async fn load<T: DyObject>(&self, key: &str) -> Result<T> {
        Ok(self.load_versioned::<T>(key).await?.value)
    }

    /// Loads the object keyed `key` with its revision, for
    /// [`save_versioned`](Self::save_versioned).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub async fn load_versioned<T: DyObject>(&self, key: &str) -> Result<Versioned<T>> {
        let doc = self.objects(T::layout()).read_versioned(key).await?;
        let value = from_document::<T>(doc.value, key, T::layout())?;
        Ok(Versioned { key: doc.key, revision: doc.revision, value })
    }

    /// Saves an object loaded with [`load_versioned`](Self::load_versioned)
    /// only if nobody wrote it since; returns the new revision.
    ///
    /// # Errors
    ///
    /// `Conflict` if the object changed (or was deleted) since it was read.
    pub async fn save_versioned<T: DyObject>(&self, obj: &Versioned<T>) -> Result<String> {
        let (doc, _) = to_document::<T>(&obj.value)?;
        Ok(ops::save(self, T::layout(), doc, Some(obj.key.clone()), Some(&obj.revision)).await?.revision)
    }

    /// The values at `path` of the object keyed `key`.
    ///
    /// # Errors
    ///
    /// As [`Objects::read_path`], plus `InvalidPath` (before any request)
    /// for a path `T` has no field for (`$.emial`); filters and `..` are not
    /// checked, nor paths below a field of a type that takes any value
    /// (`serde_json::Value`, maps, flattened structs) or below an enum.
    pub async fn read_path<T: DyObject>(&self, key: &str, path: &str) -> Result<Vec<Value>> {
        if is_pk_path::<T>(path) {
            // The pk field is not stored: it is the key itself.
            return Ok(vec![Value::String(key.to_owned())]);
        }
        check_fit::<T>(key, path, None)?;
        self.objects(T::layout()).read_path(key, path).await
    }

    /// Sets the value at `path` of the object keyed `key`.
    ///
    /// # Errors
    ///
    /// As [`Objects::write_path`], plus, before any request, `InvalidPath`
    /// for a path `T` has no field for, and `InvalidDocument` (naming the
    /// path, not the value) for a value that does not fit the field's type,
    /// so that `load::<T>` keeps working. The dynamic
    /// [`Objects::write_path`] takes any path and value.
    pub async fn write_path<T: DyObject>(&self, key: &str, path: &str, value: Value) -> Result<()> {
        if is_pk_path::<T>(path) {
            return Err(Error::new(ErrorKind::InvalidPath, "the `pk` field is the object's key; save the object under another key instead")
                .with_table(T::layout().table.as_ref())
                .with_key(key)
                .with_path(path));
        }
        check_fit::<T>(key, path, Some(&value))?;
        self.objects(T::layout()).write_path(key, path, value).await
    }

    /// Deletes the object keyed `key` and its shards.
    ///
    /// # Errors
    ///
    /// As [`Objects::delete`].
    pub async fn delete<T: DyObject>(&self, key: &str) -> Result<()> {
        self.objects(T::layout()).delete(key).await
    }
}

/// Refuses, before any request, a path `T` has no place for
/// (`InvalidPath`) and a value that does not fit the type there
/// (`InvalidDocument`, naming the path, never the value). Queries
/// (filters, `..`) are not checked.
fn check_fit<T: DyObject>(key: &str, path: &str, value: Option<&Value>) -> Result<()> {
    let steps = match crate::path::parse(path)? {
        crate::path::Path::Plain(p) => p.to_pattern().steps,
        crate::path::Path::Pattern(p) => p.steps,
        crate::path::Path::Query(_) => return Ok(()),
    };
    let error = |kind, detail: String| Err(Error::new(kind, detail).with_table(T::layout().table.as_ref()).with_key(key).with_path(path));
    match crate::probe::fit::<T>(&steps, value) {
        crate::probe::Fit::Fits => Ok(()),
        crate::probe::Fit::NoSuchPath(why) => error(ErrorKind::InvalidPath, format!("the type has no place at this path: {why}")),
        crate::probe::Fit::ValueMismatch => error(ErrorKind::InvalidDocument, "the value does not fit the type of the field at this path".into()),
    }
}

/// Whether `path` is `T`'s `#[dystore(pk)]` field (or below it).
fn is_pk_path<T: DyObject>(path: &str) -> bool {
    let Some(pk) = T::PK_FIELD else { return false };
    match crate::path::parse(path) {
        Ok(crate::path::Path::Plain(p)) => p.steps.first() == Some(&crate::path::Step::Field(pk.to_owned())),
        _ => false,
    }
}

/// A typed object as a document, with the key its `pk` field holds.
fn to_document<T: DyObject>(obj: &T) -> Result<(Value, Option<String>)> {
    // serde_json's message may quote a value, so it is not passed on.
    let mut doc = serde_json::to_value(obj)
        .map_err(|_| Error::new(ErrorKind::Serialization, "the object does not serialize to JSON").with_table(T::layout().table.as_ref()))?;
    let key = match (T::PK_FIELD, doc.as_object_mut()) {
        (Some(field), Some(map)) => match map.remove(field) {
            Some(Value::String(k)) if !k.is_empty() => Some(k),
            _ => None,
        },
        _ => None,
    };
    Ok((doc, key))
}

fn from_document<T: DyObject>(mut doc: Value, key: &str, layout: &Layout) -> Result<T> {
    if let (Some(field), Some(map)) = (T::PK_FIELD, doc.as_object_mut()) {
        map.insert(field.to_owned(), Value::String(key.to_owned()));
    }
    if let Some(map) = doc.as_object_mut() {
        map.remove(META);
    }
    serde_path_to_error::deserialize(doc).map_err(|e| {
        // serde's message may quote the stored value (plaintext of an
        // encrypted field, perhaps): name only where it went wrong.
        let path = e.path().to_string();
        Error::new(ErrorKind::Serialization, "the stored document does not fit the type")
            .with_table(layout.table.as_ref())
            .with_key(key)
            .with_path(if path == "." { "$".to_owned() } else { format!("$.{path}") })
    })
}


/// Operations on the objects of one layout.
#[derive(Debug, Clone, Copy)]
pub struct Objects<'a> {
    client: &'a Client,
    layout: &'a Layout,
}

impl Objects<'_> {
    /// Creates the missing tables of the layout (root and every shard,
    /// on-demand billing), waits until they are active, and checks that
    /// existing ones are keyed by the layout's string key attribute alone.
    ///
    /// # Errors
    ///
    /// `SchemaMismatch` (saying what was expected and found),
    /// `InvalidTableName`, or a backend error.
    pub async fn create_tables(&self) -> Result<()> {
        tables::create_tables(self.client, self.layout).await
    }

    /// Writes `doc` as a new object; returns its key (the loader's, else a
    /// UUID v4). One TransactWriteItems request (two requests if the layout
    /// has list shards: the stored list lengths are read first so that no
    /// element of a shorter list stays behind).
    ///
    /// # Errors
    ///
    /// `InvalidDocument` (not an object, a shard holding a non-object, a
    /// field named like the key attribute), `ItemTooLarge` (naming the
    /// table and the largest part; nothing is written), `TableNotFound`,
    /// `InvalidTableName`.
    pub async fn write(&self, doc: Value) -> Result<String> {
        Ok(ops::save(self.client, self.layout, doc, None, None).await?.key)
    }

    /// Writes `doc` under `key`, replacing any object stored there.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write), plus `InvalidKey`.
    pub async fn write_with_key(&self, key: &str, doc: Value) -> Result<()> {
        ops::save(self.client, self.layout, doc, Some(key.to_owned()), None).await.map(drop)
    }

    /// Reads the object keyed `key` with its shards: one BatchGetItem when
    /// the layout is known (list shards may take a second).
    ///
    /// # Errors
    ///
    /// `NotFound`, `Inconsistent` (a save kept being caught in progress),
    /// `Encrypted` and crypto errors for encrypted leaves, `Format`.
    pub async fn read(&self, key: &str) -> Result<Value> {
        Ok(self.read_versioned(key).await?.value)
    }

    /// Reads the root item only: shards stay as references
    /// (`{"__dystore_ref__": {"table", "key", "region"}}`).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn read_shallow(&self, key: &str) -> Result<Value> {
        let loaded = ops::load(self.client, self.layout, key, false, false).await?;
        Ok(self.finish(loaded))
    }

    /// Reads the object with ciphertexts returned as stored (base64 strings),
    /// for tooling that must not decrypt.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), without the crypto errors.
    pub async fn read_raw(&self, key: &str) -> Result<Value> {
        let loaded = ops::load(self.client, self.layout, key, true, true).await?;
        Ok(self.finish(loaded))
    }

    /// Reads the object with its revision.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn read_versioned(&self, key: &str) -> Result<Versioned<Value>> {
        let loaded = ops::load(self.client, self.layout, key, true, false).await?;
        let revision = loaded.meta.revision.clone();
        Ok(Versioned { key: key.to_owned(), revision, value: self.finish(loaded) })
    }

    fn finish(&self, loaded: ops::Loaded) -> Value {
        let mut body = loaded.body;
        if self.client.loader().keep_metadata() {
            body.insert(META.to_owned(), loaded.meta_value);
        }
        Value::Object(body)
    }

    /// Writes `doc` under the key of `read`, only if the object's revision is
    /// still the one read; returns the new revision.
    ///
    /// # Errors
    ///
    /// `Conflict` if someone wrote (or deleted) the object since.
    pub async fn write_versioned(&self, read: &Versioned<Value>) -> Result<String> {
        let saved = ops::save(self.client, self.layout, read.value.clone(), Some(read.key.clone()), Some(&read.revision)).await?;
        Ok(saved.revision)
    }

    /// The values at `path`: for a plain path (`$.location.city`) one
    /// GetItem with a projection on the item that holds it, giving one value
    /// or none; wildcards and filters (`$.locales[*].type`) read the whole
    /// object and may give any number.
    ///
    /// # Errors
    ///
    /// `InvalidPath`, `NotFound`, `MissingShard` (the path leads into a shard
    /// the object does not have).
    pub async fn read_path(&self, key: &str, path: &str) -> Result<Vec<Value>> {
        paths::read_path(self.client, self.layout, key, path).await
    }

    /// Sets the value at a plain `path`, in one request that also advances
    /// the object's revision; the value is encrypted if its path is.
    ///
    /// # Errors
    ///
    /// `InvalidPath` (wildcards, a path that is or holds a shard, a parent
    /// that does not exist), `NotFound`, `MissingShard`.
    pub async fn write_path(&self, key: &str, path: &str, value: Value) -> Result<()> {
        paths::write_path(self.client, self.layout, key, path, value).await
    }

    /// Deletes the object and all its shards in one transaction (two
    /// requests with list shards).
    ///
    /// # Errors
    ///
    /// `NotFound` if no object has this key.
    pub async fn delete(&self, key: &str) -> Result<()> {
        ops::delete(self.client, self.layout, key).await
    }
}
