use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People")]
struct Person {
    #[dystore(pk)]
    id: u64,
    name: String,
}

fn main() {}
