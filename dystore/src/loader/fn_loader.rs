//! [`FnLoader`]: a config loader built from closures.

use super::ConfigLoader;
use crate::crypto::{Key, KeyId};
use serde_json::Value;
use std::fmt;

type PkFn = dyn Fn(&Value) -> Option<String> + Send + Sync;
type KeyForFn = dyn Fn(&str, &Value) -> Option<KeyId> + Send + Sync;
type KeyFn = dyn Fn(&KeyId) -> Option<Key> + Send + Sync;

/// A loader built from closures; what is not given keeps the trait's
/// default (UUID keys, nothing encrypted, no keys, no metadata).
///
/// ```
/// use dystore::{ConfigLoader, FnLoader, Key};
///
/// let key = Key::new([9u8; 32])?;
/// let loader = FnLoader::new()
///     .on_generate_pk(|doc| doc["email"].as_str().map(str::to_owned))
///     .on_key_for(|path, _doc| path.starts_with("$.card").then(|| "cards".to_owned()))
///     .on_key(move |id| (id == "cards").then(|| key.clone()))
///     .with_metadata(true);
/// let doc = serde_json::json!({"email": "ada@example.com"});
/// assert_eq!(ConfigLoader::generate_pk(&loader, &doc).as_deref(), Some("ada@example.com"));
/// assert_eq!(ConfigLoader::key_for(&loader, "$.card.number", &doc).as_deref(), Some("cards"));
/// assert!(ConfigLoader::key(&loader, &"cards".to_owned()).is_some());
/// # Ok::<(), dystore::Error>(())
/// ```
#[derive(Default)]
pub struct FnLoader {
    generate_pk: Option<Box<PkFn>>,
    key_for: Option<Box<KeyForFn>>,
    default_key_id: Option<KeyId>,
    key: Option<Box<KeyFn>>,
    keep_metadata: bool,
}

impl FnLoader {
    /// A loader that answers every question with the trait's default.
    pub fn new() -> Self {
        FnLoader::default()
    }

    /// The primary key of a new object from its document.
    pub fn on_generate_pk(mut self, f: impl Fn(&Value) -> Option<String> + Send + Sync + 'static) -> Self {
        self.generate_pk = Some(Box::new(f));
        self
    }

    /// The key id for the leaf at a path (`None`: in clear).
    pub fn on_key_for(mut self, f: impl Fn(&str, &Value) -> Option<KeyId> + Send + Sync + 'static) -> Self {
        self.key_for = Some(Box::new(f));
        self
    }

    /// The key id for paths the layout marks encrypted and `key_for` leaves
    /// to dystore.
    pub fn with_default_key_id(mut self, key_id: impl Into<KeyId>) -> Self {
        self.default_key_id = Some(key_id.into());
        self
    }

    /// Key material by id.
    pub fn on_key(mut self, f: impl Fn(&KeyId) -> Option<Key> + Send + Sync + 'static) -> Self {
        self.key = Some(Box::new(f));
        self
    }

    /// Whether documents read back keep `__dystore_meta__`.
    pub fn with_metadata(mut self, keep: bool) -> Self {
        self.keep_metadata = keep;
        self
    }
}

impl ConfigLoader for FnLoader {
    fn generate_pk(&self, document: &Value) -> Option<String> {
        self.generate_pk.as_ref().and_then(|f| f(document))
    }

    fn key_for(&self, path: &str, document: &Value) -> Option<KeyId> {
        self.key_for.as_ref().and_then(|f| f(path, document))
    }

    fn default_key_id(&self) -> Option<KeyId> {
        self.default_key_id.clone()
    }

    fn key(&self, id: &KeyId) -> Option<Key> {
        self.key.as_ref().and_then(|f| f(id))
    }

    fn keep_metadata(&self) -> bool {
        self.keep_metadata
    }
}

impl fmt::Debug for FnLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let given = |set: bool| if set { "given" } else { "default" };
        f.debug_struct("FnLoader")
            .field("generate_pk", &given(self.generate_pk.is_some()))
            .field("key_for", &given(self.key_for.is_some()))
            .field("default_key_id", &self.default_key_id)
            .field("key", &given(self.key.is_some()))
            .field("keep_metadata", &self.keep_metadata)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(byte: u8) -> Key {
        Key::new([byte; 32]).unwrap()
    }

    #[test]
    fn fn_loader_answers_with_its_closures_or_the_defaults() {
        let empty = FnLoader::new();
        let doc = json!({"id": "x-1"});
        assert_eq!(ConfigLoader::generate_pk(&empty, &doc), None);
        assert_eq!(ConfigLoader::key_for(&empty, "$.a", &doc), None);
        assert!(ConfigLoader::key(&empty, &"k".to_owned()).is_none());
        assert!(!ConfigLoader::keep_metadata(&empty));

        let k = key(7);
        let loader = FnLoader::new()
            .on_generate_pk(|doc| doc["id"].as_str().map(str::to_owned))
            .on_key_for(|path, doc| (path == "$.secret" && doc["id"] == "x-1").then(|| "k".to_owned()))
            .with_default_key_id("k")
            .on_key(move |id| (id == "k").then(|| k.clone()))
            .with_metadata(true);
        assert_eq!(ConfigLoader::generate_pk(&loader, &doc).as_deref(), Some("x-1"));
        assert_eq!(ConfigLoader::key_for(&loader, "$.secret", &doc).as_deref(), Some("k"));
        assert_eq!(ConfigLoader::key_for(&loader, "$.secret", &json!({})), None);
        assert_eq!(ConfigLoader::default_key_id(&loader).as_deref(), Some("k"));
        assert!(ConfigLoader::key(&loader, &"k".to_owned()).is_some());
        assert!(ConfigLoader::key(&loader, &"j".to_owned()).is_none());
        assert!(ConfigLoader::keep_metadata(&loader));
        assert!(format!("{loader:?}").contains("key_for: \"given\""));
    }
}
