//! Peers' Redis-cache test suites and real users' shapes, ported to the fleet tier
//! (`Shared` maps and `#[ttl_cached(shared = ...)]`), against a real `redis-server`.
//!
//! Sources:
//! - `cached` (jaemk/cached, `src/stores/redis.rs` tests of `RedisCache` / `AsyncRedisCache`,
//!   `tests/v3_redis_*.rs`, `examples/redis*.rs` and `#[io_cached(redis = true)]` shapes);
//! - `multi-tier-cache` (thichuong/multi-tier-cache, `tests/integration_*.rs`: an L1 (moka) in
//!   front of Redis with pub/sub invalidation across instances, as ours).
//!
//! Each `RedisTier` stands for one process (its own connections, breaker and backplane), so
//! several on one server are a fleet. Our API has no `cache_set`: a value enters the cache
//! only through a memoizing call (`get_or_insert_with_async`), so peers' `set` + `get` become a
//! call in one process and a call (whose constructor must not run) in another. `get` reads
//! this process's L1 only, never Redis (peers' `cache_get` reads Redis).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cache_core::redis::{RedisTier, Shared};
use cache_core::{Builder, Expiry, TtlMap, ttl_cached};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tests::fleet::{Tap, contains, eventually, let_redis_time_reach};
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

/// How long anything the tests wait for may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

/// One process's tier on `server`, in `namespace`: a generous timeout, so that a loaded
/// machine does not make a healthy Redis look down.
fn tier(server: &RedisServer, namespace: &str) -> RedisTier {
    RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace(namespace)
        .timeout(Duration::from_secs(2))
        .lease(Duration::from_secs(3))
}

/// One process's map named `name`, with the builder's extra settings.
fn shared<K, V>(
    tier: RedisTier,
    name: &'static str,
    ttl: Duration,
    settings: impl FnOnce(Builder<K, V>) -> Builder<K, V>,
) -> Shared<K, V>
where
    K: std::hash::Hash + Eq + Serialize + Send + Sync + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    settings(TtlMap::<K, V>::builder().ttl(ttl).name(name))
        .shared(tier)
        .build()
}

/// The Redis keys holding values (not leases) under `pattern`.
fn value_keys(server: &RedisServer, pattern: &str) -> Vec<String> {
    server
        .command(&["KEYS", pattern])
        .lines()
        .filter(|key| !key.is_empty() && !key.ends_with(":lease"))
        .map(str::to_owned)
        .collect()
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    server.command(&["PTTL", key]).parse().expect("a PTTL")
}

/// A counter of constructions.
#[derive(Default, Clone)]
struct Builds(Arc<AtomicUsize>);

impl Builds {
    fn add(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------------
// cached: RedisCache / AsyncRedisCache
// ---------------------------------------------------------------------------------------------

/// Ports cached's `redis_cache` / `test_async_redis_cache` (get on an empty cache is none, set,
/// get is some, after the ttl get is none; `set_ttl` changes the ttl of later sets), with the
/// set in one process and the gets in another, fixed expiry (cached's default).
///
/// Difference: no `cache_set` (a memoizing call stores) and `get` is this process's L1 only;
/// the ttl is the map's, fixed when it is built (no `set_ttl`): maps built later with another
/// ttl under the same name share the values, each written with its writer's ttl.
#[test]
fn cached_redis_cache_ttl_expires_in_every_process() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = |ttl| {
        shared::<u32, u32>(tier(&server, "peers"), "peers::redis_cache", ttl, |b| {
            b.expiry(Expiry::Fixed)
        })
    };
    let (a, b) = (make(Duration::from_secs(1)), make(Duration::from_secs(1)));
    let builds = Builds::default();
    assert!(a.get(&1u32).is_none());
    let start = Instant::now();
    let value = runtime.block_on(a.get_or_insert_with_async(&1u32, async {
        builds.add();
        100
    }));
    assert_eq!(value, 100);
    assert!(b.get(&1u32).is_none(), "get asks this process only");
    let read =
        runtime.block_on(b.get_or_insert_with_async(&1u32, async { unreachable!("in Redis") }));
    assert_eq!(read, 100);
    assert_eq!(b.get(&1u32), Some(100));
    let keys = value_keys(&server, "peers:*");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let left = pttl(&server, &keys[0]);
    assert!((1..=1000).contains(&left), "the ttl in Redis: {left} ms");

    let_redis_time_reach(start + Duration::from_millis(1500));
    assert_eq!(a.get(&1u32), None, "expired in the process that built it");
    assert_eq!(b.get(&1u32), None, "expired in the process that read it");
    assert!(value_keys(&server, "peers:*").is_empty(), "and in Redis");
    let rebuilt = runtime.block_on(b.get_or_insert_with_async(&1u32, async {
        builds.add();
        100
    }));
    let reread =
        runtime.block_on(a.get_or_insert_with_async(&1u32, async { unreachable!("in Redis") }));
    assert_eq!((rebuilt, reread, builds.get()), (100, 100, 2));

    // `set_ttl(10s)`: processes running with the new ttl.
    let (c, d) = (make(Duration::from_secs(10)), make(Duration::from_secs(10)));
    runtime.block_on(c.get_or_insert_with_async(&2u32, async {
        builds.add();
        200
    }));
    let read = runtime.block_on(d.get_or_insert_with_async(&2u32, async { unreachable!() }));
    assert_eq!(read, 200);
    assert_eq!(builds.get(), 3);
    let longest = value_keys(&server, "peers:*")
        .iter()
        .map(|key| pttl(&server, key))
        .max()
        .expect("values");
    assert!(longest > 1000 && longest <= 10_000, "{longest}");
}

/// Ports cached's `remove`, `cache_remove_valid_value_returns_some_and_deletes_key` and
/// `cache_remove_missing_key_returns_ok_none`: removing returns the value and deletes the key;
/// the other keys stay; removing a missing key is no error.
///
/// Difference: `remove` returns this process's L1 value, not Redis's: a process that never
/// read the key gets `None`, while Redis and every other process still lose it.
#[test]
fn cached_remove_returns_the_value_and_deletes_it_for_every_process() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<u32, u32>(
            tier(&server, "peers"),
            "peers::remove",
            Duration::from_secs(3600),
            |b| b,
        )
    };
    let (a, b) = (make(), make());
    runtime.block_on(async {
        for (k, v) in [(1, 100), (2, 200), (3, 300)] {
            a.get_or_insert_with_async(&k, async { v }).await;
        }
        b.get_or_insert_with_async(&1u32, async { unreachable!() })
            .await;
    });
    assert_eq!(value_keys(&server, "peers:*").len(), 3);
    assert_eq!(a.remove(&1u32), Some(100));
    eventually("Redis deleted key 1", PATIENCE, || {
        value_keys(&server, "peers:*").len() == 2
    });
    eventually("the other process dropped key 1", PATIENCE, || {
        !b.contains_key(&1u32)
    });
    assert_eq!(a.remove(&1u32), None, "a missing key");
    assert_eq!(b.remove(&2u32), None, "b never read key 2");
    eventually("Redis deleted key 2 all the same", PATIENCE, || {
        value_keys(&server, "peers:*").len() == 1
    });
    eventually("and a dropped it", PATIENCE, || !a.contains_key(&2u32));
    assert_eq!(a.get(&3u32), Some(300), "key 3 stays");
    let again = runtime.block_on(b.get_or_insert_with_async(&1u32, async { 101 }));
    assert_eq!(again, 101, "nothing old is left in Redis");
}

/// Bytes planted at `shape`'s value key (a garbage value, a valid header with a bad payload,
/// and a key of another Redis type) are a miss in a fresh process, never an error nor a
/// wrong value; the rebuilt value replaces them for the whole fleet.
fn self_heal(
    shape: &'static str,
    settings: impl Fn(Builder<String, String>) -> Builder<String, String> + Copy,
) {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared(
            tier(&server, "peers"),
            shape,
            Duration::from_secs(60),
            settings,
        )
    };
    let a = make();
    runtime.block_on(a.get_or_insert_with_async("k", async { "v0".to_string() }));
    let keys = value_keys(&server, "peers:*");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    let plants: [&dyn Fn(); 4] = [
        &|| drop(server.command(&["SET", key, "\u{ff}\u{fe}\u{fd}"])),
        &|| drop(server.command(&["SET", key, &format!("{:016}{:016}\u{5}ab", 0, 0)])),
        &|| {
            server.command(&["DEL", key]);
            server.command(&["HSET", key, "field", "value"]);
        },
        &|| drop(server.command(&["SET", key, "99999999999999999999999999999999xx"])),
    ];
    for (i, plant) in plants.iter().enumerate() {
        plant();
        let fresh = make();
        let want = format!("v{}", i + 1);
        let built = runtime.block_on(fresh.get_or_insert_with_async("k", async { want.clone() }));
        assert_eq!(built, want, "{shape}, plant {i}: a miss, rebuilt");
        assert!(!fresh.tier().is_degraded(), "{shape}, plant {i}");
        let reader = make();
        let read = runtime.block_on(
            reader.get_or_insert_with_async("k", async { unreachable!("{shape}: in Redis") }),
        );
        assert_eq!(
            read, want,
            "{shape}, plant {i}: the rebuilt value is shared"
        );
    }
}

/// Ports cached's `cache_get_self_heals_corrupted_entry_by_default`,
/// `cache_get_self_heal_then_recompute_produces_hit` and their async twins: a corrupt entry
/// is a miss (deleted), and the recomputed value is then a hit. Plain maps (GETEX path).
///
/// Difference: no strict mode (a corrupt value is always a miss, never an error).
#[test]
fn cached_self_heal_corrupt_entry_plain_map() {
    self_heal("peers::heal_plain", |b| b);
}

/// The same through `GET` + `PTTL` (fixed expiry).
/// (Found a bug, fixed since: see
/// `a_key_of_another_redis_type_is_absent_with_fixed_expiry_too`.)
#[test]
fn cached_self_heal_corrupt_entry_fixed_expiry() {
    self_heal("peers::heal_fixed", |b| b.expiry(Expiry::Fixed));
}

/// The same through the `FETCH` script (a map with `max_lifetime`).
#[test]
fn cached_self_heal_corrupt_entry_script_path() {
    self_heal("peers::heal_script", |b| {
        b.max_lifetime(Duration::from_secs(30))
    });
}

/// Ports cached's `redis_subsecond_ttl_precision_via_pttl` (tests/v3_redis_backward_read.rs):
/// a 250 ms ttl is 250 ms in Redis (not rounded to a second) and the value is gone for every
/// process after it.
#[test]
fn cached_subsecond_ttl_is_kept_in_redis() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::subsecond",
            Duration::from_millis(250),
            |b| b.expiry(Expiry::Fixed),
        )
    };
    let (a, b) = (make(), make());
    let start = Instant::now();
    runtime.block_on(a.get_or_insert_with_async("k", async { "v".to_string() }));
    let keys = value_keys(&server, "peers:*");
    assert_eq!(keys.len(), 1);
    let left = pttl(&server, &keys[0]);
    assert!((1..=250).contains(&left), "{left}");
    let_redis_time_reach(start + Duration::from_millis(400));
    assert!(value_keys(&server, "peers:*").is_empty());
    assert_eq!(a.get("k"), None);
    let builds = Builds::default();
    let value = runtime.block_on(b.get_or_insert_with_async("k", async {
        builds.add();
        "w".to_string()
    }));
    assert_eq!((value.as_str(), builds.get()), ("w", 1));
}

/// Ports cached's `ttl_unset_stores_entry_without_expiry` (tests/v3_redis_ttl_optional.rs)
/// and `very_large_clamps_to_i64_max`: a cache that never expires shares its values.
///
/// Difference: a ttl is required; `Duration::MAX` stands for "none", and Redis keeps the value
/// with a (century-long) expiry rather than none (`TTL` is not -1).
#[test]
fn cached_ttl_unset_is_a_ttl_that_never_ends() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    for (i, expiry) in [Expiry::Sliding, Expiry::Fixed].into_iter().enumerate() {
        let make = || {
            shared::<String, String>(
                tier(&server, &format!("forever{i}")),
                "peers::forever",
                Duration::MAX,
                |b| b.expiry(expiry),
            )
        };
        let (a, b) = (make(), make());
        runtime.block_on(a.get_or_insert_with_async("k", async { "v".to_string() }));
        let read = runtime.block_on(b.get_or_insert_with_async("k", async { unreachable!() }));
        assert_eq!(read, "v");
        let keys = value_keys(&server, &format!("forever{i}:*"));
        assert_eq!(keys.len(), 1);
        let left = pttl(&server, &keys[0]);
        assert!(left > 365 * 24 * 3600 * 1000, "{expiry:?}: {left}");
        assert!(!a.tier().is_degraded() && !b.tier().is_degraded());
    }
}

/// Ports cached's `sync_explicit_zero_ttl_is_invalid_value_server_free` (a zero ttl is
/// rejected when the cache is built).
///
/// Difference: a zero ttl is accepted; nothing is kept, in L1 or Redis, every call builds, and
/// no call fails, hangs or leaves a lease behind.
#[test]
fn cached_zero_ttl_keeps_nothing_and_fails_nothing() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make =
        || shared::<String, String>(tier(&server, "peers"), "peers::zero", Duration::ZERO, |b| b);
    let (a, b) = (make(), make());
    let builds = Builds::default();
    runtime.block_on(async {
        for map in [&a, &b, &a] {
            let value = tokio::time::timeout(
                PATIENCE,
                map.get_or_insert_with_async("k", async {
                    builds.add();
                    "v".to_string()
                }),
            )
            .await
            .expect("no call hangs");
            assert_eq!(value, "v");
        }
    });
    assert_eq!(builds.get(), 3);
    eventually("no key is left in Redis", PATIENCE, || {
        server.command(&["KEYS", "peers:*"]).trim().is_empty()
    });
}

/// Ports cached's `refresh_on_hit(true)` (examples/redis-async-tokio.rs,
/// `async_cached_sleep_secs`: ttl 1 s, every hit resets the ttl in Redis) with sliding expiry,
/// our analogue: a read from Redis (another process's L2 hit) resets the value's ttl there.
///
/// Difference: a hit in a process's L1 asks Redis nothing, so it does not reset the ttl in
/// Redis: a value hit only in the L1 of the process that built it expires in Redis a ttl after
/// it was last read there, and a new process then builds it again.
#[test]
fn cached_refresh_on_hit_is_sliding_expiry_on_reads_from_redis() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::refresh_on_hit",
            Duration::from_secs(1),
            |b| b,
        )
    };
    let (a, b) = (make(), make());
    let builds = Builds::default();
    let build = || async {
        builds.add();
        "v".to_string()
    };
    let start = Instant::now();
    runtime.block_on(a.get_or_insert_with_async("k", build()));
    // Reads from Redis by new processes every 600 ms keep it there past its first ttl.
    for step in 1..=3 {
        let_redis_time_reach(start + Duration::from_millis(600 * step));
        let fresh = make();
        let read = runtime.block_on(fresh.get_or_insert_with_async("k", build()));
        assert_eq!(read, "v");
        assert_eq!(builds.get(), 1, "read {step} came from Redis");
        // a's L1 hits keep a's copy.
        assert_eq!(a.get("k").as_deref(), Some("v"));
    }
    // From now on only a's L1 is hit: Redis lets the value go a ttl after its last read there.
    let last_read = start + Duration::from_millis(1800);
    for step in 1..=5 {
        let_redis_time_reach(last_read + Duration::from_millis(300 * step));
        assert_eq!(a.get("k").as_deref(), Some("v"), "a's L1 slides");
    }
    assert!(value_keys(&server, "peers:*").is_empty(), "gone from Redis");
    let _ = &b;
    let read = runtime.block_on(b.get_or_insert_with_async("k", build()));
    assert_eq!((read.as_str(), builds.get()), ("v", 2));
}

// ---------------------------------------------------------------------------------------------
// cached: `#[io_cached(redis = true)]` / `#[concurrent_cached(redis = true)]` users' shapes
// ---------------------------------------------------------------------------------------------

/// The tier a test handed over, for its functions' `shared = ...`.
fn tier_in(slot: &OnceLock<RedisTier>) -> &RedisTier {
    slot.get()
        .expect("the test sets the tier before the first call")
}

mod example {
    use super::*;

    pub static TIER: OnceLock<RedisTier> = OnceLock::new();
    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug, PartialEq, Clone)]
    pub enum ExampleError {
        RedisError(String),
    }

    /// cached's `cached_sleep_secs`: `Result<(), E>`, a body that blocks its thread (as the
    /// example's blocking sleep does) inside an async fn.
    #[ttl_cached(ttl = "30s", shared = tier_in(&TIER).clone())]
    pub async fn cached_sleep_secs(millis: u64) -> Result<(), ExampleError> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(millis)); // sleep-ok: the example's blocking body
        if millis == 0 {
            return Err(ExampleError::RedisError("zero".into()));
        }
        Ok(())
    }

    /// cached's `async_cached_sleep_secs` (ttl 1 s, `refresh_on_hit`), with a handle for the
    /// `_prime_cache` analogue.
    #[ttl_cached(ttl = "1s", shared = tier_in(&TIER).clone(), cache = sleeps)]
    pub async fn async_cached_sleep_secs(millis: u64) -> Result<String, ExampleError> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(millis)).await; // sleep-ok: the example's slow body
        Ok(millis.to_string())
    }
}

/// Ports cached's examples/redis-async-tokio.rs (`#[io_cached(redis = true, ...)]` /
/// `#[concurrent_cached(redis = true)]`): the first call is slow, the second fast, in this
/// process and (through Redis) in another; an `Err` is not cached; `Result<(), E>` caches `()`
/// (zero bytes of postcard).
///
/// Difference: no `_prime_cache` function (remove the key, then call); no `map_error` (Redis
/// errors never reach the caller).
#[test]
fn io_cached_redis_example_shapes() {
    let server = RedisServer::start();
    example::TIER.set(tier(&server, "macro")).expect("set once");
    let runtime = two_worker_runtime();
    let other_unit = shared::<u64, ()>(
        tier(&server, "macro"),
        "ported_fleet_peers::example::cached_sleep_secs",
        Duration::from_secs(30),
        |b| b,
    );
    let other_string = shared::<u64, String>(
        tier(&server, "macro"),
        "ported_fleet_peers::example::async_cached_sleep_secs",
        Duration::from_secs(1),
        |b| b,
    );
    runtime.block_on(async {
        let start = Instant::now();
        assert_eq!(example::cached_sleep_secs(300).await, Ok(()));
        assert!(start.elapsed() >= Duration::from_millis(300));
        let start = Instant::now();
        assert_eq!(example::cached_sleep_secs(300).await, Ok(()));
        assert!(start.elapsed() < Duration::from_millis(300), "fast");
        other_unit
            .get_or_insert_with_async(&300u64, async { unreachable!("() is in Redis") })
            .await;
        assert!(example::cached_sleep_secs(0).await.is_err());
        assert!(example::cached_sleep_secs(0).await.is_err(), "not cached");
        assert_eq!(example::RUNS.load(Ordering::SeqCst), 3);

        assert_eq!(
            example::async_cached_sleep_secs(200).await.as_deref(),
            Ok("200")
        );
        let read = other_string
            .get_or_insert_with_async(&200u64, async { unreachable!("in Redis") })
            .await;
        assert_eq!(read, "200");
        // prime_cache: the handle removes it everywhere, the next call builds again.
        example::sleeps()
            .remove_async(&200u64)
            .await
            .expect("Redis is up");
        assert_eq!(
            example::async_cached_sleep_secs(200).await.as_deref(),
            Ok("200")
        );
        assert_eq!(example::RUNS.load(Ordering::SeqCst), 5);
    });
    eventually(
        "the other process dropped the removed key",
        PATIENCE,
        || other_string.get(&200u64).is_none(),
    );
}

// ---------------------------------------------------------------------------------------------
// multi-tier-cache: L1 (moka) + L2 (Redis) + pub/sub invalidation
// ---------------------------------------------------------------------------------------------

/// Ports multi-tier-cache's `test_invalidate_single_key` and `test_update_cache` (an update in
/// one instance reaches the others after pub/sub propagation).
///
/// Difference: no `set`/`update_cache`: an update is a removal followed by a call that builds
/// the new value; every process then reads the new value, none keeps the old one.
#[test]
fn multi_tier_invalidate_and_update_across_instances() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::update",
            Duration::from_secs(300),
            |b| b,
        )
    };
    let (a, b, c) = (make(), make(), make());
    runtime.block_on(async {
        a.get_or_insert_with_async("user:1", async { "v1".to_string() })
            .await;
        for map in [&b, &c] {
            let read = map
                .get_or_insert_with_async("user:1", async { unreachable!() })
                .await;
            assert_eq!(read, "v1");
        }
        a.remove_async("user:1").await.expect("Redis is up");
        assert_eq!(a.get("user:1"), None);
        let fresh = a
            .get_or_insert_with_async("user:1", async { "v2".to_string() })
            .await;
        assert_eq!(fresh, "v2");
    });
    eventually("every instance dropped v1", PATIENCE, || {
        b.get("user:1").is_none() && c.get("user:1").is_none()
    });
    for map in [&b, &c] {
        let read = runtime.block_on(
            map.get_or_insert_with_async("user:1", async { unreachable!("v2 is in Redis") }),
        );
        assert_eq!(read, "v2");
    }
}

/// Ports multi-tier-cache's `test_invalidate_pattern` and `test_bulk_invalidation` (keys under a
/// prefix invalidated together, eventually in every instance).
///
/// Difference: no pattern invalidation: a map is the unit (`clear`), and another map's keys in
/// the same namespace stay, in Redis and in every process.
#[test]
fn multi_tier_invalidate_pattern_is_clear_of_one_map() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let users = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::users",
            Duration::from_secs(300),
            |b| b,
        )
    };
    let orders = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::orders",
            Duration::from_secs(300),
            |b| b,
        )
    };
    let (users_a, users_b, orders_a, orders_b) = (users(), users(), orders(), orders());
    runtime.block_on(async {
        for i in 1..=5 {
            let key = format!("key{i}");
            users_a
                .get_or_insert_with_async(&key, async { format!("user {i}") })
                .await;
            orders_a
                .get_or_insert_with_async(&key, async { format!("order {i}") })
                .await;
            users_b
                .get_or_insert_with_async(&key, async { unreachable!() })
                .await;
            orders_b
                .get_or_insert_with_async(&key, async { unreachable!() })
                .await;
        }
        users_a.clear_async().await.expect("Redis is up");
    });
    assert!(users_a.is_empty());
    eventually("the other instance dropped the users", PATIENCE, || {
        users_b.is_empty()
    });
    assert_eq!(
        value_keys(&server, "peers:*").len(),
        5,
        "the orders stay in Redis"
    );
    assert_eq!(orders_b.len(), 5, "and in every process");
    assert_eq!(orders_a.get("key3").as_deref(), Some("order 3"));
}

/// Ports multi-tier-cache's `test_l2_to_l1_promotion` and `test_l1_cache_hit`: a value read from
/// L2 is promoted to L1, and the next get is an L1 hit that asks Redis nothing.
#[test]
fn multi_tier_l2_value_is_promoted_to_l1() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, Vec<u8>>(
            tier(&server, "peers"),
            "peers::promotion",
            Duration::from_secs(300),
            |b| b,
        )
    };
    let (a, b) = (make(), make());
    runtime.block_on(a.get_or_insert_with_async("k", async { vec![3; 10] }));
    runtime.block_on(b.get_or_insert_with_async("k", async { unreachable!() }));
    assert_eq!(b.fleet_stats().from_redis, 1);
    let tap = Tap::monitor(&server);
    for _ in 0..10 {
        let value = runtime.block_on(b.get_or_insert_with_async("k", async { unreachable!() }));
        assert_eq!(value, vec![3; 10]);
    }
    let seen = tap.stop(&server);
    for command in ["GET", "GETEX", "EVALSHA", "EVAL"] {
        assert!(
            !contains(&seen, format!("\"{command}\"").as_bytes()),
            "an L1 hit sent {command}: {}",
            String::from_utf8_lossy(&seen)
        );
    }
    assert_eq!(b.stats().hits, 10);
    assert_eq!(b.fleet_stats().from_redis, 1);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Unit;

/// Ports multi-tier-cache's `test_negative_caching` (empty bytes are a hit, not a miss: the
/// compute function is not called again): empty values of several types, built in one
/// process, are read from Redis by another without a construction.
#[test]
fn multi_tier_empty_values_are_hits_everywhere() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    fn check<V>(server: &RedisServer, runtime: &tokio::runtime::Runtime, name: &'static str, v: V)
    where
        V: Clone + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned + Send + Sync,
        V: 'static,
    {
        let make =
            || shared::<String, V>(tier(server, "peers"), name, Duration::from_secs(60), |b| b);
        let (a, b) = (make(), make());
        let first = v.clone();
        runtime.block_on(a.get_or_insert_with_async("k", async { first }));
        let read = runtime
            .block_on(b.get_or_insert_with_async("k", async { unreachable!("{name}: in Redis") }));
        assert_eq!(read, v, "{name}");
        assert_eq!(b.fleet_stats().from_redis, 1, "{name}");
    }
    check(&server, &runtime, "peers::empty_bytes", Vec::<u8>::new());
    check(&server, &runtime, "peers::empty_string", String::new());
    check(&server, &runtime, "peers::unit", ());
    check(&server, &runtime, "peers::unit_struct", Unit);
    check(&server, &runtime, "peers::none", None::<u32>);
    check(
        &server,
        &runtime,
        "peers::empty_tuple_vec",
        Vec::<()>::new(),
    );
}

/// Ports multi-tier-cache's `test_concurrent_cache_miss` (100 concurrent requests for one key,
/// exactly one computation) across three processes, one key and then 20 keys.
#[test]
fn multi_tier_stampede_of_100_callers_over_3_processes_builds_once() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let maps: Vec<_> = (0..3)
        .map(|_| {
            Arc::new(shared::<String, String>(
                tier(&server, "peers"),
                "peers::stampede",
                Duration::from_secs(60),
                |b| b,
            ))
        })
        .collect();
    let builds = Builds::default();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..100 {
            let (map, builds) = (Arc::clone(&maps[i % 3]), builds.clone());
            tasks.push(tokio::spawn(async move {
                let key = format!("key-{}", i % 20);
                for key in ["one", key.as_str()] {
                    let value = map
                        .get_or_insert_with_async(key, async {
                            builds.add();
                            tokio::time::sleep(Duration::from_millis(50)).await; // sleep-ok: overlap
                            format!("value of {key}")
                        })
                        .await;
                    assert_eq!(value, format!("value of {key}"));
                }
            }));
        }
        for task in tasks {
            task.await.expect("no task panics");
        }
    });
    assert_eq!(builds.get(), 21, "one construction per key in the fleet");
    assert!(maps.iter().all(|map| map.fleet_stats().built_locally == 0));
}

/// Ports multi-tier-cache's `test_ttl_expiration` (`CacheStrategy::Custom(100ms)`: the value is
/// there at once, gone 200 ms later) across two processes.
#[test]
fn multi_tier_short_ttl_expires_everywhere() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::short",
            Duration::from_millis(100),
            |b| b,
        )
    };
    let (a, b) = (make(), make());
    let start = Instant::now();
    runtime.block_on(a.get_or_insert_with_async("k", async { "v".to_string() }));
    let read = runtime.block_on(b.get_or_insert_with_async("k", async { "w".to_string() }));
    let read_at = Instant::now();
    assert!(
        read == "v" || read_at > start + Duration::from_millis(100),
        "{read}"
    );
    let_redis_time_reach(read_at + Duration::from_millis(200));
    assert_eq!(a.get("k"), None);
    assert_eq!(b.get("k"), None);
    assert!(value_keys(&server, "peers:*").is_empty());
}

/// Ports multi-tier-cache's `test_get_or_compute_error_propagation`: a failing computation's
/// error reaches the caller, nothing is cached (here: nor written to Redis), and the next call
/// in any process computes again.
#[test]
fn multi_tier_errors_propagate_and_are_not_cached_anywhere() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::errors",
            Duration::from_secs(60),
            |b| b,
        )
    };
    let (a, b) = (make(), make());
    let builds = Builds::default();
    runtime.block_on(async {
        let failed: Result<String, String> = a
            .try_get_or_insert_with_async("k", async {
                builds.add();
                Err("upstream down".to_string())
            })
            .await;
        assert_eq!(failed, Err("upstream down".to_string()));
        let none = b
            .optionally_get_or_insert_with_async("k", async {
                builds.add();
                None
            })
            .await;
        assert_eq!(none, None);
        assert!(value_keys(&server, "peers:*").is_empty());
        let ok: Result<String, String> = b
            .try_get_or_insert_with_async("k", async {
                builds.add();
                Ok("v".to_string())
            })
            .await;
        assert_eq!(ok.as_deref(), Ok("v"));
        let read = a
            .get_or_insert_with_async("k", async { unreachable!() })
            .await;
        assert_eq!(read, "v");
    });
    assert_eq!(builds.get(), 3);
    eventually("no lease is left", PATIENCE, || {
        !server.command(&["KEYS", "peers:*"]).contains(":lease")
    });
}

// ---------------------------------------------------------------------------------------------
// Namespaces and prefixes
// ---------------------------------------------------------------------------------------------

/// Ports cached's namespace/prefix scoping (`generate_key_tests`, and
/// tests/v3_redis_key_escaping_coverage.rs #4: scope isolation between caches): the same map
/// name and key in two namespaces are two values; a remove or a clear in one namespace leaves
/// the other's values, in Redis and in its processes.
#[test]
fn namespaces_isolate_values_removals_and_clears() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = |namespace: &str| {
        shared::<String, String>(
            tier(&server, namespace),
            "peers::scoped",
            Duration::from_secs(60),
            |b| b,
        )
    };
    let (red, blue, red_reader, blue_reader) =
        (make("red"), make("blue"), make("red"), make("blue"));
    runtime.block_on(async {
        for key in ["a", "b"] {
            red.get_or_insert_with_async(key, async { format!("red {key}") })
                .await;
            blue.get_or_insert_with_async(key, async { format!("blue {key}") })
                .await;
            let read = red_reader
                .get_or_insert_with_async(key, async { unreachable!() })
                .await;
            assert_eq!(read, format!("red {key}"));
            let read = blue_reader
                .get_or_insert_with_async(key, async { unreachable!() })
                .await;
            assert_eq!(read, format!("blue {key}"));
        }
        red.remove_async("a").await.expect("Redis is up");
        red.clear_async().await.expect("Redis is up");
    });
    eventually("red's reader dropped everything", PATIENCE, || {
        red_reader.is_empty()
    });
    assert_eq!(value_keys(&server, "blue:*").len(), 2);
    assert!(value_keys(&server, "red:*").is_empty());
    assert_eq!(blue_reader.get("a").as_deref(), Some("blue a"));
    assert_eq!(blue_reader.get("b").as_deref(), Some("blue b"));
}

/// Two namespaces that share the fleet's secret (as `RedisTier::secret` asks every process of
/// a fleet to), one of them containing `glob` metacharacters: its `clear` must delete its own
/// values only, not the other namespace's.
///
/// Found by this port, fixed since: `clear` deleted by `SCAN MATCH namespace:version:tag:*`
/// with the namespace unescaped, and a map's tag depends on the secret and the map's name,
/// not on the namespace, so clearing namespace `svc*` deleted namespace `svc-billing`'s
/// values of the same map (`Naming::map_pattern` escapes it now, as cached does).
fn clear_in_a_glob_namespace_stays_in_scope(glob: &str, other: &str) {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = |namespace: &str| {
        shared::<String, String>(
            tier(&server, namespace).secret([7; 32]),
            "peers::glob",
            Duration::from_secs(60),
            |b| b,
        )
    };
    let (globbed, plain) = (make(glob), make(other));
    runtime.block_on(async {
        globbed
            .get_or_insert_with_async("k", async { "mine".to_string() })
            .await;
        plain
            .get_or_insert_with_async("k", async { "theirs".to_string() })
            .await;
    });
    let others_before = value_keys(&server, &format!("{other}:*"));
    assert_eq!(others_before.len(), 1, "{others_before:?}");
    runtime
        .block_on(globbed.clear_async())
        .expect("Redis is up");
    let others_after = value_keys(&server, &format!("{other}:*"));
    assert_eq!(
        others_after, others_before,
        "clearing namespace {glob:?} deleted namespace {other:?}'s value"
    );
    // And a fresh process of the other namespace still reads it.
    let fresh = make(other);
    let builds = Builds::default();
    let read = runtime.block_on(fresh.get_or_insert_with_async("k", async {
        builds.add();
        "rebuilt".to_string()
    }));
    assert_eq!((read.as_str(), builds.get()), ("theirs", 0));
}

/// Ports cached's `glob_metacharacters_in_segments_are_escaped` (clear_pattern_tests) and
/// tests/v3_redis_key_escaping_coverage.rs #1: a `*` in a namespace.
#[test]
fn clear_in_a_namespace_with_a_star_stays_in_its_namespace() {
    clear_in_a_glob_namespace_stays_in_scope("svc*", "svc-billing");
}

/// The same with `[...]` (cached's `cache[v2]` example) and `?`.
#[test]
fn clear_in_a_namespace_with_brackets_or_a_question_mark_stays_in_its_namespace() {
    clear_in_a_glob_namespace_stays_in_scope("cache[v2]", "cachev");
    clear_in_a_glob_namespace_stays_in_scope("tenant?", "tenant7");
}

/// Ports cached's prefix scoping (two caches, one namespace, two prefixes): two maps (our
/// prefix is the map's name) hold the same key apart; removing or clearing one leaves the
/// other in Redis and in every process.
#[test]
fn map_names_are_prefixes_that_isolate_keys() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = |name: &'static str| {
        shared::<String, String>(tier(&server, "peers"), name, Duration::from_secs(60), |b| b)
    };
    let (first, second) = (make("prefix-one"), make("prefix-two"));
    let (first_reader, second_reader) = (make("prefix-one"), make("prefix-two"));
    runtime.block_on(async {
        first
            .get_or_insert_with_async("k", async { "one".to_string() })
            .await;
        second
            .get_or_insert_with_async("k", async { "two".to_string() })
            .await;
        assert_eq!(
            first_reader
                .get_or_insert_with_async("k", async { unreachable!() })
                .await,
            "one"
        );
        assert_eq!(
            second_reader
                .get_or_insert_with_async("k", async { unreachable!() })
                .await,
            "two"
        );
        first.remove_async("k").await.expect("Redis is up");
    });
    eventually("first's reader dropped k", PATIENCE, || {
        first_reader.get("k").is_none()
    });
    assert_eq!(second_reader.get("k").as_deref(), Some("two"));
    assert_eq!(value_keys(&server, "peers:*").len(), 1);
}

/// Ports cached's practice of isolating caches by database number (`redis://host/1` and
/// `/2`): the same namespace on two databases holds two sets of values.
///
/// Difference: pub/sub ignores the database, so the two databases' processes share one
/// backplane channel: a removal in one drops the key from the other's L1s too (a miss there,
/// read back from its own Redis values, never a wrong value).
#[test]
fn database_numbers_isolate_values() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = |db: u8| {
        let url = format!("{}{db}", server.url());
        shared::<String, String>(
            RedisTier::new(url)
                .expect("a Redis URL")
                .namespace("peers")
                .timeout(Duration::from_secs(2)),
            "peers::db",
            Duration::from_secs(60),
            |b| b,
        )
    };
    let (one, two, two_reader) = (make(1), make(2), make(2));
    runtime.block_on(async {
        one.get_or_insert_with_async("k", async { "db1".to_string() })
            .await;
        two.get_or_insert_with_async("k", async { "db2".to_string() })
            .await;
        let read = two_reader
            .get_or_insert_with_async("k", async { unreachable!() })
            .await;
        assert_eq!(read, "db2");
        one.remove_async("k").await.expect("Redis is up");
    });
    let read = runtime.block_on(
        two_reader
            .get_or_insert_with_async("k", async { unreachable!("db 2 still holds its value") }),
    );
    assert_eq!(read, "db2");
}

// ---------------------------------------------------------------------------------------------
// Value types, sizes and counts
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PayloadV1 {
    id: u32,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PayloadV2 {
    id: u32,
    name: String,
    tags: Vec<String>,
}

/// Copies the value of map `from`'s only key onto map `to`'s: what a process running the new
/// type finds where the old code wrote, since both name their map alike (our tests cannot
/// have two types of one name, so the bytes are moved instead).
fn copy_value(server: &RedisServer, from: &str, to: &str) {
    let (from, to) = (value_keys(server, from), value_keys(server, to));
    assert_eq!((from.len(), to.len()), (1, 1));
    server.command(&["COPY", &from[0], &to[0], "REPLACE"]);
}

/// Ports cached's `redis_backward_read_legacy_json_entry` / `deserialize_helper_rejects_*`
/// (a value written by another version of the code): a value whose type gained a field is a
/// miss in a process running the new type, rebuilt once, never an error.
///
/// Difference: cached's JSON decodes by field name (a `#[serde(default)]` field reads old
/// values); postcard has none, so the old value is discarded and built again (and fields
/// reordered between versions would decode positionally: bump `RedisTier::version`).
#[test]
fn a_value_type_that_gained_a_field_is_a_miss() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let old = shared::<String, PayloadV1>(
        tier(&server, "old"),
        "peers::payload",
        Duration::from_secs(60),
        |b| b,
    );
    let new = |namespace| {
        shared::<String, PayloadV2>(
            tier(&server, namespace),
            "peers::payload",
            Duration::from_secs(60),
            |b| b,
        )
    };
    runtime.block_on(old.get_or_insert_with_async("k", async {
        PayloadV1 {
            id: 1,
            name: "old".into(),
        }
    }));
    let v2 = PayloadV2 {
        id: 2,
        name: "new".into(),
        tags: vec!["t".into()],
    };
    let writer = new("new");
    runtime.block_on(writer.get_or_insert_with_async("k", async { v2.clone() }));
    copy_value(&server, "old:*", "new:*");
    let reader = new("new");
    let read = runtime.block_on(reader.get_or_insert_with_async("k", async { v2.clone() }));
    assert_eq!(read, v2);
    assert_eq!(reader.fleet_stats().discarded, 1);
    let again = new("new");
    let read = runtime.block_on(again.get_or_insert_with_async("k", async { unreachable!() }));
    assert_eq!(read, v2);
}

/// Ports the big-payload cases of cached's msgpack round-trip tests and multi-tier-cache's
/// large JSON values: a 24 MiB value is built once and read by another process, and removed.
#[test]
fn a_big_value_is_shared_and_removed() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, Vec<u64>>(
            tier(&server, "peers"),
            "peers::big",
            Duration::from_secs(60),
            |b| b,
        )
    };
    let (a, b) = (make(), make());
    let big: Vec<u64> = (0..3 << 20).map(|i| i * 0x0101_0101).collect();
    runtime.block_on(async {
        a.get_or_insert_with_async("big", async { big.clone() })
            .await;
        let read = b
            .get_or_insert_with_async("big", async { unreachable!("in Redis") })
            .await;
        assert!(read == big);
        b.remove_async("big").await.expect("Redis is up");
    });
    assert!(value_keys(&server, "peers:*").is_empty());
    eventually("a dropped it", PATIENCE, || !a.contains_key("big"));
    assert!(!a.tier().is_degraded() && !b.tier().is_degraded());
}

/// Ports multi-tier-cache's bulk tests: 2,000 keys built by one process are each read from
/// Redis by another (no construction), and a clear there empties Redis and the first process.
#[test]
fn many_keys_are_shared_and_cleared() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        Arc::new(shared::<u32, String>(
            tier(&server, "peers"),
            "peers::many",
            Duration::from_secs(60),
            |b| b,
        ))
    };
    let (a, b) = (make(), make());
    const KEYS: u32 = 2000;
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for part in 0..8 {
            let a = Arc::clone(&a);
            tasks.push(tokio::spawn(async move {
                for key in (part..KEYS).step_by(8) {
                    a.get_or_insert_with_async(&key, async move { format!("v{key}") })
                        .await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("no panic");
        }
        for key in 0..KEYS {
            let read = b
                .get_or_insert_with_async(&key, async { unreachable!("in Redis") })
                .await;
            assert_eq!(read, format!("v{key}"));
        }
        b.clear_async().await.expect("Redis is up");
    });
    assert_eq!(b.fleet_stats().from_redis, u64::from(KEYS));
    assert!(server.command(&["KEYS", "peers:*"]).trim().is_empty());
    eventually("a is empty", PATIENCE, || a.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Redis down or restarted
// ---------------------------------------------------------------------------------------------

/// Ports cached's behaviour with Redis unreachable (`cache_get`/`cache_set` return `Err`, which
/// `map_error` turns into the function's error) and multi-tier-cache's `test_health_check`.
///
/// Difference: no call fails: with Redis down each process builds its own value (one each),
/// and once Redis is back (after the breaker's cool-down) values are shared again.
#[test]
fn redis_down_at_start_fails_no_call_and_sharing_resumes() {
    let mut server = RedisServer::start();
    let runtime = two_worker_runtime();
    server.kill();
    let make = || {
        shared::<String, String>(
            RedisTier::new(server.url())
                .expect("a Redis URL")
                .namespace("peers")
                .timeout(Duration::from_millis(200)),
            "peers::down",
            Duration::from_secs(60),
            |b| b,
        )
    };
    let (a, b) = (make(), make());
    let builds = Builds::default();
    for map in [&a, &b, &a] {
        let start = Instant::now();
        let value = runtime.block_on(map.get_or_insert_with_async("k", async {
            builds.add();
            "v".to_string()
        }));
        assert_eq!(value, "v");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
    assert_eq!(builds.get(), 2, "one per process, L1 kept it");
    assert!(a.tier().is_degraded());
    server.restart();
    let start = Instant::now();
    loop {
        let key = format!("probe-{}", start.elapsed().as_millis());
        let fresh = Builds::default();
        for map in [&a, &b] {
            runtime.block_on(map.get_or_insert_with_async(&key, async {
                fresh.add();
                "p".to_string()
            }));
        }
        if fresh.get() == 1 {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "never shared again");
        std::thread::sleep(Duration::from_millis(100)); // sleep-ok: the breaker's cool-down is real time
    }
}

/// Ports multi-tier-cache's invalidation tests across a Redis restart: after a restart (values
/// lost), calls keep returning the right value, the processes' L1s drop what they fetched
/// before (they may have missed invalidations), and a removal reaches every process again.
#[test]
fn a_redis_restart_fails_no_call_and_invalidation_resumes() {
    let mut server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::restart",
            Duration::from_secs(60),
            |b| b,
        )
    };
    let (a, b) = (make(), make());
    runtime.block_on(a.get_or_insert_with_async("k", async { "v1".to_string() }));
    runtime.block_on(b.get_or_insert_with_async("k", async { unreachable!() }));
    eventually("both subscribed", PATIENCE, || {
        tests::fleet::clients_running(&server, "subscribe") >= 2
    });
    server.restart();
    eventually("both L1s dropped what came before", PATIENCE, || {
        a.get("k").is_none() && b.get("k").is_none()
    });
    let builds = Builds::default();
    let start = Instant::now();
    loop {
        let value = runtime.block_on(async {
            tokio::time::timeout(
                PATIENCE,
                a.get_or_insert_with_async("k", async {
                    builds.add();
                    "v2".to_string()
                }),
            )
            .await
            .expect("no call hangs")
        });
        assert_eq!(value, "v2");
        let read = runtime.block_on(b.get_or_insert_with_async("k", async { "v2".to_string() }));
        assert_eq!(read, "v2");
        if b.fleet_stats().from_redis >= 2 {
            break;
        }
        b.remove("k");
        a.remove("k");
        assert!(start.elapsed() < PATIENCE, "never shared again");
        std::thread::sleep(Duration::from_millis(100)); // sleep-ok: the breaker's cool-down is real time
    }
    runtime.block_on(a.remove_async("k")).expect("Redis is up");
    eventually("the removal reached b", PATIENCE, || b.get("k").is_none());
}

// ---------------------------------------------------------------------------------------------
// Keys never visible, values' own lives, refresh
// ---------------------------------------------------------------------------------------------

/// Ports cached's key tests (`generate_key_tests`, tests/v3_redis_binary_key_clear.rs and
/// v3_redis_key_escaping_coverage.rs: colons, `%3A`, glob characters, multi-byte UTF-8,
/// non-UTF-8 bytes): every such key is its own value in every process, a clear removes them
/// all, and none of the keys' text (nor the map's name) ever reaches Redis, in any command.
///
/// Difference: cached writes `namespace:prefix:key` (the key in clear); ours hashes it.
#[test]
fn odd_keys_are_distinct_cleared_and_never_seen_by_redis() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let tap = Tap::monitor(&server);
    let make = || {
        shared::<Vec<u8>, u32>(
            tier(&server, "peers"),
            "peers::secret_map_name",
            Duration::from_secs(60),
            |b| b,
        )
    };
    let (a, b) = (make(), make());
    let keys: Vec<Vec<u8>> = vec![
        b"SECRETns:p:k".to_vec(),
        b"SECRETns:p".to_vec(),
        b"SECRET%3A".to_vec(),
        b"SECRET*?[]\\".to_vec(),
        "SECRETключ🔑".as_bytes().to_vec(),
        b"SECRET{slot}".to_vec(),
        b"SECRET\xff\xfe\x00".to_vec(),
        b"SECRET".to_vec(),
    ];
    runtime.block_on(async {
        for (i, key) in keys.iter().enumerate() {
            let value = a
                .get_or_insert_with_async(key, async move { i as u32 })
                .await;
            assert_eq!(value, i as u32);
        }
        for (i, key) in keys.iter().enumerate() {
            let read = b
                .get_or_insert_with_async(key, async { unreachable!("in Redis") })
                .await;
            assert_eq!(read, i as u32);
        }
        a.remove_async(&keys[0]).await.expect("Redis is up");
        b.clear_async().await.expect("Redis is up");
    });
    assert!(server.command(&["KEYS", "*"]).trim().is_empty());
    let seen = tap.stop(&server);
    for needle in [&b"SECRET"[..], b"secret_map_name", b"peers::"] {
        assert!(
            !contains(&seen, needle),
            "Redis saw {:?}",
            String::from_utf8_lossy(needle)
        );
    }
}

/// Ports cached's `cache_set_lifespan` / per-entry lifespans (`TimedCache::cache_set_with_lifespan`,
/// and `CacheStrategy::Custom` per set in multi-tier-cache): a value declares its own life,
/// which holds in Redis and in every process's L1, however often the value is read.
#[test]
fn a_value_s_own_lifespan_holds_in_every_process() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, (String, u64)>(
            tier(&server, "peers"),
            "peers::lifespan",
            Duration::from_secs(60),
            |b| b.expire_after(|_, value: &(String, u64)| Some(Duration::from_millis(value.1))),
        )
    };
    let (a, b) = (make(), make());
    let start = Instant::now();
    runtime.block_on(async {
        a.get_or_insert_with_async("short", async { ("s".to_string(), 600) })
            .await;
        a.get_or_insert_with_async("long", async { ("l".to_string(), 20_000) })
            .await;
    });
    for key in value_keys(&server, "peers:*") {
        assert!(pttl(&server, &key) <= 20_000);
    }
    // b reads both, and keeps hitting them (sliding) meanwhile.
    for step in 0..5 {
        let_redis_time_reach(start + Duration::from_millis(100 * step));
        for key in ["short", "long"] {
            runtime.block_on(b.get_or_insert_with_async(key, async { unreachable!("{key}") }));
        }
    }
    let_redis_time_reach(start + Duration::from_millis(800));
    assert_eq!(a.get("short"), None);
    assert_eq!(b.get("short"), None);
    assert!(b.get("long").is_some());
    assert_eq!(
        value_keys(&server, "peers:*").len(),
        1,
        "the short one is gone from Redis"
    );
}

/// Ports cached's refresh semantics onto `refresh_after` across processes: a value older than
/// `refresh_after` is rebuilt once in the fleet by the first process that asks after that
/// age, while it gets the old value at once; another process whose own copy is due takes the
/// rebuilt value from Redis instead of rebuilding it.
///
/// Difference: cached's refresh is `refresh_on_hit` (the ttl), not a rebuild.
#[test]
fn refresh_after_rebuilds_once_in_the_fleet() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::refresh_after",
            Duration::from_secs(60),
            |b| b.refresh_after(Duration::from_millis(400)),
        )
    };
    let (a, b) = (make(), make());
    let builds = Builds::default();
    let build = || async { format!("v{}", builds.add()) };
    let start = Instant::now();
    assert_eq!(
        runtime.block_on(a.get_or_insert_with_async("k", build())),
        "v1"
    );
    assert_eq!(
        runtime.block_on(b.get_or_insert_with_async("k", build())),
        "v1"
    );
    let_redis_time_reach(start + Duration::from_millis(700));
    let first = runtime.block_on(b.get_or_insert_with_async("k", build()));
    assert!(first == "v1" || first == "v2", "{first}");
    eventually("b's refresh landed", PATIENCE, || {
        runtime.block_on(b.get_or_insert_with_async("k", build())) == "v2"
    });
    eventually("a took the refreshed value", PATIENCE, || {
        runtime.block_on(a.get_or_insert_with_async("k", build())) == "v2"
    });
    assert_eq!(builds.get(), 2, "one rebuild in the fleet");
}

/// Ports cached's `WRONGTYPE`-tolerant reads (a key of another Redis type where a value is
/// expected reads as absent: tests/v3_redis_selfheal.rs's corrupt-entry family) onto a map
/// with fixed expiry, whose L2 read is a `GET` + `PTTL` pipeline. shared.rs (`read`) promises
/// that such a key is "not a failure of Redis, and FETCH treats the key as absent"; with
/// sliding expiry (`GETEX`) and through the script it holds.
///
/// Here the process that meets it must neither open its breaker (which would send its calls
/// for every other key past Redis, building values the fleet already has) nor keep the key
/// from being healed: its rebuilt value replaces the foreign key for the fleet.
///
/// Found by this port, fixed since: the pipeline's `WRONGTYPE` comes back from redis-rs as a
/// pipeline error whose `code()` is `None`, which `read` counted as a failure of Redis (the
/// breaker opened, and `FETCH`, which replaces the foreign key, never ran).
#[test]
fn a_key_of_another_redis_type_is_absent_with_fixed_expiry_too() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let make = || {
        shared::<String, String>(
            tier(&server, "peers"),
            "peers::wrongtype_fixed",
            Duration::from_secs(60),
            |b| b.expiry(Expiry::Fixed),
        )
    };
    let (a, c) = (make(), make());
    let builds = Builds::default();
    runtime.block_on(async {
        a.get_or_insert_with_async("k", async { "v0".to_string() })
            .await;
        a.get_or_insert_with_async("other", async {
            builds.add();
            "o".to_string()
        })
        .await;
    });
    let keys = value_keys(&server, "peers:*");
    let k_key = keys
        .iter()
        .find(|key| server.command(&["GET", key]).ends_with("v0"))
        .expect("k's value key")
        .clone();
    server.command(&["DEL", &k_key]);
    server.command(&["HSET", &k_key, "field", "value"]);

    let value = runtime.block_on(c.get_or_insert_with_async("k", async { "v1".to_string() }));
    assert_eq!(value, "v1", "the call itself never fails");
    let other = runtime.block_on(c.get_or_insert_with_async("other", async {
        builds.add();
        "o".to_string()
    }));
    assert_eq!(other, "o");
    assert!(
        !c.tier().is_degraded(),
        "a foreign key at one value's name opened the breaker: Redis is healthy"
    );
    assert_eq!(
        (builds.get(), c.fleet_stats().built_locally),
        (1, 0),
        "\"other\" was in Redis, yet built again"
    );
    assert_eq!(
        server.command(&["TYPE", &k_key]),
        "string",
        "the rebuilt value replaced the foreign key"
    );
}
