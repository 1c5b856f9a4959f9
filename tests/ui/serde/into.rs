use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone)]
struct Wire {
    social: String,
}

impl From<Person> for Wire {
    fn from(p: Person) -> Wire {
        Wire { social: p.ssn }
    }
}

#[derive(Serialize, Deserialize, Clone, DyObject)]
#[dystore(table = "People", key = "ID")]
#[serde(into = "Wire")]
struct Person {
    #[dystore(encrypt)]
    ssn: String,
}

fn main() {}
