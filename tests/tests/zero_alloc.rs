//! A hit allocates nothing: a counting global allocator watches 10,000 lookups.

// A global allocator is unsafe to implement; this one only counts and forwards.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use cache_core::{OptionRef, TtlMap, TupleRef, ttl_cached};

struct Counting;

thread_local! {
    /// Allocations made by this thread. Counted per thread: the test harness's main thread
    /// allocates too (its bookkeeping after spawning the test's thread), and on a loaded
    /// machine it does so while the test measures (2 allocations "by" hits, most runs).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: allocations during this thread's teardown are not counted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations this thread made while `f` ran (the hits under test run on it).
fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[ttl_cached(ttl = "1h")]
fn client(api_key: &str) -> std::sync::Arc<usize> {
    std::sync::Arc::new(api_key.len())
}

#[ttl_cached(ttl = "1h")]
fn route(tenant: &str, model: &str, region: Option<&str>) -> u64 {
    (tenant.len() + model.len() + region.map_or(0, str::len)) as u64
}

fn keys() -> Vec<String> {
    (0..100).map(|i| format!("sk-proj-{i:043}")).collect()
}

#[test]
fn hits_allocate_nothing() {
    let ttl = Duration::from_secs(3600);
    let keys = keys();

    let by_str: TtlMap<String, std::sync::Arc<u64>> = TtlMap::new(ttl);
    for k in &keys {
        by_str.insert(k.clone(), std::sync::Arc::new(1));
    }
    by_str.get(keys[0].as_str()); // first use registers this thread's lock and stripe
    let n = allocations_during(|| {
        for i in 0..10_000 {
            assert!(by_str.get(keys[i % 100].as_str()).is_some());
        }
    });
    assert_eq!(n, 0, "get(&str) on String keys");
    let n = allocations_during(|| {
        for i in 0..10_000 {
            by_str.get_or_insert_with(keys[i % 100].as_str(), || unreachable!());
        }
    });
    assert_eq!(n, 0, "get_or_insert_with(&str) hits");

    let by_tuple: TtlMap<(String, String, Option<String>), u64> = TtlMap::new(ttl);
    for k in &keys {
        by_tuple.insert((k.clone(), "gpt".into(), Some("eu".into())), 1);
    }
    let n = allocations_during(|| {
        for i in 0..10_000 {
            let key = TupleRef((keys[i % 100].as_str(), "gpt", &OptionRef(Some("eu"))));
            assert!(by_tuple.get(&key).is_some());
            by_tuple.get_or_insert_with(&key, || unreachable!());
        }
    });
    assert_eq!(n, 0, "tuple keys by tuples of borrows");

    for k in &keys {
        client(k);
        route(k, "gpt", Some("eu"));
    }
    let n = allocations_during(|| {
        for i in 0..10_000 {
            assert_eq!(*client(&keys[i % 100]), 51);
        }
    });
    assert_eq!(n, 0, "#[ttl_cached] hit with one &str argument");
    let n = allocations_during(|| {
        for i in 0..10_000 {
            assert_eq!(route(&keys[i % 100], "gpt", Some("eu")), 56);
        }
    });
    assert_eq!(n, 0, "#[ttl_cached] hit with three borrowed arguments");
}
