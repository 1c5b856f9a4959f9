//! The command line and the whole report: each section on each target, in
//! the order asked. `examples/bench` runs it with the command line's
//! figures; `tests/bench.rs` with tiny ones, to read the report back.

use super::memory::{self, Figures, Object, Variant};
use super::reference::{Bench, Op, Side};
use super::target::Target;
use super::{Out, Result, concurrency, growth, latency};
use std::process::Command;
use std::time::Duration;

/// The command line, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) sections: Vec<String>,
    pub(crate) targets: Vec<Target>,
    pub(crate) iterations: usize,
    pub(crate) growth_iterations: usize,
    pub(crate) seconds: f64,
    pub(crate) tasks: Vec<usize>,
    pub(crate) sides: Vec<Side>,
    pub(crate) memory_object: Object,
    /// Measure memory in this process rather than one child per figure
    /// (the peaks then include what earlier figures left: for tests only).
    pub(crate) memory_in_process: bool,
    pub(crate) shards: Vec<usize>,
    pub(crate) leaves: Vec<usize>,
}

/// The sections, in the order `all` runs them.
pub(crate) const SECTIONS: [&str; 4] = ["latency", "memory", "concurrency", "growth"];

/// Reads the flags (see the example's docs).
///
/// # Errors
///
/// An unknown flag or section, a missing or unreadable value.
pub(crate) fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args> {
    let mut args = Args {
        sections: Vec::new(),
        targets: Vec::new(),
        iterations: 500,
        growth_iterations: 15,
        seconds: 1.0,
        tasks: vec![1, 8, 64],
        sides: Side::ALL.to_vec(),
        memory_object: Object::ISSUE,
        memory_in_process: false,
        shards: growth::SHARDS.to_vec(),
        leaves: growth::LEAVES.to_vec(),
    };
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--section" => match value()?.as_str() {
                "all" => args.sections.extend(SECTIONS.map(str::to_owned)),
                s if SECTIONS.contains(&s) => args.sections.push(s.to_owned()),
                s => return Err(format!("unknown section {s}: latency, memory, concurrency, growth or all").into()),
            },
            "--embedded" => args.targets.push(Target::Embedded),
            "--http" => args.targets.push(Target::Http),
            "--endpoint" => args.targets.push(Target::Endpoint { url: value()?, test_credentials: false }),
            "--iterations" => args.iterations = value()?.parse()?,
            "--growth-iterations" => args.growth_iterations = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--tasks" => args.tasks = list(&value()?)?,
            "--shards" => args.shards = list(&value()?)?,
            "--leaves" => args.leaves = list(&value()?)?,
            "--sides" => {
                let names = value()?;
                args.sides = Side::ALL.into_iter().filter(|s| names.split(',').any(|n| n == s.name())).collect();
            }
            "--memory-object" => {
                let v = value()?;
                let (shards, leaf) = v.split_once(',').ok_or("--memory-object SHARDS,LEAF_BYTES")?;
                args.memory_object = Object { shards: shards.parse()?, leaf: leaf.parse()?, encrypted: false };
            }
            "--memory-in-process" => args.memory_in_process = true,
            other => return Err(format!("unknown flag {other} (see the example's docs)").into()),
        }
    }
    if args.sections.is_empty() {
        args.sections.extend(SECTIONS.map(str::to_owned));
    }
    if args.targets.is_empty() {
        args.targets.extend([Target::Embedded, Target::Http]);
    }
    Ok(args)
}

fn list(text: &str) -> Result<Vec<usize>> {
    Ok(text.split(',').map(str::parse).collect::<Result<_, _>>()?)
}

/// Runs every section asked on every target, writing to `out`. Creates its
/// own runtimes: call it outside one.
///
/// # Errors
///
/// The first operation, request or measurement that fails.
pub(crate) fn run(args: &Args, out: &mut Out) -> Result<()> {
    say!(out, "# dystore bench: {} cores, load average {}", cores(), load_average());
    for section in &args.sections {
        for target in &args.targets {
            match section.as_str() {
                "latency" => current_thread()?.block_on(latency_section(out, target, args))?,
                "memory" => memory_section(out, target, args)?,
                "concurrency" => concurrency_section(out, target, args)?,
                _ => current_thread()?.block_on(growth_section(out, target, args))?,
            }
        }
    }
    say!(out, "\n# done; load average {}", load_average());
    Ok(())
}

fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The first three fields of /proc/loadavg: other work on the machine.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

async fn latency_section(out: &mut Out, target: &Target, args: &Args) -> Result<()> {
    let bench = Bench::new(target.connect().await, &suffix(), "ada").await?;
    bench.check().await?;
    let rows = latency::run(&bench, args.iterations, &args.sides).await?;
    let warm = latency::warm(&bench, args.iterations, &args.sides).await?;
    latency::print(out, target.name(), args.iterations, &rows);
    latency::print_warm(out, args.iterations, &warm);
    for (op, requests) in Op::ALL.iter().zip(&bench.recorded) {
        let ops: Vec<&str> = requests.iter().map(|r| r.op()).collect();
        let promise = if ops == [op.promised_request()] { "as docs/FORMAT.md promises" } else { "NOT as docs/FORMAT.md promises" };
        say!(out, "  {:<11} dystore sends {} ({promise})", op.name(), ops.join(" + "));
    }
    say!(out, "  checked: the floor's items read back through dystore as the reference document, and the floor reads what dystore stores");
    Ok(())
}

/// One child process per figure (see `suite::memory`), unless asked
/// otherwise: its figures, or why it failed.
fn memory_section(out: &mut Out, target: &Target, args: &Args) -> Result<()> {
    let object = args.memory_object;
    say!(
        out,
        "\n## memory: {} shards × {} B leaf ({:.1} MB), {}; peaks above baseline in multiples of the object{}",
        object.shards,
        object.leaf,
        object.bytes() as f64 / 1e6,
        target.name(),
        if args.memory_in_process { " (in process: peaks are not each their own)" } else { "" }
    );
    say!(
        out,
        "{:<8} {:<10} {:>7} {:>7} {:>7} {:>9} {:>9} {:>12}",
        "variant",
        "leaves",
        "save",
        "load",
        "whole",
        "save req",
        "load req",
        "baseline"
    );
    for encrypted in [false, true] {
        let mut pair = Vec::new();
        for variant in [Variant::Dystore, Variant::Raw] {
            let object = Object { encrypted, ..object };
            let figures = if args.memory_in_process {
                current_thread()?.block_on(memory::measure(target, variant, object))?
            } else {
                memory_child_run(target, variant, object)?
            };
            say!(
                out,
                "{:<8} {:<10} {:>6.2}× {:>6.2}× {:>6.2}× {:>9} {:>9} {:>9} kB{}",
                variant.name(),
                if encrypted { "encrypted" } else { "plain" },
                figures.save,
                figures.load,
                figures.whole,
                figures.save_requests,
                figures.load_requests,
                figures.baseline_kb,
                if figures.reset { "" } else { " (peak not reset: upper bounds)" }
            );
            pair.push(figures);
        }
        let (d, r) = (&pair[0], &pair[1]);
        say!(
            out,
            "  targets: save {:+.2}× the object above raw (≤ +1), load {:+.2}× above raw (≤ +0.1), whole {:.2}× (≤ 4)",
            d.save - r.save,
            d.load - r.load,
            d.whole
        );
    }
    say!(out, "save: peak during the save above the built document (raw: the built request); load: peak during the load;");
    say!(out, "whole: peak over build + save + load above the baseline (the engine's copy included when in process).");
    Ok(())
}

fn memory_child_run(target: &Target, variant: Variant, object: Object) -> Result<Figures> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args([
        "__memory",
        variant.name(),
        if object.encrypted { "encrypted" } else { "plain" },
        &target.arg(),
        &object.shards.to_string(),
        &object.leaf.to_string(),
    ]);
    // Every block of 128 KB or more is its own mapping, returned when
    // freed, so the resident set follows what is live (suite::memory).
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        command.env("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072");
    }
    let out = command.output()?;
    if !out.status.success() {
        return Err(format!("memory child failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The child: `__memory VARIANT plain|encrypted TARGET SHARDS LEAF`; prints
/// its figures as one JSON line.
///
/// # Errors
///
/// Bad arguments, or the measurement failed.
pub(crate) fn memory_child(args: &[String]) -> Result<()> {
    let [variant, leaves, target, shards, leaf] = args else {
        return Err("__memory VARIANT plain|encrypted TARGET SHARDS LEAF".into());
    };
    let variant = Variant::parse(variant).ok_or("variant: dystore or raw")?;
    let object = Object { shards: shards.parse()?, leaf: leaf.parse()?, encrypted: leaves == "encrypted" };
    let figures = current_thread()?.block_on(memory::measure(&Target::parse(target), variant, object))?;
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}

fn concurrency_section(out: &mut Out, target: &Target, args: &Args) -> Result<()> {
    let workers = cores();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?;
    let duration = Duration::from_secs_f64(args.seconds);
    let rates = runtime.block_on(async {
        let connection = target.connect().await;
        concurrency::run(connection, &suffix(), &args.tasks, duration).await
    })?;
    concurrency::print(out, target.name(), workers, duration, &rates);
    Ok(())
}

async fn growth_section(out: &mut Out, target: &Target, args: &Args) -> Result<()> {
    let db = target.client().await;
    let n = args.growth_iterations;
    let mut by_shards = Vec::new();
    for &shards in &args.shards {
        by_shards.push(growth::point(&db, shards, 100, false, n).await?);
    }
    let title = format!("shards of one 100 B leaf, {}, {n} iterations", target.name());
    growth::print(out, &title, &by_shards, |p| (p.shards as f64, "shard"));
    let mut by_leaf = Vec::new();
    for encrypted in [false, true] {
        for &leaf in &args.leaves {
            by_leaf.push(growth::point(&db, 3, leaf, encrypted, n).await?);
        }
    }
    let title = format!("root + 3 shards of one leaf each, {}, {n} iterations", target.name());
    growth::print(out, &title, &by_leaf, |p| ((p.shards * p.leaf) as f64 / 1000.0, "kB"));
    Ok(())
}

/// A suffix for table names, so runs against a shared endpoint do not meet.
pub(crate) fn suffix() -> String {
    format!("_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}
