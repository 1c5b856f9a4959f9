//! Wallets: users with balances, and many tasks at once moving money between
//! them (16 tasks × 50 transfers by default), on the embedded engine with a
//! multi-threaded runtime. No money is lost or created, no balance goes
//! below zero, and a task that crashes halfway through a transfer leaves
//! nothing a restart cannot finish. Prints the final balances, their total
//! (the starting total), the transfers refused for want of money, the saves
//! that lost a race and were retried, and the capacity used; exits nonzero
//! if an invariant does not hold.
//!
//! `cargo run --example wallet [tasks] [transfers per task]`
//!
//! # Design
//!
//! A transfer changes two wallets, and dystore saves one object atomically,
//! never two. So a transfer is a ledger entry and steps that are each one
//! atomic save, and each safe to run again:
//!
//! 1. Book: the entry (`Transfer`: payer, payee, amount, state `Pending`) is
//!    inserted with `create` before any money moves, so that a transfer is
//!    never booked twice and a crash leaves a record of what to finish.
//! 2. Pay: the payer's wallet is debited if its balance covers the amount.
//!    Otherwise the transfer is refused: nothing is written to the wallet
//!    and the entry becomes `Refused`.
//! 3. Receive: the payee's wallet is credited, and the entry becomes `Done`.
//!
//! Wallets change under optimistic locking: `load_versioned`, the change,
//! `save_versioned`, and again from a fresh load when another task saved the
//! wallet in between (`Conflict`). So a debit is checked against the very
//! balance it is saved over, and no two tasks spend the same money.
//!
//! Each wallet records, in the same save as the money, the transfers it
//! paid and received, so that a step run again (after a crash, or a lost
//! answer) is recognised and skipped. It records them per worker, as the
//! sequence number of the last one: a worker books its transfers one after
//! another and settles each before booking the next, and a restart settles
//! every pending entry (at most one per worker) before the workers go on.
//! So "this number or a later one" means "applied", and the record stays
//! one number per worker instead of growing by one id per transfer forever.
//!
//! Between steps 2 and 3 the money is in flight: out of the payer's balance
//! and in a pending entry. A transfer is all-or-nothing once settled, not
//! isolated while it runs: at every moment the balances plus the pending
//! paid amounts make the starting total, and the balances alone do once
//! nothing is pending. The example checks both, after crashing some tasks
//! mid-transfer and settling their entries as a restart would, and
//! recomputes every balance from the ledger.
//!
//! Keeping every balance in one object would make each transfer a single
//! versioned save, atomic and isolated, with no ledger: the right design
//! for a few accounts that change together (a household's), but it puts
//! every transfer of every user behind one item, one writer at a time.

use dystore::usage::Usage;
use dystore::{Client, DyObject, Result};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The users; each starts with the same balance.
const USERS: [&str; 8] = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

/// Attempts at one wallet change before its `Conflict` is given up on.
const ATTEMPTS: u32 = 100;

/// The longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// A user's money.
#[derive(Debug, Clone, Serialize, Deserialize, DyObject)]
#[dystore(table = "Wallets", key = "User")]
struct Wallet {
    #[dystore(pk)]
    user: String,
    balance: i64,
    /// Per worker, the sequence number of the last transfer paid from here.
    paid: BTreeMap<String, u64>,
    /// Per worker, the sequence number of the last transfer received here.
    received: BTreeMap<String, u64>,
}

/// A ledger entry: one transfer, booked before any money moves.
#[derive(Debug, Clone, Serialize, Deserialize, DyObject)]
#[dystore(table = "Transfers", key = "ID")]
struct Transfer {
    /// `w03-000017`: worker 3's 17th transfer.
    #[dystore(pk)]
    id: String,
    worker: String,
    seq: u64,
    from: String,
    to: String,
    amount: i64,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum State {
    Pending,
    Refused,
    Done,
}

/// What a step did to a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Changed it: to be saved.
    Applied,
    /// Found it applied already (the step ran before a crash): nothing to save.
    Already,
    /// Found too little money: nothing to save.
    Refused,
}

impl Wallet {
    /// Step 2 of `t`.
    fn pay(&mut self, t: &Transfer) -> Step {
        if self.paid.get(&t.worker) >= Some(&t.seq) {
            return Step::Already;
        }
        if self.balance < t.amount {
            return Step::Refused;
        }
        self.balance -= t.amount;
        self.paid.insert(t.worker.clone(), t.seq);
        Step::Applied
    }

    /// Step 3 of `t`.
    fn receive(&mut self, t: &Transfer) -> Step {
        if self.received.get(&t.worker) >= Some(&t.seq) {
            return Step::Already;
        }
        self.balance += t.amount;
        self.received.insert(t.worker.clone(), t.seq);
        Step::Applied
    }
}

/// The figures of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) tasks: usize,
    pub(crate) transfers: u64,
    /// Every user's starting balance.
    pub(crate) balance: i64,
    /// Amounts are drawn from 1 to this.
    pub(crate) max_amount: i64,
    /// The chance, per transfer, that its task crashes right after paying.
    pub(crate) crash_rate: f64,
    pub(crate) seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { tasks: 16, transfers: 50, balance: 1_000, max_amount: 300, crash_rate: 1.0 / 200.0, seed: 15 }
    }
}

/// What a run did, and what it found at the end.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) settings: Settings,
    /// Final balances, by user.
    pub(crate) balances: BTreeMap<String, i64>,
    pub(crate) done: usize,
    pub(crate) refused: usize,
    /// Entries still pending after the restart (none, if all is well).
    pub(crate) pending: usize,
    /// Saves of a wallet that lost a race and were made again.
    pub(crate) conflicts: u64,
    /// Tasks that crashed mid-transfer.
    pub(crate) crashed: usize,
    /// The balances' total when every task had stopped, before the restart.
    pub(crate) stopped_total: i64,
    /// The money paid but not yet received at that point.
    pub(crate) in_flight: i64,
    /// Pending entries the restart settled.
    pub(crate) recovered: usize,
    /// Users whose balance is not the one the ledger gives: (user, ledger's, wallet's).
    pub(crate) ledger_mismatches: Vec<(String, i64, i64)>,
    pub(crate) usage: Usage,
    pub(crate) elapsed: Duration,
}

impl Report {
    pub(crate) fn start_total(&self) -> i64 {
        self.settings.balance * USERS.len() as i64
    }

    pub(crate) fn total(&self) -> i64 {
        self.balances.values().sum()
    }

    /// Every invariant that does not hold, in words.
    pub(crate) fn violations(&self) -> Vec<String> {
        let mut found = Vec::new();
        if self.total() != self.start_total() {
            found.push(format!("the balances make {}, not {}", self.total(), self.start_total()));
        }
        if self.stopped_total + self.in_flight != self.start_total() {
            found.push(format!("after the crashes, {} + {} in flight is not {}", self.stopped_total, self.in_flight, self.start_total()));
        }
        found.extend(self.balances.iter().filter(|(_, b)| **b < 0).map(|(user, b)| format!("{user} has {b}")));
        if self.pending > 0 {
            found.push(format!("{} transfers are still pending", self.pending));
        }
        if self.recovered != self.crashed {
            found.push(format!("{} tasks crashed but {} transfers were recovered", self.crashed, self.recovered));
        }
        found.extend(self.ledger_mismatches.iter().map(|(user, ledger, wallet)| format!("{user} has {wallet}, the ledger says {ledger}")));
        found
    }
}

/// The wallets and the ledger of one client, with the conflicts met.
struct Bank {
    db: Client,
    conflicts: AtomicU64,
}

impl Bank {
    /// Runs `step` on the wallet of `user` under optimistic locking, saving
    /// only what it changed; returns what it did.
    ///
    /// `Client::update` would retry for us, but it saves whatever its closure
    /// leaves, so a refused debit would cost a write (and a conflict for the
    /// other tasks), and it does not say how often it retried.
    async fn change(&self, user: &str, step: impl Fn(&mut Wallet) -> Step) -> Result<Step> {
        let mut pause = Duration::from_micros(200);
        let mut attempt = 1;
        loop {
            let mut read = self.db.load_versioned::<Wallet>(user).await?;
            let did = step(&mut read.value);
            if did != Step::Applied {
                return Ok(did);
            }
            match self.db.save_versioned(&read).await {
                Ok(_) => return Ok(did),
                Err(e) if e.is_conflict() && attempt < ATTEMPTS => {
                    self.conflicts.fetch_add(1, Ordering::Relaxed);
                    // Jittered and growing, so that the tasks that met do not meet again at once.
                    tokio::time::sleep(pause.mul_f64(fastrand::f64())).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Step 1: transfer `seq` of `worker` entered in the ledger.
    async fn book(&self, worker: &str, seq: u64, (from, to): (&str, &str), amount: i64) -> Result<Transfer> {
        let t = Transfer {
            id: format!("{worker}-{seq:06}"),
            worker: worker.to_owned(),
            seq,
            from: from.to_owned(),
            to: to.to_owned(),
            amount,
            state: State::Pending,
        };
        self.db.create(&t).await?;
        Ok(t)
    }

    /// Steps 2 and 3 of a booked transfer, and its entry's final state; on
    /// an entry left pending by a crash, it finishes the transfer.
    async fn settle(&self, t: &mut Transfer) -> Result<()> {
        let paid = self.change(&t.from, |w| w.pay(t)).await?;
        t.state = if paid == Step::Refused {
            State::Refused
        } else {
            self.change(&t.to, |w| w.receive(t)).await?;
            State::Done
        };
        self.db.save(&*t).await.map(drop)
    }

    /// One worker's transfers between random users; true if it crashed.
    async fn work(&self, worker: &str, settings: Settings, mut rng: fastrand::Rng) -> Result<bool> {
        for seq in 1..=settings.transfers {
            let from = rng.usize(..USERS.len());
            let to = (from + rng.usize(1..USERS.len())) % USERS.len();
            let amount = rng.i64(1..=settings.max_amount);
            let mut t = self.book(worker, seq, (USERS[from], USERS[to]), amount).await?;
            if rng.f64() < settings.crash_rate {
                // The task dies after paying (or finding too little money),
                // before the payee is credited and the entry updated.
                self.change(&t.from, |w| w.pay(&t)).await?;
                return Ok(true);
            }
            self.settle(&mut t).await?;
        }
        Ok(false)
    }

    /// Every ledger entry.
    async fn ledger(&self) -> Result<Vec<Transfer>> {
        self.db.list::<Transfer>().try_collect().await
    }

    /// Every wallet, by user.
    async fn wallets(&self) -> Result<BTreeMap<String, Wallet>> {
        let loaded = self.db.load_many::<Wallet, _>(USERS).await;
        loaded.into_iter().map(|w| w.map(|w| (w.user.clone(), w))).collect()
    }

    /// The entries left pending: at most one per worker, once the workers
    /// have stopped.
    async fn pending(&self) -> Result<Vec<Transfer>> {
        Ok(self.ledger().await?.into_iter().filter(|t| t.state == State::Pending).collect())
    }

    /// The balances' total, and the money `pending` entries have paid.
    async fn snapshot(&self, pending: &[Transfer]) -> Result<(i64, i64)> {
        let wallets = self.wallets().await?;
        let total = wallets.values().map(|w| w.balance).sum();
        let in_flight = pending.iter().filter(|t| wallets[&t.from].paid.get(&t.worker) >= Some(&t.seq)).map(|t| t.amount).sum();
        Ok((total, in_flight))
    }
}

/// Opens the wallets, runs the workers, crashes some, restarts, and checks.
pub(crate) async fn run(settings: Settings) -> Result<Report> {
    let started = Instant::now();
    let db = Client::memory()?;
    db.create_tables::<Wallet>().await?;
    db.create_tables::<Transfer>().await?;
    let wallets: Vec<Wallet> = USERS
        .iter()
        .map(|user| Wallet { user: (*user).to_owned(), balance: settings.balance, paid: BTreeMap::new(), received: BTreeMap::new() })
        .collect();
    db.save_many(&wallets).await.into_iter().collect::<Result<Vec<_>>>()?;

    let bank = Arc::new(Bank { db, conflicts: AtomicU64::new(0) });
    let workers: Vec<_> = (0..settings.tasks)
        .map(|task| {
            let bank = bank.clone();
            let rng = fastrand::Rng::with_seed(settings.seed.wrapping_add(task as u64));
            tokio::spawn(async move { bank.work(&format!("w{task:02}"), settings, rng).await })
        })
        .collect();
    let mut crashed = 0;
    for worker in workers {
        crashed += usize::from(worker.await.expect("the worker panicked")?);
    }

    // What a restart does before the workers go on: settle every pending entry.
    let mut pending = bank.pending().await?;
    let stopped = bank.snapshot(&pending).await?;
    for t in &mut pending {
        bank.settle(t).await?;
    }
    finish(&bank, settings, crashed, stopped, pending.len(), started).await
}

/// The report: final balances, the ledger's counts, and each balance
/// recomputed from the ledger.
async fn finish(
    bank: &Bank,
    settings: Settings,
    crashed: usize,
    stopped: (i64, i64),
    recovered: usize,
    started: Instant,
) -> Result<Report> {
    let balances: BTreeMap<String, i64> = bank.wallets().await?.into_iter().map(|(user, w)| (user, w.balance)).collect();
    let ledger = bank.ledger().await?;
    let count = |state: State| ledger.iter().filter(|t| t.state == state).count();
    let mut from_ledger: BTreeMap<&str, i64> = USERS.iter().map(|u| (*u, settings.balance)).collect();
    for t in ledger.iter().filter(|t| t.state == State::Done) {
        *from_ledger.entry(t.from.as_str()).or_default() -= t.amount;
        *from_ledger.entry(t.to.as_str()).or_default() += t.amount;
    }
    let ledger_mismatches = from_ledger
        .into_iter()
        .filter(|(user, expected)| balances.get(*user) != Some(expected))
        .map(|(user, expected)| (user.to_owned(), expected, balances.get(user).copied().unwrap_or_default()))
        .collect();
    Ok(Report {
        settings,
        done: count(State::Done),
        refused: count(State::Refused),
        pending: count(State::Pending),
        balances,
        conflicts: bank.conflicts.load(Ordering::Relaxed),
        crashed,
        stopped_total: stopped.0,
        in_flight: stopped.1,
        recovered,
        ledger_mismatches,
        usage: bank.db.usage(),
        elapsed: started.elapsed(),
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("a number"));
    let defaults = Settings::default();
    let tasks = args.next().map_or(defaults.tasks, |n| n as usize);
    let settings = Settings { tasks, transfers: args.next().unwrap_or(defaults.transfers), ..defaults };
    let report = run(settings).await?;
    print(&report);
    let violations = report.violations();
    for violation in &violations {
        eprintln!("violated: {violation}");
    }
    if !violations.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

fn print(r: &Report) {
    let s = r.settings;
    println!("wallets              {} × {} = {}", USERS.len(), s.balance, r.start_total());
    println!("transfers            {} tasks × up to {}: {} done, {} refused (balance too low)", s.tasks, s.transfers, r.done, r.refused);
    println!("conflicts retried    {} wallet saves lost a race and were made again", r.conflicts);
    println!(
        "crashed tasks        {}, stopped mid-transfer: balances {} + {} in flight = {}",
        r.crashed,
        r.stopped_total,
        r.in_flight,
        r.stopped_total + r.in_flight
    );
    println!("restart              {} pending transfers settled", r.recovered);
    let balances: Vec<String> = r.balances.iter().map(|(user, b)| format!("{user} {b}")).collect();
    println!("final balances       {}", balances.join(", "));
    println!("total                {} (started with {})", r.total(), r.start_total());
    let agrees = if r.ledger_mismatches.is_empty() { "agrees with every balance" } else { "DISAGREES" };
    println!("ledger               {agrees}");
    println!("capacity             {} requests ({})", r.usage.requests, r.usage.consumed);
    println!("elapsed              {:.1?}", r.elapsed);
}
