//! Adversarial tests of SPEC's "Promises, precisely" and "Expiry policies, freshness and API
//! breadth" for `TtlMap`. Time comes from `ManualClock` (or a clock that serves stale readings
//! on demand); deadlocks show as failures through deadlines on channels, and aborts through a
//! child process.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use cache_core::{Clock, ManualClock, Reason, TtlMap};
use tests::{in_child, wait_until, within};

const SECOND: Duration = Duration::from_secs(1);

/// A one-shot gate: `wait` blocks until `open`.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }
}

/// Polls a future once with a no-op waker.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    future.poll(&mut cx)
}

/// Drives a future to completion on this thread, spinning.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let start = Instant::now();
    loop {
        if let Poll::Ready(v) = poll_once(future.as_mut()) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "future never finished"
        );
        std::thread::yield_now();
    }
}

// ---------------------------------------------------------------------------------------------
// Capacity: which entry goes.
// ---------------------------------------------------------------------------------------------

/// `a` and `b` stored in one tick, then `a` hit in that tick: the reference bit keeps `a`.
#[test]
fn sliding_keeps_the_entry_hit_within_the_tick() {
    let clock = ManualClock::new();
    let map: TtlMap<&str, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(64))
        .capacity(2)
        .clock(clock.clone())
        .build();
    map.insert("a", 1);
    map.insert("b", 2);
    assert_eq!(map.get("a"), Some(1));
    map.insert("c", 3);
    assert!(map.contains_key("a"));
    assert!(!map.contains_key("b"));
    assert_eq!(map.stats().evictions, 1);
}

/// Capacity: no eviction while `len() < capacity`, `len() <= capacity` after writes, through
/// every write path (insert, memoizing, attempts after a failure, async). Holds.
#[test]
fn capacity_holds_through_every_write_path() {
    let clock = ManualClock::new();
    let evicted = Arc::new(AtomicUsize::new(0));
    let heard = Arc::clone(&evicted);
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .capacity(5)
        .clock(clock.clone())
        .on_evict(move |_, _, reason| {
            if reason == Reason::Capacity {
                heard.fetch_add(1, SeqCst);
            }
        })
        .build();
    for i in 0..5 {
        match i % 4 {
            0 => drop(map.insert(i, i)),
            1 => drop(map.get_or_insert_with(&i, || i)),
            2 => drop(map.try_get_or_insert_with(&i, || Ok::<_, ()>(i))),
            _ => drop(block_on(map.get_or_insert_with_async(&i, async move { i }))),
        }
        assert_eq!(evicted.load(SeqCst), 0, "evicted with {} < 5 entries", i);
    }
    for i in 5..50 {
        match i % 4 {
            0 => drop(map.insert(i, i)),
            1 => drop(map.get_or_insert_with(&i, || i)),
            2 => drop(map.optionally_get_or_insert_with(&i, || Some(i))),
            _ => drop(block_on(map.get_or_insert_with_async(&i, async move { i }))),
        }
        assert!(map.len() <= 5, "len {}", map.len());
    }
    assert_eq!(evicted.load(SeqCst), 45);
}

// ---------------------------------------------------------------------------------------------
// Expired stays expired, and is never returned.
// ---------------------------------------------------------------------------------------------

/// A clock that serves this thread the readings queued in `STALE` first (a reader delayed
/// after reading the time), then the manual clock's.
struct Delayable(ManualClock);

thread_local! {
    static STALE: RefCell<Vec<Duration>> = const { RefCell::new(Vec::new()) };
}

impl Clock for Delayable {
    fn now(&self) -> Duration {
        STALE
            .with(|s| s.borrow_mut().pop())
            .unwrap_or_else(|| self.0.now())
    }
}

/// SPEC "Expired stays expired: no reader, however delayed between its clock read and its
/// lookup, extends an entry that has expired by the clock". Here the reader is delayed after
/// the recheck that the README says a sliding hit makes: both its readings say 63.5 s, the
/// deadline is 64 s, and by the time it moves the deadline the clock says 70 s, and `iter()`
/// has already reported the entry gone.
#[test]
fn a_reader_delayed_after_its_recheck_cannot_revive_an_entry_iter_saw_expired() {
    let clock = ManualClock::new();
    let map: TtlMap<&str, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(64))
        .clock(Delayable(clock.clone()))
        .build();
    map.insert("k", 1);
    clock.advance(Duration::from_secs(70));
    assert_eq!(map.iter().count(), 0, "k expired at 64 s");
    // The delayed reader: both its clock reads (lookup and recheck) happened at 63.5 s.
    STALE.with(|s| *s.borrow_mut() = vec![Duration::from_millis(63_500); 2]);
    let _ = map.get("k");
    STALE.with(|s| s.borrow_mut().clear());
    assert_eq!(
        map.get("k"),
        None,
        "an entry expired by the clock came back at 70 s"
    );
}

/// `iter()` reads the clock when it is made and the shards later: an entry that `get` has
/// meanwhile found expired is not yielded by an iterator made before. Holds (the lookup marks
/// the entry dead).
#[test]
fn iter_does_not_yield_an_entry_a_later_get_found_expired() {
    let clock = ManualClock::new();
    let map: TtlMap<&str, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    map.insert("k", 1);
    let mut entries = map.iter();
    clock.advance(Duration::from_secs(61));
    assert_eq!(map.get("k"), None);
    assert_eq!(
        entries.next(),
        None,
        "iter yielded an entry expired 1 s before it read it"
    );
}

/// Neighbours that hold: `contains_key`, `get` and memoizing hits never return or extend an
/// entry past its deadline, with sliding hits up to the last nanosecond and `max_lifetime`.
#[test]
fn expired_stays_expired_for_every_reader() {
    let clock = ManualClock::new();
    let map: TtlMap<&str, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(64))
        .max_lifetime(Duration::from_secs(100))
        .clock(clock.clone())
        .build();
    map.insert("k", 1);
    for _ in 0..99 {
        clock.advance(SECOND);
        assert_eq!(map.get("k"), Some(1));
    }
    clock.advance(SECOND);
    assert_eq!(map.get("k"), None, "max_lifetime of 100 s");
    assert!(!map.contains_key("k"));
    assert_eq!(map.get_or_insert_with(&"k", || 2), 2);
}

// ---------------------------------------------------------------------------------------------
// Failed flights.
// ---------------------------------------------------------------------------------------------

/// The shared form and its async twin do share, counted once per waiting call. Holds.
#[test]
fn a_shared_error_reaches_sync_and_async_waiters_counted_once_each() {
    within(Duration::from_secs(20), || {
        let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
        let released = Gate::default();
        let release = &released;
        let runs = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let leader = s.spawn(|| {
                map.try_get_or_insert_with_shared("k", || {
                    released.wait();
                    Err::<u32, &str>("down")
                })
            });
            wait_until("the leader runs", || map.stats().misses == 1);
            let sync_waiter = s.spawn(|| {
                map.try_get_or_insert_with_shared("k", || {
                    runs.fetch_add(1, SeqCst);
                    Ok::<u32, &str>(1)
                })
            });
            let async_waiter = s.spawn(|| {
                block_on(map.try_get_or_insert_with_shared_async("k", async {
                    runs.fetch_add(1, SeqCst);
                    Ok::<u32, &str>(1)
                }))
            });
            wait_until("both wait", || map.stats().coalesced == 2);
            release.open();
            assert_eq!(*leader.join().unwrap().unwrap_err(), "down");
            assert_eq!(*sync_waiter.join().unwrap().unwrap_err(), "down");
            assert_eq!(*async_waiter.join().unwrap().unwrap_err(), "down");
        });
        assert_eq!(runs.load(SeqCst), 0);
        assert_eq!(map.stats().coalesced, 2);
        assert_eq!(map.stats().hits + map.stats().misses, 3);
    });
}

/// An abandoned async leader: its waiters start over, one leads; `coalesced` counts each
/// waiting call once although some wait twice. Holds.
#[test]
fn waiters_of_an_abandoned_leader_are_counted_once_each() {
    within(Duration::from_secs(20), || {
        let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
        let runs = AtomicUsize::new(0);
        let mut leader = Box::pin(map.get_or_insert_with_async("k", std::future::pending::<u32>()));
        assert!(poll_once(leader.as_mut()).is_pending());
        std::thread::scope(|s| {
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        block_on(map.get_or_insert_with_async("k", async {
                            runs.fetch_add(1, SeqCst);
                            7
                        }))
                    })
                })
                .collect();
            wait_until("three wait", || map.stats().coalesced == 3);
            drop(leader);
            for w in waiters {
                assert_eq!(w.join().unwrap(), 7);
            }
        });
        assert_eq!(runs.load(SeqCst), 1, "one of the waiters leads for all");
        // Two of the three waited again for the new leader: still counted once per call.
        assert_eq!(map.stats().coalesced, 3);
    });
}

// ---------------------------------------------------------------------------------------------
// Invalidation wins.
// ---------------------------------------------------------------------------------------------

/// A refresh is a flight too: `clear` and `retain` during it win. Holds.
#[test]
fn clear_and_retain_win_over_a_refresh_in_progress() {
    for invalidate in ["clear", "retain", "remove"] {
        within(Duration::from_secs(20), move || {
            let clock = ManualClock::new();
            let map: TtlMap<String, u32> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .refresh_after(Duration::from_secs(10))
                .clock(clock.clone())
                .build();
            map.insert("k".to_owned(), 1);
            clock.advance(Duration::from_secs(11));
            let released = Gate::default();
            let release = &released;
            std::thread::scope(|s| {
                let refresher = s.spawn(|| {
                    map.get_or_insert_with("k", || {
                        released.wait();
                        2
                    })
                });
                wait_until("the refresh runs", || map.stats().hits == 1);
                // Other callers get the current value at once.
                assert_eq!(map.get_or_insert_with("k", || 99), 1);
                match invalidate {
                    "clear" => map.clear(),
                    "retain" => map.retain(|_, _| false),
                    _ => drop(map.remove("k")),
                }
                release.open();
                assert_eq!(refresher.join().unwrap(), 2, "its caller still gets it");
            });
            assert_eq!(
                map.get("k"),
                None,
                "{invalidate} returned before the refresh landed"
            );
        });
    }
}

/// An `insert` during an async flight, and during own attempts after a failed flight, is not
/// overwritten. Holds.
#[test]
fn an_insert_during_an_async_flight_or_an_attempt_is_not_overwritten() {
    within(Duration::from_secs(20), || {
        let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
        // An async leader, polled by hand: pending until `go`.
        let go = AtomicBool::new(false);
        let mut leader = Box::pin(map.get_or_insert_with_async(
            "k",
            std::future::poll_fn(|_| {
                if go.load(SeqCst) {
                    Poll::Ready(1)
                } else {
                    Poll::Pending
                }
            }),
        ));
        assert!(poll_once(leader.as_mut()).is_pending());
        map.insert("k".to_owned(), 2);
        go.store(true, SeqCst);
        assert_eq!(block_on(leader), 1, "its caller gets its value");
        assert_eq!(
            map.get("k"),
            Some(2),
            "the async flight overwrote the insert"
        );

        let released = Gate::default();
        let release = &released;
        std::thread::scope(|s| {
            let flight = s.spawn(|| {
                map.get_or_insert_with("a", || {
                    released.wait();
                    10
                })
            });
            wait_until("the flight runs", || map.stats().misses == 2);
            map.insert("a".to_owned(), 20);
            release.open();
            assert_eq!(flight.join().unwrap(), 10);
        });
        assert_eq!(map.get("a"), Some(20));

        // Own attempts after an unshared failure.
        let released = Gate::default();
        let release = &released;
        let attempt_runs = Gate::default();
        let attempting = &attempt_runs;
        let finished = Gate::default();
        let finish = &finished;
        std::thread::scope(|s| {
            let leader = s.spawn(|| {
                map.try_get_or_insert_with("b", || {
                    released.wait();
                    Err::<u32, ()>(())
                })
            });
            wait_until("the leader runs", || map.stats().misses == 3);
            let waiter = s.spawn(|| {
                map.try_get_or_insert_with("b", || {
                    attempting.open();
                    finished.wait();
                    Ok::<u32, ()>(30)
                })
            });
            wait_until("the waiter waits", || map.stats().coalesced == 1);
            release.open();
            attempt_runs.wait();
            map.insert("b".to_owned(), 40);
            finish.open();
            assert_eq!(leader.join().unwrap(), Err(()));
            assert_eq!(waiter.join().unwrap(), Ok(30));
        });
        assert_eq!(map.get("b"), Some(40), "the attempt overwrote the insert");
    });
}

// ---------------------------------------------------------------------------------------------
// Single flight when nothing is stored.
// ---------------------------------------------------------------------------------------------

/// Async waiters of a sync leader, with ttl 0 and capacity 0: one construction. Holds.
#[test]
fn async_waiters_take_the_value_from_the_flight_when_nothing_is_stored() {
    for capacity_zero in [false, true] {
        within(Duration::from_secs(20), move || {
            let builder = TtlMap::<String, u32>::builder();
            let map = if capacity_zero {
                builder.ttl(Duration::from_secs(60)).capacity(0).build()
            } else {
                builder.ttl(Duration::ZERO).build()
            };
            let runs = AtomicUsize::new(0);
            let released = Gate::default();
            let release = &released;
            std::thread::scope(|s| {
                let leader = s.spawn(|| {
                    map.get_or_insert_with("k", || {
                        runs.fetch_add(1, SeqCst);
                        released.wait();
                        5
                    })
                });
                wait_until("the leader runs", || runs.load(SeqCst) == 1);
                let waiters: Vec<_> = (0..3)
                    .map(|i| {
                        let (map, runs) = (&map, &runs);
                        s.spawn(move || match i {
                            0 => block_on(map.get_or_insert_with_async("k", async {
                                runs.fetch_add(1, SeqCst);
                                6
                            })),
                            1 => block_on(map.optionally_get_or_insert_with_async("k", async {
                                runs.fetch_add(1, SeqCst);
                                Some(6)
                            }))
                            .unwrap(),
                            _ => block_on(map.try_get_or_insert_with_async("k", async {
                                runs.fetch_add(1, SeqCst);
                                Ok::<u32, ()>(6)
                            }))
                            .unwrap(),
                        })
                    })
                    .collect();
                wait_until("three wait", || map.stats().coalesced == 3);
                release.open();
                assert_eq!(leader.join().unwrap(), 5);
                for w in waiters {
                    assert_eq!(w.join().unwrap(), 5);
                }
            });
            assert_eq!(runs.load(SeqCst), 1);
            assert_eq!(map.get("k"), None);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Refresh and stale values.
// ---------------------------------------------------------------------------------------------

/// A failed refresh keeps the old value, also in the shared and `optionally_` forms; only one
/// rebuild runs while others get the current value. Holds.
#[test]
fn a_failed_refresh_keeps_the_value_in_every_form() {
    let clock = ManualClock::new();
    let map: TtlMap<String, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .refresh_after(Duration::from_secs(10))
        .clock(clock.clone())
        .build();
    map.insert("k".to_owned(), 1);
    clock.advance(Duration::from_secs(11));
    assert_eq!(
        map.try_get_or_insert_with_shared("k", || Err::<u32, ()>(())),
        Ok(1)
    );
    assert_eq!(map.optionally_get_or_insert_with("k", || None), Some(1));
    assert_eq!(
        map.try_get_or_insert_with("k", || Err::<u32, ()>(())),
        Ok(1)
    );
    assert_eq!(
        block_on(map.try_get_or_insert_with_async("k", async { Err::<u32, ()>(()) })),
        Ok(1)
    );
    assert_eq!(map.get("k"), Some(1));
    assert_eq!(
        map.get_or_insert_with("k", || 2),
        2,
        "a successful refresh replaces it"
    );
    assert_eq!(map.get("k"), Some(2));
}

/// `stale_if_error` never lets `get` see the stale value, and `remove` ends its window. Holds.
#[test]
fn stale_values_are_for_failed_rebuilds_only() {
    let clock = ManualClock::new();
    let map: TtlMap<String, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .stale_if_error(Duration::from_secs(30))
        .clock(clock.clone())
        .build();
    map.insert("k".to_owned(), 1);
    clock.advance(Duration::from_secs(61));
    assert_eq!(map.get("k"), None);
    assert!(!map.contains_key("k"));
    assert_eq!(map.iter().count(), 0);
    assert_eq!(
        map.try_get_or_insert_with("k", || Err::<u32, ()>(())),
        Ok(1)
    );
    assert_eq!(map.remove("k"), None, "expired: not returned");
    assert_eq!(
        map.try_get_or_insert_with("k", || Err::<u32, ()>(())),
        Err(())
    );
}

// ---------------------------------------------------------------------------------------------
// User code: panics and aborts.
// ---------------------------------------------------------------------------------------------

static ARMED: AtomicBool = AtomicBool::new(false);

/// A value whose `Drop` panics once armed (every drop, as a careless `Drop` would).
#[derive(Clone, Debug, PartialEq)]
struct Bomb(u32);

impl Drop for Bomb {
    fn drop(&mut self) {
        if ARMED.load(SeqCst) {
            panic!("Bomb::drop");
        }
    }
}

/// SPEC: nothing in user code (Drop) can abort the process. A waiter joins a flight and its
/// future is dropped, so the leader holds the flight's last reference: the flight's copy of
/// the value is dropped inside the landing, and its `Drop` panics.
#[test]
fn a_panicking_value_drop_when_a_flight_lands_does_not_abort() {
    in_child(
        "a_panicking_value_drop_when_a_flight_lands_does_not_abort",
        || {
            let map: TtlMap<String, Bomb> = TtlMap::new(Duration::from_secs(60));
            let released = Gate::default();
            let release = &released;
            std::thread::scope(|s| {
                let leader = s.spawn(|| {
                    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        map.get_or_insert_with("k", || {
                            released.wait();
                            ARMED.store(true, SeqCst);
                            Bomb(1)
                        })
                    }));
                    if let Ok(value) = got {
                        std::mem::forget(value);
                    }
                });
                wait_until("the leader runs", || map.stats().misses == 1);
                {
                    let mut waiter = pin!(map.get_or_insert_with_async("k", async { Bomb(2) }));
                    assert!(poll_once(waiter.as_mut()).is_pending());
                    assert_eq!(map.stats().coalesced, 1);
                } // the waiter gives up
                release.open();
                leader.join().unwrap();
            });
            ARMED.store(false, SeqCst);
            std::mem::forget(map);
        },
    );
}

/// SPEC: nothing in user code (Drop) can abort the process. A waiter of a failed flight makes
/// its own attempt; the key holds a value by the time it lands, so the attempt's copy is
/// dropped unstored, and its `Drop` panics.
#[test]
fn a_panicking_value_drop_of_an_unstored_attempt_does_not_abort() {
    in_child(
        "a_panicking_value_drop_of_an_unstored_attempt_does_not_abort",
        || {
            let map: TtlMap<String, Bomb> = TtlMap::new(Duration::from_secs(60));
            let released = Gate::default();
            let release = &released;
            std::thread::scope(|s| {
                let leader = s.spawn(|| {
                    map.try_get_or_insert_with("k", || {
                        released.wait();
                        Err::<Bomb, ()>(())
                    })
                    .is_err()
                });
                wait_until("the leader runs", || map.stats().misses == 1);
                let waiter = s.spawn(|| {
                    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        map.try_get_or_insert_with("k", || {
                            map.insert("k".to_owned(), Bomb(3));
                            ARMED.store(true, SeqCst);
                            Ok::<Bomb, ()>(Bomb(4))
                        })
                    }));
                    if let Ok(value) = got {
                        std::mem::forget(value);
                    }
                });
                wait_until("the waiter waits", || map.stats().coalesced == 1);
                release.open();
                assert!(leader.join().unwrap());
                waiter.join().unwrap();
            });
            ARMED.store(false, SeqCst);
            std::mem::forget(map);
        },
    );
}

// ---------------------------------------------------------------------------------------------
// User code that uses the map.
// ---------------------------------------------------------------------------------------------

/// A value whose `Clone` looks another key up in the map it lives in (a metrics hook, say).
struct Peeking {
    value: u32,
    map: Arc<Mutex<Option<TtlMap<u32, Peeking>>>>,
}

impl Clone for Peeking {
    fn clone(&self) -> Self {
        let map = self.map.lock().unwrap().clone();
        if let Some(map) = map {
            let _ = map.contains_key(&999);
        }
        Peeking {
            value: self.value,
            map: Arc::clone(&self.map),
        }
    }
}

/// SPEC: nothing in user code (... Clone ...) can wedge a shard. A value's `Clone` that reads
/// the map (another key) while the map clones it for a memoizing caller must not deadlock.
/// (lib.rs's docs disclaim this; SPEC does not.)
#[test]
fn a_value_clone_that_reads_the_map_does_not_deadlock_a_landing() {
    let slot: Arc<Mutex<Option<TtlMap<u32, Peeking>>>> = Arc::new(Mutex::new(None));
    let map: TtlMap<u32, Peeking> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .capacity(10) // one shard: every key shares its lock
        .build();
    *slot.lock().unwrap() = Some(map.clone());
    let value = within(Duration::from_secs(30), move || {
        map.get_or_insert_with(&1, || Peeking {
            value: 1,
            map: Arc::clone(&slot),
        })
        .value
    });
    assert_eq!(value, 1);
}

// ---------------------------------------------------------------------------------------------
// Sync waiting for async on the same thread, Debug.
// ---------------------------------------------------------------------------------------------

/// A sync `try_`/`optionally_` call that would wait for an async flight polled on its own
/// thread panics with a message instead of hanging. Holds.
#[test]
fn every_sync_form_waiting_for_its_own_threads_async_flight_panics() {
    for form in 0..3 {
        within(Duration::from_secs(20), move || {
            let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
            let mut leader =
                Box::pin(map.get_or_insert_with_async("k", std::future::pending::<u32>()));
            assert!(poll_once(leader.as_mut()).is_pending());
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match form {
                0 => drop(map.try_get_or_insert_with("k", || Ok::<u32, ()>(1))),
                1 => drop(map.optionally_get_or_insert_with("k", || Some(1))),
                _ => drop(map.try_get_or_insert_with_shared("k", || Ok::<u32, ()>(1))),
            }));
            let panic = caught.expect_err("must panic, not wait");
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            assert!(message.contains("same thread"), "{message}");
            drop(leader);
            assert_eq!(
                map.get_or_insert_with("k", || 3),
                3,
                "the key is not wedged"
            );
        });
    }
}

/// `Debug` never shows a key or a value, whatever the configuration. Holds.
#[test]
fn debug_shows_no_key_or_value() {
    let clock = ManualClock::new();
    let map: TtlMap<String, String> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .capacity(3)
        .max_lifetime(Duration::from_secs(90))
        .refresh_after(Duration::from_secs(10))
        .stale_if_error(Duration::from_secs(5))
        .expire_after(|_, _| None)
        .name("attack-debug")
        .clock(clock)
        .build();
    map.insert("sk-live-KEY123".to_owned(), "VALUE-SECRET".to_owned());
    let shown = format!("{map:?} {:?} {:?} {:#?}", map.iter(), map.stats(), map);
    assert!(
        !shown.contains("KEY123") && !shown.contains("SECRET"),
        "{shown}"
    );
}
