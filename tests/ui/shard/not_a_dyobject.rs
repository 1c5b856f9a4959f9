use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
struct Person {
    #[dystore(shard)]
    location: Location,
}

#[derive(Serialize, Deserialize)]
struct Location {
    city: String,
}

fn main() {}
