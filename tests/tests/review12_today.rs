//! Review 12, today's changes attacked: `expire_after` asked before the shard's lock is taken
//! (commit 68d3619: `own_life` in map.rs, `store_attempt` and `complete` in memo.rs), and a
//! caught panic that drops its payload guarded with a map's `Drop` that resumes nothing
//! (commit ce4ffd9: payload.rs, `Inner::drop`). Scenarios that may abort run in a child
//! process; every wait has a deadline; time that matters for expiry comes from a
//! `ManualClock`.
use std::future::Future;
use std::hash::BuildHasher;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use cache_core::{Clock, ManualClock, Reason, TtlMap};
use tests::{counts, wait_until};

/// A handle a closure finds once it is put there (a map's own, for its `expire_after`).
type Slot<T> = Arc<Mutex<Option<T>>>;

/// How long a scenario may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(10);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs `name` (this very test) in a child process, where `scenario` runs and its panic
/// fails the child: for scenarios that may abort the process.
fn in_own_process(name: &str, scenario: impl FnOnce()) {
    tests::quiet_panics(|p| p.is::<Nest>());
    tests::in_own_process(name, scenario);
}

/// Runs `f` on another thread; its result, or a failure naming `what` if it takes longer
/// than [`DEADLINE`] (a hang) or panics.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("{what}: no answer within {DEADLINE:?}: a hang"),
    }
}

/// The message of a caught panic, if it is a string.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(m) = payload.downcast_ref::<&str>() {
        m.to_string()
    } else if let Some(m) = payload.downcast_ref::<String>() {
        m.clone()
    } else {
        "<not a string>".to_string()
    }
}

/// A one-shot gate: `open` lets every `pass` through.
#[derive(Clone, Default)]
struct Gate(Arc<AtomicBool>);
impl Gate {
    fn open(&self) {
        self.0.store(true, SeqCst);
    }
    fn pass(&self) {
        wait_until("a gate opens", || self.0.load(SeqCst));
    }
}

// ---------------------------------------------------------------------------------------
// 1. `expire_after` asked before the lock: whose life does the stored entry get?

/// A map whose values declare their own life in seconds (the value itself), of a ttl far
/// longer; `slow` is the value whose `expire_after` waits at `gate` (after saying so on
/// `asked`), and every value asked about is recorded.
struct Lives {
    map: TtlMap<u32, u64>,
    clock: ManualClock,
    asked: Arc<Mutex<Vec<u64>>>,
    in_slow: Gate,
    gate: Gate,
}

fn lives(slow: u64) -> Lives {
    let clock = ManualClock::new();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (in_slow, gate) = (Gate::default(), Gate::default());
    let (a, s, g) = (Arc::clone(&asked), in_slow.clone(), gate.clone());
    let map = TtlMap::builder()
        .ttl(secs(10_000))
        .clock(clock.clone())
        .expire_after(move |_: &u32, v: &u64| {
            a.lock().unwrap().push(*v);
            if *v == slow {
                s.open();
                g.pass();
            }
            Some(secs(*v))
        })
        .build();
    Lives {
        map,
        clock,
        asked,
        in_slow,
        gate,
    }
}

/// Whether `key` is still there `at` seconds after the test's start, and gone at `at + 1`
/// (the clock moves forward only).
fn lives_exactly(l: &Lives, key: u32, value: u64, life: u64) {
    let start = l.clock.now();
    l.clock
        .advance(secs(life) - (l.clock.now() - start) - Duration::from_millis(1));
    assert_eq!(
        l.map.get(&key),
        Some(value),
        "the entry of value {value} is gone before its own life of {life}s"
    );
    l.clock.advance(Duration::from_millis(1));
    assert_eq!(
        l.map.get(&key),
        None,
        "the entry of value {value} outlives its own life of {life}s: it got another value's"
    );
}

/// `expire_after` declares the life of the value it is asked about: two inserts of one key
/// that race (the first one's `expire_after` still running when the second is stored) leave
/// the key with the last stored value and that value's own life, never the other's.
#[test]
fn two_inserts_racing_through_expire_after_each_store_their_own_values_life() {
    for (slow, fast) in [(10, 100), (100, 10)] {
        let l = lives(slow);
        let map = l.map.clone();
        let first = std::thread::spawn(move || map.insert(1, slow));
        l.in_slow.pass();
        // Stored while the first insert's `expire_after` runs, unlocked.
        assert_eq!(l.map.insert(1, fast), None);
        l.gate.open();
        assert_eq!(
            first.join().unwrap(),
            Some(fast),
            "the slow insert replaced it"
        );
        lives_exactly(&l, 1, slow, slow);
        assert_eq!(*l.asked.lock().unwrap(), vec![slow, fast]);
    }
}

/// A memoizing miss asks `expire_after` before its lock, then lands: an insert of the key
/// while it asks invalidates the flight (SPEC: "an insert during a flight is not overwritten
/// by the flight's value"), and the inserted value keeps its own life; a remove while it asks
/// keeps the flight's value out. The leader and a waiter get the flight's value either way.
#[test]
fn a_flight_raced_in_its_expire_after_by_an_insert_or_a_remove_keeps_its_value_out() {
    for race in ["insert", "remove", "clear", "retain"] {
        let l = lives(10);
        let map = l.map.clone();
        let leader = std::thread::spawn(move || map.get_or_insert_with(&1, || 10));
        l.in_slow.pass();
        let map = l.map.clone();
        let waiter_joined = l.map.stats().coalesced;
        assert_eq!(waiter_joined, 0);
        match race {
            "insert" => assert_eq!(l.map.insert(1, 100), None),
            "remove" => assert_eq!(l.map.remove(&1), None),
            "clear" => l.map.clear(),
            _ => l.map.retain(|_, _| true),
        }
        l.gate.open();
        assert_eq!(
            leader.join().unwrap(),
            10,
            "{race}: the leader gets its value"
        );
        let c = counts(&l.map);
        let inserts = u64::from(race == "insert");
        assert_eq!((c[1], c[2]), (1, inserts), "{race}: misses, inserts");
        if race == "insert" {
            lives_exactly(&l, 1, 100, 100);
        } else {
            assert_eq!(map.get(&1), None, "{race}: invalidation wins");
            assert_eq!(map.len(), 0, "{race}");
        }
    }
}

/// A flight with a sync and an async waiter races an insert of a shorter life while its
/// `expire_after` runs: both waiters get the flight's value from the flight; the map keeps
/// the insert's value and life.
#[test]
fn waiters_of_a_flight_raced_in_its_expire_after_get_its_value() {
    let l = lives(50);
    let go = Gate::default();
    let map = l.map.clone();
    let g = go.clone();
    let leader = std::thread::spawn(move || {
        map.get_or_insert_with(&1, || {
            g.pass();
            50
        })
    });
    wait_until("the leader leads", || l.map.stats().misses == 1);
    let map = l.map.clone();
    let sync_waiter = std::thread::spawn(move || map.get_or_insert_with(&1, || 1));
    let map = l.map.clone();
    let async_waiter =
        std::thread::spawn(move || tests::block_on(map.get_or_insert_with_async(&1, async { 2 })));
    wait_until("both wait", || l.map.stats().coalesced == 2);
    go.open();
    l.in_slow.pass();
    assert_eq!(l.map.insert(1, 5), None);
    l.gate.open();
    assert_eq!(leader.join().unwrap(), 50);
    assert_eq!(sync_waiter.join().unwrap(), 50);
    assert_eq!(async_waiter.join().unwrap(), 50);
    lives_exactly(&l, 1, 5, 5);
    assert_eq!(*l.asked.lock().unwrap(), vec![50, 5]);
}

// ---------------------------------------------------------------------------------------
// 2. `expire_after` that uses its own map.

/// `expire_after` uses its own map every way it can, for other keys and for the key being
/// stored (but memoizing that key, which waits for itself), on this thread and on another
/// one it waits for, from inserts, memoizing misses and own attempts on four threads: nothing
/// hangs or panics, and every call gets its value.
#[test]
fn an_expire_after_that_uses_its_own_map_every_way_from_every_store_path() {
    within("expire_after using its map", || {
        let slot: Slot<TtlMap<u32, u32>> = Arc::default();
        let s = Arc::clone(&slot);
        let depth = Arc::new(AtomicUsize::new(0));
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(secs(60))
            .capacity(64)
            .expire_after(move |k: &u32, v: &u32| {
                let map = s.lock().unwrap().clone()?;
                if *k >= 1000 {
                    return Some(secs(30));
                }
                let other = 1000 + (k * 7 + v) % 16;
                match v % 9 {
                    0 => drop(map.insert(other, *v)),
                    1 => drop(map.remove(&other)),
                    2 => drop(map.get(k)),
                    3 => drop(map.get_or_insert_with(&other, || 3)),
                    4 => map.retain(|key, _| *key != other),
                    5 => drop(map.contains_key(k)),
                    6 => drop(map.iter().count()),
                    7 => {
                        // Another thread, waited for, uses the same shard and key.
                        let (m, k) = (map.clone(), *k);
                        std::thread::spawn(move || {
                            m.get(&k);
                            m.insert(other, 1);
                            m.remove(&other);
                            m.sweep();
                        })
                        .join()
                        .unwrap();
                    }
                    _ => drop(map.len() + map.sweep()),
                }
                Some(secs(u64::from(*v % 5 + 1)))
            })
            .build();
        *slot.lock().unwrap() = Some(map.clone());
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let (map, depth) = (map.clone(), Arc::clone(&depth));
                std::thread::spawn(move || {
                    for i in 0..300u32 {
                        let k = (i * 3 + t) % 20;
                        let v = i + t;
                        match i % 3 {
                            0 => drop(map.insert(k, v)),
                            1 => assert!(map.get_or_insert_with(&k, || v) < 10_000),
                            _ => {
                                let got: Result<u32, String> =
                                    map.try_get_or_insert_with(&k, || Ok(v));
                                assert!(got.is_ok());
                            }
                        }
                        depth.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        *slot.lock().unwrap() = None;
        assert_eq!(depth.load(SeqCst), 1200);
        assert!(map.len() <= 64);
    });
}

/// `expire_after` run as a memoizing miss lands asks the map for the very key it is asked
/// about: `get` and `contains_key` see no value yet, an `insert` of it invalidates the
/// flight (the insert's value stays), a `remove` keeps the flight's value out.
#[test]
fn an_expire_after_that_uses_the_key_it_is_asked_about_during_a_flight() {
    for (use_, expected) in [("get", Some(7)), ("insert", Some(99)), ("remove", None)] {
        within(use_, move || {
            let slot: Slot<TtlMap<u32, u32>> = Arc::default();
            let s = Arc::clone(&slot);
            let seen = Arc::new(Mutex::new(Vec::new()));
            let seen2 = Arc::clone(&seen);
            let map: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(secs(60))
                .expire_after(move |k: &u32, v: &u32| {
                    let map = s.lock().unwrap().clone()?;
                    if *v == 7 {
                        match use_ {
                            "get" => seen2.lock().unwrap().push(map.get(k)),
                            "insert" => seen2.lock().unwrap().push(map.insert(*k, 99)),
                            _ => seen2.lock().unwrap().push(map.remove(k)),
                        }
                    }
                    None
                })
                .build();
            *slot.lock().unwrap() = Some(map.clone());
            assert_eq!(map.get_or_insert_with(&1, || 7), 7);
            assert_eq!(
                *seen.lock().unwrap(),
                vec![None],
                "{use_}: nothing stored yet"
            );
            assert_eq!(map.get(&1), expected, "{use_}");
            *slot.lock().unwrap() = None;
        });
    }
}

/// The same key memoized from its own `expire_after` during the landing of a flight this
/// thread leads cannot wait for that flight: it panics (as a constructor asking for its own
/// key does) rather than hang; the flight's waiter still gets the value; nothing is stored.
#[test]
fn an_expire_after_memoizing_the_key_its_flight_lands_does_not_hang() {
    tests::quiet_panics(|p| p.is::<Nest>());
    within("expire_after memoizing its own key", || {
        let slot: Slot<TtlMap<u32, u32>> = Arc::default();
        let s = Arc::clone(&slot);
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(secs(60))
            .expire_after(move |k: &u32, v: &u32| {
                let map = s.lock().unwrap().clone()?;
                if *v == 7 {
                    map.get_or_insert_with(k, || 8);
                }
                None
            })
            .build();
        *slot.lock().unwrap() = Some(map.clone());
        let go = Gate::default();
        let (m, g) = (map.clone(), go.clone());
        let leader = std::thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                m.get_or_insert_with(&1, || {
                    g.pass();
                    7
                })
            }))
        });
        wait_until("the leader leads", || map.stats().misses == 1);
        let m = map.clone();
        let waiter = std::thread::spawn(move || m.get_or_insert_with(&1, || 9));
        wait_until("the waiter waits", || map.stats().coalesced == 1);
        go.open();
        let led = leader.join().unwrap();
        let waited = waiter.join().unwrap();
        assert_eq!(waited, 7, "the waiter gets the flight's value");
        let p = led.expect_err("the re-entrant call panics, and so does its leader's call");
        assert!(
            message(&*p).contains("re-entrant"),
            "the leader's panic says what happened: {}",
            message(&*p)
        );
        assert_eq!(
            map.get(&1),
            None,
            "a landing whose expire_after panicked stores nothing"
        );
        *slot.lock().unwrap() = None;
    });
}

/// A cycle through `expire_after`: key 1's constructor is done and its `expire_after`
/// memoizes key 2, whose constructor, on another thread, waits for key 1's flight. As
/// between constructors (README: the wait that would close a cycle panics), the wait panics
/// instead of hanging both threads: key 1's waiter gets its value, key 2 is stored, and key
/// 1's call panics with the message.
#[test]
fn a_cycle_through_expire_after_and_another_threads_constructor_panics_rather_than_hangs() {
    tests::quiet_panics(|p| p.is::<Nest>());
    within("a cycle through expire_after", || {
        let slot: Slot<TtlMap<u32, u32>> = Arc::default();
        let s = Arc::clone(&slot);
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(secs(60))
            .expire_after(move |k: &u32, _: &u32| {
                let map = s.lock().unwrap().clone()?;
                if *k == 1 {
                    map.get_or_insert_with(&2, || 20);
                }
                None
            })
            .build();
        *slot.lock().unwrap() = Some(map.clone());
        let go = Gate::default();
        let (m, g) = (map.clone(), go.clone());
        let one = std::thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                m.get_or_insert_with(&1, || {
                    g.pass();
                    10
                })
            }))
        });
        wait_until("key 1 leads", || map.stats().misses == 1);
        let m = map.clone();
        let two = std::thread::spawn(move || {
            m.get_or_insert_with(&2, || m.get_or_insert_with(&1, || 11) + 1)
        });
        wait_until("key 2's constructor waits for key 1", || {
            map.stats().coalesced == 1
        });
        go.open();
        let one = one.join().unwrap();
        assert_eq!(
            two.join().unwrap(),
            11,
            "key 2's constructor got key 1's value"
        );
        let p = one.expect_err("the wait that closes the cycle panics");
        assert!(message(&*p).contains("deadlock"), "{}", message(&*p));
        assert_eq!(map.get(&2), Some(11));
        *slot.lock().unwrap() = None;
    });
}

// ---------------------------------------------------------------------------------------
// 3. Panics in `expire_after` and in the key's `Clone` (asked for in `complete`).

/// A key whose `Clone` (and `Drop`, of clones made while armed) panics while `ARMED`.
#[derive(PartialEq, Eq, Hash, Debug)]
struct Touchy(u32);
static CLONE_PANICS: AtomicBool = AtomicBool::new(false);
static CLONE_DROP_PANICS: AtomicBool = AtomicBool::new(false);
impl Clone for Touchy {
    fn clone(&self) -> Self {
        if CLONE_PANICS.swap(false, SeqCst) {
            panic!("boom: a key's Clone");
        }
        if CLONE_DROP_PANICS.load(SeqCst) {
            return Touchy(self.0 + 1_000_000);
        }
        Touchy(self.0)
    }
}
impl Drop for Touchy {
    fn drop(&mut self) {
        if self.0 >= 1_000_000 && CLONE_DROP_PANICS.swap(false, SeqCst) {
            panic!("boom: a cloned key's Drop");
        }
    }
}

/// What fails in a flight's landing.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    ExpireAfter,
    KeyClone,
    KeyCloneDrop,
}

/// A flight with a sync and an async waiter lands while `fault` panics (in `expire_after`,
/// in the key's `Clone` that `complete` makes for it, or in that clone's `Drop`): the waiters
/// get the value from the flight, the leader's call panics with that panic, the value is not
/// stored, and the counters are exact (one miss, two coalesced, no insert). The key's tests
/// run one after the other: the faults are process-wide switches.
#[test]
fn a_landing_whose_expire_after_or_key_clone_panics_still_hands_its_waiters_the_value() {
    tests::quiet_panics(|p| p.is::<Nest>());
    for fault in [Fault::ExpireAfter, Fault::KeyClone, Fault::KeyCloneDrop] {
        within("a panicking landing", move || {
            let armed = Arc::new(AtomicBool::new(false));
            let asked = Arc::new(AtomicUsize::new(0));
            let (a, n) = (Arc::clone(&armed), Arc::clone(&asked));
            let map: TtlMap<Touchy, u64> = TtlMap::builder()
                .ttl(secs(60))
                .expire_after(move |_, _| {
                    n.fetch_add(1, SeqCst);
                    if a.swap(false, SeqCst) {
                        panic!("boom: expire_after");
                    }
                    Some(secs(5))
                })
                .build();
            let go = Gate::default();
            let (m, g) = (map.clone(), go.clone());
            let leader = std::thread::spawn(move || {
                catch_unwind(AssertUnwindSafe(|| {
                    m.get_or_insert_with(&Touchy(1), || {
                        g.pass();
                        match fault {
                            Fault::ExpireAfter => armed.store(true, SeqCst),
                            Fault::KeyClone => CLONE_PANICS.store(true, SeqCst),
                            Fault::KeyCloneDrop => CLONE_DROP_PANICS.store(true, SeqCst),
                        }
                        7
                    })
                }))
            });
            wait_until("the leader leads", || map.stats().misses == 1);
            let m = map.clone();
            let sync_waiter = std::thread::spawn(move || m.get_or_insert_with(&Touchy(1), || 8));
            let m = map.clone();
            let async_waiter = std::thread::spawn(move || {
                tests::block_on(m.get_or_insert_with_async(&Touchy(1), async { 9 }))
            });
            wait_until("both wait", || map.stats().coalesced == 2);
            go.open();
            let led = leader.join().unwrap();
            assert_eq!(sync_waiter.join().unwrap(), 7, "{fault:?}: sync waiter");
            assert_eq!(async_waiter.join().unwrap(), 7, "{fault:?}: async waiter");
            let payload = led.expect_err("the leader's call panics with the landing's panic");
            assert!(message(&*payload).starts_with("boom"), "{fault:?}");
            assert!(!CLONE_PANICS.load(SeqCst) && !CLONE_DROP_PANICS.load(SeqCst));
            assert_eq!(map.get(&Touchy(1)), None, "{fault:?}: not stored");
            // misses (three calls and the get above), inserts, coalesced
            let c = counts(&map);
            assert_eq!((c[1], c[2], c[5]), (4, 0, 2), "{fault:?}: counters");
            let expected_asks = usize::from(fault != Fault::KeyClone);
            assert_eq!(
                asked.load(SeqCst),
                expected_asks,
                "{fault:?}: expire_after asked"
            );
            // The key is free again: the next call leads and stores.
            assert_eq!(map.get_or_insert_with(&Touchy(1), || 11), 11);
            assert_eq!(map.get(&Touchy(1)), Some(11));
        });
    }
}

/// A refresh whose `expire_after` panics panics in its caller, keeps the old value, is not
/// counted, and leaves the entry due: the next memoizing call refreshes it (builder docs of
/// `refresh_after`).
#[test]
fn a_refresh_whose_expire_after_panics_keeps_the_old_value_and_stays_due() {
    tests::quiet_panics(|p| p.is::<Nest>());
    let clock = ManualClock::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&asked);
    let map: TtlMap<u32, u64> = TtlMap::builder()
        .ttl(secs(100))
        .refresh_after(secs(10))
        .clock(clock.clone())
        .expire_after(move |_, v| {
            n.fetch_add(1, SeqCst);
            if *v == 2 {
                panic!("boom: expire_after of a refresh");
            }
            None
        })
        .build();
    assert_eq!(map.get_or_insert_with(&1, || 1), 1);
    clock.advance(secs(11));
    let refreshed = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&1, || 2)));
    assert!(refreshed.is_err(), "the refresh's caller sees the panic");
    assert_eq!(map.get(&1), Some(1), "the old value is kept");
    let s = map.stats();
    assert_eq!((s.refreshes, s.refresh_failures), (0, 0), "not counted");
    let third = map.get_or_insert_with(&1, || 3);
    assert!(third == 3 || third == 1, "{third}");
    assert_eq!(
        map.get(&1),
        Some(3),
        "still due: the next call refreshed it"
    );
    assert_eq!(map.stats().refreshes, 1);
    assert_eq!(asked.load(SeqCst), 3);
}

/// Under `stale_if_error`, the rebuild of an expired entry that succeeds but whose
/// `expire_after` panics panics in its caller; the stale value stays stale (a later failing
/// rebuild is still served it), and nothing expired is returned by `get`.
#[test]
fn a_stale_rebuild_whose_expire_after_panics_leaves_the_stale_value_for_later_failures() {
    tests::quiet_panics(|p| p.is::<Nest>());
    let clock = ManualClock::new();
    let map: TtlMap<u32, u64> = TtlMap::builder()
        .ttl(secs(10))
        .stale_if_error(secs(100))
        .clock(clock.clone())
        .expire_after(|_, v| {
            if *v == 2 {
                panic!("boom: expire_after of a rebuild");
            }
            None
        })
        .build();
    assert_eq!(map.get_or_insert_with(&1, || 1), 1);
    clock.advance(secs(11));
    let rebuilt = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&1, || 2)));
    assert!(rebuilt.is_err());
    assert_eq!(map.get(&1), None, "get never returns an expired value");
    let failed: Result<u64, &str> = map.try_get_or_insert_with(&1, || Err("down"));
    assert_eq!(failed, Ok(1), "the stale value is still served on failure");
}

/// `expire_after` is asked once per value stored, on every path that stores (insert, a
/// memoizing miss, a refresh, an own attempt after a failed flight), never on a hit, and
/// never at capacity 0, where nothing is stored. Asked for a value an invalidation then
/// keeps out, it is asked once too (docs: "once per value about to be stored").
#[test]
fn expire_after_is_asked_once_per_stored_value_on_every_path() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let make = |capacity: Option<usize>| {
        let a = Arc::clone(&asked);
        let clock = ManualClock::new();
        let b = TtlMap::builder()
            .ttl(secs(100))
            .refresh_after(secs(10))
            .clock(clock.clone())
            .expire_after(move |_: &u32, v: &u64| {
                a.lock().unwrap().push(*v);
                None
            });
        let map: TtlMap<u32, u64> = match capacity {
            Some(c) => b.capacity(c).build(),
            None => b.build(),
        };
        (map, clock)
    };
    let (map, clock) = make(None);
    map.insert(1, 1);
    assert_eq!(map.get_or_insert_with(&2, || 2), 2);
    assert_eq!(map.get_or_insert_with(&2, || 0), 2); // a hit
    assert_eq!(map.get(&1), Some(1));
    clock.advance(secs(11));
    map.get_or_insert_with(&2, || 3); // a refresh
    assert_eq!(map.get(&2), Some(3));
    // An own attempt: the waiter of a flight whose error it cannot share makes its own.
    let go = Gate::default();
    let (m, g) = (map.clone(), go.clone());
    let leader = std::thread::spawn(move || {
        let r: Result<u64, String> = m.try_get_or_insert_with(&4, || {
            g.pass();
            Err("no".to_string())
        });
        r
    });
    wait_until("the leader leads", || map.stats().misses == 2);
    let m = map.clone();
    let waiter = std::thread::spawn(move || {
        let r: Result<u64, String> = m.try_get_or_insert_with(&4, || Ok(4));
        r
    });
    wait_until("the waiter waits", || map.stats().coalesced == 1);
    go.open();
    assert!(leader.join().unwrap().is_err());
    assert_eq!(waiter.join().unwrap(), Ok(4));
    assert_eq!(map.get(&4), Some(4));
    assert_eq!(*asked.lock().unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(map.stats().inserts, 4);
    asked.lock().unwrap().clear();
    let (zero, _) = make(Some(0));
    zero.insert(1, 1);
    assert_eq!(zero.get_or_insert_with(&2, || 2), 2);
    assert!(zero.is_empty());
    assert!(
        asked.lock().unwrap().is_empty(),
        "capacity 0 stores nothing"
    );
}

// ---------------------------------------------------------------------------------------
// 4. Caught panics whose payloads panic as they are dropped, and a map's `Drop`.

/// A panic payload whose `Drop` panics with a `Nest` one level shallower, down to 0: a chain
/// of `depth + 1` panics, more than a `Panic`'s eight tries when deep.
struct Nest(u32);
impl Drop for Nest {
    fn drop(&mut self) {
        if self.0 > 0 {
            std::panic::panic_any(Nest(self.0 - 1));
        }
    }
}

/// Drops a caught payload, and the payloads of the panics its `Drop` throws: the test's
/// own way of letting go of a [`Nest`].
fn defuse(mut payload: Box<dyn std::any::Any + Send>) {
    while let Err(next) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        payload = next;
    }
}

/// A value whose `Drop` panics with a deep [`Nest`] while `NESTS` is set.
struct Nester(u32);
static NESTS: AtomicBool = AtomicBool::new(false);
impl Drop for Nester {
    fn drop(&mut self) {
        if NESTS.load(SeqCst) {
            std::panic::panic_any(Nest(self.0));
        }
    }
}

/// `clear` of entries whose value `Drop`s and listener panic with payloads that panic as
/// they are dropped, twenty deep (more than eight): every entry is heard and dropped, `clear`
/// panics in its caller with the first payload, and the map is usable after.
#[test]
fn clear_with_listener_and_drops_panicking_twenty_deep_hears_every_entry() {
    in_own_process(
        "clear_with_listener_and_drops_panicking_twenty_deep_hears_every_entry",
        || {
            let heard = Arc::new(AtomicUsize::new(0));
            let h = Arc::clone(&heard);
            let map: TtlMap<u32, Arc<Nester>> = TtlMap::builder()
                .ttl(secs(60))
                .on_evict(move |_, _, _| {
                    h.fetch_add(1, SeqCst);
                    std::panic::panic_any(Nest(20));
                })
                .build();
            for k in 0..40 {
                map.insert(k, Arc::new(Nester(20)));
            }
            NESTS.store(true, SeqCst);
            let cleared = catch_unwind(AssertUnwindSafe(|| map.clear()));
            NESTS.store(false, SeqCst);
            let payload = cleared.expect_err("clear passes the first panic on");
            assert!(payload.is::<Nest>());
            defuse(payload);
            assert_eq!(heard.load(SeqCst), 40, "every entry heard");
            assert!(map.is_empty());
            assert_eq!(map.stats().inserts, 40);
            map.insert(1, Arc::new(Nester(0)));
            assert_eq!(map.len(), 1);
        },
    );
}

/// A memoizing landing whose `expire_after` panics with a payload that panics as dropped,
/// while a waiter's value `Clone` panics with another: the first goes on in the leader, the
/// second is dropped guarded; no abort, the waiters are all answered.
#[test]
fn a_landing_whose_expire_after_and_a_waiters_clone_both_panic_with_nests_does_not_abort() {
    in_own_process(
        "a_landing_whose_expire_after_and_a_waiters_clone_both_panic_with_nests_does_not_abort",
        || {
            #[derive(Debug)]
            struct Brittle(u32);
            static CLONES_PANIC: AtomicBool = AtomicBool::new(false);
            impl Clone for Brittle {
                fn clone(&self) -> Self {
                    if CLONES_PANIC.load(SeqCst) {
                        std::panic::panic_any(Nest(12));
                    }
                    Brittle(self.0)
                }
            }
            let map: TtlMap<u32, Brittle> = TtlMap::builder()
                .ttl(secs(60))
                .expire_after(|_, _| {
                    // After the map's own copy: the waiters' clones panic from here on.
                    CLONES_PANIC.store(true, SeqCst);
                    std::panic::panic_any(Nest(12));
                })
                .build();
            let go = Gate::default();
            let (m, g) = (map.clone(), go.clone());
            let leader = std::thread::spawn(move || {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    m.get_or_insert_with(&1, || {
                        g.pass();
                        Brittle(7)
                    })
                }));
                match r {
                    Ok(_) => false,
                    Err(p) => {
                        let nest = p.is::<Nest>();
                        defuse(p);
                        nest
                    }
                }
            });
            wait_until("the leader leads", || map.stats().misses == 1);
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let m = map.clone();
                    std::thread::spawn(move || {
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            m.get_or_insert_with(&1, || Brittle(8)).0
                        }));
                        r.map_err(defuse).ok()
                    })
                })
                .collect();
            wait_until("the waiters wait", || map.stats().coalesced == 3);
            go.open();
            assert!(
                leader.join().unwrap(),
                "the leader gets expire_after's panic"
            );
            for w in waiters {
                // Each waiter got the value, or a panic of its own attempt: never a hang.
                let _ = w.join().unwrap();
            }
            CLONES_PANIC.store(false, SeqCst);
        },
    );
}

/// A hasher whose `Drop` panics (user code the builder takes, like the listener and the
/// clock). SPEC: nothing in user code (Drop, ...) can abort the process, also during
/// thread-local destruction.
#[derive(Default)]
struct BombHasher(std::collections::hash_map::RandomState);
static HASHER_DROP_PANICS: AtomicBool = AtomicBool::new(false);
impl BuildHasher for BombHasher {
    type Hasher = std::collections::hash_map::DefaultHasher;
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}
impl Drop for BombHasher {
    fn drop(&mut self) {
        if HASHER_DROP_PANICS.load(SeqCst) {
            panic!("boom: a hasher's Drop");
        }
    }
}

/// A map whose hasher's `Drop` panics, held in a thread-local: the thread ends, the map goes
/// with its thread-locals, and the hasher's panic must not leave the thread-local's
/// destructor (that aborts the process). The map's `Drop` guards its listener,
/// `expire_after` and clock, not its hasher.
#[test]
fn a_map_in_a_thread_local_whose_hasher_drop_panics_does_not_abort() {
    in_own_process(
        "a_map_in_a_thread_local_whose_hasher_drop_panics_does_not_abort",
        || {
            thread_local! {
                static LOCAL: TtlMap<u32, u32, BombHasher> = TtlMap::builder()
                    .ttl(secs(60))
                    .hasher(BombHasher::default())
                    .build();
            }
            std::thread::spawn(|| {
                LOCAL.with(|map| map.insert(1, 1));
                HASHER_DROP_PANICS.store(true, SeqCst);
            })
            .join()
            .ok();
            HASHER_DROP_PANICS.store(false, SeqCst);
        },
    );
}

/// The same hasher, its map's last handle dropped while a panic unwinds (a guard's `Drop`).
#[test]
fn a_map_whose_hasher_drop_panics_dropped_while_unwinding_does_not_abort() {
    in_own_process(
        "a_map_whose_hasher_drop_panics_dropped_while_unwinding_does_not_abort",
        || {
            let map: TtlMap<u32, u32, BombHasher> = TtlMap::builder()
                .ttl(secs(60))
                .hasher(BombHasher::default())
                .build();
            map.insert(1, 1);
            HASHER_DROP_PANICS.store(true, SeqCst);
            let unwound = catch_unwind(AssertUnwindSafe(move || {
                let _held = map;
                panic!("boom: unwinding with the map");
            }));
            HASHER_DROP_PANICS.store(false, SeqCst);
            assert!(unwound.is_err());
        },
    );
}

/// A clock whose `Drop` panics with a deep [`Nest`] while `NESTS` is set.
struct NestClock(ManualClock);
impl Clock for NestClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}
impl Drop for NestClock {
    fn drop(&mut self) {
        if NESTS.load(SeqCst) {
            std::panic::panic_any(Nest(20));
        }
    }
}

/// Something captured by a closure, whose `Drop` panics with a deep [`Nest`] under `NESTS`.
struct Captured;
impl Drop for Captured {
    fn drop(&mut self) {
        if NESTS.load(SeqCst) {
            std::panic::panic_any(Nest(20));
        }
    }
}

/// A map whose every user part panics twenty deep as dropped: values, keys' holders,
/// listener, `expire_after` and clock.
fn doomed_map() -> TtlMap<u32, Arc<Nester>> {
    let (l, e) = (Captured, Captured);
    let map: TtlMap<u32, Arc<Nester>> = TtlMap::builder()
        .ttl(secs(60))
        .clock(NestClock(ManualClock::new()))
        .on_evict(move |_, _, _| {
            let _ = &l;
        })
        .expire_after(move |_, _| {
            let _ = &e;
            None
        })
        .build();
    for k in 0..10 {
        map.insert(k, Arc::new(Nester(20)));
    }
    map
}

/// Maps whose every part panics twenty deep as dropped, dropped in a thread-local's
/// destructor, while a panic unwinds, and plainly: no abort, the plain drop returns.
#[test]
fn maps_whose_every_part_panics_deep_on_drop_never_abort() {
    in_own_process(
        "maps_whose_every_part_panics_deep_on_drop_never_abort",
        || {
            thread_local! {
                static LOCAL: std::cell::RefCell<Option<TtlMap<u32, Arc<Nester>>>> =
                    const { std::cell::RefCell::new(None) };
            }
            std::thread::spawn(|| {
                LOCAL.with(|l| *l.borrow_mut() = Some(doomed_map()));
                NESTS.store(true, SeqCst);
            })
            .join()
            .unwrap();
            let map = doomed_map();
            NESTS.store(true, SeqCst);
            let unwound = catch_unwind(AssertUnwindSafe(move || {
                let _held = map;
                panic!("boom: unwinding with the map");
            }));
            assert!(unwound.is_err());
            NESTS.store(false, SeqCst);
            let map = doomed_map();
            NESTS.store(true, SeqCst);
            drop(map);
            NESTS.store(false, SeqCst);
        },
    );
}

/// A map whose last handle goes on the sweeper thread (its listener, run by the sweep,
/// holds the sweep until the test has dropped its handle), its values panicking twenty deep
/// as dropped: the sweeper thread lives on and sweeps another map.
#[test]
fn a_map_last_dropped_on_the_sweeper_thread_does_not_kill_it() {
    in_own_process(
        "a_map_last_dropped_on_the_sweeper_thread_does_not_kill_it",
        || {
            let clock = ManualClock::new();
            let in_sweep = Gate::default();
            let dropped = Gate::default();
            let (i, d) = (in_sweep.clone(), dropped.clone());
            let map: TtlMap<u32, Arc<Nester>> = TtlMap::builder()
                .ttl(secs(1))
                .sweep_every(Duration::from_millis(1))
                .clock(clock.clone())
                .on_evict(move |_, _, reason| {
                    if reason == Reason::Expired {
                        i.open();
                        d.pass();
                    }
                })
                .build();
            // The expired entry is swept; the others stay live for the map's drop.
            map.insert(0, Arc::new(Nester(0)));
            clock.advance(secs(2));
            for k in 1..10 {
                map.insert(k, Arc::new(Nester(20)));
            }
            in_sweep.pass();
            NESTS.store(true, SeqCst);
            drop(map);
            dropped.open();
            let other: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(secs(1))
                .sweep_every(Duration::from_millis(1))
                .clock(clock.clone())
                .build();
            other.insert(1, 1);
            clock.advance(secs(2));
            wait_until("the sweeper thread sweeps another map", || other.is_empty());
            NESTS.store(false, SeqCst);
            assert!(other.is_empty(), "the sweeper thread is dead");
        },
    );
}

/// Map B lives in map A's listener, which drops it on hearing a removal; B's values panic
/// twenty deep as dropped, and use map A from their `Drop`: A's `remove` returns normally
/// (B's drop resumes nothing), and A stays usable.
#[test]
fn a_map_dropped_from_another_maps_listener_neither_aborts_nor_fails_the_removal() {
    in_own_process(
        "a_map_dropped_from_another_maps_listener_neither_aborts_nor_fails_the_removal",
        || {
            let holder: Slot<TtlMap<u32, Arc<Nester>>> = Arc::default();
            let h = Arc::clone(&holder);
            let a: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(secs(60))
                .on_evict(move |_, _, _| {
                    let b = h.lock().unwrap().take();
                    drop(b);
                })
                .build();
            let b = doomed_map();
            *holder.lock().unwrap() = Some(b);
            a.insert(1, 1);
            NESTS.store(true, SeqCst);
            let removed = catch_unwind(AssertUnwindSafe(|| a.remove(&1)));
            NESTS.store(false, SeqCst);
            assert_eq!(removed.ok(), Some(Some(1)), "the removal returns its value");
            assert!(holder.lock().unwrap().is_none());
            a.insert(2, 2);
            assert_eq!(a.get(&2), Some(2));
        },
    );
}

// ---------------------------------------------------------------------------------------
// 5. Operations whose user code panicked still panic in their caller.

/// A value `Drop` that panics while `DROP_PANICS`.
struct Grenade;
static DROP_PANICS: AtomicBool = AtomicBool::new(false);
impl Drop for Grenade {
    fn drop(&mut self) {
        if DROP_PANICS.load(SeqCst) {
            panic!("boom: a value's Drop");
        }
    }
}

/// Every operation whose user code (a value's `Drop`, the listener) panicked panics in its
/// caller, even now that payloads are dropped guarded and a map's `Drop` resumes nothing:
/// insert (replacing), remove, clear, retain, sweep, and a store that evicts for capacity.
#[test]
fn operations_whose_user_code_panicked_still_panic_in_their_caller() {
    in_own_process(
        "operations_whose_user_code_panicked_still_panic_in_their_caller",
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, Arc<Grenade>> = TtlMap::builder()
                .ttl(secs(10))
                .capacity(4)
                .clock(clock.clone())
                .build();
            let mut seen = Vec::new();
            let mut panics = |name: &str, op: &dyn Fn()| {
                for k in 0..4 {
                    map.insert(k, Arc::new(Grenade));
                }
                DROP_PANICS.store(true, SeqCst);
                let r = catch_unwind(AssertUnwindSafe(op));
                DROP_PANICS.store(false, SeqCst);
                seen.push((name.to_string(), r.is_err()));
                map.clear();
                clock.advance(secs(1));
            };
            panics("insert", &|| drop(map.insert(1, Arc::new(Grenade))));
            panics("remove", &|| drop(map.remove(&1)));
            panics("clear", &|| map.clear());
            panics("retain", &|| map.retain(|k, _| *k != 1));
            panics("evict", &|| drop(map.insert(9, Arc::new(Grenade))));
            panics("sweep", &|| {
                clock.advance(secs(20));
                map.sweep();
            });
            panics("memoize-evict", &|| {
                drop(map.get_or_insert_with(&10, || Arc::new(Grenade)))
            });
            let quiet: Vec<_> = seen.iter().filter(|(_, p)| !p).collect();
            assert!(
                quiet.is_empty(),
                "these swallowed a Drop's panic: {quiet:?}"
            );
        },
    );
}

/// A key whose `Drop` panics while `FUSE_LIT`, for key 1 only.
#[derive(PartialEq, Eq, Hash, Clone)]
struct Fuse(u32);
static FUSE_LIT: AtomicBool = AtomicBool::new(false);
impl Drop for Fuse {
    fn drop(&mut self) {
        if self.0 == 1 && FUSE_LIT.load(SeqCst) {
            panic!("boom: a key's Drop");
        }
    }
}

/// A map in a thread-local still has a flight registered, its leader's future forgotten
/// (`mem::forget`, which is safe) after its first poll; the flight's copy of the key panics
/// as it is dropped. The map's `Drop` drops its entries on their own, but the flights'
/// keys went with its fields, unguarded, out of the thread-local's destructor: an abort.
#[test]
fn a_map_in_a_thread_local_with_a_forgotten_flight_whose_key_drop_panics_does_not_abort() {
    in_own_process(
        "a_map_in_a_thread_local_with_a_forgotten_flight_whose_key_drop_panics_does_not_abort",
        || {
            thread_local! {
                static LOCAL: TtlMap<Fuse, u32> = TtlMap::new(secs(60));
            }
            std::thread::spawn(|| {
                LOCAL.with(|map| {
                    // Leaked with the call: borrowed by it for good.
                    let key: &'static Fuse = Box::leak(Box::new(Fuse(1)));
                    let mut call =
                        Box::pin(map.get_or_insert_with_async(key, std::future::pending()));
                    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                    assert!(call.as_mut().poll(&mut cx).is_pending());
                    std::mem::forget(call);
                    assert_eq!(map.stats().misses, 1);
                });
                FUSE_LIT.store(true, SeqCst);
            })
            .join()
            .ok();
            FUSE_LIT.store(false, SeqCst);
        },
    );
}

// ---------------------------------------------------------------------------------------
// 6. The fleet tier wraps `expire_after` for its L1.

/// A fleet map's `expire_after` uses its own map (`get`, `contains_key`: no lock is held as
/// it is asked; a `remove` is left out, as the backplane hears it back as a `retain` of the
/// L1, which keeps every flight in progress in this process from storing), and the L1 entry of a value built here lives its
/// own declared life (L1 time from a `ManualClock`), whatever another value's was.
#[test]
fn a_fleet_maps_expire_after_may_use_its_map_and_gives_each_l1_entry_its_own_life() {
    use cache_core::redis::{RedisTier, Shared};
    use tests::redis_server::RedisServer;
    let server = RedisServer::start();
    let runtime = tests::two_worker_runtime();
    let clock = ManualClock::new();
    let slot: Slot<Arc<Shared<u32, u64>>> = Arc::default();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (s, a) = (Arc::clone(&slot), Arc::clone(&asked));
    let map = TtlMap::<u32, u64>::builder()
        .ttl(secs(1_000))
        .clock(clock.clone())
        .name("review12_today::lives")
        .expire_after(move |k: &u32, v: &u64| {
            a.lock().unwrap().push(*v);
            let map = s.lock().unwrap().clone();
            if let Some(map) = map {
                map.get(&(k + 100));
                map.contains_key(k);
            }
            Some(secs(*v))
        })
        .shared(
            RedisTier::new(server.url())
                .expect("a Redis URL")
                .namespace("review12_today")
                .timeout(secs(2)),
        )
        .build();
    let map = Arc::new(map);
    *slot.lock().unwrap() = Some(Arc::clone(&map));
    // Values fetched before the backplane's first subscription are not trusted after it:
    // the test's values come once it is there.
    runtime.block_on(map.get_or_insert_with_async(&50, async { 50 }));
    tests::fleet::eventually("the backplane subscribes", DEADLINE, || {
        tests::fleet::clients_running(&server, "subscribe") == 1
    });
    let got = runtime.block_on(async {
        tokio::time::timeout(DEADLINE, async {
            let five = map.get_or_insert_with_async(&1, async { 5 }).await;
            let nine = map.get_or_insert_with_async(&2, async { 9 }).await;
            (five, nine)
        })
        .await
        .expect("no hang")
    });
    assert_eq!(got, (5, 9));
    assert!(asked.lock().unwrap().iter().all(|v| [5, 9, 50].contains(v)));
    clock.advance(secs(5) - Duration::from_millis(1));
    assert_eq!((map.get(&1), map.get(&2)), (Some(5), Some(9)));
    clock.advance(Duration::from_millis(1));
    assert_eq!((map.get(&1), map.get(&2)), (None, Some(9)), "L1: 5 s for 5");
    clock.advance(secs(4));
    assert_eq!(map.get(&2), None, "L1: 9 s for 9");
    *slot.lock().unwrap() = None;
}
