//! Many objects of one layout at once: loads packed into BatchGetItem
//! requests, saves and deletes packed into TransactWriteItems requests,
//! several in flight, each object still all-or-nothing.
//!
//! Saves and deletes use transactions, not BatchWriteItem, because every
//! object's writes carry a condition on its root (the stored shape, so that
//! no item of an object stored otherwise is left behind) and BatchWriteItem
//! takes no conditions; a transaction also keeps an object with shards
//! whole. The price is DynamoDB's: a transactional write costs two write
//! units per KB where BatchWriteItem costs one.
//!
//! What cannot be packed goes alone, through the single-object operation:
//! layouts with list shards (their saves and deletes read the stored root
//! first), objects past one transaction, objects whose condition failed
//! (stored in another shape, owed cleanup, or absent for a delete), loads
//! that caught a save in progress, and a key named twice.

use super::batch::{BATCH_GET_KEYS, batch_get_partial};
use super::delete::{self, delete};
use super::load::{Begun, Fetched, Loaded, More, Torn, begin, finish, first_keys, load, undone_by_root};
use super::save::{self, Packable, Saved, save};
use super::stale::ItemKey;
use super::transact::{TRANSACT_BYTES, TRANSACT_ITEMS, write_bytes};
use super::{Env, When, backend_error, operation_with};
use crate::backend::{BackendError, Write};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{CONDITION_FAILED, cancelled};
use crate::layout::Layout;
use crate::tree::Resolved;
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Requests one call on many objects keeps in flight.
pub(crate) const PARALLEL_REQUESTS: usize = 8;

/// How many rounds a packed write is sent again after its transaction was
/// cancelled by another object's condition, before going alone.
const PACK_ROUNDS: usize = 4;

/// One answer per input, in input order.
type Answers<T> = Vec<Result<T>>;

/// Loads the objects keyed `keys`: the roots and predicted shard items of
/// all in BatchGetItem requests of up to 100 keys, then everything their
/// roots name that the first read missed (list elements, large leaves)
/// likewise.
pub(crate) async fn load_many(env: &Env<'_>, layout: &Layout, keys: &[String]) -> Answers<Loaded> {
    within_deadline(env, "load_many", layout, keys, false, load_now(env, layout, keys)).await
}

async fn load_now(env: &Env<'_>, layout: &Layout, keys: &[String]) -> Answers<Loaded> {
    let cached = match Resolved::cached(layout) {
        Ok(r) => r,
        Err(e) => return keys.iter().map(|k| Err(e.for_key(k))).collect(),
    };
    let resolved = cached.borrow_dependent();
    let mut answers: Vec<Option<Result<Loaded>>> = keys.iter().map(|_| None).collect();
    let mut seen = HashSet::new();
    let mut first = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        match super::check_key(layout, key).and_then(|()| resolved.check_shard_keys(key)) {
            Err(e) => answers[i] = Some(Err(e)),
            // A key named twice is loaded again alone: items are taken out
            // of a read as they are assembled.
            Ok(()) if !seen.insert(key.as_str()) => {}
            Ok(()) => first.push((i, first_keys(resolved, key, true))),
        }
    }
    let mut fetched = read_packed(env, keys, &first, &mut answers).await;
    let mut begun: Vec<(usize, More, Fetched)> = Vec::new();
    for (i, wanted) in &first {
        let mut own = take(&mut fetched, wanted);
        if let Some(answer) = answers[*i].take() {
            // Its first read failed: undone, what its root names and was not read.
            answers[*i] = Some(answer.map_err(|e| undone_by_root(resolved, &keys[*i], true, &own, e)));
            continue;
        }
        match begin(env, resolved, &keys[*i], true, false, wanted, &mut own).await {
            Ok(Begun::Done(loaded)) => answers[*i] = Some(Ok(loaded)),
            Ok(Begun::More(more)) => begun.push((*i, more, own)),
            Err(e) => answers[*i] = Some(Err(e)),
        }
    }
    let second: Vec<(usize, Vec<ItemKey>)> =
        begun.iter().filter(|(_, more, _)| !more.unfetched.is_empty()).map(|(i, more, _)| (*i, more.unfetched.clone())).collect();
    let mut fetched = read_packed(env, keys, &second, &mut answers).await;
    for (i, more, mut own) in begun {
        if answers[i].is_some() {
            continue;
        }
        own.extend(take(&mut fetched, &more.unfetched));
        match finish(env, resolved, &keys[i], true, false, more, own).await {
            Ok(Ok(loaded)) => answers[i] = Some(Ok(loaded)),
            // Caught a save in progress: alone, with the load's own retries.
            Ok(Err(Torn)) => {}
            Err(e) => answers[i] = Some(Err(e)),
        }
    }
    let alone: Vec<usize> = (0..keys.len()).filter(|i| answers[*i].is_none()).collect();
    let loads = stream::iter(alone).map(|i| async move { (i, load(env, layout, &keys[i], true, false).await) });
    for (i, loaded) in loads.buffer_unordered(PARALLEL_REQUESTS).collect::<Vec<_>>().await {
        answers[i] = Some(loaded);
    }
    answered(answers, keys, layout)
}

/// Reads the items `wanted` names for each object (by its index in
/// `keys`), packing whole objects into BatchGetItem requests of up to 100
/// keys, several in flight. An object whose request failed gets the error.
async fn read_packed(env: &Env<'_>, keys: &[String], wanted: &[(usize, Vec<ItemKey>)], answers: &mut [Option<Result<Loaded>>]) -> Fetched {
    let mut packs: Vec<(Vec<usize>, Vec<ItemKey>)> = Vec::new();
    for (i, items) in wanted {
        match packs.last_mut() {
            Some((objects, pack)) if pack.len() + items.len() <= BATCH_GET_KEYS => {
                objects.push(*i);
                pack.extend(items.iter().cloned());
            }
            _ => packs.push((vec![*i], items.clone())),
        }
    }
    let reads =
        stream::iter(packs).map(|(objects, pack)| async move { (objects, batch_get_partial(env.backend, env.policy, &pack).await) });
    let mut fetched = Fetched::new();
    let own: HashMap<usize, &Vec<ItemKey>> = wanted.iter().map(|(i, items)| (*i, items)).collect();
    for (objects, (items, read)) in reads.buffer_unordered(PARALLEL_REQUESTS).collect::<Vec<_>>().await {
        fetched.extend(items);
        let Err(e) = read else { continue };
        // Only the objects with an item left unread fail; the others were
        // read whole.
        let undone: HashSet<&str> = e.undone().iter().map(String::as_str).collect();
        for i in objects {
            if own[&i].iter().any(|(table, _, key)| undone.contains(format!("{table}/{key}").as_str())) {
                answers[i] = Some(Err(e.for_key(&keys[i])));
            }
        }
    }
    fetched
}

/// The items of `wanted` taken out of `fetched`.
fn take(fetched: &mut Fetched, wanted: &[ItemKey]) -> Fetched {
    wanted.iter().filter_map(|(t, _, k)| fetched.remove_entry(&(t.clone(), k.clone()))).collect()
}

/// Saves `docs` (each with its key, else the loader's or a UUID v4), each
/// unconditionally as [`save`] does, packed into transactions.
pub(crate) async fn save_many(env: &Env<'_>, layout: &Layout, docs: Vec<(Option<String>, Value)>) -> Answers<Saved> {
    let named: Vec<String> = docs.iter().map(|(k, _)| k.clone().unwrap_or_default()).collect();
    within_deadline(env, "save_many", layout, &named, true, save_now(env, layout, docs)).await
}

async fn save_now(env: &Env<'_>, layout: &Layout, docs: Vec<(Option<String>, Value)>) -> Answers<Saved> {
    let cached = match Resolved::cached(layout) {
        Ok(r) => r,
        Err(e) => return docs.iter().map(|(k, _)| Err(e.for_key(k.as_deref().unwrap_or_default()))).collect(),
    };
    let resolved = cached.borrow_dependent();
    let mut answers: Vec<Option<Result<Saved>>> = docs.iter().map(|_| None).collect();
    let mut keys = vec![String::new(); docs.len()];
    // Kept for a save that goes alone after its pack.
    let mut kept: Vec<Option<Value>> = docs.iter().map(|_| None).collect();
    let mut packed = Vec::new();
    let mut alone = Vec::new();
    for (i, (key, doc)) in docs.into_iter().enumerate() {
        match save::packable(env, resolved, layout, doc, key) {
            Err(e) => answers[i] = Some(Err(e)),
            Ok(Packable::Writes { key, revision, writes, doc }) => {
                keys[i] = key;
                kept[i] = Some(doc);
                packed.push(Pack { index: i, writes, revision });
            }
            Ok(Packable::Alone { key, doc }) => {
                keys[i] = key;
                alone.push((i, doc));
            }
        }
    }
    refuse_repeated(layout, &keys, &mut answers, &mut packed, &mut alone);
    let (done, rest) = write_packed(env, layout, &keys, packed, &mut answers).await;
    for (i, revision) in done {
        answers[i] = Some(Ok(Saved { key: keys[i].clone(), revision }));
    }
    alone.extend(rest.into_iter().filter_map(|(i, _)| kept[i].take().map(|doc| (i, doc))));
    let saves = stream::iter(alone).map(|(i, doc)| {
        let key = keys[i].clone();
        async move { (i, save(env, layout, doc, Some(key), When::Always).await) }
    });
    for (i, saved) in saves.buffer_unordered(PARALLEL_REQUESTS).collect::<Vec<_>>().await {
        answers[i] = Some(saved);
    }
    answered(answers, &keys, layout)
}

/// Deletes the objects keyed `keys` as [`delete`] does (`NotFound` for a
/// key with no object), packed into transactions.
pub(crate) async fn delete_many(env: &Env<'_>, layout: &Layout, keys: &[String]) -> Answers<()> {
    within_deadline(env, "delete_many", layout, keys, true, delete_now(env, layout, keys)).await
}

async fn delete_now(env: &Env<'_>, layout: &Layout, keys: &[String]) -> Answers<()> {
    let cached = match Resolved::cached(layout) {
        Ok(r) => r,
        Err(e) => return keys.iter().map(|k| Err(e.for_key(k))).collect(),
    };
    let resolved = cached.borrow_dependent();
    let mut answers: Vec<Option<Result<()>>> = keys.iter().map(|_| None).collect();
    let mut packed = Vec::new();
    let mut alone = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        match delete::packable(resolved, layout, key) {
            Err(e) => answers[i] = Some(Err(e)),
            Ok(Some(writes)) => packed.push(Pack { index: i, writes, revision: String::new() }),
            Ok(None) => alone.push((i, false)),
        }
    }
    refuse_repeated(layout, keys, &mut answers, &mut packed, &mut alone);
    let (done, rest) = write_packed(env, layout, keys, packed, &mut answers).await;
    for (i, _) in done {
        answers[i] = Some(Ok(()));
    }
    alone.extend(rest);
    let deletes = stream::iter(alone).map(|(i, maybe_deleted)| async move {
        match delete(env, layout, &keys[i], None).await {
            // An attempt of its packed delete was applied, its answer lost.
            Err(e) if maybe_deleted && e.is_not_found() => (i, Ok(())),
            deleted => (i, deleted),
        }
    });
    for (i, deleted) in deletes.buffer_unordered(PARALLEL_REQUESTS).collect::<Vec<_>>().await {
        answers[i] = Some(deleted);
    }
    answered(answers, keys, layout)
}

/// One object's writes in a packed transaction.
struct Pack {
    /// The object's index in the call.
    index: usize,
    writes: Vec<Write>,
    /// The revision a save writes (empty for a delete).
    revision: String,
}

/// Refuses every object whose key the call names more than once: which of
/// them should win is not for dystore to guess, and one transaction may not
/// touch an item twice.
fn refuse_repeated<T, A>(
    layout: &Layout,
    keys: &[String],
    answers: &mut [Option<Result<T>>],
    packed: &mut Vec<Pack>,
    alone: &mut Vec<(usize, A)>,
) {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        if answers[i].is_none() {
            *count.entry(key).or_default() += 1;
        }
    }
    let repeated = |i: usize| count.get(keys[i].as_str()).is_some_and(|n| *n > 1);
    for (i, key) in keys.iter().enumerate() {
        if answers[i].is_none() && repeated(i) {
            answers[i] = Some(Err(Error::new(ErrorKind::InvalidKey, "the call names this key more than once; none of them was written")
                .with_table(layout.table.as_ref())
                .with_key(key)));
        }
    }
    packed.retain(|p| !repeated(p.index));
    alone.retain(|(i, _)| !repeated(*i));
}

/// Sends packed writes: whole objects in transactions of up to 100 actions
/// and 4 MB, several in flight. Returns the objects written (index,
/// revision) and those to do alone: an object whose own condition failed
/// (the single operation reads what is stored and decides), or one whose
/// transaction kept being cancelled for others, each with whether an
/// attempt of its writes may have been applied (a lost answer). An object
/// whose request failed otherwise gets the error.
async fn write_packed<T>(
    env: &Env<'_>,
    layout: &Layout,
    keys: &[String],
    mut pending: Vec<Pack>,
    answers: &mut [Option<Result<T>>],
) -> (Vec<(usize, String)>, Vec<(usize, bool)>) {
    let mut done = Vec::new();
    let mut alone = Vec::new();
    for round in 0..PACK_ROUNDS {
        if pending.is_empty() {
            break;
        }
        let sends = stream::iter(transactions(std::mem::take(&mut pending))).map(|packs| async move {
            let writes: Vec<Write> = packs.iter().flat_map(|p| p.writes.iter().cloned()).collect();
            let sent = match writes.len() {
                1 => env.backend.write(writes.into_iter().next().expect("one write")).await,
                _ => env.backend.transact_write(writes).await,
            };
            (packs, sent)
        });
        for (packs, sent) in sends.buffer_unordered(PARALLEL_REQUESTS).collect::<Vec<_>>().await {
            let Err(e) = sent else {
                done.extend(packs.into_iter().map(|p| (p.index, p.revision)));
                continue;
            };
            match e.split() {
                (BackendError::ConditionFailed, retries) => {
                    let maybe = retries.is_some_and(|r| r.maybe_applied);
                    alone.extend(packs.iter().map(|p| (p.index, maybe)));
                }
                (BackendError::TransactionCanceled { reasons }, retries) => {
                    // Which objects' own conditions failed; the others were
                    // not applied and go again.
                    let maybe = retries.as_ref().is_some_and(|r| r.maybe_applied);
                    let owner: Vec<usize> = packs.iter().enumerate().flat_map(|(n, p)| std::iter::repeat_n(n, p.writes.len())).collect();
                    let failed: HashSet<usize> = cancelled(&reasons, &owner, CONDITION_FAILED).into_iter().collect();
                    if failed.is_empty() && reasons.iter().all(Option::is_none) {
                        let e = backend_error(BackendError::TransactionCanceled { reasons }, &layout.table).with_retries(retries);
                        fail(&e, keys, &packs, answers);
                        continue;
                    }
                    for (n, p) in packs.into_iter().enumerate() {
                        if failed.contains(&n) || round + 1 == PACK_ROUNDS {
                            alone.push((p.index, maybe));
                        } else {
                            pending.push(p);
                        }
                    }
                }
                (other, retries) => {
                    let e = backend_error(other, &layout.table).with_retries(retries);
                    fail(&e, keys, &packs, answers);
                }
            }
        }
    }
    alone.extend(pending.into_iter().map(|p| (p.index, false)));
    (done, alone)
}

fn fail<T>(e: &Error, keys: &[String], packs: &[Pack], answers: &mut [Option<Result<T>>]) {
    for p in packs {
        answers[p.index] = Some(Err(e.for_key(&keys[p.index])));
    }
}

/// Packs whole objects' writes into transactions within DynamoDB's limits
/// of 100 actions and 4 MB per TransactWriteItems request.
fn transactions(packs: Vec<Pack>) -> Vec<Vec<Pack>> {
    let mut out: Vec<(Vec<Pack>, usize, usize)> = Vec::new();
    for p in packs {
        let bytes: usize = p.writes.iter().map(write_bytes).sum();
        match out.last_mut() {
            Some((group, n, b)) if *n + p.writes.len() <= TRANSACT_ITEMS && *b + bytes <= TRANSACT_BYTES => {
                *n += p.writes.len();
                *b += bytes;
                group.push(p);
            }
            _ => {
                let n = p.writes.len();
                out.push((vec![p], n, bytes));
            }
        }
    }
    out.into_iter().map(|(group, _, _)| group).collect()
}

/// Runs a call on many objects within the env's deadline; past it, every
/// object not yet answered gets the `Timeout`.
async fn within_deadline<T>(
    env: &Env<'_>,
    name: &'static str,
    layout: &Layout,
    keys: &[String],
    writes: bool,
    call: impl std::future::Future<Output = Answers<T>>,
) -> Answers<T> {
    // The span's outcome: "ok", "partial" (some objects failed) or
    // "failed" (all did).
    let outcome = |answers: &Answers<T>| match answers.iter().filter(|a| a.is_err()).count() {
        0 => "ok",
        n if n == answers.len() => "failed",
        _ => "partial",
    };
    match operation_with(env, name, layout, None, writes, outcome, Box::pin(async { Ok(call.await) })).await {
        Ok(answers) => answers.into_iter().map(|answer| answer.map_err(|e| e.redact(env.keys))).collect(),
        Err(e) => keys.iter().map(|k| Err(e.for_key(k).redact(env.keys))).collect(),
    }
}

/// The answers, every one given.
fn answered<T>(answers: Vec<Option<Result<T>>>, keys: &[String], layout: &Layout) -> Answers<T> {
    answers
        .into_iter()
        .zip(keys)
        .map(|(answer, key)| {
            answer.unwrap_or_else(|| {
                Err(Error::new(ErrorKind::Backend, "no answer was recorded for this object")
                    .with_table(layout.table.as_ref())
                    .with_key(key))
            })
        })
        .collect()
}
