//! A standalone DynamoDB-compatible HTTP server: dynoxide (the engine behind
//! `Client::memory()`) on an in-memory database, served on 127.0.0.1 until
//! Ctrl-C or SIGTERM. It is what the `http` conformance tests start inside
//! their own process, run as a process of its own so the `endpoint` tests
//! can be pointed at it (docs/ENGINES.md).
//!
//! `cargo run --example dynoxide_server [port]` (port 8000 by default)

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = match std::env::args().nth(1) {
        Some(port) => port.parse()?,
        None => 8000,
    };
    let db = dynoxide::Database::memory()?;
    dynoxide::server::start("127.0.0.1", port, db).await?;
    Ok(())
}
