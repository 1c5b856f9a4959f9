use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Cards", key = "CID")]
struct Card {
    #[dystore(encrypt)]
    number: String,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
struct Person {
    name: String,
    card: Card,
    cards: Vec<Card>,
    #[serde(flatten)]
    flat: Card,
}

fn main() {}
