//! Review 10 of the fleet tier (helper-60), against real `redis-server`s that each test starts
//! and stops. Each `RedisTier` stands for one process (its own connections, breaker and
//! backplane), so several tiers on one server are a fleet.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use cache_core::Expiry;
use cache_core::redis::RedisTier;
use tests::fleet::{
    clients_running, eventually, string_map as map, string_map_with as map_with, value_of,
};
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

/// Far longer than any message or operation takes on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

fn tier(server: &RedisServer) -> RedisTier {
    RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("review10")
        .timeout(Duration::from_secs(2))
        .lease(Duration::from_secs(30))
}

/// The keys under `pattern` (`KEYS`).
fn keys(server: &RedisServer, pattern: &str) -> Vec<String> {
    server
        .command(&["KEYS", pattern])
        .lines()
        .filter(|key| !key.is_empty())
        .map(str::to_owned)
        .collect()
}

fn dbsize(server: &RedisServer) -> usize {
    server.command(&["DBSIZE"]).parse().expect("a DBSIZE")
}

/// README, "Invalidation": `clear_async` "returns once Redis has deleted" the map's keys, and
/// "a remove also deletes the lease, so a leader still building does not write its older
/// value" (`a_clear_during_a_flight_keeps_its_value_out_of_redis_and_every_l1` checks it for a
/// clear that is over before the leader stores).
///
/// A clear deletes the map's keys with one `SCAN` over Redis, page by page. A leader that
/// stores while it runs, before the scan has reached its lease, still holds the lease, so its
/// `STORE` writes the value; if the value's own key sits where the scan has already been, the
/// scan never sees it. The clear returns, and Redis serves a value built before it to every
/// process from then on, until its TTL. Here 200 leaders of process `a` store at once while
/// `b`'s clear scans a map of 100,000 keys.
#[test]
fn a_leader_storing_while_a_clear_scans_leaves_no_value_behind() {
    const FILLER: usize = 100_000;
    const LEADERS: usize = 200;
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = Arc::new(map(tier(&server), "review10::clear_scan"));
    let b = Arc::new(map(tier(&server), "review10::clear_scan"));
    runtime.block_on(b.get_or_insert_with_async("warm", async { "w".to_owned() }));
    // The map's prefix, `review10:1:TAG:`, and many keys under it, so that the scan takes
    // many pages.
    let key = &keys(&server, "review10:*")[0];
    let prefix = &key[..key.rfind('{').expect("a digest in braces")];
    let filled = server.command(&[
        "EVAL",
        "for i = 1, tonumber(ARGV[2]) do redis.call('SET', ARGV[1] .. '{' .. i .. '}', 'x') end return 1",
        "0",
        prefix,
        &FILLER.to_string(),
    ]);
    assert_eq!(filled, "1");

    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let entered = Arc::new(AtomicUsize::new(0));
    let leaders: Vec<_> = (0..LEADERS)
        .map(|i| {
            let (a, gate, entered) = (Arc::clone(&a), Arc::clone(&gate), Arc::clone(&entered));
            runtime.spawn(async move {
                a.get_or_insert_with_async(&format!("k{i}"), async move {
                    entered.fetch_add(1, Ordering::SeqCst);
                    let _ = gate.acquire().await; // closed: open
                    "stale".to_owned()
                })
                .await
            })
        })
        .collect();
    eventually("every leader builds", PATIENCE, || {
        entered.load(Ordering::SeqCst) == LEADERS
    });
    assert_eq!(keys(&server, "review10:*:lease").len(), LEADERS);

    let clear = runtime.spawn({
        let b = Arc::clone(&b);
        async move { b.clear_async().await }
    });
    // The leaders store while the scan is under way.
    eventually("the clear's scan is a tenth in", PATIENCE, || {
        dbsize(&server) < FILLER * 9 / 10
    });
    gate.close();
    for leader in leaders {
        assert_eq!(runtime.block_on(leader).expect("no panic"), "stale");
    }
    runtime
        .block_on(clear)
        .expect("no panic")
        .expect("Redis is up");
    let left: Vec<String> = keys(&server, &format!("{prefix}*"))
        .into_iter()
        .filter(|key| !key.ends_with(":lease"))
        .collect();
    assert!(
        left.is_empty(),
        "{} values built before the clear are left in Redis after it returned",
        left.len()
    );
    let seen = runtime.block_on(b.get_or_insert_with_async("k0", async { "fresh".to_owned() }));
    assert_eq!(seen, "fresh");
}

/// Fills the map of `prefix` (`namespace:version:TAG:`) with `count` keys of its own.
fn fill(server: &RedisServer, prefix: &str, count: usize) {
    let filled = server.command(&[
        "EVAL",
        "for i = 1, tonumber(ARGV[2]) do redis.call('SET', ARGV[1] .. '{' .. i .. '}', 'x') end return 1",
        "0",
        prefix,
        &count.to_string(),
    ]);
    assert_eq!(filled, "1");
}

/// The prefix of the map's keys, `namespace:version:TAG:`, from the one value key Redis holds
/// under `pattern`.
fn map_prefix(server: &RedisServer, pattern: &str) -> String {
    let key = &keys(server, pattern)[0];
    key[..key.rfind('{').expect("a digest in braces")].to_owned()
}

/// README, "Invalidation": `remove` and `clear` reach "Redis and the others in the
/// background", and `remove_async` / `clear_async` "return once Redis has deleted and
/// published". A `remove_async` whose caller is dropped still deletes (its command runs as a
/// task of the tier), so a caller may bound it with a timeout.
///
/// `clear_async` ran its scan in the caller's future instead: a caller dropped mid-scan (a
/// request's timeout) stopped the clear where it was. Half the map stayed in Redis until its
/// TTL, the second "cleared" never went out, and this process, its L1 empty and its fence
/// down, read the old values back.
#[test]
fn a_cancelled_clear_async_still_clears_the_map_in_redis() {
    const FILLER: usize = 100_000;
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = Arc::new(map(tier(&server), "review10::cancelled_clear"));
    runtime.block_on(a.get_or_insert_with_async("k", async { "old".to_owned() }));
    let prefix = map_prefix(&server, "review10:*");
    fill(&server, &prefix, FILLER);
    let clear = runtime.spawn({
        let a = Arc::clone(&a);
        async move { a.clear_async().await }
    });
    eventually("the clear's scan is a tenth in", PATIENCE, || {
        dbsize(&server) < FILLER * 9 / 10
    });
    clear.abort();
    let _ = runtime.block_on(clear);
    eventually("the map is empty in Redis", PATIENCE, || {
        keys(&server, &format!("{prefix}*")).is_empty()
    });
    let seen = runtime.block_on(a.get_or_insert_with_async("k", async { "new".to_owned() }));
    assert_eq!(seen, "new");
}

/// README, "A call": the tier "connects at its first use ... and reconnects by itself"; the
/// failure rules are for Redis "down, slow or resetting".
///
/// A Redis with an idle `timeout` (here 1 s; proxies and managed services close idle
/// connections too) closes a process's connection while it has nothing to ask. redis-rs's
/// manager, on RESP2, learns it only when the next command fails: that command's operation
/// failed, the breaker opened (with the "redis tier unavailable" warning) and, for its
/// cool-down, every call of the process skipped Redis and built its value locally, while
/// Redis was up all along. A `remove_async` after a quiet spell returned `Unavailable`
/// without deleting. Here each path's first operation after the idle close: a sliding
/// read (`GETEX`), a fixed one (`GET` and `PTTL`), the script `FETCH` (a map with
/// `max_lifetime`) and `REMOVE`.
#[test]
fn a_connection_redis_closed_while_idle_is_no_outage() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let sliding = map(tier(&server), "review10::idle");
    let fixed = map_with(tier(&server), "review10::idle", |builder| {
        builder.expiry(Expiry::Fixed)
    });
    let limited = map_with(tier(&server), "review10::idle", |builder| {
        builder.max_lifetime(Duration::from_secs(60))
    });
    let remover = map(tier(&server), "review10::idle");
    let maps = [&sliding, &fixed, &limited, &remover];
    runtime.block_on(async {
        for (i, map) in maps.iter().enumerate() {
            let value = map
                .get_or_insert_with_async(&format!("warm{i}"), async { "w".to_owned() })
                .await;
            assert_eq!(value, "w");
        }
    });
    server.command(&["CONFIG", "SET", "timeout", "1"]);
    // Only the backplanes' subscriptions (exempt from the timeout) and this command's own
    // connection are left.
    eventually("Redis closed the idle connections", PATIENCE, || {
        server.command(&["CLIENT", "LIST"]).lines().count() == maps.len() + 1
    });
    assert_eq!(clients_running(&server, "subscribe"), maps.len());
    let removed = runtime.block_on(async {
        for map in &maps[..3] {
            let value = map
                .get_or_insert_with_async("k", async { value_of("k") })
                .await;
            assert_eq!(value, value_of("k"));
        }
        remover.remove_async("k").await
    });
    let outcomes: Vec<(bool, u64)> = maps
        .iter()
        .map(|map| (map.tier().is_degraded(), map.fleet_stats().built_locally))
        .collect();
    assert!(
        removed.is_ok() && outcomes.iter().all(|&outcome| outcome == (false, 0)),
        "after a quiet spell: remove_async {removed:?}; (breaker open, values built without \
         Redis) for the sliding, fixed, limited and removing maps: {outcomes:?}"
    );
}

/// A proxy to Redis on `upstream` that, once `armed`, lets the next `EVALSHA` through and then
/// cuts its connection (both ways) when Redis answers it, before the answer reaches the
/// client: a script that ran, whose reply was lost with its connection.
fn reply_cutting_proxy(upstream: u16, armed: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("an address").port();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let cut = Arc::new(AtomicBool::new(false));
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("a socket"),
                server.try_clone().expect("a socket"),
            );
            let (mut s_read, mut c_write) = (server, client);
            let (armed, cut_here) = (Arc::clone(&armed), Arc::clone(&cut));
            thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = c_read.read(&mut buf) {
                    if tests::fleet::contains(&buf[..n], b"EVALSHA")
                        && armed.swap(false, Ordering::SeqCst)
                    {
                        cut_here.store(true, Ordering::SeqCst);
                    }
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(Shutdown::Both);
            });
            thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = s_read.read(&mut buf) {
                    if cut.load(Ordering::SeqCst) || c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(Shutdown::Both);
                let _ = s_read.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

/// The second try of a command whose connection dropped (see the test above) may send a
/// script that already ran: a `FETCH` that took the lease, whose reply was lost. Sent again
/// with the same token, it must lead, not wait for its own lease (30 s here) as for another
/// process's leader; and the value is built once, with Redis, not locally.
#[test]
fn a_fetch_that_ran_but_lost_its_reply_leads_when_sent_again() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let armed = Arc::new(AtomicBool::new(false));
    let port = reply_cutting_proxy(server.port(), Arc::clone(&armed));
    let through_proxy = RedisTier::new(format!("redis://127.0.0.1:{port}/"))
        .expect("a Redis URL")
        .namespace("review10")
        .timeout(Duration::from_secs(2))
        .lease(Duration::from_secs(30));
    let a = map(through_proxy, "review10::lost_reply");
    // Loads the scripts, so that the next EVALSHA is the FETCH itself.
    runtime.block_on(a.get_or_insert_with_async("warm", async { "w".to_owned() }));
    armed.store(true, Ordering::SeqCst);
    let got = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(10),
            a.get_or_insert_with_async("k", async { value_of("k") }),
        )
        .await
    });
    assert!(
        !armed.load(Ordering::SeqCst),
        "the FETCH went through the proxy"
    );
    assert_eq!(got.as_deref(), Ok(value_of("k").as_str()), "led at once");
    let stats = a.fleet_stats();
    assert_eq!((stats.led, stats.built_locally), (2, 0), "{stats:?}");
    assert!(!a.tier().is_degraded());
    assert!(
        keys(&server, "review10:*:lease").is_empty(),
        "no lease left"
    );
}
