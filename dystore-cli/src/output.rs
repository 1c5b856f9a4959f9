//! The report, as one JSON document or as a few lines for a person.

use anyhow::Result;
use dystore::rotate::{KeyUse, Mode, Report};
use std::fmt::Write as _;

/// Prints `report` on stdout.
pub(crate) fn print(report: &Report, json: bool) -> Result<()> {
    let text = if json { serde_json::to_string_pretty(report)? } else { human(report) };
    println!("{text}");
    Ok(())
}

fn human(r: &Report) -> String {
    let mut out = String::new();
    let mode = match r.mode {
        Mode::Plan => "plan",
        Mode::Rotate => "rotate",
        Mode::Verify => "verify",
    };
    let secs = r.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { r.objects as f64 / secs } else { 0.0 };
    let _ = writeln!(out, "{mode} `{}`: {} objects in {secs:.1} s ({rate:.0} objects/s), {} segments", r.table, r.objects, r.segments);
    if r.resumed_segments > 0 {
        let _ = writeln!(out, "  resumed {} segments from their checkpoints (objects before them are not counted)", r.resumed_segments);
    }
    let _ = match r.mode {
        Mode::Rotate => writeln!(
            out,
            "  rotated {} ({} upgraded from dynamo-store 0.6), already current {}, conflicts retried {}, vanished {}, skipped {}",
            r.rotated, r.upgraded, r.current, r.conflicts, r.vanished, r.skipped
        ),
        Mode::Plan | Mode::Verify => writeln!(out, "  stale {}, current {}, skipped {}", r.stale_objects, r.current, r.skipped),
    };
    let _ = writeln!(
        out,
        "  {:<20} {:>10} {:>10} {:>10} {:>10}   {:>10} {:>10}",
        "key id", "objects", "leaves", "stale", "legacy", "after: obj", "leaves"
    );
    let ids: std::collections::BTreeSet<&String> = r.before.keys().chain(r.after.keys()).collect();
    for id in ids {
        let (b, a) = (r.before.get(id).copied().unwrap_or_default(), r.after.get(id).copied().unwrap_or_default());
        let KeyUse { objects, leaves, stale_leaves, legacy_leaves } = b;
        let _ = writeln!(
            out,
            "  {id:<20} {objects:>10} {leaves:>10} {stale_leaves:>10} {legacy_leaves:>10}   {:>10} {:>10}",
            a.objects, a.leaves
        );
    }
    let _ = writeln!(out, "  estimated capacity: {:.0} RCU, {:.0} WCU", r.consumed.rcu, r.consumed.wcu);
    let _ = writeln!(out, "  failures: {}", r.failed);
    for f in &r.failures {
        let _ = writeln!(
            out,
            "    {:?} table `{}` key `{}` path `{}` key id `{}`: {}",
            f.kind,
            f.table,
            f.key,
            f.path.as_deref().unwrap_or("-"),
            f.key_id.as_deref().unwrap_or("-"),
            f.message
        );
    }
    if let Some(retire) = &r.retire {
        let verdict = if retire.passed { "passed: no leaf uses it" } else { "FAILED: still in use, or not everything could be read" };
        let _ = writeln!(out, "  retire `{}`: {verdict} ({} leaves in {} objects)", retire.key_id, retire.leaves, retire.objects);
    }
    out.trim_end().to_owned()
}
