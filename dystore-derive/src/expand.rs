//! Code generation: the `DyObject` impl, or on failure the errors and a stub
//! impl (thiserror's fallback) so the user sees only the real mistakes.

use crate::ast::{Field, Input};
use crate::check;
use crate::ctxt::Ctxt;
use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, GenericArgument, PathArguments, Type};

/// Expands `#[derive(DyObject)]` on `input`.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::default();
    let model = Input::from_syn(&cx, input);
    check::check(&cx, &model);
    let private = private_path(&model);
    if cx.is_ok() {
        return impl_dy_object(&model, &private);
    }
    let errors = cx.into_compile_errors();
    let stub = fallback(input, &private);
    quote! { #errors #stub }
}

/// `::dystore::__private`, or `<crate = "...">::__private`.
fn private_path(input: &Input<'_>) -> TokenStream {
    match input.attrs.krate.get() {
        Some(path) => quote!(#path::__private),
        None => quote!(::dystore::__private),
    }
}

/// The impl: `LAYOUT` from `Layout::fixed`, `layout()` from a `static`, and
/// one table assertion per shard.
fn impl_dy_object(input: &Input<'_>, p: &TokenStream) -> TokenStream {
    let ident = input.ident;
    let (table, key) = (input.attrs.table.get(), input.attrs.key.get());
    let region = match input.attrs.region.get() {
        Some(region) => quote!(#p::Some(#region)),
        None => quote!(#p::None),
    };
    let shards = input.stored_fields().filter(|field| field.attrs.shard.is_some());
    let shards: Vec<TokenStream> = shards.map(|field| shard(field, p)).collect();
    let rules: Vec<TokenStream> = input.stored_fields().filter_map(|field| encrypt_rule(field, p)).collect();
    let pk_field = input.stored_fields().find(|field| field.attrs.pk.is_some()).map(|field| {
        let name = &field.name;
        quote! { const PK_FIELD: #p::Option<&'static str> = #p::Some(#name); }
    });
    let assertions = input.stored_fields().filter(|field| field.attrs.shard.is_some());
    let assertions = assertions.map(|field| distinct_table(input, field, p));
    let inline = input.stored_fields().filter(|field| field.attrs.shard.is_none() && field.attrs.pk.is_none());
    let inline: Vec<TokenStream> =
        inline.flat_map(|field| nested_types(field.ty).into_iter().map(move |ty| not_inline_object(field, ty, p))).collect();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #p::DyObject for #ident {
                const LAYOUT: #p::Layout = {
                    const __SHARDS: &[#p::Shard] = &[#(#shards),*];
                    const __ENCRYPT: &[#p::EncryptRule] = &[#(#rules),*];
                    #p::Layout::fixed(#table, #key, #region, __SHARDS, __ENCRYPT)
                };
                #pk_field
                fn layout() -> &'static #p::Layout {
                    static __LAYOUT: #p::Layout = <#ident as #p::DyObject>::LAYOUT;
                    &__LAYOUT
                }
            }
            #(#assertions)*
            #(#inline)*
        };
    }
}

/// `ty` and every type written inside it (generic arguments, tuple and
/// array elements, referents): wherever a `DyObject` could hide in a field
/// stored inline (`Box<Inner>`, `HashMap<String, Inner>`, `(Inner, u8)`,
/// `[Inner; 1]`, `Option<Vec<Inner>>`).
fn nested_types(ty: &Type) -> Vec<&Type> {
    let mut out = vec![ty];
    match ty {
        Type::Path(path) => {
            for segment in &path.path.segments {
                if let PathArguments::AngleBracketed(args) = &segment.arguments {
                    for arg in &args.args {
                        if let GenericArgument::Type(inner) = arg {
                            out.extend(nested_types(inner));
                        }
                    }
                }
            }
        }
        Type::Tuple(tuple) => tuple.elems.iter().for_each(|t| out.extend(nested_types(t))),
        Type::Array(array) => out.extend(nested_types(&array.elem)),
        Type::Slice(slice) => out.extend(nested_types(&slice.elem)),
        Type::Reference(reference) => out.extend(nested_types(&reference.elem)),
        Type::Paren(paren) => out.extend(nested_types(&paren.elem)),
        Type::Group(group) => out.extend(nested_types(&group.elem)),
        _ => {}
    }
    out
}

/// A compile-time assertion, spanned at the field's type, that a field
/// stored inline (not a shard) does not hold a `DyObject`: that type's
/// `encrypt` marks and shards would silently not apply inside its parent.
fn not_inline_object(field: &Field<'_>, element: &Type, p: &TokenStream) -> TokenStream {
    let message = format!(
        "field `{}` holds a type that derives `DyObject` but is not a shard: its `encrypt` marks and shards would not apply here: make the field a `#[dystore(shard)]`, or do not derive `DyObject` on its type",
        field.ident,
    );
    let span = element.span();
    let p = respan(p, span);
    quote_spanned! {span=>
        const _: () = {
            #[allow(unused_imports)]
            use #p::NotDyObject as _;
            if #p::IsDyObject::<#element>::DY {
                #p::panic!(#message);
            }
        };
    }
}

/// `Shard::fixed("$.location", <Location as ShardType>::LAYOUT)`, spanned at
/// the element type so a type that is not a `DyObject` is the one underlined.
fn shard(field: &Field<'_>, p: &TokenStream) -> TokenStream {
    let path = field.shard_path();
    let element = field.element();
    let layout = quote_spanned!(element.span()=> <#element as #p::ShardType>::LAYOUT);
    quote!(#p::Shard::fixed(#path, #layout))
}

/// The field's `EncryptRule`, if it has `encrypt` or `no_encrypt`.
fn encrypt_rule(field: &Field<'_>, p: &TokenStream) -> Option<TokenStream> {
    let path = field.path();
    if let Some(encrypt) = &field.attrs.encrypt {
        let key_id = match &encrypt.key_id {
            Some(key_id) => quote!(#p::Some(#key_id)),
            None => quote!(#p::None),
        };
        return Some(quote!(#p::EncryptRule::fixed(#path, #key_id, false)));
    }
    field.attrs.no_encrypt.as_ref().map(|_| quote!(#p::EncryptRule::fixed(#path, #p::None, true)))
}

/// A compile-time assertion, spanned at the field, that a shard is not
/// stored in its parent's own table under the same key.
fn distinct_table(input: &Input<'_>, field: &Field<'_>, p: &TokenStream) -> TokenStream {
    let (table, key) = (input.attrs.table.get(), input.attrs.key.get());
    let element = field.element();
    let message = format!(
        "shard `{}` is stored in the same table and key as `{}`: give `{}` a table of its own",
        field.ident,
        input.ident,
        quote!(#element).to_string().replace(' ', ""),
    );
    // Every token of the `panic!` call, its path included, carries the
    // field's span: rustc reports a const panic at the macro call's span.
    let span = field.ident.span();
    let p = respan(p, span);
    quote_spanned! {span=>
        const _: () = {
            const __CHILD: &#p::Layout = &<#element as #p::ShardType>::LAYOUT;
            if #p::same_table(__CHILD, #table, #key) {
                #p::panic!(#message);
            }
        };
    }
}

fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    let respan_tree = |mut tree: TokenTree| {
        if let TokenTree::Group(group) = &tree {
            let mut inner = Group::new(group.delimiter(), respan(&group.stream(), span));
            inner.set_span(span);
            tree = TokenTree::Group(inner);
        }
        tree.set_span(span);
        tree
    };
    tokens.clone().into_iter().map(respan_tree).collect()
}

/// A stub impl emitted beside the errors, so uses of the type elsewhere do
/// not fail too.
fn fallback(input: &DeriveInput, p: &TokenStream) -> TokenStream {
    if let Data::Union(_) = input.data {
        // serde cannot serialize unions either: a stub would only add errors.
        return TokenStream::new();
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // With type parameters, the serde impls carry bounds the stub must repeat.
    let bound = (!input.generics.params.is_empty()).then(|| {
        let predicates = where_clause.map(|clause| &clause.predicates);
        quote! {
            where #ident #ty_generics: #p::Serialize + #p::DeserializeOwned, #predicates
        }
    });
    let where_clause = if bound.is_some() { None } else { where_clause };
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #p::DyObject for #ident #ty_generics #where_clause #bound {
                const LAYOUT: #p::Layout = #p::Layout::fixed("", "", #p::None, &[], &[]);
                fn layout() -> &'static #p::Layout {
                    static __LAYOUT: #p::Layout = #p::Layout::fixed("", "", #p::None, &[], &[]);
                    &__LAYOUT
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::derive;
    use syn::{DeriveInput, parse_quote};

    fn person() -> DeriveInput {
        parse_quote! {
            #[dystore(table = "People", key = "ID", region = "us-east-2")]
            struct Person {
                #[dystore(pk)]
                id: String,
                #[dystore(encrypt)]
                firstname: String,
                #[dystore(shard)]
                locales: Vec<Locale>,
            }
        }
    }

    #[test]
    fn generated_code_names_only_private_paths() {
        let code = derive(&person()).to_string();
        assert!(code.starts_with("const _ : () = {"), "{code}");
        assert!(code.contains("# [automatically_derived] impl :: dystore :: __private :: DyObject for Person"));
        // Once every `::dystore::__private::` prefix is gone, no path may
        // start with `::` (only follow a name, or `<T as Trait>`).
        let rest = code.replace(":: dystore :: __private ::", "");
        let tokens: Vec<&str> = rest.split_whitespace().collect();
        for (i, _) in tokens.iter().enumerate().filter(|(_, token)| **token == "::") {
            let before = tokens[i - 1];
            assert!(before == ">" || before.chars().all(|c| c.is_alphanumeric() || c == '_'), "{code}");
        }
        assert!(!code.contains("compile_error"));
    }

    #[test]
    fn errors_come_with_a_stub_impl() {
        let input: DeriveInput = parse_quote! {
            #[dystore(tabel = "People")]
            struct Person { name: String }
        };
        let code = derive(&input).to_string();
        assert_eq!(code.matches("compile_error").count(), 2, "{code}");
        assert!(code.contains("impl :: dystore :: __private :: DyObject for Person"));
    }
}
