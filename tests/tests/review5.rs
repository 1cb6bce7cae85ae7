//! Review 5: adversarial tests of a72b459 (user code that panics while storing, wakers woken
//! outside the flight's lock, each even if one panics). Time comes from `ManualClock`;
//! deadlocks show as failures through deadlines, aborts through a child process.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use cache_core::{ManualClock, Reason, TtlMap, ttl_cached};
use tests::{in_child, panic_message, wait_until, within};

const SECOND: Duration = Duration::from_secs(1);

/// A key whose `Eq` panics while its trap is set, hashed by `bucket` only (so that two keys
/// of one bucket meet in the table's probe).
#[derive(Clone, Debug)]
struct Key {
    id: u32,
    bucket: u32,
    trap: Arc<AtomicBool>,
}

impl Key {
    fn new(id: u32, bucket: u32, trap: &Arc<AtomicBool>) -> Self {
        Key {
            id,
            bucket,
            trap: Arc::clone(trap),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        if self.trap.load(SeqCst) {
            panic!("Key::eq");
        }
        self.id == other.id
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bucket.hash(state);
    }
}

/// A value whose `Drop` panics while its bomb is set.
#[derive(Clone, Debug)]
struct Bomb {
    n: u32,
    armed: Arc<AtomicBool>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed.load(SeqCst) {
            panic!("Bomb::drop {}", self.n);
        }
    }
}

/// A waker whose `wake` panics (a buggy executor, or one that panics on a closed queue).
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("waker");
    }
}

/// Polls `future` once with `waker`.
fn poll_once<F: Future>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

// ---------------------------------------------------------------------------------------------
// Wakers that panic: every waiter is still woken, and the panic is not passed on.
// ---------------------------------------------------------------------------------------------

/// What the listener heard, the evictions, the leader's outcome and the waiter's value.
type Landed = (Vec<(String, Reason)>, u64, Result<u32, String>, u32);

/// Capacity 1 holds `a`; a sync leader lands `b`, whose store evicts `a`, while an async
/// waiter whose waker panics waits. Returns what the listener heard, the evictions counted,
/// the leader's outcome, and the waiter's value.
fn landing_with_a_panicking_waker() -> Landed {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let hear = Arc::clone(&heard);
    let map: Arc<TtlMap<String, u32>> = Arc::new(
        TtlMap::builder()
            .ttl(60 * SECOND)
            .capacity(1)
            .clock(ManualClock::new())
            .on_evict(move |k: &String, _: &u32, r| hear.lock().unwrap().push((k.clone(), r)))
            .build(),
    );
    map.insert("a".into(), 1);
    let leader = {
        let map = Arc::clone(&map);
        std::thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                map.get_or_insert_with("b", || {
                    wait_until("the waiter joins", || map.stats().coalesced >= 1);
                    2
                })
            }))
            .map_err(|p| panic_message(&*p).to_string())
        })
    };
    wait_until("the leader runs", || map.stats().misses >= 1);
    let mut waiter = pin!(map.get_or_insert_with_async("b", async { 3 }));
    let waker = Waker::from(Arc::new(PanickingWaker));
    assert!(poll_once(waiter.as_mut(), &waker).is_pending());
    let led = leader.join().unwrap();
    let got = loop {
        if let Poll::Ready(v) = poll_once(waiter.as_mut(), Waker::noop()) {
            break v;
        }
        std::thread::yield_now();
    };
    let heard = heard.lock().unwrap().clone();
    (heard, map.stats().evictions, led, got)
}

/// SPEC: the listener hears every removal, and `stats()` counts it. A waiter's waker that
/// panics when the flight lands (`flight.land` in `memo.rs` `complete`, outside any `catch`)
/// unwinds `complete` before `after_store`: the entry the landing's store evicted is dropped
/// unheard and uncounted.
#[test]
fn a_panicking_waker_does_not_lose_the_entry_the_landing_evicted() {
    let (heard, evictions, _, got) = within(20 * SECOND, landing_with_a_panicking_waker);
    assert_eq!(got, 2, "the waiter gets the flight's value");
    assert_eq!(
        (heard, evictions),
        (vec![("a".to_string(), Reason::Capacity)], 1),
        "the entry evicted by the landing vanished unheard and uncounted"
    );
}

/// Another task's waker is no part of the leader's call: its panic reaches the leader, whose
/// value was made and stored, as if its own call had failed.
#[test]
fn a_panicking_waker_of_a_waiter_does_not_fail_the_leaders_call() {
    let (_, _, led, _) = within(20 * SECOND, landing_with_a_panicking_waker);
    assert_eq!(
        led,
        Ok(2),
        "the leader's call panicked with a waiter's waker's panic"
    );
}

/// SPEC: nothing in user code can abort the process. A sync leader's constructor panics; its
/// ticket lands the flight as panicked from its `Drop`, while the thread unwinds, and an
/// async waiter's waker panics: `Rendezvous::land` resumes that panic inside the `Drop`, a
/// second panic while unwinding.
#[test]
fn a_panicking_constructor_with_a_panicking_waker_does_not_abort() {
    in_child(
        "a_panicking_constructor_with_a_panicking_waker_does_not_abort",
        || {
            let map: Arc<TtlMap<String, u32>> = Arc::new(TtlMap::new(60 * SECOND));
            let leader = {
                let map = Arc::clone(&map);
                std::thread::spawn(move || {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        map.get_or_insert_with("b", || {
                            wait_until("the waiter joins", || map.stats().coalesced >= 1);
                            panic!("init")
                        })
                    }));
                })
            };
            wait_until("the leader runs", || map.stats().misses >= 1);
            let mut waiter = pin!(map.get_or_insert_with_async("b", async { 3 }));
            let waker = Waker::from(Arc::new(PanickingWaker));
            assert!(poll_once(waiter.as_mut(), &waker).is_pending());
            leader.join().unwrap();
        },
    );
}

/// The async leader's form: its future panics inside `block_on`-like polling on the stack and
/// is dropped while unwinding; its `AsyncTicket` lands the flight from its `Drop`.
#[test]
fn a_panicking_async_constructor_with_a_panicking_waker_does_not_abort() {
    in_child(
        "a_panicking_async_constructor_with_a_panicking_waker_does_not_abort",
        || {
            let map: Arc<TtlMap<String, u32>> = Arc::new(TtlMap::new(60 * SECOND));
            let leader = {
                let map = Arc::clone(&map);
                std::thread::spawn(move || {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let mut led = pin!(map.get_or_insert_with_async("b", async {
                            wait_until("the waiter joins", || map.stats().coalesced >= 1);
                            panic!("init")
                        }));
                        let _ = poll_once(led.as_mut(), Waker::noop());
                    }));
                })
            };
            wait_until("the leader runs", || map.stats().misses >= 1);
            let mut waiter = pin!(map.get_or_insert_with_async("b", async { 3 }));
            let waker = Waker::from(Arc::new(PanickingWaker));
            assert!(poll_once(waiter.as_mut(), &waker).is_pending());
            leader.join().unwrap();
        },
    );
}

// ---------------------------------------------------------------------------------------------
// User code under the lock that `Inner::store`'s `catch` does not cover.
// ---------------------------------------------------------------------------------------------

/// SPEC: nothing in user code can abort. `insert` invalidates the key's flight under the lock
/// (`Flights::invalidate`, the key's `Eq`) before `store` and outside its `catch`: if that
/// `Eq` panics, the entry in `pending` is dropped while unwinding, and a value whose `Drop`
/// panics aborts (the family a72b459 fixed for `store` itself).
#[test]
fn an_insert_whose_eq_panics_invalidating_a_flight_with_a_panicking_value_drop_does_not_abort() {
    in_child(
        "an_insert_whose_eq_panics_invalidating_a_flight_with_a_panicking_value_drop_does_not_abort",
        || {
            let trap = Arc::new(AtomicBool::new(false));
            let map: Arc<TtlMap<Key, Bomb>> = Arc::new(
                TtlMap::builder()
                    .ttl(60 * SECOND)
                    .clock(ManualClock::new())
                    .build(),
            );
            let (release, released) = mpsc::channel::<()>();
            let leader = {
                let (map, trap) = (Arc::clone(&map), Arc::clone(&trap));
                std::thread::spawn(move || {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        map.get_or_insert_with(&Key::new(1, 0, &trap), || {
                            let _ = released.recv_timeout(20 * SECOND);
                            Bomb {
                                n: 0,
                                armed: Arc::default(),
                            }
                        })
                    }));
                })
            };
            wait_until("the leader runs", || map.stats().misses >= 1);
            let armed = Arc::new(AtomicBool::new(true));
            let key = Key::new(1, 0, &trap);
            trap.store(true, SeqCst);
            let inserted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                map.insert(
                    key,
                    Bomb {
                        n: 1,
                        armed: Arc::clone(&armed),
                    },
                )
            }));
            trap.store(false, SeqCst);
            armed.store(false, SeqCst);
            let _ = release.send(());
            leader.join().unwrap();
            drop(inserted);
        },
    );
}

/// The same through an own attempt (`store_attempt`): its `table.contains` runs the key's
/// `Eq` under the lock, outside `store`'s `catch`, with the copy in `pending`.
#[test]
fn an_attempt_whose_eq_panics_in_contains_with_a_panicking_value_drop_does_not_abort() {
    in_child(
        "an_attempt_whose_eq_panics_in_contains_with_a_panicking_value_drop_does_not_abort",
        || {
            let trap = Arc::new(AtomicBool::new(false));
            let map: TtlMap<Key, Bomb> = TtlMap::builder()
                .ttl(60 * SECOND)
                .clock(ManualClock::new())
                .build();
            // Another key of the same bucket: `contains` of key 1 meets it in its probe.
            map.insert(
                Key::new(2, 0, &trap),
                Bomb {
                    n: 2,
                    armed: Arc::default(),
                },
            );
            let armed = Arc::new(AtomicBool::new(false));
            std::thread::scope(|s| {
                s.spawn(|| {
                    let _ = map.try_get_or_insert_with(&Key::new(1, 0, &trap), || {
                        wait_until("the waiter joins", || map.stats().coalesced >= 1);
                        Err::<Bomb, ()>(())
                    });
                });
                wait_until("the leader runs", || map.stats().misses >= 1);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    map.try_get_or_insert_with(&Key::new(1, 0, &trap), || {
                        armed.store(true, SeqCst);
                        trap.store(true, SeqCst);
                        Ok::<_, ()>(Bomb {
                            n: 1,
                            armed: Arc::clone(&armed),
                        })
                    })
                }));
                trap.store(false, SeqCst);
                armed.store(false, SeqCst);
            });
        },
    );
}

// ---------------------------------------------------------------------------------------------
// What holds: a store's panic in the table's probe, at a landing with waiters.
// ---------------------------------------------------------------------------------------------

/// A landing whose store's probe runs a key's `Eq` that panics (another key of the bucket is
/// held): the waiter gets the value, the leader the panic, nothing is stored or counted as
/// inserted, the flight is gone and the map works. Holds.
#[test]
fn a_landing_whose_probe_panics_wakes_the_waiter_with_the_value_and_stores_nothing() {
    within(20 * SECOND, || {
        let trap = Arc::new(AtomicBool::new(false));
        let map: Arc<TtlMap<Key, u32>> = Arc::new(
            TtlMap::builder()
                .ttl(60 * SECOND)
                .capacity(2)
                .clock(ManualClock::new())
                .build(),
        );
        map.insert(Key::new(2, 0, &trap), 20);
        let leader = {
            let (map, trap) = (Arc::clone(&map), Arc::clone(&trap));
            std::thread::spawn(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    map.get_or_insert_with(&Key::new(1, 0, &trap), || {
                        wait_until("the waiter joins", || map.stats().coalesced >= 1);
                        trap.store(true, SeqCst);
                        10
                    })
                }))
                .map_err(|p| panic_message(&*p).to_string())
            })
        };
        wait_until("the leader runs", || map.stats().misses >= 1);
        let waiter = {
            let (map, trap) = (Arc::clone(&map), Arc::clone(&trap));
            std::thread::spawn(move || map.get_or_insert_with(&Key::new(1, 0, &trap), || 11))
        };
        assert_eq!(leader.join().unwrap(), Err("Key::eq".to_string()));
        assert_eq!(
            waiter.join().unwrap(),
            10,
            "the waiter gets the flight's value"
        );
        trap.store(false, SeqCst);
        assert_eq!(map.len(), 1);
        assert_eq!(map.stats().inserts, 1);
        assert_eq!(map.get(&Key::new(1, 0, &trap)), None);
        assert_eq!(map.get_or_insert_with(&Key::new(1, 0, &trap), || 12), 12);
        assert_eq!(map.len(), 2);
    });
}

// ---------------------------------------------------------------------------------------------
// The macro: `expire_after` that panics, no `shared`.
// ---------------------------------------------------------------------------------------------

static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[ttl_cached(ttl = "1h", cache = unlucky_cache, expire_after = |_: &u32, v: &u32| {
    if *v == 13 { panic!("expire_after 13") }
    None
})]
fn unlucky(x: u32) -> u32 {
    RUNS.fetch_add(1, SeqCst);
    x
}

/// A memoized function whose `expire_after` panics for one value: each call of it panics
/// with that panic (nothing stored), the others are cached. Holds.
#[test]
fn a_macro_function_whose_expire_after_panics_stores_nothing_and_keeps_working() {
    within(20 * SECOND, || {
        for _ in 0..2 {
            let got = std::panic::catch_unwind(|| unlucky(13));
            assert_eq!(
                panic_message(&*got.unwrap_err()).to_string(),
                "expire_after 13"
            );
        }
        assert_eq!(RUNS.load(SeqCst), 2);
        assert_eq!(unlucky(1), 1);
        assert_eq!(unlucky(1), 1);
        assert_eq!(RUNS.load(SeqCst), 3);
        assert_eq!(unlucky_cache().len(), 1);
    });
}
