//! The shape of a stored object: its table, its key, its shards and its
//! encrypted paths.
//!
//! Both `#[derive(DyObject)]` (at compile time, as a `const`) and the dynamic
//! [`Store`] builder (at run time) produce a [`Layout`]; every operation of the
//! client works on a `Layout`, so typed and dynamic objects share one code path.

use std::borrow::Cow;

/// Where an object is stored and how it is split across tables.
///
/// Paths inside a layout (shard paths and encryption rules) are relative to
/// the object the layout describes: the root `$` of a shard's layout is the
/// shard itself. They are JSONPath of names, indexes and `[*]`: `.name` for
/// names of letters, digits, `_` and `-`, the quoted form for any other
/// (`$['first name']`, `$['e.mail']`, with JSONPath's escapes `\'` and
/// `\\`). The paths the [`ConfigLoader`](crate::ConfigLoader) and
/// [`PathPattern`](crate::PathPattern) see run from the root of the whole
/// object (`$.location.city` for the leaf `$.city` of the shard at
/// `$.location`).
///
/// A layout is checked ([`Layout::validate`]) at the start of every
/// operation, before any request: a malformed shard path or rule, or a rule
/// that can never match, is an [`ErrorKind::InvalidPath`](crate::ErrorKind)
/// error naming the rule as written and the table of the layout that
/// declares it; nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Table that holds this object's item(s).
    pub table: Cow<'static, str>,
    /// Name of the table's partition key attribute (a string attribute).
    pub key: Cow<'static, str>,
    /// Region recorded in shard references; `None` means the client's region.
    pub region: Option<Cow<'static, str>>,
    /// Shards directly below this object, each stored in its own table.
    pub shards: Cow<'static, [Shard]>,
    /// Encryption rules: each covers the leaves at or below its path, those
    /// stored in shards included (a rule at `$.location.city` covers the
    /// city even when `$.location` is a shard). Shards add rules of their own.
    pub encrypt: Cow<'static, [EncryptRule]>,
}

/// A nested object stored in a table of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shard {
    /// Path relative to the parent: `$.location` for one object, or
    /// `$.locales[*]` for one shard item per element of a list.
    pub path: Cow<'static, str>,
    /// Layout of the nested object.
    pub layout: Layout,
}

/// A rule saying whether the leaves at or below a path are encrypted.
///
/// Among the rules covering a leaf (the layout's own and its ancestors'),
/// the most specific decides: the one with more steps, then the one with
/// more concrete indexes than `[*]`; on a tie, an encrypting rule beats an
/// exempting one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncryptRule {
    /// Path relative to the object: a leaf (`$.firstname`), or a map or list
    /// (`$.contact`, meaning every leaf below it); `[*]` matches any index
    /// (`$.orders[*].card_last4`).
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

    /// Whether the shard stores one item per element of a list (its path
    /// ends in `[*]`); `false` for a path that does not parse.
    pub fn is_list(&self) -> bool {
        crate::path::parse_pattern(&self.path).is_ok_and(|p| p.steps.last() == Some(&crate::path::PatternStep::AnyIndex))
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
