//! One run over a root table: its scan segments side by side, each page by
//! page, each object read, counted, and (for a rotation) rewritten when a
//! leaf is stale, on the condition that nobody wrote it since it was read.

use super::object::{self, Owed, Read, Stored};
use super::policy::{Analysis, Keeping, analyse};
use super::report::{Failure, KeyUse, Mode, Progress, Report, Retire};
use super::state::{Checkpoint, State};
use crate::backend::{Backoff, Get, Item, Scan};
use crate::error::{Error, ErrorKind, Result};
use crate::format::legacy::is_legacy_meta;
use crate::format::{META, Root, SHARD_KEY_MARK};
use crate::layout::Layout;
use crate::ops::{self, Env, Upgrade, When, backend_error, key_item};
use serde_dynamo::AttributeValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
// The runtime's clock, the budget's: a paused clock (tests) measures the run.
use tokio::time::Instant;

/// How many times a rewrite that lost to another writer is read and tried
/// again before the object is reported as failed.
const WRITE_ATTEMPTS: usize = 8;

/// The progress callback.
pub(crate) type OnProgress<'a> = &'a (dyn Fn(&Progress) + Send + Sync);

/// One run and its tallies, shared by its segments.
pub(crate) struct Run<'a> {
    pub(crate) env: Env<'a>,
    /// The caller's layout: the root table and key, the marks, the shape
    /// legacy objects are upgraded into.
    pub(crate) caller: &'a Layout,
    pub(crate) mode: Mode,
    pub(crate) page_size: u32,
    /// The lease and checkpoints (rotations only).
    pub(crate) state: Option<&'a State<'a>>,
    /// This run's share of the table (scan segment I of N), if not all of it.
    pub(crate) share: Option<(u32, u32)>,
    pub(crate) progress: Option<OnProgress<'a>>,
    report: Mutex<Report>,
    segments_done: AtomicU32,
    /// Segments started from the beginning and scanned to their end, and
    /// the objects they held: the estimate of the run's size.
    fresh_done: AtomicU32,
    fresh_objects: AtomicU64,
    started: Instant,
}

impl<'a> Run<'a> {
    pub(crate) fn new(env: Env<'a>, caller: &'a Layout, mode: Mode, segments: u32) -> Self {
        Run {
            env,
            caller,
            mode,
            page_size: 100,
            state: None,
            share: None,
            progress: None,
            report: Mutex::new(Report::new(mode, &caller.table, segments)),
            segments_done: AtomicU32::new(0),
            fresh_done: AtomicU32::new(0),
            fresh_objects: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn report(&self) -> MutexGuard<'_, Report> {
        self.report.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The report, with the run's wall time and, for `retire`, whether the
    /// key id is still used.
    pub(crate) fn finish(self, retire: Option<&str>) -> Report {
        let elapsed = self.started.elapsed();
        let mut report = self.report.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        report.elapsed = elapsed;
        if report.mode == Mode::Verify && report.objects == 0 && report.skipped > 0 {
            // A shard table, or the wrong key attribute: nothing was checked.
            let e = Error::new(
                ErrorKind::NotFound,
                format!(
                    "no object was examined: none of the {} items scanned is the root of a dystore object keyed `{}` \
                     (a shard table, or another key attribute?)",
                    report.skipped, self.caller.key
                ),
            );
            report.fail(Failure::from_error(&e, &self.caller.table, ""));
        }
        if let Some(key_id) = retire {
            let uses = report.after.get(key_id).copied().unwrap_or_default();
            let passed = uses.leaves == 0 && report.failed == 0;
            report.retire = Some(Retire { key_id: key_id.to_owned(), leaves: uses.leaves, objects: uses.objects, passed });
        }
        report
    }

    /// Runs every segment from its checkpoint, side by side on this task.
    pub(crate) async fn segments(&self, checkpoints: Vec<Checkpoint>) -> Result<()> {
        let total = checkpoints.len() as u32;
        let segments = checkpoints.into_iter().enumerate().map(|(i, at)| self.segment(i as u32, total, at));
        futures_util::future::try_join_all(segments).await.map(drop)
    }

    async fn segment(&self, segment: u32, total: u32, mut at: Checkpoint) -> Result<()> {
        let fresh = !(at.done || at.last.is_some());
        if !fresh {
            self.report().resumed_segments += 1;
        }
        let mut scanned = 0u64;
        while !at.done {
            let scan = Scan {
                table: self.caller.table.to_string(),
                // A share is its one scan segment; one segment of a whole
                // table is a plain Scan (engines may serve it faster).
                segment: self.share.or((total > 1).then_some((segment, total))),
                start: at.last.clone(),
                limit: Some(self.page_size),
                consistent: true,
            };
            let page = self.env.backend.scan(scan).await.map_err(|e| backend_error(e, &self.caller.table))?;
            scanned += page.items.len() as u64;
            for item in page.items {
                self.object(item).await;
                self.tick();
            }
            at = Checkpoint { done: page.last_key.is_none(), last: page.last_key };
            if let Some(state) = self.state {
                state.checkpoint(segment, total, &at).await?;
            }
        }
        if fresh {
            // Items, not objects: shard and foreign items count too, a small overestimate.
            self.fresh_objects.fetch_add(scanned, Ordering::Relaxed);
            self.fresh_done.fetch_add(1, Ordering::Relaxed);
        }
        self.segments_done.fetch_add(1, Ordering::Relaxed);
        self.tick();
        Ok(())
    }

    fn tick(&self) {
        if let Some(progress) = self.progress {
            let report = self.report();
            let now = report.progress(self.segments_done.load(Ordering::Relaxed), self.estimate(report.segments), self.started.elapsed());
            drop(report);
            progress(&now);
        }
    }

    /// The objects the whole run will scan, from the segments it scanned
    /// whole from the beginning (see [`Progress::estimated_objects`]).
    fn estimate(&self, segments: u32) -> Option<u64> {
        let done = u64::from(self.fresh_done.load(Ordering::Relaxed));
        (done > 0).then(|| self.fresh_objects.load(Ordering::Relaxed) * u64::from(segments) / done)
    }

    /// One item of the root table.
    async fn object(&self, root: Item) {
        let key = match root.get(self.caller.key.as_ref()) {
            Some(AttributeValue::S(key)) if root.contains_key(META) => key.clone(),
            _ => return self.report().skipped += 1,
        };
        // A dynamo-store 0.6 root may have any key, `#$` included: it is
        // an object (verified, and upgraded if it can be), never skipped.
        let legacy = root.get(META).is_some_and(is_legacy_meta);
        if !legacy {
            if let Some(object) = ops::upgrade_record_of(&key) {
                return self.record(object, &root).await;
            }
            if key.contains(SHARD_KEY_MARK) {
                return self.report().skipped += 1;
            }
        }
        self.report().objects += 1;
        if legacy && key.contains(SHARD_KEY_MARK) && self.mode != Mode::Rotate {
            // Its upgrade would be refused (format 1 reserves the mark):
            // named, so the ciphertext it keeps is not overlooked.
            let e = Error::new(
                ErrorKind::InvalidKey,
                format!(
                    "a dynamo-store 0.6 object whose key holds `{SHARD_KEY_MARK}` cannot be upgraded by a rotation: copy it to another key"
                ),
            );
            self.failed(&e, &key);
        }
        match self.mode {
            Mode::Rotate => self.rotate(&key, root).await,
            Mode::Plan | Mode::Verify => self.inspect(&key, root).await,
        }
    }

    /// The record a crashed staged upgrade of the object keyed `object`
    /// left in the root table (not an object: counted as skipped), with
    /// the items it records as owed deletion.
    async fn record(&self, object: &str, item: &Item) {
        self.report().skipped += 1;
        let owed = match item.get(META).cloned().map(Root::decode) {
            Some(Ok((_, Root::Tombstone { revision, stale }))) => Owed::of(object, &revision, &stale),
            _ => None,
        };
        if let Some(owed) = owed {
            // Finished only once its object is no longer dynamo-store 0.6;
            // a legacy object's own upgrade (in this run) finishes it otherwise.
            self.owed(object, &owed, ops::sweep_record(&self.env, self.caller, object)).await;
        }
    }

    /// Items a root records as owed deletion, outside an object's rewrite:
    /// counted (plan), a failure (verify: they may hold any key id's
    /// ciphertext), or deleted by `finish` (rotate).
    async fn owed(&self, key: &str, owed: &Owed, finish: impl Future<Output = Result<()>>) {
        match self.mode {
            Mode::Plan => self.report().owing += 1,
            Mode::Verify => self.unfinished(owed, key),
            Mode::Rotate => match finish.await {
                Ok(()) => self.report().owing += 1,
                Err(e) => self.failed(&e, key),
            },
        }
    }

    /// Reports items owed deletion that this run leaves in place.
    fn unfinished(&self, owed: &Owed, key: &str) {
        let mut report = self.report();
        report.owing += 1;
        report.fail(Failure::from_error(&owed.error(&self.caller.table, key), &self.caller.table, key));
    }

    /// A deleted object (its tombstone, or no root any more): counted as
    /// vanished, and what its tombstone records as owed deletion is
    /// finished as a delete finishes it.
    async fn gone(&self, key: &str, owed: Option<Owed>) {
        self.report().vanished += 1;
        if let Some(owed) = owed {
            self.owed(key, &owed, ops::finish_tombstone_fenced(&self.env, self.caller, key, &owed.revision, &owed.stale)).await;
        }
    }

    /// Reads the object keyed `key` whose root was read as `root`.
    async fn read(&self, key: &str, mut root: Item, decrypt: bool) -> Result<Found> {
        let mut backoff = Backoff::new(self.env.policy);
        // The root's metadata at the last torn read: the same again means
        // no save is in progress, and the object is damaged.
        let mut torn_at: Option<AttributeValue> = None;
        loop {
            if let Some(meta) = root.get(META).filter(|m| is_legacy_meta(m)).cloned() {
                let stored = super::legacy::read(&self.env, self.caller, key, root, &meta, decrypt).await?;
                return Ok(Found::Object(Box::new(stored)));
            }
            let meta_now = root.get(META).cloned();
            match object::read(&self.env, self.caller, key, root, decrypt).await? {
                Read::Object(stored) => return Ok(Found::Object(stored)),
                Read::Gone(owed) => return Ok(Found::Gone(owed)),
                Read::Torn(damage) if torn_at.is_some() && torn_at == meta_now => return Err(damage),
                Read::Torn(_) if backoff.wait().await => {
                    torn_at = meta_now;
                    match self.root(key).await? {
                        Some(again) => root = again,
                        None => return Ok(Found::Gone(None)),
                    }
                }
                Read::Torn(_) => {
                    return Err(Error::new(ErrorKind::Inconsistent, "items of different saves kept being read")
                        .with_table(self.caller.table.as_ref())
                        .with_key(key));
                }
            }
        }
    }

    /// The root item keyed `key`, read again.
    async fn root(&self, key: &str) -> Result<Option<Item>> {
        let get = Get { table: self.caller.table.to_string(), key: key_item(&self.caller.key, key), projection: None, consistent: true };
        self.env.backend.get(get).await.map_err(|e| backend_error(e, &self.caller.table).with_key(key))
    }

    /// A plan or a verification of one object: read, count, change nothing.
    async fn inspect(&self, key: &str, root: Item) {
        let stored = match self.read(key, root, self.mode == Mode::Verify).await {
            Ok(Found::Object(stored)) => stored,
            Ok(Found::Gone(owed)) => return self.gone(key, owed).await,
            Err(e) => return self.failed(&e, key),
        };
        let analysis = analyse(&stored, self.env.loader);
        {
            let mut report = self.report();
            merge(&mut report.before, &analysis.before);
            let after = if self.mode == Mode::Plan { &analysis.after } else { &analysis.before };
            merge(&mut report.after, after);
            count_state(&mut report, &analysis);
            // A verification fails on personal data a rule covers left in clear.
            let uncovered = if self.mode == Mode::Verify { &analysis.uncovered[..] } else { &[] };
            for e in stored.failures.iter().chain(&analysis.failures).chain(uncovered) {
                report.fail(Failure::from_error(e, &self.caller.table, key));
            }
        }
        if let Some(owed) = &stored.owed {
            // A rotation rewrites the object, which deletes them.
            self.owed(key, owed, async { Ok(()) }).await;
        }
    }

    /// A rotation of one object: read, and rewrite it if a leaf is stale,
    /// conditioned on what was read; read again when another writer won.
    async fn rotate(&self, key: &str, mut root: Item) {
        // The counts as last read: what stays when the object is not rewritten.
        let mut last = BTreeMap::new();
        let mut backoff = Backoff::jittered(self.env.policy);
        for attempt in 0..WRITE_ATTEMPTS {
            if let Attempt::Done = self.attempt(key, root, attempt == 0, &mut last).await {
                return;
            }
            self.report().conflicts += 1;
            backoff.wait().await;
            root = match self.root(key).await {
                Ok(Some(again)) => again,
                Ok(None) => return self.report().vanished += 1,
                Err(e) => return self.failed(&e, key),
            };
        }
        let e = Error::new(ErrorKind::Conflict, "other writers kept changing the object while it was being rotated");
        merge(&mut self.report().after, &last);
        self.failed(&e, key);
    }

    /// One read and, if a leaf is stale, one rewrite of an object; counted
    /// unless another writer won.
    async fn attempt(&self, key: &str, root: Item, first: bool, last: &mut BTreeMap<String, KeyUse>) -> Attempt {
        let stored = match self.read(key, root, true).await {
            Ok(Found::Object(stored)) => stored,
            Ok(Found::Gone(owed)) => {
                self.gone(key, owed).await;
                return Attempt::Done;
            }
            Err(e) => {
                self.failed(&e, key);
                return Attempt::Done;
            }
        };
        let analysis = analyse(&stored, self.env.loader);
        if first {
            merge(&mut self.report().before, &analysis.before);
        }
        last.clone_from(&analysis.before);
        let failures: Vec<&Error> = stored.failures.iter().chain(&analysis.failures).collect();
        // Items owed deletion are deleted by a rewrite, as by any save.
        let owed = stored.owed.is_some();
        if !failures.is_empty() || !(analysis.stale || owed) {
            let mut report = self.report();
            merge(&mut report.after, if failures.is_empty() { &analysis.after } else { &analysis.before });
            report.current += u64::from(failures.is_empty());
            failures.into_iter().for_each(|e| report.fail(Failure::from_error(e, &self.caller.table, key)));
            drop(report);
            if let Some(owed) = &stored.owed {
                self.unfinished(owed, key);
            }
            return Attempt::Done;
        }
        let legacy = stored.revision.is_none();
        let written = self.write(*stored, &analysis).await;
        let mut report = self.report();
        match written {
            Ok(()) => {
                merge(&mut report.after, &analysis.after);
                let stale = u64::from(analysis.stale);
                report.stale_objects += stale;
                report.rotated += stale;
                report.upgraded += u64::from(legacy);
                report.owing += u64::from(owed);
            }
            Err(e) if e.is_conflict() => return Attempt::Lost,
            Err(e) => {
                merge(&mut report.after, &analysis.before);
                report.fail(Failure::from_error(&e, &self.caller.table, key));
            }
        }
        Attempt::Done
    }

    /// Writes the object back, every leaf under its current key id: a
    /// format-1 object conditioned on its revision, a legacy one upgraded
    /// (conditioned on its root being unchanged).
    async fn write(&self, stored: Stored, analysis: &Analysis) -> Result<()> {
        let keeping = Keeping { inner: self.env.loader, keep: &analysis.keep };
        let env = Env { loader: &keeping, ..self.env };
        match &stored.revision {
            Some(revision) => {
                ops::save(&env, &stored.layout, stored.doc, Some(stored.key.clone()), When::Revision(revision)).await.map(drop)
            }
            None => match ops::upgrade(&env, &stored.layout, &stored.key, |body| Ok(Value::Object(body))).await? {
                Upgrade::Upgraded => Ok(()),
                // Someone upgraded it meanwhile: read it again.
                Upgrade::AlreadyCurrent => Err(ops::conflict(&stored.layout, &stored.key)),
            },
        }
    }

    fn failed(&self, e: &Error, key: &str) {
        self.report().fail(Failure::from_error(e, &self.caller.table, key));
    }
}

/// What reading an object found.
enum Found {
    Object(Box<Stored>),
    /// Deleted (a tombstone, or no root any more), with what its tombstone
    /// records as owed deletion.
    Gone(Option<Owed>),
}

/// How one attempt at rotating an object ended.
enum Attempt {
    /// Counted: rotated, current, failed or gone.
    Done,
    /// Another writer won the race: read it again.
    Lost,
}

/// Counts an inspected object as stale or current.
fn count_state(report: &mut Report, analysis: &Analysis) {
    if analysis.stale {
        report.stale_objects += 1;
    } else {
        report.current += 1;
    }
}

/// Adds one object's counts per key id to the run's.
fn merge(into: &mut BTreeMap<String, KeyUse>, from: &BTreeMap<String, KeyUse>) {
    for (key_id, uses) in from {
        let total = into.entry(key_id.clone()).or_default();
        total.objects += uses.objects;
        total.leaves += uses.leaves;
        total.stale_leaves += uses.stale_leaves;
        total.legacy_leaves += uses.legacy_leaves;
    }
}

/// Whether `item` may be the root of a dystore object keyed by `key_name`
/// (a format-1 root or tombstone, an upgrade's record, a dynamo-store 0.6
/// root): not a shard or chunk item (their keys hold the shard mark),
/// nor an item of another program (no metadata).
fn may_be_root(item: &Item, key_name: &str) -> bool {
    match (item.get(key_name), item.get(META)) {
        (Some(AttributeValue::S(key)), Some(meta)) => is_legacy_meta(meta) || !key.contains(SHARD_KEY_MARK),
        _ => false,
    }
}

/// Refuses a table that holds items but no dystore object (a shard
/// table, a table of another program): a plan or rotation of it would
/// report "0 objects" and pass. Reads pages until the first possible
/// root (usually the first item) or the table's end; an empty table passes.
pub(crate) async fn check_holds_objects(env: &Env<'_>, layout: &Layout, page_size: u32) -> Result<()> {
    let (mut start, mut seen) = (None, 0usize);
    loop {
        let scan = Scan { table: layout.table.to_string(), segment: None, start, limit: Some(page_size), consistent: false };
        let page = env.backend.scan(scan).await.map_err(|e| backend_error(e, &layout.table))?;
        if page.items.iter().any(|item| may_be_root(item, &layout.key)) {
            return Ok(());
        }
        seen += page.items.len();
        match page.last_key {
            Some(last) => start = Some(last),
            None if seen == 0 => return Ok(()),
            None => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "the table holds no dystore object: none of its {seen} items is the root of an object keyed `{}` \
                         (a shard table, or items of another program?)",
                        layout.key
                    ),
                )
                .with_table(layout.table.as_ref()));
            }
        }
    }
}
