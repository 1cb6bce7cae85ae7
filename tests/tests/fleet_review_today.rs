//! An adversarial review of the fleet tier's commits of 2026-11-29 (`cache-core/src/redis`),
//! against a real `redis-server`:
//!
//! - 4034336, reads and `FETCH` polled in the caller's task: callers that go away mid-`FETCH`
//!   wherever they run (a hand-rolled executor, a current-thread runtime dropped, a
//!   multi-thread runtime shut down) leave no lease; calls from executors without Tokio's
//!   drivers stay bounded while Redis hangs, even when the first connection is driven from
//!   such a caller's poll, and that connection recovers;
//! - f884cf6, no response timeout of redis-rs's own: after timeouts mid-response (SIGSTOP /
//!   SIGCONT cycles), no late reply is ever read as another request's answer, on any of the
//!   three read shapes (`GET`+`PTTL`, `GETEX`, `FETCH`), and the connection recovers;
//! - 48bed8a, keys streamed into the hash: the names are the old ones (a buffer, then the
//!   hash), for several key types and lookup forms, and distinct keys get distinct names;
//! - 68a37ab, `refresh_after` from a value's birth in Redis: a value of a huge age is due a
//!   floor after its arrival (not at once, no overflow), a refresh storm across processes
//!   rebuilds once, and an invalidation with the 32-bit L1 digest drops only the entries of its
//!   32 bits (a collision refetches the right value).
//!
//! Each `RedisTier` stands for one process. L1 time is a `ManualClock` where Redis's own clock
//! does not matter; real sleeps are annotated.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_core::redis::{RedisTier, Shared};
use cache_core::{ManualClock, TtlMap, TupleRef};
use serde::Serialize;
use tests::fleet::{eventually, let_redis_time_reach, value_of};
use tests::redis_server::RedisServer;
use tests::{poll_for, two_worker_runtime};

/// The secret every tier of these tests shares, so that the tests can name Redis keys too.
const SECRET: [u8; 32] = [42; 32];
/// The namespace of every tier of these tests.
const NAMESPACE: &str = "today";
/// How long a test lets anything run before it fails it as hung (rather than hang itself).
const HANG: Duration = Duration::from_secs(20);
/// How long a tier may take to share values again once Redis is back: the breaker's
/// cool-down (from 0.5 s, doubling while probes fail) and the reconnection.
const RECOVERY: Duration = Duration::from_secs(15);
/// What a loaded 2-core machine may add to a bound.
const SLACK: Duration = Duration::from_millis(700);

fn tier(server: &RedisServer, timeout: Duration, lease: Duration) -> RedisTier {
    RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace(NAMESPACE)
        .secret(SECRET)
        .timeout(timeout)
        .lease(lease)
}

/// How a map reads Redis.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `GET` and `PTTL` in one pipeline (two replies for one request).
    Fixed,
    /// One `GETEX`.
    Sliding,
    /// The `FETCH` script (a hard limit skips the plain read).
    Script,
}

fn shaped(tier: RedisTier, name: &'static str, shape: Shape) -> Shared<String, String> {
    let builder = TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .name(name);
    let builder = match shape {
        Shape::Fixed => builder.expiry(cache_core::Expiry::Fixed),
        Shape::Sliding => builder,
        Shape::Script => builder.max_lifetime(Duration::from_secs(600)),
    };
    builder.shared(tier).build()
}

/// Polls a future to completion on this thread with no executor around it (no Tokio context,
/// no drivers); panics if it takes longer than [`HANG`].
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = Box::pin(future);
    let start = Instant::now();
    loop {
        if let Some(output) = poll_for(future.as_mut(), Duration::from_millis(50)) {
            return output;
        }
        assert!(start.elapsed() < HANG, "the future never finished");
    }
}

/// The keys holding leases (none should outlive a call that is gone).
fn leases(server: &RedisServer) -> String {
    server.command(&["KEYS", &format!("{NAMESPACE}:*:lease")])
}

/// How many scripts (`EVALSHA`) the server has run.
fn scripts_run(server: &RedisServer) -> u64 {
    let stats = server.command(&["INFO", "commandstats"]);
    let line = stats
        .lines()
        .find(|line| line.starts_with("cmdstat_evalsha:"));
    line.and_then(|line| line.split("calls=").nth(1))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().expect("a count"))
}

// ---------------------------------------------------------------------------------------------
// f884cf6: no response timeout of redis-rs's own. Late replies must never answer other requests.
// ---------------------------------------------------------------------------------------------

/// Freezes the server for a pseudo-random 42-101 ms (around the readers' 40 ms timeout, so
/// that at each SIGCONT the connection holds replies owed to timed-out requests and to live
/// ones), then lets it run 450-650 ms (the breaker closes again), until `stop`.
fn freeze_cycles(server: &RedisServer, stop: &AtomicBool) -> usize {
    let (mut seed, mut cycles) = (0x2545_f491_4f6c_dd1d_u64, 0);
    let mut next = |range: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % range
    };
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(450 + next(200))); // sleep-ok: Redis runs, the breakers close
        server.pause();
        std::thread::sleep(Duration::from_millis(42 + next(60))); // sleep-ok: Redis hangs across timeouts
        server.resume();
        cycles += 1;
    }
    cycles
}

/// Reads many keys from several processes, over and over, while Redis freezes and thaws
/// around the readers' timeout: every value a call returns is its own key's (a late reply read
/// as the answer of a later request would give another key's value, or garbage), both paths
/// (Redis, and local builds after timeouts) are taken, and every reader shares again after.
fn late_replies_never_answer_other_requests(shape: Shape) {
    const KEYS: usize = 40;
    const READERS: usize = 3;
    const STORM: Duration = Duration::from_secs(4);
    let name = match shape {
        Shape::Fixed => "today::late::fixed",
        Shape::Sliding => "today::late::sliding",
        Shape::Script => "today::late::script",
    };
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("key-{i}")).collect());
    let writer = shaped(
        tier(&server, Duration::from_secs(2), Duration::from_secs(3)),
        name,
        shape,
    );
    runtime.block_on(async {
        for key in keys.iter() {
            writer
                .get_or_insert_with_async(key, async { value_of(key) })
                .await;
        }
    });
    let readers: Vec<RedisTier> = (0..READERS)
        .map(|_| tier(&server, Duration::from_millis(40), Duration::from_secs(3)))
        .collect();
    let wrong = Arc::new(Mutex::new(Vec::<String>::new()));
    let (mut from_redis, mut built_locally) = (0, 0);

    let stop = AtomicBool::new(false);
    let cycles = std::thread::scope(|scope| {
        let freezer = scope.spawn(|| freeze_cycles(&server, &stop));
        let start = Instant::now();
        while start.elapsed() < STORM {
            // Fresh maps on the same tiers: empty L1s, the same connections.
            let maps: Vec<Arc<Shared<String, String>>> = readers
                .iter()
                .map(|tier| Arc::new(shaped(tier.clone(), name, shape)))
                .collect();
            let mut calls = Vec::new();
            for map in &maps {
                for i in 0..KEYS {
                    let (map, keys, wrong) =
                        (Arc::clone(map), Arc::clone(&keys), Arc::clone(&wrong));
                    calls.push(runtime.spawn(async move {
                        let key = &keys[i];
                        let call = map.get_or_insert_with_async(key, async { value_of(key) });
                        let value = tokio::time::timeout(HANG, call).await.expect("a call hung");
                        if value != value_of(key) {
                            wrong.lock().unwrap().push(format!("{key} -> {value:?}"));
                        }
                    }));
                }
            }
            for call in calls {
                runtime.block_on(call).expect("no call panics");
            }
            for map in &maps {
                let stats = map.fleet_stats();
                from_redis += stats.from_redis;
                built_locally += stats.built_locally;
            }
        }
        stop.store(true, Ordering::Release);
        freezer.join().expect("the freezer does not panic")
    });

    eprintln!("{shape:?}: {cycles} freezes, {from_redis} reads from Redis, {built_locally} local");
    let wrong = wrong.lock().unwrap();
    assert!(
        wrong.is_empty(),
        "{shape:?}: {} calls got another request's reply, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(cycles >= 3, "only {cycles} freezes");
    assert!(
        from_redis > 0 && built_locally > 0,
        "{shape:?}: the storm took one path only ({from_redis} from Redis, {built_locally} built \
         locally)"
    );
    // Every reader's connection is healthy again: a fresh map reads every key from Redis.
    for (i, tier) in readers.iter().enumerate() {
        eventually(
            &format!("reader {i} reads every key from Redis"),
            RECOVERY,
            || {
                let map = shaped(tier.clone(), name, shape);
                runtime.block_on(async {
                    for key in keys.iter() {
                        let value = map.get_or_insert_with_async(key, async { value_of(key) });
                        assert_eq!(value.await, value_of(key));
                    }
                });
                map.fleet_stats().from_redis == KEYS as u64
            },
        );
    }
}

#[test]
fn late_replies_never_answer_other_requests_get_and_pttl() {
    late_replies_never_answer_other_requests(Shape::Fixed);
}

#[test]
fn late_replies_never_answer_other_requests_getex() {
    late_replies_never_answer_other_requests(Shape::Sliding);
}

#[test]
fn late_replies_never_answer_other_requests_fetch() {
    late_replies_never_answer_other_requests(Shape::Script);
}

// ---------------------------------------------------------------------------------------------
// 4034336: reads and FETCH polled in the caller's task.
// ---------------------------------------------------------------------------------------------

/// How a caller goes away while its `FETCH` is in flight.
#[derive(Debug, Clone, Copy)]
enum Gone {
    /// Polled by a hand-rolled executor (no Tokio), then dropped on a plain thread.
    HandRolledDropped,
    /// A task of a current-thread runtime without drivers, dropped with the runtime.
    CurrentThreadRuntimeDropped,
    /// A task of a multi-thread runtime that is shut down.
    MultiThreadRuntimeShutDown,
}

/// A caller that goes away mid-`FETCH`, wherever it runs, leaves no lease behind: the
/// `FETCH` runs once Redis wakes (it was on the socket), and the release follows it. The
/// cancelled operation counts as neither a failure nor a success, and the caller's tier
/// reads the key that another process then builds promptly.
#[test]
fn a_call_gone_mid_fetch_wherever_it_ran_leaves_no_lease() {
    // Long enough that waiting it out is told from a release (a waiter looks again at 1.5 s).
    const LEASE: Duration = Duration::from_millis(4500);
    const PROMPT: Duration = Duration::from_millis(1200);
    let server = RedisServer::start();
    for gone in [
        Gone::HandRolledDropped,
        Gone::CurrentThreadRuntimeDropped,
        Gone::MultiThreadRuntimeShutDown,
    ] {
        // A timeout no test reaches: the call goes away, it does not time out.
        let caller = Arc::new(shaped(
            tier(&server, Duration::from_secs(5), LEASE),
            "today::gone",
            Shape::Script,
        ));
        block_on(caller.get_or_insert_with_async("warm", async { value_of("warm") }));
        let key = format!("k-{gone:?}");
        let scripts_before = scripts_run(&server);

        server.pause();
        let call = {
            let (caller, key) = (Arc::clone(&caller), key.clone());
            async move {
                caller
                    .get_or_insert_with_async(&key, async { value_of(&key) })
                    .await
            }
        };
        match gone {
            Gone::HandRolledDropped => {
                let mut call = Box::pin(call);
                // sleep-ok (in poll_for): the FETCH reaches the frozen server's socket
                let done = poll_for(call.as_mut(), Duration::from_millis(200));
                assert!(done.is_none(), "Redis is frozen: the call cannot be done");
                drop(call);
            }
            Gone::CurrentThreadRuntimeDropped => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a runtime");
                let task = runtime.spawn(call);
                runtime.block_on(async {
                    for _ in 0..20 {
                        tokio::task::yield_now().await;
                    }
                });
                std::thread::sleep(Duration::from_millis(200)); // sleep-ok: the FETCH reaches the frozen server's socket
                assert!(!task.is_finished());
                drop(runtime);
            }
            Gone::MultiThreadRuntimeShutDown => {
                let runtime = two_worker_runtime();
                let task = runtime.spawn(call);
                std::thread::sleep(Duration::from_millis(200)); // sleep-ok: the FETCH reaches the frozen server's socket
                assert!(!task.is_finished());
                runtime.shutdown_timeout(Duration::from_secs(1));
            }
        }
        server.resume();

        eventually(
            &format!("{gone:?}: the FETCH and its release ran"),
            Duration::from_secs(5),
            || scripts_run(&server) >= scripts_before + 2,
        );
        eventually(
            &format!("{gone:?}: no lease is left"),
            Duration::from_secs(2),
            || leases(&server).is_empty(),
        );
        let other = shaped(
            tier(&server, Duration::from_secs(2), LEASE),
            "today::gone",
            Shape::Script,
        );
        let start = Instant::now();
        let built = block_on(other.get_or_insert_with_async(&key, async { value_of(&key) }));
        let took = start.elapsed();
        assert_eq!(built, value_of(&key));
        assert!(
            took < PROMPT,
            "{gone:?}: another process waited {took:?} for a lease nobody holds"
        );
        assert_eq!(other.fleet_stats().led, 1, "{gone:?}");
        assert!(
            !caller.tier().is_degraded(),
            "{gone:?}: a call that went away counted as a failure"
        );
        let read = block_on(caller.get_or_insert_with_async(&key, async { unreachable!() }));
        assert_eq!(read, value_of(&key));
    }
}

/// How a caller runs.
#[derive(Debug, Clone, Copy)]
enum Executor {
    /// A hand-rolled `block_on`: no Tokio context at all.
    HandRolled,
    /// A current-thread runtime without drivers (no time, no I/O), made for the call.
    BareCurrentThread,
}

fn run_on<T>(executor: Executor, call: impl Future<Output = T>) -> T {
    match executor {
        Executor::HandRolled => block_on(call),
        Executor::BareCurrentThread => tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(call),
    }
}

/// While Redis hangs, calls from executors without Tokio's drivers return the right value
/// within the tier's timeout (twice for a process's first call, which also waits for its
/// backplane's first subscription), on the plain read and on `FETCH`, including a tier whose
/// first connection is attempted from such a caller's poll; once Redis is back, every tier
/// (that one too) shares values again.
#[test]
fn calls_from_executors_without_drivers_are_bounded_while_redis_hangs_and_recover() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let server = RedisServer::start();
    let lease = Duration::from_secs(3);
    let name = "today::bounded";
    let runtime = two_worker_runtime();
    for executor in [Executor::HandRolled, Executor::BareCurrentThread] {
        // Warm: connected and subscribed before the freeze.
        let warm = [Shape::Fixed, Shape::Sliding, Shape::Script]
            .map(|shape| shaped(tier(&server, TIMEOUT, lease), name, shape));
        for map in &warm {
            run_on(
                executor,
                map.get_or_insert_with_async("warm", async { value_of("warm") }),
            );
        }
        // Cold: never used; its first connection is attempted while Redis hangs, from a
        // caller's poll.
        let cold = [Shape::Fixed, Shape::Script]
            .map(|shape| shaped(tier(&server, TIMEOUT, lease), name, shape));

        server.pause();
        let check = |map: &Shared<String, String>, key: &str, bound: Duration| {
            let start = Instant::now();
            let value = run_on(
                executor,
                map.get_or_insert_with_async(key, async { value_of(key) }),
            );
            let took = start.elapsed();
            assert_eq!(value, value_of(key), "{executor:?}");
            assert!(
                took < bound,
                "{executor:?}: a call took {took:?} while Redis hung (bound {bound:?})"
            );
        };
        for (i, map) in warm.iter().enumerate() {
            check(map, &format!("frozen-{i}"), TIMEOUT + SLACK);
            assert!(map.tier().is_degraded(), "{executor:?}: the breaker opened");
            // The breaker is open: at once.
            check(map, &format!("again-{i}"), SLACK);
        }
        for (i, map) in cold.iter().enumerate() {
            check(map, &format!("cold-{i}"), TIMEOUT * 2 + SLACK);
        }
        server.resume();

        // Each process shares again: a key one builds, the others read from Redis.
        let all: Vec<&Shared<String, String>> = warm.iter().chain(cold.iter()).collect();
        for (i, reader) in all.iter().enumerate() {
            let mut round = 0;
            eventually(
                &format!("{executor:?}: tier {i} reads from Redis again"),
                RECOVERY,
                || {
                    round += 1;
                    let key = format!("back-{i}-{round}");
                    let writer = shaped(
                        tier(&server, Duration::from_secs(2), lease),
                        name,
                        Shape::Fixed,
                    );
                    runtime
                        .block_on(writer.get_or_insert_with_async(&key, async { value_of(&key) }));
                    let mut built = false;
                    let value = run_on(
                        executor,
                        reader.get_or_insert_with_async(&key, async {
                            built = true;
                            value_of(&key)
                        }),
                    );
                    assert_eq!(value, value_of(&key));
                    !built
                },
            );
        }
        server.command(&["FLUSHALL"]);
    }
}

// ---------------------------------------------------------------------------------------------
// 48bed8a: keys streamed into the hash.
// ---------------------------------------------------------------------------------------------

/// The tag of a map, computed here as the tier does.
fn map_tag(name: &str, types: &str) -> u64 {
    let mut hasher = blake3::Hasher::new_keyed(&SECRET);
    hasher.update(b"map\0");
    hasher.update(name.as_bytes());
    hasher.update(b"\0");
    hasher.update(types.as_bytes());
    u64::from_le_bytes(
        hasher.finalize().as_bytes()[..8]
            .try_into()
            .expect("8 bytes"),
    )
}

/// A key's digest as the code before 48bed8a computed it: its postcard bytes in a buffer,
/// then the keyed hash of the tag and the buffer.
fn old_digest<K: Serialize + ?Sized>(tag: u64, key: &K) -> [u8; 16] {
    let bytes = postcard::to_allocvec(key).expect("a key that serializes");
    let mut hasher = blake3::Hasher::new_keyed(&SECRET);
    hasher.update(b"key\0");
    hasher.update(&tag.to_le_bytes());
    hasher.update(&bytes);
    hasher.finalize().as_bytes()[..16]
        .try_into()
        .expect("16 bytes")
}

/// The Redis key of `key` in the map named `name` of key and value types `(K, V)`, as the
/// code before 48bed8a named it.
fn old_name<K: Serialize, V>(name: &str, key: &K) -> String {
    let tag = map_tag(name, std::any::type_name::<(K, V)>());
    let hex: String = old_digest(tag, key)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{NAMESPACE}:1:{tag:016x}:{{{hex}}}")
}

fn exists(server: &RedisServer, key: &str) -> bool {
    server.command(&["EXISTS", key]) == "1"
}

fn keyed<K, V>(server: &RedisServer, name: &'static str) -> Shared<K, V>
where
    K: std::hash::Hash + Eq + Serialize + Send + Sync + 'static,
    V: Clone + Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    TtlMap::<K, V>::builder()
        .ttl(Duration::from_secs(60))
        .name(name)
        .shared(tier(server, Duration::from_secs(2), Duration::from_secs(3)))
        .build()
}

/// Every key type, and every lookup form of it, is stored under the name the code before
/// 48bed8a gave it (so processes on old and new code share values), and is read back by
/// another process through another lookup form.
#[test]
fn keys_are_named_as_before_for_every_key_type_and_lookup_form() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    runtime.block_on(async {
        // String keys, looked up as &str, &String and a String built elsewhere.
        let (a, b) = (
            keyed::<String, u32>(&server, "today::names::string"),
            keyed::<String, u32>(&server, "today::names::string"),
        );
        for (i, key) in ["", "sk-secret", "ключ", &"x".repeat(300)]
            .iter()
            .enumerate()
        {
            let value = u32::try_from(i).expect("small");
            a.get_or_insert_with_async(*key, async move { value }).await;
            let name = old_name::<String, u32>("today::names::string", &key.to_string());
            assert!(
                exists(&server, &name),
                "String key {key:?} is not at {name}"
            );
            let owned: String = (*key).to_owned();
            let read = b.get_or_insert_with_async(&owned, async { unreachable!() });
            assert_eq!(read.await, value);
        }

        // u64 keys (postcard varints: one byte up to 127, ten at the top).
        let (a, b) = (
            keyed::<u64, String>(&server, "today::names::u64"),
            keyed::<u64, String>(&server, "today::names::u64"),
        );
        for key in [0u64, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            a.get_or_insert_with_async(&key, async move { key.to_string() })
                .await;
            let name = old_name::<u64, String>("today::names::u64", &key);
            assert!(exists(&server, &name), "u64 key {key} is not at {name}");
            let read = b.get_or_insert_with_async(&key, async { unreachable!() });
            assert_eq!(read.await, key.to_string());
        }

        // Vec<u8> keys, looked up as slices.
        let (a, b) = (
            keyed::<Vec<u8>, String>(&server, "today::names::bytes"),
            keyed::<Vec<u8>, String>(&server, "today::names::bytes"),
        );
        for key in [vec![], vec![0u8], vec![1, 2, 3], vec![0xff; 200]] {
            a.get_or_insert_with_async(key.as_slice(), async { format!("{key:?}") })
                .await;
            let name = old_name::<Vec<u8>, String>("today::names::bytes", &key);
            assert!(
                exists(&server, &name),
                "Vec<u8> key {key:?} is not at {name}"
            );
            let read = b.get_or_insert_with_async(&key, async { unreachable!() });
            assert_eq!(read.await, format!("{key:?}"));
        }

        // Tuple keys, looked up as a tuple of borrowed parts (TupleRef) and as an owned tuple.
        let (a, b) = (
            keyed::<(String, u32), String>(&server, "today::names::tuple"),
            keyed::<(String, u32), String>(&server, "today::names::tuple"),
        );
        for (text, n) in [("ab", 1u32), ("a", 98), ("", 0), ("tenant-7", u32::MAX)] {
            let value = format!("{text}/{n}");
            a.get_or_insert_with_async(&TupleRef((text, &n)), async { value.clone() })
                .await;
            let name =
                old_name::<(String, u32), String>("today::names::tuple", &(text.to_owned(), n));
            assert!(
                exists(&server, &name),
                "tuple key ({text:?}, {n}) is not at {name}"
            );
            let owned = (text.to_owned(), n);
            let read = b.get_or_insert_with_async(&owned, async { unreachable!() });
            assert_eq!(read.await, value);
        }
    });
}

/// Keys that a careless encoding would confuse (tuples splitting one string differently,
/// byte strings that concatenate alike, numbers and their varints, prefixes) get distinct
/// names: as many value keys in Redis as keys, each read back as its own value.
#[test]
fn distinct_keys_get_distinct_names() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (
        keyed::<(String, Vec<u8>), String>(&server, "today::distinct"),
        keyed::<(String, Vec<u8>), String>(&server, "today::distinct"),
    );
    let mut keys = Vec::new();
    for text in ["", "a", "ab", "abc", "\u{0}", "\u{1}a", "b"] {
        for bytes in [
            vec![],
            vec![0u8],
            vec![1],
            vec![0, 0],
            vec![b'a'],
            vec![b'b', b'c'],
            vec![1, b'a'],
            vec![0x80, 0x01],
        ] {
            keys.push((text.to_owned(), bytes));
        }
    }
    for i in 0..400u32 {
        keys.push((i.to_string(), i.to_le_bytes().to_vec()));
    }
    let describe = |key: &(String, Vec<u8>)| format!("{:?}/{:?}", key.0, key.1);
    runtime.block_on(async {
        for key in &keys {
            a.get_or_insert_with_async(key, async { describe(key) })
                .await;
        }
        for key in &keys {
            let read = b.get_or_insert_with_async(key, async { unreachable!() });
            assert_eq!(read.await, describe(key));
        }
    });
    let stored = server.command(&["KEYS", &format!("{NAMESPACE}:*")]);
    let values = stored
        .lines()
        .filter(|key| !key.ends_with(":lease"))
        .count();
    assert_eq!(values, keys.len(), "one Redis key per cache key");
}

// ---------------------------------------------------------------------------------------------
// 68a37ab: refresh_after from a value's birth in Redis; 32 bits of digest in L1.
// ---------------------------------------------------------------------------------------------

/// The value's bytes as the tier stores them: a header of a deadline (0: none) and a birth,
/// in Redis's milliseconds, 16 digits each, then postcard.
fn stored_bytes(born_ms: u64, value: &str) -> Vec<u8> {
    let mut bytes = format!("{:016}{born_ms:016}", 0).into_bytes();
    bytes.extend(postcard::to_allocvec(value).expect("a string serializes"));
    bytes
}

/// Writes `bytes` at `key` with a TTL, as the raw bytes they are.
fn set_raw(server: &RedisServer, key: &str, bytes: &[u8]) {
    // The harness sends text; the header and a short postcard string are ASCII.
    let text = std::str::from_utf8(bytes).expect("ASCII bytes");
    assert_eq!(server.command(&["SET", key, text, "PX", "60000"]), "OK");
}

/// A value whose birth in Redis is long past (an epoch ago: its age saturates every counter)
/// arrives due, but is refreshed only a floor after its arrival, not at once and without
/// overflow; the refresh rebuilds it (Redis finds it due too). `refresh_after(Duration::MAX)`
/// shares values and never refreshes them.
#[test]
fn a_value_of_a_huge_age_is_refreshed_a_floor_after_its_arrival() {
    const REFRESH: Duration = Duration::from_millis(400);
    // min(lease / 3, REFRESH / 4)
    const FLOOR: Duration = Duration::from_millis(100);
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let clock = ManualClock::new();
    let map = |refresh: Duration| {
        TtlMap::<String, String>::builder()
            .ttl(Duration::from_secs(60))
            .refresh_after(refresh)
            .clock(clock.clone())
            .name("today::aged")
            .shared(tier(
                &server,
                Duration::from_secs(2),
                Duration::from_secs(6),
            ))
            .build()
    };
    let b = map(REFRESH);
    for (key, born) in [("ancient", 1), ("epoch", 0)] {
        let name = old_name::<String, String>("today::aged", &key.to_owned());
        set_raw(&server, &name, &stored_bytes(born, "old"));
        let read = runtime.block_on(b.get_or_insert_with_async(key, async { unreachable!() }));
        assert_eq!(read, "old", "{key}: read from Redis");
    }
    assert_eq!(b.fleet_stats().from_redis, 2);
    clock.advance(FLOOR - Duration::from_millis(1));
    for key in ["ancient", "epoch"] {
        let read = runtime.block_on(b.get_or_insert_with_async(key, async { unreachable!() }));
        assert_eq!(read, "old", "{key}: refreshed before the floor");
    }
    assert_eq!(b.fleet_stats().from_redis, 2, "a FETCH before the floor");
    clock.advance(Duration::from_millis(1));
    for key in ["ancient", "epoch"] {
        let read = runtime.block_on(b.get_or_insert_with_async(key, async { "new".to_owned() }));
        assert_eq!(
            read, "new",
            "{key}: not refreshed a floor after its arrival"
        );
    }
    assert_eq!((b.fleet_stats().led, b.stats().refreshes), (2, 2));

    // A refresh_after no value reaches.
    let never = map(Duration::MAX);
    let name = old_name::<String, String>("today::aged", &"forever".to_owned());
    set_raw(&server, &name, &stored_bytes(1, "kept"));
    let read =
        runtime.block_on(never.get_or_insert_with_async("forever", async { unreachable!() }));
    assert_eq!(read, "kept");
    clock.advance(Duration::from_secs(30));
    let read =
        runtime.block_on(never.get_or_insert_with_async("forever", async { unreachable!() }));
    assert_eq!(read, "kept");
    assert_eq!(never.fleet_stats().from_redis, 1);
}

/// A value born "in the future" (Redis's clock was stepped back since, say after a failover to
/// a node whose clock is behind) has no age to go by: its first refresh rebuilds it, instead
/// of Redis handing it back as fresh until its birth comes round.
#[test]
fn a_value_born_after_redis_now_is_rebuilt_by_its_first_refresh() {
    const REFRESH: Duration = Duration::from_millis(400);
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let clock = ManualClock::new();
    let map = TtlMap::<String, String>::builder()
        .ttl(Duration::from_secs(60))
        .refresh_after(REFRESH)
        .clock(clock.clone())
        .name("today::future")
        .shared(tier(
            &server,
            Duration::from_secs(2),
            Duration::from_secs(6),
        ))
        .build();
    let an_hour_ahead = std::time::SystemTime::now() + Duration::from_secs(3600);
    let born = an_hour_ahead
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    let name = old_name::<String, String>("today::future", &"k".to_owned());
    set_raw(&server, &name, &stored_bytes(born, "old"));
    let read = runtime.block_on(map.get_or_insert_with_async("k", async { unreachable!() }));
    assert_eq!(read, "old", "read from Redis");
    // Its age reads as 0: due a whole `refresh_after` after its arrival.
    clock.advance(REFRESH);
    let read = runtime.block_on(map.get_or_insert_with_async("k", async { "new".to_owned() }));
    assert_eq!(read, "new", "Redis handed the value back as fresh");
    assert_eq!((map.fleet_stats().led, map.stats().refreshes), (1, 1));
}

/// Four processes find a value due for its refresh at once, with several callers each: the
/// fleet rebuilds it once; every call gets the old value or the new one, and every process
/// has the new one within a floor of its landing.
#[test]
fn a_refresh_storm_across_processes_rebuilds_once() {
    const REFRESH: Duration = Duration::from_millis(400);
    const FLOOR: Duration = Duration::from_millis(100);
    const PROCESSES: usize = 4;
    const CALLERS: usize = 8;
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let clocks: Vec<ManualClock> = (0..PROCESSES).map(|_| ManualClock::new()).collect();
    let maps: Vec<Arc<Shared<String, String>>> = clocks
        .iter()
        .map(|clock| {
            Arc::new(
                TtlMap::<String, String>::builder()
                    .ttl(Duration::from_secs(60))
                    .refresh_after(REFRESH)
                    .clock(clock.clone())
                    .name("today::storm")
                    .shared(tier(
                        &server,
                        Duration::from_secs(2),
                        Duration::from_secs(6),
                    ))
                    .build(),
            )
        })
        .collect();
    runtime.block_on(maps[0].get_or_insert_with_async("rate", async { "v1".to_owned() }));
    for map in &maps[1..] {
        let read = runtime.block_on(map.get_or_insert_with_async("rate", async { unreachable!() }));
        assert_eq!(read, "v1");
    }
    let born = Instant::now();
    let_redis_time_reach(born + REFRESH + Duration::from_millis(100));
    for clock in &clocks {
        clock.advance(REFRESH);
    }

    let rebuilds = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = maps
        .iter()
        .flat_map(|map| (0..CALLERS).map(move |_| Arc::clone(map)))
        .map(|map| {
            let rebuilds = Arc::clone(&rebuilds);
            runtime.spawn(async move {
                let call = map.get_or_insert_with_async("rate", async move {
                    rebuilds.fetch_add(1, Ordering::SeqCst);
                    // The rebuild takes a while: the other processes' refreshes meet its lease.
                    tokio::time::sleep(Duration::from_millis(300)).await; // sleep-ok: a slow rebuild
                    "v2".to_owned()
                });
                tokio::time::timeout(HANG, call).await.expect("a call hung")
            })
        })
        .collect();
    for call in calls {
        let value = runtime.block_on(call).expect("no call panics");
        assert!(value == "v1" || value == "v2", "{value:?}");
    }
    assert_eq!(
        rebuilds.load(Ordering::SeqCst),
        1,
        "the fleet rebuilt one due value more than once"
    );
    eventually("the new value landed in Redis", HANG, || {
        let name = old_name::<String, String>("today::storm", &"rate".to_owned());
        server.command(&["GET", &name]).ends_with("v2")
    });
    for (map, clock) in maps.iter().zip(&clocks) {
        clock.advance(FLOOR);
        let read = runtime.block_on(map.get_or_insert_with_async("rate", async { unreachable!() }));
        assert_eq!(
            read, "v2",
            "a process still had the old value a floor after the landing"
        );
    }
}

/// Two keys whose digests share their first 32 bits (found by a birthday search), and a third.
fn colliding_keys(tag: u64) -> (String, String) {
    let mut seen = std::collections::HashMap::new();
    for i in 0u64.. {
        let key = format!("user-{i}");
        let digest = old_digest(tag, &key);
        let short = u32::from_le_bytes(digest[..4].try_into().expect("4 bytes"));
        if let Some(earlier) = seen.insert(short, key.clone()) {
            return (earlier, key);
        }
    }
    unreachable!()
}

/// An invalidation drops every L1 entry whose digest shares its 32 bits: the removed key's,
/// and that of a key colliding with it, which is then read again from Redis (its right value,
/// not rebuilt); an unrelated key stays.
#[test]
fn an_invalidation_drops_the_entries_of_its_32_bits_and_a_collision_refetches_the_right_value() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let name = "today::collide";
    let tag = map_tag(name, std::any::type_name::<(String, String)>());
    let (k1, k2) = colliding_keys(tag);
    assert_ne!(old_digest(tag, &k1), old_digest(tag, &k2), "distinct keys");
    let map = || {
        shaped(
            tier(&server, Duration::from_secs(2), Duration::from_secs(3)),
            name,
            Shape::Fixed,
        )
    };
    let (a, b) = (map(), map());
    let other = "unrelated".to_owned();
    runtime.block_on(async {
        for key in [&k1, &k2, &other] {
            a.get_or_insert_with_async(key, async { value_of(key) })
                .await;
            let read = b.get_or_insert_with_async(key, async { unreachable!() });
            assert_eq!(read.await, value_of(key));
        }
        a.remove_async(&k1).await.expect("Redis is up");
    });
    // b's L1 drops them shard by shard (a `retain`): the two keys' shards may be a moment apart.
    eventually("the invalidation reached b", HANG, || !b.contains_key(&k1));
    eventually("the colliding key's entry went too", HANG, || {
        !b.contains_key(&k2)
    });
    assert!(b.contains_key(&other), "an unrelated key's entry stayed");
    let from_redis = b.fleet_stats().from_redis;
    runtime.block_on(async {
        let read = b.get_or_insert_with_async(&k2, async { unreachable!("k2 is still in Redis") });
        assert_eq!(read.await, value_of(&k2));
        let rebuilt = b.get_or_insert_with_async(&k1, async { "rebuilt".to_owned() });
        assert_eq!(rebuilt.await, "rebuilt");
    });
    assert_eq!(b.fleet_stats().from_redis, from_redis + 1);
}
