//! Messages and leases that could be lost, found by an adversarial review and fixed:
//!
//! - **A lease taken by a `FETCH` whose answer nobody reads** (the `FETCH` timed out, or its
//!   caller was cancelled while it was in flight, or while the plain read before it was) must not make the next process wait out the
//!   whole lease: the lease is claimed before the `FETCH` is sent, and a claim dropped unread
//!   releases it (`RELEASE` is guarded by the token, so it is always safe).
//! - **An invalidation sent before a process's backplane first subscribed** must not be missed
//!   for good: the first calls wait (briefly) for the subscription, and a value fetched before
//!   it is not served after it (see `cache-core/src/redis/backplane.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};
use tests::fleet::{clients_running, eventually, value_of};
use tests::redis_server::{RedisCluster, RedisServer};
use tests::two_worker_runtime;

/// The lease: long, so that waiting it out is told apart from taking over at once.
const LEASE: Duration = Duration::from_millis(4500);
/// How long a call may take when Redis is healthy and no one builds its key: well under the
/// lease (a waiter that is not told looks again after a third of it, 1.5 s).
const PROMPT: Duration = Duration::from_secs(3);

fn map(server: &RedisServer, timeout: Duration) -> Arc<Shared<String, String>> {
    map_with_limit(server, timeout, None)
}

/// With a `max_lifetime`, a call skips the plain read and goes straight to the `FETCH` script.
fn map_with_limit(
    server: &RedisServer,
    timeout: Duration,
    max_lifetime: Option<Duration>,
) -> Arc<Shared<String, String>> {
    let tier = RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("test")
        .timeout(timeout)
        .lease(LEASE);
    let mut builder = TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name("fleet_bugs::map");
    if let Some(limit) = max_lifetime {
        builder = builder.max_lifetime(limit);
    }
    Arc::new(builder.shared(tier).build())
}

/// A new process asks for `key` once Redis is healthy: it must build it promptly, for no one
/// else does.
fn assert_a_new_process_builds_promptly(server: &RedisServer, key: &str) {
    let runtime = two_worker_runtime();
    let fresh = map(server, Duration::from_secs(2));
    let start = Instant::now();
    let value = runtime.block_on(fresh.get_or_insert_with_async(key, async { value_of(key) }));
    let took = start.elapsed();
    assert_eq!(value, value_of(key));
    let leases = server.command(&["KEYS", "*:lease"]);
    assert!(
        took < PROMPT,
        "a new process waited {took:?} for a lease nobody holds (lease {LEASE:?}; leases \
         now: {leases:?})"
    );
}

#[test]
fn a_fetch_that_timed_out_leaves_no_lease_behind() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let slow = map(&server, Duration::from_millis(200));
    runtime.block_on(slow.get_or_insert_with_async("warm", async { value_of("warm") }));

    server.pause();
    // Redis hangs: the call gives up on it after the timeout and builds locally (right).
    let start = Instant::now();
    let value = runtime.block_on(slow.get_or_insert_with_async("k", async { value_of("k") }));
    assert_eq!(value, value_of("k"));
    assert!(start.elapsed() < Duration::from_secs(3));
    server.resume();

    assert_a_new_process_builds_promptly(&server, "k");
}

#[test]
fn a_call_cancelled_during_its_read_leaves_no_lease_behind() {
    a_call_cancelled_in_redis_leaves_no_lease_behind(None);
}

/// The `FETCH` runs in the caller's task: cancelling the caller drops the claim there, and
/// its release follows the `FETCH` on the connection.
#[test]
fn a_call_cancelled_during_its_fetch_leaves_no_lease_behind() {
    a_call_cancelled_in_redis_leaves_no_lease_behind(Some(Duration::from_secs(60)));
}

fn a_call_cancelled_in_redis_leaves_no_lease_behind(max_lifetime: Option<Duration>) {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    // A timeout no test reaches: the call is cancelled, it does not time out.
    let caller = map_with_limit(&server, Duration::from_secs(5), max_lifetime);
    runtime.block_on(caller.get_or_insert_with_async("warm", async { value_of("warm") }));

    // Redis hangs, so the cancellation surely comes while the read or FETCH is in flight.
    server.pause();
    let call = {
        let caller = Arc::clone(&caller);
        runtime.spawn(async move {
            caller
                .get_or_insert_with_async("k", async { value_of("k") })
                .await
        })
    };
    std::thread::sleep(Duration::from_millis(200)); // sleep-ok: the call's command reaches the frozen server's socket
    call.abort();
    assert!(runtime.block_on(call).is_err_and(|e| e.is_cancelled()));
    server.resume();

    assert_a_new_process_builds_promptly(&server, "k");
    // A cancelled operation is neither a failure nor a success of Redis.
    assert!(!caller.tier().is_degraded());
    let value = runtime.block_on(caller.get_or_insert_with_async("k", async { unreachable!() }));
    assert_eq!(value, value_of("k"));
}

#[test]
fn an_invalidation_sent_before_the_first_subscription_is_not_missed() {
    let cluster = RedisCluster::start(3);
    let hung = RedisServer::start();
    hung.pause();
    let runtime = two_worker_runtime();
    let map = |urls: Vec<String>| {
        let tier = RedisTier::cluster(urls)
            .expect("Redis URLs")
            .namespace("test")
            .timeout(Duration::from_secs(1))
            .lease(Duration::from_secs(1));
        TtlMap::<String, String>::builder()
            .ttl(Duration::from_secs(60))
            .name("fleet_bugs::map")
            .shared(tier)
            .build()
    };
    let subscribers = || -> usize {
        let nodes = cluster.nodes().iter();
        nodes.map(|node| clients_running(node, "subscribe")).sum()
    };
    let a = map(cluster.urls());
    runtime.block_on(a.get_or_insert_with_async("k", async { value_of("k") }));
    eventually("a's listener subscribed", Duration::from_secs(5), || {
        subscribers() == 1
    });

    // b's first seed hangs: its listener waits 4 timeouts on it before it tries the next one,
    // while b's calls go to the cluster. b reads k from Redis meanwhile.
    let b = map([hung.url()].into_iter().chain(cluster.urls()).collect());
    let start = Instant::now();
    let mut read = false;
    for probe in 0.. {
        let key = format!("probe-{probe}");
        runtime.block_on(a.get_or_insert_with_async(&key, async { value_of(&key) }));
        let mut built = false;
        runtime.block_on(b.get_or_insert_with_async(&key, async {
            built = true;
            value_of(&key)
        }));
        if !built {
            read = true;
            break;
        }
        if start.elapsed() > Duration::from_secs(2) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100)); // sleep-ok: b's breaker cool-down is real time
    }
    assert!(read, "b never read from the cluster");
    let value = runtime.block_on(b.get_or_insert_with_async("k", async { unreachable!() }));
    assert_eq!(value, value_of("k"), "b read k from Redis");
    assert_eq!(subscribers(), 1, "b's listener has not subscribed yet");

    runtime
        .block_on(a.remove_async("k"))
        .expect("the cluster is up");
    eventually("b's listener subscribed", Duration::from_secs(10), || {
        subscribers() == 2
    });
    // b must not keep a value removed while its listener was connecting.
    let subscribed = Instant::now();
    while b.contains_key("k") {
        assert!(
            subscribed.elapsed() < Duration::from_secs(2),
            "b keeps k, removed before its backplane first subscribed, for the map's TTL"
        );
        std::thread::sleep(Duration::from_millis(10)); // sleep-ok: polling b's L1
    }
}
