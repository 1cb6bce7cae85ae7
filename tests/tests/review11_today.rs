//! Review of the day's changes (083266e..10468cd), helper-70: the backplane's `PING`
//! keepalive (`redis/backplane.rs`) against a real Redis. (Its attacks on the deadlock check
//! and the shard lock that names its holder are in `ttl_map_deadlock.rs`.)

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};
use tests::fleet::{clients_running, eventually, value_of};
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

const MINUTE: Duration = Duration::from_secs(60);
/// How long a scenario's threads may take: a hang fails here.
const DEADLINE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The backplane's keepalive against a real Redis.
// ---------------------------------------------------------------------------------------------

/// The tier's timeout: the subscription is pinged after 4 quiet ones and given up when the
/// `PING` is not answered within 4 more.
const TIMEOUT: Duration = Duration::from_millis(200);

fn fleet_map(
    url: String,
    namespace: &str,
    settings: impl FnOnce(TtlMapBuilder) -> TtlMapBuilder,
) -> Shared<String, String> {
    let tier = RedisTier::new(url)
        .expect("a Redis URL")
        .namespace(namespace)
        .timeout(TIMEOUT);
    let builder = TtlMap::<String, String>::builder()
        .ttl(MINUTE)
        .name("review11_today::map");
    settings(builder).shared(tier).build()
}

type TtlMapBuilder = cache_core::Builder<String, String>;

/// A field of a command's line of `INFO commandstats` (`calls`): 0 before the first.
fn command_stat(server: &RedisServer, command: &str, field: &str) -> u64 {
    let stats = server.command(&["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{command}:");
    let line = stats.lines().find(|line| line.starts_with(&prefix));
    let count = line.and_then(|line| {
        line.split([':', ','])
            .find_map(|part| part.strip_prefix(field)?.strip_prefix('='))
    });
    count.map_or(0, |count| count.parse().expect("a count"))
}

/// Keeps Redis busy for `millis` in one Lua script: no other client is served meanwhile (the
/// same stall as `DEBUG SLEEP`, which this build of redis-server refuses by default).
fn stall(server: &RedisServer, millis: u64) {
    const BUSY: &str = "local t = redis.call('TIME') \
        local start = t[1] * 1000000 + t[2] \
        while true do \
          local now = redis.call('TIME') \
          if now[1] * 1000000 + now[2] - start >= tonumber(ARGV[1]) * 1000 then break end \
        end \
        return 1";
    let reply = server.command(&["EVAL", BUSY, "0", &millis.to_string()]);
    assert_eq!(reply, "1", "the script ran");
}

/// A Redis that stalls for less than the 4 timeouts a `PING` is given (a long Lua script, a
/// fork, a slow `KEYS`) answers every `PING` in time, whatever the stall's phase against the
/// pings: the subscription is kept, so the L1 too (README: only a Redis that stalls longer
/// is taken for one that vanished). Here 8 stalls of 2.5 timeouts, 0.7 apart, against a ping
/// every 4 quiet timeouts.
#[test]
fn a_redis_that_stalls_for_less_than_four_timeouts_keeps_the_subscription() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let process = fleet_map(server.url(), "review11_stall", |b| b);
    runtime.block_on(process.get_or_insert_with_async("k", async { value_of("k") }));
    eventually("the listener subscribed", DEADLINE, || {
        clients_running(&server, "subscribe") == 1
    });
    // Fetched after the first subscription: it lives until an invalidation or a new epoch.
    runtime.block_on(process.get_or_insert_with_async("k", async { value_of("k") }));
    assert!(process.contains_key("k"));
    let subscribes = command_stat(&server, "subscribe", "calls");
    let pings = command_stat(&server, "ping", "calls");
    for _ in 0..8 {
        stall(&server, 500);
        std::thread::sleep(Duration::from_millis(140)); // sleep-ok: shifts the next stall's phase against the pings; no assertion on time
    }
    assert!(
        command_stat(&server, "ping", "calls") > pings,
        "the subscription was pinged during the stalls"
    );
    assert_eq!(
        command_stat(&server, "subscribe", "calls"),
        subscribes,
        "no new subscription: every PING was answered within its 4 timeouts"
    );
    assert!(
        process.contains_key("k"),
        "the L1 entry outlived the short stalls (no new epoch)"
    );
}

/// A listener that is slow (a removal listener that takes 3 timeouts per entry, run as the
/// backplane dispatches the removals of another process) holds the subscription's loop up,
/// not the connection: the time spent dispatching is no silence, so the subscription is kept
/// (no new epoch: an entry nobody removed stays), and every removal arrives.
#[test]
fn a_slow_listener_is_no_silence() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = fleet_map(server.url(), "review11_slow", {
        let calls = Arc::clone(&calls);
        move |b| {
            b.on_evict(move |_, _, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(TIMEOUT * 3); // sleep-ok: a slow listener is the scenario; no assertion on time
            })
        }
    });
    let keys: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
    runtime.block_on(slow.get_or_insert_with_async("kept", async { value_of("kept") }));
    eventually("the listener subscribed", DEADLINE, || {
        clients_running(&server, "subscribe") == 1
    });
    for key in keys.iter().map(String::as_str).chain(["kept"]) {
        runtime.block_on(slow.get_or_insert_with_async(key, async { value_of(key) }));
        assert!(slow.contains_key(key));
    }
    // Another process of the fleet, whose own listener subscribes too.
    let other = fleet_map(server.url(), "review11_slow", |b| b);
    runtime.block_on(other.get_or_insert_with_async("kept", async { value_of("kept") }));
    eventually("both listeners subscribed", DEADLINE, || {
        clients_running(&server, "subscribe") == 2
    });
    let subscribes = command_stat(&server, "subscribe", "calls");
    for key in &keys {
        runtime
            .block_on(other.remove_async(key.as_str()))
            .expect("Redis is up");
    }
    eventually("every removal arrived", DEADLINE, || {
        keys.iter().all(|key| !slow.contains_key(key))
    });
    eventually("the listener heard them all", DEADLINE, || {
        calls.load(Ordering::SeqCst) >= keys.len()
    });
    // Quiet long enough for two pings after the slow dispatch.
    let pings = command_stat(&server, "ping", "calls");
    eventually("two more pings", DEADLINE, || {
        command_stat(&server, "ping", "calls") >= pings + 2
    });
    assert_eq!(
        command_stat(&server, "subscribe", "calls"),
        subscribes,
        "the slow dispatch was taken for a silence"
    );
    assert!(
        slow.contains_key("kept"),
        "an entry nobody removed was dropped: a new epoch began"
    );
}

/// A TCP proxy to Redis whose [`deafen`](Self::deafen) drops, from then on, what every
/// connection that has subscribed so far SENDS to Redis (read and dropped: no TCP error),
/// while what Redis sends still arrives: the subscription's `PING` never reaches Redis, but
/// its messages keep coming. Later connections pass both ways.
struct DeafProxy {
    port: u16,
    subscribed: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl DeafProxy {
    fn start(upstream: u16) -> DeafProxy {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        fn pump(
            mut from: TcpStream,
            mut to: TcpStream,
            drop_it: &AtomicBool,
            mut saw: impl FnMut(&[u8]),
        ) {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                saw(&buf[..n]);
                if !drop_it.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let subscribed: Arc<Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
        let registry = Arc::clone(&subscribed);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let deaf = Arc::new(AtomicBool::new(false));
                let (c_read, s_write) = (
                    client.try_clone().expect("a socket"),
                    server.try_clone().expect("a socket"),
                );
                let registry = Arc::clone(&registry);
                let mut registered = false;
                std::thread::spawn(move || {
                    let upstream_deaf = Arc::clone(&deaf);
                    pump(c_read, s_write, &upstream_deaf, |bytes| {
                        if !registered && tests::fleet::contains(bytes, b"SUBSCRIBE") {
                            registered = true;
                            registry.lock().unwrap().push(Arc::clone(&deaf));
                        }
                    });
                });
                // Redis to the client always passes.
                std::thread::spawn(move || pump(server, client, &AtomicBool::new(false), |_| {}));
            }
        });
        DeafProxy { port, subscribed }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// How many connections have sent a `SUBSCRIBE` through the proxy.
    fn subscriptions(&self) -> usize {
        self.subscribed.lock().unwrap().len()
    }

    fn deafen(&self) {
        for deaf in self.subscribed.lock().unwrap().iter() {
            deaf.store(true, Ordering::SeqCst);
        }
    }
}

/// README: "any message or answer ... keeps the connection". A subscription whose `PING` goes
/// unanswered but which keeps RECEIVING messages (one removal by another process every 5
/// timeouts, so each comes while a `PING`, sent after 4 quiet ones, is outstanding) is alive:
/// it must not be given up as one that "heard nothing", and each removal must reach this
/// process's L1 on it, not be dropped with it.
#[test]
fn a_subscription_that_keeps_receiving_is_kept_though_its_ping_is_lost() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let proxy = DeafProxy::start(server.port());
    let a = fleet_map(proxy.url(), "review11_deaf", |b| b);
    runtime.block_on(a.get_or_insert_with_async("kept", async { value_of("kept") }));
    let b = fleet_map(server.url(), "review11_deaf", |b| b);
    runtime.block_on(b.get_or_insert_with_async("kept", async { value_of("kept") }));
    eventually("both listeners subscribed", DEADLINE, || {
        proxy.subscriptions() == 1 && clients_running(&server, "subscribe") == 2
    });
    runtime.block_on(a.get_or_insert_with_async("kept", async { value_of("kept") }));
    assert!(a.contains_key("kept"));
    proxy.deafen();
    for i in 0..6 {
        let key = format!("gone{i}");
        runtime.block_on(a.get_or_insert_with_async(key.as_str(), async { value_of("x") }));
        std::thread::sleep(TIMEOUT * 5); // sleep-ok: spaces the messages so that each meets an outstanding PING; no assertion on time
        runtime
            .block_on(b.remove_async(key.as_str()))
            .expect("Redis is up");
        eventually("the removal reached a", DEADLINE, || {
            !a.contains_key(key.as_str())
        });
    }
    assert_eq!(
        proxy.subscriptions(),
        1,
        "a subscription that kept receiving messages was given up as silent"
    );
    assert!(
        a.contains_key("kept"),
        "an entry nobody removed was dropped: a new epoch began"
    );
}
