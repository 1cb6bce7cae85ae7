//! A small number per live thread, handed back when the thread ends: the index of the
//! thread's own stripe of hit counters (`stats.rs`) and of its reader lock (`sharded_lock.rs`).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use parking_lot::Mutex;

/// Slots handed out, at most; threads beyond them have none.
pub(crate) const SLOTS: usize = 31;

/// A thread's slot, given back when the thread ends.
struct Lease(Option<usize>);

static RETURNED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static NEVER_LEASED: AtomicUsize = AtomicUsize::new(0);

impl Lease {
    fn take() -> Self {
        let returned = RETURNED.lock().pop();
        let fresh = || Some(NEVER_LEASED.fetch_add(1, Relaxed)).filter(|&i| i < SLOTS);
        Lease(returned.or_else(fresh))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            RETURNED.lock().push(slot);
        }
    }
}

std::thread_local!(static LEASE: Lease = Lease::take());

/// This thread's slot, below [`SLOTS`] and held by no other live thread; `None` for threads
/// beyond the first `SLOTS`, and while this thread's locals are being destroyed.
#[inline]
pub(crate) fn slot() -> Option<usize> {
    LEASE.try_with(|lease| lease.0).ok().flatten()
}
