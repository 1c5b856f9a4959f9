//! The report, as one JSON document or as a few lines for a person.

use dystore::rotate::{KeyUse, Mode, Report};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;

/// Prints `report` on stdout. A closed or full stdout is an error to
/// handle, never a panic (`println!` would panic).
pub(crate) fn print(report: &Report, json: bool) -> std::io::Result<()> {
    let text = if json { serde_json::to_string_pretty(report).map_err(std::io::Error::other)? } else { human(report) };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// Prints, with `--json`, the error that stopped a run as one JSON
/// document on stdout: `{"error": {"kind", "message"}, "exit": code}`.
pub(crate) fn print_error(kind: Option<dystore::ErrorKind>, message: &str, code: u8) {
    let kind = kind.map(|k| format!("{k:?}"));
    let doc = serde_json::json!({"error": {"kind": kind, "message": message}, "exit": code});
    let mut out = std::io::stdout().lock();
    // Nothing more can be said if stdout is closed: the exit code says it.
    let _ = writeln!(out, "{doc:#}").and_then(|()| out.flush());
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
    let table = printable(&r.table);
    let _ = writeln!(out, "{mode} `{table}`: {} objects in {secs:.1} s ({rate:.0} objects/s), {} segments", r.objects, r.segments);
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
    if r.owing > 0 {
        let done = if r.mode == Mode::Rotate { "deleted by this run" } else { "still to delete (a rotation deletes them)" };
        let _ = writeln!(out, "  objects with items left by an interrupted write: {}, {done}", r.owing);
    }
    let _ = writeln!(
        out,
        "  {:<20} {:>10} {:>10} {:>10} {:>10}   {:>10} {:>10}",
        "key id", "objects", "leaves", "stale", "legacy", "after: obj", "leaves"
    );
    let ids: std::collections::BTreeSet<&String> = r.before.keys().chain(r.after.keys()).collect();
    for id in ids {
        let (b, a) = (r.before.get(id).copied().unwrap_or_default(), r.after.get(id).copied().unwrap_or_default());
        let KeyUse { objects, leaves, stale_leaves, legacy_leaves } = b;
        let id = printable(id);
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
            printable(&f.table),
            printable(if f.key.is_empty() { "-" } else { &f.key }),
            printable(f.path.as_deref().unwrap_or("-")),
            printable(f.key_id.as_deref().unwrap_or("-")),
            printable(&f.message)
        );
    }
    if let Some(retire) = &r.retire {
        let verdict = match retire.passed {
            true => "passed: no leaf uses it",
            false if r.objects == 0 && r.failed > 0 => "FAILED: no object was examined",
            false => "FAILED: still in use, or not everything could be read",
        };
        let (id, leaves, objects) = (printable(&retire.key_id), retire.leaves, retire.objects);
        let _ = writeln!(out, "  retire `{id}`: {verdict} ({leaves} leaves in {objects} objects)");
    }
    out.trim_end().to_owned()
}

/// `text` with control characters (and the marks that reorder text on a
/// terminal) escaped, so that a key, key id, path or table read from data
/// or a file can neither move the cursor, recolour nor fake lines.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| if unsafe_char(c) { c.escape_default().to_string() } else { c.to_string() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("k\u{1b}[31mred\nline"), "k\\u{1b}[31mred\\nline");
        assert_eq!(printable("\u{202e}abc"), "\\u{202e}abc");
        assert!(matches!(printable("plain ünïcode"), Cow::Borrowed("plain ünïcode")));
    }
}
