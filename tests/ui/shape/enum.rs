use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
enum Person {
    Named { name: String },
}

fn main() {}
