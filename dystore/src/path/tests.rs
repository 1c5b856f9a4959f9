use super::*;
use proptest::prelude::*;

#[test]
fn plain_paths_round_trip_to_normal_form() {
    for p in ["$", "$.a", "$.location.city", "$.friends[0]", "$.locales[2].type", "$['odd name'].x", "$.first-name", "$.2fa"] {
        assert_eq!(plain(p).to_string(), p);
    }
    assert_eq!(plain("$['a']['b']").to_string(), "$.a.b");
    assert_eq!(plain("$[\"a\"]").to_string(), "$.a");
    for odd in
        ["it's", "back\\slash", "both ' and \\", "e.mail", "städte", "a b", "$", "*", "@", "[0]", "0", "😀", "tab\there", "nl\n", "\u{1}"]
    {
        let path = PlainPath::root().child(Step::Field(odd.to_owned()));
        assert_eq!(plain(&path.to_string()), path, "{path}");
    }
}

#[test]
fn quoted_names_read_rfc_9535_escapes() {
    let field = |p: &str| match plain(p).steps.as_slice() {
        [Step::Field(name)] => name.clone(),
        other => panic!("{p}: {other:?}"),
    };
    assert_eq!(field(r"$['first name']"), "first name");
    assert_eq!(field(r"$['e.mail']"), "e.mail");
    assert_eq!(field(r#"$["it's"]"#), "it's");
    assert_eq!(field(r"$['it\'s']"), "it's");
    assert_eq!(field(r"$['a\\b']"), "a\\b");
    assert_eq!(field(r"$['a\nb\tc\/']"), "a\nb\tc/");
    assert_eq!(field(r"$['\u00e9']"), "é");
    assert_eq!(field(r"$['\ud83d\ude00']"), "😀");
    assert_eq!(field("$.städte"), "städte", "non-ASCII letters are allowed after `.`");
    assert_eq!(field("$['[0]']"), "[0]", "brackets inside quotes are a name");
    for bad in [r"$['\x']", r"$['\u+041']", r"$['\u12']", r"$['\ud83d']", "$['a\nb']", "$['']", "$.a[\"\"]"] {
        assert_eq!(parse(bad).unwrap_err().kind(), ErrorKind::InvalidPath, "{bad:?}");
    }
}

#[test]
fn patterns_take_any_index() {
    let p = parse_pattern("$.orders[*].card_last4").unwrap();
    assert_eq!(p.to_string(), "$.orders[*].card_last4");
    assert!(p.matches(&plain("$.orders[3].card_last4").steps));
    assert!(!p.matches(&plain("$.orders.card_last4").steps));
    assert!(p.covers(&plain("$.orders[0].card_last4.x").steps));
    assert!(!p.covers(&plain("$.orders[0]").steps));
    assert!(parse_pattern("$['a b'][*]").unwrap().covers(&plain("$['a b'][7]").steps));
    for bad in ["contact", "$..a", "$.a.*", "$.a[?(@.x)]", "$.a[0:2]", "$['a','b']", "$.", ""] {
        assert_eq!(parse_pattern(bad).unwrap_err().kind(), ErrorKind::InvalidPath, "{bad}");
    }
}

#[test]
fn rich_paths_are_queries_and_any_index_a_pattern() {
    for p in ["$..city", "$.a.*", "$.a[?(@.x > 1)]", "$.a[0:2]"] {
        assert!(matches!(parse(p).unwrap(), Path::Query(_)), "{p}");
    }
    assert!(matches!(parse("$.a[*].b").unwrap(), Path::Pattern(_)));
}

#[test]
fn malformed_paths_are_invalid_path_errors() {
    for p in ["", "a.b", "contact", "$.", "$.a[", "$.a['b'", "$ .a", "$.a[?(@.x >", "$.a b", "$.e.mail'", "$.a$b", "$[]", "$[ 1]"] {
        let e = parse(p).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidPath, "{p}");
        assert_eq!(e.path(), Some(p));
    }
}

#[test]
fn write_paths_must_be_plain() {
    let e = parse_plain_only("$.a[*].b", "write_path").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidPath);
    assert!(e.to_string().contains("wildcards"), "{e}");
}

#[test]
fn operand_uses_placeholders_for_every_name() {
    let mut expr = Expr::default();
    let op = plain("$.location.city").operand(&mut expr);
    assert_eq!(op, "#n0.#n1");
    assert_eq!(expr.names["#n1"], "city");
    let op = plain("$.tags[3]").operand(&mut expr);
    assert_eq!(op, "#n2[3]");
}

#[test]
fn patterns_find_every_match_in_order() {
    let doc = serde_json::json!({"o": [{"c": 1}, {"d": 2}, {"c": 3}]});
    let found = parse_pattern("$.o[*].c").unwrap().find_all(&doc);
    assert_eq!(found, [&serde_json::json!(1), &serde_json::json!(3)]);
}

/// Names from every class users really write: simple, spaced, dotted,
/// quoted, bracketed, escaped, JSONPath's own signs, non-ASCII, emoji,
/// digits only, control characters, and the empty name.
pub(crate) fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,6}",
        "[0-9]{1,3}",
        proptest::collection::vec(
            prop_oneof![
                Just(' '),
                Just('.'),
                Just('\''),
                Just('"'),
                Just('['),
                Just(']'),
                Just('\\'),
                Just('$'),
                Just('*'),
                Just('@'),
                Just('ä'),
                Just('é'),
                Just('城'),
                Just('😀'),
                Just('\n'),
                Just('\u{1}'),
                Just('-'),
                Just('_'),
                Just('a'),
                Just('Z'),
                Just('0'),
            ],
            1..8,
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![3 => any_name().prop_map(Step::Field), 1 => (0usize..50).prop_map(Step::Index)]
}

proptest! {
    #[test]
    fn printing_then_parsing_gives_the_same_path(steps in proptest::collection::vec(any_step(), 0..5)) {
        let path = PlainPath { steps };
        let text = path.to_string();
        prop_assert_eq!(parse_plain_only(&text, "test").unwrap(), path.clone());
        prop_assert_eq!(parse_pattern(&text).unwrap().to_plain(), Some(path));
    }

    #[test]
    fn patterns_print_and_parse_back(steps in proptest::collection::vec(prop_oneof![any_step().prop_map(PatternStep::Step), Just(PatternStep::AnyIndex)], 0..5)) {
        let pattern = Pattern { steps };
        prop_assert_eq!(parse_pattern(&pattern.to_string()).unwrap(), pattern);
    }

    /// Paths read in place read as the parser reads them; those the
    /// codec prints with dot names and indexes only are all read in place.
    /// (Quoted names, and unicode names the parser also reads after a dot,
    /// go to the parser.)
    #[test]
    fn borrowed_steps_read_as_the_parser_reads(
        steps in proptest::collection::vec(any_step(), 0..6),
        tokens in proptest::collection::vec(prop_oneof![
            4 => Just("."), 4 => Just("a"), 2 => Just("0"), 2 => Just("12"), 1 => Just("007"), 2 => Just("["), 2 => Just("]"),
            1 => Just("ä"), 1 => Just("_-"), 1 => Just("'"), 1 => Just("\""), 1 => Just("*"), 1 => Just("$"), 1 => Just(" "),
        ], 0..10),
        big in any::<u128>(),
    ) {
        let printed = PlainPath { steps: steps.clone() }.to_string();
        let dot_names = steps.iter().all(|s| match s {
            Step::Field(name) => is_simple_name(name),
            Step::Index(_) => true,
        });
        prop_assert_eq!(borrowed_steps(&printed).is_some(), dot_names, "{}", printed);
        for path in [printed, format!("${}", tokens.concat()), format!("$.a[{big}]"), format!("$[{big}].b")] {
            if let Some(borrowed) = borrowed_steps(&path) {
                let parsed = parse_plain_only(&path, "test");
                prop_assert!(parsed.is_ok(), "{} read in place, refused by the parser", path);
                let parsed = parsed.unwrap();
                let owned: Vec<StepRef<'_>> = parsed.steps.iter().map(Step::as_ref).collect();
                prop_assert_eq!(borrowed.as_slice(), owned.as_slice(), "{}", path);
            }
        }
    }

    #[test]
    fn the_parser_is_total(text in "\\PC{0,24}", tail in "[\\[\\]'\"\\\\.*$@?() 0-9a-z]{0,12}") {
        let text = format!("${text}{tail}");
        let _ = parse(&text);
        let _ = parse_pattern(&text);
    }
}

/// However deep a rule, its index is built, copied, searched and dropped
/// without recursing (a nested tree overflowed the stack at a few thousand
/// steps; second break test of issue 14). Run on a test thread's 2 MB stack.
#[test]
fn a_pattern_index_of_a_very_deep_pattern_copies_and_drops_without_recursing() {
    let deep = parse_pattern(&format!("${}", ".a".repeat(100_000))).unwrap();
    let mut index = PatternIndex::default();
    index.insert(&deep, 7);
    index.insert(&parse_pattern("$.a").unwrap(), 3);
    let copy = index.clone();
    drop(index);
    let path: Vec<Step> = (0..100_001).map(|_| Step::Field("a".into())).collect();
    let mut found = Vec::new();
    copy.covering(path.iter().map(Step::as_ref), |id, whole| found.push((id, whole)));
    assert_eq!(found, [(3, false), (7, false)]);
    found.clear();
    copy.covering(path[..100_000].iter().map(Step::as_ref), |id, whole| found.push((id, whole)));
    assert_eq!(found, [(3, false), (7, true)]);
}

#[test]
fn indexes_have_no_leading_zeros() {
    // RFC 9535, 2.3.3: `[01]` is no index (it read as index 1 before).
    for bad in ["$.a[01]", "$[00]", "$.a[007].b", "$.a[01][*]"] {
        assert_eq!(parse(bad).unwrap_err().kind(), ErrorKind::InvalidPath, "{bad}");
        assert!(borrowed_steps(bad).is_none(), "{bad} read in place");
    }
    for good in ["$.a[0]", "$.a[10]", "$.a[100].b", "$[0]"] {
        assert!(parse(good).is_ok(), "{good}");
    }
}
