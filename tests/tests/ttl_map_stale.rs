//! `stale_if_error`: when rebuilding an expired value fails, memoizing callers get the last
//! value if it expired less than the window ago; `get` never does. Time comes from a
//! `ManualClock`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};
use tests::wait_until;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn map(expiry: Expiry) -> (TtlMap<String, u32>, ManualClock) {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .expiry(expiry)
        .stale_if_error(secs(300))
        .clock(clock.clone())
        .build();
    (map, clock)
}

fn down() -> Result<u32, &'static str> {
    Err("down")
}

#[test]
fn a_failed_rebuild_returns_the_last_value_within_the_window() {
    for expiry in [Expiry::Sliding, Expiry::Fixed] {
        let (map, clock) = map(expiry);
        map.insert("k".into(), 1);
        clock.advance(secs(60 + 299));
        assert_eq!(map.get("k"), None, "get never returns an expired value");
        assert_eq!(map.try_get_or_insert_with("k", down), Ok(1));
        assert_eq!(map.optionally_get_or_insert_with("k", || None), Some(1));
        let shared = map.try_get_or_insert_with_shared("k", down);
        assert_eq!(shared.ok(), Some(1));
        assert_eq!(map.stats().stale_served, 3);
        clock.advance(secs(1));
        assert_eq!(
            map.try_get_or_insert_with("k", down),
            Err("down"),
            "window over"
        );
    }
}

#[test]
fn a_successful_rebuild_replaces_the_stale_value() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(100));
    assert_eq!(map.try_get_or_insert_with("k", || Ok::<_, &str>(2)), Ok(2));
    assert_eq!(map.get("k"), Some(2));
    assert_eq!(map.stats().stale_served, 0);
}

#[test]
fn a_key_never_stored_gets_the_error() {
    let (map, _clock) = map(Expiry::Sliding);
    assert_eq!(map.try_get_or_insert_with("k", down), Err("down"));
}

#[test]
fn a_panicking_rebuild_still_panics() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(100));
    let result = catch_unwind(AssertUnwindSafe(|| {
        map.get_or_insert_with("k", || panic!("rebuild panicked"))
    }));
    assert!(result.is_err());
    assert_eq!(
        map.try_get_or_insert_with("k", down),
        Ok(1),
        "the value is still kept"
    );
}

#[test]
fn a_hit_on_an_expired_entry_does_not_revive_it_nor_lose_it() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(61));
    for _ in 0..3 {
        assert_eq!(map.get("k"), None);
    }
    assert_eq!(map.try_get_or_insert_with("k", down), Ok(1));
    assert_eq!(map.get("k"), None, "serving it stale does not make it live");
}

#[test]
fn the_waiters_of_a_failed_flight_get_the_stale_value_too() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(100));
    let joined = AtomicBool::new(false);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            map.try_get_or_insert_with_shared("k", || {
                wait_until("a waiter joined", || map.stats().coalesced == 1);
                joined.store(true, SeqCst);
                down()
            })
        });
        wait_until("the leader started", || map.stats().misses == 1);
        let waiter = map.try_get_or_insert_with_shared("k", down);
        assert_eq!(waiter.ok(), Some(1));
        assert_eq!(leader.join().unwrap().ok(), Some(1));
    });
    assert!(joined.load(SeqCst));
    assert_eq!(map.stats().stale_served, 2);
}

#[test]
fn expired_entries_are_kept_for_the_window_then_swept() {
    let (map, clock) = map(Expiry::Fixed);
    for k in 0..100 {
        map.insert(k.to_string(), k);
    }
    clock.advance(secs(61));
    assert_eq!(map.sweep(), 0, "kept while a failed rebuild may want them");
    assert_eq!(map.len(), 100);
    clock.advance(secs(300));
    assert_eq!(map.sweep(), 100);
    assert_eq!(map.try_get_or_insert_with("7", down), Err("down"));
}

#[test]
fn writes_remove_entries_past_their_window_without_a_sweep() {
    let (map, clock) = map(Expiry::Fixed);
    for round in 0..50u32 {
        for k in 0..100 {
            map.insert(format!("{round}-{k}"), k);
        }
        clock.advance(secs(60));
    }
    // At the last write (t = 2,940 s) six rounds were within ttl + window (60 s + 300 s); the
    // rest went on the write path, up to the README's bound: live + live/32 + 16 per shard
    // (16 shards) + one per writing thread.
    let live = 600;
    let bound = live + live / 32 + 16 * 16 + 1;
    assert!(map.len() <= bound, "len {} (bound {bound})", map.len());
    assert!(
        map.len() >= live,
        "len {}: live entries went too",
        map.len()
    );
}

#[test]
fn the_async_forms_get_the_stale_value() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(100));
    runtime.block_on(async {
        let value = map
            .try_get_or_insert_with_async("k", async { down() })
            .await;
        assert_eq!(value, Ok(1));
    });
}
