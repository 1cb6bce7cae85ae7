//! Real projects' code that uses moka, mini-moka, quick_cache or cached's stores directly as a
//! map, ported to `TtlMap`: one shape per module, each citing where it comes from. The macro
//! users are in `ported_real_users.rs`; the peers' own suites in `ported_peers_map.rs`.
//!
//! Where a source is cited as "(index id N)", the code search found the file but did not name
//! its repository; the quoted calls are the user's. I/O (databases, HTTP, contracts, disks)
//! is a std-only stand-in that counts its calls; time is a `ManualClock`; no test sleeps.
//!
//! How the peers' calls map (the README's "TtlMap" section and the rustdoc):
//! - moka `get_with` / `try_get_with` / `optionally_get_with` are `get_or_insert_with` /
//!   `try_get_or_insert_with_shared` / `optionally_get_or_insert_with` (and `_async`);
//!   `entry(k).or_insert_with(init).is_fresh()` is `get_or_insert_with` with a flag the
//!   constructor sets (only the leader's constructor runs);
//! - `time_to_live` is `Expiry::Fixed`; `time_to_idle` is `Expiry::Sliding`; both together
//!   are `ttl(tti).max_lifetime(ttl)`; a moka `Expiry` whose `expire_after_create` returns a
//!   value's own life is `expire_after`;
//! - `invalidate` is `remove`, `invalidate_all` is `clear`, `invalidate_entries_if` is
//!   `retain` with the predicate negated, `run_pending_tasks` + `entry_count` is `sweep` +
//!   `len`, `iter` is `iter`;
//! - an eviction listener is `on_evict`; it hears an expired entry when something removes it
//!   (a sweep, `sweep_every`, a write over it), not on its deadline;
//! - quick_cache and `cached`'s stores without a TTL get one as long as the user's process
//!   (`Duration::MAX` saturates).
//!
//! GAPS met (what the users needed that `TtlMap` does not have), each ported the way the
//! README allows and marked `Gap:` in its module: no weigher (capacity counts entries); no
//! entry/compute API (`and_compute_with`, a conditional remove): read-modify-write goes
//! through shared-mutable values or a whole-map `retain`; no `expire_after_update` /
//! `expire_after_read` (a value that keeps its deadline across an update must carry its
//! birth time); no wait timeout on a flight (quick_cache's `get_value_or_guard(k, Some(t))`);
//! a memoizing call with `Arc<str>` keys cannot look up by `&str` (`str::Owned` is `String`).

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, LazyLock, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use cache_core::{Expiry, ManualClock, Reason, TtlMap, TupleRef};
use tests::{block_on, two_worker_runtime, wait_until, wait_until_async};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs `calls` threads that each call `f` once, all released together; their results in
/// thread order.
fn at_once<T: Send>(calls: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(calls);
    thread::scope(|s| {
        let handles: Vec<_> = (0..calls)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

// ---------------------------------------------------------------------------------------
// moka `get_with`: one shared object per key
// ---------------------------------------------------------------------------------------

/// (index id 11306211420) an HTTP response cache with x-fetch: `locks:
/// MokaCacheBuilder::new(32768).time_to_idle(Duration::from_secs(60)).build_with_hasher(..)`
/// and `fn get_lock(&self, key: &K::Key) -> Arc<Mutex<()>> { self.locks.get_with(key.clone(),
/// || Arc::new(Mutex::new(()))) }`: every request for one key must lock the same mutex.
mod response_cache_locks {
    use super::*;

    pub struct Locks {
        pub locks: TtlMap<String, Arc<Mutex<()>>>,
        pub made: AtomicUsize,
    }

    impl Locks {
        pub fn new(clock: &ManualClock) -> Self {
            let locks = TtlMap::builder()
                .ttl(secs(60))
                .capacity(32768)
                .clock(clock.clone())
                .build();
            Locks {
                locks,
                made: AtomicUsize::new(0),
            }
        }

        pub fn get_lock(&self, key: &str) -> Arc<Mutex<()>> {
            self.locks.get_or_insert_with(key, || {
                self.made.fetch_add(1, SeqCst);
                // Every other request for the key joins this flight before it lands.
                wait_until("the other requests wait for this lock", || {
                    self.locks.stats().coalesced >= 3
                });
                Arc::new(Mutex::new(()))
            })
        }
    }
}

#[test]
fn response_cache_requests_for_one_key_share_one_lock_until_it_idles_out() {
    use response_cache_locks::*;
    let clock = ManualClock::new();
    let locks = Locks::new(&clock);
    let got = at_once(4, |_| locks.get_lock("GET /feed"));
    assert!(
        got.iter().all(|l| Arc::ptr_eq(l, &got[0])),
        "one mutex per key"
    );
    assert_eq!(locks.made.load(SeqCst), 1);
    clock.advance(secs(59));
    assert!(Arc::ptr_eq(&locks.locks.get("GET /feed").unwrap(), &got[0]));
    clock.advance(secs(59)); // used 59 s ago: time_to_idle keeps it
    assert!(Arc::ptr_eq(&locks.locks.get("GET /feed").unwrap(), &got[0]));
    clock.advance(secs(60));
    assert!(locks.locks.get("GET /feed").is_none(), "idle for 60 s");
}

/// valerter, `src/throttle.rs` (the module docs name `valerter::throttle::Throttler`): "moka
/// sync cache: thread-safe LRU cache with automatic TTL expiration" and "atomic counters:
/// lock-free counting within cache entries": `let entry = self.cache.get_with(key.clone(), ||
/// Arc::new(AtomicU32::new(0))); let count = entry.fetch_add(1, Ordering::SeqCst) + 1;` then
/// `count <= self.max_count` passes. The window is the cache's `time_to_live`.
mod valerter_throttle {
    use super::*;

    #[derive(Debug, PartialEq)]
    pub enum ThrottleResult {
        Pass,
        Throttled,
    }

    pub struct Throttler {
        cache: TtlMap<String, Arc<AtomicU32>>,
        max_count: u32,
    }

    impl Throttler {
        pub fn new(max_count: u32, window: Duration, clock: &ManualClock) -> Self {
            let cache = TtlMap::builder()
                .ttl(window)
                .expiry(Expiry::Fixed) // moka's time_to_live: the window starts at the first alert
                .capacity(10_000)
                .clock(clock.clone())
                .build();
            Throttler { cache, max_count }
        }

        pub fn check(&self, key: &str) -> ThrottleResult {
            let entry = self
                .cache
                .get_or_insert_with(key, || Arc::new(AtomicU32::new(0)));
            let count = entry.fetch_add(1, SeqCst) + 1;
            if count <= self.max_count {
                ThrottleResult::Pass
            } else {
                ThrottleResult::Throttled
            }
        }
    }
}

#[test]
fn valerter_throttle_lets_exactly_max_count_alerts_through_per_window_from_many_threads() {
    use valerter_throttle::*;
    let clock = ManualClock::new();
    let throttler = Throttler::new(3, secs(60), &clock);
    let passed = at_once(8, |_| {
        (0..5)
            .filter(|_| throttler.check("disk_full@db-1") == ThrottleResult::Pass)
            .count()
    });
    assert_eq!(
        passed.iter().sum::<usize>(),
        3,
        "one counter per key: {passed:?}"
    );
    assert_eq!(throttler.check("disk_full@db-2"), ThrottleResult::Pass);
    // A steady stream of alerts does not extend the window (Fixed, not Sliding).
    clock.advance(secs(30));
    assert_eq!(throttler.check("disk_full@db-1"), ThrottleResult::Throttled);
    clock.advance(secs(30));
    assert_eq!(throttler.check("disk_full@db-1"), ThrottleResult::Pass);
}

/// (index id 63199444842) an event deduplicator: "Uses `get_with()` to avoid the TOCTOU race
/// between `get()` and `insert()`. Under concurrent dispatch (e.g., live Pub/Sub event +
/// catch-up Stream event arriving simultaneously), only one caller will see `is_new = true`":
/// `let is_new = AtomicBool::new(false); self.cache.get_with(key.clone(), || {
/// is_new.store(true, Ordering::Relaxed); }); is_new.load(..)`, and `mark_processed(key)` is
/// `self.cache.insert(key, ())`.
mod event_dedup {
    use super::*;

    pub struct Deduplicator {
        pub cache: TtlMap<(String, u64), ()>,
    }

    impl Deduplicator {
        pub fn should_process(&self, key: &(String, u64)) -> bool {
            let is_new = AtomicBool::new(false);
            self.cache.get_or_insert_with(key, || {
                is_new.store(true, SeqCst);
                // Make the other deliveries of this event arrive while it is being claimed.
                wait_until("the duplicate deliveries arrive", || {
                    self.cache.stats().coalesced >= 1
                });
            });
            is_new.load(SeqCst)
        }

        pub fn mark_processed(&self, key: (String, u64)) {
            self.cache.insert(key, ());
        }
    }
}

#[test]
fn event_dedup_processes_an_event_delivered_twice_at_once_exactly_once() {
    use event_dedup::*;
    let clock = ManualClock::new();
    let dedup = Deduplicator {
        cache: TtlMap::builder()
            .ttl(secs(300))
            .clock(clock.clone())
            .build(),
    };
    let key = ("orders".to_string(), 41);
    let claimed = at_once(2, |_| dedup.should_process(&key));
    assert_eq!(claimed.iter().filter(|c| **c).count(), 1, "{claimed:?}");
    dedup.mark_processed(("orders".to_string(), 42));
    assert!(!dedup.should_process(&("orders".to_string(), 42)));
    clock.advance(secs(300));
    assert_eq!(dedup.cache.get(&key), None, "forgotten after the window");
}

/// (index id 66513767952) a SQL gateway's implicit sessions: `if let Some(session) =
/// self.sessions.get(&key) { return session; }` then "`get_with` collapses a concurrent race
/// onto one initializer, so two requests from the same principal arriving together share a
/// context rather than each building one and one of them losing its prepared statements to
/// the other's insert": `self.sessions.get_with(key.clone(), || Arc::new(SqlSession { .. }))`
/// followed by `self.sessions.run_pending_tasks()`.
mod sql_sessions {
    use super::*;

    pub struct SqlSession {
        pub id: String,
        pub prepared: Mutex<Vec<String>>,
    }

    pub struct Gateway {
        pub sessions: TtlMap<String, Arc<SqlSession>>,
        pub contexts_built: AtomicUsize,
    }

    impl Gateway {
        pub fn implicit_session(&self, owner_stable_id: &str) -> Arc<SqlSession> {
            let key = format!("implicit:{owner_stable_id}");
            if let Some(session) = self.sessions.get(&key) {
                return session;
            }
            // `run_pending_tasks` has no counterpart: the map defers nothing.
            self.sessions.get_or_insert_with(&key, || {
                self.contexts_built.fetch_add(1, SeqCst);
                wait_until("the second request waits for this context", || {
                    self.sessions.stats().coalesced >= 1
                });
                Arc::new(SqlSession {
                    id: key.clone(),
                    prepared: Mutex::new(Vec::new()),
                })
            })
        }
    }
}

#[test]
fn sql_sessions_two_requests_of_one_principal_share_one_context_and_its_statements() {
    use sql_sessions::*;
    let clock = ManualClock::new();
    let gateway = Gateway {
        sessions: TtlMap::builder()
            .ttl(secs(900))
            .clock(clock.clone())
            .build(),
        contexts_built: AtomicUsize::new(0),
    };
    let sessions = at_once(2, |i| {
        let session = gateway.implicit_session("user-7");
        session.prepared.lock().unwrap().push(format!("stmt{i}"));
        session
    });
    assert!(Arc::ptr_eq(&sessions[0], &sessions[1]));
    assert_eq!(gateway.contexts_built.load(SeqCst), 1);
    let again = gateway.implicit_session("user-7");
    assert_eq!(again.id, "implicit:user-7");
    assert_eq!(again.prepared.lock().unwrap().len(), 2, "no statement lost");
}

/// (index id 1453491378) an SSTable block cache: `Cache::builder().max_capacity(cache_size)
/// .weigher(|_: &(String, u64), block: &Result<Arc<Vec<u8>>, Arc<Error>>| match block {
/// Ok(block) => block.len() as u32, Err(_) => 1 })
/// .eviction_listener(Self::eviction_listener(logger, evictions_counter))` and `let block =
/// self.cache.get_with(key.clone(), || { .. self.read_and_decompress(..) .. })`: a failed read
/// is stored as a value too ("Errors take minimal space").
///
/// Gap: no weigher; the capacity counts blocks, not bytes.
mod sstable_block_cache {
    use super::*;

    pub type Block = Result<Arc<Vec<u8>>, Arc<std::io::Error>>;

    pub struct BlockCache {
        pub cache: TtlMap<(String, u64), Block>,
        pub evictions: Arc<AtomicUsize>,
        pub reads: AtomicUsize,
    }

    impl BlockCache {
        pub fn new(blocks: usize) -> Self {
            let evictions = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&evictions);
            let cache = TtlMap::builder()
                .ttl(Duration::MAX) // moka's cache here has no time limit
                .capacity(blocks)
                .on_evict(move |_, _, reason| {
                    if reason == Reason::Capacity {
                        counter.fetch_add(1, SeqCst);
                    }
                })
                .build();
            BlockCache {
                cache,
                evictions,
                reads: AtomicUsize::new(0),
            }
        }

        pub fn get(&self, path: &str, offset: u64) -> Block {
            self.cache
                .get_or_insert_with(&TupleRef((path, &offset)), || {
                    self.reads.fetch_add(1, SeqCst);
                    if !offset.is_multiple_of(4096) {
                        return Err(Arc::new(std::io::Error::other("checksum mismatch")));
                    }
                    Ok(Arc::new(vec![offset as u8; 16]))
                })
        }
    }
}

#[test]
fn sstable_block_cache_reads_each_block_once_keeps_its_errors_and_counts_evictions() {
    use sstable_block_cache::*;
    let cache = BlockCache::new(2);
    assert_eq!(cache.get("000012.sst", 0).unwrap()[0], 0);
    assert!(Arc::ptr_eq(
        &cache.get("000012.sst", 4096).unwrap(),
        &cache.get("000012.sst", 4096).unwrap()
    ));
    assert_eq!(cache.reads.load(SeqCst), 2);
    assert!(cache.get("000012.sst", 7).is_err());
    assert!(cache.get("000012.sst", 7).is_err());
    assert_eq!(
        cache.reads.load(SeqCst),
        3,
        "the user caches a failed read as a value"
    );
    assert_eq!(cache.evictions.load(SeqCst), 1);
    assert_eq!(cache.cache.len(), 2);
}

/// (index id 70875479493) a tokenizer's prefix index: `Cache::builder().max_capacity(capacity)
/// .weigher(|key: &Arc<str>, ids: &Arc<[u32]>| (key.len() + ids.len() * 4).min(u32::MAX as
/// usize) as u32).eviction_listener(move |_, _, cause| if cause == RemovalCause::Size {
/// count.fetch_add(1, Ordering::Relaxed); })`.
///
/// Gap: no weigher (capacity counts entries). Gap: with `Arc<str>` keys a memoizing call
/// cannot take a `&str` (`str::Owned` is `String`), so a hit builds an `Arc<str>`; `get` and
/// `remove` do take `&str`.
mod tokenizer_index {
    use super::*;

    pub struct Index {
        pub index: TtlMap<Arc<str>, Arc<[u32]>>,
        pub evictions: Arc<AtomicUsize>,
        pub encodes: AtomicUsize,
    }

    impl Index {
        pub fn new(capacity: usize) -> Self {
            let evictions = Arc::new(AtomicUsize::new(0));
            let count = Arc::clone(&evictions);
            let index = TtlMap::builder()
                .ttl(Duration::MAX)
                .capacity(capacity)
                .on_evict(move |_, _, reason| {
                    if reason == Reason::Capacity {
                        count.fetch_add(1, SeqCst);
                    }
                })
                .build();
            Index {
                index,
                evictions,
                encodes: AtomicUsize::new(0),
            }
        }

        pub fn encode(&self, text: &str) -> Arc<[u32]> {
            if let Some(ids) = self.index.get(text) {
                return ids;
            }
            let key: Arc<str> = Arc::from(text);
            self.index.get_or_insert_with(&key, || {
                self.encodes.fetch_add(1, SeqCst);
                text.bytes().map(u32::from).collect()
            })
        }
    }
}

#[test]
fn tokenizer_index_encodes_each_text_once_and_counts_size_evictions() {
    use tokenizer_index::*;
    let index = Index::new(2);
    assert_eq!(&*index.encode("ab"), &[97, 98]);
    index.encode("ab");
    index.encode("cd");
    assert_eq!(index.encodes.load(SeqCst), 2);
    index.encode("ab"); // a hit: "ab" is now the most recently used
    index.encode("ef");
    assert_eq!(index.evictions.load(SeqCst), 1);
    assert!(
        index.index.get("cd").is_none(),
        "the least recently used went"
    );
    assert!(index.index.get("ab").is_some());
}

// ---------------------------------------------------------------------------------------
// moka `try_get_with` / `optionally_get_with`: errors and `None` are not stored
// ---------------------------------------------------------------------------------------

/// (index id 58526476894; an API server's `stripe.rs` in LIT-Protocol's tree, repository not
/// confirmed) `resolve_wallet_address`: `state.wallet_cache.try_get_with(key, async {
/// crate::accounts::get_billing_wallet_address(api_key).await }).await` then "Moka wraps
/// errors in `Arc`, which can't be unwrapped into the owned error. Re-wrapping as a string
/// would erase the typed `UnknownApiKey` that guards rely on to answer 401 instead of 402 —
/// so reconstruct it": `.map_err(|e: Arc<anyhow::Error>| if
/// e.downcast_ref::<UnknownApiKey>().is_some() { anyhow::Error::new(UnknownApiKey) } else {
/// anyhow!("{e}") })`; `invalidate_wallet_cache` is `wallet_cache.invalidate(&key)`. "Results
/// are cached for 1 hour", keyed by a hash of the key ("no secret material is held in the
/// cache's key set"). `get_customer_by_wallet` "uses `try_get_with` to coalesce concurrent
/// requests for the same wallet, preventing duplicate Stripe customer creation".
mod lit_billing {
    use super::*;
    use std::hash::{BuildHasher, RandomState};

    #[derive(Debug, thiserror::Error)]
    #[error("unknown api key")]
    pub struct UnknownApiKey;

    pub struct StripeState {
        pub wallet_cache: TtlMap<String, String>,
        pub customer_cache: TtlMap<String, String>,
        pub accounts: Mutex<HashMap<String, String>>,
        pub contract_calls: AtomicUsize,
        pub customers_created: AtomicUsize,
        pub stripe_down: AtomicBool,
        hasher: RandomState,
    }

    impl StripeState {
        pub fn new(clock: &ManualClock) -> Self {
            let hour = || {
                TtlMap::builder()
                    .ttl(secs(3600))
                    .expiry(Expiry::Fixed)
                    .clock(clock.clone())
                    .build()
            };
            StripeState {
                wallet_cache: hour(),
                customer_cache: hour(),
                accounts: Mutex::new(HashMap::new()),
                contract_calls: AtomicUsize::new(0),
                customers_created: AtomicUsize::new(0),
                stripe_down: AtomicBool::new(false),
                hasher: RandomState::new(),
            }
        }

        fn cache_key(&self, api_key: &str) -> String {
            format!("{:016x}", self.hasher.hash_one(api_key))
        }

        async fn get_billing_wallet_address(&self, api_key: &str) -> anyhow::Result<String> {
            self.contract_calls.fetch_add(1, SeqCst);
            match self.accounts.lock().unwrap().get(api_key) {
                Some(wallet) => Ok(wallet.clone()),
                None => Err(anyhow::Error::new(UnknownApiKey).context("contract lookup")),
            }
        }

        pub async fn resolve_wallet_address(&self, api_key: &str) -> anyhow::Result<String> {
            let key = self.cache_key(api_key);
            self.wallet_cache
                .try_get_or_insert_with_shared_async(&key, self.get_billing_wallet_address(api_key))
                .await
                .map_err(|e: Arc<anyhow::Error>| {
                    if e.downcast_ref::<UnknownApiKey>().is_some() {
                        anyhow::Error::new(UnknownApiKey)
                    } else {
                        anyhow::anyhow!("{e}")
                    }
                })
        }

        pub fn invalidate_wallet_cache(&self, api_key: &str) {
            self.wallet_cache.remove(&self.cache_key(api_key));
        }

        pub async fn get_customer_by_wallet(&self, wallet: &str) -> anyhow::Result<String> {
            self.customer_cache
                .try_get_or_insert_with_shared_async(wallet, async {
                    let n = self.customers_created.fetch_add(1, SeqCst);
                    // Stripe's search lags: every concurrent request arrives before this one
                    // has created the customer.
                    wait_until_async("the other requests for the wallet wait", || {
                        self.customer_cache.stats().coalesced >= 7
                    })
                    .await;
                    if self.stripe_down.load(SeqCst) {
                        anyhow::bail!("stripe: 503");
                    }
                    Ok(format!("cus_{n}"))
                })
                .await
                .map_err(|e: Arc<anyhow::Error>| anyhow::anyhow!("{e}"))
        }
    }
}

#[test]
fn lit_billing_keeps_the_typed_unknown_key_error_caches_wallets_an_hour_and_invalidates() {
    use lit_billing::*;
    let clock = ManualClock::new();
    let state = StripeState::new(&clock);
    let err = block_on(state.resolve_wallet_address("sk-new")).unwrap_err();
    assert!(
        err.downcast_ref::<UnknownApiKey>().is_some(),
        "401, not 402: {err}"
    );
    assert!(block_on(state.resolve_wallet_address("sk-new")).is_err());
    assert_eq!(
        state.contract_calls.load(SeqCst),
        2,
        "errors are not cached"
    );
    state
        .accounts
        .lock()
        .unwrap()
        .insert("sk-new".into(), "0xabc".into());
    assert_eq!(
        block_on(state.resolve_wallet_address("sk-new")).unwrap(),
        "0xabc"
    );
    assert_eq!(
        block_on(state.resolve_wallet_address("sk-new")).unwrap(),
        "0xabc"
    );
    assert_eq!(state.contract_calls.load(SeqCst), 3);
    state.accounts.lock().unwrap().clear(); // the usage key is deleted...
    state.invalidate_wallet_cache("sk-new"); // ...and its mapping dropped
    assert!(block_on(state.resolve_wallet_address("sk-new")).is_err());
    state
        .accounts
        .lock()
        .unwrap()
        .insert("sk-new".into(), "0xdef".into());
    block_on(state.resolve_wallet_address("sk-new")).unwrap();
    clock.advance(secs(3599));
    assert_eq!(
        block_on(state.resolve_wallet_address("sk-new")).unwrap(),
        "0xdef"
    );
    assert_eq!(state.contract_calls.load(SeqCst), 5);
    clock.advance(secs(1));
    block_on(state.resolve_wallet_address("sk-new")).unwrap();
    assert_eq!(
        state.contract_calls.load(SeqCst),
        6,
        "an hour after it was stored"
    );
}

#[test]
fn lit_billing_eight_concurrent_requests_create_one_stripe_customer_or_share_one_failure() {
    use lit_billing::*;
    let state = Arc::new(StripeState::new(&ManualClock::new()));
    let rt = two_worker_runtime();
    let run = |wallet: &'static str| {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let state = Arc::clone(&state);
                rt.spawn(async move { state.get_customer_by_wallet(wallet).await })
            })
            .collect();
        rt.block_on(async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        })
    };
    let customers = run("0xabc");
    assert!(customers.iter().all(|c| c.as_deref().unwrap() == "cus_0"));
    assert_eq!(
        state.customers_created.load(SeqCst),
        1,
        "no duplicate customer"
    );
    state.stripe_down.store(true, SeqCst);
    state.customer_cache.reset_stats();
    let failed = run("0xdef");
    assert!(
        failed
            .iter()
            .all(|c| c.as_ref().unwrap_err().to_string() == "stripe: 503")
    );
    assert_eq!(
        state.customers_created.load(SeqCst),
        2,
        "one timeout, not eight"
    );
    assert!(state.customer_cache.get("0xdef").is_none());
}

/// The same file's `get_credit_balance`: "a stale-while-revalidate strategy: if a cached value
/// exists it is returned immediately *and* a single background task is spawned to refresh the
/// cache from Stripe (deduplicated via `balance_refresh_in_flight`)", a second moka cache whose
/// "60-second TTL acts as a cooldown so each customer triggers at most one Stripe GET per
/// minute"; the refresh stores the fetched balance only `if
/// should_update_balance_cache(current, fetched)` (`fetched > cached`), which "preserves
/// optimistic decrements made by `charge()`", itself `balance_cache.insert(customer_id,
/// balance + cost_cents)`; "the 10-minute window".
///
/// Port: `refresh_after(60 s)` replaces the in-flight cache and the spawned task (the caller
/// that finds the balance due refreshes it, the others keep the cached one); the constructor
/// reads the current balance with `get` to apply the user's rule. Difference: the refreshing
/// caller waits for Stripe and gets the refreshed balance.
mod lit_balance {
    use super::*;

    pub struct Billing {
        pub balance_cache: TtlMap<String, i64>,
        pub stripe_balance: Mutex<i64>,
        pub stripe_gets: AtomicUsize,
        /// A hook inside the Stripe GET: (started, go) channels for one call.
        pub hook: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
    }

    fn should_update_balance_cache(cached: Option<i64>, fetched: i64) -> bool {
        match cached {
            Some(c) => fetched > c,
            None => true,
        }
    }

    impl Billing {
        pub fn new(clock: &ManualClock) -> Self {
            Billing {
                balance_cache: TtlMap::builder()
                    .ttl(secs(600))
                    .expiry(Expiry::Fixed)
                    .refresh_after(secs(60))
                    .clock(clock.clone())
                    .build(),
                stripe_balance: Mutex::new(-1000),
                stripe_gets: AtomicUsize::new(0),
                hook: Mutex::new(None),
            }
        }

        fn fetch(&self) -> Result<i64, String> {
            self.stripe_gets.fetch_add(1, SeqCst);
            if let Some((started, go)) = self.hook.lock().unwrap().take() {
                started.send(()).unwrap();
                go.recv().unwrap();
            }
            Ok(*self.stripe_balance.lock().unwrap())
        }

        pub fn get_credit_balance(&self, customer_id: &str) -> Result<i64, Arc<String>> {
            self.balance_cache
                .try_get_or_insert_with_shared(customer_id, || {
                    let fetched = self.fetch()?;
                    let current = self.balance_cache.get(customer_id);
                    Ok(match current {
                        Some(c) if !should_update_balance_cache(current, fetched) => c,
                        _ => fetched,
                    })
                })
        }

        pub fn charge(&self, customer_id: &str, cost_cents: i64) -> Result<(), String> {
            let balance = self
                .get_credit_balance(customer_id)
                .map_err(|e| e.to_string())?;
            if balance + cost_cents > 0 {
                return Err("insufficient credits".into());
            }
            self.balance_cache
                .insert(customer_id.to_string(), balance + cost_cents);
            Ok(())
        }
    }
}

#[test]
fn lit_balance_refreshes_at_most_once_a_minute_and_keeps_optimistic_decrements() {
    use lit_balance::*;
    let clock = ManualClock::new();
    let billing = Billing::new(&clock);
    assert_eq!(billing.get_credit_balance("cus_1"), Ok(-1000));
    billing.charge("cus_1", 1).unwrap(); // Stripe still says -1000
    for _ in 0..5 {
        assert_eq!(billing.get_credit_balance("cus_1"), Ok(-999));
    }
    assert_eq!(billing.stripe_gets.load(SeqCst), 1, "within the cooldown");
    clock.advance(secs(60));
    assert_eq!(
        billing.get_credit_balance("cus_1"),
        Ok(-999),
        "the lower fetch is ignored"
    );
    assert_eq!(billing.stripe_gets.load(SeqCst), 2);
    *billing.stripe_balance.lock().unwrap() = -500; // charged elsewhere
    assert_eq!(
        billing.get_credit_balance("cus_1"),
        Ok(-999),
        "cooldown again"
    );
    clock.advance(secs(60));
    assert_eq!(billing.get_credit_balance("cus_1"), Ok(-500));
    assert_eq!(billing.stripe_gets.load(SeqCst), 3);
}

#[test]
fn lit_balance_a_charge_during_a_refresh_is_not_overwritten_by_the_refresh() {
    use lit_balance::*;
    let clock = ManualClock::new();
    let billing = Billing::new(&clock);
    *billing.stripe_balance.lock().unwrap() = -2000;
    assert_eq!(billing.get_credit_balance("cus_1"), Ok(-2000));
    clock.advance(secs(60));
    *billing.stripe_balance.lock().unwrap() = -1000; // a top-up Stripe knows of
    let (started_tx, started) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    *billing.hook.lock().unwrap() = Some((started_tx, go_rx));
    thread::scope(|s| {
        let refresher = s.spawn(|| billing.get_credit_balance("cus_1"));
        started.recv().unwrap();
        // Meanwhile a charge reads the cached balance and decrements it.
        let charged = billing.charge("cus_1", 5);
        go.send(()).unwrap();
        assert_eq!(refresher.join().unwrap(), Ok(-1000));
        assert_eq!(charged, Ok(()));
    });
    assert_eq!(
        billing.balance_cache.get("cus_1"),
        Some(-1995),
        "the insert during the refresh wins"
    );
}

/// (index id 66818081406) a ride-hailing app's chair auth middleware: `async fn
/// get_chair(pool, cache: &Cache<String, Chair>, access_token: &str) -> Option<Chair> {
/// cache.optionally_get_with(access_token.to_string(), async { sqlx::query_as("SELECT * FROM
/// chairs WHERE access_token = ?") .. .fetch_optional(pool).await .. .unwrap_or(None) }).await }`
/// and `Err(Error::Unauthorized("invalid access token"))` on `None`.
mod chair_auth {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct Chair {
        pub id: String,
    }

    pub struct App {
        pub cache: TtlMap<String, Chair>,
        pub chairs: Mutex<HashMap<String, Chair>>,
        pub queries: AtomicUsize,
    }

    impl App {
        pub async fn get_chair(&self, access_token: &str) -> Option<Chair> {
            self.cache
                .optionally_get_or_insert_with_async(access_token, async {
                    self.queries.fetch_add(1, SeqCst);
                    self.chairs.lock().unwrap().get(access_token).cloned()
                })
                .await
        }

        pub async fn auth(&self, access_token: &str) -> Result<Chair, &'static str> {
            self.get_chair(access_token)
                .await
                .ok_or("invalid access token")
        }
    }
}

#[test]
fn chair_auth_caches_chairs_and_asks_again_for_an_unknown_token() {
    use chair_auth::*;
    let app = App {
        cache: TtlMap::new(secs(600)),
        chairs: Mutex::new(HashMap::from([(
            "tok-1".to_string(),
            Chair { id: "c1".into() },
        )])),
        queries: AtomicUsize::new(0),
    };
    for _ in 0..3 {
        assert_eq!(block_on(app.auth("tok-1")).unwrap().id, "c1");
    }
    assert_eq!(app.queries.load(SeqCst), 1);
    assert_eq!(block_on(app.auth("tok-2")), Err("invalid access token"));
    app.chairs
        .lock()
        .unwrap()
        .insert("tok-2".into(), Chair { id: "c2".into() });
    assert_eq!(
        block_on(app.auth("tok-2")).unwrap().id,
        "c2",
        "None was not cached"
    );
    assert_eq!(app.queries.load(SeqCst), 3);
}

#[test]
fn chair_auth_a_burst_with_a_bad_token_runs_one_query_and_every_request_gets_none() {
    use chair_auth::*;
    let app = Arc::new(App {
        cache: TtlMap::new(secs(600)),
        chairs: Mutex::new(HashMap::new()),
        queries: AtomicUsize::new(0),
    });
    let rt = two_worker_runtime();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let app = Arc::clone(&app);
            rt.spawn(async move {
                app.cache
                    .optionally_get_or_insert_with_async("forged", async {
                        app.queries.fetch_add(1, SeqCst);
                        wait_until_async("the burst waits for the query", || {
                            app.cache.stats().coalesced >= 5
                        })
                        .await;
                        None
                    })
                    .await
            })
        })
        .collect();
    let got = rt.block_on(async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert!(got.iter().all(Option::is_none));
    assert_eq!(app.queries.load(SeqCst), 1);
    assert!(app.cache.is_empty());
}

/// (index id 53246083340) a Nix binary-cache proxy: "`None` on any HTTP/body error — a down
/// upstream throttles THIS call to the conservative concurrency, but `optionally_get_with`
/// does NOT cache `None`, so the next call re-fetches instead of pinning the throttle for the
/// full 1h TTL": `self.upstream_info.optionally_get_with(base.to_string(), async { ..
/// http.get(format!("{base}/nix-cache-info")) .. }).await`.
mod nix_upstream_info {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct UpstreamInfo {
        pub want_mass_query: bool,
    }

    pub struct Proxy {
        pub upstream_info: TtlMap<String, UpstreamInfo>,
        pub up: AtomicBool,
        pub fetches: AtomicUsize,
    }

    impl Proxy {
        async fn upstream_info(&self, base: &str) -> Option<UpstreamInfo> {
            self.upstream_info
                .optionally_get_or_insert_with_async(base, async {
                    self.fetches.fetch_add(1, SeqCst);
                    self.up.load(SeqCst).then_some(UpstreamInfo {
                        want_mass_query: true,
                    })
                })
                .await
        }

        pub async fn concurrency(&self, base: &str) -> usize {
            match self.upstream_info(base).await {
                Some(info) if info.want_mass_query => 64,
                _ => 4,
            }
        }
    }
}

#[test]
fn nix_upstream_info_a_down_upstream_throttles_one_call_not_the_hour() {
    use nix_upstream_info::*;
    let clock = ManualClock::new();
    let proxy = Proxy {
        upstream_info: TtlMap::builder()
            .ttl(secs(3600))
            .expiry(Expiry::Fixed)
            .clock(clock.clone())
            .build(),
        up: AtomicBool::new(false),
        fetches: AtomicUsize::new(0),
    };
    let base = "https://cache.nixos.org";
    assert_eq!(block_on(proxy.concurrency(base)), 4);
    proxy.up.store(true, SeqCst);
    assert_eq!(block_on(proxy.concurrency(base)), 64);
    assert_eq!(block_on(proxy.concurrency(base)), 64);
    assert_eq!(proxy.fetches.load(SeqCst), 2);
    clock.advance(secs(3600));
    block_on(proxy.concurrency(base));
    assert_eq!(
        proxy.fetches.load(SeqCst),
        3,
        "fetched again after the hour"
    );
}

/// (index id 3675472534) a mini-LSM course's `SsTable::read_block_cached` ("Day 4"): `if let
/// Some(cache) = self.block_cache.as_ref() { let wanna_block = cache.try_get_with((self.sst_id,
/// block_idx), || self.read_block(block_idx)); if wanna_block.is_ok() { return
/// Ok(wanna_block.unwrap()); } }` then falls back to `self.read_block(block_idx)` uncached.
mod mini_lsm_blocks {
    use super::*;

    pub type BlockCache = TtlMap<(usize, usize), Arc<Vec<u8>>>;

    pub struct SsTable {
        pub sst_id: usize,
        pub block_cache: Option<Arc<BlockCache>>,
        pub reads: AtomicUsize,
        pub failing: AtomicBool,
    }

    impl SsTable {
        pub fn read_block(&self, block_idx: usize) -> Result<Arc<Vec<u8>>, String> {
            self.reads.fetch_add(1, SeqCst);
            if self.failing.load(SeqCst) {
                return Err("short read".into());
            }
            Ok(Arc::new(vec![self.sst_id as u8, block_idx as u8]))
        }

        pub fn read_block_cached(&self, block_idx: usize) -> Result<Arc<Vec<u8>>, String> {
            if let Some(cache) = self.block_cache.as_ref() {
                let wanna_block = cache
                    .try_get_or_insert_with_shared(&(self.sst_id, block_idx), || {
                        self.read_block(block_idx)
                    });
                if let Ok(block) = wanna_block {
                    return Ok(block);
                }
            }
            self.read_block(block_idx)
        }
    }
}

#[test]
fn mini_lsm_blocks_are_shared_across_tables_by_id_and_a_failed_read_falls_back_uncached() {
    use mini_lsm_blocks::*;
    let cache = Arc::new(
        TtlMap::builder()
            .ttl(Duration::MAX)
            .capacity(1 << 10)
            .build(),
    );
    let table = |sst_id| SsTable {
        sst_id,
        block_cache: Some(Arc::clone(&cache)),
        reads: AtomicUsize::new(0),
        failing: AtomicBool::new(false),
    };
    let (one, two) = (table(1), table(2));
    assert_eq!(*one.read_block_cached(0).unwrap(), [1, 0]);
    assert_eq!(*one.read_block_cached(0).unwrap(), [1, 0]);
    assert_eq!(*two.read_block_cached(0).unwrap(), [2, 0]);
    assert_eq!((one.reads.load(SeqCst), two.reads.load(SeqCst)), (1, 1));
    one.failing.store(true, SeqCst);
    assert!(one.read_block_cached(1).is_err());
    assert_eq!(
        one.reads.load(SeqCst),
        3,
        "the cached try, then the fallback"
    );
    one.failing.store(false, SeqCst);
    assert_eq!(*one.read_block_cached(1).unwrap(), [1, 1]);
    assert_eq!(one.reads.load(SeqCst), 4, "the failure was not cached");
}

// ---------------------------------------------------------------------------------------
// moka `invalidate_entries_if`, `invalidate_all`, `entry_count`, `iter`
// ---------------------------------------------------------------------------------------

/// (index id 19049405385) a chat server's thread cache: `self.cache_thread.try_get_with(
/// (thread_id, user_id), self.state.data().thread_get(thread_id, user_id)).await`,
/// `invalidate(thread_id)` is `self.cache_thread.invalidate_entries_if(move |(t, _), _| *t ==
/// thread_id)`, and `invalidate_user(thread_id, user_id)` is
/// `self.cache_thread.invalidate(&(thread_id, Some(user_id))).await`.
mod chat_threads {
    use super::*;

    pub type Key = (u64, Option<u64>);

    pub struct Services {
        pub cache_thread: TtlMap<Key, String>,
        pub titles: Mutex<HashMap<u64, String>>,
        pub gets: AtomicUsize,
        /// A hook inside the data layer's read: (started, go).
        pub hook: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
    }

    impl Services {
        async fn thread_get(&self, thread_id: u64, user_id: Option<u64>) -> Result<String, String> {
            self.gets.fetch_add(1, SeqCst);
            let title = self.titles.lock().unwrap().get(&thread_id).cloned();
            if let Some((started, go)) = self.hook.lock().unwrap().take() {
                started.send(()).unwrap();
                go.recv().unwrap();
            }
            let title = title.ok_or("unknown thread")?;
            Ok(format!("{title} (as {user_id:?})"))
        }

        pub async fn get(
            &self,
            thread_id: u64,
            user_id: Option<u64>,
        ) -> Result<String, Arc<String>> {
            self.cache_thread
                .try_get_or_insert_with_shared_async(
                    &(thread_id, user_id),
                    self.thread_get(thread_id, user_id),
                )
                .await
        }

        pub fn invalidate(&self, thread_id: u64) {
            self.cache_thread.retain(|(t, _), _| *t != thread_id);
        }

        pub fn invalidate_user(&self, thread_id: u64, user_id: u64) {
            self.cache_thread.remove(&(thread_id, Some(user_id)));
        }
    }

    pub fn services() -> Services {
        Services {
            cache_thread: TtlMap::new(secs(300)),
            titles: Mutex::new(HashMap::from([(1, "a".into()), (2, "b".into())])),
            gets: AtomicUsize::new(0),
            hook: Mutex::new(None),
        }
    }
}

#[test]
fn chat_threads_invalidating_a_thread_drops_every_users_view_of_it_and_no_other() {
    use chat_threads::*;
    let s = services();
    for key in [(1, None), (1, Some(7)), (1, Some(8)), (2, Some(7))] {
        block_on(s.get(key.0, key.1)).unwrap();
    }
    assert_eq!(s.gets.load(SeqCst), 4);
    s.titles.lock().unwrap().insert(1, "a2".into());
    s.invalidate(1);
    assert_eq!(s.cache_thread.len(), 1);
    assert_eq!(block_on(s.get(1, Some(7))).unwrap(), "a2 (as Some(7))");
    assert_eq!(block_on(s.get(2, Some(7))).unwrap(), "b (as Some(7))");
    assert_eq!(s.gets.load(SeqCst), 5);
    s.invalidate_user(1, 7);
    block_on(s.get(1, Some(7))).unwrap();
    assert_eq!(s.gets.load(SeqCst), 6);
}

#[test]
fn chat_threads_a_read_that_began_before_an_invalidation_does_not_store_its_stale_view() {
    use chat_threads::*;
    let s = services();
    let (started_tx, started) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    *s.hook.lock().unwrap() = Some((started_tx, go_rx));
    thread::scope(|scope| {
        let reader = scope.spawn(|| block_on(s.get(1, Some(7))));
        started.recv().unwrap(); // it has read the old title
        s.titles.lock().unwrap().insert(1, "renamed".into());
        s.invalidate(1);
        go.send(()).unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), "a (as Some(7))");
    });
    assert_eq!(
        block_on(s.get(1, Some(7))).unwrap(),
        "renamed (as Some(7))",
        "the stale view was not stored"
    );
}

/// (index id 20245992779) a database proxy's metadata cache: `invalidate_database(&self, name)`
/// is `self.databases.invalidate(name); let prefix = format!("{}.", name);
/// self.tables.invalidate_entries_if(move |key, _| key.starts_with(&prefix))
/// .expect("Failed to invalidate table entries");` with `table_key(db, table)` = `"db.table"`.
mod db_metadata {
    use super::*;

    pub struct Meta {
        pub databases: TtlMap<String, Arc<str>>,
        pub tables: TtlMap<String, Arc<str>>,
    }

    impl Meta {
        pub fn table_key(db_name: &str, table_name: &str) -> String {
            format!("{db_name}.{table_name}")
        }

        pub fn invalidate_database(&self, name: &str) {
            self.databases.remove(name);
            let prefix = format!("{name}.");
            self.tables.retain(|key, _| !key.starts_with(&prefix));
        }
    }
}

#[test]
fn db_metadata_invalidating_a_database_drops_its_tables_not_a_namesake_prefix() {
    use db_metadata::*;
    let meta = Meta {
        databases: TtlMap::new(secs(60)),
        tables: TtlMap::new(secs(60)),
    };
    meta.databases.insert("db1".into(), Arc::from("online"));
    meta.databases.insert("db10".into(), Arc::from("online"));
    for (db, table) in [("db1", "users"), ("db1", "orders"), ("db10", "users")] {
        meta.tables
            .insert(Meta::table_key(db, table), Arc::from("ok"));
    }
    meta.invalidate_database("db1");
    assert!(meta.databases.get("db1").is_none());
    let mut left: Vec<String> = meta.tables.iter().map(|(k, _)| k).collect();
    left.sort();
    assert_eq!(left, ["db10.users"]);
    assert!(meta.databases.contains_key("db10"));
}

/// (index id 30711520154) a typed prefix cache over `Cache<(String, TypeId), Arc<dyn Any +
/// Send + Sync>>`: `invalidate_prefix(&self, prefix)` is `let full_prefix =
/// format!("{}{}", self.prefix, prefix); self.cache.invalidate_entries_if(move |(key,
/// _typeid), _value| key.starts_with(&full_prefix))`, `size()` is
/// `self.cache.run_pending_tasks(); self.cache.entry_count() as usize` and `approx_size()`
/// is `entry_count()` alone.
mod typed_prefix_cache {
    use super::*;

    pub type Value = Arc<dyn Any + Send + Sync>;

    pub struct Cache {
        pub prefix: String,
        pub cache: TtlMap<(String, TypeId), Value>,
    }

    impl Cache {
        pub fn get<T: Any + Send + Sync + Clone>(&self, key: &str) -> Option<T> {
            let full = format!("{}{key}", self.prefix);
            let value = self.cache.get(&TupleRef((&*full, &TypeId::of::<T>())))?;
            value.downcast_ref::<T>().cloned()
        }

        pub fn insert<T: Any + Send + Sync>(&self, key: &str, value: T) {
            let full = format!("{}{key}", self.prefix);
            self.cache
                .insert((full, TypeId::of::<T>()), Arc::new(value));
        }

        pub fn invalidate_prefix(&self, prefix: &str) {
            let full_prefix = format!("{}{prefix}", self.prefix);
            self.cache
                .retain(|(key, _typeid), _value| !key.starts_with(&full_prefix));
        }

        pub fn size(&self) -> usize {
            self.cache.sweep();
            self.cache.len()
        }

        pub fn approx_size(&self) -> usize {
            self.cache.len()
        }
    }
}

#[test]
fn typed_prefix_cache_keys_by_type_invalidates_by_prefix_and_sizes_without_expired_entries() {
    use typed_prefix_cache::*;
    let clock = ManualClock::new();
    let cache = Cache {
        prefix: "tenant-a/".into(),
        cache: TtlMap::builder().ttl(secs(60)).clock(clock.clone()).build(),
    };
    cache.insert("user/1", 7u32);
    cache.insert("user/1", "seven".to_string());
    cache.insert("team/1", 1u32);
    assert_eq!(cache.get::<u32>("user/1"), Some(7));
    assert_eq!(cache.get::<String>("user/1").as_deref(), Some("seven"));
    assert_eq!(
        cache.get::<u64>("user/1"),
        None,
        "another type is another key"
    );
    cache.invalidate_prefix("user/");
    assert_eq!(cache.size(), 1);
    clock.advance(secs(60));
    assert_eq!(
        cache.approx_size(),
        1,
        "entry_count may count the expired entry"
    );
    assert_eq!(cache.size(), 0, "after run_pending_tasks it does not");
}

/// (index id 55646379074) a key-value lookup cache's `clear`: `self.cache.invalidate_all();
/// self.cache.run_pending_tasks().await;` and `num_entries` is `run_pending_tasks` then
/// `entry_count() as usize`; `invalidate_prefix(&[u8])` is `invalidate_entries_if(move |key,
/// _value| key.starts_with(&prefix))` over `Vec<u8>` keys.
mod kv_lookup_cache {
    use super::*;

    pub struct Lookup {
        pub cache: TtlMap<Vec<u8>, Arc<Vec<u8>>>,
    }

    impl Lookup {
        pub fn invalidate_prefix(&self, prefix: &[u8]) {
            self.cache.retain(|key, _| !key.starts_with(prefix));
        }

        pub fn clear(&self) {
            self.cache.clear();
        }

        pub fn num_entries(&self) -> usize {
            self.cache.sweep();
            self.cache.len()
        }
    }
}

#[test]
fn kv_lookup_cache_prefix_invalidation_and_clear_show_in_the_count_at_once() {
    use kv_lookup_cache::*;
    let lookup = Lookup {
        cache: TtlMap::new(secs(60)),
    };
    for key in [&b"a/1"[..], b"a/2", b"b/1"] {
        lookup.cache.insert(key.to_vec(), Arc::new(key.to_vec()));
    }
    assert_eq!(
        lookup.cache.get(&b"a/1"[..]).as_deref(),
        Some(&b"a/1".to_vec())
    );
    lookup.invalidate_prefix(b"a/");
    assert_eq!(lookup.num_entries(), 1);
    lookup.clear();
    assert_eq!(lookup.num_entries(), 0);
}

/// (index id 2438188258) a Minecraft tier-list API: `for (uuid, profile) in
/// PLAYER_CACHE.iter() { match profile { Some(p) => players.push(p), None =>
/// unknown.push(*uuid) } }` over a `Cache<Uuid, Option<PlayerInfo>>`, and `get_mode` is
/// `MODE_CACHE.entry_by_ref(&mode).or_insert_with(async { get_mode_tiers(&mode) }).await
/// .into_value()` for the modes it knows.
mod mctiers {
    use super::*;

    pub struct Api {
        pub players: TtlMap<u128, Option<String>>,
        pub modes: TtlMap<String, Arc<HashMap<String, String>>>,
        pub tier_fetches: AtomicUsize,
    }

    impl Api {
        pub fn all_players(&self) -> (Vec<String>, Vec<u128>) {
            let (mut players, mut unknown) = (Vec::new(), Vec::new());
            for (uuid, profile) in self.players.iter() {
                match profile {
                    Some(p) => players.push(p),
                    None => unknown.push(uuid),
                }
            }
            players.sort();
            unknown.sort();
            (players, unknown)
        }

        pub async fn get_mode(&self, mode: &str) -> Arc<HashMap<String, String>> {
            if !["sword", "axe"].contains(&mode) {
                return Arc::default();
            }
            self.modes
                .get_or_insert_with_async(mode, async {
                    self.tier_fetches.fetch_add(1, SeqCst);
                    Arc::new(HashMap::from([(
                        "steve".to_string(),
                        format!("{mode}:HT1"),
                    )]))
                })
                .await
        }
    }
}

#[test]
fn mctiers_iterates_live_players_without_touching_them_and_fetches_a_mode_once() {
    use mctiers::*;
    let clock = ManualClock::new();
    let api = Api {
        players: TtlMap::builder()
            .ttl(secs(600))
            .clock(clock.clone())
            .build(),
        modes: TtlMap::new(secs(600)),
        tier_fetches: AtomicUsize::new(0),
    };
    api.players.insert(1, Some("alex".into()));
    api.players.insert(2, None);
    clock.advance(secs(300));
    api.players.insert(3, Some("steve".into()));
    assert_eq!(
        api.all_players(),
        (vec!["alex".to_string(), "steve".to_string()], vec![2])
    );
    assert_eq!(api.players.stats().hits, 0, "iter counts no hits");
    clock.advance(secs(300)); // iter did not slide 1 and 2's deadlines
    assert_eq!(api.all_players(), (vec!["steve".to_string()], vec![]));
    assert_eq!(block_on(api.get_mode("sword"))["steve"], "sword:HT1");
    block_on(api.get_mode("sword"));
    assert!(block_on(api.get_mode("bow")).is_empty());
    assert_eq!(api.tier_fetches.load(SeqCst), 1);
}

// ---------------------------------------------------------------------------------------
// moka's entry API: `or_insert_with(..).is_fresh()` and `and_compute_with`
// ---------------------------------------------------------------------------------------

/// (index id 59716649357) a TOTP anti-replay guard: `TotpAntiReplay { cache:
/// Cache<TotpStepRecord, ()> }` with `consume(&self, id: Uuid, matched_step: u64) -> bool {
/// matches!(self.cache.entry(key).and_compute_with(|entry| async move { if entry.is_some() {
/// Op::Nop } else { Op::Put(()) } }).await, CompResult::Inserted(_)) }` and `time_to_live`
/// (its value was cut off in the excerpt; 90 s, three TOTP steps, here).
mod totp_anti_replay {
    use super::*;

    #[derive(Clone, Hash, PartialEq, Eq)]
    pub struct TotpStepRecord {
        pub id: u128,
        pub matched_step: u64,
    }

    pub struct TotpAntiReplay {
        pub cache: TtlMap<TotpStepRecord, ()>,
    }

    impl TotpAntiReplay {
        pub fn consume(&self, id: u128, matched_step: u64) -> bool {
            let key = TotpStepRecord { id, matched_step };
            let inserted = AtomicBool::new(false);
            self.cache.get_or_insert_with(&key, || {
                inserted.store(true, SeqCst);
                wait_until("the replayed code arrives", || {
                    self.cache.stats().coalesced >= 7
                });
            });
            inserted.load(SeqCst)
        }
    }
}

#[test]
fn totp_anti_replay_accepts_a_code_once_among_eight_simultaneous_submissions() {
    use totp_anti_replay::*;
    let clock = ManualClock::new();
    let guard = TotpAntiReplay {
        cache: TtlMap::builder()
            .ttl(secs(90))
            .expiry(Expiry::Fixed)
            .clock(clock.clone())
            .build(),
    };
    let accepted = at_once(8, |_| guard.consume(42, 1_000));
    assert_eq!(accepted.iter().filter(|a| **a).count(), 1, "{accepted:?}");
    guard.cache.reset_stats();
    clock.advance(secs(89));
    assert!(!guard.consume(42, 1_000), "still a replay");
    assert!(guard.cache.contains_key(&TotpStepRecord {
        id: 42,
        matched_step: 1_000
    }));
    clock.advance(secs(1));
    assert!(!guard.cache.contains_key(&TotpStepRecord {
        id: 42,
        matched_step: 1_000
    }));
}

/// (index id 51814997155) a federation endpoint's replay check: `let inserted =
/// state.federation.nonces.entry(key).or_insert_with(async {}).await.is_fresh(); if !inserted
/// { return Err("replayed (node_id, timestamp) pair"); }` with `key = (node_id_bytes, ts_ms)`.
mod federation_nonces {
    use super::*;

    pub struct Federation {
        pub nonces: TtlMap<([u8; 4], u64), ()>,
    }

    impl Federation {
        pub async fn verify(&self, node_id: [u8; 4], ts_ms: u64) -> Result<(), &'static str> {
            let fresh = AtomicBool::new(false);
            self.nonces
                .get_or_insert_with_async(&(node_id, ts_ms), async {
                    fresh.store(true, SeqCst);
                    wait_until_async("the replays arrive", || self.nonces.stats().coalesced >= 15)
                        .await;
                })
                .await;
            if !fresh.load(SeqCst) {
                return Err("replayed (node_id, timestamp) pair");
            }
            Ok(())
        }
    }
}

#[test]
fn federation_nonces_one_of_sixteen_concurrent_identical_requests_is_fresh() {
    use federation_nonces::*;
    let fed = Arc::new(Federation {
        nonces: TtlMap::new(secs(300)),
    });
    let rt = two_worker_runtime();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let fed = Arc::clone(&fed);
            rt.spawn(async move { fed.verify([1, 2, 3, 4], 1_700_000_000_000).await })
        })
        .collect();
    let results = rt.block_on(async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.err())
            .all(|e| e == "replayed (node_id, timestamp) pair")
    );
}

/// (index id 54662147472) a TUIC proxy's inbound UDP relay: `if let Some(session) =
/// ctx.udp_sessions.get(&assoc_id).await { return Ok(session.tuic_stream.clone()); }` then
/// `ctx.udp_sessions.entry(assoc_id).or_insert_with(async { info!("Creating new UDP session
/// for assoc_id {}", assoc_id); .. channels, tasks .. }).await`: one session per association.
mod tuic_udp_sessions {
    use super::*;

    pub struct Session {
        pub assoc_id: u16,
    }

    pub struct InboundCtx {
        pub udp_sessions: TtlMap<u16, Arc<Session>>,
        pub created: AtomicUsize,
    }

    impl InboundCtx {
        pub async fn get_or_create_session(&self, assoc_id: u16) -> Arc<Session> {
            if let Some(session) = self.udp_sessions.get(&assoc_id) {
                return session;
            }
            self.udp_sessions
                .get_or_insert_with_async(&assoc_id, async {
                    self.created.fetch_add(1, SeqCst);
                    wait_until_async("the second packet of the association", || {
                        self.udp_sessions.stats().coalesced >= 1
                    })
                    .await;
                    Arc::new(Session { assoc_id })
                })
                .await
        }
    }
}

#[test]
fn tuic_udp_sessions_two_packets_of_a_new_association_open_one_session() {
    use tuic_udp_sessions::*;
    let ctx = Arc::new(InboundCtx {
        udp_sessions: TtlMap::new(secs(120)),
        created: AtomicUsize::new(0),
    });
    let rt = two_worker_runtime();
    let (a, b) = rt.block_on(async {
        let (c1, c2) = (Arc::clone(&ctx), Arc::clone(&ctx));
        let a = tokio::spawn(async move { c1.get_or_create_session(9).await });
        let b = tokio::spawn(async move { c2.get_or_create_session(9).await });
        (a.await.unwrap(), b.await.unwrap())
    });
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!((a.assoc_id, ctx.created.load(SeqCst)), (9, 1));
}

/// (index id 24173304002; by its content a Postgres proxy's control-plane cache, apparently
/// neondatabase/neon's, repository not confirmed): "We can cache all
/// the other errors in ep_controls because they don't depend on what role name we pass":
/// `self.ep_controls.entry(endpoint_id).and_compute_with(|entry| match entry { Some(entry) if
/// entry.value().is_ok() => Op::Nop, _ => Op::Put(Err(msg.clone())) });` then
/// `self.role_controls.insert((endpoint_id, role_name), Err(msg))`.
///
/// Gap: no compute: "keep an `Ok`, else store the error" is a `get` then an `insert`, and an
/// `Ok` stored between the two is overwritten by the error (moka runs the closure under the
/// key's lock). The single-threaded behaviour is the user's.
mod neon_ep_controls {
    use super::*;

    pub type Control = Result<&'static str, &'static str>;

    pub struct ProjectInfo {
        pub ep_controls: TtlMap<u32, Control>,
        pub role_controls: TtlMap<(u32, String), Control>,
    }

    impl ProjectInfo {
        pub fn insert_ep_error(&self, endpoint_id: u32, role: &str, msg: &'static str) {
            if !matches!(self.ep_controls.get(&endpoint_id), Some(Ok(_))) {
                self.ep_controls.insert(endpoint_id, Err(msg));
            }
            self.role_controls
                .insert((endpoint_id, role.into()), Err(msg));
        }
    }
}

#[test]
fn neon_ep_controls_an_error_replaces_an_error_but_never_a_good_entry() {
    use neon_ep_controls::*;
    let info = ProjectInfo {
        ep_controls: TtlMap::new(secs(240)),
        role_controls: TtlMap::new(secs(240)),
    };
    info.ep_controls.insert(1, Ok("secret-ok"));
    info.insert_ep_error(1, "alice", "quota exceeded");
    info.insert_ep_error(2, "alice", "endpoint disabled");
    info.insert_ep_error(2, "bob", "quota exceeded");
    assert_eq!(info.ep_controls.get(&1), Some(Ok("secret-ok")));
    assert_eq!(info.ep_controls.get(&2), Some(Err("quota exceeded")));
    assert_eq!(
        info.role_controls.get(&TupleRef((&2u32, "alice"))),
        Some(Err("endpoint disabled"))
    );
}

/// (index id 60253693847) a generational cache over moka: `fn remove_moka_generation(&self,
/// key: &Key, generation: u64) -> bool { matches!(self.cache.entry(key.clone())
/// .and_compute_with(|current| if current.as_ref().is_some_and(|entry| entry.value()
/// .generation == generation) { Op::Remove } else { Op::Nop }), CompResult::Removed(_)) }`.
///
/// Gap: no conditional remove; `retain` does it atomically (per shard) but visits every entry.
mod generational_remove {
    use super::*;

    #[derive(Clone)]
    pub struct Entry {
        pub generation: u64,
        pub value: &'static str,
    }

    pub fn remove_generation(cache: &TtlMap<String, Entry>, key: &str, generation: u64) -> bool {
        let removed = AtomicBool::new(false);
        cache.retain(|k, entry| {
            let matches = k == key && entry.generation == generation;
            if matches {
                removed.store(true, SeqCst);
            }
            !matches
        });
        removed.load(SeqCst)
    }
}

#[test]
fn generational_remove_removes_only_the_generation_asked_for() {
    use generational_remove::*;
    let cache = TtlMap::new(secs(60));
    cache.insert(
        "k".to_string(),
        Entry {
            generation: 2,
            value: "new",
        },
    );
    assert!(!remove_generation(&cache, "k", 1), "an older generation");
    assert_eq!(cache.get("k").map(|e| e.value), Some("new"));
    assert!(remove_generation(&cache, "k", 2));
    assert!(cache.get("k").is_none());
}

/// (index id 55379972402) a Raft-replicated Redis-like store: `l_push` is
/// `self.cache.entry(l_push.key).and_compute_with(|maybe_entry| async move { match
/// maybe_entry { Some(entry) => { let mut value = entry.into_value(); match &mut value.data {
/// ValueObject::List(data) => { data.push_front(l_push.value); Op::Put(value) } .. } } .. }
/// })`.
///
/// Gap: no compute; the port keeps a shared list (`Arc<Mutex<VecDeque>>`) per key, created
/// once by `get_or_insert_with`, so concurrent pushes are never lost.
mod raft_lpush {
    use super::*;

    pub type List = Arc<Mutex<VecDeque<String>>>;

    pub fn l_push(cache: &TtlMap<String, List>, key: &str, value: String) -> usize {
        let list = cache.get_or_insert_with(key, List::default);
        let mut list = list.lock().unwrap();
        list.push_front(value);
        list.len()
    }
}

#[test]
fn raft_lpush_concurrent_pushes_to_one_list_are_all_kept() {
    use raft_lpush::*;
    let cache = TtlMap::new(secs(3600));
    at_once(4, |t| {
        for i in 0..100 {
            l_push(&cache, "queue", format!("{t}-{i}"));
        }
    });
    assert_eq!(cache.get("queue").unwrap().lock().unwrap().len(), 400);
    assert_eq!(l_push(&cache, "queue", "last".into()), 401);
}

// ---------------------------------------------------------------------------------------
// Per-entry expiry (`moka::Expiry`), time_to_live + time_to_idle, eviction listeners
// ---------------------------------------------------------------------------------------

/// (index id 53415382920) a DNS forwarder's cache: "Per-entry TTL DNS response cache backed
/// by moka. Each entry expires according to the upstream DNS TTL": `impl Expiry<CacheKey,
/// CacheValue> for DnsCacheExpiry { fn expire_after_create(&self, _key, value, _created_at)
/// -> Option<Duration> { Some(value.ttl) } }` with `CacheKey = (String, u16)`.
mod dns_cache {
    use super::*;

    #[derive(Clone)]
    pub struct CacheValue {
        pub bytes: Vec<u8>,
        pub ttl: Duration,
    }

    pub struct Forwarder {
        pub cache: TtlMap<(String, u16), CacheValue>,
        pub upstream: AtomicUsize,
    }

    impl Forwarder {
        pub fn new(clock: &ManualClock) -> Self {
            let cache = TtlMap::builder()
                .ttl(Duration::MAX)
                .expiry(Expiry::Fixed)
                .capacity(10_000)
                .expire_after(|_key: &(String, u16), value: &CacheValue| Some(value.ttl))
                .clock(clock.clone())
                .build();
            Forwarder {
                cache,
                upstream: AtomicUsize::new(0),
            }
        }

        pub fn resolve(&self, name: &str, qtype: u16, upstream_ttl: u64) -> Vec<u8> {
            let value = self
                .cache
                .get_or_insert_with(&TupleRef((name, &qtype)), || {
                    self.upstream.fetch_add(1, SeqCst);
                    CacheValue {
                        bytes: name.as_bytes().to_vec(),
                        ttl: secs(upstream_ttl),
                    }
                });
            value.bytes
        }
    }
}

#[test]
fn dns_cache_each_answer_lives_its_own_upstream_ttl_and_ttl_zero_is_never_served() {
    use dns_cache::*;
    let clock = ManualClock::new();
    let dns = Forwarder::new(&clock);
    dns.resolve("a.example", 1, 30);
    dns.resolve("b.example", 1, 300);
    dns.resolve("a.example", 1, 30);
    assert_eq!(dns.upstream.load(SeqCst), 2);
    clock.advance(secs(30));
    dns.resolve("a.example", 1, 30);
    dns.resolve("b.example", 1, 300);
    assert_eq!(
        dns.upstream.load(SeqCst),
        3,
        "a's 30 s are over, b's 300 are not"
    );
    // TTL 0: "do not cache" (RFC 1035). Each query goes upstream; nothing is served from cache.
    for _ in 0..3 {
        assert_eq!(dns.resolve("now.example", 1, 0), b"now.example");
    }
    assert_eq!(dns.upstream.load(SeqCst), 6);
    assert!(dns.cache.get(&TupleRef(("now.example", &1u16))).is_none());
    // An absurd upstream TTL saturates instead of panicking.
    dns.resolve("far.example", 28, u64::MAX);
    clock.advance(secs(10 * 365 * 86_400));
    assert!(dns.cache.contains_key(&TupleRef(("far.example", &28u16))));
}

/// (index id 70747245600) a git forge's permission cache: `struct Expiry; impl<K, T>
/// moka::Expiry<K, Cached<T>> for Expiry { fn expire_after_create(&self, _key, value:
/// &Cached<T>, _created_at) -> Option<Duration> { value.is_err().then_some(DENIAL_TTL) } }`
/// with `const DENIAL_TTL: Duration = Duration::from_secs(30)` and `users:
/// moka::future::Cache::builder().max_capacity(100_000).time_to_live(ttl).expire_after(Expiry)
/// .build()`, keyed by `([u8; 32], u64)` (token hash, repository). A denial is a value.
mod forge_permissions {
    use super::*;

    pub const DENIAL_TTL: Duration = Duration::from_secs(30);
    pub type Cached<T> = Result<T, &'static str>;

    pub struct PermissionCache {
        pub repos: TtlMap<([u8; 32], u64), Cached<bool>>,
        pub checks: AtomicUsize,
    }

    impl PermissionCache {
        pub fn new(ttl: Duration, clock: &ManualClock) -> Self {
            let repos = TtlMap::builder()
                .ttl(ttl)
                .expiry(Expiry::Fixed)
                .capacity(100_000)
                .expire_after(|_, value: &Cached<bool>| value.is_err().then_some(DENIAL_TTL))
                .clock(clock.clone())
                .build();
            PermissionCache {
                repos,
                checks: AtomicUsize::new(0),
            }
        }

        pub fn can_push(
            &self,
            token: [u8; 32],
            repo: u64,
            github: &HashMap<u64, bool>,
        ) -> Cached<bool> {
            self.repos.get_or_insert_with(&(token, repo), || {
                self.checks.fetch_add(1, SeqCst);
                github.get(&repo).copied().ok_or("not readable")
            })
        }
    }
}

#[test]
fn forge_permissions_a_denial_is_retried_after_30_s_a_grant_after_the_ttl() {
    use forge_permissions::*;
    let clock = ManualClock::new();
    let cache = PermissionCache::new(secs(300), &clock);
    let mut github = HashMap::from([(1, true)]);
    let token = [7; 32];
    assert_eq!(cache.can_push(token, 1, &github), Ok(true));
    assert_eq!(cache.can_push(token, 2, &github), Err("not readable"));
    github.insert(2, false); // access granted on GitHub
    assert_eq!(
        cache.can_push(token, 2, &github),
        Err("not readable"),
        "cached denial"
    );
    clock.advance(DENIAL_TTL);
    assert_eq!(cache.can_push(token, 2, &github), Ok(false));
    github.insert(1, false);
    clock.advance(secs(269));
    assert_eq!(cache.can_push(token, 1, &github), Ok(true));
    clock.advance(secs(1));
    assert_eq!(cache.can_push(token, 1, &github), Ok(false));
    assert_eq!(cache.checks.load(SeqCst), 4);
}

/// (index id 49204481190) a gateway's request-status store: "Custom expiry policy that
/// preserves TTL on updates (like Redis KEEPTTL)": `expire_after_create` returns
/// `Some(REQUESTS_TTL)` (24 h), `expire_after_read` and `expire_after_update` return
/// `duration_until_expiry` unchanged; a status update is an `insert` of the same key.
///
/// Gap: no `expire_after_update`; an `insert` starts a new life. The port carries the
/// record's birth time (from the map's own clock) in the value and lets `expire_after`
/// give what is left of the 24 hours.
mod request_records {
    use super::*;
    use cache_core::Clock;

    pub const REQUESTS_TTL: Duration = Duration::from_secs(86_400);

    #[derive(Clone, Debug, PartialEq)]
    pub struct RequestRecord {
        pub status: &'static str,
        pub created: Duration,
    }

    pub struct Store {
        pub cache: TtlMap<String, RequestRecord>,
        clock: ManualClock,
    }

    impl Store {
        pub fn new(clock: &ManualClock) -> Self {
            let now = clock.clone();
            let cache = TtlMap::builder()
                .ttl(REQUESTS_TTL)
                .expiry(Expiry::Fixed)
                .capacity(100_000)
                .expire_after(move |_, record: &RequestRecord| {
                    let age = now.now().saturating_sub(record.created);
                    Some(REQUESTS_TTL.saturating_sub(age))
                })
                .clock(clock.clone())
                .build();
            Store {
                cache,
                clock: clock.clone(),
            }
        }

        pub fn create(&self, id: &str) {
            let record = RequestRecord {
                status: "pending",
                created: self.clock.now(),
            };
            self.cache.insert(id.to_string(), record);
        }

        pub fn set_status(&self, id: &str, status: &'static str) -> bool {
            let Some(record) = self.cache.get(id) else {
                return false;
            };
            self.cache
                .insert(id.to_string(), RequestRecord { status, ..record });
            true
        }
    }
}

#[test]
fn request_records_a_status_update_keeps_the_records_original_deadline() {
    use request_records::*;
    let clock = ManualClock::new();
    let store = Store::new(&clock);
    store.create("req-1");
    clock.advance(secs(20 * 3600));
    assert!(store.set_status("req-1", "done"));
    assert_eq!(store.cache.get("req-1").unwrap().status, "done");
    clock.advance(secs(4 * 3600));
    assert!(
        store.cache.get("req-1").is_none(),
        "24 h after creation, not after the update"
    );
    assert!(!store.set_status("req-1", "late"));
}

/// (index id 60240977928) a file server's directory-listing cache:
/// `Cache::builder().max_capacity(max_entries).time_to_live(Duration::from_secs(ttl_secs))
/// .time_to_idle(Duration::from_secs(ttl_secs / 2)).eviction_listener(|key, _value, cause| {
/// tracing::debug!(key = %key, cause = ?cause, "dir cache eviction"); })`, and "Returns the
/// cached listing or runs `f` to produce one. Only successful listings are cached; errors
/// propagate to the caller uncached."
///
/// Note: the user's listener logs the key (a path); ours never logs keys, and the port's
/// listener records only the reason.
mod dir_cache {
    use super::*;

    pub struct DirCache {
        pub inner: TtlMap<String, Arc<Vec<String>>>,
        pub causes: Arc<Mutex<Vec<Reason>>>,
    }

    impl DirCache {
        pub fn new(max_entries: usize, ttl_secs: u64, clock: &ManualClock) -> Self {
            let causes = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&causes);
            let inner = TtlMap::builder()
                .ttl(secs(ttl_secs / 2)) // time_to_idle
                .max_lifetime(secs(ttl_secs)) // time_to_live
                .capacity(max_entries)
                .on_evict(move |_, _, reason| log.lock().unwrap().push(reason))
                .clock(clock.clone())
                .build();
            DirCache { inner, causes }
        }

        pub fn get_or_insert(
            &self,
            key: &str,
            f: impl FnOnce() -> Result<Arc<Vec<String>>, String>,
        ) -> Result<Arc<Vec<String>>, String> {
            self.inner.try_get_or_insert_with(key, f)
        }
    }
}

#[test]
fn dir_cache_listings_idle_out_after_half_the_ttl_and_die_at_the_ttl_however_used() {
    use dir_cache::*;
    let clock = ManualClock::new();
    let cache = DirCache::new(100, 60, &clock);
    let listings = AtomicUsize::new(0);
    let list = |dir: &str| {
        cache.get_or_insert(dir, || {
            listings.fetch_add(1, SeqCst);
            match dir {
                "/forbidden" => Err("permission denied".into()),
                _ => Ok(Arc::new(vec![format!("{dir}/a")])),
            }
        })
    };
    assert!(list("/forbidden").is_err());
    assert!(list("/forbidden").is_err());
    list("/home").unwrap();
    for _ in 0..2 {
        clock.advance(secs(25));
        list("/home").unwrap(); // used every 25 s: idle never reaches 30 s
    }
    assert_eq!(listings.load(SeqCst), 3);
    clock.advance(secs(10)); // 60 s since it was listed
    list("/home").unwrap();
    assert_eq!(listings.load(SeqCst), 4, "time_to_live bounds a busy entry");
    list("/tmp").unwrap();
    clock.advance(secs(30));
    assert_eq!(cache.inner.sweep(), 2);
    // The listing replaced at 60 s was heard then; the sweep heard the two idle ones.
    assert_eq!(*cache.causes.lock().unwrap(), [Reason::Expired; 3]);
}

/// (index id 71233930458) a server's session store: `moka::sync::Cache::builder()
/// .max_capacity(capacity as u64).eviction_listener(move |id: Arc<String>, state, cause| { if
/// matches!(cause, RemovalCause::Expired | RemovalCause::Size) {
/// reported.lock().expect(..).push(ExpiredSession::new(id.as_ref().clone(), Some(state))); } })`
/// and, with an idle timeout, `builder.time_to_idle(timeout)`.
///
/// Difference: moka reports an idle session during its housekeeping; ours when a sweep (or a
/// write) removes it, so the port sweeps where moka's housekeeping would run.
mod session_store {
    use super::*;

    pub struct Sessions {
        pub cache: TtlMap<String, u32>,
        pub expired: Arc<Mutex<Vec<(String, u32)>>>,
    }

    impl Sessions {
        pub fn build(capacity: usize, idle_timeout: Duration, clock: &ManualClock) -> Self {
            let expired = Arc::new(Mutex::new(Vec::new()));
            let reported = Arc::clone(&expired);
            let cache = TtlMap::builder()
                .ttl(idle_timeout)
                .capacity(capacity)
                .on_evict(move |id: &String, state: &u32, reason| {
                    if matches!(reason, Reason::Expired | Reason::Capacity) {
                        reported.lock().unwrap().push((id.clone(), *state));
                    }
                })
                .clock(clock.clone())
                .build();
            Sessions { cache, expired }
        }
    }
}

#[test]
fn session_store_reports_idle_and_crowded_out_sessions_but_not_closed_ones() {
    use session_store::*;
    let clock = ManualClock::new();
    let sessions = Sessions::build(2, secs(600), &clock);
    sessions.cache.insert("s1".into(), 1);
    sessions.cache.insert("s2".into(), 2);
    sessions.cache.remove("s2"); // closed by the client
    clock.advance(secs(300));
    sessions.cache.insert("s3".into(), 3);
    sessions.cache.get("s1"); // s1 is active
    sessions.cache.insert("s4".into(), 4); // s3 is the least recently used
    clock.advance(secs(599));
    sessions.cache.sweep();
    assert_eq!(*sessions.expired.lock().unwrap(), [("s3".to_string(), 3)]);
    clock.advance(secs(1));
    sessions.cache.sweep();
    let mut reported = sessions.expired.lock().unwrap().clone();
    reported.sort();
    assert_eq!(
        reported,
        [("s1".into(), 1), ("s3".into(), 3), ("s4".into(), 4)]
    );
}

/// (index id 53486145828) a semantic LLM cache's L1: "Concurrent map for fast exact lookups +
/// mutable hit tracking": `hits: Arc<DashMap<String, u64>>` kept beside
/// `Cache::builder().max_capacity(max_entries).eviction_listener(move |key: Arc<String>,
/// _value, _cause| { hits_for_listener.remove(key.as_ref()); })`, whatever the cause.
mod llm_l1_cache {
    use super::*;

    pub struct L1Cache {
        pub store: TtlMap<String, Arc<String>>,
        pub hits: Arc<Mutex<HashMap<String, u64>>>,
    }

    impl L1Cache {
        pub fn new(max_entries: usize) -> Self {
            let hits: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
            let hits_for_listener = Arc::clone(&hits);
            let store = TtlMap::builder()
                .ttl(Duration::MAX)
                .capacity(max_entries)
                .on_evict(move |key: &String, _, _| {
                    hits_for_listener.lock().unwrap().remove(key);
                })
                .build();
            L1Cache { store, hits }
        }

        pub fn get(&self, key: &str) -> Option<Arc<String>> {
            let entry = self.store.get(key)?;
            *self
                .hits
                .lock()
                .unwrap()
                .entry(key.to_string())
                .or_default() += 1;
            Some(entry)
        }
    }
}

#[test]
fn llm_l1_cache_the_hit_table_forgets_what_the_cache_drops() {
    use llm_l1_cache::*;
    let l1 = L1Cache::new(2);
    l1.store.insert("q1".into(), Arc::new("a1".into()));
    l1.store.insert("q2".into(), Arc::new("a2".into()));
    l1.get("q1");
    l1.get("q2");
    l1.get("q2");
    l1.store.insert("q3".into(), Arc::new("a3".into())); // q1 is the least recently used
    assert!(l1.get("q1").is_none());
    assert_eq!(*l1.hits.lock().unwrap(), HashMap::from([("q2".into(), 2)]));
    l1.store.insert("q2".into(), Arc::new("a2'".into())); // replaced: moka hears it too
    assert!(l1.hits.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// quick_cache: `get_value_or_guard`, `get_or_insert_async` (no TTL: `Duration::MAX`)
// ---------------------------------------------------------------------------------------

/// (index id 59731119839) a block store's `CacheExt::insert_if_missing`: `match
/// self.get_value_or_guard(&key, None) { GuardResult::Value(_) => (), GuardResult::Guard(g)
/// => { let _ = g.insert(val); } GuardResult::Timeout => unreachable!() }`.
mod insert_if_missing {
    use super::*;

    pub fn insert_if_missing(cache: &TtlMap<u64, Arc<[u8]>>, key: u64, val: Arc<[u8]>) {
        cache.get_or_insert_with(&key, || val);
    }
}

#[test]
fn insert_if_missing_keeps_the_sealed_block_already_there() {
    use insert_if_missing::*;
    let cache = TtlMap::builder().ttl(Duration::MAX).capacity(1024).build();
    insert_if_missing(&cache, 1, Arc::from(&b"first"[..]));
    insert_if_missing(&cache, 1, Arc::from(&b"second"[..]));
    insert_if_missing(&cache, 2, Arc::from(&b"other"[..]));
    assert_eq!(&*cache.get(&1).unwrap(), b"first");
    assert_eq!(cache.len(), 2);
}

/// (index id 52459691699) a blockchain explorer's HTTP cache: `let guard_res =
/// self.cache.get_value_or_guard(cache_key, Some(Duration::from_millis(50))); if let
/// GuardResult::Value(bytes) = guard_res { return Ok(bytes); } let bytes = compute.await?; if
/// let GuardResult::Guard(g) = guard_res { let _ = g.insert(bytes.clone()); } Ok(bytes)`: on a
/// timeout the request computes for itself and stores nothing.
///
/// Gap: no wait timeout; waiters wait for the leader's outcome. (The source also holds a
/// sync guard across `.await`.) Errors are not stored; waiters share the leader's.
mod explorer_http_cache {
    use super::*;

    pub struct Server {
        pub cache: TtlMap<String, Arc<[u8]>>,
        pub computes: AtomicUsize,
    }

    impl Server {
        pub async fn get_or_insert(
            &self,
            cache_key: &str,
            compute: impl Future<Output = Result<Arc<[u8]>, String>>,
        ) -> Result<Arc<[u8]>, Arc<String>> {
            self.cache
                .try_get_or_insert_with_shared_async(cache_key, compute)
                .await
        }
    }
}

#[test]
fn explorer_http_cache_concurrent_requests_compute_once_and_errors_are_not_stored() {
    use explorer_http_cache::*;
    let server = Arc::new(Server {
        cache: TtlMap::builder().ttl(Duration::MAX).capacity(1000).build(),
        computes: AtomicUsize::new(0),
    });
    let rt = two_worker_runtime();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let s = Arc::clone(&server);
            rt.spawn(async move {
                let compute = async {
                    s.computes.fetch_add(1, SeqCst);
                    wait_until_async("the other requests", || s.cache.stats().coalesced >= 3).await;
                    Ok(Arc::from(&b"{\"height\":1}"[..]))
                };
                s.get_or_insert("/api/blocks/tip", compute).await
            })
        })
        .collect();
    rt.block_on(async {
        for t in tasks {
            assert_eq!(&*t.await.unwrap().unwrap(), b"{\"height\":1}");
        }
    });
    assert_eq!(server.computes.load(SeqCst), 1);
    let failed = block_on(server.get_or_insert("/api/tx/x", async { Err("bad txid".into()) }));
    assert_eq!(*failed.unwrap_err(), "bad txid");
    assert!(!server.cache.contains_key("/api/tx/x"));
}

/// (index id 54920631089) a VM image service's OS detection: "`get_or_insert_async` coalesces
/// concurrent misses on the same key, so if many workers simultaneously hit a cache miss for
/// the same image, only one runs the detection": `self.cache.get_or_insert_async(&key, async
/// move { detect_from_disk(temp_dir, &owned_path).await }).await?` with `CacheKey { path,
/// size: metadata.len(), mtime: metadata.modified()? }`.
mod os_detection {
    use super::*;

    #[derive(Clone, Hash, PartialEq, Eq)]
    pub struct CacheKey {
        pub path: String,
        pub size: u64,
        pub mtime: u64,
    }

    pub struct Detector {
        pub cache: TtlMap<CacheKey, &'static str>,
        pub detections: AtomicUsize,
    }

    impl Detector {
        pub async fn detect(
            &self,
            path: &str,
            size: u64,
            mtime: u64,
        ) -> Result<&'static str, String> {
            let key = CacheKey {
                path: path.into(),
                size,
                mtime,
            };
            self.cache
                .try_get_or_insert_with_async(&key, async {
                    self.detections.fetch_add(1, SeqCst);
                    match size {
                        0 => Err("no partition table".to_string()),
                        _ if mtime.is_multiple_of(2) => Ok("linux"),
                        _ => Ok("windows"),
                    }
                })
                .await
        }
    }
}

#[test]
fn os_detection_reruns_for_a_rewritten_image_and_for_a_failed_one_only() {
    use os_detection::*;
    let clock = ManualClock::new();
    let detector = Detector {
        cache: TtlMap::builder()
            .ttl(secs(86_400))
            .clock(clock.clone())
            .build(),
        detections: AtomicUsize::new(0),
    };
    assert_eq!(
        block_on(detector.detect("/img/a.qcow2", 10, 2)),
        Ok("linux")
    );
    assert_eq!(
        block_on(detector.detect("/img/a.qcow2", 10, 2)),
        Ok("linux")
    );
    assert_eq!(
        block_on(detector.detect("/img/a.qcow2", 10, 3)),
        Ok("windows")
    );
    assert!(block_on(detector.detect("/img/b.qcow2", 0, 2)).is_err());
    assert!(block_on(detector.detect("/img/b.qcow2", 0, 2)).is_err());
    assert_eq!(detector.detections.load(SeqCst), 4);
}

/// (index id 19910440651) a blockchain node's cell cache: `match
/// self.data_shard(key).get_value_or_guard(key, None) { GuardResult::Value(value) =>
/// Ok(Some(value)), GuardResult::Guard(g) => Ok(if let Some(value) = { ..
/// db.cell_data.get(key.as_slice())? } { let value = CellDataCacheItem::from(..); _ =
/// g.insert(value.clone()); Some(value) } else { None }) .. }`: a missing cell (or a read
/// error) drops the guard, so nothing is stored.
mod cell_cache {
    use super::*;

    pub struct Storage {
        pub cache: TtlMap<[u8; 32], Arc<Vec<u8>>>,
        pub db: Mutex<HashMap<[u8; 32], Vec<u8>>>,
        pub reads: AtomicUsize,
    }

    impl Storage {
        pub fn get_raw(&self, key: &[u8; 32]) -> Result<Option<Arc<Vec<u8>>>, String> {
            let read_error = Mutex::new(None);
            let found = self.cache.optionally_get_or_insert_with(key, || {
                self.reads.fetch_add(1, SeqCst);
                if key[0] == 0xff {
                    *read_error.lock().unwrap() = Some("rocksdb: IO error".to_string());
                    return None;
                }
                self.db.lock().unwrap().get(key).cloned().map(Arc::new)
            });
            match read_error.into_inner().unwrap() {
                Some(e) => Err(e),
                None => Ok(found),
            }
        }
    }
}

#[test]
fn cell_cache_stores_found_cells_only() {
    use cell_cache::*;
    let storage = Storage {
        cache: TtlMap::builder()
            .ttl(Duration::MAX)
            .capacity(1 << 16)
            .build(),
        db: Mutex::new(HashMap::from([([1; 32], vec![1, 2, 3])])),
        reads: AtomicUsize::new(0),
    };
    assert_eq!(
        storage.get_raw(&[1; 32]).unwrap().as_deref(),
        Some(&vec![1, 2, 3])
    );
    assert_eq!(
        storage.get_raw(&[1; 32]).unwrap().as_deref(),
        Some(&vec![1, 2, 3])
    );
    assert_eq!(storage.get_raw(&[2; 32]), Ok(None));
    storage.db.lock().unwrap().insert([2; 32], vec![9]);
    assert_eq!(
        storage.get_raw(&[2; 32]).unwrap().as_deref(),
        Some(&vec![9])
    );
    assert!(storage.get_raw(&[0xff; 32]).is_err());
    assert_eq!(storage.reads.load(SeqCst), 4);
}

// ---------------------------------------------------------------------------------------
// cached's `TimedCache` behind a `Mutex`
// ---------------------------------------------------------------------------------------

/// (index id 4616666402) a link shortener's stats: `lazy_static! { static ref CACHE:
/// Mutex<TimedCache<usize, TotalStats>> = Mutex::new(TimedCache::with_lifespan(120)); }` and
/// `total_stats(connection)`: `if let Some(stats) = CACHE.lock().unwrap().cache_get(&0) {
/// return Ok(stats.clone()); }`, three counting queries with `?`, then `cache_set(0, stats)`.
/// `TimedCache`'s life counts from the store (`cache_get` does not refresh it).
mod shortener_stats {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct TotalStats {
        pub links: i64,
        pub redirects: i64,
    }

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    pub static CACHE: LazyLock<TtlMap<usize, TotalStats>> = LazyLock::new(|| {
        TtlMap::builder()
            .ttl(secs(120))
            .expiry(Expiry::Fixed)
            .clock(CLOCK.clone())
            .build()
    });
    pub static QUERIES: AtomicUsize = AtomicUsize::new(0);
    pub static DB_UP: AtomicBool = AtomicBool::new(true);

    async fn count(table: &str) -> anyhow::Result<i64> {
        QUERIES.fetch_add(1, SeqCst);
        anyhow::ensure!(DB_UP.load(SeqCst), "connection reset counting {table}");
        Ok(QUERIES.load(SeqCst) as i64)
    }

    pub async fn total_stats() -> anyhow::Result<TotalStats> {
        CACHE
            .try_get_or_insert_with_async(&0, async {
                let links = count("links").await?;
                let redirects = count("redirects").await?;
                Ok(TotalStats { links, redirects })
            })
            .await
    }
}

#[test]
fn shortener_stats_are_recounted_every_120_s_however_often_read_and_never_from_an_error() {
    use shortener_stats::*;
    let first = block_on(total_stats()).unwrap();
    CLOCK.advance(secs(100));
    assert_eq!(block_on(total_stats()).unwrap(), first);
    CLOCK.advance(secs(20));
    DB_UP.store(false, SeqCst);
    assert!(block_on(total_stats()).is_err());
    DB_UP.store(true, SeqCst);
    let second = block_on(total_stats()).unwrap();
    assert_ne!(second, first);
    assert_eq!(QUERIES.load(SeqCst), 5);
}

/// (index id 55119180408) an OIDC validator's JWKS task: `let mut recently_looked_up =
/// cached::TimedCache::with_lifespan(Duration::from_secs(300));` remembers key ids it has
/// just looked up, so a token with an unknown `kid` triggers at most one JWKS refetch per
/// 5 minutes (a flood of forged tokens does not hammer the provider).
mod jwks_lookups {
    use super::*;

    pub struct Jwks {
        pub recently_looked_up: TtlMap<String, ()>,
        pub refetches: AtomicUsize,
    }

    impl Jwks {
        /// Whether this unknown `kid` may trigger a refetch now.
        pub fn may_refetch(&self, kid: &str) -> bool {
            let first = AtomicBool::new(false);
            self.recently_looked_up
                .get_or_insert_with(kid, || first.store(true, SeqCst));
            if first.load(SeqCst) {
                self.refetches.fetch_add(1, SeqCst);
            }
            first.load(SeqCst)
        }
    }
}

#[test]
fn jwks_lookups_refetch_at_most_once_per_unknown_kid_every_five_minutes() {
    use jwks_lookups::*;
    let clock = ManualClock::new();
    let jwks = Jwks {
        recently_looked_up: TtlMap::builder()
            .ttl(secs(300))
            .expiry(Expiry::Fixed)
            .clock(clock.clone())
            .build(),
        refetches: AtomicUsize::new(0),
    };
    let flood = at_once(8, |_| jwks.may_refetch("forged-kid"));
    assert_eq!(flood.iter().filter(|f| **f).count(), 1);
    clock.advance(secs(299));
    assert!(!jwks.may_refetch("forged-kid"));
    clock.advance(secs(1));
    assert!(jwks.may_refetch("forged-kid"));
    assert_eq!(jwks.refetches.load(SeqCst), 2);
}
