//! Waits that could never end. Sync constructors that need each other's keys from several
//! threads: the wait that would close the cycle panics (with "deadlock"), the others then go
//! on, and nothing hangs; a chain of waits that is not a cycle, even one through a flight that
//! just landed, never panics. Code the map runs under a shard's write lock (a `retain`
//! predicate, `expire_after`) that uses the same map panics too. Every call runs on a `std::thread::spawn`ed
//! thread, not a scoped one, so that a hang fails the test at its deadline instead of hanging
//! it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use cache_core::TtlMap;
use tests::{panic_message, wait_until};

const MINUTE: Duration = Duration::from_secs(60);
/// How long the threads of a cycle may take to sort it out: a hang fails here.
const DEADLINE: Duration = Duration::from_secs(20);

type Map = TtlMap<u32, u32>;

/// What a thread's call ended with: its value, or its panic's message.
type Ended = Result<u32, String>;

/// Runs `call` on a thread of its own; its result arrives on the returned channel.
fn spawn(call: impl FnOnce() -> u32 + Send + 'static) -> mpsc::Receiver<Ended> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let ended = catch_unwind(AssertUnwindSafe(call));
        let _ = tx.send(ended.map_err(|p| panic_message(&*p).to_owned()));
    });
    rx
}

fn ended(rx: &mpsc::Receiver<Ended>) -> Ended {
    rx.recv_timeout(DEADLINE)
        .expect("the call returns: the cycle was not left to hang")
}

fn is_deadlock(ended: &Ended) -> bool {
    matches!(ended, Err(message) if message.contains("deadlock"))
}

/// Thread `i` leads key 1 of `maps[i]`; once every thread leads, each asks `maps[i + 1]` (the
/// last asks the first) for key 1, `+ 1`. Returns each thread's ending, in order.
fn cycle(maps: &[Map]) -> Vec<Ended> {
    let barrier = Arc::new(Barrier::new(maps.len()));
    let receivers: Vec<_> = (0..maps.len())
        .map(|i| {
            let own = maps[i].clone();
            let next = maps[(i + 1) % maps.len()].clone();
            let barrier = Arc::clone(&barrier);
            let value = 10 * (i as u32 + 1);
            spawn(move || {
                own.get_or_insert_with(&1, || {
                    barrier.wait();
                    next.get_or_insert_with(&1, || value) + 1
                })
            })
        })
        .collect();
    receivers.iter().map(ended).collect()
}

/// A's constructor builds B while B's builds A: the second of the two waits panics, which
/// lands its flight as panicked; the other thread, woken, builds that key with its own
/// constructor and returns. Afterwards both keys work.
#[test]
fn two_constructors_that_need_each_others_keys_from_two_threads_do_not_hang() {
    let maps = [Map::new(MINUTE), Map::new(MINUTE)];
    let ended = cycle(&maps);
    let deadlocked = ended.iter().filter(|e| is_deadlock(e)).count();
    assert_eq!(
        deadlocked, 1,
        "exactly one wait closes the cycle: {ended:?}"
    );
    // The survivor built the other key with its own constructor (thread 0's gives 10, thread
    // 1's 20), and its own key as that + 1.
    let (survivor, value) = match (&ended[0], &ended[1]) {
        (Ok(v), _) => (0, *v),
        (_, Ok(v)) => (1, *v),
        _ => panic!("one thread returns a value: {ended:?}"),
    };
    let built = 10 * (survivor as u32 + 1);
    assert_eq!(value, built + 1);
    assert_eq!(maps[survivor].get(&1), Some(built + 1));
    assert_eq!(maps[1 - survivor].get(&1), Some(built));
    assert_eq!(maps[1 - survivor].get_or_insert_with(&1, || 7), built);
}

/// The same through three maps and three threads (A needs B, B needs C, C needs A).
#[test]
fn a_cycle_of_three_constructors_on_three_threads_does_not_hang() {
    let maps = [Map::new(MINUTE), Map::new(MINUTE), Map::new(MINUTE)];
    let ended = cycle(&maps);
    let deadlocked = ended.iter().filter(|e| is_deadlock(e)).count();
    assert_eq!(
        deadlocked, 1,
        "exactly one wait closes the cycle: {ended:?}"
    );
    assert_eq!(ended.iter().filter(|e| e.is_ok()).count(), 2, "{ended:?}");
}

/// One map, two keys, the same cycle (key 1's constructor needs key 2 and key 2's needs key
/// 1), each led on its own thread.
#[test]
fn a_cycle_between_two_keys_of_one_map_does_not_hang() {
    let map = Map::new(MINUTE);
    let barrier = Arc::new(Barrier::new(2));
    let receivers: Vec<_> = [(1, 2), (2, 1)]
        .into_iter()
        .map(|(own, other)| {
            let (map, barrier) = (map.clone(), Arc::clone(&barrier));
            spawn(move || {
                map.get_or_insert_with(&own, || {
                    barrier.wait();
                    map.get_or_insert_with(&other, || 100 + other) + 1
                })
            })
        })
        .collect();
    let ended: Vec<_> = receivers.iter().map(ended).collect();
    assert_eq!(
        ended.iter().filter(|e| is_deadlock(e)).count(),
        1,
        "{ended:?}"
    );
    assert_eq!(ended.iter().filter(|e| e.is_ok()).count(), 1, "{ended:?}");
}

/// Waits that chain without closing a cycle never panic: thread 1 leads `h` and, inside, waits
/// for `g`, led by thread 2; thread 2 lands `g` and at once asks for `h`, so it waits for
/// thread 1 while thread 1 may still be registered as waiting for thread 2's flight, which
/// has landed.
#[test]
fn a_wait_for_a_thread_that_waits_for_a_landed_flight_does_not_panic() {
    for _ in 0..200 {
        let map = Map::new(MINUTE);
        let (g_led_tx, g_led_rx) = mpsc::channel::<()>();
        let h = {
            let map = map.clone();
            spawn(move || {
                map.get_or_insert_with(&1, || {
                    g_led_rx.recv().expect("g is led");
                    map.get_or_insert_with(&2, || 0) + 1
                })
            })
        };
        let g = {
            let map = map.clone();
            spawn(move || {
                let g = map.get_or_insert_with(&2, || {
                    g_led_tx.send(()).expect("h's thread listens");
                    wait_until("h's thread waits for g", || map.stats().coalesced == 1);
                    5
                });
                g + map.get_or_insert_with(&1, || 0)
            })
        };
        assert_eq!(ended(&h), Ok(6));
        assert_eq!(ended(&g), Ok(11));
    }
}

/// A use of a map, as a `retain` predicate or `expire_after` might make.
type Use = fn(&Map) -> u32;

/// Whether a call ended in the panic of a use of the map under its own lock.
fn is_reentrant_use(ended: &Ended) -> bool {
    matches!(ended, Err(message) if message.contains("re-entrant use of a TtlMap"))
}

/// A `retain` predicate runs under its shard's write lock: one that reads, writes or memoizes
/// through the same map (moka's `invalidate_entries_if` predicates may consult the cache)
/// panics instead of waiting for itself; the panic leaves the lock free and the map usable.
#[test]
fn a_retain_predicate_that_uses_its_own_map_panics_and_the_map_stays_usable() {
    let uses: [(&str, Use); 4] = [
        ("get", |map| map.get(&2).unwrap_or(0)),
        ("insert", |map| map.insert(3, 3).unwrap_or(0)),
        ("get_or_insert_with", |map| map.get_or_insert_with(&4, || 4)),
        ("remove", |map| map.remove(&2).unwrap_or(0)),
    ];
    for (name, using) in uses {
        // One shard: every key shares the predicate's lock.
        let map: Map = TtlMap::builder().ttl(MINUTE).capacity(8).build();
        map.insert(1, 1);
        map.insert(2, 2);
        let ended = ended(&spawn({
            let map = map.clone();
            move || {
                map.retain(|_, _| using(&map) == u32::MAX);
                0
            }
        }));
        assert!(is_reentrant_use(&ended), "{name}: {ended:?}");
        assert_eq!(
            map.get_or_insert_with(&5, || 5),
            5,
            "{name}: the lock is free"
        );
        map.insert(1, 10);
        assert_eq!(map.get(&1), Some(10), "{name}");
    }
}

/// `expire_after` runs under the shard's write lock as a value is stored: one that consults
/// the same map panics instead of waiting for itself, whichever call stores (an `insert`, a
/// memoizing miss), and the map stays usable.
#[test]
fn an_expire_after_that_uses_its_own_map_panics_and_the_map_stays_usable() {
    // The map reaches itself through this cell (a cycle of `Arc`s, which the test leaks).
    let this = Arc::new(std::sync::OnceLock::<Map>::new());
    let lookup = Arc::clone(&this);
    let map_with_life: Map = TtlMap::builder()
        .ttl(MINUTE)
        .capacity(8)
        .expire_after(move |k: &u32, _: &u32| {
            // Key 0's life is read from the map itself: a key of the same (only) shard.
            let probe = *k != 0 && lookup.get().is_some_and(|m| m.get(&0).is_some());
            probe.then_some(MINUTE)
        })
        .build();
    assert!(this.set(map_with_life.clone()).is_ok(), "set once");
    map_with_life.insert(0, 0);
    let stores: [(&str, Use); 2] = [
        ("insert", |m| m.insert(1, 1).unwrap_or(0)),
        ("get_or_insert_with", |m| m.get_or_insert_with(&2, || 2)),
    ];
    for (name, store) in stores {
        let ended = ended(&spawn({
            let map = map_with_life.clone();
            move || store(&map)
        }));
        assert!(is_reentrant_use(&ended), "{name}: {ended:?}");
        assert_eq!(map_with_life.get(&0), Some(0), "{name}: the lock is free");
    }
}
