//! The state of a rotation, kept in a DynamoDB table of its own (the
//! "state table", keyed by the string attribute `id`), so that it is
//! shared by every process that may rotate the same table:
//!
//! ```text
//! { id: "lease#<table>",          owner, expires: <unix ms>, acquired: <unix ms> }
//! { id: "run#<table>",            segments: N, targets: <digest>, owner, started: <unix ms> }
//! { id: "checkpoint#<table>#N#i", last: <the scan's last evaluated key> | absent, done: bool, owner }
//! ```
//!
//! The lease is taken with a conditional put (no lease, an expired one, or
//! our own), renewed with a conditional update, and every checkpoint is
//! written in one transaction with a renewal, so a process that lost its
//! lease cannot move a checkpoint. Times are wall-clock milliseconds, as
//! the lease is shared between machines.

use crate::backend::{Backend, BackendError, Expr, Get, Item, Write};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{CONDITION_FAILED, cancelled};
use crate::ops::{Env, backend_error, batch_get_all, key_item};
use serde_dynamo::AttributeValue;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
// The runtime's clock for when to renew (a paused clock in tests drives it);
// the lease's expiry is wall-clock time, shared between machines.
use tokio::time::Instant;

/// Between the table and a share's place in the ids of a share's state.
const SHARE: &str = "#share#";

/// The key attribute of the state table.
pub(crate) const STATE_KEY: &str = "id";

/// Where one segment of an interrupted rotation stopped.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Checkpoint {
    /// The last evaluated key of the last page done; `None` before the first.
    pub(crate) last: Option<Item>,
    /// The segment was scanned to its end.
    pub(crate) done: bool,
}

/// The lease and checkpoints of one rotation of one table.
pub(crate) struct State<'a> {
    env: Env<'a>,
    /// Where the renewals between checkpoints go: counted in the budget
    /// but never held by it, so that a run waiting for its budget keeps
    /// its lease.
    renewals: &'a dyn Backend,
    /// The state table.
    table: String,
    /// The table being rotated.
    subject: String,
    /// What the lease, run record and checkpoints are keyed by: the table,
    /// or `<table>#share#I#N` for one machine's share of it.
    scope: String,
    owner: String,
    ttl: Duration,
    renewed: Mutex<Instant>,
    /// The local file the checkpoints are mirrored in, if any.
    pub(crate) mirror: Option<super::mirror::Mirror>,
    /// The digest of the key-id choice, set by `resume` (for the mirror).
    targets: Mutex<String>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// A duration in milliseconds, saturating (a lease of any length never wraps).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

impl<'a> State<'a> {
    pub(crate) fn new(
        env: Env<'a>,
        renewals: &'a dyn Backend,
        table: &str,
        subject: &str,
        share: Option<(u32, u32)>,
        owner: &str,
        ttl: Duration,
    ) -> Self {
        State {
            env,
            renewals,
            table: table.to_owned(),
            subject: subject.to_owned(),
            scope: match share {
                Some((i, n)) => format!("{subject}{SHARE}{i}#{n}"),
                None => subject.to_owned(),
            },
            owner: owner.to_owned(),
            ttl,
            renewed: Mutex::new(Instant::now()),
            mirror: None,
            targets: Mutex::new(String::new()),
        }
    }

    fn lease_id(&self) -> String {
        format!("lease#{}", self.scope)
    }

    fn run_id(&self) -> String {
        format!("run#{}", self.scope)
    }

    fn checkpoint_id(&self, segment: u32, segments: u32) -> String {
        format!("checkpoint#{}#{segments}#{segment}", self.scope)
    }

    fn error(&self, e: BackendError) -> Error {
        backend_error(e, &self.table)
    }

    /// When a lease taken or renewed now expires.
    fn expiry(&self) -> u64 {
        now_ms().saturating_add(millis(self.ttl))
    }

    /// A condition: the lease item is ours.
    fn ours(&self) -> Expr {
        let mut expr = Expr { text: "#owner = :me".into(), ..Expr::default() };
        expr.names.insert("#owner".into(), "owner".into());
        expr.values.insert(":me".into(), s(&self.owner));
        expr
    }

    /// Takes the lease: there is none, it expired, or it is ours already;
    /// with `force`, whatever holds it.
    pub(crate) async fn acquire(&self, force: bool) -> Result<()> {
        let now = now_ms();
        let item: Item = [
            (STATE_KEY.to_owned(), s(&self.lease_id())),
            ("owner".to_owned(), s(&self.owner)),
            ("expires".to_owned(), n(self.expiry())),
            ("acquired".to_owned(), n(now)),
        ]
        .into();
        let condition = (!force).then(|| {
            let mut expr = self.ours();
            expr.text = "attribute_not_exists(#id) OR #expires < :now OR #owner = :me".into();
            expr.names.insert("#id".into(), STATE_KEY.into());
            expr.names.insert("#expires".into(), "expires".into());
            expr.values.insert(":now".into(), n(now));
            expr
        });
        match self.env.backend.write(Write::Put { table: self.table.clone(), item, condition }).await {
            Ok(()) => {
                *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                Ok(())
            }
            Err(BackendError::ConditionFailed) => Err(self.held().await),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Refuses to run beside a rotation of the same table split another
    /// way: a share while the whole table's lease is live, the whole
    /// table while a share's is. Checked after taking our own lease, so
    /// of two runs starting together at least one sees the other.
    pub(crate) async fn check_alone(&self) -> Result<()> {
        let (now, whole) = (now_ms(), format!("lease#{}", self.subject));
        let mut start = None;
        loop {
            let scan = crate::backend::Scan { table: self.table.clone(), segment: None, start, limit: None, consistent: true };
            let page = self.env.backend.scan(scan).await.map_err(|e| self.error(e))?;
            for item in &page.items {
                let id = match item.get(STATE_KEY) {
                    Some(AttributeValue::S(id)) => id.as_str(),
                    _ => continue,
                };
                // Shares run beside each other; not beside the whole table.
                let other = match self.scope == self.subject {
                    true => id.starts_with(&format!("{whole}{SHARE}")),
                    false => id == whole,
                };
                let live = matches!(item.get("expires"), Some(AttributeValue::N(t)) if t.parse::<u64>().is_ok_and(|t| t >= now));
                if other && live {
                    let text = "a rotation of this table split another way (the whole table, or a share of it) holds its lease; \
                                wait for it to end or expire";
                    return Err(Error::new(ErrorKind::LeaseHeld, text).with_table(self.subject.as_str()));
                }
            }
            match page.last_key {
                Some(last) => start = Some(last),
                None => return Ok(()),
            }
        }
    }

    /// The error for a lease someone else holds, saying who and until when.
    async fn held(&self) -> Error {
        let get = Get { table: self.table.clone(), key: key_item(STATE_KEY, &self.lease_id()), projection: None, consistent: true };
        let holder = self.env.backend.get(get).await.ok().flatten();
        let text = |name: &str| match holder.as_ref().and_then(|i| i.get(name)) {
            Some(AttributeValue::S(v) | AttributeValue::N(v)) => v.clone(),
            _ => "?".to_owned(),
        };
        let left = text("expires").parse::<u64>().map_or(0, |t| t.saturating_sub(now_ms()).div_ceil(1000));
        Error::new(
            ErrorKind::LeaseHeld,
            format!(
                "owner `{}` holds it for {left} s more; wait for that rotation to end or its lease to expire, \
                 or force (only for a run known to be dead)",
                text("owner")
            ),
        )
        .with_table(self.subject.as_str())
    }

    fn lost(&self) -> Error {
        Error::new(ErrorKind::LeaseHeld, "this rotation lost it (it expired, or another run forced it)").with_table(self.subject.as_str())
    }

    /// The update that pushes the lease's expiry on, if it is still ours.
    fn renewal(&self) -> Write {
        let mut update = Expr { text: "SET #expires = :expires".into(), ..Expr::default() };
        update.names.insert("#expires".into(), "expires".into());
        update.values.insert(":expires".into(), n(self.expiry()));
        Write::Update { table: self.table.clone(), key: key_item(STATE_KEY, &self.lease_id()), update, condition: Some(self.ours()) }
    }

    /// How long until the lease is due for renewal: a third of its time
    /// after the last renewal.
    fn until_due(&self) -> Duration {
        (self.ttl / 3).saturating_sub(self.renewed.lock().unwrap_or_else(|p| p.into_inner()).elapsed())
    }

    /// Renews the lease every third of its time for as long as it is
    /// polled, beside the run's segments: waits of any length (the budget's,
    /// retries' backoff, a slow request) never let it expire. Ends only
    /// when a renewal fails: the lease was lost, or the state table failed.
    pub(crate) async fn keep_renewed(&self) -> Error {
        loop {
            tokio::time::sleep(self.until_due()).await;
            if let Err(e) = self.renew().await {
                return e;
            }
        }
    }

    /// Renews the lease if a third of its time has passed since the last
    /// renewal.
    async fn renew(&self) -> Result<()> {
        if !self.until_due().is_zero() {
            return Ok(());
        }
        match self.renewals.write(self.renewal()).await {
            Ok(()) => {
                *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                Ok(())
            }
            Err(BackendError::ConditionFailed) => Err(self.lost()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Where each of `segments` segments of an interrupted rotation
    /// stopped, or a fresh start (recorded) when none was interrupted or
    /// `restart` is asked.
    ///
    /// An interrupted rotation with another number of segments is refused:
    /// its checkpoints are keys of other segments.
    ///
    /// `targets` is the digest of the key-id choice of this run
    /// ([`targets`](super::targets)); an interrupted run that chose other
    /// key ids is not resumed (its finished segments may hold leaves that
    /// are stale now) but started again from the beginning.
    pub(crate) async fn resume(&self, segments: u32, restart: bool, targets: &str) -> Result<Vec<Checkpoint>> {
        let get = Get { table: self.table.clone(), key: key_item(STATE_KEY, &self.run_id()), projection: None, consistent: true };
        let run = self.env.backend.get(get).await.map_err(|e| self.error(e))?;
        let recorded = run.as_ref().and_then(|r| match r.get("segments") {
            Some(AttributeValue::N(v)) => v.parse::<u32>().ok(),
            _ => None,
        });
        // A record without a digest (an older run) is treated as another choice.
        let same_targets = matches!(run.as_ref().and_then(|r| r.get("targets")), Some(AttributeValue::S(t)) if t == targets);
        *self.targets.lock().unwrap_or_else(|p| p.into_inner()) = targets.to_owned();
        // The file is read only when the state table has no interrupted run.
        let mirrored = match (&self.mirror, recorded, restart) {
            (Some(mirror), None, false) => mirror.read(&self.scope, segments, targets)?,
            _ => None,
        };
        let restart = restart || !same_targets;
        match recorded {
            Some(before) if !restart && before != segments => Err(Error::new(
                ErrorKind::Config,
                format!("an interrupted rotation of this table ran {before} segments: resume it with {before} segments, or restart"),
            )
            .with_table(self.subject.as_str())),
            Some(before) if !restart => {
                let start = self.checkpoints(before).await?;
                if let Some(mirror) = &self.mirror {
                    mirror.start_from(&start);
                }
                Ok(start)
            }
            _ => {
                if let Some(before) = recorded {
                    self.clear(before).await?;
                }
                let item: Item = [
                    (STATE_KEY.to_owned(), s(&self.run_id())),
                    ("segments".to_owned(), n(u64::from(segments))),
                    ("targets".to_owned(), s(targets)),
                    ("owner".to_owned(), s(&self.owner)),
                    ("started".to_owned(), n(now_ms())),
                ]
                .into();
                self.env.backend.write(Write::Put { table: self.table.clone(), item, condition: None }).await.map_err(|e| self.error(e))?;
                let start = mirrored.unwrap_or_else(|| vec![Checkpoint::default(); segments as usize]);
                if let Some(mirror) = &self.mirror {
                    mirror.start_from(&start);
                }
                Ok(start)
            }
        }
    }

    async fn checkpoints(&self, segments: u32) -> Result<Vec<Checkpoint>> {
        let wanted: Vec<_> = (0..segments).map(|i| (self.table.clone(), STATE_KEY.to_owned(), self.checkpoint_id(i, segments))).collect();
        let mut found = batch_get_all(self.env.backend, self.env.policy, &wanted).await?;
        Ok(wanted
            .into_iter()
            .map(|(table, _, id)| match found.remove(&(table, id)) {
                None => Checkpoint::default(),
                Some(mut item) => Checkpoint {
                    last: match item.remove("last") {
                        Some(AttributeValue::M(last)) => Some(last),
                        _ => None,
                    },
                    done: matches!(item.get("done"), Some(AttributeValue::Bool(true))),
                },
            })
            .collect())
    }

    /// Records where a segment stopped, renewing the lease in the same
    /// transaction: a process that lost its lease moves no checkpoint.
    pub(crate) async fn checkpoint(&self, segment: u32, segments: u32, at: &Checkpoint) -> Result<()> {
        let mut item: Item = [
            (STATE_KEY.to_owned(), s(&self.checkpoint_id(segment, segments))),
            ("done".to_owned(), AttributeValue::Bool(at.done)),
            ("owner".to_owned(), s(&self.owner)),
        ]
        .into();
        if let Some(last) = &at.last {
            item.insert("last".to_owned(), AttributeValue::M(last.clone()));
        }
        let writes = vec![self.renewal(), Write::Put { table: self.table.clone(), item, condition: None }];
        match self.env.backend.transact_write(writes).await {
            Ok(()) => {
                *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                match &self.mirror {
                    Some(mirror) => {
                        let targets = self.targets.lock().unwrap_or_else(|p| p.into_inner()).clone();
                        mirror.write(&self.scope, segments, &targets, segment, at)
                    }
                    None => Ok(()),
                }
            }
            Err(BackendError::TransactionCanceled { reasons }) if cancelled(&reasons, &[true, false], CONDITION_FAILED).contains(&true) => {
                Err(self.lost())
            }
            Err(e) => Err(self.error(e)),
        }
    }

    /// Deletes the checkpoints and the run record of a rotation of
    /// `segments` segments.
    async fn clear(&self, segments: u32) -> Result<()> {
        let ids = (0..segments).map(|i| self.checkpoint_id(i, segments)).chain([self.run_id()]);
        for id in ids {
            let delete = Write::Delete { table: self.table.clone(), key: key_item(STATE_KEY, &id), condition: None };
            self.env.backend.write(delete).await.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Ends a finished rotation: its checkpoints and run record go, and so
    /// does the lease.
    pub(crate) async fn finish(&self, segments: u32) -> Result<()> {
        self.clear(segments).await?;
        if let Some(mirror) = &self.mirror {
            mirror.remove()?;
        }
        self.release().await
    }

    /// Gives the lease back, if it is still ours.
    pub(crate) async fn release(&self) -> Result<()> {
        let delete = Write::Delete { table: self.table.clone(), key: key_item(STATE_KEY, &self.lease_id()), condition: Some(self.ours()) };
        match self.env.backend.write(delete).await {
            Ok(()) | Err(BackendError::ConditionFailed) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }
}
