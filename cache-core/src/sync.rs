//! The concurrency primitives the map is built from, in one place so that schedule tests can
//! swap them all: with the feature `shuttle`, every lock, condition variable, thread-local and
//! atomic that a protocol relies on and thread below is [shuttle](https://docs.rs/shuttle)'s,
//! whose scheduler then explores the interleavings of the flight rendezvous, sweeping and
//! eviction (`cache-core/tests/shuttle.rs`). The read-write lock is the crate's own striped one
//! under both, its stripes made of shuttle's atomics then (`sharded_lock.rs`), so that schedules
//! run its protocol too (`cache-core/tests/shuttle_lock.rs`).
//!
//! Each type offers the same small API under both configurations.

#[cfg(feature = "shuttle")]
use std::sync::PoisonError;

pub(crate) use crate::sharded_lock::ShardedLock as RwLock;

#[cfg(not(feature = "shuttle"))]
pub(crate) use std::thread_local;

#[cfg(feature = "shuttle")]
pub(crate) use shuttle::thread_local;

/// A mutex that is never poisoned.
#[derive(Default)]
pub(crate) struct Mutex<T>(
    #[cfg(not(feature = "shuttle"))] parking_lot::Mutex<T>,
    #[cfg(feature = "shuttle")] shuttle::sync::Mutex<T>,
);

#[cfg(not(feature = "shuttle"))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(feature = "shuttle")]
pub(crate) type MutexGuard<'a, T> = shuttle::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(not(feature = "shuttle"))]
        return Mutex(parking_lot::Mutex::new(value));
        #[cfg(feature = "shuttle")]
        return Mutex(shuttle::sync::Mutex::new(value));
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(feature = "shuttle"))]
        return self.0.lock();
        #[cfg(feature = "shuttle")]
        return self.0.lock().unwrap_or_else(PoisonError::into_inner);
    }

    /// The value, without locking: `&mut self` proves no one else holds it.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        #[cfg(not(feature = "shuttle"))]
        return self.0.get_mut();
        #[cfg(feature = "shuttle")]
        return self.0.get_mut().unwrap_or_else(PoisonError::into_inner);
    }
}

/// A condition variable for [`Mutex`].
#[derive(Default)]
pub(crate) struct Condvar(
    #[cfg(not(feature = "shuttle"))] parking_lot::Condvar,
    #[cfg(feature = "shuttle")] shuttle::sync::Condvar,
);

impl Condvar {
    /// Blocks until `done` holds for the guarded value, releasing the lock while waiting.
    pub(crate) fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        mut done: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        #[cfg(not(feature = "shuttle"))]
        {
            let mut guard = guard;
            while !done(&mut guard) {
                self.0.wait(&mut guard);
            }
            guard
        }
        #[cfg(feature = "shuttle")]
        {
            let waited = self.0.wait_while(guard, |value| !done(value));
            waited.unwrap_or_else(PoisonError::into_inner)
        }
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A number that identifies the calling thread, never given to another thread (not 0), or
/// `None` while its thread-locals are being destroyed.
pub(crate) fn thread_token() -> Option<usize> {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    thread_local!(static TOKEN: usize = NEXT.fetch_add(1, Relaxed));
    TOKEN.try_with(|t| *t).ok()
}
