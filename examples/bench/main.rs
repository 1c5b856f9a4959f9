//! What dystore costs on top of DynamoDB, in one run (issue 14): requests
//! per operation and latency beside hand-written requests, peak memory of
//! a large object, throughput of concurrent tasks, and how save and load
//! grow with shards and leaf size. docs/PERFORMANCE.md holds the figures
//! of one machine and what they mean.
//!
//! ```sh
//! cargo run --release --example bench          # every section, embedded and over HTTP (in-process dynoxide server)
//! cargo run --release --example bench -- --embedded --section latency --iterations 100
//! cargo run --release --example bench -- --endpoint http://127.0.0.1:8000 --section latency
//! ```
//!
//! Flags: `--section latency|memory|concurrency|growth|all` (repeatable;
//! default all), `--embedded`, `--http`, `--endpoint URL` (targets, any
//! number; default the embedded engine and HTTP to a dynoxide server
//! started in this process on 127.0.0.1; an endpoint takes the usual AWS
//! variables for region and credentials), `--iterations N` (latency; 500),
//! `--growth-iterations N` (15), `--seconds S` per concurrency cell (1),
//! `--tasks 1,8,64`, `--sides dystore,replay,floor` (latency; all: fewer
//! for profiling), `--memory-object SHARDS,LEAF_BYTES` (16,250000),
//! `--shards 1,10,50,150` and `--leaves 100,...,409600` (growth),
//! `--memory-in-process` (no child processes; peaks then overlap).

mod suite;

fn main() -> suite::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__memory") {
        return suite::report::memory_child(&args[1..]);
    }
    let args = suite::report::parse(args.into_iter())?;
    suite::report::run(&args, &mut suite::Out::default())
}
