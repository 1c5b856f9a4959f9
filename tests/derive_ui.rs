//! Compile errors of `#[derive(DyObject)]`: one case per message, each
//! checked against its `.stderr` (regenerate with `TRYBUILD=overwrite`).

#[test]
#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr files hold rustc 1.95's wording; run on 1.95 or regenerate with TRYBUILD=overwrite"
)]
fn derive_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    for topic in ["attr", "container", "field", "multiple", "name", "pk", "serde", "shape", "shard"] {
        t.compile_fail(format!("tests/ui/{topic}/*.rs"));
    }
}
