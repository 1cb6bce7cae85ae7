//! TtlMap's single-threaded behaviour, with time from a `ManualClock`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{Expiry, ManualClock, Reason, TtlMap, TupleRef};

const TTL: Duration = Duration::from_secs(64);
const SEC: Duration = Duration::from_secs(1);

fn map_with(expiry: Expiry) -> (TtlMap<String, u32>, ManualClock) {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(TTL)
        .expiry(expiry)
        .clock(clock.clone())
        .build();
    (map, clock)
}

#[test]
fn hit_returns_the_stored_value() {
    let (map, _) = map_with(Expiry::Sliding);
    map.insert("a".into(), 1);
    assert_eq!(map.get("a"), Some(1));
    assert!(map.contains_key("a"));
}

#[test]
fn miss_returns_none() {
    let (map, _) = map_with(Expiry::Sliding);
    map.insert("a".into(), 1);
    assert_eq!(map.get("b"), None);
    assert!(!map.contains_key("b"));
}

#[test]
fn sliding_refresh_keeps_a_used_entry_alive_past_the_ttl() {
    let (map, clock) = map_with(Expiry::Sliding);
    map.insert("a".into(), 1);
    for _ in 0..10 {
        clock.advance(TTL / 2);
        assert_eq!(map.get("a"), Some(1));
    }
    // Five TTLs later it is still there; left alone for one TTL it goes.
    clock.advance(TTL);
    assert_eq!(map.get("a"), None);
}

#[test]
fn fixed_expiry_is_not_extended_by_hits() {
    let (map, clock) = map_with(Expiry::Fixed);
    map.insert("a".into(), 1);
    clock.advance(TTL / 2);
    assert_eq!(map.get("a"), Some(1));
    clock.advance(TTL / 2 - Duration::from_nanos(1));
    assert_eq!(map.get("a"), Some(1));
    clock.advance(Duration::from_nanos(1));
    assert_eq!(map.get("a"), None);
}

#[test]
fn expired_entry_is_never_returned_even_before_it_is_swept() {
    let (map, clock) = map_with(Expiry::Sliding);
    map.insert("a".into(), 1);
    clock.advance(TTL);
    assert_eq!(map.len(), 1, "nothing has swept it yet");
    assert_eq!(map.get("a"), None);
    assert!(!map.contains_key("a"));
    assert_eq!(map.remove("a"), None);
    assert_eq!(map.len(), 0);
}

#[test]
fn sweep_removes_exactly_the_expired_entries() {
    let (map, clock) = map_with(Expiry::Fixed);
    for i in 0..100 {
        map.insert(format!("old-{i}"), i);
    }
    clock.advance(TTL / 2);
    for i in 0..50 {
        map.insert(format!("new-{i}"), i);
    }
    clock.advance(TTL / 2);
    assert_eq!(map.sweep(), 100);
    assert_eq!(map.len(), 50);
    assert!((0..50).all(|i| map.get(&format!("new-{i}")) == Some(i)));
    assert_eq!(map.stats().expirations, 100);
    assert_eq!(map.sweep(), 0);
}

#[test]
fn capacity_evicts_the_least_recently_used() {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(TTL)
        .capacity(3)
        .clock(clock.clone())
        .build();
    for k in ["a", "b", "c"] {
        map.insert(k.to_string(), 0);
        clock.advance(SEC * 2);
    }
    // Touch "a": "b" is now the least recently used.
    assert_eq!(map.get("a"), Some(0));
    clock.advance(SEC * 2);
    map.insert("d".to_string(), 0);
    assert_eq!(map.len(), 3);
    assert!(!map.contains_key("b"));
    assert!(["a", "c", "d"].iter().all(|k| map.contains_key(*k)));
    assert_eq!(map.stats().evictions, 1);
}

#[test]
fn capacity_zero_stores_nothing() {
    let map: TtlMap<String, u32> = TtlMap::builder().ttl(TTL).capacity(0).build();
    assert_eq!(map.get_or_insert_with("a", || 1), 1);
    assert!(map.is_empty());
}

#[test]
fn stats_count_hits_misses_inserts_and_removals() {
    let (map, clock) = map_with(Expiry::Sliding);
    map.insert("a".into(), 1);
    map.get("a");
    map.get("a");
    map.get("zzz");
    map.get_or_insert_with("b", || 2); // miss, insert
    map.get_or_insert_with("b", || 3); // hit
    clock.advance(TTL);
    map.sweep();
    let stats = map.stats();
    assert_eq!(stats.hits, 3);
    assert_eq!(stats.misses, 2);
    assert_eq!(stats.inserts, 2);
    assert_eq!(stats.expirations, 2);
    assert_eq!(stats.evictions, 0);
    assert_eq!(stats.coalesced, 0);
}

#[test]
fn debug_hides_keys_and_values() {
    let (map, _) = map_with(Expiry::Sliding);
    map.insert("sk-SECRET-KEY".into(), 424242);
    let shown = format!("{map:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(!shown.contains("424242"), "{shown}");
    assert!(shown.contains("len: 1"), "{shown}");
}

#[test]
fn insert_returns_the_replaced_live_value_only() {
    let (map, clock) = map_with(Expiry::Fixed);
    assert_eq!(map.insert("a".into(), 1), None);
    assert_eq!(map.insert("a".into(), 2), Some(1));
    clock.advance(TTL);
    assert_eq!(map.insert("a".into(), 3), None, "the old value had expired");
    assert_eq!(map.get("a"), Some(3));
}

#[test]
fn remove_and_clear_take_entries_out() {
    let (map, _) = map_with(Expiry::Sliding);
    map.insert("a".into(), 1);
    map.insert("b".into(), 2);
    assert_eq!(map.remove("a"), Some(1));
    assert_eq!(map.remove("a"), None);
    map.clear();
    assert!(map.is_empty());
}

#[test]
fn tuple_keys_are_found_by_tuples_of_borrows() {
    let map: TtlMap<(String, String, u8), u32> = TtlMap::new(TTL);
    let v = map.get_or_insert_with(&TupleRef(("acme", "gpt-4o", &3u8)), || 9);
    assert_eq!(v, 9);
    assert_eq!(map.get(&TupleRef(("acme", "gpt-4o", &3u8))), Some(9));
    assert_eq!(
        map.get(&("acme".to_string(), "gpt-4o".to_string(), 3)),
        Some(9)
    );
    assert_eq!(map.get(&TupleRef(("acme", "gpt-4o", &4u8))), None);
}

#[test]
fn on_evict_hears_every_departure_with_its_reason() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let clock = ManualClock::new();
    let log = Arc::clone(&heard);
    let map = TtlMap::builder()
        .ttl(TTL)
        .capacity(2)
        .clock(clock.clone())
        .on_evict(move |k: &String, v: &u32, reason| {
            log.lock().unwrap().push((k.clone(), *v, reason))
        })
        .build();
    map.insert("a".into(), 1);
    clock.advance(SEC * 2);
    map.insert("a".into(), 2);
    map.insert("b".into(), 3);
    clock.advance(SEC * 2);
    map.get("a");
    clock.advance(SEC * 2);
    map.insert("c".into(), 4);
    map.remove("a");
    clock.advance(TTL);
    map.sweep();
    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard,
        vec![
            ("a".to_string(), 1, Reason::Replaced),
            ("b".to_string(), 3, Reason::Capacity),
            ("a".to_string(), 2, Reason::Removed),
            ("c".to_string(), 4, Reason::Expired),
        ]
    );
}

#[test]
fn listener_may_use_the_map_without_deadlock() {
    let clock = ManualClock::new();
    let slot: Arc<Mutex<Option<TtlMap<String, u32>>>> = Arc::default();
    let handle = Arc::clone(&slot);
    let map = TtlMap::builder()
        .ttl(TTL)
        .clock(clock.clone())
        .on_evict(move |_: &String, _: &u32, _| {
            if let Some(map) = handle.lock().unwrap().as_ref() {
                map.insert("tombstone".into(), 0);
            }
        })
        .build();
    *slot.lock().unwrap() = Some(map.clone());
    map.insert("a".into(), 1);
    map.remove("a");
    assert_eq!(map.get("tombstone"), Some(0));
    slot.lock().unwrap().take();
}

#[test]
fn huge_durations_saturate_instead_of_overflowing() {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(Duration::MAX)
        .sweep_every(Duration::MAX)
        .clock(clock.clone())
        .build();
    map.insert("a".to_string(), 1);
    clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    clock.advance(Duration::MAX);
    assert_eq!(map.get("a"), None, "at the end of time even this expires");
    let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(100 * 365 * 24 * 3600));
    map.insert("a".into(), 1);
    assert_eq!(map.get("a"), Some(1));
}

#[test]
fn zero_ttl_entries_are_never_returned() {
    let map: TtlMap<String, u32> = TtlMap::new(Duration::ZERO);
    map.insert("a".into(), 1);
    assert_eq!(map.get("a"), None);
}

#[test]
fn clones_share_one_map() {
    let (map, _) = map_with(Expiry::Sliding);
    let other = map.clone();
    other.insert("a".into(), 1);
    assert_eq!(map.get("a"), Some(1));
}

#[test]
fn a_failing_constructor_is_not_cached() {
    let (map, _) = map_with(Expiry::Sliding);
    let err: Result<u32, &str> = map.try_get_or_insert_with("a", || Err("down"));
    assert_eq!(err, Err("down"));
    assert!(map.is_empty());
    assert_eq!(map.try_get_or_insert_with("a", || Ok::<_, &str>(5)), Ok(5));
    assert_eq!(map.get("a"), Some(5));
}

#[test]
fn a_constructor_may_use_the_map_for_another_key() {
    let (map, _) = map_with(Expiry::Sliding);
    let v = map.get_or_insert_with("outer", || map.get_or_insert_with("inner", || 1) + 1);
    assert_eq!((v, map.get("inner")), (2, Some(1)));
}

#[test]
fn a_constructor_asking_for_its_own_key_panics_instead_of_hanging() {
    let (map, _) = map_with(Expiry::Sliding);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.get_or_insert_with("a", || map.get_or_insert_with("a", || 1))
    }));
    let panic = result.expect_err("must panic");
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(
        message.contains("re-entrant call for the same key"),
        "{message}"
    );
    // The key is not wedged: the next caller constructs it.
    assert_eq!(map.get_or_insert_with("a", || 7), 7);
}

#[test]
fn a_panicking_listener_does_not_stop_later_sweeps() {
    let clock = ManualClock::new();
    let calls = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&calls);
    let map = TtlMap::builder()
        .ttl(TTL)
        .clock(clock.clone())
        .on_evict(move |_: &u32, _: &u32, _| {
            let mut calls = counter.lock().unwrap_or_else(|e| e.into_inner());
            *calls += 1;
            assert!(*calls != 1, "the first eviction's listener panics");
        })
        .build();
    for i in 0..10 {
        map.insert(i, i);
    }
    clock.advance(TTL);
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.sweep()));
    assert!(first.is_err());
    map.sweep();
    assert_eq!(map.len(), 0, "the second sweep finishes the job");
    assert_eq!(*calls.lock().unwrap_or_else(|e| e.into_inner()), 10);
}

#[test]
fn maps_and_clocks_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<TtlMap<String, u32>>();
    shareable::<ManualClock>();
}
