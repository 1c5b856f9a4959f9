use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID", tabel = "Persons")]
struct Person {
    name: String,
}

fn main() {}
