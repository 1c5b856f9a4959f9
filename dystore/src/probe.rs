//! Checking a path, and a value for it, against a Rust type without an
//! instance of it: what the typed `read_path` and `write_path` do before
//! any request, so a typo in a field name or a value of the wrong type is
//! refused instead of stored where `load` would fail on it later.
//!
//! The type's own `Deserialize` is driven by a probe deserializer that
//! offers, at each level, a map holding only the next name of the path (or
//! a list holding only the next element), and at the end the value itself.
//! The type says which names it has (`deserialize_struct` lists its
//! fields), refuses a name or an index it has no place for, and refuses the
//! value if it does not fit; the errors it raises about the fields the probe
//! left out (`missing field`) are not about the path and are ignored.
//!
//! Written by hand because no crate walks a path through a `Deserialize`
//! type: serde-reflection traces whole types and gives up on any type that
//! deserializes "any" value (`serde_json::Value`, untagged enums).
//!
//! What it cannot see is accepted: paths below a field whose type takes any
//! value (`serde_json::Value`, a map, a flattened struct), below enums, and
//! below tuples (whose elements differ in type by index).

use crate::path::{PatternStep, Step};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// How a path (and value) fits a type.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fit {
    /// The type has a place at the path (and the value fits it), or the
    /// probe could not see that far.
    Fits,
    /// The type has no place at the path: the message says where it stops.
    NoSuchPath(String),
    /// The type has the place but the value does not fit it.
    ValueMismatch,
}

/// How `steps` (with the value to write there, if any) fit `T`.
pub(crate) fn fit<T: de::DeserializeOwned>(steps: &[PatternStep], value: Option<&Value>) -> Fit {
    match T::deserialize(Probe { steps, value }) {
        Ok(_) => Fit::Fits,
        Err(ProbeError::NoSuchPath(why)) => Fit::NoSuchPath(why),
        Err(ProbeError::Value) => Fit::ValueMismatch,
        // The end was reached, or an error about fields the probe did not offer.
        Err(ProbeError::Reached | ProbeError::Other) => Fit::Fits,
    }
}

#[derive(Debug)]
enum ProbeError {
    /// The type has no place for the next step.
    NoSuchPath(String),
    /// The value does not fit the type at the path.
    Value,
    /// The path's end was reached with no value to check.
    Reached,
    /// Anything else the type says (missing fields the probe left out).
    Other,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for ProbeError {}

impl de::Error for ProbeError {
    fn custom<M: fmt::Display>(_: M) -> Self {
        ProbeError::Other
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        ProbeError::NoSuchPath(format!("the type holds {expected} there, not {unexpected}"))
    }

    fn invalid_length(_: usize, expected: &dyn de::Expected) -> Self {
        ProbeError::NoSuchPath(format!("the type holds {expected} there"))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        ProbeError::NoSuchPath(format!("no field `{field}`; the fields are {}", expected.join(", ")))
    }
}

/// The deserializer offered at one level: the rest of the path, and the
/// value for its end.
#[derive(Clone, Copy)]
struct Probe<'a> {
    steps: &'a [PatternStep],
    value: Option<&'a Value>,
}

impl Probe<'_> {
    /// At the end of the path: the value's own deserializer, its errors
    /// meaning "does not fit"; with no value, the end is reached.
    fn end<'de, V: Visitor<'de>>(
        self,
        with: impl FnOnce(Value, V) -> Result<V::Value, serde_json::Error>,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        match self.value {
            Some(value) => with(value.clone(), visitor).map_err(|_| ProbeError::Value),
            None => Err(ProbeError::Reached),
        }
    }

    fn next_name(&self) -> Option<&str> {
        match self.steps.first() {
            Some(PatternStep::Step(Step::Field(name))) => Some(name),
            _ => None,
        }
    }

    /// Offers a map holding only the next name, or a list holding only the
    /// next element, whichever the next step is.
    fn offer<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        let rest = Probe { steps: &self.steps[1..], value: self.value };
        match self.next_name() {
            Some(name) => visitor.visit_map(One { key: Some(name.to_owned()), rest }),
            None => visitor.visit_seq(OneElement { rest: Some(rest) }),
        }
    }

    /// Runs `seed` on this probe. At the end of the path, whatever the type
    /// there says against the value is a misfit, its own words included (an
    /// untagged enum reports "no variant matches" only after reading it).
    fn deserialize_into<'de, S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, ProbeError> {
        let at_value = self.steps.is_empty() && self.value.is_some();
        match seed.deserialize(self) {
            Err(ProbeError::Other | ProbeError::NoSuchPath(_)) if at_value => Err(ProbeError::Value),
            other => other,
        }
    }

    fn below_a_leaf(self, what: &str) -> ProbeError {
        ProbeError::NoSuchPath(format!("the type holds {what} there, and a path cannot go below it"))
    }
}

/// Scalars: the end of the path, or a path going below a leaf.
macro_rules! leaves {
    ($($method:ident => $what:literal),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
            if self.steps.is_empty() {
                return self.end(|v, visitor| v.$method(visitor), visitor);
            }
            Err(self.below_a_leaf($what))
        })*
    };
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    leaves! {
        deserialize_bool => "a boolean", deserialize_i8 => "a number", deserialize_i16 => "a number",
        deserialize_i32 => "a number", deserialize_i64 => "a number", deserialize_i128 => "a number",
        deserialize_u8 => "a number", deserialize_u16 => "a number", deserialize_u32 => "a number",
        deserialize_u64 => "a number", deserialize_u128 => "a number", deserialize_f32 => "a number",
        deserialize_f64 => "a number", deserialize_char => "a character", deserialize_str => "a string",
        deserialize_string => "a string", deserialize_bytes => "bytes", deserialize_byte_buf => "bytes",
        deserialize_unit => "a unit", deserialize_identifier => "a name",
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_any(visitor), visitor);
        }
        self.offer(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_option(visitor), visitor);
        }
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_newtype_struct(name, visitor), visitor);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_struct(name, fields, visitor), visitor);
        }
        match self.next_name() {
            Some(field) if fields.contains(&field) => self.offer(visitor),
            Some(field) => Err(ProbeError::NoSuchPath(format!("no field `{field}`; the fields are {}", fields.join(", ")))),
            None => Err(ProbeError::NoSuchPath("the type holds a struct there, not a list".into())),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_map(visitor), visitor);
        }
        match self.next_name() {
            Some(_) => self.offer(visitor),
            None => Err(ProbeError::NoSuchPath("the type holds a map there, not a list".into())),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_seq(visitor), visitor);
        }
        match self.next_name() {
            Some(name) => Err(ProbeError::NoSuchPath(format!("the type holds a list there, with no field `{name}`"))),
            None => self.offer(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_tuple(len, visitor), visitor);
        }
        // A tuple's elements differ in type by index: not checked below it.
        Err(ProbeError::Other)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, name: &'static str, len: usize, visitor: V) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_tuple_struct(name, len, visitor), visitor);
        }
        Err(ProbeError::Other)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_unit_struct(name, visitor), visitor);
        }
        Err(self.below_a_leaf("a unit struct"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        if self.steps.is_empty() {
            return self.end(|v, visitor| v.deserialize_enum(name, variants, visitor), visitor);
        }
        // Below an enum the shape depends on the variant: not checked.
        Err(ProbeError::Other)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }
}

/// A map of one entry: the path's next name, and the probe for the rest.
struct One<'a> {
    key: Option<String>,
    rest: Probe<'a>,
}

impl<'de> MapAccess<'de> for One<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ProbeError> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, ProbeError> {
        self.rest.deserialize_into(seed)
    }
}

/// A list of one element: the probe for the rest of the path.
struct OneElement<'a> {
    rest: Option<Probe<'a>>,
}

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = ProbeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, ProbeError> {
        self.rest.take().map(|rest| rest.deserialize_into(seed)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::parse_pattern;
    use serde::Deserialize;
    use serde_json::json;
    use std::collections::HashMap;

    #[allow(dead_code)] // read only through Deserialize
    #[derive(Deserialize)]
    struct Customer {
        email: String,
        age: Option<u8>,
        address: Address,
        tags: Vec<String>,
        orders: Vec<Order>,
        extra: HashMap<String, i64>,
        any: Value,
        #[serde(rename = "first name")]
        first_name: String,
        either: Either,
        pair: (u8, String),
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Address {
        city: String,
        zip: Option<u32>,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        N(u8),
        S(String),
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Order {
        card_last4: String,
        total: f64,
    }

    fn check(path: &str, value: Option<Value>) -> Fit {
        fit::<Customer>(&parse_pattern(path).unwrap().steps, value.as_ref())
    }

    #[test]
    fn paths_the_type_has_fit() {
        for path in [
            "$.email",
            "$.age",
            "$.address.city",
            "$.tags[3]",
            "$.orders[0].total",
            "$.orders[*].card_last4",
            "$.extra.anything",
            "$.any.deep[2].x",
            "$['first name']",
            "$.address",
        ] {
            assert_eq!(check(path, None), Fit::Fits, "{path}");
        }
    }

    #[test]
    fn paths_the_type_lacks_do_not() {
        for path in ["$.emial", "$.address.town", "$.email.x", "$.tags.x", "$.orders[0].nope", "$.address[0]", "$.first_name", "$.age.x"] {
            assert!(matches!(check(path, None), Fit::NoSuchPath(_)), "{path}: {:?}", check(path, None));
        }
    }

    #[test]
    fn values_must_fit_the_field() {
        assert_eq!(check("$.email", Some(json!("a@b.c"))), Fit::Fits);
        assert_eq!(check("$.email", Some(json!(12345))), Fit::ValueMismatch);
        assert_eq!(check("$.age", Some(json!(null))), Fit::Fits);
        assert_eq!(check("$.age", Some(json!(300))), Fit::ValueMismatch, "over u8");
        assert_eq!(check("$.address", Some(json!({"city": "X"}))), Fit::Fits);
        assert_eq!(check("$.address", Some(json!({"zip": 1}))), Fit::ValueMismatch, "missing city");
        assert_eq!(check("$.orders[1].total", Some(json!("12"))), Fit::ValueMismatch);
        assert_eq!(check("$.tags", Some(json!(["a", "b"]))), Fit::Fits);
        assert_eq!(check("$.any.x", Some(json!({"whatever": [1]}))), Fit::Fits);
        assert_eq!(check("$.extra.k", Some(json!("x"))), Fit::ValueMismatch);
        assert_eq!(check("$.either", Some(json!(7))), Fit::Fits);
        assert_eq!(check("$.either", Some(json!("s"))), Fit::Fits);
        for bad in [json!([1]), json!(300), json!({"a": 1})] {
            assert_eq!(check("$.either", Some(bad.clone())), Fit::ValueMismatch, "untagged {bad}");
        }
        assert_eq!(check("$.pair", Some(json!([1, "x"]))), Fit::Fits);
        assert_eq!(check("$.pair", Some(json!([1, 2]))), Fit::ValueMismatch);
    }
}
