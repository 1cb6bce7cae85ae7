//! Review of the day's changes (083266e..10468cd): the deadlock check between sync
//! constructors on several threads (`deadlock.rs`), the shard lock that names its holder while
//! a `retain` predicate or `expire_after` runs (`sharded_lock.rs`), and the backplane's `PING`
//! keepalive (`redis/backplane.rs`). Every call that could hang runs on a
//! `std::thread::spawn`ed thread with a deadline, so a hang fails the test instead of hanging
//! it.

use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use cache_core::redis::{RedisTier, Shared};
use cache_core::{Clock, Reason, TtlMap};
use tests::fleet::{clients_running, eventually, value_of};
use tests::redis_server::RedisServer;
use tests::{panic_message, two_worker_runtime, wait_until};

const MINUTE: Duration = Duration::from_secs(60);
/// How long a scenario's threads may take: a hang fails here.
const DEADLINE: Duration = Duration::from_secs(20);

/// What a thread's call ended with: its value, or its panic's message.
type Ended<T> = Result<T, String>;

/// Runs `call` on a thread of its own; its ending arrives on the returned channel.
fn spawn<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<Ended<T>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let ended = catch_unwind(AssertUnwindSafe(call));
        let _ = tx.send(ended.map_err(|p| panic_message(&*p).to_owned()));
    });
    rx
}

fn ended<T>(rx: &mpsc::Receiver<Ended<T>>) -> Ended<T> {
    rx.recv_timeout(DEADLINE)
        .expect("the call returns within the deadline: nothing was left to hang")
}

fn is_deadlock<T>(ended: &Ended<T>) -> bool {
    matches!(ended, Err(message) if message.contains("deadlock"))
}

fn is_reentrant_use<T>(ended: &Ended<T>) -> bool {
    matches!(ended, Err(message) if message.contains("re-entrant use of a TtlMap"))
}

// ---------------------------------------------------------------------------------------------
// 1. Deadlock check: counting, and chains that are not cycles.
// ---------------------------------------------------------------------------------------------

/// `coalesced` counts the calls that waited, once each, when the wait begins: a wait refused
/// as a deadlock (it would close the cycle) panics instead of waiting, and is not counted, as
/// a re-entrant call is not (stats.rs, README "Counters"). In a cycle of two, exactly one
/// wait begins (the first), and the survivor's own attempt afterwards waits for nothing.
#[test]
fn a_wait_refused_as_a_deadlock_is_not_counted_in_coalesced() {
    for _ in 0..20 {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
        let barrier = Arc::new(Barrier::new(2));
        let receivers: Vec<_> = [(1, 2), (2, 1)]
            .into_iter()
            .map(|(own, other)| {
                let (map, barrier) = (map.clone(), Arc::clone(&barrier));
                spawn(move || {
                    map.get_or_insert_with(&own, || {
                        barrier.wait();
                        map.get_or_insert_with(&other, || 100 + other) + 1
                    })
                })
            })
            .collect();
        let ended: Vec<_> = receivers.iter().map(ended).collect();
        assert_eq!(
            ended.iter().filter(|e| is_deadlock(e)).count(),
            1,
            "{ended:?}"
        );
        let stats = map.stats();
        assert_eq!(
            stats.coalesced, 1,
            "one wait began (the survivor's); the refused one is not counted: {stats:?}"
        );
        assert_eq!(stats.hits + stats.misses, 4, "{stats:?}");
    }
}

/// A caller woken from a flight whose leader panicked runs its own attempt, which is no
/// flight: no thread can be waiting for it. So a thread that, inside that attempt, waits for a
/// flight whose constructor asks for the same key (and leads a new flight of it, as nothing is
/// registered) is no cycle, and neither panics.
#[test]
fn an_own_attempt_after_a_panic_is_no_leader_a_chain_can_come_back_to() {
    for _ in 0..50 {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
        let (a_led_tx, a_led_rx) = mpsc::channel::<()>();
        let (b_led_tx, b_led_rx) = mpsc::channel::<()>();
        let panics = Arc::new(AtomicBool::new(false));
        // Thread 1 leads key 1 and panics once thread 2 waits for it.
        let first = {
            let map = map.clone();
            spawn(move || {
                map.get_or_insert_with(&1, || {
                    a_led_tx.send(()).expect("the test listens");
                    wait_until("thread 2 waits for key 1", || map.stats().coalesced == 1);
                    panic!("the leader of key 1 fails")
                })
            })
        };
        a_led_rx.recv_timeout(DEADLINE).expect("key 1 is led");
        // Thread 3 leads key 2, whose constructor asks for key 1 once thread 2 waits for it.
        let third = {
            let map = map.clone();
            let panics = Arc::clone(&panics);
            spawn(move || {
                map.get_or_insert_with(&2, || {
                    b_led_tx.send(()).expect("thread 2 listens");
                    wait_until("thread 2 waits for key 2", || map.stats().coalesced == 2);
                    let one = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&1, || 30)));
                    if one.is_err() {
                        panics.store(true, Ordering::SeqCst);
                    }
                    one.unwrap_or(0) + 200
                })
            })
        };
        // Thread 2 waits for key 1; woken by its leader's panic, it builds key 1 itself, and
        // inside that attempt waits for key 2.
        let second = {
            let map = map.clone();
            spawn(move || {
                map.get_or_insert_with(&1, || {
                    b_led_rx.recv_timeout(DEADLINE).expect("key 2 is led");
                    map.get_or_insert_with(&2, || 0) + 1
                })
            })
        };
        assert!(ended(&first).is_err(), "the leader of key 1 panicked");
        let (second, third) = (ended(&second), ended(&third));
        assert!(
            !panics.load(Ordering::SeqCst),
            "key 2's constructor asking for key 1 panicked"
        );
        assert_eq!(third, Ok(230), "key 2: 200 + key 1 built by thread 3 (30)");
        assert_eq!(second, Ok(231), "key 1's own attempt: key 2 + 1");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The shard lock that names its holder.
// ---------------------------------------------------------------------------------------------

/// A hash that is the `u64` key itself, so that a test places keys in shards: the shard is
/// bits 32 and up of the hash (`Inner::shard`), of which a map without a capacity has 16.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Id = BuildHasherDefault<IdHasher>;
type IdMap = TtlMap<u64, u64, Id>;

/// Key `n` of shard `shard`.
const fn in_shard(shard: u64, n: u64) -> u64 {
    (shard << 32) | n
}

/// A `retain` predicate and an `expire_after` may use the same map's OTHER shards (and other
/// maps) freely: only the shard they run under is refused. Reads, writes and memoizing calls
/// there work and are seen afterwards.
#[test]
fn a_predicate_or_expire_after_that_uses_another_shard_or_map_works() {
    let map: IdMap = TtlMap::builder().ttl(MINUTE).hasher(Id::default()).build();
    let other: IdMap = TtlMap::builder().ttl(MINUTE).hasher(Id::default()).build();
    let (a, b, c, d) = (
        in_shard(0, 1),
        in_shard(1, 1),
        in_shard(2, 1),
        in_shard(3, 1),
    );
    map.insert(a, 1);
    map.insert(b, 2);
    other.insert(a, 10);
    let ran = ended(&spawn({
        let (map, other) = (map.clone(), other.clone());
        move || {
            map.retain(|&k, _| {
                if k != a {
                    return true;
                }
                // Under shard 0's lock: shard 1 read, shard 2 memoized, shard 3 written, and
                // another map's shard 0 read and memoized.
                assert_eq!(map.get(&b), Some(2));
                assert_eq!(map.get_or_insert_with(&c, || 3), 3);
                assert_eq!(map.insert(d, 4), None);
                assert_eq!(other.get(&a), Some(10));
                assert_eq!(other.get_or_insert_with(&in_shard(0, 2), || 11), 11);
                false
            });
        }
    }));
    assert_eq!(ran, Ok(()), "no use of another shard or map panics");
    assert_eq!(map.get(&a), None, "removed by the predicate");
    assert_eq!(
        (map.get(&b), map.get(&c), map.get(&d)),
        (Some(2), Some(3), Some(4))
    );
    assert_eq!(other.get(&in_shard(0, 2)), Some(11));

    // expire_after reading a key of another shard (key 0 of shard 5), as any store runs it.
    let this = Arc::new(std::sync::OnceLock::<IdMap>::new());
    let lookup = Arc::clone(&this);
    let probe = in_shard(5, 0);
    let with_life: IdMap = TtlMap::builder()
        .ttl(MINUTE)
        .hasher(Id::default())
        .expire_after(move |&k: &u64, _: &u64| {
            let known = k != probe && lookup.get().is_some_and(|m| m.get(&probe).is_some());
            known.then_some(MINUTE)
        })
        .build();
    assert!(this.set(with_life.clone()).is_ok());
    with_life.insert(probe, 0);
    let stored = ended(&spawn({
        let map = with_life.clone();
        move || {
            map.insert(a, 1);
            map.get_or_insert_with(&b, || 2) + map.get_or_insert_with(&c, || 3)
        }
    }));
    assert_eq!(stored, Ok(5));
    assert_eq!((with_life.get(&a), with_life.get(&b)), (Some(1), Some(2)));
}

/// A clock that, once armed, blocks the first reading after it until released: a store reads
/// the clock under its shard's write lock, so the armed thread then holds that lock for as
/// long as the test wants, without naming itself its holder (no `expire_after`, no `retain`).
#[derive(Clone, Default)]
struct BlockingClock(Arc<Gate>);

#[derive(Default)]
struct Gate {
    armed: AtomicBool,
    inside: AtomicBool,
    released: AtomicBool,
}

impl std::ops::Deref for BlockingClock {
    type Target = Gate;
    fn deref(&self) -> &Gate {
        &self.0
    }
}

impl Clock for BlockingClock {
    fn now(&self) -> Duration {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.inside.store(true, Ordering::SeqCst);
            wait_until("the test releases the clock", || {
                self.released.load(Ordering::SeqCst)
            });
        }
        Duration::ZERO
    }
}

/// A `retain` predicate that uses its own shard panics; its thread must not be left named as
/// the holder: later, while ANOTHER thread holds that shard's write lock (a plain store,
/// which names no holder), a read from the thread that panicked must wait for it, not panic
/// as if it held the lock itself. And the entries the predicate removed before it panicked
/// are heard once each and gone, the others kept.
#[test]
fn a_reentrant_panic_leaves_no_holder_named_and_the_map_consistent() {
    let clock = BlockingClock::default();
    let heard: Arc<Mutex<Vec<(u64, Reason)>>> = Arc::default();
    let map: IdMap = TtlMap::builder()
        .ttl(MINUTE)
        .hasher(Id::default())
        .clock(clock.clone())
        .on_evict({
            let heard = Arc::clone(&heard);
            move |&k, _, reason| heard.lock().unwrap().push((k, reason))
        })
        .build();
    let keys: Vec<u64> = (1..=6).map(|n| in_shard(0, n)).collect();
    for &k in &keys {
        map.insert(k, k);
    }
    let trigger = keys[3];
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (panicked_tx, panicked_rx) = mpsc::channel::<String>();
    let reader = spawn({
        let map = map.clone();
        move || {
            let first = catch_unwind(AssertUnwindSafe(|| {
                map.retain(|&k, _| {
                    if k == trigger {
                        // Shard 0 is the one it runs under.
                        let _ = map.get(&keys[0]);
                    }
                    k % 2 == 1
                });
            }));
            let message = first.map_err(|p| panic_message(&*p).to_owned());
            panicked_tx
                .send(message.err().unwrap_or_default())
                .expect("the test listens");
            go_rx.recv_timeout(DEADLINE).expect("the test goes on");
            // Another thread holds shard 0's write lock now: this read waits for it.
            map.get(&trigger)
        }
    });
    let message = panicked_rx
        .recv_timeout(DEADLINE)
        .expect("the retain ended");
    assert!(
        message.contains("re-entrant use of a TtlMap"),
        "the predicate's use of its own shard panics: {message:?}"
    );
    // Consistent: each removed entry heard once, as Removed, and gone; the rest kept.
    let removed: Vec<(u64, Reason)> = heard.lock().unwrap().clone();
    for (k, reason) in &removed {
        assert_eq!(*reason, Reason::Removed);
        assert_eq!(k % 2, 0, "only entries the predicate refused are removed");
        assert_eq!(map.get(k), None);
    }
    let mut seen: Vec<u64> = removed.iter().map(|(k, _)| *k).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), removed.len(), "each heard once: {removed:?}");
    assert!(
        map.get(&trigger).is_some(),
        "the entry it panicked on is kept"
    );
    for k in (1..=6).map(|n| in_shard(0, n)) {
        if !seen.contains(&k) {
            assert_eq!(map.get(&k), Some(k), "not removed, so kept");
        }
    }

    // Another thread holds shard 0's write lock (its store reads the armed clock under it).
    clock.armed.store(true, Ordering::SeqCst);
    let writer = spawn({
        let map = map.clone();
        move || map.insert(in_shard(0, 9), 9)
    });
    wait_until("the writer holds shard 0", || {
        clock.inside.load(Ordering::SeqCst)
    });
    go_tx.send(()).expect("the reader waits");
    // Give the reader time to find the lock taken (a wait either way: it cannot finish).
    std::thread::sleep(Duration::from_millis(100)); // sleep-ok: lets the reader reach the held lock; no assertion on time
    clock.released.store(true, Ordering::SeqCst);
    assert_eq!(ended(&writer), Ok(None));
    assert_eq!(
        ended(&reader),
        Ok(Some(trigger)),
        "the thread that panicked under the lock before waits for another holder, not panics"
    );
}

/// An `expire_after` that uses its own shard panics in the caller whose store ran it: for a
/// memoizing miss, the flight still lands with the value, so its waiter gets it (the README's
/// "a store's waiters still get the value it stored"), and the map is usable; the refused
/// value is not stored.
#[test]
fn an_expire_after_reentrant_panic_in_a_flight_still_hands_its_waiter_the_value() {
    let this = Arc::new(std::sync::OnceLock::<IdMap>::new());
    let lookup = Arc::clone(&this);
    let (k, neighbour) = (in_shard(0, 1), in_shard(0, 2));
    let map: IdMap = TtlMap::builder()
        .ttl(MINUTE)
        .hasher(Id::default())
        .expire_after(move |&key: &u64, _: &u64| {
            if key == k {
                // The same shard as the value being stored.
                let _ = lookup.get().and_then(|m| m.get(&neighbour));
            }
            None
        })
        .build();
    assert!(this.set(map.clone()).is_ok());
    let (led_tx, led_rx) = mpsc::channel::<()>();
    let leader = spawn({
        let map = map.clone();
        move || {
            map.get_or_insert_with(&k, || {
                led_tx.send(()).expect("the test listens");
                wait_until("a waiter joins", || map.stats().coalesced == 1);
                7
            })
        }
    });
    led_rx.recv_timeout(DEADLINE).expect("k is led");
    let waiter = spawn({
        let map = map.clone();
        move || map.get_or_insert_with(&k, || 99)
    });
    assert!(
        is_reentrant_use(&ended(&leader)),
        "the leader's store ran expire_after, which used its own shard"
    );
    assert_eq!(ended(&waiter), Ok(7), "the waiter gets the flight's value");
    assert_eq!(map.get(&k), None, "the store that panicked stored nothing");
    map.insert(neighbour, 2);
    assert_eq!(map.get(&neighbour), Some(2), "the shard is free");
}

// ---------------------------------------------------------------------------------------------
// 3. The backplane's keepalive against a real Redis.
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
