//! JSONPath as dystore uses it: plain paths (names and indexes) are parsed
//! here, because they decide which item holds a value and become DynamoDB
//! projection and update expressions; anything richer (wildcards, filters,
//! recursive descent, slices) is handed to jsonpath-rust over the loaded
//! document.

use crate::backend::Expr;
use crate::error::{Error, ErrorKind, Result};
use std::fmt;

/// One step of a plain path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    /// A map entry.
    Field(String),
    /// A list element.
    Index(usize),
}

/// A path of names and indexes from the object root: `$.location.city`,
/// `$.friends[0]`, `$['odd name']`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct PlainPath {
    pub(crate) steps: Vec<Step>,
}

/// A path as the user gave it: plain, or a query for jsonpath-rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Path {
    Plain(PlainPath),
    Query(String),
}

fn invalid(path: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidPath, why.to_owned()).with_path(path)
}

/// Parses `path`; a path using wildcards, filters, slices or recursive
/// descent is returned as a query after jsonpath-rust accepts it.
pub(crate) fn parse(path: &str) -> Result<Path> {
    match parse_plain(path) {
        Ok(p) => Ok(Path::Plain(p)),
        Err(Unplain::Complex) => check_query(path).map(|()| Path::Query(path.to_owned())),
        Err(Unplain::Invalid(why)) => Err(invalid(path, why)),
    }
}

fn check_query(path: &str) -> Result<()> {
    jsonpath_rust::parser::parse_json_path(path)
        .map(drop)
        .map_err(|e| invalid(path, &format!("not a valid JSONPath: {e}")))
}

/// Parses a path that must be plain (names and indexes only).
pub(crate) fn parse_plain_only(path: &str, operation: &str) -> Result<PlainPath> {
    match parse_plain(path) {
        Ok(p) => Ok(p),
        Err(Unplain::Complex) => {
            check_query(path)?;
            Err(invalid(
                path,
                &format!("{operation} takes a plain path (names and indexes); wildcards and filters would change an unknown set of values"),
            ))
        }
        Err(Unplain::Invalid(why)) => Err(invalid(path, why)),
    }
}

enum Unplain {
    /// Valid JSONPath, but not plain.
    Complex,
    Invalid(&'static str),
}

fn parse_plain(path: &str) -> Result<PlainPath, Unplain> {
    let rest = path.strip_prefix('$').ok_or(Unplain::Invalid("a path starts with `$`"))?;
    let bytes = rest.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                let start = i + 1;
                let end = rest[start..].find(['.', '[']).map_or(rest.len(), |n| start + n);
                let name = &rest[start..end];
                if name.is_empty() {
                    // `..` is recursive descent.
                    return Err(if rest[start..].starts_with('.') { Unplain::Complex } else { Unplain::Invalid("empty name after `.`") });
                }
                if name.contains('*') {
                    return Err(Unplain::Complex);
                }
                if name.contains(['\'', '"', ']', ' ', '(', ')', '?', '@']) {
                    return Err(Unplain::Invalid("a name after `.` cannot hold quotes, brackets or spaces; use `['name']`"));
                }
                steps.push(Step::Field(name.to_owned()));
                i = end;
            }
            b'[' => {
                let (step, next) = parse_bracket(rest, i)?;
                steps.push(step);
                i = next;
            }
            _ => return Err(Unplain::Invalid("expected `.` or `[`")),
        }
    }
    Ok(PlainPath { steps })
}

/// Parses `[...]` starting at `open`; returns the step and the index after `]`.
fn parse_bracket(rest: &str, open: usize) -> Result<(Step, usize), Unplain> {
    let inner_start = open + 1;
    let quote = rest[inner_start..].chars().next().ok_or(Unplain::Invalid("unclosed `[`"))?;
    if quote == '\'' || quote == '"' {
        let (name, close) = quoted_name(rest, inner_start + 1, quote)?;
        if rest.as_bytes().get(close + 1) != Some(&b']') {
            return Err(Unplain::Complex);
        }
        return Ok((Step::Field(name), close + 2));
    }
    let close = rest[inner_start..].find(']').ok_or(Unplain::Invalid("unclosed `[`"))? + inner_start;
    let inner = &rest[inner_start..close];
    if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
        let index = inner.parse().map_err(|_| Unplain::Invalid("list index too large"))?;
        return Ok((Step::Index(index), close + 1));
    }
    Err(Unplain::Complex)
}

/// A quoted name starting at `body` (just after the opening `quote`), with
/// `\\` escaping the next character; returns it and the closing quote's index.
fn quoted_name(rest: &str, body: usize, quote: char) -> Result<(String, usize), Unplain> {
    let mut name = String::new();
    let mut chars = rest[body..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => name.push(chars.next().ok_or(Unplain::Invalid("unclosed quote"))?.1),
            c if c == quote => return Ok((name, body + i)),
            c => name.push(c),
        }
    }
    Err(Unplain::Invalid("unclosed quote"))
}

impl PlainPath {
    /// The root path `$`.
    pub(crate) fn root() -> Self {
        PlainPath::default()
    }

    /// This path followed by `step`.
    pub(crate) fn child(&self, step: Step) -> Self {
        let mut steps = self.steps.clone();
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
        self.steps
            .starts_with(&prefix.steps)
            .then(|| PlainPath { steps: self.steps[prefix.steps.len()..].to_vec() })
    }

    /// A projection or update operand for this path: `#p0.#p1[3]`, with
    /// the names it uses added to `expr`.
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
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
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

impl fmt::Display for PlainPath {
    /// The normalised form given to the config loader: `$.a.b[0]`, with
    /// `['...']` for names that are not plain identifiers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for step in &self.steps {
            match step {
                Step::Field(n) if is_simple_name(n) => write!(f, ".{n}")?,
                Step::Field(n) => write!(f, "['{}']", n.replace('\\', "\\\\").replace('\'', "\\'"))?,
                Step::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A plain path for tests; panics on anything else.
#[cfg(test)]
pub(crate) fn plain(p: &str) -> PlainPath {
    match parse(p).unwrap() {
        Path::Plain(p) => p,
        Path::Query(q) => panic!("{q} parsed as a query"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_round_trip_to_normal_form() {
        for p in ["$", "$.a", "$.location.city", "$.friends[0]", "$.locales[2].type", "$['odd name'].x"] {
            assert_eq!(plain(p).to_string(), p);
        }
        assert_eq!(plain("$['a']['b']").to_string(), "$.a.b");
        for odd in ["it's", "back\\slash", "both ' and \\"] {
            let path = PlainPath::root().child(Step::Field(odd.to_owned()));
            assert_eq!(plain(&path.to_string()), path, "{path}");
        }
    }

    #[test]
    fn rich_paths_are_queries() {
        for p in ["$.a[*]", "$..city", "$.a.*", "$.a[?(@.x > 1)]", "$.a[0:2]"] {
            assert!(matches!(parse(p).unwrap(), Path::Query(_)), "{p}");
        }
    }

    #[test]
    fn malformed_paths_are_invalid_path_errors() {
        for p in ["", "a.b", "$.", "$.a[", "$.a['b'", "$ .a", "$.a[?(@.x >"] {
            let e = parse(p).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidPath, "{p}");
            assert_eq!(e.path(), Some(p));
        }
    }

    #[test]
    fn write_paths_must_be_plain() {
        let e = parse_plain_only("$.a[*].b", "write_path").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidPath);
        assert!(e.to_string().contains("wildcards"), "{e}");
    }

    #[test]
    fn operand_uses_placeholders_for_every_name() {
        let mut expr = Expr::default();
        let op = plain("$.location.city").operand(&mut expr);
        assert_eq!(op, "#n0.#n1");
        assert_eq!(expr.names["#n1"], "city");
        let op = plain("$.tags[3]").operand(&mut expr);
        assert_eq!(op, "#n2[3]");
    }
}
