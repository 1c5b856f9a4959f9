//! Key material: the master key an application hands over, and the subkeys
//! derived from it once, when the [`Key`] is built.

use std::fmt;
use std::sync::Arc;

use aes::cipher::KeyInit;
use aes::cipher::generic_array::GenericArray;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// The name of an encryption key, stored in every ciphertext header.
pub type KeyId = String;

/// HKDF `info` for the AES-CBC subkey (as long as the master key).
pub(super) const INFO_AES: &[u8] = b"dystore/1 aes-cbc";
/// HKDF `info` for the HMAC-SHA256 subkey (32 bytes).
pub(super) const INFO_MAC: &[u8] = b"dystore/1 hmac-sha256";

/// A master key: 16 bytes for AES-128, 32 bytes for AES-256.
///
/// The AES and HMAC subkeys are derived with HKDF-SHA256 when the key is
/// built, so sealing or opening a leaf costs only AES and HMAC. Cloning is
/// cheap (the material is shared), and the last clone to go zeroizes the
/// master key, the HMAC subkey and the AES key schedule. `Debug` and
/// `Display` print `Key(<redacted>)`.
#[derive(Clone)]
pub struct Key {
    inner: Arc<Material>,
}

struct Material {
    /// The master key as given; dynamo-store 0.6 ciphertexts use it directly
    /// as their AES-256 key.
    master: Zeroizing<Vec<u8>>,
    /// AES keyed with the HKDF subkey; `aes`'s `zeroize` feature wipes the
    /// key schedule on drop.
    cipher: Cipher,
    mac_key: Zeroizing<[u8; 32]>,
}

/// AES with the schedule already expanded, by key length.
// One per key, behind an `Arc`: boxing the larger variant would only add a
// pointer chase per leaf.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(super) enum Cipher {
    Aes128(aes::Aes128),
    Aes256(aes::Aes256),
}

impl Key {
    /// A key from raw bytes: 16 bytes select AES-128, 32 bytes AES-256.
    ///
    /// The bytes are copied; wiping the caller's copy is the caller's call.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for any other length.
    ///
    /// ```
    /// let key = dystore::Key::new([7u8; 32])?;
    /// assert_eq!(format!("{key:?}"), "Key(<redacted>)");
    /// assert!(dystore::Key::new([7u8; 24]).is_err());
    /// # Ok::<(), dystore::Error>(())
    /// ```
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Key> {
        let bytes = bytes.as_ref();
        if !matches!(bytes.len(), 16 | 32) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("an encryption key is 16 bytes (AES-128) or 32 bytes (AES-256), not {}", bytes.len()),
            ));
        }
        Ok(Key::derive(bytes))
    }

    /// The key dynamo-store 0.6 used for a key string: SHA-256 of its UTF-8
    /// bytes, a 32-byte (AES-256) key.
    ///
    /// It opens that package's ciphertexts with
    /// [`open_legacy`](crate::crypto::open_legacy), and works as a format 1 key too.
    pub fn from_legacy_string(key_string: &str) -> Key {
        let mut digest = Zeroizing::new([0u8; 32]);
        Sha256::new_with_prefix(key_string.as_bytes()).finalize_into(GenericArray::from_mut_slice(&mut digest[..]));
        Key::derive(&digest[..])
    }

    /// Derives the subkeys; `master` is 16 or 32 bytes.
    fn derive(master: &[u8]) -> Key {
        // No salt: master keys are meant to be uniformly random already, and
        // a fixed format is easier to reimplement (RFC 5869 allows it).
        let hkdf = Hkdf::<Sha256>::new(None, master);
        let mut mac_key = Zeroizing::new([0u8; 32]);
        expand(&hkdf, INFO_MAC, &mut mac_key[..]);
        let mut aes_key = Zeroizing::new([0u8; 32]);
        let aes_key = &mut aes_key[..master.len()];
        expand(&hkdf, INFO_AES, aes_key);
        let cipher = if master.len() == 16 {
            Cipher::Aes128(aes::Aes128::new(GenericArray::from_slice(aes_key)))
        } else {
            Cipher::Aes256(aes::Aes256::new(GenericArray::from_slice(aes_key)))
        };
        let material = Material { master: Zeroizing::new(master.to_vec()), cipher, mac_key };
        Key { inner: Arc::new(material) }
    }

    pub(super) fn cipher(&self) -> &Cipher {
        &self.inner.cipher
    }

    pub(super) fn mac_key(&self) -> &[u8; 32] {
        &self.inner.mac_key
    }

    /// The master key itself, for the dynamo-store 0.6 format only.
    pub(super) fn master(&self) -> &[u8] {
        &self.inner.master
    }
}

fn expand(hkdf: &Hkdf<Sha256>, info: &[u8], out: &mut [u8]) {
    // HKDF-SHA256 yields up to 255 * 32 bytes; we never ask more than 32.
    hkdf.expand(info, out).expect("HKDF-SHA256 output of at most 32 bytes");
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_other_than_16_and_32_are_config_errors() {
        for len in [0, 1, 15, 17, 24, 31, 33, 64] {
            let err = Key::new(vec![1u8; len]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "length {len}");
        }
        assert!(matches!(Key::new([1u8; 16]).unwrap().cipher(), Cipher::Aes128(_)));
        assert!(matches!(Key::new([1u8; 32]).unwrap().cipher(), Cipher::Aes256(_)));
    }

    #[test]
    fn debug_and_display_never_show_material() {
        let key = Key::new([0x41u8; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "Key(<redacted>)");
        assert_eq!(format!("{key}"), "Key(<redacted>)");
        assert_eq!(format!("{:#?}", Some(key)), "Some(\n    Key(<redacted>),\n)");
    }

    #[test]
    fn legacy_string_key_is_sha256_of_the_string() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let key = Key::from_legacy_string("abc");
        assert_eq!(hex(key.master()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn subkeys_are_distinct_and_depend_on_the_master() {
        let a = Key::new([1u8; 32]).unwrap();
        let b = Key::new([2u8; 32]).unwrap();
        assert_ne!(a.mac_key(), b.mac_key());
        assert_ne!(&a.mac_key()[..], a.master());
        // Deterministic: the same master gives the same subkeys.
        assert_eq!(a.mac_key(), Key::new([1u8; 32]).unwrap().mac_key());
    }

    /// The HMAC subkeys of the test vectors' master keys, as printed in
    /// docs/ENCRYPTION.md (the AES subkeys show in the vectors themselves).
    #[test]
    fn mac_subkeys_match_the_documentation() {
        let k256 = Key::new((0u8..32).collect::<Vec<_>>()).unwrap();
        let k128 = Key::new((0u8..16).collect::<Vec<_>>()).unwrap();
        assert_eq!(hex(k256.mac_key()), "0a585a42cb7348a0d3fdb13375e572ea66d2fa4a711841d70ea98ae6d92f5887");
        assert_eq!(hex(k128.mac_key()), "56c74b260ea9676efb8c915bcf030a54c0fbc6e0abbf61478d183949d85bc68d");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
