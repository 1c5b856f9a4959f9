//! Arbitrary bytes into every ciphertext parser: format 1 (`envelope_key_id`,
//! `open`) and dynamo-store 0.6 (`is_legacy`, `open_legacy`). Any panic is a
//! bug; so is a legacy value opening that `is_legacy` disowns, or a sealed
//! value that does not open to itself.
#![no_main]

use std::sync::LazyLock;

use dystore::crypto::{envelope_key_id, is_legacy, open, open_legacy, seal};
use dystore::{Context, Key};
use libfuzzer_sys::fuzz_target;
use serde_dynamo::AttributeValue;

/// The key of the test vector in docs/ENCRYPTION.md, so the seed corpus
/// (the vector itself) reaches past the tag check.
static KEY: LazyLock<Key> = LazyLock::new(|| Key::new((0u8..32).collect::<Vec<_>>()).unwrap());
/// The fixtures' key string, so legacy seeds decrypt for real.
static LEGACY: LazyLock<Key> = LazyLock::new(|| Key::from_legacy_string("123kgk132l"));

fuzz_target!(|data: &[u8]| {
    let ctx = Context::new("People", "person-1", "$.location.city");
    if let Ok(id) = envelope_key_id(data) {
        assert!(!id.is_empty() && id.len() <= 255);
    }
    let _ = open(&KEY, &ctx, data);
    let legacy = is_legacy(data);
    for key in [&*LEGACY, &*KEY] {
        if open_legacy(key, data).is_ok() {
            assert!(legacy || data.is_empty(), "open_legacy accepted what is_legacy rejects");
        }
    }
    // Whatever the bytes, sealed as a binary leaf they come back unchanged.
    let leaf = AttributeValue::B(data.to_vec());
    let sealed = seal("fuzz", &KEY, &ctx, &leaf).unwrap();
    assert!(!is_legacy(&sealed));
    assert_eq!(open(&KEY, &ctx, &sealed).unwrap(), leaf);
});
