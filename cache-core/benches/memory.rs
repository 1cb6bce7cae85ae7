//! Memory: heap bytes per entry against a plain `HashMap`, and entries held (and peak RSS)
//! after a churn of never-repeated keys. Run with `cargo bench --bench memory`; it prints a table.
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
    if let Ok(name) = std::env::var(CHURN_ONE) {
        return churn_one(&name);
    }
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

/// Set in a child process to run the churn of one cache alone, so its peak RSS is its own.
const CHURN_ONE: &str = "MEMORY_BENCH_CHURN";
const CHURN_TTL: Duration = Duration::from_millis(20);

/// Inserts 1,000,000 never-repeated keys as fast as possible with a 20 ms TTL into each cache,
/// each in a process of its own, and reports what it holds at the end (only keys from the
/// last 20 ms are live) and the process's peak RSS.
fn churn() {
    println!();
    println!(
        "== churn: 1,000,000 never-repeated keys, TTL 20 ms, no background sweep, one process each"
    );
    println!(
        "{:<14} {:>10} {:>14} {:>14} {:>8}",
        "cache", "entries", "heap bytes", "peak RSS KiB", "secs"
    );
    let exe = std::env::current_exe().expect("the benchmark's own path");
    for name in ["ttl_map", "seed_mutex", "moka", "quick_cache"] {
        let child = std::process::Command::new(&exe)
            .env(CHURN_ONE, name)
            .output();
        match child {
            Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
            Err(e) => println!("{name:<14} failed to run: {e}"),
        }
    }
}

fn churn_one(name: &str) {
    let started = Instant::now();
    let (bytes, entries) = match name {
        "ttl_map" => {
            let (bytes, map) = held(|| {
                let map = cache_core::TtlMap::new(CHURN_TTL);
                (0..ENTRIES).for_each(|i| drop(map.insert(key(i), Arc::new(i as u64))));
                map
            });
            (bytes, map.len())
        }
        "seed_mutex" => {
            let (bytes, map) = held(|| {
                let map = parking_lot::Mutex::new(HashMap::new());
                for i in 0..ENTRIES {
                    let expires = Instant::now() + CHURN_TTL;
                    map.lock().insert(key(i), (Arc::new(i as u64), expires));
                }
                map
            });
            let entries = map.lock().len();
            (bytes, entries)
        }
        "moka" => {
            let (bytes, cache) = held(|| {
                let cache = moka::sync::Cache::<String, Value>::builder()
                    .time_to_idle(CHURN_TTL)
                    .build();
                (0..ENTRIES).for_each(|i| cache.insert(key(i), Arc::new(i as u64)));
                cache
            });
            (bytes, cache.entry_count() as usize)
        }
        "quick_cache" => {
            let (bytes, cache) = held(|| {
                let cache = quick_cache::sync::Cache::<String, Value>::new(ENTRIES);
                (0..ENTRIES).for_each(|i| cache.insert(key(i), Arc::new(i as u64)));
                cache
            });
            (bytes, cache.len())
        }
        other => panic!("no churn workload named {other}"),
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name:<14} {entries:>10} {bytes:>14} {:>14} {secs:>8.2}",
        peak_rss_kib()
    );
}

/// The process's peak resident set (VmHWM), in KiB; 0 where /proc is not available.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
    kib.unwrap_or(0)
}
