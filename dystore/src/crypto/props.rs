//! Property tests of format 1 and of the parsers' totality. Case counts are
//! set so the suite checks tens of thousands of envelopes in a debug build
//! within a few seconds.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_dynamo::AttributeValue;

use super::{Context, Key, envelope_key_id, is_legacy, open, open_legacy, seal};
use crate::ErrorKind;

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.to_string()),
        "-?[0-9]{1,38}(\\.[0-9]{1,20})?(E-?[0-9]{1,3})?",
    ]
}

fn leaf() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        any::<String>().prop_map(AttributeValue::S),
        number().prop_map(AttributeValue::N),
        vec(any::<u8>(), 0..300).prop_map(AttributeValue::B),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        vec(any::<String>(), 1..5).prop_map(AttributeValue::Ss),
        vec(number(), 1..5).prop_map(AttributeValue::Ns),
        vec(vec(any::<u8>(), 0..40), 1..5).prop_map(AttributeValue::Bs),
    ]
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![vec(any::<u8>(), 16), vec(any::<u8>(), 32)].prop_map(|bytes| Key::new(bytes).unwrap())
}

/// (table, root key, path) as owned strings, for a [`Context`].
type Place = (String, String, String);

fn place() -> impl Strategy<Value = Place> {
    ("[A-Za-z0-9_.-]{3,40}", any::<String>(), "\\$(\\.[a-z_]{1,8}|\\[[0-9]{1,2}\\]){1,5}")
}

fn ctx(place: &Place) -> Context<'_> {
    Context::new(&place.0, &place.1, &place.2)
}

fn key_id() -> impl Strategy<Value = String> {
    "[a-z0-9/:-]{1,40}"
}

/// Opening must fail with one of the three kinds a damaged envelope gets.
fn assert_rejected(key: &Key, ctx: &Context<'_>, bytes: &[u8]) -> Result<(), TestCaseError> {
    let err = open(key, ctx, bytes).expect_err("a damaged envelope opened");
    prop_assert!(
        matches!(err.kind(), ErrorKind::Authentication | ErrorKind::MalformedCiphertext | ErrorKind::UnsupportedFormat),
        "{}",
        err
    );
    prop_assert_eq!(err.path(), Some(ctx.path));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn seal_then_open_gives_the_leaf_back(key in key(), id in key_id(), place in place(), leaf in leaf()) {
        let sealed = seal(&id, &key, &ctx(&place), &leaf).unwrap();
        prop_assert_eq!(envelope_key_id(&sealed).unwrap(), id.as_str());
        prop_assert!(!is_legacy(&sealed));
        prop_assert_eq!(open(&key, &ctx(&place), &sealed).unwrap(), leaf);
    }

    #[test]
    fn a_wrong_key_is_an_authentication_error(a in key(), b in key(), place in place(), leaf in leaf()) {
        let sealed = seal("k", &a, &ctx(&place), &leaf).unwrap();
        let err = open(&b, &ctx(&place), &sealed).unwrap_err();
        prop_assert_eq!(err.kind(), ErrorKind::Authentication);
        prop_assert_eq!(err.key_id(), Some("k"));
    }

    #[test]
    fn another_table_key_or_path_is_an_authentication_error(
        key in key(), place in place(), other in place(), which in 0..3usize, leaf in leaf(),
    ) {
        let mut moved = place.clone();
        match which {
            0 => moved.0 = other.0,
            1 => moved.1 = other.1,
            _ => moved.2 = other.2,
        }
        prop_assume!(moved != place);
        let sealed = seal("k", &key, &ctx(&place), &leaf).unwrap();
        let err = open(&key, &ctx(&moved), &sealed).unwrap_err();
        prop_assert_eq!(err.kind(), ErrorKind::Authentication);
    }

    /// Any bytes at all: no panic, and nothing opens.
    #[test]
    fn parsers_are_total_on_arbitrary_bytes(key in key(), place in place(), bytes in vec(any::<u8>(), 0..400)) {
        parsers_are_total(&key, &place, &bytes)?;
    }

    /// Bytes with a plausible format 1 header, to reach deep into the parser.
    #[test]
    fn parsers_are_total_past_the_header(
        key in key(), place in place(), id_len in any::<u8>(), rest in vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = vec![0x01, id_len];
        bytes.extend(rest);
        parsers_are_total(&key, &place, &bytes)?;
    }

    /// Base64 text of random blobs, to reach deep into the legacy reader.
    #[test]
    fn legacy_reader_is_total_on_base64(key in key(), blocks in 0..6usize, seed in vec(any::<u8>(), 0..100)) {
        use base64::Engine;
        let blob: Vec<u8> = seed.iter().copied().cycle().take(16 * blocks).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&blob);
        let opened = open_legacy(&key, text.as_bytes());
        prop_assert!(opened.is_err() || is_legacy(text.as_bytes()) || text.is_empty());
    }
}

fn parsers_are_total(key: &Key, place: &Place, bytes: &[u8]) -> Result<(), TestCaseError> {
    let _ = envelope_key_id(bytes);
    assert_rejected(key, &ctx(place), bytes)?;
    let legacy = is_legacy(bytes);
    if open_legacy(key, bytes).is_ok() {
        // Only the package's shape (or an empty value) can ever open.
        prop_assert!(legacy || bytes.is_empty());
    }
    Ok(())
}

proptest! {
    // Each case checks every bit or every length of one envelope: with up to
    // ~700 bytes per envelope these add up to hundreds of thousands of opens.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_single_bit_flip_is_rejected(key in key(), id in key_id(), place in place(), leaf in leaf()) {
        let sealed = seal(&id, &key, &ctx(&place), &leaf).unwrap();
        let mut bytes = sealed.clone();
        for bit in 0..bytes.len() * 8 {
            bytes[bit / 8] ^= 1 << (bit % 8);
            assert_rejected(&key, &ctx(&place), &bytes)?;
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        prop_assert_eq!(bytes, sealed);
    }

    #[test]
    fn every_truncation_and_extension_is_rejected(
        key in key(), place in place(), leaf in leaf(), tail in vec(any::<u8>(), 1..40),
    ) {
        let sealed = seal("k", &key, &ctx(&place), &leaf).unwrap();
        for len in 0..sealed.len() {
            assert_rejected(&key, &ctx(&place), &sealed[..len])?;
        }
        let mut longer = sealed.clone();
        longer.extend_from_slice(&tail);
        assert_rejected(&key, &ctx(&place), &longer)?;
    }
}
