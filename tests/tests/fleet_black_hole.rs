//! A backplane whose connection goes silent without closing: a NAT or a load balancer that
//! forgot the idle flow, a Redis host that lost power or was cut off by a partition. No reset
//! arrives, so the connection never ends by itself, and the subscription only ever receives:
//! unless the listener asks, it never learns that nothing will arrive any more, and every
//! removal made by another process is lost to this one until it restarts.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};
use tests::fleet::{clients_running, eventually, value_of};
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

/// A TCP proxy to a Redis server whose [`swallow_subscriptions`](Self::swallow_subscriptions)
/// turns every connection that has sent a `SUBSCRIBE` so far into a black hole: the bytes of
/// both directions are read (so no TCP error ever reaches either end) and dropped, and
/// neither socket is closed. Connections made later pass, as a NAT gives a new flow a new
/// mapping.
struct BlackHoleProxy {
    port: u16,
    /// A flag per connection that has subscribed: set, it swallows.
    subscriptions: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl BlackHoleProxy {
    fn start(upstream: u16) -> BlackHoleProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let subscriptions = Arc::new(Mutex::new(Vec::new()));
        let registry = Arc::clone(&subscriptions);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let hole = Arc::new(AtomicBool::new(false));
                let (c_read, s_write) = (
                    client.try_clone().expect("a socket"),
                    server.try_clone().expect("a socket"),
                );
                let (registry, to_server) = (Arc::clone(&registry), Arc::clone(&hole));
                let mut registered = false;
                thread::spawn(move || {
                    pump(c_read, s_write, &to_server, |bytes| {
                        if !registered && tests::fleet::contains(bytes, b"SUBSCRIBE") {
                            registered = true;
                            registry.lock().unwrap().push(Arc::clone(&to_server));
                        }
                    });
                });
                thread::spawn(move || pump(server, client, &hole, |_| {}));
            }
        });
        BlackHoleProxy {
            port,
            subscriptions,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// How many connections have sent a `SUBSCRIBE` through the proxy.
    fn subscribed(&self) -> usize {
        self.subscriptions.lock().unwrap().len()
    }

    fn swallow_subscriptions(&self) {
        for hole in self.subscriptions.lock().unwrap().iter() {
            hole.store(true, Ordering::SeqCst);
        }
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

fn map(url: String) -> Shared<String, String> {
    let tier = RedisTier::new(url)
        .expect("a Redis URL")
        .namespace("black_hole")
        .timeout(TIMEOUT);
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
