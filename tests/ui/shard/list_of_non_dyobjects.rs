use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
struct Person {
    #[dystore(shard)]
    locales: Vec<String>,
}

fn main() {}
