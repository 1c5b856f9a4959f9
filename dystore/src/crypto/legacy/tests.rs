use super::*;

/// Values written by dynamo-store 0.6.0 itself, copied from
/// shared/fixtures/dynamo-store-0.6: (key string, the attribute as it
/// appears on the DynamoDB JSON wire, i.e. base64 of the stored base64 text,
/// the value the package reads back, where it was stored).
const FIXTURE: &[(&str, &str, &str, &str)] = &[
    (
        "123kgk132l",
        "aXVzMXdWdXdtZDU1ZFBkVzBpU2RrYktzRWNna1VraXV0ZG1EanRCYzZDQUtDQjBnSWx1YlYzN2ZSY1VHZmxMcg==",
        "john",
        "documents.json compat-1 firstname",
    ),
    (
        "123kgk132l",
        "aG9iWW9PNFVsU3FBMnhwTVVhMk94SmR2TjE5d0VnZmxKMitHeTh0ME96emxxTktCdXNMOHdKald5MVMwOCs1Wg==",
        "12/2/1995",
        "documents.json compat-1 birth_details.dob",
    ),
    (
        "123kgk132l",
        "Yko1RmhqdGpmcEJjMXAzZUpoSHhybDBDcVpMc0Jma0NENG01MVRJN1VzK0tXY2d5MGJVQjRqZ2RHK3ZkMWNxRg==",
        "Kosei Nenkin",
        "documents.json compat-1 birth_details.hospital",
    ),
    (
        "123kgk132l",
        "OUlFTHYydmpIVEdyN1lSVGJqOUVqWVVQeFZPQ2ZINnZUbjhnQUhWMzY0aFM5a0JiYU41eTJGa2dZTG1wTXhVaw==",
        "90.00",
        "documents.json compat-2 location.geolocation.longitude",
    ),
    (
        "123kgk132l",
        "andOdlFVRkpnRGJzdlJFUzc4OVFGUmVLWFNQUWdXQlJ3VGRCMDVDRFZwNStOTmdGa1c3bi91U1JSR3p0K0lIaw==",
        "bob",
        "documents.json compat-2 friends.[0]",
    ),
    (
        "123kgk132l",
        "aTdEZkwwOGIyWFZKT0d1YW5kb2FLcWJaSEJPeG9oaVRlWFZORit3RnZFMXlGR1BsN1owVUZWejRFSmNXUnFqNA==",
        "nl_NL",
        "documents.json compat-2 locales.[2].type",
    ),
    (
        "objkey-7731",
        "TUFSNFpsaFk0cnh0cUF0UEZzRXRMWHY0MXRQd3pWdWhnajUyVklLSUNtWWlRRzR1azBUdDZpZFlkVytuSmZJRQ==",
        "United Kingdom",
        "objects.json obj-1 location.country.value",
    ),
    (
        "objkey-7731",
        "d1N5aWpEbVh5dDZSV2E5dlBjd1A0ZFdOYkZRaVZsbnRWNUg1amZaWWN3UlBMYnRGczBFYXhIQ0szVVViS0s4UA==",
        "51.5074",
        "objects.json obj-1 location.geolocation.lattitude.value",
    ),
    (
        "objkey-7731",
        "UlVJTEMwNHZMMHhBcTN0NnhFakVtSG9TV1hTbVlqOTh4S2dRby9PTnZDNFFpUzIzQmxkbHZESnRFb050T0s0aQ==",
        "Warrington Lodge",
        "objects.json obj-2 birth_details.hospital.value",
    ),
];

/// The Binary attribute's raw value: the wire form decoded once.
fn stored(wire: &str) -> Vec<u8> {
    STANDARD.decode(wire).unwrap()
}

#[test]
fn fixture_values_decrypt_to_what_the_package_reads() {
    for &(key_string, wire, expected, place) in FIXTURE {
        let raw = stored(wire);
        assert!(is_legacy(&raw), "{place}");
        let key = Key::from_legacy_string(key_string);
        assert_eq!(open_legacy(&key, &raw).unwrap(), expected, "{place}");
    }
}

#[test]
fn fixture_values_refuse_the_other_key_string() {
    for &(key_string, wire, _, place) in FIXTURE {
        let other = if key_string == "123kgk132l" { "objkey-7731" } else { "123kgk132l" };
        let err = open_legacy(&Key::from_legacy_string(other), &stored(wire)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication, "{place}");
    }
}

/// Every Binary value in both fixture files opens with that file's key
/// string and gives one of the strings of its expected documents.
#[test]
fn every_fixture_ciphertext_opens() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dynamo-store-0.6");
    let mut opened = 0;
    for file in ["documents.json", "objects.json"] {
        let path = format!("{dir}/{file}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (the fixture ships in dystore/tests/fixtures)"));
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        let key = Key::from_legacy_string(fixture["key_string"].as_str().unwrap());
        let mut expected = Vec::new();
        strings(&fixture["documents"], &mut expected);
        let mut wires = Vec::new();
        binaries(&fixture["tables"], &mut wires);
        for wire in wires {
            let plain = open_legacy(&key, &stored(wire)).unwrap();
            assert!(expected.contains(&plain.as_str()), "{file}: unexpected plaintext");
            opened += 1;
        }
    }
    // 6 + 13 document paths, 7 + 10 object paths.
    assert_eq!(opened, 36);
}

fn strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The wire text of every `{"B": ...}` attribute under `value`.
fn binaries<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|v| binaries(v, out)),
        serde_json::Value::Object(map) => {
            if let (1, Some(serde_json::Value::String(b))) = (map.len(), map.get("B")) {
                out.push(b);
            } else {
                map.values().for_each(|v| binaries(v, out));
            }
        }
        _ => {}
    }
}

/// Encrypts as aescrypt.AESCipher did (pad to 32 by code points, then
/// UTF-8), to check non-ASCII values and every padding length.
fn python_encrypt(key: &Key, iv: [u8; 16], value: &str) -> Vec<u8> {
    use aes::cipher::BlockEncryptMut;
    let n = 32 - value.chars().count() % 32;
    let mut padded = value.as_bytes().to_vec();
    padded.extend(std::iter::repeat_n(n as u8, n));
    assert_eq!(padded.len() % 16, 0, "the package could not encrypt this value");
    let cipher = aes::Aes256::new(GenericArray::from_slice(key.master()));
    let len = padded.len();
    cbc::Encryptor::<aes::Aes256>::inner_iv_init(cipher, GenericArray::from_slice(&iv))
        .encrypt_padded_mut::<NoPadding>(&mut padded, len)
        .unwrap();
    let mut blob = iv.to_vec();
    blob.extend(padded);
    STANDARD.encode(blob).into_bytes()
}

#[test]
fn every_padding_length_and_non_ascii_values_round_trip() {
    let key = Key::from_legacy_string("123kgk132l");
    for len in 0..=70 {
        let value = "x".repeat(len);
        assert_eq!(open_legacy(&key, &python_encrypt(&key, [len as u8; 16], &value)).unwrap(), value);
    }
    // 16 code points, 32 UTF-8 bytes: one the package could encrypt.
    let value = "Ō".repeat(16);
    assert_eq!(open_legacy(&key, &python_encrypt(&key, [3; 16], &value)).unwrap(), value);
}

#[test]
fn empty_value_is_returned_as_is() {
    assert_eq!(open_legacy(&Key::from_legacy_string("k"), b"").unwrap(), "");
    assert!(!is_legacy(b""));
}

#[test]
fn shape_errors_are_malformed() {
    let key = Key::from_legacy_string("k");
    let cases: [&[u8]; 4] = [
        b"not base64!",
        b"QUJD",                                             // 3 bytes
        b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", // 35 bytes
        b"AAAAAAAAAAAAAAAAAAAAAA==",                         // 16 bytes: an IV alone
    ];
    for bytes in cases {
        assert_eq!(open_legacy(&key, bytes).unwrap_err().kind(), ErrorKind::MalformedCiphertext, "{bytes:?}");
    }
}

#[test]
fn a_sixteen_byte_key_is_a_config_error() {
    let raw = stored(FIXTURE[0].1);
    let err = open_legacy(&Key::new([1u8; 16]).unwrap(), &raw).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[test]
fn is_legacy_tells_base64_text_from_envelopes() {
    let iv_and_block = STANDARD.encode([0u8; 32]);
    assert!(is_legacy(iv_and_block.as_bytes()));
    assert!(is_legacy(STANDARD.encode([0u8; 48]).as_bytes()));
    assert!(!is_legacy(STANDARD.encode([0u8; 40]).as_bytes()), "not whole blocks");
    assert!(!is_legacy(STANDARD.encode([0u8; 16]).as_bytes()), "an IV alone");
    assert!(!is_legacy(&iv_and_block.as_bytes()[1..]), "length not a multiple of 4");
    assert!(!is_legacy(&[b'A'; 66]), "66 = 4 * 16 + 2 characters");
    assert!(is_legacy(&[b'A'; 64]));
    let mut envelope = iv_and_block.clone().into_bytes();
    envelope[0] = 0x01;
    assert!(!is_legacy(&envelope));
    let mut inner_pad = iv_and_block.into_bytes();
    inner_pad[5] = b'=';
    assert!(!is_legacy(&inner_pad));
}

#[test]
fn unpad_checks_every_pad_byte() {
    assert_eq!(unpad(b"ab\x02\x02"), Some(2));
    assert_eq!(unpad(&[32u8; 32]), Some(0));
    assert_eq!(unpad(b"ab\x01\x02"), None);
    assert_eq!(unpad(b"ab\x00"), None);
    assert_eq!(unpad(&[33u8; 33]), None, "the package never pads past 32");
    assert_eq!(unpad(b"\x05\x05"), None, "longer than the value");
    assert_eq!(unpad(b""), None);
}
