//! [`Batch`]: saves and deletes of typed objects of several types, run
//! together, each type's packed into as few requests as it allows.

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::Layout;
use crate::object::DyObject;
use crate::ops;
use futures_util::future::join_all;
use serde_json::Value;
use std::collections::HashMap;

/// One operation of a batch.
enum Entry {
    /// A document to save (with its `pk` field's key, if any), or why it
    /// cannot be.
    Save(Result<(Value, Option<String>)>),
    Delete(String),
}

/// Saves and deletes of objects of several types, collected and then run
/// together ([`Client::batch`]): like Dynochemy's sets of operations, it
/// answers once every one is done, one answer per operation in the order
/// they were added (the object's key, or the error that operation met).
///
/// Each type's saves go to [`Client::save_many`]'s packing and its deletes
/// to [`Client::delete_many`]'s, all types at once; each object stays
/// all-or-nothing, the batch as a whole does not (use one object's shards
/// for what must change together). An object named twice in a batch (two
/// saves, or a save and a delete of one key) is refused (`InvalidKey`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
/// use dystore::DyObject;
/// #[derive(serde::Serialize, serde::Deserialize, DyObject)]
/// #[dystore(table = "BatchUsers", key = "ID")]
/// struct User { #[dystore(pk)] id: String, name: String }
/// #[derive(serde::Serialize, serde::Deserialize, DyObject)]
/// #[dystore(table = "BatchOrders", key = "ID")]
/// struct Order { #[dystore(pk)] id: String, total: u32 }
///
/// let db = dystore::Client::memory()?;
/// db.create_tables::<User>().await?;
/// db.create_tables::<Order>().await?;
/// let answers = db
///     .batch()
///     .save(&User { id: "u1".into(), name: "Ada".into() })
///     .save(&Order { id: "o1".into(), total: 12 })
///     .delete::<Order>("o0")
///     .run()
///     .await;
/// assert_eq!(answers[0].as_deref().ok(), Some("u1"));
/// assert_eq!(answers[1].as_deref().ok(), Some("o1"));
/// assert!(answers[2].as_ref().is_err_and(|e| e.is_not_found()));
/// # Ok(()) }
/// ```
#[must_use = "a batch does nothing until `run`"]
pub struct Batch<'c> {
    client: &'c Client,
    entries: Vec<(&'static Layout, Entry)>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("operations", &self.entries.len()).finish_non_exhaustive()
    }
}

impl Client {
    /// An empty [`Batch`] of saves and deletes across types.
    pub fn batch(&self) -> Batch<'_> {
        Batch { client: self, entries: Vec::new() }
    }
}

impl<'c> Batch<'c> {
    /// Adds a save of `obj`, unconditional as [`Client::save`]'s.
    pub fn save<T: DyObject>(mut self, obj: &T) -> Self {
        self.entries.push((T::layout(), Entry::Save(crate::typed::keyed_document::<T>(obj))));
        self
    }

    /// Adds a delete of the object of type `T` keyed `key`, as
    /// [`Client::delete`]'s.
    pub fn delete<T: DyObject>(mut self, key: impl Into<String>) -> Self {
        self.entries.push((T::layout(), Entry::Delete(key.into())));
        self
    }

    /// Runs every operation; one answer per operation, in the order added:
    /// the key of the object saved or deleted, or the error.
    ///
    /// Requests: per type, as [`Client::save_many`] and
    /// [`Client::delete_many`]; every type's at once.
    ///
    /// # Errors
    ///
    /// Per operation, as [`Client::save`] and [`Client::delete`]; `InvalidKey`
    /// for every operation on a key the batch names more than once.
    pub async fn run(self) -> Vec<Result<String>> {
        let Batch { client, entries } = self;
        let mut answers: Vec<Option<Result<String>>> = entries.iter().map(|_| None).collect();
        let env = client.env();
        refuse_repeated(&entries, &mut answers, env.keys);
        // By layout (types share none unless they are the same type), in
        // the order first met.
        let mut groups: Vec<Group> = Vec::new();
        for (i, (layout, entry)) in entries.into_iter().enumerate() {
            if answers[i].is_some() {
                continue;
            }
            let at = match groups.iter().position(|(l, _, _)| std::ptr::eq(*l, layout)) {
                Some(at) => at,
                None => {
                    groups.push((layout, Vec::new(), Vec::new()));
                    groups.len() - 1
                }
            };
            match entry {
                Entry::Save(Ok((doc, key))) => groups[at].1.push((i, key, doc)),
                Entry::Save(Err(e)) => answers[i] = Some(Err(e)),
                Entry::Delete(key) => groups[at].2.push((i, key)),
            }
        }
        let runs = groups.into_iter().map(|(layout, saves, deletes)| async move {
            let (save_at, docs): (Vec<usize>, Vec<(Option<String>, Value)>) =
                saves.into_iter().map(|(i, key, doc)| (i, (key, doc))).unzip();
            let (delete_at, keys): (Vec<usize>, Vec<String>) = deletes.into_iter().unzip();
            let saved = if docs.is_empty() { Vec::new() } else { ops::save_many(&env, layout, docs).await };
            let deleted = if keys.is_empty() { Vec::new() } else { ops::delete_many(&env, layout, &keys).await };
            let saved = save_at.into_iter().zip(saved.into_iter().map(|r| r.map(|s| s.key)));
            let deleted = delete_at.into_iter().zip(deleted.into_iter().zip(keys).map(|(r, key)| r.map(|()| key)));
            saved.chain(deleted).collect::<Vec<_>>()
        });
        for (i, answer) in join_all(runs).await.into_iter().flatten() {
            answers[i] = Some(answer);
        }
        answers.into_iter().map(|a| a.unwrap_or_else(|| Err(Error::new(ErrorKind::Backend, "no answer was recorded")))).collect()
    }
}

/// One type's operations: its layout, its saves (index in the batch, key,
/// document) and its deletes (index, key).
type Group = (&'static Layout, Vec<(usize, Option<String>, Value)>, Vec<(usize, String)>);

/// Refuses every operation on a key (of one layout) the batch names more
/// than once.
fn refuse_repeated(entries: &[(&'static Layout, Entry)], answers: &mut [Option<Result<String>>], shown: &crate::KeyDisplay) {
    let key_of = |entry: &Entry| match entry {
        Entry::Save(Ok((_, Some(key)))) | Entry::Delete(key) => Some(key.clone()),
        _ => None,
    };
    // By root table, not by type: two types stored in one table name the
    // same item with the same key.
    let mut count: HashMap<(&str, String), usize> = HashMap::new();
    for (layout, entry) in entries {
        if let Some(key) = key_of(entry) {
            *count.entry((layout.table.as_ref(), key)).or_default() += 1;
        }
    }
    for (i, (layout, entry)) in entries.iter().enumerate() {
        if let Some(key) = key_of(entry)
            && count[&(layout.table.as_ref(), key.clone())] > 1
        {
            answers[i] =
                Some(Err(Error::new(ErrorKind::InvalidKey, "the batch names this object more than once; none of its operations ran")
                    .with_table(layout.table.as_ref())
                    .with_key(key)
                    .redact(shown)));
        }
    }
}
