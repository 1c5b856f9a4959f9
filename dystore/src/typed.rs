//! Typed objects: `#[derive(DyObject)]` structs saved, loaded and read or
//! written by path through the [`Client`], by way of their documents.

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::format::META;
use crate::layout::Layout;
use crate::object::DyObject;
use crate::objects::Versioned;
use crate::ops::{self, When};
use serde_json::Value;

impl Client {
    /// Creates the tables of `T` and of all its shards.
    ///
    /// # Errors
    ///
    /// As [`Objects::create_tables`](crate::Objects::create_tables).
    pub async fn create_tables<T: DyObject>(&self) -> Result<()> {
        let call = async { self.objects(T::layout()).create_tables().await };
        self.operation("create_tables", T::layout(), None, true, call).await
    }

    /// Saves `obj`; returns its key: the `#[dystore(pk)]` field, or for a
    /// type without one, the loader's `generate_pk`, else a new UUID v4.
    /// The save is unconditional: it replaces whatever is stored under the
    /// key. [`save_versioned`](Self::save_versioned) writes only if nobody
    /// wrote since a load, [`create`](Self::create) only a new object, and
    /// [`update`](Self::update) retries a change under contention.
    ///
    /// # Errors
    ///
    /// As [`Objects::write`](crate::Objects::write), plus `Serialization` if `obj` does not
    /// serialize to a JSON object, and `InvalidKey` (before any request) if
    /// its `pk` field is empty: set it, or call [`save_new`](Self::save_new).
    pub async fn save<T: DyObject>(&self, obj: &T) -> Result<String> {
        let (doc, key) = keyed_document::<T>(obj)?;
        let named = key.clone();
        let call = async { Ok(ops::save(&self.env(), T::layout(), doc, key, When::Always).await?.key) };
        self.operation("save", T::layout(), named.as_deref(), true, call).await
    }

    /// Saves `obj` as a new object under its `pk` field, only if no object
    /// is stored there (an insert); for a type without a `pk` field, under
    /// a generated key, as [`save_new`](Self::save_new).
    ///
    /// # Errors
    ///
    /// `Conflict` if an object is stored under the key (nothing is
    /// written); otherwise as [`save`](Self::save).
    pub async fn create<T: DyObject>(&self, obj: &T) -> Result<String> {
        let (doc, key) = keyed_document::<T>(obj)?;
        let named = key.clone();
        let call = async { Ok(ops::save(&self.env(), T::layout(), doc, key, When::Absent).await?.key) };
        self.operation("create", T::layout(), named.as_deref(), true, call).await
    }

    /// Loads the object keyed `key`, changes it with `change` and saves it
    /// back under optimistic locking, again from a fresh load (after a
    /// jittered backoff) whenever another writer won in between, until the
    /// client's [`RetryPolicy`](crate::RetryPolicy) deadline. Returns the
    /// object saved. `change` may run several times: keep it free of other
    /// effects.
    ///
    /// # Errors
    ///
    /// `Conflict` if other writers kept winning past the deadline;
    /// otherwise as [`load_versioned`](Self::load_versioned) and
    /// [`save_versioned`](Self::save_versioned).
    pub async fn update<T: DyObject>(&self, key: &str, mut change: impl FnMut(&mut T)) -> Result<T> {
        let call = async {
            let mut backoff = crate::backend::Backoff::jittered(self.policy());
            loop {
                let mut read = self.load_versioned::<T>(key).await?;
                change(&mut read.value);
                match self.save_versioned(&read).await {
                    Ok(_) => return Ok(read.value),
                    Err(e) if e.is_conflict() && backoff.again("lost a race to another writer").await => {}
                    Err(e) => return Err(e),
                }
            }
        };
        self.operation("update", T::layout(), Some(key), true, call).await
    }

    /// Saves `obj` as a new object under a generated key (the loader's
    /// `generate_pk`, else a UUID v4) and returns it; `obj`'s `pk` field, if
    /// it has one, must be empty. Like [`create`](Self::create) it never
    /// replaces an object: a generated key that is taken is a `Conflict`.
    ///
    /// # Errors
    ///
    /// As [`save`](Self::save), `InvalidKey` if the `pk` field is set (call
    /// `save` to store the object under it), and `Conflict` if the generated
    /// key holds an object.
    pub async fn save_new<T: DyObject>(&self, obj: &T) -> Result<String> {
        let call = async {
            let (doc, key) = to_document::<T>(obj)?;
            if let (Some(field), Some(_)) = (T::PK_FIELD, &key) {
                return Err(Error::new(
                    ErrorKind::InvalidKey,
                    format!("`save_new` generates the key, but the `pk` field `{field}` is set: call `save`"),
                )
                .with_table(T::layout().table.as_ref()));
            }
            Ok(ops::save(&self.env(), T::layout(), doc, None, When::Absent).await?.key)
        };
        self.operation("save_new", T::layout(), None, true, call).await
    }

    /// Loads the object keyed `key`.
    ///
    /// # Errors
    ///
    /// As [`Objects::read`](crate::Objects::read), plus `Serialization` if the stored document
    /// does not fit `T`.
    ///
    /// An object written by dynamo-store 0.6 loads too: the class API's
    /// value wrappers are unwrapped, and with
    /// [`with_legacy_number_strings`](Self::with_legacy_number_strings) the
    /// strings its decryption gives become the numbers `T` wants.
    pub async fn load<T: DyObject>(&self, key: &str) -> Result<T> {
        let call = async {
            let loaded = ops::load(&self.env(), T::layout(), key, true, false).await?;
            let mut doc = Value::Object(loaded.body);
            if loaded.meta.is_none() {
                doc = self.legacy_document::<T>(doc);
            }
            from_document::<T>(doc, key, T::layout())
        };
        self.operation("load", T::layout(), Some(key), false, call).await
    }

    /// Upgrades the object keyed `key`, written by dynamo-store 0.6, to
    /// format 1 under `T`'s layout and encryption: its class API wrappers
    /// unwrapped, its document checked against `T`, every legacy shard item
    /// deleted in the same transaction.
    ///
    /// # Errors
    ///
    /// As [`Objects::upgrade`](crate::Objects::upgrade), plus
    /// `Serialization` if the document does not fit `T`.
    pub async fn upgrade<T: DyObject>(&self, key: &str) -> Result<ops::Upgrade> {
        let call = async {
            ops::upgrade(&self.env(), T::layout(), key, |body| {
                let doc = self.legacy_document::<T>(Value::Object(body));
                let typed = from_document::<T>(doc, key, T::layout())?;
                Ok(to_document::<T>(&typed)?.0)
            })
            .await
        };
        self.operation("upgrade", T::layout(), Some(key), true, call).await
    }

    /// Upgrades every object of `T`'s root table, as [`upgrade`](Self::upgrade)
    /// does one (class-API wrappers unwrapped, the document stored as `T`
    /// serializes it), going on past objects that fail; see
    /// [`Objects::upgrade_table`](crate::Objects::upgrade_table) for what is
    /// counted and skipped.
    ///
    /// # Errors
    ///
    /// The errors of a Scan of the table; failures of single objects are in
    /// the report.
    pub async fn upgrade_table<T: DyObject>(&self) -> Result<ops::UpgradeReport> {
        let call = async {
            ops::upgrade_table_with(&self.env(), T::layout(), |key, body| {
                let doc = self.legacy_document::<T>(Value::Object(body));
                let typed = from_document::<T>(doc, key, T::layout())?;
                Ok(to_document::<T>(&typed)?.0)
            })
            .await
        };
        self.operation("upgrade_table", T::layout(), None, true, call).await
    }

    /// A legacy document as `T` expects it: wrappers gone, and with the
    /// opt-in, strings turned into the numbers and booleans `T` wants.
    fn legacy_document<T: DyObject>(&self, doc: Value) -> Value {
        let mut doc = crate::format::legacy::unwrap_classes(doc);
        if self.legacy_number_strings {
            convert_strings::<T>(&mut doc);
        }
        doc
    }

    /// Loads the object keyed `key` with its revision, for
    /// [`save_versioned`](Self::save_versioned).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub async fn load_versioned<T: DyObject>(&self, key: &str) -> Result<Versioned<T>> {
        let call = async {
            let doc = self.objects(T::layout()).read_versioned(key).await?;
            let value = from_document::<T>(doc.value, key, T::layout())?;
            Ok(Versioned { key: doc.key, revision: doc.revision, value })
        };
        self.operation("load_versioned", T::layout(), Some(key), false, call).await
    }

    /// Saves an object loaded with [`load_versioned`](Self::load_versioned)
    /// only if nobody wrote it since; returns the new revision.
    ///
    /// # Errors
    ///
    /// `Conflict` if the object changed (or was deleted) since it was read;
    /// `InvalidKey` (before any request) if its `pk` field no longer holds
    /// the key it was loaded under.
    pub async fn save_versioned<T: DyObject>(&self, obj: &Versioned<T>) -> Result<String> {
        let call = async {
            let (doc, pk) = to_document::<T>(&obj.value)?;
            if let (Some(field), Some(pk)) = (T::PK_FIELD, pk)
                && pk != obj.key
            {
                return Err(Error::new(
                    ErrorKind::InvalidKey,
                    format!(
                        "the `pk` field `{field}` no longer holds the key the object was loaded under: save it as a new object instead"
                    ),
                )
                .with_table(T::layout().table.as_ref())
                .with_key(obj.key.as_str()));
            }
            Ok(ops::save(&self.env(), T::layout(), doc, Some(obj.key.clone()), When::Revision(&obj.revision)).await?.revision)
        };
        self.operation("save_versioned", T::layout(), Some(&obj.key), true, call).await
    }

    /// The values at `path` of the object keyed `key`.
    ///
    /// # Errors
    ///
    /// As [`Objects::read_path`](crate::Objects::read_path), plus `InvalidPath` (before any request)
    /// for a path `T` has no field for (`$.emial`); filters and `..` are not
    /// checked, nor paths below a field of a type that takes any value
    /// (`serde_json::Value`, maps, flattened structs), below an enum or a
    /// tuple (whose elements differ in type by index).
    pub async fn read_path<T: DyObject>(&self, key: &str, path: &str) -> Result<Vec<Value>> {
        let call = async {
            if is_pk_path::<T>(path) {
                return self.read_pk::<T>(key, path).await;
            }
            check_fit::<T>(key, path, None)?;
            self.objects(T::layout()).read_path(key, path).await
        };
        self.operation("read_path", T::layout(), Some(key), false, call).await
    }

    /// Sets the value at `path` of the object keyed `key`.
    ///
    /// # Errors
    ///
    /// As [`Objects::write_path`](crate::Objects::write_path), plus, before any request, `InvalidPath`
    /// for a path `T` has no field for, and `InvalidDocument` (naming the
    /// path, not the value) for a value that does not fit the field's type,
    /// so that `load::<T>` keeps working. The check drives `T`'s own
    /// `Deserialize` along the path, and cannot see inside everything: a
    /// path into an enum (any representation), into an element of a tuple
    /// or a fixed-size array, or below a field that takes any value
    /// (`serde_json::Value`, a flattened struct) is written unchecked, so a
    /// value that does not fit there makes a later `load::<T>` fail with
    /// `Serialization`; write such fields whole (`$.pair`, `$.kind`), which
    /// is checked. A map keyed by integers is reached by its keys in string
    /// form only through the dynamic API. The dynamic
    /// [`Objects::write_path`](crate::Objects::write_path) takes any path and value.
    pub async fn write_path<T: DyObject>(&self, key: &str, path: &str, value: Value) -> Result<()> {
        let call = async {
            check_writable::<T>(key, path, &value)?;
            self.objects(T::layout()).write_path(key, path, value).await
        };
        self.operation("write_path", T::layout(), Some(key), true, call).await
    }

    /// As [`write_path`](Self::write_path), only if nobody wrote the object
    /// since it was read as `read` (from [`load_versioned`](Self::load_versioned));
    /// returns the new revision.
    ///
    /// # Errors
    ///
    /// `Conflict` if the object was written since (nothing is changed), and
    /// those of [`write_path`](Self::write_path).
    pub async fn write_path_versioned<T: DyObject>(&self, read: &Versioned<T>, path: &str, value: Value) -> Result<String> {
        let call = async {
            check_writable::<T>(&read.key, path, &value)?;
            self.objects(T::layout()).write_path_versioned(read, path, value).await
        };
        self.operation("write_path_versioned", T::layout(), Some(&read.key), true, call).await
    }

    /// Deletes the object keyed `key` and its shards.
    ///
    /// # Errors
    ///
    /// As [`Objects::delete`](crate::Objects::delete).
    pub async fn delete<T: DyObject>(&self, key: &str) -> Result<()> {
        let call = async { self.objects(T::layout()).delete(key).await };
        self.operation("delete", T::layout(), Some(key), true, call).await
    }

    /// Saves every object of `objs` as [`save`](Self::save) saves one:
    /// one answer per object, in the order given, its key or its error.
    ///
    /// Requests: as [`Objects::write_many`](crate::Objects::write_many),
    /// whole objects packed into TransactWriteItems requests of up to 100
    /// actions; 1,000 objects without shards take 10 requests.
    ///
    /// # Errors
    ///
    /// Per object, as [`save`](Self::save) and
    /// [`Objects::write_many`](crate::Objects::write_many).
    pub async fn save_many<'o, T: DyObject + 'o>(&self, objs: impl IntoIterator<Item = &'o T>) -> Vec<Result<String>> {
        // An object that does not serialize answers at once, in its place.
        let mut refused: Vec<Option<Error>> = Vec::new();
        let mut docs = Vec::new();
        for obj in objs {
            match keyed_document::<T>(obj) {
                Ok((doc, key)) => {
                    docs.push((key, doc));
                    refused.push(None);
                }
                Err(e) => refused.push(Some(e)),
            }
        }
        let mut saved = ops::save_many(&self.env(), T::layout(), docs).await.into_iter();
        refused
            .into_iter()
            .map(|refused| match refused {
                Some(e) => Err(e),
                None => saved.next().unwrap_or_else(|| Err(Error::new(ErrorKind::Backend, "no answer was recorded"))).map(|s| s.key),
            })
            .collect()
    }

    /// Loads the objects keyed `keys`, as [`load`](Self::load) loads one:
    /// one answer per key, in the order given.
    ///
    /// Requests: as [`Objects::read_many`](crate::Objects::read_many);
    /// 1,000 objects without shards take 10 BatchGetItem requests.
    ///
    /// # Errors
    ///
    /// Per object, as [`load`](Self::load).
    pub async fn load_many<T: DyObject, K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Vec<Result<T>> {
        let keys: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        let loaded = ops::load_many(&self.env(), T::layout(), &keys).await;
        loaded
            .into_iter()
            .zip(&keys)
            .map(|(loaded, key)| {
                let loaded = loaded?;
                let mut doc = Value::Object(loaded.body);
                if loaded.meta.is_none() {
                    doc = self.legacy_document::<T>(doc);
                }
                from_document::<T>(doc, key, T::layout()).map_err(|e| e.redact(self.env().keys))
            })
            .collect()
    }

    /// Deletes the objects keyed `keys` and their shards, as
    /// [`delete`](Self::delete) deletes one: one answer per key, in order.
    ///
    /// # Errors
    ///
    /// As [`Objects::delete_many`](crate::Objects::delete_many).
    pub async fn delete_many<T: DyObject, K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Vec<Result<()>> {
        self.objects(T::layout()).delete_many(keys).await
    }

    /// Every object of type `T`, as a stream: as
    /// [`Objects::list`](crate::Objects::list), a Scan of `T`'s root table
    /// a page of up to 100 items at a time, each page's objects read in
    /// batches; memory holds one page.
    ///
    /// Objects are roots: a type used only as the shard of another has no
    /// objects of its own, and its listing is empty (its items are shard
    /// items, which every listing skips). List the type that holds it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
    /// use dystore::DyObject;
    /// use futures_util::TryStreamExt;
    /// #[derive(serde::Serialize, serde::Deserialize, DyObject)]
    /// #[dystore(table = "ListedUsers", key = "ID")]
    /// struct User {
    ///     #[dystore(pk)]
    ///     id: String,
    ///     name: String,
    /// }
    /// let db = dystore::Client::memory()?;
    /// db.create_tables::<User>().await?;
    /// db.save_many(&[User { id: "u1".into(), name: "Ada".into() }, User { id: "u2".into(), name: "Alan".into() }]).await;
    /// let users: Vec<User> = db.list::<User>().try_collect().await?;
    /// assert_eq!(users.len(), 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Objects::list`](crate::Objects::list), plus `Serialization`
    /// for an object that does not fit `T` (the stream goes on).
    pub fn list<T: DyObject>(&self) -> impl futures_util::Stream<Item = Result<T>> + '_ {
        use futures_util::StreamExt;
        ops::objects(self.env(), T::layout(), None).map(move |listed| {
            let (key, loaded) = listed?;
            let mut doc = Value::Object(loaded.body);
            if loaded.meta.is_none() {
                doc = self.legacy_document::<T>(doc);
            }
            from_document::<T>(doc, &key, T::layout()).map_err(|e| e.redact(self.env().keys))
        })
    }

    /// The keys of every object of type `T`, as a stream (see
    /// [`Objects::keys`](crate::Objects::keys)).
    ///
    /// # Errors
    ///
    /// A failed Scan is the last item.
    pub fn keys<T: DyObject>(&self) -> impl futures_util::Stream<Item = Result<String>> + '_ {
        ops::keys(self.env(), T::layout(), None)
    }

    /// Deletes an object loaded with [`load_versioned`](Self::load_versioned)
    /// only if nobody wrote it since.
    ///
    /// # Errors
    ///
    /// As [`Objects::delete_versioned`](crate::Objects::delete_versioned).
    pub async fn delete_versioned<T: DyObject>(&self, obj: &Versioned<T>) -> Result<()> {
        let call = async { self.objects(T::layout()).delete_versioned(obj).await };
        self.operation("delete_versioned", T::layout(), Some(&obj.key), true, call).await
    }
}

/// Refuses, before any request, a path write that would break `T`: the
/// `pk` field (the key, not an attribute), a path `T` has no place for, a
/// value that does not fit the field's type.
fn check_writable<T: DyObject>(key: &str, path: &str, value: &Value) -> Result<()> {
    if is_pk_path::<T>(path) {
        return Err(Error::new(ErrorKind::InvalidPath, "the `pk` field is the object's key; save the object under another key instead")
            .with_table(T::layout().table.as_ref())
            .with_key(key)
            .with_path(path));
    }
    check_fit::<T>(key, path, Some(value))
}

/// Refuses, before any request, a path `T` has no place for
/// (`InvalidPath`) and a value that does not fit the type there
/// (`InvalidDocument`, naming the path, never the value). Queries
/// (filters, `..`) are not checked.
fn check_fit<T: DyObject>(key: &str, path: &str, value: Option<&Value>) -> Result<()> {
    let steps = match crate::path::parse(path)? {
        crate::path::Path::Plain(p) => p.to_pattern().steps,
        crate::path::Path::Pattern(p) => p.steps,
        crate::path::Path::Query(_) => return Ok(()),
    };
    let error = |kind, detail: String| Err(Error::new(kind, detail).with_table(T::layout().table.as_ref()).with_key(key).with_path(path));
    match crate::probe::fit::<T>(&steps, value) {
        crate::probe::Fit::Fits => Ok(()),
        crate::probe::Fit::NoSuchPath(why) => error(ErrorKind::InvalidPath, format!("the type has no place at this path: {why}")),
        crate::probe::Fit::ValueMismatch => {
            error(ErrorKind::InvalidDocument, "the value does not fit the type of the field at this path".into())
        }
    }
}

impl Client {
    /// Runs a typed call as the operation `name` (its span, usage and key
    /// display, see `ops::operation`), the dynamic operation it makes
    /// running within it.
    async fn operation<R>(
        &self,
        name: &'static str,
        layout: &Layout,
        key: Option<&str>,
        writes: bool,
        call: impl std::future::Future<Output = Result<R>>,
    ) -> Result<R> {
        ops::operation(&self.env(), name, layout, key, writes, call).await
    }

    /// The `pk` field read by path: the key itself (it is not stored as an
    /// attribute), once the object is found; nothing is below it.
    async fn read_pk<T: DyObject>(&self, key: &str, path: &str) -> Result<Vec<Value>> {
        let layout = T::layout();
        if crate::path::parse_plain_only(path, "read_path")?.steps.len() > 1 {
            return Err(Error::new(ErrorKind::InvalidPath, "the `pk` field is the key, a string: no path goes below it")
                .with_table(layout.table.as_ref())
                .with_key(key)
                .with_path(path));
        }
        ops::check_key(layout, key)?;
        match ops::read_meta(&self.env(), layout, key).await? {
            Some(_) => Ok(vec![Value::String(key.to_owned())]),
            None => Err(ops::not_found(layout, key)),
        }
    }
}

/// Turns each string leaf of `doc` that `T` does not take as a string, but
/// takes as the number (`"1.5"`) or boolean (`"True"`, Python's `str`) it
/// spells, into that value. The type is asked by the probe, path by path.
fn convert_strings<T: DyObject>(doc: &mut Value) {
    fn strings(value: &Value, path: crate::path::PlainPath, out: &mut Vec<crate::path::PlainPath>) {
        use crate::path::Step;
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| strings(v, path.child(Step::Field(k.clone())), out)),
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| strings(v, path.child(Step::Index(i)), out)),
            Value::String(_) => out.push(path),
            _ => {}
        }
    }
    let mut paths = Vec::new();
    strings(doc, crate::path::PlainPath::root(), &mut paths);
    for path in paths {
        let steps = path.to_pattern().steps;
        let Some(Value::String(text)) = path.find(doc).cloned() else { continue };
        if crate::probe::fit::<T>(&steps, Some(&Value::String(text.clone()))) == crate::probe::Fit::Fits {
            continue;
        }
        let spelled = match text.as_str() {
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            "None" => Some(Value::Null),
            number => number.parse::<serde_json::Number>().ok().map(Value::Number),
        };
        if let Some(value) = spelled.filter(|v| crate::probe::fit::<T>(&steps, Some(v)) == crate::probe::Fit::Fits)
            && let Some(slot) = path.find_mut(doc)
        {
            *slot = value;
        }
    }
}

/// Whether `path` is `T`'s `#[dystore(pk)]` field (or below it).
fn is_pk_path<T: DyObject>(path: &str) -> bool {
    let Some(pk) = T::PK_FIELD else { return false };
    match crate::path::parse(path) {
        Ok(crate::path::Path::Plain(p)) => p.steps.first() == Some(&crate::path::Step::Field(pk.to_owned())),
        _ => false,
    }
}

/// As [`to_document`], refusing an empty `pk` field: `save` and `create`
/// store an object under its key, and generating one is `save_new`'s.
pub(crate) fn keyed_document<T: DyObject>(obj: &T) -> Result<(Value, Option<String>)> {
    let (doc, key) = to_document::<T>(obj)?;
    if let (Some(field), None) = (T::PK_FIELD, &key) {
        return Err(Error::new(
            ErrorKind::InvalidKey,
            format!("the `pk` field `{field}` is empty: set it, or call `save_new` to have a key generated"),
        )
        .with_table(T::layout().table.as_ref()));
    }
    Ok((doc, key))
}

/// A typed object as a document, with the key its `pk` field holds.
fn to_document<T: DyObject>(obj: &T) -> Result<(Value, Option<String>)> {
    // serde_json's message may quote a value, so it is not passed on.
    let mut doc = serde_json::to_value(obj).map_err(|_| {
        Error::new(ErrorKind::Serialization, "the object does not serialize to JSON").with_table(T::layout().table.as_ref())
    })?;
    let key = match (T::PK_FIELD, doc.as_object_mut()) {
        (Some(field), Some(map)) => match map.remove(field) {
            Some(Value::String(k)) if !k.is_empty() => Some(k),
            _ => None,
        },
        _ => None,
    };
    Ok((doc, key))
}

fn from_document<T: DyObject>(mut doc: Value, key: &str, layout: &Layout) -> Result<T> {
    if let (Some(field), Some(map)) = (T::PK_FIELD, doc.as_object_mut()) {
        map.insert(field.to_owned(), Value::String(key.to_owned()));
    }
    if let Some(map) = doc.as_object_mut() {
        map.remove(META);
    }
    serde_path_to_error::deserialize(doc).map_err(|e| {
        // serde's message may quote the stored value (plaintext of an
        // encrypted field, perhaps): name only where it went wrong.
        let path = e.path().to_string();
        Error::new(ErrorKind::Serialization, "the stored document does not fit the type")
            .with_table(layout.table.as_ref())
            .with_key(key)
            .with_path(if path == "." { "$".to_owned() } else { format!("$.{path}") })
    })
}
