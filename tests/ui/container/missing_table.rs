use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(key = "ID")]
struct Person {
    name: String,
}

fn main() {}
