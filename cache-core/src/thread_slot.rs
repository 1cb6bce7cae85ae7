//! A small number per live thread, handed back when the thread ends: the index of the
//! thread's own stripe of hit counters (`stats.rs`) and of its reader lock (`sharded_lock.rs`).

use std::sync::atomic::Ordering::Relaxed;

#[cfg(feature = "shuttle")]
use {crate::sync::Mutex, shuttle::sync::atomic::AtomicUsize};
#[cfg(not(feature = "shuttle"))]
use {parking_lot::Mutex, std::sync::atomic::AtomicUsize};

/// Slots handed out, at most; threads beyond them have none.
pub(crate) const SLOTS: usize = 31;

/// A thread's slot, given back when the thread ends.
struct Lease(Option<usize>);

#[cfg(not(feature = "shuttle"))]
static RETURNED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
#[cfg(not(feature = "shuttle"))]
static NEVER_LEASED: AtomicUsize = AtomicUsize::new(0);

// Under shuttle, each of a schedule's threads leases its own slot (the thread-local below is
// shuttle's), so that its reads use a stripe of their own and its counters' stripe has it for
// only writer, as in ordinary builds; from slots of the schedule's own: shuttle makes its lazy
// statics anew for each execution, so a schedule replayed hands out the same slots, and the
// scenarios cargo runs at once on other OS threads share none.
#[cfg(feature = "shuttle")]
shuttle::lazy_static! {
    static ref RETURNED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    static ref NEVER_LEASED: AtomicUsize = AtomicUsize::new(0);
}

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

crate::sync::thread_local!(static LEASE: Lease = Lease::take());

/// This thread's slot, below [`SLOTS`] and held by no other live thread; `None` for threads
/// beyond the first `SLOTS`, and while this thread's locals are being destroyed.
#[inline]
pub(crate) fn slot() -> Option<usize> {
    LEASE.try_with(|lease| lease.0).ok().flatten()
}
