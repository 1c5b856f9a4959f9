//! Per-leaf authenticated encryption: key material, the format 1 envelope,
//! and the reader of dynamo-store 0.6 ciphertexts.
//!
//! Only leaves are encrypted (strings, numbers, booleans, binaries, nulls and
//! sets), each on its own, so paths stay addressable. A sealed leaf is a
//! Binary attribute: a header naming the key id, an IV, AES-CBC ciphertext
//! and an HMAC-SHA256 tag that also covers the leaf's [`Context`] (table,
//! root key, path), so a value copied elsewhere does not open. Pure
//! functions: no I/O but the operating system's random numbers for IVs.
//!
//! docs/ENCRYPTION.md specifies every byte, with a test vector.

mod envelope;
mod key;
mod legacy;
mod plaintext;
#[cfg(test)]
mod props;

pub(crate) use envelope::{Ivs, seal_from};
pub use envelope::{envelope_key_id, open, seal};
pub use key::{Key, KeyId};
pub use legacy::{is_legacy, open_legacy};

use crate::error::{Error, ErrorKind};

/// Where a leaf lives; bound into its ciphertext, so the same bytes do not
/// open anywhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Context<'a> {
    /// The table of the item holding the leaf (a shard's table for a leaf
    /// stored in a shard).
    pub table: &'a str,
    /// The primary key of the object's root item (not the shard's key), so a
    /// leaf stays valid however the object is sharded.
    pub key: &'a str,
    /// The leaf's normalised JSONPath from the object root, such as
    /// `$.location.city` or `$.locales[2].type`.
    pub path: &'a str,
}

impl<'a> Context<'a> {
    /// A context from its three parts.
    pub fn new(table: &'a str, key: &'a str, path: &'a str) -> Self {
        Context { table, key, path }
    }

    /// An error of `kind` naming this context.
    fn error(&self, kind: ErrorKind, detail: impl Into<String>) -> Error {
        self.attach(Error::new(kind, detail))
    }

    /// `error` with this context's table, key and path added.
    fn attach(&self, error: Error) -> Error {
        error.with_table(self.table).with_key(self.key).with_path(self.path)
    }
}
