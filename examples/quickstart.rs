//! dystore in one minute, on the embedded engine: no AWS, no Docker, no Java.
//!
//! `cargo run --example quickstart`
//!
//! Stores a nested document across a root table and shard tables, shows
//! which table holds which part, reads it back whole, reads and writes one
//! path, and deletes it — printing the DynamoDB requests each step sent and
//! the read and write capacity units they consumed (the embedded engine
//! computes them by DynamoDB's item-size rules).

use dystore::backend::{Item, Scan};
use dystore::{Client, Store};
use serde_dynamo::AttributeValue;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> dystore::Result<()> {
    let db = Client::memory()?;

    // A person whose location (with its geolocation) and birth details live
    // in tables of their own.
    let people = Store::new("People", "ID")
        .shard(Store::new("Locations", "IDX").at("$.location").shard(Store::new("GeoLocations", "GID").at("$.geolocation")))
        .shard(Store::new("BirthDetails", "BID").at("$.birth_details"));
    let people = db.store(&people);
    people.create_tables().await?;

    let person = json!({
        "firstname": "Ada",
        "lastname": "Lovelace",
        "location": {"city": "London", "country": "UK", "geolocation": {"lat": 51.5072, "lng": -0.1276}},
        "birth_details": {"dob": "1815-12-10", "hospital": "Home"}
    });
    let (key, cost) = db.measure(people.write(person.clone())).await;
    let key = key?;
    println!("saved {key} in {}\n", described(&cost));

    println!("which table holds which part:");
    for (table, key_name) in [("People", "ID"), ("Locations", "IDX"), ("GeoLocations", "GID"), ("BirthDetails", "BID")] {
        let page = db
            .backend()
            .scan(Scan { table: table.into(), ..Default::default() })
            .await
            .map_err(|e| dystore::Error::new(dystore::ErrorKind::Backend, "scan failed").with_source(e))?;
        for item in page.items {
            println!("  {table:<13} {}", describe(&item, key_name));
        }
    }

    let (back, cost) = db.measure(people.read(&key)).await;
    let back = back?;
    assert_eq!(back, person);
    println!("\nread back whole in {}:\n  {back}", described(&cost));

    let (city, cost) = db.measure(people.read_path(&key, "$.location.city")).await;
    println!("\nread_path $.location.city -> {:?} in {}", city?, described(&cost));

    let (written, cost) = db.measure(people.write_path(&key, "$.location.city", json!("Tokyo"))).await;
    written?;
    println!("write_path $.location.city = \"Tokyo\" in {}", described(&cost));
    println!("  now: {}", people.read(&key).await?["location"]);

    let (deleted, cost) = db.measure(people.delete(&key)).await;
    deleted?;
    println!("\ndeleted root and shards in {}", described(&cost));
    let gone = people.read(&key).await.unwrap_err();
    println!("  reading it again: {gone}");
    println!("\nthis client in all: {}", described(&db.usage()));
    Ok(())
}

/// `1 request (8 WCU)`: requests sent and capacity units consumed.
fn described(cost: &dystore::usage::Usage) -> String {
    let plural = if cost.requests == 1 { "" } else { "s" };
    format!("{} request{plural} ({})", cost.requests, cost.consumed)
}

/// An item's key and its other attribute names, without the metadata.
fn describe(item: &Item, key_name: &str) -> String {
    let key = match item.get(key_name) {
        Some(AttributeValue::S(k)) => k.as_str(),
        _ => "?",
    };
    let mut names: Vec<&str> = item.keys().map(String::as_str).filter(|n| *n != "__dystore_meta__" && *n != key_name).collect();
    names.sort_unstable();
    format!("{key_name}={key:<45} {}", names.join(", "))
}
