//! `TtlMap`: the concurrent face over the shards.
//!
//! Each shard's table sits behind a read-write lock whose readers lock only a stripe of their
//! own thread's (`sharded_lock.rs`): a hit writes no memory that another thread's hit reads or
//! writes. Under the same lock, a mutex over the shard's flights (`memo.rs`), taken by readers
//! only: writers reach the flights through the write lock alone.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::builder::{Age, Builder, ExpireAfter, Listener, NoTtl, Options, Parts};
use crate::clock::{ClockSource, saturating_nanos};
use crate::key::Equivalent;
use crate::memo::Flights;
use crate::payload::{Panic, catch, resume};
use crate::registry::{self, Named};
use crate::shard::{Lifespan, Policy, Removal, Table};
use crate::stats::{Counters, Miss, Tally};
use crate::sweep::Shards;
use crate::sweeper::{self, Sweep};
use crate::sync::{Mutex, RwLock};
use crate::trace;
use crate::{DefaultHashBuilder, Expiry, Reason, Stats};

/// Shards of a map without a capacity: enough that writers and sweeps seldom meet.
const SHARDS: usize = 16;

/// A concurrent map whose entries expire; see the [crate documentation](crate).
///
/// Cloning a `TtlMap` is cheap and gives another handle to the same map.
///
/// ```
/// use std::time::Duration;
/// use cache_core::TtlMap;
///
/// let clients: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(3600));
/// let client = clients.get_or_insert_with("tenant-key", || 7);
/// assert_eq!(client, 7);
/// assert_eq!(clients.get("tenant-key"), Some(7)); // borrowed lookup: no String built
/// ```
///
/// A map is `Send + Sync` and used through `&self`: share it across threads by cloning the
/// handle, or keep it in a `static` (a `LazyLock`). Its keys and values are owned (`'static`)
/// and `Send + Sync`, as the process-wide sweeper and [`caches`](crate::caches) may hold it:
/// key by `String` rather than by a `&str` borrowed from a request; `get` still takes the
/// `&str`.
///
/// ```
/// use std::sync::{Arc, LazyLock};
/// use std::time::Duration;
/// use cache_core::TtlMap;
///
/// struct HttpClient { host: String }
///
/// static CLIENTS: LazyLock<TtlMap<String, Arc<HttpClient>>> =
///     LazyLock::new(|| TtlMap::new(Duration::from_secs(600)));
///
/// fn client_for(host: &str) -> Arc<HttpClient> {
///     CLIENTS.get_or_insert_with(host, || Arc::new(HttpClient { host: host.to_owned() }))
/// }
///
/// let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(|| client_for("api.example"))).collect();
/// for thread in threads {
///     assert_eq!(thread.join().unwrap().host, "api.example");
/// }
/// assert_eq!(CLIENTS.len(), 1); // one client, built once, shared by every thread
/// ```
pub struct TtlMap<K, V, S = DefaultHashBuilder> {
    pub(crate) inner: Arc<Inner<K, V, S>>,
}

pub(crate) struct Inner<K, V, S> {
    /// A `Vec` rather than a boxed slice: `into_boxed_slice` would be compiled for every key
    /// and value type.
    shards: Vec<Shard<K, V>>,
    /// `None` only once the map drops (see its `Drop`): a hasher's `Drop` is user code.
    hasher: Option<S>,
    pub(crate) clock: ClockSource,
    ttl: Duration,
    expiry: Expiry,
    capacity: Option<usize>,
    /// How long an entry lives at most, in nanoseconds (`Builder::max_lifetime`).
    max_lifetime: Option<u64>,
    expire_after: Option<ExpireAfter<K, V>>,
    /// How old a value already is when stored (the fleet tier's values from Redis).
    age: Option<Age<V>>,
    /// How long after it was stored a memoizing call rebuilds a value (`Builder::refresh_after`).
    pub(crate) refresh_after: Option<u64>,
    /// How long expired entries are kept for `Builder::stale_if_error`.
    stale_if_error: Option<Duration>,
    /// At most the soonest time any shard is due for a sweep (`Table::due_at`): one read per
    /// write tells whether some shard, not only the written one, must be swept. Lowered under
    /// the lock of the shard that lowers its own; raised only by `sweep_due`.
    next_due: AtomicU64,
    sweep_every: Option<Duration>,
    pub(crate) counters: Counters,
    listener: Option<Listener<K, V>>,
    pub(crate) name: Option<&'static str>,
}

/// What a store leaves to do once its locks are released.
#[must_use]
pub(crate) struct AfterStore<K, V> {
    removed: Vec<Removal<K, V>>,
    replaced: Option<(K, V)>,
    /// The time of the store, if it found a sweep due (read then, so that nothing held here
    /// waits on a clock that could panic).
    sweep: Option<u64>,
    /// A key's `Hash` that panicked while the table grew, to resume (see `Table::store`).
    panicked: Option<Panic>,
}

/// A value held while user code runs that may panic: if it does, the value is dropped on its
/// own as the panic unwinds (see [`drop_unwinding`]).
pub(crate) struct Kept<T>(Option<T>);

impl<T> Kept<T> {
    pub(crate) fn new(value: T) -> Self {
        Kept(Some(value))
    }

    pub(crate) fn get(&self) -> &T {
        match &self.0 {
            Some(value) => value,
            None => unreachable!("taken only by `into_inner`"),
        }
    }

    pub(crate) fn into_inner(mut self) -> T {
        match self.0.take() {
            Some(value) => value,
            None => unreachable!("taken only here"),
        }
    }
}

impl<T> Drop for Kept<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            drop_unwinding(value);
        }
    }
}

/// Drops `value`; while a panic unwinds, on its own, catching a `Drop` that panics too (a
/// second panic while one unwinds would abort the process).
pub(crate) fn drop_unwinding<T>(value: T) {
    if std::thread::panicking() {
        let _ = drop_guarded(value);
    } else {
        drop(value);
    }
}

/// An entry on its way into a shard. Declared before the lock guard, it is dropped after it
/// if it was not stored, as a key's `Drop` may use the map; its key and value each on its
/// own, so that one `Drop` that panics does not unwind through the other (a second panic
/// while one unwinds would abort the process).
pub(crate) struct Incoming<K, V>(pub(crate) Option<(K, V)>);

impl<K, V> Drop for Incoming<K, V> {
    fn drop(&mut self) {
        if let Some((key, value)) = self.0.take() {
            let panicked = drop_guarded(key).or(drop_guarded(value));
            if !std::thread::panicking() {
                resume(panicked);
            }
        }
    }
}

/// Aligned to whole cache-line pairs, as `CachePadded` is, so that what a hit reads in a shard
/// shares no cache line with memory that other threads write: when a change to `Table` took
/// a shard from 256 to 248 bytes, `cargo bench --bench hit` measured 2-thread hits 25% slower.
#[repr(align(128))]
pub(crate) struct Shard<K, V> {
    pub(crate) lock: RwLock<Locked<K, V>>,
}

/// What a shard's lock guards: its entries, and the flights of its keys (`memo.rs`).
///
/// The flights have a mutex of their own, for the callers that join or register a flight
/// under the read lock, right after their lookup missed: nothing can land between the two.
/// A writer excludes every such caller, so it reaches the flights without that mutex: a
/// landing, which unregisters its flight and stores its value in one step, takes one lock.
pub(crate) struct Locked<K, V> {
    pub(crate) table: Table<K, V>,
    pub(crate) flights: Mutex<Flights<K, V>>,
}

impl<K, V> TtlMap<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// A map with sliding expiry after `ttl`, no capacity and no background sweep, hashing
    /// with the [default hasher](crate::DefaultHashBuilder). For any other option, another
    /// hasher included, use [`builder`](Self::builder):
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let sip: TtlMap<String, u32, RandomState> =
    ///     TtlMap::builder().ttl(Duration::from_secs(60)).hasher(RandomState::new()).build();
    /// assert!(sip.is_empty());
    /// ```
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
    /// assert!(map.is_empty());
    /// ```
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self::builder().ttl(ttl).build()
    }
}

impl<K, V> TtlMap<K, V> {
    /// Starts a [`Builder`]; call [`ttl`](Builder::ttl) before `build`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u32> = TtlMap::builder().ttl(Duration::from_secs(60)).capacity(100).build();
    /// assert_eq!(map.len(), 0);
    /// ```
    pub fn builder() -> Builder<K, V, DefaultHashBuilder, NoTtl> {
        Builder::new()
    }
}

impl<K, V, S> TtlMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// A map like [`new`](TtlMap::new)'s, hashing with `hasher` (std's `HashMap` names it so).
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let sip: TtlMap<String, u32, RandomState> =
    ///     TtlMap::with_hasher(Duration::from_secs(60), RandomState::new());
    /// sip.insert("k".to_owned(), 1);
    /// assert_eq!(sip.get("k"), Some(1));
    /// ```
    #[must_use]
    pub fn with_hasher(ttl: Duration, hasher: S) -> Self {
        Builder::new().ttl(ttl).hasher(hasher).build()
    }
}

impl<K, V, S> TtlMap<K, V, S> {
    /// The ttl the map was built with.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{Expiry, TtlMap};
    ///
    /// let map: TtlMap<u8, u8> = TtlMap::builder()
    ///     .ttl(Duration::from_secs(60))
    ///     .expiry(Expiry::Fixed)
    ///     .capacity(10)
    ///     .name("ports")
    ///     .build();
    /// assert_eq!(map.ttl(), Duration::from_secs(60));
    /// assert_eq!(map.expiry(), Expiry::Fixed);
    /// assert_eq!(map.capacity(), Some(10));
    /// assert_eq!(map.name(), Some("ports"));
    /// ```
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// The expiry policy the map was built with (see [`ttl`](Self::ttl)).
    #[must_use]
    pub fn expiry(&self) -> Expiry {
        self.inner.expiry
    }

    /// The capacity the map was built with, if any (see [`ttl`](Self::ttl)).
    #[must_use]
    pub fn capacity(&self) -> Option<usize> {
        self.inner.capacity
    }

    /// The name the map was built with, if any (see [`ttl`](Self::ttl)); `#[ttl_cached]`
    /// names its map after the function's path.
    #[must_use]
    pub fn name(&self) -> Option<&'static str> {
        self.inner.name
    }

    /// Entries held, counting expired ones not yet removed (they are never returned).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// map.insert("a", 1);
    /// assert_eq!(map.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the map holds no entries.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<&str, u32> = TtlMap::new(Duration::from_secs(60));
    /// assert!(map.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map's counters so far.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// map.get_or_insert_with("a", || 1);
    /// map.get_or_insert_with("a", || 2);
    /// assert_eq!((map.stats().misses, map.stats().hits), (1, 1));
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// Sets every counter of [`stats`](Self::stats) to zero, e.g. after exporting them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// map.get_or_insert_with("a", || 1);
    /// map.reset_stats();
    /// assert_eq!(map.stats(), Default::default());
    /// assert_eq!(map.len(), 1, "entries stay");
    /// ```
    pub fn reset_stats(&self) {
        self.inner.counters.reset();
    }
}

impl<K, V, S> TtlMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// The map a [`Builder`] describes. What does not depend on the key and value types is
    /// worked out by non-generic functions ([`layout`], [`enroll`]): this one is compiled for
    /// every pair of types.
    pub(crate) fn from_parts(parts: Parts<K, V, S>) -> Self {
        let Parts {
            ttl,
            options,
            hasher,
            listener,
            expire_after,
            age,
        } = parts;
        let (count, policy) = layout(&options, ttl);
        let mut shards = Vec::with_capacity(count);
        for _ in 0..count {
            shards.push(Shard {
                lock: RwLock::new(Locked {
                    table: Table::new(policy),
                    flights: Mutex::new(Flights::new()),
                }),
            });
        }
        let inner = Arc::new(Inner {
            shards,
            hasher: Some(hasher),
            clock: options.clock,
            ttl,
            expiry: options.expiry,
            capacity: options.capacity,
            max_lifetime: options.max_lifetime.map(saturating_nanos),
            expire_after,
            age,
            refresh_after: options.refresh_after.map(saturating_nanos),
            stale_if_error: options.stale_if_error,
            next_due: AtomicU64::new(u64::MAX),
            sweep_every: options.sweep_every,
            counters: Counters::new(),
            listener,
            name: options.name,
        });
        enroll(
            inner.clone(),
            inner.clone(),
            options.name.filter(|_| options.listed),
            options.sweep_every,
        );
        TtlMap { inner }
    }
}

/// How many shards a map has, and its expiry rule.
fn layout(options: &Options, ttl: Duration) -> (usize, Policy) {
    // A capacity is the whole map's, kept exactly by one shard: writers then share one
    // lock, while hits stay as concurrent as ever.
    let shards = if options.capacity.is_some() {
        1
    } else {
        SHARDS
    };
    let ttl = saturating_nanos(ttl);
    let policy = Policy {
        ttl,
        step: ttl / 64,
        sliding: options.expiry == Expiry::Sliding,
        stale: options.stale_if_error.map_or(0, saturating_nanos),
    };
    (shards, policy)
}

/// Lists a new map with the registry if it has a name, and with the sweeper if it is swept
/// in the background; both hold it by `Weak` reference. It comes as two strong handles,
/// already type-erased, so that the downgrades are compiled once for every map.
fn enroll(
    named: Arc<dyn Named>,
    swept: Arc<dyn Sweep>,
    name: Option<&'static str>,
    sweep_every: Option<Duration>,
) {
    if let Some(name) = name {
        registry::register(name, Arc::downgrade(&named));
    }
    if let Some(every) = sweep_every {
        sweeper::register(Arc::downgrade(&swept), every);
    }
}

impl<K, V, S> TtlMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// The live value for `key`, if any. With sliding expiry a hit extends the entry's life.
    ///
    /// Look up with any borrowed form of the key (`&str` for `String`, [`TupleRef`] for
    /// tuples): a hit allocates nothing and takes no lock another reader contends for.
    ///
    /// [`TupleRef`]: crate::TupleRef
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
    /// map.insert("tenant".to_string(), 7);
    /// assert_eq!(map.get("tenant"), Some(7));
    /// assert_eq!(map.get("other"), None);
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        V: Clone,
    {
        self.inner.get(self.inner.hash(key), key, Count::Both)
    }

    /// [`get`](Self::get) that counts a hit only: for a caller whose memoizing call, on a
    /// miss, counts the miss.
    #[cfg(feature = "redis")]
    #[inline]
    pub(crate) fn hit<Q>(&self, key: &Q) -> Option<V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        V: Clone,
    {
        self.inner.get(self.inner.hash(key), key, Count::Hits)
    }

    /// Whether `key` has a live entry; does not count as a hit or extend its life.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// map.insert(1, "one");
    /// assert!(map.contains_key(&1));
    /// assert_eq!(map.stats().hits, 0);
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        let hash = self.inner.hash(key);
        let now = self.inner.now();
        self.inner
            .shard(hash)
            .lock
            .read()
            .table
            .contains(hash, key, now)
    }

    /// Whether `key` has a live value that `test` accepts, looked at as
    /// [`contains_key`](Self::contains_key) looks: neither counted nor slid.
    #[cfg(feature = "redis")]
    pub(crate) fn contains_such<Q>(&self, key: &Q, test: impl FnOnce(&V) -> bool) -> bool
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        let hash = self.inner.hash(key);
        let now = self.inner.now();
        let shard = self.inner.shard(hash).lock.read();
        shard.table.peek(hash, key, now).is_some_and(test)
    }

    /// Stores `value` under `key`, returning the live value it replaced.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// assert_eq!(map.insert("a", 1), None);
    /// assert_eq!(map.insert("a", 2), Some(1));
    /// ```
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let hash = self.inner.hash(&key);
        self.inner.insert(hash, key, value)
    }

    /// Removes `key`, returning its value if it was live.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// map.insert("a", 1);
    /// assert_eq!(map.remove("a"), Some(1));
    /// assert_eq!(map.remove("a"), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.inner.remove(self.inner.hash(key), key)
    }

    /// Removes every entry.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// map.insert("a", 1);
    /// map.clear();
    /// assert!(map.is_empty());
    /// ```
    pub fn clear(&self) {
        self.inner.clear();
    }

    /// The live entries, as clones, shard by shard: each shard is read, by the clock of that
    /// moment, under its lock for as long as its entries take to clone, so no lock is held
    /// across the whole map and entries stored or removed meanwhile in other shards may or may
    /// not be seen. Hits are not counted and deadlines do not move.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// map.insert("a", 1);
    /// map.insert("b", 2);
    /// let mut all: Vec<_> = map.iter().collect();
    /// all.sort();
    /// assert_eq!(all, [("a", 1), ("b", 2)]);
    /// ```
    ///
    /// `for (key, value) in &map` does the same.
    pub fn iter(&self) -> Iter<'_, K, V, S>
    where
        K: Clone,
        V: Clone,
    {
        Iter {
            map: &self.inner,
            next_shard: 0,
            batch: Vec::new().into_iter(),
        }
    }

    /// Keeps only the live entries for which `keep` returns true, shard by shard; the others
    /// are removed (the listener hears [`Reason::Removed`]), and so are expired entries, as a
    /// sweep would ([`Reason::Expired`], counted in [`Stats::expirations`]). Like `remove`, it
    /// wins over the constructors running meanwhile: none of them stores its value. `keep`
    /// runs under the shard's lock: it must not use this map.
    ///
    /// # Panics
    ///
    /// If `keep` uses a key of the shard it runs under (`re-entrant use of a TtlMap`), rather
    /// than wait for itself forever. A panic of `keep` or of the listener goes on in this
    /// call, once the entries removed so far are heard and counted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// for i in 0..10 {
    ///     map.insert(i, i);
    /// }
    /// map.retain(|_, v| v % 2 == 0);
    /// assert_eq!(map.len(), 5);
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.inner.retain(&mut keep);
    }

    /// Removes every expired entry now, shard by shard in small batches, and returns how many
    /// it removed. (If another thread is sweeping a shard, this call helps it finish.) From a
    /// listener of this map's own sweep it returns 0: that sweep goes on once the listener
    /// returns. Another map's sweep is no such obstacle.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{ManualClock, TtlMap};
    ///
    /// let clock = ManualClock::new();
    /// let map = TtlMap::builder().ttl(Duration::from_secs(60)).clock(clock.clone()).build();
    /// map.insert("a", 1);
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(map.sweep(), 1);
    /// assert!(map.is_empty());
    /// ```
    pub fn sweep(&self) -> usize {
        self.inner.sweep_all()
    }
}

impl<K, V, S> Inner<K, V, S> {
    #[inline]
    pub(crate) fn shard(&self, hash: u64) -> &Shard<K, V> {
        // hashbrown uses the low bits for the bucket and the top 7 for its tags.
        &self.shards[(hash >> 32) as usize & (self.shards.len() - 1)]
    }

    /// Entries held, counting expired ones not yet removed.
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock.read().table.len()).sum()
    }

    /// The shard's part of a flight's name (`flight::FlightId`): where its flights live.
    pub(crate) fn flights_id(&self, hash: u64) -> usize {
        std::ptr::from_ref(self.shard(hash)) as usize
    }

    /// Counts removed entries, hands them to the listener and drops them, outside any lock
    /// (a value may be costly to drop). Every entry is heard and dropped even if the listener
    /// or a `Drop` panics for one; the first panic is handed back to resume once the
    /// operation is complete.
    #[must_use]
    fn removed(&self, removed: Vec<Removal<K, V>>) -> Option<Panic> {
        let mut tally = Tally::default();
        for (_, _, reason) in &removed {
            tally.add(*reason);
        }
        self.counters.removals(tally);
        trace::removed(self.name, tally);
        let mut panicked = None;
        for (k, v, reason) in removed {
            panicked = panicked.or(self.notify_guarded(&k, &v, reason));
            panicked = panicked.or(drop_guarded(k));
            panicked = panicked.or(drop_guarded(v));
        }
        panicked
    }

    /// Tells the listener, if any, as [`guarded`] runs user code.
    fn notify_guarded(&self, key: &K, value: &V, reason: Reason) -> Option<Panic> {
        let listener = self.listener.as_deref()?;
        catch(&mut || listener(key, value, reason))
    }
}

/// Which of a lookup's outcomes [`Inner::get`] counts.
#[derive(Clone, Copy)]
pub(crate) enum Count {
    Both,
    #[cfg(feature = "redis")]
    Hits,
    Nothing,
}

/// Runs user code (a listener, a `Drop`), catching its panic to resume once the map is
/// consistent. Each drop goes through here on its own: a second panic while one unwinds
/// would abort the process.
fn guarded(user_code: impl FnOnce()) -> Option<Panic> {
    let mut user_code = Some(user_code);
    catch(&mut || {
        if let Some(user_code) = user_code.take() {
            user_code();
        }
    })
}

/// Drops `value` on its own, as [`guarded`] runs user code (if a drop runs any code at all).
pub(crate) fn drop_guarded<T>(value: T) -> Option<Panic> {
    if !std::mem::needs_drop::<T>() {
        return None;
    }
    let mut value = Some(value);
    catch(&mut || drop(value.take()))
}

/// Hands `value` back, unless a panic is to be resumed: then `value` is dropped first, on its
/// own (see [`guarded`]).
pub(crate) fn unless_panicked<V>(value: V, panicked: Option<Panic>) -> V {
    if let Some(panic) = panicked {
        let _ = drop_guarded(value);
        panic.resume();
    }
    value
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    #[inline]
    pub(crate) fn hash<Q: ?Sized + Hash>(&self, key: &Q) -> u64 {
        match &self.hasher {
            Some(hasher) => hasher.hash_one(key),
            None => 0,
        }
    }

    /// Hashes keys for the table's stores and shrinks: one closure type for both, so that
    /// each key type compiles hashbrown's rehash once.
    fn hasher(&self) -> impl Fn(&K) -> u64 + '_ {
        |key| self.hash(key)
    }

    /// This map's shards, for the sweeping code that is not generic (`sweep.rs`).
    fn as_shards(&self) -> &dyn Shards {
        self
    }

    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The lookup behind `get` and the memoizing methods. It is counted before the value's
    /// `Clone` runs, which may panic, as a memoizing call's is.
    #[inline]
    pub(crate) fn get<Q>(&self, hash: u64, key: &Q, count: Count) -> Option<V>
    where
        Q: ?Sized + Equivalent<K>,
        V: Clone,
    {
        let shard = self.shard(hash).lock.read();
        // A miss unless it finds the value: also if a key's `Eq` (or the clock) panics.
        let miss = match count {
            Count::Both => Some(Miss(&self.counters)),
            _ => None,
        };
        let (value, _) = shard.table.get(hash, key, &self.clock)?;
        std::mem::forget(miss);
        if !matches!(count, Count::Nothing) {
            self.counters.lookup(true);
        }
        Some(value.clone())
    }

    /// After a memoizing call's constructor failed: the value of `key` if it is live, or
    /// expired less than `stale_if_error` ago (counted), else `error`.
    pub(crate) fn stale_or<Q, E>(&self, hash: u64, key: &Q, error: E) -> Result<V, E>
    where
        Q: ?Sized + Equivalent<K>,
        V: Clone,
    {
        if self.stale_if_error.is_none() {
            return Err(error);
        }
        let now = self.now();
        let shard = self.shard(hash).lock.read();
        let Some((value, expired)) = shard.table.get_stale(hash, key, now) else {
            return Err(error);
        };
        let value = value.clone();
        drop(shard);
        // A live value (stored by another caller meanwhile) is no stale one.
        if expired {
            self.counters.served_stale();
        }
        Ok(value)
    }

    /// Whether values declare lives of their own (`expire_after`) that a store must ask for
    /// first (see [`own_life`](Self::own_life)). A map of capacity 0 stores nothing.
    pub(crate) fn declares_lives(&self) -> bool {
        self.expire_after.is_some() && self.capacity != Some(0)
    }

    /// The life `expire_after` gives `value`. Asked before the shard's lock is taken, so that
    /// it may use this map: under the lock it could wait for itself, or two threads for each
    /// other's shards.
    pub(crate) fn own_life(&self, key: &K, value: &V) -> Option<Duration> {
        match &self.expire_after {
            Some(life) if self.declares_lives() => life(key, value),
            _ => None,
        }
    }

    pub(crate) fn insert(&self, hash: u64, key: K, value: V) -> Option<V> {
        // Before the guard: dropped after it if it is not stored (see `Incoming`).
        let mut pending = Incoming(Some((key, value)));
        let own_life = match &pending.0 {
            Some((key, value)) => self.own_life(key, value),
            None => None,
        };
        let after = {
            let mut shard = self.shard(hash).lock.write();
            let Locked { table, flights } = &mut *shard;
            if let Some((key, _)) = &pending.0 {
                flights.get_mut().invalidate(hash, key);
            }
            self.store(table, hash, &mut pending.0, own_life)
        };
        self.after_store(after)
    }

    fn remove<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let now = self.now();
        let ((k, v, expired), sweep) = {
            let mut shard = self.shard(hash).lock.write();
            let Locked { table, flights } = &mut *shard;
            flights.get_mut().invalidate(hash, key);
            let removed = table.remove(hash, key, now)?;
            // Fewer entries allow fewer expired ones: a sweep may be due.
            (removed, self.due(table, now))
        };
        let mut panicked = None;
        if sweep {
            panicked = self.sweep_due(now);
        }
        if expired {
            panicked = panicked.or(self.removed(vec![(k, v, Reason::Expired)]));
            resume(panicked);
            return None;
        }
        panicked = panicked.or(self.notify_guarded(&k, &v, Reason::Removed));
        panicked = panicked.or(drop_guarded(k));
        Some(unless_panicked(v, panicked))
    }

    /// Empties every shard, then tells the listener: a panicking listener cannot leave the
    /// map half cleared.
    fn clear(&self) {
        let mut removed = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock.write();
            shard.flights.get_mut().invalidate_all();
            shard
                .table
                .drain_into(&mut removed, self.listener.is_some());
        }
        resume(self.removed(removed));
    }

    /// Like `clear`, but keeping what `keep` keeps. If `keep` panics, what it had removed is
    /// still heard and counted before the panic goes on.
    fn retain(&self, keep: &mut impl FnMut(&K, &V) -> bool) {
        // Read before anything is removed: a clock that panics then leaves nothing in hand.
        let now = self.now();
        let mut removed = Vec::new();
        let mut panicked = None;
        for shard in self.shards.iter() {
            let mut shard = shard.lock.write();
            shard.held_here();
            shard.flights.get_mut().invalidate_all();
            panicked = guarded(|| shard.table.retain(now, keep, &mut removed));
            if panicked.is_some() {
                break;
            }
        }
        let heard = self.removed(removed);
        resume(panicked.or(heard));
    }

    /// Stores the entry in `pending` under the shard's write lock, which the caller holds (and
    /// its flights lock). What must not run under them (listeners, drops, sweeping, eviction in
    /// another shard) is returned for [`after_store`](Self::after_store).
    ///
    /// `own_life` is what [`own_life`](Self::own_life) said of the entry. If user code panics
    /// here (a clock, keys' `Eq` and `Hash`), the entry stays in `pending`, an [`Incoming`]
    /// that the caller declares before its lock guard.
    pub(crate) fn store(
        &self,
        table: &mut Table<K, V>,
        hash: u64,
        pending: &mut Option<(K, V)>,
        own_life: Option<Duration>,
    ) -> AfterStore<K, V> {
        let mut after = AfterStore {
            removed: Vec::new(),
            replaced: None,
            sweep: None,
            panicked: None,
        };
        let capacity = match self.capacity {
            Some(0) => {
                if let Some((key, value)) = pending.take() {
                    after.removed.push((key, value, Reason::Capacity));
                }
                return after;
            }
            Some(capacity) => capacity,
            None => usize::MAX,
        };
        let now = self.now();
        let Some((_, value)) = pending.as_ref() else {
            return after;
        };
        let life = self.lifespan(own_life, value, now);
        let Some(stored) = table.store(hash, pending, life, capacity, self.hasher()) else {
            return after;
        };
        match stored.replaced {
            Some((k, v, true)) => after.removed.push((k, v, Reason::Expired)),
            Some((k, v, false)) => after.replaced = Some((k, v)),
            None => {}
        }
        if let Some(evicted) = stored.evicted {
            after.removed.push(evicted);
        }
        after.panicked = stored.panicked;
        self.counters.inserted();
        after.sweep = if self.due(table, now) {
            Some(now)
        } else {
            None
        };
        after
    }

    /// An entry stored at `now`, the latest time it may live to whatever its hits (its
    /// `max_lifetime` and the value's `own_life`, or `u64::MAX` for neither), and when it is
    /// due for `refresh_after`.
    fn lifespan(&self, own_life: Option<Duration>, value: &V, now: u64) -> Lifespan {
        let mut limit = u64::MAX;
        if let Some(max_lifetime) = self.max_lifetime {
            limit = now.saturating_add(max_lifetime);
        }
        if let Some(life) = own_life {
            limit = limit.min(now.saturating_add(saturating_nanos(life)));
        }
        // `refresh_after` counts from the value's birth, which may precede its arrival.
        let refresh_at = self.refresh_after.map_or(u64::MAX, |r| {
            let age = self
                .age
                .as_ref()
                .map_or(0, |age| saturating_nanos(age(value)));
            now.saturating_add(r.saturating_sub(age))
        });
        Lifespan {
            now,
            limit,
            refresh_at,
        }
    }

    /// Whether some shard is due for a sweep, after a change to `table` under its lock, which
    /// lowers `next_due` if the change brought its own due time closer.
    fn due(&self, table: &Table<K, V>, now: u64) -> bool {
        let due = table.due_at();
        if due < self.next_due.load(Relaxed) {
            self.next_due.fetch_min(due, Relaxed);
        }
        // This shard's own time is judged under its lock: `next_due` may have been raised
        // meanwhile by a `update_next_due` that read this shard before this change.
        now >= due || now >= self.next_due.load(Relaxed)
    }

    /// The rest of a store, once its locks are released; returns the live value replaced.
    #[inline]
    pub(crate) fn after_store(&self, after: AfterStore<K, V>) -> Option<V> {
        if after.removed.is_empty()
            && after.replaced.is_none()
            && after.sweep.is_none()
            && after.panicked.is_none()
        {
            return None;
        }
        self.after_store_slow(after)
    }

    /// [`after_store`](Self::after_store) with something to hear, drop or sweep.
    #[inline(never)]
    fn after_store_slow(&self, after: AfterStore<K, V>) -> Option<V> {
        let mut panicked = after.panicked.or(self.removed(after.removed));
        if let Some(now) = after.sweep {
            panicked = panicked.or(self.sweep_due(now));
        }
        let Some((k, v)) = after.replaced else {
            resume(panicked);
            return None;
        };
        panicked = panicked.or(self.notify_guarded(&k, &v, Reason::Replaced));
        panicked = panicked.or(drop_guarded(k));
        Some(unless_panicked(v, panicked))
    }

    /// Sweeps every shard that may hold expired entries; returns how many were removed (see
    /// `sweep.rs`).
    fn sweep_all(&self) -> usize {
        let swept = self.as_shards().sweep_all(&self.clock, &self.next_due);
        trace::swept(self.name, swept);
        swept
    }

    /// The write path's duty once `next_due` has passed: sweeps every shard that is due (see
    /// `sweep.rs`).
    #[cold]
    fn sweep_due(&self, now: u64) -> Option<Panic> {
        self.as_shards().sweep_due(now, &self.next_due)
    }
}

/// The live entries of a [`TtlMap`], from [`TtlMap::iter`].
///
/// ```
/// use std::time::Duration;
/// use cache_core::TtlMap;
///
/// let map = TtlMap::new(Duration::from_secs(60));
/// map.insert("tenant", 3);
/// let total: u32 = map.iter().map(|(_, v)| v).sum();
/// assert_eq!(total, 3);
/// ```
///
/// Once it has returned `None` it keeps doing so ([`FusedIterator`](std::iter::FusedIterator)).
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Iter<'a, K, V, S> {
    map: &'a Inner<K, V, S>,
    next_shard: usize,
    batch: std::vec::IntoIter<(K, V)>,
}

impl<K: Clone, V: Clone, S> Iterator for Iter<'_, K, V, S> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(entry) = self.batch.next() {
                return Some(entry);
            }
            let shard = self.map.shards.get(self.next_shard)?;
            self.next_shard += 1;
            // Judged by the time it is read: the iterator may be read long after it was made.
            let now = self.map.clock.now();
            let (mut live, mut key) = (Vec::new(), None);
            let panicked = shard.lock.read().table.live(now, &mut live, &mut key);
            if let Some(panic) = panicked {
                // The clones made so far, dropped with the lock let go, each on its own.
                let _ = drop_guarded(key);
                for (key, value) in live {
                    let _ = drop_guarded(key);
                    let _ = drop_guarded(value);
                }
                panic.resume();
            }
            self.batch = live.into_iter();
        }
    }
}

// `next` returns `None` only past the last shard, where it stays.
impl<K: Clone, V: Clone, S> std::iter::FusedIterator for Iter<'_, K, V, S> {}

/// `for (key, value) in &map`: the live entries as clones, as [`TtlMap::iter`] gives them.
///
/// ```
/// use std::time::Duration;
/// use cache_core::TtlMap;
///
/// let map = TtlMap::new(Duration::from_secs(60));
/// map.insert("tenant", 3);
/// for (key, value) in &map {
///     assert_eq!((key, value), ("tenant", 3));
/// }
/// ```
impl<'a, K, V, S> IntoIterator for &'a TtlMap<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    type Item = (K, V);
    type IntoIter = Iter<'a, K, V, S>;

    fn into_iter(self) -> Iter<'a, K, V, S> {
        self.iter()
    }
}

/// Inserts every pair, as [`TtlMap::insert`] does one by one (a later pair of a key replaces
/// an earlier one). A `TtlMap` is a handle, so extending a clone extends the map.
///
/// ```
/// use std::time::Duration;
/// use cache_core::TtlMap;
///
/// let mut map = TtlMap::new(Duration::from_secs(60));
/// map.extend([("a", 1), ("b", 2), ("a", 3)]);
/// assert_eq!((map.len(), map.get("a")), (2, Some(3)));
/// ```
impl<K, V, S> Extend<(K, V)> for TtlMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, pairs: I) {
        for (key, value) in pairs {
            self.insert(key, value);
        }
    }
}

impl<K, V, S> fmt::Debug for Iter<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// Drops what the user gave each on its own, catching its panics, so that a `Drop` that
/// panics neither leaks the rest nor, by panicking twice, aborts the process: the entries, the
/// flights left registered (the keys of leaders whose futures were forgotten; these together,
/// see `Flights::drop_all`), the hasher and the closures (and what they captured). No panic
/// is resumed: a map may be dropped where a panic aborts the process (a thread-local's
/// destructor, or while another panic unwinds). The panic hook has printed its message
/// already.
impl<K, V, S> Drop for Inner<K, V, S> {
    fn drop(&mut self) {
        for shard in self.shards.iter() {
            let mut removed = Vec::new();
            {
                // No other handle is left to wait for this lock, nor for a `Drop` to use.
                let mut shard = shard.lock.write();
                shard.table.drain_into(&mut removed, false);
                shard.flights.get_mut().drop_all();
            }
            for (k, v, _) in removed {
                drop(drop_guarded(k));
                drop(drop_guarded(v));
            }
        }
        drop(drop_guarded(self.hasher.take()));
        let clock = std::mem::replace(&mut self.clock, ClockSource::System(0));
        // `match`, not `map`: a closure would be compiled for every key and value type.
        drop_each([
            match self.listener.take() {
                Some(f) => Some(f),
                None => None,
            },
            match self.expire_after.take() {
                Some(f) => Some(f),
                None => None,
            },
            match self.age.take() {
                Some(f) => Some(f),
                None => None,
            },
            Some(Box::new(clock)),
        ]);
    }
}

/// Drops each of a map's closures (and its clock) on its own, catching their panics: as
/// `dyn Send`, so that this is compiled once for every key and value type.
fn drop_each(closures: [Option<Box<dyn Send>>; 4]) {
    for closure in closures {
        drop(drop_guarded(closure));
    }
}

impl<K, V, S> Named for Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Send + Sync,
{
    fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    fn len(&self) -> usize {
        Inner::len(self)
    }

    fn clear(&self) {
        Inner::clear(self);
    }

    fn reset_stats(&self) {
        self.counters.reset();
    }
}

impl<K, V, S> Shards for Inner<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn count(&self) -> usize {
        self.shards.len()
    }

    fn due_at(&self, shard: usize) -> u64 {
        self.shards[shard].lock.read().table.due_at()
    }

    fn may_hold_expired(&self, shard: usize, now: u64) -> bool {
        self.shards[shard].lock.read().table.may_hold_expired(now)
    }

    fn sweep_step(
        &self,
        shard: usize,
        now: u64,
        until: &mut Option<u64>,
    ) -> Option<(usize, Option<Panic>)> {
        let shard = &self.shards[shard];
        let mut removed = Vec::new();
        let (scanned, done) = {
            let mut shard = shard.lock.write();
            let table = &mut shard.table;
            let done = table.sweeps_done();
            if done >= *until.get_or_insert(done + 1) {
                return None;
            }
            (table.sweep_step(now, &mut removed), done)
        };
        let mut panicked = None;
        if scanned {
            // The forecast's deadlines, read with writers held off but readers not.
            let soonest = shard.lock.read().table.soonest();
            let mut locked = shard.lock.write();
            locked.flights.get_mut().give_back();
            panicked = locked.table.finish_sweep(soonest, done, self.hasher());
        }
        Some((removed.len(), panicked.or(self.removed(removed))))
    }
}

impl<K, V, S> Sweep for Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Send + Sync,
{
    fn sweep(&self) -> usize {
        self.sweep_all()
    }
}

/// A panic in user code (a key's `Hash` or `Eq`, a value's `Clone` or `Drop`, a listener, a
/// constructor) leaves a map consistent and usable, so it may be used across `catch_unwind`.
impl<K, V, S> std::panic::UnwindSafe for TtlMap<K, V, S> {}
impl<K, V, S> std::panic::RefUnwindSafe for TtlMap<K, V, S> {}

impl<K, V, S> Clone for TtlMap<K, V, S> {
    fn clone(&self) -> Self {
        TtlMap {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Shows the configuration and the number of entries, never a key or a value: keys are often
/// secrets.
impl<K, V, S> fmt::Debug for TtlMap<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("TtlMap")
            .field("name", &inner.name)
            .field("ttl", &inner.ttl)
            .field("expiry", &inner.expiry)
            .field("capacity", &inner.capacity)
            .field(
                "max_lifetime",
                &inner.max_lifetime.map(Duration::from_nanos),
            )
            .field(
                "refresh_after",
                &inner.refresh_after.map(Duration::from_nanos),
            )
            .field("stale_if_error", &inner.stale_if_error)
            .field("expire_after", &inner.expire_after.is_some())
            .field("sweep_every", &inner.sweep_every)
            .field("clock", &inner.clock)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::ManualClock;
    use crate::forecast::Forecast;

    /// The forecast's promise, shard by shard: between writes no shard holds as many expired
    /// entries as its allowance (`forecast.rs`), with eight writers racing sweeps that other
    /// writers help finish while tables rehash under them.
    #[test]
    fn no_shard_holds_its_allowance_of_expired_entries_between_writes() {
        let clock = ManualClock::new();
        let map: TtlMap<u64, u64> = TtlMap::builder()
            .ttl(Duration::from_secs(60))
            .expiry(Expiry::Fixed)
            .clock(clock.clone())
            .build();
        let next = AtomicU64::new(0);
        let barrier = Barrier::new(9);
        let mut failure = None;
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for phase in 0..300u64 {
                        barrier.wait();
                        let burst = if phase == 0 {
                            2_000
                        } else {
                            1 + phase * 7919 % 40
                        };
                        for _ in 0..burst {
                            let k = next.fetch_add(1, Relaxed);
                            map.insert(k, k);
                        }
                        barrier.wait();
                    }
                });
            }
            for phase in 0..300u64 {
                barrier.wait();
                barrier.wait();
                let now = map.inner.now();
                for (i, shard) in map.inner.shards.iter().enumerate() {
                    let (len, expired) = shard.lock.read().table.counts(now);
                    if expired >= Forecast::allowance(len) && failure.is_none() {
                        failure = Some(format!("phase {phase}, shard {i}: {expired} of {len}"));
                    }
                }
                clock.advance(Duration::from_millis(300 + phase * 104_729 % 2000));
            }
        });
        assert_eq!(failure, None);
    }

    /// A value stored with an age (the fleet tier's, from Redis) is due for `refresh_after`
    /// that much sooner, counting from its birth; one older than `refresh_after` is due at once.
    #[cfg(feature = "redis")]
    #[test]
    fn a_value_stored_with_an_age_is_due_for_refresh_counting_from_its_birth() {
        let clock = ManualClock::new();
        let mut parts = TtlMap::<String, u64>::builder()
            .ttl(Duration::from_secs(60))
            .refresh_after(Duration::from_secs(10))
            .clock(clock.clone())
            .into_parts();
        // The value is its own age in seconds.
        parts.age = Some(Box::new(|age: &u64| Duration::from_secs(*age)));
        let map = TtlMap::from_parts(parts);
        map.insert("new".to_owned(), 0);
        map.insert("six".to_owned(), 6);
        map.insert("old".to_owned(), 30);
        assert_eq!(
            map.get_or_insert_with("old", || 0),
            0,
            "30 s old: due at once"
        );
        clock.advance(Duration::from_millis(3_999));
        assert_eq!(
            map.get_or_insert_with("six", || 0),
            6,
            "10 s old only at 4 s"
        );
        clock.advance(Duration::from_millis(1));
        assert_eq!(
            map.get_or_insert_with("six", || 0),
            0,
            "due 4 s after it arrived 6 s old"
        );
        assert_eq!(
            map.get_or_insert_with("new", || 1),
            0,
            "born on arrival: due at 10 s"
        );
        assert_eq!(map.stats().refreshes, 2);
    }
}
