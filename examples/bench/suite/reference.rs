//! The reference object: the people layout of tests/common (a root
//! and three shards: location, its geolocation, birth details, so four
//! items) with six leaves encrypted by a [`Keyring`], and its five
//! operations measured three ways:
//!
//! - **dystore**: `write_with_key`, `read`, `read_path`, `write_path`,
//!   `delete` through an [`Objects`](dystore::Objects) handle;
//! - **replay**: the very requests dystore sent for that operation
//!   (recorded once by a [`Recorder`]) sent again through `db.backend()`,
//!   so the engine does the same work and dystore's own CPU is the
//!   difference;
//! - **floor**: the same items put and got with one hand-written request
//!   per operation, in the engine's own types and without dystore in the
//!   way (`suite::floor`), as an application writing against the engine by
//!   hand would send them: a TransactWriteItems of the four stored items
//!   (no conditions), a BatchGetItem of their keys, a GetItem projecting
//!   `city`, an UpdateItem of `city`, a TransactWriteItems of four deletes.
//!
//! Requests are built before the clock starts; only sending them (and,
//! for dystore, everything the call does) is timed.

use super::Result;
use super::floor::Engine;
use async_trait::async_trait;
use dystore::backend::{Backend, BackendError, BatchGetOutput, Expr, Get, Item, Page, Query, Scan, TableInfo, TableKeys, Write};
use dystore::{Client, Key, Keyring, PathPattern, Store};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The attribute holding dystore's metadata (format version, write id,
/// revision), which differs from save to save.
const META: &str = "__dystore_meta__";

/// The path `read_path` and `write_path` use: an encrypted leaf in the
/// `Locations` shard.
pub(crate) const PATH: &str = "$.location.city";

/// The leaves the keyring encrypts (6 of the document's 9).
pub(crate) const ENCRYPTED: [&str; 6] =
    ["$.firstname", "$.lastname", "$.location.city", "$.location.geolocation.lat", "$.location.geolocation.lng", "$.birth_details.dob"];

/// The five operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Save,
    Load,
    ReadPath,
    WritePath,
    Delete,
}

impl Op {
    /// In the order of one cycle, which leaves the object absent again.
    pub(crate) const ALL: [Op; 5] = [Op::Save, Op::Load, Op::ReadPath, Op::WritePath, Op::Delete];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Save => "save",
            Op::Load => "load",
            Op::ReadPath => "read_path",
            Op::WritePath => "write_path",
            Op::Delete => "delete",
        }
    }

    /// Requests the operation costs on this layout, by docs/FORMAT.md
    /// ("Round trips"): one each.
    pub(crate) fn promised_requests(self) -> u32 {
        1
    }

    /// The DynamoDB request dystore sends for it on this layout.
    pub(crate) fn promised_request(self) -> &'static str {
        match self {
            Op::Save | Op::WritePath | Op::Delete => "TransactWriteItems",
            Op::Load => "BatchGetItem",
            Op::ReadPath => "GetItem",
        }
    }
}

/// Who sends the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Dystore,
    Replay,
    Floor,
}

impl Side {
    pub(crate) const ALL: [Side; 3] = [Side::Dystore, Side::Replay, Side::Floor];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Dystore => "dystore",
            Side::Replay => "replay",
            Side::Floor => "floor",
        }
    }
}

/// The reference layout, in tables whose names end in `suffix`.
pub(crate) fn store(suffix: &str) -> Store {
    Store::new(format!("People{suffix}"), "ID")
        .shard(
            Store::new(format!("Locations{suffix}"), "IDX")
                .at("$.location")
                .shard(Store::new(format!("Geo{suffix}"), "GID").at("$.geolocation")),
        )
        .shard(Store::new(format!("Births{suffix}"), "BID").at("$.birth_details"))
}

/// The reference document (tests/common's `person()`).
pub(crate) fn person() -> Value {
    json!({
        "firstname": "Ada",
        "lastname": "Lovelace",
        "location": {
            "city": "London",
            "country": "UK",
            "geolocation": {"lat": 51.5072, "lng": -0.1276}
        },
        "birth_details": {"hospital": "Home", "dob": "1815-12-10", "weight": 3.1}
    })
}

/// One key, `k1`, and a rule per encrypted leaf.
pub(crate) fn keyring() -> Keyring {
    let ring = Keyring::new().with_key("k1", Key::new([0x42u8; 32]).expect("a 32-byte key"));
    ENCRYPTED.iter().fold(ring, |ring, path| ring.rule(PathPattern::exact(path).expect("a path"), "k1"))
}

/// A request as dystore sent it.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Get(Get),
    BatchGet(Vec<TableKeys>),
    Write(Write),
    Transact(Vec<Write>),
}

impl Request {
    /// Sends it again through `backend`.
    pub(crate) async fn send(self, backend: &dyn Backend) -> Result<(), BackendError> {
        match self {
            Request::Get(get) => backend.get(get).await.map(drop),
            Request::BatchGet(keys) => backend.batch_get(keys).await.map(drop),
            Request::Write(write) => backend.write(write).await,
            Request::Transact(writes) => backend.transact_write(writes).await,
        }
    }

    /// The DynamoDB operation's name.
    pub(crate) fn op(&self) -> &'static str {
        match self {
            Request::Get(_) => "GetItem",
            Request::BatchGet(_) => "BatchGetItem",
            Request::Write(Write::Put { .. }) => "PutItem",
            Request::Write(Write::Update { .. }) => "UpdateItem",
            Request::Write(_) => "DeleteItem",
            Request::Transact(_) => "TransactWriteItems",
        }
    }
}

/// A backend decorator that records the item requests it forwards to a
/// client's backend.
#[derive(Clone)]
pub(crate) struct Recorder {
    inner: Client,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Recorder {
    pub(crate) fn new(inner: Client) -> Self {
        Recorder { inner, log: Arc::default() }
    }

    fn record(&self, request: Request) {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).push(request);
    }

    pub(crate) fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl Backend for Recorder {
    fn may_fail_transiently(&self) -> bool {
        self.inner.backend().may_fail_transiently()
    }

    async fn get(&self, get: Get) -> Result<Option<Item>, BackendError> {
        self.record(Request::Get(get.clone()));
        self.inner.backend().get(get).await
    }
    async fn batch_get(&self, keys: Vec<TableKeys>) -> Result<BatchGetOutput, BackendError> {
        self.record(Request::BatchGet(keys.clone()));
        self.inner.backend().batch_get(keys).await
    }
    async fn write(&self, write: Write) -> Result<(), BackendError> {
        self.record(Request::Write(write.clone()));
        self.inner.backend().write(write).await
    }
    async fn transact_write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        self.record(Request::Transact(writes.clone()));
        self.inner.backend().transact_write(writes).await
    }
    async fn transact_get(&self, gets: Vec<Get>) -> Result<Vec<Option<Item>>, BackendError> {
        self.inner.backend().transact_get(gets).await
    }
    async fn query(&self, query: Query) -> Result<Page, BackendError> {
        self.inner.backend().query(query).await
    }
    async fn scan(&self, scan: Scan) -> Result<Page, BackendError> {
        self.inner.backend().scan(scan).await
    }
    async fn create_table(&self, table: &str, key: &str) -> Result<(), BackendError> {
        self.inner.backend().create_table(table, key).await
    }
    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, BackendError> {
        self.inner.backend().describe_table(table).await
    }
}

/// The stored items of one object, by table: what the floor puts and gets.
#[derive(Debug, Clone)]
struct Stored {
    /// (table, key attribute, item as stored), root first.
    items: Vec<(String, String, Item)>,
    /// The `Locations` item's key and the ciphertext of `city` in it.
    location: (String, Item, AttributeValue),
}

/// The reference object under one key, ready to be measured three ways.
pub(crate) struct Bench {
    /// The client measured (the loader is the reference keyring).
    pub(crate) db: Client,
    /// The same engine without dystore, for the floor.
    engine: Engine,
    pub(crate) store: Store,
    pub(crate) key: String,
    doc: Value,
    /// dystore's requests, per operation in [`Op::ALL`] order.
    pub(crate) recorded: Vec<Vec<Request>>,
    stored: Stored,
}

impl Bench {
    /// Creates the reference tables (names ending in `suffix`) on `db` and
    /// prepares the object keyed `key`.
    pub(crate) async fn new((db, engine): (Client, Engine), suffix: &str, key: &str) -> Result<Bench> {
        let store = store(suffix);
        db.store(&store).create_tables().await?;
        Bench::on_tables(db, engine, store, key).await
    }

    /// Prepares the object keyed `key` in existing tables: records one
    /// cycle of dystore's requests and reads the items it stores. The
    /// object is absent afterwards.
    ///
    /// The recording client is built over a backend, so it has no region:
    /// over the network its shard references lack the `region` that the
    /// measured client (aws-config's) writes, and the replayed requests are
    /// that much smaller (about 20 bytes per reference). The floor's items
    /// are read after a save by the measured client, so they are exactly
    /// what it stores.
    pub(crate) async fn on_tables(db: Client, engine: Engine, store: Store, key: &str) -> Result<Bench> {
        let db = db.with_loader(keyring());
        let recorder = Recorder::new(db.clone());
        let recording = Client::new(recorder.clone()).with_loader(keyring());
        let doc = person();
        db.store(&store).write_with_key(key, doc.clone()).await?;
        let stored = read_stored(&db, &store, key).await?;
        db.store(&store).delete(key).await?;
        let objects = recording.store(&store);
        let mut recorded = Vec::new();
        for op in Op::ALL {
            match op {
                Op::Save => objects.write_with_key(key, doc.clone()).await?,
                Op::Load => drop(objects.read(key).await?),
                Op::ReadPath => drop(objects.read_path(key, PATH).await?),
                Op::WritePath => objects.write_path(key, PATH, json!("Paris")).await?,
                Op::Delete => objects.delete(key).await?,
            }
            recorded.push(recorder.take());
        }
        Ok(Bench { db, engine, store, key: key.to_owned(), doc, recorded, stored })
    }

    /// Runs `op` as `side` and returns how long its requests took (the
    /// requests are built before the clock starts). Ops must come in
    /// [`Op::ALL`]'s order: each leaves the state the next needs.
    pub(crate) async fn run(&self, side: Side, op: Op) -> Result<Duration> {
        match side {
            Side::Dystore => self.dystore(op).await,
            Side::Replay => {
                let requests = self.recorded[Op::ALL.iter().position(|o| *o == op).expect("an op")].clone();
                let started = Instant::now();
                for request in requests {
                    request.send(self.db.backend()).await?;
                }
                Ok(started.elapsed())
            }
            Side::Floor => {
                let request = self.engine.prepare(self.floor(op))?;
                let started = Instant::now();
                let reply = self.engine.send(request).await?;
                let elapsed = started.elapsed();
                drop(reply);
                Ok(elapsed)
            }
        }
    }

    /// Checks that the floor and dystore store and read the same things:
    /// the floor's save is read back by dystore as the reference document,
    /// the floor's load after dystore's save returns the four items as
    /// dystore stores them (metadata and ciphertexts aside: each save draws
    /// a new write id and new IVs), the floor's GetItem returns a
    /// ciphertext of the city, dystore reads the city the floor's
    /// UpdateItem writes, and the floor's delete leaves nothing to read.
    /// Leaves the object absent.
    pub(crate) async fn check(&self) -> Result<()> {
        let objects = self.db.store(&self.store);
        self.floor_reply(Op::Save).await?;
        let read = objects.read(&self.key).await?;
        if !same_json(&read, &self.doc) {
            return Err(format!("dystore reads the floor's items as {read}, not the reference document").into());
        }
        if objects.read_path(&self.key, PATH).await? != vec![json!("London")] {
            return Err("dystore's read_path of the floor's items is not London".into());
        }
        objects.write_with_key(&self.key, self.doc.clone()).await?;
        let got: Vec<Item> = self.floor_reply(Op::Load).await?.into_iter().map(comparable).collect();
        let expected: Vec<Item> = self.stored.items.iter().map(|(_, _, item)| comparable(item.clone())).collect();
        // In any order: a BatchGetItem answers by table.
        if got.len() != expected.len() || !got.iter().all(|item| expected.contains(item)) {
            return Err(format!("the floor's load returned {got:?}, dystore stored {expected:?}").into());
        }
        // A ciphertext of the same length (its IV is fresh).
        let city = self.floor_reply(Op::ReadPath).await?;
        let same_length =
            |v: &AttributeValue| matches!((v, &self.stored.location.2), (AttributeValue::B(a), AttributeValue::B(b)) if a.len() == b.len());
        if city.len() != 1 || city[0].len() != 1 || !city[0].get("city").is_some_and(same_length) {
            return Err(format!("the floor's GetItem returned {city:?}").into());
        }
        self.floor_reply(Op::WritePath).await?;
        if objects.read_path(&self.key, PATH).await? != vec![json!("London")] {
            return Err("dystore's read_path after the floor's UpdateItem is not London".into());
        }
        self.floor_reply(Op::Delete).await?;
        match objects.read(&self.key).await {
            Err(e) if e.is_not_found() => {}
            other => return Err(format!("the floor's delete left the object: {other:?}").into()),
        }
        Ok(())
    }

    /// Sends the floor's request of `op`; the items it read.
    async fn floor_reply(&self, op: Op) -> Result<Vec<Item>> {
        Ok(self.engine.send(self.engine.prepare(self.floor(op))?).await?.items())
    }

    async fn dystore(&self, op: Op) -> Result<Duration> {
        let objects = self.db.store(&self.store);
        let key = self.key.as_str();
        Ok(match op {
            Op::Save => {
                let doc = self.doc.clone();
                let started = Instant::now();
                objects.write_with_key(key, doc).await?;
                started.elapsed()
            }
            Op::Load => {
                let started = Instant::now();
                let doc = objects.read(key).await?;
                let elapsed = started.elapsed();
                debug_assert_eq!(doc["location"]["geolocation"]["lat"], json!(51.5072));
                elapsed
            }
            Op::ReadPath => {
                let started = Instant::now();
                let city = objects.read_path(key, PATH).await?;
                let elapsed = started.elapsed();
                debug_assert_eq!(city, vec![json!("London")]);
                elapsed
            }
            Op::WritePath => {
                let value = json!("Paris");
                let started = Instant::now();
                objects.write_path(key, PATH, value).await?;
                started.elapsed()
            }
            Op::Delete => {
                let started = Instant::now();
                objects.delete(key).await?;
                started.elapsed()
            }
        })
    }

    /// The hand-written request of `op` on the stored items.
    fn floor(&self, op: Op) -> Request {
        let items = &self.stored.items;
        let key_of = |name: &str, item: &Item| -> Item { [(name.to_owned(), item[name].clone())].into() };
        let (location_table, location_key, city) = &self.stored.location;
        let city_name: std::collections::HashMap<String, String> = [("#c".to_owned(), "city".to_owned())].into();
        match op {
            Op::Save => Request::Transact(
                items.iter().map(|(table, _, item)| Write::Put { table: table.clone(), item: item.clone(), condition: None }).collect(),
            ),
            Op::Load => Request::BatchGet(
                items
                    .iter()
                    .map(|(table, name, item)| TableKeys { table: table.clone(), keys: vec![key_of(name, item)], consistent: true })
                    .collect(),
            ),
            Op::ReadPath => Request::Get(Get {
                table: location_table.clone(),
                key: location_key.clone(),
                projection: Some(Expr { text: "#c".to_owned(), names: city_name, values: Item::new() }),
                consistent: true,
            }),
            Op::WritePath => Request::Write(Write::Update {
                table: location_table.clone(),
                key: location_key.clone(),
                update: Expr { text: "SET #c = :v".to_owned(), names: city_name, values: [(":v".to_owned(), city.clone())].into() },
                condition: None,
            }),
            Op::Delete => Request::Transact(
                items
                    .iter()
                    .map(|(table, name, item)| Write::Delete { table: table.clone(), key: key_of(name, item), condition: None })
                    .collect(),
            ),
        }
    }
}

/// The four items of the object keyed `key`, read back through the
/// backend exactly as stored (keys by docs/FORMAT.md: `K`, `K#$.location`,
/// `K#$.location.geolocation`, `K#$.birth_details`).
async fn read_stored(db: &Client, store: &Store, key: &str) -> Result<Stored> {
    let root = store.layout();
    let location = &root.shards[0].layout;
    let places = [
        (root, key.to_owned()),
        (location, format!("{key}#$.location")),
        (&location.shards[0].layout, format!("{key}#$.location.geolocation")),
        (&root.shards[1].layout, format!("{key}#$.birth_details")),
    ];
    let mut items = Vec::new();
    for (layout, k) in places {
        let key_item: Item = [(layout.key.to_string(), AttributeValue::S(k.clone()))].into();
        let get = Get { table: layout.table.to_string(), key: key_item, projection: None, consistent: true };
        let item = db.backend().get(get).await?.ok_or_else(|| format!("no item {k} in {}", layout.table))?;
        items.push((layout.table.to_string(), layout.key.to_string(), item));
    }
    let (table, name, item) = &items[1];
    let city = item.get("city").cloned().ok_or("no city in the location item")?;
    let location = (table.clone(), [(name.clone(), item[name].clone())].into(), city);
    Ok(Stored { items, location })
}

/// Whether two documents are equal, numbers compared by value (the engine
/// may give `3.1` back as written or normalised).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w))),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y)),
        _ => a == b,
    }
}

/// An item with what changes from save to save taken out: the metadata,
/// and the bytes of ciphertexts (fresh IVs), kept as empty binaries.
fn comparable(mut item: Item) -> Item {
    item.remove(META);
    item.into_iter()
        .map(|(k, v)| match v {
            AttributeValue::B(_) => (k, AttributeValue::B(Vec::new())),
            AttributeValue::M(m) => (k, AttributeValue::M(comparable(m))),
            v => (k, v),
        })
        .collect()
}
