//! The generated code is quiet under strict lints.
#![deny(warnings, missing_docs, unreachable_pub, unsafe_code, clippy::all)]

use dystore::DyObject;
use serde::{Deserialize, Serialize};

/// A documented public object.
#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID")]
pub struct Person {
    /// Key.
    #[dystore(pk)]
    pub id: String,
    /// Shard.
    #[dystore(shard)]
    pub address: Option<Address>,
}

/// Another one.
#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "Addresses", key = "ID")]
pub struct Address {
    /// Street.
    #[dystore(encrypt)]
    pub street: String,
}

fn main() {}
