//! A global allocator that forwards to the system's and counts, per thread, the bytes
//! allocated and not yet freed, for tests of what the heap keeps, and the allocations made,
//! for tests that a path allocates nothing. A library cannot install it (every test binary
//! would then get it): a test binary does, with
//! `#[global_allocator] static GLOBAL: Counting = Counting;`, and reads `net_bytes` or
//! `allocations_during`.

// A global allocator is unsafe to implement; this one only counts and forwards.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use cache_core::{ManualClock, TtlMap};

/// The counting allocator.
pub struct Counting;

thread_local! {
    /// Bytes allocated and not yet freed by this thread (frees of other threads' blocks
    /// count against the thread that frees).
    static NET_BYTES: Cell<isize> = const { Cell::new(0) };
    /// Allocations (and reallocations) made by this thread. Counted per thread: the test
    /// harness's main thread allocates too, while a test measures.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// `try_with`: what a thread allocates during its teardown is not counted.
fn count(delta: isize) {
    let _ = NET_BYTES.try_with(|n| n.set(n.get() + delta));
}

fn allocated() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocated();
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocated();
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        allocated();
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Allocations this thread made while `f` ran.
pub fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Bytes this thread has allocated and not freed, since it began.
pub fn net_bytes() -> isize {
    NET_BYTES.with(Cell::get)
}

/// The heap this thread holds at a burst's peak and after it, in bytes from `start`: 200,000
/// keys stored at once, the clock moved past their ttl (1 s), all swept by a call if
/// `swept_by_call`, then 100 keys one a second, whose writes sweep the rest.
pub fn burst_then_trickle(
    map: &TtlMap<u64, [u64; 4]>,
    clock: &ManualClock,
    start: isize,
    swept_by_call: bool,
) -> (isize, isize) {
    for k in 0..200_000 {
        map.insert(k, [k; 4]);
    }
    let peak = net_bytes() - start;
    clock.advance(Duration::from_secs(1));
    if swept_by_call {
        assert_eq!(map.sweep(), 200_000);
    }
    for k in 200_000..200_100 {
        map.insert(k, [k; 4]);
        clock.advance(Duration::from_secs(1));
    }
    (peak, net_bytes() - start)
}
