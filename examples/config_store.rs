//! A configuration store, after the Python package dynamodb-config-store:
//! named stores of options (`prod`, `test`) in one DynamoDB table, set and
//! read one, several or all at a time, and a cached reader for services
//! that read options often and can take a change a little late. On the
//! embedded engine.
//!
//! `cargo run --example config_store`
//!
//! # Design
//!
//! An option holds keys and values (`db`: `{"host": ..., "port": ...}`),
//! as in the package. Each option is one object, keyed `<store>/<option>`
//! (`prod/db`): the package keys its table by store (partition key
//! `_store`) and option (sort key `_option`), and a dystore table has one
//! string key, so the two are joined, and a store name may not hold a `/`.
//! One object per option, rather than one per store, keeps a `set` to one
//! small write that never races a write of another option, and lets
//! `get_many` and `all` read options in batches (`read_many`: one
//! BatchGetItem per 100 options). `all` finds a store's options by a Scan
//! of the table's keys (`keys`): with no sort key there is no Query by
//! store, so it reads the keys of every store in the table. That suits a
//! configuration table of some thousands of options; give a store with more
//! a table of its own.
//!
//! The table is created if missing, and its key schema checked if not: a
//! table keyed otherwise is refused with `SchemaMismatch`, saying what was
//! expected and found, before any option is read or written.
//!
//! `Cached` keeps a store's options in memory and reads them all again
//! when a read finds them older than its interval, or on demand
//! (`reload`), as the package's time-based config store does (every 5
//! minutes there, 200 ms here).

use dystore::usage::Usage;
use dystore::{Client, Error, ErrorKind, Result, Store};
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The key attribute of a configuration table: `<store>/<option>`.
const KEY: &str = "StoreOption";

/// One named set of options in a table.
#[derive(Debug, Clone)]
pub(crate) struct ConfigStore {
    db: Client,
    table: Store,
    name: String,
}

impl ConfigStore {
    /// The store `name` in `table`: the table is created if missing, and
    /// checked if not.
    ///
    /// # Errors
    ///
    /// `SchemaMismatch` for a table keyed otherwise than by `StoreOption`
    /// alone; `InvalidKey` for a name that is empty or holds a `/`.
    pub(crate) async fn open(db: &Client, table: &str, name: &str) -> Result<Self> {
        if name.is_empty() || name.contains('/') {
            return Err(Error::new(ErrorKind::InvalidKey, format!("a store name is not empty and holds no `/`: `{name}`")));
        }
        let store = ConfigStore { db: db.clone(), table: Store::new(table, KEY), name: name.to_owned() };
        store.objects().create_tables().await?;
        Ok(store)
    }

    fn objects(&self) -> dystore::Objects<'_> {
        self.db.store(&self.table)
    }

    fn key(&self, option: &str) -> String {
        format!("{}/{option}", self.name)
    }

    /// Sets `option` to `keys`, a JSON object of keys and values.
    ///
    /// # Errors
    ///
    /// `InvalidDocument` if `keys` is not an object.
    pub(crate) async fn set(&self, option: &str, keys: Value) -> Result<()> {
        self.objects().write_with_key(&self.key(option), keys).await
    }

    /// Sets several options at once (one TransactWriteItems per 100).
    ///
    /// # Errors
    ///
    /// The first option that could not be written; the others may be.
    pub(crate) async fn set_many<'o>(&self, options: impl IntoIterator<Item = (&'o str, Value)>) -> Result<()> {
        let docs: Vec<(String, Value)> = options.into_iter().map(|(option, keys)| (self.key(option), keys)).collect();
        self.objects().write_many(docs).await.into_iter().collect()
    }

    /// The keys and values of `option`, if it is set.
    ///
    /// # Errors
    ///
    /// Those of a read, but not `NotFound`.
    pub(crate) async fn get(&self, option: &str) -> Result<Option<Value>> {
        match self.objects().read(&self.key(option)).await {
            Ok(keys) => Ok(Some(keys)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Those of `options` that are set, by name.
    ///
    /// # Errors
    ///
    /// The first read that failed otherwise than with `NotFound`.
    pub(crate) async fn get_many(&self, options: &[&str]) -> Result<BTreeMap<String, Value>> {
        let read = self.objects().read_many(options.iter().map(|o| self.key(o))).await;
        let mut found = BTreeMap::new();
        for (option, keys) in options.iter().zip(read) {
            match keys {
                Ok(keys) => {
                    found.insert((*option).to_owned(), keys);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Every option of this store, by name.
    ///
    /// # Errors
    ///
    /// Those of the Scan and the reads.
    pub(crate) async fn all(&self) -> Result<BTreeMap<String, Value>> {
        let prefix = self.key("");
        let keys: Vec<String> = self.objects().keys().try_collect().await?;
        let options: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix(&prefix)).collect();
        self.get_many(&options).await
    }
}

/// A store's options, read all at once and kept for `every`.
#[derive(Debug)]
pub(crate) struct Cached {
    store: ConfigStore,
    every: Duration,
    options: BTreeMap<String, Value>,
    loaded: Instant,
}

impl Cached {
    /// Reads every option of `store`.
    ///
    /// # Errors
    ///
    /// As [`ConfigStore::all`].
    pub(crate) async fn new(store: ConfigStore, every: Duration) -> Result<Self> {
        let options = store.all().await?;
        Ok(Cached { store, every, options, loaded: Instant::now() })
    }

    /// The keys and values of `option`, as last read: read again first if
    /// that was `every` ago or longer.
    ///
    /// # Errors
    ///
    /// As [`ConfigStore::all`], when the options are read again.
    pub(crate) async fn get(&mut self, option: &str) -> Result<Option<&Value>> {
        if self.loaded.elapsed() >= self.every {
            self.reload().await?;
        }
        Ok(self.options.get(option))
    }

    /// Reads every option again, now.
    ///
    /// # Errors
    ///
    /// As [`ConfigStore::all`]; the options kept are then those read before.
    pub(crate) async fn reload(&mut self) -> Result<()> {
        self.options = self.store.all().await?;
        self.loaded = Instant::now();
        Ok(())
    }
}

/// What the demonstration read.
#[derive(Debug)]
pub(crate) struct Report {
    /// `prod`'s `db`, read alone.
    pub(crate) db: Option<Value>,
    /// An option never set, read alone.
    pub(crate) missing: Option<Value>,
    /// `prod`'s `db`, `external-port` and `nothing`, read together.
    pub(crate) many: BTreeMap<String, Value>,
    /// Every option of `prod` and of `test`.
    pub(crate) prod: BTreeMap<String, Value>,
    pub(crate) test: BTreeMap<String, Value>,
    /// What reading every option of `prod` cost.
    pub(crate) all_cost: Usage,
    /// `prod`'s external port through the cache: before a change, just after
    /// it, after `reload`, and after a second change and the interval.
    pub(crate) cached: [Value; 4],
    /// Opening a table keyed `_store`, as the Python package keys its own.
    pub(crate) mismatch: Error,
    pub(crate) usage: Usage,
}

/// The port of an `external-port` option.
async fn port(cached: &mut Cached) -> Result<Value> {
    Ok(cached.get("external-port").await?.map_or(Value::Null, |keys| keys["port"].clone()))
}

/// Sets the package's example configuration, reads it every way, changes
/// it under a cached reader, and opens a table with the wrong key.
pub(crate) async fn run(every: Duration) -> Result<Report> {
    let db = Client::memory()?;
    let prod = ConfigStore::open(&db, "Config", "prod").await?;
    let test = ConfigStore::open(&db, "Config", "test").await?;
    prod.set_many([
        ("db", json!({"host": "db-cluster.com", "port": 27017})),
        ("external-port", json!({"port": 80})),
        ("features", json!({"search": true, "beta": ["export"]})),
    ])
    .await?;
    test.set("db", json!({"host": "localhost", "port": 27017})).await?;
    test.set("external-port", json!({"port": 4000})).await?;

    let db_option = prod.get("db").await?;
    let missing = prod.get("nothing").await?;
    let many = prod.get_many(&["db", "external-port", "nothing"]).await?;
    let (prod_all, all_cost) = db.measure(prod.all()).await;
    let test_all = test.all().await?;

    let mut cached = Cached::new(prod.clone(), every).await?;
    let before = port(&mut cached).await?;
    prod.set("external-port", json!({"port": 8080})).await?;
    let changed = port(&mut cached).await?;
    cached.reload().await?;
    let reloaded = port(&mut cached).await?;
    prod.set("external-port", json!({"port": 443})).await?;
    tokio::time::sleep(every).await;
    let later = port(&mut cached).await?;

    db.backend().create_table("LegacyConfig", "_store").await.map_err(|e| Error::new(ErrorKind::Backend, "create_table").with_source(e))?;
    let mismatch = ConfigStore::open(&db, "LegacyConfig", "prod").await.expect_err("a table keyed `_store` is refused");
    Ok(Report {
        db: db_option,
        missing,
        many,
        prod: prod_all?,
        all_cost,
        test: test_all,
        cached: [before, changed, reloaded, later],
        mismatch,
        usage: db.usage(),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let every = Duration::from_millis(200);
    let r = run(every).await?;
    println!("prod: get db                {}", shown(r.db.as_ref()));
    println!("prod: get nothing           {}", shown(r.missing.as_ref()));
    println!("prod: get_many db, external-port, nothing");
    r.many.iter().for_each(|(option, keys)| println!("  {option:<25} {keys}"));
    println!("prod: all ({} requests, {})", r.all_cost.requests, r.all_cost.consumed);
    r.prod.iter().for_each(|(option, keys)| println!("  {option:<25} {keys}"));
    println!("test: all");
    r.test.iter().for_each(|(option, keys)| println!("  {option:<25} {keys}"));
    let [before, changed, reloaded, later] = &r.cached;
    println!("prod's external port, cached, read again every {every:?}");
    println!("  before a change           {before}");
    println!("  just set to 8080          {changed} (as cached)");
    println!("  after reload()            {reloaded}");
    println!("  set to 443, {:<13} {later}", format!("{every:?} later"));
    println!("a table keyed `_store`      {:?}: {}", r.mismatch.kind(), r.mismatch);
    println!("capacity                    {} requests ({})", r.usage.requests, r.usage.consumed);
    Ok(())
}

fn shown(keys: Option<&Value>) -> String {
    keys.map_or_else(|| "not set".to_owned(), Value::to_string)
}
