use dystore::DyObject;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
struct Person {
    #[dystore(shard)]
    location: Location,
    #[serde(flatten)]
    extra: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Locations", key = "IDX")]
struct Location {
    city: String,
}

fn main() {}
