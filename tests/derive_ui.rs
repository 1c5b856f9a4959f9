//! Compile errors of `#[derive(DyObject)]`: one case per message, each
//! checked against its `.stderr` (regenerate with `TRYBUILD=overwrite`).

#[test]
fn derive_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    for topic in ["attr", "container", "field", "multiple", "name", "pk", "serde", "shape", "shard"] {
        t.compile_fail(format!("tests/ui/{topic}/*.rs"));
    }
}
