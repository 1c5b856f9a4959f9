use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
struct Person {
    #[allow(non_snake_case)]
    ID: String,
    name: String,
}

fn main() {}
