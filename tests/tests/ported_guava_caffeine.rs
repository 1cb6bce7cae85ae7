//! Guava's and Caffeine's own cache test suites ported to `TtlMap` (helper-55), as an
//! adversary: expiry at time boundaries, loading (single flight, failures, invalidation during
//! a load), capacity eviction and removal causes.
//!
//! Sources:
//! - google/guava `guava-tests/test/com/google/common/cache/`:
//!   `CacheExpirationTest.java` (read at 064845a971f567793d20ddfb51a9eabe962a5970),
//!   `CacheLoadingTest.java` (at 3d27b7cdab8050afcfb60568e949f896d848f0b3),
//!   `CacheEvictionTest.java` (at fd919e54a55ba169dc7d9f54b7b3485aa7fa0970),
//!   `CacheBuilderTest.java` (at f2944006454cca4fac082347ca60dc11c2590724, its basher tests);
//! - ben-manes/caffeine ccef95542a9181182a60f5c6c33d2a0642c73574
//!   `caffeine/src/test/java/com/github/benmanes/caffeine/cache/`: `ExpirationTest.java`,
//!   `EvictionTest.java`, `LoadingCacheTest.java`.
//!
//! Not repeated (ported before): Caffeine's `ExpireAfterAccessTest.{getIfPresent, get,
//! putIfAbsent}`, `ExpireAfterWriteTest.getIfPresent`, `ExpirationTest.{get_writeTime,
//! put_insert, put_replace, invalidate, invalidateAll_full, estimatedSize, isEmpty, size,
//! containsKey, cleanUp, expire_zero}` (`ported_ttl_caches.rs`), `RefreshAfterWriteTest`
//! (`ported_peers_more.rs`), the invalidation-during-a-flight rule (`ported_peers_map.rs`).
//!
//! How a Guava/Caffeine notion maps here: `LoadingCache.get(k)` with a loader is a memoizing
//! call (`get_or_insert_with` and its forms; a checked exception is an `Err`, a `null` is
//! `None`); `getIfPresent` is `get`; `asMap().put` is `insert`; `invalidate` is `remove`;
//! `invalidateAll` is `clear`; `cleanUp` (and Guava's `CacheTesting.expireEntries`) is `sweep`;
//! `asMap().keySet()` is the keys of `iter()`; `expireAfterAccess` is `Expiry::Sliding`,
//! `expireAfterWrite` is `Expiry::Fixed`, both together are sliding with `max_lifetime`;
//! `refreshAfterWrite` is `refresh_after`; `maximumSize` is `capacity`; the stats `missCount`,
//! `hitCount`, `loadSuccessCount` are `misses`, `hits`, `inserts`; removal causes `EXPIRED`,
//! `SIZE`, `EXPLICIT`, `REPLACED` are `Reason::{Expired, Capacity, Removed, Replaced}`. Time
//! comes from a `ManualClock` (Guava's `FakeTicker`); where a peer waits for a thread's state,
//! the port waits on flags or on `stats().coalesced`.
//!
//! Each port's doc comment says `Difference:` where our documented semantics part from the
//! peer's; the assertions follow ours.
//!
//! Not ported (no counterpart, or ours deliberately differs): bulk loads (`getAll`,
//! `loadAll`), weighers and weights, `refresh(key)` on demand and `reload` futures (ours
//! refreshes only through a memoizing call finding a value due), `getIfPresent` triggering a
//! refresh (`testRefresh_getIfPresent`: our `get` never refreshes), weak/soft references and
//! GC reclamation, `setMaximumSize`/`setExpiresAfter`, `coldest`/`hottest`/`oldest`/`youngest`
//! policy views, `ageOf`, schedulers, logging of failures, `compute`/`merge`/`replace`
//! (conditional) map operations, Guava's `invalidateAll` of expired entries heard as
//! `EXPIRED` (ours `Removed`, ported before), Guava's `testInvalidateDuringLoading` (Guava
//! stores the value; ours drops it, ported before from Caffeine), Guava's internal segment
//! checks (`checkValidState`, `expirationQueueSize`, `setMaxSegmentSize`).

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use cache_core::{Expiry, ManualClock, Reason, TtlMap};
use tests::heard::{Heard, recorder, take, take_sorted};
use tests::{block_on, wait_until};

const HOUR: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The sorted keys of the live entries (Guava's `asMap().keySet()`, compared as a set).
fn keys<K: Ord + Clone + std::hash::Hash + Eq + Send + Sync + 'static, V>(
    map: &TtlMap<K, V>,
) -> Vec<K>
where
    V: Clone + Send + Sync + 'static,
{
    let set: BTreeSet<K> = map.iter().map(|(k, _)| k).collect();
    set.into_iter().collect()
}

fn reasons<K, V>(heard: &[(K, V, Reason)]) -> Vec<Reason> {
    heard.iter().map(|(_, _, r)| *r).collect()
}

/// Guava's three expiry set-ups: `expireAfterWrite`, `expireAfterAccess`, and both.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Write,
    Access,
    Both,
}

const KINDS: [Kind; 3] = [Kind::Write, Kind::Access, Kind::Both];

fn guava_map<K, V>(kind: Kind, ttl: Duration, clock: &ManualClock) -> (TtlMap<K, V>, Heard<K, V>)
where
    K: Clone + std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let (heard, listener) = recorder();
    let builder = TtlMap::builder()
        .ttl(ttl)
        .clock(clock.clone())
        .on_evict(listener);
    let map = match kind {
        Kind::Write => builder.expiry(Expiry::Fixed).build(),
        Kind::Access => builder.expiry(Expiry::Sliding).build(),
        Kind::Both => builder.expiry(Expiry::Sliding).max_lifetime(ttl).build(),
    };
    (map, heard)
}

// ---------------------------------------------------------------------------------------------
// Guava CacheExpirationTest
// ---------------------------------------------------------------------------------------------

mod guava_cache_expiration {
    use super::*;

    const EXPIRING_TIME: Duration = Duration::from_millis(1000);
    const VALUE_PREFIX: i32 = 12345;
    const KEY_PREFIX: &str = "key prefix:";

    fn key(i: i32) -> String {
        format!("{KEY_PREFIX}{i}")
    }

    /// Guava's `WatchedCreatorLoader`: a value from the key's number and a prefix, and a flag
    /// set when it runs.
    struct Loader {
        called: AtomicBool,
        prefix: AtomicI32,
    }

    impl Loader {
        fn new() -> Self {
            Loader {
                called: AtomicBool::new(false),
                prefix: AtomicI32::new(VALUE_PREFIX),
            }
        }

        fn get(&self, map: &TtlMap<String, i32>, i: i32) -> i32 {
            map.get_or_insert_with(key(i).as_str(), || {
                self.called.store(true, SeqCst);
                self.prefix.load(SeqCst) + i
            })
        }

        fn reset(&self) {
            self.called.store(false, SeqCst);
        }

        fn was_called(&self) -> bool {
            self.called.load(SeqCst)
        }
    }

    /// Guava's `CacheTesting.expireEntries`: time passes twice the ttl, and the map cleans up.
    fn expire_entries<K, V>(map: &TtlMap<K, V>, clock: &ManualClock)
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        clock.advance(EXPIRING_TIME * 2);
        map.sweep();
    }

    /// Ports `testExpiration_expireAfterWrite` and `testExpiration_expireAfterAccess`
    /// (`checkExpiration`), and the same with both: loaded values are hits until they expire,
    /// then all ten are gone and heard as expired, once.
    #[test]
    fn expiration_hears_each_entry_once() {
        for kind in KINDS {
            let clock = ManualClock::new();
            let (cache, heard) = guava_map(kind, EXPIRING_TIME, &clock);
            let loader = Loader::new();
            for i in 0..10 {
                assert_eq!(loader.get(&cache, i), VALUE_PREFIX + i);
            }
            for i in 0..10 {
                loader.reset();
                assert_eq!(loader.get(&cache, i), VALUE_PREFIX + i);
                assert!(!loader.was_called(), "{kind:?}: a hit @#{i}");
            }
            expire_entries(&cache, &clock);
            assert_eq!(cache.len(), 0, "{kind:?}: the map must be empty by now");
            let first = take(&heard);
            assert_eq!(first.len(), 10, "{kind:?}");
            assert!(first.iter().all(|(_, _, r)| *r == Reason::Expired));
            expire_entries(&cache, &clock);
            assert!(take(&heard).is_empty(), "{kind:?}: no new notifications");
            assert_eq!(cache.stats().expirations, 10);
        }
    }

    /// Ports `testExpiringGet_expireAfterWrite` and `testExpiringGet_expireAfterAccess`
    /// (`runExpirationTest`): expired entries, not yet cleaned up, are not seen by iteration;
    /// once cleaned up they are heard, and loading them again calls the loader.
    #[test]
    fn expiring_get() {
        for kind in KINDS {
            let clock = ManualClock::new();
            let (cache, heard) = guava_map(kind, EXPIRING_TIME, &clock);
            let loader = Loader::new();
            for i in 0..10 {
                assert_eq!(loader.get(&cache, i), VALUE_PREFIX + i);
            }
            for i in 0..10 {
                loader.reset();
                assert_eq!(loader.get(&cache, i), VALUE_PREFIX + i);
                assert!(!loader.was_called(), "{kind:?} @#{i}");
            }
            // Time for the entries to expire, without cleaning up.
            clock.advance(EXPIRING_TIME * 10);
            // A single unexpired entry.
            assert_eq!(loader.get(&cache, 11), VALUE_PREFIX + 11);
            let live: Vec<_> = cache.iter().collect();
            assert_eq!(live, [(key(11), VALUE_PREFIX + 11)], "{kind:?}");

            expire_entries(&cache, &clock);
            for i in 0..11 {
                assert!(!cache.contains_key(key(i).as_str()), "{kind:?} {i}");
            }
            let mut count = take(&heard).len();
            assert_eq!(count, 11, "{kind:?}");

            for i in 0..10 {
                assert!(!cache.contains_key(key(i).as_str()));
                loader.reset();
                assert_eq!(loader.get(&cache, i), VALUE_PREFIX + i);
                assert!(loader.was_called(), "{kind:?}: loaded again @#{i}");
            }
            // Expire the new values just loaded.
            expire_entries(&cache, &clock);
            count += take(&heard).len();
            assert_eq!(count, 21, "{kind:?}");
            expire_entries(&cache, &clock);
            assert!(take(&heard).is_empty(), "{kind:?}: no new notifications");
        }
    }

    /// Ports `testRemovalListener_expireAfterWrite`: a value mutated in place across its
    /// lives; every expired life is heard with its final count, so the counts add up.
    #[test]
    fn removal_listener_expire_after_write() {
        let clock = ManualClock::new();
        let evictions = Arc::new(AtomicI32::new(0));
        let total = Arc::new(AtomicI32::new(0));
        let applied = AtomicI32::new(0);
        let (e, t) = (Arc::clone(&evictions), Arc::clone(&total));
        let cache: TtlMap<i32, Arc<AtomicI32>> = TtlMap::builder()
            .ttl(ms(10))
            .expiry(Expiry::Fixed)
            .clock(clock.clone())
            .on_evict(move |_, value: &Arc<AtomicI32>, reason| {
                // Guava's `wasEvicted`: expired or evicted for size, not explicit or replaced.
                if matches!(reason, Reason::Expired | Reason::Capacity) {
                    e.fetch_add(1, SeqCst);
                    t.fetch_add(value.load(SeqCst), SeqCst);
                }
            })
            .build();
        let load = || {
            cache.get_or_insert_with(&10, || {
                applied.fetch_add(1, SeqCst);
                Arc::new(AtomicI32::new(0))
            })
        };
        for _ in 0..100 {
            load().fetch_add(1, SeqCst);
            clock.advance(ms(1));
        }
        assert_eq!(evictions.load(SeqCst) + 1, applied.load(SeqCst));
        let remaining = load().load(SeqCst);
        assert_eq!(total.load(SeqCst) + remaining, 100);
        // Exactly: a life every 10 ms, the last one starting at 100 ms.
        assert_eq!((applied.load(SeqCst), evictions.load(SeqCst)), (11, 10));
        assert_eq!(remaining, 0);
    }

    /// Ports `testRemovalScheduler_expireAfterWrite`, `_expireAfterAccess` and
    /// `_expireAfterBoth` (`runRemovalScheduler`): entries invalidated and loaded again two
    /// thirds into their life get a life of their own; the old deadlines do not take them.
    #[test]
    fn removal_scheduler() {
        for kind in KINDS {
            let clock = ManualClock::new();
            let (cache, heard) = guava_map(kind, EXPIRING_TIME, &clock);
            let loader = Loader::new();
            let shift1 = 10 + VALUE_PREFIX;
            loader.prefix.store(shift1, SeqCst);
            for i in 0..10 {
                assert_eq!(loader.get(&cache, i), i + shift1);
            }
            assert_eq!(cache.len(), 10);
            assert!(take(&heard).is_empty());

            clock.advance(EXPIRING_TIME * 2 / 3);
            assert_eq!(cache.len(), 10);
            assert!(take(&heard).is_empty());

            let shift2 = shift1 + 10;
            loader.prefix.store(shift2, SeqCst);
            for i in 0..10 {
                assert_eq!(cache.remove(key(i).as_str()), Some(i + shift1));
                assert_eq!(loader.get(&cache, i), i + shift2, "{kind:?} key {i}");
            }
            assert_eq!(cache.len(), 10);
            let invalidated = take(&heard);
            assert_eq!(reasons(&invalidated), [Reason::Removed; 10], "{kind:?}");

            // The old lives end during this wait.
            clock.advance(EXPIRING_TIME * 2 / 3);
            assert_eq!(cache.len(), 10, "{kind:?}");
            for i in 0..10 {
                loader.reset();
                assert_eq!(loader.get(&cache, i), i + shift2, "{kind:?}");
                assert!(!loader.was_called(), "{kind:?}: not loaded again @#{i}");
            }
            assert!(take(&heard).is_empty(), "{kind:?}");
            assert_eq!(cache.stats().expirations, 0, "{kind:?}");
        }
    }

    fn identity(cache: &TtlMap<i32, i32>, keys: &[i32]) {
        for &k in keys {
            assert_eq!(cache.get_or_insert_with(&k, || k), k);
        }
    }

    /// Ports `testExpirationOrder_access`: with an 11 ms idle life, reads keep entries alive
    /// and the others expire in the order they were last used.
    #[test]
    fn expiration_order_access() {
        let clock = ManualClock::new();
        let (cache, _heard) = guava_map(Kind::Access, ms(11), &clock);
        for i in 0..10 {
            identity(&cache, &[i]);
            clock.advance(ms(1));
        }
        assert_eq!(keys(&cache), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        clock.advance(ms(1)); // 0 expires
        assert_eq!(keys(&cache), [1, 2, 3, 4, 5, 6, 7, 8, 9]);

        identity(&cache, &[0, 1, 2]); // reorder
        clock.advance(ms(2));
        assert_eq!(keys(&cache), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        clock.advance(ms(1)); // 3 expires
        assert_eq!(keys(&cache), [0, 1, 2, 4, 5, 6, 7, 8, 9]);

        identity(&cache, &[5, 7, 9]); // reorder
        assert_eq!(keys(&cache), [0, 1, 2, 4, 5, 6, 7, 8, 9]);

        clock.advance(ms(1)); // 4 expires
        assert_eq!(keys(&cache), [0, 1, 2, 5, 6, 7, 8, 9]);
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [0, 1, 2, 5, 6, 7, 8, 9]);

        clock.advance(ms(1)); // 6 expires
        assert_eq!(keys(&cache), [0, 1, 2, 5, 7, 8, 9]);
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [0, 1, 2, 5, 7, 8, 9]);

        clock.advance(ms(1)); // 8 expires
        assert_eq!(keys(&cache), [0, 1, 2, 5, 7, 9]);
    }

    /// Ports `testExpirationOrder_write`: reads (plain or memoizing) do not save an entry from
    /// its fixed life; a put and a replace do.
    #[test]
    fn expiration_order_write() {
        let clock = ManualClock::new();
        let (cache, _heard) = guava_map(Kind::Write, ms(11), &clock);
        for i in 0..10 {
            identity(&cache, &[i]);
            clock.advance(ms(1));
        }
        assert_eq!(keys(&cache), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        clock.advance(ms(1)); // 0 expires
        assert_eq!(keys(&cache), [1, 2, 3, 4, 5, 6, 7, 8, 9]);

        // get doesn't stop 1 from expiring
        identity(&cache, &[0, 1, 2]);
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [0, 2, 3, 4, 5, 6, 7, 8, 9]);

        // get(K, Callable) doesn't stop 2 from expiring
        assert_eq!(cache.get_or_insert_with(&2, || -2), 2);
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [0, 3, 4, 5, 6, 7, 8, 9]);

        // asMap.put saves 3
        assert_eq!(cache.insert(3, -3), Some(3));
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [0, 3, 4, 5, 6, 7, 8, 9]);

        // asMap.replace saves 4
        assert_eq!(cache.insert(4, -4), Some(4));
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [0, 3, 4, 5, 6, 7, 8, 9]);

        clock.advance(ms(1)); // 5 expires
        assert_eq!(keys(&cache), [0, 3, 4, 6, 7, 8, 9]);
    }

    /// Ports `testExpirationOrder_writeAccess` (`expireAfterWrite(5)` with
    /// `expireAfterAccess(3)`: sliding 3 ms with a `max_lifetime` of 5 ms): reads save entries
    /// only until their write life ends; writes save them.
    #[test]
    fn expiration_order_write_access() {
        let clock = ManualClock::new();
        let cache: TtlMap<i32, i32> = TtlMap::builder()
            .ttl(ms(3))
            .max_lifetime(ms(5))
            .clock(clock.clone())
            .build();
        identity(&cache, &[0, 1, 2, 3, 4]);
        clock.advance(ms(1));
        identity(&cache, &[5, 6, 7, 8, 9]);
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        // get saves 1, 3; 0, 2, 4 expire
        identity(&cache, &[1, 3]);
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [1, 3, 5, 6, 7, 8, 9]);

        // get saves 6, 8; 5, 7, 9 expire
        identity(&cache, &[6, 8]);
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [1, 3, 6, 8]);

        // get fails to save 1, put saves 3
        cache.insert(3, -3);
        identity(&cache, &[1]);
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [3, 6, 8]);

        // get(K, Callable) fails to save 8, replace saves 6
        assert_eq!(cache.insert(6, -6), Some(6));
        assert_eq!(cache.get_or_insert_with(&8, || -8), 8);
        clock.advance(ms(1));
        assert_eq!(keys(&cache), [3, 6]);
    }
}

// ---------------------------------------------------------------------------------------------
// Guava CacheLoadingTest
// ---------------------------------------------------------------------------------------------

mod guava_cache_loading {
    use super::*;

    /// `[misses, inserts, hits]`: Guava's `missCount`, `loadSuccessCount`, `hitCount`.
    fn mih<K, V>(map: &TtlMap<K, V>) -> [u64; 3] {
        let s = map.stats();
        [s.misses, s.inserts, s.hits]
    }

    /// Ports `testLoad`: misses load, hits do not, and a memoizing call's own constructor is
    /// not called on a hit. Difference: no `refresh(key)` on demand; its load of an absent
    /// key is ported as an `insert` (a store that is no miss).
    #[test]
    fn load() {
        let cache: TtlMap<u64, Arc<u64>> = TtlMap::new(HOUR);
        assert_eq!(mih(&cache), [0, 0, 0]);

        let first = cache.get_or_insert_with(&1, || Arc::new(1));
        assert_eq!(*first, 1);
        assert_eq!(mih(&cache), [1, 1, 0]);

        assert_eq!(*cache.get_or_insert_with(&2, || Arc::new(2)), 2);
        assert_eq!(mih(&cache), [2, 2, 0]);

        let three = Arc::new(3);
        cache.insert(3, Arc::clone(&three));
        assert_eq!(mih(&cache), [2, 3, 0]);

        assert!(Arc::ptr_eq(
            &cache.get_or_insert_with(&3, || unreachable!()),
            &three
        ));
        assert_eq!(mih(&cache), [2, 3, 1]);

        // The callable is not called.
        let got: Result<_, &str> =
            cache.try_get_or_insert_with(&3, || panic!("not called on a hit"));
        assert!(Arc::ptr_eq(&got.unwrap(), &three));
        assert_eq!(mih(&cache), [2, 3, 2]);

        let value = Arc::new(99);
        let got = cache.get_or_insert_with(&4, || Arc::clone(&value));
        assert!(Arc::ptr_eq(&got, &value));
        assert_eq!(mih(&cache), [3, 4, 2]);
        assert!(Arc::ptr_eq(&first, &cache.get(&1).unwrap()));
    }

    /// A `refreshAfterWrite` cache whose loader makes `one`, then `two` on reload.
    fn refreshing(
        clock: &ManualClock,
        refresh_after: Duration,
    ) -> (TtlMap<u32, &'static str>, Arc<AtomicUsize>) {
        let cache = TtlMap::builder()
            .ttl(HOUR)
            .refresh_after(refresh_after)
            .clock(clock.clone())
            .build();
        (cache, Arc::new(AtomicUsize::new(0)))
    }

    fn load_one_then_two(cache: &TtlMap<u32, &'static str>, loads: &AtomicUsize) -> &'static str {
        cache.get_or_insert_with(&1, || match loads.fetch_add(1, SeqCst) {
            0 => "one",
            _ => "two",
        })
    }

    /// Ports `testRefresh`: a value older than the refresh time is rebuilt by the call that
    /// finds it, which counts as a hit and a load. Difference: Guava refreshes a value
    /// strictly older than `refreshAfterWrite`, ours at that age already (the rustdoc example
    /// rebuilds at exactly `refresh_after`), so the port's refresh time is 1.5 ms against
    /// Guava's 1 ms with Guava's 1 ms steps, and the boundary is checked on its own below.
    /// Also: the refreshing caller gets the new value (Guava's reload here completes at once,
    /// so its caller gets `two` too).
    #[test]
    fn refresh() {
        let clock = ManualClock::new();
        let (cache, loads) = refreshing(&clock, Duration::from_micros(1500));
        assert_eq!(mih(&cache), [0, 0, 0]);
        assert_eq!(load_one_then_two(&cache, &loads), "one");
        assert_eq!(mih(&cache), [1, 1, 0]);

        clock.advance(ms(1));
        assert_eq!(load_one_then_two(&cache, &loads), "one");
        assert_eq!(mih(&cache), [1, 1, 1]);

        clock.advance(ms(1));
        assert_eq!(load_one_then_two(&cache, &loads), "two");
        assert_eq!(mih(&cache), [1, 2, 2]);
        assert_eq!(cache.stats().refreshes, 1);

        clock.advance(ms(1));
        assert_eq!(load_one_then_two(&cache, &loads), "two");
        assert_eq!(mih(&cache), [1, 2, 3]);
        assert_eq!(loads.load(SeqCst), 2);
        assert_eq!(cache.stats().refreshes, 1);
    }

    /// The boundary of `testRefresh`, by our documented rule: at exactly `refresh_after` the
    /// value is rebuilt (Guava: only once strictly older).
    #[test]
    fn refresh_at_exactly_refresh_after() {
        let clock = ManualClock::new();
        let (cache, loads) = refreshing(&clock, ms(1));
        assert_eq!(load_one_then_two(&cache, &loads), "one");
        clock.advance(ms(1));
        assert_eq!(load_one_then_two(&cache, &loads), "two");
        assert_eq!(mih(&cache), [1, 2, 1]);
        assert_eq!(cache.stats().refreshes, 1);
    }

    /// Ports `testRefreshUncheckedException` and `testRefreshCheckedException`: a failed
    /// reload keeps the old value, is counted, and is tried again by the next call that finds
    /// the value due (the failure does not reset its age). Same 1.5 ms refresh time as
    /// `refresh` above.
    #[test]
    fn refresh_failure_keeps_the_value() {
        let clock = ManualClock::new();
        let cache: TtlMap<u32, &'static str> = TtlMap::builder()
            .ttl(HOUR)
            .refresh_after(Duration::from_micros(1500))
            .clock(clock.clone())
            .build();
        let loads = AtomicUsize::new(0);
        let load = || {
            cache.try_get_or_insert_with(&1, || match loads.fetch_add(1, SeqCst) {
                0 => Ok("one"),
                _ => Err("reload failed"),
            })
        };
        let failures = |c: &TtlMap<u32, &'static str>| c.stats().refresh_failures;
        assert_eq!(load(), Ok("one"));
        assert_eq!((mih(&cache), failures(&cache)), ([1, 1, 0], 0));

        clock.advance(ms(1));
        assert_eq!(load(), Ok("one"));
        assert_eq!((mih(&cache), failures(&cache)), ([1, 1, 1], 0));

        clock.advance(ms(1));
        assert_eq!(load(), Ok("one"), "refreshed, failed, kept");
        assert_eq!((mih(&cache), failures(&cache)), ([1, 1, 2], 1));

        clock.advance(ms(1));
        assert_eq!(load(), Ok("one"));
        assert_eq!((mih(&cache), failures(&cache)), ([1, 1, 3], 2));
        assert_eq!(loads.load(SeqCst), 3);
        assert_eq!(cache.stats().refreshes, 0);
    }

    /// Ports `testLoadNull`: a loader's `null` (our `None`) is returned, not cached; every call
    /// runs the loader again, including a memoizing call with a constructor of its own.
    #[test]
    fn load_null() {
        let cache: TtlMap<u32, u32> = TtlMap::new(HOUR);
        let runs = AtomicUsize::new(0);
        let null = || {
            runs.fetch_add(1, SeqCst);
            None
        };
        assert_eq!(cache.optionally_get_or_insert_with(&1, null), None);
        assert_eq!(mih(&cache), [1, 0, 0]);
        assert_eq!(cache.optionally_get_or_insert_with(&1, null), None);
        assert_eq!(mih(&cache), [2, 0, 0]);
        assert_eq!(
            block_on(cache.optionally_get_or_insert_with_async(&1, async { null() })),
            None
        );
        assert_eq!(mih(&cache), [3, 0, 0]);
        assert_eq!(runs.load(SeqCst), 3);
        assert!(cache.is_empty());
        assert_eq!(cache.get(&1), None);
    }

    /// Ports `testLoadCheckedException` and `testLoadUncheckedException` (a thrown exception
    /// is our `Err`): the error goes to the caller, is not cached, and the next call loads
    /// again; a memoizing call with its own failing constructor gets that one's error.
    #[test]
    fn load_exception() {
        let cache: TtlMap<u32, u32> = TtlMap::new(HOUR);
        let runs = AtomicUsize::new(0);
        let fail = || {
            runs.fetch_add(1, SeqCst);
            Err::<u32, _>("e")
        };
        assert_eq!(cache.try_get_or_insert_with(&1, fail), Err("e"));
        assert_eq!(mih(&cache), [1, 0, 0]);
        assert_eq!(cache.try_get_or_insert_with(&1, fail), Err("e"));
        assert_eq!(mih(&cache), [2, 0, 0]);
        let shared = cache.try_get_or_insert_with_shared(&1, fail);
        assert_eq!(shared.map_err(|e| *e), Err("e"));
        assert_eq!(mih(&cache), [3, 0, 0]);
        assert_eq!(
            cache.try_get_or_insert_with(&1, || Err::<u32, _>("e2")),
            Err("e2")
        );
        assert_eq!(mih(&cache), [4, 0, 0]);
        assert_eq!(runs.load(SeqCst), 3);
        assert!(cache.is_empty());
        assert_eq!(cache.stats().expirations + cache.stats().evictions, 0);
    }

    /// Ports `testLoadError` (a thrown `Error` is our panic): the panic goes on in the caller,
    /// nothing is cached, and the map loads the key again afterwards.
    #[test]
    fn load_error() {
        let cache: TtlMap<u32, u32> = TtlMap::new(HOUR);
        for round in 1..=2u64 {
            let result = catch_unwind(AssertUnwindSafe(|| {
                cache.get_or_insert_with(&1, || panic!("error"))
            }));
            assert_eq!(tests::panic_message(&*result.unwrap_err()), "error");
            assert_eq!(mih(&cache), [round, 0, 0]);
        }
        assert!(cache.is_empty());
        assert_eq!(cache.get_or_insert_with(&1, || 1), 1);
        assert_eq!(mih(&cache), [3, 1, 0]);
    }

    /// Ports `testReloadAfterFailure`: a loader that fails once and then succeeds; nothing is
    /// ever heard by the removal listener. (Guava's `refresh(2)` of an absent key is a load
    /// here.)
    #[test]
    fn reload_after_failure() {
        let (heard, listener) = recorder();
        let cache: TtlMap<u32, String> = TtlMap::builder().ttl(HOUR).on_evict(listener).build();
        let count = AtomicUsize::new(0);
        let fail_once = |key: u32| {
            if count.fetch_add(1, SeqCst) == 0 {
                Err("exception to trigger failure on first load()")
            } else {
                Ok(key.to_string())
            }
        };
        assert!(cache.try_get_or_insert_with(&1, || fail_once(1)).is_err());
        assert_eq!(
            cache.try_get_or_insert_with(&1, || fail_once(1)),
            Ok("1".to_string())
        );
        assert!(take(&heard).is_empty());

        count.store(0, SeqCst);
        assert!(cache.try_get_or_insert_with(&2, || fail_once(2)).is_err());
        assert_eq!(
            cache.try_get_or_insert_with(&2, || fail_once(2)),
            Ok("2".to_string())
        );
        assert!(take(&heard).is_empty());
        assert_eq!(cache.len(), 2);
    }

    const THREADS: usize = 10;

    /// Guava's `doConcurrentGet`: `THREADS` threads call `call` for one key while its first
    /// caller's loader is held (Guava waits until each thread is WAITING; the port waits until
    /// the other nine wait on the flight), then the loader goes on.
    fn concurrent_get<V: Clone + Send + Sync + 'static, R: Send>(
        cache: &TtlMap<String, V>,
        call: impl Fn(&dyn Fn()) -> R + Sync,
    ) -> Vec<R> {
        let release = AtomicBool::new(false);
        let wait = || wait_until("released", || release.load(SeqCst));
        let coalesced = cache.stats().coalesced;
        thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS).map(|_| s.spawn(|| call(&wait))).collect();
            wait_until("the other callers wait on the flight", || {
                cache.stats().coalesced - coalesced == THREADS as u64 - 1
            });
            release.store(true, SeqCst);
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    fn builders() -> [(&'static str, TtlMap<String, Arc<u32>>); 2] {
        [
            ("no expiry", TtlMap::new(HOUR)),
            (
                "expireAfterWrite 10 s",
                TtlMap::builder()
                    .ttl(secs(10))
                    .expiry(Expiry::Fixed)
                    .clock(ManualClock::new())
                    .build(),
            ),
        ]
    }

    /// Ports `testConcurrentLoading` and `testConcurrentExpirationLoading`,
    /// `testConcurrentLoadingDefault`: only one thread loads, and every thread gets the same
    /// value (the same `Arc`, Guava's `assertSame`).
    #[test]
    fn concurrent_loading_default() {
        for (name, cache) in builders() {
            let calls = AtomicUsize::new(0);
            let result = Arc::new(7);
            let got = concurrent_get(&cache, |wait| {
                cache.get_or_insert_with("bar", || {
                    calls.fetch_add(1, SeqCst);
                    wait();
                    Arc::clone(&result)
                })
            });
            assert_eq!(calls.load(SeqCst), 1, "{name}");
            assert!(got.iter().all(|v| Arc::ptr_eq(v, &result)), "{name}");
            assert_eq!(cache.stats().misses, THREADS as u64, "{name}");
            assert_eq!(cache.stats().inserts, 1, "{name}");
        }
    }

    /// Ports `testConcurrentLoadingNull`: the loader runs once and every thread gets its
    /// `None`; it is not cached, so the next call runs the loader again.
    #[test]
    fn concurrent_loading_null() {
        for (name, cache) in builders() {
            let calls = AtomicUsize::new(0);
            let got = concurrent_get(&cache, |wait| {
                cache.optionally_get_or_insert_with("bar", || {
                    calls.fetch_add(1, SeqCst);
                    wait();
                    None
                })
            });
            assert_eq!(calls.load(SeqCst), 1, "{name}");
            assert!(got.iter().all(Option::is_none), "{name}");
            let again = cache.optionally_get_or_insert_with("bar", || {
                calls.fetch_add(1, SeqCst);
                None
            });
            assert_eq!(again, None);
            assert_eq!(calls.load(SeqCst), 2, "{name}: not the old outcome");
            assert!(cache.is_empty());
        }
    }

    /// Ports `testConcurrentLoadingUncheckedException` and
    /// `testConcurrentLoadingCheckedException`: the loader runs once and every thread gets
    /// the same error (the same `Arc`, Guava's `isSameInstanceAs`), through the form that
    /// shares errors; it is not cached. Difference: `try_get_or_insert_with` (unshared errors)
    /// lets each waiter try on its own instead (ported from moka elsewhere).
    #[test]
    fn concurrent_loading_exception() {
        #[derive(Debug)]
        struct IoError;
        for (name, cache) in builders() {
            let calls = AtomicUsize::new(0);
            let got = concurrent_get(&cache, |wait| {
                cache.try_get_or_insert_with_shared("bar", || {
                    calls.fetch_add(1, SeqCst);
                    wait();
                    Err::<Arc<u32>, _>(IoError)
                })
            });
            assert_eq!(calls.load(SeqCst), 1, "{name}");
            let errors: Vec<Arc<IoError>> = got.into_iter().map(Result::unwrap_err).collect();
            assert!(errors.iter().all(|e| Arc::ptr_eq(e, &errors[0])), "{name}");
            let again = cache.try_get_or_insert_with_shared("bar", || {
                calls.fetch_add(1, SeqCst);
                Err::<Arc<u32>, _>(IoError)
            });
            assert!(!Arc::ptr_eq(&again.unwrap_err(), &errors[0]), "{name}");
            assert_eq!(calls.load(SeqCst), 2, "{name}: not the old exception");
            assert!(cache.is_empty());
        }
    }

    const SUFFIX: &str = "Suffix";

    /// A map whose loader, for every call, says it started and waits for `go`.
    struct Held {
        cache: TtlMap<String, String>,
        clock: ManualClock,
        started: AtomicUsize,
        go: AtomicBool,
        heard: Heard<String, String>,
    }

    impl Held {
        fn new() -> Self {
            let clock = ManualClock::new();
            let (heard, listener) = recorder();
            let cache = TtlMap::builder()
                .ttl(HOUR)
                .refresh_after(secs(60))
                .clock(clock.clone())
                .on_evict(listener)
                .build();
            Held {
                cache,
                clock,
                started: AtomicUsize::new(0),
                go: AtomicBool::new(false),
                heard,
            }
        }

        fn load(&self, key: &'static str, tag: &str) -> String {
            self.cache.get_or_insert_with(key, || {
                self.started.fetch_add(1, SeqCst);
                wait_until("let the loads finish", || self.go.load(SeqCst));
                format!("{key}{SUFFIX}{tag}")
            })
        }
    }

    /// Ports `testAsMapDuringLoading`: while a load of an absent key and a refresh of a
    /// present one run, the map shows neither (the refreshed key keeps its value); once they
    /// finish, both values are there. (`refresh(key)` is a memoizing call finding the value
    /// due for `refresh_after`.)
    #[test]
    fn as_map_during_loading() {
        let held = Held::new();
        let (get_key, refresh_key) = ("get", "refresh");
        held.cache
            .insert(refresh_key.to_string(), refresh_key.to_string());
        held.clock.advance(secs(60));
        assert_eq!(held.cache.len(), 1);
        assert!(!held.cache.contains_key(get_key));
        thread::scope(|s| {
            let getter = s.spawn(|| held.load(get_key, ""));
            let refresher = s.spawn(|| held.load(refresh_key, ""));
            wait_until("both loads run", || held.started.load(SeqCst) == 2);

            // Loads in progress: the map has not changed.
            assert_eq!(held.cache.len(), 1);
            assert!(!held.cache.contains_key(get_key));
            assert_eq!(held.cache.get(refresh_key), Some(refresh_key.to_string()));

            held.go.store(true, SeqCst);
            assert_eq!(getter.join().unwrap(), "getSuffix");
            assert_eq!(refresher.join().unwrap(), "refreshSuffix");
        });
        assert_eq!(held.cache.len(), 2);
        assert_eq!(held.cache.get(get_key), Some("getSuffix".to_string()));
        assert_eq!(
            held.cache.get(refresh_key),
            Some("refreshSuffix".to_string())
        );
        assert_eq!(
            take(&held.heard),
            [(
                refresh_key.to_string(),
                refresh_key.to_string(),
                Reason::Replaced
            )]
        );
        assert_eq!(held.cache.stats().refreshes, 1);
    }

    /// Ports `testInvalidateDuringLoading` and `testInvalidateAndReloadDuringLoading`: a load
    /// and a refresh run, both keys are invalidated, and new loads of both start. Difference
    /// (Caffeine's rule, our "invalidation wins"): the loads that began before the
    /// invalidation do not store their values (Guava stores them); their callers still get
    /// them. The new loads do not join the older ones, and theirs are the values kept, in
    /// whichever order the two generations finish.
    #[test]
    fn invalidate_and_reload_during_loading() {
        for old_first in [true, false] {
            let held = Held::new();
            let (get_key, refresh_key) = ("get", "refresh");
            held.cache
                .insert(refresh_key.to_string(), refresh_key.to_string());
            held.clock.advance(secs(60));
            let go_new = AtomicBool::new(false);
            let new_load = |key: &'static str| {
                held.cache.get_or_insert_with(key, || {
                    held.started.fetch_add(1, SeqCst);
                    wait_until("let the new loads finish", || go_new.load(SeqCst));
                    format!("{key}{SUFFIX}new")
                })
            };
            thread::scope(|s| {
                let old_get = s.spawn(|| held.load(get_key, "old"));
                let old_refresh = s.spawn(|| held.load(refresh_key, "old"));
                wait_until("both loads run", || held.started.load(SeqCst) == 2);
                assert_eq!(held.cache.remove(get_key), None);
                assert_eq!(
                    held.cache.remove(refresh_key),
                    Some(refresh_key.to_string())
                );
                assert!(!held.cache.contains_key(get_key));
                assert!(!held.cache.contains_key(refresh_key));

                // Start new loads: they run loaders of their own.
                let new_get = s.spawn(|| new_load(get_key));
                let new_refresh = s.spawn(|| new_load(refresh_key));
                wait_until("the new loads run", || held.started.load(SeqCst) == 4);

                let (first, second) = if old_first {
                    (&held.go, &go_new)
                } else {
                    (&go_new, &held.go)
                };
                first.store(true, SeqCst);
                let finish_old = || {
                    assert_eq!(old_get.join().unwrap(), "getSuffixold");
                    assert_eq!(old_refresh.join().unwrap(), "refreshSuffixold");
                };
                let finish_new = || {
                    assert_eq!(new_get.join().unwrap(), "getSuffixnew");
                    assert_eq!(new_refresh.join().unwrap(), "refreshSuffixnew");
                };
                if old_first {
                    finish_old();
                    second.store(true, SeqCst);
                    finish_new();
                } else {
                    finish_new();
                    second.store(true, SeqCst);
                    finish_old();
                }
            });
            let case = if old_first { "old first" } else { "new first" };
            assert_eq!(held.cache.len(), 2, "{case}");
            assert_eq!(
                held.cache.get(get_key),
                Some("getSuffixnew".to_string()),
                "{case}"
            );
            assert_eq!(
                held.cache.get(refresh_key),
                Some("refreshSuffixnew".to_string()),
                "{case}"
            );
            assert_eq!(held.started.load(SeqCst), 4, "{case}");
            assert_eq!(
                take(&held.heard),
                [(
                    refresh_key.to_string(),
                    refresh_key.to_string(),
                    Reason::Removed
                )],
                "{case}"
            );
        }
    }

    /// Ports `testExpandDuringLoading`: while one load runs and two more callers wait for
    /// it, the map's tables grow (Guava forces its segment to expand; here 5,000 other keys
    /// are stored meanwhile). The loader still runs once and every caller gets its value,
    /// which is then cached.
    #[test]
    fn expand_during_loading() {
        let cache: TtlMap<String, String> = TtlMap::new(HOUR);
        let calls = AtomicUsize::new(0);
        let go = AtomicBool::new(false);
        let load = || {
            cache.get_or_insert_with("bar", || {
                calls.fetch_add(1, SeqCst);
                wait_until("computeSignal", || go.load(SeqCst));
                "barfoo".to_string()
            })
        };
        thread::scope(|s| {
            let first = s.spawn(load);
            wait_until("the load runs", || calls.load(SeqCst) == 1);
            let second = s.spawn(load);
            wait_until("the second get waits", || cache.stats().coalesced == 1);
            for i in 0..5000 {
                cache.insert(format!("other{i}"), String::new()); // expand!
            }
            let third = s.spawn(load);
            wait_until("the third get waits", || cache.stats().coalesced == 2);
            go.store(true, SeqCst);
            for h in [first, second, third] {
                assert_eq!(h.join().unwrap(), "barfoo");
            }
        });
        assert_eq!(calls.load(SeqCst), 1);
        assert_eq!(cache.get_or_insert_with("bar", || unreachable!()), "barfoo");
        assert_eq!(cache.len(), 5001);
    }
}

// ---------------------------------------------------------------------------------------------
// Guava CacheEvictionTest
// ---------------------------------------------------------------------------------------------

mod guava_cache_eviction {
    use super::*;

    const MAX_SIZE: usize = 100;

    /// Ports `testEviction_maxSizeOneSegment` and `testEviction_maxSize`: the size grows to the
    /// maximum and stays there; every entry beyond is evicted and heard as evicted for size.
    #[test]
    fn max_size() {
        for expiry in [Expiry::Sliding, Expiry::Fixed] {
            let (heard, listener) = recorder();
            let cache: TtlMap<usize, usize> = TtlMap::builder()
                .ttl(HOUR)
                .expiry(expiry)
                .capacity(MAX_SIZE)
                .clock(ManualClock::new())
                .on_evict(listener)
                .build();
            for i in 0..2 * MAX_SIZE {
                assert_eq!(cache.get_or_insert_with(&i, || i), i);
                assert_eq!(cache.len(), (i + 1).min(MAX_SIZE), "{expiry:?} {i}");
            }
            assert_eq!(cache.len(), MAX_SIZE);
            let heard = take(&heard);
            assert_eq!(heard.len(), MAX_SIZE, "{expiry:?}");
            assert!(
                heard
                    .iter()
                    .all(|(k, v, r)| *r == Reason::Capacity && k == v)
            );
            assert_eq!(cache.stats().evictions, MAX_SIZE as u64);
            // Every key is held or was heard, exactly once.
            let mut all: Vec<usize> = heard.iter().map(|(k, _, _)| *k).collect();
            all.extend(keys(&cache));
            all.sort_unstable();
            assert_eq!(all, (0..2 * MAX_SIZE).collect::<Vec<_>>(), "{expiry:?}");
        }
    }

    /// Ports `testEviction_lru`: reads reorder, and the least recently used go first.
    /// Operations are a ttl/64 apart, where the README promises exact LRU order.
    #[test]
    fn lru() {
        const STEP: Duration = Duration::from_secs(1000);
        let clock = ManualClock::new();
        let cache: TtlMap<i32, i32> = TtlMap::builder()
            .ttl(STEP * 64)
            .capacity(10)
            .clock(clock.clone())
            .build();
        let get_all = |keys: &[i32]| {
            for &k in keys {
                clock.advance(STEP);
                assert_eq!(cache.get_or_insert_with(&k, || k), k);
            }
        };
        get_all(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // warm up
        assert_eq!(keys(&cache), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        get_all(&[0, 1, 2]); // re-order
        assert_eq!(keys(&cache), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        get_all(&[10, 11, 12]); // evict 3, 4, 5
        assert_eq!(keys(&cache), [0, 1, 2, 6, 7, 8, 9, 10, 11, 12]);

        get_all(&[6, 7, 8]); // re-order
        assert_eq!(keys(&cache), [0, 1, 2, 6, 7, 8, 9, 10, 11, 12]);

        get_all(&[13, 14, 15]); // evict 9, 0, 1
        assert_eq!(keys(&cache), [2, 6, 7, 8, 10, 11, 12, 13, 14, 15]);
    }

    /// Ports `testEviction_invalidateAll`: after `clear`, the whole capacity is free again.
    #[test]
    fn invalidate_all() {
        let (heard, listener) = recorder();
        let cache: TtlMap<i32, i32> = TtlMap::builder()
            .ttl(HOUR)
            .capacity(10)
            .on_evict(listener)
            .build();
        assert!(keys(&cache).is_empty());
        for k in 0..5 {
            cache.get_or_insert_with(&k, || k);
        }
        assert_eq!(keys(&cache), [0, 1, 2, 3, 4]);
        cache.clear();
        assert!(keys(&cache).is_empty());
        assert_eq!(reasons(&take_sorted(&heard)), [Reason::Removed; 5]);
        for k in 5..13 {
            cache.get_or_insert_with(&k, || k);
        }
        assert_eq!(keys(&cache), [5, 6, 7, 8, 9, 10, 11, 12]);
        assert!(take(&heard).is_empty(), "nothing evicted");
        assert_eq!(cache.stats().evictions, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Caffeine ExpirationTest / LoadingCacheTest (expiry parts)
// ---------------------------------------------------------------------------------------------

mod caffeine_expiration {
    use super::*;

    use tests::caffeine::{expired, full};

    /// Ports `ExpirationTest.get` (async cache, three forms of `get`): memoizing calls over
    /// expired entries load new values, and the expired ones are heard. Difference: only the
    /// three written over are heard at once; the others when a sweep removes them (Caffeine
    /// cleans up on the write).
    #[test]
    fn get_loads_over_expired_entries() {
        for expiry in [Expiry::Sliding, Expiry::Fixed] {
            let clock = ManualClock::new();
            let (cache, heard) = full(expiry, &clock);
            clock.advance(secs(120));
            assert_eq!(cache.get_or_insert_with(&1, || 1), 1);
            assert_eq!(
                cache.try_get_or_insert_with(&5, || Ok::<_, ()>(100)),
                Ok(100)
            );
            assert_eq!(
                block_on(cache.get_or_insert_with_async(&10, async { 100 })),
                100
            );
            assert_eq!(take_sorted(&heard), expired([1, 5, 10]), "{expiry:?}");
            assert_eq!(cache.stats().misses, 3);
            assert_eq!(cache.sweep(), 7);
            assert_eq!(
                take_sorted(&heard),
                expired([2, 3, 4, 6, 7, 8, 9]),
                "{expiry:?}"
            );
            assert_eq!(keys(&cache), [1, 5, 10]);
            assert_eq!(cache.stats().expirations, 10);
        }
    }

    /// Ports `ExpirationTest.putIfAbsent` (`get_or_insert_with` is our put-if-absent): a live
    /// entry at 30 s is returned, an expired one at 2.5 min is replaced.
    #[test]
    fn put_if_absent() {
        for expiry in [Expiry::Sliding, Expiry::Fixed] {
            let clock = ManualClock::new();
            let (cache, heard) = full(expiry, &clock);
            clock.advance(secs(30));
            assert_eq!(cache.get_or_insert_with(&1, || 100), -1);
            clock.advance(secs(120));
            assert_eq!(cache.get_or_insert_with(&1, || 100), 100, "{expiry:?}");
            assert_eq!(take(&heard), expired([1]));
            assert_eq!(cache.get(&1), Some(100));
        }
    }

    /// Ports `ExpirationTest.get_inFlight`, `expire_inFlight_nonBlocking` and `get_async`: a
    /// load in flight does not expire however long it runs (nothing is there to sweep, and a
    /// caller arriving later waits for it rather than loading again); its value's life starts
    /// when it lands.
    #[test]
    fn in_flight_load_does_not_expire() {
        for expiry in [Expiry::Sliding, Expiry::Fixed] {
            let clock = ManualClock::new();
            let (heard, listener) = recorder();
            let cache: TtlMap<i32, i32> = TtlMap::builder()
                .ttl(secs(60))
                .expiry(expiry)
                .clock(clock.clone())
                .on_evict(listener)
                .build();
            let (entered, go) = (AtomicBool::new(false), AtomicBool::new(false));
            let runs = AtomicUsize::new(0);
            let load = || {
                cache.get_or_insert_with(&100, || {
                    runs.fetch_add(1, SeqCst);
                    entered.store(true, SeqCst);
                    wait_until("released", || go.load(SeqCst));
                    7
                })
            };
            thread::scope(|s| {
                let leader = s.spawn(load);
                wait_until("the load runs", || entered.load(SeqCst));
                clock.advance(secs(300));
                assert_eq!(cache.sweep(), 0);
                assert!(take(&heard).is_empty());
                let waiter = s.spawn(load);
                wait_until("the waiter joins", || cache.stats().coalesced == 1);
                go.store(true, SeqCst);
                assert_eq!(leader.join().unwrap(), 7);
                assert_eq!(waiter.join().unwrap(), 7);
            });
            assert_eq!(runs.load(SeqCst), 1, "{expiry:?}");
            clock.advance(secs(30));
            assert_eq!(
                cache.get(&100),
                Some(7),
                "{expiry:?}: a life from the landing"
            );
            clock.advance(secs(60));
            assert_eq!(cache.get(&100), None, "{expiry:?}");
            assert_eq!(cache.sweep(), 1);
            assert_eq!(take(&heard), [(100, 7, Reason::Expired)]);
        }
    }

    /// Ports `ExpirationTest.getIfPresentQuietly_expired` and the `*_inFlight` views: looking
    /// at expired entries (`contains_key`, `iter`) counts no hit or miss and extends nothing.
    #[test]
    fn inspecting_expired_entries_is_quiet() {
        for expiry in [Expiry::Sliding, Expiry::Fixed] {
            let clock = ManualClock::new();
            let (cache, heard) = full(expiry, &clock);
            clock.advance(secs(59));
            assert!(cache.contains_key(&1));
            assert_eq!(cache.iter().count(), 10);
            clock.advance(secs(1));
            assert!(!cache.contains_key(&1));
            assert_eq!(cache.iter().count(), 0);
            assert_eq!((cache.stats().hits, cache.stats().misses), (0, 0));
            assert!(take(&heard).is_empty(), "nothing removed by looking");
            assert_eq!(cache.len(), 10);
        }
    }

    /// Ports `LoadingCacheTest.refresh_expired`: a refresh is in flight when the entry
    /// expires; meanwhile the key is absent. Our refresh is the memoizing call that found the
    /// value due, so its value lands like any load (Guava's branch of the test: the refreshed
    /// value is stored; Caffeine discards it). The original is heard as expired.
    #[test]
    fn refresh_expired() {
        for expiry in [Expiry::Sliding, Expiry::Fixed] {
            let clock = ManualClock::new();
            let (heard, listener) = recorder();
            let cache: TtlMap<i32, i32> = TtlMap::builder()
                .ttl(secs(60))
                .expiry(expiry)
                .refresh_after(secs(30))
                .clock(clock.clone())
                .on_evict(listener)
                .build();
            cache.insert(1, 1);
            clock.advance(secs(30));
            let (started, done) = (AtomicBool::new(false), AtomicBool::new(false));
            thread::scope(|s| {
                let refresher = s.spawn(|| {
                    cache.get_or_insert_with(&1, || {
                        started.store(true, SeqCst);
                        wait_until("done", || done.load(SeqCst));
                        2
                    })
                });
                wait_until("the refresh runs", || started.load(SeqCst));
                clock.advance(secs(600));
                assert!(!cache.contains_key(&1));
                assert_eq!(cache.get(&1), None);
                done.store(true, SeqCst);
                assert_eq!(refresher.join().unwrap(), 2);
            });
            assert_eq!(cache.get(&1), Some(2), "{expiry:?}");
            assert_eq!(take(&heard), [(1, 1, Reason::Expired)], "{expiry:?}");
            assert_eq!(
                (cache.stats().refreshes, cache.stats().refresh_failures),
                (1, 0)
            );
        }
    }

    /// Ports `LoadingCacheTest.refresh_evicted`: a refresh is in flight when the entry is
    /// evicted for size by another key's store. As in Guava's branch, the refreshed value
    /// lands (eviction is not an invalidation) and the other key goes for size in turn.
    #[test]
    fn refresh_evicted() {
        let clock = ManualClock::new();
        let (heard, listener) = recorder();
        let cache: TtlMap<i32, i32> = TtlMap::builder()
            .ttl(HOUR)
            .capacity(1)
            .refresh_after(secs(30))
            .clock(clock.clone())
            .on_evict(listener)
            .build();
        cache.insert(1, 1);
        clock.advance(secs(30));
        let (started, done) = (AtomicBool::new(false), AtomicBool::new(false));
        thread::scope(|s| {
            let refresher = s.spawn(|| {
                cache.get_or_insert_with(&1, || {
                    started.store(true, SeqCst);
                    wait_until("done", || done.load(SeqCst));
                    2
                })
            });
            wait_until("the refresh runs", || started.load(SeqCst));
            cache.insert(2, 1);
            cache.sweep();
            assert!(!cache.contains_key(&1));
            assert_eq!(take(&heard), [(1, 1, Reason::Capacity)]);
            done.store(true, SeqCst);
            assert_eq!(refresher.join().unwrap(), 2);
        });
        assert_eq!(cache.get(&1), Some(2));
        assert_eq!(cache.get(&2), None);
        assert_eq!(take(&heard), [(2, 1, Reason::Capacity)]);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.stats().evictions, 2);
    }

    /// Ports the `startTime = ONE_MINUTE_FROM_MAX` runs of `ExpirationTest` (put, get,
    /// memoizing get, cleanUp): with the clock a minute from the end of its range, deadlines
    /// saturate instead of overflowing; entries live until their deadline or the end of the
    /// clock, then expire and are heard.
    #[test]
    fn start_time_one_minute_from_max() {
        for expiry in [Expiry::Sliding, Expiry::Fixed] {
            for ttl in [secs(60), HOUR] {
                let clock = ManualClock::new();
                clock.advance(Duration::from_nanos(u64::MAX) - secs(60));
                let (heard, listener) = recorder();
                let cache: TtlMap<i32, i32> = TtlMap::builder()
                    .ttl(ttl)
                    .expiry(expiry)
                    .clock(clock.clone())
                    .on_evict(listener)
                    .build();
                for k in 1..=10 {
                    cache.insert(k, -k);
                }
                clock.advance(secs(30));
                assert_eq!(cache.get(&1), Some(-1), "{expiry:?} {ttl:?}");
                assert_eq!(cache.get_or_insert_with(&5, || 0), -5);
                assert_eq!(cache.iter().count(), 10);
                assert_eq!(cache.sweep(), 0, "{expiry:?} {ttl:?}");
                clock.advance(secs(120)); // saturates at the end of the clock
                assert_eq!(cache.get(&1), None, "{expiry:?} {ttl:?}");
                // At the clock's end no life is left: the value goes to its caller and is
                // stored already expired (the write may sweep the others on its way).
                assert_eq!(cache.get_or_insert_with(&10, || 100), 100);
                assert_eq!(cache.get(&10), None);
                cache.sweep();
                assert!(cache.is_empty(), "{expiry:?} {ttl:?}");
                let mut want = expired(1..=10);
                want.push((10, 100, Reason::Expired));
                assert_eq!(take_sorted(&heard), want, "{expiry:?} {ttl:?}");
                assert_eq!(cache.stats().expirations, 11);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Caffeine EvictionTest
// ---------------------------------------------------------------------------------------------

mod caffeine_eviction {
    use super::*;

    /// Ports `evict` (`maximumSize` ZERO, ONE and FULL, unweighted): a full map takes ten
    /// absent keys; it holds its maximum, and every key it does not hold was evicted for size,
    /// counted and heard exactly once.
    #[test]
    fn evict() {
        for max in [0usize, 1, 10] {
            for expiry in [Expiry::Sliding, Expiry::Fixed] {
                let (heard, listener) = recorder();
                let cache: TtlMap<i32, i32> = TtlMap::builder()
                    .ttl(HOUR)
                    .expiry(expiry)
                    .capacity(max)
                    .clock(ManualClock::new())
                    .on_evict(listener)
                    .build();
                for k in 1..=10 {
                    cache.insert(k, -k); // the population
                }
                for k in 11..=20 {
                    cache.insert(k, -k); // putAll(absent)
                }
                assert_eq!(cache.len(), max, "{max} {expiry:?}");
                let held = keys(&cache);
                let evicted: Vec<_> = (1..=20)
                    .filter(|k| !held.contains(k))
                    .map(|k| (k, -k, Reason::Capacity))
                    .collect();
                assert_eq!(take_sorted(&heard), evicted, "{max} {expiry:?}");
                assert_eq!(cache.stats().evictions, evicted.len() as u64);
                if max == 10 {
                    // Fixed: the oldest go; sliding with no reads: the least recently stored.
                    assert_eq!(held, (11..=20).collect::<Vec<_>>(), "{expiry:?}");
                }
            }
        }
    }

    /// Ports `removalListener_fails` (a rejecting listener): the listener's panic goes on in
    /// the call that evicted, once, and the map still keeps to its maximum and stays usable.
    #[test]
    fn removal_listener_fails() {
        let rejected = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&rejected);
        let cache: TtlMap<i32, i32> = TtlMap::builder()
            .ttl(HOUR)
            .capacity(10)
            .on_evict(move |_, _, _| {
                r.fetch_add(1, SeqCst);
                panic!("rejected");
            })
            .build();
        for k in 1..=10 {
            cache.insert(k, k);
        }
        let mut size = cache.len();
        let mut panics = 0;
        for k in 11..=20 {
            if catch_unwind(AssertUnwindSafe(|| cache.insert(k, k))).is_err() {
                panics += 1;
            }
            size += 1;
            if cache.len() != size {
                break;
            }
        }
        assert_eq!(rejected.load(SeqCst), 1);
        assert_eq!(panics, 1);
        assert_eq!(cache.len(), 10);
        assert_eq!(cache.get(&11), Some(11), "the store that evicted stands");
        assert_eq!(cache.stats().evictions, 1);
    }

    /// Ports `put_sameWeight` / `replace_sameWeight` (unweighted): storing over a key of a
    /// full map evicts nothing; the old value is heard as replaced.
    #[test]
    fn put_over_a_key_of_a_full_map() {
        let (heard, listener) = recorder();
        let cache: TtlMap<i32, i32> = TtlMap::builder()
            .ttl(HOUR)
            .capacity(10)
            .on_evict(listener)
            .build();
        for k in 1..=10 {
            cache.insert(k, -k);
        }
        assert_eq!(cache.insert(5, 50), Some(-5));
        assert_eq!(cache.len(), 10);
        assert_eq!(take(&heard), [(5, -5, Reason::Replaced)]);
        assert_eq!(cache.stats().evictions, 0);
        assert_eq!(keys(&cache), (1..=10).collect::<Vec<_>>());
    }

    /// Ports `remove` and `invalidateAll` (unweighted): removals free room, so the next stores
    /// evict nothing until the map is full again.
    #[test]
    fn removals_free_room() {
        let (heard, listener) = recorder();
        let cache: TtlMap<i32, i32> = TtlMap::builder()
            .ttl(HOUR)
            .capacity(10)
            .on_evict(listener)
            .build();
        for k in 1..=10 {
            cache.insert(k, -k);
        }
        assert_eq!(cache.remove(&3), Some(-3));
        assert_eq!(take(&heard), [(3, -3, Reason::Removed)]);
        cache.insert(11, -11);
        assert!(take(&heard).is_empty(), "room for one");
        assert_eq!(cache.len(), 10);
        cache.insert(12, -12);
        assert_eq!(reasons(&take(&heard)), [Reason::Capacity]);
        cache.clear();
        assert_eq!(take(&heard).len(), 10);
        for k in 100..110 {
            cache.insert(k, k);
        }
        assert!(take(&heard).is_empty());
        assert_eq!(cache.stats().evictions, 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Caffeine LoadingCacheTest (get)
// ---------------------------------------------------------------------------------------------

mod caffeine_loading {
    use super::*;

    fn counts(cache: &TtlMap<i32, i32>) -> [u64; 4] {
        let s = cache.stats();
        [s.hits, s.misses, s.inserts, s.evictions + s.expirations]
    }

    /// Ports `get_absent_null` (`Loader.NULL`): the load's `None` is returned; one miss,
    /// nothing stored or evicted.
    #[test]
    fn get_absent_null() {
        let cache: TtlMap<i32, i32> = TtlMap::new(HOUR);
        assert_eq!(cache.optionally_get_or_insert_with(&1, || None), None);
        assert_eq!(counts(&cache), [0, 1, 0, 0]);
        assert!(cache.is_empty());
    }

    /// Ports `get_absent_throwsException` and `get_absent_throwsCheckedException`: the
    /// failure reaches the caller (a panic, an `Err`); one miss, nothing stored or evicted.
    #[test]
    fn get_absent_throws() {
        let cache: TtlMap<i32, i32> = TtlMap::new(HOUR);
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            cache.get_or_insert_with(&1, || panic!("IllegalStateException"))
        }));
        assert!(panicked.is_err());
        assert_eq!(counts(&cache), [0, 1, 0, 0]);
        let cache: TtlMap<i32, i32> = TtlMap::new(HOUR);
        assert_eq!(
            cache.try_get_or_insert_with(&1, || Err::<i32, _>("ExecutionException")),
            Err("ExecutionException")
        );
        assert_eq!(counts(&cache), [0, 1, 0, 0]);
        assert!(cache.is_empty());
    }

    /// Ports `get_absent` and `get_present`: an absent key loads (a miss and a store), present
    /// ones are hits that never run the loader.
    #[test]
    fn get_absent_and_present() {
        let cache: TtlMap<i32, i32> = TtlMap::new(HOUR);
        assert_eq!(cache.get_or_insert_with(&7, || -7), -7);
        assert_eq!(counts(&cache), [0, 1, 1, 0]);

        let cache: TtlMap<i32, i32> = TtlMap::new(HOUR);
        for k in 1..=10 {
            cache.insert(k, -k);
        }
        cache.reset_stats();
        for k in [1, 5, 10] {
            assert_eq!(cache.get_or_insert_with(&k, || unreachable!()), -k);
        }
        assert_eq!(counts(&cache), [3, 0, 0, 0]);
    }
}

// ---------------------------------------------------------------------------------------------
// Guava CacheBuilderTest (basher tests)
// ---------------------------------------------------------------------------------------------

mod guava_cache_builder {
    use super::*;

    /// A small xorshift generator: each thread its own, seeded apart.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[derive(Debug)]
    enum LoadError {
        Exception,
        Null,
    }

    /// Ports `testRemovalNotification_get_basher`: many threads load random keys of a map
    /// with a fixed life and a maximum size, through a loader that fails, returns null, is
    /// slow or returns at once. Every notification pairs the right key and value; every
    /// successful load was stored (the failing ones share their error, so no caller makes a
    /// load of its own beside the flight), and every stored value is still held or was heard
    /// exactly once. Guava's threads run in real time; here the threads move a `ManualClock`.
    #[test]
    fn removal_notification_get_basher() {
        const THREADS: u64 = 8;
        const GETS: u64 = 5000;
        const KEYS: u64 = 1000;
        let clock = ManualClock::new();
        let (heard, listener) = recorder();
        let cache: TtlMap<String, String> = TtlMap::builder()
            .ttl(ms(100))
            .expiry(Expiry::Fixed)
            .capacity(500)
            .clock(clock.clone())
            .on_evict(listener)
            .build();
        let (computed, exceptions, nulls) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        thread::scope(|s| {
            for t in 0..THREADS {
                let (cache, clock) = (&cache, &clock);
                let (computed, exceptions, nulls) = (&computed, &exceptions, &nulls);
                s.spawn(move || {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1).wrapping_mul(0x1234_5678));
                    for j in 0..GETS {
                        if j % 50 == 0 {
                            clock.advance(ms(1));
                        }
                        let key = format!("key{}", rng.next(KEYS));
                        let behavior = rng.next(4);
                        let _ =
                            cache.try_get_or_insert_with_shared(key.as_str(), || match behavior {
                                0 => {
                                    exceptions.fetch_add(1, SeqCst);
                                    Err(LoadError::Exception)
                                }
                                1 => {
                                    nulls.fetch_add(1, SeqCst);
                                    Err(LoadError::Null)
                                }
                                2 => {
                                    for _ in 0..20 {
                                        thread::yield_now();
                                    }
                                    computed.fetch_add(1, SeqCst);
                                    Ok(key.clone())
                                }
                                _ => {
                                    computed.fetch_add(1, SeqCst);
                                    Ok(key.clone())
                                }
                            });
                    }
                });
            }
        });
        let heard = take(&heard);
        for (k, v, _) in &heard {
            assert_eq!(k, v, "invalid removal notification");
        }
        let stats = cache.stats();
        let by = |reason| heard.iter().filter(|(_, _, r)| *r == reason).count() as u64;
        assert_eq!(by(Reason::Removed), 0);
        assert_eq!(by(Reason::Capacity), stats.evictions);
        assert_eq!(by(Reason::Expired), stats.expirations);
        assert_eq!(stats.hits + stats.misses, THREADS * GETS);
        assert_eq!(
            computed.load(SeqCst) as u64,
            stats.inserts,
            "each load stored"
        );
        // Each computed value is still in the cache, or was passed to the removal listener.
        assert_eq!(stats.inserts, (cache.len() + heard.len()) as u64);
        assert!(cache.len() <= 500);
        assert!(exceptions.load(SeqCst) > 0 && nulls.load(SeqCst) > 0);
    }

    /// Ports `testRemovalNotification_clear_basher`: loads of a thousand keys run on many
    /// threads, held at first, while `clear` comes in the middle of them. Every notification
    /// pairs the right key and value, every seeded entry is heard, and no key is both held and
    /// heard. Difference (invalidation wins): a load in flight when `clear` is called is not
    /// stored and not heard (Guava stores it), so where Guava asserts that every key is held
    /// or heard, the port asserts that every key held or heard was stored exactly once (the
    /// `inserts` count) and that only such in-flight keys are missing.
    #[test]
    fn removal_notification_clear_basher() {
        const THREADS: usize = 8;
        const TASKS: usize = 1000;
        const SEEDS: usize = 100;
        let (heard, listener) = recorder();
        let cache: TtlMap<String, String> = TtlMap::builder().ttl(HOUR).on_evict(listener).build();
        for i in 0..SEEDS {
            let s = format!("b{i}");
            assert_eq!(cache.get_or_insert_with(s.as_str(), || s.clone()), s);
        }
        let (hold, go) = (AtomicBool::new(true), AtomicBool::new(false));
        let (next, computed) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let cleared_at = AtomicUsize::new(usize::MAX);
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, SeqCst);
                        if i >= TASKS {
                            break;
                        }
                        let key = format!("a{i}");
                        let got = cache.get_or_insert_with(key.as_str(), || {
                            if hold.load(SeqCst) {
                                wait_until("the latch", || go.load(SeqCst));
                            }
                            key.clone()
                        });
                        assert_eq!(got, key);
                        computed.fetch_add(1, SeqCst);
                    }
                });
            }
            go.store(true, SeqCst);
            // Let some computations complete.
            wait_until("some loads complete", || computed.load(SeqCst) >= THREADS);
            cache.clear();
            cleared_at.store(next.load(SeqCst), SeqCst);
        });
        let heard = take(&heard);
        let mut heard_keys = BTreeSet::new();
        for (k, v, r) in &heard {
            assert_eq!(k, v, "unexpected key/value pair passed to the listener");
            assert_eq!(*r, Reason::Removed);
            assert!(heard_keys.insert(k.clone()), "{k} heard twice");
        }
        for i in 0..SEEDS {
            assert!(heard_keys.contains(&format!("b{i}")), "seed b{i} heard");
        }
        let held: BTreeSet<String> = cache.iter().map(|(k, _)| k).collect();
        assert!(held.is_disjoint(&heard_keys));
        assert_eq!(
            (held.len() + heard_keys.len()) as u64,
            cache.stats().inserts,
            "every stored value is held or heard"
        );
        // Missing keys: only loads that had begun by the time `clear` returned (at most the
        // tasks taken by then, one in flight per thread).
        let missing = (0..TASKS)
            .map(|i| format!("a{i}"))
            .filter(|k| !held.contains(k) && !heard_keys.contains(k))
            .count();
        assert!(missing <= THREADS, "{missing} keys neither held nor heard");
        assert!(cleared_at.load(SeqCst) <= TASKS + THREADS);
    }
}
