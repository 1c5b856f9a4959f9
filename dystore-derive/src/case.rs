//! serde's `rename_all` case conversions, rewritten here because serde_derive
//! does not export them and generated paths must use the serialized names.
//! Kept in step with serde_derive's `internals/case.rs` (fields only: a
//! `DyObject` is always a struct).

use self::RenameRule::*;

/// A `#[serde(rename_all = "...")]` rule, applied to field names.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum RenameRule {
    /// No `rename_all`: names are the Rust field names.
    None,
    /// `"lowercase"`
    LowerCase,
    /// `"UPPERCASE"`
    UpperCase,
    /// `"PascalCase"`
    PascalCase,
    /// `"camelCase"`
    CamelCase,
    /// `"snake_case"`
    SnakeCase,
    /// `"SCREAMING_SNAKE_CASE"`
    ScreamingSnakeCase,
    /// `"kebab-case"`
    KebabCase,
    /// `"SCREAMING-KEBAB-CASE"`
    ScreamingKebabCase,
}

static RENAME_RULES: &[(&str, RenameRule)] = &[
    ("lowercase", LowerCase),
    ("UPPERCASE", UpperCase),
    ("PascalCase", PascalCase),
    ("camelCase", CamelCase),
    ("snake_case", SnakeCase),
    ("SCREAMING_SNAKE_CASE", ScreamingSnakeCase),
    ("kebab-case", KebabCase),
    ("SCREAMING-KEBAB-CASE", ScreamingKebabCase),
];

impl RenameRule {
    /// The rule named `name`, as serde spells it; `None` for a name serde
    /// rejects (serde reports that error itself).
    pub(crate) fn from_str(name: &str) -> Option<Self> {
        RENAME_RULES.iter().find(|(n, _)| *n == name).map(|(_, rule)| *rule)
    }

    /// The serialized name of a field called `field` in Rust.
    pub(crate) fn apply_to_field(self, field: &str) -> String {
        match self {
            None | LowerCase | SnakeCase => field.to_owned(),
            UpperCase | ScreamingSnakeCase => field.to_ascii_uppercase(),
            PascalCase => {
                let mut pascal = String::new();
                let mut capitalize = true;
                for ch in field.chars() {
                    if ch == '_' {
                        capitalize = true;
                    } else if capitalize {
                        pascal.push(ch.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        pascal.push(ch);
                    }
                }
                pascal
            }
            CamelCase => {
                let pascal = PascalCase.apply_to_field(field);
                match pascal.chars().next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + &pascal[first.len_utf8()..],
                    Option::None => pascal,
                }
            }
            KebabCase => field.replace('_', "-"),
            ScreamingKebabCase => field.to_ascii_uppercase().replace('_', "-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RenameRule::{self, *};

    #[test]
    fn field_names_follow_serde() {
        // Rows copied from serde_derive's own `rename_fields` test.
        for &(original, upper, pascal, camel, screaming, kebab, screaming_kebab) in &[
            ("outcome", "OUTCOME", "Outcome", "outcome", "OUTCOME", "outcome", "OUTCOME"),
            ("very_tasty", "VERY_TASTY", "VeryTasty", "veryTasty", "VERY_TASTY", "very-tasty", "VERY-TASTY"),
            ("a", "A", "A", "a", "A", "a", "A"),
            ("z42", "Z42", "Z42", "z42", "Z42", "z42", "Z42"),
        ] {
            assert_eq!(None.apply_to_field(original), original);
            assert_eq!(LowerCase.apply_to_field(original), original);
            assert_eq!(SnakeCase.apply_to_field(original), original);
            assert_eq!(UpperCase.apply_to_field(original), upper);
            assert_eq!(PascalCase.apply_to_field(original), pascal);
            assert_eq!(CamelCase.apply_to_field(original), camel);
            assert_eq!(ScreamingSnakeCase.apply_to_field(original), screaming);
            assert_eq!(KebabCase.apply_to_field(original), kebab);
            assert_eq!(ScreamingKebabCase.apply_to_field(original), screaming_kebab);
        }
    }

    #[test]
    fn rule_names_are_serdes() {
        assert_eq!(RenameRule::from_str("camelCase"), Some(CamelCase));
        assert_eq!(RenameRule::from_str("SCREAMING-KEBAB-CASE"), Some(ScreamingKebabCase));
        assert_eq!(RenameRule::from_str("Camel"), Option::None);
    }
}
