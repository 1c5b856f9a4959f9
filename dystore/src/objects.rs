//! The [`Objects`] handle: every operation on the dynamic documents of one
//! layout.

use crate::error::Result;
use crate::format::META;
use crate::layout::Layout;
use crate::ops::{self, Env, When};
use serde_json::Value;

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

/// Operations on the objects of one layout; from
/// [`Client::store`](crate::Client::store) or
/// [`Client::objects`](crate::Client::objects).
#[derive(Clone, Copy)]
pub struct Objects<'a> {
    env: Env<'a>,
    layout: &'a Layout,
}

impl std::fmt::Debug for Objects<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects").field("table", &self.layout.table).finish_non_exhaustive()
    }
}

impl<'a> Objects<'a> {
    pub(crate) fn new(env: Env<'a>, layout: &'a Layout) -> Self {
        Objects { env, layout }
    }

    /// The same handle with another deadline per call (see
    /// [`Client::with_deadline`](crate::Client::with_deadline)).
    pub fn with_deadline(self, deadline: Option<std::time::Duration>) -> Self {
        Objects { env: Env { deadline, ..self.env }, ..self }
    }

    /// Creates the missing tables of the layout (root and every shard,
    /// on-demand billing), waits until they are active, and checks that
    /// existing ones are keyed by the layout's string key attribute alone.
    ///
    /// # Errors
    ///
    /// `SchemaMismatch` (saying what was expected and found),
    /// `InvalidTableName`, or a backend error.
    pub async fn create_tables(&self) -> Result<()> {
        ops::create_tables(&self.env, self.layout).await
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
        Ok(ops::save(&self.env, self.layout, doc, None, When::Always).await?.key)
    }

    /// Writes `doc` under `key`, replacing any object stored there: the
    /// write is unconditional (the last writer wins). To write only if
    /// nobody wrote since a read, use
    /// [`write_versioned`](Self::write_versioned); to write only a new
    /// object, [`create_with_key`](Self::create_with_key); for a
    /// read-modify-write under contention, [`update`](Self::update).
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write), plus `InvalidKey`.
    pub async fn write_with_key(&self, key: &str, doc: Value) -> Result<()> {
        ops::save(&self.env, self.layout, doc, Some(key.to_owned()), When::Always).await.map(drop)
    }

    /// Writes `doc` as a new object under `key`, only if no object is
    /// stored there (an insert): the same requests as
    /// [`write_with_key`](Self::write_with_key), guarded on the root.
    ///
    /// # Errors
    ///
    /// `Conflict` if an object is stored under `key` (nothing is written);
    /// otherwise as [`write_with_key`](Self::write_with_key).
    pub async fn create_with_key(&self, key: &str, doc: Value) -> Result<()> {
        ops::save(&self.env, self.layout, doc, Some(key.to_owned()), When::Absent).await.map(drop)
    }

    /// Reads, changes with `change` and writes back the object keyed `key`,
    /// under optimistic locking: when another writer wins in between, it
    /// reads again and calls `change` again, after a jittered backoff, until
    /// the client's [`RetryPolicy`](crate::RetryPolicy) deadline. Returns
    /// the document written. `change` may run several times: keep it free of
    /// other effects.
    ///
    /// # Errors
    ///
    /// `Conflict` if other writers kept winning past the deadline; what
    /// `change` returns; otherwise as [`read_versioned`](Self::read_versioned)
    /// and [`write_versioned`](Self::write_versioned).
    pub async fn update(&self, key: &str, mut change: impl FnMut(Value) -> Result<Value>) -> Result<Value> {
        let mut backoff = crate::backend::Backoff::jittered(self.env.policy);
        loop {
            let read = self.read_versioned(key).await?;
            let value = change(read.value)?;
            let write = Versioned { key: read.key, revision: read.revision, value };
            match self.write_versioned(&write).await {
                Ok(_) => return Ok(write.value),
                Err(e) if e.is_conflict() && backoff.wait().await => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the object keyed `key` with its shards: one BatchGetItem when
    /// the layout is known (list shards may take a second).
    ///
    /// # Errors
    ///
    /// `NotFound`, `Inconsistent` (a save kept being caught in progress),
    /// `Encrypted` and crypto errors for encrypted leaves, `Format`.
    pub async fn read(&self, key: &str) -> Result<Value> {
        let loaded = ops::load(&self.env, self.layout, key, true, false).await?;
        Ok(self.finish(loaded))
    }

    /// Reads the root item only: shards stay as references
    /// (`{"__dystore_ref__": {"table", "key", "region"}}`).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn read_shallow(&self, key: &str) -> Result<Value> {
        let loaded = ops::load(&self.env, self.layout, key, false, false).await?;
        Ok(self.finish(loaded))
    }

    /// Reads the object with ciphertexts returned as stored (base64 strings),
    /// for tooling that must not decrypt.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), without the crypto errors.
    pub async fn read_raw(&self, key: &str) -> Result<Value> {
        let loaded = ops::load(&self.env, self.layout, key, true, true).await?;
        Ok(self.finish(loaded))
    }

    /// Reads the object with its revision.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), and `Format` for an object written by
    /// dynamo-store 0.6, which has no revision (upgrade it to format 1).
    pub async fn read_versioned(&self, key: &str) -> Result<Versioned<Value>> {
        let loaded = ops::load(&self.env, self.layout, key, true, false).await?;
        let Some(revision) = loaded.meta.as_ref().map(|m| m.revision.clone()) else {
            return Err(crate::Error::new(
                crate::ErrorKind::Format,
                "an object written by dynamo-store 0.6 has no revision: upgrade it to format 1 first",
            )
            .with_table(self.layout.table.as_ref())
            .with_key(key));
        };
        Ok(Versioned { key: key.to_owned(), revision, value: self.finish(loaded) })
    }

    fn finish(&self, loaded: ops::Loaded) -> Value {
        let mut body = loaded.body;
        if self.env.loader.keep_metadata() {
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
        let saved = ops::save(&self.env, self.layout, read.value.clone(), Some(read.key.clone()), When::Revision(&read.revision)).await?;
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
        ops::read_path(&self.env, self.layout, key, path).await
    }

    /// Sets the value at a plain `path`, in one request that also advances
    /// the object's revision; the value is encrypted if its path is.
    ///
    /// # Errors
    ///
    /// `InvalidPath` (wildcards, a path that is or holds a shard, a parent
    /// that does not exist), `NotFound`, `MissingShard`.
    pub async fn write_path(&self, key: &str, path: &str, value: Value) -> Result<()> {
        ops::write_path(&self.env, self.layout, key, path, value, None).await.map(drop)
    }

    /// As [`write_path`](Self::write_path), only if nobody wrote the object
    /// since it was read as `read`: the request is conditioned on the
    /// revision read (optimistic locking on one path). Returns the new
    /// revision, for a next versioned call.
    ///
    /// # Errors
    ///
    /// `Conflict` if the object was written since (nothing is changed), and
    /// those of [`write_path`](Self::write_path).
    pub async fn write_path_versioned<T>(&self, read: &Versioned<T>, path: &str, value: Value) -> Result<String> {
        ops::write_path(&self.env, self.layout, &read.key, path, value, Some(&read.revision)).await
    }

    /// Deletes the object read as `read` (and all its shards), only if
    /// nobody wrote it since: one GetItem of the root's metadata, then one
    /// TransactWriteItems guarded by the revision.
    ///
    /// # Errors
    ///
    /// `Conflict` if the object was written since it was read (nothing is
    /// deleted); `NotFound` if it is gone.
    pub async fn delete_versioned<T>(&self, read: &Versioned<T>) -> Result<()> {
        ops::delete(&self.env, self.layout, &read.key, Some(&read.revision)).await
    }

    /// Upgrades the object keyed `key`, written by dynamo-store 0.6, to
    /// format 1 in place under this layout and its encryption rules: one
    /// transaction writes the format-1 items and deletes every legacy shard
    /// item, on the condition that the legacy root is still as read (the
    /// package rewrites it on every write, so a concurrent writer makes
    /// this a `Conflict`, never an overwrite). The document is stored as
    /// read (the class API's wrappers included; the typed
    /// [`Client::upgrade`](crate::Client::upgrade) unwraps them).
    ///
    /// Requests: one BatchGetItem of the root (and of the record a crashed
    /// staged upgrade may have left), one BatchGetItem per level of shards,
    /// one TransactWriteItems. An object in format 1 already is left
    /// alone: [`Upgrade::AlreadyCurrent`](crate::Upgrade::AlreadyCurrent).
    ///
    /// An upgrade past one transaction (100 items or 4 MB) is staged: a
    /// record of the new items first (an item keyed `<key>#$upgrade`), the
    /// new shard items under keys carrying the attempt's write id, then the
    /// root with the record's delete and as many legacy deletes as fit,
    /// then the rest of the legacy items (recorded in the root until
    /// deleted). The legacy object reads as it was until the root switches;
    /// after a crash, running the upgrade again finishes the job and
    /// deletes what the crashed attempt wrote. `docs/FORMAT.md` gives the
    /// sequence.
    ///
    /// # Errors
    ///
    /// `NotFound`; `Conflict` if the object was written meanwhile; the
    /// errors of a legacy read (keys, ciphertexts, missing shard items).
    pub async fn upgrade(&self, key: &str) -> Result<ops::Upgrade> {
        ops::upgrade(&self.env, self.layout, key, |body| Ok(Value::Object(body))).await
    }

    /// Sweeps this layout's tables, as a `dystore verify`-style check after
    /// crashes: finishes every cleanup a crash left recorded (items a
    /// staged save, delete or upgrade still owes deleting, tombstones,
    /// records of crashed upgrades), then reports shard and chunk items no
    /// root names or records (deleting them too with `delete_orphans`,
    /// each only while it is still the item scanned).
    ///
    /// Requests: a Scan of every table of the layout, page by page (memory
    /// grows with the table: it is a maintenance call), one GetItem per
    /// shard or chunk item to check its root, and the cleanup's deletes.
    ///
    /// # Errors
    ///
    /// The errors of a Scan (`TableNotFound`, ...); failures on single
    /// objects are in the report, and the sweep goes on past them.
    pub async fn sweep(&self, delete_orphans: bool) -> Result<ops::SweepReport> {
        ops::sweep(&self.env, self.layout, delete_orphans).await
    }

    /// Upgrades every object of this layout's root table, as
    /// [`upgrade`](Self::upgrade) does one, scanning the table page by page
    /// and going on past objects that fail (reported with their key and
    /// error). Objects in format 1 already are counted and left alone, so
    /// a run can be repeated until nothing fails.
    ///
    /// # Errors
    ///
    /// An invalid layout, or a failure of the scan itself; failures of
    /// single objects are in the report.
    pub async fn upgrade_table(&self) -> Result<ops::UpgradeReport> {
        ops::upgrade_table(&self.env, self.layout).await
    }

    /// Deletes the object and all its shards in one transaction (two
    /// requests with list shards).
    ///
    /// # Errors
    ///
    /// `NotFound` if no object has this key.
    pub async fn delete(&self, key: &str) -> Result<()> {
        ops::delete(&self.env, self.layout, key, None).await
    }
}
