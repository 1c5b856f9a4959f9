use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

const VECTOR_IV: [u8; 16] = [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf];

/// The vectors printed in docs/ENCRYPTION.md, also reproduced there by an
/// independent script (Python's hmac/hashlib and the openssl CLI).
const VECTORS: [(usize, &str, &str, &str); 2] = [
    (
        32,
        "$.location.city",
        "S:Osaka",
        "01026b31a0a1a2a3a4a5a6a7a8a9aaabacadaeafcb950fd988eb864731223ca9cf8d5fe9e3d6\
         3d0d716688e5856311006289b757465f9d5c9a8afd9be5e34ee15933deff",
    ),
    (
        16,
        "$.age",
        "N:-12.5",
        "01026b31a0a1a2a3a4a5a6a7a8a9aaabacadaeaf38fad29617c6453ddb1a17d28f62ff601316\
         a2f078abdc0340fea41bee8e072ac9dcd40dbce0e0ce8883632b1710abfa",
    ),
];

#[test]
fn test_vectors_match_the_documentation() {
    for (key_len, path, leaf, expected) in VECTORS {
        let key = Key::new((0..key_len as u8).collect::<Vec<_>>()).unwrap();
        let ctx = Context::new("People", "person-1", path);
        let leaf = match leaf.split_once(':').unwrap() {
            ("S", s) => AttributeValue::S(s.into()),
            (_, n) => AttributeValue::N(n.into()),
        };
        let sealed = seal_with_iv("k1", &key, &ctx, &leaf, &VECTOR_IV).unwrap();
        assert_eq!(hex(&sealed), expected);
        assert_eq!(open(&key, &ctx, &unhex(expected)).unwrap(), leaf);
    }
}

fn key() -> Key {
    Key::new([0x5au8; 32]).unwrap()
}

const CTX: Context<'static> = Context { table: "People", key: "p-1", path: "$.contact.phone" };

fn sealed(leaf: &AttributeValue) -> Vec<u8> {
    seal("k1", &key(), &CTX, leaf).unwrap()
}

fn open_err(key: &Key, ctx: &Context<'_>, bytes: &[u8]) -> Error {
    open(key, ctx, bytes).expect_err("must not open")
}

#[test]
fn every_leaf_type_keeps_its_type() {
    let leaves = [
        AttributeValue::S("Ōsaka".into()),
        AttributeValue::N("42".into()),
        AttributeValue::B(vec![0, 1, 2]),
        AttributeValue::Bool(true),
        AttributeValue::Null(true),
        AttributeValue::Ss(vec!["a".into(), "b".into()]),
        AttributeValue::Ns(vec!["1".into(), "2.5".into()]),
        AttributeValue::Bs(vec![vec![1], vec![2, 3]]),
    ];
    for leaf in leaves {
        assert_eq!(open(&key(), &CTX, &sealed(&leaf)).unwrap(), leaf);
    }
}

#[test]
fn each_seal_draws_a_fresh_iv() {
    let leaf = AttributeValue::S("same".into());
    assert_ne!(sealed(&leaf), sealed(&leaf));
}

#[test]
fn maps_and_lists_with_members_are_refused_naming_the_path() {
    let member = || ("a".to_owned(), AttributeValue::Null(true));
    for leaf in [AttributeValue::M([member()].into()), AttributeValue::L(vec![AttributeValue::Null(true)])] {
        let err = seal("k1", &key(), &CTX, &leaf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDocument);
        assert_eq!(err.path(), Some("$.contact.phone"));
        assert_eq!(err.table(), Some("People"));
    }
}

#[test]
fn key_ids_are_1_to_255_bytes() {
    let leaf = AttributeValue::Bool(false);
    for bad in [String::new(), "x".repeat(256)] {
        let err = seal(&bad, &key(), &CTX, &leaf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }
    let longest = "é".repeat(127) + "x";
    let sealed = seal(&longest, &key(), &CTX, &leaf).unwrap();
    assert_eq!(envelope_key_id(&sealed).unwrap(), longest);
    assert_eq!(open(&key(), &CTX, &sealed).unwrap(), leaf);
}

#[test]
fn layout_is_header_iv_blocks_tag() {
    let envelope = sealed(&AttributeValue::S("x".repeat(15)));
    // 1 + 1 + 2 (key id) + 16 (IV) + 16 (tag byte + 15 bytes = one block, so
    // PKCS#7 adds a whole block) + 16 + 32 (tag).
    assert_eq!(envelope.len(), 4 + 16 + 32 + 32);
    assert_eq!(&envelope[..4], b"\x01\x02k1");
}

#[test]
fn wrong_key_and_moves_fail_authentication_with_context() {
    let envelope = sealed(&AttributeValue::S("secret value".into()));
    let other_key = Key::new([0x5bu8; 32]).unwrap();
    let moved = [Context { table: "Other", ..CTX }, Context { key: "p-2", ..CTX }, Context { path: "$.contact.email", ..CTX }];
    let cases = [(other_key, CTX)].into_iter().chain(moved.map(|ctx| (key(), ctx)));
    for (key, ctx) in cases {
        let err = open_err(&key, &ctx, &envelope);
        assert!(err.is_authentication(), "{err}");
        assert_eq!((err.table(), err.key(), err.path()), (Some(ctx.table), Some(ctx.key), Some(ctx.path)));
        assert_eq!(err.key_id(), Some("k1"));
        assert!(!err.to_string().contains("secret"));
    }
}

#[test]
fn shape_errors_are_told_apart() {
    let good = sealed(&AttributeValue::S("two blocks of plaintext".into()));
    let mut not_utf8 = good.clone();
    not_utf8[2] = 0xff;
    let mut empty_id = good.clone();
    empty_id[1] = 0;
    let mut long_id = good.clone();
    long_id[1] = 255;
    let cases: [(&[u8], ErrorKind); 9] = [
        (b"", ErrorKind::MalformedCiphertext),
        (b"\x01", ErrorKind::MalformedCiphertext),
        (&empty_id, ErrorKind::MalformedCiphertext),
        (&long_id, ErrorKind::MalformedCiphertext),
        (&not_utf8, ErrorKind::MalformedCiphertext),
        (&good[..good.len() - 1], ErrorKind::MalformedCiphertext),
        (&good[..4 + 16 + 32], ErrorKind::MalformedCiphertext),
        (b"\x02\x02k1", ErrorKind::UnsupportedFormat),
        (&good[..good.len() - 16], ErrorKind::Authentication),
    ];
    for (bytes, kind) in cases {
        let err = open_err(&key(), &CTX, bytes);
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(err.path(), Some(CTX.path));
    }
    assert_eq!(envelope_key_id(&good[..good.len() - 1]).unwrap_err().kind(), ErrorKind::MalformedCiphertext);
}

#[test]
fn an_empty_key_id_is_malformed_even_with_a_well_shaped_body() {
    let mut no_id = vec![0x01, 0x00];
    no_id.extend_from_slice(&[0u8; 16 + 16 + 32]);
    assert_eq!(envelope_key_id(&no_id).unwrap_err().kind(), ErrorKind::MalformedCiphertext);
    assert_eq!(open_err(&key(), &CTX, &no_id).kind(), ErrorKind::MalformedCiphertext);
}

#[test]
fn legacy_text_is_unsupported_with_a_hint() {
    let legacy = b"aXVzMXdWdXdtZDU1ZFBkVzBpU2RrYktzRWNna1VraXV0ZG1EanRCYzZDQUtDQjBnSWx1YlYzN2ZSY1VHZmxMcg==";
    let err = open_err(&key(), &CTX, legacy);
    assert_eq!(err.kind(), ErrorKind::UnsupportedFormat);
    assert!(err.to_string().contains("open_legacy"), "{err}");
}

/// A body that decrypts to bad padding or an unknown type tag under a valid
/// tag can only come from a key holder; it is malformed, not garbage.
#[test]
fn valid_tag_over_a_bad_body_is_malformed() {
    let key = key();
    let mut envelope = b"\x01\x02k1".to_vec();
    envelope.extend_from_slice(&VECTOR_IV);
    // One block of zeros decrypted: bad PKCS#7 padding; a tag byte of 0x0b.
    let mut unknown_tag = [0x0fu8; 16];
    unknown_tag[0] = 0x0b;
    let bodies = [vec![0u8; 16], encrypted_block(&key, unknown_tag)];
    for body in bodies {
        let mut bad = envelope.clone();
        bad.extend_from_slice(&body);
        let mut mac = mac_prefix(&key, &CTX, &bad[..4], &VECTOR_IV);
        mac.update(&body);
        let tag = mac.finalize().into_bytes();
        bad.extend_from_slice(&tag);
        let err = open_err(&key, &CTX, &bad);
        assert_eq!(err.kind(), ErrorKind::MalformedCiphertext, "{err}");
        assert_eq!(err.key_id(), Some("k1"));
    }
}

/// AES-CBC of one full block whose last byte is 0x0f (a pad of 15 after a
/// one-byte value) under the envelope's subkey.
fn encrypted_block(key: &Key, block: [u8; 16]) -> Vec<u8> {
    let mut buf = [0u8; 32];
    buf[..16].copy_from_slice(&block);
    key.cipher().encrypt_padded(&VECTOR_IV, &mut buf, 16);
    buf[..16].to_vec()
}

/// Lengths around block boundaries, and large leaves.
#[test]
fn long_leaves_round_trip_with_exact_sizes() {
    for len in [14, 15, 16, 31, 127, 128, 143, 5000, 70_001, 400 * 1024] {
        let leaf = AttributeValue::B((0..len).map(|i| i as u8).collect());
        let envelope = sealed(&leaf);
        assert_eq!(envelope.len(), 4 + 16 + (len + 1) / 16 * 16 + 16 + 32);
        assert_eq!(open(&key(), &CTX, &envelope).unwrap(), leaf, "length {len}");
    }
}

/// The IVs of one operation's seals: each handed out once, fresh across
/// the pool's refills, and the envelopes they seal open.
#[test]
fn pooled_ivs_never_repeat_and_seal_as_seal_does() {
    let mut ivs = Ivs::default();
    let drawn: Vec<[u8; IV_LEN]> = (0..IVS_PER_DRAW * 3 + 1).map(|_| ivs.draw().unwrap()).collect();
    let distinct: std::collections::HashSet<_> = drawn.iter().collect();
    assert_eq!(distinct.len(), drawn.len(), "an IV came out twice");
    assert!(ivs.pool[..ivs.next].iter().all(|&b| b == 0), "the pool keeps no copy of what it handed out");
    let leaf = AttributeValue::S("x".into());
    let a = seal_from(&mut ivs, "k1", &key(), &CTX, &leaf).unwrap();
    let b = seal_from(&mut ivs, "k1", &key(), &CTX, &leaf).unwrap();
    assert_ne!(a[4..20], b[4..20], "two seals, two IVs");
    assert_eq!(open(&key(), &CTX, &a).unwrap(), leaf);
    assert_eq!(open(&key(), &CTX, &b).unwrap(), leaf);
}
