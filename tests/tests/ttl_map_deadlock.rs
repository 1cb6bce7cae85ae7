//! Waits that could never end. Sync constructors that need each other's keys from several
//! threads: the wait that would close the cycle panics (with "deadlock"), the others then go
//! on, and nothing hangs; a chain of waits that is not a cycle, even one through a flight that
//! just landed, never panics. A `retain` predicate, which runs under a shard's write lock,
//! panics if it uses that shard; other shards and maps work. `expire_after` runs before the
//! lock, so it may use its own map. Every call runs on a `std::thread::spawn`ed thread, not a scoped one, so that a hang
//! fails the test at its deadline instead of hanging it. (Helper-70's attacks on these checks,
//! from `review11_today.rs`, are the second half.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use cache_core::{Clock, ManualClock, Reason, TtlMap};
use tests::shards::{Id, in_shard};
use tests::{panic_message, wait_until};

const MINUTE: Duration = Duration::from_secs(60);
/// How long the threads of a cycle may take to sort it out: a hang fails here.
const DEADLINE: Duration = Duration::from_secs(20);

type Map = TtlMap<u32, u32>;

/// What a thread's call ended with: its value, or its panic's message.
type Ended<T = u32> = Result<T, String>;

/// Runs `call` on a thread of its own; its result arrives on the returned channel.
fn spawn<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<Ended<T>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let ended = catch_unwind(AssertUnwindSafe(call));
        let _ = tx.send(ended.map_err(|p| panic_message(&*p).to_owned()));
    });
    rx
}

fn ended<T>(rx: &mpsc::Receiver<Ended<T>>) -> Ended<T> {
    rx.recv_timeout(DEADLINE)
        .expect("the call returns: the cycle was not left to hang")
}

fn is_deadlock<T>(ended: &Ended<T>) -> bool {
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
fn is_reentrant_use<T>(ended: &Ended<T>) -> bool {
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

/// `expire_after` runs before the shard's lock is taken, so it may read, write and memoize
/// through its own map, in the shard of the value being stored too, whichever call stores (an
/// `insert`, a memoizing miss), and what it reads decides the life.
#[test]
fn an_expire_after_may_use_its_own_map() {
    // The map reaches itself through this cell (a cycle of `Arc`s, which the test leaks).
    let this = Arc::new(std::sync::OnceLock::<Map>::new());
    let lookup = Arc::clone(&this);
    let clock = ManualClock::new();
    let map_with_life: Map = TtlMap::builder()
        .ttl(MINUTE)
        .capacity(8) // one shard: every key shares the stored value's shard
        .clock(clock.clone())
        .expire_after(move |&k: &u32, _: &u32| {
            let map = lookup.get()?;
            if k == 0 || k >= 100 {
                return None;
            }
            // Key 0 holds the lives' length in seconds; each store also leaves a trace, and
            // memoizes one more key.
            map.insert(100 + k, k);
            map.get_or_insert_with(&200, || 200);
            map.get(&0).map(|secs| Duration::from_secs(secs.into()))
        })
        .build();
    assert!(this.set(map_with_life.clone()).is_ok(), "set once");
    map_with_life.insert(0, 5);
    let stores: [(&str, Use); 2] = [
        ("insert", |m| m.insert(1, 1).unwrap_or(0)),
        ("get_or_insert_with", |m| m.get_or_insert_with(&2, || 2)),
    ];
    for (name, store) in stores {
        let stored = ended(&spawn({
            let map = map_with_life.clone();
            move || store(&map)
        }));
        assert!(stored.is_ok(), "{name}: {stored:?}");
    }
    assert_eq!(map_with_life.get(&1), Some(1));
    assert_eq!(map_with_life.get(&2), Some(2));
    assert_eq!(
        (map_with_life.get(&101), map_with_life.get(&102)),
        (Some(1), Some(2)),
        "expire_after's own stores"
    );
    assert_eq!(map_with_life.get(&200), Some(200));
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        (map_with_life.get(&1), map_with_life.get(&2)),
        (None, None),
        "the life read from the map (5 s), not the ttl"
    );
    assert_eq!(map_with_life.get(&0), Some(5), "the ttl for key 0");
}

/// Two threads store at once into two shards, and each one's `expire_after` reads the other's
/// shard while the other is storing: run under the shards' locks, each would wait for the
/// other's lock forever. Both finish.
#[test]
fn two_expire_afters_that_read_each_others_shards_do_not_deadlock() {
    let this = Arc::new(std::sync::OnceLock::<IdMap>::new());
    let lookup = Arc::clone(&this);
    let (a, b) = (in_shard(0, 1), in_shard(1, 1));
    let barrier = Arc::new(Barrier::new(2));
    let inside = Arc::clone(&barrier);
    let map: IdMap = TtlMap::builder()
        .ttl(MINUTE)
        .hasher(Id::default())
        .expire_after(move |&k: &u64, _: &u64| {
            let map = lookup.get()?;
            if k == a || k == b {
                // Both stores are here at once before either reads.
                inside.wait();
                let other = if k == a {
                    in_shard(1, 2)
                } else {
                    in_shard(0, 2)
                };
                let _ = map.get(&other);
            }
            None
        })
        .build();
    assert!(this.set(map.clone()).is_ok());
    let stores: Vec<_> = [a, b]
        .into_iter()
        .map(|k| {
            let map = map.clone();
            spawn(move || map.insert(k, 1).map_or(0, |old| old as u32))
        })
        .collect();
    for stored in &stores {
        assert_eq!(ended(stored), Ok(0), "no store waits for the other's shard");
    }
    assert_eq!((map.get(&a), map.get(&b)), (Some(1), Some(1)));
}

// ---------------------------------------------------------------------------------------------
// Helper-70's attacks (moved from review11_today.rs). The deadlock check: counting, and
// chains that are not cycles.
// ---------------------------------------------------------------------------------------------

/// One map, two keys, the same cycle (key 1's constructor needs key 2 and key 2's needs key
/// 1), each led on its own thread. `coalesced` counts the calls that waited, once each, when
/// the wait begins: a wait refused
/// as a deadlock (it would close the cycle) panics instead of waiting, and is not counted, as
/// a re-entrant call is not (stats.rs, README "Counters"). In a cycle of two, exactly one
/// wait begins (the first), and the survivor's own attempt afterwards waits for nothing.
#[test]
fn a_wait_refused_as_a_deadlock_is_not_counted_in_coalesced() {
    for _ in 0..20 {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
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
        let stats = map.stats();
        assert_eq!(
            stats.coalesced, 1,
            "one wait began (the survivor's); the refused one is not counted: {stats:?}"
        );
        assert_eq!(stats.hits + stats.misses, 4, "{stats:?}");
    }
}

/// A caller woken from a flight whose leader panicked runs its own attempt, which is no
/// flight: no thread can be waiting for it. So a thread that, inside that attempt, waits for a
/// flight whose constructor asks for the same key (and leads a new flight of it, as nothing is
/// registered) is no cycle, and neither panics.
#[test]
fn an_own_attempt_after_a_panic_is_no_leader_a_chain_can_come_back_to() {
    for _ in 0..50 {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
        let (a_led_tx, a_led_rx) = mpsc::channel::<()>();
        let (b_led_tx, b_led_rx) = mpsc::channel::<()>();
        let panics = Arc::new(AtomicBool::new(false));
        // Thread 1 leads key 1 and panics once thread 2 waits for it.
        let first = {
            let map = map.clone();
            spawn(move || {
                map.get_or_insert_with(&1, || {
                    a_led_tx.send(()).expect("the test listens");
                    wait_until("thread 2 waits for key 1", || map.stats().coalesced == 1);
                    panic!("the leader of key 1 fails")
                })
            })
        };
        a_led_rx.recv_timeout(DEADLINE).expect("key 1 is led");
        // Thread 3 leads key 2, whose constructor asks for key 1 once thread 2 waits for it.
        let third = {
            let map = map.clone();
            let panics = Arc::clone(&panics);
            spawn(move || {
                map.get_or_insert_with(&2, || {
                    b_led_tx.send(()).expect("thread 2 listens");
                    wait_until("thread 2 waits for key 2", || map.stats().coalesced == 2);
                    let one = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&1, || 30)));
                    if one.is_err() {
                        panics.store(true, Ordering::SeqCst);
                    }
                    one.unwrap_or(0) + 200
                })
            })
        };
        // Thread 2 waits for key 1; woken by its leader's panic, it builds key 1 itself, and
        // inside that attempt waits for key 2.
        let second = {
            let map = map.clone();
            spawn(move || {
                map.get_or_insert_with(&1, || {
                    b_led_rx.recv_timeout(DEADLINE).expect("key 2 is led");
                    map.get_or_insert_with(&2, || 0) + 1
                })
            })
        };
        assert!(ended(&first).is_err(), "the leader of key 1 panicked");
        let (second, third) = (ended(&second), ended(&third));
        assert!(
            !panics.load(Ordering::SeqCst),
            "key 2's constructor asking for key 1 panicked"
        );
        assert_eq!(third, Ok(230), "key 2: 200 + key 1 built by thread 3 (30)");
        assert_eq!(second, Ok(231), "key 1's own attempt: key 2 + 1");
    }
}

// ---------------------------------------------------------------------------------------------
// Helper-70's attacks: the shard lock that names its holder.
// ---------------------------------------------------------------------------------------------

type IdMap = TtlMap<u64, u64, Id>;

/// A `retain` predicate may use the same map's OTHER shards (and other maps) freely: only the
/// shard it runs under is refused; and so may an `expire_after`. Reads, writes and memoizing calls
/// there work and are seen afterwards.
#[test]
fn a_predicate_or_expire_after_that_uses_another_shard_or_map_works() {
    let map: IdMap = TtlMap::builder().ttl(MINUTE).hasher(Id::default()).build();
    let other: IdMap = TtlMap::builder().ttl(MINUTE).hasher(Id::default()).build();
    let (a, b, c, d) = (
        in_shard(0, 1),
        in_shard(1, 1),
        in_shard(2, 1),
        in_shard(3, 1),
    );
    map.insert(a, 1);
    map.insert(b, 2);
    other.insert(a, 10);
    let ran = ended(&spawn({
        let (map, other) = (map.clone(), other.clone());
        move || {
            map.retain(|&k, _| {
                if k != a {
                    return true;
                }
                // Under shard 0's lock: shard 1 read, shard 2 memoized, shard 3 written, and
                // another map's shard 0 read and memoized.
                assert_eq!(map.get(&b), Some(2));
                assert_eq!(map.get_or_insert_with(&c, || 3), 3);
                assert_eq!(map.insert(d, 4), None);
                assert_eq!(other.get(&a), Some(10));
                assert_eq!(other.get_or_insert_with(&in_shard(0, 2), || 11), 11);
                false
            });
        }
    }));
    assert_eq!(ran, Ok(()), "no use of another shard or map panics");
    assert_eq!(map.get(&a), None, "removed by the predicate");
    assert_eq!(
        (map.get(&b), map.get(&c), map.get(&d)),
        (Some(2), Some(3), Some(4))
    );
    assert_eq!(other.get(&in_shard(0, 2)), Some(11));

    // expire_after reading a key of another shard (key 0 of shard 5), as any store runs it.
    let this = Arc::new(std::sync::OnceLock::<IdMap>::new());
    let lookup = Arc::clone(&this);
    let probe = in_shard(5, 0);
    let with_life: IdMap = TtlMap::builder()
        .ttl(MINUTE)
        .hasher(Id::default())
        .expire_after(move |&k: &u64, _: &u64| {
            let known = k != probe && lookup.get().is_some_and(|m| m.get(&probe).is_some());
            known.then_some(MINUTE)
        })
        .build();
    assert!(this.set(with_life.clone()).is_ok());
    with_life.insert(probe, 0);
    let stored = ended(&spawn({
        let map = with_life.clone();
        move || {
            map.insert(a, 1);
            map.get_or_insert_with(&b, || 2) + map.get_or_insert_with(&c, || 3)
        }
    }));
    assert_eq!(stored, Ok(5));
    assert_eq!((with_life.get(&a), with_life.get(&b)), (Some(1), Some(2)));
}

/// A clock that, once armed, blocks the first reading after it until released: a store reads
/// the clock under its shard's write lock, so the armed thread then holds that lock for as
/// long as the test wants, without naming itself its holder (no `expire_after`, no `retain`).
#[derive(Clone, Default)]
struct BlockingClock(Arc<Gate>);

#[derive(Default)]
struct Gate {
    armed: AtomicBool,
    inside: AtomicBool,
    released: AtomicBool,
}

impl std::ops::Deref for BlockingClock {
    type Target = Gate;
    fn deref(&self) -> &Gate {
        &self.0
    }
}

impl Clock for BlockingClock {
    fn now(&self) -> Duration {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.inside.store(true, Ordering::SeqCst);
            wait_until("the test releases the clock", || {
                self.released.load(Ordering::SeqCst)
            });
        }
        Duration::ZERO
    }
}

/// A `retain` predicate that uses its own shard panics; its thread must not be left named as
/// the holder: later, while ANOTHER thread holds that shard's write lock (a plain store,
/// which names no holder), a read from the thread that panicked must wait for it, not panic
/// as if it held the lock itself. And the entries the predicate removed before it panicked
/// are heard once each and gone, the others kept.
#[test]
fn a_reentrant_panic_leaves_no_holder_named_and_the_map_consistent() {
    let clock = BlockingClock::default();
    let heard: Arc<Mutex<Vec<(u64, Reason)>>> = Arc::default();
    let map: IdMap = TtlMap::builder()
        .ttl(MINUTE)
        .hasher(Id::default())
        .clock(clock.clone())
        .on_evict({
            let heard = Arc::clone(&heard);
            move |&k, _, reason| heard.lock().unwrap().push((k, reason))
        })
        .build();
    let keys: Vec<u64> = (1..=6).map(|n| in_shard(0, n)).collect();
    for &k in &keys {
        map.insert(k, k);
    }
    let trigger = keys[3];
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (panicked_tx, panicked_rx) = mpsc::channel::<String>();
    let reader = spawn({
        let map = map.clone();
        move || {
            let first = catch_unwind(AssertUnwindSafe(|| {
                map.retain(|&k, _| {
                    if k == trigger {
                        // Shard 0 is the one it runs under.
                        let _ = map.get(&keys[0]);
                    }
                    k % 2 == 1
                });
            }));
            let message = first.map_err(|p| panic_message(&*p).to_owned());
            panicked_tx
                .send(message.err().unwrap_or_default())
                .expect("the test listens");
            go_rx.recv_timeout(DEADLINE).expect("the test goes on");
            // Another thread holds shard 0's write lock now: this read waits for it.
            map.get(&trigger)
        }
    });
    let message = panicked_rx
        .recv_timeout(DEADLINE)
        .expect("the retain ended");
    assert!(
        message.contains("re-entrant use of a TtlMap"),
        "the predicate's use of its own shard panics: {message:?}"
    );
    // Consistent: each removed entry heard once, as Removed, and gone; the rest kept.
    let removed: Vec<(u64, Reason)> = heard.lock().unwrap().clone();
    for (k, reason) in &removed {
        assert_eq!(*reason, Reason::Removed);
        assert_eq!(k % 2, 0, "only entries the predicate refused are removed");
        assert_eq!(map.get(k), None);
    }
    let mut seen: Vec<u64> = removed.iter().map(|(k, _)| *k).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), removed.len(), "each heard once: {removed:?}");
    assert!(
        map.get(&trigger).is_some(),
        "the entry it panicked on is kept"
    );
    for k in (1..=6).map(|n| in_shard(0, n)) {
        if !seen.contains(&k) {
            assert_eq!(map.get(&k), Some(k), "not removed, so kept");
        }
    }

    // Another thread holds shard 0's write lock (its store reads the armed clock under it).
    clock.armed.store(true, Ordering::SeqCst);
    let writer = spawn({
        let map = map.clone();
        move || map.insert(in_shard(0, 9), 9)
    });
    wait_until("the writer holds shard 0", || {
        clock.inside.load(Ordering::SeqCst)
    });
    go_tx.send(()).expect("the reader waits");
    // Give the reader time to find the lock taken (a wait either way: it cannot finish).
    std::thread::sleep(Duration::from_millis(100)); // sleep-ok: lets the reader reach the held lock; no assertion on time
    clock.released.store(true, Ordering::SeqCst);
    assert_eq!(ended(&writer), Ok(None));
    assert_eq!(
        ended(&reader),
        Ok(Some(trigger)),
        "the thread that panicked under the lock before waits for another holder, not panics"
    );
}

/// An `expire_after` that panics (here after using its own shard, which it may) panics in
/// the caller whose store ran it: for a memoizing miss, the flight still lands with the value,
/// so its waiter gets it, and the map is usable; the value is not stored.
#[test]
fn an_expire_after_that_panics_in_a_flight_still_hands_its_waiter_the_value() {
    let this = Arc::new(std::sync::OnceLock::<IdMap>::new());
    let lookup = Arc::clone(&this);
    let (k, neighbour) = (in_shard(0, 1), in_shard(0, 2));
    let map: IdMap = TtlMap::builder()
        .ttl(MINUTE)
        .hasher(Id::default())
        .expire_after(move |&key: &u64, _: &u64| {
            if key == k {
                // The same shard as the value being stored.
                let _ = lookup.get().and_then(|m| m.get(&neighbour));
                panic!("no life for k");
            }
            None
        })
        .build();
    assert!(this.set(map.clone()).is_ok());
    let (led_tx, led_rx) = mpsc::channel::<()>();
    let leader = spawn({
        let map = map.clone();
        move || {
            map.get_or_insert_with(&k, || {
                led_tx.send(()).expect("the test listens");
                wait_until("a waiter joins", || map.stats().coalesced == 1);
                7
            })
        }
    });
    led_rx.recv_timeout(DEADLINE).expect("k is led");
    let waiter = spawn({
        let map = map.clone();
        move || map.get_or_insert_with(&k, || 99)
    });
    assert_eq!(
        ended(&leader),
        Err("no life for k".to_owned()),
        "the leader's store ran expire_after, which panicked"
    );
    assert_eq!(ended(&waiter), Ok(7), "the waiter gets the flight's value");
    assert_eq!(map.get(&k), None, "the store that panicked stored nothing");
    map.insert(neighbour, 2);
    assert_eq!(map.get(&neighbour), Some(2), "the shard is free");
}
