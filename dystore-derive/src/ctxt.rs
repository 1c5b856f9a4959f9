//! The error collector shared by every stage, after serde_derive's `Ctxt`:
//! stages record mistakes and carry on, so one build shows all of them.

use proc_macro2::TokenStream;
use quote::ToTokens;
use std::cell::RefCell;
use std::fmt::Display;

/// Mistakes found so far in one `#[derive(DyObject)]` input.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    /// Records a mistake spanned on `tokens` (the whole span of a multi-token
    /// item, as `syn::Error::new_spanned` does).
    pub(crate) fn error_spanned_by<T: ToTokens, M: Display>(&self, tokens: T, message: M) {
        self.errors.borrow_mut().push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error produced by syn while parsing an attribute.
    pub(crate) fn syn_error(&self, error: syn::Error) {
        self.errors.borrow_mut().push(error);
    }

    /// Whether nothing has gone wrong yet.
    pub(crate) fn is_ok(&self) -> bool {
        self.errors.borrow().is_empty()
    }

    /// All recorded mistakes as `compile_error!` invocations, in source order
    /// of discovery.
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.errors.into_inner().iter().map(syn::Error::to_compile_error).collect()
    }
}
