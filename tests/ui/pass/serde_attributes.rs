//! serde attributes that do not affect sharding are accepted.
use dystore::DyObject;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Notes", key = "NID")]
#[serde(rename_all(serialize = "camelCase", deserialize = "camelCase"), deny_unknown_fields)]
struct Note {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    title_text: String,
    #[serde(skip)]
    cached_len: usize,
    #[serde(alias = "body", with = "plain")]
    #[dystore(encrypt)]
    body_text: String,
    // flatten is fine in a struct without shards.
    #[serde(flatten)]
    extra: BTreeMap<String, String>,
}

mod plain {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        String::deserialize(deserializer)
    }
}

fn main() {
    assert_eq!(Note::layout().encrypt[0].path, "$.bodyText");
    let _ = Note { title_text: String::new(), cached_len: 0, body_text: String::new(), extra: BTreeMap::new() }.cached_len;
}
