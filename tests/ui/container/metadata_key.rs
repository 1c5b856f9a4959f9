use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "__dystore_meta__")]
struct Person {
    name: String,
}

fn main() {}
