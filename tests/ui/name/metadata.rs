use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
struct Person {
    #[serde(rename = "__dystore_meta__")]
    meta: String,
}

fn main() {}
