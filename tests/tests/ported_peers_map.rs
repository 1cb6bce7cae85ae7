//! Peers' own test suites ported to `TtlMap`, to find promises we break.
//!
//! Sources (read at moka-rs/moka 2d8289e, v0.12.14, and arthurprs/quick-cache 99809ce):
//! - moka `src/sync/cache.rs` `mod tests`, `src/future/cache.rs` `mod tests`,
//!   `tests/entry_api_sync.rs`, `tests/runtime_tokio.rs`;
//! - quick_cache `src/lib.rs` `mod tests`, `src/sync.rs` `mod tests`.
//!
//! Time comes from a `ManualClock`; where a peer test sleeps to order threads, the port waits
//! on the map's counters (`stats().misses`, `stats().coalesced`) or on flags instead.
//!
//! Where our documented promise differs from the peer's, the assertion follows OUR promise and
//! the test's doc comment says `Difference:`. The differences met:
//! - capacity eviction is LRU by deadline (sliding) or oldest insert (fixed), never refused
//!   admission: moka's TinyLFU rejects a new key until it is popular enough;
//! - the listener runs synchronously in the call that removed the entry (moka: immediately or
//!   at `run_pending_tasks`); an expired entry is heard only once something removes it
//!   (a sweep, a write over it, `remove`);
//! - a panicking listener's panic is resumed in the caller once the map is consistent, and the
//!   listener stays installed (moka logs the panic and disables the listener);
//! - `try_get_or_insert_with` does not share errors: waiters make their own attempt at once
//!   (`try_get_or_insert_with_shared` is the moka-like form); quick_cache retries waiters one
//!   after another;
//! - `Debug` never shows keys or values (moka prints the entries);
//! - a constructor that asks for its own key panics (moka and quick_cache hang);
//! - no weigher, entry API, `set_capacity`, `drain` or per-item stats: those tests are not
//!   ported (see the report).
//!
//! FAILING ON PURPOSE (real bugs in cache-core, kept here to show them):
//! - `quick_cache_get_or_insert_attempt_value_lost_behind_a_new_flight` (deterministic), and
//!   the same bug, rarely, in `quick_cache_get_or_insert` (seen once in about 25 runs): a waiter's
//!   own attempt after a failed flight is not stored when another caller has meanwhile started
//!   a new flight for the key, though no write came; if that flight fails too, the success is
//!   lost. README ("an attempt's value is stored unless a write to that shard's keys came
//!   meanwhile") and memo.rs's module docs promise otherwise; `Inner::store_attempt` returns
//!   early on `pending.is_some()`.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use cache_core::{Expiry, ManualClock, Reason, TtlMap, TupleRef};
use tests::{assert_reentry, two_worker_runtime, wait_until, wait_until_async};

use tests::heard::{recorder, take, take_sorted};

const HOUR: Duration = Duration::from_secs(3600);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---------------------------------------------------------------------------------------------
// moka src/sync/cache.rs
// ---------------------------------------------------------------------------------------------

/// Ports moka `sync::cache::tests::max_capacity_zero`: a capacity of 0 stores nothing.
#[test]
fn moka_max_capacity_zero() {
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(HOUR)
        .capacity(0)
        .on_evict(listener)
        .build();
    map.insert(0, ());
    assert!(!map.contains_key(&0));
    assert!(map.get(&0).is_none());
    map.sweep();
    assert!(!map.contains_key(&0));
    assert!(map.get(&0).is_none());
    assert_eq!(map.len(), 0);
    assert_eq!(
        map.stats().evictions,
        1,
        "a refused value counts as evicted"
    );
    assert_eq!(map.stats().inserts, 0, "a refused value is not stored");
    assert_eq!(take(&heard), [(0, (), Reason::Capacity)]);
}

/// Ports moka `sync::cache::tests::basic_single_thread`. Difference: moka's TinyLFU refuses
/// "d" twice (too unpopular) before admitting it; we always admit the new key and evict the
/// least recently used ("c"), so "d" is there after the first insert.
#[test]
fn moka_basic_single_thread() {
    let clock = ManualClock::new();
    let tick = || clock.advance(secs(1)); // ttl/64 < 1 s: every hit moves the deadline
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .capacity(3)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert("a", "alice");
    tick();
    map.insert("b", "bob");
    tick();
    assert_eq!(map.get(&"a"), Some("alice"));
    assert!(map.contains_key(&"a"));
    assert!(map.contains_key(&"b"));
    tick();
    assert_eq!(map.get(&"b"), Some("bob"));
    tick();
    map.insert("c", "cindy");
    assert_eq!(map.get(&"c"), Some("cindy"));
    assert!(map.contains_key(&"c"));
    tick();
    assert_eq!(map.get(&"a"), Some("alice"));
    tick();
    assert_eq!(map.get(&"b"), Some("bob"));
    tick();
    map.insert("d", "david");
    assert_eq!(take(&heard), [("c", "cindy", Reason::Capacity)]);
    assert_eq!(map.get(&"d"), Some("david"));
    assert_eq!(map.get(&"c"), None);
    map.insert("d", "dennis");
    assert_eq!(take(&heard), [("d", "david", Reason::Replaced)]);
    assert_eq!(map.get(&"a"), Some("alice"));
    assert_eq!(map.get(&"b"), Some("bob"));
    assert_eq!(map.get(&"d"), Some("dennis"));
    assert!(!map.contains_key(&"c"));

    assert_eq!(map.remove(&"b"), Some("bob")); // moka: invalidate
    assert_eq!(map.get(&"b"), None);
    assert!(!map.contains_key(&"b"));
    assert!(map.remove(&"b").is_none());
    assert_eq!(map.remove(&"d"), Some("dennis"));
    assert_eq!(map.get(&"d"), None);
    assert_eq!(
        take(&heard),
        [
            ("b", "bob", Reason::Removed),
            ("d", "dennis", Reason::Removed)
        ]
    );
}

/// Ports moka `sync::cache::tests::basic_lru_single_thread` (moka's `EvictionPolicy::lru()`),
/// with a clock tick between steps so that "recently used" is exact (hits within one tick are
/// told apart only by a reference bit, as documented).
#[test]
fn moka_basic_lru_single_thread() {
    let clock = ManualClock::new();
    let tick = || clock.advance(secs(1));
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .capacity(3)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert("a", "alice");
    tick();
    map.insert("b", "bob");
    tick();
    assert_eq!(map.get(&"a"), Some("alice"));
    tick();
    assert!(map.contains_key(&"a"));
    assert!(map.contains_key(&"b"));
    assert_eq!(map.get(&"b"), Some("bob"));
    tick();
    // a -> b
    map.insert("c", "cindy");
    assert_eq!(map.get(&"c"), Some("cindy"));
    tick();
    // a -> b -> c
    assert!(map.contains_key(&"a"));
    assert_eq!(map.get(&"a"), Some("alice"));
    tick();
    assert_eq!(map.get(&"b"), Some("bob"));
    tick();
    assert!(map.contains_key(&"b"));
    // c -> a -> b
    map.insert("d", "david");
    assert_eq!(take(&heard), [("c", "cindy", Reason::Capacity)]);
    tick();
    assert_eq!(map.get(&"a"), Some("alice"));
    tick();
    assert_eq!(map.get(&"b"), Some("bob"));
    assert_eq!(map.get(&"c"), None);
    tick();
    assert_eq!(map.get(&"d"), Some("david"));
    assert!(map.contains_key(&"a"));
    assert!(map.contains_key(&"b"));
    assert!(!map.contains_key(&"c"));
    assert!(map.contains_key(&"d"));
    tick();
    // a -> b -> d
    map.remove(&"b");
    assert_eq!(take(&heard), [("b", "bob", Reason::Removed)]);
    assert_eq!(map.get(&"b"), None);
    assert!(!map.contains_key(&"b"));
    assert!(map.remove(&"b").is_none());
    assert_eq!(map.remove(&"d"), Some("david"));
    assert_eq!(take(&heard), [("d", "david", Reason::Removed)]);
    tick();
    // a
    map.insert("e", "emily");
    tick();
    map.insert("f", "frank");
    tick();
    map.insert("g", "gina"); // "a" is the least recently used
    assert_eq!(take(&heard), [("a", "alice", Reason::Capacity)]);
    assert_eq!(map.get(&"a"), None);
    assert_eq!(map.get(&"e"), Some("emily"));
    assert_eq!(map.get(&"f"), Some("frank"));
    assert_eq!(map.get(&"g"), Some("gina"));
    assert_eq!(map.len(), 3);
}

/// Ports moka `sync::cache::tests::basic_multi_threads`.
#[test]
fn moka_basic_multi_threads() {
    let map: TtlMap<u32, String> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    thread::scope(|s| {
        for id in 0..4 {
            let map = &map;
            s.spawn(move || {
                map.insert(10, format!("{id}-100"));
                map.get(&10);
                map.insert(20, format!("{id}-200"));
                map.remove(&10);
            });
        }
    });
    assert!(map.get(&10).is_none());
    assert!(map.get(&20).is_some());
    assert!(!map.contains_key(&10));
    assert!(map.contains_key(&20));
}

/// Ports moka `sync::cache::tests::invalidate_all` (`clear`): every entry is heard as
/// removed, synchronously. Difference: moka delivers in insertion order; our order across
/// shards is unspecified, so the record is sorted.
#[test]
fn moka_invalidate_all() {
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(HOUR)
        .capacity(100)
        .on_evict(listener)
        .build();
    map.insert("a", "alice");
    map.insert("b", "bob");
    map.insert("c", "cindy");
    assert_eq!(map.get(&"a"), Some("alice"));
    assert_eq!(map.get(&"b"), Some("bob"));
    assert_eq!(map.get(&"c"), Some("cindy"));
    map.clear();
    assert_eq!(
        take_sorted(&heard),
        [
            ("a", "alice", Reason::Removed),
            ("b", "bob", Reason::Removed),
            ("c", "cindy", Reason::Removed)
        ]
    );
    map.insert("d", "david");
    assert!(map.get(&"a").is_none());
    assert!(map.get(&"b").is_none());
    assert!(map.get(&"c").is_none());
    assert_eq!(map.get(&"d"), Some("david"));
    assert!(!map.contains_key(&"a"));
    assert!(map.contains_key(&"d"));
    assert_eq!(map.len(), 1);
}

/// Same, on a map without a capacity (16 shards), where `clear` empties shard by shard.
#[test]
fn moka_invalidate_all_sharded() {
    let (heard, listener) = recorder();
    let map = TtlMap::builder().ttl(HOUR).on_evict(listener).build();
    for k in 0..100u32 {
        map.insert(k, k);
    }
    map.clear();
    assert!(map.is_empty());
    let all = take_sorted(&heard);
    let expected: Vec<_> = (0..100u32).map(|k| (k, k, Reason::Removed)).collect();
    assert_eq!(all, expected);
}

/// Ports moka `sync::cache::tests::invalidate_entries_if` (`retain` with the negated
/// predicate). Difference: ours is synchronous, so an entry inserted after `retain` returned
/// is trivially kept (moka must take care not to apply the predicate to it).
#[test]
fn moka_invalidate_entries_if() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(HOUR)
        .capacity(100)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert(0, "alice");
    map.insert(1, "bob");
    map.insert(2, "alex");
    clock.advance(secs(5));
    assert_eq!(map.get(&0), Some("alice"));
    assert_eq!(map.get(&1), Some("bob"));
    assert_eq!(map.get(&2), Some("alex"));
    let names: HashSet<&str> = ["alice", "alex"].into_iter().collect();
    map.retain(|_, v| !names.contains(v));
    assert_eq!(
        take_sorted(&heard),
        [(0, "alice", Reason::Removed), (2, "alex", Reason::Removed)]
    );
    clock.advance(secs(5));
    map.insert(3, "alice");
    assert!(map.get(&0).is_none());
    assert!(map.get(&2).is_none());
    assert_eq!(map.get(&1), Some("bob"));
    assert_eq!(map.get(&3), Some("alice"));
    assert_eq!(map.len(), 2);
    clock.advance(secs(5));
    map.retain(|_, v| *v != "alice");
    map.retain(|_, v| *v != "bob");
    assert_eq!(
        take_sorted(&heard),
        [(1, "bob", Reason::Removed), (3, "alice", Reason::Removed)]
    );
    assert!(map.get(&1).is_none());
    assert!(map.get(&3).is_none());
    assert_eq!(map.len(), 0);
}

/// Ports moka `sync::cache::tests::time_to_live` (`Expiry::Fixed`). Difference: an expired
/// entry is heard when something removes it (here `sweep`, moka's `run_pending_tasks`).
#[test]
fn moka_time_to_live() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(10))
        .expiry(Expiry::Fixed)
        .capacity(100)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert("a", "alice");
    clock.advance(secs(5)); // 5 s
    assert_eq!(map.get(&"a"), Some("alice"));
    assert!(map.contains_key(&"a"));
    clock.advance(secs(5)); // 10 s
    assert_eq!(map.get(&"a"), None);
    assert!(!map.contains_key(&"a"));
    assert_eq!(map.iter().count(), 0);
    assert_eq!(map.sweep(), 1);
    assert!(map.is_empty());
    assert_eq!(take(&heard), [("a", "alice", Reason::Expired)]);

    map.insert("b", "bob");
    assert_eq!(map.len(), 1);
    clock.advance(secs(5)); // 15 s
    assert_eq!(map.get(&"b"), Some("bob"));
    assert!(map.contains_key(&"b"));
    assert_eq!(map.len(), 1);
    map.insert("b", "bill");
    assert_eq!(take(&heard), [("b", "bob", Reason::Replaced)]);
    clock.advance(secs(5)); // 20 s: "bill" was stored at 15 s
    assert_eq!(map.get(&"b"), Some("bill"));
    assert!(map.contains_key(&"b"));
    assert_eq!(map.len(), 1);
    clock.advance(secs(5)); // 25 s
    assert_eq!(map.get(&"a"), None);
    assert_eq!(map.get(&"b"), None);
    assert!(!map.contains_key(&"b"));
    assert_eq!(map.iter().count(), 0);
    map.sweep();
    assert!(map.is_empty());
    assert_eq!(take(&heard), [("b", "bill", Reason::Expired)]);
    assert_eq!(map.stats().expirations, 2);
}

/// Ports moka `sync::cache::tests::time_to_idle` (`Expiry::Sliding`): `get` resets the idle
/// timer, `contains_key` does not.
#[test]
fn moka_time_to_idle() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(10))
        .expiry(Expiry::Sliding)
        .capacity(100)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert("a", "alice");
    clock.advance(secs(5)); // 5 s
    assert_eq!(map.get(&"a"), Some("alice"));
    clock.advance(secs(5)); // 10 s
    map.insert("b", "bob");
    assert_eq!(map.len(), 2);
    clock.advance(secs(2)); // 12 s
    assert!(map.contains_key(&"a"));
    assert!(map.contains_key(&"b"));
    assert_eq!(map.len(), 2);
    clock.advance(secs(3)); // 15 s
    assert_eq!(map.get(&"a"), None);
    assert_eq!(map.get(&"b"), Some("bob"));
    assert!(!map.contains_key(&"a"));
    assert!(map.contains_key(&"b"));
    assert_eq!(map.iter().count(), 1);
    map.sweep();
    assert_eq!(map.len(), 1);
    assert_eq!(take(&heard), [("a", "alice", Reason::Expired)]);
    clock.advance(secs(10)); // 25 s
    assert_eq!(map.get(&"a"), None);
    assert_eq!(map.get(&"b"), None);
    assert!(!map.contains_key(&"b"));
    assert_eq!(map.iter().count(), 0);
    map.sweep();
    assert!(map.is_empty());
    assert_eq!(take(&heard), [("b", "bob", Reason::Expired)]);
}

/// Ports moka `sync::cache::tests::ensure_access_time_is_updated_immediately_after_read`
/// (moka issue #359).
#[test]
fn moka_ensure_access_time_is_updated_immediately_after_read() {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(5))
        .capacity(10)
        .clock(clock.clone())
        .build();
    map.insert(1, 1);
    clock.advance(secs(4));
    assert_eq!(map.get(&1), Some(1));
    clock.advance(secs(2));
    assert_eq!(map.get(&1), Some(1));
    map.sweep();
    assert_eq!(map.get(&1), Some(1));
}

/// Ports moka `sync::cache::tests::time_to_live_by_expiry_type` (moka's `Expiry` returning
/// 10 s on create and on update; ours: `expire_after`, applied whenever a value is stored).
#[test]
fn moka_time_to_live_by_expiry_type() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(HOUR)
        .capacity(100)
        .expire_after(|_: &&str, _: &&str| Some(secs(10)))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert("a", "alice");
    clock.advance(secs(5));
    assert_eq!(map.get(&"a"), Some("alice"));
    clock.advance(secs(5)); // 10 s
    assert_eq!(map.get(&"a"), None);
    assert!(!map.contains_key(&"a"));
    assert_eq!(map.iter().count(), 0);
    map.sweep();
    assert!(map.is_empty());
    map.insert("b", "bob");
    clock.advance(secs(5)); // 15 s
    assert_eq!(map.get(&"b"), Some("bob"));
    map.insert("b", "bill");
    clock.advance(secs(5)); // 20 s
    assert_eq!(map.get(&"b"), Some("bill"));
    clock.advance(secs(5)); // 25 s
    assert_eq!(map.get(&"b"), None);
    map.sweep();
    assert!(map.is_empty());
    assert_eq!(
        take(&heard),
        [
            ("a", "alice", Reason::Expired),
            ("b", "bob", Reason::Replaced),
            ("b", "bill", Reason::Expired)
        ]
    );
}

/// Ports moka `sync::cache::tests::time_to_idle_by_expiry_type`: a per-value limit with
/// sliding expiry. Difference: moka's `expire_after_read` can extend a value's idle time on
/// each read; our `expire_after` is a cap fixed at store, and the sliding ttl does the rest.
#[test]
fn moka_time_to_idle_by_expiry_type() {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(10))
        .expiry(Expiry::Sliding)
        .expire_after(|_: &&str, v: &&str| (*v == "short").then(|| secs(12)))
        .clock(clock.clone())
        .build();
    map.insert("a", "short");
    map.insert("b", "long");
    for _ in 0..2 {
        clock.advance(secs(5));
        assert_eq!(map.get(&"a"), Some("short"));
        assert_eq!(map.get(&"b"), Some("long"));
    }
    clock.advance(secs(2)); // 12 s: the value's own limit, however often it was read
    assert_eq!(map.get(&"a"), None);
    assert_eq!(map.get(&"b"), Some("long"));
    clock.advance(secs(10));
    assert_eq!(map.get(&"b"), None);
}

/// Ports moka `sync::cache::tests::test_expiry_using_get_with`: the per-value expiry is
/// consulted when a memoizing call stores a value, not on a hit.
#[test]
fn moka_expiry_using_get_with() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let map = TtlMap::builder()
        .ttl(HOUR)
        .capacity(100)
        .expire_after(move |_: &&str, _: &&str| {
            counted.fetch_add(1, SeqCst);
            None
        })
        .build();
    assert_eq!(map.get_or_insert_with(&"a", || "alice"), "alice");
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(map.get_or_insert_with(&"a", || "alex"), "alice");
    assert_eq!(calls.load(SeqCst), 1, "a hit stores nothing");
    map.remove(&"a");
    assert_eq!(map.get_or_insert_with(&"a", || "amanda"), "amanda");
    assert_eq!(calls.load(SeqCst), 2);
}

/// Ports moka `sync::cache::tests::test_race_between_updating_entry_and_processing_its_write_ops`:
/// replacing an entry, then removing it, leaves nothing behind once time passes.
#[test]
fn moka_race_between_updating_entry_and_its_write_ops() {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(1))
        .capacity(2)
        .clock(clock.clone())
        .build();
    map.insert("a", "alice");
    map.insert("b", "bob");
    map.insert("c", "cathy");
    clock.advance(secs(2));
    map.insert("c", "cindy");
    assert_eq!(map.remove(&"c"), Some("cindy"));
    clock.advance(secs(2));
    map.sweep();
    assert_eq!(map.len(), 0);
}

/// Ports moka `sync::cache::tests::test_race_between_recreating_entry_and_processing_its_write_ops`.
#[test]
fn moka_race_between_recreating_entry_and_its_write_ops() {
    let map = TtlMap::builder().ttl(HOUR).capacity(2).build();
    map.insert('a', "a");
    map.insert('b', "b");
    map.insert('c', "c1");
    let left = [map.remove(&'a'), map.remove(&'b')];
    assert_eq!(
        left.iter().flatten().count(),
        1,
        "one of a, b made room for c"
    );
    assert!(map.remove(&'c').is_some());
    map.insert('c', "c2");
    map.sweep();
    assert_eq!(map.get(&'c'), Some("c2"));
}

/// Ports moka `sync::cache::tests::test_iter`.
#[test]
fn moka_iter() {
    let map = TtlMap::builder()
        .ttl(secs(10))
        .capacity(100)
        .expiry(Expiry::Sliding)
        .build();
    for key in 0..50usize {
        map.insert(key, format!("val: {key}"));
    }
    let mut keys = HashSet::new();
    for (key, value) in map.iter() {
        assert_eq!(value, format!("val: {key}"));
        assert!(keys.insert(key), "key {key} seen twice");
    }
    assert_eq!(keys.len(), 50);
}

/// Ports moka `sync::cache::tests::test_iter_multi_threads`: 8 threads rewrite every key
/// while 8 iterate; each iteration sees every key exactly once, with its right value.
#[test]
fn moka_iter_multi_threads() {
    const KEYS: usize = 1024;
    for capacity in [Some(2048), None] {
        let builder = TtlMap::builder().ttl(secs(10));
        let map = match capacity {
            Some(c) => builder.capacity(c).build(),
            None => builder.build(),
        };
        for key in 0..KEYS {
            map.insert(key, format!("val: {key}"));
        }
        let start = Barrier::new(16);
        thread::scope(|s| {
            for n in 0..16 {
                let (map, start) = (&map, &start);
                s.spawn(move || {
                    start.wait();
                    if n % 2 == 0 {
                        for key in 0..KEYS {
                            map.insert(key, format!("val: {key}"));
                        }
                    } else {
                        let mut seen = HashSet::new();
                        for (key, value) in map.iter() {
                            assert_eq!(value, format!("val: {key}"));
                            assert!(seen.insert(key), "key {key} seen twice");
                        }
                        assert_eq!(seen.len(), KEYS, "capacity {capacity:?}");
                    }
                });
            }
        });
        assert_eq!(
            map.iter().map(|(k, _)| k).collect::<HashSet<_>>().len(),
            KEYS
        );
    }
}

/// Ports moka `sync::cache::tests::get_with` and `get_with_by_ref`: thread 1 leads, thread 2
/// joins and gets its value without running its own constructor, a `get` during the flight
/// misses, and callers after it hit. (Sleeps replaced by waits on flags and counters.)
#[test]
fn moka_get_with() {
    for by_ref in [false, true] {
        let map: TtlMap<String, &'static str> = TtlMap::builder().ttl(HOUR).capacity(100).build();
        let key = String::from("0");
        let lookup = |map: &TtlMap<String, &'static str>, init: &dyn Fn() -> &'static str| {
            if by_ref {
                map.get_or_insert_with("0", init)
            } else {
                map.get_or_insert_with(&key, init)
            }
        };
        let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
        thread::scope(|s| {
            let thread1 = s.spawn(|| {
                lookup(&map, &|| {
                    entered.store(true, SeqCst);
                    wait_until("released", || release.load(SeqCst));
                    "thread1"
                })
            });
            wait_until("thread 1 runs its constructor", || entered.load(SeqCst));
            let thread2 = s.spawn(|| lookup(&map, &|| unreachable!("thread 2 must wait")));
            wait_until("thread 2 waits", || map.stats().coalesced == 1);
            assert!(
                map.get("0").is_none(),
                "thread 4: a get during the flight misses"
            );
            release.store(true, SeqCst);
            assert_eq!(thread1.join().unwrap(), "thread1");
            assert_eq!(thread2.join().unwrap(), "thread1");
        });
        assert_eq!(lookup(&map, &|| unreachable!("thread 3 hits")), "thread1");
        assert_eq!(map.get("0"), Some("thread1"), "thread 5");
        let stats = map.stats();
        assert_eq!((stats.misses, stats.hits, stats.coalesced), (3, 2, 1));
    }
}

#[derive(Debug)]
struct MyError(#[allow(dead_code)] String);

/// Ports moka `sync::cache::tests::try_get_with` with `try_get_or_insert_with_shared` (moka's
/// form: the error, as an `Arc`, goes to every caller of the flight).
#[test]
fn moka_try_get_with_shared_error() {
    let map: TtlMap<u32, &'static str> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let thread1 = s.spawn(|| {
            map.try_get_or_insert_with_shared(&0, || {
                entered.store(true, SeqCst);
                wait_until("released", || release.load(SeqCst));
                Err(MyError("thread1 error".into()))
            })
        });
        wait_until("thread 1 leads", || entered.load(SeqCst));
        let thread2 = s.spawn(|| {
            map.try_get_or_insert_with_shared::<_, MyError>(&0, || unreachable!("thread 2 waits"))
        });
        wait_until("thread 2 waits", || map.stats().coalesced == 1);
        assert!(map.get(&0).is_none(), "thread 6");
        release.store(true, SeqCst);
        let (e1, e2) = (thread1.join().unwrap(), thread2.join().unwrap());
        assert!(
            Arc::ptr_eq(&e1.unwrap_err(), &e2.unwrap_err()),
            "one error, shared"
        );
    });
    assert!(map.get(&0).is_none(), "thread 7: the error is not cached");

    let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let thread3 = s.spawn(|| {
            map.try_get_or_insert_with_shared::<_, MyError>(&0, || {
                entered.store(true, SeqCst);
                wait_until("released", || release.load(SeqCst));
                Ok("thread3")
            })
        });
        wait_until("thread 3 leads", || entered.load(SeqCst));
        let thread4 = s.spawn(|| {
            map.try_get_or_insert_with_shared::<_, MyError>(&0, || unreachable!("thread 4 waits"))
        });
        wait_until("thread 4 waits", || map.stats().coalesced == 2);
        release.store(true, SeqCst);
        assert_eq!(thread3.join().unwrap().unwrap(), "thread3");
        assert_eq!(thread4.join().unwrap().unwrap(), "thread3");
    });
    let thread5 = map.try_get_or_insert_with_shared::<_, MyError>(&0, || unreachable!());
    assert_eq!(thread5.unwrap(), "thread3");
    assert_eq!(map.get(&0), Some("thread3"), "thread 8");
}

/// Ports moka `sync::cache::tests::try_get_with` with the plain `try_get_or_insert_with`.
/// Difference: its error is not shared, so thread 2 makes its own attempt at once (moka's
/// thread 2 gets thread 1's error); its value is then stored.
#[test]
fn moka_try_get_with_unshared_error_retries_at_once() {
    let map: TtlMap<u32, &'static str> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let thread1 = s.spawn(|| {
            map.try_get_or_insert_with(&0, || {
                entered.store(true, SeqCst);
                wait_until("released", || release.load(SeqCst));
                Err(MyError("thread1 error".into()))
            })
        });
        wait_until("thread 1 leads", || entered.load(SeqCst));
        let thread2 = s.spawn(|| map.try_get_or_insert_with::<_, MyError>(&0, || Ok("thread2")));
        wait_until("thread 2 waits", || map.stats().coalesced == 1);
        release.store(true, SeqCst);
        assert!(thread1.join().unwrap().is_err());
        assert_eq!(thread2.join().unwrap().unwrap(), "thread2");
    });
    assert_eq!(map.get(&0), Some("thread2"));
}

/// Ports moka `sync::cache::tests::optionally_get_with`: a `None` goes to the waiter too,
/// from the one run, and is not cached; a later `Some` is.
#[test]
fn moka_optionally_get_with() {
    let map: TtlMap<u32, &'static str> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let thread1 = s.spawn(|| {
            map.optionally_get_or_insert_with(&0, || {
                entered.store(true, SeqCst);
                wait_until("released", || release.load(SeqCst));
                None
            })
        });
        wait_until("thread 1 leads", || entered.load(SeqCst));
        let thread2 = s.spawn(|| map.optionally_get_or_insert_with(&0, || unreachable!()));
        wait_until("thread 2 waits", || map.stats().coalesced == 1);
        assert!(map.get(&0).is_none());
        release.store(true, SeqCst);
        assert!(thread1.join().unwrap().is_none());
        assert!(thread2.join().unwrap().is_none());
    });
    assert!(map.get(&0).is_none());
    assert_eq!(
        map.optionally_get_or_insert_with(&0, || Some("thread3")),
        Some("thread3")
    );
    assert_eq!(
        map.optionally_get_or_insert_with(&0, || unreachable!()),
        Some("thread3")
    );
    assert_eq!(map.get(&0), Some("thread3"));
}

/// Ports moka `sync::cache::tests::handle_panic_in_get_with` (moka issue #43): a waiter of a
/// panicking constructor gets a value of its own.
#[test]
fn moka_handle_panic_in_get_with() {
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(16).build();
    let leader = {
        let map = map.clone();
        thread::spawn(move || {
            map.get_or_insert_with(&1, || {
                wait_until("a waiter joined", || map.stats().coalesced == 1);
                panic!("Panic during get_with");
            })
        })
    };
    wait_until("the leader runs", || map.stats().misses == 1);
    assert_eq!(map.get_or_insert_with(&1, || 5), 5);
    assert!(leader.join().is_err());
    assert_eq!(map.get(&1), Some(5));
    assert_eq!(
        map.stats().coalesced,
        1,
        "counted once, though it then made its own attempt"
    );
}

/// Ports moka `sync::cache::tests::handle_panic_in_try_get_with`, for both error forms.
#[test]
fn moka_handle_panic_in_try_get_with() {
    for shared in [false, true] {
        let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(16).build();
        // Set by the leader's constructor: its flight is registered by then (its miss is
        // counted a moment before, when a caller could still lead in its place).
        let running = Arc::new(AtomicBool::new(false));
        let leader = {
            let map = map.clone();
            let running = Arc::clone(&running);
            thread::spawn(move || {
                let init = || -> Result<u32, MyError> {
                    running.store(true, SeqCst);
                    wait_until("a waiter joined", || map.stats().coalesced == 1);
                    panic!("Panic during try_get_with");
                };
                if shared {
                    let _ = map.try_get_or_insert_with_shared(&1, init);
                } else {
                    let _ = map.try_get_or_insert_with(&1, init);
                }
            })
        };
        wait_until("the leader runs", || running.load(SeqCst));
        let got = if shared {
            map.try_get_or_insert_with_shared(&1, || Ok::<_, MyError>(5))
                .ok()
        } else {
            map.try_get_or_insert_with(&1, || Ok::<_, MyError>(5)).ok()
        };
        assert_eq!(got, Some(5), "shared: {shared}");
        assert!(leader.join().is_err());
    }
}

/// Ports moka `sync::cache::tests::test_removal_notifications`. Difference: "e" is admitted
/// at once (no TinyLFU), evicting the least recently used "b"; moka first refuses it.
#[test]
fn moka_removal_notifications() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .capacity(3)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert('a', "alice");
    map.remove(&'a');
    assert_eq!(take(&heard), [('a', "alice", Reason::Removed)]);
    assert_eq!(map.len(), 0);
    for (k, v) in [('b', "bob"), ('c', "cathy"), ('d', "david")] {
        clock.advance(secs(1));
        map.insert(k, v);
    }
    assert_eq!(map.len(), 3);
    clock.advance(secs(1));
    map.insert('e', "emily");
    assert_eq!(take(&heard), [('b', "bob", Reason::Capacity)]);
    assert_eq!(map.len(), 3);
    map.insert('d', "dennis");
    assert_eq!(take(&heard), [('d', "david", Reason::Replaced)]);
    assert_eq!(map.len(), 3);
    assert_eq!(map.stats().evictions, 1);
}

/// Ports moka `sync::cache::tests::test_immediate_removal_notifications_with_updates`
/// (time to live 7 s, time to idle 5 s: ours `max_lifetime` 7 s over a sliding ttl of 5 s).
/// An insert over an expired entry, and a remove of one, report it as `Expired`, not
/// `Replaced`/`Removed`, and right away.
#[test]
fn moka_immediate_removal_notifications_with_updates() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(5))
        .expiry(Expiry::Sliding)
        .max_lifetime(secs(7))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert("alice", "a0");
    clock.advance(secs(6)); // idle too long
    assert_eq!(map.get(&"alice"), None);
    assert_eq!(map.len(), 1, "not removed yet");
    assert_eq!(
        map.insert("alice", "a1"),
        None,
        "an expired value is not handed back"
    );
    assert_eq!(take(&heard), [("alice", "a0", Reason::Expired)]);

    clock.advance(secs(4));
    assert_eq!(map.get(&"alice"), Some("a1"));
    clock.advance(secs(4)); // 8 s after it was stored: past max_lifetime
    assert_eq!(map.get(&"alice"), None);
    assert_eq!(map.len(), 1);
    map.insert("alice", "a2");
    assert_eq!(take(&heard), [("alice", "a1", Reason::Expired)]);
    assert_eq!(map.len(), 1);

    clock.advance(secs(6));
    assert_eq!(map.get(&"alice"), None);
    assert_eq!(map.len(), 1);
    assert_eq!(
        map.remove(&"alice"),
        None,
        "an expired value is not handed back"
    );
    assert_eq!(map.len(), 0);
    assert_eq!(take(&heard), [("alice", "a2", Reason::Expired)]);

    map.insert("alice", "a3");
    clock.advance(secs(4));
    assert_eq!(map.get(&"alice"), Some("a3"));
    clock.advance(secs(4));
    assert_eq!(map.get(&"alice"), None);
    assert_eq!(map.len(), 1);
    map.remove(&"alice");
    assert_eq!(map.len(), 0);
    assert_eq!(take(&heard), [("alice", "a3", Reason::Expired)]);
    assert_eq!(map.stats().expirations, 4);
}

/// Ports moka `sync::cache::tests::no_batch_size_limit_on_eviction`. Difference: our eviction
/// is synchronous, so `len` never exceeds the capacity and each insert beyond it evicts the
/// least recently used at once (moka: all at the next `run_pending_tasks`).
#[test]
fn moka_no_batch_size_limit_on_eviction() {
    const CAP: u64 = 20;
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(3600))
        .capacity(CAP as usize)
        .clock(clock.clone())
        .build();
    for i in 0..CAP {
        clock.advance(secs(60));
        map.insert(i, format!("v{i}"));
    }
    assert_eq!(map.len(), CAP as usize);
    for i in CAP..CAP * 2 {
        clock.advance(secs(60));
        map.insert(i, format!("v{i}"));
        assert_eq!(map.len(), CAP as usize);
        assert!(!map.contains_key(&(i - CAP)), "the oldest goes first");
    }
    for i in 0..CAP {
        assert!(!map.contains_key(&i));
        assert!(map.contains_key(&(i + CAP)));
    }
    assert_eq!(map.stats().evictions, CAP);
}

/// Ports moka `sync::cache::tests::slow_eviction_listener`: a listener that takes time
/// (here: moves the map's clock forward, as moka's does its mock clock). Difference: moka lets
/// the cache run over its capacity while a slow listener works; our eviction is synchronous,
/// so every eviction is heard by the insert that made it and `len` stays at the capacity.
#[test]
fn moka_slow_eviction_listener() {
    const CAP: usize = 20;
    let clock = ManualClock::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let (listener_clock, counted) = (clock.clone(), Arc::clone(&calls));
    let map = TtlMap::builder()
        .ttl(secs(3600))
        .capacity(CAP)
        .clock(clock.clone())
        .on_evict(move |_: &usize, _: &String, _| {
            listener_clock.advance(Duration::from_millis(11));
            counted.fetch_add(1, SeqCst);
        })
        .build();
    for i in 0..CAP {
        map.insert(i, format!("v{i}"));
    }
    assert_eq!(calls.load(SeqCst), 0);
    for i in CAP..CAP * 2 {
        map.insert(i, format!("v{i}"));
        assert_eq!(calls.load(SeqCst), i - CAP + 1);
        assert_eq!(map.len(), CAP);
    }
}

/// Ports moka `sync::cache::tests::recover_from_panicking_eviction_listener`. Difference:
/// moka catches the listener's panic, logs it and stops calling the listener; we resume the
/// panic in the caller once the map is consistent (the write is done), and keep calling the
/// listener.
#[test]
fn moka_recover_from_panicking_eviction_listener() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&heard);
    let map = TtlMap::builder()
        .ttl(HOUR)
        .name("My Sync Cache")
        .on_evict(move |k: &&str, v: &&str, reason| {
            if *v == "panic now!" {
                panic!("Panic now!");
            }
            log.lock().unwrap().push((*k, *v, reason));
        })
        .build();
    map.insert("alice", "a0");
    map.insert("alice", "panic now!");
    assert_eq!(*heard.lock().unwrap(), [("alice", "a0", Reason::Replaced)]);
    let insert = catch_unwind(AssertUnwindSafe(|| map.insert("alice", "a2")));
    assert!(insert.is_err(), "the listener's panic reaches the caller");
    assert_eq!(map.get(&"alice"), Some("a2"), "the write happened");
    assert_eq!(map.len(), 1);
    map.remove(&"alice");
    assert_eq!(
        *heard.lock().unwrap(),
        [
            ("alice", "a0", Reason::Replaced),
            ("alice", "a2", Reason::Removed)
        ]
    );
    assert!(map.is_empty());
    map.insert("bob", "b0");
    assert_eq!(map.get(&"bob"), Some("b0"), "the map still works");
}

/// Ports moka `sync::cache::tests::borrowed_forms_of_key` (moka issue #166): a `Vec<u8>` key
/// looked up, checked and removed by `&Vec<u8>` and by `&[u8]`.
#[test]
fn moka_borrowed_forms_of_key() {
    let map: TtlMap<Vec<u8>, ()> = TtlMap::builder().ttl(HOUR).capacity(1).build();
    let key = vec![1_u8];
    map.insert(key.clone(), ());
    let key_v: &Vec<u8> = &key;
    assert!(map.contains_key(key_v));
    assert_eq!(map.get(key_v), Some(()));
    assert_eq!(map.remove(key_v), Some(()));
    map.insert(key, ());
    let key_s: &[u8] = &[1_u8];
    assert!(map.contains_key(key_s));
    assert_eq!(map.get(key_s), Some(()));
    assert_eq!(map.remove(key_s), Some(()));
    assert!(map.is_empty());
    assert_eq!(map.get_or_insert_with(key_s, || ()), ());
    assert!(map.contains_key(key_s));
}

/// A value that counts its drops.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Ports moka `sync::cache::tests::drop_value_immediately_after_eviction` (ignored in moka
/// as flaky; deterministic here): evicted and removed values are dropped at once.
#[test]
fn moka_drop_value_immediately_after_eviction() {
    const CAP: usize = 500;
    const KEYS: usize = 600;
    let dropped = Arc::new(AtomicUsize::new(0));
    let (evicted, removed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (e, r) = (Arc::clone(&evicted), Arc::clone(&removed));
    let map = TtlMap::builder()
        .ttl(HOUR)
        .capacity(CAP)
        .on_evict(move |_: &usize, _: &Arc<Counted>, reason| match reason {
            Reason::Capacity => {
                e.fetch_add(1, SeqCst);
            }
            Reason::Removed => {
                r.fetch_add(1, SeqCst);
            }
            _ => {}
        })
        .build();
    for key in 0..KEYS {
        map.insert(key, Arc::new(Counted(Arc::clone(&dropped))));
    }
    assert_eq!(evicted.load(SeqCst), KEYS - CAP);
    assert_eq!(
        dropped.load(SeqCst),
        KEYS - CAP,
        "evicted values are dropped"
    );
    for key in 0..KEYS {
        map.remove(&key);
    }
    assert_eq!(removed.load(SeqCst), CAP);
    assert_eq!(dropped.load(SeqCst), KEYS, "removed values are dropped");
    drop(map);
    assert_eq!(dropped.load(SeqCst), KEYS);
}

/// Ports moka `sync::cache::tests::ensure_gc_runs_when_dropping_cache` (moka issue #383):
/// dropping the map drops its values, also a map on the background sweeper.
#[test]
fn moka_ensure_gc_runs_when_dropping_cache() {
    for swept in [false, true] {
        let builder = TtlMap::builder().ttl(HOUR);
        let map = if swept {
            builder.sweep_every(Duration::from_millis(1)).build()
        } else {
            builder.build()
        };
        let val = Arc::new(0);
        {
            let val = Arc::clone(&val);
            map.get_or_insert_with(&1, move || val);
        }
        drop(map);
        if swept {
            // The sweeper may hold a strong handle for the length of one sweep.
            wait_until("the map is freed", || Arc::strong_count(&val) == 1);
        }
        assert_eq!(Arc::strong_count(&val), 1, "swept: {swept}");
    }
}

/// Ports moka `sync::cache::tests::test_debug_format`. Difference (the point of ours): moka
/// prints every key and value; our `Debug` shows neither, keys being secrets.
#[test]
fn moka_debug_format_shows_no_keys_or_values() {
    let map = TtlMap::builder().ttl(HOUR).capacity(10).build();
    map.insert("sk-key-alice".to_string(), "value-alice".to_string());
    map.insert("sk-key-bob".to_string(), "value-bob".to_string());
    map.insert("sk-key-cindy".to_string(), "value-cindy".to_string());
    for text in [format!("{map:?}"), format!("{map:#?}")] {
        assert!(!text.contains("sk-key"), "{text}");
        assert!(!text.contains("value-"), "{text}");
        assert!(text.contains("len: 3"), "the entry count: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// moka src/future/cache.rs (the async forms)
// ---------------------------------------------------------------------------------------------

/// Ports moka `future::cache::tests::get_with`: async single flight, the waiter's
/// constructor never runs.
#[test]
fn moka_future_get_with() {
    let rt = two_worker_runtime();
    let map: TtlMap<u32, &'static str> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let release = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let thread1 = {
            let (map, release) = (map.clone(), Arc::clone(&release));
            tokio::spawn(async move {
                map.get_or_insert_with_async(&0, async {
                    wait_until_async("released", || release.load(SeqCst)).await;
                    "thread1"
                })
                .await
            })
        };
        wait_until_async("thread 1 leads", || map.stats().misses == 1).await;
        let thread2 = {
            let map = map.clone();
            tokio::spawn(async move {
                map.get_or_insert_with_async(&0, async { unreachable!("thread 2 waits") })
                    .await
            })
        };
        wait_until_async("thread 2 waits", || map.stats().coalesced == 1).await;
        assert!(map.get(&0).is_none());
        release.store(true, SeqCst);
        assert_eq!(thread1.await.unwrap(), "thread1");
        assert_eq!(thread2.await.unwrap(), "thread1");
        let thread3 = map
            .get_or_insert_with_async(&0, async { unreachable!() })
            .await;
        assert_eq!(thread3, "thread1");
    });
    assert_eq!(map.get(&0), Some("thread1"));
}

/// Ports moka `future::cache::tests::try_get_with` (shared form, async).
#[test]
fn moka_future_try_get_with_shared_error() {
    let rt = two_worker_runtime();
    let map: TtlMap<u32, &'static str> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let release = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let thread1 = {
            let (map, release) = (map.clone(), Arc::clone(&release));
            tokio::spawn(async move {
                map.try_get_or_insert_with_shared_async(&0, async {
                    wait_until_async("released", || release.load(SeqCst)).await;
                    Err::<&str, _>(MyError("thread1 error".into()))
                })
                .await
            })
        };
        wait_until_async("thread 1 leads", || map.stats().misses == 1).await;
        let thread2 = {
            let map = map.clone();
            tokio::spawn(async move {
                map.try_get_or_insert_with_shared_async::<_, MyError>(&0, async {
                    unreachable!("thread 2 waits")
                })
                .await
            })
        };
        wait_until_async("thread 2 waits", || map.stats().coalesced == 1).await;
        release.store(true, SeqCst);
        assert!(thread1.await.unwrap().is_err());
        assert!(thread2.await.unwrap().is_err());
        assert!(map.get(&0).is_none());
        let thread3 = map
            .try_get_or_insert_with_shared_async::<_, MyError>(&0, async { Ok("thread3") })
            .await;
        assert_eq!(thread3.unwrap(), "thread3");
    });
    assert_eq!(map.get(&0), Some("thread3"));
}

/// Ports moka `future::cache::tests::handle_panic_in_get_with` and
/// `handle_panic_in_try_get_with`: a task's constructor panics; the waiting task gets its own
/// value.
#[test]
fn moka_future_handle_panic_in_get_with() {
    let rt = two_worker_runtime();
    for try_form in [false, true] {
        let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(16).build();
        rt.block_on(async {
            let leader = {
                let map = map.clone();
                tokio::spawn(async move {
                    let joined = || map.stats().coalesced == 1;
                    if try_form {
                        let init = async {
                            wait_until_async("a waiter joined", joined).await;
                            panic!("Panic during try_get_with");
                        };
                        let _ = map
                            .try_get_or_insert_with_shared_async::<_, MyError>(&1, init)
                            .await;
                    } else {
                        let init = async {
                            wait_until_async("a waiter joined", joined).await;
                            panic!("Panic during get_with");
                        };
                        map.get_or_insert_with_async(&1, init).await;
                    }
                })
            };
            wait_until_async("the leader runs", || map.stats().misses == 1).await;
            let got = if try_form {
                map.try_get_or_insert_with_shared_async(&1, async { Ok::<_, MyError>(5) })
                    .await
                    .ok()
            } else {
                Some(map.get_or_insert_with_async(&1, async { 5 }).await)
            };
            assert_eq!(got, Some(5), "try form: {try_form}");
            assert!(leader.await.is_err());
        });
    }
}

/// Ports moka `future::cache::tests::abort_get_with` and `abort_try_get_with` (moka issue
/// #59): the leading task is aborted mid-constructor; a later call builds the value. Extended
/// with a task already waiting when the leader is aborted: it starts over and leads.
#[test]
fn moka_future_abort_get_with() {
    let rt = two_worker_runtime();
    for waiter_first in [false, true] {
        let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(16).build();
        rt.block_on(async {
            let started = Arc::new(tokio::sync::Semaphore::new(0));
            let handle = {
                let (map, started) = (map.clone(), Arc::clone(&started));
                tokio::spawn(async move {
                    map.get_or_insert_with_async(&1, async move {
                        started.add_permits(1);
                        std::future::pending::<()>().await;
                        unreachable!()
                    })
                    .await
                })
            };
            let _permit = started.acquire().await.expect("the leader started");
            let waiter = waiter_first.then(|| {
                let map = map.clone();
                tokio::spawn(async move { map.get_or_insert_with_async(&1, async { 6 }).await })
            });
            if waiter_first {
                wait_until_async("the waiter joined", || map.stats().coalesced == 1).await;
            }
            handle.abort();
            assert!(handle.await.unwrap_err().is_cancelled());
            if let Some(waiter) = waiter {
                let got = tokio::time::timeout(Duration::from_secs(10), waiter).await;
                assert_eq!(got.expect("the waiter is stranded").unwrap(), 6);
                assert_eq!(map.get_or_insert_with_async(&1, async { 5 }).await, 6);
            } else {
                assert_eq!(map.get_or_insert_with_async(&1, async { 5 }).await, 5);
            }
            let shared = map
                .try_get_or_insert_with_shared_async::<_, MyError>(&2, async { Ok(7) })
                .await;
            assert_eq!(shared.unwrap(), 7);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// moka tests/entry_api_sync.rs, tests/runtime_tokio.rs
// ---------------------------------------------------------------------------------------------

/// Ports moka `tests/entry_api_sync.rs` `test_cache_get_with`: 16 threads (owned and borrowed
/// keys) ask at once; one constructor runs; each finds the value stored afterwards.
#[test]
fn moka_entry_api_get_with_16_threads() {
    const MIB: usize = 1024 * 1024;
    let map: TtlMap<String, Arc<Vec<u8>>> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let calls = AtomicUsize::new(0);
    let start = Barrier::new(16);
    thread::scope(|s| {
        for id in 0..16 {
            let (map, calls, start) = (&map, &calls, &start);
            s.spawn(move || {
                start.wait();
                let key = "key1".to_string();
                let init = || {
                    calls.fetch_add(1, SeqCst);
                    Arc::new(vec![0u8; MIB])
                };
                let value = if id % 2 == 0 {
                    map.get_or_insert_with(&key, init)
                } else {
                    map.get_or_insert_with(key.as_str(), init)
                };
                assert_eq!(value.len(), MIB);
                assert!(map.get(key.as_str()).is_some());
            });
        }
    });
    assert_eq!(calls.load(SeqCst), 1);
}

/// Ports moka `tests/entry_api_sync.rs` `test_cache_optionally_get_with` and
/// `test_cache_try_get_with` (a file's size, read once for 16 threads).
#[test]
fn moka_entry_api_optionally_and_try_get_with_16_threads() {
    for form in 0..3 {
        let map: TtlMap<String, u64> = TtlMap::builder().ttl(HOUR).capacity(100).build();
        let calls = AtomicUsize::new(0);
        let start = Barrier::new(16);
        let file_size = || -> std::io::Result<u64> {
            calls.fetch_add(1, SeqCst);
            Ok(std::fs::metadata("Cargo.toml")?.len())
        };
        thread::scope(|s| {
            for _ in 0..16 {
                let (map, start, file_size) = (&map, &start, &file_size);
                s.spawn(move || {
                    start.wait();
                    let ok = match form {
                        0 => map
                            .optionally_get_or_insert_with("key1", || file_size().ok())
                            .is_some(),
                        1 => map.try_get_or_insert_with("key1", file_size).is_ok(),
                        _ => map.try_get_or_insert_with_shared("key1", file_size).is_ok(),
                    };
                    assert!(ok);
                    assert!(map.get("key1").is_some());
                });
            }
        });
        assert_eq!(calls.load(SeqCst), 1, "form {form}");
    }
}

/// Ports moka `tests/runtime_tokio.rs`: tasks and OS threads insert, read back and remove
/// disjoint keys of one map at once.
#[test]
fn moka_runtime_tokio_tasks_and_threads() {
    const TASKS: usize = 12;
    const THREADS: usize = 4;
    const PER: usize = 64;
    let value = |n: usize| format!("value {n}");
    let rt = two_worker_runtime();
    let map: TtlMap<usize, String> = TtlMap::builder().ttl(HOUR).capacity(10_000).build();
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (TASKS..TASKS + THREADS)
        .map(|i| {
            let (map, barrier) = (map.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                for key in i * PER..(i + 1) * PER {
                    map.insert(key, value(key));
                    assert_eq!(map.get(&key), Some(value(key)));
                }
                for key in (i * PER..(i + 1) * PER).step_by(4) {
                    map.remove(&key);
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let map = map.clone();
                tokio::spawn(async move {
                    for key in i * PER..(i + 1) * PER {
                        let v = map
                            .get_or_insert_with_async(&key, async { value(key) })
                            .await;
                        assert_eq!(v, value(key));
                        assert_eq!(map.get(&key), Some(value(key)));
                    }
                    for key in (i * PER..(i + 1) * PER).step_by(4) {
                        map.remove(&key);
                    }
                })
            })
            .collect();
        barrier.wait();
        for task in tasks {
            task.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    for key in 0..(TASKS + THREADS) * PER {
        if key % 4 == 0 {
            assert_eq!(map.get(&key), None);
        } else {
            assert_eq!(map.get(&key), Some(value(key)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Caffeine's rule, as moka cites it, and re-entrant constructors
// ---------------------------------------------------------------------------------------------

/// Ports Caffeine's "an invalidation discards the in-flight load" (moka follows it for
/// `invalidate` during `get_with`): `remove` and `clear` during a flight win; the leader's
/// caller still gets its value, which is not stored. Also quick_cache `sync::tests::
/// test_guard_drop_after_remove_and_reuse`: another key stored meanwhile is untouched.
#[test]
fn caffeine_invalidation_during_a_flight_wins() {
    for how in ["remove", "clear"] {
        let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
        let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
        thread::scope(|s| {
            let leader = s.spawn(|| {
                map.get_or_insert_with(&1, || {
                    entered.store(true, SeqCst);
                    wait_until("released", || release.load(SeqCst));
                    100
                })
            });
            wait_until("the leader runs", || entered.load(SeqCst));
            if how == "remove" {
                assert_eq!(map.remove(&1), None);
            } else {
                map.clear();
            }
            map.insert(2, 222);
            release.store(true, SeqCst);
            assert_eq!(
                leader.join().unwrap(),
                100,
                "the caller still gets its value"
            );
        });
        assert_eq!(
            map.get(&1),
            None,
            "{how}: the older flight's value is not stored"
        );
        assert_eq!(map.get(&2), Some(222));
        // A new caller does not join the invalidated flight: it runs its own constructor.
        assert_eq!(map.get_or_insert_with(&1, || 7), 7);
    }
}

/// Ports quick_cache `sync::tests::test_guard_drop_after_overwrite_insert` (and Caffeine's
/// rule): an `insert` made during a flight is not overwritten by the flight's value.
#[test]
fn quick_cache_insert_during_a_flight_is_not_overwritten() {
    let map: TtlMap<i32, i32> = TtlMap::builder().ttl(HOUR).capacity(8).build();
    let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let leader = s.spawn(|| {
            map.get_or_insert_with(&1, || {
                entered.store(true, SeqCst);
                wait_until("released", || release.load(SeqCst));
                1
            })
        });
        wait_until("the leader runs", || entered.load(SeqCst));
        map.insert(1, 100);
        assert_eq!(map.get(&1), Some(100));
        release.store(true, SeqCst);
        assert_eq!(leader.join().unwrap(), 1);
    });
    assert_eq!(map.get(&1), Some(100));
}

/// A constructor that asks for its own key: moka's and quick_cache's docs warn that it
/// deadlocks; our promise is a panic that says so, sync and async.
#[test]
fn peers_reentrant_init_panics_instead_of_hanging() {
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let nested = catch_unwind(AssertUnwindSafe(|| {
        map.get_or_insert_with(&1, || map.get_or_insert_with(&1, || 2))
    }));
    assert_reentry(nested);
    assert_eq!(map.get_or_insert_with(&1, || 3), 3, "the key is not wedged");

    let rt = two_worker_runtime();
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let m = map.clone();
    let nested = rt.block_on(async move {
        tokio::spawn(async move {
            m.get_or_insert_with_async(&1, async {
                m.get_or_insert_with_async(&1, async { 2 }).await
            })
            .await
        })
        .await
    });
    let panic = nested
        .expect_err("a re-entrant async call panics")
        .into_panic();
    assert!(
        tests::panic_message(&*panic).contains("re-entrant call for the same key"),
        "{}",
        tests::panic_message(&*panic)
    );
    let again = rt.block_on(map.get_or_insert_with_async(&1, async { 3 }));
    assert_eq!(again, 3);
}

// ---------------------------------------------------------------------------------------------
// quick_cache src/lib.rs
// ---------------------------------------------------------------------------------------------

/// Ports quick_cache `tests::test_new`: maps of every small and the largest capacity build.
#[test]
fn quick_cache_new() {
    for capacity in [0, 1, 2, 3, usize::MAX] {
        let map: TtlMap<(u64, u64), u64> = TtlMap::builder().ttl(HOUR).capacity(capacity).build();
        map.insert((1, 1), 1);
        let map: TtlMap<u64, u64> = TtlMap::builder().ttl(HOUR).capacity(capacity).build();
        map.insert(1, 1);
        assert_eq!(map.len(), usize::from(capacity > 0), "capacity {capacity}");
    }
}

/// Ports quick_cache `tests::test_capacity_one`.
#[test]
fn quick_cache_capacity_one() {
    let map: TtlMap<u64, u64> = TtlMap::builder().ttl(HOUR).capacity(1).build();
    map.insert(1, 10);
    assert_eq!(map.get(&1), Some(10));
    map.insert(2, 20);
    assert_eq!(map.get(&2), Some(20));
    assert_eq!(map.get(&1), None);
    let map: TtlMap<u64, u64> = TtlMap::builder().ttl(HOUR).capacity(0).build();
    map.insert(1, 10);
    assert_eq!(map.get(&1), None);
}

/// Ports quick_cache `tests::test_equivalent` and `test_borrow_keys`: tuple keys found by
/// borrowed parts (`TupleRef`, quick_cache's `Pair`).
#[test]
fn quick_cache_equivalent_and_borrow_keys() {
    let map = TtlMap::builder().ttl(HOUR).capacity(5).build();
    map.insert(("square".to_string(), 2022u32), "blue".to_string());
    map.insert(("square".to_string(), 2023u32), "black".to_string());
    assert_eq!(map.get(&TupleRef(("square", &2022u32))).unwrap(), "blue");
    assert_eq!(map.get(&TupleRef(("square", &2023u32))).unwrap(), "black");
    assert!(map.contains_key(&TupleRef(("square", &2022u32))));
    assert_eq!(map.remove(&TupleRef(("square", &2022u32))).unwrap(), "blue");

    let map: TtlMap<(Vec<u8>, Vec<u8>), u64> = TtlMap::builder().ttl(HOUR).capacity(0).build();
    assert_eq!(map.get(&TupleRef((&b""[..], &b""[..]))), None);
    let map: TtlMap<(String, String), u64> = TtlMap::builder().ttl(HOUR).capacity(0).build();
    assert_eq!(map.get(&TupleRef(("", ""))), None);
    assert_eq!(map.get_or_insert_with(&TupleRef(("", "")), || 4), 4);
}

/// Ports quick_cache `tests::test_get_or_insert` (100 threads, the constructor fails until
/// the `solve_at`-th run). Difference: quick_cache's waiters retry one after another until one
/// succeeds, so exactly `solve_at + 1` runs happen; ours make their own attempts at once, in
/// parallel, so we check what we promise: every caller gets `Ok(1)` or an error, no caller
/// runs the constructor twice, and a success is stored. FAILS now and then: see
/// `quick_cache_get_or_insert_attempt_value_lost_behind_a_new_flight`.
#[test]
fn quick_cache_get_or_insert() {
    const THREADS: usize = 32;
    for round in 0..40 {
        let map: TtlMap<(u64, u64), u64> = TtlMap::builder().ttl(HOUR).capacity(100).build();
        let entered = AtomicUsize::new(0);
        let start = Barrier::new(THREADS);
        let solve_at = round % THREADS;
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    start.wait();
                    let result = map.try_get_or_insert_with(&(1, 1), || {
                        let before = entered.fetch_add(1, SeqCst);
                        if before == solve_at { Ok(1) } else { Err(()) }
                    });
                    assert!(matches!(result, Ok(1) | Err(())));
                });
            }
        });
        let runs = entered.load(SeqCst);
        assert!(
            runs <= THREADS,
            "round {round}: {runs} runs for {THREADS} callers"
        );
        if runs > solve_at {
            assert_eq!(
                map.get(&(1, 1)),
                Some(1),
                "round {round}: the success is stored"
            );
        }
    }
}

/// Ports quick_cache `tests::test_get_or_insert_sync`: a hit does not run the constructor,
/// `Ok` is stored, `Err` is not; the same through the async forms.
#[test]
fn quick_cache_get_or_insert_sync() {
    let map: TtlMap<u64, u64> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    map.insert(0, 0);
    assert_eq!(map.get_or_insert_with(&0, || panic!("a hit")), 0);
    assert_eq!(map.try_get_or_insert_with::<_, ()>(&0, || panic!()), Ok(0));
    assert_eq!(map.try_get_or_insert_with::<_, ()>(&3, || Ok(3)), Ok(3));
    assert_eq!(map.try_get_or_insert_with::<_, ()>(&4, || Err(())), Err(()));
    assert_eq!(map.get(&4), None);
    let rt = two_worker_runtime();
    rt.block_on(async {
        let got = map
            .try_get_or_insert_with_async::<_, ()>(&0, async { panic!() })
            .await;
        assert_eq!(got, Ok(0));
        let got = map
            .try_get_or_insert_with_async::<_, ()>(&4, async { Err(()) })
            .await;
        assert_eq!(got, Err(()));
        let got = map
            .try_get_or_insert_with_async::<_, ()>(&4, async { Ok(4) })
            .await;
        assert_eq!(got, Ok(4));
    });
    assert_eq!(map.get(&4), Some(4));
}

/// Ports quick_cache `tests::test_retain_sync`.
#[test]
fn quick_cache_retain() {
    let map: TtlMap<u64, u64> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    for i in 0..10 {
        assert_eq!(map.get_or_insert_with(&i, || i), i);
        assert_eq!(map.get(&i), Some(i));
    }
    map.retain(|&k, &v| v > 4 && k > 4);
    for i in 0..10 {
        assert_eq!(map.get(&i), (i > 4).then_some(i));
    }
    map.retain(|&k, &v| v < 8 && k < 8);
    for i in 0..10 {
        assert_eq!(map.get(&i), (i > 4 && i < 8).then_some(i));
    }
}

/// Ports quick_cache `tests::test_get_or_insert_async` (tasks on a multi-threaded runtime,
/// the constructor failing until the `solve_at`-th run). Same difference as the sync port.
#[test]
fn quick_cache_get_or_insert_async() {
    const TASKS: usize = 32;
    let rt = two_worker_runtime();
    for round in 0..40 {
        let map: TtlMap<(u64, u64), u64> = TtlMap::builder().ttl(HOUR).capacity(100).build();
        let entered = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(tokio::sync::Barrier::new(TASKS));
        let solve_at = round % TASKS;
        rt.block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let (map, entered, start) =
                        (map.clone(), Arc::clone(&entered), Arc::clone(&start));
                    tokio::spawn(async move {
                        start.wait().await;
                        let result = map
                            .try_get_or_insert_with_async(&(1, 1), async {
                                let before = entered.fetch_add(1, SeqCst);
                                if before == solve_at { Ok(1) } else { Err(()) }
                            })
                            .await;
                        assert!(matches!(result, Ok(1) | Err(())));
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        let runs = entered.load(SeqCst);
        assert!(
            runs <= TASKS,
            "round {round}: {runs} runs for {TASKS} callers"
        );
        if runs > solve_at {
            assert_eq!(map.get(&(1, 1)), Some(1), "round {round}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// quick_cache src/sync.rs
// ---------------------------------------------------------------------------------------------

/// Ports quick_cache `sync::tests::test_multiple_threads`: writers and readers of the same
/// keys over a map smaller than the keys; a read value is always the key's.
#[test]
fn quick_cache_multiple_threads() {
    const PAIRS: usize = 4;
    const ROUNDS: usize = 50;
    const PER: usize = 1000;
    let map: TtlMap<usize, usize> = TtlMap::builder()
        .ttl(HOUR)
        .capacity(PAIRS * PER / 10)
        .build();
    let start = Barrier::new(PAIRS * 2);
    thread::scope(|s| {
        for t in 0..PAIRS {
            let (map, start) = (&map, &start);
            s.spawn(move || {
                start.wait();
                for _ in 0..ROUNDS {
                    for i in PER * t..PER * (t + 1) {
                        map.insert(i, i);
                    }
                }
            });
            s.spawn(move || {
                start.wait();
                for _ in 0..ROUNDS {
                    for i in PER * t..PER * (t + 1) {
                        if let Some(cached) = map.get(&i) {
                            assert_eq!(cached, i);
                        }
                    }
                }
            });
        }
    });
    assert!(map.len() <= PAIRS * PER / 10);
}

/// Ports quick_cache `sync::tests::test_iter`.
#[test]
fn quick_cache_iter() {
    let items = 10_000;
    let map: TtlMap<usize, usize> = TtlMap::builder().ttl(HOUR).capacity(2 * items).build();
    for i in 0..items {
        map.insert(i, i);
    }
    assert_eq!(map.len(), items);
    let mut all: Vec<_> = map.iter().collect();
    assert_eq!(all.len(), items);
    all.sort_unstable();
    for (i, kv) in all.into_iter().enumerate() {
        assert_eq!((i, i), kv);
    }
}

/// Ports quick_cache `sync::tests::test_drain` as `clear` with a listener: everything drained
/// is heard once, as removed, and the map is empty.
#[test]
fn quick_cache_drain_via_clear_and_listener() {
    let items = 5_000usize;
    let (heard, listener) = recorder();
    let map = TtlMap::builder().ttl(HOUR).on_evict(listener).build();
    for i in 0..items {
        map.insert(i, i);
    }
    assert_eq!(map.len(), items);
    map.clear();
    assert_eq!(map.len(), 0);
    let mut drained: Vec<_> = take(&heard);
    assert_eq!(drained.len(), items);
    drained.sort_unstable_by_key(|(k, _, _)| *k);
    for (i, (k, v, reason)) in drained.into_iter().enumerate() {
        assert_eq!((k, v, reason), (i, i, Reason::Removed));
    }
}

/// Ports quick_cache `sync::tests::test_remove_if` with `retain` over one key.
#[test]
fn quick_cache_remove_if() {
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    map.insert(1, 10);
    map.insert(2, 20);
    map.insert(3, 30);
    map.retain(|&k, &v| !(k == 2 && v == 20));
    assert_eq!(map.get(&2), None);
    map.retain(|&k, &v| !(k == 3 && v == 999));
    assert_eq!(map.get(&3), Some(30));
    map.retain(|&k, _| k != 999);
    assert_eq!(map.len(), 2);
}

/// Ports quick_cache `sync::tests::test_entry_eviction`: a memoized value in a full map of
/// capacity 2 evicts; with capacity 0 the caller gets its value but nothing is stored.
#[test]
fn quick_cache_entry_eviction() {
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(2).build();
    map.insert(1, 10);
    map.insert(2, 20);
    assert_eq!(map.len(), 2);
    assert_eq!(map.get_or_insert_with(&3, || 30), 30);
    assert!(map.len() <= 2);
    assert_eq!(map.get(&3), Some(30));
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(0).build();
    assert_eq!(map.get_or_insert_with(&1, || 10), 10);
    assert_eq!(map.get(&1), None);
}

/// Ports quick_cache `sync::tests::test_entry_concurrent_multiple_waiters` (1 loader, 3
/// waiters that all get its value) and `test_entry_concurrent_placeholder_wait`.
#[test]
fn quick_cache_entry_concurrent_multiple_waiters() {
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let loader = s.spawn(|| {
            map.get_or_insert_with(&1, || {
                entered.store(true, SeqCst);
                wait_until("released", || release.load(SeqCst));
                42
            })
        });
        wait_until("the loader runs", || entered.load(SeqCst));
        let waiters: Vec<_> = (0..3)
            .map(|_| s.spawn(|| map.get_or_insert_with(&1, || unreachable!("a waiter"))))
            .collect();
        wait_until("3 waiters", || map.stats().coalesced == 3);
        release.store(true, SeqCst);
        assert_eq!(loader.join().unwrap(), 42);
        for w in waiters {
            assert_eq!(w.join().unwrap(), 42);
        }
    });
}

/// Ports quick_cache `sync::tests::test_entry_concurrent_placeholder_guard_abandoned` (and
/// `test_entry_async_concurrent_guard_abandoned`): the loader gives up without a value (here
/// its async constructor's future is dropped); the waiting thread then builds and stores its
/// own.
#[test]
fn quick_cache_entry_placeholder_abandoned() {
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let mut abandoned = Box::pin(map.get_or_insert_with_async(&1, std::future::pending()));
    assert!(tests::poll_for(abandoned.as_mut(), Duration::from_millis(1)).is_none());
    let runs = AtomicUsize::new(0);
    thread::scope(|s| {
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    map.get_or_insert_with(&1, || {
                        runs.fetch_add(1, SeqCst);
                        99
                    })
                })
            })
            .collect();
        wait_until("the waiters joined", || map.stats().coalesced == 3);
        drop(abandoned);
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), 99);
        }
    });
    assert_eq!(map.get(&1), Some(99));
    // "If the leader's future is dropped, its waiters start over and one of them leads."
    assert_eq!(
        runs.load(SeqCst),
        1,
        "one waiter leads, the others wait for it"
    );
}

/// Follows up on `quick_cache_get_or_insert` (which fails now and then): the deterministic
/// schedule behind it. A waiter whose leader failed makes its own attempt; meanwhile a new
/// caller starts a second flight, which also fails. The README promises that "an attempt's
/// value is stored unless a write to that shard's keys came meanwhile": no write came, yet
/// the attempt's success is dropped and the next call runs the constructor again.
#[test]
fn quick_cache_get_or_insert_attempt_value_lost_behind_a_new_flight() {
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let flags: [AtomicBool; 6] = Default::default();
    let [l_in, l_go, w_in, w_go, c_in, c_go] = &flags;
    thread::scope(|s| {
        let leader = s.spawn(|| {
            map.try_get_or_insert_with(&1, || {
                l_in.store(true, SeqCst);
                wait_until("leader released", || l_go.load(SeqCst));
                Err("leader failed")
            })
        });
        wait_until("the leader runs", || l_in.load(SeqCst));
        let waiter = s.spawn(|| {
            map.try_get_or_insert_with(&1, || {
                w_in.store(true, SeqCst);
                wait_until("waiter released", || w_go.load(SeqCst));
                Ok::<u32, &str>(1)
            })
        });
        wait_until("the waiter joined", || map.stats().coalesced == 1);
        l_go.store(true, SeqCst);
        assert!(leader.join().unwrap().is_err());
        wait_until("the waiter makes its own attempt", || w_in.load(SeqCst));
        let late = s.spawn(|| {
            map.try_get_or_insert_with(&1, || {
                c_in.store(true, SeqCst);
                wait_until("late caller released", || c_go.load(SeqCst));
                Err("late caller failed")
            })
        });
        wait_until("a late caller leads a new flight", || c_in.load(SeqCst));
        w_go.store(true, SeqCst);
        assert_eq!(waiter.join().unwrap(), Ok(1));
        c_go.store(true, SeqCst);
        assert!(late.join().unwrap().is_err());
    });
    assert_eq!(
        map.get(&1),
        Some(1),
        "the attempt's success was not stored though no write came"
    );
}

/// Ports Caffeine's and moka's rule that an expired entry is dropped before a live one is
/// evicted for size (our README: "An expired entry goes first"), heard as expired.
#[test]
fn caffeine_expired_entries_go_before_live_ones_for_capacity() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(10))
        .expiry(Expiry::Fixed)
        .expire_after(|_: &&str, v: &u32| (*v == 0).then(|| secs(1)))
        .capacity(2)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert("old", 1);
    clock.advance(secs(2));
    map.insert("short", 0); // expires at 3 s, though newer than "old"
    clock.advance(secs(2));
    map.insert("new", 2);
    assert_eq!(take(&heard), [("short", 0, Reason::Expired)]);
    assert_eq!(map.get(&"old"), Some(1));
    assert_eq!(map.get(&"new"), Some(2));
    let stats = map.stats();
    assert_eq!((stats.expirations, stats.evictions), (1, 0));
}

/// Ports quick_cache `sync::tests::test_entry_concurrent_stress`: 8 threads memoize 50 keys;
/// every value is its key's.
#[test]
fn quick_cache_entry_concurrent_stress() {
    const THREADS: usize = 8;
    const KEYS: usize = 50;
    const OPS: usize = 500;
    let map: TtlMap<usize, usize> = TtlMap::builder().ttl(HOUR).capacity(1000).build();
    let start = Barrier::new(THREADS);
    let runs = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (map, start, runs) = (&map, &start, &runs);
            s.spawn(move || {
                start.wait();
                for i in 0..OPS {
                    let key = (t * OPS + i) % KEYS;
                    let v = map.get_or_insert_with(&key, || {
                        runs.fetch_add(1, SeqCst);
                        key * 10
                    });
                    assert_eq!(v, key * 10);
                }
            });
        }
    });
    assert!(map.len() <= KEYS);
    assert_eq!(runs.load(SeqCst), KEYS, "one constructor run per key");
    for key in 0..KEYS {
        assert_eq!(map.get(&key), Some(key * 10));
    }
    let stats = map.stats();
    assert_eq!(
        stats.hits + stats.misses,
        (THREADS * OPS + KEYS) as u64,
        "one count a call"
    );
}

/// Ports quick_cache `sync::tests::test_entry_async_concurrent_stress`: 16 tasks memoize 50
/// keys through the async form.
#[test]
fn quick_cache_entry_async_concurrent_stress() {
    const TASKS: usize = 16;
    const KEYS: usize = 50;
    const OPS: usize = 200;
    let rt = two_worker_runtime();
    let map: TtlMap<usize, usize> = TtlMap::builder().ttl(HOUR).capacity(1000).build();
    let runs = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (map, start, runs) = (map.clone(), Arc::clone(&start), Arc::clone(&runs));
                tokio::spawn(async move {
                    start.wait().await;
                    for i in 0..OPS {
                        let key = (t * OPS + i) % KEYS;
                        let v = map
                            .try_get_or_insert_with_async(&key, async {
                                runs.fetch_add(1, SeqCst);
                                Ok::<_, ()>(key * 10)
                            })
                            .await;
                        assert_eq!(v, Ok(key * 10));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert!(map.len() <= KEYS);
    assert_eq!(runs.load(SeqCst), KEYS);
    for key in 0..KEYS {
        assert_eq!(map.get(&key), Some(key * 10));
    }
    let stats = map.stats();
    assert_eq!(
        stats.hits + stats.misses,
        (TASKS * OPS + KEYS) as u64,
        "one count a call"
    );
}

/// Ports quick_cache `tests::test_get_or_insert` with the error shared (moka's
/// `try_get_with`): no caller makes an own attempt, so a success is a flight's and stored.
#[test]
fn quick_cache_get_or_insert_shared() {
    const THREADS: usize = 32;
    for round in 0..40 {
        let map: TtlMap<(u64, u64), u64> = TtlMap::builder().ttl(HOUR).capacity(100).build();
        let entered = AtomicUsize::new(0);
        let start = Barrier::new(THREADS);
        let solve_at = round % 4;
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    start.wait();
                    let result = map.try_get_or_insert_with_shared(&(1, 1), || {
                        let before = entered.fetch_add(1, SeqCst);
                        if before == solve_at { Ok(1) } else { Err(()) }
                    });
                    assert!(matches!(result.map_err(|e| *e), Ok(1) | Err(())));
                });
            }
        });
        if entered.load(SeqCst) > solve_at {
            assert_eq!(map.get(&(1, 1)), Some(1), "round {round}");
        }
    }
}

/// Ports quick_cache `sync::tests::test_entry_eviction` (capacity 0) with a waiter, per our
/// promise that a waiter takes the flight's value from the flight: with a capacity of 0 the
/// value is never stored, yet the waiter does not run its constructor.
#[test]
fn quick_cache_zero_capacity_waiter_takes_the_flight_value() {
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(0).build();
    let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let leader = s.spawn(|| {
            map.get_or_insert_with(&1, || {
                entered.store(true, SeqCst);
                wait_until("released", || release.load(SeqCst));
                10
            })
        });
        wait_until("the leader runs", || entered.load(SeqCst));
        let waiter = s.spawn(|| map.get_or_insert_with(&1, || unreachable!("a waiter")));
        wait_until("the waiter joined", || map.stats().coalesced == 1);
        release.store(true, SeqCst);
        assert_eq!(leader.join().unwrap(), 10);
        assert_eq!(waiter.join().unwrap(), 10);
    });
    assert_eq!(map.get(&1), None);
    assert_eq!(map.len(), 0);
}

/// moka `time_to_live(Duration::ZERO)` / our README's "a ttl of 0": nothing is ever
/// returned by `get`, a waiter still takes the flight's value, and nothing accumulates.
#[test]
fn moka_zero_ttl_stores_nothing_returnable() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::ZERO)
        .clock(clock.clone())
        .build();
    map.insert(1, 1);
    assert_eq!(map.get(&1), None);
    assert!(!map.contains_key(&1));
    assert_eq!(map.get_or_insert_with(&1, || 2), 2);
    assert_eq!(map.get_or_insert_with(&1, || 3), 3);
    let (entered, release) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|s| {
        let leader = s.spawn(|| {
            map.get_or_insert_with(&2, || {
                entered.store(true, SeqCst);
                wait_until("released", || release.load(SeqCst));
                20
            })
        });
        wait_until("the leader runs", || entered.load(SeqCst));
        let waiter = s.spawn(|| map.get_or_insert_with(&2, || unreachable!("a waiter")));
        wait_until("the waiter joined", || map.stats().coalesced == 1);
        release.store(true, SeqCst);
        assert_eq!(leader.join().unwrap(), 20);
        assert_eq!(waiter.join().unwrap(), 20);
    });
    for k in 100..10_000 {
        map.insert(k, k);
    }
    assert!(map.len() <= 16 * 16 + 400, "len {}", map.len());
}

/// Ports moka `test_immediate_removal_notifications_with_updates` for a memoizing call: the
/// constructor's value stored over an expired entry reports that entry as expired.
#[test]
fn moka_memoizing_over_an_expired_entry_reports_expired() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(5))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert("alice", "a0");
    clock.advance(secs(6));
    assert_eq!(map.get_or_insert_with(&"alice", || "a1"), "a1");
    assert_eq!(take(&heard), [("alice", "a0", Reason::Expired)]);
    assert_eq!(map.len(), 1);
    assert_eq!(map.stats().expirations, 1);
}

/// The listener runs "outside the map's locks" (moka's listener may call the cache too):
/// a listener that reads and writes the same map, for every reason, must not deadlock.
#[test]
fn moka_listener_may_use_the_map() {
    use std::sync::OnceLock;
    use std::sync::mpsc;
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let clock = ManualClock::new();
        let cell: Arc<OnceLock<TtlMap<u32, u32>>> = Arc::new(OnceLock::new());
        let inside = Arc::clone(&cell);
        let reasons = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&reasons);
        let map = TtlMap::builder()
            .ttl(secs(10))
            .capacity(4)
            .clock(clock.clone())
            .on_evict(move |k: &u32, _: &u32, reason| {
                log.lock().unwrap().push(reason);
                let map = inside.get().expect("set");
                let _ = map.get(k);
                let _ = map.len();
                let _ = map.contains_key(&1000);
                if *k < 1000 {
                    map.insert(1000 + *k, 0);
                }
            })
            .build();
        assert!(cell.set(map.clone()).is_ok());
        for k in 0..6 {
            map.insert(k, k); // evictions
        }
        map.insert(5, 50); // replaced
        map.remove(&5); // removed
        clock.advance(secs(11));
        map.sweep(); // expired
        map.insert(7, 7);
        map.clear();
        let _ = done_tx.send(reasons.lock().unwrap().clone());
    });
    let reasons = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a listener using its own map deadlocked");
    worker.join().unwrap();
    for reason in [
        Reason::Capacity,
        Reason::Replaced,
        Reason::Removed,
        Reason::Expired,
    ] {
        assert!(
            reasons.contains(&reason),
            "{reason:?} not heard: {reasons:?}"
        );
    }
}

/// Ports moka `future::cache::tests` invalidation during `get_with` (Caffeine's rule) for the
/// async form: `remove` while an async constructor runs wins.
#[test]
fn caffeine_async_invalidation_during_a_flight_wins() {
    let rt = two_worker_runtime();
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let release = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let leader = {
            let (map, release) = (map.clone(), Arc::clone(&release));
            tokio::spawn(async move {
                map.get_or_insert_with_async(&1, async {
                    wait_until_async("released", || release.load(SeqCst)).await;
                    100
                })
                .await
            })
        };
        wait_until_async("the leader runs", || map.stats().misses == 1).await;
        assert_eq!(map.remove(&1), None);
        release.store(true, SeqCst);
        assert_eq!(leader.await.unwrap(), 100);
    });
    assert_eq!(map.get(&1), None);
}
