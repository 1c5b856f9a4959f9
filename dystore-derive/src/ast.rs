//! The model the checks and the expansion work on: the struct, its stored
//! fields with their serialized names, and what each field holds.

use crate::attr;
use crate::case::RenameRule;
use crate::ctxt::Ctxt;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, PathArguments, Type};

/// A `#[derive(DyObject)]` input.
pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a syn::Generics,
    pub(crate) attrs: attr::Container,
    /// Named fields in declaration order; empty when the input is not a
    /// struct with named fields (already reported).
    pub(crate) fields: Vec<Field<'a>>,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: attr::Field,
    /// The key serde writes for this field, after `rename` and `rename_all`.
    pub(crate) name: String,
    pub(crate) shape: Shape<'a>,
}

/// How a field holds its value, which decides a shard's path.
pub(crate) enum Shape<'a> {
    /// `T`: one item at `$.field`.
    One,
    /// `Option<T>`: one item at `$.field`, none when absent.
    Optional(&'a Type),
    /// `Vec<T>`: one item per element, at `$.field[*]`.
    List(&'a Type),
}

impl<'a> Input<'a> {
    /// Builds the model, reporting inputs that are not structs with named
    /// fields.
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let attrs = attr::Container::from_attrs(cx, &input.attrs);
        let rename_all = attrs.rename_all.unwrap_or(RenameRule::None);
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named.named.iter().map(|field| Field::from_syn(cx, field, rename_all)).collect(),
                Fields::Unnamed(unnamed) => not_named(cx, unnamed),
                Fields::Unit => not_named(cx, &input.ident),
            },
            Data::Enum(data) => not_named(cx, data.enum_token),
            Data::Union(data) => not_named(cx, data.union_token),
        };
        Input { ident: &input.ident, generics: &input.generics, attrs, fields }
    }

    /// Fields serde writes, and so dystore stores.
    pub(crate) fn stored_fields(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|field| field.attrs.skip.is_none())
    }

    /// Whether any stored field is a shard.
    pub(crate) fn has_shards(&self) -> bool {
        self.stored_fields().any(|field| field.attrs.shard.is_some())
    }
}

fn not_named<'a, T: quote::ToTokens>(cx: &Ctxt, tokens: T) -> Vec<Field<'a>> {
    cx.error_spanned_by(
        tokens,
        "`DyObject` can only be derived for structs with named fields: dystore stores an object as a map of its fields",
    );
    Vec::new()
}

impl<'a> Field<'a> {
    fn from_syn(cx: &Ctxt, field: &'a syn::Field, rename_all: RenameRule) -> Self {
        let ident = field.ident.as_ref().expect("named fields have idents");
        let attrs = attr::Field::from_attrs(cx, &field.attrs);
        let name = match &attrs.rename {
            Some(name) => name.value(),
            None => rename_all.apply_to_field(&ident.unraw().to_string()),
        };
        Field { ident, ty: &field.ty, attrs, name, shape: Shape::of(&field.ty) }
    }

    /// The field's path in its object: `$.name`.
    pub(crate) fn path(&self) -> String {
        member_path(&self.name)
    }

    /// Where the field's shard items sit: `$.name`, or `$.name[*]` for a list.
    pub(crate) fn shard_path(&self) -> String {
        match self.shape {
            Shape::List(_) => format!("{}[*]", self.path()),
            Shape::One | Shape::Optional(_) => self.path(),
        }
    }

    /// The type stored as a shard: `T` in `T`, `Option<T>` and `Vec<T>`.
    pub(crate) fn element(&self) -> &'a Type {
        match self.shape {
            Shape::One => self.ty,
            Shape::Optional(inner) | Shape::List(inner) => inner,
        }
    }
}

impl<'a> Shape<'a> {
    fn of(ty: &'a Type) -> Self {
        match single_argument(ty) {
            Some(("Option", inner)) => Shape::Optional(inner),
            Some(("Vec", inner)) => Shape::List(inner),
            _ => Shape::One,
        }
    }
}

/// `("Vec", T)` for a type written `Vec<T>` (or `std::vec::Vec<T>`).
/// Recognised by name, as serde_derive does for `Option`: a derive sees
/// tokens, not resolved types.
fn single_argument(ty: &Type) -> Option<(&'static str, &Type)> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    let name = ["Option", "Vec"].into_iter().find(|name| last.ident == name)?;
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(inner)] => Some((name, inner)),
        _ => None,
    }
}

/// Whether `ty` is written `String` (or a path ending in `String`).
pub(crate) fn is_string(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    path.qself.is_none() && path.path.segments.last().is_some_and(|last| last.ident == "String" && last.arguments.is_none())
}

/// The JSONPath of a member of the root, in the normal form the runtime
/// gives paths (`dystore/src/path.rs`, `PlainPath`'s `Display`): `$.name` for
/// names of `A-Z a-z 0-9 _ -`, else `$['odd name']`.
pub(crate) fn member_path(name: &str) -> String {
    let simple = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        return format!("$.{name}");
    }
    let mut quoted = String::from("$['");
    for c in name.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '\'' => quoted.push_str("\\'"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if c < ' ' => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push_str("']");
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_are_normalized_jsonpath() {
        assert_eq!(member_path("firstname"), "$.firstname");
        assert_eq!(member_path("_id2"), "$._id2");
        assert_eq!(member_path("first-name"), "$.first-name");
        assert_eq!(member_path("2fa"), "$.2fa");
        assert_eq!(member_path("first name"), "$['first name']");
        assert_eq!(member_path("it's"), "$['it\\'s']");
        assert_eq!(member_path("a\\b"), "$['a\\\\b']");
        assert_eq!(member_path("ville"), "$.ville");
        assert_eq!(member_path("tab\there"), "$['tab\\there']");
        assert_eq!(member_path("\u{1}"), "$['\\u0001']");
    }

    #[test]
    fn shapes_follow_the_written_type() {
        let ty: Type = syn::parse_quote!(Vec<Locale>);
        assert!(matches!(Shape::of(&ty), Shape::List(_)));
        let ty: Type = syn::parse_quote!(std::option::Option<Geo>);
        assert!(matches!(Shape::of(&ty), Shape::Optional(_)));
        let ty: Type = syn::parse_quote!(Location);
        assert!(matches!(Shape::of(&ty), Shape::One));
        assert!(is_string(&syn::parse_quote!(std::string::String)));
        assert!(!is_string(&syn::parse_quote!(Option<String>)));
    }
}
