//! A table-wide sweep: finishes every cleanup a crash left recorded in the
//! roots of a layout, and finds shard and chunk items no root accounts for.

use super::delete::finish_tombstone_fenced;
use super::staged::upgrade_record_of;
use super::stale::clean_fenced;
use super::upgrade::sweep_record;
use super::{Env, backend_error, key_item, read_root};
use crate::backend::{Item, Scan, Write};
use crate::error::{Error, Result};
use crate::format::legacy::is_legacy_meta;
use crate::format::{Guard, META, Root};
use crate::layout::Layout;
use crate::tree::Resolved;
use serde_dynamo::AttributeValue;
use std::collections::{BTreeMap, BTreeSet};

/// What a sweep found and did.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Objects (roots) read.
    pub objects: usize,
    /// Roots whose recorded leftovers (items owed deletion) were deleted.
    pub cleaned: usize,
    /// Tombstones finished (their items deleted, then themselves) and
    /// records of crashed upgrades whose object is gone.
    pub finished: usize,
    /// Shard and chunk items (table, key) that no root names or records:
    /// left by something other than dystore's own saves, or by data
    /// written before crash-safe saves. Deleted when the sweep was asked to.
    pub orphans: Vec<(String, String)>,
    /// Keys the sweep could not handle, and why; it went on past them.
    pub failed: Vec<(String, Error)>,
}

/// Sweeps `layout`'s tables: see [`Objects::sweep`](crate::Objects::sweep).
pub(crate) async fn sweep(env: &Env<'_>, layout: &Layout, delete_orphans: bool) -> Result<SweepReport> {
    let resolved = Resolved::new(layout)?;
    let mut report = SweepReport::default();
    for item in scan_all(env, &layout.table).await? {
        let Some(AttributeValue::S(key)) = item.get(layout.key.as_ref()) else { continue };
        let Some(meta) = item.get(META) else { continue };
        if is_legacy_meta(meta) || is_part(meta) {
            continue;
        }
        if let Some(object) = upgrade_record_of(key) {
            report.finished += 1;
            if let Err(e) = sweep_record(env, layout, object).await {
                report.failed.push((key.clone(), e));
            }
            continue;
        }
        let root = match Root::decode(meta.clone()) {
            Ok((_, root)) => root,
            Err(e) => {
                report.failed.push((key.clone(), e.with_table(layout.table.as_ref()).with_key(key.as_str())));
                continue;
            }
        };
        match root {
            Root::Object(meta) => {
                report.objects += 1;
                if !meta.stale.is_empty() {
                    // Fenced: an entry may be a staged save still running.
                    match clean_fenced(env, layout, key, &meta.revision, &meta.stale).await {
                        Ok(()) => report.cleaned += 1,
                        // Written meanwhile: that writer cleans what it finds.
                        Err(e) if e.is_conflict() => {}
                        Err(e) => report.failed.push((key.clone(), e)),
                    }
                }
            }
            Root::Tombstone { revision, stale } => {
                report.finished += 1;
                let _ = finish_tombstone_fenced(env, layout, key, &revision, &stale).await;
            }
        }
    }
    // Every table that can hold shard or chunk items of this layout.
    let mut tables = BTreeMap::new();
    collect_tables(&resolved.root, &mut tables);
    for (table, key_name) in tables {
        for item in scan_all(env, &table).await? {
            let Some(AttributeValue::S(key)) = item.get(&key_name) else { continue };
            let Some(part) = part_of(&item) else { continue };
            if accounted(env, layout, &part).await? {
                continue;
            }
            if delete_orphans {
                // Only while it is still the item scanned: a save may have
                // written the key again since.
                let condition = Guard::WriteId(&part.write_id).condition(&key_name);
                let delete = Write::Delete { table: table.clone(), key: key_item(&key_name, key), condition: Some(condition) };
                if let Err(e) = env.backend.write(delete).await.map_err(|e| e.split())
                    && !matches!(e.0, crate::backend::BackendError::ConditionFailed)
                {
                    report.failed.push((key.clone(), backend_error(e.0, &table).with_key(key.as_str()).with_retries(e.1)));
                    continue;
                }
            }
            report.orphans.push((table.clone(), key.clone()));
        }
    }
    Ok(report)
}

/// Whether an item's metadata is a shard's or a chunk's (it names its root).
fn is_part(meta: &AttributeValue) -> bool {
    matches!(meta, AttributeValue::M(m) if m.contains_key("root"))
}

/// A shard or chunk item's root key and write id.
struct Part {
    root: String,
    write_id: String,
}

fn part_of(item: &Item) -> Option<Part> {
    let AttributeValue::M(meta) = item.get(META)? else { return None };
    match (meta.get("root")?, meta.get("write_id")?) {
        (AttributeValue::S(root), AttributeValue::S(write_id)) => Some(Part { root: root.clone(), write_id: write_id.clone() }),
        _ => None,
    }
}

/// Whether the root of `part` names it (same write id) or records it as
/// owed deletion or pending.
async fn accounted(env: &Env<'_>, layout: &Layout, part: &Part) -> Result<bool> {
    Ok(match read_root(env, layout, &part.root).await {
        Ok(Some(Root::Object(meta))) => meta.write_id == part.write_id || meta.stale.contains_key(&part.write_id),
        Ok(Some(Root::Tombstone { stale, .. })) => stale.contains_key(&part.write_id),
        Ok(None) => false,
        // A root dystore cannot read is not for the sweep to judge.
        Err(_) => true,
    })
}

fn collect_tables(node: &crate::tree::Node<'_>, out: &mut BTreeMap<String, String>) {
    out.insert(node.layout.table.to_string(), node.layout.key.to_string());
    for branch in &node.shards {
        collect_tables(&branch.node, out);
    }
}

/// Every item of `table`, page by page.
async fn scan_all(env: &Env<'_>, table: &str) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut start = None;
    let mut seen = BTreeSet::new();
    loop {
        let scan = Scan { table: table.to_owned(), start: start.take(), limit: Some(100), consistent: true, segment: None };
        let page = env.backend.scan(scan).await.map_err(|e| backend_error(e, table))?;
        items.extend(page.items);
        match page.last_key {
            Some(last) if seen.insert(format!("{last:?}")) => start = Some(last),
            _ => return Ok(items),
        }
    }
}
