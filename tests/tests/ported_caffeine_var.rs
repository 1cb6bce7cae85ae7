//! Caffeine's variable-expiry, expire-after-access/-write and async cache suites ported to
//! `TtlMap` (helper-59), as an adversary: per-value lives (`expire_after`) with and without
//! `max_lifetime`, an `expire_after` that panics, lives at the clock's far end, and the async
//! memoizing forms (failed, cancelled and in-flight futures).
//!
//! Sources (ben-manes/caffeine at ccef95542a9181182a60f5c6c33d2a0642c73574,
//! `caffeine/src/test/java/com/github/benmanes/caffeine/cache/`):
//! - `ExpireAfterVarTest.java`: `expiry_bounds`, `getIfPresent`, `get_absent`,
//!   `get_absent_expired`, `get_present`, `put_replace`, `put_insert_expired`,
//!   `put_replace_expired`, the "Exceptional" section (`*_expiryFails*`),
//!   `computeIfAbsent_expired`, `computeIfAbsent_expired_functionThrows`,
//!   `computeIfAbsent_replaceExpired_expiryFails`, `refresh_present`, `refresh_absent`,
//!   `refresh_present_expired`, `expire_largeDelta`, `expire_asyncComputing`;
//! - `ExpireAfterAccessTest.java`: `get_loading`, `getIfPresent_async`;
//! - `ExpireAfterWriteTest.java`: `get`, `get_loading`, `getIfPresent` (async), `putIfAbsent`,
//!   `computeIfAbsent_async_incomplete`, `compute_sameInstance`;
//! - `AsyncCacheTest.java`: `getFunc_absent`, `getFunc_absent_null`, `getFunc_absent_failure`,
//!   `getFunc_absent_cancelled`, `getFunc_present`, `getBiFunc_throwsRuntimeException`,
//!   `getBiFunc_absent_failure_before`, `getBiFunc_absent_failure_after`,
//!   `getBiFunc_absent_cancelled`;
//! - `AsyncLoadingCacheTest.java`: `getIfPresent_inFlight_recordsMissConsistentlyWithGetAllPresent`,
//!   `get_absent_failure_async`, `get_present`, `put_replace`.
//!
//! moka (moka-rs/moka 2d8289eb40af01ab77ee49719c9cf9502322e05a): `src/sync/cache.rs`'s
//! `time_to_live_by_expiry_type`, `time_to_idle_by_expiry_type`, `test_expiry_using_get_with`
//! and `expire_after_update_none_on_expired_entry` are ported already (`ported_peers_map.rs`,
//! `ported_peers_more.rs`, `attack_peers.rs`), as are `src/future/cache.rs`'s
//! `test_expiry_using_get_with` and `expire_after_update_none_on_expired_entry`; the one left,
//! `future::cache::tests::time_to_live_by_expiry_type`, is ported here with its values entering
//! through the async memoizing form.
//!
//! How Caffeine maps here (as in `ported_guava_caffeine.rs`): a variable `Expiry` is
//! `expire_after` over a ttl of `Duration::MAX` ("FOREVER"); `CacheExpiry.CREATE`/`WRITE` is
//! `expire_after` giving the life, `ACCESS` needs the sliding ttl itself (ours can only shorten
//! a life, never extend it on a read); `expireAfterCreate`/`expireAfterUpdate` are both our one
//! `expire_after` call per stored value; a returned `Long.MIN_VALUE` is `Some(Duration::ZERO)`;
//! an `ExpirationException` is a panic in `expire_after`; `LoadingCache.get` and
//! `AsyncCache.get(key, fn)` are the memoizing calls; `getIfPresent` is `get`; `cleanUp` is
//! `sweep`; removal causes are `Reason`s. Time comes from a `ManualClock`; Caffeine's
//! `StartTime.RANDOM` is a clock at 2^62 ns, `ONE_MINUTE_FROM_MAX` one minute before the
//! `ManualClock`'s end (it saturates there).
//!
//! Differences (each asserted with `Difference:` in its test):
//! - `expire_after` is asked once per stored value and never on a read (Caffeine's
//!   `expireAfterRead`): a hit neither calls it nor can fail through it;
//! - a store over a key starts a new life (Caffeine's `CREATE` expiry keeps the first life
//!   through `put` and `replace`);
//! - an in-flight async load is no entry: `len` does not count it and a sweep does not see it
//!   (Caffeine keeps the incomplete future in the map);
//! - `insert` of an equal value is heard as `Replaced` (Caffeine: no notification for the same
//!   instance).
//!
//! - when an async store's `expire_after` panics, a waiter of that flight takes the flight's
//!   value without storing it (README: a store's waiters still get its value); Caffeine's
//!   waiters share the failed future.
//!
//! Found by this port: no broken promise. One edge left unasserted: at the end of the clock's
//! range (`u64::MAX` ns, reached only by a `ManualClock` or a custom clock; ~584 years of
//! uptime) deadlines saturate and are rounded down to 2.048 us, so every entry, even one with
//! `ttl = Duration::MAX`, counts as expired once the clock stands at its end, and a value
//! stored then is born expired (a value stored 30 s before the end with a minute's life is
//! gone at the end, 30 s old by the clock). No document promises either way; Caffeine, whose
//! ticks wrap and are compared by difference, has no end. The `ONE_MINUTE_FROM_MAX` ports
//! assert only what holds both ways.
//!
//! Not ported: `getIfPresent_expired`, `get_present_expired`, `getAll_present_expired` (a read
//! that shortens a life: ours has no read hook), `put_staleExpiryClock` and
//! `computeIfAbsent_staleExpiryClock` (they block a writer behind a `compute` on the entry
//! lock: ours has no `compute`, and writers do not wait for flights; "expired stays expired" is
//! covered in `ttl_map_promises.rs`), `expire_acrossZeroBoundary` (our clock cannot stand
//! before zero), `replace*`, `compute*`, `merge*` (no such operations), bulk loads (`getAll*`),
//! the `Policy` sections (`getExpiresAfter`, `setExpiresAfter`, `putIfAbsent`/`put` with a
//! duration, `oldest`/`youngest`, `ageOf`), the `Expiry.creating/writing/accessing` factories,
//! the async `put` of a future (`put_insert_failure_*`, `put_insert_incomplete`,
//! `*_incomplete`: ours has no `put` of a future), logging, and Java's null checks and
//! interrupts.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use cache_core::{Builder, Expiry, ManualClock, Reason, TtlMap};
use tests::caffeine::{expired, populate};
use tests::heard::{Heard, recorder, take, take_sorted};
use tests::{Driven, counts, panic_message, two_worker_runtime, wait_until, within};
use tokio::sync::oneshot;

const FOREVER: Duration = Duration::MAX;
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Caffeine's `StartTime.RANDOM`: far from zero (2^62 ns, about 146 years).
fn random_start() -> ManualClock {
    let clock = ManualClock::new();
    clock.advance(Duration::from_nanos(1 << 62));
    clock
}

/// Caffeine's `StartTime.ONE_MINUTE_FROM_MAX`: a minute before the clock's end.
fn one_minute_from_max() -> ManualClock {
    let clock = ManualClock::new();
    clock.advance(Duration::from_nanos(u64::MAX) - MINUTE);
    clock
}

/// How many times `expire_after` ran, and a switch that makes it panic (Caffeine's mocked
/// `Expiry` throwing `ExpirationException`).
#[derive(Clone, Default)]
struct Asked {
    calls: Arc<AtomicUsize>,
    fail: Arc<AtomicBool>,
}

impl Asked {
    fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }

    fn fail(&self, fail: bool) {
        self.fail.store(fail, SeqCst);
    }

    /// An `expire_after` that counts its calls, panics while failing, and gives `life`.
    fn life<K, V>(
        &self,
        life: impl Fn(&K, &V) -> Option<Duration> + Send + Sync + 'static,
    ) -> impl Fn(&K, &V) -> Option<Duration> + Send + Sync + 'static {
        let asked = self.clone();
        move |k, v| {
            asked.calls.fetch_add(1, SeqCst);
            assert!(!asked.fail.load(SeqCst), "ExpirationException");
            life(k, v)
        }
    }
}

const FIRST: i32 = 1;
const MIDDLE: i32 = 5;
const LAST: i32 = 10;
const ABSENT: i32 = 100;
const ABSENT_VALUE: i32 = -100;

/// A variable-expiry map (`CacheExpiry.MOCKITO`): ttl FOREVER, `expire_after` counted by
/// `asked` and giving `life` to every value.
fn var_map(
    clock: &ManualClock,
    asked: &Asked,
    life: Option<Duration>,
) -> (TtlMap<i32, i32>, Heard<i32, i32>) {
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(FOREVER)
        .expiry(Expiry::Fixed)
        .expire_after(asked.life(move |_: &i32, _: &i32| life))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    (map, heard)
}

fn panics<T>(what: impl FnOnce() -> T) -> String {
    match catch_unwind(AssertUnwindSafe(what)) {
        Ok(_) => panic!("expected a panic"),
        Err(panic) => panic_message(&*panic).to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// ExpireAfterVarTest: bounds and reads
// ---------------------------------------------------------------------------------------------

/// Ports `expiry_bounds` (`Expire.FOREVER` with `CREATE`, `WRITE` and `ACCESS`): a clock far
/// from zero, moved a minute at a time by another thread while it reads the key through a
/// memoizing call, never ends a life of FOREVER; a sweep meanwhile removes nothing, and the
/// value stays the same instance. Our FOREVER is `Duration::MAX` as the ttl, as
/// `max_lifetime`, or declared by `expire_after`.
#[test]
fn caffeine_var_expiry_bounds() {
    type Build = fn(&ManualClock) -> TtlMap<i32, Arc<i32>>;
    let setups: [(&str, Build); 4] = [
        ("fixed ttl", |c| {
            TtlMap::builder()
                .ttl(FOREVER)
                .expiry(Expiry::Fixed)
                .clock(c.clone())
                .build()
        }),
        ("sliding ttl (ACCESS)", |c| {
            TtlMap::builder()
                .ttl(FOREVER)
                .expiry(Expiry::Sliding)
                .clock(c.clone())
                .build()
        }),
        ("expire_after FOREVER", |c| {
            TtlMap::builder()
                .ttl(FOREVER)
                .expire_after(|_: &i32, _: &Arc<i32>| Some(FOREVER))
                .clock(c.clone())
                .build()
        }),
        ("max_lifetime FOREVER", |c| {
            TtlMap::builder()
                .ttl(FOREVER)
                .max_lifetime(FOREVER)
                .clock(c.clone())
                .build()
        }),
    ];
    for (name, build) in setups {
        let clock = random_start();
        let map = build(&clock);
        let value = Arc::new(ABSENT);
        map.insert(ABSENT, Arc::clone(&value));
        let running = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (map, clock, value) = (map.clone(), clock.clone(), Arc::clone(&value));
            let (running, done) = (Arc::clone(&running), Arc::clone(&done));
            thread::spawn(move || {
                let mut rounds = 0u32;
                while !done.load(SeqCst) && rounds < 200_000 {
                    clock.advance(MINUTE);
                    let got = map.get_or_insert_with(&ABSENT, || Arc::new(0));
                    assert!(Arc::ptr_eq(&got, &value), "{name}: the same instance");
                    running.store(true, SeqCst);
                    rounds += 1;
                }
            })
        };
        wait_until("the reader runs", || running.load(SeqCst));
        assert_eq!(map.sweep(), 0, "{name}");
        let got = map.get_or_insert_with(&ABSENT, || Arc::new(0));
        done.store(true, SeqCst);
        reader.join().expect("the reader saw the same instance");
        assert!(Arc::ptr_eq(&got, &value), "{name}");
        assert_eq!(map.stats().inserts, 1, "{name}: never rebuilt");
        assert_eq!(map.stats().expirations, 0, "{name}");
    }
}

/// Ports `getIfPresent` and `get_present` (`CacheExpiry.MOCKITO`: Caffeine verifies one
/// `expireAfterRead` per read). Difference: our `expire_after` is never asked on a hit, by
/// `get` or by a memoizing call, sync or async; only the stores asked it.
#[test]
fn caffeine_var_reads_do_not_ask_expire_after() {
    let clock = random_start();
    let asked = Asked::default();
    let (map, heard) = var_map(&clock, &asked, Some(MINUTE));
    populate(&map);
    assert_eq!(asked.calls(), 10, "one per stored value");
    assert_eq!(map.get(&FIRST), Some(-FIRST));
    assert_eq!(map.get_or_insert_with(&FIRST, || unreachable!()), -FIRST);
    let hit = Driven::new(map.get_or_insert_with_async(&MIDDLE, async { unreachable!() })).ready();
    assert_eq!(hit, -MIDDLE);
    assert!(map.contains_key(&LAST));
    assert_eq!(asked.calls(), 10, "Difference: no expireAfterRead");
    assert_eq!(counts(&map)[..3], [3, 0, 10]);
    assert!(take(&heard).is_empty());
}

/// Ports `get_absent`: a memoizing miss asks `expire_after` once for the value it stores
/// (Caffeine's `expireAfterCreate`), in each memoizing form, sync and async, and a waiter of
/// the flight adds no call.
#[test]
fn caffeine_var_get_absent_asks_once_per_stored_value() {
    let clock = random_start();
    let asked = Asked::default();
    let (map, _heard) = var_map(&clock, &asked, Some(MINUTE));
    populate(&map);
    let before = asked.calls();
    assert_eq!(map.get_or_insert_with(&101, || -101), -101);
    assert_eq!(
        map.try_get_or_insert_with(&102, || Ok::<_, ()>(-102)),
        Ok(-102)
    );
    assert_eq!(
        map.optionally_get_or_insert_with(&103, || Some(-103)),
        Some(-103)
    );
    assert_eq!(
        Driven::new(map.get_or_insert_with_async(&104, async { -104 })).ready(),
        -104
    );
    let (release, released) = oneshot::channel::<i32>();
    let mut leader =
        Driven::new(map.get_or_insert_with_async(&105, async { released.await.unwrap() }));
    leader.pending();
    let mut waiter = Driven::new(map.get_or_insert_with_async(&105, async { unreachable!() }));
    waiter.pending();
    release.send(-105).unwrap();
    assert_eq!(leader.ready(), -105);
    assert_eq!(waiter.ready(), -105);
    assert_eq!(
        asked.calls() - before,
        5,
        "one per stored value, none per waiter"
    );
    assert_eq!(map.stats().coalesced, 1);
}

/// Ports `get_absent_expired` and `computeIfAbsent_expired` (`expireAfterCreate` returns
/// `Long.MIN_VALUE`): a memoizing miss whose value declares no life still returns it to its
/// caller; the value is never readable, and is heard as expired, alone, once cleaned up.
#[test]
fn caffeine_var_get_absent_expired() {
    for form in ["sync", "try", "optionally", "async"] {
        let clock = random_start();
        let asked = Asked::default();
        let (map, heard) = var_map(&clock, &asked, Some(Duration::ZERO));
        let got = match form {
            "sync" => map.get_or_insert_with(&ABSENT, || ABSENT_VALUE),
            "try" => map
                .try_get_or_insert_with(&ABSENT, || Ok::<_, ()>(ABSENT_VALUE))
                .unwrap(),
            "optionally" => map
                .optionally_get_or_insert_with(&ABSENT, || Some(ABSENT_VALUE))
                .unwrap(),
            _ => Driven::new(map.get_or_insert_with_async(&ABSENT, async { ABSENT_VALUE })).ready(),
        };
        assert_eq!(got, ABSENT_VALUE, "{form}: the caller gets its value");
        assert_eq!(map.get(&ABSENT), None, "{form}: never readable");
        clock.advance(secs(2));
        map.sweep();
        assert_eq!(
            take(&heard),
            [(ABSENT, ABSENT_VALUE, Reason::Expired)],
            "{form}"
        );
        assert!(map.is_empty(), "{form}");
        assert_eq!(asked.calls(), 1, "{form}");
        assert_eq!(map.stats().expirations, 1, "{form}");
        // The next call builds again (an expired value is never a hit).
        assert_eq!(map.get_or_insert_with(&ABSENT, || 7), 7, "{form}");
        assert_eq!(asked.calls(), 2, "{form}");
    }
}

// ---------------------------------------------------------------------------------------------
// ExpireAfterVarTest: create / update
// ---------------------------------------------------------------------------------------------

/// Ports `put_replace` (three forms: `Cache.put`, `AsyncCache.put`, `Map.put`;
/// `CacheExpiry.CREATE` of one minute; `StartTime.RANDOM`): at 30 s the first key is stored
/// over and an absent key stored; at 75 s the others are gone and heard as expired.
/// Difference: a store over the first key starts a new minute (Caffeine's `CREATE` keeps the
/// first life: it is gone at 75 s there), so it is live at 75 s and dies at 90 s.
#[test]
fn caffeine_var_put_replace() {
    let clock = random_start();
    let asked = Asked::default();
    let (map, heard) = var_map(&clock, &asked, Some(MINUTE));
    populate(&map);
    clock.advance(secs(30));
    assert_eq!(map.insert(FIRST, ABSENT_VALUE), Some(-FIRST));
    assert_eq!(map.insert(ABSENT, ABSENT_VALUE), None);
    assert_eq!(take(&heard), [(FIRST, -FIRST, Reason::Replaced)]);
    clock.advance(secs(45));
    assert_eq!(
        map.get(&FIRST),
        Some(ABSENT_VALUE),
        "Difference: a new life"
    );
    assert_eq!(map.get(&MIDDLE), None);
    assert_eq!(map.get(&ABSENT), Some(ABSENT_VALUE));
    map.sweep();
    assert_eq!(map.len(), 2);
    assert_eq!(take_sorted(&heard), expired(2..=10));
    clock.advance(secs(15));
    map.sweep();
    assert!(map.is_empty());
    assert_eq!(
        take_sorted(&heard),
        [
            (FIRST, ABSENT_VALUE, Reason::Expired),
            (ABSENT, ABSENT_VALUE, Reason::Expired)
        ]
    );
    assert_eq!(asked.calls(), 12);
}

/// `put_replace` at `StartTime.ONE_MINUTE_FROM_MAX`: the population dies exactly at the
/// clock's end, and the values stored 30 s before it live up to it. (Beyond that, Caffeine's
/// nanoTime wraps around and it compares differences; ours stops at `u64::MAX` ns, where
/// deadlines saturate: what lives at the end itself is left unasserted, see the report.)
#[test]
fn caffeine_var_put_replace_one_minute_from_max() {
    let clock = one_minute_from_max();
    let asked = Asked::default();
    let (map, heard) = var_map(&clock, &asked, Some(MINUTE));
    populate(&map);
    clock.advance(secs(30));
    assert_eq!(map.insert(FIRST, ABSENT_VALUE), Some(-FIRST));
    assert_eq!(map.insert(ABSENT, ABSENT_VALUE), None);
    assert_eq!(take(&heard), [(FIRST, -FIRST, Reason::Replaced)]);
    clock.advance(secs(30) - Duration::from_millis(1));
    assert_eq!(map.get(&MIDDLE), Some(-MIDDLE), "1 ms before the end");
    assert_eq!(map.get(&ABSENT), Some(ABSENT_VALUE));
    assert_eq!(map.get(&FIRST), Some(ABSENT_VALUE));
    clock.advance(secs(45)); // saturates at the end
    assert_eq!(map.get(&MIDDLE), None, "stored a minute before the end");
    map.sweep();
    let heard = take_sorted(&heard);
    let originals: Vec<_> = heard
        .iter()
        .filter(|h| h.1 != ABSENT_VALUE)
        .cloned()
        .collect();
    assert_eq!(originals, expired(2..=10));
}

/// Ports `put_insert_expired`: a value stored with no life is heard as expired once cleaned
/// up, and `expire_after` was asked once.
#[test]
fn caffeine_var_put_insert_expired() {
    let clock = random_start();
    let asked = Asked::default();
    let (map, heard) = var_map(&clock, &asked, Some(Duration::ZERO));
    assert_eq!(map.insert(ABSENT, ABSENT_VALUE), None);
    assert_eq!(map.get(&ABSENT), None);
    clock.advance(secs(2));
    map.sweep();
    assert_eq!(take(&heard), [(ABSENT, ABSENT_VALUE, Reason::Expired)]);
    assert!(map.is_empty());
    assert_eq!(asked.calls(), 1);
    assert_eq!(map.stats().expirations, 1);
}

/// Ports `put_replace_expired` (`expireAfterCreate` one minute, then `expireAfterUpdate`
/// `Long.MIN_VALUE`): the first value is heard as replaced, the second as expired, two
/// notifications in all, and `expire_after` was asked twice.
#[test]
fn caffeine_var_put_replace_expired() {
    let clock = random_start();
    let asked = Asked::default();
    let (heard, listener) = recorder();
    let zero = Arc::new(AtomicBool::new(false));
    let zero_now = Arc::clone(&zero);
    let map: TtlMap<i32, i32> = TtlMap::builder()
        .ttl(FOREVER)
        .expire_after(asked.life(move |_: &i32, _: &i32| {
            Some(if zero_now.load(SeqCst) {
                Duration::ZERO
            } else {
                MINUTE
            })
        }))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert(ABSENT, ABSENT_VALUE);
    zero.store(true, SeqCst);
    assert_eq!(map.insert(ABSENT, -ABSENT_VALUE), Some(ABSENT_VALUE));
    assert_eq!(map.get(&ABSENT), None);
    clock.advance(secs(2));
    map.sweep();
    assert_eq!(
        take(&heard),
        [
            (ABSENT, ABSENT_VALUE, Reason::Replaced),
            (ABSENT, -ABSENT_VALUE, Reason::Expired)
        ]
    );
    assert!(map.is_empty());
    assert_eq!(asked.calls(), 2);
}

// ---------------------------------------------------------------------------------------------
// ExpireAfterVarTest: Exceptional (an `expire_after` that panics)
// ---------------------------------------------------------------------------------------------

/// A map of keys 1..=10 whose `expire_after` gives every value an hour, so that at +1 h
/// (where Caffeine's exceptional tests move the clock) the population is live or not as the
/// test wants; Caffeine rewinds the clock afterwards, ours cannot, so the lives are chosen to
/// keep the population live at +1 h where the test looks at it afterwards.
fn exceptional_map(life: Duration) -> (TtlMap<i32, i32>, Heard<i32, i32>, Asked, ManualClock) {
    let clock = random_start();
    let asked = Asked::default();
    let (map, heard) = var_map(&clock, &asked, Some(life));
    populate(&map);
    (map, heard, asked, clock)
}

fn assert_original(map: &TtlMap<i32, i32>) {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort();
    assert_eq!(entries, (1..=10).map(|k| (k, -k)).collect::<Vec<_>>());
}

/// Ports `getIfPresent_expiryFails`, `get_expiryFails_read` and `putIfAbsent_expiryFails`
/// (`expireAfterRead` throws: the read fails, the map is unchanged). Difference: a hit never
/// asks `expire_after`, so a failing one cannot fail a read: `get`, a memoizing hit and
/// `contains_key` all succeed, and the map is unchanged.
#[test]
fn caffeine_var_a_failing_expire_after_cannot_fail_a_hit() {
    let (map, heard, asked, clock) = exceptional_map(HOUR * 2);
    clock.advance(HOUR);
    asked.fail(true);
    assert_eq!(map.get(&FIRST), Some(-FIRST));
    assert_eq!(map.get_or_insert_with(&FIRST, || ABSENT_VALUE), -FIRST);
    assert_eq!(
        Driven::new(map.get_or_insert_with_async(&MIDDLE, async { ABSENT_VALUE })).ready(),
        -MIDDLE
    );
    assert!(map.contains_key(&LAST));
    assert_eq!(asked.calls(), 10, "not asked on a hit");
    assert_original(&map);
    assert!(take(&heard).is_empty());
}

/// Ports `get_expiryFails_create` and `computeIfAbsent_expiryFails`: a memoizing miss whose
/// `expire_after` panics panics in its caller; nothing is stored and the map is as it was.
/// The next call (with `expire_after` working again) builds and stores.
#[test]
fn caffeine_var_get_expiry_fails_create() {
    let (map, heard, asked, clock) = exceptional_map(HOUR * 2);
    clock.advance(HOUR);
    asked.fail(true);
    let message = panics(|| map.get_or_insert_with(&ABSENT, || ABSENT_VALUE));
    assert!(message.contains("ExpirationException"), "{message}");
    let message = panics(|| map.try_get_or_insert_with(&ABSENT, || Ok::<_, ()>(ABSENT_VALUE)));
    assert!(message.contains("ExpirationException"), "{message}");
    assert!(!map.contains_key(&ABSENT));
    assert_original(&map);
    assert_eq!(map.len(), 10);
    assert_eq!(map.stats().inserts, 10, "nothing stored");
    asked.fail(false);
    assert_eq!(map.get_or_insert_with(&ABSENT, || 7), 7, "built again");
    assert_eq!(map.get(&ABSENT), Some(7));
    assert!(take(&heard).is_empty());
}

/// Ports `get_expiryFails_create_async` and `computeIfAbsent_expiryFails_async`: the async
/// constructor's future completes, then `expire_after` panics as its value is stored: the
/// panic comes out of the poll that stores it (Caffeine logs it and drops the entry), nothing
/// is stored, and a waiter of that flight is not left hanging: it is woken and takes the
/// flight's value, without storing it.
#[test]
fn caffeine_var_get_expiry_fails_create_async() {
    let (map, heard, asked, clock) = exceptional_map(HOUR * 2);
    clock.advance(HOUR);
    asked.fail(true);
    let (complete, completed) = oneshot::channel::<i32>();
    let mut leader =
        Driven::new(map.get_or_insert_with_async(&ABSENT, async { completed.await.unwrap() }));
    leader.pending();
    let mut waiter = Driven::new(map.get_or_insert_with_async(&ABSENT, async { 7 }));
    waiter.pending();
    complete.send(ABSENT_VALUE).unwrap();
    let message = panics(|| leader.poll());
    assert!(message.contains("ExpirationException"), "{message}");
    assert!(!map.contains_key(&ABSENT));
    assert_original(&map);
    assert!(waiter.wakes() > 0, "the waiter was woken");
    asked.fail(false);
    assert_eq!(
        waiter.ready(),
        ABSENT_VALUE,
        "the flight's outcome, from the flight (README: a store's waiters still get its value)"
    );
    assert_eq!(map.get(&ABSENT), None, "still nothing stored");
    assert_eq!(asked.calls(), 11, "the waiter stored nothing either");
    assert_eq!(
        map.get_or_insert_with(&ABSENT, || 7),
        7,
        "the next call builds"
    );
    assert!(take(&heard).is_empty());
}

/// Ports `put_insert_expiryFails` (and `put_insert_expiryFails_async`, whose future is our
/// value): an `insert` of an absent key whose `expire_after` panics panics and stores nothing.
#[test]
fn caffeine_var_put_insert_expiry_fails() {
    let (map, heard, asked, clock) = exceptional_map(HOUR * 2);
    clock.advance(HOUR);
    asked.fail(true);
    let message = panics(|| map.insert(ABSENT, ABSENT_VALUE));
    assert!(message.contains("ExpirationException"), "{message}");
    assert!(!map.contains_key(&ABSENT));
    assert_original(&map);
    assert_eq!(map.len(), 10);
    assert!(take(&heard).is_empty());
}

/// Ports `put_update_expiryFails` and `replace_expiryFails` (`expireAfterUpdate` throws): an
/// `insert` over a live key whose `expire_after` panics panics, and the map keeps the old
/// value with its old life: Caffeine's `containsExactlyEntriesIn(original)` and the
/// unchanged `getExpiresAfter`.
#[test]
fn caffeine_var_put_update_expiry_fails_keeps_the_old_value_and_life() {
    let (map, heard, asked, clock) = exceptional_map(HOUR * 2);
    clock.advance(HOUR);
    asked.fail(true);
    let message = panics(|| map.insert(FIRST, ABSENT_VALUE));
    assert!(message.contains("ExpirationException"), "{message}");
    assert_original(&map);
    assert!(take(&heard).is_empty(), "nothing replaced");
    asked.fail(false);
    clock.advance(HOUR - Duration::from_millis(1));
    assert_eq!(map.get(&FIRST), Some(-FIRST), "its old life");
    clock.advance(Duration::from_millis(1));
    assert_eq!(map.get(&FIRST), None, "its old life, not a new one");
}

/// Ports `put_insert_replaceExpired_expiryFails` (an `insert` over an expired entry whose
/// `expireAfterCreate` throws): the new value is not stored, and the expired one is never
/// returned (Caffeine rewinds the clock to find it again; ours cannot, and an expired entry
/// stays expired). It is heard as expired exactly once, whether the failed store or a sweep
/// removes it.
#[test]
fn caffeine_var_put_insert_replace_expired_expiry_fails() {
    let (map, heard, asked, clock) = exceptional_map(MINUTE);
    clock.advance(HOUR);
    asked.fail(true);
    let message = panics(|| map.insert(FIRST, ABSENT_VALUE));
    assert!(message.contains("ExpirationException"), "{message}");
    assert_eq!(map.get(&FIRST), None);
    assert!(map.iter().all(|(k, _)| k != FIRST));
    map.sweep();
    assert!(map.is_empty());
    assert_eq!(
        take_sorted(&heard),
        expired(1..=10),
        "the new value never heard"
    );
}

/// Ports `computeIfAbsent_expired_functionThrows`: a memoizing call over an expired entry
/// whose constructor fails returns the error; the expired entry is gone and heard as expired
/// exactly once (Caffeine: by that call; ours: by it or by the next sweep), and no other
/// entry is touched.
#[test]
fn caffeine_var_compute_if_absent_expired_function_throws() {
    let clock = random_start();
    let asked = Asked::default();
    let (heard, listener) = recorder();
    let map: TtlMap<i32, i32> = TtlMap::builder()
        .ttl(FOREVER)
        .expire_after(
            asked.life(|k: &i32, _: &i32| Some(if *k == FIRST { MINUTE } else { HOUR * 2 })),
        )
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    populate(&map);
    clock.advance(HOUR);
    let failed = map.try_get_or_insert_with(&FIRST, || Err::<i32, _>("IllegalStateException"));
    assert_eq!(failed, Err("IllegalStateException"));
    assert!(!map.contains_key(&FIRST));
    map.sweep();
    assert_eq!(take(&heard), [(FIRST, -FIRST, Reason::Expired)]);
    assert_eq!(map.len(), 9);
    let s = map.stats();
    assert_eq!((s.misses, s.inserts, s.expirations), (1, 10, 1));
}

/// Ports `computeIfAbsent_replaceExpired_expiryFails`: a memoizing call over an expired entry
/// whose `expire_after` panics as the new value is stored: the panic reaches the caller, the
/// key holds nothing, the old value is heard as expired exactly once, the new one never.
#[test]
fn caffeine_var_compute_if_absent_replace_expired_expiry_fails() {
    for form in ["sync", "async"] {
        let (map, heard, asked, clock) = exceptional_map(MINUTE);
        clock.advance(HOUR);
        asked.fail(true);
        let message = match form {
            "sync" => panics(|| map.get_or_insert_with(&FIRST, || ABSENT_VALUE)),
            _ => panics(|| {
                Driven::new(map.get_or_insert_with_async(&FIRST, async { ABSENT_VALUE })).poll()
            }),
        };
        assert!(message.contains("ExpirationException"), "{form}: {message}");
        assert!(!map.contains_key(&FIRST), "{form}");
        map.sweep();
        assert!(map.is_empty(), "{form}");
        assert_eq!(take_sorted(&heard), expired(1..=10), "{form}");
    }
}

/// The sync form of `get_expiry_fails_create_async`, with its waiter on another thread: the
/// leader's store panics in `expire_after`; the waiter, already waiting, takes the flight's
/// value, and nothing is stored.
#[test]
fn caffeine_var_get_expiry_fails_create_with_a_waiting_thread() {
    within(Duration::from_secs(30), || {
        let (map, heard, asked, clock) = exceptional_map(HOUR * 2);
        clock.advance(HOUR);
        asked.fail(true);
        let (release, released) = std::sync::mpsc::channel::<()>();
        let leader = {
            let map = map.clone();
            thread::spawn(move || {
                catch_unwind(AssertUnwindSafe(|| {
                    map.get_or_insert_with(&ABSENT, || {
                        released.recv().unwrap();
                        ABSENT_VALUE
                    })
                }))
                .map_err(|p| panic_message(&*p).to_string())
            })
        };
        wait_until("the leader runs", || map.stats().misses == 1);
        let waiter = {
            let map = map.clone();
            thread::spawn(move || map.get_or_insert_with(&ABSENT, || 7))
        };
        wait_until("the waiter joined", || map.stats().coalesced == 1);
        release.send(()).unwrap();
        let led = leader.join().unwrap();
        assert!(led.unwrap_err().contains("ExpirationException"));
        assert_eq!(waiter.join().unwrap(), ABSENT_VALUE, "the flight's value");
        assert_eq!(map.get(&ABSENT), None, "nothing stored");
        assert_original(&map);
        assert!(take(&heard).is_empty());
    });
}

/// Ours beyond Caffeine (which refuses a variable expiry beside fixed ones): a declared life
/// beside a sliding ttl of a minute and a `max_lifetime` of 150 s, hits every 50 s: the
/// earliest limit wins (README "Freshness": `expire_after` can only shorten a life; the ttl
/// and `max_lifetime` still apply). A value declaring 30 s dies at 30 s; 100 s at 100 s; an
/// hour, or nothing, at 150 s; and one never hit dies a minute after its store.
#[test]
fn caffeine_var_with_max_lifetime_the_earliest_limit_wins() {
    let clock = random_start();
    let (heard, listener) = recorder();
    let map: TtlMap<i32, Option<u64>> = TtlMap::builder()
        .ttl(MINUTE)
        .expiry(Expiry::Sliding)
        .max_lifetime(secs(150))
        .expire_after(|_: &i32, life: &Option<u64>| life.map(secs))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    let lives = [(1, Some(30)), (2, Some(100)), (3, Some(3600)), (4, None)];
    for (k, life) in lives {
        map.insert(k, life);
    }
    map.insert(5, None); // never hit
    let mut dead_at = Vec::new();
    for t in (10..=200).step_by(10) {
        clock.advance(secs(10));
        for (k, _) in lives {
            let hit = if t % 50 == 0 {
                map.get(&k).is_some()
            } else {
                map.contains_key(&k)
            };
            if !hit && !dead_at.iter().any(|&(d, _)| d == k) {
                dead_at.push((k, t));
            }
        }
        if !map.contains_key(&5) && !dead_at.iter().any(|&(d, _)| d == 5) {
            dead_at.push((5, t));
        }
    }
    dead_at.sort();
    assert_eq!(dead_at, [(1, 30), (2, 100), (3, 150), (4, 150), (5, 60)]);
    map.sweep();
    assert!(map.is_empty());
    let heard: Vec<_> = take_sorted(&heard)
        .into_iter()
        .map(|h| (h.0, h.2))
        .collect();
    assert_eq!(
        heard,
        (1..=5).map(|k| (k, Reason::Expired)).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// ExpireAfterVarTest: refresh (through `refresh_after`)
// ---------------------------------------------------------------------------------------------

/// Ports `refresh_present` and `refresh_absent` with our `refresh_after` (ours refreshes only
/// through a memoizing call that finds the value due, never on demand): the rebuilt value is
/// asked for its life once (Caffeine's `expireAfterUpdate`), and its declared life then
/// counts from the refresh.
#[test]
fn caffeine_var_refresh_asks_once_and_the_new_life_counts_from_the_refresh() {
    let clock = random_start();
    let asked = Asked::default();
    let (heard, listener) = recorder();
    let map: TtlMap<i32, i32> = TtlMap::builder()
        .ttl(FOREVER)
        .refresh_after(secs(30))
        .expire_after(asked.life(|_: &i32, _: &i32| Some(MINUTE)))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    assert_eq!(
        map.get_or_insert_with(&ABSENT, || ABSENT_VALUE),
        ABSENT_VALUE
    );
    assert_eq!(asked.calls(), 1, "refresh_absent: one create");
    clock.advance(secs(30));
    assert_eq!(map.get_or_insert_with(&ABSENT, || 7), 7, "refreshed");
    assert_eq!(asked.calls(), 2, "refresh_present: one update");
    assert_eq!(take(&heard), [(ABSENT, ABSENT_VALUE, Reason::Replaced)]);
    clock.advance(secs(59));
    assert_eq!(map.get(&ABSENT), Some(7), "89 s after the first store");
    clock.advance(secs(1));
    assert_eq!(map.get(&ABSENT), None, "a minute after the refresh");
    assert_eq!(map.stats().refreshes, 1);
}

/// Ports `refresh_present_expired`: the refresh's value declares no life: the refreshing
/// caller gets it, the old value is heard as replaced and the new one as expired once cleaned
/// up, and the key is empty.
#[test]
fn caffeine_var_refresh_present_expired() {
    let clock = random_start();
    let asked = Asked::default();
    let (heard, listener) = recorder();
    let map: TtlMap<i32, i32> = TtlMap::builder()
        .ttl(FOREVER)
        .refresh_after(secs(30))
        .expire_after(asked.life(|_: &i32, v: &i32| {
            Some(if *v == ABSENT_VALUE {
                MINUTE
            } else {
                Duration::ZERO
            })
        }))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert(ABSENT, ABSENT_VALUE);
    clock.advance(secs(30));
    assert_eq!(
        map.get_or_insert_with(&ABSENT, || 7),
        7,
        "the refreshing caller gets it"
    );
    assert_eq!(map.get(&ABSENT), None, "born expired");
    clock.advance(secs(2));
    map.sweep();
    assert_eq!(
        take(&heard),
        [
            (ABSENT, ABSENT_VALUE, Reason::Replaced),
            (ABSENT, 7, Reason::Expired)
        ]
    );
    assert!(map.is_empty());
    assert_eq!(asked.calls(), 2);
    assert_eq!(map.stats().refreshes, 1);
}

// ---------------------------------------------------------------------------------------------
// ExpireAfterVarTest: Expire
// ---------------------------------------------------------------------------------------------

/// Ports `expire_largeDelta` (`CREATE`, one minute, the clock moved a year): every entry is
/// heard as expired and the map is empty.
#[test]
fn caffeine_var_expire_large_delta() {
    let clock = random_start();
    let asked = Asked::default();
    let (map, heard) = var_map(&clock, &asked, Some(MINUTE));
    populate(&map);
    clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(map.sweep(), 10);
    assert!(map.is_empty());
    assert_eq!(take_sorted(&heard), expired(1..=10));
}

/// Ports `expire_asyncComputing`: a load in flight while the completed entries expire and are
/// cleaned up: they are heard as expired, the load is not disturbed, and its value, stored
/// when it completes, lives its declared minute from then. Difference: the load is no entry
/// (Caffeine holds its incomplete future in the map), so the map is empty meanwhile.
#[test]
fn caffeine_var_expire_async_computing() {
    let clock = random_start();
    let asked = Asked::default();
    let (map, heard) = var_map(&clock, &asked, Some(MINUTE));
    populate(&map);
    let (complete, completed) = oneshot::channel::<i32>();
    let mut computing =
        Driven::new(map.get_or_insert_with_async(&ABSENT, async { completed.await.unwrap() }));
    computing.pending();
    clock.advance(secs(120));
    assert_eq!(map.sweep(), 10);
    assert_eq!(take_sorted(&heard), expired(1..=10));
    assert_eq!(map.len(), 0, "Difference: a load is no entry");
    computing.pending();
    complete.send(ABSENT_VALUE).unwrap();
    assert_eq!(computing.ready(), ABSENT_VALUE);
    assert_eq!(asked.calls(), 11);
    clock.advance(secs(59));
    assert_eq!(
        map.get(&ABSENT),
        Some(ABSENT_VALUE),
        "its life starts at its store"
    );
    clock.advance(secs(1));
    assert_eq!(map.get(&ABSENT), None);
}

// ---------------------------------------------------------------------------------------------
// ExpireAfterAccessTest / ExpireAfterWriteTest: the parts not ported before
// ---------------------------------------------------------------------------------------------

/// A named way to build a map over a clock, with its listener's record.
type Setup = (
    &'static str,
    fn(&ManualClock) -> (TtlMap<i32, i32>, Heard<i32, i32>),
);

/// `builder` on `clock`, with a listener, and its record.
fn listened(
    builder: Builder<i32, i32>,
    clock: &ManualClock,
) -> (TtlMap<i32, i32>, Heard<i32, i32>) {
    let (heard, listener) = recorder();
    (
        builder.clock(clock.clone()).on_evict(listener).build(),
        heard,
    )
}

/// The set-ups a write-expiry test runs under: Caffeine's `expireAfterWrite(1 min)` and its
/// variable `CacheExpiry.WRITE`; ours: a fixed ttl, a per-value life over a FOREVER ttl (fixed
/// and sliding: a sliding ttl of FOREVER cannot outlive the declared minute), and a sliding
/// FOREVER ttl cut by `max_lifetime`.
fn write_setups() -> Vec<Setup> {
    vec![
        ("fixed ttl", |c| {
            listened(TtlMap::builder().ttl(MINUTE).expiry(Expiry::Fixed), c)
        }),
        ("expire_after, fixed", |c| {
            listened(
                TtlMap::builder()
                    .ttl(FOREVER)
                    .expiry(Expiry::Fixed)
                    .expire_after(|_: &i32, _: &i32| Some(MINUTE)),
                c,
            )
        }),
        ("expire_after, sliding", |c| {
            listened(
                TtlMap::builder()
                    .ttl(FOREVER)
                    .expiry(Expiry::Sliding)
                    .expire_after(|_: &i32, _: &i32| Some(MINUTE)),
                c,
            )
        }),
        ("max_lifetime, sliding", |c| {
            listened(
                TtlMap::builder()
                    .ttl(FOREVER)
                    .expiry(Expiry::Sliding)
                    .max_lifetime(MINUTE),
                c,
            )
        }),
    ]
}

/// The set-ups an access-expiry test runs under: a sliding minute, alone and under a long
/// `max_lifetime` and a long declared life (neither may cut it short here). Caffeine's
/// variable `CacheExpiry.ACCESS` (a read that extends a life) has no counterpart of its own.
fn access_setups() -> Vec<Setup> {
    vec![
        ("sliding ttl", |c| {
            listened(TtlMap::builder().ttl(MINUTE).expiry(Expiry::Sliding), c)
        }),
        ("sliding ttl, max_lifetime 1 h, expire_after 1 h", |c| {
            listened(
                TtlMap::builder()
                    .ttl(MINUTE)
                    .expiry(Expiry::Sliding)
                    .max_lifetime(HOUR)
                    .expire_after(|_: &i32, _: &i32| Some(HOUR)),
                c,
            )
        }),
    ]
}

/// Ports `ExpireAfterAccessTest.get_loading` (`LoadingCache.get`, identity loader): a read at
/// 30 s keeps the first key to 90 s; the last key, recreated at 75 s, outlives it.
#[test]
fn caffeine_access_get_loading() {
    for (name, build) in access_setups() {
        let clock = random_start();
        let (map, heard) = build(&clock);
        populate(&map);
        clock.advance(secs(30));
        assert_eq!(map.get_or_insert_with(&FIRST, || FIRST), -FIRST, "{name}");
        clock.advance(secs(45));
        assert_eq!(
            map.get_or_insert_with(&LAST, || LAST),
            LAST,
            "{name}: recreated"
        );
        map.sweep();
        assert_eq!(map.len(), 2, "{name}");
        clock.advance(secs(45));
        map.sweep();
        assert_eq!(map.len(), 1, "{name}");
        assert_eq!(map.get(&LAST), Some(LAST), "{name}");
        assert_eq!(take_sorted(&heard), expired(1..=10), "{name}");
    }
}

/// Ports `ExpireAfterAccessTest.getIfPresent_async` (an async read of a present key): the
/// async memoizing hit at 30 s slides the first key; at 75 s it is there and the last is not.
#[test]
fn caffeine_access_get_if_present_async() {
    for (name, build) in access_setups() {
        let clock = random_start();
        let (map, heard) = build(&clock);
        populate(&map);
        clock.advance(secs(30));
        let read = Driven::new(map.get_or_insert_with_async(&FIRST, async { unreachable!() }));
        assert_eq!({ read }.ready(), -FIRST, "{name}");
        clock.advance(secs(45));
        assert!(map.contains_key(&FIRST), "{name}");
        assert!(!map.contains_key(&LAST), "{name}");
        map.sweep();
        assert_eq!(map.len(), 1, "{name}");
        assert_eq!(take_sorted(&heard), expired(2..=10), "{name}");
    }
}

/// Ports `ExpireAfterWriteTest.get` (`Cache.get(key, mappingFunction)`): a read at 30 s does
/// not save the first key; the last key, recreated at 75 s, is all that is left.
#[test]
fn caffeine_write_get() {
    for (name, build) in write_setups() {
        let clock = random_start();
        let (map, heard) = build(&clock);
        populate(&map);
        clock.advance(secs(30));
        assert_eq!(
            map.get_or_insert_with(&FIRST, || unreachable!()),
            -FIRST,
            "{name}"
        );
        clock.advance(secs(45));
        assert_eq!(map.get_or_insert_with(&LAST, || -LAST), -LAST, "{name}");
        map.sweep();
        assert_eq!(map.len(), 1, "{name}");
        assert_eq!(take_sorted(&heard), expired(1..=10), "{name}");
        assert_eq!(counts(&map)[..4], [1, 1, 11, 10], "{name}");
    }
}

/// Ports `ExpireAfterWriteTest.get_loading`: the first key read and an absent key loaded at
/// 30 s; at 75 s only the absent key's value is left.
#[test]
fn caffeine_write_get_loading() {
    for (name, build) in write_setups() {
        let clock = random_start();
        let (map, heard) = build(&clock);
        populate(&map);
        clock.advance(secs(30));
        assert_eq!(map.get_or_insert_with(&FIRST, || FIRST), -FIRST, "{name}");
        assert_eq!(
            map.get_or_insert_with(&ABSENT, || -ABSENT),
            -ABSENT,
            "{name}"
        );
        clock.advance(secs(45));
        map.sweep();
        assert_eq!(map.len(), 1, "{name}");
        assert_eq!(map.get(&ABSENT), Some(-ABSENT), "{name}");
        assert_eq!(take_sorted(&heard), expired(1..=10), "{name}");
    }
}

/// Ports `ExpireAfterWriteTest.getIfPresent` (`AsyncCache`): an async read at 30 s does not
/// extend a written life: at 75 s neither the first nor the last key is there.
#[test]
fn caffeine_write_get_if_present_async() {
    for (name, build) in write_setups() {
        let clock = random_start();
        let (map, heard) = build(&clock);
        populate(&map);
        clock.advance(secs(30));
        let read = Driven::new(map.get_or_insert_with_async(&FIRST, async { unreachable!() }));
        assert_eq!({ read }.ready(), -FIRST, "{name}");
        clock.advance(secs(45));
        assert!(!map.contains_key(&FIRST), "{name}");
        assert!(!map.contains_key(&LAST), "{name}");
        map.sweep();
        assert!(map.is_empty(), "{name}");
        assert_eq!(take_sorted(&heard), expired(1..=10), "{name}");
    }
}

/// Ports `ExpireAfterWriteTest.putIfAbsent` (`StartTime.RANDOM` and `ONE_MINUTE_FROM_MAX`):
/// at 30 s the first key is present; at exactly 60 s the last is absent and gets the new
/// value, and every original is heard as expired. Difference: `len` counts expired entries
/// until a sweep (Caffeine's `putIfAbsent` cleans up), so the port sweeps. At
/// `ONE_MINUTE_FROM_MAX` the new value is stored with the clock at its end, where deadlines
/// saturate: whether it is then live is left unasserted (see the report).
#[test]
fn caffeine_write_put_if_absent() {
    for (start, start_clock) in [
        ("random", random_start as fn() -> ManualClock),
        ("one minute from max", one_minute_from_max),
    ] {
        for (name, build) in write_setups() {
            let clock = start_clock();
            let (map, heard) = build(&clock);
            populate(&map);
            clock.advance(secs(30));
            assert_eq!(map.get_or_insert_with(&FIRST, || ABSENT_VALUE), -FIRST);
            clock.advance(secs(30));
            assert_eq!(
                map.get_or_insert_with(&LAST, || ABSENT_VALUE),
                ABSENT_VALUE,
                "{start}, {name}"
            );
            map.sweep();
            let heard = take_sorted(&heard);
            let originals: Vec<_> = heard
                .iter()
                .filter(|h| h.1 != ABSENT_VALUE)
                .cloned()
                .collect();
            assert_eq!(originals, expired(1..=10), "{start}, {name}");
            if start == "random" {
                assert_eq!(map.len(), 1, "{start}, {name}");
                assert_eq!(map.get(&LAST), Some(ABSENT_VALUE), "{start}, {name}");
                assert_eq!(heard.len(), 10, "{start}, {name}");
            }
        }
    }
}

/// Ports `ExpireAfterWriteTest.computeIfAbsent_async_incomplete`: an expired key loaded again
/// through an async load that completes later: the caller gets the new value, which is stored,
/// and the old value is heard as expired, alone.
#[test]
fn caffeine_write_compute_if_absent_async_incomplete() {
    for (name, build) in write_setups() {
        let clock = random_start();
        let (map, heard) = build(&clock);
        map.insert(ABSENT, ABSENT_VALUE);
        clock.advance(secs(120));
        let (complete, completed) = oneshot::channel::<i32>();
        let mut load =
            Driven::new(map.get_or_insert_with_async(&ABSENT, async { completed.await.unwrap() }));
        load.pending();
        complete.send(-ABSENT_VALUE).unwrap();
        assert_eq!(load.ready(), -ABSENT_VALUE, "{name}");
        assert_eq!(map.get(&ABSENT), Some(-ABSENT_VALUE), "{name}");
        map.sweep();
        assert_eq!(
            take(&heard),
            [(ABSENT, ABSENT_VALUE, Reason::Expired)],
            "{name}"
        );
        assert_eq!(map.len(), 1, "{name}");
    }
}

/// Ports `ExpireAfterWriteTest.compute_sameInstance`: storing the same value again at 30 s
/// resets its written life, so at 75 s it is still there. Difference: our `insert` over a live
/// value is heard as `Replaced`, even for an equal value (Caffeine: no notification for the
/// same instance).
#[test]
fn caffeine_write_store_of_the_same_value_resets_the_write_time() {
    for (name, build) in write_setups() {
        let clock = random_start();
        let (map, heard) = build(&clock);
        map.insert(FIRST, -FIRST);
        clock.advance(secs(30));
        assert_eq!(map.insert(FIRST, -FIRST), Some(-FIRST), "{name}");
        clock.advance(secs(45));
        assert_eq!(map.get(&FIRST), Some(-FIRST), "{name}");
        assert_eq!(map.len(), 1, "{name}");
        assert_eq!(
            take(&heard),
            [(FIRST, -FIRST, Reason::Replaced)],
            "{name}: Difference"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// moka future::cache::tests::time_to_live_by_expiry_type, through the async memoizing form
// ---------------------------------------------------------------------------------------------

/// Ports moka `future::cache::tests::time_to_live_by_expiry_type` (an `Expiry` giving 10 s on
/// create and on update) with the values entering through `get_or_insert_with_async` and the
/// update an `insert`: `expire_after` is asked once per stored value (2 creations, 1 update),
/// and the notifications are moka's.
#[test]
fn moka_future_time_to_live_by_expiry_type_through_async_loads() {
    let clock = ManualClock::new();
    let asked = Asked::default();
    let (heard, listener) = recorder();
    let cache: TtlMap<&'static str, &'static str> = TtlMap::builder()
        .ttl(HOUR)
        .capacity(100)
        .expire_after(asked.life(|_: &&str, _: &&str| Some(secs(10))))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    let rt = two_worker_runtime();
    let load = |key: &'static str, value: &'static str| {
        rt.block_on(cache.get_or_insert_with_async(&key, async move { value }))
    };
    assert_eq!(load("a", "alice"), "alice");
    clock.advance(secs(5));
    assert_eq!(cache.get("a"), Some("alice"));
    assert!(cache.contains_key("a"));
    clock.advance(secs(5)); // 10 s
    assert_eq!(cache.get("a"), None);
    assert!(!cache.contains_key("a"));
    assert_eq!(cache.iter().count(), 0);
    cache.sweep();
    assert!(cache.is_empty());
    assert_eq!(load("b", "bob"), "bob");
    assert_eq!(cache.len(), 1);
    clock.advance(secs(5)); // 15 s
    assert_eq!(load("b", "unused"), "bob", "a hit");
    assert_eq!(cache.insert("b", "bill"), Some("bob"));
    clock.advance(secs(5)); // 20 s
    assert_eq!(load("b", "unused"), "bill");
    clock.advance(secs(5)); // 25 s
    assert_eq!(cache.get("a"), None);
    assert_eq!(cache.get("b"), None);
    assert_eq!(cache.iter().count(), 0);
    cache.sweep();
    assert!(cache.is_empty());
    assert_eq!(asked.calls(), 3, "2 creations, 1 update, no reads");
    assert_eq!(
        take(&heard),
        [
            ("a", "alice", Reason::Expired),
            ("b", "bob", Reason::Replaced),
            ("b", "bill", Reason::Expired)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// AsyncCacheTest / AsyncLoadingCacheTest, on the `_async` memoizing forms
// ---------------------------------------------------------------------------------------------

fn async_map() -> (TtlMap<i32, i32>, Heard<i32, i32>) {
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(HOUR)
        .clock(ManualClock::new())
        .on_evict(listener)
        .build();
    (map, heard)
}

/// Ports `AsyncCacheTest.getFunc_absent` and `getBiFunc_absent`: the value, one miss, one
/// store.
#[test]
fn caffeine_async_get_absent() {
    let (map, _heard) = async_map();
    let value = Driven::new(map.get_or_insert_with_async(&ABSENT, async { ABSENT_VALUE })).ready();
    assert_eq!(value, ABSENT_VALUE);
    assert_eq!(map.get(&ABSENT), Some(ABSENT_VALUE));
    assert_eq!(counts(&map)[..3], [1, 1, 1], "the get is the hit");
}

/// Ports `AsyncCacheTest.getFunc_absent_null`: a load that finds nothing: `None`, not stored;
/// the next call loads again.
#[test]
fn caffeine_async_get_absent_null() {
    let (map, _heard) = async_map();
    let found =
        Driven::new(map.optionally_get_or_insert_with_async(&ABSENT, async { None })).ready();
    assert_eq!(found, None);
    assert!(!map.contains_key(&ABSENT));
    assert_eq!(counts(&map)[..3], [0, 1, 0]);
    let found =
        Driven::new(map.optionally_get_or_insert_with_async(&ABSENT, async { Some(1) })).ready();
    assert_eq!(found, Some(1));
}

/// Ports `AsyncCacheTest.getFunc_absent_failure`, `getBiFunc_absent_failure_before` (a
/// future failed before it is handed over) and `getBiFunc_absent_failure_after` (failed
/// later), and `AsyncLoadingCacheTest.get_absent_failure`: the error, nothing stored, the
/// map's size unchanged, one miss, no store; the next call loads again. In both async forms:
/// the plain one and the shared one (`Arc<E>`).
#[test]
fn caffeine_async_get_absent_failure_before_and_after() {
    for shared in [false, true] {
        for after in [false, true] {
            let (map, heard) = async_map();
            populate(&map);
            let (fail, failed) = oneshot::channel::<()>();
            let mut fail = Some(fail);
            if !after {
                fail.take().unwrap().send(()).unwrap();
            }
            let loader = async {
                failed.await.unwrap();
                Err::<i32, _>("IllegalStateException")
            };
            let error = if shared {
                let mut load =
                    Driven::new(map.try_get_or_insert_with_shared_async(&ABSENT, loader));
                if after {
                    load.pending();
                    fail.take().unwrap().send(()).unwrap();
                }
                *load.ready().unwrap_err()
            } else {
                let mut load = Driven::new(map.try_get_or_insert_with_async(&ABSENT, loader));
                if after {
                    load.pending();
                    fail.take().unwrap().send(()).unwrap();
                }
                load.ready().unwrap_err()
            };
            let case = format!("shared {shared}, failed after {after}");
            assert_eq!(error, "IllegalStateException", "{case}");
            assert!(!map.contains_key(&ABSENT), "{case}");
            assert_eq!(map.len(), 10, "{case}");
            assert_eq!(counts(&map)[..3], [0, 1, 10], "{case}");
            let again = Driven::new(
                map.try_get_or_insert_with_async(&ABSENT, async { Ok::<_, ()>(ABSENT_VALUE) }),
            )
            .ready();
            assert_eq!(again, Ok(ABSENT_VALUE), "{case}: loads again");
            assert!(take(&heard).is_empty(), "{case}");
        }
    }
}

/// Ports `AsyncCacheTest.getFunc_absent_cancelled` and `getBiFunc_absent_cancelled`: a load
/// cancelled (its future dropped) before it completes: nothing stored, one miss; a waiter of
/// it is not stranded (it starts over and leads), and a later call loads afresh.
#[test]
fn caffeine_async_get_absent_cancelled() {
    let (map, heard) = async_map();
    let (_never, never) = oneshot::channel::<i32>();
    let mut load =
        Driven::new(map.get_or_insert_with_async(&ABSENT, async { never.await.unwrap() }));
    load.pending();
    let mut waiter = Driven::new(map.get_or_insert_with_async(&ABSENT, async { 7 }));
    waiter.pending();
    drop(load); // cancel(true)
    assert!(!map.contains_key(&ABSENT));
    assert!(waiter.wakes() > 0, "the waiter is woken");
    assert_eq!(waiter.ready(), 7, "it starts over and leads");
    assert_eq!(map.get(&ABSENT), Some(7));
    let s = map.stats();
    assert_eq!((s.misses, s.inserts, s.coalesced), (2, 1, 1));
    // A cancelled load with no waiter leaves nothing behind either.
    let (_never, never) = oneshot::channel::<i32>();
    let mut load = Driven::new(map.get_or_insert_with_async(&101, async { never.await.unwrap() }));
    load.pending();
    drop(load);
    assert!(!map.contains_key(&101));
    assert_eq!(
        Driven::new(map.get_or_insert_with_async(&101, async { 8 })).ready(),
        8,
        "loads afresh, no stale flight"
    );
    assert!(take(&heard).is_empty());
}

/// Ports `AsyncCacheTest.getFunc_present`, `getBiFunc_present` and
/// `AsyncLoadingCacheTest.get_present`: three present keys are three hits; the loader is
/// never run (Caffeine's `AssertionError` loader: ours is a future never polled).
#[test]
fn caffeine_async_get_present() {
    let (map, _heard) = async_map();
    populate(&map);
    for key in [FIRST, MIDDLE, LAST] {
        let value =
            Driven::new(map.get_or_insert_with_async(&key, async { unreachable!() })).ready();
        assert_eq!(value, -key);
        let value =
            Driven::new(map.try_get_or_insert_with_async(&key, async { Err::<i32, ()>(()) }))
                .ready();
        assert_eq!(value, Ok(-key));
    }
    assert_eq!(counts(&map)[..3], [6, 0, 10]);
}

/// Ports `AsyncCacheTest.getBiFunc_throwsRuntimeException` (and `getBiFunc_throwsError`): a
/// loader that panics: the panic reaches the caller, nothing is stored, one miss, and the next
/// call loads.
#[test]
fn caffeine_async_get_loader_panics() {
    let (map, _heard) = async_map();
    let message = panics(|| {
        Driven::new(
            map.get_or_insert_with_async(&ABSENT, async { panic!("IllegalStateException") }),
        )
        .poll()
    });
    assert_eq!(message, "IllegalStateException");
    assert!(!map.contains_key(&ABSENT));
    assert_eq!(counts(&map)[..3], [0, 1, 0]);
    assert_eq!(
        Driven::new(map.get_or_insert_with_async(&ABSENT, async { 1 })).ready(),
        1
    );
}

/// Ports `AsyncLoadingCacheTest.getIfPresent_inFlight_recordsMissConsistentlyWithGetAllPresent`:
/// a load in flight is absent to a plain read, which counts a miss (not a hit) and does not
/// wait; once the load completes, a read is a hit; an absent key is a miss.
#[test]
fn caffeine_async_in_flight_is_absent_to_get() {
    let (map, _heard) = async_map();
    let (complete, completed) = oneshot::channel::<i32>();
    let mut load =
        Driven::new(map.get_or_insert_with_async(&1, async { completed.await.unwrap() }));
    load.pending();
    assert_eq!(map.get(&1), None, "in flight: absent");
    assert!(!map.contains_key(&1));
    assert_eq!(map.iter().count(), 0);
    assert_eq!(counts(&map)[..2], [0, 2], "the load's miss and the read's");
    complete.send(1).unwrap();
    assert_eq!(load.ready(), 1);
    map.insert(2, 2);
    assert_eq!(map.get(&2), Some(2));
    assert_eq!(map.stats().hits, 1);
    assert_eq!(map.get(&3), None);
    assert_eq!(map.stats().misses, 3);
}

/// Ports `AsyncLoadingCacheTest.get_absent_failure_async` (`CacheExecutor.THREADED`): loads
/// that fail on a runtime's worker threads, several callers of one key at once: each gets an
/// error (the shared form: the one run's error, to all), nothing is stored and the size is
/// unchanged.
#[test]
fn caffeine_async_get_absent_failure_threaded() {
    let rt = two_worker_runtime();
    let map = Arc::new(async_map().0);
    populate(&map);
    let runs = Arc::new(AtomicUsize::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (map, runs, mut released) = (Arc::clone(&map), Arc::clone(&runs), released.clone());
            rt.spawn(async move {
                map.try_get_or_insert_with_shared_async(&ABSENT, async move {
                    runs.fetch_add(1, SeqCst);
                    released.wait_for(|r| *r).await.unwrap();
                    Err::<i32, _>("IllegalStateException")
                })
                .await
            })
        })
        .collect();
    wait_until("every caller joined the one load", || {
        map.stats().coalesced == 3
    });
    release.send(true).unwrap();
    for task in tasks {
        let result = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(20), task).await })
            .expect("no hang")
            .unwrap();
        assert_eq!(result.unwrap_err().as_ref(), &"IllegalStateException");
    }
    assert_eq!(runs.load(SeqCst), 1, "one run for all");
    assert!(!map.contains_key(&ABSENT));
    assert_eq!(map.len(), 10);
    assert_eq!(counts(&map)[..3], [0, 4, 10]);
}

/// Ports `AsyncLoadingCacheTest.put_replace`: storing over the first, middle and last keys;
/// an async load then gets the new value; the old ones are heard as replaced, alone, and the
/// size is unchanged.
#[test]
fn caffeine_async_put_replace() {
    let (map, heard) = async_map();
    populate(&map);
    for key in [FIRST, MIDDLE, LAST] {
        map.insert(key, ABSENT_VALUE);
        let value =
            Driven::new(map.get_or_insert_with_async(&key, async { unreachable!() })).ready();
        assert_eq!(value, ABSENT_VALUE);
    }
    assert_eq!(map.len(), 10);
    assert_eq!(
        take_sorted(&heard),
        [FIRST, MIDDLE, LAST].map(|k| (k, -k, Reason::Replaced))
    );
}
