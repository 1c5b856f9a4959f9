//! Typed objects: the [`DyObject`] trait that `#[derive(DyObject)]` implements.

use crate::layout::Layout;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A struct stored by dystore, with its [`Layout`] fixed at compile time.
///
/// Implement it with `#[derive(DyObject)]`; see the crate docs for the
/// attribute reference.
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
