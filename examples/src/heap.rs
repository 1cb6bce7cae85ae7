//! A global allocator that counts live heap bytes, so the examples report measured memory.
//!
//! A binary opts in with `#[global_allocator] static HEAP: CountingAllocator =
//! CountingAllocator;`; without it, [`live_bytes`] stays at zero.

// Implementing `GlobalAlloc` is unsafe by nature; this one only counts and forwards.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting the bytes it has handed out and not yet got back.
pub struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Heap bytes currently allocated through [`CountingAllocator`].
pub fn live_bytes() -> isize {
    LIVE.load(Relaxed)
}

/// Runs `f`, returning its result and the change in live heap bytes it caused.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let before = live_bytes();
    let result = f();
    (result, live_bytes() - before)
}
