//! `#[derive(DyObject)]` builds, at compile time, the same `Layout` as the
//! equivalent run-time `Store`: typed and dynamic objects share one format.

use dystore::{DyObject, Layout, Store};
use serde::{Deserialize, Serialize};

/// The Python package's own example: Root with Location and BirthDetails
/// shards, GeoLocation inside Location, and a list of shards.
#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID", region = "us-east-2")]
struct Person {
    #[dystore(encrypt)]
    firstname: String,
    lastname: String,
    #[dystore(shard)]
    location: Location,
    #[dystore(shard)]
    birth: BirthDetails,
    #[dystore(shard)]
    locales: Vec<Locale>,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Locations", key = "IDX")]
struct Location {
    city: String,
    country: String,
    #[dystore(shard)]
    geo: GeoLocation,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Geo", key = "GID")]
struct GeoLocation {
    lat: f64,
    lng: f64,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Births", key = "BID")]
struct BirthDetails {
    #[dystore(encrypt = "k2")]
    hospital: String,
    #[dystore(encrypt)]
    dob: String,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Locales", key = "LID")]
struct Locale {
    language: String,
}

fn person_store() -> Store {
    Store::new("People", "ID")
        .region("us-east-2")
        .shard(Store::new("Locations", "IDX").at("$.location").shard(Store::new("Geo", "GID").at("$.geo")))
        .shard(Store::new("Births", "BID").at("$.birth").encrypt_with("$.hospital", "k2").encrypt("$.dob"))
        .shard(Store::new("Locales", "LID").at("$.locales[*]"))
        .encrypt("$.firstname")
}

#[test]
fn nested_and_list_shards_match_the_store() {
    assert_eq!(*Person::layout(), person_store().into_layout());
}

#[test]
fn a_shard_embeds_its_childs_layout() {
    assert_eq!(Person::layout().shards[0].layout, *Location::layout());
    assert_eq!(Location::layout().shards[0].layout, *GeoLocation::layout());
}

#[test]
fn layout_is_one_static() {
    assert!(std::ptr::eq(Person::layout(), Person::layout()));
    assert_eq!(*Person::layout(), Person::LAYOUT);
}

/// Renames, `rename_all`, optional shards, exemptions and skipped fields.
#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Accounts.v2", key = "account-id")]
#[serde(rename_all = "camelCase")]
struct Account {
    #[dystore(pk)]
    account_id: String,
    #[dystore(encrypt = "pii")]
    #[serde(rename = "mail")]
    email_address: String,
    #[dystore(no_encrypt)]
    display_name: String,
    #[dystore(encrypt)]
    home_address: Address,
    #[dystore(shard)]
    billing_profile: Option<Billing>,
    #[dystore(shard)]
    #[serde(rename(serialize = "pastInvoices", deserialize = "pastInvoices"))]
    invoices: Vec<Invoice>,
    #[serde(skip)]
    #[allow(dead_code)] // Skipped by serde: present to show it is not stored.
    session: Option<String>,
    #[dystore(encrypt)]
    r#type: String,
}

#[derive(Serialize, Deserialize)]
struct Address {
    street: String,
    #[serde(default)]
    zip: String,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Billing", key = "BID")]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
struct Billing {
    #[dystore(encrypt)]
    card_number: String,
    #[dystore(no_encrypt)]
    card_brand: String,
}

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Invoices", key = "IID", region = "eu-west-1")]
#[serde(rename_all = "PascalCase")]
struct Invoice {
    total_cents: u64,
    #[dystore(encrypt)]
    line_items: Vec<String>,
}

#[test]
fn renames_options_and_exemptions_match_the_store() {
    let store = Store::new("Accounts.v2", "account-id")
        .shard(Store::new("Billing", "BID").at("$.billingProfile").encrypt("$.CARD-NUMBER").no_encrypt("$.CARD-BRAND"))
        .shard(Store::new("Invoices", "IID").region("eu-west-1").at("$.pastInvoices[*]").encrypt("$.LineItems"))
        .encrypt_with("$.mail", "pii")
        .no_encrypt("$.displayName")
        .encrypt("$.homeAddress")
        .encrypt("$.type");
    assert_eq!(*Account::layout(), store.into_layout());
}

#[test]
fn pk_field_is_its_serialized_name() {
    assert_eq!(Account::PK_FIELD, Some("accountId"));
    assert_eq!(Person::PK_FIELD, None);
}

/// Every `rename_all` rule serde knows, on a name of two words.
mod rename_all {
    use super::*;

    macro_rules! renamed {
        ($name:ident, $rule:literal, $path:literal) => {
            #[derive(Serialize, Deserialize, DyObject)]
            #[dystore(table = "Renames", key = "ID")]
            #[serde(rename_all = $rule)]
            struct $name {
                #[dystore(encrypt)]
                first_name: String,
            }

            assert_eq!($name::layout().encrypt[0].path, $path, "rename_all = {:?}", $rule);
        };
    }

    #[test]
    fn paths_follow_every_rule() {
        renamed!(Lower, "lowercase", "$.first_name");
        renamed!(Upper, "UPPERCASE", "$.FIRST_NAME");
        renamed!(Pascal, "PascalCase", "$.FirstName");
        renamed!(Camel, "camelCase", "$.firstName");
        renamed!(Snake, "snake_case", "$.first_name");
        renamed!(ScreamingSnake, "SCREAMING_SNAKE_CASE", "$.FIRST_NAME");
        renamed!(Kebab, "kebab-case", "$.first-name");
        renamed!(ScreamingKebab, "SCREAMING-KEBAB-CASE", "$.FIRST-NAME");
    }

    #[test]
    fn paths_agree_with_what_serde_writes() {
        #[derive(Serialize, Deserialize, DyObject)]
        #[dystore(table = "Renames", key = "ID")]
        #[serde(rename_all = "kebab-case")]
        struct Doc {
            #[dystore(encrypt)]
            first_name: String,
            #[dystore(encrypt)]
            #[serde(rename = "odd name")]
            other: String,
        }
        let doc = serde_json::to_value(Doc { first_name: "a".into(), other: "b".into() }).unwrap();
        assert_eq!(doc["first-name"], "a");
        assert_eq!(doc["odd name"], "b");
        let paths: Vec<&str> = Doc::layout().encrypt.iter().map(|rule| &*rule.path).collect();
        assert_eq!(paths, ["$.first-name", "$['odd name']"]);
    }
}

/// `crate = "..."` for a dystore re-exported under another path.
mod reexported {
    mod db {
        // The re-export under test, as a facade crate would write it.
        #[allow(clippy::single_component_path_imports)]
        pub(crate) use dystore;
    }

    #[derive(serde::Serialize, serde::Deserialize, db::dystore::DyObject)]
    #[dystore(table = "Notes", key = "NID", crate = "db::dystore")]
    struct Note {
        text: String,
    }

    #[test]
    fn generated_code_uses_the_given_path() {
        use dystore::DyObject;
        assert_eq!(Note::layout().table, "Notes");
    }
}

#[test]
fn layouts_without_shards_or_rules_are_empty() {
    #[derive(Serialize, Deserialize, DyObject)]
    #[dystore(table = "Plain", key = "ID")]
    struct Plain {
        text: String,
    }
    let expected: Layout = Store::new("Plain", "ID").into_layout();
    assert_eq!(*Plain::layout(), expected);
    assert!(Plain::layout().shards.is_empty());
}
