use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Envelopes", key = "ID")]
struct Envelope<T> {
    body: T,
}

fn main() {}
