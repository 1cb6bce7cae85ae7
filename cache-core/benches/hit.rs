//! Hits, inserts and the macro's overhead, against the caches people reach for.
//!
//! Every cache holds 10,000 API-key-like 51-byte `String` keys with `Arc` values and a one
//! hour TTL (or none, where the cache has no TTL). Run with `cargo bench --bench hit`;
//! `scripts/bench-table.py` turns the results into the README's ratios.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use cached::Cached;
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

use common::{keys, mix};

const KEYS: usize = 10_000;
const TTL: Duration = Duration::from_secs(3600);

type Value = Arc<u64>;

trait Cache: Sync {
    fn get(&self, key: &str) -> Option<Value>;
    fn insert(&self, key: String, value: Value);
}

/// A faithful port of the seed's Go fix: one mutex, `now()` per hit, refresh on every hit.
struct Seed {
    map: parking_lot::Mutex<HashMap<String, (Value, Instant)>>,
}

impl Cache for Seed {
    fn get(&self, key: &str) -> Option<Value> {
        let mut map = self.map.lock();
        let now = Instant::now();
        match map.get_mut(key) {
            Some((value, expires)) if now < *expires => {
                *expires = now + TTL;
                Some(value.clone())
            }
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }
    fn insert(&self, key: String, value: Value) {
        self.map.lock().insert(key, (value, Instant::now() + TTL));
    }
}

/// The floor: a reader-writer lock, an atomic deadline stored on every hit.
struct Floor {
    origin: Instant,
    map: parking_lot::RwLock<HashMap<String, (Value, AtomicU64)>>,
}

impl Floor {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

impl Cache for Floor {
    fn get(&self, key: &str) -> Option<Value> {
        let map = self.map.read();
        let (value, deadline) = map.get(key)?;
        let now = self.now();
        if now >= deadline.load(Relaxed) {
            return None;
        }
        deadline.store(now + TTL.as_nanos() as u64, Relaxed);
        Some(value.clone())
    }
    fn insert(&self, key: String, value: Value) {
        let deadline = AtomicU64::new(self.now() + TTL.as_nanos() as u64);
        self.map.write().insert(key, (value, deadline));
    }
}

impl Cache for cache_core::TtlMap<String, Value> {
    fn get(&self, key: &str) -> Option<Value> {
        cache_core::TtlMap::get(self, key)
    }
    fn insert(&self, key: String, value: Value) {
        cache_core::TtlMap::insert(self, key, value);
    }
}

impl Cache for moka::sync::Cache<String, Value> {
    fn get(&self, key: &str) -> Option<Value> {
        moka::sync::Cache::get(self, key)
    }
    fn insert(&self, key: String, value: Value) {
        moka::sync::Cache::insert(self, key, value);
    }
}

impl Cache for parking_lot::Mutex<cached::TimedCache<String, Value>> {
    fn get(&self, key: &str) -> Option<Value> {
        self.lock().cache_get(key).cloned()
    }
    fn insert(&self, key: String, value: Value) {
        self.lock().cache_set(key, value);
    }
}

impl Cache for quick_cache::sync::Cache<String, Value> {
    fn get(&self, key: &str) -> Option<Value> {
        quick_cache::sync::Cache::get(self, key)
    }
    fn insert(&self, key: String, value: Value) {
        quick_cache::sync::Cache::insert(self, key, value);
    }
}

impl Cache for dashmap::DashMap<String, Value> {
    fn get(&self, key: &str) -> Option<Value> {
        dashmap::DashMap::get(self, key).map(|v| v.clone())
    }
    fn insert(&self, key: String, value: Value) {
        dashmap::DashMap::insert(self, key, value);
    }
}

fn caches() -> Vec<(&'static str, Box<dyn Cache>)> {
    vec![
        ("ttl_map", Box::new(cache_core::TtlMap::new(TTL))),
        (
            "seed_mutex",
            Box::new(Seed {
                map: Default::default(),
            }),
        ),
        (
            "rwlock_floor",
            Box::new(Floor {
                origin: Instant::now(),
                map: Default::default(),
            }),
        ),
        (
            "moka",
            Box::new(
                moka::sync::Cache::builder()
                    .time_to_idle(TTL)
                    .max_capacity(1 << 20)
                    .build(),
            ),
        ),
        (
            "cached",
            Box::new(parking_lot::Mutex::new(
                cached::TimedCache::with_lifespan_and_refresh(TTL, true),
            )),
        ),
        (
            "quick_cache",
            Box::new(quick_cache::sync::Cache::new(1 << 20)),
        ),
        ("dashmap", Box::new(dashmap::DashMap::new())),
    ]
}

/// A lookup order that visits every key, scattered over memory.
fn order(seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..KEYS).collect();
    order.sort_by_key(|&i| mix(seed, i));
    order
}

fn hits(c: &mut Criterion) {
    let keys = keys(KEYS, 1);
    let caches = caches();
    for (_, cache) in &caches {
        for key in &keys {
            cache.insert(key.clone(), Arc::new(7));
        }
    }
    let orders = [order(2), order(3)];

    let mut group = c.benchmark_group("hit_1_thread");
    for (name, cache) in &caches {
        let mut i = 0;
        group.bench_function(*name, |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(cache.get(&keys[orders[0][i]]))
            })
        });
    }
    group.finish();

    let absent = self::keys(KEYS, 7);
    let mut group = c.benchmark_group("miss");
    for (name, cache) in &caches {
        let mut i = 0;
        group.bench_function(*name, |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(cache.get(&absent[orders[0][i]]))
            })
        });
    }
    group.finish();

    // Two threads hit the same keys in different orders. The time reported is per lookup of
    // the pair, so the 1-thread time divided by this one is the scaling.
    let mut group = c.benchmark_group("hit_2_threads");
    for (name, cache) in &caches {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for order in &orders {
                        let (cache, keys) = (cache, &keys);
                        s.spawn(move || {
                            for n in 0..iters.div_ceil(2) as usize {
                                black_box(cache.get(&keys[order[n % KEYS]]));
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn inserts(c: &mut Criterion) {
    let keys = keys(100_000, 4);
    let mut group = c.benchmark_group("insert");
    for (name, cache) in caches() {
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                cache.insert(keys[i].clone(), Arc::new(i as u64));
            })
        });
    }
    group.finish();
}

#[cache_core::ttl_cached(ttl = "1h")]
fn macro_client(api_key: &str) -> Value {
    Arc::new(api_key.len() as u64)
}

fn macro_overhead(c: &mut Criterion) {
    let keys = keys(KEYS, 5);
    let order = order(6);
    let by_hand: cache_core::TtlMap<String, Value> = cache_core::TtlMap::new(TTL);
    for key in &keys {
        macro_client(key);
        by_hand.get_or_insert_with(key.as_str(), || Arc::new(key.len() as u64));
    }
    let mut group = c.benchmark_group("memo_hit");
    let mut i = 0;
    group.bench_function("by_hand", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let key = keys[order[i]].as_str();
            black_box(by_hand.get_or_insert_with(key, || Arc::new(key.len() as u64)))
        })
    });
    group.bench_function("macro", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(macro_client(&keys[order[i]]))
        })
    });
    group.finish();
}

/// Memoizing hits on one key from two threads while its rebuild (`refresh_after`) runs,
/// beside hits on a key not due: a hit on a value being rebuilt costs what any hit costs (it
/// does not take the shard's flights lock to learn that the rebuild is under way). The two
/// threads live for the whole group: threads spawned per sample may share a lock stripe
/// (their slots are handed back as they end), which would make the times bimodal.
fn refresh_hits(c: &mut Criterion) {
    const FRESH: u64 = 1;
    const REBUILT: u64 = 2;
    let clock = cache_core::ManualClock::new();
    // `u64` values: cloning an `Arc` of one key from two threads would write shared memory.
    let map = cache_core::TtlMap::<u64, u64>::builder()
        .ttl(TTL)
        .refresh_after(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    map.insert(REBUILT, 1);
    clock.advance(Duration::from_secs(60));
    map.insert(FRESH, 1);
    let (map, (started, running), (release, rebuilding)) = (&map, mpsc::channel(), mpsc::channel());
    // A round's key and hits per thread (0: stop), then its start and its end, for all three.
    let (key, hits) = (&AtomicU64::new(0), &AtomicU64::new(0));
    let (start, end) = (&Barrier::new(3), &Barrier::new(3));
    let mut group = c.benchmark_group("memo_hit_2_threads");
    std::thread::scope(|s| {
        s.spawn(move || {
            map.get_or_insert_with(&REBUILT, || {
                started.send(()).expect("the bench waits");
                rebuilding.recv().expect("the bench releases it");
                2
            })
        });
        running.recv().expect("the rebuild started");
        for _ in 0..2 {
            s.spawn(move || {
                loop {
                    start.wait();
                    let (key, hits) = (key.load(Relaxed), hits.load(Relaxed));
                    for _ in 0..hits {
                        black_box(map.get_or_insert_with(&key, || 9));
                    }
                    end.wait();
                    if hits == 0 {
                        break;
                    }
                }
            });
        }
        let round = |k: u64, n: u64| {
            key.store(k, Relaxed);
            hits.store(n, Relaxed);
            let begun = Instant::now();
            start.wait();
            end.wait();
            begun.elapsed()
        };
        for (name, k) in [("fresh", FRESH), ("being_rebuilt", REBUILT)] {
            group.bench_function(name, |b| b.iter_custom(|iters| round(k, iters.div_ceil(2))));
        }
        round(0, 0);
        release.send(()).expect("the rebuild waits");
    });
    group.finish();
}

/// The machine's own ceiling for the 2-thread column: the same lookups in a `HashMap` that is
/// only read, with no lock, no clock and no counters, cloning the same `Arc` values. No cache
/// can scale better than this does.
fn scaling_ceiling(c: &mut Criterion) {
    let keys = keys(KEYS, 1);
    let map: HashMap<String, Value> = keys.iter().map(|k| (k.clone(), Arc::new(7))).collect();
    let orders = [order(2), order(3)];
    let mut group = c.benchmark_group("ceiling");
    let mut i = 0;
    group.bench_function("1_thread", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(map.get(keys[orders[0][i]].as_str()).cloned())
        })
    });
    group.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for order in &orders {
                    let (map, keys) = (&map, &keys);
                    s.spawn(move || {
                        for n in 0..iters.div_ceil(2) as usize {
                            black_box(map.get(keys[order[n % KEYS]].as_str()).cloned());
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = hits, scaling_ceiling, inserts, macro_overhead, refresh_hits
}
criterion_main!(benches);
