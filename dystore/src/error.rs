//! The one public error type: a kind, the context it happened in (table, key,
//! path, key id) and an optional cause.
//!
//! Messages never carry plaintext of an encrypted field nor key bytes: the
//! context holds names only, and details are written by dystore, not copied
//! from values.

use std::fmt;

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

use crate::backend::Retries;

/// What went wrong, independent of where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object (or the item holding a path) does not exist.
    #[error("object not found")]
    NotFound,
    /// Someone wrote the object since it was read (optimistic locking).
    #[error("the object was changed by another writer")]
    Conflict,
    /// A read kept finding a save in progress (items of different write ids).
    #[error("the object is being written; no consistent version could be read")]
    Inconsistent,
    /// The table name is not one DynamoDB accepts.
    #[error("invalid table name")]
    InvalidTableName,
    /// The key attribute name or the key value is not acceptable.
    #[error("invalid key")]
    InvalidKey,
    /// A path is malformed, or cannot be used for this operation.
    #[error("invalid path")]
    InvalidPath,
    /// A path leads into a shard that is absent from the stored object.
    #[error("path leads into a missing shard")]
    MissingShard,
    /// The document is not a JSON object, or a shard path holds something
    /// other than an object (or list of objects).
    #[error("invalid document")]
    InvalidDocument,
    /// An item would exceed DynamoDB's 400 KB limit.
    #[error("item too large")]
    ItemTooLarge,
    /// A table the layout names does not exist (see `create_tables`). The
    /// error names that table: DynamoDB names none when a transaction or a
    /// batch meets a missing table, so an operation finds which by a
    /// DescribeTable of each table of its layout and of the layout the
    /// object's root records (on this failure only).
    #[error("table does not exist")]
    TableNotFound,
    /// An existing table's key schema differs from the layout's, found by
    /// `create_tables`, or (as for `TableNotFound`) by an operation whose
    /// request DynamoDB refused for a key the table is not keyed by.
    #[error("table schema mismatch")]
    SchemaMismatch,
    /// The stored data is not in a format dystore can read.
    #[error("unreadable stored data")]
    Format,
    /// A value could not be converted to or from the application's type.
    #[error("serialization failed")]
    Serialization,
    /// No key material for a key id, or no key id for a value that must
    /// be encrypted (a marked path; in an upgrade, a value dynamo-store 0.6
    /// stored encrypted).
    #[error("missing encryption key")]
    MissingKey,
    /// A ciphertext failed authentication: tampered, truncated, wrong key, or
    /// moved to another path, item or table.
    #[error("ciphertext failed authentication")]
    Authentication,
    /// A ciphertext carries a format version this build does not know.
    #[error("unsupported ciphertext format")]
    UnsupportedFormat,
    /// A ciphertext's header cannot be parsed.
    #[error("malformed ciphertext")]
    MalformedCiphertext,
    /// An encrypted value was read without a loader able to decrypt it.
    #[error("encrypted value without a decryption key")]
    Encrypted,
    /// The configuration (loader, keyring, client) is not usable.
    #[error("invalid configuration")]
    Config,
    /// DynamoDB throttled the request past the retry deadline.
    #[error("request throttled past the retry deadline")]
    Throttled,
    /// The service failed or did not answer (5xx, timeouts, dropped
    /// connections) past the retry deadline.
    #[error("the service was unavailable past the retry deadline")]
    Unavailable,
    /// The call did not finish within its deadline (`Client::with_deadline`).
    #[error("the call did not finish within its deadline")]
    Timeout,
    /// The backend refused or failed a request.
    #[error("backend request failed")]
    Backend,
    /// Another process holds the lease a key rotation of the table needs,
    /// or took it over from this one (`rotate`).
    #[error("another rotation holds the table's lease")]
    LeaseHeld,
    /// A save, delete or upgrade was interrupted and left items recorded as
    /// owed deletion; they are deleted by the object's next save or delete,
    /// a rotation, or `Objects::sweep`.
    #[error("an interrupted write left items owed deletion")]
    Unfinished,
}

/// An error from dystore: a [`ErrorKind`] with the table, key, path and key id
/// it concerns.
// Boxed so that `Result<T>` stays one pointer wide on the happy path.
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    detail: String,
    table: Option<String>,
    key: Option<String>,
    path: Option<String>,
    key_id: Option<String>,
    source: Option<Cause>,
    /// How the failed request was retried, if it was.
    retries: Option<Retries>,
    /// Work the call left undone (keys not read or written), by name.
    undone: Vec<String>,
    /// Whether the call may have changed the object before it failed.
    may_have_changed: bool,
    /// Keys were shown as a [`KeyDisplay`] asks (done once).
    redacted: bool,
    /// The call may succeed made again unchanged, whatever its kind (an
    /// unconditional write that kept losing races).
    retryable: bool,
}

impl Error {
    /// A new error of `kind`; `detail` says what happened in words for a user.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            detail: detail.into(),
            table: None,
            key: None,
            path: None,
            key_id: None,
            source: None,
            retries: None,
            undone: Vec::new(),
            may_have_changed: false,
            redacted: false,
            retryable: false,
        }))
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The table concerned, if any.
    pub fn table(&self) -> Option<&str> {
        self.0.table.as_deref()
    }

    /// The primary key of the object concerned, if any.
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// The JSONPath concerned, if any.
    pub fn path(&self) -> Option<&str> {
        self.0.path.as_deref()
    }

    /// The encryption key id concerned, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.0.key_id.as_deref()
    }

    /// The object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.0.kind == ErrorKind::NotFound
    }

    /// Another writer changed the object (optimistic locking).
    pub fn is_conflict(&self) -> bool {
        self.0.kind == ErrorKind::Conflict
    }

    /// No key material for the key id.
    pub fn is_missing_key(&self) -> bool {
        self.0.kind == ErrorKind::MissingKey
    }

    /// A ciphertext failed authentication.
    pub fn is_authentication(&self) -> bool {
        self.0.kind == ErrorKind::Authentication
    }

    /// DynamoDB throttled the call past the retry deadline.
    pub fn is_throttled(&self) -> bool {
        self.0.kind == ErrorKind::Throttled
    }

    /// Whether the same call, made again unchanged (later), may succeed:
    /// throttling, an unavailable service, a passed deadline, a read that
    /// kept catching saves in progress, or an unconditional save or delete
    /// that kept losing races with other writers until the retry deadline.
    /// Any other `Conflict` is not: the object must be read again first.
    pub fn is_retryable(&self) -> bool {
        self.0.retryable
            || matches!(self.0.kind, ErrorKind::Throttled | ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Inconsistent)
    }

    /// Marks the error worth retrying unchanged (see [`is_retryable`](Self::is_retryable)).
    pub(crate) fn retry_unchanged(mut self) -> Self {
        self.0.retryable = true;
        self
    }

    /// The DynamoDB operation whose failure ended the call (`"TransactWriteItems"`,
    /// see [`backend::op`](crate::backend::op)), when a request failed.
    pub fn request(&self) -> Option<&str> {
        self.0.retries.as_ref().map(|r| r.request)
    }

    /// How many times the failed request was sent; 0 when the error did not
    /// come from a request (bad input, a decryption failure) or it was sent
    /// once.
    pub fn attempts(&self) -> u32 {
        self.0.retries.as_ref().map_or(0, |r| r.attempts)
    }

    /// What the call left undone, by name: the `table/key` of items a batch
    /// read or write could not get through. A load that read the object's
    /// root names every item the root records that it did not read (those
    /// of the requests it never sent included), not the keys it only
    /// guessed at before; a `read_path` whose GetItem failed, the item it
    /// asked for. Empty when nothing is known to be left.
    pub fn undone(&self) -> &[String] {
        &self.0.undone
    }

    /// Whether the object may have changed before the call failed: a write
    /// that timed out or met a 5xx may have been applied, a call stopped by
    /// its deadline may have sent its writes, a save in several
    /// transactions may have moved the object's revision (its content
    /// unchanged) before it failed. `false` means no write of this call
    /// reached DynamoDB, or none changed the object, its revision
    /// included: a versioned write holding the revision read before the
    /// call still applies.
    pub fn object_may_have_changed(&self) -> bool {
        self.0.may_have_changed || self.0.retries.as_ref().is_some_and(|r| r.maybe_applied)
    }

    /// Sets the table, unless one is already set (the innermost context wins).
    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.0.table.get_or_insert_with(|| table.into());
        self
    }

    /// Sets the primary key, unless one is already set.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.0.key.get_or_insert_with(|| key.into());
        self
    }

    /// Sets the path, unless one is already set.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.0.path.get_or_insert_with(|| path.into());
        self
    }

    /// Sets the key id, unless one is already set.
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Self {
        self.0.key_id.get_or_insert_with(|| key_id.into());
        self
    }

    /// Records how the failed request was retried.
    pub(crate) fn with_retries(mut self, retries: Option<Retries>) -> Self {
        if self.0.retries.is_none() {
            self.0.retries = retries;
        }
        self
    }

    /// Records work the call left undone.
    /// What happened, in words (without the table, key and path).
    pub(crate) fn detail(&self) -> &str {
        &self.0.detail
    }

    /// `other`'s key, retries, work left undone and whether the object may
    /// have changed: this error replaces `other` as the account of the same
    /// call.
    pub(crate) fn with_context_of(mut self, other: &Error) -> Self {
        let (inner, theirs) = (&mut *self.0, &*other.0);
        inner.key = inner.key.take().or_else(|| theirs.key.clone());
        inner.retries = inner.retries.take().or_else(|| theirs.retries.clone());
        inner.undone.extend(theirs.undone.iter().cloned());
        inner.may_have_changed |= theirs.may_have_changed;
        self
    }

    pub(crate) fn with_undone(mut self, undone: Vec<String>) -> Self {
        self.0.undone = undone;
        self
    }

    /// Records that the object may have changed.
    pub(crate) fn may_have_changed(mut self) -> Self {
        self.0.may_have_changed = true;
        self
    }

    /// The same failure told of the object keyed `key`, for calls on many
    /// objects where one request failed for all of them: without the cause
    /// (not `Clone`), and with only this object's items left undone.
    pub(crate) fn for_key(&self, key: &str) -> Self {
        let inner = &self.0;
        Error(Box::new(Inner {
            kind: inner.kind,
            detail: inner.detail.clone(),
            table: inner.table.clone(),
            key: Some(key.to_owned()),
            path: inner.path.clone(),
            key_id: inner.key_id.clone(),
            source: None,
            retries: inner.retries.clone(),
            // Of the work left undone, this object's items: its root, and
            // its shard and chunk items (keyed `<key>#...`).
            undone: inner
                .undone
                .iter()
                .filter(|item| {
                    item.split_once('/').is_some_and(|(_, k)| k == key || k.strip_prefix(key).is_some_and(|r| r.starts_with('#')))
                })
                .cloned()
                .collect(),
            may_have_changed: inner.may_have_changed,
            // The key set here is as given: it is shown as the client asks
            // by the next `redact`.
            redacted: false,
            retryable: inner.retryable,
        }))
    }

    /// The error with its keys shown as `shown` asks: the key, the items
    /// left undone, and any detail that quotes the key; a cause that quotes
    /// it is dropped. Once only: an error already shown so stays as it is.
    pub(crate) fn redact(mut self, shown: &KeyDisplay) -> Self {
        if matches!(shown, KeyDisplay::Plain) || self.0.redacted {
            return self;
        }
        self.0.redacted = true;
        let inner = &mut *self.0;
        if let Some(key) = inner.key.take() {
            let replacement = shown.show(&key).unwrap_or_else(|| "(key hidden)".to_owned());
            // Only where the text quotes the key (`key`, or a shard key
            // `key#$...`): replacing it anywhere would rewrite the fixed
            // words of the message (a key `o` inside "object"), and where
            // the replacement landed would give the key away.
            for (quoted, shown) in [(format!("`{key}`"), format!("`{replacement}`")), (format!("`{key}#"), format!("`{replacement}#"))] {
                if inner.detail.contains(&quoted) {
                    inner.detail = inner.detail.replace(&quoted, &shown);
                }
            }
            // (A dystore error as the source escapes what it prints.)
            if inner.source.as_ref().is_some_and(|s| {
                let text = s.to_string();
                text.contains(&key) || text.contains(escaped(&key).as_ref())
            }) {
                inner.source = None;
            }
            inner.key = shown.show(&key);
        }
        for item in &mut inner.undone {
            // `table/key`: table names hold no `/` (DynamoDB's rule).
            if let Some((table, key)) = item.split_once('/') {
                *item = format!("{table}/{}", shown.show(key).unwrap_or_else(|| "(key hidden)".to_owned()));
            }
        }
        self
    }

    /// Attaches the underlying cause, returned by `source()` and not repeated
    /// in the message.
    pub fn with_source(mut self, source: impl Into<Cause>) -> Self {
        self.0.source = Some(source.into());
        self
    }
}

impl fmt::Display for Error {
    /// Control characters and bidirectional overrides in the message (a key
    /// or a path as the caller gave it, a name read from data) are escaped
    /// as Rust escapes them (`\n`, `\u{1b}`), so that a message cannot
    /// break a log line or rewrite a terminal; the accessors (`key()`,
    /// `path()`) give the values as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escaped(&Plain(self).to_string()))
    }
}

/// `text` with control characters and bidirectional overrides escaped as
/// Rust escapes them.
fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars().map(|c| if unsafe_char(c) { c.escape_default().to_string() } else { c.to_string() }).collect::<String>().into()
}

/// An error's message as written, before [`Error`]'s `Display` escapes it.
struct Plain<'a>(&'a Error);

impl fmt::Display for Plain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.0;
        write!(f, "{}", error.0.kind)?;
        if !error.0.detail.is_empty() {
            write!(f, ": {}", error.0.detail)?;
        }
        let context = [("table", &error.0.table), ("key", &error.0.key), ("path", &error.0.path), ("key id", &error.0.key_id)];
        let mut first = true;
        for (name, value) in context {
            if let Some(value) = value {
                f.write_str(if first { " (" } else { ", " })?;
                write!(f, "{name} `{value}`")?;
                first = false;
            }
        }
        if !first {
            f.write_str(")")?;
        }
        if let Some(r) = error.0.retries.as_ref().filter(|r| r.attempts > 1) {
            write!(f, "; {} attempts of {}", r.attempts, r.request)?;
        }
        if !error.0.undone.is_empty() {
            write!(f, "; {} items left undone", error.0.undone.len())?;
        }
        if error.object_may_have_changed() {
            f.write_str("; the object may have changed")?;
        }
        Ok(())
    }
}

/// How primary keys appear in errors and tracing spans: as stored, as a
/// keyed hash, or not at all. Keys can be personal data (a loader that
/// derives the key from an email puts the email into every error); see
/// [`Client::with_key_display`](crate::Client::with_key_display).
#[derive(Clone, Default)]
pub enum KeyDisplay {
    /// Keys as stored (the default).
    #[default]
    Plain,
    /// `h:` and the first 16 hex digits of HMAC-SHA256 of the key under a
    /// secret of the application's: the same key always shows the same, so
    /// logs can be correlated, but the key cannot be read back nor guessed
    /// without the secret.
    Hashed(std::sync::Arc<zeroize::Zeroizing<Vec<u8>>>),
    /// Keys left out.
    Hidden,
}

impl KeyDisplay {
    /// Keys shown as a keyed hash under `secret` (any length; 32 random
    /// bytes is the usual choice).
    pub fn hashed(secret: impl AsRef<[u8]>) -> Self {
        KeyDisplay::Hashed(std::sync::Arc::new(zeroize::Zeroizing::new(secret.as_ref().to_vec())))
    }

    /// How `key` is shown; `None` when hidden.
    ///
    /// # Panics
    ///
    /// Never: HMAC-SHA256 takes a key of any length.
    ///
    /// ```
    /// let shown = dystore::KeyDisplay::hashed(b"a secret of the application");
    /// let email = shown.show("ada@example.com").unwrap();
    /// assert!(email.starts_with("h:") && !email.contains("ada"));
    /// assert_eq!(shown.show("ada@example.com"), Some(email));
    /// assert_eq!(dystore::KeyDisplay::Hidden.show("ada@example.com"), None);
    /// ```
    pub fn show(&self, key: &str) -> Option<String> {
        use hmac::{Hmac, Mac};
        match self {
            KeyDisplay::Plain => Some(key.to_owned()),
            KeyDisplay::Hidden => None,
            KeyDisplay::Hashed(secret) => {
                let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
                mac.update(key.as_bytes());
                let tag = mac.finalize().into_bytes();
                Some(format!("h:{}", tag[..8].iter().map(|b| format!("{b:02x}")).collect::<String>()))
            }
        }
    }
}

impl fmt::Debug for KeyDisplay {
    /// Never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyDisplay::Plain => "Plain",
            KeyDisplay::Hashed(_) => "Hashed",
            KeyDisplay::Hidden => "Hidden",
        })
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error").field("kind", &self.0.kind).field("message", &self.to_string()).field("source", &self.0.source).finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_context_in_order() {
        let e = Error::new(ErrorKind::NotFound, "no root item").with_path("$.a").with_table("People").with_key("k1");
        assert_eq!(e.to_string(), "object not found: no root item (table `People`, key `k1`, path `$.a`)");
        assert!(e.is_not_found());
    }

    #[test]
    fn messages_escape_control_characters() {
        // Break test: a key `k\n` put a real newline into the message.
        for (key, path, shown) in [
            ("k\n", "$.name\n", "(key `k\\n`, path `$.name\\n`)"),
            ("k\u{1b}[2J", "$.a", "(key `k\\u{1b}[2J`, path `$.a`)"),
            ("\u{202e}k", "$['\t']", "(key `\\u{202e}k`, path `$['\\t']`)"),
        ] {
            let e = Error::new(ErrorKind::NotFound, "no root item").with_key(key).with_path(path);
            let text = e.to_string();
            assert!(text.ends_with(shown), "{text}");
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert_eq!((e.key(), e.path()), (Some(key), Some(path)), "the accessors give the values as they are");
        }
        // A source that quotes the key goes when the key is hidden, escaped or not.
        let source = Error::new(ErrorKind::Backend, "inner").with_key("k\n");
        let outer = Error::new(ErrorKind::Backend, "outer").with_key("k\n").with_source(source);
        let hidden = outer.redact(&KeyDisplay::Hidden);
        assert!(std::error::Error::source(&hidden).is_none(), "{hidden}");
    }

    #[test]
    fn innermost_context_wins() {
        let e = Error::new(ErrorKind::InvalidPath, "x").with_table("Inner").with_table("Outer");
        assert_eq!(e.table(), Some("Inner"));
    }
}
