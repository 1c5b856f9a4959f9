//! A rotation's checkpoints mirrored in a local file
//! ([`Rotation::checkpoint_file`](super::Rotation::checkpoint_file), CLI
//! `--checkpoint FILE`):
//!
//! ```json
//! { "scope": "People", "segments": 4, "targets": "<digest>",
//!   "checkpoints": [ { "done": false, "last": { "ID": { "S": "p17" } } }, ... ] }
//! ```
//!
//! The state table stays the authority (its checkpoints are written in one
//! transaction with the lease); the file is rewritten (whole, through a
//! temporary file and a rename) after each of them, and read only when the
//! state table has no record of an interrupted run: a state table lost or
//! new, the run moved to another account or region. Written by hand over
//! serde_json because `serde_dynamo::AttributeValue` is not serializable;
//! a scan's last key holds only key attributes (strings, numbers, binaries).

use super::state::Checkpoint;
use crate::backend::Item;
use crate::error::{Error, ErrorKind, Result};
use base64::Engine as _;
use serde_dynamo::AttributeValue;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Mutex;

/// The file and what this run has written to it.
pub(crate) struct Mirror {
    pub(crate) path: PathBuf,
    /// The last checkpoint of every segment, as written.
    at: Mutex<Vec<Checkpoint>>,
}

fn config(why: &str) -> Error {
    Error::new(ErrorKind::Config, format!("the checkpoint file {why}"))
}

impl Mirror {
    pub(crate) fn new(path: PathBuf) -> Self {
        Mirror { path, at: Mutex::new(Vec::new()) }
    }

    /// The checkpoints the file holds for `scope` run in `segments`
    /// segments choosing `targets`: `None` if there is no file or it is
    /// for other key ids (the run starts again, as from the state table).
    ///
    /// # Errors
    ///
    /// `Config` if it cannot be read, is not a checkpoint file, or is for
    /// another table (or share) or another number of segments.
    pub(crate) fn read(&self, scope: &str, segments: u32, targets: &str) -> Result<Option<Vec<Checkpoint>>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(config("cannot be read").with_source(e)),
        };
        let doc: Value = serde_json::from_str(&text).map_err(|_| config("is not JSON"))?;
        if doc["scope"].as_str() != Some(scope) {
            return Err(config("is for the rotation of another table (or share)").with_table(scope));
        }
        if doc["segments"].as_u64() != Some(u64::from(segments)) {
            return Err(config("is for a run of another number of segments: resume with that number, or restart").with_table(scope));
        }
        if doc["targets"].as_str() != Some(targets) {
            return Ok(None);
        }
        let list = doc["checkpoints"].as_array().filter(|l| l.len() == segments as usize).ok_or_else(|| config("is damaged"))?;
        list.iter()
            .map(|c| {
                let last = match &c["last"] {
                    Value::Null => None,
                    Value::Object(m) => Some(item_of(m).ok_or_else(|| config("is damaged"))?),
                    _ => return Err(config("is damaged")),
                };
                Ok(Checkpoint { last, done: c["done"].as_bool().unwrap_or(false) })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Records segment `segment`'s checkpoint and rewrites the file.
    pub(crate) fn write(&self, scope: &str, segments: u32, targets: &str, segment: u32, at: &Checkpoint) -> Result<()> {
        let mut all = self.at.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() != segments as usize {
            *all = vec![Checkpoint::default(); segments as usize];
        }
        all[segment as usize] = at.clone();
        let list: Vec<Value> =
            all.iter().map(|c| json!({"done": c.done, "last": c.last.as_ref().map_or(Value::Null, |l| Value::Object(wire(l)))})).collect();
        let doc = json!({"scope": scope, "segments": segments, "targets": targets, "checkpoints": list});
        let temporary = self.path.with_extension("tmp");
        std::fs::write(&temporary, format!("{doc:#}\n"))
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|e| config("cannot be written").with_source(e))
    }

    /// Seeds what this run writes with the checkpoints it resumes from.
    pub(crate) fn start_from(&self, checkpoints: &[Checkpoint]) {
        *self.at.lock().unwrap_or_else(|p| p.into_inner()) = checkpoints.to_vec();
    }

    /// Removes the file of a finished run.
    pub(crate) fn remove(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(config("cannot be removed").with_source(e)),
            _ => Ok(()),
        }
    }
}

/// A key item in DynamoDB's JSON form (`{"ID": {"S": "p17"}}`).
fn wire(item: &Item) -> Map<String, Value> {
    let b64 = base64::engine::general_purpose::STANDARD;
    item.iter()
        .filter_map(|(name, value)| {
            let v = match value {
                AttributeValue::S(s) => json!({"S": s}),
                AttributeValue::N(n) => json!({"N": n}),
                AttributeValue::B(b) => json!({"B": b64.encode(b)}),
                _ => return None, // never in a key
            };
            Some((name.clone(), v))
        })
        .collect()
}

fn item_of(map: &Map<String, Value>) -> Option<Item> {
    let b64 = base64::engine::general_purpose::STANDARD;
    map.iter()
        .map(|(name, v)| {
            let value = match (v["S"].as_str(), v["N"].as_str(), v["B"].as_str()) {
                (Some(s), None, None) => AttributeValue::S(s.to_owned()),
                (None, Some(n), None) => AttributeValue::N(n.to_owned()),
                (None, None, Some(b)) => AttributeValue::B(b64.decode(b).ok()?),
                _ => return None,
            };
            Some((name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any key of strings, numbers and binaries comes back as written.
        #[test]
        fn a_last_key_round_trips(s in ".{0,40}", n in any::<i64>(), b in proptest::collection::vec(any::<u8>(), 0..40), done: bool) {
            let dir = std::env::temp_dir().join(format!("dystore-mirror-{}", crate::format::token()));
            let mirror = Mirror::new(dir.clone());
            let last: Item = [("ID".to_owned(), AttributeValue::S(s)), ("N".to_owned(), AttributeValue::N(n.to_string())),
                ("B".to_owned(), AttributeValue::B(b))].into();
            let at = Checkpoint { last: Some(last), done };
            mirror.write("T", 2, "t", 1, &at).unwrap();
            let read = Mirror::new(dir.clone()).read("T", 2, "t").unwrap().unwrap();
            prop_assert_eq!(&read[1], &at);
            prop_assert_eq!(&read[0], &Checkpoint::default());
            prop_assert!(Mirror::new(dir.clone()).read("T", 2, "other").unwrap().is_none());
            prop_assert_eq!(Mirror::new(dir.clone()).read("U", 2, "t").unwrap_err().kind(), ErrorKind::Config);
            mirror.remove().unwrap();
        }
    }
}
