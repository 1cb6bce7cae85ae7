//! The fleet tier against a real `redis-server`: each `RedisTier` below stands for one process
//! (its own connections, breaker and backplane), so several of them on one server are a fleet.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};
use tests::redis_server::RedisServer;
use tests::{two_worker_runtime, wait_until};

fn tier(server: &RedisServer) -> RedisTier {
    RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("test")
        .lease(Duration::from_millis(600))
}

fn map(tier: RedisTier) -> Shared<String, String> {
    TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name("fleet_tier::map")
        .shared(tier)
        .build()
}

#[test]
fn a_value_built_by_one_process_is_read_by_the_others() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (map(tier(&server)), map(tier(&server)));
    let built = AtomicUsize::new(0);
    let build = |key: &str| {
        built.fetch_add(1, Ordering::SeqCst);
        format!("value of {key}")
    };
    runtime.block_on(async {
        let first = a.get_or_insert_with_async("k", async { build("k") }).await;
        let second = b.get_or_insert_with_async("k", async { build("k") }).await;
        assert_eq!(first, "value of k");
        assert_eq!(second, "value of k");
    });
    assert_eq!(
        built.load(Ordering::SeqCst),
        1,
        "the second process read it from Redis"
    );
    assert!(b.contains_key("k"), "and kept it in its L1");
    let (a, b) = (a.fleet_stats(), b.fleet_stats());
    assert_eq!((a.led, a.from_redis, b.led, b.from_redis), (1, 0, 0, 1));
}

#[test]
fn concurrent_processes_build_each_key_once() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let maps: Vec<_> = (0..3).map(|_| Arc::new(map(tier(&server)))).collect();
    let built = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for map in &maps {
            for task in 0..16 {
                let (map, built) = (Arc::clone(map), Arc::clone(&built));
                tasks.push(tokio::spawn(async move {
                    for i in 0..20 {
                        let key = format!("key-{}", (i + task) % 20);
                        let value = map
                            .get_or_insert_with_async(&key, async {
                                built.fetch_add(1, Ordering::SeqCst);
                                // Long enough that the other processes ask meanwhile.
                                tokio::time::sleep(Duration::from_millis(20)).await; // sleep-ok: overlap
                                format!("v-{key}")
                            })
                            .await;
                        assert_eq!(value, format!("v-{key}"));
                    }
                }));
            }
        }
        for task in tasks {
            task.await.expect("no task panics");
        }
    });
    assert_eq!(
        built.load(Ordering::SeqCst),
        20,
        "one construction per key in the fleet"
    );
    let led: u64 = maps.iter().map(|map| map.fleet_stats().led).sum();
    assert_eq!(led, 20, "each construction was a lead");
    assert!(maps.iter().all(|map| map.fleet_stats().built_locally == 0));
}

#[test]
fn fleet_stats_count_local_builds_and_discarded_values() {
    let mut server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = map(tier(&server));
    runtime.block_on(a.get_or_insert_with_async("k", async { "v".to_string() }));
    let keys = server.command(&["KEYS", "test:*"]);
    let key = keys.lines().next().expect("the value's key");
    server.command(&["SET", key, "not ours"]);

    let b = map(tier(&server));
    let value = runtime.block_on(b.get_or_insert_with_async("k", async { "w".to_string() }));
    assert_eq!(value, "w", "bytes of another shape are a miss");
    let stats = b.fleet_stats();
    assert_eq!((stats.discarded, stats.led, stats.from_redis), (1, 1, 0));

    server.kill();
    let c = map(tier(&server));
    let value = runtime.block_on(c.get_or_insert_with_async("k", async { "x".to_string() }));
    assert_eq!(value, "x");
    assert_eq!(c.fleet_stats().built_locally, 1, "built without Redis");
}

#[test]
fn remove_reaches_every_process() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (map(tier(&server)), map(tier(&server)));
    runtime.block_on(async {
        a.get_or_insert_with_async("k", async { "old".to_string() })
            .await;
        b.get_or_insert_with_async("k", async { unreachable!("read from Redis") })
            .await;
        assert!(b.contains_key("k"));
        a.remove_async("k").await.expect("Redis answers");
    });
    assert!(!a.contains_key("k"));
    wait_until("the other process drops its copy", || !b.contains_key("k"));
    let fresh = runtime.block_on(b.get_or_insert_with_async("k", async { "new".to_string() }));
    assert_eq!(fresh, "new", "nothing old is left in Redis either");
}

#[test]
fn no_key_reaches_redis() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = map(tier(&server));
    runtime.block_on(a.get_or_insert_with_async("sk-live-0123456789", async { "v".into() }));
    let keys = server.command(&["KEYS", "*"]);
    assert!(keys.starts_with("test:1:"), "{keys}");
    assert!(
        !keys.contains("sk-") && !keys.contains("fleet_tier"),
        "{keys}"
    );
}

/// `Shared::contains_key` looks as `TtlMap::contains_key` does: it counts no hit or miss and
/// does not move a sliding deadline (it used to be a `get`).
#[test]
fn contains_key_neither_counts_nor_slides() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let clock = cache_core::ManualClock::new();
    let map: Shared<String, String> = TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .name("fleet_tier::contains_key")
        .shared(tier(&server))
        .build();
    runtime.block_on(map.get_or_insert_with_async("k", async { "v".to_owned() }));
    let before = map.stats();
    clock.advance(Duration::from_secs(59));
    assert!(map.contains_key("k"));
    assert!(!map.contains_key("other"));
    let after = map.stats();
    assert_eq!((after.hits, after.misses), (before.hits, before.misses));
    clock.advance(Duration::from_secs(2));
    assert!(
        !map.contains_key("k"),
        "60 s after the store, not after the look"
    );
}
