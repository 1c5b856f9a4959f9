//! The rules a `DyObject` must follow, one small function each. Every rule
//! records its mistakes in the context and returns, so one build reports all
//! of them. Rules that need types (a shard's type derives `DyObject`, a shard
//! table differs from its parent's) are checked by the generated code.

use crate::ast::{self, Field, Input};
use crate::attr::{KEY, REGION, TABLE};
use crate::ctxt::Ctxt;
use syn::LitStr;

/// Runs every rule on `input`.
pub(crate) fn check(cx: &Ctxt, input: &Input<'_>) {
    check_generics(cx, input);
    check_table_and_key_given(cx, input);
    check_table_name(cx, input);
    check_key_name(cx, input);
    check_region(cx, input);
    check_transparent(cx, input);
    check_into(cx, input);
    check_single_pk(cx, input);
    check_flatten_beside_shards(cx, input);
    for field in &input.fields {
        check_shard_not_self(cx, input, field);
        check_shard_encrypt(cx, field);
        check_encrypt_no_encrypt(cx, field);
        check_pk_type(cx, field);
        check_pk_attrs(cx, field);
        check_skipped(cx, field);
        check_flattened(cx, field);
        check_stored_name(cx, input, field);
    }
}

// The layout is one `static` per type, and a `static` cannot depend on type
// parameters.
fn check_generics(cx: &Ctxt, input: &Input<'_>) {
    let generics = input.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            &generics.params,
            "`DyObject` cannot be derived for generic structs: each stored type needs a layout of its own",
        );
    }
}

// `table` and `key` are required on the struct.
fn check_table_and_key_given(cx: &Ctxt, input: &Input<'_>) {
    let attrs = &input.attrs;
    let message = match (attrs.table.is_given(), attrs.key.is_given()) {
        (true, true) => return,
        (false, false) => "missing `table` and `key`: add `#[dystore(table = \"...\", key = \"...\")]` to the struct",
        (false, true) => "missing `table`: add `table = \"...\"` to `#[dystore(...)]` on the struct",
        (true, false) => "missing `key`: add `key = \"...\"` to `#[dystore(...)]` on the struct",
    };
    match &attrs.dystore_attr {
        Some(path) => cx.error_spanned_by(path, message),
        None => cx.error_spanned_by(input.ident, message),
    }
}

// DynamoDB table names are 3 to 255 characters of `[A-Za-z0-9_.-]`.
fn check_table_name(cx: &Ctxt, input: &Input<'_>) {
    let Some(lit) = input.attrs.table.get() else { return };
    let table = lit.value();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if table.is_empty() {
        cx.error_spanned_by(lit, format_args!("`{TABLE}` must not be empty"));
    } else if !(3..=255).contains(&table.len()) || !table.chars().all(allowed) {
        cx.error_spanned_by(
            lit,
            format_args!(
                "table name `{}` would be rejected by DynamoDB: a `{TABLE}` is 3 to 255 characters of `A-Z`, `a-z`, `0-9`, `_`, `.` and `-`",
                table.escape_debug(),
            ),
        );
    }
}

// DynamoDB key attribute names are 1 to 255 bytes.
fn check_key_name(cx: &Ctxt, input: &Input<'_>) {
    let Some(lit) = input.attrs.key.get() else { return };
    if !(1..=255).contains(&lit.value().len()) {
        cx.error_spanned_by(lit, format_args!("`{KEY}` must be 1 to 255 bytes long, as DynamoDB requires"));
    } else if lit.value() == "__dystore_meta__" {
        cx.error_spanned_by(lit, format_args!("`{KEY}` cannot be `__dystore_meta__`: every item holds dystore's metadata under that name"));
    }
}

// An empty region would be recorded in every shard reference.
fn check_region(cx: &Ctxt, input: &Input<'_>) {
    let Some(lit) = input.attrs.region.get().filter(|lit| lit.value().is_empty()) else { return };
    let message = format!("`{REGION}` must not be empty: leave it out to use the client's region");
    cx.error_spanned_by::<&LitStr, _>(lit, message);
}

// `into` serializes another type, whose fields the rules and shards do not
// name: every mark would silently match nothing.
fn check_into(cx: &Ctxt, input: &Input<'_>) {
    if let Some(path) = &input.attrs.into {
        cx.error_spanned_by(
            path,
            "`#[serde(into = \"...\")]` cannot be used on a `DyObject`: dystore stores the fields this struct declares, and `into` serializes another type",
        );
    }
}

// A transparent struct serializes as its one field, not as a map.
fn check_transparent(cx: &Ctxt, input: &Input<'_>) {
    if let Some(path) = &input.attrs.transparent {
        cx.error_spanned_by(
            path,
            "`#[serde(transparent)]` cannot be used on a `DyObject`: an object must serialize as a map of its fields",
        );
    }
}

// One field at most holds the primary key.
fn check_single_pk(cx: &Ctxt, input: &Input<'_>) {
    let mut pks = input.fields.iter().filter_map(|field| Some((field, field.attrs.pk.as_ref()?)));
    let Some((first, _)) = pks.next() else { return };
    for (_, keyword) in pks {
        cx.error_spanned_by(keyword, format_args!("only one field can be `pk`: `{}` already holds the primary key", first.ident));
    }
}

// Flattened keys are only known at run time and could hide a shard's place.
fn check_flatten_beside_shards(cx: &Ctxt, input: &Input<'_>) {
    if !input.has_shards() {
        return;
    }
    let flattened = input.stored_fields().filter(|field| field.attrs.shard.is_none());
    for path in flattened.filter_map(|field| field.attrs.flatten.as_ref()) {
        cx.error_spanned_by(
            path,
            "`#[serde(flatten)]` cannot be used in a struct with shards: the flattened keys are only known at run time and could hide where a shard is stored",
        );
    }
}

// A layout is a constant: a struct cannot be a shard of itself.
fn check_shard_not_self(cx: &Ctxt, input: &Input<'_>, field: &Field<'_>) {
    if field.attrs.shard.is_none() {
        return;
    }
    let syn::Type::Path(path) = field.element() else { return };
    if path.qself.is_none() && (path.path.is_ident("Self") || path.path.is_ident(input.ident)) {
        cx.error_spanned_by(path, "`shard` cannot hold the struct's own type: its layout would nest without end");
    }
}

// A shard's encryption is declared on its own type.
fn check_shard_encrypt(cx: &Ctxt, field: &Field<'_>) {
    if field.attrs.shard.is_none() {
        return;
    }
    let why = "a shard's encryption is set on the fields of its own type";
    if let Some(encrypt) = &field.attrs.encrypt {
        let message = format!("`shard` and `encrypt` cannot be used on the same field: {why}");
        cx.error_spanned_by(&encrypt.keyword, message);
    }
    if let Some(keyword) = &field.attrs.no_encrypt {
        let message = format!("`shard` and `no_encrypt` cannot be used on the same field: {why}");
        cx.error_spanned_by(keyword, message);
    }
}

// A field is either encrypted or exempt, not both.
fn check_encrypt_no_encrypt(cx: &Ctxt, field: &Field<'_>) {
    if let (Some(_), Some(keyword)) = (&field.attrs.encrypt, &field.attrs.no_encrypt) {
        cx.error_spanned_by(keyword, "`encrypt` and `no_encrypt` cannot be used on the same field: keep the one you mean");
    }
}

// The primary key is a DynamoDB string attribute.
fn check_pk_type(cx: &Ctxt, field: &Field<'_>) {
    if field.attrs.pk.is_some() && !ast::is_string(field.ty) {
        cx.error_spanned_by(field.ty, "`pk` expects a `String` field: the primary key is a string attribute");
    }
}

// The primary key is the item's key: stored in clear, in the root item.
fn check_pk_attrs(cx: &Ctxt, field: &Field<'_>) {
    if field.attrs.pk.is_none() {
        return;
    }
    if let Some(encrypt) = &field.attrs.encrypt {
        cx.error_spanned_by(
            &encrypt.keyword,
            "`encrypt` cannot be used on the `pk` field: the primary key is the item's key and is stored in clear",
        );
    }
    if let Some(keyword) = &field.attrs.shard {
        cx.error_spanned_by(keyword, "`shard` cannot be used on the `pk` field: the primary key is stored in the root item");
    }
    if let Some(path) = &field.attrs.skip_deserializing {
        cx.error_spanned_by(path, "`pk` cannot be used on a field with `#[serde(skip_deserializing)]`: `load` could not fill it");
    }
}

// A field serde never writes is not stored, so dystore attributes on it
// would silently do nothing.
fn check_skipped(cx: &Ctxt, field: &Field<'_>) {
    let Some(skip) = &field.attrs.skip else { return };
    let skip = skip.get_ident().map(ToString::to_string).unwrap_or_default();
    for (name, keyword) in dystore_keywords(field) {
        cx.error_spanned_by(keyword, format_args!("`{name}` cannot be used on a field with `#[serde({skip})]`: the field is not stored"));
    }
}

// A flattened field has no path of its own for a rule or a shard to name.
fn check_flattened(cx: &Ctxt, field: &Field<'_>) {
    if field.attrs.flatten.is_none() {
        return;
    }
    for (name, keyword) in dystore_keywords(field) {
        cx.error_spanned_by(
            keyword,
            format_args!("`{name}` cannot be used on a field with `#[serde(flatten)]`: a flattened field has no path of its own"),
        );
    }
}

// A stored field's name must be one DynamoDB accepts and must not collide
// with what dystore stores beside it (the key attribute, the metadata): the
// save would fail, or the value be overwritten.
fn check_stored_name(cx: &Ctxt, input: &Input<'_>, field: &Field<'_>) {
    if field.attrs.skip.is_some() || field.attrs.pk.is_some() || field.attrs.flatten.is_some() {
        return;
    }
    let key = input.attrs.key.get().map(LitStr::value);
    let message = if field.name.is_empty() {
        "a field cannot be stored under the empty name: DynamoDB accepts no empty attribute name".to_owned()
    } else if key.as_deref() == Some(field.name.as_str()) {
        format!(
            "the field is stored as `{}`, the name of the key attribute: rename it, or mark it `#[dystore(pk)]` if it holds the key",
            field.name
        )
    } else if field.name == "__dystore_meta__" {
        "`__dystore_meta__` is the name of dystore's metadata: rename the field".to_owned()
    } else {
        return;
    };
    match &field.attrs.rename {
        Some(rename) => cx.error_spanned_by(rename, message),
        None => cx.error_spanned_by(field.ident, message),
    }
}

/// The `#[dystore(...)]` keywords written on `field`, in a fixed order.
fn dystore_keywords<'f>(field: &'f Field<'_>) -> Vec<(&'static str, &'f syn::Ident)> {
    let attrs = &field.attrs;
    [
        ("shard", attrs.shard.as_ref()),
        ("encrypt", attrs.encrypt.as_ref().map(|encrypt| &encrypt.keyword)),
        ("no_encrypt", attrs.no_encrypt.as_ref()),
        ("pk", attrs.pk.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, keyword)| Some((name, keyword?)))
    .collect()
}
