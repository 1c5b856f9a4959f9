use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
#[dystore(table = "Persons")]
struct Person {
    name: String,
}

fn main() {}
