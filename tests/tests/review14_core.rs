//! Review 14 of `TtlMap`'s promises (SPEC.md, "Promises, precisely"; README, Semantics and
//! User code that panics; the crate docs' list of user code that may use its map): user code
//! that panics at a call site the earlier reviews did not reach (a key's `Hash` while a store
//! grows the table, a value's `Clone` inside `iter`), counters that must add up after panics
//! at every memoizing call site, single flight with capacity 1 and invalidations racing the
//! constructor, async waiters dropped while their flight lands, many short-lived threads
//! enlisting stripes of many maps, a clock that goes backwards, and the heap after a burst
//! that was cleared rather than expired.
//!
//! Time comes from a `ManualClock` (or a hand-set clock); waits for other threads go through
//! `tests::wait_until` and `tests::within`. Three tests failed at the commit they were written
//! against (50f712d), each marked `Was broken:` with what broke: a key stored twice after its
//! `Hash` panicked in a growing store, a hang in `iter` when a value's `Clone` panics and a
//! key's `Drop` uses the map, and lookups whose key's `Eq` panics counted neither as hits nor
//! as misses. (A fourth, a failed refresh of a value evicted meanwhile returning the error, is
//! the rule `ttl_map_exactness.rs` sets: a value the map no longer holds is not kept, as for
//! one that expired meanwhile, unless `stale_if_error` serves it.)

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, OnceLock};
use std::task::Poll;
use std::time::Duration;

use cache_core::{Clock, Expiry, ManualClock, TtlMap};
use tests::{Driven, wait_until, within};

#[global_allocator]
static GLOBAL: tests::counting::Counting = tests::counting::Counting;

const PATIENCE: Duration = Duration::from_secs(30);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn quiet() {
    tests::quiet_panics(|_| false);
}

// ---------------------------------------------------------------------------------------
// A key's `Hash` that panics while a store grows the table
// ---------------------------------------------------------------------------------------

thread_local! {
    /// The id of the key whose `Hash` panics on this thread, if any (per thread: tests run
    /// at once).
    static BOMB: Cell<Option<u64>> = const { Cell::new(None) };
}

/// A key whose `Hash` panics on a thread that armed it ([`BOMB`]).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fickle(u64);

impl Hash for Fickle {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if BOMB.get() == Some(self.0) {
            panic!("boom: Fickle's hash");
        }
        self.0.hash(state);
    }
}

// Was broken: a key whose `Hash` panics once while a store grows the table is filed under another
// hash, so the next `insert` of that key stores it a second time: two entries for one key.
//
// README (User code that panics): a key's `Hash` that panics "leaves the map consistent and
// usable". `review_today.rs` accepts that such a key may be unreachable by lookups for a
// while; `review7.rs` (helper-43) requires, for a shrink, that once its `Hash` works the key
// is "replaced rather than stored twice, and listed once". A growing store breaks that: the
// key is filed under hash 0 (`shard.rs`, `catching`), `insert` of it then finds no entry and
// adds another, `len()` counts both, `iter()` lists the key twice, and once a later growth
// rehashes the first copy back to its true hash, `remove` of the key leaves the other copy
// to be returned by `get`.
#[test]
fn a_hash_that_panics_while_a_store_grows_the_table_does_not_store_its_key_twice() {
    quiet();
    let clock = ManualClock::new();
    let map: TtlMap<Fickle, u64> = TtlMap::builder()
        .ttl(secs(3600))
        .clock(clock.clone())
        .build();
    map.insert(Fickle(0), 0);
    BOMB.set(Some(0));
    let mut next = 1;
    let mut panicked = false;
    while next < 100_000 && !panicked {
        let id = next;
        panicked = catch_unwind(AssertUnwindSafe(|| map.insert(Fickle(id), id))).is_err();
        next += 1;
    }
    BOMB.set(None);
    assert!(
        panicked,
        "no store grew the bomb's table: the test did not attack"
    );
    // Every key inserted so far is held once; the store that panicked stored nothing (it
    // hashes every key before it grows the table).
    let distinct = usize::try_from(next).unwrap();
    assert_eq!(map.len(), distinct - 1);
    // The bomb's `Hash` works again. Storing it anew must replace the live entry.
    let replaced = map.insert(Fickle(0), 7);
    let listed = map.iter().filter(|(k, _)| k.0 == 0).count();
    // Grow the table further: the first copy is rehashed to its true hash.
    for id in next..next * 4 {
        map.insert(Fickle(id), id);
    }
    let removed = map.remove(&Fickle(0));
    let after_remove = map.get(&Fickle(0));
    assert_eq!(
        (replaced, listed, removed, after_remove),
        (Some(0), 1, Some(7), None),
        "insert of the live key (replaced, listed), then remove and get"
    );
}

// ---------------------------------------------------------------------------------------
// `iter` when a value's `Clone` panics: the clones made so far are dropped under the lock
// ---------------------------------------------------------------------------------------

thread_local! {
    /// Set while a [`Brittle`] value's `Clone` panics on this thread.
    static BRITTLE: Cell<bool> = const { Cell::new(false) };
    /// Set while a [`Tenant`] key's `Drop` uses its map on this thread.
    static TENANT_DROP_USES_MAP: Cell<bool> = const { Cell::new(false) };
}

/// A value whose `Clone` panics while [`BRITTLE`] is set.
#[derive(Debug, PartialEq)]
struct Brittle(u64);

impl Clone for Brittle {
    fn clone(&self) -> Self {
        if BRITTLE.get() {
            panic!("boom: Brittle's clone");
        }
        Brittle(self.0)
    }
}

/// The map a [`Tenant`]'s `Drop` writes to.
static TENANTS: OnceLock<TtlMap<Tenant, Brittle>> = OnceLock::new();

/// A key whose `Drop` removes another key from [`TENANTS`] while [`TENANT_DROP_USES_MAP`] is
/// set: the crate docs say that `Drop`s "run with no lock held and may use it freely".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Tenant(u64);

impl Drop for Tenant {
    fn drop(&mut self) {
        if TENANT_DROP_USES_MAP.get()
            && let Some(map) = TENANTS.get()
        {
            TENANT_DROP_USES_MAP.set(false);
            map.remove(&Tenant(1_000 + self.0));
        }
    }
}

// Was broken: `iter()` clones an entry's key, then its value; if the value's `Clone` panics, the
// key's clone is dropped as the panic unwinds while the shard's read lock is still held
// (`Table::live`, its `Kept` and `Clones`), so a key `Drop` that uses the map waits for that
// lock forever.
//
// The crate docs: "Listeners, constructors, `expire_after` and `Drop`s run with no lock held
// and may use it freely"; README: a value's `Clone` that panics "leaves the map consistent
// and usable". Here the thread hangs in the key's `Drop` (`map.remove`, a write to the shard
// whose read lock its own `iter` holds).
#[test]
fn iter_whose_value_clone_panics_drops_its_key_clone_outside_the_lock() {
    quiet();
    // One shard (a capacity), so that the `Drop`'s write goes to the shard `iter` reads.
    let map = TENANTS.get_or_init(|| TtlMap::builder().ttl(secs(60)).capacity(16).build());
    map.insert(Tenant(1), Brittle(1));
    let finished = within(PATIENCE, || {
        let map = TENANTS.get().unwrap();
        BRITTLE.set(true);
        TENANT_DROP_USES_MAP.set(true);
        let listed = catch_unwind(AssertUnwindSafe(|| map.iter().count()));
        BRITTLE.set(false);
        TENANT_DROP_USES_MAP.set(false);
        (listed.is_err(), map.len())
    });
    assert_eq!(
        finished,
        (true, 1),
        "the clone's panic reaches iter's caller, and the map is as it was"
    );
}

// ---------------------------------------------------------------------------------------
// Counters after panics at memoizing call sites
// ---------------------------------------------------------------------------------------

thread_local! {
    /// The id of the [`Touchy`] key whose `Eq` panics on this thread, if any.
    static TOUCHY_EQ: Cell<Option<u64>> = const { Cell::new(None) };
}

/// A key whose `Eq` panics on a thread that armed it.
#[derive(Clone, Debug)]
struct Touchy(u64);

impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        if TOUCHY_EQ.get() == Some(self.0) {
            panic!("boom: Touchy's eq");
        }
        self.0 == other.0
    }
}
impl Eq for Touchy {}

/// README (Counters): `hits` and `misses` "count every `get` and memoizing call once, at its
/// first lookup (so `hits + misses` is the number of calls)". Calls whose constructor panics
/// or fails, whose flight was cleared, and which join a flight, each count once; the map
/// holds what it says afterwards.
#[test]
fn hits_and_misses_add_up_to_the_calls_after_constructors_panic_fail_and_are_cleared() {
    quiet();
    let map: TtlMap<Touchy, u64> = TtlMap::builder()
        .ttl(secs(60))
        .clock(ManualClock::new())
        .build();
    let mut calls = 0;
    for id in 0..20 {
        calls += 1;
        let _ = catch_unwind(AssertUnwindSafe(|| {
            map.get_or_insert_with(&Touchy(id), || panic!("boom: constructor"))
        }));
        calls += 1;
        let _ = map.try_get_or_insert_with(&Touchy(id), || Err::<u64, ()>(()));
        calls += 1;
        let _ = map.optionally_get_or_insert_with(&Touchy(id), || None);
        calls += 1;
        let got = map.get_or_insert_with(&Touchy(id), || {
            map.clear();
            id
        });
        assert_eq!(got, id, "a cleared flight's caller still gets its value");
        calls += 1;
        assert_eq!(
            map.get(&Touchy(id)),
            None,
            "a cleared flight stores nothing"
        );
        calls += 1;
        map.get_or_insert_with(&Touchy(id), || id);
        calls += 1;
        assert_eq!(map.get(&Touchy(id)), Some(id));
    }
    let stats = map.stats();
    assert_eq!(stats.hits + stats.misses, calls);
    assert_eq!(stats.hits, 20);
    assert_eq!(map.len(), 1, "each clear took the keys stored before it");
}

// Was broken: a lookup whose key's `Eq` panics (comparing with the entry it finds) is counted
// neither as a hit nor as a miss, in `get` as in a memoizing call: `hits + misses` falls short
// of the calls made.
//
// README (Counters): `hits` and `misses` "count every `get` and memoizing call once, at its
// first lookup (so `hits + misses` is the number of calls)". Review 13 fixed the same gap for
// a value's `Clone` that panics on a hit, and `memo.rs` counts a miss "too if a key's `Eq` or
// `Clone` panics there" (in the flights' table); a panic in the entries' table, one step
// before, escapes `Inner::get` and `find_or_join` (`map.rs`, `memo.rs`) before either counts.
#[test]
fn a_lookup_whose_key_eq_panics_is_counted_once_by_get_and_by_a_memoizing_call() {
    quiet();
    let map: TtlMap<Touchy, u64> = TtlMap::new(secs(60));
    map.insert(Touchy(1), 1);
    TOUCHY_EQ.set(Some(1));
    let got = catch_unwind(AssertUnwindSafe(|| map.get(&Touchy(1))));
    let memo = catch_unwind(AssertUnwindSafe(|| {
        map.get_or_insert_with(&Touchy(1), || 2)
    }));
    TOUCHY_EQ.set(None);
    assert!(got.is_err() && memo.is_err(), "both lookups panicked in Eq");
    assert_eq!(map.get(&Touchy(1)), Some(1), "the map is as it was");
    let stats = map.stats();
    assert_eq!(
        stats.hits + stats.misses,
        3,
        "three calls, each counted once ({} hits, {} misses)",
        stats.hits,
        stats.misses
    );
}

// ---------------------------------------------------------------------------------------
// Single flight under capacity 1, with invalidations racing the constructor
// ---------------------------------------------------------------------------------------

/// SPEC (Promises): every waiter gets its flight's outcome from the flight; once `remove`
/// has returned, the flight that began before it does not store its value; the capacity
/// holds. With capacity 1, a constructor blocked while another thread waits, the key removed
/// and the map refilled by other keys meanwhile: the constructor runs once, the waiter gets
/// its value, nothing of the flight is stored, and the other key stays.
#[test]
fn capacity_one_flight_removed_and_refilled_meanwhile_runs_once_and_stores_nothing() {
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(60))
        .capacity(1)
        .clock(ManualClock::new())
        .build();
    let runs = AtomicUsize::new(0);
    let release = AtomicBool::new(false);
    within(PATIENCE, move || {
        let map = &map;
        let (runs, release) = (&runs, &release);
        std::thread::scope(|s| {
            let leader = s.spawn(|| {
                map.get_or_insert_with(&7, || {
                    runs.fetch_add(1, SeqCst);
                    wait_until("the test releases the constructor", || release.load(SeqCst));
                    70
                })
            });
            wait_until("the constructor runs", || runs.load(SeqCst) == 1);
            let waiter = s.spawn(|| map.get_or_insert_with(&7, || 99));
            wait_until("the waiter joins", || map.stats().coalesced == 1);
            assert_eq!(map.remove(&7), None);
            for k in 0..5 {
                map.insert(k, k);
            }
            release.store(true, SeqCst);
            assert_eq!(leader.join().unwrap(), 70);
            assert_eq!(
                waiter.join().unwrap(),
                70,
                "the waiter takes the flight's value"
            );
        });
        assert_eq!(runs.load(SeqCst), 1);
        assert_eq!(map.get(&7), None, "the removed flight stored nothing");
        assert_eq!(map.get(&4), Some(4), "the last insert stays");
        assert_eq!(map.len(), 1);
    });
}

// ---------------------------------------------------------------------------------------
// stale_if_error and refresh_after against remove
// ---------------------------------------------------------------------------------------

/// SPEC: `stale_if_error` returns the last good value of an expired entry when its rebuild
/// fails; "Invalidation wins": once `remove` or `clear` has returned, that value is gone, and
/// a rebuild that fails after it returns the error, not the removed value.
#[test]
fn a_failed_rebuild_after_remove_or_clear_serves_no_stale_value() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(10))
        .stale_if_error(secs(60))
        .clock(clock.clone())
        .build();
    map.insert(1, 10);
    map.insert(2, 20);
    map.insert(3, 30);
    clock.advance(secs(11));
    let removed = map.try_get_or_insert_with(&1, || {
        map.remove(&1);
        Err::<u64, &str>("down")
    });
    let cleared = map.try_get_or_insert_with(&2, || {
        map.clear();
        Err::<u64, &str>("down")
    });
    map.insert(3, 31);
    clock.advance(secs(11));
    let kept = map.try_get_or_insert_with(&3, || Err::<u64, &str>("down"));
    assert_eq!(
        (removed, cleared, kept),
        (Err("down"), Err("down"), Ok(31)),
        "removed and cleared values are not served stale; the last good one is"
    );
    assert_eq!(map.stats().stale_served, 1);
}

/// SPEC: a `refresh_after` rebuild runs while callers keep the current value; "Invalidation
/// wins": a rebuild during which the key is removed returns its value to its caller but does
/// not store it, and one during which the key is inserted does not overwrite the insert.
#[test]
fn a_refresh_raced_by_remove_or_insert_does_not_store_its_value() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(secs(600))
        .refresh_after(secs(10))
        .clock(clock.clone())
        .build();
    map.insert(1, 10);
    map.insert(2, 20);
    clock.advance(secs(10));
    let rebuilt = map.get_or_insert_with(&1, || {
        assert_eq!(
            map.get_or_insert_with(&1, || 0),
            10,
            "others keep the value"
        );
        map.remove(&1);
        11
    });
    let overwritten = map.get_or_insert_with(&2, || {
        map.insert(2, 22);
        21
    });
    assert_eq!(
        (rebuilt, overwritten),
        (11, 21),
        "each caller gets its rebuild"
    );
    assert_eq!((map.get(&1), map.get(&2)), (None, Some(22)));
}

// ---------------------------------------------------------------------------------------
// Async waiters dropped while their flight lands; very many waiters
// ---------------------------------------------------------------------------------------

/// SPEC: single flight for async callers; waiters never block an executor; `coalesced` counts
/// each waiting call once. 400 waiters join an async flight; half are dropped before it
/// lands, a quarter while it lands (after its wake-up, before their next poll); the rest get
/// the value. The constructor runs once, nothing is left registered, and a later call hits.
#[test]
fn many_async_waiters_some_dropped_before_and_after_the_landing_all_counted_once() {
    let map: TtlMap<u64, Arc<u64>> = TtlMap::builder()
        .ttl(secs(60))
        .clock(ManualClock::new())
        .build();
    let runs = AtomicUsize::new(0);
    let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
    let mut leader = Driven::new(map.get_or_insert_with_async(&5, async {
        runs.fetch_add(1, SeqCst);
        Arc::new(rx.await.unwrap())
    }));
    leader.pending();
    let mut waiters: Vec<_> = (0..400)
        .map(|_| {
            Driven::new(map.get_or_insert_with_async(&5, async {
                runs.fetch_add(1, SeqCst);
                Arc::new(0)
            }))
        })
        .collect();
    for waiter in &mut waiters {
        waiter.pending();
    }
    assert_eq!(map.stats().coalesced, 400);
    waiters.truncate(200); // dropped before the landing
    tx.send(50).unwrap();
    assert_eq!(leader.poll().map(|v| *v), Poll::Ready(50));
    assert!(
        waiters.iter().all(|w| w.wakes() == 1),
        "each waiter is woken"
    );
    waiters.truncate(100); // dropped after the wake-up
    for waiter in &mut waiters {
        assert_eq!(waiter.poll().map(|v| *v), Poll::Ready(50));
    }
    assert_eq!(runs.load(SeqCst), 1, "one constructor for 401 calls");
    let stats = map.stats();
    assert_eq!((stats.misses, stats.coalesced, stats.hits), (401, 400, 0));
    assert_eq!(
        tests::block_on(map.get_or_insert_with_async(&5, async { Arc::new(0) })).as_ref(),
        &50
    );
    assert_eq!(map.stats().hits, 1);
}

// ---------------------------------------------------------------------------------------
// The striped lock: first reads, many threads, slots reused, many maps
// ---------------------------------------------------------------------------------------

/// README (TtlMap): readers lock a stripe of their thread's, enlisted at the thread's first
/// read of a lock; counters are per thread slot, written without read-modify-write by the
/// slot's one live thread. Waves of short-lived threads (more than the 31 slots at once in
/// the last wave, so that some share the last stripe and the shared counters) each make
/// their first reads of 8 maps while a writer keeps each map's two entries equal: no reader
/// ever sees them differ, and every map counts exactly the hits made.
#[test]
fn waves_of_short_lived_threads_enlist_stripes_of_many_maps_and_every_hit_is_counted() {
    const MAPS: usize = 8;
    let maps: Vec<TtlMap<u64, u64>> = (0..MAPS)
        .map(|_| {
            TtlMap::builder()
                .ttl(secs(3600))
                .clock(ManualClock::new())
                .build()
        })
        .collect();
    for map in &maps {
        map.insert(0, 0);
        map.insert(1, 0);
    }
    let waves: Vec<usize> = vec![12, 12, 12, 12, 12, 40];
    let barriers: Vec<Barrier> = waves.iter().map(|&n| Barrier::new(n)).collect();
    let stop = AtomicBool::new(false);
    let torn = AtomicUsize::new(0);
    let reads = AtomicU64::new(0);
    within(PATIENCE * 2, move || {
        let (maps, stop, torn, reads) = (&maps, &stop, &torn, &reads);
        let (waves, barriers) = (&waves, &barriers);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut n = 1;
                while !stop.load(SeqCst) {
                    for map in maps {
                        // Both keys in one write each: a reader sees a pair torn only if it
                        // reads between them; judged by the pair's order instead.
                        map.insert(1, n);
                        map.insert(0, n);
                    }
                    n += 1;
                    std::thread::yield_now();
                }
            });
            for (&threads, barrier) in waves.iter().zip(barriers) {
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(move || {
                            barrier.wait();
                            for _ in 0..50 {
                                for map in maps {
                                    // Key 1 is written before key 0: read 0 first, 1 never lags.
                                    let first = map.get(&0).unwrap();
                                    let second = map.get(&1).unwrap();
                                    if second < first {
                                        torn.fetch_add(1, SeqCst);
                                    }
                                    reads.fetch_add(2, SeqCst);
                                }
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.join().unwrap();
                }
            }
            stop.store(true, SeqCst);
        });
        assert_eq!(torn.load(SeqCst), 0, "a reader saw writes out of order");
        let hits: u64 = maps.iter().map(|m| m.stats().hits).sum();
        assert_eq!(hits, reads.load(SeqCst), "every hit counted once");
        assert!(maps.iter().all(|m| m.stats().misses == 0 && m.len() == 2));
    });
}

// ---------------------------------------------------------------------------------------
// A clock that goes backwards
// ---------------------------------------------------------------------------------------

/// A clock the test sets, backwards too.
#[derive(Clone, Default)]
struct SetClock(Arc<AtomicU64>);

impl SetClock {
    fn set(&self, d: Duration) {
        self.0.store(u64::try_from(d.as_nanos()).unwrap(), SeqCst);
    }
}

impl Clock for SetClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(SeqCst))
    }
}

/// SPEC: "an expired entry is never returned", and "expired stays expired". A clock that
/// steps back below an entry's deadline after a reader found the entry expired does not
/// revive it; the map keeps working (stores, sweeps, eviction) with no panic, and `len()`
/// and the counters stay exact.
#[test]
fn a_clock_stepping_back_revives_no_entry_found_expired_and_breaks_nothing() {
    for expiry in [Expiry::Sliding, Expiry::Fixed] {
        let clock = SetClock::default();
        clock.set(secs(1_000));
        let map: TtlMap<u64, u64> = TtlMap::builder()
            .ttl(secs(10))
            .expiry(expiry)
            .capacity(4)
            .clock(clock.clone())
            .build();
        map.insert(1, 1);
        clock.set(secs(1_010));
        assert_eq!(map.get(&1), None, "expired at its deadline");
        clock.set(secs(1_005));
        assert_eq!(map.get(&1), None, "the clock stepped back: still expired");
        assert!(!map.contains_key(&1));
        for k in 2..10 {
            map.insert(k, k);
            clock.set(secs(1_000 - k));
        }
        assert_eq!(map.len(), 4, "the capacity holds");
        clock.set(secs(0));
        map.sweep();
        assert_eq!(map.get_or_insert_with(&20, || 20), 20);
        clock.set(Duration::from_nanos(u64::MAX / 2));
        assert!(map.sweep() >= 4);
        assert_eq!(map.iter().count(), 0);
        let stats = map.stats();
        assert_eq!(stats.hits + stats.misses, 3);
    }
}

// ---------------------------------------------------------------------------------------
// The heap after a burst that was cleared
// ---------------------------------------------------------------------------------------

/// README (Bounded memory): "a burst's room goes with the burst". A burst that is cleared
/// rather than expired: once its ttl has passed and a write comes, the tables it grew give
/// their room back, as after a burst that expired.
#[test]
fn the_heap_follows_a_cleared_burst_within_its_ttl() {
    let start = tests::counting::net_bytes();
    let clock = ManualClock::new();
    let map: TtlMap<u64, [u64; 4]> = TtlMap::builder().ttl(secs(60)).clock(clock.clone()).build();
    let empty = tests::counting::net_bytes() - start;
    for k in 0..100_000 {
        map.insert(k, [k; 4]);
    }
    let peak = tests::counting::net_bytes() - start;
    map.clear();
    clock.advance(secs(61));
    for k in 100_000..100_100 {
        map.insert(k, [k; 4]);
    }
    let after = tests::counting::net_bytes() - start;
    assert!(
        after < empty + 64 * 1024 && after * 20 < peak,
        "empty {empty} B, peak {peak} B, after {after} B"
    );
    assert_eq!(map.len(), 100);
}
