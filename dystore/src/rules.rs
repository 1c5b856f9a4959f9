//! Encryption rules resolved for one layout: every rule of the layout and of
//! its shards as a pattern from the object's root, checked once when the
//! layout is resolved, and the one question every operation asks of them:
//! which rule decides the leaf at this path.
//!
//! A rule's path is relative to the object of the layout that declares it
//! (for a shard, the shard itself), and covers the leaves at or below it,
//! wherever they are stored: a rule of the root at `$.location.city` covers
//! the city even when `$.location` is a shard. Among the rules covering a
//! leaf, the most specific decides (more steps; then more concrete indexes
//! than `[*]`); on a tie an encrypting rule beats an exempting one, so a
//! tie fails closed.

use crate::error::Result;
use crate::format::META;
use crate::layout::Layout;
use crate::path::{Pattern, PatternIndex, PatternStep, Step, parse_pattern};

/// One rule, its pattern from the object's root.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) pattern: Pattern,
    /// The key id the rule names; `None` asks the loader.
    pub(crate) key_id: Option<String>,
    /// `no_encrypt`: exempts the leaves it covers.
    pub(crate) exempt: bool,
    /// The table of the layout that declares the rule, and the rule's path as
    /// written there: what an error about the rule names.
    pub(crate) declared: (String, String),
}

/// The rules of a layout and of all its shards, and where the layout puts
/// its shards (from the root; `[*]` for the elements of a list shard).
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    rules: Vec<Rule>,
    /// The rules' patterns, by position in `rules`.
    index: PatternIndex,
    shard_places: Vec<Pattern>,
}

impl Rules {
    /// Adds the rules `layout` declares, for an object placed at `at` (a
    /// pattern from the root: `$`, `$.location`, `$.locales[*]`).
    pub(crate) fn add(&mut self, layout: &Layout, at: &Pattern) -> Result<()> {
        for rule in layout.encrypt.iter() {
            let relative = parse_pattern(&rule.path).map_err(|e| e.with_table(layout.table.as_ref()))?;
            let pattern = at.join(&relative);
            self.index.insert(&pattern, self.rules.len());
            self.rules.push(Rule {
                pattern,
                key_id: rule.key_id.as_ref().map(|k| k.to_string()),
                exempt: rule.exempt,
                declared: (layout.table.to_string(), rule.path.to_string()),
            });
        }
        Ok(())
    }

    /// The rule that decides the leaf at `path` (from the root), if any
    /// covers it.
    pub(crate) fn decide(&self, path: &[Step]) -> Option<&Rule> {
        let rank = |r: &Rule| {
            let concrete = r.pattern.steps.iter().filter(|s| matches!(s, PatternStep::Step(_))).count();
            (r.pattern.steps.len(), concrete, !r.exempt)
        };
        // Only the rules covering the path are ranked; the first of equally
        // ranked rules wins.
        let mut best = None;
        self.index.covering(path.iter().map(Step::as_ref), |id, _| {
            let ranked = (rank(&self.rules[id]), std::cmp::Reverse(id));
            if best.as_ref().is_none_or(|b| ranked > *b) {
                best = Some(ranked);
            }
        });
        best.map(|(_, std::cmp::Reverse(id))| &self.rules[id])
    }

    /// Whether the layout marks the leaf at `path` encrypted.
    pub(crate) fn encrypts(&self, path: &[Step]) -> bool {
        self.decide(path).is_some_and(|r| !r.exempt)
    }

    /// Records that the reader's layout has a shard at `place`.
    pub(crate) fn add_shard_place(&mut self, place: Pattern) {
        self.shard_places.push(place);
    }

    /// Whether the reader's layout has a shard at `path`.
    pub(crate) fn is_shard_place(&self, path: &[Step]) -> bool {
        self.shard_places.iter().any(|p| p.matches(path))
    }

    /// Every rule, in declaration order (the root's first, then its shards').
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }
}

/// Whether `pattern` starts with steps that can be `prefix`'s: some path
/// matches both up to `prefix`'s length.
pub(crate) fn passes_through(pattern: &Pattern, prefix: &Pattern) -> bool {
    pattern.steps.len() >= prefix.steps.len() && pattern.steps.iter().zip(&prefix.steps).all(|(a, b)| a.overlaps(b))
}

/// Why a rule (from the root) can never match, given an object placed at
/// `object` and keyed by `key`, or given a shard at `shard` (`list` if it is
/// one item per element): `None` if it can.
pub(crate) fn never_matches(rule: &Pattern, object: &Pattern, key: &str) -> Option<String> {
    if !passes_through(rule, object) {
        return None;
    }
    match rule.steps.get(object.steps.len()) {
        Some(PatternStep::Step(Step::Field(name))) if name == key => {
            Some(format!("`{key}` is the item's key attribute, which is never encrypted"))
        }
        Some(PatternStep::Step(Step::Field(name))) if name == META => Some(format!("`{META}` is dystore's metadata")),
        Some(PatternStep::AnyIndex | PatternStep::Step(Step::Index(_))) => {
            Some(format!("`{object}` is an object (a map of fields), and the rule indexes it"))
        }
        _ => None,
    }
}

/// Why a rule can never match a shard at `shard` (fields from the root, with
/// `[*]` for the elements of a list shard when `list`), or `None`.
pub(crate) fn never_matches_shard(rule: &Pattern, shard: &Pattern, list: bool) -> Option<String> {
    if !passes_through(rule, shard) {
        return None;
    }
    let next = rule.steps.get(shard.steps.len())?;
    match (list, next) {
        (true, PatternStep::Step(Step::Field(_))) => Some(format!("`{shard}` is a list shard: its elements are `{shard}[*]`")),
        (false, PatternStep::AnyIndex | PatternStep::Step(Step::Index(_))) => {
            Some(format!("`{shard}` is a shard holding an object, not a list"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::error::ErrorKind;
    use crate::path::plain;

    fn rules(store: Store) -> Rules {
        let mut rules = Rules::default();
        rules.add(store.layout(), &Pattern::default()).unwrap();
        rules
    }

    proptest::proptest! {
        /// The indexed lookup decides as ranking every rule that covers the
        /// path would: the most specific, then encrypting over exempting,
        /// then the first declared.
        #[test]
        fn the_index_decides_as_ranking_every_rule_would(
            rules in proptest::collection::vec((pattern_text(true), proptest::bool::ANY), 0..10),
            paths in proptest::collection::vec(pattern_text(false), 1..10),
        ) {
            let store = rules.iter().fold(Store::new("T", "K"), |s, (path, exempt)| if *exempt { s.no_encrypt(path) } else { s.encrypt(path) });
            let r = self::rules(store);
            for path in &paths {
                let steps = plain(path).steps;
                let rank = |r: &Rule| {
                    let concrete = r.pattern.steps.iter().filter(|s| matches!(s, PatternStep::Step(_))).count();
                    (r.pattern.steps.len(), concrete, !r.exempt)
                };
                let expected = r.rules.iter().rev().filter(|rule| rule.pattern.covers(&steps)).max_by_key(|rule| rank(rule));
                proptest::prop_assert_eq!(r.decide(&steps).map(|rule| &rule.declared), expected.map(|rule| &rule.declared), "{}", path);
                proptest::prop_assert_eq!(r.decide(&steps).map(|rule| rule.exempt), expected.map(|rule| rule.exempt));
            }
        }
    }

    /// A path (or with `wild`, a pattern) of a few steps over a small
    /// alphabet, so that rules and paths meet often.
    fn pattern_text(wild: bool) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let step = if wild {
            prop_oneof![Just(".a"), Just(".b"), Just("[0]"), Just("[*]")].boxed()
        } else {
            prop_oneof![Just(".a"), Just(".b"), Just("[0]"), Just("[1]")].boxed()
        };
        proptest::collection::vec(step, 1..4).prop_map(|s| format!("${}", s.concat()))
    }

    #[test]
    fn rules_cover_their_path_and_everything_below() {
        let r = rules(Store::new("T", "K").encrypt("$.a").encrypt("$.l[*].x").encrypt("$['odd name']"));
        for covered in ["$.a", "$.a.b[2]", "$.l[4].x", "$.l[0].x.y", "$['odd name']", "$['odd name'][3]"] {
            assert!(r.encrypts(&plain(covered).steps), "{covered}");
        }
        for clear in ["$.ab", "$.l.x", "$.l[1]", "$.odd", "$"] {
            assert!(!r.encrypts(&plain(clear).steps), "{clear}");
        }
    }

    #[test]
    fn the_most_specific_rule_decides_and_ties_fail_closed() {
        let r = rules(
            Store::new("T", "K")
                .encrypt_with("$.c", "outer")
                .no_encrypt("$.c.public")
                .encrypt_with("$.c.public.secret", "inner")
                .encrypt_with("$.l[*]", "any")
                .encrypt_with("$.l[1]", "one")
                .no_encrypt("$.tie")
                .encrypt("$.tie"),
        );
        let key = |p: &str| r.decide(&plain(p).steps).filter(|r| !r.exempt).and_then(|r| r.key_id.clone());
        assert_eq!(key("$.c.x").as_deref(), Some("outer"));
        assert_eq!(key("$.c.public.x"), None);
        assert_eq!(key("$.c.public.secret").as_deref(), Some("inner"));
        assert_eq!(key("$.l[0]").as_deref(), Some("any"));
        assert_eq!(key("$.l[1]").as_deref(), Some("one"));
        assert!(r.encrypts(&plain("$.tie").steps));
    }

    #[test]
    fn malformed_rules_are_invalid_paths_naming_rule_and_table() {
        for bad in ["contact", "$..a", "$.a.*", "$[", "$['']", "$.a['']"] {
            let mut r = Rules::default();
            let e = r.add(Store::new("People", "ID").encrypt(bad).layout(), &Pattern::default()).unwrap_err();
            assert_eq!((e.kind(), e.path(), e.table()), (ErrorKind::InvalidPath, Some(bad), Some("People")), "{bad}");
        }
    }
}
