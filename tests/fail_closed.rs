//! Encryption fails closed: every leaf an encrypt mark covers is stored as a
//! ciphertext (or the write fails), whatever its name and wherever it is
//! stored; every rule and shard path is checked before any request; and a
//! value in clear at an encrypted path is refused on read. What is stored is
//! checked on the raw items, through the embedded engine directly and
//! through a plain aws-sdk-dynamodb client over HTTP.

mod common;

use common::{Target, client, stored_item, table};
use dystore::backend::{Item, Write};
use dystore::{Client, DyObject, ErrorKind, Key, Keyring, PathPattern, Store};
use serde::{Deserialize, Serialize};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};

fn keyring() -> Keyring {
    Keyring::new().with_key("k1", Key::new([7u8; 32]).unwrap()).default_key("k1")
}

fn is_sealed(v: Option<&AttributeValue>) -> bool {
    matches!(v, Some(AttributeValue::B(b)) if dystore::crypto::envelope_key_id(b).is_ok())
}

fn entry<'a>(item: &'a Item, name: &str) -> Option<&'a AttributeValue> {
    item.get(name)
}

fn member<'a>(value: Option<&'a AttributeValue>, name: &str) -> Option<&'a AttributeValue> {
    match value {
        Some(AttributeValue::M(m)) => m.get(name),
        _ => None,
    }
}

fn element(value: Option<&AttributeValue>, i: usize) -> Option<&AttributeValue> {
    match value {
        Some(AttributeValue::L(l)) => l.get(i),
        _ => None,
    }
}

/// The key of the shard item a stored reference names.
fn ref_key(reference: Option<&AttributeValue>) -> String {
    match member(member(reference, "__dystore_ref__"), "key") {
        Some(AttributeValue::S(k)) => k.clone(),
        other => panic!("not a reference: {other:?}"),
    }
}

// ---- names that need JSONPath's quoted form, through the derive ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_fc_People", key = "ID")]
struct Person {
    #[serde(rename = "first name")]
    #[dystore(encrypt)]
    first_name: String,
    #[serde(rename = "e.mail")]
    #[dystore(encrypt)]
    email: String,
    #[serde(rename = "städte")]
    #[dystore(encrypt)]
    cities: Vec<String>,
    #[serde(rename = "it's [0] $*@ \\ 😀")]
    #[dystore(encrypt)]
    odd: String,
    #[serde(rename = "2")]
    #[dystore(encrypt)]
    numeric: u32,
    #[serde(rename = "plain name")]
    public: String,
    #[serde(rename = "wo ist")]
    #[dystore(shard)]
    place: Place,
    #[serde(rename = "ö l")]
    #[dystore(shard)]
    langs: Vec<Lang>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_fc_Places", key = "PID")]
struct Place {
    #[serde(rename = "the.city")]
    #[dystore(encrypt)]
    city: String,
    country: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DyObject)]
#[dystore(table = "dystore_fc_Langs", key = "LID")]
struct Lang {
    #[serde(rename = "名前")]
    #[dystore(encrypt)]
    name: String,
    level: u8,
}

fn ada() -> Person {
    Person {
        first_name: "Ada".into(),
        email: "ada@example.com".into(),
        cities: vec!["London".into(), "Paris".into()],
        odd: "odd".into(),
        numeric: 1815,
        public: "visible".into(),
        place: Place { city: "London".into(), country: "UK".into() },
        langs: vec![Lang { name: "English".into(), level: 5 }, Lang { name: "French".into(), level: 3 }],
    }
}

async fn quoted_names_are_encrypted_through_the_derive(target: Target) {
    let db = client(target).await.with_loader(keyring());
    db.create_tables::<Person>().await.unwrap();
    let key = db.save(&ada()).await.unwrap();

    let root = stored_item(target, &db, "dystore_fc_People", "ID", &key).await.unwrap();
    for name in ["first name", "e.mail", "it's [0] $*@ \\ 😀", "2"] {
        assert!(is_sealed(entry(&root, name)), "`{name}` is stored as {:?}", root.get(name));
    }
    assert!(is_sealed(element(entry(&root, "städte"), 1)), "each element of an encrypted list is sealed");
    assert_eq!(root.get("plain name"), Some(&AttributeValue::S("visible".into())));
    let place = stored_item(target, &db, "dystore_fc_Places", "PID", &ref_key(entry(&root, "wo ist"))).await.unwrap();
    assert!(is_sealed(entry(&place, "the.city")));
    assert_eq!(place.get("country"), Some(&AttributeValue::S("UK".into())));
    let lang = stored_item(target, &db, "dystore_fc_Langs", "LID", &ref_key(element(entry(&root, "ö l"), 1))).await.unwrap();
    assert!(is_sealed(entry(&lang, "名前")));
    assert_eq!(lang.get("level"), Some(&AttributeValue::N("3".into())));

    assert_eq!(db.load::<Person>(&key).await.unwrap(), ada());
    assert_eq!(db.read_path::<Person>(&key, "$['first name']").await.unwrap(), [json!("Ada")]);
    assert_eq!(db.read_path::<Person>(&key, "$['städte'][1]").await.unwrap(), [json!("Paris")]);
    assert_eq!(db.read_path::<Person>(&key, r"$['it\'s [0] $*@ \\ 😀']").await.unwrap(), [json!("odd")]);
    assert_eq!(db.read_path::<Person>(&key, "$['wo ist']['the.city']").await.unwrap(), [json!("London")]);
    assert_eq!(db.read_path::<Person>(&key, "$['ö l'][1]['名前']").await.unwrap(), [json!("French")]);
    db.write_path::<Person>(&key, "$['e.mail']", json!("countess@example.com")).await.unwrap();
    db.write_path::<Person>(&key, "$['ö l'][0]['名前']", json!("Englisch")).await.unwrap();
    let root = stored_item(target, &db, "dystore_fc_People", "ID", &key).await.unwrap();
    assert!(is_sealed(entry(&root, "e.mail")), "a value written by path is sealed too");
    let loaded = db.load::<Person>(&key).await.unwrap();
    assert_eq!((loaded.email.as_str(), loaded.langs[0].name.as_str()), ("countess@example.com", "Englisch"));

    // Tampered in clear: refused on load, not handed back.
    set(&db, "dystore_fc_People", "ID", &key, &["first name"], AttributeValue::S("Mallory".into())).await;
    let e = db.load::<Person>(&key).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::Authentication, Some("$['first name']")), "{e}");
}

// ---- names that need the quoted form, through Store rules ----

fn odd_store() -> Store {
    Store::new(table("FcOdd"), "ID")
        .encrypt("$['first name']")
        .encrypt("$['e.mail']")
        .encrypt("$.städte")
        .encrypt(r#"$["it's"]"#)
        .encrypt("$['a\\\\b']")
        .encrypt("$['12']")
        .shard(Store::new(table("FcOddShard"), "SID").at("$['a b']").encrypt("$['x.y']"))
        .shard(Store::new(table("FcOddList"), "LID").at("$['ö l'][*]").encrypt("$['😀']"))
}

fn odd_doc() -> Value {
    json!({
        "first name": "Ada", "e.mail": "ada@example.com", "städte": ["London"], "it's": true, "a\\b": 1.5, "12": 12,
        "clear name": "seen",
        "a b": {"x.y": "inside", "z": "clear"},
        "ö l": [{"😀": "smile", "n": 1}, {"😀": "grin", "n": 2}]
    })
}

async fn quoted_names_are_encrypted_through_store_rules(target: Target) {
    let db = client(target).await.with_loader(keyring());
    let store = odd_store();
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    let key = objects.write(odd_doc()).await.unwrap();
    let root_table = store.layout().table.to_string();
    let root = stored_item(target, &db, &root_table, "ID", &key).await.unwrap();
    for name in ["first name", "e.mail", "it's", "a\\b", "12"] {
        assert!(is_sealed(entry(&root, name)), "`{name}` is stored as {:?}", root.get(name));
    }
    assert!(is_sealed(element(entry(&root, "städte"), 0)));
    assert_eq!(root.get("clear name"), Some(&AttributeValue::S("seen".into())));
    let shard = stored_item(target, &db, &store.layout().shards[0].layout.table, "SID", &ref_key(entry(&root, "a b"))).await.unwrap();
    assert!(is_sealed(entry(&shard, "x.y")) && !is_sealed(entry(&shard, "z")));
    let list_table = store.layout().shards[1].layout.table.to_string();
    let el = stored_item(target, &db, &list_table, "LID", &ref_key(element(entry(&root, "ö l"), 1))).await.unwrap();
    assert!(is_sealed(entry(&el, "😀")) && entry(&el, "n") == Some(&AttributeValue::N("2".into())));
    assert_eq!(objects.read(&key).await.unwrap(), odd_doc());
    assert_eq!(objects.read_path(&key, "$['ö l'][*]['😀']").await.unwrap(), [json!("smile"), json!("grin")]);
}

// ---- a rule or shard path that cannot work is refused before any request ----

async fn bad_rules_and_shard_paths_are_refused_before_any_request(target: Target) {
    let db = client(target).await.with_loader(keyring());
    let base = || Store::new(table("FcBad"), "ID").shard(Store::new(table("FcBadList"), "LID").at("$.locales[*]"));
    let good = base();
    db.store(&good).create_tables().await.unwrap();
    let cases = [
        ("contact", base().encrypt("contact")),
        ("$.contact.", base().encrypt("$.contact.")),
        ("$..contact", base().encrypt("$..contact")),
        ("$['contact'", base().encrypt("$['contact'")),
        ("$.locales.type", base().encrypt("$.locales.type")),
        ("$.ID", base().encrypt("$.ID")),
        ("$['']", base().encrypt("$['']")),
        ("$[*].card", base().encrypt("$[*].card")),
        ("$.locales[*][0]", base().encrypt("$.locales[*][0]")),
        ("$.ID", base().shard(Store::new(table("FcBadLoc"), "X").at("$.ID"))),
        ("location", base().shard(Store::new(table("FcBadLoc"), "X").at("location"))),
        ("$.a[0]", base().shard(Store::new(table("FcBadLoc"), "X").at("$.a[0]"))),
    ];
    for (path, store) in cases {
        // The same tables as `good`, so a write that went through would show.
        let mut layout = store.into_layout();
        layout.table = good.layout().table.clone();
        let (counted, requests) = db.clone().counted();
        let objects = counted.objects(&layout);
        let e = objects.write_with_key("k", json!({"contact": "x", "locales": []})).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some(path)), "{path}: {e}");
        assert!(e.table().is_some(), "{path}: the error names the layout's table: {e}");
        for e in [
            objects.read("k").await.unwrap_err(),
            objects.read_path("k", "$.contact").await.unwrap_err(),
            objects.write_path("k", "$.contact", json!(1)).await.unwrap_err(),
            objects.delete("k").await.unwrap_err(),
            objects.create_tables().await.unwrap_err(),
        ] {
            assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some(path)), "{path}: {e}");
        }
        assert_eq!(requests.total(), 0, "{path}: nothing was sent");
    }
    let e = db.store(&good).read("k").await.unwrap_err();
    assert!(e.is_not_found(), "nothing was written: {e}");
    // The empty name, which DynamoDB refuses, at the top or deeper.
    let (counted, requests) = db.clone().counted();
    for (doc, path) in
        [(json!({"": "x"}), "$['']"), (json!({"a": {"": 1}}), "$.a['']"), (json!({"locales": [{"": 1}]}), "$.locales[0]['']")]
    {
        let e = counted.store(&good).write(doc).await.unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidDocument, Some(path)), "{e}");
        assert!(e.to_string().contains("empty attribute name"), "{e}");
    }
    assert_eq!(requests.total(), 0);
}

// ---- user values shaped like dystore's own structures ----

async fn values_shaped_like_references_are_ordinary_data(target: Target) {
    let db = client(target).await.with_loader(keyring());
    let store = Store::new(table("FcRef"), "ID").encrypt("$.contact");
    db.store(&store).create_tables().await.unwrap();
    let shaped = json!({"__dystore_ref__": {"table": "Elsewhere", "key": "k#$.x"}});
    let doc = json!({"contact": shaped, "other": shaped});
    let key = db.store(&store).write(doc.clone()).await.unwrap();
    let root = stored_item(target, &db, &store.layout().table, "ID", &key).await.unwrap();
    let sealed = member(member(entry(&root, "contact"), "__dystore_ref__"), "table");
    assert!(is_sealed(sealed), "a reference-shaped value at an encrypted path is sealed: {:?}", root.get("contact"));
    assert_eq!(db.store(&store).read(&key).await.unwrap(), doc, "and neither followed nor lost");
    assert_eq!(db.store(&store).read_path(&key, "$.other.__dystore_ref__.table").await.unwrap(), [json!("Elsewhere")]);
}

// ---- the keyring's patterns take [*] ----

async fn keyring_patterns_take_any_index(target: Target) {
    let keys = Keyring::new()
        .with_key("cards", Key::new([3u8; 32]).unwrap())
        .rule(PathPattern::exact("$.orders[*].card_last4").unwrap(), "cards")
        .rule(PathPattern::prefix("$['billing address']").unwrap(), "cards");
    let db = client(target).await.with_loader(keys);
    let store = Store::new(table("FcOrders"), "ID");
    db.store(&store).create_tables().await.unwrap();
    let doc = json!({"orders": [{"card_last4": "4242", "item": "book"}, {"card_last4": "1881", "item": "pen"}],
                     "billing address": {"street": "1 Main St"}});
    let key = db.store(&store).write(doc.clone()).await.unwrap();
    let root = stored_item(target, &db, &store.layout().table, "ID", &key).await.unwrap();
    for i in 0..2 {
        let order = element(entry(&root, "orders"), i);
        assert!(is_sealed(member(order, "card_last4")), "order {i}");
        assert!(matches!(member(order, "item"), Some(AttributeValue::S(_))), "order {i}");
    }
    assert!(is_sealed(member(entry(&root, "billing address"), "street")));
    assert_eq!(db.store(&store).read(&key).await.unwrap(), doc);
    assert_eq!(PathPattern::exact("orders[*]").unwrap_err().kind(), ErrorKind::InvalidPath);
}

// ---- tampering: a clear value where the layout says ciphertext ----

fn tamper_store() -> Store {
    Store::new(table("FcTamper"), "ID")
        .encrypt("$.firstname")
        .shard(Store::new(table("FcTamperLoc"), "IDX").at("$.location").encrypt("$.city"))
        .shard(Store::new(table("FcTamperTags"), "TID").at("$.tags[*]").encrypt("$.label"))
}

fn tamper_doc() -> Value {
    json!({"firstname": "Ada", "location": {"city": "London"}, "tags": [{"label": "a"}, {"label": "b"}]})
}

async fn empty_containers_at_encrypted_paths_are_sealed(target: Target) {
    let db = client(target).await.with_loader(keyring());
    let store = tamper_store();
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    for empty in [json!({}), json!([])] {
        let doc = json!({"firstname": empty, "location": {"city": []}, "tags": [{"label": {}}]});
        let key = objects.write(doc.clone()).await.unwrap();
        let root = stored_item(target, &db, &store.layout().table, "ID", &key).await.unwrap();
        assert!(is_sealed(entry(&root, "firstname")), "{empty} is sealed whole: {:?}", root.get("firstname"));
        assert_eq!(objects.read(&key).await.unwrap(), doc);
        assert_eq!(objects.read_path(&key, "$.firstname").await.unwrap(), vec![empty.clone()]);
        objects.write_path(&key, "$.location.city", empty.clone()).await.unwrap();
        assert_eq!(objects.read_path(&key, "$.location.city").await.unwrap(), [empty]);
    }
}

/// Sets the attribute at `path` (names from the item's top) of one item,
/// as someone with write access to the table but not to the keys could.
async fn set(db: &Client, table: &str, key_name: &str, key: &str, path: &[&str], value: AttributeValue) {
    let mut update = dystore::backend::Expr::default();
    let names: Vec<String> = path
        .iter()
        .enumerate()
        .map(|(i, n)| {
            update.names.insert(format!("#a{i}"), (*n).to_owned());
            format!("#a{i}")
        })
        .collect();
    update.text = format!("SET {} = :v", names.join("."));
    update.values.insert(":v".into(), value);
    let key = [(key_name.to_owned(), AttributeValue::S(key.to_owned()))].into();
    db.backend().write(Write::Update { table: table.into(), key, update, condition: None }).await.unwrap();
}

async fn clear_values_at_encrypted_paths_are_refused(target: Target) {
    let db = client(target).await.with_loader(keyring());
    let store = tamper_store();
    let objects = db.store(&store);
    objects.create_tables().await.unwrap();
    let forged = [
        AttributeValue::S("Mallory".into()),
        AttributeValue::N("7".into()),
        AttributeValue::Bool(true),
        AttributeValue::Null(true),
        AttributeValue::M([("a".to_owned(), AttributeValue::S("Mallory".into()))].into()),
        AttributeValue::L(vec![AttributeValue::S("Mallory".into())]),
        // Empty containers too: dystore seals an empty map or list at an
        // encrypted path whole, so a clear one there is a forgery.
        AttributeValue::M(Default::default()),
        AttributeValue::L(vec![]),
    ];
    for value in forged {
        let key = objects.write(tamper_doc()).await.unwrap();
        let root = stored_item(target, &db, &store.layout().table, "ID", &key).await.unwrap();
        let places = [
            (store.layout().table.to_string(), "ID", key.clone(), "firstname", "$.firstname"),
            (store.layout().shards[0].layout.table.to_string(), "IDX", ref_key(entry(&root, "location")), "city", "$.location.city"),
            (
                store.layout().shards[1].layout.table.to_string(),
                "TID",
                ref_key(element(entry(&root, "tags"), 1)),
                "label",
                "$.tags[1].label",
            ),
        ];
        for (table, key_name, item_key, attr, path) in places {
            let sealed = stored_item(target, &db, &table, key_name, &item_key).await.unwrap()[attr].clone();
            set(&db, &table, key_name, &item_key, &[attr], value.clone()).await;
            for e in [objects.read(&key).await.unwrap_err(), objects.read_path(&key, path).await.unwrap_err()] {
                assert_eq!(e.kind(), ErrorKind::Authentication, "{path} = {value:?}: {e}");
                assert!(e.path().is_some_and(|p| p.starts_with(path)), "{path}: {e}");
                assert!(!e.to_string().contains("Mallory"), "no stored value in {e}");
            }
            set(&db, &table, key_name, &item_key, &[attr], sealed).await;
        }
        assert_eq!(objects.read(&key).await.unwrap(), tamper_doc(), "the genuine ciphertexts open again");
    }
    // A forged recorded layout that calls the encrypted place a shard's,
    // with `null` (an absent shard) or `[]` (an empty list shard) there.
    for (forged, list) in [(AttributeValue::Null(true), false), (AttributeValue::L(vec![]), true)] {
        let key = objects.write(tamper_doc()).await.unwrap();
        let mut root = stored_item(target, &db, &store.layout().table, "ID", &key).await.unwrap();
        root.insert("firstname".into(), forged);
        let Some(AttributeValue::M(meta)) = root.get_mut("__dystore_meta__") else { panic!("metadata") };
        let Some(AttributeValue::M(layout)) = meta.get_mut("layout") else { panic!("layout") };
        let Some(AttributeValue::L(shards)) = layout.get_mut("shards") else { panic!("shards") };
        let path = if list { "$.firstname[*]" } else { "$.firstname" };
        let other = [("table", store.layout().shards[0].layout.table.to_string()), ("key", "IDX".to_owned())];
        let other: Item = other
            .into_iter()
            .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
            .chain([("shards".to_owned(), AttributeValue::L(vec![]))])
            .collect();
        shards.push(AttributeValue::M(
            [("path".to_owned(), AttributeValue::S(path.into())), ("layout".to_owned(), AttributeValue::M(other))].into(),
        ));
        meta.remove("shape");
        db.backend().write(Write::Put { table: store.layout().table.to_string(), item: root, condition: None }).await.unwrap();
        for e in [objects.read(&key).await.unwrap_err(), objects.read_path(&key, "$.firstname").await.unwrap_err()] {
            assert_eq!((e.kind(), e.path()), (ErrorKind::Authentication, Some("$.firstname")), "{path}: {e}");
        }
    }

    // A shard's place holding data instead of a reference is refused too.
    let key = objects.write(tamper_doc()).await.unwrap();
    set(
        &db,
        &store.layout().table,
        "ID",
        &key,
        &["location"],
        AttributeValue::M([("city".to_owned(), AttributeValue::S("Mallory".into()))].into()),
    )
    .await;
    let e = objects.read(&key).await.unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::Format, Some("$.location")), "{e}");
}

conformance!(
    empty_containers_at_encrypted_paths_are_sealed,
    quoted_names_are_encrypted_through_the_derive,
    quoted_names_are_encrypted_through_store_rules,
    bad_rules_and_shard_paths_are_refused_before_any_request,
    values_shaped_like_references_are_ordinary_data,
    keyring_patterns_take_any_index,
    clear_values_at_encrypted_paths_are_refused,
);

#[path = "fail_closed/property.rs"]
mod property;
