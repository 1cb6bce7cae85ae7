//! An adversarial review of the fleet tier (`shared = tier`), against a real `redis-server`.
//!
//! Each `RedisTier` stands for one process (its own connections, breaker and backplane), so
//! several on one server are a fleet. The first nine tests each showed a broken promise
//! when the review wrote them (their doc comments give the scenario and the fix the review
//! suggested; `cache-core/src/redis` now holds what was built); the others are attacks that
//! held, kept as regression tests.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cache_core::redis::{RedisTier, TierError};
use cache_core::{TtlMap, ttl_cached};
use serde::{Deserialize, Serialize, Serializer};
use tests::fleet::{
    clients_running, eventually, string_map as map, string_map_with as map_with, value_of,
};
use tests::redis_server::RedisServer;
use tests::{panic_message, poll_for, two_worker_runtime};

/// How long anything the tests wait for may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

/// One process's tier on `server`: every process of the test fleet uses the same namespace.
fn tier(server: &RedisServer) -> RedisTier {
    RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("review")
        .timeout(Duration::from_secs(2))
        .lease(Duration::from_secs(9))
}

/// The Redis keys holding values (not leases) under `pattern`.
fn value_keys(server: &RedisServer, pattern: &str) -> Vec<String> {
    server
        .command(&["KEYS", pattern])
        .lines()
        .filter(|key| !key.is_empty() && !key.ends_with(":lease"))
        .map(str::to_owned)
        .collect()
}

/// The one value key under `pattern`, and its remaining life in Redis (ms).
fn only_value_pttl(server: &RedisServer, pattern: &str) -> i64 {
    let keys = value_keys(server, pattern);
    assert_eq!(keys.len(), 1, "one value in Redis: {keys:?}");
    server.command(&["PTTL", &keys[0]]).parse().expect("a PTTL")
}

/// A bound on a future run on `runtime`: `None` if it did not finish in time.
fn within<T>(
    runtime: &tokio::runtime::Runtime,
    bound: Duration,
    call: impl Future<Output = T>,
) -> Option<T> {
    runtime.block_on(async { tokio::time::timeout(bound, call).await.ok() })
}

// ---------------------------------------------------------------------------------------------
// Promises the review found broken, since fixed.
// ---------------------------------------------------------------------------------------------

/// Was broken: `RedisTier::timeout(Duration::MAX)` ("no bound") makes every call hang forever on a
/// healthy Redis. The backplane listener computes `timeout * 4` (backplane.rs, `listen`), which
/// panics on overflow inside the tier's runtime, so the listener dies before its first
/// subscription; the first call of the process then waits for that subscription bounded by
/// `timeout` (shared.rs, `fetch`, the `epoch() == 0` branch), that is, forever. `clear_async`
/// panics the same way (`tier.timeout() * 40` in `clear_shared`). The spec: durations that
/// overflow saturate, they never panic. Suggested fix: saturate (`checked_mul(..).unwrap_or(MAX)`, or
/// `Duration::saturating_mul`), and clamp `timeout` in `RedisTier::timeout` to something sane.
#[test]
fn a_huge_timeout_neither_hangs_a_call_nor_panics() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let huge = RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("review")
        .timeout(Duration::MAX);
    let a = map(huge, "review::huge_timeout");
    let value = within(
        &runtime,
        PATIENCE,
        a.get_or_insert_with_async("k", async { value_of("k") }),
    );
    assert_eq!(
        value.as_deref(),
        Some(value_of("k").as_str()),
        "a call on a healthy Redis with timeout(Duration::MAX) hung"
    );
    let cleared = std::panic::catch_unwind(AssertUnwindSafe(|| {
        within(&runtime, PATIENCE, a.clear_async())
    }));
    assert!(
        cleared.is_ok(),
        "clear_async panicked: {}",
        cleared
            .err()
            .map_or("", |p| panic_message(&*p).to_owned().leak())
    );
}

/// Was broken: a map whose `ttl` is `Duration::MAX` (a const expression for "forever"; durations
/// saturate) never shares a value and keeps the tier's circuit breaker open, logging a Redis
/// outage, although Redis is healthy. `millis(ttl)` is `u64::MAX` and `STORE` runs
/// `SET .. PX 18446744073709551615`, which Redis refuses ("invalid expire time" / "not an
/// integer or out of range"); the error feeds the breaker (tier.rs, `run_within`). The same
/// with `lease(Duration::MAX)`: `FETCH`'s `SET NX PX` fails. Suggested fix: clamp every PX argument in
/// `millis` to what Redis takes (e.g. `i64::MAX as u64 / 2`; or write no expiry, `SET` without
/// `PX`, when the life is beyond some years), and clamp `lease` in `RedisTier::lease`.
#[test]
fn a_map_that_never_expires_still_shares_its_values() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let forever = |tier| {
        TtlMap::<String, String>::builder()
            .ttl(Duration::MAX)
            .name("review::forever")
            .shared(tier)
            .build()
    };
    let (a, b) = (forever(tier(&server)), forever(tier(&server)));
    let built = AtomicUsize::new(0);
    runtime.block_on(async {
        for map in [&a, &b] {
            let value = map
                .get_or_insert_with_async("k", async {
                    built.fetch_add(1, Ordering::SeqCst);
                    value_of("k")
                })
                .await;
            assert_eq!(value, value_of("k"));
        }
    });
    assert!(
        !a.tier().is_degraded(),
        "a healthy Redis is reported down after a STORE with ttl = Duration::MAX"
    );
    assert_eq!(
        built.load(Ordering::SeqCst),
        1,
        "the second process read the value from Redis"
    );
}

/// Was broken: a value's own life (`expire_after`) does not bound its life in Redis once another
/// process reads it with sliding expiry (the default). The leader writes it with
/// `PX min(own life, ttl)`, but every `FETCH` runs `GETEX key PX ttl` (shared.rs, `fetch`:
/// `slide = millis(self.ttl)`), so a 1 s access token read once becomes a 60 s value in Redis,
/// and processes are served it long after it expired (spec: "a value may declare a shorter
/// life ... the map's own policy still applies; the earliest limit wins"). Suggested fix: never slide a
/// value past its own deadline: store the deadline beside the value (a second key in the same
/// slot, or a header in the value's bytes) and make `FETCH` run
/// `PEXPIRE min(ttl, deadline - now)`; or, simplest, do not slide values whose life was
/// capped by `expire_after` (store them with a marker and `GET` them).
#[test]
fn a_value_s_own_life_bounds_it_in_redis_whoever_reads_it() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let short = |tier| {
        map_with(tier, "review::expire_after", |builder| {
            builder.expire_after(|_, _| Some(Duration::from_secs(1)))
        })
    };
    let (a, b) = (short(tier(&server)), short(tier(&server)));
    runtime.block_on(async {
        a.get_or_insert_with_async("token", async { "t1".to_owned() })
            .await;
    });
    let stored = only_value_pttl(&server, "review:*");
    assert!(
        stored <= 1000,
        "the leader writes its own life: {stored} ms"
    );
    let read =
        runtime.block_on(b.get_or_insert_with_async("token", async { unreachable!("in Redis") }));
    assert_eq!(read, "t1");
    let after_read = only_value_pttl(&server, "review:*");
    assert!(
        after_read <= 1000,
        "a read by another process extended a 1 s value to {after_read} ms in Redis"
    );
    // And so the token is served after its life: a new process asks past it.
    std::thread::sleep(Duration::from_millis(1300)); // sleep-ok: Redis's clock runs the value's life
    let c = short(tier(&server));
    let late = runtime.block_on(c.get_or_insert_with_async("token", async { "t2".to_owned() }));
    assert_eq!(late, "t2", "a token was served 1.3 s into its 1 s life");
}

/// Was broken: `max_lifetime` is not applied in Redis: the leader writes `PX ttl` (shared.rs, `lead`:
/// `life` is `min(expire_after, ttl)` only; `SharedMap` does not even keep `max_lifetime`),
/// and with sliding expiry every `FETCH` slides it again by `ttl`. So a credential that must
/// be rebuilt every `max_lifetime` ("however often it is used") lives in Redis for a whole
/// ttl, slid forever while the fleet uses it, and every process's L1 refills from it: the
/// fleet never rebuilds it. Suggested fix: keep `max_lifetime` in `SharedMap`; write with
/// `PX min(ttl, max_lifetime, own life)`, and bound slides by the value's birth (see the
/// `expire_after` bug: the same stored deadline serves both).
#[test]
fn max_lifetime_bounds_a_value_in_redis() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let capped = |tier| {
        map_with(tier, "review::max_lifetime", |builder| {
            builder.max_lifetime(Duration::from_secs(1))
        })
    };
    let a = capped(tier(&server));
    runtime.block_on(async {
        a.get_or_insert_with_async("credential", async { "c1".to_owned() })
            .await;
    });
    let stored = only_value_pttl(&server, "review:*");
    std::thread::sleep(Duration::from_millis(1300)); // sleep-ok: past the max lifetime, in real time
    let b = capped(tier(&server));
    let late =
        runtime.block_on(b.get_or_insert_with_async("credential", async { "c2".to_owned() }));
    assert_eq!(
        late, "c2",
        "a value was served 1.3 s after it was stored with max_lifetime 1 s (Redis PTTL at \
         store: {stored} ms)"
    );
}

/// Was broken: `refresh_after` never refreshes a shared map's values. The refreshing caller runs the
/// L1 flight's constructor, which is `SharedMap::fetch`: it finds the old value still in Redis
/// (alive for the ttl, and slid by `GETEX`) and "refreshes" L1 with it; the user's constructor
/// never runs until Redis loses the value. Suggested fix: tell `fetch` that it runs as a refresh (the L1
/// flight knows: pass a flag, or give `Shared` its own refresh check) and then skip the read:
/// take the lease (`SET NX PX`) and build, or, when another process holds it, wait for its
/// value; and make the fleet agree on a value's age (store its birth beside it) so that a
/// value fetched from Redis is not older than `refresh_after` when it reaches L1.
#[test]
fn refresh_after_rebuilds_a_shared_value() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = map_with(tier(&server), "review::refresh", |builder| {
        builder.refresh_after(Duration::from_millis(200))
    });
    runtime.block_on(async {
        assert_eq!(
            a.get_or_insert_with_async("rate", async { "1.07".to_owned() })
                .await,
            "1.07"
        );
    });
    std::thread::sleep(Duration::from_millis(400)); // sleep-ok: past refresh_after, in real time
    let refreshed =
        runtime.block_on(a.get_or_insert_with_async("rate", async { "1.09".to_owned() }));
    assert_eq!(
        refreshed, "1.09",
        "the call that found the value due for a refresh got the old one back from Redis"
    );
}

/// Was broken: after the sync `Shared::clear()` returns, the very next call in the same process is
/// served the cleared value. `clear` empties L1 and spawns `clear_shared` (SCAN, then UNLINK
/// per key, then PUBLISH); the next call's `FETCH` goes out on the same multiplexed
/// connection right after the SCAN and reads the old value before any UNLINK, and L1 keeps it
/// (its flight began after the clear). The usual "update the source, then clear the cache"
/// pattern serves the old data. Suggested fix: give each `SharedMap` a pending-invalidations counter
/// (or a per-digest set for `remove`) that `clear`/`remove` raise before detaching and the
/// detached task lowers when done; `fetch` skips Redis's value (or awaits the pending task,
/// bounded by the timeout) while one is pending; or make the sync forms publish/delete in one
/// script sent before returning control.
#[test]
fn a_call_after_clear_returns_does_not_get_the_cleared_value() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (
        map(tier(&server), "review::clear_then_get"),
        map(tier(&server), "review::clear_then_get"),
    );
    runtime.block_on(async {
        b.get_or_insert_with_async("k", async { "old".to_owned() })
            .await;
        let read = a
            .get_or_insert_with_async("k", async { unreachable!("in Redis") })
            .await;
        assert_eq!(read, "old");
        a.clear();
        let after = a
            .get_or_insert_with_async("k", async { "new".to_owned() })
            .await;
        assert_eq!(
            after, "new",
            "clear() had returned, yet this process was served the cleared value"
        );
    });
}

/// Was broken: the same as above for the sync `Shared::remove(key)`: its `REMOVE` script is detached;
/// on a server that has not cached the script yet (any fresh or restarted Redis, or after
/// `SCRIPT FLUSH`), redis-rs's `EVALSHA` gets `NOSCRIPT`, loads it and retries, and the next
/// call's `FETCH` overtakes it and reads the removed value back into L1. Suggested fix: as for `clear`
/// (a pending-invalidation fence in `fetch`); also load the scripts at connection time.
#[test]
fn a_call_after_remove_returns_does_not_get_the_removed_value() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let (a, b) = (
        map(tier(&server), "review::remove_then_get"),
        map(tier(&server), "review::remove_then_get"),
    );
    let mut stale = 0;
    runtime.block_on(async {
        for round in 0..10 {
            let key = format!("k{round}");
            b.get_or_insert_with_async(&key, async { "old".to_owned() })
                .await;
            a.get_or_insert_with_async(&key, async { unreachable!("in Redis") })
                .await;
            // As after a Redis restart: the server forgets its scripts, and this process's
            // next call loads FETCH (and STORE) again, but not REMOVE.
            server.command(&["SCRIPT", "FLUSH"]);
            a.get_or_insert_with_async(&format!("warm{round}"), async { "w".to_owned() })
                .await;
            a.remove(&key);
            let after = a
                .get_or_insert_with_async(&key, async { "new".to_owned() })
                .await;
            if after == "old" {
                stale += 1;
            }
        }
    });
    assert_eq!(
        stale, 0,
        "remove() had returned, yet this process was served the removed value"
    );
}

/// Was broken: `clear_async` on a big map fails on a healthy Redis, opens the circuit breaker (every
/// call of every map of the tier then skips Redis, and an outage is logged), and never tells
/// the other processes: `clear_shared` (shared.rs) bounds the whole SCAN + one `UNLINK` round
/// trip per key by `40 x timeout`, and `PUBLISH`es the clearing only after the last key. Here:
/// 240 000 keys and a 100 ms timeout (a 4 s bound; with 25 ms, one operation of a loaded 2-core
/// machine alone opened the breaker); in production, a million keys over a 0.5 ms
/// network exceed the default 10 s bound. Suggested fix: publish the clearing first (and again at the
/// end), unlink in batches (`UNLINK` of each SCAN page on a single node; per slot on a
/// cluster, or a Lua script per page), bound each page rather than the whole, and do not
/// count a bulk operation's overall length as a Redis failure in the breaker.
#[test]
fn clearing_a_big_map_reaches_every_process_and_keeps_the_tier_up() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let quick = || {
        RedisTier::new(server.url())
            .expect("a Redis URL")
            .namespace("review")
            .timeout(Duration::from_millis(100))
    };
    let (a, b) = (map(quick(), "review::big"), map(quick(), "review::big"));
    runtime.block_on(async {
        a.get_or_insert_with_async("k", async { "old".to_owned() })
            .await;
        let read = b
            .get_or_insert_with_async("k", async { unreachable!("in Redis") })
            .await;
        assert_eq!(read, "old");
    });
    // Both backplanes subscribed, so that nothing of the tiers' runs while the fill below
    // blocks Redis; and the breaker is closed before the clearing.
    eventually("both listeners subscribed", Duration::from_secs(10), || {
        clients_running(&server, "subscribe") >= 2
    });
    assert!(
        !a.tier().is_degraded(),
        "the breaker opened before the clearing"
    );
    // The map's other 240 000 keys: its prefix is `review:1:TAG:`.
    let key = &value_keys(&server, "review:*")[0];
    let prefix = &key[..key.rfind('{').expect("a digest in braces")];
    let filled = server.command(&[
        "EVAL",
        "for i = 1, 240000 do redis.call('SET', ARGV[1] .. '{' .. i .. '}', 'x') end return 1",
        "0",
        prefix,
    ]);
    assert_eq!(filled, "1");
    let started = Instant::now();
    let cleared = runtime.block_on(a.clear_async());
    let (took, degraded) = (started.elapsed(), a.tier().is_degraded());
    // The clearing reaches b's backplane: polled, not slept for.
    let heard_by = Instant::now() + Duration::from_secs(5);
    while b.get("k").is_some() && Instant::now() < heard_by {
        std::thread::sleep(Duration::from_millis(10)); // sleep-ok: polling b's L1
    }
    let heard = b.get("k").is_none();
    assert!(
        cleared.is_ok() && !degraded && heard,
        "clear_async on a healthy Redis: {cleared:?} after {took:?}; breaker open: {degraded}; \
         the other process's L1 cleared: {heard}"
    );
}

// ---------------------------------------------------------------------------------------------
// Attacks that held.
// ---------------------------------------------------------------------------------------------

/// An async gate: a constructor reports that it runs, then waits until it is opened.
#[derive(Default)]
struct Gate {
    entered: AtomicBool,
    open: tokio::sync::Notify,
    opened: AtomicBool,
}

impl Gate {
    async fn pass(&self) {
        self.entered.store(true, Ordering::SeqCst);
        let opened = self.open.notified();
        if !self.opened.load(Ordering::SeqCst) {
            opened.await;
        }
    }
    fn open(&self) {
        self.opened.store(true, Ordering::SeqCst);
        self.open.notify_waiters();
    }
    fn wait_entered(&self) {
        eventually("the constructor runs", PATIENCE, || {
            self.entered.load(Ordering::SeqCst)
        });
    }
}

/// A leader whose constructor panics hands over at once: a waiter in another process builds
/// without waiting for the lease (9 s) or a third of it, and a waiter in the leader's own
/// process makes its own attempt; both get the right value and no lease is left.
#[test]
fn a_panicking_leader_hands_over_at_once_in_every_process() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = Arc::new(map(tier(&server), "review::panic"));
    let b = Arc::new(map(tier(&server), "review::panic"));
    let gate = Arc::new(Gate::default());
    let leader = runtime.spawn({
        let (a, gate) = (Arc::clone(&a), Arc::clone(&gate));
        async move {
            a.get_or_insert_with_async("k", async move {
                gate.pass().await;
                panic!("the constructor fails hard");
            })
            .await
        }
    });
    gate.wait_entered();
    let local_waiter = runtime.spawn({
        let a = Arc::clone(&a);
        async move {
            a.get_or_insert_with_async("k", async { value_of("k") })
                .await
        }
    });
    let remote_waiter = runtime.spawn({
        let b = Arc::clone(&b);
        async move {
            b.get_or_insert_with_async("k", async { value_of("k") })
                .await
        }
    });
    eventually("both waiters joined", PATIENCE, || {
        a.stats().coalesced == 1 && clients_running(&server, "evalsha") >= 2
    });
    gate.open();
    let panicked = Instant::now();
    let led = runtime.block_on(leader);
    assert!(led.is_err_and(|e| e.is_panic()), "the leader's call panics");
    let local = runtime.block_on(local_waiter).expect("no panic");
    let remote = runtime.block_on(remote_waiter).expect("no panic");
    let took = panicked.elapsed();
    assert_eq!(
        (local.as_str(), remote.as_str()),
        ("value of k", "value of k")
    );
    assert!(
        took < Duration::from_secs(2),
        "the waiters took {took:?} after the leader panicked (lease 9 s)"
    );
    eventually("no lease is left", PATIENCE, || {
        server.command(&["KEYS", "review:*:lease"]).is_empty()
    });
}

mod reentry {
    use super::*;

    pub static TIER: OnceLock<RedisTier> = OnceLock::new();
    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    fn tier() -> &'static RedisTier {
        TIER.get().expect("the test sets the tier first")
    }

    /// Asks for its own key: must panic, not hang.
    #[ttl_cached(ttl = "1h", shared = tier())]
    pub async fn selfish(n: u64) -> u64 {
        Box::pin(selfish(n)).await + 1
    }

    /// Asks for other keys of the same function (and so nests fleet-wide flights).
    #[ttl_cached(ttl = "1h", shared = tier())]
    pub async fn fib(n: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        if n < 2 {
            n
        } else {
            Box::pin(fib(n - 1)).await + Box::pin(fib(n - 2)).await
        }
    }
}

/// A shared function's constructor that asks for its own key panics with the re-entry message
/// instead of waiting for itself (on its L1 flight or on its own lease); one that asks for
/// other keys works, building each once.
#[test]
fn a_re_entrant_shared_constructor_panics_for_its_own_key_and_works_for_others() {
    let server = RedisServer::start();
    reentry::TIER.set(tier(&server)).expect("set once");
    let runtime = two_worker_runtime();
    let selfish = std::panic::catch_unwind(AssertUnwindSafe(|| {
        within(&runtime, PATIENCE, reentry::selfish(1))
    }));
    let panic = selfish.expect_err("a re-entrant call panics rather than hangs");
    assert!(
        panic_message(&*panic).contains("re-entrant call for the same key"),
        "{}",
        panic_message(&*panic)
    );
    let fib = within(&runtime, PATIENCE, reentry::fib(20));
    assert_eq!(fib, Some(6765));
    assert_eq!(
        reentry::RUNS.load(Ordering::SeqCst),
        21,
        "each key built once"
    );
}

/// A value whose `Serialize` fails.
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Unwritable(u32);

impl Serialize for Unwritable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value stays here"))
    }
}

/// A key whose `Serialize` fails.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct UnwritableKey(u32);

impl Serialize for UnwritableKey {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this key stays here"))
    }
}

/// A value or a key that fails to serialize fails no call and opens no breaker: the value is
/// kept in L1 only and nothing reaches Redis; a waiter of another process is woken and builds
/// its own.
#[test]
fn values_and_keys_that_do_not_serialize_fail_no_call() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let values = |tier| {
        TtlMap::<String, Unwritable>::builder()
            .ttl(Duration::from_secs(60))
            .name("review::unwritable")
            .shared(tier)
            .build()
    };
    let (a, b) = (values(tier(&server)), values(tier(&server)));
    let keys = TtlMap::<UnwritableKey, String>::builder()
        .ttl(Duration::from_secs(60))
        .name("review::unwritable_key")
        .shared(tier(&server))
        .build();
    let started = Instant::now();
    runtime.block_on(async {
        assert_eq!(
            a.get_or_insert_with_async("k", async { Unwritable(1) })
                .await,
            Unwritable(1)
        );
        assert_eq!(
            a.get_or_insert_with_async("k", async { unreachable!("in L1") })
                .await,
            Unwritable(1)
        );
        assert_eq!(
            b.get_or_insert_with_async("k", async { Unwritable(2) })
                .await,
            Unwritable(2)
        );
        let key = UnwritableKey(7);
        assert_eq!(
            keys.get_or_insert_with_async(&key, async { "v".to_owned() })
                .await,
            "v"
        );
        assert_eq!(
            keys.get_or_insert_with_async(&key, async { unreachable!("in L1") })
                .await,
            "v"
        );
        assert_eq!(keys.remove_async(&key).await, Err(TierError::Unavailable));
        assert!(!keys.contains_key(&key));
    });
    assert!(started.elapsed() < PATIENCE);
    assert!(!a.tier().is_degraded() && !b.tier().is_degraded());
    assert!(value_keys(&server, "review:*").is_empty());
}

/// Was broken (low; a documented caveat, but the promise "a value whose type changed counts as
/// absent" reads wider): a value type changed between deploys without a version bump is
/// served as garbage when the old bytes happen to decode as the new type, which postcard (not
/// self-describing) does often: here the new code's `[u64; 32]` of 7s reads, in the old code,
/// as the `String` "\u{7}" x 7. The map's identity in Redis is its name only (shared.rs,
/// `build`: `map_tag(name)`; the macro names it after the function's path). Suggested fix: fold the
/// key and value types into the tag (`map_tag(name, type_name::<(K, V)>())`): `type_name` is
/// already trusted to be the same in every process (`fleet_name`), and a type change then
/// isolates itself as a version bump would.
#[test]
fn a_changed_value_type_is_never_served_as_a_wrong_value() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let old = map(tier(&server), "review::changed_type");
    let new = TtlMap::<String, [u64; 32]>::builder()
        .ttl(Duration::from_secs(60))
        .name("review::changed_type")
        .shared(tier(&server))
        .build();
    runtime.block_on(async {
        assert_eq!(
            new.get_or_insert_with_async("k", async { [7; 32] }).await,
            [7; 32]
        );
        assert_eq!(
            old.get_or_insert_with_async("k", async { value_of("k") })
                .await,
            value_of("k"),
            "the old code was served the new code's bytes as its own type"
        );
    });
}

/// Two maps of one name with value types that cannot read each other's bytes (the type changed
/// between deploys without a version bump): each process gets its own right value, promptly,
/// and overwrites the other's; nothing loops.
#[test]
fn two_value_types_under_one_name_each_get_their_own_values() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let strings = || map(tier(&server), "review::changed");
    // 32 bytes 0xff: an overlong varint for a `String`'s length; a `String`'s 11 bytes are
    // too short for `[u8; 32]`.
    let arrays = || {
        TtlMap::<String, [u8; 32]>::builder()
            .ttl(Duration::from_secs(60))
            .name("review::changed")
            .shared(tier(&server))
            .build()
    };
    let started = Instant::now();
    runtime.block_on(async {
        for round in 0..3 {
            let (old, new) = (strings(), arrays());
            assert_eq!(
                old.get_or_insert_with_async("k", async { value_of("k") })
                    .await,
                value_of("k"),
                "round {round}"
            );
            assert_eq!(
                new.get_or_insert_with_async("k", async { [255; 32] }).await,
                [255; 32],
                "round {round}"
            );
        }
    });
    assert!(started.elapsed() < PATIENCE);
    // The key and value types are part of the map's tag: two values, never overwriting.
    assert_eq!(value_keys(&server, "review:*").len(), 2);
}

/// A version bump isolates values and invalidations: the processes of version 2 neither read
/// version 1's values nor hear its removals.
#[test]
fn a_version_bump_isolates_values_and_invalidations() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let v1 = map(tier(&server), "review::versioned");
    let v2 = map(tier(&server).version(2), "review::versioned");
    runtime.block_on(async {
        v1.get_or_insert_with_async("k", async { "v1".to_owned() })
            .await;
        assert_eq!(
            v2.get_or_insert_with_async("k", async { "v2".to_owned() })
                .await,
            "v2"
        );
        v1.remove_async("k").await.expect("Redis is up");
    });
    std::thread::sleep(Duration::from_millis(300)); // sleep-ok: a message that must not arrive
    assert_eq!(v2.get("k").as_deref(), Some("v2"));
    assert_eq!(value_keys(&server, "review:2:*").len(), 1);
    assert!(value_keys(&server, "review:1:*").is_empty());
}

/// Polls a future to completion on this thread, with no executor around it.
fn block_on<F: Future>(future: F) -> F::Output {
    poll_for(pin!(future), PATIENCE).expect("the future never finished")
}

/// The tier works from a hand-rolled executor (no Tokio around the caller): it builds, shares,
/// waits for another process's leader, and removes.
#[test]
fn a_non_tokio_executor_can_use_the_tier() {
    let server = RedisServer::start();
    let (a, b) = (
        Arc::new(map(tier(&server), "review::executor")),
        map(tier(&server), "review::executor"),
    );
    assert_eq!(
        block_on(a.get_or_insert_with_async("k", async { value_of("k") })),
        value_of("k")
    );
    assert_eq!(
        block_on(b.get_or_insert_with_async("k", async { unreachable!("in Redis") })),
        value_of("k")
    );
    // b waits, from this executor, for a leader in a on another thread.
    let gate = Arc::new(Gate::default());
    let leader = std::thread::spawn({
        let (a, gate) = (Arc::clone(&a), Arc::clone(&gate));
        move || {
            block_on(a.get_or_insert_with_async("slow", async move {
                gate.pass().await;
                value_of("slow")
            }))
        }
    });
    gate.wait_entered();
    let opener = std::thread::spawn({
        let gate = Arc::clone(&gate);
        move || {
            std::thread::sleep(Duration::from_millis(200)); // sleep-ok: let b reach Redis and wait
            gate.open();
        }
    });
    assert_eq!(
        block_on(b.get_or_insert_with_async("slow", async { unreachable!("a builds it") })),
        value_of("slow")
    );
    assert_eq!(leader.join().expect("no panic"), value_of("slow"));
    opener.join().expect("no panic");
    assert_eq!(block_on(b.remove_async("k")), Ok(()));
}

/// The tier works from current-thread runtimes without drivers of their own, and outlives
/// them: the reads a call polls in its own task keep their timers and the connection on the
/// tier's runtime, so the next runtime's calls find the connection alive.
#[test]
fn current_thread_runtimes_one_after_another_can_use_the_tier() {
    let server = RedisServer::start();
    let (a, b) = (
        map(tier(&server), "review::current_thread"),
        map(tier(&server), "review::current_thread"),
    );
    for round in 0..3 {
        // No `enable_all`: neither timers nor I/O in the caller's runtime.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let key = format!("k{round}");
        runtime.block_on(async {
            let built = a.get_or_insert_with_async(&key, async { value_of(&key) });
            assert_eq!(built.await, value_of(&key));
            let read = b.get_or_insert_with_async(&key, async { unreachable!("in Redis") });
            assert_eq!(read.await, value_of(&key));
        });
    }
    assert!(!a.tier().is_degraded() && !b.tier().is_degraded());
    assert_eq!(b.fleet_stats().from_redis, 3);
    assert_eq!(a.fleet_stats().led, 3);
}

/// The threads of the tiers' runtimes, by name.
fn tier_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux's /proc")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("cache-core-redi"))
        .count()
}

/// Tiers that are used and then dropped leave no thread behind (other tests of this binary
/// run tiers meanwhile, hence the margin).
#[test]
fn dropped_tiers_leave_no_threads_behind() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let before = tier_threads();
    for i in 0..30 {
        let map = map(tier(&server), "review::threads");
        let key = format!("k{i}");
        runtime.block_on(map.get_or_insert_with_async(&key, async { "v".to_owned() }));
        map.clear();
        drop(map);
    }
    eventually("the dropped tiers' threads end", PATIENCE, || {
        tier_threads() < before + 15
    });
}

/// A password in the URL: with the right one values are shared; with a wrong one calls are
/// bounded and right, the breaker opens, and neither `Debug` nor errors quote the password.
#[test]
fn a_password_works_and_a_wrong_one_is_an_outage_that_never_shows_the_password() {
    let server = RedisServer::start();
    server.command(&["CONFIG", "SET", "requirepass", "s3cr3t-pw"]);
    let runtime = two_worker_runtime();
    let url = |password: &str| format!("redis://:{password}@127.0.0.1:{}/", server.port());
    let with = |password: &str| {
        RedisTier::new(url(password))
            .expect("a Redis URL")
            .namespace("review")
            .timeout(Duration::from_millis(500))
    };
    let (a, b) = (
        map(with("s3cr3t-pw"), "review::auth"),
        map(with("s3cr3t-pw"), "review::auth"),
    );
    let wrong = map(with("wr0ng-pw"), "review::auth");
    runtime.block_on(async {
        a.get_or_insert_with_async("k", async { value_of("k") })
            .await;
        assert_eq!(
            b.get_or_insert_with_async("k", async { unreachable!("in Redis") })
                .await,
            value_of("k")
        );
        for round in 0..3 {
            let started = Instant::now();
            let value = wrong
                .get_or_insert_with_async("k", async { "local".to_owned() })
                .await;
            assert_eq!(value, "local", "round {round}");
            assert!(started.elapsed() < Duration::from_secs(3), "round {round}");
        }
        assert_eq!(
            wrong.remove_async("k").await,
            Err(TierError::Unavailable),
            "Redis refused"
        );
    });
    assert!(wrong.tier().is_degraded());
    let shown = [
        format!("{:?}", wrong.tier()),
        format!("{wrong:?}"),
        format!("{a:?}"),
        format!("{:?}", TierError::Unavailable),
        TierError::Unavailable.to_string(),
        format!("{:?}", RedisTier::new("redis://:s3cr3t-pw@[::1:bad/").err()),
        format!("{:?}", RedisTier::new("rediss+x://:s3cr3t-pw@host/").err()),
        format!(
            "{:?}",
            RedisTier::cluster(["redis://:s3cr3t-pw@h:x/"]).err()
        ),
    ];
    for text in shown {
        assert!(
            !text.contains("s3cr3t") && !text.contains("wr0ng"),
            "shows a password: {text}"
        );
    }
}

/// `stale_if_error` on a shared map: a failed rebuild of an expired value gives the last
/// good value (from this process's L1), writes nothing, and a later success is shared.
#[test]
fn stale_if_error_serves_the_last_value_and_writes_no_error() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let quotes = |tier| {
        TtlMap::<String, String>::builder()
            .ttl(Duration::from_millis(300))
            .expiry(cache_core::Expiry::Fixed)
            .stale_if_error(Duration::from_secs(60))
            .name("review::stale")
            .shared(tier)
            .build()
    };
    let (a, b) = (quotes(tier(&server)), quotes(tier(&server)));
    runtime.block_on(async {
        let first = a
            .try_get_or_insert_with_async("q", async { Ok::<_, String>("101".to_owned()) })
            .await;
        assert_eq!(first.as_deref(), Ok("101"));
    });
    std::thread::sleep(Duration::from_millis(500)); // sleep-ok: the value expires in Redis and L1
    assert!(
        value_keys(&server, "review:*").is_empty(),
        "expired in Redis"
    );
    runtime.block_on(async {
        let stale = a
            .try_get_or_insert_with_async("q", async { Err::<String, _>("down".to_owned()) })
            .await;
        assert_eq!(stale.as_deref(), Ok("101"), "the last good value");
        assert!(
            value_keys(&server, "review:*").is_empty(),
            "no error written"
        );
        let fresh = a
            .try_get_or_insert_with_async("q", async { Ok::<_, String>("102".to_owned()) })
            .await;
        assert_eq!(fresh.as_deref(), Ok("102"));
        let read = b
            .try_get_or_insert_with_async("q", async { Err::<String, _>("unused".to_owned()) })
            .await;
        assert_eq!(read.as_deref(), Ok("102"), "the new value is shared");
    });
}

/// `remove_async` in one process while another process's leader builds the key: the leader's
/// call gets its value, but neither Redis nor any L1 keeps it, and the next call builds anew.
#[test]
fn a_remove_during_a_flight_keeps_its_value_out_of_redis_and_every_l1() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = Arc::new(map(tier(&server), "review::remove_race"));
    let b = map(tier(&server), "review::remove_race");
    let gate = Arc::new(Gate::default());
    let leader = runtime.spawn({
        let (a, gate) = (Arc::clone(&a), Arc::clone(&gate));
        async move {
            a.get_or_insert_with_async("k", async move {
                gate.pass().await;
                "stale".to_owned()
            })
            .await
        }
    });
    gate.wait_entered();
    runtime.block_on(b.remove_async("k")).expect("Redis is up");
    std::thread::sleep(Duration::from_millis(300)); // sleep-ok: the invalidation reaches a's backplane
    gate.open();
    assert_eq!(runtime.block_on(leader).expect("no panic"), "stale");
    assert!(value_keys(&server, "review:*").is_empty(), "not written");
    assert_eq!(a.get("k"), None, "not kept in the leader's L1");
    let fresh = runtime.block_on(b.get_or_insert_with_async("k", async { "fresh".to_owned() }));
    assert_eq!(fresh, "fresh");
    let seen = runtime.block_on(a.get_or_insert_with_async("k", async { "other".to_owned() }));
    assert_eq!(seen, "fresh");
}

/// `clear_async` in one process while another process's leader builds a key: the clear takes
/// the lease away, so the leader's value is written neither to Redis nor to its L1.
#[test]
fn a_clear_during_a_flight_keeps_its_value_out_of_redis_and_every_l1() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let a = Arc::new(map(tier(&server), "review::clear_race"));
    let b = map(tier(&server), "review::clear_race");
    runtime.block_on(b.get_or_insert_with_async("other", async { "o".to_owned() }));
    let gate = Arc::new(Gate::default());
    let leader = runtime.spawn({
        let (a, gate) = (Arc::clone(&a), Arc::clone(&gate));
        async move {
            a.get_or_insert_with_async("k", async move {
                gate.pass().await;
                "stale".to_owned()
            })
            .await
        }
    });
    gate.wait_entered();
    runtime.block_on(b.clear_async()).expect("Redis is up");
    assert!(b.is_empty());
    std::thread::sleep(Duration::from_millis(300)); // sleep-ok: the clearing reaches a's backplane
    gate.open();
    assert_eq!(runtime.block_on(leader).expect("no panic"), "stale");
    assert!(value_keys(&server, "review:*").is_empty(), "not written");
    assert_eq!(a.get("k"), None, "not kept in the leader's L1");
}

/// A very large value (8 MiB) is written, read by another process and removed.
#[test]
fn a_large_value_is_shared() {
    let server = RedisServer::start();
    let runtime = two_worker_runtime();
    let blobs = |tier| {
        TtlMap::<String, Vec<u8>>::builder()
            .ttl(Duration::from_secs(60))
            .name("review::blob")
            .shared(tier)
            .build()
    };
    let (a, b) = (blobs(tier(&server)), blobs(tier(&server)));
    let blob: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    runtime.block_on(async {
        let built = a
            .get_or_insert_with_async("big", async { blob.clone() })
            .await;
        assert_eq!(built.len(), blob.len());
        let read = b
            .get_or_insert_with_async("big", async { unreachable!("in Redis") })
            .await;
        assert!(read == blob);
        b.remove_async("big").await.expect("Redis is up");
    });
    assert!(!a.tier().is_degraded());
}
