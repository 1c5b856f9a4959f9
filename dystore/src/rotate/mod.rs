//! Key rotation: re-encrypting, on a live table, every encrypted leaf that
//! is not under the key id the loader now names for its path, and checking
//! that no leaf still needs a key before it is destroyed.
//!
//! A [`Rotation`] scans the root table of a layout (parallel segments) and
//! reads each object whole, leaf by leaf:
//!
//! - [`plan`](Rotation::plan) counts, per key id, the objects and leaves
//!   that use it, and which of them are stale: under another key id than
//!   the current one for their path, or dynamo-store 0.6 ciphertext. It
//!   needs no key material and writes nothing.
//! - [`rotate`](Rotation::rotate) rewrites every object with a stale leaf,
//!   every leaf then under its current key id, on the condition that the
//!   object's revision is still the one read (a concurrent writer wins; the
//!   object is read again and the rewrite tried again, and counted).
//!   Objects already current are not written. Objects of dynamo-store 0.6
//!   are upgraded to format 1 in the caller's layout. It holds a lease so
//!   that two rotations of one table do not run at once, checkpoints every
//!   page of every segment so an interrupted run resumes where it stopped,
//!   and keeps to a capacity [`Budget`].
//! - [`verify`](Rotation::verify) decrypts every encrypted leaf and reports
//!   each failure (table, key, path, key id, kind); given a key id to
//!   retire, it passes only when no leaf uses it any more.
//!
//! The current key id of a leaf is the one a save would choose: the
//! layout's encrypt mark with a key id, else the loader's
//! [`key_for`](crate::ConfigLoader::key_for), else its
//! [`default_key_id`](crate::ConfigLoader::default_key_id), which is what a
//! rotation falls back on for encrypted leaves the loader would now store in
//! clear: a rotation never decrypts. `docs/ROTATION.md` gives the whole
//! protocol.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> dystore::Result<()> {
//! use dystore::rotate::Rotation;
//! use dystore::{Client, Key, Keyring, PathPattern, Store};
//! use serde_json::json;
//!
//! let (a, b) = (Key::new([1u8; 32])?, Key::new([2u8; 32])?);
//! let people = Store::new("People", "ID").shard(Store::new("Contacts", "CID").at("$.contact"));
//! let old = Keyring::new().with_key("A", a.clone()).rule(PathPattern::prefix("$.contact")?, "A");
//! let db = Client::memory()?.with_loader(old);
//! db.store(&people).create_tables().await?;
//! db.store(&people).write_with_key("ada", json!({"name": "Ada", "contact": {"phone": "555"}})).await?;
//!
//! // The application now encrypts under B; A stays readable until rotated away.
//! let new = Keyring::new().with_key("A", a).with_key("B", b).rule(PathPattern::prefix("$.contact")?, "B");
//! let db = db.with_loader(new);
//! let plan = Rotation::new(&db, people.layout()).plan().await?;
//! assert_eq!((plan.stale_objects, plan.before["A"].leaves), (1, 1));
//! let done = Rotation::new(&db, people.layout()).rotate().await?;
//! assert_eq!((done.rotated, done.after["B"].leaves), (1, 1));
//! assert!(Rotation::new(&db, people.layout()).verify(Some("A")).await?.ok());
//! # Ok(()) }
//! ```

mod budget;
mod legacy;
mod mirror;
mod object;
mod policy;
mod report;
mod run;
mod state;

pub use budget::{Budget, Units};
pub use report::{CLEAR_KEY_ID, Failure, KeyUse, LEGACY_NO_KEY_ID, MAX_FAILURES_KEPT, Mode, Progress, Report, Retire};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::Layout;
use crate::ops::{self, Env};
use crate::store::Store;
use crate::tree::Resolved;
use budget::{Meter, Metered};
use run::Run;
use state::{Checkpoint, STATE_KEY, State};
use std::sync::Arc;
use std::time::Duration;

/// The most segments one run scans side by side.
pub const MAX_SEGMENTS: u32 = 1000;

/// The state table a rotation keeps its lease and checkpoints in unless
/// told otherwise ([`Rotation::state_table`]).
pub const DEFAULT_STATE_TABLE: &str = "dystore_rotation";

/// A key rotation (or its plan, or a verification) of the objects of one
/// root table. Cheap to build; configure it, then call
/// [`plan`](Self::plan), [`rotate`](Self::rotate) or [`verify`](Self::verify).
///
/// The layout may be the root table alone (`Store::new(table, key)`):
/// every object is read and written back in the layout recorded in its
/// root. A layout of the same shape as the stored one also lends its
/// encrypt marks, and objects of dynamo-store 0.6 are upgraded into it.
pub struct Rotation<'a> {
    client: &'a Client,
    layout: Layout,
    segments: u32,
    page_size: u32,
    budget: Budget,
    state_table: String,
    owner: String,
    lease_ttl: Duration,
    force: bool,
    restart: bool,
    /// One machine's share: scan segment I of N.
    share: Option<(u32, u32)>,
    /// The local file the checkpoints are mirrored in.
    checkpoint_file: Option<std::path::PathBuf>,
    progress: Option<Arc<ProgressFn<'a>>>,
}

/// The progress callback of a [`Rotation`].
type ProgressFn<'a> = dyn Fn(&Progress) + Send + Sync + 'a;

impl std::fmt::Debug for Rotation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation")
            .field("table", &self.layout.table)
            .field("segments", &self.segments)
            .field("budget", &self.budget)
            .field("state_table", &self.state_table)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl<'a> Rotation<'a> {
    /// A rotation of the objects of `layout`'s root table, through
    /// `client` and its loader (which names the current key ids and holds
    /// the material of every key id still in use). One segment, no
    /// capacity limit, the state in [`DEFAULT_STATE_TABLE`], a lease of 60
    /// seconds under a fresh owner name.
    pub fn new(client: &'a Client, layout: &Layout) -> Self {
        Rotation {
            client,
            layout: layout.clone(),
            segments: 1,
            page_size: 100,
            budget: Budget::unlimited(),
            state_table: DEFAULT_STATE_TABLE.to_owned(),
            owner: format!("pid{}-{}", std::process::id(), &crate::format::token()[..12]),
            lease_ttl: Duration::from_secs(60),
            force: false,
            restart: false,
            share: None,
            checkpoint_file: None,
            progress: None,
        }
    }

    /// Scans the table in `n` parallel segments, run side by side on the
    /// caller's task: 1 to 1,000 (DynamoDB allows a million, for that many
    /// workers; one process gains nothing from more requests in flight).
    pub fn segments(self, n: u32) -> Self {
        Rotation { segments: n.clamp(1, MAX_SEGMENTS), ..self }
    }

    /// Items per Scan page (1 to 1,000; default 100): also how often a
    /// rotation records a checkpoint.
    pub fn page_size(self, items: u32) -> Self {
        Rotation { page_size: items.clamp(1, 1000), ..self }
    }

    /// The capacity the run may use.
    pub fn budget(self, budget: Budget) -> Self {
        Rotation { budget, ..self }
    }

    /// The table holding the lease and checkpoints (created on the first
    /// rotation, keyed by the string attribute `id`); not the table rotated.
    pub fn state_table(self, table: impl Into<String>) -> Self {
        Rotation { state_table: table.into(), ..self }
    }

    /// The name this rotation holds its lease under. A run under the owner
    /// of an interrupted one takes its lease over at once.
    pub fn owner(self, owner: impl Into<String>) -> Self {
        Rotation { owner: owner.into(), ..self }
    }

    /// How long the lease lasts unless renewed (at least 1 second; its
    /// expiry saturates, so an immense one never expires); a run renews it
    /// every third of that, whatever it is waiting for, and a crashed run's
    /// lease expires after it.
    pub fn lease_ttl(self, ttl: Duration) -> Self {
        Rotation { lease_ttl: ttl.max(Duration::from_secs(1)), ..self }
    }

    /// Takes the lease even when another rotation holds it. Only for a
    /// lease left by a run known to be dead.
    pub fn force(self, force: bool) -> Self {
        Rotation { force, ..self }
    }

    /// Ignores the checkpoints of an interrupted rotation and scans from
    /// the start.
    pub fn restart(self, restart: bool) -> Self {
        Rotation { restart, ..self }
    }

    /// Runs one machine's share of the table: scan segment `i` of `n`
    /// (0 ≤ i < n ≤ 1,000,000, DynamoDB's limit), as one segment. Shares run
    /// on several machines side by side, each with its own lease and
    /// checkpoints (keyed by the share), and together cover the table; a
    /// share does not run beside a rotation of the whole table (nor the
    /// whole table beside a share): `LeaseHeld`.
    pub fn share(self, i: u32, n: u32) -> Self {
        Rotation { share: Some((i, n)), ..self }
    }

    /// Mirrors the checkpoints in a local file as well as the state table
    /// (rewritten after each; removed when the run finishes), and resumes
    /// from it when the state table holds no interrupted run (a state
    /// table lost or new). The state table wins when it has one.
    /// `docs/ROTATION.md` gives the format.
    pub fn checkpoint_file(self, path: impl Into<std::path::PathBuf>) -> Self {
        Rotation { checkpoint_file: Some(path.into()), ..self }
    }

    /// Calls `progress` after every object and every segment.
    pub fn on_progress(self, progress: impl Fn(&Progress) + Send + Sync + 'a) -> Self {
        Rotation { progress: Some(Arc::new(progress)), ..self }
    }

    /// Counts, per key id, the objects and leaves that use it and how many
    /// are stale, and what they would use once rotated. Needs no key
    /// material; writes nothing.
    ///
    /// # Errors
    ///
    /// An invalid layout; `TableNotFound`; `SchemaMismatch` when the table
    /// is not keyed by the layout's key attribute (string) alone; a
    /// failure of the scan itself (`Throttled` past the retry deadline,
    /// `Backend`). Objects that cannot be read are in the report's
    /// failures.
    pub async fn plan(&self) -> Result<Report> {
        self.run(Mode::Plan, None).await
    }

    /// Rewrites every object that has a stale leaf (see the module docs),
    /// or whose root records items owed deletion (which the rewrite, a
    /// save, deletes; a deleted object's tombstone is finished as a delete
    /// finishes it), resuming an interrupted rotation of the same table from its
    /// checkpoints; objects that fail are reported and the run goes on.
    ///
    /// # Errors
    ///
    /// `LeaseHeld` if another rotation holds the table's lease (or takes it
    /// over while this one runs); `TableNotFound` or `SchemaMismatch` as
    /// for [`plan`](Self::plan); `Config` if an interrupted rotation ran
    /// another number of segments (resume with that number, or
    /// [`restart`](Self::restart)) or the state table is the rotated one;
    /// an invalid layout; a failure of the scan or of the state table. The
    /// checkpoints written so far stay, so the next run resumes.
    pub async fn rotate(&self) -> Result<Report> {
        self.run(Mode::Rotate, None).await
    }

    /// Decrypts every encrypted leaf and reports each failure; with
    /// `retire`, also whether any leaf still uses that key id
    /// ([`Report::retire`]: it passes only with no such leaf and no
    /// failure). An object whose root records items owed deletion is a
    /// failure (`Unfinished`: they may hold any key id's ciphertext), and
    /// so is a scan that found items but no object (`NotFound`: a shard
    /// table, or another key attribute). Writes nothing.
    ///
    /// # Errors
    ///
    /// As [`plan`](Self::plan).
    pub async fn verify(&self, retire: Option<&str>) -> Result<Report> {
        self.run(Mode::Verify, retire).await
    }

    async fn run(&self, mode: Mode, retire: Option<&str>) -> Result<Report> {
        Resolved::new(&self.layout)?;
        self.check_share()?;
        // The table and its key attribute first: a wrong one is an error,
        // not an empty report, and leaves no state behind.
        ops::check_table(&self.client.env(), &self.layout.table, &self.layout.key).await?;
        let meter = Arc::new(Meter::new(self.budget));
        let metered = Metered::new(self.client.shared_backend(), meter.clone());
        let env = Env { backend: &metered, ..self.client.env() };
        let renewals = Metered::counted(self.client.shared_backend(), meter.clone());
        let mut state = State::new(env, &renewals, &self.state_table, &self.layout.table, self.share, &self.owner, self.lease_ttl);
        state.mirror = self.checkpoint_file.clone().map(mirror::Mirror::new);
        let rotating = mode == Mode::Rotate;
        if mode != Mode::Verify {
            // Before any state: a table of no object is a mistake, not "0 objects".
            // (A verification reports it as a failure, which fails it too.)
            run::check_holds_objects(&env, &self.layout, self.page_size).await?;
        }
        let checkpoints = if rotating { self.start(&state).await? } else { vec![Checkpoint::default(); self.segments as usize] };
        let mut run = Run::new(env, &self.layout, mode, self.segments);
        run.page_size = self.page_size;
        run.progress = self.progress.as_deref().map(|p| p as run::OnProgress<'_>);
        run.state = rotating.then_some(&state);
        run.share = self.share;
        if rotating {
            // The lease is renewed beside the work, whatever it waits for,
            // until the state is cleared and the lease given back.
            let work = async {
                run.segments(checkpoints).await?;
                state.finish(self.segments).await
            };
            let outcome = tokio::select! {
                biased;
                outcome = work => outcome,
                lost = state.keep_renewed() => Err(lost),
            };
            if outcome.is_err() {
                // The checkpoints stay for the next run; the lease need not.
                drop(state.release().await);
            }
            outcome?;
        } else {
            run.segments(checkpoints).await?;
        }
        let mut report = run.finish(retire);
        report.consumed = meter.total();
        report.share = self.share.map(|(i, n)| [i, n]);
        if let Some(id) = retire {
            self.check_retired_id(&report, id)?;
        }
        Ok(report)
    }

    /// A share is one scan segment of a valid split.
    fn check_share(&self) -> Result<()> {
        match self.share {
            Some((i, n)) if n == 0 || i >= n || n > 1_000_000 => {
                Err(Error::new(ErrorKind::Config, format!("a share is segment I of N with 0 <= I < N <= 1000000, not {i} of {n}")))
            }
            Some(_) if self.segments > 1 => {
                Err(Error::new(ErrorKind::Config, "a share of a table is scanned as one segment: give no other number of segments"))
            }
            _ => Ok(()),
        }
    }

    /// A key id to retire that the loader has no material for and no leaf
    /// uses is a mistake (a typo, a stray space): passing would tell the
    /// user to destroy a key nobody checked.
    fn check_retired_id(&self, report: &Report, id: &str) -> Result<()> {
        let used = report.before.contains_key(id);
        if used || self.client.env().loader.key(&id.to_owned()).is_some() {
            return Ok(());
        }
        // The id is not repeated: it may be key material typed in the wrong place.
        Err(Error::new(
            ErrorKind::Config,
            "the key id to retire is neither one the loader has key material for nor used by any leaf (mistyped?); nothing was checked for it",
        )
        .with_table(self.layout.table.as_ref()))
    }

    /// Takes the lease and reads where an interrupted rotation stopped.
    async fn start(&self, state: &State<'_>) -> Result<Vec<Checkpoint>> {
        if self.state_table == self.layout.table.as_ref() {
            return Err(
                Error::new(ErrorKind::Config, "the state table must not be the table rotated").with_table(self.state_table.as_str())
            );
        }
        self.client.store(&Store::new(self.state_table.clone(), STATE_KEY)).create_tables().await?;
        state.acquire(self.force).await?;
        if let Err(e) = state.check_alone().await {
            drop(state.release().await);
            return Err(e);
        }
        match state.resume(self.segments, self.restart, &targets(self.client.env().loader, &self.layout)).await {
            Ok(checkpoints) => Ok(checkpoints),
            Err(e) => {
                drop(state.release().await);
                Err(e)
            }
        }
    }
}

/// A digest (hex SHA-256) of what decides the current key id of a leaf:
/// the layout's marks, the loader's rules as it describes them
/// ([`ConfigLoader::key_choice`](crate::ConfigLoader::key_choice)) and
/// its default key id. Never key material.
pub(crate) fn targets(loader: &dyn crate::ConfigLoader, layout: &Layout) -> String {
    use sha2::{Digest, Sha256};
    // The marks only: the same rotation through a full layout or the root table alone chooses alike.
    fn marks(layout: &Layout, at: &str, into: &mut Vec<String>) {
        into.extend(layout.encrypt.iter().map(|rule| format!("{at} {rule:?}")));
        for shard in layout.shards.iter() {
            marks(&shard.layout, &format!("{at}{}", shard.path), into);
        }
    }
    let mut all = Vec::new();
    marks(layout, "", &mut all);
    let choice = format!("marks {all:?}\0loader {:?}\0default {:?}", loader.key_choice(), loader.default_key_id());
    Sha256::digest(choice.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;

    /// A service can spawn a rotation on its runtime.
    #[test]
    fn runs_are_send() {
        fn send<T: Send>(_: &T) {}
        let db = Client::memory().unwrap();
        let layout = Store::new("People", "ID").into_layout();
        let rotation = Rotation::new(&db, &layout).on_progress(|_| {});
        send(&rotation.plan());
        send(&rotation.rotate());
        send(&rotation.verify(Some("A")));
    }
}
