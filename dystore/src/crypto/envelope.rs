//! Format 1: one encrypted leaf in one Binary attribute.
//!
//! ```text
//! 0x01 | key id length (u8, 1..=255) | key id (UTF-8) | IV (16) | AES-CBC ciphertext (PKCS#7) | HMAC-SHA256 tag (32)
//! ```
//!
//! Encrypt-then-MAC. The tag covers the header, the context (table, root key,
//! path, each length-prefixed), the IV and the ciphertext, and is checked in
//! constant time before anything is decrypted. docs/ENCRYPTION.md gives the
//! full specification.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit};
use hmac::{Hmac, Mac};
use serde_dynamo::AttributeValue;
use sha2::Sha256;
use zeroize::Zeroize;

use super::key::Cipher;
use super::plaintext::{self, EncodeError};
use super::{Context, Key, legacy};
use crate::error::{Error, ErrorKind, Result};

/// The first byte of a format 1 envelope. Not a base64 character, so it can
/// never be confused with dynamo-store 0.6's base64 text.
pub(super) const FORMAT_1: u8 = 0x01;
pub(super) const IV_LEN: usize = 16;
pub(super) const TAG_LEN: usize = 32;
const BLOCK: usize = 16;

/// A format 1 envelope cut into its fields; nothing checked but the shape.
struct Parsed<'a> {
    /// Format byte, key id length and key id: the bytes the tag covers first.
    header: &'a [u8],
    key_id: &'a str,
    iv: &'a [u8],
    ciphertext: &'a [u8],
    tag: &'a [u8],
}

/// Encrypts one leaf under `key`, bound to `ctx`, with a fresh random IV.
///
/// # Errors
///
/// - [`ErrorKind::InvalidDocument`] if `leaf` is a map or a list (only leaves
///   are encrypted; encrypt their leaves one by one);
/// - [`ErrorKind::Config`] if `key_id` is empty or longer than 255 bytes, or
///   if the operating system's random number generator fails.
///
/// Errors name the context's table, key and path, and the key id.
///
/// ```
/// use dystore::crypto::{open, seal};
/// use dystore::{Context, Key};
/// use serde_dynamo::AttributeValue;
///
/// let key = Key::new([7u8; 32])?;
/// let ctx = Context::new("People", "p-1", "$.age");
/// let sealed = seal("k1", &key, &ctx, &AttributeValue::N("42".into()))?;
/// assert_eq!(dystore::crypto::envelope_key_id(&sealed)?, "k1");
/// assert_eq!(open(&key, &ctx, &sealed)?, AttributeValue::N("42".into()));
/// // The same bytes at another path do not open.
/// let elsewhere = Context::new("People", "p-1", "$.height");
/// assert!(open(&key, &elsewhere, &sealed).unwrap_err().is_authentication());
/// # Ok::<(), dystore::Error>(())
/// ```
pub fn seal(key_id: &str, key: &Key, ctx: &Context<'_>, leaf: &AttributeValue) -> Result<Vec<u8>> {
    let mut iv = [0u8; IV_LEN];
    getrandom::getrandom(&mut iv).map_err(|_| no_randomness(ctx, key_id))?;
    seal_with_iv(key_id, key, ctx, leaf, &iv)
}

/// [`seal`] with its IV drawn from `ivs`: the seals of one operation share
/// one system call for their IVs.
pub(crate) fn seal_from(ivs: &mut Ivs, key_id: &str, key: &Key, ctx: &Context<'_>, leaf: &AttributeValue) -> Result<Vec<u8>> {
    let iv = ivs.draw().map_err(|_| no_randomness(ctx, key_id))?;
    seal_with_iv(key_id, key, ctx, leaf, &iv)
}

fn no_randomness(ctx: &Context<'_>, key_id: &str) -> Error {
    ctx.error(ErrorKind::Config, "the operating system's random number generator failed").with_key_id(key_id)
}

/// How many IVs one draw from the operating system fills.
const IVS_PER_DRAW: usize = 16;

/// IVs for the seals of one operation, drawn from the operating system's
/// generator [`IVS_PER_DRAW`] at a time: a save seals every encrypted leaf,
/// and a `getrandom` system call per leaf weighed about 1–2 % of a save
/// (docs/PERFORMANCE.md). Each IV is operating-system randomness handed out
/// once. (Written here rather than taken from `rand`: a generator that
/// outlives the operation, as `rand`'s thread-local one does, would after a
/// `fork` give both processes the same IVs; this one lives as long as the
/// operation's codec.)
pub(crate) struct Ivs {
    pool: [u8; IV_LEN * IVS_PER_DRAW],
    /// Where the next IV starts; the pool's length when it is used up.
    next: usize,
}

impl Default for Ivs {
    fn default() -> Self {
        Ivs { pool: [0; IV_LEN * IVS_PER_DRAW], next: IV_LEN * IVS_PER_DRAW }
    }
}

impl Ivs {
    /// A fresh IV, drawing more from the operating system when the pool is used up.
    pub(crate) fn draw(&mut self) -> std::result::Result<[u8; IV_LEN], getrandom::Error> {
        if self.next == self.pool.len() {
            getrandom::getrandom(&mut self.pool)?;
            self.next = 0;
        }
        let mut iv = [0u8; IV_LEN];
        let slot = &mut self.pool[self.next..self.next + IV_LEN];
        iv.copy_from_slice(slot);
        // Handed out once: the pool keeps no copy of it.
        slot.fill(0);
        self.next += IV_LEN;
        Ok(iv)
    }
}

/// [`seal`] with a chosen IV. Only `seal`, `seal_from` and the test vectors
/// call it: an IV must never repeat under one key.
pub(crate) fn seal_with_iv(key_id: &str, key: &Key, ctx: &Context<'_>, leaf: &AttributeValue, iv: &[u8; IV_LEN]) -> Result<Vec<u8>> {
    let error = |kind, detail: String| ctx.error(kind, detail).with_key_id(key_id);
    let id_len = u8::try_from(key_id.len())
        .ok()
        .filter(|&len| len > 0)
        .ok_or_else(|| error(ErrorKind::Config, format!("a key id is 1 to 255 bytes, not {}", key_id.len())))?;
    let plain_len = plaintext::encoded_len(leaf).map_err(|e| match e {
        EncodeError::NotALeaf(what) => {
            error(ErrorKind::InvalidDocument, format!("{what} cannot be encrypted as one value; only its leaves can"))
        }
        EncodeError::TooLong => error(ErrorKind::InvalidDocument, "a set element is over 4 GiB".into()),
    })?;
    // PKCS#7 always adds 1..=16 bytes.
    let cipher_len = (plain_len / BLOCK + 1) * BLOCK;
    let header_len = 2 + key_id.len();
    let mut out = Vec::with_capacity(header_len + IV_LEN + cipher_len + TAG_LEN);
    out.extend_from_slice(&[FORMAT_1, id_len]);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(iv);
    let body = out.len();
    plaintext::encode(leaf, &mut out);
    out.resize(body + cipher_len, 0);
    key.cipher().encrypt_padded(iv, &mut out[body..], plain_len);
    let mut mac = mac_prefix(key, ctx, &out[..header_len], iv);
    mac.update(&out[body..]);
    let tag = mac.finalize().into_bytes();
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Decrypts a format 1 envelope sealed under `key` for `ctx`, giving back
/// the leaf with its DynamoDB type.
///
/// # Errors
///
/// Each names the context's table, key and path, and the key id once the
/// header has been read:
///
/// - [`ErrorKind::UnsupportedFormat`]: the first byte is not a known format
///   (dynamo-store 0.6 text included: use [`open_legacy`](crate::crypto::open_legacy));
/// - [`ErrorKind::MalformedCiphertext`]: empty, a header cut short, an empty
///   or non-UTF-8 key id, or a body whose length is not an IV, whole AES
///   blocks and a tag; also a body that does not decode under a valid tag,
///   which only a key holder can produce;
/// - [`ErrorKind::Authentication`]: the tag does not match: wrong key,
///   altered or truncated bytes, or a value moved from another table, item or
///   path.
pub fn open(key: &Key, ctx: &Context<'_>, envelope: &[u8]) -> Result<AttributeValue> {
    let parsed = parse(envelope).map_err(|e| ctx.attach(e))?;
    let error = |kind, detail| ctx.error(kind, detail).with_key_id(parsed.key_id);
    let mut mac = mac_prefix(key, ctx, parsed.header, parsed.iv);
    mac.update(parsed.ciphertext);
    mac.verify_slice(parsed.tag).map_err(|_| {
        error(
            ErrorKind::Authentication,
            "the tag does not match: wrong key, or the value was altered, cut short, or moved from another table, item or path",
        )
    })?;
    let plain = key
        .cipher()
        .decrypt_padded(parsed.iv, parsed.ciphertext)
        .ok_or_else(|| error(ErrorKind::MalformedCiphertext, "the padding is invalid under a valid tag"))?;
    plaintext::decode(plain).map_err(|detail| error(ErrorKind::MalformedCiphertext, detail))
}

/// The key id in a format 1 envelope's header, read without any key.
///
/// # Errors
///
/// [`ErrorKind::UnsupportedFormat`] or [`ErrorKind::MalformedCiphertext`] as
/// for [`open`] (the body is checked for shape too). No context is known
/// here: add it with [`Error::with_path`] and friends.
pub fn envelope_key_id(envelope: &[u8]) -> Result<&str> {
    parse(envelope).map(|parsed| parsed.key_id)
}

/// Splits an envelope into its fields. Total: every input gives a value or
/// an error, never a panic (only checked slicing below).
fn parse(envelope: &[u8]) -> Result<Parsed<'_>> {
    let malformed = |detail: &str| Error::new(ErrorKind::MalformedCiphertext, detail);
    let (&format, rest) = envelope.split_first().ok_or_else(|| malformed("the ciphertext is empty"))?;
    if format != FORMAT_1 {
        return Err(unsupported(format, envelope));
    }
    let (&id_len, rest) = rest.split_first().ok_or_else(|| malformed("the header is cut short"))?;
    if id_len == 0 {
        return Err(malformed("the key id is empty"));
    }
    let (key_id, body) = rest.split_at_checked(usize::from(id_len)).ok_or_else(|| malformed("the header is cut short"))?;
    let key_id = std::str::from_utf8(key_id).map_err(|_| malformed("the key id is not UTF-8"))?;
    let with_id = |e: Error| e.with_key_id(key_id);
    if body.len() < IV_LEN + BLOCK + TAG_LEN {
        return Err(with_id(malformed("too short for an IV, one AES block and a tag")));
    }
    let (iv, rest) = body.split_at(IV_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    if !ciphertext.len().is_multiple_of(BLOCK) {
        return Err(with_id(malformed("the ciphertext is not a whole number of AES blocks")));
    }
    let header = &envelope[..2 + usize::from(id_len)];
    Ok(Parsed { header, key_id, iv, ciphertext, tag })
}

fn unsupported(format: u8, bytes: &[u8]) -> Error {
    let detail = if legacy::is_legacy(bytes) {
        "this is dynamo-store 0.6 ciphertext (base64 text); read it with open_legacy".to_owned()
    } else {
        format!("unknown format byte 0x{format:02x}")
    };
    Error::new(ErrorKind::UnsupportedFormat, detail)
}

/// HMAC-SHA256 fed with header || len(table) table || len(key) key ||
/// len(path) path || IV (lengths as u64 big-endian); the ciphertext follows.
/// Everything before the ciphertext delimits itself, so no two inputs share
/// an encoding.
fn mac_prefix(key: &Key, ctx: &Context<'_>, header: &[u8], iv: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.mac_key()).expect("HMAC takes keys of any length");
    mac.update(header);
    for part in [ctx.table, ctx.key, ctx.path] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac.update(iv);
    mac
}

impl Cipher {
    /// Pads `buf[..msg_len]` (PKCS#7) and encrypts `buf` in place; `buf` is
    /// exactly the padded length.
    fn encrypt_padded(&self, iv: &[u8; IV_LEN], buf: &mut [u8], msg_len: usize) {
        let iv = GenericArray::from_slice(iv);
        let sealed = match self {
            Cipher::Aes128(c) => cbc::Encryptor::inner_iv_init(c.clone(), iv).encrypt_padded_mut::<Pkcs7>(buf, msg_len),
            Cipher::Aes256(c) => cbc::Encryptor::inner_iv_init(c.clone(), iv).encrypt_padded_mut::<Pkcs7>(buf, msg_len),
        };
        // Cannot fail: the caller sized `buf` for the padding.
        debug_assert!(sealed.is_ok());
    }

    /// Decrypts whole blocks and strips PKCS#7 padding; `None` if the
    /// padding is invalid (the buffer is wiped then).
    fn decrypt_padded(&self, iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        let iv = GenericArray::from_slice(iv);
        let mut out = vec![0u8; ciphertext.len()];
        let len = match self {
            Cipher::Aes128(c) => {
                cbc::Decryptor::inner_iv_init(c.clone(), iv).decrypt_padded_b2b_mut::<Pkcs7>(ciphertext, &mut out).map(<[u8]>::len)
            }
            Cipher::Aes256(c) => {
                cbc::Decryptor::inner_iv_init(c.clone(), iv).decrypt_padded_b2b_mut::<Pkcs7>(ciphertext, &mut out).map(<[u8]>::len)
            }
        };
        match len {
            Ok(len) => {
                out.truncate(len);
                Some(out)
            }
            Err(_) => {
                out.zeroize();
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
