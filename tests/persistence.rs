//! `Client::open(path)`: data written by one process is read by the next.

use dystore::{Client, Store};
use serde_json::json;
use std::process::Command;

const FILE_VAR: &str = "DYSTORE_PERSISTENCE_FILE";

fn store() -> Store {
    Store::new("People", "ID").shard(Store::new("Locations", "IDX").at("$.location"))
}

fn doc() -> serde_json::Value {
    json!({"name": "Ada", "location": {"city": "London"}})
}

/// Runs one test of this binary in a child process.
fn run_child(test: &str, file: &std::path::Path) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--include-ignored", "--test-threads=1"])
        .env(FILE_VAR, file)
        .status()
        .unwrap();
    assert!(status.success(), "child `{test}` failed");
}

#[tokio::test]
async fn data_survives_a_restart_of_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.db");
    run_child("child_writes", &file);
    run_child("child_reads", &file);
    // And this process, a third one, reads the same file.
    let db = Client::open(&file).unwrap();
    assert_eq!(db.store(&store()).read("k1").await.unwrap(), doc());
}

#[tokio::test]
#[ignore = "run by data_survives_a_restart_of_the_process in a child process"]
async fn child_writes() {
    let db = Client::open(std::env::var(FILE_VAR).unwrap()).unwrap();
    db.store(&store()).create_tables().await.unwrap();
    db.store(&store()).write_with_key("k1", doc()).await.unwrap();
}

#[tokio::test]
#[ignore = "run by data_survives_a_restart_of_the_process in a child process"]
async fn child_reads() {
    let db = Client::open(std::env::var(FILE_VAR).unwrap()).unwrap();
    assert_eq!(db.store(&store()).read("k1").await.unwrap(), doc());
}

#[test]
fn an_unopenable_file_is_a_backend_error() {
    let e = Client::open("/nonexistent-dir/sub/data.db").unwrap_err();
    assert_eq!(e.kind(), dystore::ErrorKind::Backend);
    assert!(e.to_string().contains("/nonexistent-dir/sub/data.db"), "{e}");
}
