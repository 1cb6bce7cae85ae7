//! Messages and leases that could be lost, found by an adversarial review and fixed:
//!
//! - **A lease taken by a `FETCH` whose answer nobody reads** (the `FETCH` timed out, or its
//!   caller was cancelled while it was in flight, or while the plain read before it was) must not make the next process wait out the
//!   whole lease: the lease is claimed before the `FETCH` is sent, and a claim dropped unread
//!   releases it (`RELEASE` is guarded by the token, so it is always safe).
//! - **An invalidation sent before a process's backplane first subscribed** must not be missed
//!   for good: the first calls wait (briefly) for the subscription, and a value fetched before
//!   it is not served after it (see `cache-core/src/redis/backplane.rs`).
//! - **A "landed" published while a process's backplane was not subscribed** (its connection
//!   dropped) must not leave that process's waiters waiting a third of the lease: when the
//!   backplane subscribes again, every waiter of its tier looks again at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The number of subscribers of `channel` on `server`.
fn subscribers_of(server: &RedisServer, channel: &str) -> usize {
    let reply = server.command(&["PUBSUB", "NUMSUB", channel]);
    let count = reply.lines().last().expect("PUBSUB NUMSUB answers");
    count.parse().expect("a count")
}

/// README: callers in other processes wait for the leader's "landed", "not by polling (they
/// look again after a third of the lease only if it was lost)". A "landed" published while
/// the waiter's backplane was not subscribed (its connection dropped; here an ACL that takes
/// its channels away and gives them back, which kills its subscription and refuses the next
/// ones meanwhile) is lost, and a missed message cannot be told from none: so when the
/// backplane subscribes again, the waiters look again at once, not a third of the lease later.
#[test]
fn a_landing_missed_while_the_backplane_was_down_wakes_its_waiters_when_it_subscribes_again() {
    /// Long: a waiter that looks again only after a third of it (10 s) is told apart.
    const LONG_LEASE: Duration = Duration::from_secs(30);
    /// From the backplane's channels coming back (its listener backs off at most 2 s between
    /// attempts) to the waiter's value.
    const PROMPTLY: Duration = Duration::from_secs(5);
    const CHANNEL: &str = "lost_landing:1:events";
    let server = RedisServer::start();
    // The waiter's process connects as its own user, so that only its channels are taken.
    server.command(&[
        "ACL",
        "SETUSER",
        "waiter",
        "on",
        "nopass",
        "allkeys",
        "allcommands",
        "allchannels",
    ]);
    let runtime = two_worker_runtime();
    let map = |url: String| {
        let tier = RedisTier::new(url)
            .expect("a Redis URL")
            .namespace("lost_landing")
            .timeout(Duration::from_secs(2))
            .lease(LONG_LEASE);
        let map = TtlMap::<String, String>::builder()
            .ttl(Duration::from_secs(60))
            .name("fleet_bugs::lost_landing")
            .shared(tier)
            .build();
        Arc::new(map)
    };
    let leader = map(server.url());
    let waiter = map(format!(
        "redis://waiter:unused@127.0.0.1:{}/",
        server.port()
    ));
    runtime.block_on(async {
        leader
            .get_or_insert_with_async("warm", async { value_of("warm") })
            .await;
        waiter
            .get_or_insert_with_async("warm", async { value_of("warm") })
            .await;
    });
    eventually("both backplanes subscribed", PROMPT, || {
        subscribers_of(&server, CHANNEL) == 2
    });

    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let building = Arc::new(AtomicBool::new(false));
    let lead = {
        let (leader, building) = (Arc::clone(&leader), Arc::clone(&building));
        runtime.spawn(async move {
            leader
                .get_or_insert_with_async("k", async {
                    building.store(true, Ordering::SeqCst);
                    let _ = released.await;
                    value_of("k")
                })
                .await
        })
    };
    eventually("the leader builds", PROMPT, || {
        building.load(Ordering::SeqCst)
    });
    assert_eq!(leader.fleet_stats().led, 2, "warm and k");
    let wait = {
        let waiter = Arc::clone(&waiter);
        runtime.spawn(async move {
            waiter
                .get_or_insert_with_async("k", async { "built by the waiter".to_owned() })
                .await
        })
    };
    eventually("the waiter waits", PROMPT, || {
        let stats = waiter.fleet_stats();
        assert_eq!((stats.led, stats.built_locally), (0, 0), "{stats:?}");
        stats.waited == 1
    });

    // The waiter's subscription is killed, and refused until its channels come back.
    server.command(&["ACL", "SETUSER", "waiter", "resetchannels"]);
    eventually("the waiter's subscription is gone", PROMPT, || {
        subscribers_of(&server, CHANNEL) == 1
    });
    release.send(()).expect("the leader waits for it");
    let led = runtime.block_on(lead).expect("no panic");
    assert_eq!(led, value_of("k"), "stored and \"landed\" published");

    server.command(&["ACL", "SETUSER", "waiter", "allchannels"]);
    let restored = Instant::now();
    let waited = runtime.block_on(async { tokio::time::timeout(PROMPTLY, wait).await });
    let subscribed = subscribers_of(&server, CHANNEL);
    let value = waited
        .unwrap_or_else(|_| {
            panic!(
                "the waiter still waited {PROMPTLY:?} after its channels came back ({subscribed} \
                 subscribers now): a \"landed\" missed while its backplane was down is seen only \
                 a third of the lease ({:?}) later",
                LONG_LEASE / 3
            )
        })
        .expect("no panic");
    assert_eq!(value, value_of("k"), "the leader's value, read from Redis");
    assert!(restored.elapsed() < PROMPTLY);
    let stats = waiter.fleet_stats();
    assert_eq!((stats.led, stats.built_locally), (0, 0), "{stats:?}");
}
