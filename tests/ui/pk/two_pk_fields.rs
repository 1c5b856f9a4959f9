use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
struct Person {
    #[dystore(pk)]
    id: String,
    #[dystore(pk)]
    email: String,
}

fn main() {}
