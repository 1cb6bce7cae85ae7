//! The fleet tier against its peers, in one run, as ratios.
//!
//! - `l1_hit_arc_str`, `l1_hit_string`: a hit in a `Shared` map (tier on) vs the same hit in a
//!   plain `TtlMap`, both through `get_or_insert_with_async` polled once with a no-op waker (a
//!   hit completes on the first poll; the benchmark panics if it does not). 10,000 51-byte
//!   `String` keys looked up by `&str`, 64-byte values.
//! - `l2_hit`: every call misses L1 and finds the value in Redis. Ours: a `Shared` map with
//!   `capacity(16)` cycling over 10,000 keys that another tier instance wrote (default sliding
//!   expiry: one `GETEX`; and `shared_fixed`, on keys of its own: `GET` and `PTTL` in one
//!   pipeline). Peers: a raw `GET` +
//!   `postcard::from_bytes` over redis 1.8's `ConnectionManager` from the benchmark's own
//!   multi-thread runtime (and, as a floor, from a current-thread runtime where the connection
//!   and the caller share a thread), and cached 0.56's `AsyncRedisCache::cache_get`. Every op
//!   is awaited alone (no pipelining), from `Runtime::block_on`.
//! - `l2_hit_embedding`: the same peers on 1,000 keys whose values are 1,536-float embeddings
//!   (6 KB in postcard), for a realistic size beside the 64-byte strings the targets are judged
//!   on.
//!
//! Beside criterion's estimates, a separate loop times each op of every `l2_hit` peer (rounds
//! interleaved so drift hits all alike) for p50/p99, and re-measures the L1 ratio in
//! interleaved passes. Those land in `$FLEET_BENCH_OUT/bench.json`.
//!
//! Needs `FLEET_REDIS_URL`; `bash scripts/fleet-bench.sh` starts a server and runs everything.

#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use cache_core::redis::{RedisTier, Shared};
use cache_core::{Expiry, TtlMap};
use cached::{AsyncRedisCache, IOCachedAsync};
use criterion::Criterion;
use fleet_bench::{embedding, keys, order, out_path, percentile, redis_url, value};
use redis::aio::ConnectionManager;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::runtime::Runtime;

const KEYS: usize = 10_000;
const TTL: Duration = Duration::from_secs(3600);
/// The namespace of every tier here; fresh data each run comes from a fresh server.
const NAMESPACE: &str = "fleet-bench";

/// Constructor runs in maps that should only hit: reported, and must stay 0.
static UNEXPECTED_BUILDS: AtomicU64 = AtomicU64::new(0);

/// Polls `f` once with a no-op waker; a hit must be ready at once.
fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a hit must complete on the first poll"),
    }
}

/// The runtime a service would run in (`#[tokio::main]`): multi-thread, 2 workers.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn tier(url: &str) -> RedisTier {
    RedisTier::new(url)
        .expect("a Redis URL")
        .namespace(NAMESPACE)
}

// ---------------------------------------------------------------------------------------------
// L1 hits

struct L1<V> {
    keys: Vec<String>,
    order: Vec<usize>,
    plain: TtlMap<String, V>,
    shared: Shared<String, V>,
}

impl<V> L1<V>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn new(rt: &Runtime, url: &str, name: &'static str, make: fn(usize) -> V) -> Self {
        let keys = keys(KEYS, 1);
        let plain: TtlMap<String, V> = TtlMap::new(TTL);
        let shared: Shared<String, V> = TtlMap::builder()
            .ttl(TTL)
            .name(name)
            .shared(tier(url))
            .build();
        rt.block_on(async {
            for (i, key) in keys.iter().enumerate() {
                // Through Redis: the fleet's flight, then STORE.
                shared
                    .get_or_insert_with_async(key.as_str(), async { make(i) })
                    .await;
                plain.insert(key.clone(), make(i));
            }
        });
        assert_eq!(shared.len(), KEYS, "every key is in L1");
        assert!(!shared.tier().is_degraded(), "Redis answered the prefill");
        L1 {
            keys,
            order: order(KEYS, 2),
            plain,
            shared,
        }
    }

    fn plain_hit(&self, i: usize) -> V {
        let key = self.keys[self.order[i]].as_str();
        poll_once(self.plain.get_or_insert_with_async(key, async {
            UNEXPECTED_BUILDS.fetch_add(1, Relaxed);
            unreachable!("a hit")
        }))
    }

    fn shared_hit(&self, i: usize) -> V {
        let key = self.keys[self.order[i]].as_str();
        poll_once(self.shared.get_or_insert_with_async(key, async {
            UNEXPECTED_BUILDS.fetch_add(1, Relaxed);
            unreachable!("a hit")
        }))
    }

    fn bench(&self, c: &mut Criterion, group: &str) {
        let mut group = c.benchmark_group(group);
        let mut i = 0;
        group.bench_function("ttl_map", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(self.plain_hit(i))
            })
        });
        group.bench_function("shared", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(self.shared_hit(i))
            })
        });
        group.finish();
    }

    /// ns per hit of each map, over `rounds` passes of all keys, alternating which goes first:
    /// (median, fastest) pass of the plain map, then of the shared one.
    fn interleaved(&self, rounds: usize) -> [(f64, f64); 2] {
        let pass = |shared: bool| {
            let start = Instant::now();
            for i in 0..KEYS {
                if shared {
                    black_box(self.shared_hit(i));
                } else {
                    black_box(self.plain_hit(i));
                }
            }
            start.elapsed().as_nanos() as f64 / KEYS as f64
        };
        let mut times = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            for k in 0..2 {
                let shared = (round + k) % 2 == 1;
                times[usize::from(shared)].push(pass(shared));
            }
        }
        times.map(|mut t| {
            let fastest = t.iter().copied().fold(f64::INFINITY, f64::min);
            (median(&mut t), fastest)
        })
    }
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// L2 hits

/// One way to get a value that Redis holds. Every one of them returns the same value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    /// Redis `GET` + postcard over `ConnectionManager`, from the multi-thread runtime.
    RawGet,
    /// The same from a current-thread runtime (caller and connection on one thread).
    RawGetCurrentThread,
    /// A `Shared` map whose L1 always misses (sliding expiry: one `GETEX`).
    Shared,
    /// The same with fixed expiry (`GET` and `PTTL`), on keys of its own.
    SharedFixed,
    /// cached 0.56's `AsyncRedisCache::cache_get` (GET in a pipeline, serde_json).
    Cached,
}

const PEERS: [Peer; 5] = [
    Peer::RawGet,
    Peer::RawGetCurrentThread,
    Peer::Shared,
    Peer::SharedFixed,
    Peer::Cached,
];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::RawGet => "raw_get",
            Peer::RawGetCurrentThread => "raw_get_current_thread",
            Peer::Shared => "shared",
            Peer::SharedFixed => "shared_fixed",
            Peer::Cached => "cached",
        }
    }
}

/// What one set of L2 benchmarks reads.
struct Shape<V> {
    /// The criterion group, also the key of its latencies in `bench.json`.
    group: &'static str,
    keys: usize,
    /// Our two maps' names (sliding, fixed), then the raw keys' and cached's prefixes.
    names: [&'static str; 4],
    value: fn(usize) -> V,
}

/// The 64-byte `String` values: the row the targets are judged on.
const STRINGS: Shape<String> = Shape {
    group: "l2_hit",
    keys: KEYS,
    names: ["l2", "l2-fixed", "raw:", "fleet-bench-cached:"],
    value,
};

/// 1,536-float embeddings (6 KB in postcard), as the fleet example caches: fewer keys, so that
/// Redis holds them all in little memory (the L1 still always misses).
const EMBEDDINGS: Shape<Vec<f32>> = Shape {
    group: "l2_hit_embedding",
    keys: 1_000,
    names: [
        "l2-embedding",
        "l2-embedding-fixed",
        "raw-embedding:",
        "fleet-bench-cached-embedding:",
    ],
    value: embedding,
};

struct L2<V> {
    shape: Shape<V>,
    rt: Runtime,
    current: Runtime,
    keys: Vec<String>,
    raw_keys: Vec<String>,
    order: Vec<usize>,
    raw: ConnectionManager,
    raw_current: ConnectionManager,
    shared: Shared<String, V>,
    shared_fixed: Shared<String, V>,
    cached: AsyncRedisCache<String, V>,
}

impl<V> L2<V>
where
    V: Clone + Default + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned,
    V: Send + Sync + 'static,
{
    fn new(url: &str, shape: Shape<V>) -> Self {
        let [sliding_name, fixed_name, raw_prefix, cached_prefix] = shape.names;
        let value = shape.value;
        let rt = runtime();
        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let keys = keys(shape.keys, 3);
        let raw_keys: Vec<String> = keys.iter().map(|k| format!("{raw_prefix}{k}")).collect();
        let client = redis::Client::open(url).expect("a Redis URL");
        let raw = rt
            .block_on(ConnectionManager::new(client.clone()))
            .expect("a connection");
        let raw_current = current
            .block_on(ConnectionManager::new(client))
            .expect("a connection");
        let cached = rt
            .block_on(
                AsyncRedisCache::new(cached_prefix, TTL)
                    .set_connection_string(url)
                    .build(),
            )
            .expect("cached's AsyncRedisCache");

        // Another process's writes: maps of the same names on another tier instance. Each of
        // our peers reads keys of its own, as the others do: a key that another peer has just
        // read is warm in redis-server's CPU caches (~2 µs faster per op here).
        let writer = |name: &'static str| -> Shared<String, V> {
            TtlMap::builder()
                .ttl(TTL)
                .name(name)
                .shared(tier(url))
                .build()
        };
        let writers = [writer(sliding_name), writer(fixed_name)];
        rt.block_on(async {
            let mut conn = raw.clone();
            for (i, key) in keys.iter().enumerate() {
                for writer in &writers {
                    writer
                        .get_or_insert_with_async(key.as_str(), async { value(i) })
                        .await;
                }
                let bytes = postcard::to_allocvec(&value(i)).expect("postcard");
                redis::cmd("SET")
                    .arg(&raw_keys[i])
                    .arg(bytes)
                    .arg("PX")
                    .arg(TTL.as_millis() as u64)
                    .exec_async(&mut conn)
                    .await
                    .expect("SET");
                cached
                    .cache_set(key.clone(), value(i))
                    .await
                    .expect("cached's cache_set");
            }
        });
        for writer in writers {
            assert!(!writer.tier().is_degraded(), "Redis answered the prefill");
        }

        let reader = |name: &'static str, expiry: Expiry| -> Shared<String, V> {
            TtlMap::builder()
                .ttl(TTL)
                .expiry(expiry)
                .capacity(16)
                .name(name)
                .shared(tier(url))
                .build()
        };
        L2 {
            shared: reader(sliding_name, Expiry::Sliding),
            shared_fixed: reader(fixed_name, Expiry::Fixed),
            rt,
            current,
            keys,
            raw_keys,
            order: order(shape.keys, 4),
            shape,
            raw,
            raw_current,
            cached,
        }
    }

    /// One op of `peer` for key number `i` (of the scattered order).
    async fn op(&self, peer: Peer, i: usize, conn: &mut ConnectionManager) -> V {
        let n = self.order[i % self.shape.keys];
        match peer {
            Peer::RawGet | Peer::RawGetCurrentThread => {
                let bytes: Vec<u8> = redis::cmd("GET")
                    .arg(&self.raw_keys[n])
                    .query_async(conn)
                    .await
                    .expect("GET");
                postcard::from_bytes(&bytes).expect("postcard")
            }
            Peer::Shared | Peer::SharedFixed => {
                let map = if peer == Peer::Shared {
                    &self.shared
                } else {
                    &self.shared_fixed
                };
                map.get_or_insert_with_async(self.keys[n].as_str(), async {
                    UNEXPECTED_BUILDS.fetch_add(1, Relaxed);
                    V::default()
                })
                .await
            }
            Peer::Cached => self
                .cached
                .cache_get(&self.keys[n])
                .await
                .expect("cached's cache_get")
                .expect("a value in Redis"),
        }
    }

    fn runtime(&self, peer: Peer) -> (&Runtime, ConnectionManager) {
        if peer == Peer::RawGetCurrentThread {
            (&self.current, self.raw_current.clone())
        } else {
            (&self.rt, self.raw.clone())
        }
    }

    /// Runs `ops` ops of `peer` from key `first` on, timing the whole loop.
    fn run(&self, peer: Peer, first: usize, ops: u64) -> Duration {
        let (rt, mut conn) = self.runtime(peer);
        rt.block_on(async {
            let start = Instant::now();
            for n in 0..ops as usize {
                black_box(self.op(peer, first + n, &mut conn).await);
            }
            start.elapsed()
        })
    }

    /// Runs `ops` ops of `peer`, pushing each one's latency in ns.
    fn sample(&self, peer: Peer, first: usize, ops: usize, into: &mut Vec<u64>) {
        let (rt, mut conn) = self.runtime(peer);
        rt.block_on(async {
            for n in 0..ops {
                let start = Instant::now();
                black_box(self.op(peer, first + n, &mut conn).await);
                into.push(start.elapsed().as_nanos() as u64);
            }
        });
    }

    fn check(&self) {
        for peer in PEERS {
            let (rt, mut conn) = self.runtime(peer);
            for i in 0..3 {
                let got = rt.block_on(self.op(peer, i, &mut conn));
                let want = (self.shape.value)(self.order[i]);
                assert_eq!(got, want, "{peer:?} reads the right value");
            }
        }
    }

    fn bench(&self, c: &mut Criterion) {
        let mut group = c.benchmark_group(self.shape.group);
        for peer in PEERS {
            let mut next = 0;
            group.bench_function(peer.name(), |b| {
                b.iter_custom(|iters| {
                    let took = self.run(peer, next, iters);
                    next += iters as usize;
                    took
                })
            });
        }
        group.finish();
    }
}

// ---------------------------------------------------------------------------------------------

fn l1_benches(c: &mut Criterion, url: &str) -> serde_json::Value {
    let rt = runtime();
    let arc: L1<Arc<str>> = L1::new(&rt, url, "l1-arc-str", |i| Arc::from(value(i)));
    let string: L1<String> = L1::new(&rt, url, "l1-string", value);
    arc.bench(c, "l1_hit_arc_str");
    string.bench(c, "l1_hit_string");
    let mut out = serde_json::Map::new();
    for (name, [plain, shared]) in [
        ("l1_hit_arc_str", arc.interleaved(31)),
        ("l1_hit_string", string.interleaved(31)),
    ] {
        eprintln!(
            "{name} interleaved passes (median, fastest): ttl_map {:.1} / {:.1} ns, \
             shared {:.1} / {:.1} ns, ratio {:.3} / {:.3}",
            plain.0,
            plain.1,
            shared.0,
            shared.1,
            shared.0 / plain.0,
            shared.1 / plain.1
        );
        out.insert(
            name.into(),
            serde_json::json!({
                "ttl_map_median_ns": plain.0, "ttl_map_fastest_ns": plain.1,
                "shared_median_ns": shared.0, "shared_fastest_ns": shared.1,
            }),
        );
    }
    out.into()
}

/// The L2 benchmarks of one shape, and each peer's per-op latencies.
fn l2_benches<V>(c: &mut Criterion, url: &str, shape: Shape<V>) -> serde_json::Value
where
    V: Clone + Default + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned,
    V: Send + Sync + 'static,
{
    let l2 = L2::new(url, shape);
    l2.check();
    l2.bench(c);

    // Per-op latency: rounds of every peer in turn, the order rotating each round.
    const ROUNDS: usize = 40;
    const OPS: usize = 500;
    let mut samples: Vec<Vec<u64>> = vec![Vec::with_capacity(ROUNDS * OPS); PEERS.len()];
    for peer in PEERS {
        l2.sample(peer, 0, 200, &mut Vec::new()); // warm-up
    }
    for round in 0..ROUNDS {
        for k in 0..PEERS.len() {
            let p = (round + k) % PEERS.len();
            l2.sample(PEERS[p], round * OPS, OPS, &mut samples[p]);
        }
    }
    let mut out = serde_json::Map::new();
    for (peer, mut ns) in PEERS.into_iter().zip(samples) {
        ns.sort_unstable();
        let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64;
        let (p50, p99) = (percentile(&ns, 50.0), percentile(&ns, 99.0));
        eprintln!(
            "{} latency {:<24} n={} mean {:.1} us, p50 {:.1} us, p99 {:.1} us",
            l2.shape.group,
            peer.name(),
            ns.len(),
            mean / 1e3,
            p50 as f64 / 1e3,
            p99 as f64 / 1e3
        );
        out.insert(
            peer.name().into(),
            serde_json::json!({ "n": ns.len(), "mean_ns": mean, "p50_ns": p50, "p99_ns": p99 }),
        );
    }
    assert!(
        !l2.shared.tier().is_degraded() && !l2.shared_fixed.tier().is_degraded(),
        "Redis answered every op (else ours went local)"
    );
    out.into()
}

fn main() {
    let url = redis_url();
    let mut c = Criterion::default().configure_from_args();
    // `FLEET_BENCH_ONLY=l1` (or `l2`) runs one half, for quicker looks.
    let only = std::env::var("FLEET_BENCH_ONLY").unwrap_or_default();
    let l1 = if only != "l2" {
        l1_benches(&mut c, &url)
    } else {
        serde_json::Value::Null
    };
    let (l2, embeddings) = if only != "l1" {
        (
            l2_benches(&mut c, &url, STRINGS),
            l2_benches(&mut c, &url, EMBEDDINGS),
        )
    } else {
        (serde_json::Value::Null, serde_json::Value::Null)
    };
    let unexpected = UNEXPECTED_BUILDS.load(Relaxed);
    assert_eq!(
        unexpected, 0,
        "a constructor ran where every call should hit"
    );
    let result = serde_json::json!({
        "l1_interleaved": l1,
        "l2_latency": l2,
        "l2_embedding_latency": embeddings,
    });
    if let Some(path) = out_path("bench.json") {
        std::fs::write(&path, serde_json::to_string_pretty(&result).expect("json"))
            .expect("write bench.json");
    }
    c.final_summary();
}
