//! Key rotation figures: objects per second with 1, 2 and 4 scan segments
//! against a DynamoDB-compatible HTTP server, and the rotating process's
//! peak memory, for tables of different sizes (by default 10,000 and
//! 100,000 small objects: a root and a shard, two encrypted leaves).
//!
//! This process seeds a dynoxide database in memory and serves it on
//! 127.0.0.1; a child process (this program again, `rotate <addr>`) runs
//! three rotations over HTTP (key 0 to 1 with one segment, 1 to 2 with
//! two, 2 to 3 with four) and prints its rate and its peak resident memory
//! (`VmHWM` of /proc/self/status), which therefore holds nothing of the
//! server or of the seeding.
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

/// Keys 0 to 3; the rules name `current` for both encrypted paths.
fn keyring(current: u8) -> Keyring {
    let ring = (0..4u8).fold(Keyring::new(), |ring, i| ring.with_key(format!("k{i}"), Key::new([i + 1; 32]).expect("a 32-byte key")));
    let current = format!("k{current}");
    ring.rule(PathPattern::exact("$.name").expect("a path"), current.clone())
        .rule(PathPattern::exact("$.contact.phone").expect("a path"), current)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("rotate") {
        return rotate(&args[1]);
    }
    let sizes: Vec<usize> =
        if args.is_empty() { vec![10_000, 100_000] } else { args.iter().map(|a| a.parse()).collect::<Result<_, _>>()? };
    println!("{:>9} {:>9} {:>10} {:>12} {:>12}", "objects", "segments", "seconds", "objects/s", "peak RSS");
    for objects in sizes {
        measure(objects)?;
    }
    Ok(())
}

/// Seeds `objects` objects under key 0, serves them, and runs the child.
fn measure(objects: usize) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let db = dynoxide::Database::memory()?;
    let seeding = Instant::now();
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
    eprintln!("seeded {objects} objects in {:.1} s", seeding.elapsed().as_secs_f64());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let server = runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        dynoxide::server::serve_on(listener, db).await;
    });
    let mut child = Command::new(std::env::current_exe()?).args(["rotate", &addr.to_string()]).stdout(Stdio::piped()).spawn()?;
    let mut peak = String::new();
    for line in BufReader::new(child.stdout.take().ok_or("no stdout")?).lines() {
        let line = line?;
        match line.strip_prefix("peak ") {
            Some(kb) => peak = kb.to_owned(),
            None => println!("{objects:>9} {line}"),
        }
    }
    let status = child.wait()?;
    println!("{objects:>9} {:>9} {:>10} {:>12} {:>12}", "-", "", "", peak);
    server.abort();
    if !status.success() {
        return Err(format!("the rotating process failed: {status}").into());
    }
    Ok(())
}

/// The child: three rotations over HTTP, one line each, then its peak
/// resident memory.
fn rotate(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://{addr}"))
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "example"))
            .load()
            .await;
        for (round, segments) in [1u32, 2, 4].into_iter().enumerate() {
            let db = Client::from_conf(&conf).with_loader(keyring(round as u8 + 1));
            let layout = store().into_layout();
            let last = std::sync::Mutex::new(Instant::now());
            let rotation = Rotation::new(&db, &layout).segments(segments).state_table("RotationState").on_progress(|p| {
                let mut last = last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if last.elapsed().as_secs() >= 30 {
                    *last = Instant::now();
                    eprintln!("  {segments} segments: {} objects after {:.0} s, {}", p.objects, p.elapsed.as_secs_f64(), peak_rss());
                }
            });
            let report = rotation.rotate().await?;
            if report.failed > 0 || report.current > 0 {
                return Err(
                    format!("round {round}: {} failed, {} current: {:?}", report.failed, report.current, report.failures.first()).into()
                );
            }
            let secs = report.elapsed.as_secs_f64();
            println!("{segments:>9} {secs:>10.1} {:>12.0} {:>12}", report.rotated as f64 / secs, "");
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    // utime and stime, in clock ticks (USER_HZ, 100 on Linux), after the command name.
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    eprintln!("the rotating process used {:.1} s of CPU", ticks as f64 / 100.0);
    println!("peak {}", peak_rss());
    Ok(())
}

/// The peak resident memory of this process so far (`VmHWM`).
fn peak_rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map_or_else(|| "unknown".to_owned(), |v| v.trim().to_owned())
}
