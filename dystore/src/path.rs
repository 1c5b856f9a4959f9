//! The one path model of dystore. Every path the library reads — encryption
//! rules, shard paths, `read_path`/`write_path`, the loader's patterns — is
//! parsed here, and every path it prints (to the loader, into shard keys and
//! into the context a ciphertext is bound to) is printed here, so what one
//! part prints every other part reads back the same way.
//!
//! Two shapes come out of the parser:
//!
//! - [`PlainPath`]: names and indexes only (`$.location.city`,
//!   `$.friends[0]`, `$['first name']`). It decides which item holds a value
//!   and becomes DynamoDB projection and update expressions.
//! - [`Pattern`]: a plain path in which an index may also be `[*]` (any
//!   index): `$.orders[*].card_last4`. Encryption rules, shard paths and the
//!   keyring's patterns are patterns.
//!
//! Anything richer (`$..city`, `$.a.*`, filters, slices, unions) is a query,
//! accepted only by `read_path` and handed to jsonpath-rust over the loaded
//! document.
//!
//! Names follow JSONPath (RFC 9535): `.name` for a name of letters, digits,
//! `_` and `-`; any other name is quoted, `['e.mail']` or `["e.mail"]`, with
//! the RFC's escapes (`\'`, `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`,
//! `\uXXXX`). The printer writes `.name` for names of ASCII letters, digits,
//! `_` and `-` and the quoted form for all others.
//!
//! Written by hand rather than through jsonpath-rust's parser: the plain
//! grammar must be exact and its printer its inverse (printed paths are part
//! of the stored format: shard keys and the authenticated context of every
//! ciphertext), and it accepts `.first-name` and `.2fa`, which the RFC's
//! shorthand does not.

use crate::backend::Expr;
use crate::error::{Error, ErrorKind, Result};
use serde_dynamo::AttributeValue;
use std::fmt::{self, Write as _};

/// One step of a plain path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Step {
    /// A map entry.
    Field(String),
    /// A list element.
    Index(usize),
}

impl Step {
    /// The step, borrowed.
    pub(crate) fn as_ref(&self) -> StepRef<'_> {
        match self {
            Step::Field(name) => StepRef::Field(name),
            Step::Index(i) => StepRef::Index(*i),
        }
    }
}

/// A step of a path, borrowed from the path's text or from a [`Step`]:
/// what matching a path against rules needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepRef<'a> {
    Field(&'a str),
    Index(usize),
}

/// The steps of `path`, borrowed from its text, when it is written with
/// dot names and indexes only (`$.location.city`, `$.friends[0].name`,
/// the form [`PlainPath`] prints such paths in); `None` for anything else,
/// which [`parse_plain_only`] reads or refuses. Where it answers, it
/// answers as [`parse_plain_only`] does, without allocating for paths of
/// up to 8 steps (a keyring matches every leaf's path this way).
pub(crate) fn borrowed_steps(path: &str) -> Option<smallvec::SmallVec<[StepRef<'_>; 8]>> {
    let mut rest = path.strip_prefix('$')?;
    let mut steps = smallvec::SmallVec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let len = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..len];
            if name.is_empty() || !name.chars().all(is_dot_name_char) {
                return None;
            }
            steps.push(StepRef::Field(name));
            rest = &after[len..];
        } else {
            let after = rest.strip_prefix('[')?;
            let close = after.find(']')?;
            let body = &after[..close];
            // Leading zeros are refused by the parser (RFC 9535).
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) || (body.len() > 1 && body.starts_with('0')) {
                return None;
            }
            steps.push(StepRef::Index(body.parse().ok()?));
            rest = &after[close + 1..];
        }
    }
    Some(steps)
}

/// A path of names and indexes from an object's root: `$.location.city`,
/// `$.friends[0]`, `$['odd name']`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PlainPath {
    pub(crate) steps: Vec<Step>,
}

/// One step of a pattern: a plain step, or `[*]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PatternStep {
    /// A name or an index.
    Step(Step),
    /// `[*]`: any index of a list.
    AnyIndex,
}

/// A plain path whose indexes may be `[*]`: `$.orders[*].card_last4`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Pattern {
    pub(crate) steps: Vec<PatternStep>,
}

/// A path as the user gave it to `read_path`: plain, a pattern with `[*]`,
/// or a query for jsonpath-rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Path {
    Plain(PlainPath),
    Pattern(Pattern),
    Query(String),
}

fn invalid(path: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidPath, why.to_owned()).with_path(path)
}

/// Parses `path`; a path using member wildcards, filters, slices or
/// recursive descent is returned as a query after jsonpath-rust accepts it.
pub(crate) fn parse(path: &str) -> Result<Path> {
    match parse_steps(path) {
        Ok(pattern) => Ok(match pattern.to_plain() {
            Some(plain) => Path::Plain(plain),
            None => Path::Pattern(pattern),
        }),
        Err(Unplain::Complex) => check_query(path).map(|()| Path::Query(path.to_owned())),
        Err(Unplain::Invalid(why)) => Err(invalid(path, why)),
    }
}

fn check_query(path: &str) -> Result<()> {
    jsonpath_rust::parser::parse_json_path(path).map(drop).map_err(|e| invalid(path, &format!("not a valid JSONPath: {e}")))
}

/// Parses a path that must be plain (names and indexes only); `operation`
/// names what needs it, for the message.
pub(crate) fn parse_plain_only(path: &str, operation: &str) -> Result<PlainPath> {
    let not_plain = || {
        invalid(
            path,
            &format!("{operation} takes a plain path (names and indexes); wildcards and filters would change an unknown set of values"),
        )
    };
    match parse_steps(path) {
        Ok(pattern) => pattern.to_plain().ok_or_else(not_plain),
        Err(Unplain::Complex) => {
            check_query(path)?;
            Err(not_plain())
        }
        Err(Unplain::Invalid(why)) => Err(invalid(path, why)),
    }
}

/// Parses a pattern: names, indexes and `[*]`.
pub(crate) fn parse_pattern(path: &str) -> Result<Pattern> {
    parse_steps(path).map_err(|e| match e {
        Unplain::Complex => invalid(path, "a pattern takes names, indexes and `[*]` only (no `..`, `.*`, filters or slices)"),
        Unplain::Invalid(why) => invalid(path, why),
    })
}

enum Unplain {
    /// Valid-looking JSONPath, but more than names, indexes and `[*]`.
    Complex,
    Invalid(&'static str),
}

/// Whether `c` may stand in a name written after `.` (RFC 9535's shorthand
/// letters, plus `-` and a leading digit as dystore has always printed them).
fn is_dot_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

fn parse_steps(path: &str) -> Result<Pattern, Unplain> {
    let rest = path.strip_prefix('$').ok_or(Unplain::Invalid("a path starts with `$`"))?;
    let mut steps = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let after = &rest[i..];
        if let Some(name_start) = after.strip_prefix('.') {
            let len = name_start.find(['.', '[']).unwrap_or(name_start.len());
            if len == 0 || !name_start[..len].chars().all(is_dot_name_char) {
                return Err(match name_start.chars().next() {
                    // `..` is recursive descent, `.*` a wildcard: queries.
                    Some('.') => Unplain::Complex,
                    Some('*') if len == 1 => Unplain::Complex,
                    None | Some('[') => Unplain::Invalid("empty name after `.`"),
                    Some(_) => Unplain::Invalid(
                        "a name after `.` holds letters, digits, `_` and `-` only; quote any other name as JSONPath does: `['e.mail']`",
                    ),
                });
            }
            steps.push(PatternStep::Step(Step::Field(name_start[..len].to_owned())));
            i += 1 + len;
        } else if after.starts_with('[') {
            let (step, used) = parse_bracket(after)?;
            steps.push(step);
            i += used;
        } else {
            return Err(Unplain::Invalid("expected `.` or `[` after a step"));
        }
    }
    Ok(Pattern { steps })
}

/// Parses `[...]` at the start of `text`; returns the step and the bytes used.
fn parse_bracket(text: &str) -> Result<(PatternStep, usize), Unplain> {
    let inner = &text[1..];
    match inner.chars().next() {
        Some(quote @ ('\'' | '"')) => {
            let (name, used) = quoted_name(&inner[1..], quote)?;
            // `['a','b']` (a union) and the like are queries.
            match inner[1 + used..].chars().next() {
                Some(']') => Ok((PatternStep::Step(Step::Field(name)), 1 + 1 + used + 1)),
                Some(_) => Err(Unplain::Complex),
                None => Err(Unplain::Invalid("unclosed `[`")),
            }
        }
        Some(_) => {
            let close = inner.find(']').ok_or(Unplain::Invalid("unclosed `[`"))?;
            let body = &inner[..close];
            if body == "*" {
                return Ok((PatternStep::AnyIndex, close + 2));
            }
            if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
                // JSONPath writes an index without leading zeros (RFC 9535,
                // 2.3.3): `[01]` is no index, not index 1.
                if body.len() > 1 && body.starts_with('0') {
                    return Err(Unplain::Invalid("an index is written without leading zeros (`[1]`, not `[01]`)"));
                }
                let index = body.parse().map_err(|_| Unplain::Invalid("list index too large"))?;
                return Ok((PatternStep::Step(Step::Index(index)), close + 2));
            }
            if body.is_empty() || body.trim() != body {
                return Err(Unplain::Invalid("expected an index, `*` or a quoted name inside `[...]`"));
            }
            Err(Unplain::Complex)
        }
        None => Err(Unplain::Invalid("unclosed `[`")),
    }
}

/// A quoted name in `body` (just after the opening `quote`), with RFC 9535's
/// escapes; returns it and the bytes used, the closing quote included.
fn quoted_name(body: &str, quote: char) -> Result<(String, usize), Unplain> {
    let mut name = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, escaped) = chars.next().ok_or(Unplain::Invalid("unclosed quote"))?;
                name.push(match escaped {
                    '\'' | '"' | '\\' | '/' => escaped,
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => unicode_escape(&mut chars)?,
                    _ => {
                        return Err(Unplain::Invalid(
                            "unknown escape in a quoted name (JSONPath allows \\' \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                        ));
                    }
                });
            }
            c if c == quote && name.is_empty() => return Err(Unplain::Invalid("DynamoDB accepts no empty attribute name, at any depth")),
            c if c == quote => return Ok((name, i + 1)),
            c if c < ' ' => return Err(Unplain::Invalid("a control character in a quoted name must be escaped (`\\n`, `\\u0001`)")),
            c => name.push(c),
        }
    }
    Err(Unplain::Invalid("unclosed quote"))
}

/// The character of `\uXXXX` (after the `u`), joining a surrogate pair.
fn unicode_escape(chars: &mut std::str::CharIndices<'_>) -> Result<char, Unplain> {
    const BAD: Unplain = Unplain::Invalid("`\\u` takes four hex digits naming a character");
    let hex4 = |chars: &mut std::str::CharIndices<'_>| -> Result<u32, Unplain> {
        let digits: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BAD);
        }
        u32::from_str_radix(&digits, 16).map_err(|_| BAD)
    };
    let high = hex4(chars)?;
    if !(0xD800..0xDC00).contains(&high) {
        return char::from_u32(high).ok_or(BAD);
    }
    let (Some((_, '\\')), Some((_, 'u'))) = (chars.next(), chars.next()) else { return Err(BAD) };
    let low = hex4(chars)?;
    if !(0xDC00..0xE000).contains(&low) {
        return Err(BAD);
    }
    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)).ok_or(BAD)
}

impl PlainPath {
    /// The root path `$`.
    pub(crate) fn root() -> Self {
        PlainPath::default()
    }

    /// This path followed by `step`.
    pub(crate) fn child(&self, step: Step) -> Self {
        let mut steps = Vec::with_capacity(self.steps.len() + 1);
        steps.extend_from_slice(&self.steps);
        steps.push(step);
        PlainPath { steps }
    }

    /// This path followed by all of `other`'s steps.
    pub(crate) fn join(&self, other: &PlainPath) -> Self {
        let mut steps = self.steps.clone();
        steps.extend(other.steps.iter().cloned());
        PlainPath { steps }
    }

    /// `Some(rest)` if `self` starts with `prefix`.
    pub(crate) fn strip_prefix(&self, prefix: &PlainPath) -> Option<PlainPath> {
        self.steps.starts_with(&prefix.steps).then(|| PlainPath { steps: self.steps[prefix.steps.len()..].to_vec() })
    }

    /// The same path as a pattern (with no `[*]`).
    pub(crate) fn to_pattern(&self) -> Pattern {
        Pattern { steps: self.steps.iter().cloned().map(PatternStep::Step).collect() }
    }

    /// A projection or update operand for this path: `#n0.#n1[3]`, with
    /// the names it uses added to `expr`. Every name is a placeholder, so
    /// any name works, reserved words and odd characters included.
    pub(crate) fn operand(&self, expr: &mut Expr) -> String {
        let mut out = String::new();
        for step in &self.steps {
            match step {
                Step::Field(name) => {
                    let placeholder = placeholder_for(expr, name);
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&placeholder);
                }
                Step::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }

    /// The value at this path of a JSON value.
    pub(crate) fn find<'a>(&self, mut value: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        for step in &self.steps {
            value = match step {
                Step::Field(name) => value.as_object()?.get(name)?,
                Step::Index(i) => value.as_array()?.get(*i)?,
            };
        }
        Some(value)
    }

    /// The value at this path of a JSON value, to change.
    pub(crate) fn find_mut<'a>(&self, mut value: &'a mut serde_json::Value) -> Option<&'a mut serde_json::Value> {
        for step in &self.steps {
            value = match step {
                Step::Field(name) => value.as_object_mut()?.get_mut(name)?,
                Step::Index(i) => value.as_array_mut()?.get_mut(*i)?,
            };
        }
        Some(value)
    }

    /// The attribute value at this path of an attribute value.
    pub(crate) fn find_attr<'a>(&self, value: &'a AttributeValue) -> Option<&'a AttributeValue> {
        find_attr(value, &self.steps)
    }

    /// The attribute value at this path of an attribute value, to change.
    pub(crate) fn find_attr_mut<'a>(&self, mut value: &'a mut AttributeValue) -> Option<&'a mut AttributeValue> {
        for step in &self.steps {
            value = match (value, step) {
                (AttributeValue::M(map), Step::Field(name)) => map.get_mut(name)?,
                (AttributeValue::L(items), Step::Index(i)) => items.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(value)
    }

    /// The attribute value at this path of an item (a map of attributes).
    pub(crate) fn find_in_item<'a>(&self, item: &'a std::collections::HashMap<String, AttributeValue>) -> Option<&'a AttributeValue> {
        let (Step::Field(name), rest) = self.steps.split_first()? else { return None };
        find_attr(item.get(name)?, rest)
    }
}

impl Pattern {
    /// The plain path this pattern is, if it has no `[*]`.
    pub(crate) fn to_plain(&self) -> Option<PlainPath> {
        self.steps
            .iter()
            .map(|s| match s {
                PatternStep::Step(step) => Some(step.clone()),
                PatternStep::AnyIndex => None,
            })
            .collect::<Option<_>>()
            .map(|steps| PlainPath { steps })
    }

    /// This pattern followed by all of `other`'s steps.
    pub(crate) fn join(&self, other: &Pattern) -> Self {
        let mut steps = self.steps.clone();
        steps.extend(other.steps.iter().cloned());
        Pattern { steps }
    }

    /// Whether this pattern names `path` or a path above it.
    pub(crate) fn covers(&self, path: &[Step]) -> bool {
        self.steps.len() <= path.len() && self.steps.iter().zip(path).all(|(want, got)| want.matches(got))
    }

    /// Whether this pattern names exactly `path`.
    pub(crate) fn matches(&self, path: &[Step]) -> bool {
        self.steps.len() == path.len() && self.covers(path)
    }

    /// The values this pattern names in a JSON value, in document order.
    /// `[*]` selects every element of a list and every member value of a
    /// map, as JSONPath's wildcard selector does (RFC 9535, 2.3.2): this is
    /// `read_path`'s reading; in layouts and encryption rules `[*]` stands
    /// for list elements only ([`PatternStep::matches`]).
    pub(crate) fn find_all<'a>(&self, value: &'a serde_json::Value) -> Vec<&'a serde_json::Value> {
        let mut found = vec![value];
        for step in &self.steps {
            found = found
                .into_iter()
                .flat_map(|v| -> Vec<&serde_json::Value> {
                    match step {
                        PatternStep::Step(Step::Field(name)) => v.as_object().and_then(|m| m.get(name)).into_iter().collect(),
                        PatternStep::Step(Step::Index(i)) => v.as_array().and_then(|l| l.get(*i)).into_iter().collect(),
                        PatternStep::AnyIndex => match v {
                            serde_json::Value::Array(l) => l.iter().collect(),
                            serde_json::Value::Object(m) => m.values().collect(),
                            _ => Vec::new(),
                        },
                    }
                })
                .collect();
        }
        found
    }
}

impl PatternStep {
    /// Whether this step accepts `step`.
    pub(crate) fn matches(&self, step: &Step) -> bool {
        match (self, step) {
            (PatternStep::AnyIndex, Step::Index(_)) => true,
            (PatternStep::Step(want), got) => want == got,
            (PatternStep::AnyIndex, Step::Field(_)) => false,
        }
    }

    /// Whether some step is accepted by both `self` and `other`.
    pub(crate) fn overlaps(&self, other: &PatternStep) -> bool {
        match (self, other) {
            (PatternStep::Step(a), b) => b.matches(a),
            (a, PatternStep::Step(b)) => a.matches(b),
            (PatternStep::AnyIndex, PatternStep::AnyIndex) => true,
        }
    }
}

fn find_attr<'a>(mut value: &'a AttributeValue, steps: &[Step]) -> Option<&'a AttributeValue> {
    for step in steps {
        value = match (value, step) {
            (AttributeValue::M(map), Step::Field(name)) => map.get(name)?,
            (AttributeValue::L(items), Step::Index(i)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

/// The `#placeholder` for attribute `name` in `expr`, added if new.
pub(crate) fn placeholder_for(expr: &mut Expr, name: &str) -> String {
    if let Some((p, _)) = expr.names.iter().find(|(_, n)| n.as_str() == name) {
        return p.clone();
    }
    let p = format!("#n{}", expr.names.len());
    expr.names.insert(p.clone(), name.to_owned());
    p
}

fn is_simple_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Writes one name: `.name`, or `['quoted']` with `\\`, `\'` and control
/// characters escaped.
fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if is_simple_name(name) {
        return write!(f, ".{name}");
    }
    f.write_str("['")?;
    for c in name.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c < ' ' => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_str("']")
}

fn write_step(f: &mut fmt::Formatter<'_>, step: &Step) -> fmt::Result {
    match step {
        Step::Field(name) => write_name(f, name),
        Step::Index(i) => write!(f, "[{i}]"),
    }
}

impl fmt::Display for PlainPath {
    /// The normalised form given to the config loader and stored in shard
    /// keys and ciphertext contexts: `$.a.b[0]`, `$['odd name']`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        self.steps.iter().try_for_each(|s| write_step(f, s))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        self.steps.iter().try_for_each(|s| match s {
            PatternStep::Step(step) => write_step(f, step),
            PatternStep::AnyIndex => f.write_str("[*]"),
        })
    }
}

/// A plain path for tests; panics on anything else.
#[cfg(test)]
pub(crate) fn plain(p: &str) -> PlainPath {
    match parse(p).unwrap() {
        Path::Plain(p) => p,
        other => panic!("{p} parsed as {other:?}"),
    }
}

#[cfg(test)]
mod tests;

/// Patterns indexed by their steps, so that the patterns naming or covering
/// a path are found by walking the path once, not by trying every pattern
/// on it: rules are resolved once per layout (or keyring), and a leaf costs
/// its depth, not its depth times the number of rules.
///
/// The tree is kept flat (nodes in one list, children by position), so
/// that copying and dropping it never recurse, however deep a rule.
#[derive(Debug, Clone)]
pub(crate) struct PatternIndex {
    /// The root first.
    nodes: Vec<IndexNode>,
}

#[derive(Debug, Clone, Default)]
struct IndexNode {
    /// Ids of the patterns that end here.
    ends: Vec<usize>,
    fields: std::collections::HashMap<String, usize>,
    indexes: std::collections::HashMap<usize, usize>,
    any_index: Option<usize>,
}

impl Default for PatternIndex {
    fn default() -> Self {
        PatternIndex { nodes: vec![IndexNode::default()] }
    }
}

impl PatternIndex {
    /// Adds `pattern` under `id`.
    pub(crate) fn insert(&mut self, pattern: &Pattern, id: usize) {
        let mut at = 0;
        for step in &pattern.steps {
            let fresh = self.nodes.len();
            let node = &mut self.nodes[at];
            let child = match step {
                PatternStep::Step(Step::Field(name)) => *node.fields.entry(name.clone()).or_insert(fresh),
                PatternStep::Step(Step::Index(i)) => *node.indexes.entry(*i).or_insert(fresh),
                PatternStep::AnyIndex => *node.any_index.get_or_insert(fresh),
            };
            if child == fresh {
                self.nodes.push(IndexNode::default());
            }
            at = child;
        }
        self.nodes[at].ends.push(id);
    }

    /// Calls `found(id, whole)` for every pattern that covers `path` (as
    /// [`Pattern::covers`]), `whole` when it names all of it (as
    /// [`Pattern::matches`]).
    pub(crate) fn covering<'p>(&self, path: impl IntoIterator<Item = StepRef<'p>>, mut found: impl FnMut(usize, bool)) {
        // The nodes reached so far: one or two on any path but those of
        // many index rules, kept inline.
        let mut at: smallvec::SmallVec<[usize; 4]> = smallvec::smallvec![0];
        let mut next: smallvec::SmallVec<[usize; 4]> = smallvec::SmallVec::new();
        for step in path {
            for &node in &at {
                self.nodes[node].ends.iter().for_each(|&id| found(id, false));
            }
            next.clear();
            for &node in &at {
                let node = &self.nodes[node];
                match step {
                    StepRef::Field(name) => next.extend(node.fields.get(name).copied()),
                    StepRef::Index(i) => {
                        next.extend(node.indexes.get(&i).copied());
                        next.extend(node.any_index);
                    }
                }
            }
            if next.is_empty() {
                return;
            }
            std::mem::swap(&mut at, &mut next);
        }
        for node in at {
            self.nodes[node].ends.iter().for_each(|&id| found(id, true));
        }
    }
}
