//! Adversarial review of e263f0b (exact order of storage within a deadline slot),
//! d46e369 (the macro's `name` option), e03fc76 (`map_pattern` escaping, `reads_as_absent`)
//! and 0fa2fb7 (one wait for the first subscription per tier).
//!
//! Found here and fixed since: the README claimed exact order for capacities up to 128 where
//! the 64-entry eviction sample makes it 64; a sliding hit ranked the entry just used first
//! among its new slot's (it now ranks last); with `name` and `shared`, every instantiation of
//! a generic `impl` shared one Redis identity (`fleet_named` appends the instantiation).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cache_core::redis::{RedisTier, Shared};
use cache_core::{Expiry, ManualClock, Reason, TtlMap, ttl_cached};
use proptest::prelude::*;
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

/// The low bits of a deadline that are not time (shard.rs `FIELDS`).
const FIELDS: u64 = 0x7ff;

type Events = Arc<Mutex<Vec<(u32, u64, Reason)>>>;

// ---------------------------------------------------------------------------------------------
// e263f0b: order of storage within a deadline slot
// ---------------------------------------------------------------------------------------------

/// A value: the store's sequence number and the life it asks for (`u64::MAX`: the map's ttl).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Val {
    seq: u64,
    life: u64,
}

fn fixed_map(
    capacity: usize,
    ttl: u64,
    clock: &ManualClock,
    expiry: Expiry,
) -> (TtlMap<u32, Val>, Events) {
    let events: Events = Arc::default();
    let heard = Arc::clone(&events);
    let map = TtlMap::builder()
        .ttl(Duration::from_nanos(ttl))
        .expiry(expiry)
        .capacity(capacity)
        .expire_after(|_: &u32, v: &Val| (v.life != u64::MAX).then(|| Duration::from_nanos(v.life)))
        .on_evict(move |k: &u32, v: &Val, reason| heard.lock().unwrap().push((*k, v.seq, reason)))
        .clock(clock.clone())
        .build();
    (map, events)
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u32, u8),
    Get(u32),
    Contains(u32),
    Remove(u32),
    Clear,
    Retain(u32),
    Advance(u64),
}

fn ops(keys: u32, frozen: bool, len: usize) -> impl Strategy<Value = Vec<Op>> {
    let advance = if frozen {
        Just(0u64).boxed()
    } else {
        prop_oneof![3 => Just(0u64), 3 => 1u64..3_000, 1 => 2_048u64..40_000].boxed()
    };
    let op = prop_oneof![
        12 => (0..keys, 0u8..4).prop_map(|(k, l)| Op::Insert(k, l)),
        3 => (0..keys).prop_map(Op::Get),
        1 => (0..keys).prop_map(Op::Contains),
        2 => (0..keys).prop_map(Op::Remove),
        1 => Just(Op::Clear).prop_map(|c| c),
        1 => (2u32..5).prop_map(Op::Retain),
        4 => advance.prop_map(Op::Advance),
    ];
    prop::collection::vec(op, 1..len)
}

const TTL: u64 = 100_000;

/// The life of life class `l`: the ttl, or shorter ones of the value's own.
fn life_of(l: u8, mixed: bool) -> u64 {
    if !mixed {
        return u64::MAX;
    }
    match l {
        0 | 1 => u64::MAX,
        2 => TTL / 2,
        _ => TTL / 5 + 7,
    }
}

/// Runs `ops` against a model of a fixed-expiry map with a capacity: a held entry is kept
/// with its deadline (slot) and store number; the victim for the capacity is an expired entry
/// if any is held, else the entry with the soonest deadline, the earliest stored among equal
/// deadlines (checked exactly for capacities up to 64, only "it was held" beyond).
fn run_fixed_model(capacity: usize, mixed: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let (map, events) = fixed_map(capacity, TTL, &clock, Expiry::Fixed);
    let exact = capacity <= 64;
    // key -> (deadline slot, seq)
    let mut held: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let mut seq = 0u64;
    let mut now = 0u64;
    for (step, op) in ops.iter().enumerate() {
        let at = now;
        let ctx = || format!("step {step} {op:?} at {at} ns, capacity {capacity}");
        match *op {
            Op::Insert(k, l) => {
                seq += 1;
                let life = life_of(l, mixed);
                let slot = ((now + TTL) & !FIELDS).min(now.saturating_add(life) & !FIELDS);
                let full = held.len() >= capacity && !held.contains_key(&k);
                let any_expired = held.values().any(|&(d, _)| now >= d);
                let oldest = held
                    .iter()
                    .min_by_key(|(_, (d, s))| (*d, *s))
                    .map(|(k, (_, s))| (*k, *s));
                let old = held.get(&k).copied();
                let _ = map.insert(k, Val { seq, life });
                let heard = std::mem::take(&mut *events.lock().unwrap());
                let mut capacity_victims = 0;
                for (ek, es, reason) in heard {
                    match reason {
                        Reason::Replaced => {
                            prop_assert_eq!(Some(ek), old.map(|_| k), "{}", ctx());
                            prop_assert_eq!(Some(es), old.map(|o| o.1), "{}", ctx());
                            prop_assert!(
                                now < old.unwrap().0,
                                "replaced an expired one: {}",
                                ctx()
                            );
                        }
                        Reason::Expired => {
                            let (d, s) = held.get(&ek).copied().ok_or_else(|| {
                                TestCaseError::fail(format!("{ek} not held: {}", ctx()))
                            })?;
                            prop_assert_eq!(s, es, "{}", ctx());
                            prop_assert!(now >= d, "{} heard expired, live: {}", ek, ctx());
                            if ek != k {
                                held.remove(&ek);
                            }
                        }
                        Reason::Capacity => {
                            capacity_victims += 1;
                            prop_assert!(full, "evicted while not full: {}", ctx());
                            let (d, s) = held.get(&ek).copied().ok_or_else(|| {
                                TestCaseError::fail(format!("{ek} not held: {}", ctx()))
                            })?;
                            prop_assert_eq!(s, es, "{}", ctx());
                            prop_assert!(now < d, "expired heard as capacity: {}", ctx());
                            if exact {
                                prop_assert!(
                                    !any_expired,
                                    "live victim while expired held: {}",
                                    ctx()
                                );
                                prop_assert_eq!(
                                    Some((ek, es)),
                                    oldest,
                                    "victim not the soonest/oldest: {}; held {:?}",
                                    ctx(),
                                    held
                                );
                            }
                            held.remove(&ek);
                        }
                        Reason::Removed => {
                            return Err(TestCaseError::fail(format!(
                                "removed on insert: {}",
                                ctx()
                            )));
                        }
                        _ => return Err(TestCaseError::fail(format!("{reason:?}: {}", ctx()))),
                    }
                }
                prop_assert!(capacity_victims <= 1, "{}", ctx());
                held.insert(k, (slot, seq));
            }
            Op::Get(k) | Op::Contains(k) => {
                let live = held.get(&k).filter(|(d, _)| now < *d).map(|(_, s)| *s);
                let got = match op {
                    Op::Get(_) => map.get(&k).map(|v| v.seq),
                    _ => map.contains_key(&k).then_some(live.unwrap_or(0)),
                };
                prop_assert_eq!(got, live, "{}", ctx());
            }
            Op::Remove(k) => {
                let got = map.remove(&k).map(|v| v.seq);
                let was = held.remove(&k);
                let live = was.filter(|(d, _)| now < *d).map(|(_, s)| s);
                prop_assert_eq!(got, live, "{}", ctx());
                let mut heard = std::mem::take(&mut *events.lock().unwrap());
                // A write may sweep: other expired entries heard as expired.
                let mut swept = Vec::new();
                heard.retain(|&(ek, es, reason)| {
                    let other = ek != k && reason == Reason::Expired;
                    if other {
                        swept.push((ek, es));
                    }
                    !other
                });
                for (ek, es) in swept {
                    let (d, s) = held.remove(&ek).ok_or_else(|| {
                        TestCaseError::fail(format!("{ek} swept, not held: {}", ctx()))
                    })?;
                    prop_assert!(now >= d && s == es, "{} swept live: {}", ek, ctx());
                }
                match was {
                    None => prop_assert!(heard.is_empty(), "{:?} {}", heard, ctx()),
                    Some((_, s)) => {
                        let reason = if live.is_some() {
                            Reason::Removed
                        } else {
                            Reason::Expired
                        };
                        prop_assert_eq!(heard, vec![(k, s, reason)], "{}", ctx());
                    }
                }
            }
            Op::Clear => {
                map.clear();
                let mut heard = std::mem::take(&mut *events.lock().unwrap());
                heard.sort_by_key(|e| e.0);
                let expected: Vec<_> = held
                    .iter()
                    .map(|(k, (_, s))| (*k, *s, Reason::Removed))
                    .collect();
                prop_assert_eq!(heard, expected, "{}", ctx());
                held.clear();
            }
            Op::Retain(m) => {
                map.retain(|k, _| k % m != 0);
                let mut heard = std::mem::take(&mut *events.lock().unwrap());
                heard.sort_by_key(|e| e.0);
                let mut expected = Vec::new();
                held.retain(|k, (d, s)| {
                    if now >= *d {
                        expected.push((*k, *s, Reason::Expired));
                        false
                    } else if k % m == 0 {
                        expected.push((*k, *s, Reason::Removed));
                        false
                    } else {
                        true
                    }
                });
                prop_assert_eq!(heard, expected, "{}", ctx());
            }
            Op::Advance(by) => {
                clock.advance(Duration::from_nanos(by));
                now += by;
            }
        }
        prop_assert_eq!(map.len(), held.len(), "{}", ctx());
        prop_assert!(map.len() <= capacity, "{}", ctx());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    })]

    /// Fixed expiry, equal lives: the victim is always the oldest insert (exact up to 64).
    #[test]
    fn model_fixed_equal_lives_victim_is_the_oldest_insert(
        (capacity, ops) in (1usize..=130).prop_flat_map(|c| {
            (Just(c), ops(2 * c as u32 + 3, false, 600))
        })
    ) {
        run_fixed_model(capacity, false, &ops)?;
    }

    /// The same with a clock that never moves: every store lands in one deadline slot.
    #[test]
    fn model_fixed_frozen_clock_victim_is_the_oldest_insert(
        (capacity, ops) in (1usize..=130).prop_flat_map(|c| {
            (Just(c), ops(2 * c as u32 + 3, true, 1500))
        })
    ) {
        run_fixed_model(capacity, false, &ops)?;
    }

    /// Fixed expiry with lives of the values' own (`expire_after`): the victim is the soonest
    /// deadline, the oldest store among equal ones (interleaved slots, `next_order`).
    #[test]
    fn model_fixed_mixed_lives_victim_is_the_soonest_then_oldest(
        frozen in any::<bool>(),
        (capacity, ops) in (1usize..=130).prop_flat_map(|c| {
            (Just(c), ops(2 * c as u32 + 3, false, 600))
        })
    ) {
        let ops: Vec<Op> = if frozen {
            ops.into_iter().filter(|o| !matches!(o, Op::Advance(_))).collect()
        } else {
            ops
        };
        run_fixed_model(capacity, true, &ops)?;
    }
}

/// Sliding expiry, mixed lives, small clock steps: no panic, never more than the capacity,
/// a capacity victim was held, a `get` returns only the value last stored for its key.
#[test]
fn model_sliding_mixed_lives_invariants() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let strategy = (1usize..=130).prop_flat_map(|c| (Just(c), ops(2 * c as u32 + 3, false, 600)));
    runner
        .run(&strategy, |(capacity, ops)| {
            let clock = ManualClock::new();
            let (map, events) = fixed_map(capacity, TTL, &clock, Expiry::Sliding);
            let mut last: BTreeMap<u32, u64> = BTreeMap::new();
            let mut seq = 0;
            for op in &ops {
                match *op {
                    Op::Insert(k, l) => {
                        seq += 1;
                        map.insert(
                            k,
                            Val {
                                seq,
                                life: life_of(l, true),
                            },
                        );
                        last.insert(k, seq);
                    }
                    Op::Get(k) => {
                        if let Some(v) = map.get(&k) {
                            prop_assert_eq!(Some(&v.seq), last.get(&k));
                        }
                    }
                    Op::Contains(k) => {
                        if map.contains_key(&k) {
                            prop_assert!(last.contains_key(&k));
                        }
                    }
                    Op::Remove(k) => {
                        if let Some(v) = map.remove(&k) {
                            prop_assert_eq!(Some(&v.seq), last.get(&k));
                        }
                        last.remove(&k);
                    }
                    Op::Clear => {
                        map.clear();
                        last.clear();
                    }
                    Op::Retain(m) => {
                        map.retain(|k, _| k % m != 0);
                        last.retain(|k, _| k % m != 0);
                    }
                    Op::Advance(by) => clock.advance(Duration::from_nanos(by)),
                }
                for (k, s, reason) in std::mem::take(&mut *events.lock().unwrap()) {
                    if reason == Reason::Capacity {
                        // The victim was the value last stored for its key (or a replaced one
                        // would have been heard as Replaced).
                        prop_assert!(s <= seq, "{k} {s}");
                    }
                }
                prop_assert!(map.len() <= capacity);
            }
            Ok(())
        })
        .unwrap();
}

/// README: "Entries stored in one clock tick evict in their order of storage, however many a
/// tick sees (exactly for capacities up to 64)." A frozen clock, fixed expiry, capacity c up
/// to 64: c + 1 inserts must evict key 0, the oldest. (The README said 128 until this test:
/// beyond 64 the victim is the best of a 64-entry sample, which need not hold key 0.)
#[test]
fn one_tick_order_is_exact_up_to_capacity_64_as_the_readme_says() {
    let mut wrong = Vec::new();
    for capacity in [17usize, 50, 64] {
        for trial in 0..20u32 {
            let clock = ManualClock::new();
            let (map, events) = fixed_map(capacity, 3_600_000_000_000, &clock, Expiry::Fixed);
            for k in 0..=capacity as u32 {
                map.insert(
                    k * 1_000 + trial,
                    Val {
                        seq: u64::from(k),
                        life: u64::MAX,
                    },
                );
            }
            let heard = events.lock().unwrap().clone();
            if heard.len() != 1 || heard[0].1 != 0 {
                wrong.push((capacity, trial, heard));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of 60 maps did not evict the oldest insert of the tick, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    );
}

/// With capacity 64 (exact), the same holds, also after 10,000 stores in one tick (the order
/// field renumbered many times) and stores of shorter lives in between.
#[test]
fn one_tick_order_survives_renumbering_and_interleaved_slots() {
    let clock = ManualClock::new();
    let (map, events) = fixed_map(64, 3_600_000_000_000, &clock, Expiry::Fixed);
    let mut order: std::collections::VecDeque<u64> = Default::default();
    for seq in 0..10_000u64 {
        // Every 7th store asks for a shorter life: another (earlier) slot.
        let short = seq % 7 == 3;
        let life = if short { 1_000_000_000 } else { u64::MAX };
        map.insert(seq as u32, Val { seq, life });
        let heard = std::mem::take(&mut *events.lock().unwrap());
        if seq < 64 {
            assert!(heard.is_empty());
        } else {
            assert_eq!(heard.len(), 1, "seq {seq}");
            let (_, victim, reason) = heard[0];
            assert_eq!(reason, Reason::Capacity);
            // The victim is a short-lived one if any is held, else the oldest long-lived one.
            let expected = if let Some(pos) = order.iter().position(|s| s % 7 == 3) {
                order.remove(pos).unwrap()
            } else {
                order.pop_front().unwrap()
            };
            assert_eq!(victim, expected, "seq {seq}");
        }
        order.push_back(seq);
        // Short ones sorted first among themselves by seq: keep order as store order.
    }
}

/// Sliding expiry, frozen clock, capacity 64: hits set the reference bit (`USED`) only;
/// after thousands of stores in one slot (the order field renumbered, `USED` bits kept) the
/// victim is the oldest unused entry, else the oldest used one.
#[test]
fn frozen_sliding_victims_follow_used_bits_across_renumbering() {
    let clock = ManualClock::new();
    let (map, events) = fixed_map(64, 3_600_000_000_000, &clock, Expiry::Sliding);
    // (seq, used) in store order.
    let mut held: Vec<(u64, bool)> = Vec::new();
    let mut x = 12345u64;
    for seq in 0..5_000u64 {
        map.insert(
            seq as u32,
            Val {
                seq,
                life: u64::MAX,
            },
        );
        let heard = std::mem::take(&mut *events.lock().unwrap());
        if held.len() == 64 {
            let pos = held.iter().position(|e| !e.1).unwrap_or(0);
            let expected = held.remove(pos).0;
            assert_eq!(
                heard,
                vec![(expected as u32, expected, Reason::Capacity)],
                "seq {seq}"
            );
        } else {
            assert!(heard.is_empty());
        }
        held.push((seq, false));
        // Hit a few held entries.
        for _ in 0..2 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % held.len() as u64) as usize;
            assert!(map.get(&(held[i].0 as u32)).is_some());
            held[i].1 = true;
        }
    }
}

/// Sliding expiry (ttl 64 ms, so a hit 1 ms after the last move slides the deadline): A is
/// stored at 0; at 1 ms X, B, C are stored, then A is hit (its deadline slides into the slot
/// of X, B and C), then X is removed. The least recently used is B (stored before A's hit);
/// the next store over the capacity must evict B, not A.
#[test]
fn a_slide_does_not_make_the_most_recently_used_entry_the_first_victim_of_its_slot() {
    let clock = ManualClock::new();
    let (map, events) = fixed_map(4, 64_000_000, &clock, Expiry::Sliding);
    let val = |seq| Val {
        seq,
        life: u64::MAX,
    };
    map.insert(0, val(0)); // A
    clock.advance(Duration::from_millis(1));
    map.insert(9, val(9)); // X
    map.insert(1, val(1)); // B
    map.insert(2, val(2)); // C
    assert!(map.get(&0).is_some(), "A hit: slides");
    map.remove(&9);
    events.lock().unwrap().clear();
    map.insert(3, val(3)); // D: 4 held
    map.insert(4, val(4)); // E: evicts one
    let heard = events.lock().unwrap().clone();
    assert_eq!(
        heard,
        vec![(1, 1, Reason::Capacity)],
        "B (least recently used) should go; A was hit after B and C were stored"
    );
}

/// Real threads on small capacities with mixed lives and a clock that a thread moves by small
/// steps: no panic, never more than the capacity once the writers are done, every listener
/// call for a key that was stored.
#[test]
fn stress_threads_keep_the_capacity() {
    for capacity in [1usize, 2, 3, 17, 64, 65, 128, 130] {
        for expiry in [Expiry::Fixed, Expiry::Sliding] {
            let clock = ManualClock::new();
            let (map, events) = fixed_map(capacity, TTL, &clock, expiry);
            let map = Arc::new(map);
            let stop = Arc::new(AtomicBool::new(false));
            let seq = Arc::new(AtomicU64::new(0));
            let ticker = {
                let (clock, stop) = (clock.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(SeqCst) {
                        // Frozen stretches, then small steps.
                        if (i / 1000) % 2 == 1 {
                            clock.advance(Duration::from_nanos(1 + i % 3_000));
                        }
                        i += 1;
                        std::thread::yield_now();
                    }
                })
            };
            let workers: Vec<_> = (0..3u64)
                .map(|t| {
                    let (map, seq) = (Arc::clone(&map), Arc::clone(&seq));
                    let keys = 2 * capacity as u64 + 3;
                    std::thread::spawn(move || {
                        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                        for _ in 0..20_000 {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let k = (x % keys) as u32;
                            match (x >> 32) % 100 {
                                0..=59 => {
                                    let s = seq.fetch_add(1, SeqCst);
                                    let life = life_of((x >> 40) as u8 % 4, true);
                                    map.insert(k, Val { seq: s, life });
                                }
                                60..=84 => {
                                    let _ = map.get(&k);
                                }
                                85..=95 => {
                                    let _ = map.remove(&k);
                                }
                                96..=98 => map.retain(|key, _| key % 3 != (x % 3) as u32),
                                _ => map.clear(),
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().expect("no panic");
            }
            stop.store(true, SeqCst);
            ticker.join().unwrap();
            assert!(
                map.len() <= capacity,
                "{expiry:?} capacity {capacity}: {} held",
                map.len()
            );
            let stored = seq.load(SeqCst);
            let heard = events.lock().unwrap();
            assert!(heard.iter().all(|(_, s, _)| *s < stored));
            // Each store's value is heard at most once.
            let mut seqs: Vec<u64> = heard.iter().map(|e| e.1).collect();
            seqs.sort_unstable();
            let n = seqs.len();
            seqs.dedup();
            assert_eq!(seqs.len(), n, "a value heard twice");
            // Whatever is held now was never heard.
            for (k, v) in map.iter() {
                assert!(seqs.binary_search(&v.seq).is_err(), "{k} held and heard");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// d46e369: the macro's `name` option
// ---------------------------------------------------------------------------------------------

mod named_generic {
    use super::*;

    pub static TIER: OnceLock<RedisTier> = OnceLock::new();

    pub fn tier() -> RedisTier {
        TIER.get().expect("set by the test").clone()
    }

    pub struct Codec<T>(T);

    impl<T: 'static> Codec<T> {
        /// Same key and value types for every `T`, a value of each `T`'s own.
        #[ttl_cached(ttl = "1h", shared = tier(), name = "review2::describe")]
        pub async fn describe(bytes: &[u8]) -> String {
            format!("{} bytes as {}", bytes.len(), std::any::type_name::<T>())
        }
    }
}

/// Without `name`, each instantiation of a generic `impl` has its own values in Redis
/// (`fleet_name` holds the `impl`'s type). With `name`, the local maps stay one per
/// instantiation, and so must they in Redis: `Codec<u16>` must not read `Codec<u8>`'s value.
#[test]
fn name_with_shared_keeps_generic_instantiations_apart_in_redis() {
    let server = RedisServer::start();
    named_generic::TIER
        .set(
            RedisTier::new(server.url())
                .expect("a URL")
                .namespace("review2"),
        )
        .expect("set once");
    let runtime = two_worker_runtime();
    runtime.block_on(async {
        assert_eq!(
            named_generic::Codec::<u8>::describe(b"ab").await,
            "2 bytes as u8"
        );
        assert_eq!(
            named_generic::Codec::<u16>::describe(b"ab").await,
            "2 bytes as u16",
            "one instantiation served another's value through Redis"
        );
    });
}

mod named_twice {
    use super::*;

    pub const PREFIX: &str = "review2";

    /// `name = concat!(...)` and a handle: both work.
    #[ttl_cached(ttl = "1h", name = concat!("review2", "::", "concat"), cache = concat_cache)]
    pub fn concat(x: u32) -> u32 {
        x + 1
    }

    #[ttl_cached(ttl = "1h", name = PREFIX)]
    pub fn first(x: u32) -> u32 {
        x
    }
}

#[test]
fn name_with_concat_and_a_handle() {
    assert_eq!(named_twice::concat(1), 2);
    assert_eq!(named_twice::concat_cache().len(), 1);
    assert_eq!(named_twice::first(3), 3);
    let names: Vec<&str> = cache_core::caches().iter().map(|c| c.name()).collect();
    assert!(names.contains(&"review2::concat"), "{names:?}");
    assert!(names.contains(&"review2"), "{names:?}");
}

// ---------------------------------------------------------------------------------------------
// e03fc76: `map_pattern` with unusual namespaces, against a real redis-server
// ---------------------------------------------------------------------------------------------

fn shared_in(server: &RedisServer, namespace: &str) -> Shared<String, String> {
    TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name("review2::pattern")
        .shared(
            RedisTier::new(server.url())
                .expect("a URL")
                .namespace(namespace)
                .secret([9; 32])
                .timeout(Duration::from_secs(2)),
        )
        .build()
}

/// `clear` in a namespace with unicode, spaces, backslashes or glob characters deletes its
/// own values (read again by a fresh process: its constructor runs) and leaves those of a
/// namespace that its unescaped pattern would also match.
#[test]
fn clear_in_unusual_namespaces_clears_its_own_values_only() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let cases = [
        ("ünïcödé ✓", "ünïcödé ✓x"),
        ("with space", "with spacex"),
        ("back\\slash", "backxslash"),
        ("trailing\\", "trailing\\x"),
        ("a\\*", "a\\*b"),
        ("[ab]", "a"),
        ("[^a]-z", "b-z"),
        ("x?y*", "xzyw"),
        ("\\\\", "\\"),
    ];
    for (ns, other) in cases {
        let (mine, theirs) = (shared_in(&server, ns), shared_in(&server, other));
        runtime.block_on(async {
            mine.get_or_insert_with_async("k", async { "mine".to_string() })
                .await;
            theirs
                .get_or_insert_with_async("k", async { "theirs".to_string() })
                .await;
            mine.clear_async().await.expect("Redis is up");
        });
        let (fresh_mine, fresh_theirs) = (shared_in(&server, ns), shared_in(&server, other));
        let (a, b) = runtime.block_on(async {
            (
                fresh_mine
                    .get_or_insert_with_async("k", async { "rebuilt".to_string() })
                    .await,
                fresh_theirs
                    .get_or_insert_with_async("k", async { "rebuilt".to_string() })
                    .await,
            )
        });
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("rebuilt", "theirs"),
            "namespace {ns:?} (other {other:?})"
        );
    }
}
