//! Exactness, checked against strict models (helper-44): capacity victims (fixed expiry is
//! exactly first in, first out; sliding is exactly least recently used when operations are a
//! step apart, and within one tick when each key is used once per tick), every counter and
//! listener reason, and `refresh_after`. The approximation the README documents (a second use
//! in one tick sets the reference bit) is left out.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use cache_core::{Expiry, ManualClock, Reason, TtlMap};
use proptest::prelude::*;
use tests::heard::{Heard, recorder, take};
use tests::{block_on, counts};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A map with a capacity and a listener, on a manual clock, with the default (random) hasher.
fn capped(
    capacity: usize,
    ttl: Duration,
    expiry: Expiry,
    clock: &ManualClock,
) -> (TtlMap<u32, u32>, Heard<u32, u32>) {
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(ttl)
        .expiry(expiry)
        .capacity(capacity)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    (map, heard)
}

/// The same with a fixed (unseeded) hasher: the scan order is the same in every run.
fn capacity_victims(heard: &Heard<u32, u32>) -> Vec<u32> {
    take(heard)
        .into_iter()
        .filter(|e| e.2 == Reason::Capacity)
        .map(|e| e.0)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Strict models.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum COp {
    Insert(u8),
    GetOrInsert(u8),
    TryFail(u8),
    Get(u8),
    Contains(u8),
    Remove(u8),
    Iter,
    /// Nanoseconds.
    Advance(u64),
}

fn cop(keys: u8, advance: impl Strategy<Value = u64>) -> impl Strategy<Value = COp> {
    prop_oneof![
        4 => (0..keys).prop_map(COp::Insert),
        3 => (0..keys).prop_map(COp::GetOrInsert),
        1 => (0..keys).prop_map(COp::TryFail),
        3 => (0..keys).prop_map(COp::Get),
        2 => (0..keys).prop_map(COp::Contains),
        1 => (0..keys).prop_map(COp::Remove),
        1 => Just(COp::Iter),
        3 => advance.prop_map(COp::Advance),
    ]
}

/// Runs `ops` against a map with a capacity and a strict model where every operation that
/// "uses" an entry (a store, a hit; for fixed expiry only a store) makes it the most recent.
/// `contains_key`, `iter` and failing constructors do not use. Nothing expires within `ops`.
fn strict(
    expiry: Expiry,
    capacity: usize,
    ttl: Duration,
    ops: &[COp],
) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let (map, heard) = capped(capacity, ttl, expiry, &clock);
    let sliding = expiry == Expiry::Sliding;
    let mut seq = 0u64;
    // key -> last use
    let mut model: HashMap<u8, u64> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let mut stored = None;
        match *op {
            COp::Insert(k) => {
                seq += 1;
                model.insert(k, seq);
                stored = Some(k);
                map.insert(u32::from(k), 0);
            }
            COp::GetOrInsert(k) => {
                seq += 1;
                if let Some(u) = model.get_mut(&k) {
                    if sliding {
                        *u = seq;
                    }
                } else {
                    model.insert(k, seq);
                    stored = Some(k);
                }
                map.get_or_insert_with(&u32::from(k), || 0);
            }
            COp::TryFail(k) => {
                seq += 1;
                if let Some(u) = model.get_mut(&k)
                    && sliding
                {
                    *u = seq;
                }
                let _ = map.try_get_or_insert_with(&u32::from(k), || Err::<u32, ()>(()));
            }
            COp::Get(k) => {
                seq += 1;
                if let Some(u) = model.get_mut(&k)
                    && sliding
                {
                    *u = seq;
                }
                prop_assert_eq!(map.get(&u32::from(k)).is_some(), model.contains_key(&k));
            }
            COp::Contains(k) => {
                prop_assert_eq!(map.contains_key(&u32::from(k)), model.contains_key(&k));
            }
            COp::Remove(k) => {
                model.remove(&k);
                map.remove(&u32::from(k));
            }
            COp::Iter => {
                prop_assert_eq!(map.iter().count(), model.len());
            }
            COp::Advance(n) => clock.advance(Duration::from_nanos(n)),
        }
        let victims = capacity_victims(&heard);
        if model.len() > capacity {
            let expected = model
                .iter()
                .filter(|(k, _)| Some(**k) != stored)
                .min_by_key(|(_, u)| **u)
                .map(|(k, _)| u32::from(*k));
            prop_assert_eq!(
                victims.clone(),
                expected.into_iter().collect::<Vec<_>>(),
                "op {} {:?}: model {:?}",
                i,
                op,
                model.iter().collect::<BTreeMap<_, _>>()
            );
            model.remove(&(victims[0] as u8));
        } else {
            prop_assert!(
                victims.is_empty(),
                "op {} {:?}: evicted {:?} below capacity",
                i,
                op,
                victims
            );
        }
        prop_assert!(map.len() <= capacity);
        prop_assert_eq!(map.len(), model.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Fixed expiry, the clock moving by sub-slot amounts or not at all: the oldest insert goes.
    #[test]
    fn fixed_capacity_evicts_exactly_the_oldest_insert(
        capacity in prop_oneof![Just(1usize), Just(2), Just(3), Just(5), Just(63), Just(64)],
        ops in proptest::collection::vec(cop(12, prop_oneof![Just(0u64), Just(1), 1..5_000u64, Just(2_048), 1..2_000_000_000u64]), 1..200),
    ) {
        strict(Expiry::Fixed, capacity, secs(3600), &ops)?;
    }

    /// Sliding expiry, each step at least a slide step (ttl/64) apart: strict LRU.
    #[test]
    fn sliding_capacity_evicts_exactly_the_lru_when_ticks_are_a_step_apart(
        capacity in prop_oneof![Just(1usize), Just(2), Just(3), Just(5), Just(64)],
        ops in proptest::collection::vec(cop(12, Just(0u64)), 1..60),
    ) {
        // ttl 64,000 s (step 1,000 s); every operation in its own tick, 1,001 s after the
        // previous one: nothing expires within 60 operations.
        let spaced: Vec<COp> = ops.into_iter().flat_map(|op| [op, COp::Advance(1_001_000_000_000)]).collect();
        strict(Expiry::Sliding, capacity, secs(64_000), &spaced)?;
    }

    /// Sliding expiry, many operations in one frozen tick, each key used at most once per
    /// tick (a second use in a tick only sets the reference bit, the documented
    /// approximation): strict LRU. A hit that slides an entry ranks after the entries stored
    /// or slid before it in the tick and before those stored after it; it used to rank after
    /// every entry stored in the tick, so the newest insert went first.
    #[test]
    fn sliding_capacity_evicts_exactly_the_lru_within_a_tick(
        capacity in prop_oneof![Just(1usize), Just(2), Just(3), Just(5), Just(64)],
        ops in proptest::collection::vec(cop(12, Just(0u64)), 1..60),
    ) {
        let mut used = std::collections::HashSet::new();
        let mut ticks = Vec::new();
        for op in ops {
            let key = match op {
                COp::Insert(k) | COp::GetOrInsert(k) | COp::TryFail(k) | COp::Get(k) => Some(k),
                _ => None,
            };
            if let Some(k) = key && !used.insert(k) {
                // A new tick, a slide step (1,000 s) and more after the last.
                ticks.push(COp::Advance(1_001_000_000_000));
                used.clear();
                used.insert(k);
            }
            ticks.push(op);
        }
        strict(Expiry::Sliding, capacity, secs(64_000), &ticks)?;
    }
}

/// The shape of the bug the proptest above found: two hits slide `a` and `b` in one tick,
/// then inserts in that tick must evict by recency (`c`, then `b`, then `a`), not each new
/// insert in turn.
#[test]
fn inserts_after_slides_in_one_tick_are_the_most_recent() {
    let clock = ManualClock::new();
    let (map, heard) = capped(3, secs(60), Expiry::Sliding, &clock);
    for k in [1, 2, 3] {
        map.insert(k, k);
    }
    clock.advance(secs(30));
    assert_eq!(map.get(&2), Some(2));
    assert_eq!(map.get(&1), Some(1));
    for k in [4, 5, 6] {
        map.insert(k, k);
    }
    assert_eq!(capacity_victims(&heard), [3, 2, 1]);
}

/// Fixed expiry at capacity 64 with 3000 stores in one frozen tick, interleaved with
/// removes and re-inserts: each victim is the oldest insert (the README's "however many a
/// tick sees").
#[test]
fn fixed_capacity_64_one_tick_thousands_of_stores() {
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let ops: Vec<COp> = (0..3000)
        .map(|_| match rnd() % 10 {
            0 => COp::Remove((rnd() % 100) as u8),
            1 => COp::GetOrInsert((rnd() % 100) as u8),
            _ => COp::Insert((rnd() % 100) as u8),
        })
        .collect();
    if let Err(e) = strict(Expiry::Fixed, 64, secs(3600), &ops) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Counters and the listener, exactly, in single-threaded sequences.
// ---------------------------------------------------------------------------------------------

#[test]
fn every_counter_and_reason_of_a_plain_map() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder::<u32, u32>();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .expiry(Expiry::Fixed)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    assert_eq!(map.insert(1, 10), None);
    assert_eq!(map.insert(1, 11), Some(10)); // replace live
    assert_eq!(take(&heard), vec![(1, 10, Reason::Replaced)]);
    assert_eq!(counts(&map), [0, 0, 2, 0, 0, 0, 0, 0, 0]);
    clock.advance(secs(60));
    assert_eq!(map.insert(1, 12), None); // replace expired
    assert_eq!(take(&heard), vec![(1, 11, Reason::Expired)]);
    assert_eq!(counts(&map), [0, 0, 3, 1, 0, 0, 0, 0, 0]);
    assert_eq!(map.get(&1), Some(12));
    assert_eq!(map.get(&2), None);
    assert!(map.contains_key(&1));
    assert_eq!(map.iter().count(), 1);
    assert_eq!(counts(&map), [1, 1, 3, 1, 0, 0, 0, 0, 0]);
    assert_eq!(map.get_or_insert_with(&2, || 20), 20);
    assert_eq!(map.get_or_insert_with(&2, || 21), 20);
    assert_eq!(
        map.try_get_or_insert_with(&3, || Err::<u32, _>("no")),
        Err("no")
    );
    assert_eq!(map.optionally_get_or_insert_with(&3, || None), None);
    assert_eq!(block_on(map.get_or_insert_with_async(&3, async { 30 })), 30);
    assert_eq!(
        block_on(map.try_get_or_insert_with_async(&3, async { Err::<u32, ()>(()) })),
        Ok(30)
    );
    assert_eq!(counts(&map), [3, 5, 5, 1, 0, 0, 0, 0, 0]);
    assert!(take(&heard).is_empty());
    clock.advance(secs(60)); // 1, 2, 3 expire
    assert_eq!(map.remove(&1), None); // expired: heard as expired
    assert_eq!(take(&heard), vec![(1, 12, Reason::Expired)]);
    assert_eq!(map.remove(&1), None); // absent
    assert_eq!(counts(&map), [3, 5, 5, 2, 0, 0, 0, 0, 0]);
    map.insert(4, 40);
    map.retain(|k, _| *k != 4); // 2 and 3 expired, 4 refused
    let mut got = take(&heard);
    got.sort_by_key(|e| e.0);
    assert_eq!(
        got,
        vec![
            (2, 20, Reason::Expired),
            (3, 30, Reason::Expired),
            (4, 40, Reason::Removed)
        ]
    );
    assert_eq!(counts(&map), [3, 5, 6, 4, 0, 0, 0, 0, 0]);
    map.insert(5, 50);
    map.insert(6, 60);
    clock.advance(secs(60));
    map.insert(7, 70);
    map.clear(); // 5 and 6 expired, 7 live: all heard as removed, none counted as expired
    let mut got = take(&heard);
    got.sort_by_key(|e| e.0);
    assert_eq!(
        got,
        vec![
            (5, 50, Reason::Removed),
            (6, 60, Reason::Removed),
            (7, 70, Reason::Removed)
        ]
    );
    assert_eq!(counts(&map), [3, 5, 9, 4, 0, 0, 0, 0, 0]);
    map.insert(8, 80);
    clock.advance(secs(60));
    assert_eq!(map.sweep(), 1);
    assert_eq!(take(&heard), vec![(8, 80, Reason::Expired)]);
    assert_eq!(counts(&map), [3, 5, 10, 5, 0, 0, 0, 0, 0]);
    assert!(map.is_empty());
}

#[test]
fn every_counter_and_reason_of_a_capacity_zero_map() {
    let (heard, listener) = recorder::<u32, u32>();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .capacity(0)
        .on_evict(listener)
        .build();
    assert_eq!(map.insert(1, 10), None);
    assert_eq!(map.get_or_insert_with(&2, || 20), 20);
    assert_eq!(
        map.try_get_or_insert_with(&3, || Err::<u32, _>(())),
        Err(())
    );
    assert_eq!(map.optionally_get_or_insert_with(&3, || None), None);
    assert_eq!(block_on(map.get_or_insert_with_async(&4, async { 40 })), 40);
    assert_eq!(map.len(), 0);
    assert_eq!(
        take(&heard),
        vec![
            (1, 10, Reason::Capacity),
            (2, 20, Reason::Capacity),
            (4, 40, Reason::Capacity)
        ]
    );
    assert_eq!(counts(&map), [0, 4, 0, 0, 3, 0, 0, 0, 0]);
}

#[test]
fn every_counter_and_reason_of_a_capacity_one_map() {
    let clock = ManualClock::new();
    let (map, heard) = capped(1, secs(60), Expiry::Sliding, &clock);
    map.insert(1, 10);
    map.insert(2, 20); // evicts 1
    assert_eq!(take(&heard), vec![(1, 10, Reason::Capacity)]);
    map.insert(2, 21); // replace: no eviction
    assert_eq!(take(&heard), vec![(2, 20, Reason::Replaced)]);
    clock.advance(secs(60));
    assert_eq!(map.get_or_insert_with(&3, || 30), 30); // 2 expired: evicted as expired
    assert_eq!(take(&heard), vec![(2, 21, Reason::Expired)]);
    assert_eq!(counts(&map), [0, 1, 4, 1, 1, 0, 0, 0, 0]);
    assert_eq!(map.len(), 1);
}

#[test]
fn every_counter_and_reason_of_refresh_and_stale() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder::<u32, u32>();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .refresh_after(secs(10))
        .stale_if_error(secs(30))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    assert_eq!(map.get_or_insert_with(&1, || 10), 10);
    clock.advance(secs(10));
    assert_eq!(map.get_or_insert_with(&1, || 11), 11); // refreshed
    assert_eq!(take(&heard), vec![(1, 10, Reason::Replaced)]);
    assert_eq!(counts(&map), [1, 1, 2, 0, 0, 0, 1, 0, 0]);
    assert_eq!(map.get_or_insert_with(&1, || 12), 11); // not due again yet
    clock.advance(secs(10));
    assert_eq!(map.try_get_or_insert_with(&1, || Err::<u32, _>(())), Ok(11)); // failed refresh
    assert_eq!(counts(&map), [3, 1, 2, 0, 0, 0, 1, 1, 0]);
    assert_eq!(map.try_get_or_insert_with(&1, || Err::<u32, _>(())), Ok(11)); // tries again
    assert_eq!(counts(&map), [4, 1, 2, 0, 0, 0, 1, 2, 0]);
    clock.advance(secs(60)); // expired 10..60 s ago? the last hit slid it: expired now
    assert_eq!(map.get(&1), None);
    assert_eq!(map.try_get_or_insert_with(&1, || Err::<u32, _>(())), Ok(11)); // stale
    assert_eq!(counts(&map), [4, 3, 2, 0, 0, 0, 1, 2, 1]);
    assert!(take(&heard).is_empty());
    assert_eq!(map.get_or_insert_with(&1, || 13), 13); // rebuilt over the expired entry
    assert_eq!(take(&heard), vec![(1, 11, Reason::Expired)]);
    assert_eq!(counts(&map), [4, 4, 3, 1, 0, 0, 1, 2, 1]);
}

// ---------------------------------------------------------------------------------------------
// refresh_after.
// ---------------------------------------------------------------------------------------------

fn refreshing(clock: &ManualClock) -> (TtlMap<u32, u32>, Heard<u32, u32>) {
    refreshing_with(clock, |builder| builder)
}

/// [`refreshing`] with the builder's extra `settings`.
fn refreshing_with(
    clock: &ManualClock,
    settings: impl FnOnce(cache_core::Builder<u32, u32>) -> cache_core::Builder<u32, u32>,
) -> (TtlMap<u32, u32>, Heard<u32, u32>) {
    let (heard, listener) = recorder();
    let builder = TtlMap::builder().ttl(secs(60)).refresh_after(secs(10));
    let map = settings(builder)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    (map, heard)
}

/// An async refresh whose future is dropped before its constructor finishes keeps the value,
/// counts neither a refresh nor a failure, and the next memoizing call refreshes.
#[test]
fn a_cancelled_async_refresh_keeps_the_value_and_the_next_call_refreshes() {
    let clock = ManualClock::new();
    let (map, heard) = refreshing(&clock);
    map.insert(1, 10);
    clock.advance(secs(10));
    {
        let fut = map.get_or_insert_with_async(&1, std::future::pending::<u32>());
        let mut fut = Box::pin(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        // Meanwhile other callers get the current value at once.
        assert_eq!(map.get_or_insert_with(&1, || 99), 10);
        assert_eq!(block_on(map.get_or_insert_with_async(&1, async { 98 })), 10);
    }
    assert_eq!(map.get(&1), Some(10));
    let s = map.stats();
    assert_eq!((s.refreshes, s.refresh_failures), (0, 0));
    assert_eq!(map.get_or_insert_with(&1, || 11), 11);
    assert_eq!(map.stats().refreshes, 1);
    assert_eq!(take(&heard), vec![(1, 10, Reason::Replaced)]);
}

/// A refresh whose key is evicted for the capacity while its constructor runs, and whose
/// constructor then fails: the caller gets the error (as for a key removed meanwhile).
#[test]
fn a_refresh_of_a_key_evicted_meanwhile_that_fails_returns_the_error() {
    let clock = ManualClock::new();
    let (map, heard) = refreshing_with(&clock, |builder| builder.capacity(1));
    map.insert(1, 10);
    clock.advance(secs(10));
    let got = map.try_get_or_insert_with(&1, || {
        map.insert(2, 20); // evicts 1
        Err::<u32, _>("down")
    });
    assert_eq!(got, Err("down"));
    assert_eq!(take(&heard), vec![(1, 10, Reason::Capacity)]);
    assert_eq!(map.stats().refresh_failures, 1);
    assert_eq!(map.get(&2), Some(20));
}

/// A refresh of a key evicted for the capacity while its constructor runs, that succeeds:
/// the value is stored again; the entry the constructor stored is evicted for it.
#[test]
fn a_refresh_of_a_key_evicted_meanwhile_that_succeeds() {
    let clock = ManualClock::new();
    let (map, heard) = refreshing_with(&clock, |builder| builder.capacity(1));
    map.insert(1, 10);
    clock.advance(secs(10));
    let got = map.get_or_insert_with(&1, || {
        map.insert(2, 20); // evicts 1
        11
    });
    assert_eq!(got, 11);
    assert_eq!(
        take(&heard),
        vec![(1, 10, Reason::Capacity), (2, 20, Reason::Capacity)]
    );
    assert_eq!(map.get(&1), Some(11));
    assert_eq!(map.len(), 1);
}

/// A refresh runs once per period: many memoizing calls in one tick after the value is due
/// run one constructor (the first); the rest are hits on the refreshed value.
#[test]
fn a_refresh_runs_once() {
    let clock = ManualClock::new();
    let (map, _heard) = refreshing(&clock);
    map.insert(1, 10);
    clock.advance(secs(10));
    let mut runs = 0;
    for i in 0..5 {
        map.get_or_insert_with(&1, || {
            runs += 1;
            100 + i
        });
    }
    assert_eq!(runs, 1);
    assert_eq!(map.get(&1), Some(100));
    assert_eq!(map.stats().refreshes, 1);
    // The refreshed value's period starts at its store.
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(map.get_or_insert_with(&1, || 7), 100);
    clock.advance(Duration::from_millis(1));
    assert_eq!(map.get_or_insert_with(&1, || 7), 7);
}

/// A refresh with a `stale_if_error` map and a value that expires while its refresh runs:
/// the refresh fails; the caller found a live value, so the stale window gives it back.
#[test]
fn a_failed_refresh_of_a_value_that_expired_meanwhile_is_served_stale() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(secs(60))
        .expiry(Expiry::Fixed)
        .refresh_after(secs(10))
        .stale_if_error(secs(30))
        .clock(clock.clone())
        .build();
    map.insert(1, 10);
    clock.advance(secs(50));
    let c = clock.clone();
    let got = map.try_get_or_insert_with(&1, || {
        c.advance(secs(20)); // the value expires while the refresh runs
        Err::<u32, _>("down")
    });
    assert_eq!(got, Ok(10));
    let s = map.stats();
    assert_eq!((s.refresh_failures, s.stale_served), (1, 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Sliding expiry, several ticks a slide step apart, where a key may be stored (inserted,
    /// replaced) any number of times in a tick but hit at most once per tick and not after a
    /// store of it in that tick (the reference-bit approximation): strict LRU, with up to 70
    /// keys so that a capacity of 64 evicts (helper-57).
    #[test]
    fn sliding_capacity_is_exact_lru_with_repeated_stores_in_a_tick(
        capacity in prop_oneof![Just(1usize), Just(2), Just(3), Just(5), Just(64)],
        ops in prop_oneof![Just(12u8), Just(70)]
            .prop_flat_map(|keys| proptest::collection::vec(cop(keys, Just(0u64)), 1..300)),
    ) {
        let mut used = std::collections::HashSet::new();
        let mut ticks = Vec::new();
        for op in ops {
            match op {
                COp::Insert(k) => {
                    used.insert(k);
                }
                COp::GetOrInsert(k) | COp::TryFail(k) | COp::Get(k) if !used.insert(k) => {
                    ticks.push(COp::Advance(1_001_000_000_000));
                    used.clear();
                    used.insert(k);
                }
                _ => {}
            }
            ticks.push(op);
        }
        strict(Expiry::Sliding, capacity, secs(64_000), &ticks)?;
    }
}

/// Sliding expiry with the clock a few seconds from its end (every deadline saturates into
/// one slot, so no hit slides any more): a capacity still evicts, the entries stored in one
/// tick oldest first, and the map keeps at most its capacity (helper-57).
#[test]
fn sliding_capacity_at_the_clocks_end_evicts_by_order_of_storage() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_nanos(u64::MAX - 5_000_000_000));
    let (map, heard) = capped(3, secs(60), Expiry::Sliding, &clock);
    for k in 1..=3 {
        map.insert(k, k);
    }
    for k in 4..=6 {
        map.insert(k, k);
    }
    assert_eq!(capacity_victims(&heard), [1, 2, 3]);
    assert_eq!(map.len(), 3);
    assert_eq!(map.get(&6), Some(6));
}

// ---------------------------------------------------------------------------------------------
// Slides in a tick with shorter lives or many stores (helper-57). Each scenario runs on 64
// fresh maps (fresh hash seeds): a tie would show as some runs' victims out of recency order.
// ---------------------------------------------------------------------------------------------

/// A sliding map on `clock` whose values >= 1,000 declare a life of `value - 1,000` seconds.
fn limited(capacity: usize, clock: &ManualClock) -> (TtlMap<u32, u32>, Heard<u32, u32>) {
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .expiry(Expiry::Sliding)
        .capacity(capacity)
        .expire_after(|_: &u32, v: &u32| (*v >= 1_000).then(|| secs(u64::from(*v - 1_000))))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    (map, heard)
}

/// Runs `scenario` on 64 fresh maps; panics with the wrong victim sequences if any.
fn every_seed(expected: &[u32], scenario: impl Fn() -> Vec<u32>) {
    let wrong: Vec<Vec<u32>> = (0..64)
        .map(|_| scenario())
        .filter(|got| got != expected)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of 64 runs evicted out of recency order (expected ...{:?}), e.g. ...{:?}",
        wrong.len(),
        &expected[expected.len().saturating_sub(5)..],
        &wrong[0][wrong[0].len().saturating_sub(5)..]
    );
}

/// Hit 1 slides it into slot S (order 0, `last` = S); a store with a shorter life
/// (`expire_after`) into an earlier slot E moves `last` to E; hit 2 then slides into S, after
/// 1. (Slides did not raise `Ledger::max_slot`, so 2 took order 0 again and tied with 1.)
#[test]
fn a_slide_after_a_shorter_lived_store_follows_earlier_slides() {
    every_seed(&[3, 4, 1, 2, 5], || {
        let clock = ManualClock::new();
        let (map, heard) = limited(4, &clock);
        for k in [1, 2, 3] {
            map.insert(k, k);
        }
        clock.advance(secs(30));
        assert_eq!(map.get(&1), Some(1));
        map.insert(4, 1_040); // lives 40 s: deadline 70 s, before the slid 90 s
        assert_eq!(map.get(&2), Some(2));
        for k in 5..=9 {
            map.insert(k, k);
        }
        capacity_victims(&heard)
    });
}

/// Slides into the latest slot given out while `last` names an earlier one (a shorter life
/// was stored after the latest slot's first store) follow the entries it holds, in their
/// order. (Each took `ORDER`, so two of them tied.)
#[test]
fn slides_into_the_latest_slot_after_a_shorter_lived_store_keep_their_order() {
    every_seed(&[3, 5, 4, 1, 2], || {
        let clock = ManualClock::new();
        let (map, heard) = limited(5, &clock);
        for k in [1, 2, 3] {
            map.insert(k, k);
        }
        clock.advance(secs(30));
        map.insert(4, 4); // slot S (90 s), the latest
        map.insert(5, 1_040); // slot E (70 s): `last` is E
        assert_eq!(map.get(&1), Some(1)); // into S: ORDER
        assert_eq!(map.get(&2), Some(2)); // into S: ORDER as well
        for k in 6..=10 {
            map.insert(k, k);
        }
        capacity_victims(&heard)
    });
}

/// No limits at all: a capacity of 64 and 512 stores in one tick (key 63 stored again and
/// again). Stores keep room in the slot's orders for the hits that follow under the read
/// lock, which cannot renumber. (The orders ran out, each hit took `ORDER`, the order key 63
/// held too, and 63, 0 and 1 tied.)
#[test]
fn slides_after_many_stores_in_a_tick_keep_their_order() {
    let mut expected: Vec<u32> = (2..63).collect();
    expected.extend([63, 0, 1]);
    every_seed(&expected, || {
        let clock = ManualClock::new();
        let (map, heard) = limited(64, &clock);
        for k in 0..64 {
            map.insert(k, k);
        }
        clock.advance(secs(30));
        for _ in 0..512 {
            map.insert(63, 63);
        }
        assert_eq!(map.get(&0), Some(0));
        assert_eq!(map.get(&1), Some(1));
        for k in 100..164 {
            map.insert(k, k);
        }
        capacity_victims(&heard)
    });
}
