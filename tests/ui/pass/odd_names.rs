// Serialized names that need JSONPath's quoted form are ordinary fields,
// encrypted fields and shards.
use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
struct Person {
    #[serde(rename = "first name")]
    #[dystore(encrypt)]
    first_name: String,
    #[serde(rename = "e.mail")]
    #[dystore(encrypt = "contact")]
    email: String,
    #[serde(rename = "städte")]
    #[dystore(shard)]
    cities: Vec<City>,
    #[serde(rename = "it's \\ [0] $ * @ 😀")]
    odd: String,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Cities", key = "CID")]
struct City {
    #[serde(rename = "名前")]
    #[dystore(encrypt)]
    name: String,
}

fn main() {
    let rules = Person::layout().encrypt.iter().map(|r| r.path.as_ref()).collect::<Vec<_>>();
    assert_eq!(rules, ["$['first name']", "$['e.mail']"]);
    assert_eq!(Person::layout().shards[0].path, "$['städte'][*]");
    dystore::Layout::validate(Person::layout()).unwrap();
}
