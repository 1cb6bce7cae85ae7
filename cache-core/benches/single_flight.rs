//! Single flight: two threads miss the same fresh keys at the same moments; each key's
//! constructor spins for about 2 µs. Reports time per key and, after the timings, how many
//! constructions each cache ran per key (1.00 is single flight; 2.00 is none).
//!
//! A failing constructor (`failing_constructor`): 8 threads miss one fresh key at once; its
//! constructor sleeps `FAIL_AFTER` and returns an error. The time reported is the slowest
//! caller's, per round; after the timings, that time as a multiple of one constructor run and
//! the runs per round. `FAIL_AFTER` is 20 ms, not a backend timeout's 200 ms, to keep the
//! bench short: a cache that queues the callers behind each other shows 8x either way.
//!
//! Run with `cargo bench --bench single_flight`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;

const TTL: Duration = Duration::from_secs(3600);

type Value = Arc<u64>;

/// The expensive constructor: about 2 µs of work, counted.
fn construct(runs: &AtomicU64, key: u64) -> Value {
    runs.fetch_add(1, Relaxed);
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(2) {
        std::hint::spin_loop();
    }
    Arc::new(key)
}

trait Memo: Sync {
    fn get_or_build(&self, key: u64, runs: &AtomicU64) -> Value;
}

impl Memo for cache_core::TtlMap<u64, Value> {
    fn get_or_build(&self, key: u64, runs: &AtomicU64) -> Value {
        self.get_or_insert_with(&key, || construct(runs, key))
    }
}

impl Memo for moka::sync::Cache<u64, Value> {
    fn get_or_build(&self, key: u64, runs: &AtomicU64) -> Value {
        self.get_with(key, || construct(runs, key))
    }
}

impl Memo for quick_cache::sync::Cache<u64, Value> {
    fn get_or_build(&self, key: u64, runs: &AtomicU64) -> Value {
        let built = self.get_or_insert_with(&key, || Ok::<_, ()>(construct(runs, key)));
        built.unwrap_or_else(|()| unreachable!("the constructor cannot fail"))
    }
}

/// The seed's design holds its one mutex while constructing: single flight by serializing
/// every key.
struct Seed(parking_lot::Mutex<HashMap<u64, Value>>);

impl Memo for Seed {
    fn get_or_build(&self, key: u64, runs: &AtomicU64) -> Value {
        let mut map = self.0.lock();
        map.entry(key)
            .or_insert_with(|| construct(runs, key))
            .clone()
    }
}

fn single_flight(c: &mut Criterion) {
    let caches: Vec<(&str, Box<dyn Memo>)> = vec![
        ("ttl_map", Box::new(cache_core::TtlMap::new(TTL))),
        (
            "moka",
            Box::new(moka::sync::Cache::builder().time_to_idle(TTL).build()),
        ),
        (
            "quick_cache",
            Box::new(quick_cache::sync::Cache::new(1 << 22)),
        ),
        ("seed_mutex", Box::new(Seed(Default::default()))),
    ];
    let mut summary = Vec::new();
    let mut group = c.benchmark_group("single_flight");
    for (name, cache) in &caches {
        let runs = AtomicU64::new(0);
        let next_key = AtomicU64::new(0);
        let mut keys_used = 0;
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let first = next_key.fetch_add(iters, Relaxed);
                keys_used += iters;
                let barrier = std::sync::Barrier::new(2);
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..2 {
                        s.spawn(|| {
                            barrier.wait();
                            for key in first..first + iters {
                                black_box(cache.get_or_build(key, &runs));
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
        summary.push((*name, runs.load(Relaxed) as f64 / keys_used as f64));
    }
    group.finish();
    println!("\nconstructions per key (2 threads missing each key together):");
    for (name, per_key) in summary {
        println!("  {name:<12} {per_key:.2}");
    }
}

const FAILERS: usize = 8;
const FAIL_AFTER: Duration = Duration::from_millis(20);

/// The failing constructor: takes `FAIL_AFTER`, counted, then fails.
fn fail_slowly(runs: &AtomicU64) -> Result<Value, &'static str> {
    runs.fetch_add(1, Relaxed);
    std::thread::sleep(FAIL_AFTER);
    Err("backend down")
}

/// A fallible memoizing call of a cache: whether it returned an error.
type TryBuild = Box<dyn Fn(u64, &AtomicU64) -> bool + Sync>;

fn failing_constructor(c: &mut Criterion) {
    let ttl_map = cache_core::TtlMap::<u64, Value>::new(TTL);
    let moka = moka::sync::Cache::<u64, Value>::builder()
        .time_to_idle(TTL)
        .build();
    let quick_cache = quick_cache::sync::Cache::<u64, Value>::new(1 << 16);
    let ttl_map_shared = cache_core::TtlMap::<u64, Value>::new(TTL);
    let caches: Vec<(&str, TryBuild)> = vec![
        (
            "ttl_map_try",
            Box::new(move |key, runs| {
                let built = ttl_map.try_get_or_insert_with(&key, || fail_slowly(runs));
                built.is_err()
            }),
        ),
        (
            "ttl_map_try_shared",
            Box::new(move |key, runs| {
                let built =
                    ttl_map_shared.try_get_or_insert_with_shared(&key, || fail_slowly(runs));
                built.is_err()
            }),
        ),
        (
            "moka_try_get_with",
            Box::new(move |key, runs| moka.try_get_with(key, || fail_slowly(runs)).is_err()),
        ),
        (
            "quick_cache_try",
            Box::new(move |key, runs| {
                let built = quick_cache.get_or_insert_with(&key, || fail_slowly(runs));
                built.is_err()
            }),
        ),
    ];
    let mut summary = Vec::new();
    let mut group = c.benchmark_group("failing_constructor");
    group
        .sampling_mode(criterion::SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(1));
    for (name, try_build) in &caches {
        let (runs, next_key, mut rounds) = (AtomicU64::new(0), AtomicU64::new(0), 0);
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let mut slowest_total = Duration::ZERO;
                for _ in 0..iters {
                    let key = next_key.fetch_add(1, Relaxed);
                    let barrier = std::sync::Barrier::new(FAILERS);
                    let slowest = std::thread::scope(|s| {
                        let callers: Vec<_> = (0..FAILERS)
                            .map(|_| {
                                s.spawn(|| {
                                    barrier.wait();
                                    let start = Instant::now();
                                    assert!(try_build(key, &runs), "the constructor fails");
                                    start.elapsed()
                                })
                            })
                            .collect();
                        let times = callers.into_iter().map(|c| c.join().unwrap());
                        times.max().unwrap_or_default()
                    });
                    slowest_total += slowest;
                }
                rounds += iters;
                slowest_total
            })
        });
        summary.push((*name, runs.load(Relaxed) as f64 / rounds as f64));
    }
    group.finish();
    println!(
        "\nfailing constructor ({FAILERS} callers, one {FAIL_AFTER:?} run fails): runs per round"
    );
    for (name, runs) in summary {
        println!("  {name:<18} {runs:.2}");
    }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = single_flight, failing_constructor
}
criterion_main!(benches);
