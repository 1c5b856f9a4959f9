//! What a rotation, a plan or a verification found and did: counts, counts
//! per key id before and after, failures with where they happened, and the
//! progress reported while it runs.

use super::budget::Units;
use crate::error::{Error, ErrorKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The pseudo key id under which dynamo-store 0.6 ciphertexts are counted
/// when the loader names no key id for their path.
pub const LEGACY_NO_KEY_ID: &str = "<legacy>";

/// The pseudo key id under which leaves stored in clear that the loader
/// now names a key id for are counted (they are stale: a rotation
/// encrypts them).
pub const CLEAR_KEY_ID: &str = "<clear>";

/// How many failures a report keeps (all are counted in
/// [`Report::failed`]): memory stays flat on a table where everything fails.
pub const MAX_FAILURES_KEPT: usize = 1000;

/// What a run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Counted, nothing written ([`Rotation::plan`](super::Rotation::plan)).
    Plan,
    /// Re-encrypted what was stale ([`Rotation::rotate`](super::Rotation::rotate)).
    Rotate,
    /// Decrypted everything, nothing written ([`Rotation::verify`](super::Rotation::verify)).
    Verify,
}

/// How many objects and leaves use one key id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeyUse {
    /// Objects with at least one leaf under the key id.
    pub objects: u64,
    /// Encrypted leaves under the key id.
    pub leaves: u64,
    /// Of those, leaves the loader now names another key id for (or that
    /// are dynamo-store 0.6 ciphertext): what a rotation re-encrypts.
    pub stale_leaves: u64,
    /// Of those, dynamo-store 0.6 ciphertexts (counted under the key id
    /// the loader names for their path, else [`LEGACY_NO_KEY_ID`]).
    pub legacy_leaves: u64,
}

/// One thing that failed: an object that could not be read, decrypted,
/// rotated, or a leaf that does not decrypt. Never holds plaintext nor key
/// material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The table of the item concerned.
    pub table: String,
    /// The primary key of the object's root.
    pub key: String,
    /// The leaf's path from the object root, when one leaf is concerned.
    pub path: Option<String>,
    /// The key id concerned, if known.
    pub key_id: Option<String>,
    /// What went wrong.
    #[serde(serialize_with = "kind_name")]
    pub kind: ErrorKind,
    /// The error's message (names only, never values).
    pub message: String,
}

fn kind_name<S: serde::Serializer>(kind: &ErrorKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{kind:?}"))
}

impl Failure {
    /// A failure from an error about the object keyed `key` in `table`
    /// (the error's own table, key, path and key id win).
    pub(crate) fn from_error(e: &Error, table: &str, key: &str) -> Self {
        Failure {
            table: e.table().unwrap_or(table).to_owned(),
            key: e.key().unwrap_or(key).to_owned(),
            path: e.path().map(str::to_owned),
            key_id: e.key_id().map(str::to_owned),
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// The answer of [`Rotation::verify`](super::Rotation::verify) with a key id
/// to retire: whether any leaf still uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retire {
    /// The key id asked about.
    pub key_id: String,
    /// Leaves still under it.
    pub leaves: u64,
    /// Objects with such leaves.
    pub objects: u64,
    /// No leaf uses the key id and every object could be read: the key
    /// may be destroyed.
    pub passed: bool,
}

/// What a run found and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The kind of run.
    pub mode: Mode,
    /// The root table scanned.
    pub table: String,
    /// Parallel scan segments.
    pub segments: u32,
    /// This run's share of the table, `[I, N]`: scan segment I of N
    /// (`None`: the whole table).
    pub share: Option<[u32; 2]>,
    /// Segments resumed from a checkpoint of an interrupted rotation (their
    /// objects before the checkpoint are not counted in this report).
    pub resumed_segments: u32,
    /// Objects scanned (root items of dystore objects).
    pub objects: u64,
    /// Objects with at least one stale leaf: to rotate (plan), rotated
    /// (rotate), or found so (verify).
    pub stale_objects: u64,
    /// Objects rewritten (rotate only).
    pub rotated: u64,
    /// Of those, objects of dynamo-store 0.6 rewritten in format 1.
    pub upgraded: u64,
    /// Objects every leaf of which was under its current key id already:
    /// nothing written.
    pub current: u64,
    /// Rewrites that lost to a concurrent writer and were read and tried
    /// again.
    pub conflicts: u64,
    /// Objects deleted by someone else while being rotated.
    pub vanished: u64,
    /// Items of the root table that are not roots of dystore objects
    /// (shard items of a layout sharing the table, foreign items): skipped.
    pub skipped: u64,
    /// Objects, deleted objects' tombstones and records of upgrades whose
    /// root records items owed deletion (left by an interrupted save,
    /// delete or upgrade, and possibly holding ciphertext under any key
    /// id): found (plan; verify, where each is also a failure), or whose
    /// cleanup this run finished (rotate: the object rewritten, the
    /// tombstone or record finished).
    pub owing: u64,
    /// Failures, all counted.
    pub failed: u64,
    /// The first [`MAX_FAILURES_KEPT`] failures.
    pub failures: Vec<Failure>,
    /// Per key id, what the leaves used when scanned.
    pub before: BTreeMap<String, KeyUse>,
    /// Per key id, what the leaves use after the run (for a plan: would use).
    pub after: BTreeMap<String, KeyUse>,
    /// With `verify` and a key id to retire: whether it is still used.
    pub retire: Option<Retire>,
    /// Capacity spent, estimated by DynamoDB's item-size rules.
    pub consumed: Units,
    /// Wall time of the run.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Report {
    pub(crate) fn new(mode: Mode, table: &str, segments: u32) -> Self {
        Report {
            mode,
            table: table.to_owned(),
            segments,
            share: None,
            resumed_segments: 0,
            objects: 0,
            stale_objects: 0,
            rotated: 0,
            upgraded: 0,
            current: 0,
            conflicts: 0,
            vanished: 0,
            skipped: 0,
            owing: 0,
            failed: 0,
            failures: Vec::new(),
            before: BTreeMap::new(),
            after: BTreeMap::new(),
            retire: None,
            consumed: Units::default(),
            elapsed: Duration::ZERO,
        }
    }

    /// Whether nothing failed (and, for a verification with a key id to
    /// retire, no leaf uses it).
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.retire.as_ref().is_none_or(|r| r.passed)
    }

    pub(crate) fn fail(&mut self, failure: Failure) {
        self.failed += 1;
        if self.failures.len() < MAX_FAILURES_KEPT {
            self.failures.push(failure);
        }
    }

    /// The progress so far.
    pub(crate) fn progress(&self, segments_done: u32, estimated_objects: Option<u64>, elapsed: Duration) -> Progress {
        Progress {
            segments: self.segments,
            segments_done,
            objects: self.objects,
            estimated_objects: estimated_objects.map(|e| e.max(self.objects)),
            rotated: self.rotated,
            current: self.current,
            conflicts: self.conflicts,
            failed: self.failed,
            elapsed,
        }
    }
}

/// Where a run stands, given to the progress callback after every object
/// and every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Segments of the run.
    pub segments: u32,
    /// Segments scanned to their end.
    pub segments_done: u32,
    /// Objects scanned so far.
    pub objects: u64,
    /// An estimate of the objects this run will scan in all, once one
    /// segment it started from the beginning has been scanned to its end:
    /// that segment's count times the number of segments (DynamoDB
    /// spreads items over segments evenly by the hash of their keys).
    /// `None` before, and with one segment until the end (no count is
    /// read in advance: DescribeTable's is six hours old, a counting scan
    /// reads the whole table).
    pub estimated_objects: Option<u64>,
    /// Objects rewritten so far.
    pub rotated: u64,
    /// Objects found current so far.
    pub current: u64,
    /// Rewrites tried again after a concurrent write.
    pub conflicts: u64,
    /// Failures so far.
    pub failed: u64,
    /// Time since the run started.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}
