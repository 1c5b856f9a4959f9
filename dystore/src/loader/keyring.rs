//! [`Keyring`]: a static table of keys, and path patterns saying which key
//! encrypts which paths.

use std::collections::{HashMap, HashSet};
use std::fmt;

use regex::Regex;
use serde_json::Value;

use super::ConfigLoader;
use crate::crypto::{Key, KeyId};
use crate::error::{Error, ErrorKind, Result};
use crate::path::{Pattern, PatternIndex, Step, borrowed_steps, parse_pattern, parse_plain_only};

/// Which paths a [`Keyring`] rule applies to.
///
/// Patterns are written in the same path language as the layout's rules and
/// are matched against the paths the loader is given, which run from the
/// object's root (`$.contact.phone`, `$.locales[2].type`, `$['first name']`):
/// names, indexes, and `[*]` for any index (`$.orders[*].card_last4`).
/// Names are compared exactly, so `$['e.mail']` is one name and `$.e.mail`
/// two. A pattern that does not parse is refused when it is built, never
/// left to match nothing.
#[derive(Clone)]
pub struct PathPattern(Matcher);

#[derive(Clone)]
enum Matcher {
    Exact(Pattern),
    Prefix(Pattern),
    Regex(Regex),
}

impl PathPattern {
    /// Matches `path` only (`[*]` matching any index).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPath`], naming the pattern, if it is not a path
    /// of names, indexes and `[*]` starting at `$`.
    pub fn exact(path: &str) -> Result<Self> {
        parse_pattern(path).map(|p| PathPattern(Matcher::Exact(p)))
    }

    /// Matches `path` and every path beneath it: `$.contact` matches
    /// `$.contact`, `$.contact.phone` and `$.contact[0]`, not `$.contacts`.
    ///
    /// # Errors
    ///
    /// As [`exact`](Self::exact).
    pub fn prefix(path: &str) -> Result<Self> {
        parse_pattern(path).map(|p| PathPattern(Matcher::Prefix(p)))
    }

    /// Matches paths in which the regular expression finds a match
    /// (unanchored, as `Regex::is_match`; anchor it with `^` and `$` to
    /// match whole paths). Prefer [`exact`](Self::exact) and
    /// [`prefix`](Self::prefix) with `[*]`: a regex over path text must
    /// know how names are quoted.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if `pattern` is not a valid regular expression.
    pub fn regex(pattern: &str) -> Result<Self> {
        Regex::new(pattern)
            .map(|re| PathPattern(Matcher::Regex(re)))
            .map_err(|e| Error::new(ErrorKind::Config, format!("invalid path regex `{pattern}`")).with_source(e))
    }

    /// Whether `path` (a plain path from the root, as the loader is given)
    /// is one this pattern covers. A path that does not parse matches no
    /// pattern but a regex.
    pub fn matches(&self, path: &str) -> bool {
        let plain = || parse_plain_only(path, "a keyring match").ok();
        match &self.0 {
            Matcher::Exact(p) => plain().is_some_and(|path| p.matches(&path.steps)),
            Matcher::Prefix(p) => plain().is_some_and(|path| p.covers(&path.steps)),
            Matcher::Regex(re) => re.is_match(path),
        }
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Matcher::Exact(p) => write!(f, "Exact({:?})", p.to_string()),
            Matcher::Prefix(p) => write!(f, "Prefix({:?})", p.to_string()),
            Matcher::Regex(re) => write!(f, "Regex({:?})", re.as_str()),
        }
    }
}

/// A static loader: key material by id, ordered rules saying which key
/// encrypts which paths, and a default key id for fields the layout marks
/// encrypted.
///
/// The first rule whose pattern matches a path decides its key; a path no
/// rule matches is stored in clear (unless the layout marks it encrypted, in
/// which case the default key id is used). Ids that no rule names any more
/// stay in the keyring so data written under them can still be read.
///
/// ```
/// use dystore::{ConfigLoader, Key, Keyring, PathPattern};
///
/// let keyring = Keyring::new()
///     .with_key("2024", Key::new([1u8; 32])?)
///     .with_key("2025", Key::new([2u8; 32])?)
///     .rule(PathPattern::exact("$.contact.public")?, "2024")
///     .rule(PathPattern::prefix("$.contact")?, "2025")
///     .default_key("2025");
/// keyring.validate()?;
/// let doc = serde_json::json!({});
/// assert_eq!(keyring.key_for("$.contact.phone", &doc).as_deref(), Some("2025"));
/// assert_eq!(keyring.key_for("$.contact.public", &doc).as_deref(), Some("2024"));
/// assert_eq!(keyring.key_for("$.contacts", &doc), None);
/// # Ok::<(), dystore::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: HashMap<KeyId, Key>,
    /// Ids whose key is a dynamo-store 0.6 key string's: for reading that
    /// package's ciphertexts only, never a key to write with.
    legacy: HashSet<KeyId>,
    /// In precedence order: the first match wins.
    rules: Vec<(PathPattern, KeyId)>,
    /// The exact and prefix rules' patterns, by position in `rules`.
    index: PatternIndex,
    /// Positions of the regex rules in `rules`, in order.
    regexes: Vec<usize>,
    default_key: Option<KeyId>,
    keep_metadata: bool,
}

impl Keyring {
    /// An empty keyring: no keys, no rules, nothing encrypted.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Adds (or replaces) the key material for `id`.
    pub fn with_key(mut self, id: impl Into<KeyId>, key: Key) -> Self {
        let id = id.into();
        self.legacy.remove(&id);
        self.keys.insert(id, key);
        self
    }

    /// Adds (or replaces) the dynamo-store 0.6 key string for `id`
    /// ([`Key::from_legacy_string`]). Such a key only reads that package's
    /// ciphertexts: a rule naming it matches only the package's own path
    /// forms (`contact.phone`, no `$`), so it is never the key a save or a
    /// rotation writes with, and [`validate`](Self::validate) refuses it as
    /// the default key id.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`], naming the id, for an empty key string (its
    /// key would be SHA-256 of nothing, known to everyone).
    pub fn with_legacy_key(mut self, id: impl Into<KeyId>, key_string: &str) -> Result<Self> {
        let id = id.into();
        if key_string.is_empty() {
            return Err(Error::new(ErrorKind::Config, "a dynamo-store 0.6 key string is empty").with_key_id(id.as_str()));
        }
        self.keys.insert(id.clone(), Key::from_legacy_string(key_string));
        self.legacy.insert(id);
        Ok(self)
    }

    /// Adds a rule after the existing ones: paths `pattern` matches, and no
    /// earlier rule does, are encrypted with `key_id`.
    pub fn rule(mut self, pattern: PathPattern, key_id: impl Into<KeyId>) -> Self {
        match &pattern.0 {
            Matcher::Exact(p) | Matcher::Prefix(p) => self.index.insert(p, self.rules.len()),
            Matcher::Regex(_) => self.regexes.push(self.rules.len()),
        }
        self.rules.push((pattern, key_id.into()));
        self
    }

    /// The key id for paths the layout marks encrypted and no rule covers.
    pub fn default_key(mut self, key_id: impl Into<KeyId>) -> Self {
        self.default_key = Some(key_id.into());
        self
    }

    /// Whether documents read back keep `__dystore_meta__` (default: no).
    pub fn with_metadata(mut self, keep: bool) -> Self {
        self.keep_metadata = keep;
        self
    }

    /// Checks that every id a rule or the default names has key material,
    /// and that every id fits a ciphertext header (1 to 255 bytes).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MissingKey`] for an id without key material,
    /// [`ErrorKind::Config`] for an id of the wrong length or a default
    /// that is a dynamo-store 0.6 key (for reading only); all name the id.
    pub fn validate(&self) -> Result<()> {
        if let Some(id) = self.default_key.as_ref().filter(|id| self.legacy.contains(*id)) {
            return Err(Error::new(
                ErrorKind::Config,
                "the default key id names a dynamo-store 0.6 key, which only reads that package's ciphertexts",
            )
            .with_key_id(id.as_str()));
        }
        let named = self.rules.iter().map(|(_, id)| id).chain(&self.default_key);
        for id in self.keys.keys().chain(named) {
            if id.is_empty() || id.len() > 255 {
                return Err(Error::new(ErrorKind::Config, "a key id is 1 to 255 bytes").with_key_id(id.as_str()));
            }
            if !self.keys.contains_key(id) {
                return Err(Error::new(ErrorKind::MissingKey, "the keyring names a key id it has no key for").with_key_id(id.as_str()));
            }
        }
        Ok(())
    }
}

impl ConfigLoader for Keyring {
    fn key_for(&self, path: &str, _document: &Value) -> Option<KeyId> {
        // A dynamo-store 0.6 key reads that package's path forms only (no `$`).
        let usable = |id: &KeyId| !(self.legacy.contains(id) && path.starts_with('$'));
        // The first usable rule that matches: the exact and prefix rules
        // found by walking the path once through their index, the regex
        // rules tried in order while they could still come first.
        let consider = |first: &mut Option<usize>, at: usize| {
            if usable(&self.rules[at].1) && first.is_none_or(|f| at < f) {
                *first = Some(at);
            }
        };
        let mut first = None;
        if self.regexes.len() < self.rules.len() {
            let mut indexed = |at: usize, whole: bool| {
                if whole || matches!(self.rules[at].0.0, Matcher::Prefix(_)) {
                    consider(&mut first, at);
                }
            };
            // Paths as the codec prints them are read in place; others
            // (quoted names) parsed whole.
            match borrowed_steps(path) {
                Some(steps) => self.index.covering(steps, &mut indexed),
                None => {
                    if let Ok(plain) = parse_plain_only(path, "a keyring match") {
                        self.index.covering(plain.steps.iter().map(Step::as_ref), &mut indexed);
                    }
                }
            }
        }
        for &at in &self.regexes {
            if first.is_some_and(|f| f < at) {
                break;
            }
            if self.rules[at].0.matches(path) {
                consider(&mut first, at);
            }
        }
        first.map(|at| self.rules[at].1.clone())
    }

    fn default_key_id(&self) -> Option<KeyId> {
        self.default_key.clone()
    }

    fn key(&self, id: &KeyId) -> Option<Key> {
        self.keys.get(id).cloned()
    }

    fn writes_with(&self, id: &KeyId) -> bool {
        !self.legacy.contains(id)
    }

    fn keep_metadata(&self) -> bool {
        self.keep_metadata
    }

    fn key_choice(&self) -> Option<String> {
        // Patterns and ids only: what decides a path's key id, in order.
        let rules: Vec<String> = self.rules.iter().map(|(pattern, id)| format!("{pattern:?} -> {id:?}")).collect();
        let mut legacy: Vec<&KeyId> = self.legacy.iter().collect();
        legacy.sort();
        Some(format!("rules {rules:?}; default {:?}; legacy {legacy:?}", self.default_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn key(byte: u8) -> Key {
        Key::new([byte; 32]).unwrap()
    }

    /// A path or pattern of a few steps over a small alphabet, so that
    /// rules and paths meet often.
    fn steps(wild: bool) -> impl Strategy<Value = String> {
        let step = if wild {
            prop_oneof![Just(".a"), Just(".b"), Just("['a.b']"), Just("[0]"), Just("[1]"), Just("[*]")].boxed()
        } else {
            prop_oneof![Just(".a"), Just(".b"), Just("['a.b']"), Just("[0]"), Just("[1]"), Just("[2]")].boxed()
        };
        prop::collection::vec(step, 0..4).prop_map(|s| format!("${}", s.concat()))
    }

    proptest! {
        /// The indexed lookup picks the rule trying every rule in order
        /// would: the first usable one that matches (legacy keys unusable
        /// for `$` paths), regexes included, unparsable paths matched by
        /// regexes only.
        #[test]
        fn key_for_picks_what_trying_every_rule_in_order_picks(
            rules in prop::collection::vec((0..3u8, steps(true), 0..3u8), 0..8),
            paths in prop::collection::vec(prop_oneof![steps(false), Just("a.b".to_owned()), Just("$..a".to_owned())], 1..8),
        ) {
            let mut ring = Keyring::new().with_key("k0", key(1)).with_key("k1", key(2)).with_legacy_key("k2", "old").unwrap();
            for (kind, text, id) in &rules {
                let pattern = match kind {
                    0 => PathPattern::exact(text).unwrap(),
                    1 => PathPattern::prefix(text).unwrap(),
                    _ => PathPattern::regex(&format!("^{}", regex::escape(text).replace(r"\[\*\]", r"\[\d+\]"))).unwrap(),
                };
                ring = ring.rule(pattern, format!("k{id}"));
            }
            for path in &paths {
                let usable = |id: &KeyId| !(ring.legacy.contains(id) && path.starts_with('$'));
                let expected = ring.rules.iter().find(|(p, id)| usable(id) && p.matches(path)).map(|(_, id)| id.clone());
                prop_assert_eq!(ring.key_for(path, &json!({})), expected, "{}", path);
            }
        }
    }

    #[test]
    fn exact_matches_only_itself() {
        let p = PathPattern::exact("$.contact.phone").unwrap();
        assert!(p.matches("$.contact.phone"));
        assert!(!p.matches("$.contact.phone2"));
        assert!(!p.matches("$.contact"));
        assert!(!p.matches("$.contact.phone.ext"));
    }

    #[test]
    fn prefix_matches_itself_and_beneath_only() {
        let p = PathPattern::prefix("$.contact").unwrap();
        for path in ["$.contact", "$.contact.phone", "$.contact[0]", "$.contact[0].type", "$.contact['a b']"] {
            assert!(p.matches(path), "{path}");
        }
        for path in ["$.contacts", "$.contac", "$.contact_phone", "$.other.contact", "$"] {
            assert!(!p.matches(path), "{path}");
        }
        assert!(PathPattern::prefix("$").unwrap().matches("$.anything[3]"));
        assert!(PathPattern::prefix("$.locales[2]").unwrap().matches("$.locales[2].type"));
        assert!(!PathPattern::prefix("$.locales[2]").unwrap().matches("$.locales[23]"));
    }

    #[test]
    fn regex_is_unanchored_unless_anchored() {
        let loose = PathPattern::regex(r"\.ssn").unwrap();
        assert!(loose.matches("$.person.ssn"));
        assert!(loose.matches("$.ssn_hint"));
        let strict = PathPattern::regex(r"^\$\.locales\[\d+\]\.type$").unwrap();
        assert!(strict.matches("$.locales[12].type"));
        assert!(!strict.matches("$.locales[1].type.x"));
        let err = PathPattern::regex("(").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn a_legacy_key_only_reads() {
        assert_eq!(Keyring::new().with_legacy_key("py", "").unwrap_err().kind(), ErrorKind::Config);
        let ring = Keyring::new()
            .with_key("B", key(2))
            .with_legacy_key("py", "s3cret")
            .unwrap()
            .rule(PathPattern::regex("firstname").unwrap(), "py")
            .rule(PathPattern::prefix("$").unwrap(), "B");
        ring.validate().unwrap();
        assert_eq!(ring.key_for("firstname", &json!(null)).as_deref(), Some("py"), "the package's own path form");
        assert_eq!(ring.key_for("$.firstname", &json!(null)).as_deref(), Some("B"), "never the key to write with");
        let e = ring.clone().default_key("py").validate().unwrap_err();
        assert_eq!((e.kind(), e.key_id()), (ErrorKind::Config, Some("py")));
        assert!(ring.with_key("py", key(3)).default_key("py").validate().is_ok(), "replaced by a format 1 key");
    }

    #[test]
    fn first_matching_rule_wins() {
        let keyring = Keyring::new()
            .with_key("a", key(1))
            .with_key("b", key(2))
            .with_key("c", key(3))
            .rule(PathPattern::exact("$.contact.public").unwrap(), "a")
            .rule(PathPattern::prefix("$.contact").unwrap(), "b")
            .rule(PathPattern::regex(r"phone").unwrap(), "c")
            .rule(PathPattern::prefix("$.contact.phone").unwrap(), "a");
        let doc = json!({});
        let id = |path| keyring.key_for(path, &doc);
        assert_eq!(id("$.contact.public").as_deref(), Some("a"));
        assert_eq!(id("$.contact.phone").as_deref(), Some("b"), "the earlier prefix beats the later ones");
        assert_eq!(id("$.work.phone").as_deref(), Some("c"));
        assert_eq!(id("$.name"), None, "no rule: in clear");
    }

    #[test]
    fn default_key_is_not_a_rule() {
        let keyring = Keyring::new().with_key("d", key(1)).default_key("d");
        assert_eq!(keyring.key_for("$.x", &json!({})), None);
        assert_eq!(keyring.default_key_id().as_deref(), Some("d"));
    }

    #[test]
    fn keys_resolve_by_id_including_retired_ones() {
        let keyring = Keyring::new().with_key("old", key(1)).with_key("new", key(2)).rule(PathPattern::prefix("$").unwrap(), "new");
        assert!(keyring.key(&"old".to_owned()).is_some());
        assert!(keyring.key(&"new".to_owned()).is_some());
        assert!(keyring.key(&"gone".to_owned()).is_none());
        assert!(!ConfigLoader::keep_metadata(&keyring));
        assert!(ConfigLoader::keep_metadata(&keyring.with_metadata(true)));
    }

    #[test]
    fn validate_names_the_missing_or_bad_id() {
        let missing = Keyring::new().with_key("a", key(1)).rule(PathPattern::prefix("$").unwrap(), "b");
        let err = missing.validate().unwrap_err();
        assert_eq!((err.kind(), err.key_id()), (ErrorKind::MissingKey, Some("b")));
        let default_missing = Keyring::new().default_key("d");
        assert_eq!(default_missing.validate().unwrap_err().key_id(), Some("d"));
        let too_long = Keyring::new().with_key("x".repeat(256), key(1));
        assert_eq!(too_long.validate().unwrap_err().kind(), ErrorKind::Config);
        let good = Keyring::new().with_key("a", key(1)).rule(PathPattern::prefix("$").unwrap(), "a").default_key("a");
        assert!(good.validate().is_ok());
    }

    #[test]
    fn debug_shows_ids_and_rules_never_keys() {
        let keyring = Keyring::new().with_key("a", Key::new([0x41; 32]).unwrap()).rule(PathPattern::prefix("$.c").unwrap(), "a");
        let shown = format!("{keyring:?}");
        assert!(shown.contains("Prefix(\"$.c\")") && shown.contains("Key(<redacted>)"), "{shown}");
    }

    #[test]
    fn loaders_are_usable_as_trait_objects() {
        let loaders: Vec<Box<dyn ConfigLoader>> = vec![Box::new(Keyring::new()), Box::new(super::super::FnLoader::new())];
        assert!(loaders.iter().all(|l| l.key_for("$.a", &json!({})).is_none()));
    }
}
