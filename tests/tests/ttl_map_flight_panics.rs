//! Single flight when user code panics between unregistering and landing a flight: the
//! waiters are always woken (found by an adversarial review).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use cache_core::TtlMap;
use tests::wait_until;

static PANIC_NEXT_CLONE: AtomicBool = AtomicBool::new(false);

/// A value whose next `clone` panics once armed.
#[derive(Debug, PartialEq)]
struct Touchy(u64);
impl Clone for Touchy {
    fn clone(&self) -> Self {
        if PANIC_NEXT_CLONE.swap(false, SeqCst) {
            panic!("Touchy::clone");
        }
        Touchy(self.0)
    }
}

/// A waiter of a flight whose leader's `V::clone` panics in `Ticket::complete` must not hang.
#[test]
fn a_panicking_clone_at_landing_does_not_strand_the_waiters() {
    let map: TtlMap<String, Touchy> = TtlMap::new(Duration::from_secs(60));
    let leader = {
        let map = map.clone();
        std::thread::spawn(move || {
            map.get_or_insert_with("k", || {
                wait_until("a waiter joined", || map.stats().coalesced == 1);
                PANIC_NEXT_CLONE.store(true, SeqCst); // the clone made to store the value
                Touchy(1)
            })
        })
    };
    wait_until("the leader registered", || map.stats().misses == 1);
    let (tx, rx) = mpsc::channel();
    {
        let map = map.clone();
        std::thread::spawn(move || {
            let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                map.get_or_insert_with("k", || Touchy(2))
            }));
            let _ = tx.send(got.is_ok());
        });
    }
    assert!(leader.join().is_err(), "the leader's clone panicked");
    // The waiter either gets a value or makes its own attempt; it must return.
    let returned = rx.recv_timeout(Duration::from_secs(10));
    assert!(
        returned.is_ok(),
        "the waiter hangs forever: the flight was unregistered but never landed"
    );
    // And the key is not wedged for new callers.
    // And the key is not wedged: a new caller returns (the waiter's own attempt may be stored).
    map.get_or_insert_with("k", || Touchy(3));
}

/// Same through the async waiter.
#[test]
fn a_panicking_clone_at_landing_does_not_strand_async_waiters() {
    let map: TtlMap<String, Touchy> = TtlMap::new(Duration::from_secs(60));
    let leader = {
        let map = map.clone();
        std::thread::spawn(move || {
            map.get_or_insert_with("k", || {
                wait_until("a waiter joined", || map.stats().coalesced == 1);
                PANIC_NEXT_CLONE.store(true, SeqCst);
                Touchy(1)
            })
        })
    };
    wait_until("the leader registered", || map.stats().misses == 1);
    let rt = tests::two_worker_runtime();
    let m2 = map.clone();
    let waiter =
        rt.spawn(async move { m2.get_or_insert_with_async("k", async { Touchy(2) }).await });
    assert!(leader.join().is_err());
    let got = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), waiter).await });
    assert!(got.is_ok(), "the async waiter is pending forever");
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// A key whose Drop panics when armed: dropped under the flights lock in `Ticket::complete`
/// when the flight was invalidated.
static PANIC_KEY_DROP: AtomicBool = AtomicBool::new(false);
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct K(u32);
impl Drop for K {
    fn drop(&mut self) {
        if PANIC_KEY_DROP.swap(false, SeqCst) && !std::thread::panicking() {
            panic!("K::drop");
        }
    }
}

#[test]
fn a_panicking_key_drop_in_an_invalidated_flight_does_not_strand_the_waiters() {
    let map: TtlMap<K, u32> = TtlMap::new(Duration::from_secs(60));
    let leader = {
        let map = map.clone();
        std::thread::spawn(move || {
            map.get_or_insert_with(&K(1), || {
                RUNS.fetch_add(1, SeqCst);
                wait_until("a waiter joined", || map.stats().coalesced == 1);
                let _ = map.remove(&K(1)); // invalidates this flight
                PANIC_KEY_DROP.store(true, SeqCst); // the pending key, dropped in complete
                1
            })
        })
    };
    wait_until("the leader registered", || map.stats().misses == 1);
    let (tx, rx) = mpsc::channel();
    {
        let map = map.clone();
        std::thread::spawn(move || {
            let _ = tx.send(map.get_or_insert_with(&K(1), || 2));
        });
    }
    let _ = leader.join();
    assert!(
        rx.recv_timeout(Duration::from_secs(10)).is_ok(),
        "the waiter hangs forever"
    );
}

/// A clock that panics on demand: `Inner::store` reads it under the locks in `complete`.
struct PanicClock(Arc<AtomicBool>);
impl cache_core::Clock for PanicClock {
    fn now(&self) -> Duration {
        if self.0.swap(false, SeqCst) {
            panic!("clock");
        }
        Duration::from_secs(1)
    }
}

#[test]
fn a_panicking_clock_at_landing_does_not_strand_the_waiters() {
    let arm = Arc::new(AtomicBool::new(false));
    let map: TtlMap<String, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .clock(PanicClock(arm.clone()))
        .build();
    let leader = {
        let (map, arm) = (map.clone(), arm.clone());
        std::thread::spawn(move || {
            map.get_or_insert_with("k", || {
                wait_until("a waiter joined", || map.stats().coalesced == 1);
                arm.store(true, SeqCst);
                1
            })
        })
    };
    wait_until("the leader registered", || map.stats().misses == 1);
    let (tx, rx) = mpsc::channel();
    {
        let map = map.clone();
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                map.get_or_insert_with("k", || 2)
            }));
            let _ = tx.send(r.is_ok());
        });
    }
    let _ = leader.join();
    assert!(
        rx.recv_timeout(Duration::from_secs(10)).is_ok(),
        "the waiter hangs forever"
    );
}
