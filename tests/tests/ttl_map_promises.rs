//! The promises of README's "Semantics" and SPEC's "Promises, precisely", one test each, for
//! the cases an adversary found broken: deterministic (barriers, listener hooks, ManualClock
//! and a clock that can serve a stale reading), no sleeps.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use cache_core::{Clock, Expiry, ManualClock, Reason, TtlMap};
use tests::{wait_until, wait_until_async};

/// Runs `callers` threads that miss `key` together; the first constructor waits until the
/// others wait, then returns `value`. Returns what each caller got and how many ran.
fn miss_together(map: &TtlMap<String, u64>, callers: u64) -> (Vec<u64>, usize) {
    let runs = AtomicUsize::new(0);
    let barrier = Barrier::new(callers as usize);
    let got = std::thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    map.get_or_insert_with("k", || {
                        runs.fetch_add(1, SeqCst);
                        wait_until("the others wait", || map.stats().coalesced == callers - 1);
                        42
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (got, runs.load(SeqCst))
}

#[test]
fn waiters_take_the_value_from_the_flight_even_when_it_is_not_stored() {
    for map in [
        TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .capacity(0)
            .build(),
        TtlMap::builder().ttl(Duration::ZERO).build(),
    ] {
        let (got, runs) = miss_together(&map, 4);
        assert_eq!(got, [42; 4]);
        assert_eq!(runs, 1, "one construction for four callers: {map:?}");
        assert_eq!(map.get("k"), None);
    }
}

#[test]
fn waiters_take_the_value_from_the_flight_even_when_it_is_evicted() {
    // Capacity 1: the leader's value lands, then an insert evicts it before the waiters wake.
    let map: TtlMap<String, u64> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .capacity(1)
        .build();
    let runs = AtomicUsize::new(0);
    let barrier = Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                let v = map.get_or_insert_with("k", || {
                    runs.fetch_add(1, SeqCst);
                    wait_until("the others wait", || map.stats().coalesced == 3);
                    7
                });
                map.insert("churn".to_string(), 0);
                assert_eq!(v, 7);
            });
        }
    });
    assert_eq!(runs.load(SeqCst), 1);
}

#[test]
fn a_shared_error_reaches_every_caller_of_the_flight_from_one_run() {
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let runs = AtomicUsize::new(0);
    let barrier = Barrier::new(8);
    let errors: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    map.try_get_or_insert_with_shared("k", || {
                        runs.fetch_add(1, SeqCst);
                        wait_until("7 wait", || map.stats().coalesced == 7);
                        Err::<u64, _>("backend down".to_string())
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(runs.load(SeqCst), 1, "one run for eight callers");
    let first = errors[0].clone().unwrap_err();
    for error in errors {
        assert!(
            Arc::ptr_eq(&error.unwrap_err(), &first),
            "the leader's error"
        );
    }
    assert!(map.is_empty(), "errors are not cached");
}

#[test]
fn after_an_unshared_error_each_waiter_tries_at_once_not_in_turn() {
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let runs = AtomicUsize::new(0);
    let inside = AtomicUsize::new(0);
    let barrier = Barrier::new(8);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    map.try_get_or_insert_with("k", || {
                        if runs.fetch_add(1, SeqCst) == 0 {
                            wait_until("7 wait", || map.stats().coalesced == 7);
                            return Err("backend down");
                        }
                        // Every waiter's attempt is in its constructor at the same time: had
                        // they queued, this would never hold.
                        inside.fetch_add(1, SeqCst);
                        wait_until("7 attempts at once", || inside.load(SeqCst) == 7);
                        Err("still down")
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(runs.load(SeqCst), 8);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 8);
    assert_eq!(map.stats().coalesced, 7, "each waiter counted once");
}

/// Sets its flag when dropped, also while unwinding: a failing check cannot leave a leader
/// waiting forever.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A flight whose constructor waits until `during` has run, led on another thread; returns
/// the flight's value.
fn with_flight_in_progress(map: &TtlMap<String, u64>, during: impl FnOnce()) -> u64 {
    let started = AtomicBool::new(false);
    let release = AtomicBool::new(false);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            map.get_or_insert_with("k", || {
                started.store(true, SeqCst);
                wait_until("released", || release.load(SeqCst));
                1
            })
        });
        let _release = SetOnDrop(&release);
        wait_until("the flight started", || started.load(SeqCst));
        during();
        drop(_release);
        leader.join().unwrap()
    })
}

#[test]
fn invalidation_during_a_flight_wins_over_its_value() {
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    assert_eq!(
        with_flight_in_progress(&map, || assert_eq!(map.remove("k"), None)),
        1
    );
    assert_eq!(
        map.get("k"),
        None,
        "removed before the flight landed: not stored"
    );

    assert_eq!(with_flight_in_progress(&map, || map.clear()), 1);
    assert_eq!(
        map.get("k"),
        None,
        "cleared before the flight landed: not stored"
    );

    let inserted = || assert_eq!(map.insert("k".to_string(), 99), None);
    assert_eq!(
        with_flight_in_progress(&map, inserted),
        1,
        "its caller gets its value"
    );
    assert_eq!(map.get("k"), Some(99), "the insert is not overwritten");
}

#[test]
fn a_caller_after_an_invalidation_does_not_join_the_older_flight() {
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    with_flight_in_progress(&map, || {
        map.remove("k");
        // On a thread of its own, so that joining the old flight fails the check, not hangs.
        let ran = Arc::new(AtomicBool::new(false));
        let (caller, flag) = (map.clone(), Arc::clone(&ran));
        std::thread::spawn(move || {
            caller.get_or_insert_with("k", || 2 + u64::from(flag.swap(true, SeqCst)))
        });
        wait_until("a new flight runs its constructor", || ran.load(SeqCst));
    });
    wait_until("the new flight's value is stored", || {
        map.get("k") == Some(2)
    });
}

#[test]
fn memory_follows_the_live_keys_after_a_burst_not_the_peak() {
    const TTL: Duration = Duration::from_secs(60);
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64> = TtlMap::builder().ttl(TTL).clock(clock.clone()).build();
    for k in 0..100_000 {
        map.insert(k, k);
    }
    clock.advance(TTL);
    // One new key per TTL: one live key at a time. The bound: live + live/32 + 16 per shard
    // (16 shards) + one per writing thread.
    for k in 100_000..102_000 {
        map.insert(k, k);
        assert!(map.len() <= 1 + 16 * 16 + 1, "{} entries", map.len());
        clock.advance(TTL);
    }
}

#[test]
fn a_stalled_sweep_does_not_stop_other_writers_from_sweeping() {
    // A listener blocks one writer in the middle of a write-path sweep, as if preempted there;
    // meanwhile another writer keeps storing never-repeated keys.
    const LIVE: u64 = 1_000;
    let clock = ManualClock::new();
    let stalled = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (s, r) = (Arc::clone(&stalled), Arc::clone(&release));
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(Duration::from_millis(LIVE))
        .clock(clock.clone())
        .on_evict(move |_, _, _| {
            if std::thread::current().name() == Some("stalled") && !s.swap(true, SeqCst) {
                wait_until("released", || r.load(SeqCst));
            }
        })
        .build();
    let mut key = 0;
    for _ in 0..LIVE {
        map.insert(key, key);
        key += 1;
        clock.advance(Duration::from_millis(1));
    }
    clock.advance(Duration::from_millis(LIVE)); // all of them expired
    let bound = (LIVE + LIVE / 32 + 16 * 16 + 2) as usize;
    std::thread::scope(|scope| {
        let stalled_writer = std::thread::Builder::new()
            .name("stalled".into())
            .spawn_scoped(scope, || map.insert(u64::MAX, 0))
            .unwrap();
        wait_until("a sweep stalled", || stalled.load(SeqCst));
        for _ in 0..10 * LIVE {
            map.insert(key, key);
            key += 1;
            clock.advance(Duration::from_millis(1));
            assert!(map.len() <= bound, "{} entries, bound {bound}", map.len());
        }
        release.store(true, SeqCst);
        stalled_writer.join().unwrap();
    });
}

#[test]
fn nothing_is_evicted_for_capacity_while_the_map_has_room() {
    for capacity in [1_000, 10_000] {
        let map = TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .capacity(capacity)
            .build();
        for k in 0..capacity {
            map.insert(k, k);
        }
        assert_eq!(map.len(), capacity);
        assert_eq!(map.stats().evictions, 0);
        map.insert(capacity, 0);
        assert_eq!((map.len(), map.stats().evictions), (capacity, 1));
    }
}

#[test]
fn entries_stored_within_one_clock_tick_evict_in_order() {
    // Each map has its own random hash seed, so the buckets' order differs from map to map.
    for _ in 0..200 {
        let fixed = TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .expiry(Expiry::Fixed)
            .capacity(2)
            .clock(ManualClock::new())
            .hasher(RandomState::new())
            .build();
        fixed.insert("oldest", 1);
        fixed.insert("b", 2);
        fixed.get("oldest");
        fixed.insert("c", 3);
        assert!(
            !fixed.contains_key("oldest"),
            "fixed expiry evicts the oldest insert"
        );
        assert!(fixed.contains_key("b") && fixed.contains_key("c"));

        let sliding = TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .capacity(2)
            .clock(ManualClock::new())
            .hasher(RandomState::new())
            .build();
        sliding.insert("a", 1);
        sliding.insert("b", 2);
        sliding.get("a");
        sliding.insert("c", 3);
        assert!(sliding.contains_key("a"), "the entry just hit is kept");
        assert!(!sliding.contains_key("b"), "the least recently used goes");
    }
}

/// A value whose `Drop` panics.
struct Grenade;

impl Drop for Grenade {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a value's Drop panicked");
        }
    }
}

#[test]
fn the_sweeper_survives_a_map_freed_on_its_thread_with_a_panicking_drop() {
    let clock = ManualClock::new();
    let in_sweep = Arc::new(AtomicBool::new(false));
    let handle_dropped = Arc::new(AtomicBool::new(false));
    let (entered, dropped) = (Arc::clone(&in_sweep), Arc::clone(&handle_dropped));
    let doomed: TtlMap<u32, Arc<Grenade>> = TtlMap::builder()
        .ttl(Duration::from_secs(1))
        .sweep_every(Duration::from_millis(1))
        .clock(clock.clone())
        .on_evict(move |_, _, _| {
            entered.store(true, SeqCst);
            wait_until("the last handle is dropped", || dropped.load(SeqCst));
        })
        .build();
    doomed.insert(0, Arc::new(Grenade));
    clock.advance(Duration::from_secs(1));
    doomed.insert(1, Arc::new(Grenade)); // still live when the map is freed
    // The sweeper removes entry 0 and sits in the listener with the map alive.
    wait_until("the sweeper sweeps", || in_sweep.load(SeqCst));
    drop(doomed); // the sweeper now holds the last handle; freeing it drops a Grenade
    handle_dropped.store(true, SeqCst);

    // The sweeper must still sweep another map.
    let other: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(1))
        .sweep_every(Duration::from_millis(1))
        .clock(clock.clone())
        .build();
    other.insert(1, 1);
    clock.advance(Duration::from_secs(1));
    wait_until("the sweeper still sweeps", || other.is_empty());
}

#[test]
fn a_miss_from_a_thread_local_destructor_does_not_abort() {
    static MAP: std::sync::LazyLock<TtlMap<String, u64>> =
        std::sync::LazyLock::new(|| TtlMap::new(Duration::from_secs(60)));
    static GOT: AtomicUsize = AtomicUsize::new(0);

    struct MissOnDrop;
    impl Drop for MissOnDrop {
        fn drop(&mut self) {
            let v = MAP.get_or_insert_with("from a destructor", || 5);
            GOT.store(v as usize, SeqCst);
        }
    }
    thread_local!(static LOCAL: MissOnDrop = const { MissOnDrop });

    std::thread::spawn(|| {
        LOCAL.with(|_| ());
        // The map's own thread-locals come after, so they are destroyed before `LOCAL`'s
        // destructor runs its miss.
        MAP.get_or_insert_with("warm-up", || 0);
    })
    .join()
    .unwrap();
    assert_eq!(GOT.load(SeqCst), 5);
}

#[test]
fn a_panicking_listener_does_not_leave_clear_half_done() {
    let heard = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&heard);
    let map = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .on_evict(move |_: &u32, _: &u32, reason| {
            assert_eq!(reason, Reason::Removed);
            if count.fetch_add(1, SeqCst) == 0 {
                panic!("listener failed");
            }
        })
        .build();
    for k in 0..1_000 {
        map.insert(k, k);
    }
    let cleared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.clear()));
    assert!(cleared.is_err(), "the listener's panic is passed on");
    assert_eq!(map.len(), 0, "every entry removed");
    assert_eq!(heard.load(SeqCst), 1_000, "every removal heard");
}

/// A clock that serves one stale reading to a thread that asks for it: a reader delayed
/// between reading the clock and looking up.
#[derive(Clone)]
struct StaleOnce {
    now: ManualClock,
}

thread_local!(static STALE: Cell<Option<Duration>> = const { Cell::new(None) });

impl Clock for StaleOnce {
    fn now(&self) -> Duration {
        STALE.with(|s| s.take()).unwrap_or_else(|| self.now.now())
    }
}

#[test]
fn a_delayed_reader_cannot_bring_back_an_expired_entry() {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(Duration::from_secs(64))
        .clock(StaleOnce { now: clock.clone() })
        .build();
    map.insert("k", 1);
    clock.advance(Duration::from_secs(70));
    assert_eq!(map.get("k"), None, "expired at 64 s");
    // A reader whose clock read says 60 s, looking up at 70 s.
    std::thread::scope(|s| {
        s.spawn(|| {
            STALE.with(|stale| stale.set(Some(Duration::from_secs(60))));
            map.get("k")
        });
    });
    assert_eq!(map.get("k"), None, "still expired at 70 s");
    assert!(!map.contains_key("k"));
}

#[test]
fn a_sync_call_waiting_for_an_async_flight_of_its_own_thread_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    runtime.block_on(async {
        let leader_map = map.clone();
        let leader = tokio::spawn(async move {
            let init = async {
                released.await.unwrap();
                1
            };
            leader_map.get_or_insert_with_async("k", init).await
        });
        // The leader registers its flight in the same poll as its first lookup.
        wait_until_async("the leader is polled", || map.stats().misses == 1).await;
        let sync_map = map.clone();
        let blocked = tokio::spawn(async move { sync_map.get_or_insert_with("k", || 2) });
        let panic = blocked
            .await
            .expect_err("must panic, not hang")
            .into_panic();
        let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(
            message.contains("async constructor this same thread"),
            "{message}"
        );
        release.send(()).unwrap();
        assert_eq!(leader.await.unwrap(), 1);
    });
}

#[test]
fn a_task_driven_inside_a_constructor_may_wait_for_it() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let local = tokio::task::LocalSet::new();
    let waiter = Arc::new(Mutex::new(None));
    runtime.block_on(async {
        let value = map
            .get_or_insert_with_async("k", async {
                // The constructor drives a LocalSet inline; a task on it misses the same key.
                let task_map = map.clone();
                let handle = local.spawn_local(async move {
                    task_map.get_or_insert_with_async("k", async { 2 }).await
                });
                *waiter.lock().unwrap() = Some(handle);
                local
                    .run_until(wait_until_async("the task waits", || {
                        map.stats().coalesced == 1
                    }))
                    .await;
                1
            })
            .await;
        assert_eq!(value, 1);
        let handle = waiter.lock().unwrap().take().unwrap();
        assert_eq!(
            local.run_until(handle).await.unwrap(),
            1,
            "the waiter got the value"
        );
    });
}

/// A value whose first `Clone` panics.
struct CloneBomb(Arc<AtomicBool>);

impl Clone for CloneBomb {
    fn clone(&self) -> Self {
        if self.0.swap(false, SeqCst) {
            panic!("a value's Clone panicked");
        }
        CloneBomb(Arc::clone(&self.0))
    }
}

#[test]
fn a_panic_while_storing_a_flights_value_still_lands_it() {
    let map: TtlMap<String, CloneBomb> = TtlMap::new(Duration::from_secs(60));
    let armed = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            map.get_or_insert_with("k", || {
                wait_until("a caller waits", || map.stats().coalesced == 1);
                armed.store(true, SeqCst); // the store's clone panics
                CloneBomb(Arc::clone(&armed))
            })
        });
        let waiter = s.spawn(|| {
            wait_until("the leader leads", || map.stats().misses == 1);
            map.get_or_insert_with("k", || CloneBomb(Arc::clone(&armed)))
        });
        assert!(leader.join().is_err(), "the leader's caller sees the panic");
        waiter
            .join()
            .expect("the waiter is woken, not left waiting forever");
    });
}
