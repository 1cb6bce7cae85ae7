//! Memory: heap bytes per entry against a plain `HashMap`, and entries held after a churn of
//! never-repeated keys. Run with `cargo bench --bench memory`; it prints a table.
//!
//! Bytes come from a counting global allocator: live heap bytes after filling, minus before.

#![allow(unsafe_code)] // the counting allocator forwards to the system allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments, only counting.
unsafe impl GlobalAlloc for Counting {
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

#[global_allocator]
static GLOBAL: Counting = Counting;

const ENTRIES: usize = 1_000_000;
const TTL: Duration = Duration::from_secs(3600);

type Value = Arc<u64>;

fn key(i: usize) -> String {
    format!("sk-proj-{i:043}")
}

/// Heap bytes `fill` leaves allocated in what it returns (keys and values included).
fn held<T>(fill: impl FnOnce() -> T) -> (isize, T) {
    let before = LIVE.load(Relaxed);
    let kept = fill();
    (LIVE.load(Relaxed) - before, kept)
}

fn main() {
    println!("== 1,000,000 entries (51-byte String keys, Arc<u64> values)");
    println!(
        "{:<14} {:>12} {:>10} {:>10}",
        "cache", "heap bytes", "per entry", "vs HashMap"
    );
    let (base, map) = held(|| {
        let mut map = HashMap::new();
        (0..ENTRIES).for_each(|i| drop(map.insert(key(i), Arc::new(i as u64))));
        map
    });
    drop(map);
    let row = |name: &str, bytes: isize| {
        let per = bytes as f64 / ENTRIES as f64;
        println!(
            "{name:<14} {bytes:>12} {per:>10.1} {:>9.2}x",
            bytes as f64 / base as f64
        );
    };
    row("HashMap", base);
    let (bytes, map) = held(|| {
        let map = cache_core::TtlMap::new(TTL);
        (0..ENTRIES).for_each(|i| drop(map.insert(key(i), Arc::new(i as u64))));
        map
    });
    assert_eq!(map.len(), ENTRIES);
    drop(map);
    row("ttl_map", bytes);
    let (bytes, cache) = held(|| {
        let cache = quick_cache::sync::Cache::<String, Value>::new(ENTRIES);
        (0..ENTRIES).for_each(|i| cache.insert(key(i), Arc::new(i as u64)));
        cache
    });
    drop(cache);
    row("quick_cache", bytes);
    let (bytes, cache) = held(|| {
        let cache = moka::sync::Cache::<String, Value>::builder()
            .time_to_idle(TTL)
            .build();
        (0..ENTRIES).for_each(|i| cache.insert(key(i), Arc::new(i as u64)));
        cache.run_pending_tasks();
        cache
    });
    drop(cache);
    row("moka", bytes);
    let (bytes, cache) = held(|| {
        let cache = dashmap::DashMap::<String, Value>::new();
        (0..ENTRIES).for_each(|i| drop(cache.insert(key(i), Arc::new(i as u64))));
        cache
    });
    drop(cache);
    row("dashmap", bytes);

    churn();
}

/// Inserts 1,000,000 never-repeated keys as fast as possible with a 20 ms TTL, then reports
/// what each cache still holds: only keys from the last 20 ms are live.
fn churn() {
    const CHURN_TTL: Duration = Duration::from_millis(20);
    println!();
    println!("== churn: 1,000,000 never-repeated keys, TTL 20 ms, no background sweep");
    println!(
        "{:<14} {:>10} {:>14} {:>10}",
        "cache", "entries", "heap bytes", "secs"
    );
    let report = |name: &str, started: Instant, (bytes, entries): (isize, usize)| {
        let secs = started.elapsed().as_secs_f64();
        println!("{name:<14} {entries:>10} {bytes:>14} {secs:>10.2}");
    };

    let started = Instant::now();
    report("ttl_map", started, {
        let (bytes, map) = held(|| {
            let map = cache_core::TtlMap::new(CHURN_TTL);
            (0..ENTRIES).for_each(|i| drop(map.insert(key(i), Arc::new(i as u64))));
            map
        });
        (bytes, map.len())
    });

    let started = Instant::now();
    report("seed_mutex", started, {
        let (bytes, map) = held(|| {
            let map = parking_lot::Mutex::new(HashMap::new());
            for i in 0..ENTRIES {
                map.lock()
                    .insert(key(i), (Arc::new(i as u64), Instant::now() + CHURN_TTL));
            }
            map
        });
        let entries = map.lock().len();
        (bytes, entries)
    });

    let started = Instant::now();
    report("moka", started, {
        let (bytes, cache) = held(|| {
            let cache = moka::sync::Cache::<String, Value>::builder()
                .time_to_idle(CHURN_TTL)
                .build();
            (0..ENTRIES).for_each(|i| cache.insert(key(i), Arc::new(i as u64)));
            cache
        });
        (bytes, cache.entry_count() as usize)
    });

    let started = Instant::now();
    report("quick_cache", started, {
        let (bytes, cache) = held(|| {
            let cache = quick_cache::sync::Cache::<String, Value>::new(ENTRIES);
            (0..ENTRIES).for_each(|i| cache.insert(key(i), Arc::new(i as u64)));
            cache
        });
        (bytes, cache.len())
    });
}
