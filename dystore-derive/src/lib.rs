//! `#[derive(DyObject)]` for dystore; the attribute reference lives on the
//! `DyObject` trait in the runtime crate.
//!
//! Stages, after serde_derive and thiserror: `attr` reads the attributes,
//! `ast` builds the model, `check` applies the rules, `expand` writes the
//! impl (or the errors and a stub impl). `ctxt` collects errors across
//! stages; `case` holds serde's `rename_all` conversions.

mod ast;
mod attr;
mod case;
mod check;
mod ctxt;
mod expand;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `dystore::DyObject`; the attribute reference lives on that trait.
#[proc_macro_derive(DyObject, attributes(dystore))]
pub fn derive_dy_object(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
