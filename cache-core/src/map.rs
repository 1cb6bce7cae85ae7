//! `TtlMap`: the concurrent face over the shards.
//!
//! Each shard's table sits behind a `ShardedLock`, whose readers lock only a lock of their
//! own thread's: a hit writes no memory that another thread's hit reads or writes.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::builder::{Builder, Listener, NoTtl};
use crate::clock::{ClockSource, saturating_nanos};
use crate::key::Equivalent;
use crate::memo::Pending;
use crate::shard::{Policy, Removal, Table};
use crate::stats::Counters;
use crate::sweeper::{self, Sweep};
use crate::{DefaultHashBuilder, Expiry, Reason, Stats};

/// Buckets a sweep looks at per lock acquisition, so readers and writers wait at most that
/// long behind it.
const SWEEP_BATCH: usize = 64;

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
pub struct TtlMap<K, V, S = DefaultHashBuilder> {
    pub(crate) inner: Arc<Inner<K, V, S>>,
}

pub(crate) struct Inner<K, V, S> {
    pub(crate) shards: Box<[Shard<K, V>]>,
    hasher: S,
    clock: ClockSource,
    ttl: Duration,
    expiry: Expiry,
    capacity: Option<usize>,
    sweep_every: Option<Duration>,
    pub(crate) counters: Counters,
    listener: Option<Listener<K, V>>,
}

#[must_use]
pub(crate) struct AfterInsert<K, V> {
    hash: u64,
    removed: Vec<Removal<K, V>>,
    replaced: Option<(K, V)>,
    sweep: bool,
}

pub(crate) struct Shard<K, V> {
    table: ShardedLock<Table<K, V>>,
    pub(crate) pending: Mutex<HashTable<Pending<K>>>,
    sweeping: AtomicBool,
}

impl<K, V> Shard<K, V> {
    // A panic in user code (a key's `Hash` or `Eq`) while a lock is held leaves the table
    // consistent, so poisoning is ignored rather than turned into more panics.
    pub(crate) fn read(&self) -> ShardedLockReadGuard<'_, Table<K, V>> {
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> ShardedLockWriteGuard<'_, Table<K, V>> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K, V> TtlMap<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// A map with sliding expiry after `ttl`, no capacity and no background sweep.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
    /// assert!(map.is_empty());
    /// ```
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

impl<K, V, S> TtlMap<K, V, S> {
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
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.read().len()).sum()
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
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }
}

impl<K, V, S> TtlMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    pub(crate) fn from_builder(b: Builder<K, V, S, Duration>) -> Self {
        let shards = match b.capacity {
            // A shard of at most 64 entries evicts exactly the least recently used (see
            // `EVICTION_SAMPLE`), so small capacities get that.
            Some(capacity) => capacity.div_ceil(64).next_power_of_two().min(SHARDS),
            None => SHARDS,
        };
        let share = |i: usize| match b.capacity {
            Some(c) => c / shards + usize::from(i < c % shards),
            None => usize::MAX,
        };
        let ttl = saturating_nanos(b.ttl);
        let policy = Policy {
            ttl,
            step: ttl / 64,
            sliding: b.expiry == Expiry::Sliding,
        };
        let inner = Arc::new(Inner {
            shards: (0..shards)
                .map(|i| Shard {
                    table: ShardedLock::new(Table::new(policy, share(i))),
                    pending: Mutex::new(HashTable::new()),
                    sweeping: AtomicBool::new(false),
                })
                .collect(),
            hasher: b.hasher,
            clock: b.clock,
            ttl: b.ttl,
            expiry: b.expiry,
            capacity: b.capacity,
            sweep_every: b.sweep_every,
            counters: Counters::new(),
            listener: b.listener,
        });
        if let Some(every) = b.sweep_every {
            let weak = Arc::downgrade(&inner);
            sweeper::register(weak, every);
        }
        TtlMap { inner }
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
        let found = self.inner.get(self.inner.hash(key), key);
        self.inner.counters.lookup(found.is_some());
        found
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
        self.inner.shard(hash).read().contains(hash, key, now)
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
        let hash = self.inner.hash(key);
        let now = self.inner.now();
        let (k, v, expired) = self.inner.shard(hash).write().remove(hash, key, now)?;
        if expired {
            self.inner.removed(vec![(k, v, Reason::Expired)]);
            return None;
        }
        self.inner.notify(&k, &v, Reason::Removed);
        Some(v)
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
        for shard in self.inner.shards.iter() {
            let mut removed = Vec::new();
            shard.write().drain_into(&mut removed);
            self.inner.removed(removed);
        }
    }

    /// Removes every expired entry now, shard by shard in small batches, and returns how many.
    /// (A shard that another thread is sweeping at that moment is left to it.)
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
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    #[inline]
    pub(crate) fn hash<Q: ?Sized + Hash>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The uncounted lookup behind `get` and the memoizing methods.
    #[inline]
    pub(crate) fn get<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        Q: ?Sized + Equivalent<K>,
        V: Clone,
    {
        let now = self.now();
        self.shard(hash).read().get(hash, key, now).cloned()
    }

    pub(crate) fn insert(&self, hash: u64, key: K, value: V) -> Option<V> {
        let after = self.insert_locked(&mut self.shard(hash).write(), hash, key, value);
        self.after_insert(after)
    }

    /// Inserts under a write lock the caller holds. What must not run under it (listeners,
    /// drops, write-path sweeping) is returned for [`after_insert`](Self::after_insert).
    pub(crate) fn insert_locked(
        &self,
        table: &mut Table<K, V>,
        hash: u64,
        key: K,
        value: V,
    ) -> AfterInsert<K, V> {
        let now = self.now();
        let mut removed = Vec::new();
        let old = table.insert(hash, key, value, now, |k| self.hash(k), &mut removed);
        self.counters.inserted();
        let replaced = match old {
            Some((k, v, true)) => {
                removed.push((k, v, Reason::Expired));
                None
            }
            Some((k, v, false)) => Some((k, v)),
            None => None,
        };
        AfterInsert {
            hash,
            removed,
            replaced,
            sweep: table.wants_sweep(),
        }
    }

    /// The rest of an insert, once its lock is released; returns the live value replaced.
    pub(crate) fn after_insert(&self, after: AfterInsert<K, V>) -> Option<V> {
        self.removed(after.removed);
        if after.sweep {
            self.sweep_shard(self.shard(after.hash));
        }
        let (k, v) = after.replaced?;
        self.notify(&k, &v, Reason::Replaced);
        Some(v)
    }

    fn notify(&self, key: &K, value: &V, reason: Reason) {
        if let Some(listener) = &self.listener {
            listener(key, value, reason);
        }
    }

    /// Counts removed entries and hands them to the listener; dropping them happens here
    /// too, outside any lock, since a value may be costly to drop. Every entry is heard even
    /// if the listener panics for one; the first panic is resumed afterwards.
    pub(crate) fn removed(&self, removed: Vec<Removal<K, V>>) {
        let count = |reason| removed.iter().filter(|r| r.2 == reason).count();
        self.counters.expired(count(Reason::Expired));
        self.counters.evicted(count(Reason::Capacity));
        let mut panicked = None;
        for (k, v, reason) in &removed {
            let heard = panic::catch_unwind(AssertUnwindSafe(|| self.notify(k, v, *reason)));
            if let Err(payload) = heard {
                panicked.get_or_insert(payload);
            }
        }
        drop(removed);
        if let Some(payload) = panicked {
            panic::resume_unwind(payload);
        }
    }

    fn sweep_all(&self) -> usize {
        self.shards.iter().map(|s| self.sweep_shard(s)).sum()
    }

    /// Removes a shard's expired entries in batches of `SWEEP_BATCH` buckets, looking under
    /// the read lock first so that batches with nothing expired never block readers.
    fn sweep_shard(&self, shard: &Shard<K, V>) -> usize {
        /// Lets the next sweep in, even if a listener panics during this one.
        struct Sweeping<'a>(&'a AtomicBool);
        impl Drop for Sweeping<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        if shard.sweeping.swap(true, Ordering::Acquire) {
            return 0; // another thread is on it, from an instant ago
        }
        let _sweeping = Sweeping(&shard.sweeping);
        let now = self.now();
        let mut swept = 0;
        let mut start = 0;
        while start < shard.read().num_buckets() {
            let batch = start..start + SWEEP_BATCH;
            start = batch.end;
            if !shard.read().any_expired(batch.clone(), now) {
                continue;
            }
            let mut removed = Vec::new();
            shard.write().remove_expired(batch, now, &mut removed);
            swept += removed.len();
            self.removed(removed);
        }
        shard.write().sweep_done();
        swept
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
            .field("ttl", &inner.ttl)
            .field("expiry", &inner.expiry)
            .field("capacity", &inner.capacity)
            .field("sweep_every", &inner.sweep_every)
            .field("clock", &inner.clock)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
