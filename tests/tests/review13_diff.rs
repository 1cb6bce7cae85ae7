//! Review of h79's diff (ab5cba3..9088e4f): the async waiters' waker slab (numbers handed back
//! and taken again), `clear`'s in-place fast path, and `get` counting before the value's
//! `Clone`. The striped lock's enlisting race is a memory-model one, shown by a loom model
//! outside this package (see the review's report).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use cache_core::TtlMap;
use tests::{counts, quiet_panics};

/// A waker that counts its wakes.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting() -> (Arc<Counting>, Waker) {
    let counter = Arc::new(Counting::default());
    (counter.clone(), Waker::from(counter))
}

/// Pending until opened.
struct Gate(Arc<AtomicBool>);

impl Future for Gate {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        match self.0.load(SeqCst) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}

fn poll<F: Future + ?Sized>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// Waiters that leave hand their numbers back and later waiters take them: the landing wakes
/// exactly the wakers of the waiters still there (the last waker each one gave), never one of a
/// waiter gone or a waker replaced, and the table holds no waker of a waiter gone.
#[test]
fn a_waiter_number_handed_back_and_taken_again_wakes_only_the_waiters_there() {
    let map: TtlMap<u32, u32> = TtlMap::new(Duration::from_secs(60));
    let open = Arc::new(AtomicBool::new(false));
    let mut leader = Box::pin(map.get_or_insert_with_async(&1, async {
        Gate(open.clone()).await;
        7
    }));
    assert!(poll(leader.as_mut(), Waker::noop()).is_pending());
    let waiter = || Box::pin(map.get_or_insert_with_async(&1, async { unreachable!() }));
    let (a, b, c, d, b2) = (counting(), counting(), counting(), counting(), counting());
    let mut wa = waiter();
    let mut wb = waiter();
    let mut wc = waiter();
    for (w, (_, waker)) in [(&mut wa, &a), (&mut wb, &b), (&mut wc, &c)] {
        assert!(poll(w.as_mut(), waker).is_pending());
    }
    assert_eq!(map.stats().coalesced, 3);
    // `a` leaves (number 0 handed back); `d` takes it; `b` moves to another waker.
    drop(wa);
    let mut wd = waiter();
    assert!(poll(wd.as_mut(), &d.1).is_pending());
    assert!(poll(wb.as_mut(), &b2.1).is_pending());
    // Only the table's clones and ours: `a`'s and `b`'s first clone are gone already.
    assert_eq!(
        Arc::strong_count(&a.0),
        2,
        "the waker of a waiter gone is kept"
    );
    assert_eq!(Arc::strong_count(&b.0), 2, "a replaced waker is kept");
    open.store(true, SeqCst);
    assert_eq!(poll(leader.as_mut(), Waker::noop()), Poll::Ready(7));
    let wakes = [&a, &b, &c, &d, &b2].map(|(n, _)| n.0.load(SeqCst));
    assert_eq!(
        wakes,
        [0, 0, 1, 1, 1],
        "wakes of a, b (first), c, d, b (second)"
    );
    for (w, waker) in [(&mut wb, &b2.1), (&mut wc, &c.1), (&mut wd, &d.1)] {
        assert_eq!(poll(w.as_mut(), waker), Poll::Ready(7));
    }
    assert_eq!(map.stats().coalesced, 4, "each waiter counted once");
}

/// Many waiters joining and leaving in turns keep every live waiter reachable: after 1,000
/// rounds of "two join, one leaves", the landing wakes each of the 1,000 left once.
#[test]
fn waiters_coming_and_going_in_turns_are_all_woken_once() {
    let map: TtlMap<u32, u32> = TtlMap::new(Duration::from_secs(60));
    let open = Arc::new(AtomicBool::new(false));
    let mut leader = Box::pin(map.get_or_insert_with_async(&1, async {
        Gate(open.clone()).await;
        7
    }));
    assert!(poll(leader.as_mut(), Waker::noop()).is_pending());
    let mut kept = Vec::new();
    for round in 0..1_000 {
        let mut stays = Box::pin(map.get_or_insert_with_async(&1, async { unreachable!() }));
        let mut goes = Box::pin(map.get_or_insert_with_async(&1, async { unreachable!() }));
        let (counter, waker) = counting();
        assert!(poll(stays.as_mut(), &waker).is_pending());
        assert!(poll(goes.as_mut(), Waker::noop()).is_pending());
        // Leave in alternating order, so that both a low and a high number go back.
        if round % 2 == 0 {
            drop(goes);
            kept.push((stays, counter, waker));
        } else {
            kept.push((stays, counter, waker));
            drop(goes);
        }
    }
    open.store(true, SeqCst);
    assert_eq!(poll(leader.as_mut(), Waker::noop()), Poll::Ready(7));
    for (mut stays, counter, waker) in kept {
        assert_eq!(counter.0.load(SeqCst), 1);
        assert_eq!(poll(stays.as_mut(), &waker), Poll::Ready(7));
    }
}

/// `clear`'s fast path (no listener, nothing to drop) changes no counter, and the map works
/// on after it: the same counters as the path that hands entries to a listener.
#[test]
fn clear_in_place_counts_what_a_heard_clear_counts() {
    let plain: TtlMap<u64, u64> = TtlMap::new(Duration::from_secs(60));
    let heard = Arc::new(AtomicUsize::new(0));
    let listening: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .on_evict({
            let heard = heard.clone();
            move |_, _, _| {
                heard.fetch_add(1, SeqCst);
            }
        })
        .build();
    for map in [&plain, &listening] {
        for k in 0..1_000 {
            map.insert(k, k);
        }
        assert_eq!(map.get(&3), Some(3));
        map.clear();
        assert_eq!((map.len(), map.get(&3)), (0, None));
        map.insert(3, 4);
        assert_eq!((map.len(), map.get(&3)), (1, Some(4)));
    }
    assert_eq!(heard.load(SeqCst), 1_000);
    assert_eq!(counts(&plain), counts(&listening));
}

/// A value whose `Clone` panics on demand.
#[derive(Debug)]
struct Fragile(bool);

impl Clone for Fragile {
    fn clone(&self) -> Self {
        assert!(!self.0, "boom: clone");
        Fragile(false)
    }
}

/// `get` now counts its hit before the value's `Clone` runs (map.rs: `Inner::get`), as a
/// memoizing call does: a `Clone` that panics leaves the hit counted, and the map usable.
#[test]
fn a_get_whose_clone_panics_is_counted_once_as_a_hit() {
    quiet_panics(|_| false);
    let map: TtlMap<u32, Fragile> = TtlMap::new(Duration::from_secs(60));
    map.insert(1, Fragile(true));
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.get(&1)));
    assert!(got.is_err());
    let stats = map.stats();
    assert_eq!((stats.hits, stats.misses), (1, 0));
    map.insert(1, Fragile(false));
    assert!(map.get(&1).is_some());
    assert_eq!(map.stats().hits, 2);
}
