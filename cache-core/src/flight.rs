//! Single flight: one constructor per key per miss, everyone else waits for its outcome.
//!
//! A [`Flight`] is the rendezvous between the caller that runs a key's constructor (the
//! leader) and the callers that miss the same key meanwhile (the waiters). It lands exactly
//! once, with an [`Outcome`] that every waiter takes from the flight itself, never by looking
//! the key up again: an eviction, a zero ttl or a zero capacity between the landing and a
//! waiter's wake-up cannot make it run the constructor.
//!
//! What a waiter does with each outcome is `memo.rs`'s business; this file also guards the
//! waits that could never end: a constructor asking for its own key (re-entry), and a sync
//! call waiting for an async leader that only its own thread would poll.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

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

impl<V: Clone> Outcome<V> {
    fn for_waiter(&self) -> Self {
        match self {
            Outcome::Value(v) => Outcome::Value(v.clone()),
            Outcome::Error(e) => Outcome::Error(Arc::clone(e)),
            Outcome::Failed => Outcome::Failed,
            Outcome::Panicked => Outcome::Panicked,
            Outcome::Abandoned => Outcome::Abandoned,
        }
    }
}

pub(crate) struct Flight<V> {
    state: Mutex<State<V>>,
    landed: Condvar,
}

struct State<V> {
    outcome: Option<Outcome<V>>,
    wakers: Vec<Waker>,
    /// The thread that last polled an async leader's constructor.
    async_leader: Option<usize>,
    panicked: bool,
}

/// Who is running a flight's constructor on this thread's stack: the flight, and the waker of
/// the task polling it (`None` for a sync constructor).
type Leading = (usize, Option<(usize, usize)>);

thread_local! {
    /// The flights whose constructors are running on this thread, innermost last.
    static LEADING: RefCell<Vec<Leading>> = const { RefCell::new(Vec::new()) };
}

impl<V> Flight<V> {
    pub(crate) fn new() -> Self {
        Flight {
            state: Mutex::new(State {
                outcome: None,
                wakers: Vec::new(),
                async_leader: None,
                panicked: false,
            }),
            landed: Condvar::default(),
        }
    }

    /// Ends the flight and wakes every waiter. The first landing counts.
    pub(crate) fn land(&self, outcome: Outcome<V>) {
        let wakers = {
            let mut state = self.state.lock();
            if state.outcome.is_some() {
                return;
            }
            state.outcome = Some(outcome);
            std::mem::take(&mut state.wakers)
        };
        self.landed.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Whether the constructor panicked while leading (see [`lead`](Self::lead)).
    pub(crate) fn panicked(&self) -> bool {
        self.state.lock().panicked
    }

    /// Runs `f` (the constructor) marked as leading this flight, so that a constructor asking
    /// for its own key panics instead of waiting for itself forever.
    pub(crate) fn lead<R>(&self, f: impl FnOnce() -> R) -> R {
        let _leading = Mark::push(self, None);
        f()
    }

    /// Like [`lead`](Self::lead) for one poll of an async constructor.
    pub(crate) fn lead_poll<R>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> R,
    ) -> R {
        self.state.lock().async_leader = thread_token();
        let _leading = Mark::push(self, Some(waker_id(cx.waker())));
        poll(cx)
    }

    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// How this thread leads this flight, if it does.
    fn led_here(&self) -> Option<Leading> {
        let id = self.id();
        let found = LEADING.try_with(|l| l.borrow().iter().rev().find(|m| m.0 == id).copied());
        found.ok().flatten()
    }
}

impl<V: Clone> Flight<V> {
    /// Blocks the thread until the flight lands; its outcome.
    pub(crate) fn wait(&self) -> Outcome<V> {
        if self.led_here().is_some() {
            reentry();
        }
        let state = self.state.lock();
        if state.outcome.is_none()
            && state
                .async_leader
                .is_some_and(|t| Some(t) == thread_token())
        {
            drop(state);
            panic!(
                "a sync TtlMap call waits for a key whose async constructor this same thread \
                 polls: blocking here would stop it forever; use the async method \
                 (`get_or_insert_with_async`) in async code"
            );
        }
        let state = self.landed.wait_until(state, |s| s.outcome.is_some());
        state
            .outcome
            .as_ref()
            .map(Outcome::for_waiter)
            .expect("landed")
    }

    /// The async form of [`wait`](Self::wait): never blocks the executor thread.
    pub(crate) fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<Outcome<V>> {
        match self.led_here() {
            // The constructor is a sync one on this stack, or the very task awaiting here.
            Some((_, None)) => reentry(),
            Some((_, Some(task))) if task == waker_id(cx.waker()) => reentry(),
            // Another task that the constructor drives inline (a `LocalSet`): it may wait.
            _ => {}
        }
        let mut state = self.state.lock();
        if let Some(outcome) = &state.outcome {
            return Poll::Ready(outcome.for_waiter());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

fn reentry() -> ! {
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
struct Mark<'a, V> {
    flight: &'a Flight<V>,
    marked: bool,
}

impl<'a, V> Mark<'a, V> {
    fn push(flight: &'a Flight<V>, task: Option<(usize, usize)>) -> Self {
        // During thread-local destruction there is no record to keep: re-entry then goes
        // undetected, which is better than aborting the process.
        let marked = LEADING
            .try_with(|l| l.borrow_mut().push((flight.id(), task)))
            .is_ok();
        Mark { flight, marked }
    }
}

impl<V> Drop for Mark<'_, V> {
    fn drop(&mut self) {
        if self.marked {
            let _ = LEADING.try_with(|l| l.borrow_mut().pop());
        }
        if std::thread::panicking() {
            self.flight.state.lock().panicked = true;
        }
    }
}
