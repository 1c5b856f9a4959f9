use dystore::DyObject;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
    boxed: Box<Card>,
    by_name: HashMap<String, Card>,
    pair: (Card, u8),
    one: [Card; 1],
    deep: Option<Vec<Option<Card>>>,
}

fn main() {}
