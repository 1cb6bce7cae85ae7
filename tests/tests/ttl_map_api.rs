//! The API breadth beyond get/insert: iteration, optional constructors, counter resets.

use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_core::{ManualClock, TtlMap};
use tests::wait_until;

#[test]
fn iter_yields_the_live_entries_only_and_counts_no_hits() {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    for k in 0..100u32 {
        map.insert(k, k * 2);
    }
    clock.advance(Duration::from_secs(30));
    for k in 100..150u32 {
        map.insert(k, k * 2);
    }
    clock.advance(Duration::from_secs(30)); // the first hundred expired
    let mut live: Vec<_> = map.iter().collect();
    live.sort_unstable();
    assert_eq!(live, (100..150).map(|k| (k, k * 2)).collect::<Vec<_>>());
    assert_eq!((map.stats().hits, map.stats().misses), (0, 0));
}

#[test]
fn an_optional_constructor_caches_some_and_shares_none_with_its_waiters() {
    let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
    let runs = AtomicUsize::new(0);
    let barrier = Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                let found = map.optionally_get_or_insert_with("k", || {
                    runs.fetch_add(1, SeqCst);
                    wait_until("3 wait", || map.stats().coalesced == 3);
                    None
                });
                assert_eq!(found, None);
            });
        }
    });
    assert_eq!(runs.load(SeqCst), 1, "one run for four callers");
    assert!(map.is_empty(), "None is not cached");
    assert_eq!(map.optionally_get_or_insert_with("k", || Some(7)), Some(7));
    assert_eq!(map.optionally_get_or_insert_with("k", || None), Some(7));
}

#[test]
fn counters_reset_to_zero_and_count_on() {
    let map = TtlMap::new(Duration::from_secs(60));
    map.get_or_insert_with("a", || 1);
    map.get("a");
    map.reset_stats();
    assert_eq!(map.stats(), Default::default());
    map.get("a");
    assert_eq!((map.stats().hits, map.stats().misses), (1, 0));
}
