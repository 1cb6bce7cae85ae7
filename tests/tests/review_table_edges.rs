//! A shard's table at its edges. Written as an adversarial review of a type-erased table
//! (commit 30dc353: positions found by 32 bits of each hash, a free list of positions, the
//! keys and values in typed slots; taken back in 22f0261, for what it cost a hit), and kept
//! because what they check holds for any layout: keys whose hashes collide in all 64 bits,
//! in the top 32 only or in the bottom 32 only (crafted hashers), the extras (`max_lifetime`,
//! `expire_after`, `refresh_after`) kept apart from the entries, user code that panics in
//! the middle of a write, eviction order through removals and reinsertions, flights of keys
//! that share a hash, and memory under churn (a counting global allocator). A proptest model
//! like `ttl_map_model.rs` runs with colliding hashes. Five found bugs older than that
//! commit, fixed since (each test's note says which).
//!
//! Time comes from a `ManualClock` only. Each test says which promise it checks.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

mod model;

use cache_core::{Expiry, ManualClock, Reason, TtlMap};
use model::{Op, TTL, op_in};
use proptest::prelude::*;
use tests::counting::{Counting, burst_then_trickle, net_bytes};
use tests::heard;
use tests::{assert_reentry, wait_until};

// ---------------------------------------------------------------------------------------
// Crafted hashers
// ---------------------------------------------------------------------------------------

/// A `BuildHasher` whose hash of a key is `f(v)`, where `v` is the integer the key's `Hash`
/// wrote last (integer keys, and the key types below, write one integer).
#[derive(Clone, Copy)]
struct Crafted(fn(u64) -> u64);

struct CraftedHasher {
    f: fn(u64) -> u64,
    v: u64,
}

impl Hasher for CraftedHasher {
    fn finish(&self) -> u64 {
        (self.f)(self.v)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.v = self.v.wrapping_mul(257).wrapping_add(u64::from(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.v = u64::from(n);
    }
    fn write_u32(&mut self, n: u32) {
        self.v = u64::from(n);
    }
    fn write_u64(&mut self, n: u64) {
        self.v = n;
    }
    fn write_usize(&mut self, n: usize) {
        self.v = n as u64;
    }
}

impl BuildHasher for Crafted {
    type Hasher = CraftedHasher;
    fn build_hasher(&self) -> CraftedHasher {
        CraftedHasher { f: self.0, v: 0 }
    }
}

/// A well spread 64-bit mix (splitmix64's finalizer).
fn mix(v: u64) -> u64 {
    let mut z = v.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Every key in shard 0 (bits 32..36 pick the shard), hashes otherwise well spread: so that a
/// test sees one shard's table and its extras.
fn one_shard(v: u64) -> u64 {
    mix(v) & !(0xf << 32)
}

/// Every key's hash is the same in all 64 bits.
fn all_same(_: u64) -> u64 {
    0xdead_beef_0000_0001
}

/// Hashes share their top 32 bits (what the index keeps) and differ in the bottom 32.
fn same_top(v: u64) -> u64 {
    0x1234_5670_0000_0000 | (mix(v) & 0xffff_ffff)
}

/// The key itself, as `nohash-hasher` and other identity hashers give for integer ids: the
/// hashes of ids below 2^32 differ in the bottom 32 bits only.
fn identity(v: u64) -> u64 {
    v
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---------------------------------------------------------------------------------------
// Extras (max_lifetime, expire_after, refresh_after) while forgotten ones are collected
// ---------------------------------------------------------------------------------------

/// Stores `live` keys at the clock's time, three keys stored and removed between each two,
/// so that the limits the removed keys leave behind pile up and are collected now and then
/// (`Raw::stamp` forgets them once they outnumber twice the entries plus 16), at stores of
/// live keys among others.
fn store_live_among_churn<S: BuildHasher>(map: &TtlMap<u64, u64, S>, live: std::ops::Range<u64>) {
    let mut churn = 1_000_000;
    for k in live {
        map.insert(k, 1);
        for _ in 0..3 {
            map.insert(churn, 0);
            map.remove(&churn);
            churn += 1;
        }
    }
}

/// Promise (README, Freshness; SPEC `.max_lifetime`): "however often it is hit, an entry lives
/// at most this long after it was stored". Keys are stored while the shard collects the limits
/// of keys gone; each is hit every 5 s (sliding ttl 10 s) and must be gone at 35 s, 5 s past
/// its max_lifetime of 30 s.
///
/// Failed before 5f29b89 (at 2ae4825 too): a store recorded the new key's extra, then
/// collected the extras of keys not held, which the new key was not yet: its limit was lost.
#[test]
fn every_key_keeps_its_max_lifetime_while_gone_keys_limits_are_collected() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
        .ttl(secs(10))
        .max_lifetime(secs(30))
        .clock(clock.clone())
        .hasher(Crafted(one_shard))
        .build();
    store_live_among_churn(&map, 0..200);
    for _ in 0..7 {
        clock.advance(secs(5));
        for k in 0..200 {
            map.get(&k);
        }
    }
    // Now 35 s after every store.
    let alive: Vec<u64> = (0..200).filter(|k| map.get(k).is_some()).collect();
    assert!(
        alive.is_empty(),
        "{} keys outlived their max_lifetime of 30 s by hits: {alive:?}",
        alive.len()
    );
}

/// As above, with the default hasher and 16 shards: what a service with `max_lifetime`
/// (rotating credentials) and churning keys sees.
///
/// Failed before 5f29b89 (at 2ae4825 too), as above.
#[test]
fn every_key_keeps_its_max_lifetime_under_churn_with_the_default_hasher() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(10))
        .max_lifetime(secs(30))
        .clock(clock.clone())
        .build();
    store_live_among_churn(&map, 0..2_000);
    for _ in 0..7 {
        clock.advance(secs(5));
        for k in 0..2_000 {
            map.get(&k);
        }
    }
    let alive = (0..2_000).filter(|k| map.get(k).is_some()).count();
    assert_eq!(alive, 0, "keys hit past their max_lifetime of 30 s");
}

/// Promise (README, Freshness; SPEC `.expire_after`): "the value may declare a shorter life
/// when stored, e.g. a token's expires_in; the ttl and max_lifetime still apply": a token
/// that says it lives 7 s is never returned at 8 s, however often it was hit before.
///
/// Failed before 5f29b89 (at 2ae4825 too), as above.
#[test]
fn every_key_keeps_its_expire_after_while_gone_keys_limits_are_collected() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
        .ttl(secs(10))
        .expire_after(|_, _| Some(secs(7)))
        .clock(clock.clone())
        .hasher(Crafted(one_shard))
        .build();
    store_live_among_churn(&map, 0..200);
    for _ in 0..4 {
        clock.advance(secs(2));
        for k in 0..200 {
            map.get(&k);
        }
    }
    let alive: Vec<u64> = (0..200).filter(|k| map.get(k).is_some()).collect();
    assert!(
        alive.is_empty(),
        "{} tokens returned at 8 s though they expire at 7 s: {alive:?}",
        alive.len()
    );
}

/// Promise (README, Freshness; SPEC `.refresh_after`): "the first memoizing call that finds
/// a value older than this rebuilds it". Every key stored at 0 is rebuilt by its first
/// memoizing call at 11 s (refresh_after 10 s, ttl 100 s).
///
/// Failed before 5f29b89 (at 2ae4825 too), as above.
#[test]
fn every_key_is_refreshed_while_gone_keys_refresh_times_are_collected() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
        .ttl(secs(100))
        .refresh_after(secs(10))
        .clock(clock.clone())
        .hasher(Crafted(one_shard))
        .build();
    store_live_among_churn(&map, 0..200);
    clock.advance(secs(11));
    let stale: Vec<u64> = (0..200)
        .filter(|k| map.get_or_insert_with(k, || 2) != 2)
        .collect();
    assert!(
        stale.is_empty(),
        "{} keys were never refreshed: {stale:?}",
        stale.len()
    );
    assert_eq!(map.stats().refreshes, 200);
}

thread_local! {
    /// The key whose `Hash` panics on this thread, if any.
    static POISONED_HASH: Cell<Option<u64>> = const { Cell::new(None) };
    /// `Eq` calls on this thread so far, and the call that panics (0: none).
    static EQ_CALLS: Cell<usize> = const { Cell::new(0) };
    static EQ_PANICS_AT: Cell<usize> = const { Cell::new(0) };
}

/// A key whose `Hash` panics while it is poisoned on this thread, and whose `Eq` counts its
/// calls and panics at the armed one.
#[derive(Debug, Clone, Copy)]
struct Touchy(u64);

impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if POISONED_HASH.with(Cell::get) == Some(self.0) {
            panic!("Hash of key {} panics", self.0);
        }
        state.write_u64(self.0);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        let n = EQ_CALLS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        if n == EQ_PANICS_AT.with(Cell::get) {
            panic!("Eq panics at call {n}");
        }
        self.0 == other.0
    }
}

impl Eq for Touchy {}

/// Promise (SPEC, Promises: "Nothing in user code (Drop, Hash, Eq, Clone, listeners) can ...
/// wedge a shard"; README, Freshness: max_lifetime). A key's `Hash` that panics while the
/// shard collects the limits of keys gone (it rehashes the live keys) must not make the shard
/// forget the limits of the keys that stay: the victim, hit every 5 s, must still be gone
/// 35 s after it was stored.
///
/// Failed before 5f29b89 (at 2ae4825 too): the extras were taken out with `mem::take` for the
/// collection and lost when a key's `Hash` panicked; they are collected in place now.
#[test]
fn a_hash_that_panics_while_limits_are_collected_does_not_lose_other_keys_limits() {
    let clock = ManualClock::new();
    let map: TtlMap<Touchy, u64, Crafted> = TtlMap::builder()
        .ttl(secs(10))
        .max_lifetime(secs(30))
        .clock(clock.clone())
        .hasher(Crafted(one_shard))
        .build();
    let victim = Touchy(7);
    map.insert(victim, 7);
    // The victim's Hash panics from now on, until a store panics; the churn keys' does not.
    POISONED_HASH.with(|p| p.set(Some(victim.0)));
    // A churn store panics once the shard collects the limits of keys gone (then the churn
    // stops); a table that runs no user `Hash` there never panics, which is as good.
    for churn in 1_000..1_200 {
        let stored = catch_unwind(AssertUnwindSafe(|| {
            map.insert(Touchy(churn), 0);
            map.remove(&Touchy(churn));
        }));
        if stored.is_err() {
            break;
        }
    }
    POISONED_HASH.with(|p| p.set(None));
    assert_eq!(map.get(&victim), Some(7), "the victim stays");
    for _ in 0..7 {
        clock.advance(secs(5));
        map.get(&victim);
    }
    assert_eq!(
        map.get(&victim),
        None,
        "hit every 5 s, the victim outlived its max_lifetime of 30 s: its limit was lost"
    );
}

/// Promise (SPEC, Promises: user code cannot leave the map inconsistent; README, Freshness:
/// max_lifetime). A store of a key held already, whose `Eq` panics partway (at each of its
/// first calls in turn), leaves the entry either replaced (new value, new limit) or as it
/// was: the old value keeps its old limit. Hit every 5 s, the old value (stored at 0,
/// max_lifetime 30 s) is gone by 35 s.
///
/// Failed before 5f29b89 (at 2ae4825 too): a store recorded the new limit before its probe
/// ran `Eq`; when that panicked, the old value was left with the new value's limit.
#[test]
fn a_store_whose_eq_panics_keeps_the_old_values_limit() {
    for panic_at in 1..=4 {
        let clock = ManualClock::new();
        let map: TtlMap<Touchy, u64, Crafted> = TtlMap::builder()
            .ttl(secs(10))
            .max_lifetime(secs(30))
            .clock(clock.clone())
            .hasher(Crafted(one_shard))
            .build();
        map.insert(Touchy(1), 100);
        for _ in 0..4 {
            clock.advance(secs(5));
            assert_eq!(map.get(&Touchy(1)), Some(100), "hits keep it");
        }
        EQ_CALLS.with(|c| c.set(0));
        EQ_PANICS_AT.with(|c| c.set(panic_at));
        let stored = catch_unwind(AssertUnwindSafe(|| map.insert(Touchy(1), 200)));
        EQ_PANICS_AT.with(|c| c.set(0));
        let (value, limit) = match stored {
            Ok(_) => (200, 50),
            Err(_) => (100, 30),
        };
        assert_eq!(
            map.get(&Touchy(1)),
            Some(value),
            "panic at Eq call {panic_at}"
        );
        let mut now = 20;
        while now < limit + 5 {
            clock.advance(secs(5));
            now += 5;
            let got = map.get(&Touchy(1));
            if now >= limit {
                assert_eq!(
                    got, None,
                    "Eq panicking at call {panic_at}: value {value} (limit {limit} s) alive at {now} s"
                );
            }
        }
    }
}

/// Promise (SPEC, Performance principles: "A hit reads the clock at most once and allocates
/// nothing", and a hit's cost must not grow with the map): with identity hashes of integer
/// ids (nohash-hasher's `IntMap` style; the repository's own `OneShard` test hasher in
/// `ttl_map_lock_protocol.rs` is the same shape), whose hashes differ only in their bottom
/// 32 bits, a lookup compares a bounded number of keys, not every key held.
///
/// Failed at 30dc353 only, whose index kept the top 32 bits of each hash, which these share:
/// 2,048 comparisons per lookup.
#[test]
fn lookups_among_keys_whose_hashes_differ_in_the_bottom_32_bits_stay_cheap() {
    let map: TtlMap<Touchy, u64, Crafted> = TtlMap::builder()
        .ttl(secs(3600))
        .hasher(Crafted(identity))
        .build();
    const N: u64 = 4_096;
    for id in 0..N {
        map.insert(Touchy(id), id);
    }
    EQ_CALLS.with(|c| c.set(0));
    for id in 0..N {
        assert_eq!(map.get(&Touchy(id)), Some(id));
    }
    let per_lookup = EQ_CALLS.with(Cell::get) as f64 / N as f64;
    assert!(
        per_lookup <= 16.0,
        "a lookup among {N} ids made {per_lookup:.0} key comparisons on average"
    );
}

// ---------------------------------------------------------------------------------------
// Hash collisions: correctness
// ---------------------------------------------------------------------------------------

/// Promise (README, TtlMap: `get`, `insert`, `remove`, `contains_key`, `len`, `iter`,
/// `retain`, `sweep` are right for any hasher): with every key hashing alike in all 64 bits,
/// or sharing only the top 32, or only the bottom 32, each key keeps its own value and
/// `len()` is what `get` and `iter` see, through removals and reinsertions that reuse
/// positions.
#[test]
fn colliding_hashes_keep_every_key_apart() {
    for (name, f) in [
        ("all 64 bits", all_same as fn(u64) -> u64),
        ("top 32 bits", same_top),
        ("bottom 32 bits", identity),
    ] {
        let clock = ManualClock::new();
        let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
            .ttl(secs(64))
            .clock(clock.clone())
            .hasher(Crafted(f))
            .build();
        let mut model: HashMap<u64, u64> = HashMap::new();
        for round in 0..4u64 {
            for k in 0..300 {
                let old = model.insert(k, k * 10 + round);
                assert_eq!(map.insert(k, k * 10 + round), old, "{name}: insert {k}");
            }
            for k in (round..300).step_by(3) {
                assert_eq!(map.remove(&k), model.remove(&k), "{name}: remove {k}");
            }
            map.retain(|k, _| k % 7 != round);
            model.retain(|k, _| k % 7 != round);
            assert_eq!(map.len(), model.len(), "{name}: round {round}");
            for k in 0..300 {
                assert_eq!(map.get(&k), model.get(&k).copied(), "{name}: get {k}");
                assert_eq!(map.contains_key(&k), model.contains_key(&k), "{name}");
            }
            let mut seen: Vec<(u64, u64)> = map.iter().collect();
            seen.sort_unstable();
            let mut expected: Vec<(u64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            expected.sort_unstable();
            assert_eq!(seen, expected, "{name}: iter, round {round}");
        }
        clock.advance(secs(64));
        assert_eq!(map.sweep(), model.len(), "{name}: every entry swept");
        assert!(map.is_empty(), "{name}");
        assert_eq!(map.iter().count(), 0, "{name}");
    }
}

/// Promise (README, Freshness: `max_lifetime` and `expire_after` hold per entry; the extras
/// are kept by the 64-bit hash): keys whose hashes share the index's 32 bits but not all 64
/// keep their own limits. Key k's value says it lives k s; all are hit every second (sliding
/// ttl 100 s); each is live at k - 1 s and gone at k s.
#[test]
fn keys_sharing_the_top_32_bits_keep_their_own_limits() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
        .ttl(secs(100))
        .expire_after(|k: &u64, _: &u64| Some(secs(*k)))
        .clock(clock.clone())
        .hasher(Crafted(same_top))
        .build();
    for k in 1..=20 {
        map.insert(k, k);
    }
    for now in 1..=21u64 {
        clock.advance(secs(1));
        for k in 1..=20u64 {
            let got = map.get(&k);
            if now < k {
                assert_eq!(got, Some(k), "key {k} at {now} s");
            } else {
                assert_eq!(got, None, "key {k} (lives {k} s) at {now} s");
            }
        }
    }
}

/// Promise (README, max_lifetime; and `get` never returns an expired value): with sliding
/// expiry and max_lifetime, keys sharing the top 32 bits stored at different times each end
/// `max_lifetime` after their own store, neither sooner nor later.
#[test]
fn keys_sharing_the_top_32_bits_each_end_at_their_own_max_lifetime() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
        .ttl(secs(10))
        .max_lifetime(secs(30))
        .clock(clock.clone())
        .hasher(Crafted(same_top))
        .build();
    for now in 0..60u64 {
        if now < 20 {
            map.insert(now, now);
        }
        for k in 0..20u64.min(now + 1) {
            let got = map.get(&k);
            let age = now - k;
            if age < 30 {
                assert_eq!(got, Some(k), "key {k} at {now} s");
            } else {
                assert_eq!(got, None, "key {k} at {now} s");
            }
        }
        clock.advance(secs(1));
    }
}

// ---------------------------------------------------------------------------------------
// Positions reused
// ---------------------------------------------------------------------------------------

/// Promise (README, Semantics: "an expired entry is never returned", "an expired entry stays
/// expired" — and a new entry is live for its ttl): a position freed with a stale deadline
/// word (an entry a reader found expired and marked dead, then swept; an entry removed; one
/// evicted) is reused by a new key that is live for its whole ttl and slides normally.
#[test]
fn a_position_freed_with_a_dead_word_serves_a_new_entry_for_its_whole_ttl() {
    for f in [all_same as fn(u64) -> u64, one_shard] {
        let clock = ManualClock::new();
        let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
            .ttl(secs(64))
            .clock(clock.clone())
            .hasher(Crafted(f))
            .capacity(8)
            .build();
        for k in 0..8 {
            map.insert(k, k);
        }
        clock.advance(secs(64));
        for k in 0..8 {
            assert_eq!(map.get(&k), None, "expired, and marked so");
        }
        assert_eq!(map.sweep(), 8);
        // Every position is free now, each with a dead word.
        for k in 10..18 {
            map.insert(k, k);
        }
        assert_eq!(map.len(), 8);
        for step in 0..3 {
            clock.advance(secs(40));
            for k in 10..18 {
                assert_eq!(map.get(&k), Some(k), "slid by hits, step {step}");
            }
        }
        // Removed (a fresh word left at its position), then another key stored there.
        assert_eq!(map.remove(&10), Some(10));
        map.insert(20, 20);
        assert_eq!(map.get(&20), Some(20));
        assert_eq!(map.get(&10), None);
        // One evicted, and its position taken by the key that evicted it.
        map.insert(21, 21);
        assert_eq!(map.len(), 8);
        assert_eq!(map.stats().evictions, 1);
        assert_eq!(map.iter().count(), 8);
        assert_eq!(map.get(&21), Some(21));
        clock.advance(secs(63));
        assert!(map.contains_key(&21), "live until its ttl");
        clock.advance(secs(1));
        assert_eq!(map.get(&21), None);
        assert_eq!(map.iter().count(), 0);
    }
}

/// Promise (README, Capacity: "with fixed expiry, the oldest insert", "entries stored in one
/// clock tick evict in their order of storage"): removals and reinsertions that reuse
/// positions do not change the order: the victims go in the order of their (last) insert.
#[test]
fn fixed_expiry_evicts_the_oldest_insert_through_reused_positions() {
    for f in [all_same as fn(u64) -> u64, same_top, one_shard] {
        let clock = ManualClock::new();
        let (heard, listener) = heard::recorder();
        let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
            .ttl(secs(1000))
            .expiry(Expiry::Fixed)
            .capacity(4)
            .clock(clock.clone())
            .hasher(Crafted(f))
            .on_evict(listener)
            .build();
        // One tick: a b c d, then b removed and stored again (now newest), e reuses a free one.
        for k in [1, 2, 3, 4] {
            map.insert(k, k);
        }
        map.remove(&2);
        heard::take(&heard);
        map.insert(2, 22);
        map.insert(5, 5); // evicts 1
        clock.advance(secs(1));
        map.remove(&3);
        map.insert(6, 6); // fills 3's position, no eviction
        map.insert(7, 7); // evicts 4
        map.insert(3, 33); // evicts 2
        map.insert(8, 8); // evicts 5
        let evicted: Vec<u64> = heard::take(&heard)
            .into_iter()
            .filter(|(_, _, r)| *r == Reason::Capacity)
            .map(|(k, _, _)| k)
            .collect();
        assert_eq!(evicted, [1, 4, 2, 5]);
        let mut held: Vec<u64> = map.iter().map(|(k, _)| k).collect();
        held.sort_unstable();
        assert_eq!(held, [3, 6, 7, 8]);
    }
}

/// Promise (README, Capacity: "with sliding expiry, the least recently used, where used
/// counts a hit between clock ticks"): hits, removals and reinsertions interleaved; the victim
/// is always one of the least recently used.
#[test]
fn sliding_expiry_evicts_the_least_recently_used_through_reused_positions() {
    for f in [all_same as fn(u64) -> u64, same_top, one_shard] {
        let clock = ManualClock::new();
        let (heard, listener) = heard::recorder();
        let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
            .ttl(secs(64))
            .capacity(4)
            .clock(clock.clone())
            .hasher(Crafted(f))
            .on_evict(listener)
            .build();
        for k in [1, 2, 3, 4] {
            map.insert(k, k);
        }
        clock.advance(secs(1));
        map.get(&1);
        map.get(&3);
        map.remove(&4);
        heard::take(&heard);
        clock.advance(secs(1));
        map.insert(5, 5); // reuses 4's position
        map.get(&2);
        clock.advance(secs(1));
        map.insert(6, 6); // least recent: 1 and 3 (hit at 1 s)
        let first = heard::take(&heard);
        assert_eq!(first.len(), 1);
        assert!([1, 3].contains(&first[0].0), "evicted {}", first[0].0);
        map.insert(7, 7); // then the other of 1 and 3
        let second = heard::take(&heard);
        assert_eq!(second.len(), 1);
        assert!([1, 3].contains(&second[0].0) && second[0].0 != first[0].0);
        // Then 5, stored at 2 s, rather than 2, hit at 2 s: "a hit that slides an entry's
        // deadline ranks it after the entries stored in its new slot".
        map.insert(8, 8);
        let third = heard::take(&heard);
        assert_eq!(third.len(), 1);
        assert_eq!(third[0].0, 5);
        assert_eq!(map.len(), 4);
    }
}

// ---------------------------------------------------------------------------------------
// User code that panics mid-operation
// ---------------------------------------------------------------------------------------

/// A value whose `Drop` panics when its number is odd and the guard is armed.
#[derive(Debug, Clone)]
struct Grenade(u64, Arc<AtomicUsize>);

impl Drop for Grenade {
    fn drop(&mut self) {
        if self.1.load(SeqCst) == 1 && self.0 % 2 == 1 && !thread::panicking() {
            panic!("Drop of value {} panics", self.0);
        }
    }
}

/// What `iter` sees, as sorted keys.
fn keys_seen<V: Clone, S: BuildHasher>(map: &TtlMap<u64, V, S>) -> Vec<u64> {
    let mut keys: Vec<u64> = map.iter().map(|(k, _)| k).collect();
    keys.sort_unstable();
    keys
}

/// Promise (SPEC, Promises: "Nothing in user code (Drop, Hash, Eq, Clone, listeners) can ...
/// leave a clear() half done, wedge a shard"): with values whose `Drop` panics, and a
/// listener that panics, `clear`, `sweep`, `remove` and `retain` panic but leave the map
/// whole: `len()` is what `iter` and `get` see, nothing that should go stays, and the freed
/// positions serve new keys.
#[test]
fn panics_in_drops_and_listeners_leave_len_get_and_iter_agreeing() {
    for f in [all_same as fn(u64) -> u64, one_shard] {
        let clock = ManualClock::new();
        let armed = Arc::new(AtomicUsize::new(0));
        let listener_panics = Arc::new(AtomicUsize::new(0));
        let lp = Arc::clone(&listener_panics);
        let map: TtlMap<u64, Grenade, Crafted> = TtlMap::builder()
            .ttl(secs(64))
            .clock(clock.clone())
            .hasher(Crafted(f))
            .on_evict(move |k: &u64, _: &Grenade, _| {
                if lp.load(SeqCst) == 1 && k.is_multiple_of(3) {
                    panic!("listener panics for {k}");
                }
            })
            .build();
        let fill = |range: std::ops::Range<u64>| {
            for k in range {
                map.insert(k, Grenade(k, Arc::clone(&armed)));
            }
        };
        let check = |what: &str, expected: &[u64]| {
            assert_eq!(keys_seen(&map), expected, "{what}: iter");
            assert_eq!(map.len(), expected.len(), "{what}: len");
            for k in 0..200 {
                assert_eq!(map.contains_key(&k), expected.contains(&k), "{what}: {k}");
            }
        };
        // Runs `op` with drops of odd values and the listener of multiples of 3 panicking.
        let panicking = |op: &mut dyn FnMut()| {
            armed.store(1, SeqCst);
            listener_panics.store(1, SeqCst);
            let result = catch_unwind(AssertUnwindSafe(op));
            armed.store(0, SeqCst);
            listener_panics.store(0, SeqCst);
            assert!(result.is_err(), "user code panicked");
        };
        fill(0..100);
        panicking(&mut || map.clear());
        check("clear", &[]);
        fill(100..200);
        clock.advance(secs(64));
        panicking(&mut || {
            let _ = map.sweep();
        });
        check("sweep", &[]);
        fill(0..100);
        panicking(&mut || drop(map.remove(&3)));
        let all_but_3: Vec<u64> = (0..100).filter(|&k| k != 3).collect();
        check("remove", &all_but_3);
        panicking(&mut || map.retain(|k, _| k % 2 == 0));
        let evens: Vec<u64> = (0..100).filter(|k| k % 2 == 0).collect();
        check("retain", &evens);
        // A `keep` that panics halfway: what it removed stays removed, the rest stays.
        let mut calls = 0;
        panicking(&mut || {
            map.retain(|k, _| {
                calls += 1;
                assert!(calls < 20, "keep panics");
                k % 4 == 0
            })
        });
        let left = keys_seen(&map);
        assert_eq!(map.len(), left.len());
        for k in &left {
            assert!(k % 2 == 0);
            assert!(map.get(k).is_some());
        }
        let removed = evens.iter().filter(|k| !left.contains(k)).count();
        assert!(removed <= 19, "{removed} removed before the panic");
        fill(200..300);
        assert_eq!(map.len(), left.len() + 100);
        assert_eq!(keys_seen(&map).len(), map.len());
    }
}

/// An operation on a map, by name.
type NamedOp<'a> = Box<dyn Fn() + 'a>;

/// Promise (SPEC, Promises: a panicking `Eq` cannot wedge a shard or lose an entry that
/// should stay): `Eq` panicking in `get`, `remove`, `insert` and `contains_key` among keys of
/// one hash changes nothing, and the shard goes on serving.
#[test]
fn an_eq_that_panics_among_colliding_keys_changes_nothing() {
    let map: TtlMap<Touchy, u64, Crafted> = TtlMap::builder()
        .ttl(secs(64))
        .hasher(Crafted(all_same))
        .build();
    for k in 0..50 {
        map.insert(Touchy(k), k);
    }
    for panic_at in [1, 2, 5, 25] {
        let ops: [(&str, NamedOp); 4] = [
            (
                "get",
                Box::new(|| {
                    let _ = map.get(&Touchy(40));
                }),
            ),
            (
                "remove",
                Box::new(|| {
                    let _ = map.remove(&Touchy(40));
                }),
            ),
            (
                "insert",
                Box::new(|| {
                    let _ = map.insert(Touchy(60), 60);
                }),
            ),
            (
                "contains",
                Box::new(|| {
                    let _ = map.contains_key(&Touchy(30));
                }),
            ),
        ];
        for (what, op) in ops {
            EQ_CALLS.with(|c| c.set(0));
            EQ_PANICS_AT.with(|c| c.set(panic_at));
            let result = catch_unwind(AssertUnwindSafe(op));
            EQ_PANICS_AT.with(|c| c.set(0));
            if result.is_err() {
                let mut expected: Vec<u64> = (0..50).collect();
                if map.contains_key(&Touchy(60)) {
                    expected.push(60);
                }
                let mut seen: Vec<u64> = map.iter().map(|(k, _)| k.0).collect();
                seen.sort_unstable();
                assert_eq!(seen, expected, "{what} panicking at Eq call {panic_at}");
                assert_eq!(map.len(), expected.len());
            }
            map.remove(&Touchy(60));
            if map.get(&Touchy(40)).is_none() {
                map.insert(Touchy(40), 40);
            }
        }
    }
    for k in 0..50 {
        assert_eq!(map.get(&Touchy(k)), Some(k));
    }
}

/// Runs `scenario` on a thread of its own; fails if it does not finish within 10 s (a
/// deadlock: the thread is left behind), and passes its panic on.
fn within<T: Send + 'static>(what: &str, scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(scenario));
        let _ = tx.send(());
        result
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(()) => match handle.join().expect("caught") {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(_) => panic!("deadlock: {what} did not finish within 10 s"),
    }
}

thread_local! {
    /// Run by the next `Hooked` key dropped on this thread, if set.
    static ON_KEY_DROP: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        const { std::cell::RefCell::new(None) };
}

/// A key whose `Drop` runs the hook armed on its thread: the crate's own comments allow a
/// key's `Drop` to use the map ("Dropped with no lock held: a key's `Drop` may use the map").
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hooked(u64);

impl Hash for Hooked {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

impl Drop for Hooked {
    fn drop(&mut self) {
        if let Some(hook) = ON_KEY_DROP.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }
}

/// A value whose `Clone` panics once armed.
struct CloneBomb(Arc<AtomicUsize>);

impl Clone for CloneBomb {
    fn clone(&self) -> Self {
        if self.0.swap(0, SeqCst) == 1 {
            panic!("a value's Clone panics");
        }
        CloneBomb(Arc::clone(&self.0))
    }
}

/// Promise (SPEC, Promises: "Nothing in user code (Drop, Hash, Eq, Clone, listeners) can ...
/// wedge a shard"; memo.rs: a key's `Drop` may use the map). A flight's value whose `Clone`
/// panics while it is stored (memo.rs `complete`: `self.store(table, hash, key,
/// value.clone())` under the shard's write lock) must not drop the flight's key under that
/// lock, where a `Drop` that reads the map waits for the lock its own thread holds.
///
/// Failed before 5f29b89 (at 2ae4825 too): the key was dropped while unwinding, under the
/// write lock. The entry now waits in an `Option` declared before the lock guard.
#[test]
fn a_value_clone_panicking_at_landing_does_not_drop_the_key_under_the_lock() {
    within("a landing whose value's Clone panics", || {
        let map: TtlMap<Hooked, CloneBomb, Crafted> = TtlMap::builder()
            .ttl(secs(60))
            .hasher(Crafted(one_shard))
            .build();
        let armed = Arc::new(AtomicUsize::new(0));
        let landed = catch_unwind(AssertUnwindSafe(|| {
            map.get_or_insert_with(&Hooked(1), || {
                let reader = map.clone();
                // The next key dropped on this thread: the flight's own, at its landing.
                ON_KEY_DROP.with(|h| {
                    *h.borrow_mut() = Some(Box::new(move || {
                        let _ = reader.contains_key(&Hooked(2));
                    }))
                });
                armed.store(1, SeqCst);
                CloneBomb(Arc::clone(&armed))
            })
        }));
        assert!(landed.is_err(), "the value's Clone panicked");
        ON_KEY_DROP.with(|h| h.borrow_mut().take());
        map.insert(Hooked(3), CloneBomb(Arc::clone(&armed)));
        assert!(map.contains_key(&Hooked(3)), "the shard serves on");
    });
}

/// As above, for `insert`: an `expire_after` that panics (user code, run under the shard's
/// write lock by `Inner::store`) must not drop the key being inserted under that lock.
///
/// Failed before 5f29b89 (at 2ae4825 too): the key was dropped while unwinding, under the
/// write lock. The entry now waits in an `Option` declared before the lock guard.
#[test]
fn an_expire_after_panicking_in_insert_does_not_drop_the_key_under_the_lock() {
    within("an insert whose expire_after panics", || {
        let map: TtlMap<Hooked, u64, Crafted> = TtlMap::builder()
            .ttl(secs(60))
            .expire_after(|k: &Hooked, _: &u64| {
                assert!(k.0 != 5, "expire_after panics for key 5");
                None
            })
            .hasher(Crafted(one_shard))
            .build();
        let reader = map.clone();
        ON_KEY_DROP.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                let _ = reader.contains_key(&Hooked(2));
            }))
        });
        let inserted = catch_unwind(AssertUnwindSafe(|| map.insert(Hooked(5), 5)));
        assert!(inserted.is_err(), "expire_after panicked");
        ON_KEY_DROP.with(|h| h.borrow_mut().take());
        map.insert(Hooked(3), 3);
        assert_eq!(map.get(&Hooked(3)), Some(3), "the shard serves on");
    });
}

// ---------------------------------------------------------------------------------------
// Flights of keys that share a hash
// ---------------------------------------------------------------------------------------

/// A constructor that signals it started and waits to be released.
fn gated(
    started: &Arc<AtomicUsize>,
    release: mpsc::Receiver<()>,
    value: u64,
) -> impl FnOnce() -> u64 + use<> {
    let started = Arc::clone(started);
    move || {
        started.fetch_add(1, SeqCst);
        release.recv().expect("released");
        value
    }
}

fn colliding_map() -> Arc<TtlMap<u64, u64, Crafted>> {
    Arc::new(
        TtlMap::builder()
            .ttl(secs(64))
            .hasher(Crafted(all_same))
            .build(),
    )
}

/// Promise (README, Invalidation wins: "once insert, remove, clear or retain has returned, no
/// body that was running for an affected key when it was called stores its value"; and only
/// the affected key): flights of two keys with the same hash; `remove` of one keeps that one's
/// value out and lets the other's in; each caller gets its own flight's value.
#[test]
fn removing_one_of_two_keys_in_flight_with_one_hash_invalidates_that_one_only() {
    let map = colliding_map();
    let started = Arc::new(AtomicUsize::new(0));
    let (release_a, rx_a) = mpsc::channel();
    let (release_b, rx_b) = mpsc::channel();
    let a = thread::spawn({
        let (map, init) = (Arc::clone(&map), gated(&started, rx_a, 10));
        move || map.get_or_insert_with(&1, init)
    });
    let b = thread::spawn({
        let (map, init) = (Arc::clone(&map), gated(&started, rx_b, 20));
        move || map.get_or_insert_with(&2, init)
    });
    wait_until("both constructors run", || started.load(SeqCst) == 2);
    // A waiter on each flight.
    let wait_a = thread::spawn({
        let map = Arc::clone(&map);
        move || map.get_or_insert_with(&1, || 11)
    });
    let wait_b = thread::spawn({
        let map = Arc::clone(&map);
        move || map.get_or_insert_with(&2, || 21)
    });
    wait_until("both waiters joined", || map.stats().coalesced == 2);
    assert_eq!(map.remove(&1), None);
    release_a.send(()).unwrap();
    release_b.send(()).unwrap();
    assert_eq!(a.join().unwrap(), 10);
    assert_eq!(b.join().unwrap(), 20);
    assert_eq!(wait_a.join().unwrap(), 10);
    assert_eq!(wait_b.join().unwrap(), 20);
    assert_eq!(
        map.get(&1),
        None,
        "the removed key's flight stored its value"
    );
    assert_eq!(map.get(&2), Some(20));
    assert_eq!(map.len(), 1);
}

/// Promise (README, Invalidation wins, for `clear` and `retain`): a flight that began before
/// `clear` (or a `retain` that drops nothing) returned stores nothing, for every key of one
/// hash; a flight begun after it stores.
#[test]
fn clear_and_retain_during_flights_of_one_hash_win() {
    for retain in [false, true] {
        let map = colliding_map();
        let started = Arc::new(AtomicUsize::new(0));
        let mut releases = Vec::new();
        let mut leaders = Vec::new();
        for k in 0..4u64 {
            let (tx, rx) = mpsc::channel();
            releases.push(tx);
            let (map, init) = (Arc::clone(&map), gated(&started, rx, 100 + k));
            leaders.push(thread::spawn(move || map.get_or_insert_with(&k, init)));
        }
        wait_until("all constructors run", || started.load(SeqCst) == 4);
        if retain {
            map.retain(|_, _| true);
        } else {
            map.clear();
        }
        // A flight begun afterwards, of another key of the same hash, stores.
        assert_eq!(map.get_or_insert_with(&9, || 9), 9);
        for tx in releases {
            tx.send(()).unwrap();
        }
        for (k, leader) in leaders.into_iter().enumerate() {
            assert_eq!(leader.join().unwrap(), 100 + k as u64);
        }
        assert_eq!(keys_seen(&map), [9], "retain: {retain}");
        assert_eq!(map.len(), 1);
    }
}

/// Promise (README, Single flight: "every waiter takes the flight's outcome from the flight
/// itself"): a flight lands and its registry position is taken by a new flight of another
/// key with the same hash while a third flight of that hash is still running; every waiter
/// gets its own key's value, and each value is stored under its key.
#[test]
fn a_flight_position_reused_by_another_key_of_the_same_hash_keeps_flights_apart() {
    let map = colliding_map();
    let started = Arc::new(AtomicUsize::new(0));
    let (release_a, rx_a) = mpsc::channel();
    let (release_b, rx_b) = mpsc::channel();
    let (release_c, rx_c) = mpsc::channel();
    let a = thread::spawn({
        let (map, init) = (Arc::clone(&map), gated(&started, rx_a, 10));
        move || map.get_or_insert_with(&1, init)
    });
    wait_until("A runs", || started.load(SeqCst) == 1);
    let b = thread::spawn({
        let (map, init) = (Arc::clone(&map), gated(&started, rx_b, 20));
        move || map.get_or_insert_with(&2, init)
    });
    wait_until("B runs", || started.load(SeqCst) == 2);
    release_a.send(()).unwrap();
    assert_eq!(a.join().unwrap(), 10);
    // A's position is free: C takes it while B runs.
    let c = thread::spawn({
        let (map, init) = (Arc::clone(&map), gated(&started, rx_c, 30));
        move || map.get_or_insert_with(&3, init)
    });
    wait_until("C runs", || started.load(SeqCst) == 3);
    let waiters: Vec<_> = [2u64, 3, 2, 3]
        .into_iter()
        .map(|k| {
            let map = Arc::clone(&map);
            thread::spawn(move || (k, map.get_or_insert_with(&k, || 99)))
        })
        .collect();
    wait_until("four waiters joined", || map.stats().coalesced == 4);
    release_c.send(()).unwrap();
    assert_eq!(c.join().unwrap(), 30);
    release_b.send(()).unwrap();
    assert_eq!(b.join().unwrap(), 20);
    for w in waiters {
        let (k, got) = w.join().unwrap();
        assert_eq!(got, k * 10, "waiter of key {k}");
    }
    assert_eq!(map.get(&1), Some(10));
    assert_eq!(map.get(&2), Some(20));
    assert_eq!(map.get(&3), Some(30));
    assert_eq!(map.len(), 3);
}

/// Promise (README, Single flight: "a body may call ... the same one for another key"; "a
/// body that asks for its own key panics with re-entrant call for the same key"): with every
/// key of one hash, a constructor may memoize other keys (nested three deep), and asking for
/// its own key panics instead of being taken for another key's flight or hanging.
#[test]
fn constructors_of_one_hash_nest_and_catch_their_own_key() {
    let map = colliding_map();
    let m = Arc::clone(&map);
    let got = map.get_or_insert_with(&1, || {
        let inner = m.get_or_insert_with(&2, || {
            assert_reentry(catch_unwind(AssertUnwindSafe(|| {
                m.get_or_insert_with(&2, || 0)
            })));
            m.get_or_insert_with(&3, || 3) + 20
        });
        assert_reentry(catch_unwind(AssertUnwindSafe(|| {
            m.get_or_insert_with(&1, || 0)
        })));
        inner + 100
    });
    assert_eq!(got, 123);
    assert_eq!(map.get(&1), Some(123));
    assert_eq!(map.get(&2), Some(23));
    assert_eq!(map.get(&3), Some(3));
}

/// Promise (README, Failures: "if the body panicked, each waiter makes its own attempt",
/// no shard wedged): a flight whose constructor panics, among flights of other keys with the
/// same hash, frees its position; the next caller of that key leads a new flight.
#[test]
fn a_panicking_flight_among_flights_of_one_hash_frees_its_place() {
    let map = colliding_map();
    for round in 0..100u64 {
        let k = round % 5;
        let result = catch_unwind(AssertUnwindSafe(|| {
            map.get_or_insert_with(&k, || {
                assert_eq!(map.get_or_insert_with(&(k + 10), || k + 10), k + 10);
                panic!("constructor of {k} panics");
            })
        }));
        assert!(result.is_err());
        map.remove(&(k + 10));
    }
    for k in 0..5 {
        assert_eq!(map.get_or_insert_with(&k, || k), k);
    }
    assert_eq!(map.len(), 5);
}

// ---------------------------------------------------------------------------------------
// Memory under churn
// ---------------------------------------------------------------------------------------

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Promise (README, Bounded memory): after a burst of N entries is removed, expires or is
/// cleared, rounds of N new keys reuse the room they left: the memory this thread holds does
/// not grow
/// with the rounds (measured by a counting global allocator, on one thread, with no sweeper).
#[test]
fn churn_after_a_burst_reuses_positions_instead_of_growing() {
    const N: u64 = 2_000;
    type Round = fn(&TtlMap<u64, u64>, &ManualClock, u64);
    let rounds: [(&str, Round); 5] = [
        ("remove", |map, _, base| {
            for k in base..base + N {
                map.insert(k, k);
            }
            for k in base..base + N {
                map.remove(&k);
            }
        }),
        ("expire and sweep", |map, clock, base| {
            for k in base..base + N {
                map.insert(k, k);
            }
            clock.advance(secs(61));
            map.sweep();
        }),
        ("expire, swept by writes", |map, clock, base| {
            for k in base..base + N {
                map.insert(k, k);
                if k % 64 == 0 {
                    clock.advance(secs(1));
                }
            }
        }),
        ("clear", |map, _, base| {
            for k in base..base + N {
                map.insert(k, k);
            }
            map.clear();
        }),
        ("memoize, then retain", |map, _, base| {
            for k in base..base + N {
                map.get_or_insert_with(&k, || k);
            }
            map.retain(|_, _| false);
        }),
    ];
    for (name, round) in rounds {
        let clock = ManualClock::new();
        let map: TtlMap<u64, u64> = TtlMap::builder().ttl(secs(60)).clock(clock.clone()).build();
        // A hundred rounds to come near the high-water mark, then two hundred. Growth that
        // stops is allowed: a shard's index doubles, at a random round, when its deleted
        // buckets run out with more than half of it in use (hashbrown), at most some 16 KiB a
        // shard. Positions not reused would cost 2,000 x 32 bytes a round: 12 MiB.
        for r in 0..100 {
            round(&map, &clock, r * N);
        }
        let before = net_bytes();
        for r in 100..300 {
            round(&map, &clock, r * N);
        }
        let grown = net_bytes() - before;
        assert!(
            grown < 256 * 1024,
            "{name}: the map grew by {grown} bytes over 200 rounds of {N} keys"
        );
    }
}

/// Promise (as above, for the flights registry): many flights of keys with one hash, one at
/// a time and overlapping, reuse the registry's positions.
#[test]
fn flights_reuse_their_positions() {
    let map: TtlMap<u64, u64, Crafted> = TtlMap::builder()
        .ttl(secs(60))
        .hasher(Crafted(all_same))
        .capacity(0)
        .build();
    let nested = |k: u64| {
        map.get_or_insert_with(&k, || {
            map.get_or_insert_with(&(k + 1), || map.get_or_insert_with(&(k + 2), || k))
        })
    };
    for k in 0..100 {
        nested(k * 3);
    }
    let before = net_bytes();
    for k in 100..10_100 {
        nested(k * 3);
    }
    let grown = net_bytes() - before;
    assert!(
        grown < 16 * 1024,
        "10,000 nested flights grew the map by {grown} bytes"
    );
}

// ---------------------------------------------------------------------------------------
// The model, with colliding hashes
// ---------------------------------------------------------------------------------------

const CAPACITY: usize = 4;

/// Hash families for the model: keys below 24.
fn three_hashes(v: u64) -> u64 {
    // Keys share all 64 bits in three groups.
    [
        0x0bad_cafe_0000_0001,
        0x0bad_cafe_0000_0002,
        0x1111_2222_3333_4444,
    ][(v % 3) as usize]
}

fn shared_top_small(v: u64) -> u64 {
    // Keys share the top 32 bits and differ in the bottom 32.
    0x5555_0000_0000_0000 | v
}

/// The shared model's check (`model/mod.rs`), with hashes crafted by `f`.
fn check_with(
    f: fn(u64) -> u64,
    expiry: Expiry,
    capacity: Option<usize>,
    max_lifetime: Option<u64>,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    model::check_with(Crafted(f), expiry, capacity, max_lifetime, ops)
}

const CASES: u32 = 400;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Promise: every rule of the model (`ttl_map_model.rs`) holds when keys share all 64
    /// bits of their hashes, sliding expiry.
    #[test]
    fn sliding_map_with_hashes_equal_in_all_64_bits_agrees_with_the_model(
        ops in proptest::collection::vec(op_in(12, 2 * TTL), 1..150)
    ) {
        check_with(three_hashes, Expiry::Sliding, None, None, ops)?;
    }

    /// As above, fixed expiry with a capacity (eviction of the oldest insert).
    #[test]
    fn fixed_map_with_a_capacity_and_hashes_equal_in_all_64_bits_agrees_with_the_model(
        ops in proptest::collection::vec(op_in(12, 2 * TTL), 1..150)
    ) {
        check_with(three_hashes, Expiry::Fixed, Some(CAPACITY), None, ops)?;
    }

    /// As above, sliding expiry with a capacity (eviction of the least recently used).
    #[test]
    fn sliding_map_with_a_capacity_and_hashes_equal_in_all_64_bits_agrees_with_the_model(
        ops in proptest::collection::vec(op_in(12, 2 * TTL), 1..150)
    ) {
        check_with(three_hashes, Expiry::Sliding, Some(CAPACITY), None, ops)?;
    }

    /// Keys sharing the top 32 bits only keep their own max_lifetime (the extras go by the
    /// 64-bit hash); few keys and short advances, so that hits reach the limit.
    #[test]
    fn sliding_map_with_a_max_lifetime_and_hashes_sharing_the_top_32_bits_agrees_with_the_model(
        ops in proptest::collection::vec(op_in(4, TTL), 1..150)
    ) {
        check_with(shared_top_small, Expiry::Sliding, None, Some(150), ops)?;
    }

    /// The default hasher's shape (all bits spread) with a max_lifetime and many keys.
    #[test]
    fn sliding_map_with_a_max_lifetime_and_many_keys_agrees_with_the_model(
        ops in proptest::collection::vec(op_in(24, TTL), 1..250)
    ) {
        check_with(one_shard, Expiry::Sliding, None, Some(150), ops)?;
    }
}

/// Promise (README, Bounded memory): the heap follows the keys kept, not the most ever held.
/// 200,000 keys in one burst, then one key a second: once the burst has expired and the
/// trickle's writes have swept it, the map holds about the heap of an empty map, not the
/// burst's 12.9 MB (the tables shrink). With `sweep()`, as the background thread calls it, too.
#[test]
fn the_heap_follows_the_live_keys_after_a_burst_not_the_peak() {
    for swept_by_call in [false, true] {
        let clock = ManualClock::new();
        let start = net_bytes();
        let map: TtlMap<u64, [u64; 4]> = TtlMap::builder()
            .ttl(Duration::from_secs(1))
            .clock(clock.clone())
            .build();
        let empty = net_bytes() - start;
        let (peak, after) = burst_then_trickle(&map, &clock, start, swept_by_call);
        assert!(map.len() <= 1 + 16 * 16, "len {}", map.len());
        // Room for a few entries in each of the 16 shards, far below the peak.
        assert!(
            after < empty + 64 * 1024,
            "heap held: empty {empty} B, at the peak {peak} B, after the burst {after} B"
        );
        drop(map);
        // Only this thread's own small buffers (which maps it is sweeping) may stay.
        assert!(
            net_bytes() - start < 1024,
            "a dropped map holds {} B",
            net_bytes() - start
        );
    }
}
