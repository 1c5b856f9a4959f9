//! The shape of a stored object: its table, its key, its shards and its
//! encrypted paths.
//!
//! Both `#[derive(DyObject)]` (at compile time, as a `const`) and the dynamic
//! [`Store`] builder (at run time) produce a [`Layout`]; every operation of the
//! client works on a `Layout`, so typed and dynamic objects share one code path.

use std::borrow::Cow;

/// Where an object is stored and how it is split across tables.
///
/// Paths inside a layout are relative to the object the layout describes:
/// the root of a shard's layout is the shard itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Table that holds this object's item(s).
    pub table: Cow<'static, str>,
    /// Name of the table's partition key attribute (a string attribute).
    pub key: Cow<'static, str>,
    /// Region recorded in shard references; `None` means the client's region.
    pub region: Option<Cow<'static, str>>,
    /// Shards directly below this object, each stored in its own table.
    pub shards: Cow<'static, [Shard]>,
    /// Encryption rules for this object's own leaves (not those of its shards,
    /// which carry their own rules).
    pub encrypt: Cow<'static, [EncryptRule]>,
}

/// A nested object stored in a table of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Path relative to the parent: `$.location` for one object, or
    /// `$.locales[*]` for one shard item per element of a list.
    pub path: Cow<'static, str>,
    /// Layout of the nested object.
    pub layout: Layout,
}

/// A rule saying whether the leaves at or below a path are encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptRule {
    /// Path relative to the object: a leaf (`$.firstname`), or a map or list
    /// (`$.contact`, meaning every leaf below it); `[*]` matches any index.
    pub path: Cow<'static, str>,
    /// Key id to use; `None` asks the config loader, then falls back to its
    /// default key.
    pub key_id: Option<Cow<'static, str>>,
    /// `true` exempts the path from an encrypting rule above it
    /// (`#[dystore(no_encrypt)]`).
    pub exempt: bool,
}

impl Layout {
    /// A layout usable in `const` context; this is what the derive emits.
    pub const fn fixed(
        table: &'static str,
        key: &'static str,
        region: Option<&'static str>,
        shards: &'static [Shard],
        encrypt: &'static [EncryptRule],
    ) -> Self {
        let region = match region {
            Some(r) => Some(Cow::Borrowed(r)),
            None => None,
        };
        Layout {
            table: Cow::Borrowed(table),
            key: Cow::Borrowed(key),
            region,
            shards: Cow::Borrowed(shards),
            encrypt: Cow::Borrowed(encrypt),
        }
    }
}

impl Shard {
    /// A shard usable in `const` context; this is what the derive emits.
    pub const fn fixed(path: &'static str, layout: Layout) -> Self {
        Shard { path: Cow::Borrowed(path), layout }
    }

    /// Whether the shard stores one item per element of a list (`[*]`).
    pub fn is_list(&self) -> bool {
        self.path.ends_with("[*]")
    }
}

impl EncryptRule {
    /// A rule usable in `const` context; this is what the derive emits.
    pub const fn fixed(path: &'static str, key_id: Option<&'static str>, exempt: bool) -> Self {
        let key_id = match key_id {
            Some(k) => Some(Cow::Borrowed(k)),
            None => None,
        };
        EncryptRule { path: Cow::Borrowed(path), key_id, exempt }
    }
}
