//! Seal and open throughput of format 1 for string leaves from 64 B to
//! 400 KB (the largest a leaf gets before it goes to chunk items), next to
//! the bare primitives (AES-256-CBC encryption alone, HMAC-SHA256 alone)
//! at 1 KB, 16 KB and 256 KB. docs/ENCRYPTION.md and docs/PERFORMANCE.md
//! compare the figures with `openssl speed` on the same machine.
//!
//! `cargo bench -p dystore --bench crypto`

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

use std::time::Duration;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use dystore::crypto::{open, seal};
use dystore::{Context, Key};
use hmac::{Hmac, Mac};
use serde_dynamo::AttributeValue;

const SIZES: [(usize, &str); 7] =
    [(64, "64B"), (1024, "1KB"), (4 * 1024, "4KB"), (16 * 1024, "16KB"), (64 * 1024, "64KB"), (256 * 1024, "256KB"), (400 * 1024, "400KB")];

/// The sizes the primitives are timed at: `openssl speed`'s 1024 and 16384
/// bytes, and 256 KB (`openssl speed -bytes 262144`).
const PRIMITIVE_SIZES: [(usize, &str); 3] = [(1024, "1KB"), (16 * 1024, "16KB"), (256 * 1024, "256KB")];

fn leaves(c: &mut Criterion) {
    let key = Key::new([0x42u8; 32]).expect("a 32-byte key");
    let ctx = Context::new("People", "person-1", "$.notes");
    let mut group = c.benchmark_group("aes256");
    for (size, name) in SIZES {
        let leaf = AttributeValue::S("x".repeat(size));
        let sealed = seal("k1", &key, &ctx, &leaf).expect("seal");
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", name), &leaf, |b, leaf| {
            b.iter(|| seal("k1", &key, &ctx, black_box(leaf)).expect("seal"))
        });
        group.bench_with_input(BenchmarkId::new("open", name), &sealed, |b, sealed| {
            b.iter(|| open(&key, &ctx, black_box(sealed)).expect("open"))
        });
    }
    group.finish();
}

/// The RustCrypto primitives alone, one after the other: what seal would
/// cost without overlapping them.
fn primitives(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitives");
    for (size, name) in PRIMITIVE_SIZES {
        let mut buf = vec![0x78u8; size + 16];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("aes-256-cbc-encrypt/{name}"), |b| {
            b.iter(|| {
                let encryptor = cbc::Encryptor::<aes::Aes256>::new(&[1u8; 32].into(), &[2u8; 16].into());
                encryptor.encrypt_padded_mut::<Pkcs7>(black_box(&mut buf), size).expect("room for padding").len()
            })
        });
        group.bench_function(format!("hmac-sha256/{name}"), |b| {
            b.iter(|| {
                let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&[1u8; 32]).expect("any key length");
                mac.update(black_box(&buf[..size]));
                mac.finalize().into_bytes()
            })
        });
    }
    group.finish();
}

/// Nanoseconds this thread has spent on a CPU (Linux), so figures can be
/// compared with `openssl speed`, which also counts CPU time, on a machine
/// shared with other work.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// The 256 KB cases again, timed in CPU time rather than wall time.
fn cpu(c: &mut Criterion) {
    if cpu_time().is_none() {
        return;
    }
    let key = Key::new([0x42u8; 32]).expect("a 32-byte key");
    let ctx = Context::new("People", "person-1", "$.notes");
    let leaf = AttributeValue::S("x".repeat(256 * 1024));
    let sealed = seal("k1", &key, &ctx, &leaf).expect("seal");
    let mut group = c.benchmark_group("cpu-time");
    group.throughput(Throughput::Bytes(256 * 1024));
    group.bench_function("seal/256KB", |b| {
        b.iter_custom(|iters| {
            let start = cpu_time().expect("schedstat");
            for _ in 0..iters {
                black_box(seal("k1", &key, &ctx, black_box(&leaf)).expect("seal"));
            }
            cpu_time().expect("schedstat") - start
        })
    });
    group.bench_function("open/256KB", |b| {
        b.iter_custom(|iters| {
            let start = cpu_time().expect("schedstat");
            for _ in 0..iters {
                black_box(open(&key, &ctx, black_box(&sealed)).expect("open"));
            }
            cpu_time().expect("schedstat") - start
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the figures are compared with openssl's, not tracked over time.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = leaves, primitives, cpu
}
criterion_main!(benches);
