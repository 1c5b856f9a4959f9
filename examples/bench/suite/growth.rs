//! How save and load grow: with the number of shards (each holding one
//! 100-byte leaf; 150 is past one transaction, so that save is staged)
//! and with the size of the leaves (a root and three shards, one leaf
//! each, in clear and encrypted; 400 KiB leaves go to chunk items). Beside
//! dystore's times, its requests replayed through its backend, so growth in
//! the engine and growth in dystore can be told apart. A staged save
//! replays too: its first request reads the absent root, and its writes
//! meet the same state each time (the object deleted between replays).

use super::reference::{Recorder, Request};
use super::stats::{Samples, fmt};
use super::{Out, Result};
use dystore::{Client, Key, Keyring, PathPattern, Store};
use serde_json::{Map, Value, json};
use std::time::Instant;

/// One point of a curve.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) shards: usize,
    pub(crate) leaf: usize,
    pub(crate) encrypted: bool,
    pub(crate) save_requests: u32,
    pub(crate) load_requests: u32,
    pub(crate) save: Samples,
    pub(crate) load: Samples,
    /// The recorded save and load sent again.
    pub(crate) save_replay: Samples,
    pub(crate) load_replay: Samples,
    /// Write capacity units a save consumed (as the engine reports them,
    /// by DynamoDB's rules), all tables and the root's table alone.
    pub(crate) save_units: f64,
    pub(crate) save_root_units: f64,
    /// Read capacity units a load consumed.
    pub(crate) load_units: f64,
}

/// The default curves.
pub(crate) const SHARDS: [usize; 4] = [1, 10, 50, 150];
/// The last, 400 KiB, is over what an item holds with its key and metadata: it goes to chunk items.
pub(crate) const LEAVES: [usize; 6] = [100, 1_000, 10_000, 100_000, 250_000, 400 * 1024];

/// The layout of a point: a root and `shards` shards in one shard table.
fn layout(shards: usize) -> Store {
    let suffix = format!("_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    (0..shards).fold(Store::new(format!("Grow{suffix}"), "ID"), |store, i| {
        store.shard(Store::new(format!("GrowShards{suffix}"), "SID").at(format!("$.s{i:03}")))
    })
}

/// Saves and loads an object of `shards` shards with one `leaf`-byte
/// string each, `iterations` times (each under a fresh key, deleted after
/// untimed, so every save is a first save), then replays the first
/// iteration's requests as many times.
pub(crate) async fn point(db: &Client, shards: usize, leaf: usize, encrypted: bool, iterations: usize) -> Result<Point> {
    let iterations = iterations.max(1);
    let store = layout(shards);
    let mut ring = Keyring::new().with_key("k1", Key::new([3u8; 32])?);
    if encrypted {
        ring = ring.rule(PathPattern::regex(r"^\$\.s[0-9]+\.leaf$")?, "k1");
    }
    let db = db.clone().with_loader(ring.clone());
    let recorder = Recorder::new(db.clone());
    let recording = Client::new(recorder.clone()).with_loader(ring);
    db.store(&store).create_tables().await?;
    let doc: Map<String, Value> = (0..shards).map(|i| (format!("s{i:03}"), json!({"leaf": "x".repeat(leaf)}))).collect();
    let doc = Value::Object(doc);
    let mut point = Point {
        shards,
        leaf,
        encrypted,
        save_requests: 0,
        load_requests: 0,
        save: Samples::default(),
        load: Samples::default(),
        save_replay: Samples::default(),
        load_replay: Samples::default(),
        save_units: 0.0,
        save_root_units: 0.0,
        load_units: 0.0,
    };
    let mut recorded: Option<(Vec<Request>, Vec<Request>)> = None;
    for i in 0..iterations + 1 {
        // The first iteration warms up and records the requests.
        let client = if i == 0 { &recording } else { &db };
        let objects = client.store(&store);
        let key = format!("g{i}");
        let input = doc.clone();
        let started = Instant::now();
        let (saved, save_usage) = db.measure(objects.write_with_key(&key, input)).await;
        let save = started.elapsed();
        saved?;
        let save_requests = recorder.take();
        let started = Instant::now();
        let (loaded, load_usage) = db.measure(objects.read(&key)).await;
        let load = started.elapsed();
        if loaded? != doc {
            return Err(format!("{shards} shards of {leaf} bytes did not read back as written").into());
        }
        let load_requests = recorder.take();
        db.store(&store).delete(&key).await?;
        if i == 0 {
            recorded = Some((save_requests, load_requests));
            continue;
        }
        // Counted on the client measured (the recording one's requests
        // pass through two meters).
        (point.save_requests, point.load_requests) = (save_usage.requests, load_usage.requests);
        point.save_units = save_usage.consumed.total().write;
        point.save_root_units = save_usage.consumed.table(&store.layout().table).write;
        point.load_units = load_usage.consumed.total().read;
        point.save.push(save);
        point.load.push(load);
    }
    if let Some((save, load)) = recorded {
        for _ in 0..iterations {
            point.save_replay.push(replay(&db, &save).await?);
            point.load_replay.push(replay(&db, &load).await?);
            db.store(&store).delete("g0").await?;
        }
    }
    Ok(point)
}

/// Sends `requests` again; how long they took.
async fn replay(db: &Client, requests: &[Request]) -> Result<std::time::Duration> {
    let requests = requests.to_vec();
    let started = Instant::now();
    for request in requests {
        request.send(db.backend()).await?;
    }
    Ok(started.elapsed())
}

/// Prints a curve; `per` says what each point's time is divided by.
pub(crate) fn print(out: &mut Out, title: &str, points: &[Point], per: impl Fn(&Point) -> (f64, &'static str)) {
    say!(out, "\n## growth: {title}");
    say!(
        out,
        "{:>6} {:>8} {:>4} {:>4} {:>10} {:>10} {:>4} {:>10} {:>10} {:>16} {:>7} {:>15} {:>7}",
        "shards",
        "leaf B",
        "enc",
        "req",
        "save p50",
        "replay",
        "req",
        "load p50",
        "replay",
        "save+load/unit",
        "own",
        "WCU save (root)",
        "RCU load"
    );
    for p in points {
        let (units, unit) = per(p);
        let both = p.save.median() + p.load.median();
        let replayed = p.save_replay.median() + p.load_replay.median();
        let per_unit = both.as_secs_f64() * 1e6 / units;
        let own = if p.save_replay.len() == 0 {
            "-".to_owned()
        } else {
            format!("{:.0}%", 100.0 * (1.0 - replayed.as_secs_f64() / both.as_secs_f64()))
        };
        let or_dash = |s: &Samples| if s.len() == 0 { "-".to_owned() } else { fmt(s.median()) };
        say!(
            out,
            "{:>6} {:>8} {:>4} {:>4} {:>10} {:>10} {:>4} {:>10} {:>10} {:>10.2} µs/{unit:<5} {:>6} {:>15} {:>7}",
            p.shards,
            p.leaf,
            if p.encrypted { "yes" } else { "no" },
            p.save_requests,
            fmt(p.save.median()),
            or_dash(&p.save_replay),
            p.load_requests,
            fmt(p.load.median()),
            or_dash(&p.load_replay),
            per_unit,
            own,
            format!("{} ({})", p.save_units, p.save_root_units),
            p.load_units
        );
    }
    say!(out, "req: requests per operation; replay: dystore's recorded requests sent again through its backend;");
    say!(out, "own: 1 - replay/dystore (save + load); save+load/unit: both medians over the shards or the kB of leaves;");
    say!(out, "WCU save (root): write capacity units of one save, all tables (the root's table); RCU load: read units of one load,");
    say!(out, "as the engine reports them by DynamoDB's rules (ReturnConsumedCapacity).");
}
