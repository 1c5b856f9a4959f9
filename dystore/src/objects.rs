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
        ops::operation(&self.env, "create_tables", self.layout, None, true, ops::create_tables(&self.env, self.layout)).await
    }

    /// Writes `doc` as a new object; returns its key (the loader's, else a
    /// UUID v4). One TransactWriteItems request, a PutItem when the object
    /// is one item (two requests if the layout has list shards: the stored
    /// list lengths are read first so that no element of a shorter list
    /// stays behind). The write is unconditional.
    ///
    /// # Errors
    ///
    /// `InvalidDocument` (not an object, a shard holding a non-object, a
    /// field named like the key attribute), `ItemTooLarge` (naming the
    /// table and the largest part; nothing is written), `TableNotFound`,
    /// `InvalidTableName`; `Conflict` only if other writers kept winning
    /// races on the key until the retry deadline (then
    /// [`Error::is_retryable`](crate::Error::is_retryable) is true).
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
        let call = async {
            let mut backoff = crate::backend::Backoff::jittered(self.env.policy);
            loop {
                let read = self.read_versioned(key).await?;
                let value = change(read.value)?;
                let write = Versioned { key: read.key, revision: read.revision, value };
                match self.write_versioned(&write).await {
                    Ok(_) => return Ok(write.value),
                    Err(e) if e.is_conflict() && backoff.again("lost a race to another writer").await => {}
                    Err(e) => return Err(e),
                }
            }
        };
        ops::operation(&self.env, "update", self.layout, Some(key), true, call).await
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
        let call = async {
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
        };
        ops::operation(&self.env, "read_versioned", self.layout, Some(key), false, call).await
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
    /// errors of a legacy read (keys, ciphertexts, missing shard items);
    /// `MissingKey`, naming the table, key and path, before anything is
    /// written, for a value the package stored encrypted that this layout
    /// and the loader would store in clear: an upgrade never decrypts
    /// into storage. Mark such a path, have the loader name a key id for
    /// it, or exempt it (`no_encrypt`) to store it in clear on purpose
    /// (docs/MIGRATING.md, "Upgrade").
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
        ops::operation(&self.env, "sweep", self.layout, None, true, ops::sweep(&self.env, self.layout, delete_orphans)).await
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
        ops::operation(&self.env, "upgrade_table", self.layout, None, true, ops::upgrade_table(&self.env, self.layout)).await
    }

    /// Reads the objects keyed `keys` with their shards, as
    /// [`read`](Self::read) reads one: one answer per key, in the order
    /// given, each the object or the error that object met; never a silent
    /// partial.
    ///
    /// Requests: the roots and the shard items the layout predicts, in
    /// BatchGetItem requests of up to 100 keys (DynamoDB's limit), whole
    /// objects per request; then, in further BatchGetItem requests, what
    /// the roots name that the first read missed (list elements, large
    /// leaves). 1,000 objects without shards take 10 requests. Up to 8
    /// requests are in flight at once; unprocessed keys are retried with
    /// backoff. An object caught mid-save, or named twice, is read again
    /// alone.
    ///
    /// # Errors
    ///
    /// Per object, as [`read`](Self::read) (`NotFound` for a key with no
    /// object); a request that failed fails each object it carried.
    pub async fn read_many<K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Vec<Result<Value>> {
        let keys: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        ops::load_many(&self.env, self.layout, &keys).await.into_iter().map(|loaded| loaded.map(|l| self.finish(l))).collect()
    }

    /// Writes each `(key, doc)` as [`write_with_key`](Self::write_with_key)
    /// writes one (unconditionally, replacing what is stored): one answer
    /// per entry, in the order given. Each object is all-or-nothing.
    ///
    /// Requests: whole objects packed into TransactWriteItems requests of
    /// up to 100 actions and 4 MB (DynamoDB's limits), up to 8 in flight.
    /// Transactions, not BatchWriteItem, because each object's writes carry
    /// a condition on its root (BatchWriteItem takes none) and an object
    /// with shards must be written whole; DynamoDB bills a transactional
    /// write at twice the units of a plain one. 1,000 objects without
    /// shards take 10 requests. Objects that cannot be packed are written
    /// alone, as [`write_with_key`](Self::write_with_key) would: a layout
    /// with list shards, an object past one transaction, one stored in
    /// another shape or owed cleanup (its condition failed).
    ///
    /// # Errors
    ///
    /// Per object, as [`write_with_key`](Self::write_with_key), plus
    /// `InvalidKey` for every entry whose key the call names more than
    /// once (none of them is written).
    pub async fn write_many<K: Into<String>>(&self, docs: impl IntoIterator<Item = (K, Value)>) -> Vec<Result<()>> {
        let docs = docs.into_iter().map(|(k, doc)| (Some(k.into()), doc)).collect();
        ops::save_many(&self.env, self.layout, docs).await.into_iter().map(|saved| saved.map(drop)).collect()
    }

    /// Deletes the objects keyed `keys` and all their shards, as
    /// [`delete`](Self::delete) deletes one: one answer per key, in the
    /// order given; each object all-or-nothing.
    ///
    /// Requests: as [`write_many`](Self::write_many), whole objects packed
    /// into TransactWriteItems requests; a key with no object (its
    /// condition fails) is then tried alone, to say `NotFound`.
    ///
    /// # Errors
    ///
    /// Per object, as [`delete`](Self::delete), plus `InvalidKey` for a key
    /// named more than once.
    pub async fn delete_many<K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Vec<Result<()>> {
        let keys: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        ops::delete_many(&self.env, self.layout, &keys).await
    }

    /// Every object of this layout with its key, as a stream: a Scan of the
    /// root table, a page of up to 100 items at a time, each page's objects
    /// then read as [`read_many`](Self::read_many) reads them. Memory holds
    /// one page, however large the table. Items that are not objects'
    /// roots (shard and chunk items sharing the table, tombstones of
    /// deletes in progress, upgrade records) are skipped. Order is the
    /// Scan's. Objects written during the listing may or may not appear; an
    /// object deleted between the Scan and its read is left out, not an
    /// error.
    ///
    /// Requests: one Scan per page, then the page's BatchGetItem requests
    /// (one for up to 100 objects without shards).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
    /// use futures_util::TryStreamExt;
    /// let db = dystore::Client::memory()?;
    /// let store = dystore::Store::new("Listed", "ID");
    /// let objects = db.store(&store);
    /// objects.create_tables().await?;
    /// objects.write_with_key("a", serde_json::json!({"n": 1})).await?;
    /// objects.write_with_key("b", serde_json::json!({"n": 2})).await?;
    /// let mut all: Vec<(String, serde_json::Value)> = objects.list().try_collect().await?;
    /// all.sort_by(|x, y| x.0.cmp(&y.0));
    /// assert_eq!(all[1], ("b".to_owned(), serde_json::json!({"n": 2})));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An object that cannot be read is an error naming its key (as
    /// [`read`](Self::read)) and the stream goes on; a failed Scan
    /// (`TableNotFound`, throttling past the retry deadline) is the last
    /// item.
    pub fn list(&self) -> impl futures_util::Stream<Item = Result<(String, Value)>> + 'a {
        self.list_segment_of(None)
    }

    /// As [`list`](Self::list), for segment `segment` of `total` of a
    /// parallel Scan (DynamoDB's `Segment` and `TotalSegments`: 0 ≤
    /// `segment` < `total` ≤ 1,000,000), so that several tasks or processes
    /// share a table; together the segments list every object once.
    ///
    /// # Errors
    ///
    /// As [`list`](Self::list); a segment out of range is a `Config`
    /// error, the stream's only item.
    pub fn list_segment(&self, segment: u32, total: u32) -> impl futures_util::Stream<Item = Result<(String, Value)>> + 'a {
        self.list_segment_of(Some((segment, total)))
    }

    fn list_segment_of(&self, segment: Option<(u32, u32)>) -> impl futures_util::Stream<Item = Result<(String, Value)>> + 'a {
        use futures_util::StreamExt;
        let this = *self;
        let refused = segment.and_then(|s| check_segment(self.layout, s).err());
        let listed = match refused {
            Some(_) => None,
            None => {
                Some(ops::objects(self.env, self.layout, segment).map(move |listed| listed.map(|(key, loaded)| (key, this.finish(loaded)))))
            }
        };
        futures_util::stream::iter(refused.map(Err)).chain(futures_util::stream::iter(listed).flatten())
    }

    /// The keys of every object of this layout, as a stream: the Scan of
    /// [`list`](Self::list) without reading the objects (one Scan request
    /// per page of up to 100 items).
    ///
    /// # Errors
    ///
    /// A failed Scan is the last item.
    pub fn keys(&self) -> impl futures_util::Stream<Item = Result<String>> + 'a {
        ops::keys(self.env, self.layout, None)
    }

    /// As [`keys`](Self::keys), for segment `segment` of `total` of a
    /// parallel Scan (see [`list_segment`](Self::list_segment)).
    ///
    /// # Errors
    ///
    /// As [`keys`](Self::keys); a segment out of range is a `Config` error,
    /// the stream's only item.
    pub fn keys_segment(&self, segment: u32, total: u32) -> impl futures_util::Stream<Item = Result<String>> + 'a {
        use futures_util::StreamExt;
        let refused = check_segment(self.layout, (segment, total)).err();
        let listed = refused.is_none().then(|| ops::keys(self.env, self.layout, Some((segment, total))));
        futures_util::stream::iter(refused.map(Err)).chain(futures_util::stream::iter(listed).flatten())
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

/// Refuses a parallel Scan segment DynamoDB would refuse: 0 ≤ `segment` <
/// `total` ≤ 1,000,000 (DynamoDB's limit on `TotalSegments`).
fn check_segment(layout: &Layout, (segment, total): (u32, u32)) -> Result<()> {
    if total == 0 || total > 1_000_000 || segment >= total {
        return Err(crate::Error::new(
            crate::ErrorKind::Config,
            format!("segment {segment} of {total}: a parallel Scan takes 0 <= segment < total <= 1000000"),
        )
        .with_table(layout.table.as_ref()));
    }
    Ok(())
}
