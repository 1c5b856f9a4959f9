//! Typed `read_path` and `write_path` check the path and the value against
//! the type before any request, so `load::<T>` keeps working; the `pk`
//! field reads as the key. On every backend; the derived table names are
//! literals, as in `typed.rs`, and every object gets its own key.

mod common;

use common::{Target, client};
use dystore::{Client, DyObject, ErrorKind, Key, Keyring};
use serde::{Deserialize, Serialize};
use serde_json::json;

fn unique() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A client with a default key and the tables of `T`.
async fn ready<T: DyObject>(target: Target) -> Client {
    let db = client(target).await.with_loader(Keyring::new().with_key("k1", Key::new([7u8; 32]).unwrap()).default_key("k1"));
    db.create_tables::<T>().await.expect("create tables");
    db
}

/// A struct whose fields take values only their own types accept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_Shapes", key = "ID")]
struct Shapes {
    #[dystore(pk)]
    id: String,
    either: Either,
    pair: (u8, String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Either {
    N(u8),
    S(String),
}

/// Values are checked against untagged enums and tuples as a whole; the
/// `pk` field reads as the key only for an object that exists; a versioned
/// save refuses a changed `pk` field.
async fn typed_paths_check_enums_tuples_and_the_key(target: Target) {
    let db = ready::<Shapes>(target).await;
    let id = unique();
    let obj = Shapes { id: id.clone(), either: Either::N(1), pair: (1, "a".into()) };
    db.save(&obj).await.unwrap();
    for (path, value) in [("$.either", json!([1])), ("$.either", json!(300)), ("$.pair", json!([1, 2]))] {
        let e = db.write_path::<Shapes>(&id, path, value).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidDocument, Some(path)), "{e}");
    }
    db.write_path::<Shapes>(&id, "$.either", json!("text")).await.unwrap();
    db.write_path::<Shapes>(&id, "$.pair", json!([2, "b"])).await.unwrap();
    assert_eq!(db.load::<Shapes>(&id).await.unwrap(), Shapes { id: id.clone(), either: Either::S("text".into()), pair: (2, "b".into()) });

    assert_eq!(db.read_path::<Shapes>(&id, "$.id").await.unwrap(), [json!(id)]);
    assert!(db.read_path::<Shapes>(&unique(), "$.id").await.unwrap_err().is_not_found());
    for bad in ["", "a#$b"] {
        assert_eq!(db.read_path::<Shapes>(bad, "$.id").await.unwrap_err().kind(), ErrorKind::InvalidKey);
    }
    assert_eq!(db.read_path::<Shapes>(&id, "$.id.x").await.unwrap_err().kind(), ErrorKind::InvalidPath);

    let mut loaded = db.load_versioned::<Shapes>(&id).await.unwrap();
    loaded.value.id = unique();
    let e = db.save_versioned(&loaded).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidKey, "{e}");
    assert!(db.load::<Shapes>(&loaded.value.id).await.unwrap_err().is_not_found(), "nothing saved under the new key");
}

/// A customer with a shard, an optional field and a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_paths_Customer", key = "ID")]
struct Root {
    #[dystore(encrypt)]
    firstname: String,
    nickname: Option<String>,
    visits: u64,
    #[dystore(shard)]
    location: Location,
    #[dystore(shard)]
    passport: Option<Passport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_paths_Location", key = "LID")]
struct Location {
    city: String,
    geolocation: GeoLocation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GeoLocation {
    lattitude: f64,
    longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_typed_paths_Passport", key = "PID")]
struct Passport {
    number: String,
}

fn ada() -> Root {
    Root {
        firstname: "Ada".into(),
        nickname: Some("Countess".into()),
        visits: 3,
        location: Location { city: "London".into(), geolocation: GeoLocation { lattitude: 51.5, longitude: -0.1 } },
        passport: Some(Passport { number: "P-1".into() }),
    }
}

/// Typed path operations check the path and the value against the type
/// before any request, so `load::<T>` keeps working.
async fn typed_paths_are_checked_against_the_type(target: Target) {
    let db = ready::<Root>(target).await;
    let key = db.save(&ada()).await.unwrap();
    let (counted, requests) = db.clone().counted();
    for (path, value) in [
        ("$.firstname", json!(12345)),
        ("$.visits", json!("many")),
        ("$.location.geolocation.lattitude", json!("north")),
        ("$.nickname", json!(["a"])),
    ] {
        let e = counted.write_path::<Root>(&key, path, value.clone()).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidDocument, Some(path)), "{e}");
        assert!(!e.to_string().contains(&value.to_string()), "the value is not quoted: {e}");
    }
    for path in ["$.nosuchfield", "$.location.town", "$.firstname.x", "$.location[0]"] {
        let e = counted.write_path::<Root>(&key, path, json!("x")).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some(path)), "{e}");
    }
    for path in ["$.emial", "$.location.geolocation.altitude", "$.passport.numbr"] {
        let e = counted.read_path::<Root>(&key, path).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some(path)), "{e}");
    }
    assert_eq!(requests.total(), 0, "refused before any request");
    counted.write_path::<Root>(&key, "$.nickname", json!(null)).await.unwrap();
    counted.write_path::<Root>(&key, "$.location.city", json!("Turin")).await.unwrap();
    assert_eq!(counted.read_path::<Root>(&key, "$.location.city").await.unwrap(), [json!("Turin")]);
    let loaded = db.load::<Root>(&key).await.unwrap();
    assert_eq!((loaded.nickname, loaded.location.city.as_str()), (None, "Turin"));
    // The dynamic forms keep their freedom.
    db.objects(Root::layout()).write_path(&key, "$.nosuchfield", json!(1)).await.unwrap();
    assert_eq!(db.objects(Root::layout()).read_path(&key, "$.nosuchfield").await.unwrap(), [json!(1)]);
}

conformance!(typed_paths_check_enums_tuples_and_the_key, typed_paths_are_checked_against_the_type);
