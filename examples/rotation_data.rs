//! Data for the README's key rotation, end to end: a dynoxide file of
//! people whose name and contact are encrypted under key `A`, and the
//! keyring file that makes `B` the current key (keeping `A` so the data
//! can still be read). Then the `dystore` tool rotates it:
//!
//! ```sh
//! cargo run --example rotation_data -- data.db keys.json
//! dystore --embedded data.db --keys keys.json plan   --table People
//! dystore --embedded data.db --keys keys.json rotate --table People --segments 4 --max-wcu 200
//! dystore --embedded data.db --keys keys.json verify --table People --retire A
//! ```
//!
//! The keys are fixed demonstration keys (bytes 1 and 2, repeated): never
//! use them for data of your own.

use dystore::{Client, Key, Keyring, PathPattern, Store};
use serde_json::json;
use std::path::Path;

/// How many people are written.
pub(crate) const PEOPLE: usize = 20;

/// The demonstration keys, base64 as in a keyring file.
const A: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const B: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// People, their contact in a shard table.
pub(crate) fn people() -> Store {
    Store::new("People", "ID").shard(Store::new("Contacts", "CID").at("$.contact"))
}

/// Writes the people under `A` into a new database file at `db`, and the
/// keyring naming `B` at `keys`.
///
/// # Errors
///
/// `Config` if `db` exists already (it is never overwritten); any error
/// of the engine or of writing `keys`.
pub(crate) async fn run(db: &Path, keys: &Path) -> dystore::Result<()> {
    if db.exists() {
        return Err(dystore::Error::new(dystore::ErrorKind::Config, "the database file exists already: remove it, or name another"));
    }
    let a = Keyring::new()
        .with_key("A", Key::new([1u8; 32])?)
        .rule(PathPattern::exact("$.name")?, "A")
        .rule(PathPattern::prefix("$.contact")?, "A")
        .default_key("A");
    let client = Client::open(db)?.with_loader(a);
    client.store(&people()).create_tables().await?;
    for i in 0..PEOPLE {
        let person = json!({"name": format!("person {i}"), "team": i % 3, "contact": {"phone": format!("555-{i:04}"), "city": "Oslo"}});
        client.store(&people()).write_with_key(&format!("p{i}"), person).await?;
    }
    let keyring = json!({
        "keys": {"A": A, "B": B},
        "rules": [{"exact": "$.name", "key": "B"}, {"prefix": "$.contact", "key": "B"}],
        "default": "B"
    });
    std::fs::write(keys, format!("{keyring:#}\n"))
        .map_err(|e| dystore::Error::new(dystore::ErrorKind::Config, "cannot write the keyring file").with_source(e))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> dystore::Result<()> {
    let mut args = std::env::args().skip(1);
    let (db, keys) = (args.next().unwrap_or_else(|| "data.db".into()), args.next().unwrap_or_else(|| "keys.json".into()));
    run(Path::new(&db), Path::new(&keys)).await?;
    println!("{PEOPLE} people under key A in {db}; the keyring naming B in {keys}");
    Ok(())
}
