//! Ciphertexts written by the Python package dynamo-store 0.6
//! (`aescrypt.AESCipher`), read so its users can migrate.
//!
//! The stored Binary value is ASCII text: `base64(IV || AES-256-CBC(padded))`
//! with the standard alphabet and `=` padding. The key is SHA-256 of the key
//! string ([`Key::from_legacy_string`]); the padding is PKCS#7-style to a
//! **32**-byte block counted in code points before UTF-8 encoding, so the
//! byte length is a multiple of 16 but not always of 32, and the pad is 1 to
//! 32 bytes each holding its length. There is no tag.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, InnerIvInit, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroize;

use super::Key;
use crate::error::{Error, ErrorKind, Result};

const IV_LEN: usize = 16;
const BLOCK: usize = 16;
/// The package pads to 32-byte blocks (`n = 32 - len % 32`).
const PAD_BLOCK: usize = 32;

/// Whether `bytes` has the shape of a dynamo-store 0.6 ciphertext: standard
/// base64 text (length a multiple of 4, `=` only at the end) of an IV plus
/// at least one AES block, a multiple of 16 bytes in all.
///
/// Format 1 envelopes start with 0x01, which is no base64 character, so the
/// two are never confused. An empty value is not legacy ciphertext (the
/// package stored it in clear).
pub fn is_legacy(bytes: &[u8]) -> bool {
    let body = bytes.strip_suffix(b"==").or_else(|| bytes.strip_suffix(b"=")).unwrap_or(bytes);
    let pad = bytes.len() - body.len();
    let decoded = (bytes.len() / 4 * 3).saturating_sub(pad);
    bytes.len().is_multiple_of(4)
        && decoded >= IV_LEN + BLOCK
        && decoded.is_multiple_of(BLOCK)
        && body.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Decrypts a dynamo-store 0.6 value (the raw Binary attribute: base64 text)
/// with the key built by [`Key::from_legacy_string`] from the package's key
/// string. Like the package, it gives back a string whatever the value's
/// type was, and an empty value as an empty string.
///
/// The format carries no tag, so a wrong key is caught only by the padding
/// and UTF-8 checks: nearly always for real data, but not with the certainty
/// of format 1. Stricter than the package, which stripped `last byte` bytes
/// without looking at them; everything it wrote passes these checks.
///
/// # Errors
///
/// - [`ErrorKind::Config`]: `key` is not 32 bytes (the package always used
///   AES-256);
/// - [`ErrorKind::MalformedCiphertext`]: not base64, or not an IV plus
///   whole AES blocks;
/// - [`ErrorKind::Authentication`]: the padding or the UTF-8 does not check:
///   wrong key, or damaged bytes.
///
/// No context is known here: add it with [`Error::with_path`] and friends.
pub fn open_legacy(key: &Key, bytes: &[u8]) -> Result<String> {
    if bytes.is_empty() {
        return Ok(String::new());
    }
    let master = key.master();
    if master.len() != 32 {
        return Err(Error::new(ErrorKind::Config, "dynamo-store 0.6 ciphertext needs the 32-byte key made by Key::from_legacy_string"));
    }
    let malformed = |detail| Error::new(ErrorKind::MalformedCiphertext, detail);
    // Python's b64decode, which the package read with, skips line breaks.
    let text: Vec<u8> = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut raw = STANDARD.decode(&text).map_err(|_| malformed("dynamo-store 0.6 ciphertext is not base64"))?;
    if raw.len() < IV_LEN + BLOCK || !raw.len().is_multiple_of(BLOCK) {
        return Err(malformed("dynamo-store 0.6 ciphertext is not an IV and whole AES blocks"));
    }
    let (iv, body) = raw.split_at_mut(IV_LEN);
    let cipher = aes::Aes256::new(GenericArray::from_slice(master));
    let decrypted = cbc::Decryptor::<aes::Aes256>::inner_iv_init(cipher, GenericArray::from_slice(iv))
        .decrypt_padded_mut::<NoPadding>(body)
        .map(<[u8]>::len);
    let plain_len = decrypted.ok().and_then(|len| unpad(&body[..len]));
    let plain = plain_len.map(|len| body[..len].to_vec());
    raw.zeroize();
    let wrong = || Error::new(ErrorKind::Authentication, "wrong key, or damaged dynamo-store 0.6 ciphertext");
    let plain = plain.ok_or_else(wrong)?;
    String::from_utf8(plain).map_err(|e| {
        e.into_bytes().zeroize();
        wrong()
    })
}

/// The length before the package's padding: the last byte `n` (1..=32) and
/// `n` bytes each equal to `n`.
fn unpad(plain: &[u8]) -> Option<usize> {
    let &n = plain.last()?;
    let n = usize::from(n);
    if n == 0 || n > PAD_BLOCK || n > plain.len() {
        return None;
    }
    let (value, pad) = plain.split_at(plain.len() - n);
    pad.iter().all(|&b| usize::from(b) == n).then_some(value.len())
}

#[cfg(test)]
mod tests;
