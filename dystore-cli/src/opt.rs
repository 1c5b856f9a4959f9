//! The command line.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Done: nothing failed (and a key id to retire is used by no leaf).
pub(crate) const EXIT_OK: u8 = 0;
/// The run ended, and reported failures (or the key id to retire is still used).
pub(crate) const EXIT_FAILURES: u8 = 1;
/// The command line or the keyring is wrong: nothing was run.
pub(crate) const EXIT_USAGE: u8 = 2;
/// The run could not start or stopped (lease held, table missing, backend unreachable).
pub(crate) const EXIT_FAILED: u8 = 3;

/// Plans, runs and verifies key rotations of dystore tables.
///
/// Keys come from a keyring file (`--keys FILE`) or from the environment
/// variable DYSTORE_KEYS holding the same JSON, never from the command line;
/// docs/ROTATION.md gives the format. Exit codes: 0 done, 1 failures
/// reported (or the key id to retire is still used), 2 usage, 3 the run
/// could not start or stopped.
#[derive(Debug, Parser)]
#[command(name = "dystore", version)]
pub(crate) struct Opt {
    #[command(flatten)]
    pub(crate) connect: Connect,

    /// The keyring file (JSON: keys, legacy key strings, rules, default);
    /// without it, the JSON in the environment variable DYSTORE_KEYS.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) keys: Option<PathBuf>,

    /// Print one JSON report on stdout (progress goes to stderr as plain lines).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the tables are: DynamoDB as aws-config finds it, an HTTP endpoint,
/// or a dynoxide database file.
#[derive(Debug, Args)]
pub(crate) struct Connect {
    /// A DynamoDB-compatible endpoint, e.g. http://127.0.0.1:8000 (credentials from the usual AWS variables).
    #[arg(long, global = true, value_name = "URL", conflicts_with = "embedded")]
    pub(crate) endpoint: Option<String>,

    /// The AWS region (default: as aws-config finds it; us-east-1 with --endpoint).
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,

    /// A dynoxide database file (SQLite), opened with the embedded engine.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) embedded: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Count, per key id, the objects and leaves using it and how many are stale; write nothing.
    #[command(alias = "inspect")]
    Plan(Scope),
    /// Re-encrypt every object with a stale leaf, resuming an interrupted rotation.
    Rotate(RotateOpt),
    /// Decrypt every encrypted leaf and report what fails; write nothing.
    Verify(VerifyOpt),
}

/// What to scan, and how fast.
#[derive(Debug, Args)]
pub(crate) struct Scope {
    /// The root table of the objects.
    #[arg(long)]
    pub(crate) table: String,

    /// Its key attribute (default: read from the table's key schema).
    #[arg(long, value_name = "NAME")]
    pub(crate) key_name: Option<String>,

    /// Parallel scan segments, run side by side (1 to 1,000).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(dystore::rotate::MAX_SEGMENTS)))]
    pub(crate) segments: u32,

    /// At most this many read capacity units per second, on average.
    #[arg(long, value_name = "RCU")]
    pub(crate) max_rcu: Option<f64>,

    /// At most this many write capacity units per second, on average.
    #[arg(long, value_name = "WCU")]
    pub(crate) max_wcu: Option<f64>,

    /// The window those averages are taken over, in seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub(crate) window: f64,

    /// Items per Scan page (a rotation checkpoints after each).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) page_size: u32,
}

#[derive(Debug, Args)]
pub(crate) struct RotateOpt {
    #[command(flatten)]
    pub(crate) scope: Scope,

    /// Only count what would be rotated (the same as `plan`).
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// The table holding the lease and the checkpoints (created if absent).
    #[arg(long, default_value = dystore::rotate::DEFAULT_STATE_TABLE, value_name = "TABLE")]
    pub(crate) state_table: String,

    /// The name the lease is held under (default: this process's own); a run
    /// under the name of an interrupted one takes its lease over at once.
    #[arg(long)]
    pub(crate) owner: Option<String>,

    /// Seconds the lease lasts unless renewed.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub(crate) lease_ttl: u64,

    /// Take the lease even if another rotation holds it (only for a run known to be dead).
    #[arg(long)]
    pub(crate) force: bool,

    /// Ignore the checkpoints of an interrupted rotation and start over.
    #[arg(long)]
    pub(crate) restart: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyOpt {
    #[command(flatten)]
    pub(crate) scope: Scope,

    /// Pass only if no leaf uses this key id any more (the check before destroying the key).
    #[arg(long, value_name = "KEY_ID")]
    pub(crate) retire: Option<String>,
}
