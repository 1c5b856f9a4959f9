//! Which key id each encrypted leaf should be under now, and the loader a
//! rewrite goes through so that no leaf encrypted before is written in
//! clear.
//!
//! The current key id of a leaf is the one a save would choose: the
//! layout's mark with a key id; else the loader's `key_for` (with the
//! object's document); else its `default_key_id`. The last step applies to
//! every encrypted leaf, marked or not: a rotation never decrypts. A leaf
//! for which none of them names a key id, or which the layout exempts from
//! encryption, fails and its object is left as it is.

use super::object::{Leaf, Stored};
use super::report::{CLEAR_KEY_ID, KeyUse, LEGACY_NO_KEY_ID};
use crate::crypto::{Key, KeyId};
use crate::error::{Error, ErrorKind};
use crate::loader::ConfigLoader;
use crate::path::PlainPath;
use crate::rules::Rule;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// What a rotation makes of one object.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    /// Per key id, the leaves as stored.
    pub(crate) before: BTreeMap<String, KeyUse>,
    /// Per key id, the leaves once rotated.
    pub(crate) after: BTreeMap<String, KeyUse>,
    /// Some leaf is under another key id than its current one, or is
    /// dynamo-store 0.6 ciphertext.
    pub(crate) stale: bool,
    /// Path (printed) to current key id, for every encrypted leaf.
    pub(crate) keep: HashMap<String, KeyId>,
    /// Leaves with no current key id.
    pub(crate) failures: Vec<Error>,
    /// Leaves in clear that the loader now names a key id for: stale (a
    /// rotation encrypts them), and a failure of a verification.
    pub(crate) uncovered: Vec<Error>,
}

/// The key ids of the leaves of `stored`, as stored and as they should be.
pub(crate) fn analyse(stored: &Stored, loader: &dyn ConfigLoader) -> Analysis {
    let mut analysis = Analysis::default();
    for leaf in &stored.leaves {
        let path = leaf.path.to_string();
        let now = leaf.key_id.clone().unwrap_or_else(|| LEGACY_NO_KEY_ID.to_owned());
        let target = current(stored, loader, leaf, &path);
        let stale = leaf.legacy || target.as_deref() != Some(now.as_str());
        analysis.stale |= stale;
        count(&mut analysis.before, &now, stale, leaf.legacy);
        match target {
            Some(target) => {
                count(&mut analysis.after, &target, false, false);
                analysis.keep.insert(path, target);
            }
            None => {
                count(&mut analysis.after, &now, stale, leaf.legacy);
                analysis.failures.push(no_current_key(stored, leaf, &path, &now));
            }
        }
    }
    for (table, path) in &stored.clear {
        let printed = path.to_string();
        let Some(target) = clear_target(stored, loader, path, &printed) else { continue };
        analysis.stale = true;
        count(&mut analysis.before, CLEAR_KEY_ID, true, false);
        count(&mut analysis.after, &target, false, false);
        let e = Error::new(ErrorKind::Unfinished, "a value in clear at a path the loader now names a key id for; a rotation encrypts it")
            .with_table(table.as_str())
            .with_key(stored.key.as_str())
            .with_path(printed.as_str())
            .with_key_id(target.as_str());
        analysis.uncovered.push(e);
        analysis.keep.insert(printed, target);
    }
    for uses in analysis.before.values_mut().chain(analysis.after.values_mut()) {
        uses.objects = 1;
    }
    analysis
}

/// Adds one leaf to the counts of `key_id`.
fn count(counts: &mut BTreeMap<String, KeyUse>, key_id: &str, stale: bool, legacy: bool) {
    let uses = counts.entry(key_id.to_owned()).or_default();
    uses.leaves += 1;
    uses.stale_leaves += u64::from(stale);
    uses.legacy_leaves += u64::from(legacy);
}

/// The key id the leaf should be under; `None` if the layout exempts it or
/// nothing names one.
fn current(stored: &Stored, loader: &dyn ConfigLoader, leaf: &Leaf, path: &str) -> Option<KeyId> {
    match stored.rules.decide(&leaf.path.steps) {
        Some(rule) if rule.exempt => None,
        Some(Rule { key_id: Some(k), .. }) => Some(k.clone()),
        _ => loader.key_for(path, &stored.doc).or_else(|| loader.default_key_id()),
    }
}

/// The key id a leaf stored in clear should be under now, as a save would
/// choose it: the loader's `key_for`; `None` (stays in clear) where it
/// names none, or the layout exempts the path. (A clear value at a marked
/// path is a failure of its own: a read refuses it.)
fn clear_target(stored: &Stored, loader: &dyn ConfigLoader, path: &PlainPath, printed: &str) -> Option<KeyId> {
    if stored.rules.encrypts(&path.steps) {
        return None; // a forgery, reported as such
    }
    match stored.rules.decide(&path.steps) {
        Some(rule) if rule.exempt => None,
        _ => loader.key_for(printed, &stored.doc),
    }
}

fn no_current_key(stored: &Stored, leaf: &Leaf, path: &str, now: &str) -> Error {
    let why = match stored.rules.decide(&leaf.path.steps) {
        Some(rule) if rule.exempt => "the layout exempts this path from encryption, and a rotation does not decrypt",
        _ => "an encrypted leaf for which neither the layout nor the loader names a current key id (no default key id either)",
    };
    Error::new(ErrorKind::MissingKey, why).with_table(leaf.table.as_str()).with_key(stored.key.as_str()).with_path(path).with_key_id(now)
}

/// The caller's loader, but every path in `keep` is encrypted under the
/// current key id the analysis chose for it, even where the loader would
/// store it in clear, and whatever marks the layout written with carries
/// (the caller's marks decided it, also when the object is written back in
/// its recorded layout, which has none).
pub(crate) struct Keeping<'a> {
    pub(crate) inner: &'a dyn ConfigLoader,
    pub(crate) keep: &'a HashMap<String, KeyId>,
}

impl ConfigLoader for Keeping<'_> {
    fn generate_pk(&self, document: &Value) -> Option<String> {
        self.inner.generate_pk(document)
    }

    fn key_for(&self, path: &str, document: &Value) -> Option<KeyId> {
        self.keep.get(path).cloned().or_else(|| self.inner.key_for(path, document))
    }

    fn default_key_id(&self) -> Option<KeyId> {
        self.inner.default_key_id()
    }

    fn key(&self, id: &KeyId) -> Option<Key> {
        self.inner.key(id)
    }

    fn writes_with(&self, id: &KeyId) -> bool {
        self.inner.writes_with(id)
    }

    fn keep_metadata(&self) -> bool {
        self.inner.keep_metadata()
    }

    fn key_choice(&self) -> Option<String> {
        self.inner.key_choice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::plain;
    use crate::tree::Resolved;
    use crate::{Keyring, PathPattern, Store};

    fn stored(store: &Store, leaves: &[(&str, &str)]) -> Stored {
        let leaves = leaves
            .iter()
            .map(|(path, id)| Leaf { table: "People".into(), path: plain(path), key_id: Some((*id).to_owned()), legacy: false })
            .collect();
        Stored {
            key: "k".into(),
            revision: Some("r".into()),
            layout: store.layout().clone(),
            rules: Resolved::new(store.layout()).unwrap().rules,
            doc: Value::Null,
            leaves,
            clear: Vec::new(),
            failures: Vec::new(),
            owed: None,
        }
    }

    fn keyring(default: Option<&str>) -> Keyring {
        let ring = Keyring::new().with_key("A", Key::new([1u8; 16]).unwrap()).with_key("B", Key::new([2u8; 16]).unwrap());
        let ring = ring.rule(PathPattern::prefix("$.contact").unwrap(), "B");
        match default {
            Some(id) => ring.default_key(id),
            None => ring,
        }
    }

    #[test]
    fn a_leaf_is_stale_unless_under_the_id_a_save_would_choose() {
        let store = Store::new("People", "ID").encrypt_with("$.pinned", "A");
        let s = stored(&store, &[("$.contact.phone", "A"), ("$.pinned", "A"), ("$.contact.mail", "B"), ("$.left", "A")]);
        let analysis = analyse(&s, &keyring(Some("B")));
        assert!(analysis.stale && analysis.failures.is_empty());
        assert_eq!((analysis.before["A"].leaves, analysis.before["A"].stale_leaves, analysis.before["B"].leaves), (3, 2, 1));
        assert_eq!((analysis.after["A"].leaves, analysis.after["B"].leaves), (1, 3), "the mark's id stays; the rest go to B");
        assert_eq!(analysis.keep["$.left"], "B", "a leaf no rule covers any more stays encrypted, under the default");
        let keeping = Keeping { inner: &keyring(None), keep: &analysis.keep };
        assert_eq!(keeping.key_for("$.left", &Value::Null).as_deref(), Some("B"));
        assert_eq!(keeping.key_for("$.other", &Value::Null), None);
    }

    #[test]
    fn a_rotation_never_decrypts() {
        let exempt = Store::new("People", "ID").no_encrypt("$.public");
        let analysis = analyse(&stored(&exempt, &[("$.public", "A"), ("$.left", "A")]), &keyring(None));
        let kinds: Vec<_> = analysis.failures.iter().map(|e| (e.kind(), e.path().map(str::to_owned))).collect();
        assert_eq!(kinds, [(ErrorKind::MissingKey, Some("$.public".into())), (ErrorKind::MissingKey, Some("$.left".into()))]);
        assert!(analysis.failures[0].to_string().contains("exempts"), "{}", analysis.failures[0]);
    }
}
