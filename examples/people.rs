//! The dynamo-store (Python) example, as typed Rust structs, on the embedded
//! engine: no AWS needed.
//!
//! `cargo run --example people`
//!
//! A `Root` person whose location (with its geolocation) and birth details
//! are shards in tables of their own, with the first name and the birth
//! details encrypted. Creates the tables, saves, loads, reads and writes one
//! path, saves under optimistic locking, and deletes — printing what each
//! step did and how many DynamoDB requests it sent.

use dystore::{Client, DyObject, Key, Keyring, PathPattern};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoStoreRootDB", key = "ID", region = "us-east-2")]
struct Root {
    /// The object's key: set it, or leave it empty for a UUID.
    #[dystore(pk)]
    id: String,
    #[dystore(encrypt)]
    firstname: String,
    lastname: String,
    #[dystore(shard)]
    location: Location,
    #[dystore(shard)]
    birth_details: BirthDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoDBShard2", key = "IDX", region = "us-east-2")]
struct Location {
    city: String,
    country: String,
    #[dystore(shard)]
    geolocation: GeoLocation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoStoreShard3Deep", key = "ShardID", region = "us-east-2")]
struct GeoLocation {
    lattitude: f64,
    longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "DynamoStoreShard1", key = "ID", region = "us-east-2")]
struct BirthDetails {
    /// Every leaf below is encrypted (here with the key "medical").
    #[dystore(encrypt = "medical")]
    hospital: String,
    dob: String,
}

/// Demo keys. A real service loads them from its KMS or secret store; they
/// never belong in source code.
fn keyring() -> dystore::Result<Keyring> {
    let keyring = Keyring::new()
        .with_key("people-2025", Key::new([7u8; 32])?)
        .with_key("medical", Key::new([9u8; 32])?)
        // The loader may encrypt paths the struct does not mark, too.
        .rule(PathPattern::exact("$.location.geolocation.lattitude")?, "people-2025")
        .default_key("people-2025");
    keyring.validate()?;
    Ok(keyring)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> dystore::Result<()> {
    let (db, requests) = Client::memory()?.with_loader(keyring()?).counted();

    db.create_tables::<Root>().await?;
    println!("create_tables::<Root>: 4 tables in {} request(s) {:?}", requests.total(), requests.snapshot());

    let ada = Root {
        id: String::new(),
        firstname: "Ada".into(),
        lastname: "Lovelace".into(),
        location: Location {
            city: "London".into(),
            country: "UK".into(),
            geolocation: GeoLocation { lattitude: 51.5072, longitude: -0.1276 },
        },
        birth_details: BirthDetails { hospital: "Piccadilly".into(), dob: "1815-12-10".into() },
    };

    requests.reset();
    let key = db.save_new(&ada).await?;
    step(
        "save",
        &requests,
        format!("root and 3 shards as one transaction, key {key} (save_new: the pk field was empty, a UUID was generated)"),
    );

    requests.reset();
    let loaded: Root = db.load(&key).await?;
    assert_eq!(loaded, Root { id: key.clone(), ..ada.clone() });
    step("load", &requests, format!("{} {} from {}, id filled in", loaded.firstname, loaded.lastname, loaded.location.city));

    let raw = db.objects(Root::layout()).read_raw(&key).await?;
    println!("  stored firstname (encrypted, as tooling sees it): {}", raw["firstname"]);
    println!("  stored lastname (clear): {}", raw["lastname"]);
    println!("  stored lattitude (encrypted by the keyring's rule): {}", raw["location"]["geolocation"]["lattitude"]);

    requests.reset();
    let city = db.read_path::<Root>(&key, "$.location.city").await?;
    step("read_path $.location.city", &requests, format!("{}, from the Location item alone", json!(city)));

    requests.reset();
    db.write_path::<Root>(&key, "$.location.city", json!("Tokyo")).await?;
    step("write_path $.location.city", &requests, "\"Tokyo\", with the root's revision in the same transaction".into());

    requests.reset();
    db.write_path::<Root>(&key, "$.firstname", json!("Augusta Ada")).await?;
    step("write_path $.firstname", &requests, "\"Augusta Ada\", encrypted before it is sent".into());

    // Optimistic locking: a save based on an old read is refused.
    requests.reset();
    let mut mine = db.load_versioned::<Root>(&key).await?;
    step("load_versioned", &requests, format!("revision {}", mine.revision));
    db.write_path::<Root>(&key, "$.lastname", json!("King")).await?;
    println!("  meanwhile someone else sets $.lastname = \"King\"");
    mine.value.birth_details.dob = "1815-12-10T00:00Z".into();
    requests.reset();
    let refused = db.save_versioned(&mine).await.expect_err("the object changed since it was read");
    assert!(refused.is_conflict());
    // The refused transaction, then a read of the root telling a changed
    // revision from items a crashed save left to clean (docs/FORMAT.md).
    step_of("save_versioned (stale)", &requests, 2, format!("refused: {refused}"));

    let mut fresh = db.load_versioned::<Root>(&key).await?;
    fresh.value.birth_details.dob = "1815-12-10T00:00Z".into();
    requests.reset();
    let revision = db.save_versioned(&fresh).await?;
    step("save_versioned (fresh)", &requests, format!("accepted, new revision {revision}"));
    let now: Root = db.load(&key).await?;
    println!("  now: {} {}, {} ({}), born {}", now.firstname, now.lastname, now.location.city, now.location.country, now.birth_details.dob);

    requests.reset();
    db.delete::<Root>(&key).await?;
    step("delete", &requests, "root and every shard in one transaction".into());
    let gone = db.load::<Root>(&key).await.expect_err("deleted");
    assert!(gone.is_not_found());
    println!("  loading it again: {gone}");
    Ok(())
}

/// Prints a step, the requests it sent by operation, and what it did.
fn step(name: &str, requests: &dystore::backend::Requests, what: String) {
    // The round-trip contract (docs/FORMAT.md): every step here but one is one request.
    step_of(name, requests, 1, what);
}

/// As [`step`], for a step that costs `expected` requests.
fn step_of(name: &str, requests: &dystore::backend::Requests, expected: usize, what: String) {
    let ops: Vec<String> = requests.snapshot().into_iter().map(|(op, n)| format!("{n} {op}")).collect();
    println!("{name:<27} {} request(s) ({}): {what}", requests.total(), ops.join(", "));
    assert_eq!(requests.total(), expected, "{name}");
}
