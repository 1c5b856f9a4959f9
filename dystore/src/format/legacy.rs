//! The stored format of the Python package dynamo-store 0.6, read so its
//! users can migrate (`dystore/tests/fixtures/dynamo-store-0.6/FORMAT.md`
//! gives every byte):
//!
//! ```text
//! item       { <key>: "K", ...fields, <shard place>: reference,
//!              "__dystore_meta__": {table_name, region_name, primary_key_name,
//!                                   path: null | "$.<place>", shards: [meta, ...]} }
//! reference  {"primary_key": K, "table_name:": T, "region_name:": R, "modified_utc": "<epoch s>"}
//! ```
//!
//! A shard's place is a JSONPath from the item that holds the reference
//! (`$.location`, `$.locations.value[0]` for a list element); shard keys are
//! random UUIDs, so a reader follows the references level by level. The
//! colons in `table_name:` and `region_name:` really are in the stored names.

use crate::error::{Error, ErrorKind, Result};
use crate::path::{PlainPath, Step, parse_plain_only};
use serde_dynamo::AttributeValue;
use std::collections::HashMap;

/// One shard as a legacy item's metadata records it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegacyShard {
    /// The shard's table and key attribute.
    pub(crate) table: String,
    pub(crate) key_name: String,
    /// Its place in the item that holds its reference; `None` when the
    /// recorded path does not parse (the package wrote such paths; they
    /// match nothing and are skipped, as the package skipped them).
    pub(crate) at: Option<PlainPath>,
    /// Whether the path ended in `[*]`: the place holds a list, each of
    /// whose elements is a reference.
    pub(crate) each: bool,
    /// The shards of the shard's own item.
    pub(crate) shards: Vec<LegacyShard>,
}

/// The place a dynamo-store 0.6 shard item's metadata records (`path`);
/// `None` for a root, whose `path` is null.
pub(crate) fn legacy_shard_path(meta: &AttributeValue) -> Option<&str> {
    let AttributeValue::M(map) = meta else { return None };
    match map.get("path") {
        Some(AttributeValue::S(path)) => Some(path),
        _ => None,
    }
}

/// Whether a `__dystore_meta__` attribute is dynamo-store 0.6's: a map with
/// `table_name` and no format `version`.
pub(crate) fn is_legacy_meta(meta: &AttributeValue) -> bool {
    matches!(meta, AttributeValue::M(m) if m.contains_key("table_name") && !m.contains_key("version"))
}

fn format_error(detail: &str) -> Error {
    Error::new(ErrorKind::Format, format!("a dynamo-store 0.6 `__dystore_meta__` {detail}"))
}

fn text<'a>(map: &'a HashMap<String, AttributeValue>, name: &str) -> Result<&'a str> {
    match map.get(name) {
        Some(AttributeValue::S(s)) => Ok(s),
        _ => Err(format_error(&format!("lacks `{name}`"))),
    }
}

/// The shards a legacy metadata attribute records.
pub(crate) fn shards_of(meta: &AttributeValue) -> Result<Vec<LegacyShard>> {
    let AttributeValue::M(meta) = meta else { return Err(format_error("is not a map")) };
    match meta.get("shards") {
        None => Ok(Vec::new()),
        Some(AttributeValue::L(items)) => items.iter().map(shard).collect(),
        Some(_) => Err(format_error("has `shards` that is not a list")),
    }
}

fn shard(value: &AttributeValue) -> Result<LegacyShard> {
    let AttributeValue::M(map) = value else { return Err(format_error("has a shard that is not a map")) };
    let (at, each) = match map.get("path") {
        Some(AttributeValue::S(path)) => match path.strip_suffix("[*]") {
            Some(list) => (parse_plain_only(list, "a dynamo-store 0.6 shard path").ok(), true),
            None => (parse_plain_only(path, "a dynamo-store 0.6 shard path").ok(), false),
        },
        _ => (None, false),
    };
    Ok(LegacyShard {
        table: text(map, "table_name")?.to_owned(),
        key_name: text(map, "primary_key_name")?.to_owned(),
        at,
        each,
        shards: shards_of(value)?,
    })
}

/// The key of the item a legacy shard reference names: `Ok(None)` if
/// `value` is no reference, a `Format` error if it has a reference's
/// entries (`primary_key`, `table_name:`) but no usable key.
pub(crate) fn reference(value: &AttributeValue) -> Result<Option<&str>> {
    let AttributeValue::M(map) = value else { return Ok(None) };
    if !map.contains_key("table_name:") && !map.contains_key("primary_key") {
        return Ok(None);
    }
    match map.get("primary_key") {
        Some(AttributeValue::S(key)) if !key.is_empty() => Ok(Some(key)),
        _ => Err(Error::new(ErrorKind::Format, "a dynamo-store 0.6 shard reference without a usable `primary_key` (a non-empty string)")),
    }
}

/// A path in the package's own form, as its config loader was asked about
/// it (jsonpath-ng's `str` of the path): `location.city`, `friends.[0]`,
/// `locations.value.[0].city.value`.
pub(crate) fn package_path(path: &PlainPath) -> String {
    path.steps
        .iter()
        .map(|step| match step {
            Step::Field(name) => name.clone(),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether the package never encrypted the value at `package_path`: paths
/// holding `__dystore_meta__`, or the root's key attribute name (the package
/// searched for it as a regular expression, so `IDENTITY` matches `ID`).
pub(crate) fn never_encrypted(package_path: &str, root_key_name: &str) -> bool {
    package_path.contains("__dystore_meta__") || regex::Regex::new(root_key_name).is_ok_and(|re| re.is_match(package_path))
}

/// A condition that holds while a legacy root item is still `item` as read:
/// every attribute but the key equal to what was read (the package gives
/// shard items fresh keys and ciphertexts fresh IVs on every write, so any
/// write of the object changes the root).
pub(crate) fn unchanged(item: &HashMap<String, AttributeValue>, key_name: &str) -> crate::backend::Expr {
    let mut expr = crate::backend::Expr::default();
    expr.names.insert("#pk".into(), key_name.to_owned());
    let mut clauses = vec!["attribute_exists(#pk)".to_owned()];
    for (i, (name, value)) in item.iter().filter(|(name, _)| name.as_str() != key_name).enumerate() {
        expr.names.insert(format!("#u{i}"), name.clone());
        expr.values.insert(format!(":u{i}"), value.clone());
        clauses.push(format!("#u{i} = :u{i}"));
    }
    expr.text = clauses.join(" AND ");
    expr
}

/// A document of the package's class API as plain field values: a value
/// wrapper (`{"__metatype__": "value", "value": v}`) becomes `v`, and a
/// shard's `__class__`, `__module__` and `__metatype__` entries go.
pub(crate) fn unwrap_classes(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(mut map) => match map.get("__metatype__").and_then(Value::as_str) {
            // Only the exact wrapper: a map with other entries is data.
            Some("value") if map.keys().all(|k| matches!(k.as_str(), "__metatype__" | "value" | "__class__" | "__module__")) => {
                // The package returned `None` for a value of class NoneType,
                // whatever string its (encrypted) value held.
                if map.get("__class__").and_then(Value::as_str) == Some("NoneType") {
                    return Value::Null;
                }
                unwrap_classes(map.remove("value").unwrap_or(Value::Null))
            }
            Some("value") => Value::Object(map.into_iter().map(|(k, v)| (k, unwrap_classes(v))).collect()),
            Some(_) => {
                for wrapper in ["__class__", "__module__", "__metatype__"] {
                    map.remove(wrapper);
                }
                Value::Object(map.into_iter().map(|(k, v)| (k, unwrap_classes(v))).collect())
            }
            None => Value::Object(map.into_iter().map(|(k, v)| (k, unwrap_classes(v))).collect()),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(unwrap_classes).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::parse_plain_only;

    #[test]
    fn package_paths_are_jsonpath_ng_strings() {
        for (ours, theirs) in [
            ("$.location.city", "location.city"),
            ("$.friends[0]", "friends.[0]"),
            ("$.locales[2].type", "locales.[2].type"),
            ("$.locations.value[0].city.value", "locations.value.[0].city.value"),
        ] {
            assert_eq!(package_path(&parse_plain_only(ours, "test").unwrap()), theirs);
        }
    }

    #[test]
    fn the_root_key_name_is_searched_as_a_regex() {
        assert!(never_encrypted("IDENTITY", "ID"));
        assert!(never_encrypted("a.__dystore_meta__.b", "ID"));
        assert!(!never_encrypted("firstname", "ID"));
    }

    #[test]
    fn references_have_the_colon_names() {
        let r = AttributeValue::M(
            [("primary_key", "k"), ("table_name:", "T"), ("region_name:", "R"), ("modified_utc", "1")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())))
                .collect(),
        );
        assert_eq!(reference(&r).unwrap(), Some("k"));
        let data = AttributeValue::M([("city".to_owned(), AttributeValue::S("k".into()))].into());
        assert_eq!(reference(&data).unwrap(), None, "a map without a reference's entries is data");
        for broken in [
            [("primary_key", AttributeValue::S(String::new())), ("table_name:", AttributeValue::S("T".into()))],
            [("primary_key", AttributeValue::N("3".into())), ("table_name:", AttributeValue::S("T".into()))],
            [("region_name:", AttributeValue::S("R".into())), ("table_name:", AttributeValue::S("T".into()))],
        ] {
            let map = AttributeValue::M(broken.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            assert_eq!(reference(&map).unwrap_err().kind(), ErrorKind::Format, "{map:?}");
        }
    }
}
