//! Memory follows the keys kept, not the most ever held: after a burst expires, the tables
//! give their room back. A counting global allocator measures the heap this thread holds.

// A global allocator is unsafe to implement; this one only counts and forwards.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use cache_core::{ManualClock, TtlMap};

struct Counting;

thread_local! {
    /// Bytes this thread allocated and has not freed.
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn count(bytes: isize) {
    let _ = HELD.try_with(|held| held.set(held.get() + bytes));
}

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
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
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn held() -> isize {
    HELD.with(Cell::get)
}

/// 200,000 keys in one burst, then one key a second: once the burst has expired and the
/// trickle's writes have swept it, the map holds about the heap of an empty map, not the
/// burst's 6 MB. With a sweeper (`sweep()`, as the background thread calls it) too.
#[test]
fn the_heap_follows_the_live_keys_after_a_burst_not_the_peak() {
    for swept_by_call in [false, true] {
        let clock = ManualClock::new();
        let start = held();
        let map: TtlMap<u64, [u64; 4]> = TtlMap::builder()
            .ttl(Duration::from_secs(1))
            .clock(clock.clone())
            .build();
        let empty = held() - start;
        for k in 0..200_000 {
            map.insert(k, [k; 4]);
        }
        let peak = held() - start;
        clock.advance(Duration::from_secs(1));
        if swept_by_call {
            assert_eq!(map.sweep(), 200_000);
        }
        for k in 200_000..200_100 {
            map.insert(k, [k; 4]);
            clock.advance(Duration::from_secs(1));
        }
        let after = held() - start;
        assert!(map.len() <= 1 + 16 * 16, "len {}", map.len());
        // Room for a few entries in each of the 16 shards, far below the peak.
        assert!(
            after < empty + 64 * 1024,
            "heap held: empty {empty} B, at the peak {peak} B, after the burst {after} B"
        );
        drop(map);
        // Only this thread's own small buffers (which maps it is sweeping) may stay.
        assert!(
            held() - start < 1024,
            "a dropped map holds {} B",
            held() - start
        );
    }
}
