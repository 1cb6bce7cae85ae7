//! A backplane whose connection goes silent without closing: a NAT or a load balancer that
//! forgot the idle flow, a Redis host that lost power or was cut off by a partition. No reset
//! arrives, so the connection never ends by itself, and the subscription only ever receives:
//! unless the listener asks, it never learns that nothing will arrive any more, and every
//! removal made by another process is lost to this one until it restarts.
//!
//! The tier's own connection, the one its reads and writes go on, can go silent in the same
//! way: its commands time out, and the circuit breaker's probes must not go to it again.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};
use tests::fleet::{clients_running, eventually, value_of};
use tests::redis_server::{RedisCluster, RedisServer};
use tests::two_worker_runtime;
use tokio::runtime::Runtime;

/// A TCP proxy to a Redis server that can turn the connections made so far into black holes:
/// the bytes of both directions are read (so no TCP error ever reaches either end) and
/// dropped, and neither socket is closed. [`swallow_subscriptions`](Self::swallow_subscriptions)
/// does it to every connection that has sent a `SUBSCRIBE`,
/// [`swallow_data`](Self::swallow_data) to every other one. Connections made later pass, as a
/// NAT gives a new flow a new mapping.
struct BlackHoleProxy {
    port: u16,
    connections: Arc<Mutex<Vec<Connection>>>,
}

/// A connection through the proxy: whether it has sent a `SUBSCRIBE`, whether it swallows, and
/// whether it has ended (its client closed it).
struct Connection {
    subscribed: Arc<AtomicBool>,
    hole: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
}

impl BlackHoleProxy {
    fn start(upstream: u16) -> BlackHoleProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let registry = Arc::clone(&connections);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (hole, subscribed, closed) = (
                    Arc::default(),
                    Arc::<AtomicBool>::default(),
                    Arc::<AtomicBool>::default(),
                );
                registry.lock().unwrap().push(Connection {
                    subscribed: Arc::clone(&subscribed),
                    hole: Arc::clone(&hole),
                    closed: Arc::clone(&closed),
                });
                let (c_read, s_write) = (
                    client.try_clone().expect("a socket"),
                    server.try_clone().expect("a socket"),
                );
                let to_server = Arc::clone(&hole);
                thread::spawn(move || {
                    pump(c_read, s_write, &to_server, |bytes| {
                        if tests::fleet::contains(bytes, b"SUBSCRIBE") {
                            subscribed.store(true, Ordering::SeqCst);
                        }
                    });
                    closed.store(true, Ordering::SeqCst);
                });
                thread::spawn(move || pump(server, client, &hole, |_| {}));
            }
        });
        BlackHoleProxy { port, connections }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// How many connections have sent a `SUBSCRIBE` through the proxy.
    fn subscribed(&self) -> usize {
        let connections = self.connections.lock().unwrap();
        connections.iter().filter(|c| c.is_subscription()).count()
    }

    /// How many connections have come through the proxy without subscribing.
    fn data_connections(&self) -> usize {
        let connections = self.connections.lock().unwrap();
        connections.iter().filter(|c| !c.is_subscription()).count()
    }

    /// How many swallowing connections have not ended.
    fn open_holes(&self) -> usize {
        let connections = self.connections.lock().unwrap();
        let open_hole =
            |c: &&Connection| c.hole.load(Ordering::SeqCst) && !c.closed.load(Ordering::SeqCst);
        connections.iter().filter(open_hole).count()
    }

    fn swallow_subscriptions(&self) {
        self.swallow(|connection| connection.is_subscription());
    }

    fn swallow_data(&self) {
        self.swallow(|connection| !connection.is_subscription());
    }

    fn swallow(&self, which: impl Fn(&Connection) -> bool) {
        for connection in self.connections.lock().unwrap().iter() {
            if which(connection) {
                connection.hole.store(true, Ordering::SeqCst);
            }
        }
    }
}

impl Connection {
    fn is_subscription(&self) -> bool {
        self.subscribed.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` (after showing each read to `saw`) until either end closes, dropping
/// what it reads while `hole` is set.
fn pump(mut from: TcpStream, mut to: TcpStream, hole: &AtomicBool, mut saw: impl FnMut(&[u8])) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        saw(&buf[..n]);
        if !hole.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// The tier's timeout, from which every bound of the backplane is derived.
const TIMEOUT: Duration = Duration::from_millis(200);

/// The breaker's first cool-down (README, "Failure rules"): after a failure, calls skip Redis
/// this long, then one probes it.
const FIRST_COOL_DOWN: Duration = Duration::from_millis(500);

fn tier(url: String) -> RedisTier {
    RedisTier::new(url)
        .expect("a Redis URL")
        .namespace("black_hole")
        .timeout(TIMEOUT)
}

fn map(url: String) -> Shared<String, String> {
    map_on(tier(url))
}

fn map_on(tier: RedisTier) -> Shared<String, String> {
    TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name("fleet_black_hole::map")
        .shared(tier)
        .build()
}

/// Waits until `process` no longer serves `key` from its L1, at most `bound`.
fn assert_dropped_within(process: &Shared<String, String>, key: &str, bound: Duration, what: &str) {
    let start = Instant::now();
    while process.contains_key(key) {
        assert!(
            start.elapsed() < bound,
            "{what}: this process still serves a value another process removed, {:?} later \
             (bound {bound:?}, the tier's timeout {TIMEOUT:?}; its TTL is 60 s)",
            start.elapsed()
        );
        thread::sleep(Duration::from_millis(10)); // sleep-ok: polling the L1
    }
}

/// Before the fix, the listener waited for its next message forever: a, behind the black
/// hole, served k for its whole TTL after b removed it. Now the listener pings a
/// subscription that has been quiet for 4 timeouts and subscribes again when the ping is not
/// answered within 4 more; the new subscription begins a new epoch, which drops every L1
/// entry fetched before it.
#[test]
fn a_subscription_that_went_silent_is_noticed_and_replaced() {
    // Quiet 4 timeouts, the unanswered ping 4, the new subscription (at once here: a new
    // connection passes), and as much again for two shared cores.
    const BOUND: Duration = TIMEOUT.saturating_mul(16);
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let proxy = BlackHoleProxy::start(server.port());

    let a = map(proxy.url());
    runtime.block_on(a.get_or_insert_with_async("k", async { value_of("k") }));
    eventually("a's listener subscribed", Duration::from_secs(5), || {
        proxy.subscribed() == 1 && clients_running(&server, "subscribe") == 1
    });
    // Fetched after the first subscription, so its entry lives until an invalidation.
    runtime.block_on(a.get_or_insert_with_async("k", async { value_of("k") }));
    assert!(a.contains_key("k"));

    proxy.swallow_subscriptions();
    let b = map(server.url());
    runtime.block_on(b.remove_async("k")).expect("Redis is up");
    assert_dropped_within(&a, "k", BOUND, "behind a black hole");

    // The new subscription hears the next removal.
    let value = runtime.block_on(a.get_or_insert_with_async("k", async { value_of("k") }));
    assert_eq!(value, value_of("k"));
    assert!(a.contains_key("k"));
    assert_eq!(proxy.subscribed(), 2, "a subscribed again, once");
    runtime.block_on(b.remove_async("k")).expect("Redis is up");
    assert_dropped_within(&a, "k", Duration::from_secs(2), "on the new subscription");
}

/// The tier's own connection can go silent too. Before the fix, the tier stayed degraded for
/// good once it had (here past the bound and for as long as one waits; on a real network until
/// the kernel gives the connection up, about 15 minutes; behind a proxy that acknowledges the
/// bytes, forever): redis-rs reconnects a connection that drops, not one that stops answering,
/// so every probe of the breaker went to the dead connection and timed out, and meanwhile
/// every call went on without Redis and `remove_async` failed. Now an operation that times out
/// gives its connection up, and the next one (the probe) opens a new one.
#[test]
fn a_data_connection_that_went_silent_is_replaced() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let proxy = BlackHoleProxy::start(server.port());
    let tier = tier(proxy.url());
    let a = map_on(tier.clone());
    runtime.block_on(a.get_or_insert_with_async("k", async { value_of("k") }));
    eventually("a's listener subscribed", Duration::from_secs(5), || {
        proxy.subscribed() == 1 && clients_running(&server, "subscribe") == 1
    });
    let b = map(server.url());
    assert_recovers_from_silent_data_connections(&runtime, (&tier, &a), &b, &[proxy]);
}

/// The same with a cluster, whose nodes announce the proxies' ports: the tier reaches every
/// node through a proxy, and each of its connections to a node goes silent.
#[test]
fn a_cluster_connection_that_went_silent_is_replaced() {
    let cluster = RedisCluster::start(3);
    let proxies: Vec<BlackHoleProxy> = cluster
        .nodes()
        .iter()
        .map(|node| BlackHoleProxy::start(node.port()))
        .collect();
    for (node, proxy) in cluster.nodes().iter().zip(&proxies) {
        let port = proxy.port.to_string();
        node.command(&["CONFIG", "SET", "cluster-announce-port", &port]);
    }
    let announced = |node: &RedisServer| {
        let slots = node.command(&["CLUSTER", "SLOTS"]);
        proxies
            .iter()
            .all(|proxy| slots.contains(&proxy.port.to_string()))
    };
    eventually(
        "every node announces the proxies",
        Duration::from_secs(15),
        || cluster.nodes().iter().all(announced),
    );
    let runtime = two_worker_runtime();
    let tier = cluster_tier(proxies.iter().map(BlackHoleProxy::url));
    let a = map_on(tier.clone());
    runtime.block_on(a.get_or_insert_with_async("k", async { value_of("k") }));
    eventually("a's listener subscribed", Duration::from_secs(5), || {
        proxies
            .iter()
            .map(BlackHoleProxy::subscribed)
            .sum::<usize>()
            == 1
    });
    let b = map_on(cluster_tier(cluster.urls()));
    assert_recovers_from_silent_data_connections(&runtime, (&tier, &a), &b, &proxies);
}

fn cluster_tier(urls: impl IntoIterator<Item = String>) -> RedisTier {
    RedisTier::cluster(urls)
        .expect("Redis URLs")
        .namespace("black_hole")
        .timeout(TIMEOUT)
}

/// Makes every connection through `proxies` but the subscriptions swallow, and checks that
/// `a`'s tier, degraded by the read that times out next, uses Redis again within a bound made
/// of its timeout and the breaker's first cool-down: `a` reads `b`'s value from Redis, and
/// its removal reaches `b`.
fn assert_recovers_from_silent_data_connections(
    runtime: &Runtime,
    (tier, a): (&RedisTier, &Shared<String, String>),
    b: &Shared<String, String>,
    proxies: &[BlackHoleProxy],
) {
    // The read that times out and opens the breaker, its cool-down, then a probe on a new
    // connection (a connect and a command, within a timeout), and as much again for two
    // shared cores.
    const BOUND: Duration = TIMEOUT
        .saturating_mul(2)
        .saturating_add(FIRST_COOL_DOWN)
        .saturating_mul(2);
    let data_connections = || proxies.iter().map(BlackHoleProxy::data_connections).sum();
    let before: usize = data_connections();
    assert!(before >= 1, "a read from Redis");
    assert!(!tier.is_degraded());

    // Every connection but the subscription swallows; new ones pass.
    for proxy in proxies {
        proxy.swallow_data();
    }
    let start = Instant::now();
    let value = runtime.block_on(a.get_or_insert_with_async("cut", async { value_of("cut") }));
    assert_eq!(value, value_of("cut"));
    assert!(
        tier.is_degraded(),
        "a read that timed out opened the breaker"
    );

    // b writes a value that a can only have from Redis.
    runtime.block_on(b.get_or_insert_with_async("shared", async { value_of("shared") }));
    let mut probes = 0;
    while tier.is_degraded() {
        assert!(
            start.elapsed() < BOUND,
            "the tier is still degraded {:?} after its connection went silent, though new \
             connections pass (bound {BOUND:?}, the tier's timeout {TIMEOUT:?}; {probes} calls \
             since; {} connections through the proxies since, {before} before)",
            start.elapsed(),
            data_connections() - before,
        );
        // A key of its own per call, so that each misses L1 and may probe Redis.
        let key = format!("probe {probes}");
        runtime.block_on(a.get_or_insert_with_async(&key, async { value_of(&key) }));
        probes += 1;
        thread::sleep(Duration::from_millis(10)); // sleep-ok: pacing the calls
    }
    let value = runtime.block_on(a.get_or_insert_with_async("shared", async {
        "built by a, not read from Redis".to_owned()
    }));
    assert_eq!(value, value_of("shared"), "a reads Redis again");
    runtime
        .block_on(a.remove_async("shared"))
        .expect("a removes from Redis again");
    assert_dropped_within(b, "shared", Duration::from_secs(2), "a's removal");
    // Once its last operation has ended (within a timeout), nothing holds it.
    eventually("the connections given up are closed", BOUND, || {
        proxies
            .iter()
            .map(BlackHoleProxy::open_holes)
            .sum::<usize>()
            == 0
    });
}

/// A field of the `PING` line of `INFO commandstats` (`calls`, `rejected_calls`): 0 before
/// the first.
fn pings(server: &RedisServer, field: &str) -> u64 {
    let stats = server.command(&["INFO", "commandstats"]);
    let line = stats.lines().find(|line| line.starts_with("cmdstat_ping:"));
    let count = line.and_then(|line| {
        line.split([':', ','])
            .find_map(|part| part.strip_prefix(field)?.strip_prefix('='))
    });
    count.map_or(0, |count| count.parse().expect("a count"))
}

/// How many of the server's clients are subscribed to a channel (whatever they ran last: a
/// `PING`, say).
fn subscribers(server: &RedisServer) -> usize {
    let clients = server.command(&["CLIENT", "LIST"]);
    let subscribed = |line: &&str| line.split(' ').any(|field| field == "sub=1");
    clients.lines().filter(subscribed).count()
}

/// A quiet subscription on a healthy Redis answers its pings and is kept: its L1 entries
/// live on through many of them. So does one whose ACL forbids `PING`, as an error is an
/// answer too: a subscription given up for it would drop this process's L1 at every ping.
#[test]
fn a_quiet_subscription_that_answers_is_kept() {
    const PASSWORD: &str = "pw-never-logged";
    let server = RedisServer::start();
    for rule in ["on", &format!(">{PASSWORD}"), "~*", "&*", "+@all", "-ping"] {
        server.command(&["ACL", "SETUSER", "no-ping", rule]);
    }
    let runtime = two_worker_runtime();
    for (url, field) in [
        (server.url(), "calls"),
        (
            format!("redis://no-ping:{PASSWORD}@127.0.0.1:{}/", server.port()),
            "rejected_calls",
        ),
    ] {
        let process = map(url);
        runtime.block_on(process.get_or_insert_with_async("k", async { value_of("k") }));
        eventually("the listener subscribed", Duration::from_secs(5), || {
            subscribers(&server) == 1
        });
        runtime.block_on(process.get_or_insert_with_async("k", async { value_of("k") }));
        let before = pings(&server, field);
        // Each ping comes after 4 quiet timeouts; a given-up subscription would have
        // dropped k (the next one begins a new epoch) by the third.
        eventually("three pings", TIMEOUT.saturating_mul(60), || {
            pings(&server, field) >= before + 3
        });
        assert!(
            process.contains_key("k"),
            "a subscription that answered its pings ({field}) was given up"
        );
        assert_eq!(subscribers(&server), 1, "one subscription");
        drop(process);
        eventually("the listener stopped", Duration::from_secs(5), || {
            subscribers(&server) == 0
        });
    }
}
