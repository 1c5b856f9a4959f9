//! Typed objects: the [`DyObject`] trait that `#[derive(DyObject)]` implements.

use crate::layout::Layout;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;

/// A struct stored by dystore, with its [`Layout`] fixed at compile time.
///
/// Implement it with `#[derive(DyObject)]`, beside serde's `Serialize` and
/// `Deserialize`: dystore stores what serde writes, so every path below uses
/// the serialized names (`#[serde(rename)]` and `#[serde(rename_all)]` are
/// honoured) and fields serde skips are not stored. The examples run on the
/// embedded engine ([`Client::memory`](crate::Client::memory)).
///
/// ```
/// use dystore::{Client, DyObject};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize, DyObject)]
/// #[dystore(table = "People", key = "ID")]
/// struct Person {
///     firstname: String,
///     lastname: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// let db = Client::memory()?;
/// db.create_tables::<Person>().await?;
/// let ada = Person { firstname: "Ada".into(), lastname: "Lovelace".into() };
/// let key = db.save(&ada).await?; // a UUID v4
/// assert_eq!(db.load::<Person>(&key).await?, ada);
/// assert_eq!(db.read_path::<Person>(&key, "$.lastname").await?, vec![serde_json::json!("Lovelace")]);
/// assert_eq!(Person::layout().table, "People");
/// # Ok(()) }
/// ```
///
/// # Struct attributes
///
/// ## `table = "..."` and `key = "..."` (required)
///
/// The DynamoDB table that holds the object's root item, and the name of its
/// partition key, a string attribute. A table name is 3 to 255 characters of
/// `A-Z a-z 0-9 _ . -`, as DynamoDB requires; anything else is a compile error.
/// [`Client::create_tables`](crate::Client::create_tables) creates the table
/// (and those of every shard) keyed so, and checks an existing one.
///
/// ```
/// # use dystore::{Client, DyObject};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize, DyObject)]
/// #[dystore(table = "People", key = "ID")]
/// struct Person {
///     name: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// let db = Client::memory()?;
/// db.create_tables::<Person>().await?;
/// db.create_tables::<Person>().await?; // idempotent
/// let key = db.save(&Person { name: "Ada".into() }).await?;
/// // The root item: its key under `ID`, its fields, and dystore's metadata.
/// let stored = db.objects(Person::layout()).read_shallow(&key).await?;
/// assert_eq!(stored, serde_json::json!({"name": "Ada"}));
/// # Ok(()) }
/// ```
///
/// ## `region = "..."`
///
/// The region recorded in references to this object's items (and in the
/// root's metadata); without it, the client's region.
///
/// ```
/// # use dystore::{Client, DyObject};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize, DyObject)]
/// #[dystore(table = "People", key = "ID")]
/// struct Person {
///     name: String,
///     #[dystore(shard)]
///     location: Location,
/// }
///
/// #[derive(Serialize, Deserialize, DyObject)]
/// #[dystore(table = "Locations", key = "IDX", region = "us-east-2")]
/// struct Location {
///     city: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// assert_eq!(Location::layout().region.as_deref(), Some("us-east-2"));
/// let db = Client::memory()?;
/// db.create_tables::<Person>().await?;
/// let key = db.save(&Person { name: "Ada".into(), location: Location { city: "London".into() } }).await?;
/// let root = db.objects(Person::layout()).read_shallow(&key).await?;
/// assert_eq!(root["location"]["__dystore_ref__"]["region"], "us-east-2");
/// # Ok(()) }
/// ```
///
/// ## `crate = "..."`
///
/// The path to dystore when a crate re-exports it under another name; the
/// generated code names only items below that path (default `::dystore`).
///
/// ```
/// mod db {
///     pub use dystore;
/// }
/// # use serde::{Deserialize, Serialize};
/// #[derive(Debug, PartialEq, Serialize, Deserialize, db::dystore::DyObject)]
/// #[dystore(table = "People", key = "ID", crate = "db::dystore")]
/// struct Person {
///     name: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> db::dystore::Result<()> {
/// let client = db::dystore::Client::memory()?;
/// client.create_tables::<Person>().await?;
/// let key = client.save(&Person { name: "Ada".into() }).await?;
/// assert_eq!(client.load::<Person>(&key).await?, Person { name: "Ada".into() });
/// # Ok(()) }
/// ```
///
/// # Field attributes
///
/// ## `shard`
///
/// Stores the field in its own table, described by the field type's own
/// `#[dystore(...)]`: so an object can outgrow DynamoDB's 400 KB item limit.
/// The field's type must derive `DyObject` too. `Option<T>` stores one shard
/// item when the value is present, `Vec<T>` one per element (path
/// `$.field[*]`). Shards nest; a shard may not use its parent's table with
/// the same key. `#[serde(flatten)]` is refused anywhere in a struct with
/// shards: flattened keys are only known at run time.
///
/// Saving stores the root and every shard in one transaction; loading reads
/// them back in one batch (a list of shards takes a second one), and
/// `read_path` and `write_path` touch only the item that holds the path.
///
/// ```
/// # use dystore::{Client, DyObject};
/// # use serde::{Deserialize, Serialize};
/// # use serde_json::json;
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
/// #[dystore(table = "People", key = "ID")]
/// struct Person {
///     name: String,
///     #[dystore(shard)]
///     location: Location,
///     #[dystore(shard)]
///     locales: Vec<Locale>,
/// }
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
/// #[dystore(table = "Locations", key = "IDX")]
/// struct Location {
///     city: String,
///     #[dystore(shard)]
///     geo: Option<Geo>,
/// }
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
/// #[dystore(table = "Geo", key = "GID")]
/// struct Geo {
///     lat: f64,
///     lng: f64,
/// }
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
/// #[dystore(table = "Locales", key = "LID")]
/// struct Locale {
///     language: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// let layout = Person::layout();
/// assert_eq!(layout.shards[0].path, "$.location");
/// assert_eq!(layout.shards[0].layout.table, "Locations");
/// assert_eq!(layout.shards[0].layout.shards[0].path, "$.geo");
/// assert_eq!(layout.shards[1].path, "$.locales[*]");
///
/// let (db, requests) = Client::memory()?.counted();
/// db.create_tables::<Person>().await?;
/// let ada = Person {
///     name: "Ada".into(),
///     location: Location { city: "London".into(), geo: Some(Geo { lat: 51.5, lng: -0.12 }) },
///     locales: vec![Locale { language: "en".into() }, Locale { language: "fr".into() }],
/// };
/// let key = db.save(&ada).await?; // 5 items in 4 tables
/// assert_eq!(db.load::<Person>(&key).await?, ada);
///
/// requests.reset();
/// assert_eq!(db.read_path::<Person>(&key, "$.location.geo.lat").await?, vec![json!(51.5)]);
/// db.write_path::<Person>(&key, "$.locales[1].language", json!("it")).await?;
/// assert_eq!(requests.total(), 2, "one request each, on the item holding the path");
/// assert_eq!(db.load::<Person>(&key).await?.locales[1].language, "it");
///
/// // An absent optional shard stores no item, and loads as `None`.
/// let key = db.save(&Person { location: Location { city: "Paris".into(), geo: None }, ..ada }).await?;
/// assert_eq!(db.load::<Person>(&key).await?.location.geo, None);
/// # Ok(()) }
/// ```
///
/// ## `encrypt` and `encrypt = "key-id"`
///
/// Encrypts the field: a leaf, or every leaf below a struct, map or list
/// field, each on its own. Bare `encrypt` takes the key the config loader
/// names for the path, else its default key; `encrypt = "key-id"` names the
/// key. Not allowed on a `shard` field (mark the shard type's own fields)
/// nor on the `pk` field. The stored attribute is a Binary ciphertext that
/// names its key id; a load decrypts it with the loader's key material.
///
/// ```
/// # use dystore::{Client, DyObject, Key, Keyring};
/// # use serde::{Deserialize, Serialize};
/// # use base64::Engine as _;
/// #[derive(Debug, PartialEq, Serialize, Deserialize, DyObject)]
/// #[dystore(table = "People", key = "ID")]
/// struct Person {
///     #[dystore(encrypt)]
///     firstname: String,
///     #[dystore(encrypt = "medical-2024")]
///     allergies: Vec<String>,
///     lastname: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// let rules = &Person::layout().encrypt;
/// assert_eq!(rules[0].path, "$.firstname");
/// assert_eq!(rules[0].key_id, None);
/// assert_eq!(rules[1].key_id.as_deref(), Some("medical-2024"));
///
/// // Real keys come from a KMS or a secret store, not from source code.
/// let keys = Keyring::new()
///     .with_key("people-2024", Key::new([1u8; 32])?)
///     .with_key("medical-2024", Key::new([2u8; 32])?)
///     .default_key("people-2024");
/// let db = Client::memory()?.with_loader(keys);
/// db.create_tables::<Person>().await?;
/// let ada = Person { firstname: "Ada".into(), allergies: vec!["pollen".into()], lastname: "Lovelace".into() };
/// let key = db.save(&ada).await?;
/// assert_eq!(db.load::<Person>(&key).await?, ada);
///
/// // As stored: ciphertexts (Binary, shown in base64) that name their key id.
/// let raw = db.objects(Person::layout()).read_raw(&key).await?;
/// assert_eq!(raw["lastname"], "Lovelace");
/// let sealed = |v: &serde_json::Value| base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap();
/// assert_eq!(dystore::crypto::envelope_key_id(&sealed(&raw["firstname"]))?, "people-2024");
/// assert_eq!(dystore::crypto::envelope_key_id(&sealed(&raw["allergies"][0]))?, "medical-2024");
///
/// // Without the keys, nothing is decrypted.
/// let e = db.clone().with_loader(dystore::DefaultLoader).load::<Person>(&key).await.unwrap_err();
/// assert!(e.is_missing_key());
/// # Ok(()) }
/// ```
///
/// ## `no_encrypt`
///
/// Keeps the field in clear whatever the config loader says (the Python
/// package's crypto-ignore paths): for fields that must stay readable by
/// other tools.
///
/// ```
/// # use dystore::{Client, DyObject, Key, Keyring, PathPattern};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Debug, PartialEq, Serialize, Deserialize, DyObject)]
/// #[dystore(table = "People", key = "ID")]
/// struct Person {
///     name: String,
///     #[dystore(no_encrypt)]
///     country: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// assert!(Person::layout().encrypt[0].exempt);
///
/// // A loader that encrypts every path...
/// let keys = Keyring::new().with_key("k", Key::new([1u8; 32])?).rule(PathPattern::prefix("$")?, "k");
/// let db = Client::memory()?.with_loader(keys);
/// db.create_tables::<Person>().await?;
/// let ada = Person { name: "Ada".into(), country: "UK".into() };
/// let key = db.save(&ada).await?;
/// assert_eq!(db.load::<Person>(&key).await?, ada);
/// // ...but the exempt field.
/// let raw = db.objects(Person::layout()).read_raw(&key).await?;
/// assert_eq!(raw["country"], "UK");
/// assert_ne!(raw["name"], "Ada");
/// # Ok(()) }
/// ```
///
/// ## `pk`
///
/// Binds the object's primary key to a `String` field: `save` stores the
/// object under it and `load` fills it. The key is not stored twice: the
/// field is the item's key attribute. One field at most.
///
/// An empty `pk` field is refused by `save` with `ErrorKind::InvalidKey`
/// (before any request), so a caller that forgot to set it cannot create a
/// second record of the same person under a fresh key. Key generation is
/// asked for explicitly: `save_new` stores an object whose `pk` field is
/// empty under a new key (the config loader's `generate_pk`, else a UUID
/// v4) and returns it. A struct without a `pk` field always gets a new key
/// from `save`, as there is no field to forget.
///
/// ```
/// # use dystore::{Client, DyObject, ErrorKind};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Debug, PartialEq, Serialize, Deserialize, DyObject)]
/// #[dystore(table = "People", key = "ID")]
/// #[serde(rename_all = "camelCase")]
/// struct Person {
///     #[dystore(pk)]
///     person_id: String,
///     name: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// assert_eq!(Person::PK_FIELD, Some("personId"));
///
/// let db = Client::memory()?;
/// db.create_tables::<Person>().await?;
///
/// let key = db.save(&Person { person_id: "ada".into(), name: "Ada".into() }).await?;
/// assert_eq!(key, "ada");
///
/// let forgot = Person { person_id: String::new(), name: "Charles".into() };
/// assert_eq!(db.save(&forgot).await.unwrap_err().kind(), ErrorKind::InvalidKey);
/// let key = db.save_new(&forgot).await?;
/// let charles = db.load::<Person>(&key).await?; // a UUID v4, filled in
/// assert_eq!(charles, Person { person_id: key.clone(), name: "Charles".into() });
/// let stored = db.objects(Person::layout()).read_shallow(&key).await?;
/// assert_eq!(stored, serde_json::json!({"name": "Charles"}));
/// # Ok(()) }
/// ```
///
/// # Errors at compile time
///
/// Every misuse is a compile error on the offending token, all of a struct's
/// mistakes at once: a missing `table` or `key`, an unknown or repeated
/// attribute, a table name DynamoDB would reject, `shard` on a type that does
/// not derive `DyObject`, `shard` or `encrypt` on the `pk` field, two `pk`
/// fields, `shard` beside `encrypt`, dystore attributes on a field serde
/// skips or flattens, enums, tuple structs and generic structs.
///
/// ```compile_fail,E0277
/// # use dystore::DyObject;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize)]
/// struct Location {
///     city: String,
/// }
///
/// #[derive(Serialize, Deserialize, DyObject)]
/// #[dystore(table = "People", key = "ID")]
/// struct Person {
///     #[dystore(shard)] // error: `shard` expects a field whose type derives `DyObject`
///     location: Location,
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a dystore object",
    label = "`{Self}` does not derive `DyObject`",
    note = "add `#[derive(DyObject)]` and `#[dystore(table = \"...\", key = \"...\")]` to the struct"
)]
pub trait DyObject: Serialize + DeserializeOwned {
    /// The object's layout, as a constant (shards embed their child's
    /// `LAYOUT`).
    const LAYOUT: Layout;

    /// Serialized name of the field bound to the primary key by
    /// `#[dystore(pk)]`, if any.
    const PK_FIELD: Option<&'static str> = None;

    /// The layout as a `'static` reference: no allocation per call.
    fn layout() -> &'static Layout;
}

/// The bound a `#[dystore(shard)]` field's type must meet: a `DyObject`, with
/// an error message that names the attribute (rustc reports this trait's
/// message when the blanket impl's bound fails).
#[diagnostic::on_unimplemented(
    message = "`shard` expects a field whose type derives `DyObject`",
    label = "`{Self}` does not derive `DyObject`",
    note = "derive `DyObject` for `{Self}` with a table of its own, or remove `#[dystore(shard)]` to store the field in its parent's item"
)]
pub trait ShardType {
    /// The shard's layout.
    const LAYOUT: Layout;
}

impl<T: DyObject> ShardType for T {
    const LAYOUT: Layout = T::LAYOUT;
}

/// Whether a type derives `DyObject`, as a constant: `IsDyObject::<T>::DY`
/// is the inherent constant (`true`) when `T: DyObject`, else the trait's
/// (`false`). The derive asserts that a field which is not a shard does not
/// hold a `DyObject`, whose marks would silently not apply inline.
pub struct IsDyObject<T: ?Sized>(core::marker::PhantomData<T>);

/// The `false` side of [`IsDyObject`].
pub trait NotDyObject {
    /// `false`: the type does not derive `DyObject`.
    const DY: bool = false;
}

impl<T: ?Sized> NotDyObject for IsDyObject<T> {}

impl<T: DyObject> IsDyObject<T> {
    /// `true`: the type derives `DyObject`.
    pub const DY: bool = true;
}

/// Whether `child` is stored in `table` under `key`: the derive asserts at
/// compile time that a shard does not share its parent's table and key.
pub const fn same_table(child: &Layout, table: &str, key: &str) -> bool {
    str_eq(cow_str(&child.table), table) && str_eq(cow_str(&child.key), key)
}

/// `Cow`'s `Deref` is not `const`.
#[allow(clippy::ptr_arg)] // The `Cow` is the point: this is its `const` deref.
const fn cow_str<'a>(cow: &'a Cow<'static, str>) -> &'a str {
    match cow {
        Cow::Borrowed(s) => s,
        Cow::Owned(s) => s.as_str(),
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
