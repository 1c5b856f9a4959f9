//! The command line.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    #[arg(long, global = true, value_name = "URL", conflicts_with = "embedded", value_parser = endpoint)]
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
    #[arg(long, default_value_t = 1, value_parser = segments, allow_negative_numbers = true)]
    pub(crate) segments: u32,

    /// This machine's share of the table: scan segment I (0 to N-1) of --of N, with its own lease and checkpoints.
    #[arg(long, value_name = "I", requires = "of", conflicts_with = "segments", value_parser = share_index, allow_negative_numbers = true)]
    pub(crate) segment: Option<u32>,

    /// How many shares the table is split into (1 to 1,000,000), with --segment.
    #[arg(long, value_name = "N", requires = "segment", value_parser = share_count, allow_negative_numbers = true)]
    pub(crate) of: Option<u32>,

    /// At most this many read capacity units per second, on average (omit for no limit).
    #[arg(long, value_name = "RCU", value_parser = units_per_second, allow_negative_numbers = true)]
    pub(crate) max_rcu: Option<f64>,

    /// At most this many write capacity units per second, on average (omit for no limit).
    #[arg(long, value_name = "WCU", value_parser = units_per_second, allow_negative_numbers = true)]
    pub(crate) max_wcu: Option<f64>,

    /// The longest burst, in seconds (0.1 to 3,600): the limits times this may be spent at once.
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = window, allow_negative_numbers = true)]
    pub(crate) window: Duration,

    /// Items per Scan page, 1 to 1,000 (a rotation checkpoints after each).
    #[arg(long, default_value_t = 100, value_parser = page_size, allow_negative_numbers = true)]
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

    /// Seconds the lease lasts unless renewed (1 to 86,400).
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = lease_ttl, allow_negative_numbers = true)]
    pub(crate) lease_ttl: u64,

    /// Take the lease even if another rotation holds it (only for a run known to be dead).
    #[arg(long)]
    pub(crate) force: bool,

    /// Ignore the checkpoints of an interrupted rotation and start over.
    #[arg(long)]
    pub(crate) restart: bool,

    /// Mirror the checkpoints in this file too, and resume from it when the state table has none.
    #[arg(long, value_name = "FILE")]
    pub(crate) checkpoint: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyOpt {
    #[command(flatten)]
    pub(crate) scope: Scope,

    /// Pass only if no leaf uses this key id any more (the check before destroying the key).
    #[arg(long, value_name = "KEY_ID")]
    pub(crate) retire: Option<String>,
}

/// The longest lease, in seconds: a day. A crashed run's lease blocks the
/// table's rotations that long.
const MAX_LEASE_TTL: u64 = 86_400;

// Value parsers. Their messages never quote the value: it may be key
// material pasted in the wrong place.

/// The smallest `--max-rcu` / `--max-wcu`: below it a run would wait
/// hours per object without a word (`1e-300` would never end).
pub(crate) const MIN_UNITS_PER_SECOND: f64 = 0.1;

/// `--max-rcu`, `--max-wcu`: a finite rate of at least [`MIN_UNITS_PER_SECOND`].
fn units_per_second(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(units) if units.is_finite() && units >= MIN_UNITS_PER_SECOND => Ok(units),
        _ => Err(format!("expected a number of capacity units per second of at least {MIN_UNITS_PER_SECOND}; omit the flag for no limit")),
    }
}

/// `--endpoint`: an `http://` or `https://` URL with a host, checked
/// before anything runs (the SDK would retry a malformed one for seconds).
fn endpoint(text: &str) -> Result<String, String> {
    let rest = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    let valid =
        host.is_some_and(|h| !h.is_empty() && !h.starts_with(':') && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c)));
    let tail_ok = !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid && tail_ok {
        Ok(text.to_owned())
    } else {
        Err("expected an http:// or https:// URL with a host, e.g. http://localhost:8000".into())
    }
}

/// `--window`: 0.1 to 3,600 seconds.
fn window(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(secs) if (0.1..=3600.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err("expected a number of seconds from 0.1 to 3600".into()),
    }
}

/// A whole number from `min` to `max`.
fn whole(text: &str, min: u64, max: u64) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// `--segments`: 1 to [`dystore::rotate::MAX_SEGMENTS`].
fn segments(text: &str) -> Result<u32, String> {
    whole(text, 1, u64::from(dystore::rotate::MAX_SEGMENTS)).map(|n| n as u32)
}

/// `--segment`: 0 to 999,999 (checked against `--of` by the library).
fn share_index(text: &str) -> Result<u32, String> {
    whole(text, 0, 999_999).map(|n| n as u32)
}

/// `--of`: 1 to 1,000,000 (DynamoDB's limit on total segments).
fn share_count(text: &str) -> Result<u32, String> {
    whole(text, 1, 1_000_000).map(|n| n as u32)
}

/// `--page-size`: 1 to 1,000.
fn page_size(text: &str) -> Result<u32, String> {
    whole(text, 1, 1000).map(|n| n as u32)
}

/// `--lease-ttl`: 1 second to [`MAX_LEASE_TTL`].
fn lease_ttl(text: &str) -> Result<u64, String> {
    whole(text, 1, MAX_LEASE_TTL)
}

/// Prints a command-line error and gives its exit code. An error that
/// would quote what was typed (an unexpected argument, a bad value) is
/// printed without it: it may be key material pasted in the wrong place.
pub(crate) fn refused(e: &clap::Error) -> ExitCode {
    match quiet(e) {
        Some(message) => {
            eprintln!("error: {message}\n\nFor more information, try '--help'.");
            ExitCode::from(EXIT_USAGE)
        }
        // Help, version, missing or conflicting flags: nothing typed is quoted.
        None => {
            let _ = e.print();
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE))
        }
    }
}

/// The message for an error that quotes input, without the input.
fn quiet(e: &clap::Error) -> Option<String> {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(text)) => Some(text.as_str()),
        _ => None,
    };
    match e.kind() {
        ErrorKind::UnknownArgument | ErrorKind::InvalidSubcommand => {
            let typed = context(ContextKind::InvalidArg).or_else(|| context(ContextKind::InvalidSubcommand));
            Some(match typed.filter(|t| is_flag(t)) {
                Some(flag) => format!("unexpected argument '{flag}'"),
                None => "an unexpected argument (not shown: it may be key material; keys go in --keys FILE or DYSTORE_KEYS)".into(),
            })
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues => {
            let arg = context(ContextKind::InvalidArg).unwrap_or("an argument");
            // Our parsers' messages quote nothing; clap's own are left out.
            let why = match e.kind() {
                ErrorKind::ValueValidation => std::error::Error::source(e).map(|s| format!(": {s}")).unwrap_or_default(),
                _ => String::new(),
            };
            Some(format!("invalid value for '{arg}' (not shown){why}"))
        }
        _ => None,
    }
}

/// Whether an unexpected argument is a flag's name (`--frobnicate`), which
/// is safe to show, rather than a value.
fn is_flag(typed: &str) -> bool {
    typed.len() <= 64
        && typed.strip_prefix('-').is_some_and(|rest| {
            let name = rest.strip_prefix('-').unwrap_or(rest);
            name.starts_with(|c: char| c.is_ascii_alphabetic()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_an_http_url() {
        for good in ["http://127.0.0.1:8000", "https://dynamodb.us-east-1.amazonaws.com", "http://[::1]:8000/", "http://localhost"] {
            assert_eq!(endpoint(good).as_deref(), Ok(good));
        }
        for bad in ["not a url", "127.0.0.1:9999", "ftp:", "http://:80", "ftp://host", "http://ho st", "http://host/ x", "AQEBAQEB"] {
            let e = endpoint(bad).unwrap_err();
            assert!(endpoint("http://").is_err());
            assert!(!e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn every_number_is_checked_and_never_quoted() {
        for bad in ["nan", "inf", "-1", "0", "1e400", "AQEBAQEB"] {
            assert!(units_per_second(bad).is_err(), "{bad}");
            // ("0" is in the message's "0.1" itself)
            assert!(bad == "0" || !units_per_second(bad).unwrap_err().contains(bad), "{bad}");
        }
        assert_eq!(units_per_second("2.5"), Ok(2.5));
        for tiny in ["1e-300", "0.09", "5e-324"] {
            assert!(units_per_second(tiny).is_err(), "{tiny}: a budget that small would never end");
        }
        assert_eq!(units_per_second("0.1"), Ok(0.1));
        for bad in ["nan", "inf", "0", "0.05", "3601", "-5"] {
            assert!(window(bad).is_err(), "{bad}");
        }
        assert_eq!(window("1.5"), Ok(Duration::from_millis(1500)));
        assert!(lease_ttl("18446744073709551").is_err() && lease_ttl("0").is_err());
        assert_eq!((lease_ttl("86400"), segments("1000"), page_size("1000")), (Ok(86_400), Ok(1000), Ok(1000)));
        assert!(segments("1001").is_err() && page_size("0").is_err());
    }

    #[test]
    fn only_flag_names_are_shown() {
        assert!(is_flag("--frobnicate") && is_flag("-x"));
        assert!(!is_flag("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=") && !is_flag("--keys=AQEB") && !is_flag("-"));
    }
}
