//! The subcommands, each a function over `dystore::rotate`, and the
//! progress shown while they run.

use crate::opt::{Command, EXIT_FAILED, EXIT_FAILURES, EXIT_OK, EXIT_USAGE, Opt, RotateOpt, Scope};
use crate::{connect, keys, output};
use anyhow::{Context, Result};
use dystore::rotate::{Budget, Progress, Report, Rotation};
use dystore::{Client, Store};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Runs the command line's subcommand; the exit code says how it went.
pub(crate) async fn main(opt: Opt) -> ExitCode {
    let keyring = match keys::load(opt.keys.as_deref()) {
        Ok(keyring) => keyring,
        Err(e) => return fail_as(EXIT_USAGE, &e, opt.json),
    };
    let report = async {
        let client = connect::client(&opt.connect).await?.with_loader(keyring);
        run(&client, &opt).await
    };
    match report.await {
        Ok(report) => {
            let code = if report.ok() { EXIT_OK } else { EXIT_FAILURES };
            match output::print(&report, opt.json) {
                Ok(()) => ExitCode::from(code),
                // The reader stopped reading (`| head`): the run's own outcome, quietly.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(code),
                Err(e) => fail(EXIT_FAILED, &anyhow::Error::new(e).context("cannot write the report on stdout")),
            }
        }
        Err(e) => fail_as(exit_code(&e), &e, opt.json),
    }
}

/// The exit code for a run that could not start or stopped: a mistake in
/// what was asked (`Config`: a key id to retire nobody has, another number
/// of segments than the interrupted run's, a table or key attribute name
/// DynamoDB would refuse) is a usage error.
fn exit_code(e: &anyhow::Error) -> u8 {
    match e.chain().find_map(|cause| cause.downcast_ref::<dystore::Error>()).map(dystore::Error::kind) {
        Some(dystore::ErrorKind::Config | dystore::ErrorKind::InvalidTableName | dystore::ErrorKind::InvalidKey) => EXIT_USAGE,
        _ => EXIT_FAILED,
    }
}

/// As [`fail`], and with `json` the error also as a JSON document on stdout.
fn fail_as(code: u8, e: &anyhow::Error, json: bool) -> ExitCode {
    if json {
        let kind = e.chain().find_map(|cause| cause.downcast_ref::<dystore::Error>()).map(dystore::Error::kind);
        output::print_error(kind, &format!("{e:#}"), code);
    }
    fail(code, e)
}

/// Prints `e` with its causes on stderr and gives `code`.
pub(crate) fn fail(code: u8, e: &anyhow::Error) -> ExitCode {
    // Messages name tables, keys, owners and paths read from data: escaped.
    // A closed stderr leaves the exit code to say it.
    let _ = writeln!(std::io::stderr(), "dystore: {}", output::printable(&format!("{e:#}")));
    ExitCode::from(code)
}

async fn run(client: &Client, opt: &Opt) -> Result<Report> {
    let scope = match &opt.command {
        Command::Plan(scope) => scope,
        Command::Rotate(rotate) => &rotate.scope,
        Command::Verify(verify) => &verify.scope,
    };
    // The names as typed are checked before any request, as the library
    // checks a layout: a name DynamoDB would refuse is a usage error.
    let placeholder = scope.key_name.clone().unwrap_or_else(|| "key".to_owned());
    Store::new(scope.table.clone(), placeholder).layout().validate()?;
    let key_name = match &scope.key_name {
        Some(name) => name.clone(),
        None => connect::key_name(client, &scope.table).await?,
    };
    let store = Store::new(scope.table.clone(), key_name);
    let shown = Shown::new(opt.json);
    let rotation = configure(Rotation::new(client, store.layout()), scope).on_progress(|p| shown.show(p));
    let report = match &opt.command {
        Command::Plan(_) => rotation.plan().await,
        Command::Rotate(r) if r.dry_run => rotation.plan().await,
        Command::Rotate(r) => lease(rotation, r).rotate().await,
        Command::Verify(v) => rotation.verify(v.retire.as_deref()).await,
    };
    shown.done();
    report.with_context(|| format!("the run over `{}` stopped", scope.table))
}

fn configure<'a>(rotation: Rotation<'a>, scope: &Scope) -> Rotation<'a> {
    let mut budget = Budget::unlimited().window(scope.window);
    if let Some(rcu) = scope.max_rcu {
        budget = budget.max_rcu(rcu);
    }
    if let Some(wcu) = scope.max_wcu {
        budget = budget.max_wcu(wcu);
    }
    let rotation = rotation.segments(scope.segments).page_size(scope.page_size).budget(budget);
    match (scope.segment, scope.of) {
        (Some(i), Some(n)) => rotation.share(i, n),
        _ => rotation,
    }
}

fn lease<'a>(rotation: Rotation<'a>, opt: &RotateOpt) -> Rotation<'a> {
    let rotation =
        rotation.state_table(opt.state_table.clone()).lease_ttl(Duration::from_secs(opt.lease_ttl)).force(opt.force).restart(opt.restart);
    let rotation = match &opt.checkpoint {
        Some(file) => rotation.checkpoint_file(file.clone()),
        None => rotation,
    };
    match &opt.owner {
        Some(owner) => rotation.owner(owner.clone()),
        None => rotation,
    }
}

/// Progress on stderr: a bar with the rate on a terminal, else a plain
/// line every ten seconds.
struct Shown {
    bar: Option<ProgressBar>,
    last_line: Mutex<Instant>,
}

impl Shown {
    fn new(json: bool) -> Self {
        let terminal = std::io::stderr().is_terminal() && !json;
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {elapsed_precise} {pos} objects ({per_sec}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Shown { bar, last_line: Mutex::new(Instant::now()) }
    }

    fn show(&self, p: &Progress) {
        let message = format!(
            "rotated {} current {} conflicts {} failed {} segments {}/{}{}",
            p.rotated,
            p.current,
            p.conflicts,
            p.failed,
            p.segments_done,
            p.segments,
            eta(p)
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(p.objects);
                bar.set_message(message);
            }
            None => {
                let mut last = self.last_line.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if last.elapsed() >= Duration::from_secs(10) {
                    *last = Instant::now();
                    let line = format!("{:.0} s: {} objects, {message}", p.elapsed.as_secs_f64(), p.objects);
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            }
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The estimated time left, once the run has an estimate of its size
/// (after its first segment scanned whole: `Progress::estimated_objects`):
/// ", about 3m20s left of ~12000 objects"; empty before.
fn eta(p: &Progress) -> String {
    let (Some(total), secs) = (p.estimated_objects, p.elapsed.as_secs_f64()) else { return String::new() };
    if p.objects == 0 || secs <= 0.0 {
        return String::new();
    }
    let left = total.saturating_sub(p.objects) as f64 / (p.objects as f64 / secs);
    let left = left.round() as u64;
    let shown = if left >= 3600 { format!("{}h{:02}m", left / 3600, left % 3600 / 60) } else { format!("{}m{:02}s", left / 60, left % 60) };
    format!(", about {shown} left of ~{total} objects")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(objects: u64, estimated: Option<u64>, secs: u64) -> Progress {
        Progress {
            segments: 4,
            segments_done: 1,
            objects,
            estimated_objects: estimated,
            rotated: 0,
            current: 0,
            conflicts: 0,
            failed: 0,
            elapsed: Duration::from_secs(secs),
        }
    }

    #[test]
    fn the_eta_follows_the_rate_once_there_is_an_estimate() {
        assert_eq!(eta(&progress(100, None, 10)), "", "no estimate yet: no ETA");
        assert_eq!(eta(&progress(1000, Some(4000), 100)), ", about 5m00s left of ~4000 objects");
        assert_eq!(eta(&progress(10, Some(400_000), 10)), ", about 111h06m left of ~400000 objects");
        assert_eq!(eta(&progress(0, Some(400), 0)), "");
    }
}
