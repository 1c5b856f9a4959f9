//! dystore: an object mapper for Amazon DynamoDB.
//!
//! One logical object is split across several tables ("shards", by JSON
//! path), so it can outgrow DynamoDB's 400 KB item limit; chosen leaves are
//! encrypted per path; and every operation on an object of known shape costs
//! one request. Objects are either typed structs (`#[derive(DyObject)]`) or
//! JSON documents described by a [`Store`]; both produce a [`Layout`], and
//! every operation works on a layout.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
//! use dystore::{Client, Store};
//! use serde_json::json;
//!
//! let db = Client::memory()?;
//! let people = Store::new("People", "ID")
//!     .shard(Store::new("Locations", "IDX").at("$.location")
//!         .shard(Store::new("Geo", "GID").at("$.geo")));
//! let people = db.store(&people);
//! people.create_tables().await?;
//!
//! let key = people.write(json!({"name": "Ada", "location": {"city": "London", "geo": {"lat": 51.5}}})).await?;
//! people.write_path(&key, "$.location.city", json!("Tokyo")).await?;
//! assert_eq!(people.read_path(&key, "$.location.city").await?, vec![json!("Tokyo")]);
//! assert_eq!(people.read(&key).await?["location"]["geo"]["lat"], json!(51.5));
//! people.delete(&key).await?;
//! assert!(people.read(&key).await.unwrap_err().is_not_found());
//! # Ok(()) }
//! ```
//!
//! The storage format, the request count of every operation and the
//! decisions a user will notice are written down in `docs/FORMAT.md`.
//!
//! # Which API do I use
//!
//! | you have | one object | many objects | one path of an object |
//! |---|---|---|---|
//! | a Rust struct (`#[derive(DyObject)]`) | [`Client::save`], [`Client::load`], [`Client::delete`] | [`Client::save_many`], [`Client::load_many`], [`Client::delete_many`], [`Client::list`] | [`Client::read_path`], [`Client::write_path`] (checked against the type) |
//! | JSON documents, shape known at run time ([`Store`]) | [`Objects::write_with_key`], [`Objects::read`], [`Objects::delete`] | [`Objects::write_many`], [`Objects::read_many`], [`Objects::delete_many`], [`Objects::list`], [`Objects::keys`] | [`Objects::read_path`], [`Objects::write_path`] |
//!
//! - **Typed or dynamic.** Typed when the shape is known at compile time:
//!   misuse of a mark is a compile error, a path that the type has no
//!   place for is refused before any request. Dynamic for documents whose
//!   shape is data (tooling, migrations); [`Objects::read_raw`] reads
//!   ciphertexts as stored.
//! - **Writers that meet.** [`Client::save`] is unconditional (last writer
//!   wins). [`Client::create`] / [`Objects::create_with_key`] insert only;
//!   [`Client::load_versioned`] + [`Client::save_versioned`] (or
//!   [`Objects::write_path_versioned`]) write only if nobody wrote since;
//!   [`Client::update`] / [`Objects::update`] retry a read-modify-write under
//!   contention.
//! - **Single or many.** The `_many` calls pack objects into as few
//!   requests as DynamoDB's limits allow and answer per object; a loop of
//!   single calls costs one request per object. [`Client::batch`] runs saves
//!   and deletes of several types together. [`Objects::list`] streams a
//!   whole table a page at a time.
//! - **What it cost.** [`Client::measure`] gives the requests and capacity
//!   units of any piece of work; [`Client::usage`] the client's totals;
//!   every operation is a `tracing` span named `dystore`.
//! - **Old data.** Tables written by the Python package dynamo-store 0.6
//!   read in place; [`Client::upgrade_table`] rewrites them in format 1
//!   (`docs/MIGRATING.md`); [`rotate`] re-encrypts a table under new keys.
//!
//! # Features
//!
//! - `embedded` (default): the in-process engine (dynoxide on SQLite),
//!   [`Client::memory`] and [`Client::open`].
//! - `testing`: test support: the fault-injecting backend
//!   (`backend::Faulty`, `backend::FaultPlan`) and `Client::faulty`.
//!
//! # Layout
//!
//! The public face:
//! - `client`: [`Client`], a backend with a loader and a [`RetryPolicy`]; `typed`: its typed operations (`save`, `load`, ...).
//! - `objects`: [`Objects`], every operation on the dynamic documents of one layout (`db.store(&store)`).
//! - `error`: the [`Error`] type and its [`ErrorKind`].
//!
//! The shape of an object:
//! - `layout`: [`Layout`] (tables, keys, shards, encrypt marks); `store`: [`Store`], its run-time builder.
//! - `object`: [`DyObject`], the trait `#[derive(DyObject)]` implements.
//!
//! Pure helpers, no I/O:
//! - `path`: the one path model (plain paths, `[*]` patterns, their printer); `probe`: paths and values checked against a type.
//! - `tree`: a layout resolved once per operation; `rules`: which leaves its marks encrypt.
//! - `shard`: splitting a document into items, enumerating shard keys, finding the item holding a path.
//! - `codec`: items to and from JSON, leaf by leaf (where encryption happens); `value`: JSON and attribute values, DynamoDB's limits.
//! - `format`: every fact of the stored format (metadata, references, guards, cancellation reasons).
//!
//! I/O:
//! - `ops/`: one file per operation family (save, load, delete, by path, tables, batched reads, transactions), over an `Env`, never the `Client`.
//! - [`backend`]: the [`Backend`](backend::Backend) trait, its `dynamodb` and `embedded` implementations, and decorators (counting, retrying, fault injection).
//! - [`crypto`]: per-leaf authenticated encryption, key material, the dynamo-store 0.6 reader.
//! - `loader/`: [`ConfigLoader`], and the ready-made [`Keyring`] and [`FnLoader`].
//! - [`rotate`]: key rotation over a whole root table (plan, rotate, verify), with its lease, checkpoints and capacity budget.

pub mod backend;
mod batch;
mod chunk;
mod client;
mod codec;
pub mod crypto;
mod error;
mod format;
mod layout;
mod layout_cache;
mod loader;
mod object;
mod objects;
mod ops;
mod path;
mod probe;
pub mod rotate;
mod rules;
mod shard;
mod store;
mod tree;
mod typed;
pub mod usage;
mod value;

pub use backend::RetryPolicy;
pub use batch::Batch;
pub use client::{Client, DEFAULT_DEADLINE};
pub use crypto::{Context, Key, KeyId};
pub use error::{Error, ErrorKind, KeyDisplay, Result};
pub use layout::{EncryptRule, Layout, Shard};
pub use loader::{ConfigLoader, DefaultLoader};
pub use loader::{FnLoader, Keyring, PathPattern};
pub use object::DyObject;
pub use objects::{Objects, Versioned};
pub use ops::{SweepReport, Upgrade, UpgradeReport};
pub use store::Store;

pub use dystore_derive::DyObject;

/// Paths used by the code `#[derive(DyObject)]` generates. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::layout::{EncryptRule, Layout, Shard};
    pub use crate::object::{DyObject, IsDyObject, NotDyObject, ShardType, same_table};
    pub use core::option::Option::{self, None, Some};
    pub use core::panic;
    pub use serde::Serialize;
    pub use serde::de::DeserializeOwned;
}
