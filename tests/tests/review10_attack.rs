//! Review 10: an adversary's pass over the documented promises, from angles the earlier
//! reviews left: the heap after a burst in maps that keep extras beside their table
//! (`max_lifetime`, `expire_after`, `refresh_after`), ...
//!
//! Time comes from a `ManualClock` only. Each test says which promise it checks.

// A global allocator is unsafe to implement; this one only counts and forwards.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};

// ---------------------------------------------------------------------------------------
// A counting allocator, per thread
// ---------------------------------------------------------------------------------------

struct Counting;

thread_local! {
    /// Bytes allocated and not yet freed by this thread (frees of other threads' blocks
    /// count against the thread that frees).
    static NET_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = NET_BYTES.try_with(|n| n.set(n.get() + delta));
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

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
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

fn net_bytes() -> isize {
    NET_BYTES.with(Cell::get)
}

// ---------------------------------------------------------------------------------------
// The heap after a burst, with extras
// ---------------------------------------------------------------------------------------

/// The options that keep something beside each entry (`Table::extras`).
#[derive(Debug, Clone, Copy)]
enum Extras {
    MaxLifetime,
    ExpireAfter,
    RefreshAfter,
}

fn map_with(extras: Extras, clock: &ManualClock) -> TtlMap<u64, [u64; 4]> {
    let builder = TtlMap::builder()
        .ttl(Duration::from_secs(1))
        .expiry(Expiry::Sliding)
        .clock(clock.clone());
    match extras {
        Extras::MaxLifetime => builder.max_lifetime(Duration::from_millis(900)).build(),
        Extras::ExpireAfter => builder
            .expire_after(|_, _| Some(Duration::from_millis(900)))
            .build(),
        Extras::RefreshAfter => builder.refresh_after(Duration::from_millis(500)).build(),
    }
}

/// Promise (README, Bounded memory: "The heap follows too ... so a burst's room goes with the
/// burst"; "The limits and refresh times live beside the table"): in a map whose entries keep
/// a limit or a refresh time beside the table, the heap after a burst has expired follows the
/// live keys as it does without them, not the peak: also the room the extras took. Swept by
/// the trickle's writes, and by `sweep()` as the background thread calls it.
#[test]
fn the_heap_follows_the_live_keys_after_a_burst_also_with_limits_and_refresh_times() {
    for extras in [
        Extras::MaxLifetime,
        Extras::ExpireAfter,
        Extras::RefreshAfter,
    ] {
        for swept_by_call in [false, true] {
            let clock = ManualClock::new();
            let start = net_bytes();
            let map = map_with(extras, &clock);
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
            let after = net_bytes() - start;
            assert!(map.len() <= 1 + 16 * 16, "len {}", map.len());
            // As without extras (`the_heap_follows_the_live_keys_after_a_burst_not_the_peak`):
            // room for a few entries in each of the 16 shards, far below the peak.
            assert!(
                after < 64 * 1024,
                "{extras:?}, swept by call: {swept_by_call}: heap held: at the peak {peak} B, \
                 after the burst {after} B"
            );
            drop(map);
        }
    }
}

/// Promise (README, Bounded memory, "a burst's room goes with the burst"): a burst of
/// constructors in flight at once (100,000 async requests for distinct keys, as when a
/// backend stalls) leaves no room behind once they have landed: neither when their values
/// expired and were swept, nor when they all failed and nothing was stored.
#[test]
fn the_heap_follows_the_flights_in_progress_after_a_burst_of_them() {
    use std::future::poll_fn;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::task::Poll;
    use tests::Driven;

    for fail in [false, true] {
        let clock = ManualClock::new();
        let start = net_bytes();
        let map: TtlMap<u64, [u64; 4]> = TtlMap::builder()
            .ttl(Duration::from_secs(1))
            .clock(clock.clone())
            .build();
        let gate = Arc::new(AtomicBool::new(false));
        let mut burst: Vec<_> = (0..100_000u64)
            .map(|k| {
                let (map, gate) = (map.clone(), Arc::clone(&gate));
                Driven::new(async move {
                    let init = poll_fn(|_| match gate.load(SeqCst) {
                        true if fail => Poll::Ready(Err("backend down")),
                        true => Poll::Ready(Ok([k; 4])),
                        false => Poll::Pending,
                    });
                    map.try_get_or_insert_with_async(&k, init).await
                })
            })
            .collect();
        for request in &mut burst {
            request.pending();
        }
        let peak = net_bytes() - start;
        gate.store(true, SeqCst);
        for request in &mut burst {
            assert!(request.poll().is_ready());
        }
        drop(burst);
        clock.advance(Duration::from_secs(1));
        for k in 200_000..200_100 {
            map.insert(k, [k; 4]);
            clock.advance(Duration::from_secs(1));
        }
        map.sweep();
        let after = net_bytes() - start;
        assert!(map.len() <= 1 + 16 * 16, "len {}", map.len());
        // The map's own (about 24 KB, see the test above) and room for up to 224 flights in
        // each shard (smaller tables never shrink): the pending tables' 9.6 MB stayed before.
        assert!(
            after < 512 * 1024,
            "constructors failed: {fail}: heap held: at the peak {peak} B, after the burst \
             {after} B"
        );
    }
}
