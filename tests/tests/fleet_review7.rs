//! Review 7 of the fleet tier (helper-45), against real `redis-server`s that each test starts
//! and stops: user code in the backplane's listener (a panic, a slow one), and `caches()`
//! clearing a shared map. Each `RedisTier` stands for one process (its own connections,
//! breaker and backplane), so several tiers on one server are a fleet.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_core::redis::{RedisTier, Shared};
use tests::fleet::{eventually, string_map as map, string_map_with as map_with};
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

/// Far longer than any message or operation takes on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

fn tier(server: &RedisServer) -> RedisTier {
    RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("review7")
        .timeout(Duration::from_millis(500))
        .lease(Duration::from_secs(3))
}

/// Waits until `b`'s backplane has subscribed: a call through it has returned (the first
/// calls wait for the subscription) and the server counts its subscriber.
/// Makes a first call through each map, which waits for its backplane's subscription, then
/// waits until the server counts them all and their clients heard the confirmation.
fn warm_up(
    runtime: &tokio::runtime::Runtime,
    server: &RedisServer,
    maps: &[&Shared<String, String>],
) {
    runtime.block_on(async {
        for map in maps {
            map.get_or_insert_with_async("warm", async { "w".to_owned() })
                .await;
        }
    });
    wait_for_subscribers(server, maps.len());
    // The server counts a subscription a moment before its client hears the confirmation.
    std::thread::sleep(Duration::from_millis(300)); // sleep-ok: the confirmation's way back
}

fn wait_for_subscribers(server: &RedisServer, count: usize) {
    eventually("the backplanes subscribed", PATIENCE, || {
        let reply = server.command(&["PUBSUB", "NUMSUB", "review7:1:events"]);
        reply.lines().nth(1).and_then(|n| n.parse::<usize>().ok()) == Some(count)
    });
}

/// README, "Invalidation": "Every process's L1 drops the key when the message arrives: one
/// round trip." SPEC: "Nothing in user code (Drop, Hash, Eq, Clone, listeners) can kill the
/// sweeper thread, ..."
///
/// An `on_evict` listener that panics once (a `tx.send(..).unwrap()` whose receiver is gone)
/// while the backplane drops a removed key: `TtlMap::retain` resumes the panic after it is
/// done, inside the backplane's listener task on the tier's runtime, and the task dies. From
/// then on the process never hears another removal: its L1 serves removed values until they
/// expire, whatever the rest of the fleet removes.
#[test]
fn a_listener_that_panics_once_does_not_deafen_the_process_to_removals() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = map(tier(&server), "review7::deaf");
    let b = map_with(tier(&server), "review7::deaf", |builder| {
        builder.on_evict(|_key, value: &String, _reason| {
            assert!(value != "boom", "the listener's channel is closed");
        })
    });
    // Both backplanes subscribe before anything is fetched, so that no value is of the epoch
    // before the first subscription.
    warm_up(&runtime, &server, &[&a, &b]);
    runtime.block_on(async {
        a.get_or_insert_with_async("boom", async { "boom".to_owned() })
            .await;
        a.get_or_insert_with_async("k", async { "old".to_owned() })
            .await;
        assert_eq!(
            b.get_or_insert_with_async("boom", async { unreachable!() })
                .await,
            "boom"
        );
        assert_eq!(
            b.get_or_insert_with_async("k", async { unreachable!() })
                .await,
            "old"
        );
    });
    assert!(b.contains_key("boom") && b.contains_key("k"));
    runtime
        .block_on(a.remove_async("boom"))
        .expect("Redis is up");
    eventually("b drops the first removed key", PATIENCE, || {
        !b.contains_key("boom")
    });
    assert!(b.contains_key("k"), "b still holds the key not removed yet");

    runtime.block_on(a.remove_async("k")).expect("Redis is up");
    let start = Instant::now();
    while b.contains_key("k") && start.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(20)); // sleep-ok: a message in real time
    }
    assert!(
        !b.contains_key("k"),
        "b still serves the removed value {:?} {PATIENCE:?} after another process removed it",
        b.get("k")
    );
    let value = runtime.block_on(b.get_or_insert_with_async("k", async { "new".to_owned() }));
    assert_eq!(value, "new", "a call in b after the removal");
}

/// README, "Observability": every named map is listed by `cache_core::caches()` with
/// `clear`, "for exporting every cache's counters or clearing them in bulk".
///
/// A shared map's entry there is its L1 alone: clearing every cache in bulk (an admin
/// endpoint's "flush the caches") leaves Redis and every other process as they were, and the
/// next call in this very process is served the "cleared" value from Redis.
#[test]
fn clearing_every_cache_in_bulk_clears_a_shared_map() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = map(tier(&server), "review7::bulk");
    runtime.block_on(a.get_or_insert_with_async("k", async { "old".to_owned() }));
    let listed: Vec<_> = cache_core::caches()
        .into_iter()
        .filter(|cache| cache.name() == "review7::bulk")
        .collect();
    assert_eq!(listed.len(), 1, "the shared map is listed by its name");
    // What "clear every cache" does; only this test's map here, since the other tests of this
    // binary run in the same process.
    for cache in listed {
        cache.clear();
    }
    assert!(a.is_empty(), "this process's copy is gone");
    let value = runtime.block_on(a.get_or_insert_with_async("k", async { "new".to_owned() }));
    assert_eq!(
        value, "new",
        "clearing every cache in bulk left the shared map's values in Redis"
    );
}

/// A killed pub/sub connection (`CLIENT KILL TYPE pubsub`, as a proxy or a failover does):
/// the backplane subscribes again, and a removal made after it reaches the process.
#[test]
fn a_killed_backplane_connection_subscribes_again() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (
        map(tier(&server), "review7::kill"),
        map(tier(&server), "review7::kill"),
    );
    runtime.block_on(async {
        a.get_or_insert_with_async("k", async { "old".to_owned() })
            .await;
        b.get_or_insert_with_async("k", async { unreachable!() })
            .await;
    });
    wait_for_subscribers(&server, 2);
    server.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    wait_for_subscribers(&server, 2);
    runtime.block_on(async {
        b.get_or_insert_with_async("k", async { "rebuilt".to_owned() })
            .await;
        a.remove_async("k").await.expect("Redis is up");
    });
    eventually("b drops the removed key", PATIENCE, || !b.contains_key("k"));
}

/// Redis out of memory with `noeviction` (every `SET` fails with `OOM`, reads and deletes
/// work): no call fails or waits past its bounds, each key is built once per process, and
/// sharing resumes once memory is back.
#[test]
fn an_out_of_memory_redis_fails_no_call_and_sharing_resumes() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (
        map(tier(&server), "review7::oom"),
        map(tier(&server), "review7::oom"),
    );
    let built = Arc::new(AtomicUsize::new(0));
    runtime.block_on(a.get_or_insert_with_async("warm", async { "w".to_owned() }));
    server.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    server.command(&["CONFIG", "SET", "maxmemory", "1"]);
    let start = Instant::now();
    runtime.block_on(async {
        for i in 0..20 {
            let key = format!("k{i}");
            for map in [&a, &b] {
                let built = Arc::clone(&built);
                let value = map
                    .get_or_insert_with_async(&key, async move {
                        built.fetch_add(1, Ordering::SeqCst);
                        format!("v{i}")
                    })
                    .await;
                assert_eq!(value, format!("v{i}"));
            }
        }
    });
    assert!(start.elapsed() < PATIENCE, "took {:?}", start.elapsed());
    assert!(built.load(Ordering::SeqCst) <= 40);
    server.command(&["CONFIG", "SET", "maxmemory", "0"]);
    std::thread::sleep(Duration::from_secs(1)); // sleep-ok: past the breaker's first cool-down
    let c = map(tier(&server), "review7::oom");
    let d = map(tier(&server), "review7::oom");
    runtime.block_on(async {
        // A probe may find the breaker open; a few calls close it.
        for round in 0..50 {
            let key = format!("after{round}");
            c.get_or_insert_with_async(&key, async { "x".to_owned() })
                .await;
            if d.get_or_insert_with_async(&key, async { "y".to_owned() })
                .await
                == "x"
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await; // sleep-ok: the breaker's cool-down
        }
        panic!("sharing never resumed after memory came back");
    });
}

/// Module docs: "Built once in the whole fleet per text and hour, however many processes ask
/// at once"; README: "The leader builds the value while a task renews its lease every third of
/// it".
///
/// The lease renewals, the connection's driver and the backplane's listener share the tier's
/// one runtime thread, and the listener runs user code there (`on_evict` for each entry an
/// invalidation drops, and the values' `Drop`). A listener that blocks for a moment (a bounded
/// channel that is full, a slow log sink) while this process leads a key stops its renewals:
/// its lease lapses in Redis mid-build, and another process builds the same key at the same
/// time.
#[test]
fn a_slow_listener_elsewhere_in_the_process_does_not_let_its_lease_lapse() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let tier = |server: &RedisServer| {
        RedisTier::new(server.url())
            .expect("a Redis URL")
            .namespace("review7")
            .timeout(Duration::from_secs(2))
            .lease(Duration::from_millis(600))
    };
    let a = Arc::new(map_with(
        tier(&server),
        "review7::slow_listener",
        |builder| {
            builder.on_evict(|_key, value: &String, _reason| {
                if value == "audited" {
                    std::thread::sleep(Duration::from_secs(2)); // sleep-ok: a listener that blocks
                }
            })
        },
    ));
    let b = Arc::new(map(tier(&server), "review7::slow_listener"));
    warm_up(&runtime, &server, &[&a, &b]);
    runtime.block_on(a.get_or_insert_with_async("x", async { "audited".to_owned() }));
    assert!(a.contains_key("x"));

    let built = Arc::new(AtomicUsize::new(0));
    let build = |built: &Arc<AtomicUsize>| {
        let built = Arc::clone(built);
        async move {
            built.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2500)).await; // sleep-ok: a slow build
            "job value".to_owned()
        }
    };
    let leader = {
        let (a, job) = (Arc::clone(&a), build(&built));
        runtime.spawn(async move { a.get_or_insert_with_async("job", job).await })
    };
    eventually("a leads the job", PATIENCE, || {
        built.load(Ordering::SeqCst) == 1
    });
    // Another process removes a key a holds: a's listener hears it (and takes its time).
    runtime.block_on(b.remove_async("x")).expect("Redis is up");
    std::thread::sleep(Duration::from_millis(1200)); // sleep-ok: two leases, in Redis's time
    let follower = {
        let (b, job) = (Arc::clone(&b), build(&built));
        runtime.spawn(async move { b.get_or_insert_with_async("job", job).await })
    };
    runtime.block_on(async {
        assert_eq!(leader.await.expect("no panic"), "job value");
        assert_eq!(follower.await.expect("no panic"), "job value");
    });
    assert_eq!(
        built.load(Ordering::SeqCst),
        1,
        "the job was built twice in the fleet at the same time: a's lease lapsed while it built \
         ({:?} / {:?})",
        a.fleet_stats(),
        b.fleet_stats()
    );
}
