//! Single flight: two threads miss the same fresh keys at the same moments; each key's
//! constructor spins for about 2 µs. Reports time per key and, after the timings, how many
//! constructions each cache ran per key (1.00 is single flight; 2.00 is none).
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

criterion_group! {
    name = benches;
    config = common::config();
    targets = single_flight
}
criterion_main!(benches);
