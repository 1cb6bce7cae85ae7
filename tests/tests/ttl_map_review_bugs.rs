//! Bugs found by the adversarial review of the one-lookup miss path (memo.rs, flight.rs):
//! each test fails on the code it was written against, and says why.
//!
//! - The clone of a flight's value handed to its waiters is made after the flight was taken
//!   out of its `Landing` guard: if that clone panics, the waiters wait forever.
//! - An async leader's future dropped while its thread unwinds from a panic elsewhere lands
//!   its flight as panicked, not abandoned (its ticket falls back to `thread::panicking`), and
//!   one polled during an unwinding is marked panicked though it only returned `Pending`: either
//!   way every waiter then builds the value on its own instead of one leading a new flight.
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use cache_core::TtlMap;
use tests::wait_until;

/// A value whose clones count down `fuse` once it is armed (above 0): the clone that brings it
/// from 1 to 0 panics. Each test has its own fuse, so tests running in parallel do not mix.
#[derive(Debug)]
struct Fused {
    value: u64,
    fuse: Arc<AtomicUsize>,
}

impl Clone for Fused {
    fn clone(&self) -> Self {
        let before = self.fuse.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        if before == Ok(1) {
            panic!("Fused::clone");
        }
        Fused {
            value: self.value,
            fuse: Arc::clone(&self.fuse),
        }
    }
}

/// Runs a flight of `"k"` whose leader, once a waiter joined, runs `then` and arms the value's
/// fuse with `clones`; asserts that the waiter returns (it may panic: its own attempt clones
/// too) within a generous timeout.
fn waiter_returns_after_a_clone_panics(
    clones: usize,
    then: impl FnOnce(&TtlMap<String, Fused>) + Send,
) {
    let map: TtlMap<String, Fused> = TtlMap::new(Duration::from_secs(60));
    let fuse = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let leader = std::thread::scope(|s| {
        let leader = s.spawn(|| {
            catch_unwind(AssertUnwindSafe(|| {
                map.get_or_insert_with("k", || {
                    wait_until("a waiter joined", || map.stats().coalesced == 1);
                    then(&map);
                    fuse.store(clones, SeqCst);
                    Fused {
                        value: 1,
                        fuse: Arc::clone(&fuse),
                    }
                })
            }))
            .is_ok()
        });
        wait_until("the leader registered", || map.stats().misses == 1);
        let waiter_map = map.clone();
        let waiter_fuse = Arc::clone(&fuse);
        // Not scoped: if it hangs, the scope must still end so that the test can fail.
        std::thread::spawn(move || {
            let got = catch_unwind(AssertUnwindSafe(|| {
                waiter_map.get_or_insert_with("k", || Fused {
                    value: 2,
                    fuse: waiter_fuse,
                })
            }));
            let _ = tx.send(got.map(|v| v.value).ok());
        });
        leader.join().expect("caught")
    });
    assert!(
        !leader,
        "the leader's own call panics: the clone for its waiters panicked"
    );
    let returned = rx.recv_timeout(Duration::from_secs(10));
    assert!(
        returned.is_ok(),
        "the waiter hangs forever: the flight was taken out of its Landing guard before the \
         clone for the waiters, which panicked, so it never landed"
    );
}

/// `complete` stores a clone (1st) and then lands `Outcome::Value(value.clone())` (2nd): the
/// existing test arms the 1st; this one the 2nd.
#[test]
fn a_panicking_clone_of_the_value_for_the_waiters_does_not_strand_them() {
    waiter_returns_after_a_clone_panics(2, |_| {});
}

/// An invalidated flight stores nothing, so the clone for its waiters is the first.
#[test]
fn a_panicking_clone_landing_an_invalidated_flight_does_not_strand_the_waiters() {
    waiter_returns_after_a_clone_panics(1, |map| {
        map.remove("k");
    });
}

/// Two sync waiters of an async leader whose future is dropped while its thread unwinds from
/// a panic that is not the constructor's; returns how many times the waiters built the value.
/// `drop_leader` makes a future lead (polls it once), calls its second argument (which waits
/// until both waiters joined) and drops the future.
fn waiter_runs_after_the_leader_is_dropped(
    drop_leader: impl FnOnce(&'static TtlMap<String, u64>, &(dyn Fn() + Sync)) + Send,
) -> usize {
    let map: &'static TtlMap<String, u64> =
        Box::leak(Box::new(TtlMap::new(Duration::from_secs(60))));
    let runs = AtomicUsize::new(0);
    let waiters_joined = || wait_until("both waiters joined", || map.stats().coalesced == 2);
    std::thread::scope(|s| {
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    wait_until("the leader registered", || map.stats().misses >= 1);
                    map.get_or_insert_with("k", || {
                        runs.fetch_add(1, SeqCst);
                        7
                    })
                })
            })
            .collect();
        drop_leader(map, &waiters_joined);
        for waiter in waiters {
            assert_eq!(waiter.join().expect("the waiter returns"), 7);
        }
    });
    runs.load(SeqCst)
}

/// Polls `future` once, with a waker that does nothing.
fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// A task holding the leader's future panics for another reason (a `join!` sibling, an
/// `unwrap` after an `.await` of something else): the future is dropped while unwinding. Its
/// constructor did not panic, so the flight is abandoned and its waiters start over, one
/// leading. The ticket lands it as panicked instead: `AsyncTicket::drop`, seeing no panic
/// noted, drops the inner `Ticket`, whose `Drop` judges by `thread::panicking()` (true here).
#[test]
fn a_leader_future_dropped_while_unwinding_from_another_panic_lets_one_waiter_lead() {
    let runs = waiter_runs_after_the_leader_is_dropped(|map, waiters_joined| {
        let task = catch_unwind(AssertUnwindSafe(|| {
            let mut leader = Box::pin(map.get_or_insert_with_async("k", std::future::pending()));
            assert!(poll_once(leader.as_mut()).is_pending());
            waiters_joined();
            panic!("a sibling of the leader's future failed"); // drops `leader` while unwinding
        }));
        assert!(task.is_err());
    });
    assert_eq!(
        runs, 1,
        "the abandoned flight landed as panicked: each waiter built the value on its own"
    );
}

/// A future first polled during an unwinding (a guard whose `Drop` starts a memoized call)
/// that returns `Pending`, then dropped later, outside any panic: `flight::mark` notes
/// `thread::panicking()` when the mark drops, true there though the constructor did not panic,
/// so the flight lands as panicked.
#[test]
fn a_leader_future_polled_during_an_unwinding_and_dropped_later_lets_one_waiter_lead() {
    type Stash = Mutex<Option<Pin<Box<dyn Future<Output = u64> + Send>>>>;
    struct PollOnDrop(&'static TtlMap<String, u64>, Arc<Stash>);
    impl Drop for PollOnDrop {
        fn drop(&mut self) {
            let mut leader = Box::pin(self.0.get_or_insert_with_async("k", std::future::pending()));
            assert!(poll_once(leader.as_mut()).is_pending());
            *self.1.lock().unwrap() = Some(leader);
        }
    }
    let runs = waiter_runs_after_the_leader_is_dropped(|map, waiters_joined| {
        let stash: Arc<Stash> = Arc::default();
        let guard = PollOnDrop(map, Arc::clone(&stash));
        let task = catch_unwind(AssertUnwindSafe(move || {
            let _guard = guard;
            panic!("the guard's owner fails");
        }));
        assert!(task.is_err());
        waiters_joined();
        drop(stash.lock().unwrap().take()); // no panic now: the leader is abandoned
    });
    assert_eq!(
        runs, 1,
        "the abandoned flight landed as panicked: each waiter built the value on its own"
    );
}
