//! Memoizing misses: a never-seen key, a trivial constructor, its value stored.
//!
//! `memo_miss`: 51-byte API-key-like `String` keys, looked up by `&str`. Each cache owns the
//! key it stores (built from the `&str` by the cache, or by the caller where the API takes an
//! owned key). `memo_miss_u64`: 200,000 distinct `u64` keys per fresh map, TtlMap against the
//! `TimedCache` that `#[cached(time = 3600)]` uses. Run with `cargo bench --bench miss`;
//! `scripts/bench-table.py` prints the ratios.
//!
//! Keys never repeat within a map: every `CHUNK` misses (or at the end of a measurement) the
//! map is replaced by a fresh, empty one, outside the timing, and the next keys come from a
//! rotating pool. No cache is pre-sized (none of the growth-capable ones is given a size),
//! so every timing includes the same table growth from empty to `CHUNK` entries, except
//! `cached_sized`: `SizedCache::with_size(n)`, what `#[cached(size = n)]` generates,
//! allocates its table for n entries up front; it is given n = `CHUNK`.
//!
//! `cached` is measured as its `#[cached(sync_writes = "default")]` expansion does it
//! (cached 0.56): the key is built from the arguments first (here a `String` from the `&str`,
//! as `convert = r#"{ key.to_owned() }"#` would), then one `std::sync::Mutex` over the whole
//! store is locked, `cache_get` looks the key up, and on a miss the function body runs with
//! that lock still held before `cache_set` stores a clone of its result. That single lock is
//! how `sync_writes` makes concurrent callers run the body once.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cached::{Cached, SizedCache, TimedCache};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

use common::keys;

const TTL: Duration = Duration::from_secs(3600);
/// Misses into one map before it is replaced by an empty one.
const CHUNK: usize = 10_000;
/// Distinct `String` keys, used `CHUNK` at a time in turn.
const POOL: usize = 200_000;
/// Misses into one map in the `u64` variant.
const U64_CHUNK: usize = 200_000;

type Value = Arc<u64>;

/// The trivial constructor.
fn make(len: usize) -> Value {
    Arc::new(len as u64)
}

/// What `#[cached(sync_writes = "default")]` expands to, with its one lock over the store.
fn cached_sync_writes<K, C>(cache: &Mutex<C>, key: K, body: impl FnOnce() -> Value) -> Value
where
    K: std::hash::Hash + Eq,
    C: Cached<K, Value>,
{
    let mut cache = cache.lock().unwrap();
    if let Some(result) = cache.cache_get(&key) {
        return result.clone();
    }
    let result = body();
    cache.cache_set(key, result.clone());
    result
}

/// Times `iters` misses: `miss` on each key, in chunks of `chunk` keys, each into a map
/// `fresh` makes outside the timing; the maps are also dropped outside it.
fn time_misses<M, K: ?Sized + 'static>(
    iters: u64,
    chunk: usize,
    next_chunk: &mut impl FnMut(usize) -> Vec<&'static K>,
    fresh: &impl Fn() -> M,
    miss: &impl Fn(&M, &K) -> Value,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let n = left.min(chunk);
        let keys = next_chunk(n);
        let map = fresh();
        let start = Instant::now();
        for key in keys {
            black_box(miss(&map, key));
        }
        total += start.elapsed();
        drop(map);
        left -= n;
    }
    total
}

fn string_misses(c: &mut Criterion) {
    let pool: &'static [String] = keys(POOL, 11).leak();
    let mut offset = 0;
    let mut next_chunk = |n: usize| {
        if offset + n > POOL {
            offset = 0;
        }
        offset += n;
        pool[offset - n..offset]
            .iter()
            .map(String::as_str)
            .collect()
    };
    let mut group = c.benchmark_group("memo_miss");
    macro_rules! bench {
        ($name:literal, $fresh:expr, $miss:expr) => {
            group.bench_function($name, |b| {
                b.iter_custom(|iters| time_misses(iters, CHUNK, &mut next_chunk, &$fresh, &$miss))
            });
        };
    }
    bench!(
        "ttl_map",
        || cache_core::TtlMap::new(TTL),
        |m: &cache_core::TtlMap<String, Value>, k: &str| {
            m.get_or_insert_with(k, || make(k.len()))
        }
    );
    bench!(
        "ttl_map_try",
        || cache_core::TtlMap::new(TTL),
        |m: &cache_core::TtlMap<String, Value>, k: &str| {
            m.try_get_or_insert_with(k, || Ok::<_, ()>(make(k.len())))
                .unwrap()
        }
    );
    bench!(
        "quick_cache",
        || quick_cache::sync::Cache::new(1 << 20),
        |m: &quick_cache::sync::Cache<String, Value>, k: &str| {
            m.get_or_insert_with(k, || Ok::<_, ()>(make(k.len())))
                .unwrap()
        }
    );
    bench!(
        "cached_timed",
        || Mutex::new(TimedCache::with_lifespan_and_refresh(TTL, false)),
        |m: &Mutex<TimedCache<String, Value>>, k: &str| {
            cached_sync_writes(m, k.to_owned(), || make(k.len()))
        }
    );
    bench!(
        "cached_sized",
        || Mutex::new(SizedCache::with_size(CHUNK)),
        |m: &Mutex<SizedCache<String, Value>>, k: &str| {
            cached_sync_writes(m, k.to_owned(), || make(k.len()))
        }
    );
    bench!(
        "dashmap",
        dashmap::DashMap::new,
        |m: &dashmap::DashMap<String, Value>, k: &str| {
            m.entry(k.to_owned())
                .or_insert_with(|| make(k.len()))
                .clone()
        }
    );
    bench!(
        "moka",
        || moka::sync::Cache::builder()
            .time_to_idle(TTL)
            .max_capacity(1 << 20)
            .build(),
        |m: &moka::sync::Cache<String, Value>, k: &str| { m.get_with_by_ref(k, || make(k.len())) }
    );
    group.finish();
}

fn u64_misses(c: &mut Criterion) {
    let pool: &'static [u64] = (0..U64_CHUNK as u64).collect::<Vec<_>>().leak();
    let mut next_chunk = |n: usize| pool[..n].iter().collect();
    let mut group = c.benchmark_group("memo_miss_u64");
    group.bench_function("ttl_map", |b| {
        let fresh = || cache_core::TtlMap::new(TTL);
        let miss = |m: &cache_core::TtlMap<u64, Value>, k: &u64| {
            m.get_or_insert_with(k, || make(*k as usize))
        };
        b.iter_custom(|iters| time_misses(iters, U64_CHUNK, &mut next_chunk, &fresh, &miss))
    });
    group.bench_function("cached_timed", |b| {
        let fresh = || Mutex::new(TimedCache::with_lifespan_and_refresh(TTL, false));
        let miss = |m: &Mutex<TimedCache<u64, Value>>, k: &u64| {
            cached_sync_writes(m, *k, || make(*k as usize))
        };
        b.iter_custom(|iters| time_misses(iters, U64_CHUNK, &mut next_chunk, &fresh, &miss))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = string_misses, u64_misses
}
criterion_main!(benches);
