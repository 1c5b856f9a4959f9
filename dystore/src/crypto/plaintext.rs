//! The plaintext inside a format 1 envelope: one type tag byte, then the
//! value, so a leaf comes back with the DynamoDB type it had.
//!
//! Written by hand rather than with a serialisation crate: the layout is part
//! of the stored format, so it is spelled out here byte by byte and in
//! docs/ENCRYPTION.md, where another implementation can follow it.

use serde_dynamo::AttributeValue;

/// `S`: the UTF-8 bytes.
pub(super) const TAG_S: u8 = 0x01;
/// `N`: the decimal string, as DynamoDB sends it.
pub(super) const TAG_N: u8 = 0x02;
/// `B`: the bytes.
pub(super) const TAG_B: u8 = 0x03;
/// `BOOL`: one byte, 0x00 or 0x01.
pub(super) const TAG_BOOL: u8 = 0x04;
/// `NULL`: nothing follows.
pub(super) const TAG_NULL: u8 = 0x05;
/// `SS`: each element as a u32 big-endian length, then its UTF-8 bytes.
pub(super) const TAG_SS: u8 = 0x06;
/// `NS`: each element as a u32 big-endian length, then its decimal string.
pub(super) const TAG_NS: u8 = 0x07;
/// `BS`: each element as a u32 big-endian length, then its bytes.
pub(super) const TAG_BS: u8 = 0x08;
/// An empty `M` (`{}`): nothing follows. Only an empty map is a leaf.
pub(super) const TAG_EMPTY_M: u8 = 0x09;
/// An empty `L` (`[]`): nothing follows. Only an empty list is a leaf.
pub(super) const TAG_EMPTY_L: u8 = 0x0a;

/// Why a leaf cannot be encoded.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum EncodeError {
    /// A map or a list: only leaves are encrypted.
    NotALeaf(&'static str),
    /// A set element longer than its u32 length prefix can say.
    TooLong,
}

/// The encoded length of `leaf`, tag included.
pub(super) fn encoded_len(leaf: &AttributeValue) -> Result<usize, EncodeError> {
    fn set_len<T: AsRef<[u8]>>(items: &[T]) -> Result<usize, EncodeError> {
        items.iter().try_fold(1usize, |total, item| {
            let len = item.as_ref().len();
            u32::try_from(len).map_err(|_| EncodeError::TooLong)?;
            Ok(total + 4 + len)
        })
    }
    Ok(match leaf {
        AttributeValue::S(s) | AttributeValue::N(s) => 1 + s.len(),
        AttributeValue::B(b) => 1 + b.len(),
        AttributeValue::Bool(_) => 2,
        AttributeValue::Null(_) => 1,
        AttributeValue::Ss(items) | AttributeValue::Ns(items) => set_len(items)?,
        AttributeValue::Bs(items) => set_len(items)?,
        AttributeValue::M(m) if m.is_empty() => 1,
        AttributeValue::L(l) if l.is_empty() => 1,
        AttributeValue::M(_) => return Err(EncodeError::NotALeaf("a map")),
        AttributeValue::L(_) => return Err(EncodeError::NotALeaf("a list")),
    })
}

/// Appends the encoding of `leaf` to `out`; call [`encoded_len`] first, which
/// rejects what this cannot encode.
pub(super) fn encode(leaf: &AttributeValue, out: &mut Vec<u8>) {
    fn set<T: AsRef<[u8]>>(out: &mut Vec<u8>, tag: u8, items: &[T]) {
        out.push(tag);
        for item in items {
            let item = item.as_ref();
            // Lengths were checked by `encoded_len`.
            out.extend_from_slice(&(item.len() as u32).to_be_bytes());
            out.extend_from_slice(item);
        }
    }
    match leaf {
        AttributeValue::S(s) => tagged(out, TAG_S, s.as_bytes()),
        AttributeValue::N(n) => tagged(out, TAG_N, n.as_bytes()),
        AttributeValue::B(b) => tagged(out, TAG_B, b),
        AttributeValue::Bool(v) => tagged(out, TAG_BOOL, &[u8::from(*v)]),
        AttributeValue::Null(_) => out.push(TAG_NULL),
        AttributeValue::Ss(items) => set(out, TAG_SS, items),
        AttributeValue::Ns(items) => set(out, TAG_NS, items),
        AttributeValue::Bs(items) => set(out, TAG_BS, items),
        // Only empty ones pass `encoded_len`.
        AttributeValue::M(_) => out.push(TAG_EMPTY_M),
        AttributeValue::L(_) => out.push(TAG_EMPTY_L),
    }
}

fn tagged(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    out.extend_from_slice(value);
}

/// The leaf encoded in `plain` (tag first). The error says what is wrong in
/// words that never quote the plaintext.
pub(super) fn decode(mut plain: Vec<u8>) -> Result<AttributeValue, &'static str> {
    let Some(&tag) = plain.first() else {
        return Err("the decrypted value has no type tag");
    };
    // Dropping the tag moves the value one byte down; cheaper than a second
    // buffer, and the benchmark shows it is noise next to AES and HMAC.
    plain.remove(0);
    let utf8 = |bytes: Vec<u8>| String::from_utf8(bytes).map_err(|_| "a decrypted string is not UTF-8");
    match tag {
        TAG_S => utf8(plain).map(AttributeValue::S),
        TAG_N => utf8(plain).map(AttributeValue::N),
        TAG_B => Ok(AttributeValue::B(plain)),
        TAG_BOOL => match plain[..] {
            [0] => Ok(AttributeValue::Bool(false)),
            [1] => Ok(AttributeValue::Bool(true)),
            _ => Err("a decrypted boolean is not one byte 0 or 1"),
        },
        TAG_NULL if plain.is_empty() => Ok(AttributeValue::Null(true)),
        TAG_NULL => Err("a decrypted null carries bytes"),
        TAG_SS => split_set(&plain)?.into_iter().map(|e| utf8(e.to_vec())).collect::<Result<_, _>>().map(AttributeValue::Ss),
        TAG_NS => split_set(&plain)?.into_iter().map(|e| utf8(e.to_vec())).collect::<Result<_, _>>().map(AttributeValue::Ns),
        TAG_BS => Ok(AttributeValue::Bs(split_set(&plain)?.into_iter().map(<[u8]>::to_vec).collect())),
        TAG_EMPTY_M if plain.is_empty() => Ok(AttributeValue::M(Default::default())),
        TAG_EMPTY_L if plain.is_empty() => Ok(AttributeValue::L(Vec::new())),
        TAG_EMPTY_M | TAG_EMPTY_L => Err("a decrypted empty map or list carries bytes"),
        _ => Err("the decrypted value has an unknown type tag"),
    }
}

/// The elements of a set body: (u32 big-endian length, bytes) until the end.
fn split_set(mut body: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    const CUT: &str = "a decrypted set element is cut short";
    let mut items = Vec::new();
    while !body.is_empty() {
        let (len, rest) = body.split_first_chunk::<4>().ok_or(CUT)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| CUT)?;
        if rest.len() < len {
            return Err(CUT);
        }
        let (item, rest) = rest.split_at(len);
        items.push(item);
        body = rest;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(leaf: &AttributeValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode(leaf, &mut out);
        assert_eq!(out.len(), encoded_len(leaf).unwrap());
        out
    }

    #[test]
    fn layouts_are_as_documented() {
        assert_eq!(encoded(&AttributeValue::S("hé".into())), b"\x01h\xc3\xa9");
        assert_eq!(encoded(&AttributeValue::N("-1.5e3".into())), b"\x02-1.5e3");
        assert_eq!(encoded(&AttributeValue::B(vec![0, 255])), b"\x03\x00\xff");
        assert_eq!(encoded(&AttributeValue::Bool(true)), b"\x04\x01");
        assert_eq!(encoded(&AttributeValue::Bool(false)), b"\x04\x00");
        assert_eq!(encoded(&AttributeValue::Null(true)), b"\x05");
        assert_eq!(encoded(&AttributeValue::Ss(vec!["a".into(), "".into()])), b"\x06\x00\x00\x00\x01a\x00\x00\x00\x00");
        assert_eq!(encoded(&AttributeValue::Ns(vec!["7".into()])), b"\x07\x00\x00\x00\x017");
        assert_eq!(encoded(&AttributeValue::Bs(vec![vec![9, 9]])), b"\x08\x00\x00\x00\x02\x09\x09");
        assert_eq!(encoded(&AttributeValue::M(Default::default())), b"\x09");
        assert_eq!(encoded(&AttributeValue::L(vec![])), b"\x0a");
    }

    #[test]
    fn maps_and_lists_with_members_are_not_leaves() {
        let map = AttributeValue::M([("a".to_owned(), AttributeValue::Null(true))].into());
        assert_eq!(encoded_len(&map), Err(EncodeError::NotALeaf("a map")));
        assert_eq!(encoded_len(&AttributeValue::L(vec![AttributeValue::Null(true)])), Err(EncodeError::NotALeaf("a list")));
    }

    #[test]
    fn decode_inverts_encode() {
        let leaves = [
            AttributeValue::S(String::new()),
            AttributeValue::N("12345678901234567890.5".into()),
            AttributeValue::B(vec![]),
            AttributeValue::Bool(false),
            AttributeValue::Null(true),
            AttributeValue::Ss(vec!["x".into(), "yz".into()]),
            AttributeValue::Ns(vec!["1".into(), "2".into()]),
            AttributeValue::Bs(vec![vec![], vec![1]]),
            AttributeValue::M(Default::default()),
            AttributeValue::L(vec![]),
        ];
        for leaf in leaves {
            assert_eq!(decode(encoded(&leaf)).unwrap(), leaf);
        }
    }

    #[test]
    fn malformed_plaintexts_are_errors() {
        for bad in [
            &b""[..],
            b"\x0b",
            b"\x09\x00",
            b"\x0a\x01",
            b"\x01\xff",
            b"\x04",
            b"\x04\x02",
            b"\x04\x01\x00",
            b"\x05\x00",
            b"\x06\x00\x00\x00\x02a",
            b"\x07\x00\x00",
        ] {
            assert!(decode(bad.to_vec()).is_err(), "{bad:?}");
        }
    }
}
