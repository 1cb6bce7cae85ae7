//! The public API against the Rust API Guidelines checklist: the common traits, the collection
//! traits a concurrent map used through `&self` can have, auto traits, and the failure
//! sections of the docs. (`#[must_use]` is checked by `compile_fail` doctests in
//! `cache-core/src/api_checks.rs`.)

use std::collections::HashSet;
use std::iter::FusedIterator;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::time::Duration;

use cache_core::redis::{FleetStats, RedisTier, Shared, TierError};
use cache_core::{
    Builder, Cache, Expiry, Iter, ManualClock, NoTtl, OptionRef, Reason, Stats, TtlMap, TupleRef,
    ttl_cached,
};

fn common<T: std::fmt::Debug + Clone + Send + Sync>() {}
fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}
fn value<T: Copy + Default + PartialEq + Eq + std::hash::Hash + std::fmt::Debug>() {}

#[test]
fn public_types_have_the_common_traits() {
    common::<TtlMap<String, u32>>();
    common::<Shared<String, u32>>();
    common::<ManualClock>();
    common::<Cache>();
    common::<RedisTier>();
    common::<TierError>();
    common::<NoTtl>();
    common::<TupleRef<(&str, &str)>>();
    common::<OptionRef<'static, str>>();
    // A panic in user code leaves a map usable (see `TtlMap`'s impls). `Shared`, `RedisTier`
    // and `Cache` (which may stand for a `Shared` map) make no such claim yet.
    unwind_safe::<TtlMap<String, u32>>();
    unwind_safe::<ManualClock>();
    unwind_safe::<Stats>();
    unwind_safe::<OptionRef<'static, str>>();
    value::<Stats>();
    value::<FleetStats>();
    value::<Expiry>();
    fn reason<T: Copy + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync>() {}
    reason::<Reason>();
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    error::<TierError>();
    fn debug<T: std::fmt::Debug + Send + Sync>() {}
    debug::<Builder<String, u32>>();
    debug::<Builder<String, u32, cache_core::DefaultHashBuilder, NoTtl>>();
    debug::<cache_core::redis::SharedBuilder<String, u32>>();
    debug::<Iter<'static, String, u32, cache_core::DefaultHashBuilder>>();
}

#[test]
fn an_option_ref_is_copied_whatever_it_borrows() {
    let region = OptionRef::<str>(Some("eu"));
    let copy = region;
    let map = TtlMap::new(Duration::from_secs(60));
    map.insert(Some("eu".to_string()), 1);
    assert_eq!(map.get(&region), Some(1), "still usable after the copy");
    assert_eq!(map.get(&copy), Some(1));
}

#[test]
fn stats_snapshots_can_be_hashed() {
    let map = TtlMap::new(Duration::from_secs(60));
    let mut seen = HashSet::new();
    seen.insert(map.stats());
    map.insert(1u8, 1u8);
    seen.insert(map.stats());
    seen.insert(map.stats());
    assert_eq!(seen.len(), 2);
    let fleet: HashSet<FleetStats> = [FleetStats::default(); 2].into_iter().collect();
    assert_eq!(fleet.len(), 1);
}

#[test]
fn a_map_borrowed_is_iterable_and_its_iterator_is_fused() {
    fn fused<I: FusedIterator>(iter: I) -> I {
        iter
    }
    let map = TtlMap::new(Duration::from_secs(60));
    map.insert("a".to_string(), 1);
    map.insert("b".to_string(), 2);
    let mut total = 0;
    for (key, value) in &map {
        assert!(key == "a" || key == "b");
        total += value;
    }
    assert_eq!(total, 3);
    let mut iter = fused((&map).into_iter());
    assert_eq!(iter.by_ref().count(), 2);
    map.insert("c".to_string(), 3);
    assert_eq!(iter.next(), None, "stays done");
    assert_eq!(iter.next(), None);
}

#[ttl_cached(ttl = "1m", cache = doubled_cache)]
fn doubled(x: u32) -> u32 {
    x * 2
}

#[test]
fn a_memoized_function_s_handle_is_iterable_with_for() {
    doubled(1);
    doubled(2);
    let mut seen: Vec<(u32, u32)> = Vec::new();
    for entry in doubled_cache() {
        seen.push(entry);
    }
    seen.sort_unstable();
    assert_eq!(seen, [(1, 2), (2, 4)]);
}

#[test]
fn extend_inserts_every_pair_through_a_handle() {
    let clock = ManualClock::new();
    let map: TtlMap<String, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    let mut handle = map.clone();
    handle.extend([("a".to_string(), 1), ("b".to_string(), 2)]);
    handle.extend(std::iter::once(("a".to_string(), 3)));
    assert_eq!(
        (map.len(), map.get("a"), map.get("b")),
        (2, Some(3), Some(2))
    );
    assert_eq!(map.stats().inserts, 3, "as three inserts");
    clock.advance(Duration::from_secs(60));
    assert_eq!(map.get("b"), None, "with the map's ttl");
}

fn shared_map(tier: RedisTier) -> Shared<String, u32> {
    TtlMap::<String, u32>::builder()
        .ttl(Duration::from_secs(60))
        .shared(tier)
        .build()
}

#[test]
fn a_shared_map_clone_is_another_handle_to_the_same_map() {
    // No I/O: a tier connects at its first use, and `get` asks only this process's map.
    let tier = RedisTier::new("redis://127.0.0.1:1/").unwrap();
    let map = shared_map(tier);
    let handle = map.clone();
    assert_eq!(handle.get("k"), None);
    assert_eq!(map.stats().misses, 1, "the clone's miss is the map's");
    assert!(std::ptr::eq(map.tier(), handle.tier()));
}

#[test]
fn a_shared_builder_s_debug_shows_options_and_never_the_url() {
    let tier = RedisTier::new("redis://:hunter2@127.0.0.1:1/")
        .unwrap()
        .namespace("billing");
    let builder = TtlMap::<String, u32>::builder()
        .ttl(Duration::from_secs(90))
        .name("quotes")
        .capacity(10)
        .expire_after(|_, _| None)
        .shared(tier);
    let text = format!("{builder:?}");
    for part in [
        "SharedBuilder",
        "90s",
        "quotes",
        "capacity: Some(10)",
        "expire_after: true",
        "billing",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
}

/// The doc comment just above `pub fn NAME` or `pub async fn NAME` in `file`, and the
/// function's signature up to its body.
fn doc_and_signature(file: &str, name: &str) -> (String, String) {
    let lines: Vec<&str> = file.lines().collect();
    let at = lines
        .iter()
        .position(|line| {
            let line = line.trim_start();
            [format!("pub fn {name}"), format!("pub async fn {name}")]
                .iter()
                .any(|start| {
                    line.starts_with(start.as_str()) && line[start.len()..].starts_with(['(', '<'])
                })
        })
        .unwrap_or_else(|| panic!("no pub fn {name}"));
    let mut doc = Vec::new();
    for line in lines[..at].iter().rev() {
        let line = line.trim_start();
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim());
        } else if !line.starts_with("#[") {
            break;
        }
    }
    doc.reverse();
    let signature = lines[at..]
        .iter()
        .take_while(|line| !line.trim_end().ends_with('{'))
        .chain(
            lines[at..]
                .iter()
                .find(|line| line.trim_end().ends_with('{')),
        )
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    (doc.join("\n"), signature)
}

/// C-FAILURE: the memoizing methods and `retain` say when they panic (re-entrant use), and
/// every public function that returns a `Result` says when it fails.
#[test]
fn memoizing_methods_document_their_panics_and_errors() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../cache-core/src/");
    let read = |file: &str| std::fs::read_to_string(format!("{root}{file}")).unwrap();
    let (memo, map) = (read("memo.rs"), read("map.rs"));
    let mut missing = Vec::new();
    for name in [
        "get_or_insert_with",
        "try_get_or_insert_with",
        "try_get_or_insert_with_shared",
        "optionally_get_or_insert_with",
        "optionally_get_or_insert_with_async",
        "get_or_insert_with_async",
        "try_get_or_insert_with_async",
        "try_get_or_insert_with_shared_async",
    ] {
        let (doc, signature) = doc_and_signature(&memo, name);
        if !doc.contains("# Panics") {
            missing.push(format!("{name}: # Panics"));
        }
        if signature.contains("-> Result<") && !doc.contains("# Errors") {
            missing.push(format!("{name}: # Errors"));
        }
    }
    let shared = read("redis/shared.rs");
    for name in [
        "get_or_insert_with_async",
        "try_get_or_insert_with_async",
        "try_get_or_insert_with_shared_async",
        "optionally_get_or_insert_with_async",
    ] {
        let (doc, signature) = doc_and_signature(&shared, name);
        if !doc.contains("# Panics") {
            missing.push(format!("Shared::{name}: # Panics"));
        }
        if signature.contains("-> Result<") && !doc.contains("# Errors") {
            missing.push(format!("Shared::{name}: # Errors"));
        }
    }
    if !doc_and_signature(&map, "retain").0.contains("# Panics") {
        missing.push("retain: # Panics".into());
    }
    for (file, name) in [
        ("redis/tier.rs", "new"),
        ("redis/tier.rs", "cluster"),
        ("redis/shared.rs", "remove_async"),
        ("redis/shared.rs", "clear_async"),
    ] {
        if !doc_and_signature(&read(file), name).0.contains("# Errors") {
            missing.push(format!("{name}: # Errors"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
