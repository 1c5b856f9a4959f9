//! Converting between JSON documents and DynamoDB attribute values, and
//! measuring items the way DynamoDB does.
//!
//! Written by hand rather than through serde_dynamo's serializer because the
//! mapping must be exact and total in both directions (numbers stay numbers,
//! binaries and sets have a defined JSON form) and errors must name a path.

use crate::error::{Error, ErrorKind, Result};
use base64::Engine as _;
use serde_dynamo::AttributeValue;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// DynamoDB's item size limit, in bytes.
pub(crate) const MAX_ITEM_BYTES: usize = 400 * 1024;

/// A JSON value as a DynamoDB attribute value.
pub(crate) fn to_attr(value: Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(items) => AttributeValue::L(items.into_iter().map(to_attr).collect()),
        Value::Object(map) => AttributeValue::M(map.into_iter().map(|(k, v)| (k, to_attr(v))).collect()),
    }
}

/// A DynamoDB attribute value as JSON: binaries become base64 strings and
/// sets become arrays (there is no other JSON form for them).
pub(crate) fn to_json(value: AttributeValue) -> Result<Value> {
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::N(n) => Value::Number(number(&n)?),
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::B(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        AttributeValue::Ss(v) => Value::Array(v.into_iter().map(Value::String).collect()),
        AttributeValue::Ns(v) => Value::Array(v.iter().map(|n| number(n).map(Value::Number)).collect::<Result<_>>()?),
        AttributeValue::Bs(v) => {
            Value::Array(v.into_iter().map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b))).collect())
        }
        AttributeValue::L(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_>>()?),
        AttributeValue::M(map) => Value::Object(map_to_json(map)?),
    })
}

/// A DynamoDB map as a JSON object.
pub(crate) fn map_to_json(map: HashMap<String, AttributeValue>) -> Result<Map<String, Value>> {
    map.into_iter().map(|(k, v)| Ok((k, to_json(v)?))).collect()
}

/// A DynamoDB number (a decimal string) as a JSON number: integers stay
/// exact within 64 bits, others become the nearest `f64`.
fn number(n: &str) -> Result<Number> {
    let integral = !n.contains(['.', 'e', 'E']);
    if integral {
        if let Ok(i) = n.parse::<i64>() {
            return Ok(i.into());
        }
        if let Ok(u) = n.parse::<u64>() {
            return Ok(u.into());
        }
    }
    n.parse::<f64>().ok().and_then(Number::from_f64).ok_or_else(|| Error::new(ErrorKind::Format, "stored number is not a finite decimal"))
}

/// DynamoDB's limits on a number (its developer guide, "Data types"): at
/// most 38 significant digits, a magnitude from 1E-130 to
/// 9.9999999999999999999999999999999999999E+125, or zero.
const MAX_DIGITS: usize = 38;

/// Why DynamoDB would refuse the decimal number `n` (as JSON prints it),
/// or `None` if it accepts it.
pub(crate) fn number_refusal(n: &str) -> Option<&'static str> {
    let unsigned = n.trim_start_matches(['-', '+']);
    let (coefficient, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = coefficient.split_once('.').unwrap_or((coefficient, ""));
    let digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
    // Zero (no non-zero digit) is always accepted.
    let first = digits.iter().position(|&d| d != b'0')?;
    let last = digits.iter().rposition(|&d| d != b'0').unwrap_or(first);
    if last - first + 1 > MAX_DIGITS {
        return Some("DynamoDB stores at most 38 significant digits in a number");
    }
    // The value is 0.d1d2... × 10^magnitude, d1 the first non-zero digit.
    let magnitude = exponent + whole.len() as i64 - first as i64;
    if magnitude > 126 {
        return Some("the number is larger in magnitude than DynamoDB's 9.99E+125");
    }
    if magnitude < -129 {
        return Some("the number is smaller in magnitude than DynamoDB's 1E-130");
    }
    None
}

/// DynamoDB's limit on nesting: a value may sit at most 32 levels below its
/// item (the top-level attribute's value is level 1).
pub(crate) const MAX_DEPTH: usize = 32;

/// Size of a value as DynamoDB counts it (without its attribute name).
pub(crate) fn size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(Vec::len).sum(),
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + size(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + size(v)).sum::<usize>(),
    }
}

/// DynamoDB stores numbers as up to 38 significant digits, about one byte
/// per two digits plus one.
fn number_size(n: &str) -> usize {
    let digits = n.bytes().filter(u8::is_ascii_digit).count();
    digits.div_ceil(2) + 1
}

/// Size of an item: attribute names plus values.
pub(crate) fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + size(v)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_attribute_values() {
        let doc = json!({"s": "x", "n": 42, "neg": -7, "f": 1.5, "big": u64::MAX, "b": true,
                         "z": null, "l": [1, "a", {"k": []}], "m": {"e": {}}});
        assert_eq!(to_json(to_attr(doc.clone())).unwrap(), doc);
    }

    #[test]
    fn sets_and_binaries_have_a_json_form() {
        assert_eq!(to_json(AttributeValue::Ns(vec!["1".into(), "2.5".into()])).unwrap(), json!([1, 2.5]));
        assert_eq!(to_json(AttributeValue::B(vec![1, 2, 3])).unwrap(), json!("AQID"));
    }

    #[test]
    fn unreadable_numbers_are_format_errors() {
        let e = to_json(AttributeValue::N("abc".into())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Format);
    }

    #[test]
    fn numbers_out_of_dynamodb_range_are_named() {
        for ok in [
            "0",
            "-0.0",
            "1e125",
            "9.9999999999999999999999999999999999999e125",
            "1e-130",
            "-1E-130",
            "12345678901234567890123456789012345678",
            "0.000123",
            "1.5",
            "100000000000000000000000000000000000000000",
        ] {
            assert_eq!(number_refusal(ok), None, "{ok}");
        }
        for bad in
            ["1e300", "1e126", "1e-131", "-1e-131", "123456789012345678901234567890123456789", "1.00000000000000000000000000000000000001"]
        {
            assert!(number_refusal(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn sizes_follow_dynamodb_rules() {
        assert_eq!(size(&AttributeValue::S("abcd".into())), 4);
        assert_eq!(size(&AttributeValue::N("12345".into())), 4);
        let item: HashMap<_, _> = [("ab".to_owned(), AttributeValue::Bool(true))].into();
        assert_eq!(item_size(&item), 3);
    }
}
