//! dystore: an object mapper for Amazon DynamoDB.
//!
//! (crate docs are written with the client; see README.md meanwhile)
//!
//! # Layout
//!
//! - `error`: the [`Error`] type and its [`ErrorKind`].
//! - `layout`: [`Layout`], the shape of a stored object (tables, keys, shards, encrypted paths).
//! - `store`: [`Store`], the run-time builder of a layout for dynamic documents.
//! - `object`: [`DyObject`], the trait `#[derive(DyObject)]` implements.
//! - `loader`: [`ConfigLoader`], the application's say on keys and metadata.
//! - `crypto`: per-leaf authenticated encryption and key material.

mod crypto;
mod error;
mod layout;
mod loader;
mod object;
mod store;

pub use crypto::{Key, KeyId};
pub use error::{Error, ErrorKind, Result};
pub use layout::{EncryptRule, Layout, Shard};
pub use loader::{ConfigLoader, DefaultLoader};
pub use object::DyObject;
pub use store::Store;

pub use dystore_derive::DyObject;

/// Paths used by the code `#[derive(DyObject)]` generates. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::layout::{EncryptRule, Layout, Shard};
    pub use crate::object::DyObject;
    pub use core::option::Option::{self, None, Some};
}
