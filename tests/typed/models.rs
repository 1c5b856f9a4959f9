//! The models of `typed.rs`: the Python package's example (dynamo-store
//! 0.6, `fixture_models`) as Rust structs, and the helpers that build them.

use dystore::{DyObject, Key, Keyring};
use serde::{Deserialize, Serialize};

// ---- the Python package's example (dynamo-store 0.6, `fixture_models`) ----

/// `Root`, with an optional shard, encrypted fields and a bound primary key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_Root", key = "ID", region = "us-east-2")]
pub(crate) struct Root {
    #[dystore(pk)]
    pub(crate) id: String,
    #[dystore(encrypt)]
    pub(crate) firstname: String,
    pub(crate) lastname: String,
    /// An encrypted `null` leaf when absent.
    #[dystore(encrypt)]
    pub(crate) nickname: Option<String>,
    pub(crate) visits: u64,
    #[dystore(shard)]
    pub(crate) location: Location,
    #[dystore(shard)]
    pub(crate) birth_details: BirthDetails,
    #[dystore(shard)]
    pub(crate) passport: Option<Passport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_Location", key = "IDX", region = "us-east-2")]
pub(crate) struct Location {
    pub(crate) city: String,
    pub(crate) country: String,
    #[dystore(shard)]
    pub(crate) geolocation: GeoLocation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_GeoLocation", key = "ShardID", region = "us-east-2")]
pub(crate) struct GeoLocation {
    pub(crate) lattitude: f64,
    pub(crate) longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_BirthDetails", key = "ID", region = "us-east-2")]
pub(crate) struct BirthDetails {
    #[dystore(encrypt)]
    pub(crate) dob: String,
    #[dystore(encrypt = "k2")]
    pub(crate) hospital: String,
    pub(crate) weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_Passport", key = "PID")]
pub(crate) struct Passport {
    #[dystore(encrypt)]
    pub(crate) number: String,
    pub(crate) issuer: String,
}

/// `RootMulti`: a list of Location shards, and a field serde skips (the
/// Python package's IGNORE_LIST).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_RootMulti", key = "ID", region = "us-east-2")]
pub(crate) struct RootMulti {
    pub(crate) firstname: String,
    #[dystore(shard)]
    pub(crate) birth_details: BirthDetails,
    #[dystore(shard)]
    pub(crate) locations: Vec<Location>,
    #[serde(skip)]
    pub(crate) address: Option<String>,
}

/// A list of shards without shards of their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_Traveller", key = "ID")]
pub(crate) struct Traveller {
    #[dystore(pk)]
    pub(crate) id: String,
    pub(crate) name: String,
    #[dystore(shard)]
    pub(crate) passports: Vec<Passport>,
}

/// Serde renames: every stored attribute and every path follows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_Renamed", key = "ID")]
#[serde(rename_all = "camelCase")]
pub(crate) struct Renamed {
    #[dystore(pk)]
    pub(crate) record_id: String,
    #[dystore(encrypt)]
    pub(crate) first_name: String,
    #[serde(rename = "SURNAME")]
    pub(crate) last_name: String,
    #[dystore(shard)]
    #[serde(rename = "home")]
    pub(crate) home_location: GeoLocation,
}

pub(crate) fn material(byte: u8, len: usize) -> Key {
    Key::new(vec![byte; len]).unwrap()
}

/// "k1" (AES-256, the default) and "k2" (AES-128, named by `encrypt = "k2"`).
pub(crate) fn keyring() -> Keyring {
    Keyring::new().with_key("k1", material(7, 32)).with_key("k2", material(9, 16)).default_key("k1")
}

pub(crate) fn unique() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn location(city: &str) -> Location {
    Location { city: city.into(), country: "UK".into(), geolocation: GeoLocation { lattitude: 51.5072, longitude: -0.1276 } }
}

pub(crate) fn birth() -> BirthDetails {
    // A whole `f64` is stored as the number 3 and must still load as 3.0.
    BirthDetails { dob: "1815-12-10".into(), hospital: "Piccadilly".into(), weight: 3.0 }
}

pub(crate) fn ada(id: &str) -> Root {
    Root {
        id: id.into(),
        firstname: "Ada".into(),
        lastname: "Lovelace".into(),
        nickname: None,
        visits: u64::MAX,
        location: location("London"),
        birth_details: birth(),
        passport: Some(Passport { number: "P-1815".into(), issuer: "UK".into() }),
    }
}

pub(crate) fn multi(cities: &[&str]) -> RootMulti {
    RootMulti { firstname: "Ada".into(), birth_details: birth(), locations: cities.iter().map(|c| location(c)).collect(), address: None }
}
