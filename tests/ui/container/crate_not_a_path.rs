use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID", crate = "not a path")]
struct Person {
    name: String,
}

fn main() {}
