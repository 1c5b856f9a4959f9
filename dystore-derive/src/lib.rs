//! `#[derive(DyObject)]` for dystore; see the `DyObject` trait in the runtime crate.

use proc_macro::TokenStream;

/// Derives `dystore::DyObject`; the attribute reference lives on that trait.
#[proc_macro_derive(DyObject, attributes(dystore))]
pub fn derive_dy_object(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
