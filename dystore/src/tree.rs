//! A layout resolved for one operation: its shard paths parsed into a tree
//! that splitting, assembling and key enumeration walk, and its encryption
//! rules compiled, all checked before any request.

use crate::error::{Error, ErrorKind, Result};
use crate::format::META;
use crate::layout::{Layout, Shard};
use crate::path::{Pattern, PatternStep, PlainPath, Step, parse_pattern};
use crate::rules::{Rules, never_matches, never_matches_shard};

/// A layout with every shard path parsed and checked: what each operation
/// resolves once and walks, never re-reading path strings.
#[derive(Debug)]
pub(crate) struct Node<'l> {
    pub(crate) layout: &'l Layout,
    pub(crate) shards: Vec<Branch<'l>>,
}

/// A shard of a [`Node`], placed in its parent object.
#[derive(Debug)]
pub(crate) struct Branch<'l> {
    /// The field steps from the parent object (`$.location` is `[location]`).
    pub(crate) at: PlainPath,
    /// One item per element of a list (`$.locales[*]`).
    pub(crate) list: bool,
    pub(crate) node: Node<'l>,
}

/// A layout resolved for one operation: its shard tree and its encryption
/// rules, both checked.
#[derive(Debug)]
pub(crate) struct Resolved<'l> {
    pub(crate) root: Node<'l>,
    pub(crate) rules: Rules,
    /// The most bytes a shard key outside lists adds to the root key (`#`
    /// and the shard's path).
    shard_key_tail: usize,
    /// What `read_path` worked out for the plain paths read lately, by
    /// path as given (see [`crate::ops::by_path::Route`]).
    pub(crate) routes: std::sync::Mutex<lru::LruCache<String, std::sync::Arc<crate::ops::by_path::Route>>>,
    /// What a root records of the layout ([`crate::format::recorded`]),
    /// kept here so that an operation looks its layout up once.
    pub(crate) recorded: std::sync::Arc<crate::format::Recorded>,
}

/// How many paths' routes a resolved layout keeps: an application reads a
/// handful of paths; past it, the least recently read is worked out again.
const ROUTES: std::num::NonZeroUsize = std::num::NonZeroUsize::new(64).expect("not zero");

self_cell::self_cell!(
    /// A layout and its resolution, kept together ([`Resolved::cached`]).
    pub(crate) struct Cached {
        owner: Layout,
        #[covariant]
        dependent: Resolved,
    }
);

impl Resolved<'_> {
    /// `layout` resolved as [`Resolved::new`] does, from a cache of the
    /// layouts used lately (see [`crate::layout_cache`]): the shard paths
    /// and rules of a layout are parsed and checked once, not once per
    /// operation. The resolution borrows a copy of `layout` kept with it
    /// (`Cached::borrow_dependent`), equal to `layout`.
    pub(crate) fn cached(layout: &Layout) -> Result<std::sync::Arc<Cached>> {
        static RESOLVED: crate::layout_cache::ByLayout<Cached> = crate::layout_cache::ByLayout::new();
        RESOLVED.get_or_try(layout, || Cached::try_new(layout.clone(), |kept| Resolved::new(kept)))
    }
}

impl<'l> Resolved<'l> {
    /// Resolves and checks `layout`: table and key names, shard paths, and
    /// every encryption rule (well formed, and able to match something).
    ///
    /// Errors name the table of the layout at fault and the path as written.
    pub(crate) fn new(layout: &'l Layout) -> Result<Self> {
        let root = Node::new(layout)?;
        let mut rules = Rules::default();
        root.add_rules(&Pattern::default(), &mut rules)?;
        root.check_rules(&rules, &Pattern::default())?;
        let shard_key_tail = root
            .shards
            .iter()
            .filter(|b| !b.list)
            .flat_map(|b| crate::shard::deterministic_keys(&b.node, "", &b.at))
            .map(|(_, tail)| tail.len())
            .max()
            .unwrap_or(0);
        let recorded = crate::format::recorded(layout);
        Ok(Resolved { root, rules, shard_key_tail, routes: std::sync::Mutex::new(lru::LruCache::new(ROUTES)), recorded })
    }

    /// The layout's shape ([`crate::format::shape_of`]).
    pub(crate) fn shape(&self) -> &str {
        &self.recorded.shape
    }

    /// [`check_shard_keys`](crate::shard::check_shard_keys) of the object
    /// keyed `root_key`: by the lengths known from the layout, the shard
    /// keys written out only when one is too long, to name it.
    pub(crate) fn check_shard_keys(&self, root_key: &str) -> Result<()> {
        if root_key.len() + self.shard_key_tail <= crate::shard::MAX_KEY_BYTES {
            return Ok(());
        }
        crate::shard::check_shard_keys(&self.root, root_key)
    }
}

impl<'l> Node<'l> {
    /// Parses and checks `layout`'s names and shard paths, all the way down.
    pub(crate) fn new(layout: &'l Layout) -> Result<Self> {
        validate_table_name(&layout.table)?;
        if layout.key.is_empty() || layout.key.len() > 255 {
            return Err(
                Error::new(ErrorKind::InvalidKey, "the key attribute name must be 1 to 255 bytes").with_table(layout.table.as_ref())
            );
        }
        if layout.key == META {
            // Every item dystore writes holds its metadata under this name.
            return Err(Error::new(
                ErrorKind::InvalidKey,
                format!("the key attribute cannot be named `{META}`: every item holds dystore's metadata under that name"),
            )
            .with_table(layout.table.as_ref()));
        }
        let shards = layout
            .shards
            .iter()
            .map(|shard| {
                let (at, list) = position(shard)?;
                check_place(layout, shard, &at)?;
                if shard.layout.table == layout.table && shard.layout.key == layout.key {
                    return Err(Error::new(ErrorKind::Config, "a shard cannot share its parent's table and key attribute")
                        .with_table(layout.table.as_ref())
                        .with_path(shard.path.as_ref()));
                }
                Ok(Branch { at, list, node: Node::new(&shard.layout)? })
            })
            .collect::<Result<Vec<Branch<'l>>>>()?;
        for (i, a) in shards.iter().enumerate() {
            if let Some(b) = shards[..i].iter().find(|b| a.at.strip_prefix(&b.at).is_some() || b.at.strip_prefix(&a.at).is_some()) {
                return Err(Error::new(
                    ErrorKind::InvalidPath,
                    format!("two shards at overlapping paths, `{}` and `{}`: one would be stored inside the other's reference", b.at, a.at),
                )
                .with_table(layout.table.as_ref())
                .with_path(a.at.to_string()));
            }
        }
        Ok(Node { layout, shards })
    }

    /// Whether this node (or any shard below it) has list shards.
    pub(crate) fn has_lists(&self) -> bool {
        self.shards.iter().any(|b| b.list || b.node.has_lists())
    }

    fn add_rules(&self, at: &Pattern, rules: &mut Rules) -> Result<()> {
        rules.add(self.layout, at)?;
        for branch in &self.shards {
            rules.add_shard_place(at.join(&branch.at.to_pattern()));
            branch.node.add_rules(&branch.place(at), rules)?;
        }
        Ok(())
    }

    /// Refuses a rule that can never match: into a list shard without an
    /// index, into an object shard with one, or at a key attribute or the
    /// metadata.
    fn check_rules(&self, rules: &Rules, at: &Pattern) -> Result<()> {
        for rule in rules.iter() {
            let mut why = never_matches(&rule.pattern, at, &self.layout.key);
            for branch in &self.shards {
                why = why.or_else(|| never_matches_shard(&rule.pattern, &at.join(&branch.at.to_pattern()), branch.list));
            }
            if let Some(why) = why {
                let (table, path) = &rule.declared;
                return Err(Error::new(ErrorKind::InvalidPath, format!("the encryption rule can never match: {why}"))
                    .with_table(table.as_str())
                    .with_path(path.as_str()));
            }
        }
        self.shards.iter().try_for_each(|b| b.node.check_rules(rules, &b.place(at)))
    }
}

impl Branch<'_> {
    /// Where this shard's object sits, as a pattern from the root, when its
    /// parent sits at `parent`: `$.location`, or `$.locales[*]` for a list.
    fn place(&self, parent: &Pattern) -> Pattern {
        let mut at = parent.join(&self.at.to_pattern());
        if self.list {
            at.steps.push(PatternStep::AnyIndex);
        }
        at
    }
}

/// Refuses a shard placed at its parent's key attribute or metadata: the
/// parent's item holds those, and never a reference.
fn check_place(parent: &Layout, shard: &Shard, at: &PlainPath) -> Result<()> {
    match at.steps.first() {
        Some(Step::Field(name)) if name == parent.key.as_ref() || name == META => {
            Err(Error::new(ErrorKind::InvalidPath, format!("a shard cannot be placed at `{name}`, which its parent's item holds itself"))
                .with_table(shard.layout.table.as_ref())
                .with_path(shard.path.as_ref()))
        }
        _ => Ok(()),
    }
}

/// Parses a shard's path: `$.a.b` (one object) or `$.a.b[*]` (one item per
/// element of a list).
fn position(shard: &Shard) -> Result<(PlainPath, bool)> {
    let context = |e: Error| e.with_table(shard.layout.table.as_ref()).with_path(shard.path.as_ref());
    let mut pattern = parse_pattern(&shard.path).map_err(context)?;
    let list = pattern.steps.last() == Some(&PatternStep::AnyIndex);
    if list {
        pattern.steps.pop();
    }
    match pattern.to_plain() {
        Some(at) if !at.steps.is_empty() && at.steps.iter().all(|s| matches!(s, Step::Field(_))) => Ok((at, list)),
        _ => Err(context(Error::new(ErrorKind::InvalidPath, "a shard path names a field: `$.name`, `$.a.b` or `$.list[*]`"))),
    }
}

/// The public check of a layout is the resolution every operation does;
/// it lives here, beside it, so `layout.rs` needs nothing from this module.
impl Layout {
    /// Checks the layout as every operation does before its first request:
    /// table names and key attribute names DynamoDB accepts, shard paths of
    /// names ending in an optional `[*]`, and encryption rules that parse and
    /// can match something (not into a list shard without an index, not
    /// into an object shard with one, not at a key attribute or at
    /// `__dystore_meta__`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPath`](crate::ErrorKind) naming the path as
    /// written and the table of the layout that declares it;
    /// `InvalidTableName`, `InvalidKey` or `Config` for the names.
    ///
    /// ```
    /// use dystore::{ErrorKind, Store};
    /// assert!(Store::new("People", "ID").encrypt("$['first name']").layout().validate().is_ok());
    /// let typo = Store::new("People", "ID").encrypt("contact");
    /// assert_eq!(typo.layout().validate().unwrap_err().kind(), ErrorKind::InvalidPath);
    /// ```
    pub fn validate(&self) -> crate::Result<()> {
        Resolved::new(self).map(drop)
    }
}

/// DynamoDB's rule: 3 to 255 characters of `[A-Za-z0-9_.-]`.
pub(crate) fn validate_table_name(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if (3..=255).contains(&name.len()) && ok_chars {
        return Ok(());
    }
    Err(Error::new(ErrorKind::InvalidTableName, "a table name is 3 to 255 characters of letters, digits, `_`, `-` and `.`")
        .with_table(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn equal_layouts_share_one_resolution_and_a_bad_one_is_refused_every_time() {
        let store = || Store::new("CacheT", "ID").shard(Store::new("CacheS", "SID").at("$.s")).encrypt("$.a");
        let (a, b) = (Resolved::cached(store().layout()).unwrap(), Resolved::cached(store().layout()).unwrap());
        assert!(std::sync::Arc::ptr_eq(&a, &b), "resolved once for equal layouts");
        let resolved = a.borrow_dependent();
        assert_eq!((resolved.root.layout, resolved.root.shards.len()), (store().layout(), 1));
        assert!(resolved.rules.encrypts(&crate::path::plain("$.a").steps));
        // Another rule is another layout: its own resolution.
        let other = Resolved::cached(store().encrypt("$.b").layout()).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&a, &other));
        assert!(other.borrow_dependent().rules.encrypts(&crate::path::plain("$.b").steps));
        let bad = Store::new("CacheT", "ID").encrypt("$..a");
        for _ in 0..2 {
            let e = Resolved::cached(bad.layout()).err().expect("a malformed rule");
            assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some("$..a")));
        }
    }

    proptest::proptest! {
        /// Checking shard keys by their lengths gives the answer writing
        /// them out gives, on both sides of DynamoDB's limit.
        #[test]
        fn shard_keys_are_checked_alike_by_length_and_written_out(
            root_len in 1_900usize..2_048,
            inner in "[a-z]{1,60}",
            outer in "[a-z]{1,60}",
        ) {
            let store = Store::new("LenT", "ID")
                .shard(Store::new("LenS", "SID").at(format!("$.{outer}")).shard(Store::new("LenG", "GID").at(format!("$.{inner}"))))
                .shard(Store::new("LenL", "LID").at("$.L0[*]"));
            let resolved = Resolved::new(store.layout()).unwrap();
            let key = "k".repeat(root_len);
            let fast = resolved.check_shard_keys(&key).map_err(|e| (e.kind(), e.path().map(str::to_owned)));
            let slow = crate::shard::check_shard_keys(&resolved.root, &key).map_err(|e| (e.kind(), e.path().map(str::to_owned)));
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn table_names_follow_dynamodb_rules() {
        for bad in ["ab", "has space", "semi;colon", &"x".repeat(256)] {
            assert_eq!(validate_table_name(bad).unwrap_err().kind(), ErrorKind::InvalidTableName, "{bad}");
        }
        validate_table_name("My_Table-1.0").unwrap();
    }

    #[test]
    fn shard_paths_take_quoted_names_and_refuse_everything_else() {
        let odd = Store::new("People", "ID").shard(Store::new("Odd", "OID").at("$['a b']['e.mail'][*]")).into_layout();
        let node = Node::new(&odd).unwrap();
        assert_eq!(node.shards[0].at, PlainPath { steps: vec![Step::Field("a b".into()), Step::Field("e.mail".into())] });
        assert!(node.shards[0].list);
        for bad in ["location", "$", "$[*]", "$.a[0]", "$.a[*].b", "$..a", "$['']", "$.a.*", "$.a["] {
            let layout = Store::new("People", "ID").shard(Store::new("Locations", "IDX").at(bad)).into_layout();
            let e = Layout::validate(&layout).unwrap_err();
            assert_eq!((e.kind(), e.path(), e.table()), (ErrorKind::InvalidPath, Some(bad), Some("Locations")), "{bad}");
        }
    }

    #[test]
    fn rules_that_can_never_match_are_refused() {
        let with = |rule: &str| {
            Store::new("People", "ID")
                .encrypt(rule)
                .shard(Store::new("Locations", "IDX").at("$.location"))
                .shard(Store::new("Locales", "LID").at("$.locales[*]"))
                .into_layout()
        };
        for ok in ["$", "$.location", "$.location.city", "$.locales", "$.locales[*].type", "$.locales[2].type", "$.other[*]"] {
            Layout::validate(&with(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for never in [
            "$.locales.type",
            "$.location[*]",
            "$.location[0].x",
            "$.ID",
            "$.__dystore_meta__",
            "$.location.IDX",
            "$.locales[*].LID",
            "$[*].card",
            "$[0]",
            "$[*]",
            "$.locales[*][0]",
            "$.locales[0][*]",
            "$.locales[*][*]",
            "$.location[0]",
        ] {
            let e = Layout::validate(&with(never)).unwrap_err();
            assert_eq!((e.kind(), e.path(), e.table()), (ErrorKind::InvalidPath, Some(never), Some("People")), "{never}");
            assert!(e.to_string().contains("can never match"), "{e}");
        }
        for (rule, table) in [("$.LID", "Locales"), ("$[0]", "Locales")] {
            let nested = Store::new("People", "ID").shard(Store::new("Locales", "LID").at("$.locales[*]").encrypt(rule)).into_layout();
            let e = Layout::validate(&nested).unwrap_err();
            assert_eq!((e.path(), e.table()), (Some(rule), Some(table)));
        }
    }

    #[test]
    fn shards_at_reserved_or_overlapping_places_are_refused() {
        for bad in ["$.ID", "$.__dystore_meta__", "$.ID.x"] {
            let layout = Store::new("People", "ID").shard(Store::new("Locations", "IDX").at(bad)).into_layout();
            let e = Layout::validate(&layout).unwrap_err();
            assert_eq!((e.kind(), e.path()), (ErrorKind::InvalidPath, Some(bad)), "{bad}: {e}");
        }
        for (a, b) in [("$.a", "$['a']"), ("$.a", "$.a.b"), ("$.a.b", "$.a[*]")] {
            let layout = Store::new("People", "ID").shard(Store::new("One", "K1").at(a)).shard(Store::new("Two", "K2").at(b)).into_layout();
            let e = Layout::validate(&layout).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidPath, "{a} {b}");
            assert!(e.to_string().contains("overlapping"), "{e}");
        }
    }
}
