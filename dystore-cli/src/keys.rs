//! The keyring file: key ids to key material, dynamo-store 0.6 key strings,
//! the rules naming the current key id of each path, and a default.
//!
//! ```json
//! {
//!   "keys":        { "2024": "<base64 of 16 or 32 bytes>", "2025": "<base64>" },
//!   "legacy_keys": { "py": "<the dynamo-store 0.6 key string>" },
//!   "rules": [
//!     { "prefix": "$.contact", "key": "2025" },
//!     { "exact": "$.cards[*].number", "key": "2025" },
//!     { "regex": "^firstname$", "key": "py" }
//!   ],
//!   "default": "2025"
//! }
//! ```
//!
//! Errors name the key id and what is wrong with it, never the material.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use dystore::{Key, Keyring, PathPattern};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The environment variable that may hold the keyring's JSON.
pub(crate) const KEYS_VAR: &str = "DYSTORE_KEYS";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, deserialize_with = "unique")]
    keys: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "unique")]
    legacy_keys: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<Rule>,
    default: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    exact: Option<String>,
    prefix: Option<String>,
    regex: Option<String>,
    key: String,
}

const DUPLICATE: &str = "a key id is given twice:";

/// A JSON object whose names are all different: a key id given twice
/// would otherwise be resolved silently (the last one winning). The id is
/// not repeated in the error (it may be key material in the wrong place);
/// serde_json adds the line and column.
fn unique<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of key ids")
        }
        fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let mut out = BTreeMap::new();
            while let Some((id, value)) = map.next_entry::<String, String>()? {
                if out.insert(id, value).is_some() {
                    return Err(serde::de::Error::custom(DUPLICATE));
                }
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Unique)
}

const PATHS: &str = "names, indexes and `[*]` from `$`";

/// The keyring from `path`, else from [`KEYS_VAR`], else an empty one.
pub(crate) fn load(path: Option<&Path>) -> Result<Keyring> {
    let (text, source) = match path {
        Some(path) => {
            // The path is not repeated: key material given there by mistake stays unprinted.
            (std::fs::read_to_string(path).context("cannot read the keyring file given with --keys")?, "the keyring file")
        }
        None => match std::env::var(KEYS_VAR) {
            Ok(text) => (text, "DYSTORE_KEYS"),
            Err(std::env::VarError::NotPresent) => return Ok(Keyring::new()),
            // Ignoring it would run with no keys at all.
            Err(std::env::VarError::NotUnicode(_)) => bail!("DYSTORE_KEYS is not UTF-8 text: it cannot be a keyring"),
        },
    };
    // serde_json's message could quote a piece of the text, key material
    // included: only its position is given.
    let file: File = serde_json::from_str(&text).map_err(|e| {
        // Only our own message is safe to repeat.
        let twice = if e.to_string().starts_with(DUPLICATE) { DUPLICATE } else { "" };
        anyhow::anyhow!(
            "{source} is not a keyring (JSON: keys, legacy_keys, rules, default): {twice} line {}, column {}",
            e.line(),
            e.column()
        )
    })?;
    keyring(file).with_context(|| format!("in {source}"))
}

fn keyring(file: File) -> Result<Keyring> {
    let mut ring = Keyring::new();
    for (id, material) in &file.keys {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(material.trim())
            .map_err(|_| anyhow::anyhow!("the key `{id}` is not base64 (standard alphabet, with padding)"))?;
        let key = Key::new(&bytes).map_err(|_| anyhow::anyhow!("the key `{id}` is {} bytes; a key is 16 or 32 bytes", bytes.len()))?;
        ring = ring.with_key(id.as_str(), key);
    }
    for (id, key_string) in &file.legacy_keys {
        if file.keys.contains_key(id) {
            bail!("the key id `{id}` is both in `keys` and in `legacy_keys`");
        }
        ring = ring.with_legacy_key(id.as_str(), key_string)?;
    }
    // Values of `rules` and `default` are not repeated in errors: key
    // material pasted there by mistake stays unprinted. The rule is named
    // by its place (1 is the first) and the field.
    let known = |id: &str| file.keys.contains_key(id) || file.legacy_keys.contains_key(id);
    for (i, rule) in file.rules.into_iter().enumerate() {
        let n = i + 1;
        let pattern = match (rule.exact, rule.prefix, rule.regex) {
            (Some(path), None, None) => PathPattern::exact(&path).map_err(|_| anyhow::anyhow!("rule {n}: `exact` is not a path ({PATHS})")),
            (None, Some(path), None) => {
                PathPattern::prefix(&path).map_err(|_| anyhow::anyhow!("rule {n}: `prefix` is not a path ({PATHS})"))
            }
            (None, None, Some(re)) => {
                PathPattern::regex(&re).map_err(|_| anyhow::anyhow!("rule {n}: `regex` is not a valid regular expression"))
            }
            _ => bail!("rule {n} has not exactly one of `exact`, `prefix` and `regex`"),
        };
        if !known(&rule.key) {
            bail!("rule {n}: `key` names no key id of `keys` or `legacy_keys`");
        }
        ring = ring.rule(pattern?, rule.key);
    }
    if let Some(default) = file.default {
        if file.legacy_keys.contains_key(&default) {
            bail!("`default` names a key of `legacy_keys`, which only reads dynamo-store 0.6 ciphertexts");
        }
        if !file.keys.contains_key(&default) {
            bail!("`default` names no key id of `keys`");
        }
        ring = ring.default_key(default);
    }
    ring.validate()?;
    Ok(ring)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Keyring> {
        keyring(serde_json::from_str(text)?)
    }

    #[test]
    fn a_keyring_names_current_ids_by_rule_and_default() {
        use dystore::ConfigLoader;
        let a = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let ring = parse(&format!(
            r#"{{"keys": {{"A": "{a}"}}, "legacy_keys": {{"py": "s3cret"}},
                "rules": [{{"prefix": "$.contact", "key": "A"}}, {{"regex": "^first", "key": "py"}}], "default": "A"}}"#
        ))
        .unwrap();
        let doc = serde_json::Value::Null;
        assert_eq!(ring.key_for("$.contact.phone", &doc).as_deref(), Some("A"));
        assert_eq!(ring.key_for("firstname", &doc).as_deref(), Some("py"));
        assert_eq!(ring.default_key_id().as_deref(), Some("A"));
    }

    #[test]
    fn a_key_id_given_twice_is_refused() {
        let a = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        for text in [format!(r#"{{"keys": {{"A": "{a}", "A": "{a}"}}}}"#), r#"{"legacy_keys": {"py": "x", "py": "y"}}"#.to_owned()] {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(DUPLICATE) && !e.contains(&a), "{e}");
        }
    }

    #[test]
    fn a_legacy_key_is_never_empty_nor_the_default() {
        let e = parse(r#"{"legacy_keys": {"py": ""}, "default": "py"}"#).unwrap_err();
        assert!(format!("{e:#}").contains("key string is empty"), "{e:#}");
        let e = parse(r#"{"legacy_keys": {"py": "s3cret"}, "default": "py"}"#).unwrap_err();
        assert!(format!("{e:#}").contains("only reads"), "{e:#}");
    }

    #[test]
    fn bad_material_is_named_by_its_id_only() {
        let short = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdefXY");
        let e = parse(&format!(r#"{{"keys": {{"A": "{short}"}}}}"#)).unwrap_err().to_string();
        assert!(e.contains("`A`") && e.contains("18 bytes") && !e.contains(&short), "{e}");
        let e = parse(r#"{"keys": {"A": "not base64!!"}}"#).unwrap_err().to_string();
        assert!(e.contains("`A`") && !e.contains("not base64!!"), "{e}");
    }

    /// Values of `rules` and `default` may be key material pasted in the
    /// wrong place: errors name the rule's place and field, never the value.
    #[test]
    fn rule_and_default_values_are_never_echoed() {
        let a = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let pasted = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let cases = [
            (format!(r#"{{"rules": [{{"prefix": "$.a", "key": "A"}}, {{"prefix": "$.b", "key": "{pasted}"}}]}}"#), "rule 2: `key`"),
            (format!(r#"{{"default": "{pasted}"}}"#), "`default` names no key id"),
            (format!(r#"{{"rules": [{{"regex": "({pasted}", "key": "A"}}]}}"#), "rule 1: `regex`"),
            (format!(r#"{{"rules": [{{"exact": "{pasted}", "key": "A"}}]}}"#), "rule 1: `exact`"),
            (format!(r#"{{"rules": [{{"prefix": "$.{pasted}x[", "key": "A"}}]}}"#), "rule 1: `prefix`"),
            (format!(r#"{{"rules": [{{"key": "{pasted}"}}]}}"#), "rule 1 has not exactly one"),
        ];
        for (body, said) in cases {
            let text = body.replacen('{', &format!(r#"{{"keys": {{"A": "{a}"}}, "#), 1);
            let e = format!("{:#}", parse(&text).unwrap_err());
            assert!(e.contains(said) && !e.contains(&pasted[..20]), "{text}: {e}");
        }
    }
}
