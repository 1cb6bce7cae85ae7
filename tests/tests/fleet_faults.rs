//! The fleet tier's failure rules against a real `redis-server` that the tests kill, freeze,
//! reset and restart: every call returns the right value within a bound, whatever Redis does;
//! a process without Redis builds each key once (its own single flight); values are shared
//! again once Redis is back; a cancelled leader hands over at once; the backplane survives a
//! restart; and Redis never sees a key or a map's name.
//!
//! Each `RedisTier` stands for one process (its own connections, breaker and backplane).
//! Time is real: Redis's clock runs the leases, the breaker's cool-down runs on the machine's.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};
use tests::fleet::{Tap, clients_running, contains, eventually, value_of};
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// The tiers' bound on one Redis operation.
const TIMEOUT: Duration = Duration::from_millis(200);
/// The tiers' lease: a waiter looks again every third of it.
const LEASE: Duration = Duration::from_millis(600);
/// The most any call may take, whatever Redis does. A call makes a few Redis operations of at
/// most `TIMEOUT` each and may wait a third of the lease: about 1 s; the rest is room for a
/// loaded machine.
const BOUND: Duration = Duration::from_secs(3);
/// How long a test lets a call run before it fails it as hung (rather than hang itself).
const HANG: Duration = Duration::from_secs(20);
/// How long a tier may take to share values again once Redis is back: the breaker's
/// cool-down (from 0.5 s, doubling while probes fail) and the reconnection.
const RECOVERY: Duration = Duration::from_secs(15);

/// One process of the fleet: a map on its own tier, and the constructions it ran, by key.
#[derive(Clone)]
struct Process {
    map: Arc<Shared<String, String>>,
    built: Arc<Mutex<HashMap<String, usize>>>,
}

impl Process {
    fn new(server: &RedisServer) -> Process {
        Process::with_tier(
            RedisTier::new(server.url())
                .expect("a Redis URL")
                .namespace("test")
                .timeout(TIMEOUT)
                .lease(LEASE),
        )
    }

    fn with_tier(tier: RedisTier) -> Process {
        let map = TtlMap::<String, String>::builder()
            .ttl(Duration::from_secs(60))
            .name("fleet_faults::map")
            .shared(tier)
            .build();
        Process {
            map: Arc::new(map),
            built: Arc::default(),
        }
    }

    /// How many times this process built `key`.
    fn built(&self, key: &str) -> usize {
        self.built.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    /// Asks for `key`; the call must return its right value within [`BOUND`].
    fn get(&self, key: &str) -> impl Future<Output = ()> + Send + 'static {
        self.get_after(key, None, BOUND)
    }

    /// Asks for `key`; the call must return its right value within `bound`.
    fn get_within(&self, key: &str, bound: Duration) -> impl Future<Output = ()> + Send + 'static {
        self.get_after(key, None, bound)
    }

    /// Asks for `key` with a constructor that waits for `gate` to open; the call must return
    /// the right value within [`BOUND`] of the gate's opening.
    fn get_gated(&self, key: &str, gate: &Arc<Gate>) -> impl Future<Output = ()> + Send + 'static {
        self.get_after(key, Some(Arc::clone(gate)), BOUND)
    }

    fn get_after(
        &self,
        key: &str,
        gate: Option<Arc<Gate>>,
        bound: Duration,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (process, key) = (self.clone(), key.to_owned());
        async move {
            let start = Instant::now();
            let call = process.map.get_or_insert_with_async(&key, async {
                *process
                    .built
                    .lock()
                    .unwrap()
                    .entry(key.clone())
                    .or_default() += 1;
                if let Some(gate) = &gate {
                    gate.enter().await;
                }
                value_of(&key)
            });
            let value = tokio::time::timeout(HANG, call)
                .await
                .unwrap_or_else(|_| panic!("the call for {key} hung"));
            assert_eq!(value, value_of(&key), "a wrong value for {key}");
            let since = match &gate {
                Some(gate) => gate.opened_at().unwrap_or(start),
                None => start,
            };
            let took = since.elapsed();
            assert!(took < bound, "the call for {key} took {took:?}");
        }
    }
}

/// A constructor's gate: it tells when a constructor reached it, and holds it until opened.
struct Gate {
    entered: AtomicUsize,
    open: Semaphore,
    opened_at: Mutex<Option<Instant>>,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            entered: AtomicUsize::new(0),
            open: Semaphore::new(0),
            opened_at: Mutex::new(None),
        }
    }
}

impl Gate {
    async fn enter(&self) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let _ = self.open.acquire().await.expect("never closed");
    }

    fn wait_entered(&self) {
        eventually("a constructor reached the gate", BOUND, || {
            self.entered.load(Ordering::SeqCst) > 0
        });
    }

    fn open(&self) {
        *self.opened_at.lock().unwrap() = Some(Instant::now());
        self.open.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    fn opened_at(&self) -> Option<Instant> {
        *self.opened_at.lock().unwrap()
    }
}

/// Runs `calls` at once on `runtime` and waits for them all (each checks its value and bound).
fn run_all(runtime: &Runtime, calls: Vec<tokio::task::JoinHandle<()>>) {
    runtime.block_on(async {
        for call in calls {
            call.await.expect("no call panics");
        }
    });
}

/// Asks for fresh keys until one that `builder` builds is read from Redis by every reader
/// (none builds it): values are shared again. Every call must still be right and bounded.
fn until_shared(runtime: &Runtime, builder: &Process, readers: &[&Process]) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let start = Instant::now();
    loop {
        let key = format!("probe-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        runtime.block_on(builder.get(&key));
        let shared = readers.iter().all(|reader| {
            runtime.block_on(reader.get(&key));
            reader.built(&key) == 0
        });
        if shared && builder.built(&key) == 1 {
            return;
        }
        assert!(
            start.elapsed() < RECOVERY,
            "values were not shared again within {RECOVERY:?}"
        );
        std::thread::sleep(Duration::from_millis(100)); // sleep-ok: the breaker's cool-down is real time
    }
}

/// Every value in Redis is the right value of some key (a 32-digit header of deadline and
/// birth, then postcard: its length, then its bytes), and no lease is left behind longer than
/// a lease.
fn assert_redis_holds_only_right_values(server: &RedisServer) {
    let keys = server.command(&["KEYS", "test:*"]);
    for key in keys.lines().filter(|key| !key.ends_with(":lease")) {
        let value = server.command(&["GET", key]);
        let (header, value) = value.split_at(32);
        assert!(
            header.bytes().all(|b| b.is_ascii_digit()),
            "{key}: {header:?}"
        );
        let (length, text) = value.split_at(1);
        assert!(
            text.starts_with("value of ") && usize::from(length.as_bytes()[0]) == text.len(),
            "Redis holds a wrong value at {key}: {value:?}"
        );
    }
}

#[test]
fn with_redis_down_each_process_builds_a_key_once_and_sharing_starts_when_it_is_up() {
    let mut server = RedisServer::start();
    server.kill();
    let runtime = two_worker_runtime();
    let (a, b) = (Process::new(&server), Process::new(&server));
    let calls = [&a, &b]
        .into_iter()
        .flat_map(|process| (0..16).map(|_| runtime.spawn(process.get("k"))))
        .collect();
    run_all(&runtime, calls);
    assert_eq!(a.built("k"), 1, "one construction in each process");
    assert_eq!(b.built("k"), 1, "one construction in each process");
    assert!(a.map.tier().is_degraded() && b.map.tier().is_degraded());

    server.restart();
    until_shared(&runtime, &a, &[&b]);
    assert!(!b.map.tier().is_degraded(), "the breaker closed by itself");
    assert_redis_holds_only_right_values(&server);
}

#[test]
fn killing_redis_mid_flight_fails_no_call_and_sharing_comes_back_after_a_restart() {
    let mut server = RedisServer::start();
    let runtime = two_worker_runtime();
    let leader = Process::new(&server);
    let waiters = [Process::new(&server), Process::new(&server)];
    let gate = Arc::new(Gate::default());
    let lead = runtime.spawn(leader.get_gated("k", &gate));
    gate.wait_entered();
    let waiting = waiters
        .iter()
        .flat_map(|process| (0..4).map(|_| runtime.spawn(process.get("k"))))
        .collect();
    // The leader's connection and each waiting process's have run a script (FETCH: wait).
    eventually("the waiting processes asked Redis", BOUND, || {
        clients_running(&server, "evalsha") >= 3
    });
    assert!(waiters.iter().all(|process| process.built("k") == 0));

    server.kill();
    // The waiters give up on the fleet and build here, once per process, within the bound.
    run_all(&runtime, waiting);
    for process in &waiters {
        assert_eq!(process.built("k"), 1, "one local construction per process");
    }
    // The leader's value cannot be written: it still returns it, within the bound.
    gate.open();
    run_all(&runtime, vec![lead]);
    assert_eq!(leader.built("k"), 1);

    // Nothing wrong is cached, while Redis is down and after. (A process may hold nothing: its
    // backplane clears its L1 when it subscribes again, and a flight overlapped by a clear
    // returns its value without keeping it.)
    let check = || {
        for process in waiters.iter().chain([&leader]) {
            let kept = process.map.get("k");
            let right = kept.as_ref().is_none_or(|kept| *kept == value_of("k"));
            assert!(right, "a wrong value is cached: {kept:?}");
        }
    };
    check();
    server.restart();
    check();
    until_shared(&runtime, &leader, &[&waiters[0], &waiters[1]]);
    until_shared(&runtime, &waiters[1], &[&leader, &waiters[0]]);
    assert_redis_holds_only_right_values(&server);
}

#[test]
fn a_frozen_redis_delays_no_call_past_the_bound() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (Process::new(&server), Process::new(&server));
    until_shared(&runtime, &a, &[&b]);
    let gate = Arc::new(Gate::default());
    let lead = runtime.spawn(a.get_gated("k", &gate));
    gate.wait_entered();
    let mut calls: Vec<_> = (0..4).map(|_| runtime.spawn(b.get("k"))).collect();
    eventually("the waiting process asked Redis", BOUND, || {
        clients_running(&server, "evalsha") >= 2
    });

    server.pause();
    // The waiter, and new keys asked by 4 tasks each in both processes while Redis hangs.
    for process in [&a, &b] {
        for key in ["p0", "p1", "p2", "p3"] {
            calls.extend((0..4).map(|_| runtime.spawn(process.get(key))));
        }
    }
    run_all(&runtime, calls);
    assert!(a.map.tier().is_degraded() && b.map.tier().is_degraded());
    for process in [&a, &b] {
        for key in ["p0", "p1", "p2", "p3"] {
            assert_eq!(process.built(key), 1, "one local construction per process");
        }
    }
    assert_eq!(b.built("k"), 1, "the waiter built k itself");
    gate.open();
    run_all(&runtime, vec![lead]);

    server.resume();
    until_shared(&runtime, &a, &[&b]);
    until_shared(&runtime, &b, &[&a]);
    assert_redis_holds_only_right_values(&server);
}

/// A process that starts while Redis hangs waits for its backplane's first subscription once,
/// at most one timeout, then one more for its first read, which opens the breaker: the calls
/// after it skip Redis until it answers again. (Two timeouts, each the bound of one operation;
/// not one per call.)
#[test]
fn a_process_started_against_a_frozen_redis_waits_two_timeouts_once() {
    const LONG: Duration = Duration::from_millis(1500);
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    server.pause();
    let tier = RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("test")
        .timeout(LONG)
        .lease(LEASE);
    let late = Process::with_tier(tier);
    let start = Instant::now();
    run_all(
        &runtime,
        vec![runtime.spawn(late.get_within("first", LONG * 3))],
    );
    let first = start.elapsed();
    // Two timeouts are 3 s; three would be 4.5 s.
    assert!(first < LONG * 5 / 2, "the first call took {first:?}");
    assert!(late.map.tier().is_degraded(), "the breaker opened");
    let start = Instant::now();
    run_all(&runtime, vec![runtime.spawn(late.get("second"))]);
    let second = start.elapsed();
    assert!(second < LONG / 2, "the second call took {second:?}");
    assert_eq!((late.built("first"), late.built("second")), (1, 1));

    server.resume();
    let other = Process::new(&server);
    until_shared(&runtime, &late, &[&other]);
    until_shared(&runtime, &other, &[&late]);
}

/// A read answered `BUSY` (Redis runs a long script; `LOADING` and `MASTERDOWN` are alike) is
/// a failure of Redis, like a timeout: the call builds locally at once and the breaker opens,
/// rather than taking the reply for an absent key and sending `FETCH` to a busy server.
#[test]
fn a_busy_reply_to_a_read_opens_the_breaker() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (Process::new(&server), Process::new(&server));
    until_shared(&runtime, &a, &[&b]);
    server.command(&["CONFIG", "SET", "busy-reply-threshold", "10"]);
    let rejected = |command: &str| {
        let stats = server.command(&["INFO", "commandstats"]);
        let prefix = format!("cmdstat_{command}:");
        let line = stats.lines().find(|line| line.starts_with(&prefix));
        let field = line.and_then(|line| {
            line.split(',')
                .find_map(|field| field.strip_prefix("rejected_calls="))
        });
        field.map_or(0, |n| n.trim().parse::<u64>().expect("a count"))
    };
    let fetches_rejected = rejected("evalsha");
    std::thread::scope(|scope| {
        // Answers with an error once killed.
        scope.spawn(|| server.try_command(&["EVAL", "while true do end", "0"], HANG));
        eventually("Redis answers BUSY", BOUND, || {
            server
                .try_command(&["GET", "x"], BOUND)
                .is_ok_and(|reply| reply.starts_with("(error) BUSY"))
        });
        run_all(&runtime, vec![runtime.spawn(a.get("while-busy"))]);
        server.command(&["SCRIPT", "KILL"]);
    });
    assert!(rejected("getex") > 0, "the read reached the busy server");
    assert_eq!(rejected("evalsha"), fetches_rejected, "no FETCH was sent");
    assert!(a.map.tier().is_degraded(), "the breaker opened");
    assert_eq!(a.built("while-busy"), 1);

    until_shared(&runtime, &a, &[&b]);
}

#[test]
fn reset_connections_fail_no_call() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (Process::new(&server), Process::new(&server));
    until_shared(&runtime, &a, &[&b]);
    let gate = Arc::new(Gate::default());
    let lead = runtime.spawn(a.get_gated("k", &gate));
    gate.wait_entered();
    let waiting = (0..4).map(|_| runtime.spawn(b.get("k"))).collect();
    eventually("the waiting process asked Redis", BOUND, || {
        clients_running(&server, "evalsha") >= 2
    });

    // Every tier connection, the backplane's too, is reset under the flight.
    server.command(&["CLIENT", "KILL", "TYPE", "normal"]);
    server.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    gate.open();
    run_all(&runtime, vec![lead]);
    run_all(&runtime, waiting);
    assert!(b.built("k") <= 1);

    until_shared(&runtime, &a, &[&b]);
    until_shared(&runtime, &b, &[&a]);
    assert_redis_holds_only_right_values(&server);

    // The backplane's listeners subscribed again: an invalidation reaches the other process.
    eventually("both listeners subscribed again", RECOVERY, || {
        clients_running(&server, "subscribe") >= 2
    });
    for key in ["later", "kept"] {
        runtime.block_on(a.get(key));
        runtime.block_on(b.get(key));
        assert!(b.map.contains_key(key));
    }
    runtime
        .block_on(a.map.remove_async("later"))
        .expect("Redis is up");
    eventually("the invalidation reached the other process", BOUND, || {
        !b.map.contains_key("later")
    });
    assert!(b.map.contains_key("kept"), "only the invalidated key went");
}

#[test]
fn a_cancelled_leader_hands_over_at_once() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    // A long lease, and a timeout no loaded machine reaches: the waiter would look again
    // after 3 s (a third of the lease) or take over after 9 s if the lease were not released.
    let tier = || {
        RedisTier::new(server.url())
            .expect("a Redis URL")
            .namespace("test")
            .timeout(Duration::from_secs(2))
            .lease(Duration::from_secs(9))
    };
    let (a, b) = (Process::with_tier(tier()), Process::with_tier(tier()));
    let gate = Arc::new(Gate::default());
    let lead = runtime.spawn(a.get_gated("k", &gate));
    gate.wait_entered();
    let waiting = runtime.spawn(b.get("k"));
    eventually("the waiting process asked Redis", BOUND, || {
        clients_running(&server, "evalsha") >= 2
    });
    assert_eq!(b.built("k"), 0, "b waits for the leader");

    lead.abort();
    let cancelled = Instant::now();
    run_all(&runtime, vec![waiting]);
    let took = cancelled.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the waiter took over {took:?} after the leader was cancelled"
    );
    assert_eq!(b.built("k"), 1, "the waiter took over");
    assert_eq!(
        server.command(&["KEYS", "test:*:lease"]),
        "",
        "no lease is left"
    );
    assert_redis_holds_only_right_values(&server);
}

#[test]
fn the_backplane_subscribes_again_after_redis_restarts() {
    let mut server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (Process::new(&server), Process::new(&server));
    runtime.block_on(a.get("before"));
    runtime.block_on(b.get("before"));
    assert_eq!(b.built("before"), 0, "b read it from Redis");
    // Only a listener that had subscribed clears its L1 when it subscribes again (see
    // fleet_bugs.rs for what a first subscription misses).
    eventually("both listeners subscribed", RECOVERY, || {
        clients_running(&server, "subscribe") >= 2
    });

    server.restart();
    // A listener that subscribes again clears its process's L1: it may have missed
    // invalidations. That tells when both have.
    eventually("both listeners subscribed again", RECOVERY, || {
        !a.map.contains_key("before") && !b.map.contains_key("before")
    });
    until_shared(&runtime, &a, &[&b]);
    for key in ["gone", "kept"] {
        runtime.block_on(a.get(key));
        runtime.block_on(b.get(key));
        assert!(b.map.contains_key(key));
    }
    runtime
        .block_on(a.map.remove_async("gone"))
        .expect("Redis is up");
    eventually("the invalidation reached the other process", BOUND, || {
        !b.map.contains_key("gone")
    });
    assert!(
        b.map.contains_key("kept"),
        "only the invalidated key went (not another clear)"
    );
}

/// Every key in Redis and every value, one a line, each line starting with `what`.
fn contents(server: &RedisServer, what: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let keys = server.command(&["KEYS", "*"]);
    for key in keys.lines().filter(|key| !key.is_empty()) {
        seen.push(format!("{what}: key {key}"));
        if !key.ends_with(":lease") {
            seen.push(format!("{what}: value {}", server.command(&["GET", key])));
        }
    }
    seen
}

#[test]
fn redis_never_sees_a_key_or_a_map_name() {
    const KEY: &str = "sk-live-SECRET-4f9c2e";
    const OTHER: &str = "sk-live-SECRET-other";
    const VALUE: &str = "opaque value 42";
    const NAME: &str = "fleet_faults::secret_map_name";
    let server = RedisServer::start();
    let monitor = Tap::monitor(&server);
    let events = Tap::subscribe(&server, "test:1:events");
    let runtime = two_worker_runtime();
    let map = || {
        let tier = RedisTier::new(server.url())
            .expect("a Redis URL")
            .namespace("test")
            .lease(Duration::from_secs(2));
        Arc::new(
            TtlMap::<String, String>::builder()
                .ttl(Duration::from_secs(60))
                .name(NAME)
                .shared(tier)
                .build(),
        )
    };
    let (a, b) = (map(), map());
    let mut seen = Vec::new();
    // A flight: the lease while the leader builds, then the value.
    let gate = Arc::new(Gate::default());
    let lead = {
        let (a, gate) = (Arc::clone(&a), Arc::clone(&gate));
        runtime.spawn(async move {
            a.get_or_insert_with_async(KEY, async {
                gate.enter().await;
                VALUE.to_owned()
            })
            .await
        })
    };
    gate.wait_entered();
    seen.extend(contents(&server, "building"));
    assert!(seen.iter().any(|line| line.ends_with(":lease")), "{seen:?}");
    gate.open();
    assert_eq!(runtime.block_on(lead).unwrap(), VALUE);
    seen.extend(contents(&server, "built"));
    let read = runtime.block_on(b.get_or_insert_with_async(KEY, async { unreachable!() }));
    assert_eq!(read, VALUE);
    // Invalidations of a key (both ways) and of the map.
    runtime.block_on(a.remove_async(KEY)).expect("Redis is up");
    eventually("the invalidation arrived", BOUND, || !b.contains_key(KEY));
    runtime.block_on(a.get_or_insert_with_async(KEY, async { VALUE.to_owned() }));
    a.remove(KEY);
    eventually("the removal reached Redis", BOUND, || {
        server.command(&["DBSIZE"]) == "0"
    });
    runtime.block_on(a.get_or_insert_with_async(OTHER, async { VALUE.to_owned() }));
    seen.extend(contents(&server, "other"));
    runtime.block_on(a.clear_async()).expect("Redis is up");

    let commands = monitor.stop(&server);
    let messages = events.stop(&server);
    for secret in ["sk-live", "SECRET", "secret_map", "fleet_faults"] {
        let found: Vec<_> = seen.iter().filter(|line| line.contains(secret)).collect();
        assert!(found.is_empty(), "Redis holds {secret:?}: {found:?}");
        assert!(
            !contains(&commands, secret.as_bytes()),
            "a command sent to Redis carries {secret:?}:\n{}",
            String::from_utf8_lossy(&commands)
        );
        assert!(
            !contains(&messages, secret.as_bytes()),
            "a backplane message carries {secret:?}:\n{}",
            String::from_utf8_lossy(&messages)
        );
    }
    // The taps saw what they should: values, and the messages of a landing (`d` + digest), a
    // removal (`i` + tag + digest) and a clear (`c` + tag).
    assert!(
        contains(&commands, VALUE.as_bytes()),
        "the monitor saw the value"
    );
    for (what, header) in [
        ("landed", &b"$17\r\nd"[..]),
        ("removed", b"$25\r\ni"),
        ("cleared", b"$9\r\nc"),
    ] {
        assert!(
            contains(&messages, header),
            "no {what} message was seen:\n{}",
            String::from_utf8_lossy(&messages)
        );
    }
}
