//! The dynamic builder: a [`Layout`] described at run time, for
//! `serde_json::Value` documents.

use crate::layout::{EncryptRule, Layout, Shard};
use crate::path::{PlainPath, Step};
use std::borrow::Cow;

/// A layout built at run time, for documents without a Rust type.
///
/// Paths are JSONPath of names, indexes and `[*]` (see [`Layout`] for
/// their meaning and how odd names are quoted). Building never fails: the
/// layout is checked by [`Layout::validate`] at the start of every
/// operation, before any request, and a malformed path or a rule that can
/// never match is an `InvalidPath` error then; call
/// `store.layout().validate()` to check it at start-up.
///
/// ```
/// use dystore::Store;
/// let store = Store::new("People", "ID")
///     .shard(Store::new("Locations", "IDX").at("$.location")
///         .shard(Store::new("Geo", "GID").at("$.geo")))
///     .shard(Store::new("Locales", "LID").at("$.locales[*]"));
/// assert_eq!(store.layout().shards.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    layout: Layout,
    /// Where this store sits in its parent, when it is used as a shard.
    path: Option<String>,
}

impl Store {
    /// A store of objects in `table`, keyed by the string attribute `key`.
    pub fn new(table: impl Into<String>, key: impl Into<String>) -> Self {
        Store {
            layout: Layout {
                table: Cow::Owned(table.into()),
                key: Cow::Owned(key.into()),
                region: None,
                shards: Cow::Owned(Vec::new()),
                encrypt: Cow::Owned(Vec::new()),
            },
            path: None,
        }
    }

    /// The region recorded in references to this store's items.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.layout.region = Some(Cow::Owned(region.into()));
        self
    }

    /// Places this store, as a shard, at `path` in its parent: `$.location`,
    /// or `$.locales[*]` for one item per list element.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Adds a shard; `child` must have been placed with [`Store::at`] (a
    /// shard without a path is placed at the field named like its table).
    pub fn shard(mut self, child: Store) -> Self {
        let path = child.path.unwrap_or_else(|| PlainPath::root().child(Step::Field(child.layout.table.to_string())).to_string());
        self.layout.shards.to_mut().push(Shard { path: Cow::Owned(path), layout: child.layout });
        self
    }

    /// Encrypts the leaves at or below `path` with the loader's key for it.
    pub fn encrypt(self, path: impl Into<String>) -> Self {
        self.rule(path.into(), None, false)
    }

    /// Encrypts the leaves at or below `path` with the key `key_id`.
    pub fn encrypt_with(self, path: impl Into<String>, key_id: impl Into<String>) -> Self {
        self.rule(path.into(), Some(key_id.into()), false)
    }

    /// Exempts `path` from an encrypting rule above it.
    pub fn no_encrypt(self, path: impl Into<String>) -> Self {
        self.rule(path.into(), None, true)
    }

    fn rule(mut self, path: String, key_id: Option<String>, exempt: bool) -> Self {
        self.layout.encrypt.to_mut().push(EncryptRule { path: Cow::Owned(path), key_id: key_id.map(Cow::Owned), exempt });
        self
    }

    /// The layout this store describes.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Consumes the store, returning its layout.
    pub fn into_layout(self) -> Layout {
        self.layout
    }
}

impl From<Store> for Layout {
    fn from(store: Store) -> Layout {
        store.layout
    }
}
