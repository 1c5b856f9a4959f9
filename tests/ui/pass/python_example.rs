//! The Python package's example, with every field attribute.
use dystore::{DyObject, Store};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID", region = "us-east-2")]
struct Root {
    #[dystore(pk)]
    id: String,
    #[dystore(encrypt)]
    firstname: String,
    #[dystore(encrypt = "k2")]
    lastname: String,
    #[dystore(no_encrypt)]
    nickname: String,
    #[dystore(shard)]
    location: Location,
    #[dystore(shard)]
    birth: Option<BirthDetails>,
    #[dystore(shard)]
    locales: Vec<Locale>,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Locations", key = "IDX")]
struct Location {
    city: String,
    #[dystore(shard)]
    geo: GeoLocation,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Geo", key = "GID")]
struct GeoLocation {
    lat: f64,
    lng: f64,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Births", key = "BID")]
struct BirthDetails {
    #[dystore(encrypt)]
    hospital: String,
}

// Another table may use the parent's key name.
#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Locales", key = "ID")]
struct Locale {
    language: String,
}

fn main() {
    let store = Store::new("People", "ID")
        .region("us-east-2")
        .shard(Store::new("Locations", "IDX").at("$.location").shard(Store::new("Geo", "GID").at("$.geo")))
        .shard(Store::new("Births", "BID").at("$.birth").encrypt("$.hospital"))
        .shard(Store::new("Locales", "ID").at("$.locales[*]"))
        .encrypt("$.firstname")
        .encrypt_with("$.lastname", "k2")
        .no_encrypt("$.nickname");
    assert_eq!(*Root::layout(), store.into_layout());
    assert_eq!(Root::PK_FIELD, Some("id"));
}
