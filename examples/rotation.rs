//! Key rotation figures: objects per second with 1, 2 and 4 scan segments
//! against a DynamoDB-compatible HTTP server, and the rotating process's
//! peak memory, for tables of different sizes (by default 10,000 and
//! 100,000 small objects: a root and a shard, two encrypted leaves).
//!
//! For each size and each number of segments, this process seeds a fresh
//! dynoxide database in memory and serves it on 127.0.0.1; a child process
//! (this program again, `rotate <addr> <segments>`) rotates every object
//! from key 0 to key 1 over HTTP and prints its rate, its CPU time and its
//! peak resident memory (`VmHWM` of /proc/self/status), which therefore
//! holds nothing of the server or of the seeding.
//!
//! `cargo run --release --example rotation [objects ...]`

use dystore::backend::Embedded;
use dystore::rotate::Rotation;
use dystore::{Client, Key, Keyring, PathPattern, Store};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

const TABLE: &str = "RotationPeople";

fn store() -> Store {
    Store::new(TABLE, "ID").shard(Store::new("RotationContacts", "CID").at("$.contact"))
}

/// Keys 0 and 1; the rules name `current` for both encrypted paths.
fn keyring(current: u8) -> Keyring {
    let ring = (0..2u8).fold(Keyring::new(), |ring, i| ring.with_key(format!("k{i}"), Key::new([i + 1; 32]).expect("a 32-byte key")));
    let current = format!("k{current}");
    ring.rule(PathPattern::exact("$.name").expect("a path"), current.clone())
        .rule(PathPattern::exact("$.contact.phone").expect("a path"), current)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("rotate") {
        return rotate(&args[1], args[2].parse()?);
    }
    let sizes: Vec<usize> =
        if args.is_empty() { vec![10_000, 100_000] } else { args.iter().map(|a| a.parse()).collect::<Result<_, _>>()? };
    println!("{:>9} {:>9} {:>10} {:>12} {:>12} {:>12}", "objects", "segments", "seconds", "objects/s", "CPU s", "peak RSS");
    for objects in sizes {
        for segments in [1u32, 2, 4] {
            measure(objects, segments)?;
        }
    }
    Ok(())
}

/// Seeds `objects` objects under key 0 into a fresh server (a fresh one
/// each time: dynoxide keeps every transaction's idempotency token for ten
/// minutes and sweeps them all on each transaction, so a server that has
/// seen many transactions gets slower), serves them, and runs the child.
fn measure(objects: usize, segments: u32) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let db = dynoxide::Database::memory()?;
    runtime.block_on(async {
        let client = Client::new(Embedded::from_database(db.clone())).with_loader(keyring(0));
        let layout = store();
        let people = client.store(&layout);
        people.create_tables().await?;
        for i in 0..objects {
            let doc = json!({"name": format!("person {i}"), "plan": "basic", "contact": {"phone": format!("555-{i:07}"), "city": "Oslo"}});
            people.write_with_key(&format!("p{i:07}"), doc).await?;
        }
        Ok::<(), dystore::Error>(())
    })?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let server = runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        dynoxide::server::serve_on(listener, db).await;
    });
    let mut child =
        Command::new(std::env::current_exe()?).args(["rotate", &addr.to_string(), &segments.to_string()]).stdout(Stdio::piped()).spawn()?;
    for line in BufReader::new(child.stdout.take().ok_or("no stdout")?).lines() {
        println!("{objects:>9} {}", line?);
    }
    let status = child.wait()?;
    server.abort();
    if !status.success() {
        return Err(format!("the rotating process failed: {status}").into());
    }
    Ok(())
}

/// The child: one rotation over HTTP (key 0 to 1), then one line: its
/// segments, time, rate, CPU time and peak resident memory.
fn rotate(addr: &str, segments: u32) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = runtime.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://{addr}"))
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "example"))
            .load()
            .await;
        let db = Client::from_conf(&conf).with_loader(keyring(1));
        let layout = store().into_layout();
        let last = std::sync::Mutex::new(Instant::now());
        let rotation = Rotation::new(&db, &layout).segments(segments).state_table("RotationState").on_progress(|p| {
            let mut last = last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if last.elapsed().as_secs() >= 30 {
                *last = Instant::now();
                eprintln!("  {segments} segments: {} objects after {:.0} s, peak {}", p.objects, p.elapsed.as_secs_f64(), peak_rss());
            }
        });
        rotation.rotate().await
    })?;
    if report.failed > 0 || report.current > 0 {
        return Err(format!("{} failed, {} current: {:?}", report.failed, report.current, report.failures.first()).into());
    }
    let secs = report.elapsed.as_secs_f64();
    println!("{segments:>9} {secs:>10.1} {:>12.0} {:>12.1} {:>12}", report.rotated as f64 / secs, cpu_seconds(), peak_rss());
    Ok(())
}

/// CPU time of this process so far: utime and stime of /proc/self/stat,
/// in clock ticks (USER_HZ, 100 on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    ticks as f64 / 100.0
}

/// The peak resident memory of this process so far (`VmHWM`).
fn peak_rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map_or_else(|| "unknown".to_owned(), |v| v.trim().to_owned())
}
