//! Review 13 of `TtlMap`'s promises (SPEC.md, "Promises, precisely" and "Expiry policies";
//! README, Semantics), attacked from angles the earlier reviews left: keys whose `Hash` is
//! lawful but coarse (it hashes part of the key, as `Hash` may), exact counters and listener
//! events conserved through a storm of mixed operations, the capacity watched by `len()` from
//! another thread, single flight under capacities 0 and 1, waiters of a flight cleared
//! midway, a `ManualClock` at the ends of its range, constructors that use their own map in
//! every way but asking for their own key, values whose `Drop` writes to the map, and the
//! process-wide sweeper after listeners, drops and clocks that panic on it. A few peers'
//! tests (moka, Guava) that the `ported_*` files do not have close the file.
//!
//! They found a `get` whose value's `Clone` panicked uncounted (fixed), and keys of one hash
//! sharing their limits (documented: early, never late). Time comes from a `ManualClock`;
//! waits for other threads go through `tests::wait_until` (or its deadline in
//! `tests::within`).

use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use cache_core::{Clock, Expiry, ManualClock, Reason, TtlMap};
use tests::{heard, wait_until, within};

const PATIENCE: Duration = Duration::from_secs(30);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A route to a model of a tenant: equal when both fields are, hashed by the tenant alone.
/// That is a lawful `Hash` (equal keys hash equally; `Hash` need not tell unequal keys
/// apart), as hashing a subset of the fields that `Eq` compares is, and it makes the routes
/// of one tenant share their whole 64-bit hash under any hasher, the default one included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Route {
    tenant: u32,
    model: u32,
}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.tenant.hash(state);
    }
}

const fn route(tenant: u32, model: u32) -> Route {
    Route { tenant, model }
}

/// Keys whose hashes are equal share the earlier limit and refresh time (README, Freshness):
/// such an entry may expire or be rebuilt early, never late. Routes of one tenant are such keys.
mod shared_hash {
    use super::*;

    #[test]
    fn keys_of_one_hash_keep_max_lifetime_as_a_bound_never_outliving_their_own() {
        let clock = ManualClock::new();
        let map: TtlMap<Route, u32> = TtlMap::builder()
            .ttl(secs(60))
            .max_lifetime(secs(100))
            .clock(clock.clone())
            .build();
        let (a, b, other) = (route(1, 1), route(1, 2), route(2, 2));
        map.insert(a, 1);
        let mut alive = Vec::new();
        for t in (10..=160).step_by(10) {
            clock.advance(secs(10));
            if t == 50 {
                map.insert(b, 2);
                map.insert(other, 3);
            }
            alive.push((t, map.get(&a).is_some(), t < 50 || map.get(&b).is_some()));
            map.get(&other);
        }
        for (t, a_alive, b_alive) in alive {
            assert_eq!(
                a_alive,
                t < 100,
                "a, stored at 0 s, lives to its own 100 s ({t} s)"
            );
            assert!(
                !b_alive || t < 150,
                "b, stored at 50 s, never outlives 150 s ({t} s)"
            );
            assert!(b_alive || t >= 100, "b lives at least as long as a ({t} s)");
        }
        assert_eq!(
            map.get(&other),
            None,
            "another tenant's key ends at its own 150 s"
        );
    }

    #[test]
    fn keys_of_one_hash_each_keep_their_own_declared_life_at_most() {
        let clock = ManualClock::new();
        let map: TtlMap<Route, u32> = TtlMap::builder()
            .ttl(secs(60))
            .expire_after(|k: &Route, _: &u32| (k.model == 2).then(|| secs(30)))
            .clock(clock.clone())
            .build();
        map.insert(route(1, 1), 1);
        map.insert(route(1, 2), 2);
        map.insert(route(2, 2), 3);
        clock.advance(secs(29));
        assert_eq!(map.get(&route(1, 2)), Some(2));
        clock.advance(secs(1));
        assert_eq!(map.get(&route(1, 2)), None, "its own 30 s are over");
        assert_eq!(map.get(&route(2, 2)), None, "another tenant's too");
    }

    #[test]
    fn a_key_of_a_shared_hash_is_rebuilt_no_later_than_its_own_refresh_time() {
        let clock = ManualClock::new();
        let map: TtlMap<Route, u32> = TtlMap::builder()
            .ttl(secs(100))
            .refresh_after(secs(10))
            .clock(clock.clone())
            .build();
        assert_eq!(map.get_or_insert_with(&route(1, 1), || 1), 1);
        clock.advance(secs(5));
        assert_eq!(map.get_or_insert_with(&route(1, 2), || 2), 2);
        clock.advance(secs(10));
        assert_eq!(
            map.get_or_insert_with(&route(1, 2), || 20),
            20,
            "rebuilt by its own 15 s"
        );
        assert_eq!(map.stats().refreshes, 1);
    }
}

/// README, Counters: "`hits` and `misses` count every `get` and memoizing call once, at its
/// first lookup". A hit whose value's `Clone` panics is counted, in `get` as in a memoizing
/// call (`get` counted after the clone until helper-75 saw it).
#[test]
fn a_hit_whose_clone_panics_is_counted_by_get_as_by_a_memoizing_call() {
    tests::quiet_panics(|_| false);
    let map: TtlMap<u8, Touchy> = TtlMap::new(secs(60));
    map.insert(1, Touchy);
    map.insert(2, Touchy);
    TOUCHY.set(true);
    let got = catch_unwind(AssertUnwindSafe(|| map.get(&1)));
    let memo = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&2, || Touchy)));
    TOUCHY.set(false);
    assert!(got.is_err() && memo.is_err(), "both clones panicked");
    let stats = map.stats();
    assert_eq!(
        (stats.hits, stats.misses),
        (2, 0),
        "two calls found a live entry: two hits"
    );
}

thread_local! {
    /// Set while a [`Touchy`]'s `Clone` should panic on this thread: per thread, as the tests
    /// that set it run at once (a hit clones on its caller's thread).
    static TOUCHY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A value whose `Clone` panics while [`TOUCHY`] is set.
#[derive(Debug, PartialEq)]
struct Touchy;

impl Clone for Touchy {
    fn clone(&self) -> Self {
        if TOUCHY.get() {
            panic!("boom: Touchy's clone");
        }
        Touchy
    }
}

// ---------------------------------------------------------------------------------------
// Conservation: every entry stored leaves once, heard once, counted by its reason
// ---------------------------------------------------------------------------------------

/// What a storm of mixed operations left: the listener's record and the values that calls
/// returned as removed (`remove`) or replaced (`insert`).
struct Storm {
    map: TtlMap<u64, u64>,
    heard: heard::Heard<u64, u64>,
    removed: Vec<u64>,
    replaced: Vec<u64>,
    calls: u64,
}

/// Four threads, 3,000 operations each, over 24 keys: `insert`, `remove`, `get`,
/// `get_or_insert_with`, `try_get_or_insert_with` (failing one time in three), `retain`,
/// `clear`, `sweep` and clock advances, with `capacity` if given. Every value is a fresh
/// number, so that each one heard can be told apart.
fn storm(capacity: Option<usize>, expiry: Expiry) -> Storm {
    let clock = ManualClock::new();
    let (heard, listener) = heard::recorder();
    let mut builder = TtlMap::builder()
        .ttl(secs(10))
        .expiry(expiry)
        .clock(clock.clone())
        .on_evict(listener);
    if let Some(capacity) = capacity {
        builder = builder.capacity(capacity);
    }
    let map: TtlMap<u64, u64> = builder.build();
    let next = AtomicU64::new(1);
    let fresh = || next.fetch_add(1, SeqCst);
    let calls = AtomicU64::new(0);
    let results: Vec<(Vec<u64>, Vec<u64>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let (map, clock, fresh, calls) = (&map, &clock, &fresh, &calls);
                s.spawn(move || {
                    let mut removed = Vec::new();
                    let mut replaced = Vec::new();
                    let mut x = 0x9e37_79b9_7f4a_7c15 ^ (t + 1);
                    for _ in 0..3_000 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let key = x % 24;
                        match (x >> 8) % 100 {
                            0..=24 => {
                                if let Some(old) = map.insert(key, fresh()) {
                                    replaced.push(old);
                                }
                            }
                            25..=34 => {
                                if let Some(old) = map.remove(&key) {
                                    removed.push(old);
                                }
                            }
                            35..=54 => {
                                calls.fetch_add(1, SeqCst);
                                let _ = map.get(&key);
                            }
                            55..=79 => {
                                calls.fetch_add(1, SeqCst);
                                let _ = map.get_or_insert_with(&key, fresh);
                            }
                            80..=89 => {
                                calls.fetch_add(1, SeqCst);
                                let _ = map.try_get_or_insert_with(&key, || {
                                    let v = fresh();
                                    if v % 3 == 0 { Err(v) } else { Ok(v) }
                                });
                            }
                            90 => map.retain(|k, _| (k + x) % 3 != 0),
                            91 => map.clear(),
                            92..=93 => {
                                let _ = map.sweep();
                            }
                            _ => clock.advance(Duration::from_millis(x % 1_500)),
                        }
                    }
                    (removed, replaced)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let (mut removed, mut replaced) = (Vec::new(), Vec::new());
    for (r, p) in results {
        removed.extend(r);
        replaced.extend(p);
    }
    Storm {
        map,
        heard,
        removed,
        replaced,
        calls: calls.load(SeqCst),
    }
}

/// Checks a storm's books: hits and misses count every lookup call; each value heard is
/// heard once; the listener's reasons match the counters and the calls' returns; and once
/// the map is cleared, every value stored was heard leaving (`inserts` in all).
fn check_books(storm: Storm, capacity: Option<usize>) {
    let Storm {
        map,
        heard,
        removed,
        replaced,
        calls,
    } = storm;
    if let Some(capacity) = capacity {
        assert!(map.len() <= capacity, "{} > {capacity}", map.len());
    }
    let before_clear = map.stats();
    assert_eq!(
        before_clear.hits + before_clear.misses,
        calls,
        "{before_clear:?}"
    );
    map.clear();
    let stats = map.stats();
    let all = heard::take(&heard);
    let mut seen = std::collections::HashMap::new();
    for (k, v, reason) in &all {
        assert!(
            seen.insert(*v, (*k, *reason)).is_none(),
            "value {v} heard twice"
        );
    }
    let count = |r: Reason| all.iter().filter(|e| e.2 == r).count() as u64;
    assert_eq!(count(Reason::Expired), stats.expirations, "{stats:?}");
    assert_eq!(count(Reason::Capacity), stats.evictions, "{stats:?}");
    assert_eq!(
        all.len() as u64,
        stats.inserts,
        "every stored value leaves once, heard: {stats:?}"
    );
    for v in &removed {
        assert_eq!(seen.get(v).map(|e| e.1), Some(Reason::Removed), "{v}");
    }
    for v in &replaced {
        assert_eq!(seen.get(v).map(|e| e.1), Some(Reason::Replaced), "{v}");
    }
    assert_eq!(
        count(Reason::Replaced),
        replaced.len() as u64,
        "only insert replaces, and each replaced value is returned by it"
    );
    assert!(map.is_empty());
}

/// Promise (SPEC: listener `on_evict(|&K, &V, Reason|)`; `stats()`'s expirations and
/// evictions; README Counters): every entry that leaves is heard once with its reason, the
/// counters agree with what was heard, and `hits + misses` is the number of lookup calls.
#[test]
fn every_stored_value_is_heard_once_with_its_reason_in_a_storm_without_capacity() {
    check_books(storm(None, Expiry::Sliding), None);
}

/// As above with a capacity of 5 (evictions among the reasons), sliding expiry.
#[test]
fn every_stored_value_is_heard_once_with_its_reason_in_a_storm_with_capacity_5() {
    check_books(storm(Some(5), Expiry::Sliding), Some(5));
}

/// As above with a capacity of 1 and fixed expiry.
#[test]
fn every_stored_value_is_heard_once_with_its_reason_in_a_storm_with_capacity_1_fixed() {
    check_books(storm(Some(1), Expiry::Fixed), Some(1));
}

/// Promise (SPEC, Promises: "`stats().coalesced` counts calls that waited on another
/// caller's flight"; README Counters): with no expiry, invalidation or failure, every
/// memoizing miss either leads (one constructor run, one insert) or waits (coalesced).
#[test]
fn misses_are_exactly_the_leaders_plus_the_coalesced_waiters() {
    let map: TtlMap<u64, u64> = TtlMap::new(secs(3600));
    let runs = AtomicU64::new(0);
    let barrier = Barrier::new(4);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (map, runs, barrier) = (&map, &runs, &barrier);
            s.spawn(move || {
                for round in 0..50u64 {
                    barrier.wait();
                    for i in 0..20u64 {
                        let key = round * 20 + (i + t) % 20;
                        let v = map.get_or_insert_with(&key, || {
                            runs.fetch_add(1, SeqCst);
                            std::thread::yield_now();
                            key * 2
                        });
                        assert_eq!(v, key * 2);
                    }
                }
            });
        }
    });
    let stats = map.stats();
    assert_eq!(runs.load(SeqCst), 1_000, "one run per key");
    assert_eq!(stats.inserts, 1_000);
    assert_eq!(stats.hits + stats.misses, 4_000);
    assert_eq!(stats.misses, 1_000 + stats.coalesced, "{stats:?}");
    assert_eq!(map.len(), 1_000);
}

// ---------------------------------------------------------------------------------------
// Capacity, watched from outside
// ---------------------------------------------------------------------------------------

/// Promise (SPEC, Promises: "`len() <= capacity` whenever no write is in progress"; the map
/// of a capacity is one shard, so every store is atomic for `len()`): a thread polling
/// `len()`, and a listener polling it too, never see more than the capacity while four
/// threads insert and memoize over 40 keys.
#[test]
fn len_never_exceeds_the_capacity_as_seen_by_a_watcher_and_the_listener() {
    for capacity in [1usize, 2, 7] {
        let seen_by_listener = Arc::new(AtomicUsize::new(0));
        let slot: Arc<Mutex<Option<TtlMap<u64, u64>>>> = Arc::new(Mutex::new(None));
        let (seen, handle) = (Arc::clone(&seen_by_listener), Arc::clone(&slot));
        let evicted_heard = Arc::new(AtomicU64::new(0));
        let evicted = Arc::clone(&evicted_heard);
        let map: TtlMap<u64, u64> = TtlMap::builder()
            .ttl(secs(3600))
            .capacity(capacity)
            .on_evict(move |_, _, reason| {
                if reason == Reason::Capacity {
                    evicted.fetch_add(1, SeqCst);
                }
                if let Some(map) = handle.lock().unwrap().as_ref() {
                    seen.fetch_max(map.len(), SeqCst);
                }
            })
            .build();
        *slot.lock().unwrap() = Some(map.clone());
        let done = AtomicBool::new(false);
        let max_seen = std::thread::scope(|s| {
            let watcher = s.spawn(|| {
                let mut max = 0;
                while !done.load(SeqCst) {
                    max = max.max(map.len());
                }
                max
            });
            let workers: Vec<_> = (0..4u64)
                .map(|t| {
                    let map = &map;
                    s.spawn(move || {
                        for i in 0..2_000u64 {
                            let key = (i * 7 + t) % 40;
                            if i % 2 == 0 {
                                map.insert(key, i);
                            } else {
                                map.get_or_insert_with(&key, || i);
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            done.store(true, SeqCst);
            watcher.join().unwrap()
        });
        *slot.lock().unwrap() = None;
        assert!(max_seen <= capacity, "watcher saw {max_seen} > {capacity}");
        let by_listener = seen_by_listener.load(SeqCst);
        assert!(by_listener <= capacity, "listener saw {by_listener}");
        assert_eq!(map.len(), capacity, "40 keys were stored: the map is full");
        assert_eq!(evicted_heard.load(SeqCst), map.stats().evictions);
    }
}

/// Promise (SPEC, Promises: "no entry is evicted for capacity while `len() < capacity`"),
/// through every way a key can free its place (`remove`, `retain`, expiry swept by a
/// store, a replaced value): each frees exactly one place.
#[test]
fn no_eviction_while_below_capacity_after_each_kind_of_removal() {
    let clock = ManualClock::new();
    let (heard, listener) = heard::recorder();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(10))
        .expiry(Expiry::Fixed)
        .capacity(4)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    for k in 0..4 {
        map.insert(k, k);
    }
    map.insert(0, 100); // replaced: still 4
    assert_eq!(map.remove(&1), Some(1));
    map.retain(|k, _| *k != 2);
    assert_eq!(map.len(), 2);
    map.insert(10, 10);
    map.insert(11, 11);
    assert_eq!(map.len(), 4);
    let reasons: Vec<_> = heard::take(&heard).into_iter().map(|e| e.2).collect();
    assert_eq!(
        reasons,
        [Reason::Replaced, Reason::Removed, Reason::Removed],
        "nothing evicted while below the capacity"
    );
    // One insert past the capacity evicts one: the oldest (key 3, stored at 0 s).
    clock.advance(secs(1));
    map.insert(12, 12);
    assert_eq!(
        heard::take(&heard),
        [(3, 3, Reason::Capacity)],
        "the oldest insert goes"
    );
    assert_eq!(map.stats().evictions, 1);
}

// ---------------------------------------------------------------------------------------
// Single flight under capacities 0 and 1, and a clear during a flight
// ---------------------------------------------------------------------------------------

/// Runs `leader` (a memoizing call of key 7) on one thread and `waiters` more on others;
/// `leader` blocks in its constructor until every waiter counts as coalesced, then
/// `midway` runs, then the constructor returns 1. Returns what every call returned, and
/// how many constructors ran.
fn flight_with_waiters(
    map: &TtlMap<u64, u64>,
    waiters: usize,
    midway: impl FnOnce() + Send,
) -> (Vec<u64>, usize) {
    let runs = AtomicUsize::new(0);
    let constructor = |value: u64| {
        runs.fetch_add(1, SeqCst);
        value
    };
    let entered = AtomicBool::new(false);
    let release = AtomicBool::new(false);
    let results = std::thread::scope(|s| {
        let leader = s.spawn(|| {
            map.get_or_insert_with(&7, || {
                entered.store(true, SeqCst);
                wait_until("the leader is released", || release.load(SeqCst));
                constructor(1)
            })
        });
        wait_until("the leader runs", || entered.load(SeqCst));
        let coalesced_before = map.stats().coalesced;
        let others: Vec<_> = (0..waiters)
            .map(|_| s.spawn(|| map.get_or_insert_with(&7, || constructor(99))))
            .collect();
        wait_until("every waiter joined", || {
            map.stats().coalesced == coalesced_before + waiters as u64
        });
        midway();
        release.store(true, SeqCst);
        let mut results = vec![leader.join().unwrap()];
        results.extend(others.into_iter().map(|o| o.join().unwrap()));
        results
    });
    (results, runs.load(SeqCst))
}

/// Promise (SPEC, Promises: "every caller that joins a flight gets that flight's outcome from
/// the flight itself ... `capacity` 0 between the landing and the wake-up cannot make a
/// waiter run the constructor"): capacity 0 stores nothing, the constructor runs once, every
/// waiter gets its value, and the refused value is heard once as `Capacity`.
#[test]
fn capacity_zero_flight_runs_once_and_every_waiter_gets_the_value() {
    let (heard, listener) = heard::recorder();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(60))
        .capacity(0)
        .on_evict(listener)
        .build();
    let (results, runs) = flight_with_waiters(&map, 6, || {});
    assert_eq!(results, [1; 7]);
    assert_eq!(runs, 1);
    assert!(map.is_empty());
    assert_eq!(heard::take(&heard), [(7, 1, Reason::Capacity)]);
    let stats = map.stats();
    assert_eq!(
        (
            stats.inserts,
            stats.evictions,
            stats.misses,
            stats.coalesced
        ),
        (0, 1, 7, 6)
    );
}

/// As above with capacity 1, and another key inserted while the flight runs: the flight's
/// value evicts it on landing (it is another key: no invalidation), waiters get the
/// flight's value, and the map then holds only key 7.
#[test]
fn capacity_one_flight_evicts_a_key_inserted_meanwhile_and_its_waiters_get_its_value() {
    let (heard, listener) = heard::recorder();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(60))
        .capacity(1)
        .on_evict(listener)
        .build();
    let (results, runs) = flight_with_waiters(&map, 5, || {
        map.insert(8, 8);
    });
    assert_eq!(results, [1; 6]);
    assert_eq!(runs, 1);
    assert_eq!((map.get(&7), map.get(&8), map.len()), (Some(1), None, 1));
    assert_eq!(heard::take(&heard), [(8, 8, Reason::Capacity)]);
}

/// Promise (SPEC, Promises: "Invalidation wins ... once `clear()` has returned, no flight that
/// began before it stores its value (its callers still receive it)"): waiters of a flight
/// cleared midway get its value, nothing is stored, and a caller arriving after the clear
/// does not join the old flight but leads its own.
#[test]
fn waiters_of_a_flight_cleared_midway_get_its_value_and_a_later_caller_leads_anew() {
    let map: TtlMap<u64, u64> = TtlMap::new(secs(60));
    map.insert(1, 1);
    let after_clear = AtomicU64::new(0);
    let (results, runs) = flight_with_waiters(&map, 4, || {
        map.clear();
        // Not joined to the flight cleared: its own constructor runs at once.
        after_clear.store(map.get_or_insert_with(&7, || 2), SeqCst);
    });
    assert_eq!(results, [1; 5]);
    assert_eq!(runs, 1);
    assert_eq!(after_clear.load(SeqCst), 2);
    assert_eq!(
        (map.get(&7), map.len()),
        (Some(2), 1),
        "the flight begun before the clear stored nothing; the later one did"
    );
}

/// As above with `retain` keeping everything but key 7: its flight does not store.
#[test]
fn waiters_of_a_flight_whose_key_retain_drops_get_its_value_and_nothing_is_stored() {
    let map: TtlMap<u64, u64> = TtlMap::new(secs(60));
    map.insert(1, 1);
    let (results, runs) = flight_with_waiters(&map, 3, || map.retain(|k, _| *k != 7));
    assert_eq!((results, runs), (vec![1; 4], 1));
    assert_eq!((map.get(&7), map.get(&1)), (None, Some(1)));
}

// ---------------------------------------------------------------------------------------
// ManualClock at the ends of its range; ttls of 0 and Duration::MAX
// ---------------------------------------------------------------------------------------

/// Promise (SPEC: "Durations that overflow saturate; they never panic"; "An expired entry is
/// never returned"): with the clock at `u64::MAX` ns, every operation works and nothing is
/// returned live (every deadline is at most the clock), however long the ttl, limits and
/// refresh times.
#[test]
fn every_operation_works_with_the_clock_at_its_end() {
    let clock = ManualClock::new();
    let (heard, listener) = heard::recorder();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(Duration::MAX)
        .max_lifetime(Duration::MAX)
        .refresh_after(Duration::MAX)
        .expire_after(|_, _| Some(Duration::MAX))
        .capacity(3)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert(1, 1);
    assert_eq!(map.get(&1), Some(1), "lives for ages before the end");
    clock.advance(Duration::MAX);
    clock.advance(Duration::MAX);
    assert_eq!(clock.now(), Duration::from_nanos(u64::MAX));
    assert_eq!(
        map.get(&1),
        None,
        "at the clock's end every deadline has passed"
    );
    for k in 10..20 {
        assert_eq!(map.get_or_insert_with(&k, || k * 2), k * 2);
        assert_eq!(
            map.try_get_or_insert_with(&k, || Ok::<_, ()>(k * 3)),
            Ok(k * 3)
        );
        assert_eq!(map.insert(k, k), None);
        assert!(!map.contains_key(&k));
    }
    assert!(map.len() <= 3);
    assert_eq!(map.iter().count(), 0);
    map.sweep();
    assert!(map.is_empty());
    let stats = map.stats();
    let all = heard::take(&heard);
    assert_eq!(all.len() as u64, stats.inserts, "{stats:?}");
    assert!(all.iter().all(|e| e.2 == Reason::Expired), "{all:?}");
}

/// With ttl `Duration::MAX` an entry stored an hour before the clock's end is live until
/// about then (its deadline saturates at the end, kept to 2.048 µs), and gone at the end.
#[test]
fn a_ttl_of_duration_max_saturates_at_the_clocks_end() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_nanos(u64::MAX) - secs(3600));
    for expiry in [Expiry::Sliding, Expiry::Fixed] {
        let map: TtlMap<u64, u64> = TtlMap::builder()
            .ttl(Duration::MAX)
            .expiry(expiry)
            .clock(clock.clone())
            .build();
        map.insert(1, 1);
        assert_eq!(map.get(&1), Some(1));
        let c = ManualClock::new();
        c.advance(clock.now() + secs(3599));
        let late: TtlMap<u64, u64> = TtlMap::builder()
            .ttl(Duration::MAX)
            .expiry(expiry)
            .clock(c.clone())
            .build();
        late.insert(1, 1);
        assert_eq!(late.get(&1), Some(1), "{expiry:?}: 1 s before the end");
        c.advance(secs(1));
        assert_eq!(late.get(&1), None, "{expiry:?}: at the end");
        assert_eq!(late.sweep(), 1);
    }
}

/// Promise (SPEC: memory bound "`len()` never exceeds the keys stored within the last TTL,
/// plus 1/32 of them, plus 16 per shard, plus one per concurrently writing thread"): with a
/// ttl of 0 (or 1 ns) no key lives, so 10,000 keys leave at most 16 per shard; every
/// memoizing call runs its constructor and gets its value; nothing is ever returned by `get`.
#[test]
fn a_ttl_of_zero_keeps_nothing_live_and_stays_within_16_per_shard() {
    for ttl in [Duration::ZERO, Duration::from_nanos(1)] {
        let clock = ManualClock::new();
        let map: TtlMap<u64, u64> = TtlMap::builder().ttl(ttl).clock(clock.clone()).build();
        let runs = AtomicU64::new(0);
        for k in 0..10_000u64 {
            let v = map.get_or_insert_with(&(k % 50), || {
                runs.fetch_add(1, SeqCst);
                k
            });
            assert_eq!(v, k, "{ttl:?}");
            // A ttl of 1 ns is a life of 1 ns (deadlines are kept to 2.048 µs, rounding
            // earlier): over once the clock moves by it.
            clock.advance(ttl);
            assert_eq!(map.get(&(k % 50)), None, "{ttl:?}");
            map.insert(100 + k, k);
            clock.advance(Duration::from_nanos(k % 3));
        }
        assert_eq!(runs.load(SeqCst), 10_000);
        assert!(map.len() <= 16 * 16 + 1, "{ttl:?}: {}", map.len());
        let stats = map.stats();
        assert_eq!((stats.hits, stats.misses), (0, 20_000), "{ttl:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Constructors that use their own map; values whose Drop writes to it
// ---------------------------------------------------------------------------------------

/// Promise (SPEC: "a constructor may use the same map for another key"; "Invalidation wins
/// ... an `insert` during a flight is not overwritten by the flight's value"): a constructor
/// that writes its own key by each other means (`insert`, `remove`, `clear`, `retain`) gets
/// its value back, and the map keeps what the write left; one that only reads (`get`,
/// `contains_key`, `len`, `iter`, `sweep`, `stats`) stores its value.
#[test]
fn a_constructor_using_its_own_map_in_every_way_but_asking_for_its_key() {
    let map: TtlMap<u64, u64> = TtlMap::new(secs(60));
    let m = &map;
    // Writes of its own key: invalidation wins.
    assert_eq!(
        m.get_or_insert_with(&1, || {
            m.insert(1, 10);
            1
        }),
        1
    );
    assert_eq!(
        m.get(&1),
        Some(10),
        "the insert made during the flight stays"
    );
    m.remove(&1);
    assert_eq!(
        m.get_or_insert_with(&1, || {
            m.insert(1, 10);
            m.remove(&1);
            1
        }),
        1
    );
    assert_eq!(m.get(&1), None, "the remove made during the flight wins");
    m.insert(2, 2);
    assert_eq!(
        m.get_or_insert_with(&1, || {
            m.clear();
            1
        }),
        1
    );
    assert!(m.is_empty(), "the clear made during the flight wins");
    m.insert(2, 2);
    assert_eq!(
        m.get_or_insert_with(&1, || {
            m.retain(|_, _| true);
            1
        }),
        1
    );
    assert_eq!(
        (m.get(&1), m.get(&2)),
        (None, Some(2)),
        "retain invalidates too"
    );
    // Reads: the value is stored.
    let read = m.get_or_insert_with(&3, || {
        assert_eq!(m.get(&3), None, "a get does not wait for the flight");
        assert!(!m.contains_key(&3));
        assert_eq!(m.iter().count(), m.len());
        let _ = m.sweep();
        let _ = m.stats();
        m.get_or_insert_with(&4, || 4) + 30
    });
    assert_eq!(read, 34);
    assert_eq!((m.get(&3), m.get(&4)), (Some(34), Some(4)));
}

/// A value whose `Drop` writes to the map that held it.
struct Echo {
    id: u64,
    map: Option<TtlMap<u64, Echo>>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            map.insert(1_000 + self.id, Echo { id: 0, map: None });
        }
    }
}

impl Clone for Echo {
    fn clone(&self) -> Self {
        Echo {
            id: self.id,
            map: None,
        }
    }
}

/// Promise (SPEC: "Nothing in user code (Drop ...) can ... wedge a shard"; README:
/// "constructors and listeners run with none held", values dropped outside the locks):
/// a value whose `Drop` inserts into its own map, dropped by every kind of removal
/// (`remove`, `insert` replacing it, `clear`, `retain`, `sweep`, eviction), does not
/// deadlock, and each drop's insert lands.
#[test]
fn a_value_whose_drop_writes_to_its_map_is_dropped_outside_its_locks() {
    within(PATIENCE, || {
        let clock = ManualClock::new();
        for capacity in [None, Some(2)] {
            let mut builder = TtlMap::builder().ttl(secs(10)).clock(clock.clone());
            if let Some(capacity) = capacity {
                builder = builder.capacity(capacity);
            }
            let map: TtlMap<u64, Echo> = builder.build();
            let echo = |id| Echo {
                id,
                map: Some(map.clone()),
            };
            let steps: [(&str, &dyn Fn()); 6] = [
                ("remove", &|| drop(map.remove(&1))),
                ("replace", &|| drop(map.insert(1, echo(2)))),
                ("clear", &|| map.clear()),
                ("retain", &|| map.retain(|k, _| *k != 1)),
                ("sweep", &|| {
                    clock.advance(secs(11));
                    map.sweep();
                }),
                ("memoize over expired", &|| {
                    clock.advance(secs(11));
                    map.get_or_insert_with(&1, || echo(3));
                }),
            ];
            for (what, step) in steps {
                map.clear();
                map.insert(1, echo(1));
                step();
                assert!(
                    map.contains_key(&1_001),
                    "{what} (capacity {capacity:?}): the drop's insert landed"
                );
            }
            if capacity.is_some() {
                map.clear();
                map.insert(1, echo(1));
                map.insert(2, echo(2));
                let evictions = map.stats().evictions;
                // 3 evicts 1, whose drop inserts 1001, evicting 2, whose drop inserts 1002,
                // evicting 3, whose drop inserts 1003, evicting 1001 (which has no map).
                map.insert(3, echo(3));
                let held: Vec<u64> = {
                    let mut held: Vec<u64> = map.iter().map(|(k, _)| k).collect();
                    held.sort_unstable();
                    held
                };
                assert_eq!(held, [1_002, 1_003], "eviction: each drop's insert landed");
                assert_eq!(map.stats().evictions - evictions, 4);
            }
            map.clear(); // breaks the cycles: values hold handles of their map
            map.clear();
        }
    });
}

/// Promise (SPEC: "Nothing in user code (... Clone ...) can ... wedge a shard"): a hit
/// whose `Clone` panics panics in its caller and leaves the map usable, also for a flight
/// whose waiters' clones panic (they make their own attempts).
#[test]
fn a_clone_that_panics_in_a_hit_or_a_landing_leaves_the_map_usable() {
    tests::quiet_panics(|_| false);
    within(PATIENCE, || {
        let map: TtlMap<u64, Touchy> = TtlMap::new(secs(60));
        map.insert(1, Touchy);
        TOUCHY.set(true);
        for _ in 0..3 {
            assert!(catch_unwind(AssertUnwindSafe(|| map.get(&1))).is_err());
            let memo = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&1, || Touchy)));
            assert!(memo.is_err());
        }
        TOUCHY.set(false);
        assert_eq!(map.get(&1), Some(Touchy));
        map.insert(2, Touchy);
        assert_eq!(map.remove(&1), Some(Touchy));
        assert_eq!(map.len(), 1);
    });
}

// ---------------------------------------------------------------------------------------
// The sweeper thread survives everything
// ---------------------------------------------------------------------------------------

/// A clock that panics while its flag is set (else reads its `ManualClock`).
struct Flaky {
    clock: ManualClock,
    panics: Arc<AtomicBool>,
}

impl Clock for Flaky {
    fn now(&self) -> Duration {
        if self.panics.load(SeqCst) {
            panic!("boom: the clock");
        }
        self.clock.now()
    }
}

/// A value whose `Drop` panics.
#[derive(Clone)]
struct Grenade;

impl Drop for Grenade {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("boom: a value's drop");
        }
    }
}

/// Promise (SPEC: "ONE process-wide sweeper thread"; "Nothing in user code (Drop, ...,
/// listeners) can kill the sweeper thread"): maps swept in the background whose listener
/// panics, whose values' `Drop` panics and whose clock panics are each swept (or fail) on
/// the sweeper thread, and a well-behaved map built afterwards is still swept by it.
#[test]
fn the_sweeper_sweeps_on_after_panicking_listeners_drops_and_clocks() {
    tests::quiet_panics(|_| false);
    let clock = ManualClock::new();
    let every = Duration::from_millis(1);
    let listener_panics: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(1))
        .sweep_every(every)
        .clock(clock.clone())
        .on_evict(|_, _, _| panic!("boom: a listener"))
        .build();
    let drop_panics: TtlMap<u64, Grenade> = TtlMap::builder()
        .ttl(secs(1))
        .sweep_every(every)
        .clock(clock.clone())
        .build();
    let panics = Arc::new(AtomicBool::new(false));
    let clock_panics: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(1))
        .sweep_every(every)
        .clock(Flaky {
            clock: clock.clone(),
            panics: Arc::clone(&panics),
        })
        .build();
    for round in 0..3u64 {
        for k in 0..5 {
            listener_panics.insert(k, k);
            drop_panics.insert(k, Grenade);
            clock_panics.insert(k, k);
        }
        panics.store(true, SeqCst);
        clock.advance(secs(2));
        wait_until("the sweeper took the listener's panics", || {
            listener_panics.is_empty()
        });
        wait_until("the sweeper took the drops' panics", || {
            drop_panics.is_empty()
        });
        panics.store(false, SeqCst);
        wait_until("the sweeper swept the map once its clock worked", || {
            clock_panics.is_empty()
        });
        let later: TtlMap<u64, u64> = TtlMap::builder()
            .ttl(secs(1))
            .sweep_every(every)
            .clock(clock.clone())
            .build();
        later.insert(round, round);
        clock.advance(secs(2));
        wait_until("a map built afterwards is swept too", || later.is_empty());
    }
    // Counted once the shard's lock is let go, after the entries left the table.
    wait_until("every expiration is counted, once", || {
        listener_panics.stats().expirations == 15
    });
}

// ---------------------------------------------------------------------------------------
// Peers' tests that apply (not in ported_*.rs)
// ---------------------------------------------------------------------------------------

/// Ports Guava `CacheLoadingTest.testLoadNull`-style counting on a failing loader, with
/// Guava `CacheStats` semantics as our counters word them: a failed load is a miss, stores
/// nothing, and the next call loads again (Guava: `loadExceptionCount`, no entry; ours:
/// `try_get_or_insert_with` returns the error, `inserts` stays 0).
#[test]
fn guava_failed_loads_are_misses_that_store_nothing() {
    let map: TtlMap<u64, u64> = TtlMap::new(secs(60));
    for _ in 0..3 {
        assert_eq!(
            map.try_get_or_insert_with(&1, || Err::<u64, _>("down")),
            Err("down")
        );
    }
    assert_eq!(map.try_get_or_insert_with(&1, || Ok::<_, &str>(5)), Ok(5));
    assert_eq!(map.try_get_or_insert_with(&1, || Ok::<_, &str>(6)), Ok(5));
    let stats = map.stats();
    assert_eq!(
        (stats.misses, stats.hits, stats.inserts),
        (4, 1, 1),
        "{stats:?}"
    );
}

/// Ports moka `sync::cache::tests::invalidate_all_during_updates`' shape (moka 0.12,
/// `invalidate_all` racing `insert`s): once `clear` returns, every entry it found is gone
/// and heard `Removed`; entries inserted concurrently either survive or were heard, never
/// both, never neither.
#[test]
fn moka_clear_racing_inserts_loses_nothing_unheard() {
    let (heard, listener) = heard::recorder();
    let map: TtlMap<u64, u64> = TtlMap::builder().ttl(secs(3600)).on_evict(listener).build();
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let map = &map;
            s.spawn(move || {
                for i in 0..3_000u64 {
                    map.insert(t * 1_000_000 + i, i);
                }
            });
        }
        let map = &map;
        s.spawn(move || {
            for _ in 0..50 {
                map.clear();
                std::thread::yield_now();
            }
        });
    });
    let all = heard::take(&heard);
    assert!(all.iter().all(|e| e.2 == Reason::Removed));
    let mut gone: Vec<u64> = all.iter().map(|e| e.0).collect();
    gone.sort_unstable();
    let before = gone.len();
    gone.dedup();
    assert_eq!(
        gone.len(),
        before,
        "a key heard twice (no key is inserted twice)"
    );
    for t in 0..3u64 {
        for i in 0..3_000u64 {
            let k = t * 1_000_000 + i;
            let held = map.contains_key(&k);
            let heard_gone = gone.binary_search(&k).is_ok();
            assert!(
                held != heard_gone,
                "key {k}: held {held}, heard {heard_gone}"
            );
        }
    }
}

/// Ports quick_cache `sync::tests::test_value_or_guard`-style behaviour (a guard lets the
/// placeholder holder insert while others wait), as our single flight gives it: a waiter
/// never runs its constructor while the leader is alive, and an `insert` by a third thread
/// while the leader runs is what the map keeps, while the waiters get the leader's value.
#[test]
fn quick_cache_insert_by_a_bystander_during_a_flight_is_kept() {
    let map: TtlMap<u64, u64> = TtlMap::new(secs(60));
    let (results, runs) = flight_with_waiters(&map, 3, || {
        map.insert(7, 70);
    });
    assert_eq!((results, runs), (vec![1; 4], 1));
    assert_eq!(map.get(&7), Some(70));
}

// ---------------------------------------------------------------------------------------
// The async single flight under capacity 0 and a clear
// ---------------------------------------------------------------------------------------

/// Promise (SPEC, Promises: single flight "the constructor runs once and the others wait
/// for its value" for "threads or tasks"; capacity 0 cannot make a waiter construct;
/// Invalidation wins): eight tasks on two workers miss key 7 of a map of capacity 0; the
/// leader's future waits until the seven others are coalesced, then the map is cleared and
/// the constructor finishes. Every task gets the leader's value, the constructor ran once,
/// nothing is stored, and the refused value is heard once.
#[test]
fn async_flight_under_capacity_zero_and_a_clear_runs_once_for_every_task() {
    let (heard, listener) = heard::recorder();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(60))
        .capacity(0)
        .on_evict(listener)
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let runtime = tests::two_worker_runtime();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (map, runs, release) = (map.clone(), Arc::clone(&runs), Arc::clone(&release));
                tokio::spawn(async move {
                    map.get_or_insert_with_async(&7, async {
                        runs.fetch_add(1, SeqCst);
                        release.notified().await;
                        1
                    })
                    .await
                })
            })
            .collect();
        tests::wait_until_async("seven tasks wait for the leader", || {
            map.stats().coalesced == 7
        })
        .await;
        map.clear();
        release.notify_one();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    assert_eq!(results, [1; 8]);
    assert_eq!(runs.load(SeqCst), 1);
    assert!(map.is_empty());
    assert_eq!(
        heard::take(&heard),
        [],
        "invalidated by the clear: not even offered"
    );
    let stats = map.stats();
    assert_eq!((stats.misses, stats.coalesced, stats.inserts), (8, 7, 0));
}

/// Promise (SPEC: "`sweep() -> usize` runs a sweep now"; `stats().expirations`, "removed
/// because expired"): what `sweep` returns plus what the write path swept by itself is every
/// expired entry, each heard once as `Expired`, whichever shard it was in.
#[test]
fn sweep_returns_what_the_write_path_left_and_together_they_are_every_expired_entry() {
    let clock = ManualClock::new();
    let (heard, listener) = heard::recorder();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(10))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    for k in 0..5_000 {
        map.insert(k, k);
    }
    clock.advance(secs(10));
    // Writes of live keys sweep some of the expired ones on the way.
    for k in 5_000..5_100 {
        map.insert(k, k);
    }
    let by_writes = map.stats().expirations;
    let swept = map.sweep() as u64;
    assert_eq!(
        by_writes + swept,
        5_000,
        "by writes {by_writes}, swept {swept}"
    );
    assert_eq!(map.sweep(), 0, "nothing left to sweep");
    assert_eq!(map.len(), 100);
    let all = heard::take_sorted(&heard);
    assert_eq!(all.len(), 5_000);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, e)| *e == (i as u64, i as u64, Reason::Expired))
    );
}
