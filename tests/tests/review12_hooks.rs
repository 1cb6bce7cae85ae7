//! Review 12: user code the map runs (listeners, `Drop`, `Clone`, `Hash`, `Eq`, wakers,
//! constructors that panic, fail or are cancelled), several hooks at once and from several
//! threads at once. Single-thread cases are in `ttl_map_user_code.rs`, `attack_promises.rs`,
//! `ttl_map_flight_panics.rs` and `ttl_map_nesting.rs`. Every wait has a deadline, so that a
//! hang fails its test; time that matters for expiry comes from a `ManualClock`.
//!
//! Found and fixed here (`cache-core/src/payload.rs`): a caught panic whose payload's own
//! `Drop` panics (`panic_any` of a user type) was dropped unguarded, which killed the sweeper
//! thread, left async waiters after a panicking waker unwoken, and ended `sweep()` half way.
//! Found and left failing (map.rs, being changed elsewhere): the same payloads in `removed`
//! (listeners unheard, or an abort with value `Drop`s that panic), and `Inner::drop`
//! resuming a value's panic out of a thread-local's destructor or before its listener is
//! dropped (aborts).
use std::collections::HashSet;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use cache_core::{ManualClock, Reason, TtlMap};
use tests::shards::{Id, in_shard};
use tests::wait_until;

/// How long a scenario may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `name` (this very test) in a child process, where `scenario` runs and its panic
/// fails the child: for scenarios that may kill a process-wide thread (the sweeper) or abort.
fn in_own_process(name: &str, scenario: impl FnOnce()) {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    tests::in_own_process(name, scenario);
}

/// Waits on `rx` for `n` messages, failing if they do not all come by the deadline.
fn collect<T>(rx: &mpsc::Receiver<T>, n: usize, what: &str) -> Vec<T> {
    let end = Instant::now() + DEADLINE;
    (0..n)
        .map(|i| {
            let left = end.saturating_duration_since(Instant::now());
            rx.recv_timeout(left)
                .unwrap_or_else(|_| panic!("{what}: only {i} of {n} returned: a hang"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Panic payloads whose own `Drop` panics.

/// A panic payload whose `Drop` panics (once: the second drop of a chain is quiet).
struct PayloadBomb(Arc<AtomicBool>);
impl Drop for PayloadBomb {
    fn drop(&mut self) {
        if self.0.swap(false, SeqCst) {
            panic!("boom: a panic payload's Drop");
        }
    }
}

/// Drops a caught panic's payload, a [`PayloadBomb`] quietly.
fn defuse<T>(result: std::thread::Result<T>) {
    if let Err(payload) = result
        && let Ok(bomb) = payload.downcast::<PayloadBomb>()
    {
        bomb.0.store(false, SeqCst);
    }
}

/// SPEC: nothing in user code (Drop, listeners) can kill the sweeper thread. A listener run
/// by the sweeper panics with a payload of its own type (`panic_any`), whose `Drop` panics:
/// the sweeper drops the payload it caught outside its `catch_unwind`, and dies, and no map
/// of the process is swept in the background any more.
#[test]
fn a_listener_panic_whose_payload_drop_panics_does_not_kill_the_sweeper() {
    in_own_process(
        "a_listener_panic_whose_payload_drop_panics_does_not_kill_the_sweeper",
        || {
            let clock = ManualClock::new();
            let armed = Arc::new(AtomicBool::new(true));
            let heard = Arc::new(AtomicUsize::new(0));
            let (a, h) = (Arc::clone(&armed), Arc::clone(&heard));
            let bad: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(Duration::from_secs(1))
                .sweep_every(Duration::from_millis(1))
                .clock(clock.clone())
                .on_evict(move |_, _, _| {
                    h.fetch_add(1, SeqCst);
                    if a.load(SeqCst) {
                        std::panic::panic_any(PayloadBomb(Arc::clone(&a)));
                    }
                })
                .build();
            bad.insert(1, 1);
            clock.advance(Duration::from_secs(2));
            wait_until("the sweeper swept", || heard.load(SeqCst) == 1);
            wait_until("the payload was dropped", || !armed.load(SeqCst));
            // Another map, swept only by the background thread.
            let other: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(Duration::from_secs(1))
                .sweep_every(Duration::from_millis(1))
                .clock(clock.clone())
                .build();
            other.insert(1, 1);
            clock.advance(Duration::from_secs(2));
            // If the sweeper thread died, the other map's expired entry stays.
            wait_until("the sweeper thread sweeps another map", || other.is_empty());
        },
    );
}

/// A waker whose `wake` panics with a [`PayloadBomb`].
struct BombWaker(Arc<AtomicBool>);
impl Wake for BombWaker {
    fn wake(self: Arc<Self>) {
        std::panic::panic_any(PayloadBomb(Arc::clone(&self.0)));
    }
}

/// README: "a waker that panics is its executor's: the other waiters are still woken". Not if
/// the panic's payload panics as it is dropped: the landing drops it outside its
/// `catch_unwind`, and the wakers of the waiters after that one are dropped unwoken: those
/// tasks wait forever.
#[test]
fn a_waker_panic_whose_payload_drop_panics_does_not_strand_the_other_waiters() {
    in_own_process(
        "a_waker_panic_whose_payload_drop_panics_does_not_strand_the_other_waiters",
        || {
            let map: TtlMap<u32, u32> = TtlMap::new(Duration::from_secs(60));
            let go = Arc::new(AtomicBool::new(false));
            let leader = {
                let (map, go) = (map.clone(), Arc::clone(&go));
                std::thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        wait_until("the test lets go", || go.load(SeqCst));
                        7
                    })
                })
            };
            wait_until("the leader leads", || map.stats().misses == 1);
            let bomb = Waker::from(Arc::new(BombWaker(Arc::new(AtomicBool::new(true)))));
            let mut first = Box::pin(map.get_or_insert_with_async(&1, async { 8 }));
            assert!(
                first
                    .as_mut()
                    .poll(&mut Context::from_waker(&bomb))
                    .is_pending()
            );
            let mut second = tests::Driven::new(map.get_or_insert_with_async(&1, async { 9 }));
            second.pending();
            assert_eq!(map.stats().coalesced, 2);
            go.store(true, SeqCst);
            let _ = leader.join(); // its landing may pass the waker's panic on
            assert_eq!(
                second.wakes(),
                1,
                "the second waiter was never woken: its task would wait forever"
            );
            assert_eq!(second.ready(), 7);
        },
    );
}

/// `sweep()` "removes every expired entry now", and a panicking listener does not stop it
/// half way (the first panic goes on afterwards). Here the listener panics for one entry of
/// shard 0 and one of shard 1, each time with a payload whose `Drop` panics: keeping the
/// first panic dropped the second payload unguarded, whose panic ended the sweep at shard 1.
#[test]
fn a_second_listener_panic_whose_payload_drop_panics_does_not_end_a_sweep_half_way() {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    let clock = ManualClock::new();
    let heard = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&heard);
    let map: TtlMap<u64, u64, Id> = TtlMap::builder()
        .ttl(Duration::from_secs(1))
        .clock(clock.clone())
        .hasher(Id::default())
        .on_evict(move |k: &u64, _, _| {
            h.fetch_add(1, SeqCst);
            if *k == in_shard(0, 1) || *k == in_shard(1, 1) {
                std::panic::panic_any(PayloadBomb(Arc::new(AtomicBool::new(true))));
            }
        })
        .build();
    for shard in 0..16 {
        for n in 1..=4 {
            map.insert(in_shard(shard, n), n);
        }
    }
    clock.advance(Duration::from_secs(2));
    let swept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.sweep()));
    let payload = swept.expect_err("the listener's first panic goes on");
    let first = payload.downcast::<PayloadBomb>();
    if let Ok(bomb) = &first {
        bomb.0.store(false, SeqCst); // dropped quietly here
    }
    assert!(first.is_ok(), "the first panic is resumed, not another");
    assert_eq!(map.len(), 0, "sweep() left expired entries behind");
    assert_eq!(heard.load(SeqCst), 64, "every removal heard");
}

/// A value whose `Drop` panics whenever `VALUE_DROP_PANICS` is set.
static VALUE_DROP_PANICS: AtomicBool = AtomicBool::new(false);
struct Grenade;
impl Drop for Grenade {
    fn drop(&mut self) {
        if VALUE_DROP_PANICS.load(SeqCst) {
            panic!("boom: a value's Drop");
        }
    }
}

/// SPEC: a listener cannot leave a `clear()` half done, and every removal is heard. A listener
/// that panics for every entry, each time with a payload whose `Drop` panics: `removed`
/// (map.rs) keeps the first panic with `Option::or`, which drops the second payload
/// unguarded; its panic leaves the loop, and the entries after it are dropped unheard.
#[test]
fn listener_panics_whose_payloads_panic_on_drop_leave_no_removal_unheard() {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    let heard = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&heard);
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .on_evict(move |_, _, _| {
            h.fetch_add(1, SeqCst);
            std::panic::panic_any(PayloadBomb(Arc::new(AtomicBool::new(true))));
        })
        .build();
    for k in 0..100 {
        map.insert(k, k);
    }
    let cleared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.clear()));
    defuse(cleared);
    assert_eq!(map.len(), 0);
    assert_eq!(
        heard.load(SeqCst),
        100,
        "clear() removed 100 entries; the listener heard of only some"
    );
}

/// The same with values whose `Drop` panics: the entries left in `removed`'s vector are
/// dropped as the second payload's panic unwinds, and a value's `Drop` that panics then
/// aborts the process (SPEC: nothing in user code can abort the process).
#[test]
fn listener_panics_whose_payloads_panic_on_drop_with_panicking_value_drops_do_not_abort() {
    in_own_process(
        "listener_panics_whose_payloads_panic_on_drop_with_panicking_value_drops_do_not_abort",
        || {
            let map: TtlMap<u32, Arc<Grenade>> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .on_evict(|_, _, _| {
                    std::panic::panic_any(PayloadBomb(Arc::new(AtomicBool::new(true))));
                })
                .build();
            for k in 0..10 {
                map.insert(k, Arc::new(Grenade));
            }
            VALUE_DROP_PANICS.store(true, SeqCst);
            let cleared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.clear()));
            VALUE_DROP_PANICS.store(false, SeqCst);
            defuse(cleared);
            assert!(map.is_empty());
        },
    );
}

// ---------------------------------------------------------------------------------------
// Listeners that use their own map, on several threads and on the sweeper thread.

/// A small random number generator per thread (xorshift).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Every value ever made, numbered: what the listener heard is checked by number.
static NEXT_VALUE: AtomicU64 = AtomicU64::new(1);
fn fresh() -> u64 {
    NEXT_VALUE.fetch_add(1, SeqCst)
}

/// What a run of [`hammer`] saw.
#[derive(Default)]
struct Log {
    /// Each departure the listener heard: the value's number and the reason.
    heard: Mutex<Vec<(u64, Reason)>>,
    /// Calls that count as a hit or a miss (`get` and the memoizing forms).
    lookups: AtomicU64,
}

/// Several threads use one map at random (inserts, removals, memoizing calls, clears, the
/// clock moving) while its listener uses the same map too (`reentrant`: from the listener,
/// for keys in a range of their own, to bound the chain), and the background sweeper runs
/// the listener as well. Then, once everything is quiet, a final `clear`: every entry ever
/// stored has then left the map once, so the listener heard each stored value exactly once,
/// `inserts` equals all it heard, and its reasons match the counters.
fn hammer(capacity: Option<usize>, reentrant: bool) {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    let clock = ManualClock::new();
    let log = Arc::new(Log::default());
    let slot: Arc<OnceLock<TtlMap<u64, u64>>> = Arc::default();
    let (l, again) = (Arc::clone(&log), Arc::clone(&slot));
    let mut builder = TtlMap::builder()
        .ttl(Duration::from_secs(3))
        .sweep_every(Duration::from_millis(1))
        .clock(clock.clone())
        .on_evict(move |k: &u64, v: &u64, reason| {
            l.heard.lock().unwrap().push((*v, reason));
            if !reentrant || *k >= 1_000 {
                return;
            }
            let map = again.get().unwrap();
            match v % 6 {
                0 => {
                    map.insert(1_000 + k, fresh());
                }
                1 => {
                    map.remove(&(1_000 + (k + 1) % 40));
                }
                2 => {
                    l.lookups.fetch_add(1, SeqCst);
                    map.get_or_insert_with(&(1_000 + k), fresh);
                }
                3 => {
                    l.lookups.fetch_add(1, SeqCst);
                    let _ = map.get(&(1_000 + k));
                }
                4 if v % 60 == 4 => map.clear(),
                _ => {
                    map.sweep();
                }
            }
        });
    if let Some(capacity) = capacity {
        builder = builder.capacity(capacity);
    }
    let map: TtlMap<u64, u64> = builder.build();
    slot.set(map.clone()).ok().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (map, clock, log) = (map.clone(), clock.clone(), Arc::clone(&log));
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                for _ in 0..3_000 {
                    let k = rng.below(40);
                    match rng.below(100) {
                        0..30 => {
                            map.insert(k, fresh());
                        }
                        30..45 => {
                            map.remove(&k);
                        }
                        45..75 => {
                            log.lookups.fetch_add(1, SeqCst);
                            map.get_or_insert_with(&k, || {
                                std::thread::yield_now(); // so that others join
                                fresh()
                            });
                        }
                        75..80 => {
                            log.lookups.fetch_add(1, SeqCst);
                            let built = std::panic::catch_unwind(AssertUnwindSafe(|| {
                                map.get_or_insert_with(&k, || {
                                    std::thread::yield_now();
                                    panic!("boom: a constructor");
                                })
                            }));
                            let _ = built; // a waiter's own attempt may have stored
                        }
                        80..90 => {
                            log.lookups.fetch_add(1, SeqCst);
                            let _ = map.get(&k);
                        }
                        90..92 => map.clear(),
                        92..94 => map.retain(|k, _| k % 3 != 0),
                        94..97 => {
                            let _ = map.try_get_or_insert_with(&k, || Err::<u64, ()>(()));
                            log.lookups.fetch_add(1, SeqCst);
                        }
                        _ => clock.advance(Duration::from_secs(rng.below(4))),
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a worker panicked");
    }
    map.clear();
    // The sweeper may still be in the listener, whose writes then land after the clear.
    let quiet = || {
        let before = log.heard.lock().unwrap().len();
        // No hook tells that the sweeper thread left its listener: 20 ms with nothing heard is
        // the evidence.
        std::thread::sleep(Duration::from_millis(20)); // sleep-ok
        map.clear();
        map.is_empty() && log.heard.lock().unwrap().len() == before
    };
    wait_until("the map went quiet", quiet);
    let heard = log.heard.lock().unwrap().clone();
    let mut seen = HashSet::new();
    for (v, _) in &heard {
        assert!(seen.insert(*v), "a value was heard leaving twice");
    }
    let stats = map.stats();
    let count = |r: Reason| heard.iter().filter(|(_, reason)| *reason == r).count() as u64;
    assert_eq!(
        stats.inserts,
        heard.len() as u64,
        "stored {} entries, heard {} leave",
        stats.inserts,
        heard.len()
    );
    assert_eq!(stats.expirations, count(Reason::Expired), "expirations");
    assert_eq!(stats.evictions, count(Reason::Capacity), "evictions");
    assert_eq!(
        stats.hits + stats.misses,
        log.lookups.load(SeqCst),
        "hits + misses is the number of calls"
    );
}

#[test]
fn listeners_that_use_their_own_map_from_many_threads_hear_every_departure_once() {
    tests::within(DEADLINE, || hammer(None, true));
}

#[test]
fn the_same_with_a_capacity() {
    tests::within(DEADLINE, || hammer(Some(16), true));
}

#[test]
fn the_same_with_a_quiet_listener() {
    tests::within(DEADLINE, || hammer(Some(8), false));
}

// ---------------------------------------------------------------------------------------
// Values whose `Drop` uses the map they lived in.

/// The map [`Echo`]'s `Drop` uses.
static ECHO_MAP: OnceLock<TtlMap<u64, Arc<Echo>>> = OnceLock::new();
/// Echoes made and dropped.
static ECHOES: AtomicU64 = AtomicU64::new(0);
static ECHOES_DROPPED: AtomicU64 = AtomicU64::new(0);

/// A value whose `Drop` (once per value: it is shared as an `Arc`) uses the map it lived in,
/// wherever the last copy goes: a caller, the sweeper thread, `clear`, an eviction, a
/// flight's last waiter, an invalidated flight's value. Echoes made by a `Drop` are quiet.
struct Echo {
    n: u64,
    loud: bool,
}

impl Echo {
    fn new(n: u64, loud: bool) -> Arc<Echo> {
        ECHOES.fetch_add(1, SeqCst);
        Arc::new(Echo { n, loud })
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        ECHOES_DROPPED.fetch_add(1, SeqCst);
        if !self.loud {
            return;
        }
        let map = ECHO_MAP.get().unwrap();
        let k = 1_000 + self.n % 40;
        match self.n % 5 {
            0 => drop(map.insert(k, Echo::new(self.n, false))),
            1 => drop(map.remove(&k)),
            2 => drop(map.get_or_insert_with(&k, || Echo::new(self.n, false))),
            3 => drop(map.get(&(self.n % 40))),
            _ => {
                map.sweep();
            }
        }
    }
}

/// Four threads use a map of [`Echo`]s with a capacity, the background sweeper, a moving
/// clock, clears, removals and flights that are invalidated or panic: every value is dropped
/// exactly once, nothing hangs, and every stored value is heard leaving once.
#[test]
fn values_whose_drop_uses_their_map_are_dropped_once_from_every_path() {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    tests::within(DEADLINE, || {
        let clock = ManualClock::new();
        let heard = Arc::new(AtomicU64::new(0));
        let h = Arc::clone(&heard);
        let map: TtlMap<u64, Arc<Echo>> = TtlMap::builder()
            .ttl(Duration::from_secs(3))
            .capacity(12)
            .sweep_every(Duration::from_millis(1))
            .clock(clock.clone())
            .on_evict(move |_, _, _| {
                h.fetch_add(1, SeqCst);
            })
            .build();
        ECHO_MAP.set(map.clone()).ok().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (map, clock) = (map.clone(), clock.clone());
                std::thread::spawn(move || {
                    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (t + 1));
                    for _ in 0..2_000 {
                        let k = rng.below(40);
                        let n = rng.below(1 << 20);
                        match rng.below(100) {
                            0..25 => drop(map.insert(k, Echo::new(n, true))),
                            25..35 => drop(map.remove(&k)),
                            35..75 => drop(map.get_or_insert_with(&k, || {
                                std::thread::yield_now();
                                if n.is_multiple_of(7) {
                                    map.remove(&k); // invalidates this flight
                                }
                                Echo::new(n, true)
                            })),
                            75..80 => {
                                let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                                    map.get_or_insert_with(&k, || {
                                        let _doomed = Echo::new(n, true);
                                        std::thread::yield_now();
                                        panic!("boom: a constructor");
                                    })
                                }));
                                drop(r);
                            }
                            80..90 => drop(map.get(&k)),
                            90..92 => map.clear(),
                            92..94 => map.retain(|k, _| k % 2 == 0),
                            _ => clock.advance(Duration::from_secs(rng.below(3))),
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a worker panicked");
        }
        let quiet = || {
            let before = ECHOES_DROPPED.load(SeqCst);
            map.clear();
            // As above: the sweeper may still be in a value's `Drop`.
            std::thread::sleep(Duration::from_millis(20)); // sleep-ok
            map.is_empty() && ECHOES_DROPPED.load(SeqCst) == before
        };
        wait_until("the map went quiet", quiet);
        assert_eq!(
            ECHOES.load(SeqCst),
            ECHOES_DROPPED.load(SeqCst),
            "values made and dropped"
        );
        assert_eq!(map.stats().inserts, heard.load(SeqCst), "stored and heard");
    });
}

// ---------------------------------------------------------------------------------------
// A value's `Clone`, a key's `Eq`, `Hash` and `Clone` panicking while others wait.

/// Clones of [`Brittle`] made so far, and the one that panics (1-based; 0: none).
static BRITTLE_CLONES: AtomicU64 = AtomicU64::new(0);
static BRITTLE_PANICS_AT: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, PartialEq)]
struct Brittle(u64);
impl Clone for Brittle {
    fn clone(&self) -> Self {
        let n = BRITTLE_CLONES.fetch_add(1, SeqCst) + 1;
        if n == BRITTLE_PANICS_AT.load(SeqCst) {
            panic!("boom: clone number {n}");
        }
        Brittle(self.0)
    }
}

/// A flight with six waiters lands, and the n-th clone made from then on panics (the map's
/// copy, the flight's copy, or one waiter's): every caller returns (with the value, or the
/// panic of its own clone, or after its own attempt), none waits long, each waiter is
/// counted once in `coalesced`, and the key works afterwards.
#[test]
fn a_clone_that_panics_at_any_point_of_a_landing_strands_no_waiter() {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap();
    for panics_at in 1..=9 {
        let map: TtlMap<u32, Brittle> = TtlMap::new(Duration::from_secs(60));
        BRITTLE_PANICS_AT.store(0, SeqCst);
        let (tx, rx) = mpsc::channel();
        {
            let (map, tx) = (map.clone(), tx.clone());
            std::thread::spawn(move || {
                let got = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    map.get_or_insert_with(&1, || {
                        wait_until("six waiters joined", || map.stats().coalesced == 6);
                        BRITTLE_CLONES.store(0, SeqCst);
                        BRITTLE_PANICS_AT.store(panics_at, SeqCst);
                        Brittle(1)
                    })
                }));
                let _ = tx.send(got.ok());
            });
        }
        wait_until("the leader leads", || map.stats().misses == 1);
        for _ in 0..6 {
            let (map, tx) = (map.clone(), tx.clone());
            std::thread::spawn(move || {
                let got = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    map.get_or_insert_with(&1, || Brittle(2))
                }));
                let _ = tx.send(got.ok());
            });
        }
        let got = collect(&rx, 7, "callers of a flight whose clone panics");
        BRITTLE_PANICS_AT.store(0, SeqCst);
        let returned = got.iter().filter(|g| g.is_some()).count();
        assert!(returned >= 5, "at most one clone panicked ({panics_at})");
        assert_eq!(
            map.stats().coalesced,
            6,
            "each waiter counted once ({panics_at})"
        );
        let now = map.get_or_insert_with(&1, || Brittle(3));
        assert!(now == Brittle(1) || now == Brittle(2) || now == Brittle(3));
    }
}

thread_local! {
    /// `Touchy`'s `Eq`, `Hash` or `Clone` panics on this thread (1, 2, 3; 0: none).
    static TOUCHY_PANICS: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// A key whose `Eq`, `Hash` or `Clone` panics on the threads that ask for it.
#[derive(Debug)]
struct Touchy(u32);
impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        if TOUCHY_PANICS.with(std::cell::Cell::get) == 1 {
            panic!("boom: Eq");
        }
        self.0 == other.0
    }
}
impl Eq for Touchy {}
impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if TOUCHY_PANICS.with(std::cell::Cell::get) == 2 {
            panic!("boom: Hash");
        }
        self.0.hash(state);
    }
}
impl Clone for Touchy {
    fn clone(&self) -> Self {
        if TOUCHY_PANICS.with(std::cell::Cell::get) == 3 {
            panic!("boom: Clone");
        }
        Touchy(self.0)
    }
}

/// While a flight of a key has waiters, other threads ask for that key (and a new one) with
/// a key whose `Eq`, `Hash` or `Clone` panics: their calls panic; the flight still lands for
/// its leader and waiters, the waiters are counted once each, the panicking calls are not,
/// and nothing is left locked or registered (the keys work afterwards, from every thread).
#[test]
fn a_key_whose_eq_hash_or_clone_panics_does_not_disturb_a_flights_waiters() {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    let map: TtlMap<Touchy, u32> = TtlMap::new(Duration::from_secs(60));
    let go = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    {
        let (map, go, tx) = (map.clone(), Arc::clone(&go), tx.clone());
        std::thread::spawn(move || {
            let v = map.get_or_insert_with(&Touchy(1), || {
                wait_until("the test lets go", || go.load(SeqCst));
                10
            });
            let _ = tx.send(Some(v));
        });
    }
    wait_until("the leader leads", || map.stats().misses == 1);
    for _ in 0..3 {
        let (map, tx) = (map.clone(), tx.clone());
        std::thread::spawn(move || {
            let _ = tx.send(Some(map.get_or_insert_with(&Touchy(1), || 11)));
        });
    }
    wait_until("three waiters", || map.stats().coalesced == 3);
    // Eq panics where keys meet (the flight of key 1), Hash always, Clone where a call
    // leads (key 2; a call of key 1 joins the flight and clones no key).
    let (ptx, prx) = mpsc::channel();
    for (how, key) in [(1, 1), (2, 1), (2, 2), (3, 2), (3, 1)] {
        let (map, ptx, tx) = (map.clone(), ptx.clone(), tx.clone());
        std::thread::spawn(move || {
            TOUCHY_PANICS.with(|p| p.set(how));
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                map.get_or_insert_with(&Touchy(key), || 12)
            }));
            TOUCHY_PANICS.with(|p| p.set(0));
            match (how, key) {
                (3, 1) => drop(tx.send(r.ok())),
                _ => drop(ptx.send(r.is_err())),
            }
        });
    }
    let panicked = collect(&prx, 4, "callers whose key panics");
    assert!(panicked.iter().all(|p| *p), "each of them panicked");
    wait_until("a fourth waiter", || map.stats().coalesced == 4);
    go.store(true, SeqCst);
    let got = collect(&rx, 5, "the flight's leader and waiters");
    assert!(got.iter().all(|v| *v == Some(10)), "the flight's value");
    assert_eq!(map.stats().coalesced, 4, "panicking calls do not wait");
    assert_eq!(map.get_or_insert_with(&Touchy(1), || 13), 10);
    assert_eq!(map.get_or_insert_with(&Touchy(2), || 14), 14);
    assert_eq!(map.len(), 2);
}

/// A map held in a thread-local: the thread ends and the map goes with its thread-locals.
/// One of its values' `Drop` panics: a map drops each entry on its own and passes the first
/// panic on, and a panic out of a thread-local's destructor aborts the process (SPEC:
/// nothing in user code can abort the process, also during thread-local destruction).
#[test]
fn a_map_in_a_thread_local_with_a_panicking_value_drop_does_not_abort() {
    in_own_process(
        "a_map_in_a_thread_local_with_a_panicking_value_drop_does_not_abort",
        || {
            thread_local! {
                static LOCAL: TtlMap<u32, Arc<Grenade>> = TtlMap::new(Duration::from_secs(60));
            }
            std::thread::spawn(|| {
                LOCAL.with(|map| map.insert(1, Arc::new(Grenade)));
                VALUE_DROP_PANICS.store(true, SeqCst);
            })
            .join()
            .ok();
            VALUE_DROP_PANICS.store(false, SeqCst);
        },
    );
}

// ---------------------------------------------------------------------------------------
// Constructors that panic, fail and are cancelled at each await point, on every kind of
// executor at once, while other threads invalidate: invalidation wins, nobody hangs.

/// Keys of the invalidation scenario.
const KEYS: usize = 3;
/// The value `insert` stores there.
const INSERTED: u64 = u64::MAX;

/// Per key: invalidations begun and finished (`remove`, `insert`, and `clear` for all keys).
struct Invalidations {
    begun: [AtomicU64; KEYS],
    done: [AtomicU64; KEYS],
    /// Values returned that a constructor begun before an invalidation made, to a call begun
    /// after that invalidation had returned.
    stale: AtomicU64,
    calls: AtomicU64,
    returned: AtomicU64,
}

impl Invalidations {
    fn new() -> Arc<Self> {
        Arc::new(Invalidations {
            begun: Default::default(),
            done: Default::default(),
            stale: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            returned: AtomicU64::new(0),
        })
    }

    /// Invalidates at random through `map`.
    fn invalidate(&self, map: &TtlMap<usize, u64>, rng: &mut Rng) {
        let k = rng.below(KEYS as u64) as usize;
        match rng.below(3) {
            0 => {
                self.begun[k].fetch_add(1, SeqCst);
                map.remove(&k);
                self.done[k].fetch_add(1, SeqCst);
            }
            1 => {
                // Not checked (`INSERTED`): two invalidations that run at once may reach the
                // map in either order, so an insert's number says nothing.
                self.begun[k].fetch_add(1, SeqCst);
                map.insert(k, INSERTED);
                self.done[k].fetch_add(1, SeqCst);
            }
            _ => {
                for b in &self.begun {
                    b.fetch_add(1, SeqCst);
                }
                map.clear();
                for d in &self.done {
                    d.fetch_add(1, SeqCst);
                }
            }
        }
    }

    /// What a constructor of `k` makes: the invalidations of `k` begun when it begins.
    fn make(&self, k: usize) -> u64 {
        self.begun[k].load(SeqCst)
    }

    /// Checks a value `v` of `k` returned to a call begun when `done` invalidations of `k`
    /// had returned. A constructor that made `v` began before invalidation `v + 1` did (its
    /// flight was registered before that, too), and so before every later one: if `done`
    /// of them had returned when the call began, one of those returned before it.
    fn check(&self, done: u64, v: u64) {
        self.returned.fetch_add(1, SeqCst);
        if v < done && v != INSERTED {
            self.stale.fetch_add(1, SeqCst);
        }
    }
}

/// A future that is pending once (waking itself at once), on any executor.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Drops `future` at its `polls`-th poll (a `select!` or a timeout that fires at that
/// await point): `None` then.
struct CancelAt<F> {
    future: Option<Pin<Box<F>>>,
    polls: u64,
}
impl<F: Future> Future for CancelAt<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        if self.polls == 0 {
            self.future = None;
            return Poll::Ready(None);
        }
        self.polls -= 1;
        let future = self.future.as_mut().expect("polled after its end");
        future.as_mut().poll(cx).map(Some)
    }
}

/// One async memoizing call of a random key and form, cancelled at a random poll or not,
/// its constructor yielding a few times and then succeeding, failing or panicking (the panic
/// goes on in the task).
async fn async_call(map: TtlMap<usize, u64>, inv: Arc<Invalidations>, seed: u64) {
    let mut rng = Rng(seed | 1);
    if rng.below(5) == 0 {
        return inv.invalidate(&map, &mut rng);
    }
    let k = rng.below(KEYS as u64) as usize;
    let (yields, end, cancel, shared) = (rng.below(4), rng.below(10), rng.below(12), rng.below(2));
    inv.calls.fetch_add(1, SeqCst);
    let done = inv.done[k].load(SeqCst);
    let i = Arc::clone(&inv);
    let init = async move {
        let v = i.make(k);
        for _ in 0..yields {
            YieldOnce(false).await;
        }
        match end {
            0 => panic!("boom: an async constructor"),
            1 if shared == 0 => Err(()),
            _ => Ok(v),
        }
    };
    let call = async move {
        match shared {
            0 => map.try_get_or_insert_with_async(&k, init).await.ok(),
            _ => Some(
                map.get_or_insert_with_async(&k, async { init.await.unwrap_or_default() })
                    .await,
            ),
        }
    };
    let cancellable = CancelAt {
        future: Some(Box::pin(call)),
        polls: if cancel < 6 { cancel } else { u64::MAX },
    };
    if let Some(Some(v)) = cancellable.await {
        inv.check(done, v);
    }
}

/// A sync memoizing call of a random key, its constructor succeeding, failing or panicking.
fn sync_call(map: &TtlMap<usize, u64>, inv: &Invalidations, rng: &mut Rng) {
    let k = rng.below(KEYS as u64) as usize;
    let end = rng.below(10);
    inv.calls.fetch_add(1, SeqCst);
    let done = inv.done[k].load(SeqCst);
    let init = || {
        let v = inv.make(k);
        std::thread::yield_now();
        match end {
            0 => panic!("boom: a constructor"),
            1 => Err(()),
            _ => Ok(v),
        }
    };
    let got = std::panic::catch_unwind(AssertUnwindSafe(|| map.try_get_or_insert_with(&k, init)));
    if let Ok(Ok(v)) = got {
        inv.check(done, v);
    }
}

/// Sync callers on two threads, async callers on a two-worker Tokio runtime, on a
/// current-thread runtime and on a hand-rolled executor, their calls cancelled at every
/// await point, constructors panicking and failing; a thread invalidating meanwhile. No
/// call returns a value built by a constructor begun before an invalidation of its key that
/// had returned when the call began, every call returns, and the keys work afterwards.
#[test]
fn cancelled_panicking_and_failing_constructors_on_every_executor_lose_to_invalidations() {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    let map: TtlMap<usize, u64> = TtlMap::new(Duration::from_secs(60));
    let inv = Invalidations::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<&str>();
    let invalidator = {
        let (map, inv, stop) = (map.clone(), Arc::clone(&inv), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut rng = Rng(0xA076_1D64_78BD_642F);
            while !stop.load(SeqCst) {
                inv.invalidate(&map, &mut rng);
                std::thread::yield_now();
            }
        })
    };
    for t in 0..2u64 {
        let (map, inv, tx) = (map.clone(), Arc::clone(&inv), tx.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0xE703_7ED1_A0B4_28DB ^ t);
            for _ in 0..400 {
                match rng.below(5) {
                    0 => inv.invalidate(&map, &mut rng),
                    _ => sync_call(&map, &inv, &mut rng),
                }
            }
            let _ = tx.send("sync");
        });
    }
    {
        let (map, inv, tx) = (map.clone(), Arc::clone(&inv), tx.clone());
        std::thread::spawn(move || {
            let rt = tests::two_worker_runtime();
            let tasks: Vec<_> = (0..400)
                .map(|n| rt.spawn(async_call(map.clone(), Arc::clone(&inv), 0x1000 + n)))
                .collect();
            rt.block_on(async {
                for task in tasks {
                    let _ = task.await; // a constructor's panic ends its task
                }
            });
            let _ = tx.send("multi-thread runtime");
        });
    }
    {
        let (map, inv, tx) = (map.clone(), Arc::clone(&inv), tx.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let tasks: Vec<_> = (0..400)
                    .map(|n| tokio::spawn(async_call(map.clone(), Arc::clone(&inv), 0x9000 + n)))
                    .collect();
                for task in tasks {
                    let _ = task.await;
                }
            });
            let _ = tx.send("current-thread runtime");
        });
    }
    {
        let (map, inv, tx) = (map.clone(), Arc::clone(&inv), tx.clone());
        std::thread::spawn(move || {
            for n in 0..200 {
                let call = async_call(map.clone(), Arc::clone(&inv), 0x5_0000 + n);
                let mut call = std::pin::pin!(call);
                let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    tests::poll_for(call.as_mut(), DEADLINE)
                }));
                if let Ok(None) = polled {
                    return; // hung: no message
                }
            }
            let _ = tx.send("hand-rolled executor");
        });
    }
    let finished = collect(&rx, 5, "callers");
    stop.store(true, SeqCst);
    invalidator.join().unwrap();
    assert_eq!(finished.len(), 5);
    assert_eq!(
        inv.stale.load(SeqCst),
        0,
        "of {} values returned, some were built before an invalidation that had returned \
         when their call began",
        inv.returned.load(SeqCst)
    );
    assert!(inv.returned.load(SeqCst) > 300, "enough calls got a value");
    for k in 0..KEYS {
        map.remove(&k);
        assert_eq!(map.get_or_insert_with(&k, || 7), 7);
    }
    let stats = map.stats();
    assert!(stats.coalesced <= stats.misses, "a call waits at most once");
}

// ---------------------------------------------------------------------------------------
// `#[ttl_cached]` functions under the same attacks.

/// Depth at which [`fragile_fib`]'s body panics (`u64::MAX`: never).
static FIB_PANICS_AT: AtomicU64 = AtomicU64::new(u64::MAX);
static FIB_RUNS: AtomicU64 = AtomicU64::new(0);

#[cache_core::ttl_cached(ttl = "1h", cache = fragile_fib_cache)]
fn fragile_fib(n: u64) -> u64 {
    FIB_RUNS.fetch_add(1, SeqCst);
    std::thread::yield_now();
    if n == FIB_PANICS_AT.load(SeqCst) {
        panic!("boom: fib at depth");
    }
    if n < 2 {
        n
    } else {
        fragile_fib(n - 1).wrapping_add(fragile_fib(n - 2))
    }
}

fn fib_plain(n: u64) -> u64 {
    (0..n)
        .fold((0u64, 1u64), |(a, b), _| (b, a.wrapping_add(b)))
        .0
}

/// A memoized recursion whose body panics at one depth, run from four threads at once: every
/// call panics (the panic comes up through the flights of every level, which land as
/// panicked: their waiters make their own attempts, which panic too), none hangs; then,
/// with the panic gone, every thread gets the right value, and each level was stored.
#[test]
fn a_memoized_recursion_that_panics_at_depth_on_four_threads_neither_hangs_nor_wedges() {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    let run = |tx: mpsc::Sender<Option<u64>>, top: u64| {
        std::thread::spawn(move || {
            let got = std::panic::catch_unwind(|| fragile_fib(top));
            let _ = tx.send(got.ok());
        });
    };
    FIB_PANICS_AT.store(20, SeqCst);
    let (tx, rx) = mpsc::channel();
    for t in 0..4 {
        run(tx.clone(), 60 + t % 2);
    }
    let got = collect(&rx, 4, "recursions that panic");
    assert!(got.iter().all(Option::is_none), "each panicked");
    assert!(
        fragile_fib_cache().len() <= 20,
        "nothing above the panic stored"
    );
    FIB_PANICS_AT.store(u64::MAX, SeqCst);
    let runs = FIB_RUNS.load(SeqCst);
    for t in 0..4 {
        run(tx.clone(), 80 + t % 2);
    }
    let got = collect(&rx, 4, "recursions");
    for (t, v) in got.into_iter().enumerate() {
        let v = v.expect("no panic now");
        assert!(v == fib_plain(80) || v == fib_plain(81), "thread {t}");
    }
    assert_eq!(fragile_fib_cache().len(), 82, "every level stored");
    assert!(
        FIB_RUNS.load(SeqCst) - runs <= 4 * 82,
        "levels built at most once per thread"
    );
}

static SLOW_RUNS: AtomicU64 = AtomicU64::new(0);

#[cache_core::ttl_cached(ttl = "1h", cache = slow_async_cache)]
async fn slow_async(k: u32, fail: bool) -> Result<u32, String> {
    SLOW_RUNS.fetch_add(1, SeqCst);
    for _ in 0..3 {
        YieldOnce(false).await;
    }
    if fail {
        return Err("failed".into());
    }
    Ok(k * 2)
}

/// An `async fn` memoized by the attribute, called by many tasks of a multi-thread runtime
/// for few keys, each call cancelled at a random poll or not, failing for some: every call
/// that is not cancelled returns (no task waits forever for an abandoned leader), with the
/// right value or the error of its own key.
#[test]
fn a_memoized_async_fn_whose_calls_are_cancelled_at_every_await_point_strands_nobody() {
    let rt = tests::two_worker_runtime();
    let tasks: Vec<_> = (0..600u64)
        .map(|n| {
            rt.spawn(async move {
                let mut rng = Rng(0xBF58_476D_1CE4_E5B9 ^ n);
                let k = rng.below(4) as u32;
                let fail = k == 3;
                let polls = match rng.below(3) {
                    0 => rng.below(5),
                    _ => u64::MAX,
                };
                let call = CancelAt {
                    future: Some(Box::pin(slow_async(k, fail))),
                    polls,
                };
                match call.await {
                    None => true,
                    Some(Ok(v)) => v == k * 2 && !fail,
                    Some(Err(_)) => fail,
                }
            })
        })
        .collect();
    let all = rt.block_on(async {
        tokio::time::timeout(DEADLINE, async {
            let mut right = 0;
            for task in tasks {
                right += usize::from(task.await.unwrap());
            }
            right
        })
        .await
    });
    assert_eq!(
        all,
        Ok(600),
        "every call returned its key's outcome, in time"
    );
    assert_eq!(slow_async_cache().len(), 3, "the failing key is not cached");
}

// ---------------------------------------------------------------------------------------
// "Called outside the map's locks": a listener that waits for another thread's use of the
// very shard it was called for, from every path that calls it.

/// Runs `use_map` on another thread and waits for it: `false` if it has not finished within
/// two seconds (it waits for a lock this thread holds).
fn another_thread_can(use_map: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        use_map();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(2)).is_ok()
}

/// The listener hears each departure with every lock let go: from each path that removes
/// an entry (insert over it, remove, clear, retain, a capacity eviction by an insert and by a
/// flight's landing, `sweep()`, a write's sweep, the sweeper thread, a memoizing miss over an
/// expired entry), it has another thread read, write and memoize in the same shard (a map
/// with a capacity has one), and that thread finishes while the listener waits for it.
#[test]
fn the_listener_runs_outside_every_lock_on_every_path() {
    let clock = ManualClock::new();
    let slot: Arc<OnceLock<TtlMap<u32, u32>>> = Arc::default();
    let again = Arc::clone(&slot);
    let blocked = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::clone(&blocked);
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(10))
        .capacity(4)
        .sweep_every(Duration::from_millis(1))
        .clock(clock.clone())
        .on_evict(move |k: &u32, _, reason| {
            if *k >= 1_000 {
                return; // the helper's own keys
            }
            let map = again.get().unwrap().clone();
            let free = another_thread_can(move || {
                let _ = map.get(&1_000);
                map.insert(1_000, 0);
                map.remove(&1_000);
                map.get_or_insert_with(&1_001, || 0);
                map.remove(&1_001);
            });
            if !free {
                b.lock().unwrap().push(reason);
            }
        })
        .build();
    slot.set(map.clone()).ok().unwrap();
    let check = |path: &str| {
        let blocked = std::mem::take(&mut *blocked.lock().unwrap());
        assert!(
            blocked.is_empty(),
            "{path}: the listener ran under a lock ({blocked:?})"
        );
    };
    map.insert(1, 1);
    map.insert(1, 2);
    check("insert over an entry");
    map.remove(&1);
    check("remove");
    map.insert(1, 1);
    map.clear();
    check("clear");
    map.insert(1, 1);
    map.retain(|_, _| false);
    check("retain");
    for k in 0..5 {
        map.insert(k, k);
    }
    check("eviction by an insert");
    map.get_or_insert_with(&5, || 5);
    check("eviction by a landing");
    map.clear();
    map.insert(1, 1);
    clock.advance(Duration::from_secs(11));
    map.get_or_insert_with(&1, || 2);
    check("a miss over an expired entry");
    map.clear();
    map.insert(1, 1);
    clock.advance(Duration::from_secs(11));
    map.sweep();
    check("sweep()");
    map.insert(1, 1);
    clock.advance(Duration::from_secs(11));
    map.insert(2, 2);
    map.insert(3, 3);
    check("a write's sweep");
    map.clear();
    map.insert(1, 1);
    clock.advance(Duration::from_secs(11));
    wait_until("the sweeper swept", || map.is_empty());
    check("the sweeper thread");
}

thread_local! {
    /// The map a [`Sticky`] key's `Drop` uses on this thread, while set.
    static STICKY_MAP: std::cell::RefCell<Option<TtlMap<Sticky, u32>>> =
        const { std::cell::RefCell::new(None) };
}

/// A key whose `Drop` writes to, reads and memoizes in its map (the same shard: the map has
/// a capacity), when one is set on its thread.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Sticky(u32);
impl Drop for Sticky {
    fn drop(&mut self) {
        let Some(map) = STICKY_MAP.with(|m| m.borrow_mut().take()) else {
            return;
        };
        let _ = map.get(&Sticky(500));
        map.insert(Sticky(500), 0);
        map.get_or_insert_with(&Sticky(501), || 0);
        map.remove(&Sticky(500));
        STICKY_MAP.with(|m| *m.borrow_mut() = Some(map));
    }
}

/// A key's `Drop` that uses its map, on every path that drops a key: an insert over an
/// entry (one of the two keys goes), remove, clear, an eviction, an invalidated flight, an
/// attempt not stored, a hit that clones no key. None of them drops a key under a lock.
#[test]
fn a_key_whose_drop_uses_its_map_is_never_dropped_under_a_lock() {
    tests::within(DEADLINE, || {
        let map: TtlMap<Sticky, u32> = TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .capacity(3)
            .build();
        let arm = || STICKY_MAP.with(|m| *m.borrow_mut() = Some(map.clone()));
        arm();
        map.insert(Sticky(1), 1);
        map.insert(Sticky(1), 2);
        map.remove(&Sticky(1));
        map.insert(Sticky(1), 1);
        map.clear();
        for k in 0..5 {
            map.insert(Sticky(k), k);
        }
        map.get_or_insert_with(&Sticky(7), || {
            map.remove(&Sticky(7));
            7
        });
        let _ = map.try_get_or_insert_with(&Sticky(8), || Ok::<_, ()>(8));
        map.get_or_insert_with(&Sticky(8), || 9);
        STICKY_MAP.with(|m| m.borrow_mut().take());
    });
}

// ---------------------------------------------------------------------------------------
// Counters: exact with more threads than stripes, threads that come and go, and calls from
// thread-local destructors (after the thread's stripe was handed back).

static COUNTED_MAP: OnceLock<TtlMap<u32, u32>> = OnceLock::new();

/// Makes 100 calls of the map from its `Drop`, as a thread ends.
struct CallsOnExit;
impl Drop for CallsOnExit {
    fn drop(&mut self) {
        let map = COUNTED_MAP.get().unwrap();
        for k in 0..50 {
            let _ = map.get(&k);
            map.get_or_insert_with(&(k + 50), || k);
        }
    }
}

thread_local!(static ON_EXIT: std::cell::RefCell<Option<CallsOnExit>> =
    const { std::cell::RefCell::new(None) });

/// 96 threads (more than the 31 leased stripes), started in waves so that stripes are handed
/// back and leased again, each making 300 calls and 100 more from a thread-local destructor
/// that runs after its stripe was handed back: `hits + misses` is every call, `inserts`
/// every entry stored (each key is stored once and never leaves).
#[test]
fn counters_are_exact_across_more_threads_than_stripes_and_thread_local_destructors() {
    tests::within(DEADLINE, || {
        let map = COUNTED_MAP.get_or_init(|| TtlMap::new(Duration::from_secs(3_600)));
        for _wave in 0..3 {
            let threads: Vec<_> = (0..32)
                .map(|t| {
                    std::thread::spawn(move || {
                        // Registered first: destroyed after the map's own thread-locals.
                        ON_EXIT.with(|e| *e.borrow_mut() = Some(CallsOnExit));
                        let map = COUNTED_MAP.get().unwrap();
                        for i in 0..100u32 {
                            let k = (i * 7 + t) % 200;
                            let _ = map.get(&k);
                            map.get_or_insert_with(&k, || k);
                            let _ = map.try_get_or_insert_with(&(k + 200), || Err::<u32, ()>(()));
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
        }
        let stats = map.stats();
        assert_eq!(stats.hits + stats.misses, 96 * 400, "{stats:?}");
        assert_eq!(stats.inserts, map.len() as u64, "{stats:?}");
        assert_eq!(map.len(), 200, "{stats:?}");
    });
}

/// A sync leader that panics once five waiters (three sync, two async) wait: each waiter
/// makes its own attempt, and `coalesced` is 5. Then an async leader whose future is
/// dropped while five wait: they start over, one leads and the others wait again, and
/// `coalesced` grows by 5, not more (SPEC: once per call, never twice).
#[test]
fn coalesced_counts_each_waiting_call_once_through_panics_and_abandoned_leaders() {
    tests::quiet_panics(|p| p.is::<PayloadBomb>());
    let map: TtlMap<u32, u32> = TtlMap::new(Duration::from_secs(60));
    let rt = tests::two_worker_runtime();
    let waiters = |key: u32| {
        let (tx, rx) = mpsc::channel();
        for i in 0..5u32 {
            let (map, tx) = (map.clone(), tx.clone());
            if i < 3 {
                std::thread::spawn(move || {
                    let _ = tx.send(map.get_or_insert_with(&key, || {
                        std::thread::yield_now();
                        i
                    }));
                });
            } else {
                rt.spawn(async move {
                    let v = map
                        .get_or_insert_with_async(&key, async move {
                            YieldOnce(false).await;
                            i
                        })
                        .await;
                    let _ = tx.send(v);
                });
            }
        }
        rx
    };
    // A sync leader that panics.
    let leader = {
        let map = map.clone();
        std::thread::spawn(move || {
            map.get_or_insert_with(&1, || {
                wait_until("five waiters", || map.stats().coalesced == 5);
                panic!("boom: the leader");
            })
        })
    };
    wait_until("the leader leads", || map.stats().misses == 1);
    let rx = waiters(1);
    assert!(leader.join().is_err());
    let got = collect(&rx, 5, "waiters of a panicked leader");
    assert!(got.iter().all(|v| *v < 5));
    assert_eq!(map.stats().coalesced, 5, "each waiter counted once");
    // An async leader abandoned.
    let mut leader = tests::Driven::new(
        map.get_or_insert_with_async(&2, async { std::future::pending::<u32>().await }),
    );
    leader.pending();
    let rx = waiters(2);
    wait_until("five more waiters", || map.stats().coalesced == 10);
    drop(leader);
    let got = collect(&rx, 5, "waiters of an abandoned leader");
    assert!(got.iter().all(|v| *v == got[0]), "one of them led for all");
    let stats = map.stats();
    assert_eq!(stats.coalesced, 10, "each waiter counted once: {stats:?}");
    assert_eq!(stats.hits + stats.misses, 12, "{stats:?}");
}

// ---------------------------------------------------------------------------------------
// What a map owns besides its entries.

/// Panics as it is dropped, once `VALUE_DROP_PANICS` is set.
struct Tripwire;
impl Drop for Tripwire {
    fn drop(&mut self) {
        if VALUE_DROP_PANICS.load(SeqCst) {
            panic!("boom: a listener's captured state");
        }
    }
}

/// A map's last handle goes; a value's `Drop` panics, and so does the `Drop` of something
/// its listener captured. Resuming the value's panic from the map's `Drop` while its
/// fields, the listener among them, were still to be dropped made the listener's panic come
/// while one unwound, and the process aborted. The map drops each on its own and resumes
/// neither (a map may be dropped where a panic aborts: a thread-local's destructor).
#[test]
fn a_map_whose_value_and_listener_drops_both_panic_does_not_abort() {
    in_own_process(
        "a_map_whose_value_and_listener_drops_both_panic_does_not_abort",
        || {
            let captured = Tripwire;
            let map: TtlMap<u32, Arc<Grenade>> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .on_evict(move |_, _, _| {
                    let _ = &captured;
                })
                .build();
            map.insert(1, Arc::new(Grenade));
            VALUE_DROP_PANICS.store(true, SeqCst);
            let dropped = std::panic::catch_unwind(AssertUnwindSafe(move || drop(map)));
            VALUE_DROP_PANICS.store(false, SeqCst);
            assert!(dropped.is_ok(), "both panics were caught in the map's drop");
        },
    );
}

/// Listeners run by the sweeper thread that block for a while, build a map of their own
/// with a sweep interval (registering it with the sweeper from its own thread), and use
/// another swept map: the sweeper goes on sweeping every map, the new one included.
#[test]
fn sweeper_listeners_that_block_build_swept_maps_and_use_others_do_not_stop_it() {
    in_own_process(
        "sweeper_listeners_that_block_build_swept_maps_and_use_others_do_not_stop_it",
        || {
            let clock = ManualClock::new();
            let other: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(Duration::from_secs(1))
                .sweep_every(Duration::from_millis(1))
                .clock(clock.clone())
                .build();
            let built: Arc<Mutex<Option<TtlMap<u32, u32>>>> = Arc::default();
            let (o, b, c) = (other.clone(), Arc::clone(&built), clock.clone());
            let map: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(Duration::from_secs(1))
                .sweep_every(Duration::from_millis(1))
                .clock(clock.clone())
                .on_evict(move |_, _, _| {
                    // The attack: a listener that holds the sweeper thread a while.
                    std::thread::sleep(Duration::from_millis(20)); // sleep-ok
                    o.insert(7, 7);
                    o.sweep();
                    let new: TtlMap<u32, u32> = TtlMap::builder()
                        .ttl(Duration::from_secs(1))
                        .sweep_every(Duration::from_millis(1))
                        .clock(c.clone())
                        .build();
                    new.insert(1, 1);
                    *b.lock().unwrap() = Some(new);
                })
                .build();
            map.insert(1, 1);
            clock.advance(Duration::from_secs(2));
            wait_until("swept", || map.is_empty());
            wait_until("the listener built its map", || {
                built.lock().unwrap().is_some()
            });
            clock.advance(Duration::from_secs(2));
            let new = built.lock().unwrap().clone().unwrap();
            wait_until(
                "the maps made and used by the listener are swept too",
                || new.is_empty() && other.is_empty(),
            );
        },
    );
}
