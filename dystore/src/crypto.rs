//! Per-leaf authenticated encryption (placeholder until the encryption work
//! lands: only the key types exist so the loader trait can name them).

use std::fmt;

/// The name of an encryption key, stored in every ciphertext header.
pub type KeyId = String;

/// Key material. Never printed.
#[derive(Clone)]
pub struct Key {
    bytes: Vec<u8>,
}

impl Key {
    /// Key material from raw bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Key { bytes: bytes.into() }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}
