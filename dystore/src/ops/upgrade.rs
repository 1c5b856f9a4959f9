//! Upgrading an object written by dynamo-store 0.6 into format 1 in place:
//! read it whole, then one transaction puts the format-1 items and deletes
//! every legacy shard item, guarded by the legacy root being unchanged.

use super::batch::batch_get_all;
use super::legacy::read_legacy;
use super::save::save_over_legacy;
use super::staged::{finish_record, read_record, upgrade_record_key};
use super::stale::clean_fenced;
use super::{Env, Sealed, backend_error, check_key, key_item, not_found, operation};
use crate::backend::Get;
use crate::error::{Error, ErrorKind, Result};
use crate::format::legacy::{is_legacy_meta, legacy_shard_path, unchanged};
use crate::format::{META, Root};
use crate::layout::Layout;
use crate::path::{PlainPath, Step};
use crate::tree::Resolved;
use serde_json::{Map, Value};

/// What an upgrade did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// The object was in dynamo-store 0.6's format and is now in format 1.
    Upgraded,
    /// The object was in format 1 already: nothing was written.
    AlreadyCurrent,
}

/// Upgrades the object keyed `key` to format 1 under `layout`, its document
/// passed through `transform` first (the typed form unwraps the class API's
/// values).
pub(crate) async fn upgrade(
    env: &Env<'_>,
    layout: &Layout,
    key: &str,
    transform: impl FnOnce(Map<String, Value>) -> Result<Value>,
) -> Result<Upgrade> {
    operation(env, "upgrade", layout, Some(key), true, upgrade_now(env, layout, key, transform)).await
}

async fn upgrade_now(
    env: &Env<'_>,
    layout: &Layout,
    key: &str,
    transform: impl FnOnce(Map<String, Value>) -> Result<Value>,
) -> Result<Upgrade> {
    let resolved = Resolved::new(layout)?;
    check_key(layout, key)?;
    resolved.check_shard_keys(key)?;
    // The root and the record a staged upgrade that crashed may have left,
    // in one request.
    let table = layout.table.to_string();
    let record_key = upgrade_record_key(key);
    let wanted = [(table.clone(), layout.key.to_string(), key.to_owned()), (table.clone(), layout.key.to_string(), record_key.clone())];
    let mut found = batch_get_all(env.backend, env.policy, &wanted).await.map_err(|e| e.with_key(key))?;
    let record = match found.remove(&(table.clone(), record_key)).and_then(|mut item| item.remove(META)) {
        Some(meta) => match Root::decode(meta).map_err(|e| e.with_table(layout.table.as_ref()).with_key(key))? {
            (_, Root::Tombstone { revision, stale }) => Some((revision, stale)),
            (_, Root::Object(_)) => None,
        },
        None => None,
    };
    let Some(root) = found.remove(&(table, key.to_owned())) else {
        // The object is gone (the package deleted it, say): what an upgrade
        // that crashed had written goes too.
        if let Some((revision, recorded)) = &record {
            finish_record(env, layout, key, revision, recorded).await?;
        }
        return Err(not_found(layout, key));
    };
    let meta = root.get(META).cloned().ok_or_else(|| {
        Error::new(ErrorKind::Format, format!("the item has no `{META}`")).with_table(layout.table.as_ref()).with_key(key)
    })?;
    if !is_legacy_meta(&meta) {
        // Format 1 already (or unreadable, which says so).
        let decoded = Root::decode(meta).map_err(|e| e.with_table(layout.table.as_ref()).with_key(key))?;
        if let Some((revision, recorded)) = &record {
            finish_record(env, layout, key, revision, recorded).await?;
        }
        return match decoded {
            (_, Root::Object(meta)) => {
                // An upgrade that crashed after its switch left legacy items
                // recorded in the root: running it again deletes them.
                // Fenced: an entry may be a staged save still running.
                match clean_fenced(env, layout, key, &meta.revision, &meta.stale).await {
                    Ok(()) => {}
                    Err(e) if e.is_conflict() => {}
                    Err(e) => return Err(e),
                }
                Ok(Upgrade::AlreadyCurrent)
            }
            (_, Root::Tombstone { .. }) => Err(not_found(layout, key)),
        };
    }
    if let Some(path) = legacy_shard_path(&meta) {
        return Err(Error::new(
            ErrorKind::Format,
            format!(
                "a dynamo-store 0.6 shard item (its metadata places it at `{path}`), not an object: upgrade the object that refers to it"
            ),
        )
        .with_table(layout.table.as_ref())
        .with_key(key));
    }
    let guard = unchanged(&root, &layout.key);
    let read = read_legacy(env, layout, key, root, &meta, true, false).await?;
    let doc = transform(read.body)?;
    let sealed = sealed_before(read.opened, &doc);
    let env = &Env { sealed_before: Some(&sealed), ..*env };
    save_over_legacy(env, layout, doc, key, &read.shard_items, &read.guards, guard).await?;
    // What an earlier attempt that crashed recorded (its own write id,
    // never this one's) goes too.
    if let Some((revision, recorded)) = &record {
        let _ = finish_record(env, layout, key, revision, recorded).await;
    }
    Ok(Upgrade::Upgraded)
}

/// What an upgrade's saves may not store in clear ([`Sealed`]): each
/// leaf `opened` (path and plaintext) by the path it keeps in `doc`, or,
/// where `doc` no longer holds it there, by its plaintext. A leaf the typed
/// form unwrapped from the class API's value wrapper (`{"__metatype__":
/// "value", "value": ..}`) keeps its path one step up. The codec enforces
/// it as it encodes each leaf, so the check and the write are one decision.
fn sealed_before(opened: Vec<(PlainPath, String)>, doc: &Value) -> Sealed {
    let is_leaf = |v: &Value| !matches!(v, Value::Object(_) | Value::Array(_));
    let mut sealed = Sealed::default();
    for (path, plaintext) in opened {
        let unwrapped = match path.steps.split_last() {
            Some((Step::Field(last), parent)) if last == "value" => Some(PlainPath { steps: parent.to_vec() }),
            _ => None,
        };
        let place = match path.find(doc) {
            Some(v) if is_leaf(v) => Some(path),
            Some(_) => None,
            None => unwrapped.filter(|parent| parent.find(doc).is_some_and(is_leaf)),
        };
        match place {
            Some(place) => sealed.paths.insert(place.to_string()),
            None => sealed.moved.insert(plaintext),
        };
    }
    sealed
}

/// What a table-wide upgrade did, object by object.
#[derive(Debug, Default)]
pub struct UpgradeReport {
    /// Objects rewritten into format 1.
    pub upgraded: usize,
    /// Objects in format 1 already.
    pub already_current: usize,
    /// Items of the table that are not objects, left alone: shard items
    /// (of dynamo-store 0.6 or format 1, in tables that hold several
    /// kinds), tombstones, records of upgrades in progress (finished when
    /// their object is gone).
    pub skipped: usize,
    /// Objects that could not be upgraded: their key and why. The run went
    /// on past them.
    pub failed: Vec<(String, Error)>,
}

/// Upgrades every object of `layout`'s root table, page by page (memory
/// stays flat but for the failures), going on past failures.
pub(crate) async fn upgrade_table(env: &Env<'_>, layout: &Layout) -> Result<UpgradeReport> {
    upgrade_table_with(env, layout, |_, body| Ok(Value::Object(body))).await
}

/// As [`upgrade_table`], each document passed through `transform` (with
/// its key) first, as [`upgrade`] does one.
pub(crate) async fn upgrade_table_with(
    env: &Env<'_>,
    layout: &Layout,
    transform: impl Fn(&str, Map<String, Value>) -> Result<Value>,
) -> Result<UpgradeReport> {
    Resolved::new(layout)?;
    let mut report = UpgradeReport::default();
    let mut start = None;
    loop {
        let scan = crate::backend::Scan { table: layout.table.to_string(), start, limit: Some(100), consistent: true, segment: None };
        let page = env.backend.scan(scan).await.map_err(|e| backend_error(e, &layout.table))?;
        for item in page.items {
            let Some(serde_dynamo::AttributeValue::S(key)) = item.get(layout.key.as_ref()) else { continue };
            match kind_of(&item, key) {
                Kind::Object => match upgrade(env, layout, key, |body| transform(key, body)).await {
                    Ok(Upgrade::Upgraded) => report.upgraded += 1,
                    Ok(Upgrade::AlreadyCurrent) => report.already_current += 1,
                    Err(e) => report.failed.push((key.clone(), e)),
                },
                Kind::UpgradeRecord(object) => {
                    report.skipped += 1;
                    if let Err(e) = sweep_record(env, layout, object).await {
                        report.failed.push((key.clone(), e));
                    }
                }
                Kind::Other => report.skipped += 1,
            }
        }
        match page.last_key {
            Some(last) => start = Some(last),
            None => return Ok(report),
        }
    }
}

/// What an item of a root table is, for a table-wide upgrade.
pub(crate) enum Kind<'a> {
    /// An object's root (or an item without metadata, refused by `upgrade`).
    Object,
    /// The record of a staged upgrade of the object keyed so.
    UpgradeRecord(&'a str),
    /// A shard item or a tombstone.
    Other,
}

pub(crate) fn kind_of<'a>(item: &crate::backend::Item, key: &'a str) -> Kind<'a> {
    use serde_dynamo::AttributeValue;
    let Some(meta) = item.get(META) else { return Kind::Object };
    if is_legacy_meta(meta) {
        return if legacy_shard_path(meta).is_some() { Kind::Other } else { Kind::Object };
    }
    let AttributeValue::M(map) = meta else { return Kind::Object };
    if map.contains_key("layout") || map.contains_key("write_id") && !map.contains_key("root") {
        return Kind::Object;
    }
    if map.contains_key("root") {
        return Kind::Other;
    }
    // A tombstone: an upgrade record, or a delete or first save unfinished.
    key.strip_suffix("#$upgrade").map_or(Kind::Other, Kind::UpgradeRecord)
}

/// Finishes the upgrade record of the object keyed `key` if the object is
/// no longer a dynamo-store 0.6 one (gone, or in format 1); a legacy
/// object's own upgrade finishes it otherwise.
pub(crate) async fn sweep_record(env: &Env<'_>, layout: &Layout, key: &str) -> Result<()> {
    let get = Get { table: layout.table.to_string(), key: key_item(&layout.key, key), projection: None, consistent: true };
    let root = env.backend.get(get).await.map_err(|e| backend_error(e, &layout.table).with_key(key))?;
    if root.as_ref().and_then(|r| r.get(META)).is_some_and(is_legacy_meta) {
        return Ok(());
    }
    match read_record(env, layout, key).await? {
        Some((revision, recorded)) => finish_record(env, layout, key, &revision, &recorded).await,
        None => Ok(()),
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::backend::{Item, Write};
    use crate::{Client, Store};
    use serde_dynamo::AttributeValue;

    fn legacy_root(name: &str) -> Item {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let meta =
            [("table_name", s("Legacy")), ("region_name", s("r")), ("primary_key_name", s("ID")), ("path", AttributeValue::Null(true))]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .chain([("shards".to_owned(), AttributeValue::L(vec![]))])
                .collect();
        [("ID".to_owned(), s("k")), ("name".to_owned(), s(name)), (META.to_owned(), AttributeValue::M(meta))].into()
    }

    /// A legacy root rewritten between the upgrade's read and its write
    /// (by the package, say) makes the upgrade a `Conflict`, and the
    /// newer legacy object stays as it is.
    #[tokio::test]
    async fn a_concurrent_legacy_write_is_detected_not_overwritten() {
        let db = Client::memory().unwrap();
        let store = Store::new("Legacy", "ID");
        db.store(&store).create_tables().await.unwrap();
        let put = |item: Item| Write::Put { table: "Legacy".into(), item, condition: None };
        db.backend().write(put(legacy_root("first"))).await.unwrap();
        let read_guard = unchanged(&legacy_root("first"), "ID");
        db.backend().write(put(legacy_root("second"))).await.unwrap();

        let doc = serde_json::json!({"name": "first"});
        let e = save_over_legacy(&db.env(), store.layout(), doc.clone(), "k", &[], &Default::default(), read_guard).await.unwrap_err();
        assert!(e.is_conflict(), "{e}");
        assert_eq!(db.store(&store).read("k").await.unwrap(), serde_json::json!({"name": "second"}), "the newer legacy object stands");
        assert_eq!(db.store(&store).upgrade("k").await.unwrap(), Upgrade::Upgraded);
        assert_eq!(db.store(&store).read("k").await.unwrap(), serde_json::json!({"name": "second"}));
    }

    /// The package rewriting a shard item under the same key, leaving the
    /// root as it was (deterministic shard keys, no encrypted root field,
    /// the same second), between the upgrade's read and its write: the
    /// upgrade is a `Conflict` and the newer shard content stands.
    #[tokio::test]
    async fn a_shard_rewritten_under_an_unchanged_root_is_detected() {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let meta = |table: &str, key: &str, path: Option<&str>, shards: Vec<AttributeValue>| {
            let entries = [
                ("table_name", s(table)),
                ("region_name", s("r")),
                ("primary_key_name", s(key)),
                ("path", path.map_or(AttributeValue::Null(true), s)),
                ("shards", AttributeValue::L(shards)),
            ];
            AttributeValue::M(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        };
        let db = Client::memory().unwrap();
        let store = Store::new("Legacy", "ID").shard(Store::new("LegacyLoc", "LID").at("$.loc"));
        db.store(&store).create_tables().await.unwrap();
        let loc_meta = meta("LegacyLoc", "LID", Some("$.loc"), vec![]);
        let shard = |city: &str| -> Item {
            [("LID".to_owned(), s("L1")), ("city".to_owned(), s(city)), (META.to_owned(), loc_meta.clone())].into()
        };
        let reference: AttributeValue = AttributeValue::M(
            [("primary_key", s("L1")), ("table_name:", s("LegacyLoc")), ("region_name:", s("r")), ("modified_utc", s("1"))]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        );
        let root: Item = [
            ("ID".to_owned(), s("k")),
            ("loc".to_owned(), reference),
            (META.to_owned(), meta("Legacy", "ID", None, vec![loc_meta.clone()])),
        ]
        .into();
        let put = |table: &str, item: Item| Write::Put { table: table.into(), item, condition: None };
        db.backend().write(put("LegacyLoc", shard("Paris"))).await.unwrap();
        db.backend().write(put("Legacy", root.clone())).await.unwrap();

        let env = db.env();
        let read = read_legacy(&env, store.layout(), "k", root.clone(), &root[META], true, false).await.unwrap();
        db.backend().write(put("LegacyLoc", shard("Rome"))).await.unwrap();
        let doc = Value::Object(read.body);
        let e =
            save_over_legacy(&env, store.layout(), doc, "k", &read.shard_items, &read.guards, unchanged(&root, "ID")).await.unwrap_err();
        assert!(e.is_conflict(), "{e}");
        assert_eq!(db.store(&store).read("k").await.unwrap(), serde_json::json!({"loc": {"city": "Rome"}}), "the newer shard stands");
        assert_eq!(db.store(&store).upgrade("k").await.unwrap(), Upgrade::Upgraded);
        assert_eq!(db.store(&store).read("k").await.unwrap(), serde_json::json!({"loc": {"city": "Rome"}}));
    }
}
