//! Single flight: one constructor per key per miss, everyone else waits for its outcome.
//!
//! A [`Flight`] is the rendezvous between the caller that runs a key's constructor (the
//! leader) and the callers that miss the same key meanwhile (the waiters). It lands exactly
//! once, with an [`Outcome`] that every waiter takes from the flight itself, never by looking
//! the key up again: an eviction, a zero ttl or a zero capacity between the landing and a
//! waiter's wake-up cannot make it run the constructor.
//!
//! What a waiter does with each outcome is `memo.rs`'s business; this file also guards the
//! waits that could never end: a constructor asking for its own key (re-entry), a sync call
//! waiting for an async leader that only its own thread would poll, and sync constructors
//! waiting for each other from several threads (`deadlock.rs`).

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};

use crate::deadlock::{self, Leader};
use crate::payload::catch;
use crate::stats::Counters;
use crate::sync::{Condvar, Mutex, thread_local, thread_token};

/// A leader's error, shared with the waiters of its flight (see `memo.rs`).
pub(crate) type SharedError = Arc<dyn Any + Send + Sync>;

/// How a flight ended.
pub(crate) enum Outcome<V> {
    /// The constructor made this value.
    Value(V),
    /// It failed with an error its waiters may share.
    Error(SharedError),
    /// It failed with an error that cannot be shared.
    Failed,
    /// It panicked.
    Panicked,
    /// The leader's future was dropped before the constructor finished.
    Abandoned,
}

/// A flight: its [`Rendezvous`], and the value it landed with, if any. Only the value is
/// typed, so that waiting and waking are compiled once, not once per value type.
pub(crate) struct Flight<V> {
    rendezvous: Rendezvous,
    /// Set before the rendezvous lands `Landed::Value`, read after a waiter sees it.
    value: Mutex<Option<V>>,
}

/// How a flight ended, as its rendezvous knows it: an [`Outcome`] without its value.
#[derive(Clone)]
enum Landed {
    Value,
    Error(SharedError),
    Failed,
    Panicked,
    Abandoned,
}

/// Where a flight's leader and waiters meet.
struct Rendezvous {
    /// The flight's leader marks this while its constructor runs (see `LEADING`).
    id: FlightId,
    /// The thread that last polled an async leader's constructor (`thread_token`), or 0.
    async_leader: AtomicUsize,
    /// A sync leader, which threads blocked on this flight wait for.
    sync_leader: Option<Arc<Leader>>,
    state: Mutex<State>,
    landed: Condvar,
}

struct State {
    landed: Option<Landed>,
    /// The async waiters' wakers, each at its waiter's number (see [`Waiting`]): a poll or a
    /// leave finds its own at once, however many wait.
    wakers: Vec<Option<Waker>>,
    /// Numbers of waiters that left, for the next to come: waiters that come and go keep the
    /// table as small as the most that waited at once.
    free: Vec<usize>,
}

/// Names a flight while it is registered: its shard's flights table and a number given by it.
pub(crate) type FlightId = (usize, u64);

/// Whose async constructor is being polled on this thread's stack: the flight, and the waker
/// of the task polling it. (A sync constructor needs no mark: its flight names its thread,
/// see `memo.rs`.)
type Leading = (FlightId, (usize, usize));

thread_local! {
    /// The flights whose async constructors are being polled on this thread, innermost last.
    static LEADING: RefCell<Vec<Leading>> = const { RefCell::new(Vec::new()) };
}

impl<V> Flight<V> {
    /// The rendezvous of flight `id`, made when the first waiter joins it; its leader is the
    /// thread `sync_leader` or `async_leader`.
    pub(crate) fn new(
        id: FlightId,
        sync_leader: Option<usize>,
        async_leader: Option<usize>,
    ) -> Self {
        Flight {
            rendezvous: Rendezvous {
                id,
                async_leader: AtomicUsize::new(async_leader.unwrap_or(0)),
                sync_leader: sync_leader.map(Leader::new),
                state: Mutex::new(State {
                    landed: None,
                    wakers: Vec::new(),
                    free: Vec::new(),
                }),
                landed: Condvar::default(),
            },
            value: Mutex::new(None),
        }
    }

    /// Ends the flight and wakes every waiter.
    pub(crate) fn land(&self, outcome: Outcome<V>) {
        let landed = match outcome {
            Outcome::Value(value) => {
                *self.value.lock() = Some(value);
                Landed::Value
            }
            Outcome::Error(error) => Landed::Error(error),
            Outcome::Failed => Landed::Failed,
            Outcome::Panicked => Landed::Panicked,
            Outcome::Abandoned => Landed::Abandoned,
        };
        self.rendezvous.land(landed);
    }

    /// An async leader's constructor is now polled on `thread`.
    pub(crate) fn polled_on(&self, thread: Option<usize>) {
        (self.rendezvous.async_leader).store(thread.unwrap_or(0), Relaxed);
    }
}

impl Rendezvous {
    fn land(&self, landed: Landed) {
        let wakers = {
            let mut state = self.state.lock();
            if let Some(leader) = &self.sync_leader {
                leader.landed();
            }
            state.landed = Some(landed);
            std::mem::take(&mut state.wakers)
        };
        self.landed.notify_all();
        // Every waiter is woken, even if waking one panics. Such a panic is its executor's,
        // not this flight's callers': it is not passed on (this may run as a panic unwinds).
        for mut waker in wakers {
            drop(catch(&mut || waker.take().map_or((), Waker::wake)));
        }
    }

    /// How this thread leads this flight, if it does.
    fn led_here(&self) -> Option<Leading> {
        let found = LEADING.try_with(|l| l.borrow().iter().rev().find(|m| m.0 == self.id).copied());
        found.ok().flatten()
    }

    /// Blocks the thread until the flight lands, counting the wait in `coalesced` as it
    /// begins (not if it panics instead: a wait that could never end).
    fn wait(&self, coalesced: Option<&Counters>) -> Landed {
        if self.led_here().is_some() {
            reentry();
        }
        let _blocking = self.sync_leader.as_ref().and_then(deadlock::wait_for);
        let state = self.state.lock();
        let leader = self.async_leader.load(Relaxed);
        if state.landed.is_none() && leader != 0 && Some(leader) == thread_token() {
            drop(state);
            panic!(
                "a sync TtlMap call waits for a key whose async constructor this same thread \
                 polls: blocking here would stop it forever; use the async method \
                 (`get_or_insert_with_async`) in async code"
            );
        }
        if let Some(counters) = coalesced {
            counters.coalesced();
        }
        let state = self.landed.wait_until(state, |s| s.landed.is_some());
        state.landed.clone().expect("landed")
    }

    /// The async form of [`wait`](Self::wait): never blocks the executor thread. `coalesced`
    /// is taken at the first poll that does not panic.
    fn poll_wait(
        &self,
        cx: &mut Context<'_>,
        waiter: &mut Option<usize>,
        coalesced: &mut Option<&Counters>,
    ) -> Poll<Landed> {
        // The very task awaiting here, or another task that the constructor drives inline (a
        // `LocalSet`), which may wait.
        if self
            .led_here()
            .is_some_and(|(_, task)| task == waker_id(cx.waker()))
        {
            reentry();
        }
        if let Some(counters) = coalesced.take() {
            counters.coalesced();
        }
        let mut guard = self.state.lock();
        if let Some(landed) = &guard.landed {
            *waiter = None;
            return Poll::Ready(landed.clone());
        }
        let state = &mut *guard;
        let mine = waiter.and_then(|n| state.wakers.get_mut(n)?.as_mut());
        // A waker it replaces is dropped once the lock is let go: a waker's `Drop` may end
        // another waiter of this flight, which then takes the lock to leave.
        let _replaced = match mine {
            Some(waker) if waker.will_wake(cx.waker()) => None,
            Some(waker) => Some(std::mem::replace(waker, cx.waker().clone())),
            None => {
                // Cloned before a number is taken: a `clone` that panics takes none.
                let waker = Some(cx.waker().clone());
                let n = match state.free.pop() {
                    Some(n) => {
                        state.wakers[n] = waker;
                        n
                    }
                    None => {
                        state.wakers.push(waker);
                        state.wakers.len() - 1
                    }
                };
                *waiter = Some(n);
                None
            }
        };
        drop(guard);
        Poll::Pending
    }

    /// Waiter `n` stops waiting: its waker goes, dropped once the lock is let go.
    fn leave(&self, n: usize) {
        let gone = {
            let mut state = self.state.lock();
            let gone = state.wakers.get_mut(n).and_then(Option::take);
            if gone.is_some() {
                state.free.push(n);
            }
            gone
        };
        drop(gone);
    }
}

/// An async waiter's wait for a flight's outcome. Dropped before the flight lands (the
/// caller's future was dropped: a timeout, a `select!`), it takes its waker back, so that
/// callers who give up on a flight that never lands leave nothing behind.
pub(crate) struct Waiting<'a, V> {
    flight: &'a Flight<V>,
    /// Its number among the flight's waiters, while its waker is there.
    waiter: Option<usize>,
    /// The counters to count the wait in, until it begins.
    coalesced: Option<&'a Counters>,
}

impl<V: Clone> Future for Waiting<'_, V> {
    type Output = Outcome<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<V>> {
        let this = self.get_mut();
        let rendezvous = &this.flight.rendezvous;
        match rendezvous.poll_wait(cx, &mut this.waiter, &mut this.coalesced) {
            Poll::Ready(landed) => Poll::Ready(this.flight.outcome(landed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<V> Drop for Waiting<'_, V> {
    fn drop(&mut self) {
        if let Some(n) = self.waiter {
            self.flight.rendezvous.leave(n);
        }
    }
}

/// Whether this thread can lead a flight: not while its thread-locals are being destroyed,
/// when its constructor could not be marked and re-entry would wait forever.
pub(crate) fn can_lead() -> bool {
    LEADING.try_with(|_| ()).is_ok()
}

/// Marks this thread as polling the async constructor of flight `id`, for the task of `waker`,
/// until the mark is dropped: a constructor asking for its own key then panics instead of
/// waiting for itself forever. A panic while the mark is held is noted in `panicked`.
pub(crate) fn mark<'a>(id: FlightId, panicked: &'a AtomicBool, waker: &Waker) -> impl Drop + 'a {
    Mark::push(id, waker_id(waker), panicked)
}

impl<V: Clone> Flight<V> {
    /// Blocks the thread until the flight lands; its outcome. The wait is counted in
    /// `coalesced` as it begins, unless it is refused (a re-entry, a sync wait for an async
    /// constructor this thread polls), which panics.
    pub(crate) fn wait(&self, coalesced: Option<&Counters>) -> Outcome<V> {
        let landed = self.rendezvous.wait(coalesced);
        self.outcome(landed)
    }

    /// The async form of [`wait`](Self::wait): never blocks the executor thread.
    pub(crate) fn wait_async<'a>(&'a self, coalesced: Option<&'a Counters>) -> Waiting<'a, V> {
        Waiting {
            flight: self,
            waiter: None,
            coalesced,
        }
    }

    /// A waiter's outcome, once the flight `landed`: its own clone of the value, if any.
    fn outcome(&self, landed: Landed) -> Outcome<V> {
        match landed {
            Landed::Value => match &*self.value.lock() {
                Some(value) => Outcome::Value(value.clone()),
                None => Outcome::Failed,
            },
            Landed::Error(error) => Outcome::Error(error),
            Landed::Failed => Outcome::Failed,
            Landed::Panicked => Outcome::Panicked,
            Landed::Abandoned => Outcome::Abandoned,
        }
    }
}

pub(crate) fn reentry() -> ! {
    panic!(
        "re-entrant call for the same key: a TtlMap constructor asked its own map for the key \
         it is constructing, which would wait for itself forever"
    );
}

/// What tells two wakers of the same task apart from others: their data and vtable.
fn waker_id(waker: &Waker) -> (usize, usize) {
    (
        waker.data() as usize,
        std::ptr::from_ref(waker.vtable()) as usize,
    )
}

/// A flight's entry in `LEADING` for as long as its constructor runs; on the way out it also
/// notes a panic, so the flight lands as panicked even if its leader is a future dropped later.
struct Mark<'a> {
    panicked: &'a AtomicBool,
    marked: bool,
    /// The thread was unwinding already when the poll began (a future polled from a `Drop`):
    /// that unwinding is not the constructor's panic.
    unwinding: bool,
}

impl<'a> Mark<'a> {
    fn push(id: FlightId, task: (usize, usize), panicked: &'a AtomicBool) -> Self {
        // During thread-local destruction there is no record to keep: re-entry then goes
        // undetected, which is better than aborting the process.
        let marked = LEADING
            .try_with(|l| l.borrow_mut().push((id, task)))
            .is_ok();
        Mark {
            panicked,
            marked,
            unwinding: std::thread::panicking(),
        }
    }
}

impl Drop for Mark<'_> {
    fn drop(&mut self) {
        if self.marked {
            let _ = LEADING.try_with(|l| l.borrow_mut().pop());
        }
        if std::thread::panicking() && !self.unwinding {
            self.panicked.store(true, Relaxed);
        }
    }
}
