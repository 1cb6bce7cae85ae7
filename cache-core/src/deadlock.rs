//! Sync constructors that wait for each other's keys from several threads (A's builds B on one
//! thread while B's builds A on another): the wait that would close such a cycle panics, as a
//! constructor asking for its own key does, instead of hanging every thread in it.
//!
//! A thread that blocks on a flight led by a sync constructor is registered as waiting for
//! that flight's [`Leader`] until it wakes. Such a flight lands only when its constructor,
//! on its leader's stack, returns or unwinds, which it cannot while its leader is itself
//! blocked. So if, from the flight a thread is about to wait for, the chain "its leader is
//! blocked on a flight whose leader is blocked on ..." of flights not yet landed comes back to
//! that thread, which leads a flight of the chain and is running, none of them can land once
//! it blocks: the deadlock is certain, not guessed, whatever lands elsewhere meanwhile. An
//! async flight has no such leader (any thread may poll its future): a chain ends there, and
//! cycles through async constructors still wait forever, as the README says.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::sync::thread_token;

/// A flight led by a sync constructor, as the threads waiting for it see it.
pub(crate) struct Leader {
    /// The leading thread (`thread_token`).
    thread: usize,
    landed: AtomicBool,
}

impl Leader {
    pub(crate) fn new(thread: usize) -> Arc<Self> {
        Arc::new(Leader {
            thread,
            landed: AtomicBool::new(false),
        })
    }

    /// The flight landed: the chains through it are broken.
    pub(crate) fn landed(&self) {
        self.landed.store(true, Ordering::Release);
    }
}

type Blocked = HashMap<usize, Arc<Leader>, BuildHasherDefault<DefaultHasher>>;

/// Each blocked thread, by token: the leader of the flight it waits for. A leaf lock: nothing
/// is locked, run or dropped under it but its own map's operations (no user code, no lock a
/// schedule test could switch threads at).
static BLOCKED: Mutex<Blocked> = Mutex::new(HashMap::with_hasher(BuildHasherDefault::new()));

/// This thread's registration as blocked; it ends when dropped.
pub(crate) struct Blocking(usize);

/// Registers this thread as blocked until `leader`'s flight lands, or panics if that wait
/// would close a cycle. `None` while this thread's locals are being destroyed.
pub(crate) fn wait_for(leader: &Arc<Leader>) -> Option<Blocking> {
    let me = thread_token()?;
    let mut blocked = BLOCKED.lock();
    let mut at = &**leader;
    // A chain is at most as long as the threads blocked: none can loop without `me`, as the
    // wait that closed it would have panicked.
    for _ in 0..=blocked.len() {
        if at.landed.load(Ordering::Acquire) {
            break;
        }
        if at.thread == me {
            drop(blocked);
            panic!(
                "deadlock: a TtlMap constructor waits for a key whose constructor, on another \
                 thread, waits (directly or through other keys) for a key this thread is \
                 constructing; constructors must not depend on each other's keys"
            );
        }
        match blocked.get(&at.thread) {
            Some(next) => at = next,
            None => break,
        }
    }
    blocked.insert(me, Arc::clone(leader));
    Some(Blocking(me))
}

impl Drop for Blocking {
    fn drop(&mut self) {
        let leader = BLOCKED.lock().remove(&self.0);
        drop(leader);
    }
}
