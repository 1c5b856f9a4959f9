//! `#[dystore(...)]` and the `#[serde(...)]` attributes that decide where a
//! field is stored, turned into typed values.
//!
//! Parsing reports unknown, duplicate and ill-typed attributes and carries on;
//! the rules that relate attributes to each other live in `check.rs`.

use crate::case::RenameRule;
use crate::ctxt::Ctxt;
use proc_macro2::TokenStream;
use std::fmt::{self, Display};
use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Token};

/// An attribute keyword, compared against parsed paths (serde's `Symbol`).
#[derive(Copy, Clone)]
pub(crate) struct Symbol(&'static str);

pub(crate) const DYSTORE: Symbol = Symbol("dystore");
pub(crate) const TABLE: Symbol = Symbol("table");
pub(crate) const KEY: Symbol = Symbol("key");
pub(crate) const REGION: Symbol = Symbol("region");
pub(crate) const CRATE: Symbol = Symbol("crate");
pub(crate) const SHARD: Symbol = Symbol("shard");
pub(crate) const ENCRYPT: Symbol = Symbol("encrypt");
pub(crate) const NO_ENCRYPT: Symbol = Symbol("no_encrypt");
pub(crate) const PK: Symbol = Symbol("pk");

pub(crate) const SERDE: Symbol = Symbol("serde");
pub(crate) const RENAME: Symbol = Symbol("rename");
pub(crate) const RENAME_ALL: Symbol = Symbol("rename_all");
pub(crate) const SERIALIZE: Symbol = Symbol("serialize");
pub(crate) const TRANSPARENT: Symbol = Symbol("transparent");
pub(crate) const INTO: Symbol = Symbol("into");
pub(crate) const SKIP: Symbol = Symbol("skip");
pub(crate) const SKIP_SERIALIZING: Symbol = Symbol("skip_serializing");
pub(crate) const SKIP_DESERIALIZING: Symbol = Symbol("skip_deserializing");
pub(crate) const FLATTEN: Symbol = Symbol("flatten");

const CONTAINER_KEYWORDS: &[Symbol] = &[TABLE, KEY, REGION, CRATE];
const FIELD_KEYWORDS: &[Symbol] = &[SHARD, ENCRYPT, NO_ENCRYPT, PK];

impl PartialEq<Symbol> for syn::Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl PartialEq<Symbol> for &syn::Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// `#[dystore(...)]` and the relevant `#[serde(...)]` on the struct.
#[derive(Default)]
pub(crate) struct Container {
    pub(crate) table: Attr<LitStr>,
    pub(crate) key: Attr<LitStr>,
    pub(crate) region: Attr<LitStr>,
    /// `crate = "..."`: where dystore is, when the user re-exports it.
    pub(crate) krate: Attr<syn::Path>,
    /// The first `#[dystore]` attribute, to point at when `table` or `key` is
    /// missing from it.
    pub(crate) dystore_attr: Option<syn::Path>,
    pub(crate) rename_all: Option<RenameRule>,
    /// `#[serde(transparent)]`, which makes the struct serialize as its one
    /// field instead of a map.
    pub(crate) transparent: Option<syn::Path>,
    /// `#[serde(into = "...")]`, which serializes another type in its place.
    pub(crate) into: Option<syn::Path>,
}

/// `#[dystore(...)]` and the relevant `#[serde(...)]` on one field. Flags keep
/// their keyword so errors can point at it.
#[derive(Default)]
pub(crate) struct Field {
    pub(crate) shard: Option<Ident>,
    pub(crate) encrypt: Option<Encrypt>,
    pub(crate) no_encrypt: Option<Ident>,
    pub(crate) pk: Option<Ident>,
    /// Serialized name from `#[serde(rename = "...")]` or
    /// `#[serde(rename(serialize = "..."))]`, kept as written for spans.
    pub(crate) rename: Option<LitStr>,
    /// `skip` or `skip_serializing`: the field is never stored.
    pub(crate) skip: Option<syn::Path>,
    /// `skip_deserializing`: the field is stored but never read back.
    pub(crate) skip_deserializing: Option<syn::Path>,
    pub(crate) flatten: Option<syn::Path>,
}

/// A keyword with a value, remembering that it was written even when its value
/// was rejected, so a bad `table = 5` is not also reported as a missing `table`.
pub(crate) struct Attr<T> {
    given: bool,
    value: Option<T>,
}

impl<T> Default for Attr<T> {
    fn default() -> Self {
        Attr { given: false, value: None }
    }
}

impl<T> Attr<T> {
    /// Whether the keyword was written, valid or not.
    pub(crate) fn is_given(&self) -> bool {
        self.given
    }

    /// The value, when it was written and valid.
    pub(crate) fn get(&self) -> Option<&T> {
        self.value.as_ref()
    }

    fn set(&mut self, cx: &Ctxt, path: &syn::Path, value: Option<T>) {
        if self.given {
            cx.error_spanned_by(path, format_args!("duplicate `{}` attribute", display(path)));
        } else {
            self.given = true;
            self.value = value;
        }
    }
}

/// `encrypt` or `encrypt = "key-id"`.
pub(crate) struct Encrypt {
    pub(crate) keyword: Ident,
    pub(crate) key_id: Option<LitStr>,
}

impl Container {
    /// Reads the struct's attributes, recording mistakes in `cx`.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut container = Container::default();
        for attr in attrs {
            if attr.path() == DYSTORE {
                container.dystore_attr.get_or_insert_with(|| attr.path().clone());
                let parsed = attr.parse_nested_meta(|meta| container.dystore_meta(cx, meta));
                parsed.unwrap_or_else(|e| cx.syn_error(e));
            } else if attr.path() == SERDE {
                // serde reports its own syntax errors; ignore them here.
                let _ = attr.parse_nested_meta(|meta| container.serde_meta(meta));
            }
        }
        container
    }

    fn dystore_meta(&mut self, cx: &Ctxt, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        if meta.path == TABLE {
            let value = string_value(cx, &meta, TABLE)?;
            self.table.set(cx, &meta.path, value);
        } else if meta.path == KEY {
            let value = string_value(cx, &meta, KEY)?;
            self.key.set(cx, &meta.path, value);
        } else if meta.path == REGION {
            let value = string_value(cx, &meta, REGION)?;
            self.region.set(cx, &meta.path, value);
        } else if meta.path == CRATE {
            let value = string_value(cx, &meta, CRATE)?;
            let path = value.and_then(|lit| match lit.parse::<syn::Path>() {
                Ok(path) => Some(path),
                Err(_) => {
                    cx.error_spanned_by(&lit, "`crate` expects the path to dystore: `crate = \"my_crate::dystore\"`");
                    None
                }
            });
            self.krate.set(cx, &meta.path, path);
        } else {
            unknown(cx, &meta, "struct", CONTAINER_KEYWORDS, FIELD_KEYWORDS)?;
        }
        Ok(())
    }

    fn serde_meta(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        if meta.path == RENAME_ALL {
            if let Some(rule) = serialize_name(&meta)? {
                self.rename_all = RenameRule::from_str(&rule.value());
            }
        } else if meta.path == TRANSPARENT {
            self.transparent = Some(meta.path.clone());
        } else if meta.path == INTO {
            self.into = Some(meta.path.clone());
            skip_value(&meta)?;
        } else {
            skip_value(&meta)?;
        }
        Ok(())
    }
}

impl Field {
    /// Reads one field's attributes, recording mistakes in `cx`.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut field = Field::default();
        for attr in attrs {
            if attr.path() == DYSTORE {
                let parsed = attr.parse_nested_meta(|meta| field.dystore_meta(cx, meta));
                parsed.unwrap_or_else(|e| cx.syn_error(e));
            } else if attr.path() == SERDE {
                let _ = attr.parse_nested_meta(|meta| field.serde_meta(meta));
            }
        }
        field
    }

    fn dystore_meta(&mut self, cx: &Ctxt, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        if meta.path == SHARD {
            let flag = flag(cx, &meta, SHARD)?;
            set_once(cx, &mut self.shard, &meta.path, flag);
        } else if meta.path == NO_ENCRYPT {
            let flag = flag(cx, &meta, NO_ENCRYPT)?;
            set_once(cx, &mut self.no_encrypt, &meta.path, flag);
        } else if meta.path == PK {
            let flag = flag(cx, &meta, PK)?;
            set_once(cx, &mut self.pk, &meta.path, flag);
        } else if meta.path == ENCRYPT {
            let encrypt = encrypt(cx, &meta)?;
            set_once(cx, &mut self.encrypt, &meta.path, encrypt);
        } else {
            unknown(cx, &meta, "field", FIELD_KEYWORDS, CONTAINER_KEYWORDS)?;
        }
        Ok(())
    }

    fn serde_meta(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        if meta.path == RENAME {
            if let Some(name) = serialize_name(&meta)? {
                self.rename = Some(name);
            }
        } else if meta.path == SKIP || meta.path == SKIP_SERIALIZING {
            self.skip = Some(meta.path.clone());
        } else if meta.path == SKIP_DESERIALIZING {
            self.skip_deserializing = Some(meta.path.clone());
        } else if meta.path == FLATTEN {
            self.flatten = Some(meta.path.clone());
        } else {
            skip_value(&meta)?;
        }
        Ok(())
    }
}

/// Stores `value` in an empty `slot`, or reports a duplicate at `path`.
fn set_once<T>(cx: &Ctxt, slot: &mut Option<T>, path: &syn::Path, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(path, format_args!("duplicate `{}` attribute", display(path)));
    } else {
        *slot = Some(value);
    }
}

/// The string of `name = "..."`; any other value is reported and yields None.
fn string_value(cx: &Ctxt, meta: &ParseNestedMeta<'_>, name: Symbol) -> syn::Result<Option<LitStr>> {
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(&meta.path, format_args!("`{name}` expects a value: `{name} = \"...\"`"));
        skip_value(meta)?;
        return Ok(None);
    }
    match meta.value()?.parse::<Expr>()? {
        Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => Ok(Some(lit)),
        other => {
            cx.error_spanned_by(other, format_args!("`{name}` expects a string literal: `{name} = \"...\"`"));
            Ok(None)
        }
    }
}

/// A keyword that takes no value (`shard`, `pk`, `no_encrypt`).
fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, name: Symbol) -> syn::Result<Ident> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        cx.error_spanned_by(&meta.path, format_args!("`{name}` takes no value: write `#[dystore({name})]`"));
        skip_value(meta)?;
    }
    Ok(meta.path.require_ident()?.clone())
}

/// `encrypt` or `encrypt = "key-id"`.
fn encrypt(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Encrypt> {
    let keyword = meta.path.require_ident()?.clone();
    let key_id = if meta.input.peek(Token![=]) {
        string_value(cx, meta, ENCRYPT)?
    } else {
        if meta.input.peek(syn::token::Paren) {
            let message = "`encrypt` takes a key id after `=`: write `encrypt` or `encrypt = \"key-id\"`";
            cx.error_spanned_by(&meta.path, message);
            skip_value(meta)?;
        }
        None
    };
    if let Some(lit) = key_id.as_ref().filter(|lit| lit.value().is_empty()) {
        cx.error_spanned_by(lit, "`encrypt` key id must not be empty: write `encrypt` alone for the loader's key");
    }
    Ok(Encrypt { keyword, key_id })
}

/// Reports an unknown keyword, pointing a misplaced one at where it belongs.
fn unknown(cx: &Ctxt, meta: &ParseNestedMeta<'_>, place: &str, expected: &[Symbol], elsewhere: &[Symbol]) -> syn::Result<()> {
    let name = display(&meta.path);
    let (here, there) = if place == "struct" { ("the struct", "a field") } else { ("a field", "the struct") };
    let message = if elsewhere.iter().any(|word| meta.path == *word) {
        format!("`{name}` belongs on {there}, not on {here}")
    } else {
        let list: Vec<String> = expected.iter().map(|word| format!("`{word}`")).collect();
        format!("unknown `dystore` attribute `{name}` on {here}: expected one of {}", list.join(", "))
    };
    cx.error_spanned_by(&meta.path, message);
    skip_value(meta)
}

/// The serialize-side name of `rename = "..."` or
/// `rename(serialize = "...", deserialize = "...")` (also for `rename_all`).
fn serialize_name(meta: &ParseNestedMeta<'_>) -> syn::Result<Option<LitStr>> {
    if meta.input.peek(Token![=]) {
        return Ok(Some(meta.value()?.parse()?));
    }
    let mut name = None;
    meta.parse_nested_meta(|inner| {
        let value: LitStr = inner.value()?.parse()?;
        if inner.path == SERIALIZE {
            name = Some(value);
        }
        Ok(())
    })?;
    Ok(name)
}

/// Consumes whatever follows a keyword we do not read: `= expr` or `(...)`.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// A path as the user wrote it, for messages (`crate`, `foo::bar`).
fn display(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.join("::")
}
