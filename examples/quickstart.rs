//! dystore in one minute, on the embedded engine: no AWS, no Docker, no Java.
//!
//! `cargo run --example quickstart`
//!
//! Stores a nested document across a root table and shard tables, shows
//! which table holds which part, reads it back whole, reads and writes one
//! path, and deletes it — printing the DynamoDB requests each step sent.

use dystore::backend::{Item, Scan};
use dystore::{Client, Store};
use serde_dynamo::AttributeValue;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> dystore::Result<()> {
    let (db, requests) = Client::memory()?.counted();

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
    requests.reset();
    let key = people.write(person.clone()).await?;
    println!("saved {key} in {} request(s)\n", requests.total());

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

    requests.reset();
    let back = people.read(&key).await?;
    assert_eq!(back, person);
    println!("\nread back whole in {} request(s):\n  {back}", requests.total());

    requests.reset();
    let city = people.read_path(&key, "$.location.city").await?;
    println!("\nread_path $.location.city -> {city:?} in {} request(s)", requests.total());

    requests.reset();
    people.write_path(&key, "$.location.city", json!("Tokyo")).await?;
    println!("write_path $.location.city = \"Tokyo\" in {} request(s)", requests.total());
    println!("  now: {}", people.read(&key).await?["location"]);

    requests.reset();
    people.delete(&key).await?;
    println!("\ndeleted root and shards in {} request(s)", requests.total());
    let gone = people.read(&key).await.unwrap_err();
    println!("  reading it again: {gone}");
    Ok(())
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
