use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
struct Person {
    #[dystore(shard)]
    #[serde(flatten)]
    location: Location,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Locations", key = "IDX")]
struct Location {
    city: String,
}

fn main() {}
