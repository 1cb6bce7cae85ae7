//! Single flight: one constructor per key per miss, everyone else waits for its value.
//!
//! A [`Flight`] is the rendezvous between the caller that runs a key's constructor (the
//! leader) and the callers that miss the same key meanwhile. It carries no value: when it
//! lands, waiters look the key up again, and if the leader failed or panicked one of them
//! leads the next attempt.

use std::cell::RefCell;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex};

#[derive(Default)]
pub(crate) struct Flight {
    state: Mutex<State>,
    landed: Condvar,
}

#[derive(Default)]
struct State {
    landed: bool,
    wakers: Vec<Waker>,
}

thread_local! {
    /// The flights whose constructors are running on this thread, innermost last.
    static LEADING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

impl Flight {
    /// Ends the flight, successful or not, and wakes every waiter.
    pub(crate) fn land(&self) {
        let wakers = {
            let mut state = self.state.lock();
            state.landed = true;
            std::mem::take(&mut state.wakers)
        };
        self.landed.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Blocks the thread until the flight lands.
    pub(crate) fn wait(self: &Arc<Self>) {
        self.refuse_reentry();
        let mut state = self.state.lock();
        while !state.landed {
            self.landed.wait(&mut state);
        }
    }

    /// The async form of [`wait`](Self::wait): never blocks the executor thread.
    pub(crate) fn poll_wait(self: &Arc<Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.refuse_reentry();
        let mut state = self.state.lock();
        if state.landed {
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Runs `f` (the constructor, or one poll of it) marked as leading this flight, so that a
    /// constructor asking for its own key panics instead of waiting for itself forever.
    pub(crate) fn lead<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        struct Unmark;
        impl Drop for Unmark {
            fn drop(&mut self) {
                LEADING.with(|leading| leading.borrow_mut().pop());
            }
        }
        LEADING.with(|leading| leading.borrow_mut().push(self.id()));
        let _unmark = Unmark;
        f()
    }

    fn refuse_reentry(self: &Arc<Self>) {
        let id = self.id();
        if LEADING.with(|leading| leading.borrow().contains(&id)) {
            panic!(
                "re-entrant call for the same key: a TtlMap constructor asked its own map for \
                 the key it is constructing, which would wait for itself forever"
            );
        }
    }

    fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }
}
